/* Merkle trees (crypto/merkle.h): root of 10,000 leaves (a full block's transaction hashes),
 * an audit path in such a tree, and verifying one, for SHA-256 and SM3. One thread; each row
 * runs for about SECONDS and prints operations per second of this thread's CPU time (the
 * per-core capacity) and of wall time (what the shared machine gave).
 *
 * usage: bench_merkle [SECONDS]   (default 1, at most 60) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/assert.h"
#include "base/mem.h"
#include "crypto/hash.h"
#include "crypto/merkle.h"

#define LEAF_COUNT 10000

typedef void bench_fn(void *ctx);

struct tree_ctx {
    enum hash_alg alg;
    struct hash *leaves;
    struct hash root;
    struct merkle_proof proof;
    size_t next; /* leaf index for the next proof */
};

static double
now_s(clockid_t clock)
{
    struct timespec ts;
    ASSERT(clock_gettime(clock, &ts) == 0);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct rate {
    double per_cpu_s;
    double per_wall_s;
};

static struct rate
measure(bench_fn *fn, void *ctx, double seconds)
{
    fn(ctx); /* warm-up */
    unsigned long ops = 0;
    double wall_start = now_s(CLOCK_MONOTONIC);
    double cpu_start = now_s(CLOCK_THREAD_CPUTIME_ID);
    double wall = 0;
    while (wall < seconds) {
        fn(ctx);
        ops++;
        wall = now_s(CLOCK_MONOTONIC) - wall_start;
    }
    double cpu = now_s(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
    return (struct rate){ (double)ops / cpu, (double)ops / wall };
}

static void
run_root(void *ctx)
{
    struct tree_ctx *c = ctx;
    struct hash root;
    merkle_root(c->alg, c->leaves, LEAF_COUNT, &root);
    ASSERT(hash_equal(&root, &c->root));
}

static void
run_prove(void *ctx)
{
    struct tree_ctx *c = ctx;
    c->next = (c->next + 7919) % LEAF_COUNT;
    ASSERT(merkle_prove(c->alg, c->leaves, LEAF_COUNT, c->next, &c->proof) == ERR_OK);
}

static void
run_verify(void *ctx)
{
    struct tree_ctx *c = ctx;
    size_t i = (size_t)c->proof.index;
    ASSERT(merkle_verify(c->alg, &c->leaves[i], &c->proof, &c->root) == ERR_OK);
}

int
main(int argc, char **argv)
{
    double seconds = 1;
    if (argc > 1) {
        char *end = NULL;
        seconds = strtod(argv[1], &end);
        if (end == argv[1] || *end != '\0' || seconds <= 0 || seconds > 60) {
            fprintf(stderr, "usage: bench_merkle [SECONDS]   (0 < SECONDS <= 60)\n");
            return 2;
        }
    }
    struct hash *leaves = mem_calloc(LEAF_COUNT, sizeof *leaves);
    for (size_t i = 0; i < LEAF_COUNT; i++) {
        uint64_t v = i;
        hash_bytes(HASH_SHA256, &v, sizeof v, &leaves[i]);
    }
    printf("| Operation (%d leaves) | ops/s per CPU-s | leaves/s per CPU-s | ops/s wall |\n",
           LEAF_COUNT);
    printf("|---|---:|---:|---:|\n");
    const enum hash_alg algs[] = { HASH_SHA256, HASH_SM3 };
    for (size_t a = 0; a < 2; a++) {
        struct tree_ctx c = { .alg = algs[a], .leaves = leaves };
        merkle_root(c.alg, leaves, LEAF_COUNT, &c.root);
        run_prove(&c);
        const struct {
            const char *name;
            bench_fn *fn;
            double leaves;
        } rows[] = {
            { "merkle_root", run_root, LEAF_COUNT },
            { "merkle_prove (one audit path)", run_prove, LEAF_COUNT },
            { "merkle_verify (14-element path)", run_verify, 0 },
        };
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
            struct rate rate = measure(rows[r].fn, &c, seconds);
            char per_leaf[32] = "";
            if (rows[r].leaves > 0) {
                snprintf(per_leaf, sizeof per_leaf, "%.0f", rate.per_cpu_s * rows[r].leaves);
            }
            printf("| %s %s | %.0f | %s | %.0f |\n", hash_alg_name(algs[a]), rows[r].name,
                   rate.per_cpu_s, per_leaf, rate.per_wall_s);
            fflush(stdout);
        }
    }
    mem_free(leaves);
    return 0;
}
