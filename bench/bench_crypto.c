/* Single-threaded throughput of the crypto layer: Ed25519 and SM2 keygen/sign/verify through
 * crypto/sign.h, SHA-256 and SM3 of 64 B and 4 KiB through crypto/hash.h. Each row runs for
 * about one second (bounded by the clock, checked every batch) and prints ops/s. SM2 verify
 * (crypto/sm2_curve) runs next to OpenSSL's EVP verify (verify_message_reference) on one key and
 * on 2,000 keys in turn, Ed25519 verify (crypto/ed25519_fast) next to libsodium's
 * crypto_sign_verify_detached the same way and on 8,192 keys in turn (twice what its key
 * cache remembers: every call a first sight); the last lines give the speed-ups of the same
 * run.
 *
 * usage: bench_crypto [SECONDS]   (default 1, at most 60)
 * Add a row: write a bench_fn, append it to the rows table in main and count it in ROWS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/assert.h"
#include "crypto/ed25519_fast.h"
#include "crypto/ed25519_fast_internal.h"
#include "crypto/hash.h"
#include "crypto/sign.h"

typedef void bench_fn(void *ctx);

#define ROWS           20
#define ROW_ED_VERIFY  2  /* then libsodium, 2,000 keys, 2,000 keys libsodium, misses x 2 */
#define ROW_SM2_VERIFY 10 /* then OpenSSL, 2,000 keys, 2,000 keys OpenSSL */

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
    ASSERT(verify_message_reference(&c->pub, c->msg, sizeof c->msg, &c->sig) == ERR_OK);
}

/* Many keys verified in turn, as a chain with ACCOUNTS accounts sees them: with 2,000 keys
 * the verify caches (4,096 keys) hold them all, OpenSSL's parsed-key cache (256 slots by the
 * point's last byte) mostly misses. MISS_ACCOUNTS Ed25519 keys are twice what
 * crypto/ed25519_fast remembers, so every call there is a key's first sight (no tables, its
 * plain loop). Only public keys and signatures are kept. */
#define ACCOUNTS      2000
#define MISS_ACCOUNTS 8192
struct many_ctx {
    struct public_key pub[MISS_ACCOUNTS];
    struct signature sig[MISS_ACCOUNTS];
    uint8_t msg[HASH_SIZE];
    unsigned count;
    unsigned next;
};

static void
run_verify_many(void *ctx)
{
    struct many_ctx *c = ctx;
    ASSERT(verify_message(&c->pub[c->next], c->msg, sizeof c->msg, &c->sig[c->next]) == ERR_OK);
    c->next = (c->next + 1) % c->count;
}

static void
run_verify_many_openssl(void *ctx)
{
    struct many_ctx *c = ctx;
    ASSERT(verify_message_reference(&c->pub[c->next], c->msg, sizeof c->msg, &c->sig[c->next]) ==
           ERR_OK);
    c->next = (c->next + 1) % c->count;
}

/* One op = ED25519_FAST_GROUP signatures of the next keys through verify_message_many (the
 * verify pool's way: one shared inversion per group). */
static void
run_verify_group(void *ctx)
{
    struct many_ctx *c = ctx;
    struct verify_item items[ED25519_FAST_GROUP];
    enum err results[ED25519_FAST_GROUP];
    for (size_t i = 0; i < ED25519_FAST_GROUP; i++) {
        unsigned k = (c->next + (unsigned)i) % c->count;
        items[i] = (struct verify_item){
            .key = &c->pub[k], .msg = c->msg, .size = sizeof c->msg, .sig = &c->sig[k]
        };
    }
    verify_message_many(items, ED25519_FAST_GROUP, results);
    for (size_t i = 0; i < ED25519_FAST_GROUP; i++) {
        ASSERT(results[i] == ERR_OK);
    }
    c->next = (c->next + ED25519_FAST_GROUP) % c->count;
}

/* The same through the scalar loop (crypto/ed25519_fast without AVX-512 IFMA). */
static void
run_verify_group_scalar(void *ctx)
{
    (void)ed25519_fast_set_ifma(false);
    run_verify_group(ctx);
    (void)ed25519_fast_set_ifma(true);
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
many_ctx_init(struct many_ctx *c, enum sig_alg alg, unsigned count)
{
    ASSERT(count <= MISS_ACCOUNTS);
    memset(c, 0, sizeof *c);
    memset(c->msg, 0x5a, sizeof c->msg);
    c->count = count;
    for (unsigned i = 0; i < count; i++) {
        struct secret_key *key = NULL;
        ASSERT(secret_key_generate(alg, &key) == ERR_OK);
        secret_key_public(key, &c->pub[i]);
        ASSERT(sign_message(key, c->msg, sizeof c->msg, &c->sig[i]) == ERR_OK);
        secret_key_free(key);
    }
}

/* The speed-ups of our verification against the references, from rows of this run. */
static void
print_ratios(const struct rate rates[ROWS])
{
    /* verify_message (crypto/ed25519_fast) against libsodium, rows of this run */
    printf("\nEd25519 verify speed-up over libsodium (same run, CPU time): %.2fx one key, "
           "%.2fx 2,000 keys in turn, %.2fx 8,192 keys in turn (every call a first sight)\n",
           rates[ROW_ED_VERIFY].per_cpu_s / rates[ROW_ED_VERIFY + 1].per_cpu_s,
           rates[ROW_ED_VERIFY + 2].per_cpu_s / rates[ROW_ED_VERIFY + 3].per_cpu_s,
           rates[ROW_ED_VERIFY + 4].per_cpu_s / rates[ROW_ED_VERIFY + 5].per_cpu_s);
    printf("Ed25519 verify in groups of %d (verify_message_many, 2,000 keys): %.2f us per "
           "signature, %.2fx verify_message one at a time; scalar loop %.2f us (AVX-512 IFMA "
           "%s: %.2fx)\n",
           ED25519_FAST_GROUP, 1e6 / (rates[ROWS - 1].per_cpu_s * ED25519_FAST_GROUP),
           rates[ROWS - 1].per_cpu_s * ED25519_FAST_GROUP / rates[ROW_ED_VERIFY + 2].per_cpu_s,
           1e6 / (rates[ROWS - 2].per_cpu_s * ED25519_FAST_GROUP),
           ed25519_fast_set_ifma(true) ? "on" : "not on this CPU",
           rates[ROWS - 1].per_cpu_s / rates[ROWS - 2].per_cpu_s);
    /* verify_message (crypto/sm2_curve) against OpenSSL's EVP, rows of this run */
    printf("SM2 verify speed-up over OpenSSL EVP (same run, CPU time): %.2fx one key, "
           "%.2fx 2,000 keys in turn\n",
           rates[ROW_SM2_VERIFY].per_cpu_s / rates[ROW_SM2_VERIFY + 1].per_cpu_s,
           rates[ROW_SM2_VERIFY + 2].per_cpu_s / rates[ROW_SM2_VERIFY + 3].per_cpu_s);
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
    static struct many_ctx many;
    static struct many_ctx ed_many;
    static struct many_ctx ed_miss;
    many_ctx_init(&many, SIG_SM2, ACCOUNTS);
    many_ctx_init(&ed_many, SIG_ED25519, ACCOUNTS);
    many_ctx_init(&ed_miss, SIG_ED25519, MISS_ACCOUNTS);
    /* steady state: crypto/ed25519_fast builds a key's tables on its second sight */
    for (unsigned i = 0; i < 2 * ACCOUNTS; i++) {
        run_verify_many(&ed_many);
    }
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
    } rows[ROWS] = {
        { "ed25519 keygen", run_keygen, &ed, 0 },
        { "ed25519 sign", run_sign, &ed, 0 },
        { "ed25519 verify", run_verify, &ed, 0 },
        { "ed25519 verify, libsodium (reference)", run_verify_openssl, &ed, 0 },
        { "ed25519 verify, 2,000 keys in turn", run_verify_many, &ed_many, 0 },
        { "ed25519 verify, 2,000 keys in turn, libsodium", run_verify_many_openssl, &ed_many, 0 },
        { "ed25519 verify, 8,192 keys in turn (first sights)", run_verify_many, &ed_miss, 0 },
        { "ed25519 verify, 8,192 keys in turn, libsodium", run_verify_many_openssl, &ed_miss, 0 },
        { "sm2 keygen", run_keygen, &sm, 0 },
        { "sm2 sign", run_sign, &sm, 0 },
        { "sm2 verify", run_verify, &sm, 0 },
        { "sm2 verify, OpenSSL EVP (reference)", run_verify_openssl, &sm, 0 },
        { "sm2 verify, 2,000 keys in turn", run_verify_many, &many, 0 },
        { "sm2 verify, 2,000 keys in turn, OpenSSL EVP", run_verify_many_openssl, &many, 0 },
        { "sha256 64 B", run_hash, &hashes[0], 64 },
        { "sha256 4 KiB", run_hash, &hashes[1], 4096 },
        { "sm3 64 B", run_hash, &hashes[2], 64 },
        { "sm3 4 KiB", run_hash, &hashes[3], 4096 },
        { "ed25519 verify_message_many, 2,000 keys in turn, 16 per op, scalar loop",
          run_verify_group_scalar, &ed_many, 0 },
        { "ed25519 verify_message_many, 2,000 keys in turn, 16 per op", run_verify_group, &ed_many,
          0 },
    };
    printf("| Operation (1 thread, %.1f s each) | ops/s per CPU-s | µs CPU/op | MB/s per CPU-s "
           "| ops/s wall |\n",
           seconds);
    printf("|---|---:|---:|---:|---:|\n");
    ASSERT(rows[ROWS - 1].fn != NULL); /* every row filled in */
    ASSERT(rows[ROW_ED_VERIFY].fn == run_verify);
    ASSERT(rows[ROW_ED_VERIFY + 5].fn == run_verify_many_openssl);
    ASSERT(rows[ROW_SM2_VERIFY].fn == run_verify);
    ASSERT(rows[ROW_SM2_VERIFY + 1].fn == run_verify_openssl);
    ASSERT(rows[ROW_SM2_VERIFY + 3].fn == run_verify_many_openssl);
    struct rate rates[ROWS];
    for (size_t i = 0; i < ROWS; i++) {
        struct rate rate = measure(rows[i].fn, rows[i].ctx, seconds);
        rates[i] = rate;
        printf("| %s | %.0f | %.2f |", rows[i].name, rate.per_cpu_s, 1e6 / rate.per_cpu_s);
        if (rows[i].bytes > 0) {
            printf(" %.0f |", rate.per_cpu_s * (double)rows[i].bytes / 1e6);
        } else {
            printf(" |");
        }
        printf(" %.0f |\n", rate.per_wall_s);
        fflush(stdout);
    }
    print_ratios(rates);
    secret_key_free(ed.key);
    secret_key_free(sm.key);
    return 0;
}
