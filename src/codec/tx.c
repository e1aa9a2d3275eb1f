#include "codec/tx.h"

#include <string.h>

#include "base/assert.h"
#include "base/reader.h"
#include "codec/codec.h"

bool
tx_name_is_valid(const char *name, size_t size)
{
    if (size == 0 || size > TX_NAME_SIZE_MAX) {
        return false;
    }
    for (size_t i = 0; i < size; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

static bool
key_is_well_formed(const struct public_key *key)
{
    return sig_alg_is_valid(key->alg) && key->size == sig_alg_public_key_size(key->alg);
}

static enum err
put_op(struct buf *out, const struct tx_op *op)
{
    if (!tx_name_is_valid(op->module, op->module_size) || !tx_name_is_valid(op->op, op->op_size)) {
        return ERR_MALFORMED;
    }
    enum err rc = codec_put_text(out, op->module, op->module_size, TX_NAME_SIZE_MAX);
    if (rc == ERR_OK) {
        rc = codec_put_text(out, op->op, op->op_size, TX_NAME_SIZE_MAX);
    }
    if (rc == ERR_OK) {
        rc = codec_put_bytes(out, op->args, op->args_size, TX_ARGS_SIZE_MAX);
    }
    return rc;
}

enum err
tx_encode_unsigned(const struct tx *tx, struct buf *out)
{
    ASSERT(tx != NULL);
    ASSERT(out != NULL);
    if (tx->type != TX_TYPE_V1 || tx->op_count == 0 || tx->op_count > TX_OPS_MAX ||
        !key_is_well_formed(&tx->key)) {
        return ERR_MALFORMED;
    }
    enum err rc = codec_put_u8(out, tx->type);
    if (rc == ERR_OK) {
        rc = codec_put_hash(out, &tx->chain_id);
    }
    if (rc == ERR_OK) {
        rc = codec_put_address(out, &tx->sender);
    }
    if (rc == ERR_OK) {
        rc = codec_put_public_key(out, &tx->key);
    }
    if (rc == ERR_OK) {
        rc = codec_put_u64(out, tx->nonce);
    }
    if (rc == ERR_OK) {
        rc = codec_put_u64(out, tx->expiry_height);
    }
    if (rc == ERR_OK) {
        rc = codec_put_count(out, tx->op_count, TX_OPS_MAX);
    }
    for (size_t i = 0; rc == ERR_OK && i < tx->op_count; i++) {
        rc = put_op(out, &tx->ops[i]);
    }
    return rc;
}

enum err
tx_encode(const struct tx *tx, struct buf *out)
{
    if (tx->sig.alg != tx->key.alg) {
        return ERR_MALFORMED;
    }
    enum err rc = tx_encode_unsigned(tx, out);
    if (rc == ERR_OK) {
        rc = codec_put_signature(out, &tx->sig);
    }
    return rc;
}

static enum err
get_op(struct reader *r, struct tx_op *op)
{
    enum err rc = codec_get_text(r, TX_NAME_SIZE_MAX, &op->module, &op->module_size);
    if (rc == ERR_OK) {
        rc = codec_get_text(r, TX_NAME_SIZE_MAX, &op->op, &op->op_size);
    }
    if (rc == ERR_OK) {
        rc = codec_get_bytes(r, TX_ARGS_SIZE_MAX, &op->args, &op->args_size);
    }
    if (rc == ERR_OK && (!tx_name_is_valid(op->module, op->module_size) ||
                         !tx_name_is_valid(op->op, op->op_size))) {
        rc = ERR_MALFORMED;
    }
    return rc;
}

static enum err
get_header(struct reader *r, struct tx *tx)
{
    enum err rc = codec_get_u8(r, &tx->type);
    if (rc == ERR_OK && tx->type != TX_TYPE_V1) {
        rc = ERR_UNSUPPORTED;
    }
    if (rc == ERR_OK) {
        rc = codec_get_hash(r, &tx->chain_id);
    }
    if (rc == ERR_OK) {
        rc = codec_get_address(r, &tx->sender);
    }
    if (rc == ERR_OK) {
        rc = codec_get_public_key(r, &tx->key);
    }
    if (rc == ERR_OK) {
        rc = codec_get_u64(r, &tx->nonce);
    }
    if (rc == ERR_OK) {
        rc = codec_get_u64(r, &tx->expiry_height);
    }
    return rc;
}

enum err
tx_decode(const uint8_t *data, size_t size, struct tx *out)
{
    ASSERT(out != NULL);
    if (size > TX_SIZE_MAX) {
        return ERR_TOO_LARGE;
    }
    struct reader r;
    reader_init(&r, data, size);
    struct tx tx;
    memset(&tx, 0, sizeof tx);
    enum err rc = get_header(&r, &tx);
    if (rc == ERR_OK) {
        rc = codec_get_count(&r, TX_OPS_MAX, &tx.op_count);
    }
    if (rc == ERR_OK && tx.op_count == 0) {
        rc = ERR_MALFORMED;
    }
    for (size_t i = 0; rc == ERR_OK && i < tx.op_count; i++) {
        rc = get_op(&r, &tx.ops[i]);
    }
    tx.unsigned_size = r.pos;
    if (rc == ERR_OK) {
        rc = codec_get_signature(&r, &tx.sig);
    }
    if (rc == ERR_OK && tx.sig.alg != tx.key.alg) {
        rc = ERR_MALFORMED;
    }
    if (rc == ERR_OK) {
        rc = codec_finish(&r);
    }
    if (rc != ERR_OK) {
        return rc;
    }
    *out = tx;
    return ERR_OK;
}

void
tx_signing_digest(enum hash_alg alg, const struct hash *chain_id, const uint8_t *unsigned_bytes,
                  size_t size, struct hash *out)
{
    sign_digest_tagged(alg, TX_SIGN_TAG, chain_id, unsigned_bytes, size, out);
}

enum err
tx_sign(enum hash_alg alg, struct tx *tx, const struct secret_key *key, struct buf *out)
{
    ASSERT(tx != NULL);
    ASSERT(key != NULL);
    secret_key_public(key, &tx->key);
    size_t start = out->size;
    enum err rc = tx_encode_unsigned(tx, out);
    if (rc != ERR_OK) {
        return rc;
    }
    size_t unsigned_size = out->size - start;
    struct hash digest;
    tx_signing_digest(alg, &tx->chain_id, out->data + start, unsigned_size, &digest);
    struct signature sig;
    rc = sign_message(key, digest.bytes, HASH_SIZE, &sig);
    if (rc != ERR_OK) {
        return rc;
    }
    rc = codec_put_signature(out, &sig);
    if (rc != ERR_OK) {
        return rc;
    }
    tx->sig = sig;
    tx->unsigned_size = unsigned_size;
    return ERR_OK;
}

enum err
tx_verify(enum hash_alg alg, const struct tx *tx, const uint8_t *wire, size_t size)
{
    ASSERT(tx != NULL);
    ASSERT(tx->unsigned_size <= size);
    struct hash digest;
    tx_signing_digest(alg, &tx->chain_id, wire, tx->unsigned_size, &digest);
    return verify_message(&tx->key, digest.bytes, HASH_SIZE, &tx->sig) == ERR_OK
               ? ERR_OK
               : ERR_BAD_SIGNATURE;
}

void
tx_hash(enum hash_alg alg, const uint8_t *wire, size_t size, struct hash *out)
{
    hash_bytes(alg, wire, size, out);
}
