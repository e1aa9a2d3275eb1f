/* The transaction envelope: a typed envelope whose first byte is the type, so other formats
 * can be added later without breaking the chain (ARCHITECTURE.md "Key decisions").
 *
 * Type 1 (TX_TYPE_V1), canonical layout (codec.h rules):
 *   u8 type = 1
 *   hash chain_id                  the genesis hash of the chain
 *   address sender                 the account that sends (20 bytes)
 *   public_key key                 alg byte + key: the signer's key, which must be registered
 *                                  to the sender's account (checked at execution)
 *   u64 nonce                      the sender's next nonce
 *   u64 expiry_height              last height at which the tx may execute
 *   vector ops (1..TX_OPS_MAX):    text module, text op (each [a-z0-9_], 1..TX_NAME_SIZE_MAX),
 *                                  bytes args (canonical arguments, <= TX_ARGS_SIZE_MAX)
 *   signature sig                  alg byte (== key's alg) + 64 bytes
 * The signature covers sign_digest_tagged(hash_alg, "LM1/tx", chain_id, unsigned bytes), the
 * unsigned bytes being everything before sig. The tx hash is H(all bytes), so a tx is
 * identified by what was signed and sent. Carrying the key makes signature checks stateless
 * (verify once in the mempool, cache by tx hash).
 *
 * A decoded struct tx borrows the bytes it was decoded from (module, op and args point into
 * them). Pure functions, thread-safe. */
#ifndef LM_CODEC_TX_H
#define LM_CODEC_TX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "crypto/hash.h"
#include "crypto/sign.h"

#define TX_TYPE_V1       1
#define TX_SIZE_MAX      (128u << 10) /* hard codec cap; the chain parameter may be lower */
#define TX_OPS_MAX       16
#define TX_NAME_SIZE_MAX 32
#define TX_ARGS_SIZE_MAX (64u << 10)
#define TX_SIGN_TAG      "LM1/tx"

/* One operation: module.op(args). All three borrow the decoded bytes (not NUL-terminated). */
struct tx_op {
    const char *module;
    size_t module_size;
    const char *op;
    size_t op_size;
    const uint8_t *args;
    size_t args_size;
};

struct tx {
    uint8_t type; /* TX_TYPE_V1 */
    struct hash chain_id;
    struct address sender;
    struct public_key key;
    uint64_t nonce;
    uint64_t expiry_height;
    size_t op_count;
    struct tx_op ops[TX_OPS_MAX];
    struct signature sig;
    size_t unsigned_size; /* bytes covered by the signature; set by tx_decode and tx_sign */
};

/* True if name is 1..TX_NAME_SIZE_MAX bytes of [a-z0-9_]. */
bool tx_name_is_valid(const char *name, size_t size);

/* Appends the unsigned part of tx (everything but sig). ERR_MALFORMED if a field is invalid
 * (names, op count, key), ERR_TOO_LARGE if args or the buffer's maximum are exceeded. */
MUST_USE enum err tx_encode_unsigned(const struct tx *tx, struct buf *out);
/* Appends the whole signed tx. */
MUST_USE enum err tx_encode(const struct tx *tx, struct buf *out);
/* Strict decoding of one tx that fills all of data. On success *out borrows data.
 * ERR_UNSUPPORTED for an unknown type byte or algorithm, ERR_MALFORMED (or the codec's
 * ERR_TRUNCATED/ERR_TRAILING/ERR_NONCANONICAL/ERR_TOO_LARGE/ERR_UTF8) otherwise. */
MUST_USE enum err tx_decode(const uint8_t *data, size_t size, struct tx *out);

/* The digest the signature covers, from the unsigned bytes. */
void tx_signing_digest(enum hash_alg alg, const struct hash *chain_id,
                       const uint8_t *unsigned_bytes, size_t size, struct hash *out);
/* Sets tx->key from key, signs, sets tx->sig and tx->unsigned_size, and appends the signed
 * encoding to out (which the caller resets first if it wants the tx alone). */
MUST_USE enum err tx_sign(enum hash_alg alg, struct tx *tx, const struct secret_key *key,
                          struct buf *out);
/* Verifies the signature of a tx decoded from wire[0..size). ERR_BAD_SIGNATURE if it does
 * not verify. */
MUST_USE enum err tx_verify(enum hash_alg alg, const struct tx *tx, const uint8_t *wire,
                            size_t size);
/* H(wire). */
void tx_hash(enum hash_alg alg, const uint8_t *wire, size_t size, struct hash *out);

#endif
