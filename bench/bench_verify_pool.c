/* Batch verification through crypto/verify_pool.h: 4,000 Ed25519 signatures (distinct keys
 * and messages, all valid) per verify_pool_batch call, with 0, 1 and 2 worker threads (the
 * calling thread always verifies too), without a cache; then the same batch again through a
 * cache that already holds every signature (the "verify once" path: block validation after
 * the mempool). Prints signatures per second of wall time and of process CPU time.
 *
 * usage: bench_verify_pool [SECONDS]   (default 2 per row, at most 60) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "base/assert.h"
#include "base/mem.h"
#include "crypto/sign.h"
#include "crypto/verify_cache.h"
#include "crypto/verify_pool.h"

#define ITEM_COUNT 4000
#define KEY_COUNT  100

struct corpus {
    struct public_key pub[KEY_COUNT];
    uint8_t (*msg)[32];
    struct signature *sig;
    struct verify_item *items;
    enum err *results;
};

static double
now_s(clockid_t clock)
{
    struct timespec ts;
    ASSERT(clock_gettime(clock, &ts) == 0);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
corpus_init(struct corpus *c)
{
    c->msg = mem_calloc(ITEM_COUNT, sizeof *c->msg);
    c->sig = mem_calloc(ITEM_COUNT, sizeof *c->sig);
    c->items = mem_calloc(ITEM_COUNT, sizeof *c->items);
    c->results = mem_calloc(ITEM_COUNT, sizeof *c->results);
    struct secret_key *sk[KEY_COUNT];
    for (size_t k = 0; k < KEY_COUNT; k++) {
        ASSERT(secret_key_generate(SIG_ED25519, &sk[k]) == ERR_OK);
        secret_key_public(sk[k], &c->pub[k]);
    }
    for (size_t i = 0; i < ITEM_COUNT; i++) {
        uint64_t v = i;
        hash_bytes(HASH_SHA256, &v, sizeof v, (struct hash *)c->msg[i]);
        ASSERT(sign_message(sk[i % KEY_COUNT], c->msg[i], 32, &c->sig[i]) == ERR_OK);
        c->items[i] = (struct verify_item){ &c->pub[i % KEY_COUNT], c->msg[i], 32, &c->sig[i] };
    }
    for (size_t k = 0; k < KEY_COUNT; k++) {
        secret_key_free(sk[k]);
    }
}

static void
corpus_release(struct corpus *c)
{
    mem_free(c->msg);
    mem_free(c->sig);
    mem_free(c->items);
    mem_free(c->results);
}

/* Runs whole batches until `seconds` of wall time have passed. */
static void
row(struct corpus *c, const char *name, unsigned threads, struct verify_cache *cache,
    double seconds)
{
    struct verify_pool_config config = { .threads = threads, .queue_capacity = 64, .cache = cache };
    struct verify_pool *pool = NULL;
    ASSERT(verify_pool_new(&config, &pool) == ERR_OK);
    verify_pool_batch(pool, c->items, ITEM_COUNT, c->results); /* warm-up; fills the cache */
    unsigned long batches = 0;
    double wall_start = now_s(CLOCK_MONOTONIC);
    double cpu_start = now_s(CLOCK_PROCESS_CPUTIME_ID);
    double wall = 0;
    while (wall < seconds) {
        verify_pool_batch(pool, c->items, ITEM_COUNT, c->results);
        batches++;
        wall = now_s(CLOCK_MONOTONIC) - wall_start;
    }
    double cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
    for (size_t i = 0; i < ITEM_COUNT; i++) {
        ASSERT(c->results[i] == ERR_OK);
    }
    struct verify_pool_stats st;
    verify_pool_get_stats(pool, &st);
    double sigs = (double)batches * ITEM_COUNT;
    printf("| %s | %u | %.0f | %.0f | %.1f | %.0f %% |\n", name, threads, sigs / wall, sigs / cpu,
           wall / (double)batches * 1e3, 100.0 * (double)st.helped / (double)st.items);
    fflush(stdout);
    verify_pool_free(pool);
}

int
main(int argc, char **argv)
{
    double seconds = 2;
    if (argc > 1) {
        char *end = NULL;
        seconds = strtod(argv[1], &end);
        if (end == argv[1] || *end != '\0' || seconds <= 0 || seconds > 60) {
            fprintf(stderr, "usage: bench_verify_pool [SECONDS]   (0 < SECONDS <= 60)\n");
            return 2;
        }
    }
    struct corpus c;
    corpus_init(&c);
    printf("| %d Ed25519 signatures per batch | workers | sigs/s wall | sigs/s per CPU-s | "
           "ms per batch | done by workers |\n",
           ITEM_COUNT);
    printf("|---|---:|---:|---:|---:|---:|\n");
    row(&c, "verify_pool_batch, no cache", 0, NULL, seconds);
    row(&c, "verify_pool_batch, no cache", 1, NULL, seconds);
    row(&c, "verify_pool_batch, no cache", 2, NULL, seconds);
    for (unsigned threads = 0; threads <= 2; threads++) {
        struct verify_cache *cache = verify_cache_new((size_t)2 * ITEM_COUNT);
        row(&c, "verify_pool_batch, all cached", threads, cache, seconds);
        verify_cache_free(cache);
    }
    corpus_release(&c);
    return 0;
}
