/* The authenticated state: every key/value of the ledger, committed by a sparse Merkle tree
 * over hashed keys with path compression (in the manner of Diem's Jellyfish Merkle tree),
 * versioned by height and kept in LMDB tables of the shared struct db.
 *
 * Life of a block's state:
 *   1. Execution produces a sorted write set (puts and deletes).
 *   2. state_batch_new computes, in memory, the tree nodes and the root after applying the
 *      write set on top of a parent: either the committed state (parent NULL) or another
 *      uncommitted batch (speculative execution of a chain of blocks before they are final,
 *      CONSENSUS.md 5). Nothing is written. A batch can be freed (fork abandoned).
 *   3. state_store_commit writes the batch's nodes and values inside the caller's write txn
 *      (the same txn that indexes the block), making its version the committed one. A batch
 *      must be committed in order: its parent is the committed version.
 *
 * Reads return values at the committed version or at any retained older version; a read can
 * come with a proof of inclusion or non-inclusion that verifies against a root alone
 * (state_proof_verify). Versions older than `retain_versions` are pruned.
 *
 * Keys are opaque byte strings up to STATE_KEY_SIZE_MAX; the tree is keyed by H(key). Values
 * up to STATE_VALUE_SIZE_MAX. An empty tree's root is all zero bytes.
 * Threading: batches are built and committed on one thread (the execution pipeline); reads
 * with their own read txn may run on other threads. */
#ifndef LM_STORE_STATE_STORE_H
#define LM_STORE_STATE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "crypto/hash.h"
#include "store/db.h"

#define STATE_KEY_SIZE_MAX    256
#define STATE_VALUE_SIZE_MAX  (1u << 20)
#define STATE_PROOF_DEPTH_MAX 256

struct state_store;
struct state_batch;

struct state_store_options {
    enum hash_alg hash_alg;
    uint64_t retain_versions; /* prune versions older than committed - retain (0: keep all) */
};

/* One entry of a write set. value == NULL means delete. */
struct state_write {
    const uint8_t *key;
    size_t key_size;
    const uint8_t *value;
    size_t value_size;
};

/* Proof that key has value (or is absent) under a root. */
struct state_proof {
    bool has_leaf; /* a leaf was found on the path (maybe another key's, for absence) */
    struct hash leaf_key_hash;
    struct hash leaf_value_hash;
    size_t sibling_count;
    struct hash siblings[STATE_PROOF_DEPTH_MAX]; /* from the leaf level up to the root */
};

/* Opens the state tables in db (creating them on first use). */
MUST_USE enum err state_store_open(struct db *db, const struct state_store_options *options,
                                   struct state_store **out);
void state_store_close(struct state_store *s);

/* The committed version (0 and an empty root before the first commit) and its root. */
uint64_t state_store_version(const struct state_store *s);
void state_store_root(const struct state_store *s, struct hash *out);

/* Computes the state after `writes` (sorted by key, no duplicate keys) on top of parent
 * (NULL: the committed state). version must be parent's version + 1. The batch borrows
 * parent, which must outlive it. The caller owns *out (state_batch_free). */
MUST_USE enum err state_batch_new(struct state_store *s, const struct state_batch *parent,
                                  uint64_t version, const struct state_write *writes, size_t count,
                                  struct state_batch **out);
void state_batch_root(const struct state_batch *b, struct hash *out);
uint64_t state_batch_version(const struct state_batch *b);
/* Reads a value as seen by the batch (its writes, then its parents', then committed). */
MUST_USE enum err state_batch_get(const struct state_batch *b, const uint8_t *key, size_t key_size,
                                  struct buf *out_value);
void state_batch_free(struct state_batch *b);

/* Writes the batch inside txn; after db_txn_commit succeeds call state_store_committed so
 * the in-memory view moves to the new version (if the txn aborts, do not call it). */
MUST_USE enum err state_store_commit(struct state_store *s, struct db_txn *txn,
                                     const struct state_batch *b);
void state_store_committed(struct state_store *s, const struct state_batch *b);

/* Value of key at version (ERR_NOT_FOUND if absent or the version was pruned: check
 * state_store_version first). Appends the value to out_value. */
MUST_USE enum err state_store_get(struct state_store *s, struct db_txn *txn, uint64_t version,
                                  const uint8_t *key, size_t key_size, struct buf *out_value);
/* Like state_store_get, with a proof; *out_found says whether the key exists. */
MUST_USE enum err state_store_prove(struct state_store *s, struct db_txn *txn, uint64_t version,
                                    const uint8_t *key, size_t key_size, struct buf *out_value,
                                    bool *out_found, struct state_proof *out_proof);
/* Verifies a proof against root: value == NULL claims absence. ERR_OK if the proof holds,
 * ERR_CORRUPT otherwise. */
MUST_USE enum err state_proof_verify(enum hash_alg alg, const struct hash *root, const uint8_t *key,
                                     size_t key_size, const uint8_t *value, size_t value_size,
                                     const struct state_proof *proof);

#endif
