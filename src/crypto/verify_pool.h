/* A fixed pool of signature-verification threads (ARCHITECTURE.md "Threads"), in front of
 * the verification cache.
 *
 * Two ways in:
 *   - verify_pool_batch: synchronous. The calling thread verifies items itself and posts
 *     "help" jobs so idle workers join in; it returns when every item has a result. Used by
 *     block validation and certificate checks (many signatures, answer needed now). Each
 *     thread claims at least ED25519_FAST_VECTOR items at a time, so a batch of up to 8 is
 *     verified by the caller alone, in one vector where the CPU has AVX-512 IFMA.
 *   - verify_pool_submit: asynchronous, one signature copied by value into a bounded queue;
 *     a worker verifies it and calls the completion callback ON THE WORKER THREAD. The node
 *     must not touch loop-owned state there: its callback only hands the result to the event
 *     loop (e.g. a locked result queue plus an event_active wake-up), which acts on it.
 * Both consult the cache first and remember valid results in it, so a signature checked in
 * the mempool is not checked again in the block.
 *
 * Lifecycle: threads are created in verify_pool_new and joined in verify_pool_free; nothing
 * is allocated in between. verify_pool_free calls the callback of every accepted but not yet
 * started async job with ERR_CLOSED (on the freeing thread), so each accepted job's callback
 * runs exactly once. Do not call verify_pool_free from a callback, or while a batch runs.
 * Threads: every function except verify_pool_free may be called from any thread, including
 * from a callback. With threads == 0 everything runs on the calling thread (submit calls the
 * callback before it returns): a deterministic mode for tests and the simulator. */
#ifndef LM_CRYPTO_VERIFY_POOL_H
#define LM_CRYPTO_VERIFY_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "crypto/sign.h"
#include "crypto/verify_cache.h"

#define VERIFY_POOL_THREADS_MAX   64
#define VERIFY_POOL_QUEUE_MAX     65536
#define VERIFY_ASYNC_MSG_SIZE_MAX 64 /* async messages are digests; batch items may be larger */

struct verify_pool; /* opaque */

struct verify_pool_config {
    unsigned threads;           /* worker threads, 0..VERIFY_POOL_THREADS_MAX */
    size_t queue_capacity;      /* queued jobs, 1..VERIFY_POOL_QUEUE_MAX */
    struct verify_cache *cache; /* borrowed, may be NULL; must outlive the pool */
};

/* Called once per accepted async job with its result: ERR_OK, ERR_BAD_SIGNATURE, or
 * ERR_CLOSED if the pool was freed before the job started. */
typedef void verify_done_fn(void *ctx, enum err result);

struct verify_pool_stats {
    uint64_t batches;      /* verify_pool_batch calls */
    uint64_t items;        /* signatures answered (batch items and async jobs) */
    uint64_t helped;       /* batch items answered by workers rather than the caller */
    uint64_t cache_hits;   /* items answered from the cache */
    uint64_t verified;     /* items that ran the real verification */
    uint64_t async_queued; /* async jobs accepted */
    uint64_t async_full;   /* async jobs refused with ERR_FULL */
    uint64_t async_closed; /* async jobs answered ERR_CLOSED at shutdown */
};

/* Starts the workers. ERR_INVALID_ARG for a config out of bounds, ERR_LIMIT if the system
 * refuses a thread. On success the caller owns *out (verify_pool_free). */
MUST_USE enum err verify_pool_new(const struct verify_pool_config *config,
                                  struct verify_pool **out);

/* Verifies every item; results[i] is ERR_OK or ERR_BAD_SIGNATURE, exactly what
 * verify_message would return for items[i]. count may be 0. */
void verify_pool_batch(struct verify_pool *pool, const struct verify_item *items, size_t count,
                       enum err *results);

/* Queues one verification (the key, message and signature item points to are copied).
 * ERR_TOO_LARGE if item->size > VERIFY_ASYNC_MSG_SIZE_MAX, ERR_FULL if the queue is full (try
 * later or verify inline), ERR_CLOSED while the pool shuts down. On ERR_OK `done` will be
 * called exactly once, with ctx. */
MUST_USE enum err verify_pool_submit(struct verify_pool *pool, const struct verify_item *item,
                                     verify_done_fn *done, void *ctx);

void verify_pool_get_stats(struct verify_pool *pool, struct verify_pool_stats *out);

/* Stops and joins the workers, answers queued async jobs with ERR_CLOSED. NULL is a no-op. */
void verify_pool_free(struct verify_pool *pool);

#endif
