/* Internals of crypto/merkle.c exposed to tests/unit only (STYLE.md 2.3): the same
 * computations over leaf hashes that are already H(0x00 || data), so the RFC 6962 reference
 * vectors (whose leaf data are arbitrary bytes, not 32-byte hashes) can be checked. */
#ifndef LM_CRYPTO_MERKLE_INTERNAL_H
#define LM_CRYPTO_MERKLE_INTERNAL_H

#include "crypto/merkle.h"

void merkle_root_of_leaf_hashes(enum hash_alg alg, const struct hash *leaf_hashes, size_t count,
                                struct hash *out);
MUST_USE enum err merkle_prove_of_leaf_hashes(enum hash_alg alg, const struct hash *leaf_hashes,
                                              size_t count, size_t index, struct merkle_proof *out);
MUST_USE enum err merkle_proof_root_of_leaf_hash(enum hash_alg alg, const struct hash *leaf_hash,
                                                 const struct merkle_proof *proof,
                                                 struct hash *out_root);

#endif
