/* Single-threaded throughput of the crypto layer: Ed25519 and SM2 keygen/sign/verify through
 * crypto/sign.h, SHA-256 and SM3 of 64 B and 4 KiB through crypto/hash.h. Each row runs for
 * about one second (bounded by the clock, checked every batch) and prints ops/s.
 *
 * usage: bench_crypto [SECONDS]   (default 1, at most 60)
 * Add a row: write a bench_fn and append it to the rows table in main. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/assert.h"
#include "crypto/hash.h"
#include "crypto/sign.h"

typedef void bench_fn(void *ctx);

struct sign_ctx {
    enum sig_alg alg;
    struct secret_key *key;
    struct public_key pub;
    struct signature sig;
    uint8_t msg[HASH_SIZE]; /* callers sign a 32-byte tagged digest */
};

struct hash_ctx {
    enum hash_alg alg;
    uint8_t *data;
    size_t size;
};

static double
now_s(clockid_t clock)
{
    struct timespec ts;
    ASSERT(clock_gettime(clock, &ts) == 0);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The machine is shared: a rate per second of this thread's CPU time is the per-core
 * capacity; the wall-clock rate also shows what neighbours took. */
struct rate {
    double per_cpu_s;
    double per_wall_s;
};

/* Runs fn in batches until seconds of wall time have passed. */
static struct rate
measure(bench_fn *fn, void *ctx, double seconds)
{
    fn(ctx); /* warm-up: first-use initialisation is not part of the rate */
    unsigned long ops = 0;
    unsigned long batch = 1;
    double wall_start = now_s(CLOCK_MONOTONIC);
    double cpu_start = now_s(CLOCK_THREAD_CPUTIME_ID);
    double wall = 0;
    while (wall < seconds) {
        for (unsigned long i = 0; i < batch; i++) {
            fn(ctx);
        }
        ops += batch;
        wall = now_s(CLOCK_MONOTONIC) - wall_start;
        if (wall < seconds / 100 && batch < (1ul << 20)) {
            batch *= 2; /* keep clock reads rare for fast operations */
        }
    }
    double cpu = now_s(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
    return (struct rate){ (double)ops / cpu, (double)ops / wall };
}

static void
run_keygen(void *ctx)
{
    struct sign_ctx *c = ctx;
    struct secret_key *key = NULL;
    ASSERT(secret_key_generate(c->alg, &key) == ERR_OK);
    secret_key_free(key);
}

static void
run_sign(void *ctx)
{
    struct sign_ctx *c = ctx;
    ASSERT(sign_message(c->key, c->msg, sizeof c->msg, &c->sig) == ERR_OK);
}

static void
run_verify(void *ctx)
{
    struct sign_ctx *c = ctx;
    ASSERT(verify_message(&c->pub, c->msg, sizeof c->msg, &c->sig) == ERR_OK);
}

static void
run_verify_openssl(void *ctx)
{
    struct sign_ctx *c = ctx;
    ASSERT(verify_message_openssl(&c->pub, c->msg, sizeof c->msg, &c->sig) == ERR_OK);
}

/* Two SM2 keys that share a slot of the parsed-key cache (sign.c keys it by the last byte of
 * the point), verified alternately: every call pays the parse. */
struct cold_ctx {
    struct sign_ctx key[2];
    unsigned next;
};

static void
run_verify_cold(void *ctx)
{
    struct cold_ctx *c = ctx;
    run_verify(&c->key[c->next]);
    c->next ^= 1;
}

static void
run_hash(void *ctx)
{
    struct hash_ctx *c = ctx;
    struct hash out;
    hash_bytes(c->alg, c->data, c->size, &out);
    c->data[0] = out.bytes[0]; /* a data dependency, so nothing is hoisted */
}

static void
sign_ctx_init(struct sign_ctx *c, enum sig_alg alg)
{
    memset(c, 0, sizeof *c);
    c->alg = alg;
    memset(c->msg, 0x5a, sizeof c->msg);
    ASSERT(secret_key_generate(alg, &c->key) == ERR_OK);
    secret_key_public(c->key, &c->pub);
    ASSERT(sign_message(c->key, c->msg, sizeof c->msg, &c->sig) == ERR_OK);
}

static void
cold_ctx_init(struct cold_ctx *c)
{
    c->next = 0;
    sign_ctx_init(&c->key[0], SIG_SM2);
    for (int i = 0; i < 8192; i++) {
        sign_ctx_init(&c->key[1], SIG_SM2);
        if (c->key[1].pub.bytes[64] == c->key[0].pub.bytes[64]) {
            return;
        }
        secret_key_free(c->key[1].key);
    }
    fprintf(stderr, "bench_crypto: no colliding SM2 keys found\n");
    exit(1);
}

int
main(int argc, char **argv)
{
    double seconds = 1.0;
    if (argc > 1) {
        char *end = NULL;
        seconds = strtod(argv[1], &end);
        if (end == argv[1] || *end != '\0' || !(seconds > 0 && seconds <= 60)) {
            fprintf(stderr, "usage: bench_crypto [SECONDS]  (0 < SECONDS <= 60)\n");
            return 1;
        }
    }
    struct sign_ctx ed;
    struct sign_ctx sm;
    sign_ctx_init(&ed, SIG_ED25519);
    sign_ctx_init(&sm, SIG_SM2);
    struct cold_ctx cold;
    cold_ctx_init(&cold);
    static uint8_t small[4][64];
    static uint8_t big[4][4096];
    struct hash_ctx hashes[4] = {
        { HASH_SHA256, small[0], sizeof small[0] },
        { HASH_SHA256, big[0], sizeof big[0] },
        { HASH_SM3, small[1], sizeof small[1] },
        { HASH_SM3, big[1], sizeof big[1] },
    };
    const struct {
        const char *name;
        bench_fn *fn;
        void *ctx;
        size_t bytes; /* per op, for MB/s; 0 if not a hash */
    } rows[] = {
        { "ed25519 keygen", run_keygen, &ed, 0 },
        { "ed25519 sign", run_sign, &ed, 0 },
        { "ed25519 verify", run_verify, &ed, 0 },
        { "sm2 keygen", run_keygen, &sm, 0 },
        { "sm2 sign", run_sign, &sm, 0 },
        { "sm2 verify", run_verify, &sm, 0 },
        { "sm2 verify, key not cached", run_verify_cold, &cold, 0 },
        { "sm2 verify, OpenSSL EVP (reference)", run_verify_openssl, &sm, 0 },
        { "sha256 64 B", run_hash, &hashes[0], 64 },
        { "sha256 4 KiB", run_hash, &hashes[1], 4096 },
        { "sm3 64 B", run_hash, &hashes[2], 64 },
        { "sm3 4 KiB", run_hash, &hashes[3], 4096 },
    };
    printf("| Operation (1 thread, %.1f s each) | ops/s per CPU-s | µs CPU/op | MB/s per CPU-s "
           "| ops/s wall |\n",
           seconds);
    printf("|---|---:|---:|---:|---:|\n");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct rate rate = measure(rows[i].fn, rows[i].ctx, seconds);
        printf("| %s | %.0f | %.2f |", rows[i].name, rate.per_cpu_s, 1e6 / rate.per_cpu_s);
        if (rows[i].bytes > 0) {
            printf(" %.0f |", rate.per_cpu_s * (double)rows[i].bytes / 1e6);
        } else {
            printf(" |");
        }
        printf(" %.0f |\n", rate.per_wall_s);
        fflush(stdout);
    }
    secret_key_free(ed.key);
    secret_key_free(sm.key);
    secret_key_free(cold.key[0].key);
    secret_key_free(cold.key[1].key);
    return 0;
}
