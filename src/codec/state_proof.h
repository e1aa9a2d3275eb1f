/* Proofs of the authenticated state (store/state_store.h): that a key has a value, or is
 * absent, under a state root. Lives in codec/ so that every layer that receives a proof (api,
 * cli, light clients) can decode and verify it without the store.
 *
 * The tree (see store/state_store.c for the full statement): a binary sparse Merkle tree over
 * k = H(key), bits taken most significant first, each key's leaf at the shortest prefix of k
 * that no other key shares (path compression), empty subtree = 32 zero bytes,
 *   leaf  = H(0x00 || k || H(value))
 *   inner = H(0x01 || left || right)
 * and root = zero for the empty tree. A proof is the leaf met on the key's path (if any) and
 * the sibling hashes from that leaf's level up to the root.
 *
 * Encoding (canonical; every byte matters, so tampering with any byte fails decoding or
 * verification):
 *   u8     flags: bit 0 = has_leaf, other bits zero
 *   [32]   leaf key hash, [32] leaf value hash      (only if has_leaf)
 *   u16    sibling count (<= STATE_PROOF_DEPTH_MAX)
 *   bitmap ceil(count/8) bytes, bit i (LSB first) set = sibling i is non-zero; unused bits 0
 *   [32]   each non-zero sibling, bottom-up (a listed sibling may not be all zero) */
#ifndef LM_CODEC_STATE_PROOF_H
#define LM_CODEC_STATE_PROOF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/reader.h"
#include "crypto/hash.h"

#define STATE_PROOF_DEPTH_MAX 256
/* flags + leaf + count + bitmap + siblings */
#define STATE_PROOF_SIZE_MAX \
    (1 + 2 * HASH_SIZE + 2 + STATE_PROOF_DEPTH_MAX / 8 + STATE_PROOF_DEPTH_MAX * HASH_SIZE)

/* Proof that a key has a value (or is absent) under a root. */
struct state_proof {
    bool has_leaf; /* a leaf was found on the path (another key's, for absence) */
    struct hash leaf_key_hash;
    struct hash leaf_value_hash;
    size_t sibling_count;
    struct hash siblings[STATE_PROOF_DEPTH_MAX]; /* from the leaf level up to the root */
};

/* Verifies a proof against root: value == NULL claims that key is absent. ERR_OK if the
 * proof holds, ERR_CORRUPT otherwise. */
MUST_USE enum err state_proof_verify(enum hash_alg alg, const struct hash *root, const uint8_t *key,
                                     size_t key_size, const uint8_t *value, size_t value_size,
                                     const struct state_proof *proof);

/* The same with H(key) and H(value) (NULL: absence) already computed. */
MUST_USE enum err state_proof_verify_hashed(enum hash_alg alg, const struct hash *root,
                                            const struct hash *key_hash,
                                            const struct hash *value_hash,
                                            const struct state_proof *proof);

MUST_USE enum err state_proof_encode(struct buf *b, const struct state_proof *proof);
/* Strict: ERR_MALFORMED/ERR_NONCANONICAL/ERR_TRUNCATED on any deviation (the reader does
 * not move then); does not check trailing bytes (call codec_finish). *out is written only on
 * success. Written with base/ primitives in codec.h's layout (u8, u16 LE, raw hashes). */
MUST_USE enum err state_proof_decode(struct reader *r, struct state_proof *out);

/* The tree's hash functions, shared with the store. */
void state_leaf_hash(enum hash_alg alg, const struct hash *key_hash, const struct hash *value_hash,
                     struct hash *out);
void state_inner_hash(enum hash_alg alg, const struct hash *left, const struct hash *right,
                      struct hash *out);
/* Bit i (0 = most significant bit of byte 0) of a key hash. */
unsigned state_key_bit(const struct hash *key_hash, size_t i);

#endif
