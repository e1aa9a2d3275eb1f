/* The authenticated state: every key/value of the ledger, committed by a sparse Merkle tree
 * over hashed keys with path compression (Diem's Jellyfish Merkle tree: 16-ary nodes on disk,
 * a binary tree for hashing and proofs; see state_store.c), versioned by height and kept in
 * LMDB tables of the shared struct db. The tree and proof format are in codec/state_proof.h.
 *
 * Life of a block's state:
 *   1. Execution produces a write set (puts and deletes, any order, each key at most once).
 *   2. state_batch_new computes, in memory, the tree nodes and the root after applying the
 *      write set on top of a parent: either the committed state (parent NULL) or another
 *      batch (speculative execution of a chain of blocks before they are final,
 *      CONSENSUS.md 5). Nothing is written. A batch can be freed at any time (fork
 *      abandoned): batches are reference-counted, a child keeps its parent alive.
 *   3. state_store_commit writes the batch's nodes and values inside the caller's write txn
 *      (the same txn that indexes the block), and prunes; nothing else is written outside
 *      that txn. After the txn commits, state_store_committed makes the batch's version the
 *      committed one. Batches commit in order: the batch's parent must be the last committed
 *      batch (or NULL, built on the state that is still the committed one); a batch of a
 *      losing fork is refused with ERR_STALE.
 *
 * Reads return values at the committed version or at any retained older version; a read can
 * come with a proof of inclusion or non-inclusion that verifies against the version's root
 * alone (state_proof_verify). The latest `retain_versions` versions stay readable; older ones
 * are pruned at commit, in steps of prune_interval versions (a read of a pruned version is
 * ERR_NOT_FOUND).
 *
 * Keys are byte strings up to STATE_KEY_SIZE_MAX; the tree is keyed by H(key) with the chain
 * hash. Values up to STATE_VALUE_SIZE_MAX (a zero-length value is a value, not a delete).
 * Deleting an absent key and putting an unchanged value change nothing. An empty tree's root
 * is all zero bytes. The root depends only on the set of key/values.
 *
 * Threading: batches are built, committed and freed on one thread (the execution pipeline,
 * the node's ledger thread), which also owns state_store_version/root/version_min.
 * state_batch_new and state_batch_get open their own LMDB read txn, so that thread must not
 * hold another transaction while calling them (LMDB: one txn per thread).
 * state_store_version_published, state_store_get/prove/root_at and the cache stats may run
 * on any thread: a reader takes the published version, then reads it (through the value
 * cache, which holds exactly one version, or LMDB); version v stays readable until the
 * commit of v + retain_versions, which may prune it a moment before that commit is published
 * (a reader that finds v pruned may still see v + retain_versions - 1 published). */
#ifndef LM_STORE_STATE_STORE_H
#define LM_STORE_STATE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "codec/state_proof.h"
#include "crypto/hash.h"
#include "store/db.h"

#define STATE_KEY_SIZE_MAX     256
#define STATE_VALUE_SIZE_MAX   (1u << 20)
#define STATE_BATCH_WRITES_MAX (1u << 20)
/* Keys and values of one batch together. */
#define STATE_BATCH_BYTES_MAX (1ull << 30)
/* Stale entries deleted per commit; pruning continues at the next commit if it is behind. */
#define STATE_PRUNE_PER_COMMIT_MAX   (1u << 18)
#define STATE_PRUNE_INTERVAL_DEFAULT 32
/* The cache of latest committed values (store/value_cache.h) behind state_batch_get: up to
 * 64 Ki entries of up to 1 KiB (<= 64 MiB; accounts are ~100 bytes). */
#define STATE_CACHE_ENTRIES        (1u << 16)
#define STATE_CACHE_VALUE_SIZE_MAX 1024u

struct state_store;
struct state_batch;
struct value_cache_stats;

struct state_store_options {
    enum hash_alg hash_alg;
    /* Number of most recent versions kept readable (0: keep all). It must cover the
     * versions that speculative batches and readers still use. With 0 no stale index is
     * written, so if a store is later opened with pruning, the records that became stale
     * before are never deleted (they take space, nothing reads them). */
    uint64_t retain_versions;
    /* Pruning runs when it can drop this many versions at once (0: the default), so between
     * retain_versions and retain_versions + prune_interval - 1 versions are readable. */
    uint64_t prune_interval;
};

/* One entry of a write set. value == NULL means delete. */
struct state_write {
    const uint8_t *key;
    size_t key_size;
    const uint8_t *value;
    size_t value_size;
};

/* Opens the state tables in db (creating them, and version 0 = the empty state, on first
 * use). Call at start-up, before other transactions (db_table_open's rule). ERR_CORRUPT if
 * the tables are damaged. */
MUST_USE enum err state_store_open(struct db *db, const struct state_store_options *options,
                                   struct state_store **out);
void state_store_close(struct state_store *s);
/* Hits and misses of the committed-value cache that state_batch_get reads through. */
void state_store_cache_stats(struct state_store *s, struct value_cache_stats *out);

/* The committed version (0 and an empty root before the first commit) and its root. */
uint64_t state_store_version(const struct state_store *s);
void state_store_root(const struct state_store *s, struct hash *out);
/* The committed version, for readers on other threads (see Threading). */
uint64_t state_store_version_published(struct state_store *s);
/* Oldest readable version. */
uint64_t state_store_version_min(const struct state_store *s);
/* The oldest readable version as of the last state_store_committed, for other threads (a
 * status report; a reader still checks what it reads). */
uint64_t state_store_version_min_published(struct state_store *s);
/* Root of a committed, retained version as seen by txn (ERR_NOT_FOUND otherwise). */
MUST_USE enum err state_store_root_at(struct state_store *s, struct db_txn *txn, uint64_t version,
                                      struct hash *out);

/* Computes the state after `writes` on top of parent (NULL: the committed state). version
 * must be parent's version + 1. Keys may come in any order; a key twice is
 * ERR_INVALID_ARG; oversized keys/values/sets are ERR_TOO_LARGE; a damaged or pruned base is
 * ERR_CORRUPT. Copies the writes. Takes a reference on parent. The caller owns *out
 * (state_batch_free). */
MUST_USE enum err state_batch_new(struct state_store *s, struct state_batch *parent,
                                  uint64_t version, const struct state_write *writes, size_t count,
                                  struct state_batch **out);
void state_batch_root(const struct state_batch *b, struct hash *out);
uint64_t state_batch_version(const struct state_batch *b);
/* Reads a value as seen by the batch (its writes, then its parents', then the committed
 * state it was built on) and appends it to out_value. ERR_NOT_FOUND if absent. */
MUST_USE enum err state_batch_get(const struct state_batch *b, const uint8_t *key, size_t key_size,
                                  struct buf *out_value);
/* Drops the caller's reference; memory goes when no child batch uses it. Accepts NULL. */
void state_batch_free(struct state_batch *b);

/* Writes the batch (nodes, values, stale index, root) and prunes, inside txn (a write txn of
 * the store's db). ERR_STALE if b does not follow the committed version (lost fork or out of
 * order). On error the caller aborts txn. */
MUST_USE enum err state_store_commit(struct state_store *s, struct db_txn *txn,
                                     const struct state_batch *b);
/* After db_txn_commit of the txn given to state_store_commit succeeded: the batch's version
 * becomes the committed one and the batch drops its in-memory nodes (reads through it go to
 * LMDB). Do not call if the txn aborted. */
void state_store_committed(struct state_store *s, struct state_batch *b);

/* Value of key at version, appended to out_value. ERR_NOT_FOUND if absent, or if version is
 * not committed or was pruned (check state_store_version_min). txn NULL: the value cache, else
 * an own read txn. */
MUST_USE enum err state_store_get(struct state_store *s, struct db_txn *txn, uint64_t version,
                                  const uint8_t *key, size_t key_size, struct buf *out_value);
/* Like state_store_get, with a proof against the version's root (state_store_root_at);
 * *out_found says whether the key exists (its value appended to out_value). ERR_NOT_FOUND
 * only for an unreadable version. */
MUST_USE enum err state_store_prove(struct state_store *s, struct db_txn *txn, uint64_t version,
                                    const uint8_t *key, size_t key_size, struct buf *out_value,
                                    bool *out_found, struct state_proof *out_proof);

#endif
