/* The mempool: pending transactions between admission (API, gossip) and a final block
 * (ARCHITECTURE.md "How a transaction flows", CONSENSUS.md 5 propose()).
 *
 * Admission (mempool_admit, a batch in, per-tx result + hash out), in this order:
 *   size (> chain param tx_size_bytes_max: ERR_TOO_LARGE), strict decoding (ERR_MALFORMED),
 *   chain id (ERR_WRONG_CHAIN), algorithm allowed (ERR_UNSUPPORTED), op count (ERR_LIMIT),
 *   duplicate by tx hash (ERR_EXISTS), expiry (expiry_height below the next height, or more
 *   than tx_expiry_window_max above it: ERR_EXPIRED), sender (no account: ERR_UNKNOWN_SENDER;
 *   key not registered to it: ERR_DENIED), nonce (below the committed nonce: ERR_STALE_NONCE;
 *   at or beyond committed nonce + nonce_window: ERR_LIMIT), capacity (ERR_FULL, see below),
 *   then the signature (ERR_BAD_SIGNATURE), checked for the whole batch at once through the
 *   verify pool and its cache, and last the insertion checks again (a second tx of the same
 *   sender and nonce: ERR_EXISTS; the sender's pending count at account_txs_max or its
 *   institution at its share: ERR_LIMIT; the pool at txs_max or bytes_max: ERR_FULL).
 *   ERR_FULL means "mempool_full": an admitted tx is never evicted to make room; it leaves
 *   only when committed, stale or expired (mempool_commit), so a client that got ERR_OK can
 *   rely on it staying pending.
 *
 * Verified once: a pending tx's signature was verified at admission, and its hash covers the
 * signed bytes and the signature, so block validation asks mempool_verify_txs, which answers
 * ERR_OK for a tx the mempool holds without verifying, and verifies the others through the
 * verify pool, whose cache remembers what admission verified (a tx that left the mempool,
 * e.g. re-proposed after a fork, is a cache hit).
 *
 * Ordering (mempool_pull): per account by nonce, contiguous from the committed nonce (a tx
 * with nonce n+1 only after n, which may be in an uncommitted ancestor: the caller passes
 * those ancestors' tx hashes to exclude); round-robin across institutions, then across the
 * accounts of each institution, one tx per turn; the rotation start moves on at every pull.
 * Bounded by block_txs_max, block_resource_max and institution_block_resource_max (chain
 * params; the resource of a tx is estimated from below by LEDGER_RES_TX_BASE + size +
 * LEDGER_RES_OP per op) and by the caller's byte limit (max_block_bytes).
 *
 * Commit (mempool_commit, for each final block in order): removes the block's txs, refreshes
 * the committed nonce of their senders (removing their now stale txs) and removes txs that
 * expired at the next height. Forks: txs of an abandoned block that are not pending here
 * go back in with mempool_readmit (same checks; a verified signature is a cache hit; not
 * reported to gossip, since the block carried them to every validator).
 *
 * Gossip: config.admitted_fn is called once for each tx admitted by mempool_admit, during the
 * call, after the tx is pending, so the node relays each tx once.
 *
 * Not re-checked after admission: the sender's keys. A pending tx signed with a key the
 * account later removed stays until included (its receipt then says the key is not
 * registered), committed-over (stale) or expired.
 *
 * Bounds: every structure is sized at mempool_new from the config; admission copies each
 * admitted tx (bounded by bytes_max); mempool_pull, mempool_get and mempool_verify_txs do not
 * allocate, nor does mempool_commit apart from what the sender lookup does.
 *
 * Threads: a mempool belongs to one thread, the node's event loop; no function may be called
 * from two threads at once. mempool_admit/readmit/verify_txs block that thread for one
 * verify_pool_batch of at most batch_max signatures (the calling thread verifies with the
 * pool's workers; bound batch_max so the loop is not held for long). The sender lookup runs
 * on that thread too: the node supplies one that is safe there (committed state only).
 * Ownership: the mempool owns copies of pending txs; views it returns (mempool_get,
 * mempool_pull, admitted_fn) borrow them and stay valid until the next call that changes the
 * mempool (admit, readmit, commit). */
#ifndef LM_MEMPOOL_MEMPOOL_H
#define LM_MEMPOOL_MEMPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "codec/tx.h"
#include "crypto/hash.h"
#include "crypto/sign.h"
#include "crypto/verify_pool.h"
#include "ledger/params.h"

#define MEMPOOL_TXS_MAX          (1u << 22) /* hard cap of txs_max */
#define MEMPOOL_NONCE_WINDOW_MAX 1024
#define MEMPOOL_BATCH_MAX        4096
#define MEMPOOL_INSTITUTIONS_MAX 65536

struct mempool;

/* What the sender lookup tells about an account at the committed state. */
struct mempool_sender {
    uint64_t nonce; /* the next nonce the account will use */
    uint32_t institution;
    bool key_registered; /* the tx's key is one of the account's keys */
};

/* Looks up `sender` at the committed state and whether `key` is registered to it (key NULL:
 * only the nonce is wanted, at commit; key_registered is then false). Returns ERR_OK,
 * ERR_NOT_FOUND if there is no such account, or another error (e.g. ERR_IO), which admission
 * passes on as the tx's result. */
typedef enum err mempool_sender_fn(void *ctx, const struct address *sender,
                                   const struct public_key *key, struct mempool_sender *out);

/* Reports a newly admitted tx (borrowed for the call) for gossip. It may read the mempool
 * (mempool_get, stats) but must not change it (admit, readmit, commit). */
typedef void mempool_admitted_fn(void *ctx, const struct hash *hash, const uint8_t *data,
                                 size_t size);

struct mempool_config {
    size_t txs_max;               /* pending txs in all, 1..MEMPOOL_TXS_MAX */
    size_t bytes_max;             /* pending tx bytes in all, >= TX_SIZE_MAX */
    uint32_t account_txs_max;     /* pending txs of one account, 1..MEMPOOL_NONCE_WINDOW_MAX */
    uint32_t nonce_window;        /* nonce < committed + window; 1..MEMPOOL_NONCE_WINDOW_MAX */
    uint32_t institution_share;   /* percent of txs_max and of bytes_max one institution may
                                     hold, 1..100 */
    uint32_t institutions_max;    /* institutions with pending txs, 1..MEMPOOL_INSTITUTIONS_MAX */
    uint32_t batch_max;           /* txs per admit/verify batch, 1..MEMPOOL_BATCH_MAX */
    uint64_t seed;                /* random, so outsiders cannot aim txs at one hash bucket */
    enum hash_alg hash_alg;       /* the chain's */
    struct hash chain_id;         /* the chain's */
    struct chain_params params;   /* in force at the committed state (mempool_set_params) */
    uint64_t committed_height;    /* the last committed block */
    struct verify_pool *pool;     /* borrowed; must outlive the mempool */
    mempool_sender_fn *sender_fn; /* required */
    void *sender_ctx;
    mempool_admitted_fn *admitted_fn; /* may be NULL */
    void *admitted_ctx;
};

/* One raw tx, borrowed for the call. hash: its tx hash if the caller knows it, else NULL;
 * mempool_commit takes it instead of hashing the tx again, and for a tx it holds reads the
 * sender from its entry instead of decoding (with a wrong hash the tx is not found by it,
 * but its sender's nonce still moves on and it leaves as stale). Admission ignores it. */
struct mempool_raw {
    const uint8_t *data;
    size_t size;
    const struct hash *hash;
};

/* Per-tx admission result; has_hash is false when the tx could not be decoded. */
struct mempool_result {
    enum err rc;
    bool has_hash;
    struct hash hash;
};

/* A pending tx, borrowed (see Ownership above). */
struct mempool_tx_view {
    const uint8_t *data;
    size_t size;
    uint64_t nonce;
    uint64_t expiry_height;
    struct hash hash;
    struct address sender;
    uint32_t institution;
};

/* mempool_pull's request. */
struct mempool_pull_req {
    const struct hash *exclude; /* tx hashes in uncommitted ancestors (borrowed), may be NULL */
    size_t exclude_count;
    size_t bytes_max; /* max_block_bytes: total size of the txs pulled */
    size_t txs_max;   /* room in out; the chain's block_txs_max also applies */
    struct mempool_tx_view *out;
};

struct mempool_stats {
    size_t txs;              /* pending */
    size_t bytes;            /* pending tx bytes */
    size_t accounts;         /* accounts with pending txs */
    size_t institutions;     /* institutions with pending txs */
    uint64_t admitted;       /* txs admitted (admit and readmit) */
    uint64_t rejected;       /* txs refused by admit or readmit, all reasons */
    uint64_t rejected_full;  /* of which ERR_FULL */
    uint64_t committed;      /* removed because a final block included them */
    uint64_t stale;          /* removed because their nonce was used */
    uint64_t expired;        /* removed at their expiry height */
    uint64_t verify_skipped; /* mempool_verify_txs answers from pending txs */
};

/* Sensible limits: 100,000 txs, 256 MiB, 64 per account, window 64, 25% per institution,
 * 4,096 institutions, batches of 1,024. The chain fields, pool and lookup are left zero. */
void mempool_config_default(struct mempool_config *out);

/* ERR_INVALID_ARG for a config out of bounds. On success the caller owns *out
 * (mempool_free). */
MUST_USE enum err mempool_new(const struct mempool_config *config, struct mempool **out);
/* Frees the mempool and its txs. NULL is a no-op. */
void mempool_free(struct mempool *mp);

/* Admits up to batch_max raw txs; results[i] answers txs[i] (see the admission order above).
 * Each tx admitted is reported to on_admitted once. */
void mempool_admit(struct mempool *mp, const struct mempool_raw *txs, size_t count,
                   struct mempool_result *results);
/* The same checks for txs of an abandoned fork; the admitted are not reported to gossip. */
void mempool_readmit(struct mempool *mp, const struct mempool_raw *txs, size_t count,
                     struct mempool_result *results);

/* Block validation's signature check: results[i] is ERR_OK or ERR_BAD_SIGNATURE for a tx
 * that decodes, ERR_MALFORMED otherwise (chain, size and the rest are the ledger's checks).
 * A pending tx is answered from the mempool, the others through the verify pool and its
 * cache, in batches of batch_max. Any count. out_hashes (NULL, or room for count): each tx's
 * hash, which the check computes anyway (the ledger can take them: ledger_tx_in.hash). */
void mempool_verify_txs(struct mempool *mp, const struct mempool_raw *txs, size_t count,
                        enum err *results, struct hash *out_hashes);

/* Fills req->out with up to min(req->txs_max, block_txs_max) txs to propose (see Ordering)
 * and returns how many. No allocation. */
size_t mempool_pull(struct mempool *mp, const struct mempool_pull_req *req);

/* A final block at `height` (committed_height + 1, in order) with these txs: see Commit. A tx
 * that does not decode is ignored. txs may be the views mempool_pull returned for the block
 * (each tx once). ERR_INVALID_ARG for a height out of order (nothing changes); otherwise
 * ERR_OK (a lookup failure keeps the account's txs until a later commit). */
MUST_USE enum err mempool_commit(struct mempool *mp, uint64_t height, const struct mempool_raw *txs,
                                 size_t count);

/* The chain parameters in force after a commit that changed them. */
void mempool_set_params(struct mempool *mp, const struct chain_params *params);

/* The pending tx with this hash (for GET /v1/txs/{hash}); ERR_NOT_FOUND if not pending. */
MUST_USE enum err mempool_get(const struct mempool *mp, const struct hash *hash,
                              struct mempool_tx_view *out);
bool mempool_contains(const struct mempool *mp, const struct hash *hash);

void mempool_get_stats(const struct mempool *mp, struct mempool_stats *out);

/* A mempool_sender_fn over the ledger's committed state (ctx: struct ledger *), through
 * ledger_account. Call it only where the ledger may be used (ledger.h Threads). */
enum err mempool_ledger_sender(void *ctx, const struct address *sender,
                               const struct public_key *key, struct mempool_sender *out);

#endif
