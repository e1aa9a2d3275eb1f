/* Merkle trees over the chain hash (SHA-256 or SM3), exactly as RFC 6962 section 2.1 (and
 * RFC 9162 2.1.1) defines them, so tools written for Certificate Transparency logs can check
 * our proofs:
 *   leaf hash   = H(0x00 || leaf data)
 *   node hash   = H(0x01 || left || right)
 *   MTH of n > 1 leaves = node(MTH(first k), MTH(rest)), k the largest power of two < n
 *     (no duplication of an odd last leaf, so no CVE-2012-2459 style second preimages);
 *   MTH of no leaves   = H() of the empty string (SHA-256: e3b0c442...b855).
 * The domain separation makes a leaf hash never equal an interior node hash.
 *
 * The chain's leaves are transaction hashes, so the API takes an array of struct hash as the
 * leaf data (each leaf data is those 32 bytes). All functions are iterative with O(log n)
 * stack; proofs are plain structs with at most MERKLE_PATH_MAX elements (a tree of up to
 * 2^64 leaves). Their canonical wire encoding belongs to codec/.
 * Threads: pure functions, thread-safe. */
#ifndef LM_CRYPTO_MERKLE_H
#define LM_CRYPTO_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "crypto/hash.h"

#define MERKLE_PATH_MAX 64

/* An inclusion proof (RFC 6962 "audit path") of leaf `index` in a tree of `tree_size`
 * leaves. path[0] is the sibling nearest the leaf, path[path_count - 1] the one nearest the
 * root. Elements past path_count are zero. */
struct merkle_proof {
    uint64_t index;
    uint64_t tree_size;
    uint32_t path_count;
    struct hash path[MERKLE_PATH_MAX];
};

/* H(0x00 || leaf data). */
void merkle_leaf_hash(enum hash_alg alg, const struct hash *leaf, struct hash *out);
/* H(0x01 || left || right). */
void merkle_node_hash(enum hash_alg alg, const struct hash *left, const struct hash *right,
                      struct hash *out);

/* Root of the tree over leaves[0..count). count 0 gives H() of nothing; leaves may then be
 * NULL. Costs count leaf hashes + (count - 1) node hashes, no allocation. */
void merkle_root(enum hash_alg alg, const struct hash *leaves, size_t count, struct hash *out);

/* Audit path of leaves[index]. ERR_INVALID_ARG if index >= count (an empty tree has no
 * proofs). Costs about as much as merkle_root; *out written only on success. */
MUST_USE enum err merkle_prove(enum hash_alg alg, const struct hash *leaves, size_t count,
                               size_t index, struct merkle_proof *out);

/* Number of path elements a proof of `index` in a tree of `tree_size` leaves has
 * (0 for a one-leaf tree). Requires index < tree_size. */
uint32_t merkle_path_count(uint64_t index, uint64_t tree_size);

/* Recomputes the root that `proof` leads to from leaf data `leaf` (RFC 9162 2.1.3.2).
 * ERR_MALFORMED if the proof cannot belong to any tree of its size: index >= tree_size, or
 * path_count differs from merkle_path_count. *out_root written only on success. */
MUST_USE enum err merkle_proof_root(enum hash_alg alg, const struct hash *leaf,
                                    const struct merkle_proof *proof, struct hash *out_root);

/* ERR_OK if `proof` shows that `leaf` is leaf proof->index of the tree of proof->tree_size
 * leaves whose root is `root`. ERR_MALFORMED as merkle_proof_root; ERR_BAD_SIGNATURE if the
 * proof is well-formed but does not lead to `root` (it does not verify).
 * As in RFC 6962, the root does not commit to the tree size: a proof of (index, size) also
 * verifies as any (index', size') whose path takes the same left/right turns (leaf 0 of 3
 * and of 4 leaves; leaf 2 of 3 and leaf 1 of 2). So index and size are only as trustworthy
 * as the source of tree_size: take it from the same authenticated record as the root. */
MUST_USE enum err merkle_verify(enum hash_alg alg, const struct hash *leaf,
                                const struct merkle_proof *proof, const struct hash *root);

#endif
