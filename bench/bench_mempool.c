/* Mempool throughput: admission of batches of signed Ed25519 txs (decode, hash, checks, the
 * sender lookup on the ledger's committed LMDB state, signature through the verify pool with
 * 0, 1 and 2 worker threads plus the calling thread, insertion), admission when the
 * signatures are already cached (the rest of the path), and pull + commit of blocks.
 * Usage: bench_mempool [txs (default 40000)] [batch (default 1024)]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/unit/ledger_fixture.h"
#include "crypto/verify_cache.h"
#include "crypto/verify_pool.h"
#include "mempool/mempool.h"

#define ACCOUNTS   4000u
#define SLOTS      16384
#define BLOCK_TXS  5000u
#define BLOCK_SIZE (4u << 20)

struct bench {
    struct fixture f;
    uint64_t nonces[ACCOUNTS]; /* committed by this run (blocks are not executed here) */
    uint32_t slots[SLOTS];     /* account index + 1 by the address's first bytes */
};

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t
account_of(const struct bench *b, const struct address *a)
{
    size_t s = load_u32(a->bytes) % SLOTS;
    for (;;) {
        ASSERT(b->slots[s] != 0);
        size_t i = b->slots[s] - 1;
        if (memcmp(b->f.addrs[i].bytes, a->bytes, ADDRESS_SIZE) == 0) {
            return i;
        }
        s = (s + 1) % SLOTS;
    }
}

/* Keys and existence from the ledger (a real LMDB read), nonces from this run's commits. */
static enum err
bench_sender(void *ctx, const struct address *sender, const struct public_key *key,
             struct mempool_sender *out)
{
    struct bench *b = ctx;
    struct mempool_sender s;
    enum err rc = mempool_ledger_sender(b->f.ledger, sender, key, &s);
    if (rc != ERR_OK) {
        return rc;
    }
    s.nonce = b->nonces[account_of(b, sender)];
    *out = s;
    return ERR_OK;
}

struct run {
    struct verify_cache *cache;
    struct verify_pool *pool;
    struct mempool *mp;
};

static void
run_open(struct bench *b, unsigned threads, struct verify_cache *shared, size_t txs_max,
         struct run *r)
{
    r->cache = shared != NULL ? shared : verify_cache_new(1u << 20);
    struct verify_pool_config pc = { .threads = threads,
                                     .queue_capacity = 1024,
                                     .cache = r->cache };
    ASSERT(verify_pool_new(&pc, &r->pool) == ERR_OK);
    struct mempool_config c;
    mempool_config_default(&c);
    c.seed = 0x5eed;
    c.txs_max = txs_max;
    c.institution_share = 100;
    c.hash_alg = ledger_hash_alg(b->f.ledger);
    c.chain_id = *ledger_chain_id(b->f.ledger);
    c.params = *ledger_params(b->f.ledger);
    c.committed_height = ledger_committed_height(b->f.ledger);
    c.pool = r->pool;
    c.sender_fn = bench_sender;
    c.sender_ctx = b;
    ASSERT(mempool_new(&c, &r->mp) == ERR_OK);
}

static void
run_close(struct run *r, bool free_cache)
{
    mempool_free(r->mp);
    verify_pool_free(r->pool);
    if (free_cache) {
        verify_cache_free(r->cache);
    }
}

static void
expect_all_ok(const struct mempool_result *res, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        ASSERT(res[k].rc == ERR_OK);
    }
}

/* Admits all txs in batches; returns wall tx/s, and tx per CPU-second in *out_cpu_rate. */
static double
admit_all(struct run *r, const struct mempool_raw *raws, size_t count, size_t batch,
          double *out_cpu_rate)
{
    struct mempool_result *res = mem_calloc(batch, sizeof *res);
    double c0 = cpu_s();
    double t0 = now_s();
    for (size_t off = 0; off < count; off += batch) {
        size_t n = count - off < batch ? count - off : batch;
        mempool_admit(r->mp, raws + off, n, res);
        expect_all_ok(res, n);
    }
    double dt = now_s() - t0;
    *out_cpu_rate = (double)count / (cpu_s() - c0);
    mem_free(res);
    return (double)count / dt;
}

/* Pulls and commits blocks until the mempool is empty. */
static void
pull_commit_all(struct bench *b, struct run *r, size_t count)
{
    struct mempool_tx_view *out = mem_calloc(BLOCK_TXS, sizeof *out);
    struct mempool_raw *block = mem_calloc(BLOCK_TXS, sizeof *block);
    double c0 = cpu_s();
    double t0 = now_s();
    double pull_s = 0;
    size_t blocks = 0;
    size_t total = 0;
    for (uint64_t height = 1;; height++) {
        double p0 = now_s();
        struct mempool_pull_req req = { .bytes_max = BLOCK_SIZE, .txs_max = BLOCK_TXS, .out = out };
        size_t n = mempool_pull(r->mp, &req);
        pull_s += now_s() - p0;
        if (n == 0) {
            break;
        }
        for (size_t k = 0; k < n; k++) {
            block[k] = (struct mempool_raw){ .data = out[k].data, .size = out[k].size };
            b->nonces[account_of(b, &out[k].sender)]++;
        }
        ASSERT(mempool_commit(r->mp, height, block, n) == ERR_OK);
        blocks++;
        total += n;
    }
    double dt = now_s() - t0;
    double dc = cpu_s() - c0;
    ASSERT(total == count && blocks > 0);
    printf("pull + commit: %zu blocks of <= %u txs: %8.0f tx/s wall, %8.0f tx per CPU-s "
           "(pull alone %.0f tx/s wall, %.2f ms per block)\n",
           blocks, BLOCK_TXS, (double)total / dt, (double)total / dc, (double)total / pull_s,
           pull_s * 1000.0 / (double)blocks);
    memset(b->nonces, 0, sizeof b->nonces);
    mem_free(out);
    mem_free(block);
}

/* Tx i: account i % ACCOUNTS, nonce i / ACCOUNTS, test.set of a 32-byte value. */
static void
make_txs(struct bench *b, size_t count, uint8_t **copies, struct mempool_raw *raws)
{
    struct buf args;
    struct buf tx;
    buf_init(&args, 4096);
    buf_init(&tx, TX_SIZE_MAX);
    ASSERT(count > 0);
    size_t bytes = 0;
    for (size_t i = 0; i < count; i++) {
        char key[24];
        char value[40];
        snprintf(key, sizeof key, "k%zu", i);
        snprintf(value, sizeof value, "%032zu", i);
        buf_reset(&args);
        ASSERT(test_module_set_args((const uint8_t *)key, strlen(key), (const uint8_t *)value, 32,
                                    &args) == ERR_OK);
        struct fixture_op op = { "test", "set", args.data, args.size };
        fixture_tx_signed(&b->f, i % ACCOUNTS, NULL, i / ACCOUNTS, 100000, &op, 1, &tx);
        copies[i] = mem_dup(tx.data, tx.size);
        raws[i] = (struct mempool_raw){ .data = copies[i], .size = tx.size };
        bytes += tx.size;
    }
    printf("bench_mempool: %zu Ed25519 txs (%zu bytes each on average), %u accounts\n", count,
           bytes / count, ACCOUNTS);
    buf_release(&args);
    buf_release(&tx);
}

static void
bench_threads(struct bench *b, const struct mempool_raw *raws, size_t count, size_t batch,
              unsigned threads)
{
    struct run r;
    run_open(b, threads, NULL, count, &r);
    double cpu_rate = 0;
    double rate = admit_all(&r, raws, count, batch, &cpu_rate);
    printf("admit (batches of %zu), %u verify thread(s) + caller: %8.0f tx/s wall, %8.0f tx per "
           "CPU-s\n",
           batch, threads, rate, cpu_rate);
    if (threads == 0) { /* the same txs into a second mempool: every signature a cache hit */
        struct run again;
        run_open(b, threads, r.cache, count, &again);
        double cached_cpu = 0;
        double cached = admit_all(&again, raws, count, batch, &cached_cpu);
        printf("admit, signatures cached (the rest of the path):  %8.0f tx/s wall, %8.0f tx per "
               "CPU-s\n",
               cached, cached_cpu);
        run_close(&again, false);
        pull_commit_all(b, &r, count);
    }
    run_close(&r, true);
}

int
main(int argc, char **argv)
{
    size_t count = argc > 1 ? strtoul(argv[1], NULL, 10) : 40000;
    size_t batch = argc > 2 ? strtoul(argv[2], NULL, 10) : 1024;
    if (count == 0 || count > (size_t)ACCOUNTS * 64 || batch == 0 || batch > MEMPOOL_BATCH_MAX) {
        fprintf(stderr, "usage: bench_mempool [txs 1..%u] [batch 1..%u]\n", ACCOUNTS * 64u,
                (unsigned)MEMPOOL_BATCH_MAX);
        return 2;
    }
    struct bench *b = mem_calloc(1, sizeof *b);
    fixture_open(&b->f, ACCOUNTS, SIG_ED25519, NULL);
    for (size_t i = 0; i < ACCOUNTS; i++) {
        size_t s = load_u32(b->f.addrs[i].bytes) % SLOTS;
        while (b->slots[s] != 0) {
            s = (s + 1) % SLOTS;
        }
        b->slots[s] = (uint32_t)(i + 1);
    }
    uint8_t **copies = mem_calloc(count, sizeof *copies);
    struct mempool_raw *raws = mem_calloc(count, sizeof *raws);
    make_txs(b, count, copies, raws);
    for (unsigned threads = 0; threads <= 2; threads++) {
        bench_threads(b, raws, count, batch, threads);
    }
    for (size_t i = 0; i < count; i++) {
        mem_free(copies[i]);
    }
    mem_free(copies);
    mem_free(raws);
    fixture_close(&b->f);
    mem_free(b);
    return 0;
}
