/* Signature-verification worker pool (design in verify_pool.h).
 *
 * One mutex (pool->lock) guards the job ring, the stop flag and every batch's helper count;
 * it is never held while verifying or calling back. A synchronous batch lives on its
 * caller's stack: its items are claimed one at a time with an atomic counter, so the caller
 * and any helpers share them without the lock. Before the caller returns it removes its help
 * jobs that no worker has started and waits until the started ones have finished, so no
 * worker can touch the batch after verify_pool_batch returns. */
#include "crypto/verify_pool.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "base/thread.h"
#include "crypto/ed25519_fast.h"

/* The smallest share of a batch a thread claims: one vector of the Ed25519 loop. */
#define VERIFY_POOL_CHUNK_MIN ED25519_FAST_VECTOR
_Static_assert(VERIFY_POOL_CHUNK_MIN <= VERIFY_CACHED_MANY_MAX, "a chunk fits one call");

struct batch {
    const struct verify_item *items;
    enum err *results;
    size_t count;
    size_t chunk;        /* items claimed at once, 1..VERIFY_CACHED_MANY_MAX */
    _Atomic size_t next; /* next unclaimed item */
    unsigned helpers;    /* help jobs started and not finished; guarded by pool->lock */
    pthread_cond_t idle; /* signalled when helpers drops to 0 */
};

enum job_kind {
    JOB_NONE = 0, /* a cancelled help job: skipped */
    JOB_HELP,
    JOB_ASYNC,
};

struct job {
    enum job_kind kind;
    struct batch *batch; /* JOB_HELP */
    /* JOB_ASYNC, by value */
    struct public_key key;
    struct signature sig;
    uint8_t msg[VERIFY_ASYNC_MSG_SIZE_MAX];
    uint8_t size;
    verify_done_fn *done;
    void *ctx;
};

struct verify_pool {
    pthread_mutex_t lock;
    pthread_cond_t work; /* signalled when a job is queued or stopping is set */
    struct job *ring;    /* queue_capacity jobs; guarded by lock */
    size_t capacity;
    size_t head; /* index of the oldest job */
    size_t count;
    bool stopping;
    pthread_t *threads;
    unsigned thread_count;
    struct verify_cache *cache; /* borrowed; thread-safe itself */
    _Atomic uint64_t batches;
    _Atomic uint64_t items;
    _Atomic uint64_t helped;
    _Atomic uint64_t cache_hits;
    _Atomic uint64_t verified;
    _Atomic uint64_t async_queued;
    _Atomic uint64_t async_full;
    _Atomic uint64_t async_closed;
};

static void
mutex_lock(pthread_mutex_t *m)
{
    ASSERT(pthread_mutex_lock(m) == 0);
}

static void
mutex_unlock(pthread_mutex_t *m)
{
    ASSERT(pthread_mutex_unlock(m) == 0);
}

static void
cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    ASSERT(pthread_cond_wait(c, m) == 0);
}

static void
cond_signal(pthread_cond_t *c)
{
    ASSERT(pthread_cond_signal(c) == 0);
}

static void
stat_add(_Atomic uint64_t *counter, uint64_t n)
{
    atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

/* One signature through the cache, counted. */
static enum err
verify_one(struct verify_pool *pool, const struct public_key *key, const uint8_t *msg, size_t size,
           const struct signature *sig)
{
    bool hit = false;
    enum err rc = verify_cached_hit(pool->cache, key, msg, size, sig, &hit);
    stat_add(hit ? &pool->cache_hits : &pool->verified, 1);
    stat_add(&pool->items, 1);
    return rc;
}

/* Claims and answers batch items, batch->chunk at a time (verified together: they share
 * work), until none are left; returns how many it answered. */
static size_t
batch_work(struct verify_pool *pool, struct batch *batch)
{
    size_t done = 0;
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&batch->next, batch->chunk, memory_order_relaxed);
        if (i >= batch->count) {
            return done;
        }
        size_t n = batch->count - i < batch->chunk ? batch->count - i : batch->chunk;
        size_t hits = verify_cached_many(pool->cache, &batch->items[i], n, &batch->results[i]);
        stat_add(&pool->cache_hits, hits);
        stat_add(&pool->verified, n - hits);
        stat_add(&pool->items, n);
        done += n;
    }
}

/* ---- the ring (lock held) ---- */

static bool
ring_push(struct verify_pool *pool, const struct job *job)
{
    if (pool->count == pool->capacity) {
        return false;
    }
    pool->ring[(pool->head + pool->count) % pool->capacity] = *job;
    pool->count++;
    return true;
}

static void
ring_pop(struct verify_pool *pool, struct job *out)
{
    ASSERT(pool->count > 0);
    *out = pool->ring[pool->head];
    pool->head = (pool->head + 1) % pool->capacity;
    pool->count--;
}

/* ---- workers ---- */

/* A worker's share of a batch; the last helper out wakes the batch's owner. */
static void
help_batch(struct verify_pool *pool, struct batch *batch)
{
    size_t n = batch_work(pool, batch);
    stat_add(&pool->helped, n);
    mutex_lock(&pool->lock);
    ASSERT(batch->helpers > 0);
    batch->helpers--;
    if (batch->helpers == 0) {
        cond_signal(&batch->idle);
    }
    mutex_unlock(&pool->lock); /* the owner may return from here on: batch is gone */
}

static void
run_job(struct verify_pool *pool, struct job *job)
{
    switch (job->kind) {
    case JOB_NONE:
        return;
    case JOB_HELP:
        help_batch(pool, job->batch);
        return;
    case JOB_ASYNC: {
        enum err rc = verify_one(pool, &job->key, job->msg, job->size, &job->sig);
        job->done(job->ctx, rc);
        return;
    }
    }
    UNREACHABLE();
}

static void *
worker_main(void *arg)
{
    struct verify_pool *pool = arg;
    thread_set_name("lm-verify");
    mutex_lock(&pool->lock);
    for (;;) {
        while (pool->count == 0 && !pool->stopping) {
            cond_wait(&pool->work, &pool->lock);
        }
        if (pool->stopping) {
            break; /* queued async jobs are answered ERR_CLOSED by verify_pool_free */
        }
        struct job job;
        ring_pop(pool, &job);
        if (job.kind == JOB_HELP) {
            job.batch->helpers++; /* under the lock, so the batch's owner sees it */
        }
        mutex_unlock(&pool->lock);
        run_job(pool, &job);
        mutex_lock(&pool->lock);
    }
    mutex_unlock(&pool->lock);
    return NULL;
}

/* ---- public API ---- */

static void
pool_stop_threads(struct verify_pool *pool)
{
    mutex_lock(&pool->lock);
    pool->stopping = true;
    ASSERT(pthread_cond_broadcast(&pool->work) == 0);
    mutex_unlock(&pool->lock);
    for (unsigned i = 0; i < pool->thread_count; i++) {
        ASSERT(pthread_join(pool->threads[i], NULL) == 0);
    }
    pool->thread_count = 0;
}

static void
pool_release(struct verify_pool *pool)
{
    ASSERT(pthread_cond_destroy(&pool->work) == 0);
    ASSERT(pthread_mutex_destroy(&pool->lock) == 0);
    mem_free(pool->threads);
    mem_free(pool->ring);
    mem_free(pool);
}

/* Workers start with every signal blocked, so signals reach the event loop's thread. */
static enum err
pool_start_threads(struct verify_pool *pool, unsigned threads)
{
    sigset_t all;
    sigset_t old;
    ASSERT(sigfillset(&all) == 0);
    ASSERT(pthread_sigmask(SIG_SETMASK, &all, &old) == 0);
    enum err rc = ERR_OK;
    for (unsigned i = 0; i < threads; i++) {
        if (pthread_create(&pool->threads[i], NULL, worker_main, pool) != 0) {
            rc = ERR_LIMIT;
            break;
        }
        pool->thread_count++;
    }
    ASSERT(pthread_sigmask(SIG_SETMASK, &old, NULL) == 0);
    return rc;
}

enum err
verify_pool_new(const struct verify_pool_config *config, struct verify_pool **out)
{
    ASSERT(config != NULL);
    ASSERT(out != NULL);
    if (config->threads > VERIFY_POOL_THREADS_MAX || config->queue_capacity == 0 ||
        config->queue_capacity > VERIFY_POOL_QUEUE_MAX) {
        return ERR_INVALID_ARG;
    }
    struct verify_pool *pool = mem_calloc(1, sizeof *pool);
    ASSERT(pthread_mutex_init(&pool->lock, NULL) == 0);
    ASSERT(pthread_cond_init(&pool->work, NULL) == 0);
    pool->capacity = config->queue_capacity;
    pool->ring = mem_calloc(pool->capacity, sizeof *pool->ring);
    pool->threads = mem_calloc(config->threads == 0 ? 1 : config->threads, sizeof(pthread_t));
    pool->cache = config->cache;
    enum err rc = pool_start_threads(pool, config->threads);
    if (rc != ERR_OK) {
        pool_stop_threads(pool);
        pool_release(pool);
        return rc;
    }
    ASSERT(pool->thread_count == config->threads);
    *out = pool;
    return ERR_OK;
}

/* Posts up to `wanted` help jobs for batch; returns how many were queued. Lock held. */
static unsigned
post_helpers(struct verify_pool *pool, struct batch *batch, unsigned wanted)
{
    struct job job = { .kind = JOB_HELP, .batch = batch };
    unsigned posted = 0;
    while (posted < wanted && ring_push(pool, &job)) {
        posted++;
    }
    if (posted > 0) {
        ASSERT(pthread_cond_broadcast(&pool->work) == 0);
    }
    return posted;
}

/* Turns this batch's help jobs that no worker has started into no-ops. Lock held. */
static void
cancel_helpers(struct verify_pool *pool, const struct batch *batch)
{
    for (size_t k = 0; k < pool->count; k++) {
        struct job *job = &pool->ring[(pool->head + k) % pool->capacity];
        if (job->kind == JOB_HELP && job->batch == batch) {
            job->kind = JOB_NONE;
            job->batch = NULL;
        }
    }
}

void
verify_pool_batch(struct verify_pool *pool, const struct verify_item *items, size_t count,
                  enum err *results) // NOLINT(readability-non-const-parameter): written via batch
{
    ASSERT(pool != NULL);
    ASSERT(count == 0 || (items != NULL && results != NULL));
    stat_add(&pool->batches, 1);
    /* Chunks as large as verification groups (ED25519_FAST_GROUP) while every thread still
     * gets about two of them, but never below VERIFY_POOL_CHUNK_MIN: the Ed25519 vector loop
     * verifies 8 signatures at once, and fewer than 3 take the scalar loop at 2-3x the CPU per
     * signature (a gossip frame of 8 split in 4 chunks of 2 did). CPU per signature matters
     * more than spreading a handful of them over threads: a node shares its cores. */
    size_t chunk = count / (2 * ((size_t)pool->thread_count + 1));
    chunk = chunk < VERIFY_POOL_CHUNK_MIN    ? VERIFY_POOL_CHUNK_MIN
            : chunk > VERIFY_CACHED_MANY_MAX ? VERIFY_CACHED_MANY_MAX
                                             : chunk;
    struct batch batch = { .items = items, .results = results, .count = count, .chunk = chunk };
    atomic_init(&batch.next, 0);
    ASSERT(pthread_cond_init(&batch.idle, NULL) == 0);

    /* Helpers only pay off if there is a chunk left for them besides the caller's first. */
    size_t chunks = (count + chunk - 1) / chunk;
    unsigned wanted = 0;
    if (chunks > 1) {
        wanted = chunks - 1 < pool->thread_count ? (unsigned)(chunks - 1) : pool->thread_count;
    }
    bool posted = false;
    if (wanted > 0) {
        mutex_lock(&pool->lock);
        posted = !pool->stopping && post_helpers(pool, &batch, wanted) > 0;
        mutex_unlock(&pool->lock);
    }
    batch_work(pool, &batch);
    if (posted) {
        mutex_lock(&pool->lock);
        cancel_helpers(pool, &batch);
        while (batch.helpers > 0) {
            cond_wait(&batch.idle, &pool->lock);
        }
        mutex_unlock(&pool->lock);
    }
    ASSERT(atomic_load(&batch.next) >= count); /* every item claimed and answered */
    ASSERT(pthread_cond_destroy(&batch.idle) == 0);
}

enum err
verify_pool_submit(struct verify_pool *pool, const struct verify_item *item, verify_done_fn *done,
                   void *ctx)
{
    ASSERT(pool != NULL);
    ASSERT(item != NULL);
    ASSERT(item->key != NULL);
    ASSERT(item->sig != NULL);
    ASSERT(item->msg != NULL || item->size == 0);
    ASSERT(done != NULL);
    if (item->size > VERIFY_ASYNC_MSG_SIZE_MAX) {
        return ERR_TOO_LARGE;
    }
    struct job job = { .kind = JOB_ASYNC,
                       .key = *item->key,
                       .sig = *item->sig,
                       .size = (uint8_t)item->size,
                       .done = done,
                       .ctx = ctx };
    if (item->size > 0) {
        memcpy(job.msg, item->msg, item->size);
    }
    if (pool->thread_count == 0) {
        stat_add(&pool->async_queued, 1);
        run_job(pool, &job);
        return ERR_OK;
    }
    enum err rc = ERR_OK;
    mutex_lock(&pool->lock);
    if (pool->stopping) {
        rc = ERR_CLOSED;
    } else if (!ring_push(pool, &job)) {
        rc = ERR_FULL;
    } else {
        cond_signal(&pool->work);
    }
    mutex_unlock(&pool->lock);
    if (rc == ERR_OK) {
        stat_add(&pool->async_queued, 1);
    } else if (rc == ERR_FULL) {
        stat_add(&pool->async_full, 1);
    }
    return rc;
}

void
verify_pool_get_stats(struct verify_pool *pool, struct verify_pool_stats *out)
{
    ASSERT(pool != NULL);
    ASSERT(out != NULL);
    out->batches = atomic_load_explicit(&pool->batches, memory_order_relaxed);
    out->items = atomic_load_explicit(&pool->items, memory_order_relaxed);
    out->helped = atomic_load_explicit(&pool->helped, memory_order_relaxed);
    out->cache_hits = atomic_load_explicit(&pool->cache_hits, memory_order_relaxed);
    out->verified = atomic_load_explicit(&pool->verified, memory_order_relaxed);
    out->async_queued = atomic_load_explicit(&pool->async_queued, memory_order_relaxed);
    out->async_full = atomic_load_explicit(&pool->async_full, memory_order_relaxed);
    out->async_closed = atomic_load_explicit(&pool->async_closed, memory_order_relaxed);
}

void
verify_pool_free(struct verify_pool *pool)
{
    if (pool == NULL) {
        return;
    }
    pool_stop_threads(pool);
    /* The workers are gone: answer what they never started. */
    while (pool->count > 0) {
        struct job job;
        ring_pop(pool, &job);
        ASSERT(job.kind != JOB_HELP); /* a batch still running: the caller broke the contract */
        if (job.kind == JOB_ASYNC) {
            stat_add(&pool->async_closed, 1);
            job.done(job.ctx, ERR_CLOSED);
        }
    }
    pool_release(pool);
}
