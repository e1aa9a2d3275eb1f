/* Crash test of ledger_commit: a forked writer executes and commits deterministic blocks in a
 * loop (each block: one test.set per account, durable commits); the parent kills it with
 * SIGKILL after a seeded random delay, reopens the ledger and checks that block store, state
 * store and ledger agree on one height h (tip h, block h readable and h + 1 absent, receipts of
 * h present, state root equal to the root a reference chain computed for h, nonces == h), then
 * commits h + 1 itself to show the chain continues. Repeated --iterations times.
 *
 * Usage: crash_ledger [--iterations N] [--seed S]
 * Exit status 0 when every check held; the seed is printed so a failure can be replayed. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../unit/ledger_fixture.h"
#include "base/log.h"

#define ACCOUNTS   8
#define HEIGHT_MAX 400

static struct hash reference_roots[HEIGHT_MAX + 1];

/* Block height: account i sets "k<i>" to a value naming (height, i), with nonce height - 1. */
static void
make_block(struct fixture *f, uint64_t height, struct fixture_block *out)
{
    struct buf args;
    struct buf tx;
    buf_init(&args, 256);
    buf_init(&tx, TX_SIZE_MAX);
    for (size_t i = 0; i < ACCOUNTS; i++) {
        char key[8];
        char value[40];
        snprintf(key, sizeof key, "k%zu", i);
        snprintf(value, sizeof value, "h%llu-a%zu", (unsigned long long)height, i);
        buf_reset(&args);
        enum err rc = test_module_set_args((const uint8_t *)key, strlen(key),
                                           (const uint8_t *)value, strlen(value), &args);
        ASSERT(rc == ERR_OK);
        struct fixture_op op = { "test", "set", args.data, args.size };
        fixture_tx_signed(f, i, NULL, height - 1, height + 10, &op, 1, &tx);
        fixture_block_add(out, &tx);
    }
    buf_release(&args);
    buf_release(&tx);
}

static void
commit_next(struct fixture *f, struct fixture_block *b)
{
    uint64_t height = ledger_committed_height(f->ledger) + 1;
    ASSERT(height <= HEIGHT_MAX);
    make_block(f, height, b);
    struct ledger_result *r = NULL;
    ASSERT(fixture_execute(f, NULL, height, b, false, &r) == ERR_OK);
    ASSERT(fixture_commit(f, r) == ERR_OK);
    ledger_result_free(r);
    fixture_block_clear(b);
}

/* The roots every height must have, from a chain that is never interrupted. */
static void
compute_reference(void)
{
    static struct fixture_block b;
    struct fixture f;
    fixture_open_with(&f, HASH_SHA256, ACCOUNTS, SIG_ED25519, NULL, false);
    state_store_root(f.state, &reference_roots[0]);
    for (uint64_t h = 1; h <= HEIGHT_MAX; h++) {
        commit_next(&f, &b);
        state_store_root(f.state, &reference_roots[h]);
    }
    fixture_close(&f);
}

static void
check_consistent(struct fixture *f)
{
    uint64_t h = ledger_committed_height(f->ledger);
    uint64_t tip = 0;
    ASSERT(block_store_tip(f->blocks, &tip));
    ASSERT(tip == h);
    ASSERT(state_store_version(f->state) == h + 1);
    struct hash root;
    state_store_root(f->state, &root);
    ASSERT(hash_equal(&root, &reference_roots[h]));
    struct buf blk;
    struct buf cert;
    buf_init(&blk, 1 << 20);
    buf_init(&cert, 1 << 20);
    ASSERT(ledger_read_block(f->ledger, h, &blk, &cert) == ERR_OK);
    ASSERT(ledger_read_block(f->ledger, h + 1, &blk, &cert) == ERR_NOT_FOUND);
    buf_release(&blk);
    buf_release(&cert);
    struct buf rec;
    buf_init(&rec, RECEIPT_SIZE_MAX);
    ASSERT(h == 0 || ledger_get_receipt(f->ledger, h, ACCOUNTS - 1, &rec) == ERR_OK);
    ASSERT(ledger_get_receipt(f->ledger, h + 1, 0, &rec) == ERR_NOT_FOUND);
    buf_release(&rec);
    struct account a;
    memset(&a, 0, sizeof a);
    ASSERT(ledger_account(f->ledger, NULL, &f->addrs[ACCOUNTS - 1], &a) == ERR_OK);
    ASSERT(a.nonce == h);
}

static void
sleep_us(unsigned us)
{
    struct timespec ts = { .tv_sec = us / 1000000u, .tv_nsec = (long)(us % 1000000u) * 1000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* One round: a child commits until killed; the parent checks and commits one block. */
static uint64_t
round_once(struct fixture *f, uint64_t *seed)
{
    static struct fixture_block b;
    fixture_stop(f);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        fixture_start(f);
        for (;;) {
            commit_next(f, &b);
        }
    }
    *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
    sleep_us((unsigned)((*seed >> 33) % 60000u));
    ASSERT(kill(pid, SIGKILL) == 0);
    int status = 0;
    ASSERT(waitpid(pid, &status, 0) == pid);
    ASSERT(WIFSIGNALED(status));
    fixture_start(f);
    check_consistent(f);
    uint64_t h = ledger_committed_height(f->ledger);
    if (h + 2 <= HEIGHT_MAX) {
        commit_next(f, &b);
        check_consistent(f);
    }
    return h;
}

int
main(int argc, char **argv)
{
    unsigned iterations = 20;
    uint64_t seed = 20261125;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--iterations") == 0) {
            iterations = (unsigned)strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--seed") == 0) {
            seed = strtoull(argv[i + 1], NULL, 10);
        }
    }
    printf("crash_ledger: iterations=%u seed=%llu\n", iterations, (unsigned long long)seed);
    log_set_level(LOG_LEVEL_WARN);
    compute_reference();
    struct fixture f;
    fixture_open_with(&f, HASH_SHA256, ACCOUNTS, SIG_ED25519, NULL, true);
    uint64_t height = 0;
    for (unsigned i = 0; i < iterations && height + 2 < HEIGHT_MAX; i++) {
        height = round_once(&f, &seed);
    }
    printf("crash_ledger: ok, reached height %llu\n", (unsigned long long)height);
    fixture_close(&f);
    return 0;
}
