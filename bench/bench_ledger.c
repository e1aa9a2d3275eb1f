/* Execution + persistence throughput of the ledger: blocks of 1,000 signed test txs (one
 * test.set of a 32-byte value per tx, each from its own account) executed on the committed
 * state and committed (block store record, state batch, receipts: one LMDB txn, fsync on),
 * measured with signature checks (on the calling thread, or as one batch on a verify pool
 * with one worker) and with signatures marked pre-verified (as the mempool's cache would). Usage:
 * bench_ledger [blocks (default 20)] [ed25519|sm2]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/unit/ledger_fixture.h"

#define BENCH_TXS_PER_BLOCK 1000

static double
clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
now_s(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

/* Tx i of block b: account i sets "k<i>" to a 32-byte value, nonce b. */
static void
make_tx(struct fixture *f, size_t b, size_t i, struct buf *args, struct buf *tx)
{
    char key[24];
    char value[40];
    snprintf(key, sizeof key, "k%zu", i);
    snprintf(value, sizeof value, "%032zu", b * BENCH_TXS_PER_BLOCK + i);
    buf_reset(args);
    enum err rc =
        test_module_set_args((const uint8_t *)key, strlen(key), (const uint8_t *)value, 32, args);
    ASSERT(rc == ERR_OK);
    struct fixture_op op = { "test", "set", args->data, args->size };
    fixture_tx_signed(f, i, NULL, b, 100000, &op, 1, tx);
}

/* Signs every tx of every block once (not timed). */
static struct fixture_block *
make_blocks(struct fixture *f, size_t blocks)
{
    struct fixture_block *all = mem_calloc(blocks, sizeof *all);
    struct buf args;
    struct buf tx;
    buf_init(&args, 4096);
    buf_init(&tx, TX_SIZE_MAX);
    for (size_t b = 0; b < blocks; b++) {
        for (size_t i = 0; i < BENCH_TXS_PER_BLOCK; i++) {
            make_tx(f, b, i, &args, &tx);
            fixture_block_add(&all[b], &tx);
        }
    }
    buf_release(&args);
    buf_release(&tx);
    return all;
}

static void
run(struct fixture *f, struct fixture_block *blocks, size_t count, bool verified, const char *label)
{
    double exec_s = 0;
    double commit_s = 0;
    uint64_t ok = 0;
    double cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (size_t b = 0; b < count; b++) {
        struct ledger_result *r = NULL;
        double t0 = now_s();
        ASSERT(fixture_execute(f, NULL, b + 1, &blocks[b], verified, &r) == ERR_OK);
        double t1 = now_s();
        ASSERT(fixture_commit(f, r) == ERR_OK);
        double t2 = now_s();
        exec_s += t1 - t0;
        commit_s += t2 - t1;
        for (size_t i = 0; i < ledger_result_outcome(r)->tx_count; i++) {
            ok += fixture_status(r, i) == 0 ? 1 : 0;
        }
        ledger_result_free(r);
    }
    double cpu_s = clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    double txs = (double)(count * BENCH_TXS_PER_BLOCK);
    ASSERT(ok == count * BENCH_TXS_PER_BLOCK);
    printf("%-44s %7.0f tx/s  execute %6.1f us/tx  commit %5.1f us/tx (%5.1f ms/block)  "
           "cpu %6.1f us/tx\n",
           label, txs / (exec_s + commit_s), exec_s / txs * 1e6, commit_s / txs * 1e6,
           commit_s / (double)count * 1e3, cpu_s / txs * 1e6);
}

static const char *const labels[3] = { "signatures checked, 1 thread",
                                       "signatures checked, verify pool (+1 thread)",
                                       "signatures pre-verified" };

/* One measurement on a fresh chain: pass 0 verifies here, 1 on a pool, 2 not at all. */
static void
run_pass(int pass, enum sig_alg alg, size_t blocks)
{
    struct fixture f;
    fixture_open_with(&f, HASH_SHA256, BENCH_TXS_PER_BLOCK, alg, NULL, true);
    struct verify_pool *pool = NULL;
    if (pass == 1) {
        struct verify_pool_config config = { .threads = 1, .queue_capacity = 64 };
        ASSERT(verify_pool_new(&config, &pool) == ERR_OK);
        fixture_stop(&f);
        f.verify_pool = pool;
        fixture_start(&f);
    }
    struct fixture_block *all = make_blocks(&f, blocks);
    run(&f, all, blocks, pass == 2, labels[pass]);
    for (size_t b = 0; b < blocks; b++) {
        fixture_block_clear(&all[b]);
    }
    mem_free(all);
    fixture_close(&f);
    verify_pool_free(pool);
}

int
main(int argc, char **argv)
{
    size_t blocks = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 20;
    enum sig_alg alg = argc > 2 && strcmp(argv[2], "sm2") == 0 ? SIG_SM2 : SIG_ED25519;
    if (blocks == 0 || blocks > 1000) {
        fprintf(stderr, "usage: bench_ledger [blocks 1..1000] [ed25519|sm2]\n");
        return 1;
    }
    printf("bench_ledger: %zu blocks of %d txs, %s, fsync on\n", blocks, BENCH_TXS_PER_BLOCK,
           sig_alg_name(alg));
    for (int pass = 0; pass < 3; pass++) {
        run_pass(pass, alg, blocks);
    }
    return 0;
}
