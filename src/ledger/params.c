#include "ledger/params.h"

#include "base/assert.h"
#include "base/reader.h"
#include "codec/codec.h"
#include "codec/tx.h"
#include "crypto/sign.h"

void
chain_params_default(struct chain_params *out)
{
    ASSERT(out != NULL);
    *out = (struct chain_params){
        .tx_size_bytes_max = 64u * 1024u,
        .tx_ops_max = TX_OPS_MAX,
        .tx_resource_max = 1000000u,
        .block_resource_max = 1000000000u,
        .institution_block_resource_max = 1000000000u,
        .block_txs_max = 10000u,
        .tx_expiry_window_max = 100000u,
        .sig_algs_allowed = (1u << SIG_ED25519) | (1u << SIG_SM2),
    };
}

enum err
chain_params_check(const struct chain_params *p)
{
    ASSERT(p != NULL);
    bool ok = p->tx_size_bytes_max >= 64 && p->tx_size_bytes_max <= TX_SIZE_MAX &&
              p->tx_ops_max >= 1 && p->tx_ops_max <= TX_OPS_MAX &&
              p->tx_resource_max >= LEDGER_RES_TX_BASE &&
              p->block_resource_max >= p->tx_resource_max &&
              p->institution_block_resource_max >= p->tx_resource_max && p->block_txs_max >= 1 &&
              p->block_txs_max <= LEDGER_BLOCK_TXS_MAX && p->sig_algs_allowed != 0 &&
              (p->sig_algs_allowed & ~((1u << SIG_ED25519) | (1u << SIG_SM2))) == 0;
    return ok ? ERR_OK : ERR_MALFORMED;
}

bool
chain_params_sig_alg_allowed(const struct chain_params *p, unsigned alg)
{
    return alg < 32 && (p->sig_algs_allowed & (1u << alg)) != 0;
}

enum err
chain_params_encode(const struct chain_params *p, struct buf *out)
{
    if (chain_params_check(p) != ERR_OK) {
        return ERR_MALFORMED;
    }
    enum err rc = codec_put_u8(out, PARAMS_VERSION);
    if (rc == ERR_OK) {
        rc = codec_put_u32(out, p->tx_size_bytes_max);
    }
    if (rc == ERR_OK) {
        rc = codec_put_u32(out, p->tx_ops_max);
    }
    if (rc == ERR_OK) {
        rc = codec_put_u64(out, p->tx_resource_max);
    }
    if (rc == ERR_OK) {
        rc = codec_put_u64(out, p->block_resource_max);
    }
    if (rc == ERR_OK) {
        rc = codec_put_u64(out, p->institution_block_resource_max);
    }
    if (rc == ERR_OK) {
        rc = codec_put_u32(out, p->block_txs_max);
    }
    if (rc == ERR_OK) {
        rc = codec_put_u64(out, p->tx_expiry_window_max);
    }
    if (rc == ERR_OK) {
        rc = codec_put_u32(out, p->sig_algs_allowed);
    }
    return rc;
}

enum err
chain_params_decode(const uint8_t *data, size_t size, struct chain_params *out)
{
    ASSERT(out != NULL);
    if (size != PARAMS_ENCODED_SIZE) {
        return ERR_MALFORMED;
    }
    if (data[0] != PARAMS_VERSION) {
        return ERR_UNSUPPORTED;
    }
    const uint8_t *p = data + 1;
    struct chain_params v = {
        .tx_size_bytes_max = load_u32(p),
        .tx_ops_max = load_u32(p + 4),
        .tx_resource_max = load_u64(p + 8),
        .block_resource_max = load_u64(p + 16),
        .institution_block_resource_max = load_u64(p + 24),
        .block_txs_max = load_u32(p + 32),
        .tx_expiry_window_max = load_u64(p + 36),
        .sig_algs_allowed = load_u32(p + 44),
    };
    if (chain_params_check(&v) != ERR_OK) {
        return ERR_MALFORMED;
    }
    *out = v;
    return ERR_OK;
}
