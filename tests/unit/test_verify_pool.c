/* Unit tests of crypto/verify_pool with real Ed25519 and SM2 signatures: batch results equal
 * sequential verify_message for mixed valid/invalid items with 0, 1, 2 and 4 workers, the
 * cache answers repeats (counted), async jobs with callbacks, a full queue, two application
 * threads using one pool at once, and shutdown with jobs still queued. */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "crypto/ed25519_fast.h"
#include "crypto/sign.h"
#include "crypto/verify_cache.h"
#include "crypto/verify_pool.h"
#include "unit.h"

#define KEY_COUNT  6 /* 4 Ed25519, 2 SM2 */
#define ITEM_COUNT 120

struct corpus {
    struct secret_key *sk[KEY_COUNT];
    struct public_key pub[KEY_COUNT];
    struct public_key bad_key; /* malformed: wrong size */
    uint8_t msg[ITEM_COUNT][32];
    struct signature sig[ITEM_COUNT];
    struct verify_item items[ITEM_COUNT];
    enum err expected[ITEM_COUNT];
    size_t valid;
};

static struct corpus corpus;

/* Item i is signed by key i % KEY_COUNT; one in three is spoiled in one of five ways. */
static int
corpus_setup(void **state)
{
    (void)state;
    for (size_t k = 0; k < KEY_COUNT; k++) {
        enum sig_alg alg = k < 4 ? SIG_ED25519 : SIG_SM2;
        if (secret_key_generate(alg, &corpus.sk[k]) != ERR_OK) {
            return -1;
        }
        secret_key_public(corpus.sk[k], &corpus.pub[k]);
    }
    corpus.bad_key = corpus.pub[0];
    corpus.bad_key.size = 31;
    for (size_t i = 0; i < ITEM_COUNT; i++) {
        size_t k = i % KEY_COUNT;
        memset(corpus.msg[i], (int)i, 32);
        corpus.msg[i][0] = (uint8_t)(i >> 8);
        if (sign_message(corpus.sk[k], corpus.msg[i], 32, &corpus.sig[i]) != ERR_OK) {
            return -1;
        }
        struct verify_item *it = &corpus.items[i];
        *it = (struct verify_item){ &corpus.pub[k], corpus.msg[i], 32, &corpus.sig[i] };
        if (i % 3 == 1) {
            switch ((i / 3) % 5) {
            case 0:
                corpus.sig[i].bytes[i % SIGNATURE_SIZE] ^= 0x10;
                break;
            case 1:
                it->size = 31; /* a different message */
                break;
            case 2:
                it->key = &corpus.pub[(k + 1) % KEY_COUNT]; /* another key */
                break;
            case 3:
                corpus.sig[i].alg = corpus.sig[i].alg == SIG_SM2 ? SIG_ED25519 : SIG_SM2;
                break;
            default:
                it->key = &corpus.bad_key;
                break;
            }
        }
    }
    corpus.valid = 0;
    for (size_t i = 0; i < ITEM_COUNT; i++) {
        const struct verify_item *it = &corpus.items[i];
        corpus.expected[i] = verify_message(it->key, it->msg, it->size, it->sig);
        corpus.valid += corpus.expected[i] == ERR_OK ? 1 : 0;
    }
    return corpus.valid == ITEM_COUNT - ITEM_COUNT / 3 ? 0 : -1;
}

static int
corpus_teardown(void **state)
{
    (void)state;
    for (size_t k = 0; k < KEY_COUNT; k++) {
        secret_key_free(corpus.sk[k]);
    }
    return 0;
}

static struct verify_pool *
pool_new(unsigned threads, size_t queue, struct verify_cache *cache)
{
    struct verify_pool_config config = { .threads = threads,
                                         .queue_capacity = queue,
                                         .cache = cache };
    struct verify_pool *pool = NULL;
    assert_int_equal(verify_pool_new(&config, &pool), ERR_OK);
    return pool;
}

static void
assert_results(const enum err *results)
{
    for (size_t i = 0; i < ITEM_COUNT; i++) {
        assert_int_equal(results[i], corpus.expected[i]);
    }
}

static void
test_batch_equals_sequential(void **state)
{
    (void)state;
    const unsigned threads[] = { 0, 1, 2, 4 };
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        /* Without a cache: every item verified every time. */
        struct verify_pool *pool = pool_new(threads[t], 16, NULL);
        enum err results[ITEM_COUNT];
        verify_pool_batch(pool, corpus.items, ITEM_COUNT, results);
        assert_results(results);
        verify_pool_batch(pool, corpus.items, 0, NULL);
        verify_pool_batch(pool, corpus.items, 1, results);
        assert_int_equal(results[0], corpus.expected[0]);
        struct verify_pool_stats st;
        verify_pool_get_stats(pool, &st);
        assert_int_equal(st.batches, 3);
        assert_int_equal(st.items, ITEM_COUNT + 1);
        assert_int_equal(st.verified, ITEM_COUNT + 1);
        assert_int_equal(st.cache_hits, 0);
        if (threads[t] == 0) {
            assert_int_equal(st.helped, 0);
        }
        verify_pool_free(pool);

        /* With a cache: the second pass verifies only the invalid ones again. */
        struct verify_cache *cache = verify_cache_new(1024);
        pool = pool_new(threads[t], 16, cache);
        memset(results, 0, sizeof results);
        verify_pool_batch(pool, corpus.items, ITEM_COUNT, results);
        assert_results(results);
        memset(results, 0, sizeof results);
        verify_pool_batch(pool, corpus.items, ITEM_COUNT, results);
        assert_results(results);
        verify_pool_get_stats(pool, &st);
        assert_int_equal(st.items, 2 * ITEM_COUNT);
        assert_int_equal(st.cache_hits, corpus.valid);
        assert_int_equal(st.verified, ITEM_COUNT + (ITEM_COUNT - corpus.valid));
        struct verify_cache_stats cs;
        verify_cache_get_stats(cache, &cs);
        assert_int_equal(cs.inserts, corpus.valid);
        assert_int_equal(cs.hits, corpus.valid);
        verify_pool_free(pool);
        verify_cache_free(cache);
    }
}

/* A batch no bigger than one Ed25519 vector (ED25519_FAST_VECTOR) stays on the caller's
 * thread, whole: split in chunks of 1-2 for helpers it would take the scalar loop. */
static void
test_small_batch_not_split(void **state)
{
    (void)state;
    struct verify_pool *pool = pool_new(4, 16, NULL);
    enum err results[ITEM_COUNT];
    for (size_t n = 1; n <= ED25519_FAST_VECTOR; n++) {
        memset(results, 0, sizeof results);
        verify_pool_batch(pool, corpus.items, n, results);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(results[i], corpus.expected[i]);
        }
    }
    struct verify_pool_stats st;
    verify_pool_get_stats(pool, &st);
    assert_int_equal(st.helped, 0);
    assert_int_equal(st.items, ED25519_FAST_VECTOR * (ED25519_FAST_VECTOR + 1) / 2);
    verify_pool_free(pool);
}

/* Async results land here; guarded by lock. */
struct collector {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    enum err results[ITEM_COUNT];
    unsigned calls[ITEM_COUNT];
    size_t total;
};

struct slot_ctx {
    struct collector *c;
    size_t index;
};

static void
collect(void *ctx, enum err result)
{
    struct slot_ctx *s = ctx;
    pthread_mutex_lock(&s->c->lock);
    s->c->results[s->index] = result;
    s->c->calls[s->index]++;
    s->c->total++;
    pthread_cond_broadcast(&s->c->cond);
    pthread_mutex_unlock(&s->c->lock);
}

static void
collector_init(struct collector *c, struct slot_ctx *slots)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    for (size_t i = 0; i < ITEM_COUNT; i++) {
        slots[i] = (struct slot_ctx){ c, i };
    }
}

static void
collector_wait(struct collector *c, size_t total)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 60;
    pthread_mutex_lock(&c->lock);
    while (c->total < total) {
        assert_int_equal(pthread_cond_timedwait(&c->cond, &c->lock, &deadline), 0);
    }
    pthread_mutex_unlock(&c->lock);
}

static void
collector_release(struct collector *c)
{
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
}

/* Submits every item, retrying while the queue is full; returns how often it was full. */
static size_t
submit_all(struct verify_pool *pool, struct slot_ctx *slots)
{
    size_t full = 0;
    for (size_t i = 0; i < ITEM_COUNT; i++) {
        const struct verify_item *it = &corpus.items[i];
        enum err rc;
        while ((rc = verify_pool_submit(pool, it, collect, &slots[i])) == ERR_FULL) {
            full++;
            struct timespec pause = { 0, 200000 };
            nanosleep(&pause, NULL);
        }
        assert_int_equal(rc, ERR_OK);
    }
    return full;
}

static void
test_async(void **state)
{
    (void)state;
    const unsigned threads[] = { 0, 1, 2 };
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        struct verify_cache *cache = verify_cache_new(1024);
        /* A queue of 4 fills up while the workers verify. */
        struct verify_pool *pool = pool_new(threads[t], 4, cache);
        static struct collector c;
        struct slot_ctx slots[ITEM_COUNT];
        collector_init(&c, slots);
        size_t full = submit_all(pool, slots);
        collector_wait(&c, ITEM_COUNT);
        for (size_t i = 0; i < ITEM_COUNT; i++) {
            assert_int_equal(c.calls[i], 1);
        }
        assert_results(c.results);
        struct verify_pool_stats st;
        verify_pool_get_stats(pool, &st);
        assert_int_equal(st.async_queued, ITEM_COUNT);
        assert_int_equal(st.async_full, full);
        if (threads[t] > 0) {
            assert_true(full > 0);
        }
        /* The async results fed the cache: a batch now verifies only the invalid ones. */
        enum err results[ITEM_COUNT];
        verify_pool_batch(pool, corpus.items, ITEM_COUNT, results);
        assert_results(results);
        verify_pool_get_stats(pool, &st);
        assert_int_equal(st.cache_hits, corpus.valid);
        verify_pool_free(pool);
        verify_cache_free(cache);
        collector_release(&c);
    }
}

static void
test_bounds(void **state)
{
    (void)state;
    struct verify_pool *pool = NULL;
    struct verify_pool_config bad[] = {
        { .threads = VERIFY_POOL_THREADS_MAX + 1, .queue_capacity = 4 },
        { .threads = 1, .queue_capacity = 0 },
        { .threads = 1, .queue_capacity = VERIFY_POOL_QUEUE_MAX + 1 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(verify_pool_new(&bad[i], &pool), ERR_INVALID_ARG);
        assert_null(pool);
    }
    pool = pool_new(1, 4, NULL);
    uint8_t big[VERIFY_ASYNC_MSG_SIZE_MAX + 1] = { 0 };
    struct slot_ctx slot = { NULL, 0 };
    const struct verify_item big_item = { &corpus.pub[0], big, sizeof big, &corpus.sig[0] };
    assert_int_equal(verify_pool_submit(pool, &big_item, collect, &slot), ERR_TOO_LARGE);
    verify_pool_free(pool);
    verify_pool_free(NULL);
}

/* Two application threads run batches on one 2-worker pool while async jobs flow too. */
struct stress_arg {
    struct verify_pool *pool;
    unsigned rounds;
    unsigned mismatches;
};

static void *
stress_main(void *arg)
{
    struct stress_arg *a = arg;
    enum err results[ITEM_COUNT];
    for (unsigned r = 0; r < a->rounds; r++) {
        size_t start = (r * 7) % 40;
        size_t n = ITEM_COUNT - start - (size_t)(r % 3) * 10;
        verify_pool_batch(a->pool, corpus.items + start, n, results);
        for (size_t i = 0; i < n; i++) {
            a->mismatches += results[i] != corpus.expected[start + i] ? 1 : 0;
        }
    }
    return NULL;
}

static void
test_stress_two_threads(void **state)
{
    (void)state;
    /* A small cache, so entries are evicted and re-verified while others hit. */
    struct verify_cache *cache = verify_cache_new(64);
    struct verify_pool *pool = pool_new(2, 8, cache);
    struct stress_arg args[2] = { { pool, 30, 0 }, { pool, 30, 0 } };
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, stress_main, &args[i]), 0);
    }
    static struct collector c;
    struct slot_ctx slots[ITEM_COUNT];
    collector_init(&c, slots);
    submit_all(pool, slots);
    collector_wait(&c, ITEM_COUNT);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(args[i].mismatches, 0);
    }
    assert_results(c.results);
    struct verify_pool_stats st;
    verify_pool_get_stats(pool, &st);
    assert_int_equal(st.batches, 60);
    assert_int_equal(st.items, st.cache_hits + st.verified);
    assert_true(st.cache_hits > 0);
    print_message("stress: %llu items, %llu by helpers, %llu cache hits, %llu verified\n",
                  (unsigned long long)st.items, (unsigned long long)st.helped,
                  (unsigned long long)st.cache_hits, (unsigned long long)st.verified);
    verify_pool_free(pool);
    verify_cache_free(cache);
    collector_release(&c);
}

/* Freeing with jobs queued: each callback runs exactly once, the unstarted ones ERR_CLOSED;
 * a batch run while the only worker is busy finishes on the caller's thread alone. */
static void
test_shutdown_with_pending(void **state)
{
    (void)state;
    struct verify_pool *pool = pool_new(1, 1024, NULL);
    static struct collector c;
    struct slot_ctx slots[ITEM_COUNT];
    collector_init(&c, slots);
    /* SM2 items take ~0.3 ms each, so the single worker is far behind. */
    size_t submitted = 0;
    for (size_t i = 0; i < ITEM_COUNT; i++) {
        const struct verify_item *it = &corpus.items[i];
        assert_int_equal(verify_pool_submit(pool, it, collect, &slots[i]), ERR_OK);
        submitted++;
    }
    enum err results[ITEM_COUNT];
    verify_pool_batch(pool, corpus.items, ITEM_COUNT, results);
    assert_results(results);
    verify_pool_free(pool); /* answers the rest with ERR_CLOSED */
    assert_int_equal(c.total, submitted);
    size_t closed = 0;
    for (size_t i = 0; i < ITEM_COUNT; i++) {
        assert_int_equal(c.calls[i], 1);
        if (c.results[i] == ERR_CLOSED) {
            closed++;
        } else {
            assert_int_equal(c.results[i], corpus.expected[i]);
        }
    }
    print_message("shutdown: %zu of %zu queued jobs answered ERR_CLOSED\n", closed, submitted);
    collector_release(&c);

    /* Freeing an idle pool and one that never got work. */
    pool = pool_new(2, 4, NULL);
    verify_pool_free(pool);
}

/* The only worker is held inside a callback while verify_pool_free starts; every job queued
 * behind it is then answered ERR_CLOSED, deterministically. */
struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool entered;
    bool open;
    enum err result;
};

static void
gate_callback(void *ctx, enum err result)
{
    struct gate *g = ctx;
    pthread_mutex_lock(&g->lock);
    g->result = result;
    g->entered = true;
    pthread_cond_broadcast(&g->cond);
    while (!g->open) {
        pthread_cond_wait(&g->cond, &g->lock);
    }
    pthread_mutex_unlock(&g->lock);
}

static void *
free_main(void *arg)
{
    verify_pool_free(arg);
    return NULL;
}

static void
test_shutdown_closes_queued(void **state)
{
    (void)state;
    struct verify_pool *pool = pool_new(1, 256, NULL);
    static struct gate g = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
    const struct verify_item *first = &corpus.items[0];
    assert_int_equal(verify_pool_submit(pool, first, gate_callback, &g), ERR_OK);
    pthread_mutex_lock(&g.lock);
    while (!g.entered) {
        pthread_cond_wait(&g.cond, &g.lock);
    }
    pthread_mutex_unlock(&g.lock);

    static struct collector c;
    struct slot_ctx slots[ITEM_COUNT];
    collector_init(&c, slots);
    for (size_t i = 0; i < 50; i++) {
        const struct verify_item *it = &corpus.items[i];
        assert_int_equal(verify_pool_submit(pool, it, collect, &slots[i]), ERR_OK);
    }
    pthread_t freer;
    assert_int_equal(pthread_create(&freer, NULL, free_main, pool), 0);
    /* The pool cannot be released while its worker is held, so probing it is safe; once it
     * refuses work, shutdown has begun. Probes accepted before that join the queue. */
    size_t extra = 0;
    size_t probes = 0;
    enum err rc;
    do {
        rc = verify_pool_submit(pool, first, collect, &slots[50 + extra % 50]);
        extra += rc == ERR_OK ? 1 : 0;
        assert_true(rc == ERR_OK || rc == ERR_FULL || rc == ERR_CLOSED);
        assert_true(++probes < 100000000);
    } while (rc != ERR_CLOSED);
    assert_int_equal(rc, ERR_CLOSED);
    pthread_mutex_lock(&g.lock);
    g.open = true;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.lock);
    assert_int_equal(pthread_join(freer, NULL), 0);

    assert_int_equal(g.result, corpus.expected[0]);
    assert_int_equal(c.total, 50 + extra);
    for (size_t i = 0; i < 50 + (extra < 50 ? extra : 50); i++) {
        assert_true(c.calls[i] >= 1);
        assert_int_equal(c.results[i], ERR_CLOSED);
    }
    collector_release(&c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_equals_sequential),
        cmocka_unit_test(test_small_batch_not_split),
        cmocka_unit_test(test_async),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_stress_two_threads),
        cmocka_unit_test(test_shutdown_with_pending),
        cmocka_unit_test(test_shutdown_closes_queued),
    };
    return cmocka_run_group_tests(tests, corpus_setup, corpus_teardown);
}
