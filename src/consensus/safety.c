/* Safety record encoding, leader election and the pacemaker's timer formula. */
#include <string.h>

#include "base/assert.h"
#include "codec/codec.h"
#include "consensus/consensus.h"
#include "consensus/consensus_internal.h"

#define SAFETY_RECORD_VERSION 1

enum err
safety_record_encode(struct buf *b, const struct safety_record *s)
{
    TRY(codec_put_u8(b, SAFETY_RECORD_VERSION));
    TRY(codec_put_u64(b, s->epoch));
    TRY(codec_put_u64(b, s->last_voted_round));
    TRY(codec_put_u64(b, s->one_chain_round));
    TRY(codec_put_bool(b, s->has_vote));
    if (s->has_vote) {
        TRY(vote_encode(b, &s->last_vote));
    }
    TRY(codec_put_bool(b, s->has_proposal));
    if (s->has_proposal) {
        TRY(codec_put_u64(b, s->proposal_round));
        TRY(codec_put_hash(b, &s->proposal_id));
        TRY(codec_put_signature(b, &s->proposal_sig));
    }
    return ERR_OK;
}

enum err
safety_record_decode(const uint8_t *data, size_t size, struct safety_record *out)
{
    struct reader r;
    reader_init(&r, data, size);
    struct safety_record s;
    memset(&s, 0, sizeof s);
    uint8_t version = 0;
    TRY(codec_get_u8(&r, &version));
    if (version != SAFETY_RECORD_VERSION) {
        return ERR_UNSUPPORTED;
    }
    TRY(codec_get_u64(&r, &s.epoch));
    TRY(codec_get_u64(&r, &s.last_voted_round));
    TRY(codec_get_u64(&r, &s.one_chain_round));
    TRY(codec_get_bool(&r, &s.has_vote));
    if (s.has_vote) {
        TRY(vote_read(&r, &s.last_vote));
    }
    TRY(codec_get_bool(&r, &s.has_proposal));
    if (s.has_proposal) {
        TRY(codec_get_u64(&r, &s.proposal_round));
        TRY(codec_get_hash(&r, &s.proposal_id));
        TRY(codec_get_signature(&r, &s.proposal_sig));
    }
    TRY(codec_finish(&r));
    *out = s;
    return ERR_OK;
}

/* a * b mod m for a, b < m <= 2^60, without 128-bit arithmetic. */
static uint64_t
mulmod(uint64_t a, uint64_t b, uint64_t m)
{
    ASSERT(m > 0 && m <= CONS_POWER_TOTAL_MAX);
    uint64_t r = 0;
    a %= m;
    while (b != 0) {
        if ((b & 1u) != 0) {
            r = (r + a) % m;
        }
        a = (a * 2u) % m;
        b >>= 1;
    }
    return r;
}

uint16_t
consensus_leader(enum hash_alg alg, const struct validator_set *vs, uint64_t epoch, uint64_t round)
{
    ASSERT(vs->count >= 1);
    bool equal = true;
    for (uint16_t i = 1; i < vs->count; i++) {
        equal = equal && vs->nodes[i].power == vs->nodes[0].power;
    }
    if (equal) {
        return (uint16_t)(round % vs->count);
    }
    uint64_t weights[VS_NODES_MAX];
    for (uint16_t i = 0; i < vs->count; i++) {
        weights[i] = vs->nodes[i].power;
    }
    return consensus_weighted_pick(alg, epoch, round, weights, (uint16_t)vs->count);
}

uint16_t
consensus_weighted_pick(enum hash_alg alg, uint64_t epoch, uint64_t round, const uint64_t *weights,
                        uint16_t count)
{
    ASSERT(count >= 1);
    uint64_t p = 0;
    for (uint16_t i = 0; i < count; i++) {
        p += weights[i];
    }
    ASSERT(p > 0 && p <= CONS_POWER_TOTAL_MAX);
    static const char tag[] = "LM1/leader";
    uint8_t seed_in[sizeof tag - 1 + 16];
    memcpy(seed_in, tag, sizeof tag - 1);
    store_u64(seed_in + sizeof tag - 1, epoch);
    store_u64(seed_in + sizeof tag - 1 + 8, round);
    struct hash seed;
    hash_bytes(alg, seed_in, sizeof seed_in, &seed);
    uint64_t lo = load_u64(seed.bytes);
    uint64_t hi = load_u64(seed.bytes + 8);
    uint64_t two64 = ((UINT64_MAX % p) + 1u) % p;
    uint64_t x = (mulmod(hi % p, two64, p) + lo % p) % p;
    uint64_t cum = 0;
    for (uint16_t i = 0; i < count; i++) {
        cum += weights[i];
        if (x < cum) {
            return i;
        }
    }
    UNREACHABLE();
}

void
consensus_config_default(struct consensus_config *cfg, enum hash_alg alg,
                         const struct hash *chain_id)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->chain.alg = alg;
    cfg->chain.chain_id = *chain_id;
    cfg->base_timeout_ms = CONS_BASE_TIMEOUT_MS_DEFAULT;
    cfg->backoff_permille = 1200;
    cfg->max_backoff_exp = 6;
    cfg->max_block_txs = 1000;
    cfg->max_block_bytes = 1024u * 1024u;
    cfg->max_clock_skew_ms = 500;
    cfg->round_window = 100;
    cfg->idle_block_interval_ms = 0;
    cfg->min_block_interval_ms = 0;
    cfg->block_tree_max = 256;
    cfg->retrieval_timeout_ms = 500;
    cfg->exclude_rounds = 20;
    cfg->proposer_window = 1000;
}

enum err
consensus_config_check(const struct consensus_config *cfg)
{
    if (!hash_alg_is_valid((unsigned)cfg->chain.alg) || cfg->base_timeout_ms == 0 ||
        cfg->backoff_permille < 1000 || cfg->backoff_permille > 2000 || cfg->max_backoff_exp > 16 ||
        cfg->max_block_txs == 0 || cfg->max_block_txs > CONS_BLOCK_TXS_MAX ||
        cfg->max_block_bytes == 0 || cfg->max_block_bytes > CONS_BLOCK_BYTES_MAX ||
        cfg->round_window == 0 || cfg->idle_block_interval_ms * 3 > cfg->base_timeout_ms ||
        cfg->min_block_interval_ms * 3 > cfg->base_timeout_ms || cfg->block_tree_max < 8 ||
        cfg->block_tree_max > FINALITY_HEADERS_MAX || cfg->retrieval_timeout_ms == 0 ||
        (cfg->leader_reputation && (cfg->exclude_rounds < 3 || cfg->proposer_window == 0 ||
                                    cfg->proposer_window > CONS_REPUTATION_WINDOW_MAX))) {
        return ERR_CONFIG;
    }
    return ERR_OK;
}
