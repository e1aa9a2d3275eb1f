/* Crash test of store/block_store: a forked writer appends blocks in a loop, each with a
 * deterministic payload derived from its height and, in the same LMDB write txn, a "state
 * root" (height, H(payload)) in another table of the same db. The parent kills it with SIGKILL
 * after a seeded random delay; in half the rounds it then also tears the uncommitted tail at a
 * random length (a write that reached the disk in part, as after a power loss: a kill alone
 * never splits a write). It reopens and checks that the tip h, block h's bytes, every index
 * of h (and the absence of h + 1 from all of them) and the state value agree, and that a torn
 * tail was cut; then it appends h + 1 itself to show the store continues. Repeated
 * --iterations times.
 * The tx index (store/tx_index.h) runs with a tiny memtable (16 entries) and merges of 2, so
 * its worker writes and merges run files all the time and the kills land inside those too
 * (counted: unfinished .tmp runs and merge inputs left behind, both removed at open); in a
 * quarter of the rounds the test also damages a run file (flips a byte, truncates or deletes
 * it), which the store must rebuild from the blocks. Every round checks that every tx of the
 * last blocks is found, every tenth round and the end every tx of the chain.
 *
 * Usage: crash_block_store [--iterations N] [--seed S] [--delay-max-us U] [--keep]
 * (CRASH_LOG=1 in the environment also prints the store's log lines, for a failing seed.)
 * Exit status 0 when every check held; the seed is printed so a failure can be replayed. */
#define _XOPEN_SOURCE 700 /* nftw */ // NOLINT(readability-identifier-naming)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/reader.h"
#include "crypto/hash.h"
#include "store/block_store.h"
#include "store/db.h"

#define PAYLOAD_SIZE_MAX (16u << 10)
#define TXS_MAX          6
#define STATE_KEY        "root"
#define STATE_VALUE_SIZE (8 + HASH_SIZE)
#define SAMPLES          4
#define TX_MEMTABLE      16u
#define TX_FANIN         2u
#define RECENT_BLOCKS    64u

struct config {
    unsigned iterations;
    uint64_t seed;
    unsigned delay_max_us;
    bool keep;
};

struct paths {
    char root[64];
    char db[96];
    char blocks[96];
};

struct opened {
    struct db *db;
    struct block_store *store;
    struct db_table state;
};

struct stats {
    unsigned tail_cuts;
    unsigned complete_uncommitted;
    unsigned segments_removed;
    unsigned torn_injected;
    unsigned torn_cut;
    unsigned writer_blocks_max;
    uint64_t blocks_written_by_writers;
    unsigned runs_unfinished; /* .tmp runs found at open: killed while writing a run */
    unsigned runs_covered;    /* merge inputs found at open: killed between rename and unlink */
    unsigned runs_corrupt;    /* runs removed as corrupt at open */
    unsigned runs_rebuilt;    /* ranges rebuilt from the blocks at open */
    unsigned runs_damaged;    /* run files damaged by the test */
    unsigned runs_open_max;   /* the most runs right after an open (the list holds 512) */
    unsigned rounds;
};

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "crash_block_store: check failed: %s: ", #cond); \
            fprintf(stderr, __VA_ARGS__);                                    \
            fprintf(stderr, "\n");                                           \
            exit(EXIT_FAILURE);                                              \
        }                                                                    \
    } while (0)

static uint64_t
prng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The deterministic block of a height. */
static size_t
payload_size_of(uint64_t height)
{
    uint64_t s = height ^ 0x5eed;
    return (size_t)(prng_next(&s) % (PAYLOAD_SIZE_MAX + 1));
}

static void
payload_fill(uint64_t height, uint8_t *out, size_t size)
{
    uint64_t s = height;
    for (size_t i = 0; i < size; i += 8) {
        uint64_t x = prng_next(&s);
        for (size_t j = 0; j < 8 && i + j < size; j++) {
            out[i + j] = (uint8_t)(x >> (8 * j));
        }
    }
}

static void
id_of(uint64_t height, struct hash *out)
{
    uint8_t tag[9] = { 'B' };
    store_u64(tag + 1, height);
    hash_bytes(HASH_SHA256, tag, sizeof tag, out);
}

static void
tx_of(uint64_t height, uint32_t index, struct hash *out)
{
    uint8_t tag[13] = { 'T' };
    store_u64(tag + 1, height);
    store_u32(tag + 9, index);
    hash_bytes(HASH_SHA256, tag, sizeof tag, out);
}

static size_t
tx_count_of(uint64_t height)
{
    return (size_t)(height % (TXS_MAX + 1));
}

static void
state_value_of(uint64_t height, uint8_t out[STATE_VALUE_SIZE])
{
    size_t size = payload_size_of(height);
    uint8_t *payload = mem_alloc(size + 1);
    payload_fill(height, payload, size);
    struct hash h;
    hash_bytes(HASH_SHA256, payload, size, &h);
    store_u64(out, height);
    memcpy(out + 8, h.bytes, HASH_SIZE);
    mem_free(payload);
}

static enum err
store_open(const struct paths *p, struct opened *o)
{
    struct db_options dbo = { .map_size_bytes = 1ull << 30 };
    struct block_store_options bso = { .segment_size_bytes = BLOCK_STORE_SEGMENT_SIZE_MIN,
                                       .tx_memtable_entries = TX_MEMTABLE,
                                       .tx_merge_fanin = TX_FANIN };
    enum err rc = db_open(p->db, &dbo, &o->db);
    if (rc != ERR_OK) {
        return rc;
    }
    rc = db_table_open(o->db, "crash.state", &o->state);
    if (rc == ERR_OK) {
        rc = block_store_open(o->db, p->blocks, &bso, &o->store);
    }
    if (rc != ERR_OK) {
        db_close(o->db);
    }
    return rc;
}

static void
store_close(struct opened *o)
{
    block_store_close(o->store);
    db_close(o->db);
}

/* Appends the block of `height` and its state value in one txn. */
static enum err
append_height(struct opened *o, uint64_t height)
{
    size_t size = payload_size_of(height);
    uint8_t *payload = mem_alloc(size + 1);
    payload_fill(height, payload, size);
    struct hash txs[TXS_MAX];
    for (size_t i = 0; i < tx_count_of(height); i++) {
        tx_of(height, (uint32_t)i, &txs[i]);
    }
    struct block_store_block block = {
        .height = height,
        .payload = payload,
        .payload_size = size,
        .tx_hashes = txs,
        .tx_count = tx_count_of(height),
    };
    id_of(height, &block.id);
    uint8_t state[STATE_VALUE_SIZE];
    state_value_of(height, state);
    struct db_txn *txn = NULL;
    enum err rc = db_txn_begin(o->db, true, &txn);
    if (rc == ERR_OK) {
        rc = db_put(txn, o->state, db_val_of(STATE_KEY, sizeof STATE_KEY - 1),
                    db_val_of(state, sizeof state));
    }
    if (rc == ERR_OK) {
        rc = block_store_append(o->store, txn, &block);
        if (rc == ERR_OK) {
            rc = block_store_commit(o->store, txn);
            txn = NULL;
        }
    }
    db_txn_abort(txn);
    mem_free(payload);
    return rc;
}

/* The child: appends from tip + 1 until killed. */
_Noreturn static void
writer_run(const struct paths *p)
{
    struct opened o;
    if (store_open(p, &o) != ERR_OK) {
        _exit(2);
    }
    uint64_t tip = 0;
    uint64_t next = block_store_tip(o.store, &tip) ? tip + 1 : 0;
    for (;;) {
        enum err rc = append_height(&o, next);
        if (rc != ERR_OK) {
            fprintf(stderr, "writer: append height=%" PRIu64 " failed: %s\n", next, err_str(rc));
            _exit(3);
        }
        next++;
    }
}

static void
check_tx(struct opened *o, uint64_t height, uint32_t i)
{
    struct hash tx;
    struct block_store_tx_location loc;
    tx_of(height, i, &tx);
    enum err rc = block_store_tx_find(o->store, NULL, &tx, &loc);
    CHECK(rc == ERR_OK && loc.height == height && loc.index == i,
          "tx index height=%" PRIu64 " index=%u: %s", height, i, err_str(rc));
}

/* Every tx of the blocks lo..hi is found where it is. */
static void
check_txs(struct opened *o, uint64_t lo, uint64_t hi)
{
    for (uint64_t height = lo; height <= hi; height++) {
        for (uint32_t i = 0; i < tx_count_of(height); i++) {
            check_tx(o, height, i);
        }
    }
}

/* Block `height` and everything that points at it agree with the deterministic data. */
static void
check_block(struct opened *o, uint64_t height)
{
    size_t size = payload_size_of(height);
    uint8_t *expect = mem_alloc(size + 1);
    payload_fill(height, expect, size);
    struct buf got;
    buf_init(&got, PAYLOAD_SIZE_MAX + 1);
    enum err rc = block_store_read(o->store, NULL, height, &got);
    CHECK(rc == ERR_OK, "read height=%" PRIu64 ": %s", height, err_str(rc));
    CHECK(got.size == size && (size == 0 || memcmp(got.data, expect, size) == 0),
          "block bytes differ height=%" PRIu64, height);
    struct hash id;
    id_of(height, &id);
    struct block_store_info info;
    CHECK(block_store_info(o->store, NULL, height, &info) == ERR_OK, "info %" PRIu64, height);
    CHECK(hash_equal(&info.id, &id), "index id differs height=%" PRIu64, height);
    uint64_t h = 0;
    CHECK(block_store_height_of(o->store, NULL, &id, &h) == ERR_OK && h == height,
          "id index height=%" PRIu64, height);
    check_txs(o, height, height);
    buf_release(&got);
    mem_free(expect);
}

/* Nothing of `height` is visible anywhere. */
static void
check_absent(struct opened *o, uint64_t height)
{
    struct buf got;
    buf_init(&got, PAYLOAD_SIZE_MAX + 1);
    CHECK(block_store_read(o->store, NULL, height, &got) == ERR_NOT_FOUND,
          "height %" PRIu64 " past the tip is readable", height);
    struct hash id;
    id_of(height, &id);
    uint64_t h;
    CHECK(block_store_height_of(o->store, NULL, &id, &h) == ERR_NOT_FOUND,
          "id of height %" PRIu64 " past the tip is indexed", height);
    if (tx_count_of(height) > 0) {
        struct hash tx;
        struct block_store_tx_location loc;
        tx_of(height, 0, &tx);
        CHECK(block_store_tx_find(o->store, NULL, &tx, &loc) == ERR_NOT_FOUND,
              "tx of height %" PRIu64 " past the tip is indexed", height);
    }
    buf_release(&got);
}

/* The state value and the tip agree: both at height h, or both absent. */
static bool
check_consistent(struct opened *o, uint64_t *out_tip)
{
    uint64_t tip = 0;
    bool has_tip = block_store_tip(o->store, &tip);
    uint64_t tip_read = 0;
    enum err rc = block_store_tip_read(o->store, NULL, &tip_read);
    CHECK(rc == (has_tip ? ERR_OK : ERR_NOT_FOUND) && (!has_tip || tip_read == tip),
          "tip in memory and in the index differ");
    struct db_txn *txn;
    CHECK(db_txn_begin(o->db, false, &txn) == ERR_OK, "read txn");
    struct db_val v;
    rc = db_get(txn, o->state, db_val_of(STATE_KEY, sizeof STATE_KEY - 1), &v);
    if (!has_tip) {
        CHECK(rc == ERR_NOT_FOUND, "state exists in an empty store");
    } else {
        uint8_t expect[STATE_VALUE_SIZE];
        state_value_of(tip, expect);
        CHECK(rc == ERR_OK && v.size == sizeof expect, "state missing at tip %" PRIu64, tip);
        CHECK(memcmp(v.data, expect, sizeof expect) == 0,
              "state is of height %" PRIu64 ", tip is %" PRIu64, load_u64(v.data), tip);
    }
    db_txn_abort(txn); /* before the reads below, which begin their own read txns */
    if (has_tip) {
        check_block(o, tip);
    }
    check_absent(o, has_tip ? tip + 1 : 0);
    *out_tip = tip;
    return has_tip;
}

static void
capture_sink(void *ctx, enum log_level level, const char *line)
{
    struct stats *st = ctx;
    (void)level;
    if (getenv("CRASH_LOG") != NULL) {
        fprintf(stderr, "%s\n", line);
    }
    if (strstr(line, "cutting tail") != NULL) {
        st->tail_cuts++;
        if (strstr(line, "complete_uncommitted_records=0") == NULL) {
            st->complete_uncommitted++;
        }
        const char *torn = strstr(line, "torn_bytes=");
        if (torn != NULL && strtoull(torn + strlen("torn_bytes="), NULL, 10) > 0) {
            st->torn_cut++;
        }
    }
    if (strstr(line, "removing uncommitted segment") != NULL) {
        st->segments_removed++;
    }
    st->runs_unfinished += strstr(line, "reason=unfinished") != NULL ? 1 : 0;
    st->runs_covered += strstr(line, "reason=covered by another run") != NULL ? 1 : 0;
    st->runs_corrupt += strstr(line, "reason=corrupt") != NULL ? 1 : 0;
    st->runs_rebuilt += strstr(line, "rebuilding a run from the blocks") != NULL ? 1 : 0;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
sleep_us(unsigned us)
{
    struct timespec ts = { .tv_sec = us / 1000000u, .tv_nsec = (long)(us % 1000000u) * 1000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Power-loss model on top of the kill: a write that reached the disk only in part. Finds the
 * committed end from the index (the layout the store documents) and cuts the uncommitted tail
 * of the segment at a random length. Returns true if it tore something. */
static bool
tail_tear(const struct paths *p, uint64_t *prng)
{
    struct db *db;
    struct db_options dbo = { .map_size_bytes = 1ull << 30 };
    struct db_table heights;
    CHECK(db_open(p->db, &dbo, &db) == ERR_OK, "tear: db_open");
    CHECK(db_table_open(db, "block.height", &heights) == ERR_OK, "tear: table");
    struct db_txn *txn;
    struct db_cursor *c;
    struct db_val k;
    struct db_val v;
    CHECK(db_txn_begin(db, false, &txn) == ERR_OK, "tear: txn");
    CHECK(db_cursor_open(txn, heights, &c) == ERR_OK, "tear: cursor");
    uint32_t segment = 0;
    uint64_t end = 0;
    if (db_cursor_last(c, &k, &v) == ERR_OK) {
        CHECK(v.size == 52, "tear: index value size %zu", v.size);
        segment = load_u32(v.data);
        end = load_u64(v.data + 4) + BLOCK_STORE_RECORD_HEADER + load_u32(v.data + 12) +
              (uint64_t)load_u32(v.data + 48) * HASH_SIZE;
    }
    db_cursor_close(c);
    db_txn_abort(txn);
    db_close(db);
    char path[160];
    snprintf(path, sizeof path, "%s/seg-%010u.blk", p->blocks, segment);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        CHECK(errno == ENOENT, "tear: stat %s", path); /* killed before the store existed */
        return false;
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size <= end + 1) {
        return false;
    }
    uint64_t keep = end + 1 + prng_next(prng) % (size - end - 1); /* in (end, size) */
    CHECK(truncate(path, (off_t)keep) == 0, "tear: truncate %s", path);
    return true;
}

/* Damages one tx index run file (a finished one, txi-*.run): flips a byte, truncates it or
 * deletes it. Returns true if there was one. */
static bool
run_damage(const struct paths *p, uint64_t *prng)
{
    DIR *d = opendir(p->blocks);
    if (d == NULL) {
        return false;
    }
    char names[64][64];
    unsigned n = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 64) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "txi-", 4) == 0 && len > 4 && len < 64 &&
            strcmp(e->d_name + len - 4, ".run") == 0) {
            memcpy(names[n++], e->d_name, len + 1);
        }
    }
    closedir(d);
    if (n == 0) {
        return false;
    }
    char path[256];
    snprintf(path, sizeof path, "%s/%s", p->blocks, names[prng_next(prng) % n]);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && sb.st_size > 0, "damage: stat %s", path);
    uint64_t what = prng_next(prng) % 3;
    uint64_t at = prng_next(prng) % (uint64_t)sb.st_size;
    if (what == 0) {
        int fd = open(path, O_RDWR);
        CHECK(fd >= 0, "damage: open %s", path);
        uint8_t b = 0;
        CHECK(pread(fd, &b, 1, (off_t)at) == 1, "damage: read");
        b ^= (uint8_t)(1u << (prng_next(prng) % 8));
        CHECK(pwrite(fd, &b, 1, (off_t)at) == 1, "damage: write");
        close(fd);
    } else if (what == 1) {
        CHECK(truncate(path, (off_t)at) == 0, "damage: truncate %s", path);
    } else {
        CHECK(unlink(path) == 0, "damage: unlink %s", path);
    }
    return true;
}

/* One round: start a writer, kill it, reopen, check, continue by one block. */
static void
round_run(const struct config *cfg, const struct paths *p, uint64_t *prng, struct stats *st,
          bool *has_tip, uint64_t *tip)
{
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        writer_run(p);
    }
    sleep_us((unsigned)(prng_next(prng) % (cfg->delay_max_us + 1)));
    CHECK(kill(pid, SIGKILL) == 0, "kill: %s", strerror(errno));
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "writer ended by itself (status %d)",
          status);

    bool torn = prng_next(prng) % 2 == 0 && tail_tear(p, prng);
    st->runs_damaged += prng_next(prng) % 4 == 0 && run_damage(p, prng) ? 1 : 0;
    unsigned cuts_before = st->tail_cuts;
    struct opened o;
    enum err rc = store_open(p, &o);
    CHECK(rc == ERR_OK, "reopen after kill: %s", err_str(rc));
    CHECK(!torn || st->tail_cuts == cuts_before + 1, "a torn tail was not cut");
    struct tx_index_stats ix;
    block_store_tx_index_stats(o.store, &ix);
    st->runs_open_max = ix.runs > st->runs_open_max ? ix.runs : st->runs_open_max;
    st->torn_injected += torn ? 1 : 0;
    uint64_t now_tip = 0;
    bool now_has = check_consistent(&o, &now_tip);
    /* Committed blocks survive a process crash: the tip never goes back. */
    CHECK(!*has_tip || (now_has && now_tip >= *tip), "tip went back from %" PRIu64, *tip);
    uint64_t gained = now_has ? (*has_tip ? now_tip - *tip : now_tip + 1) : 0;
    st->blocks_written_by_writers += gained;
    st->writer_blocks_max =
        gained > st->writer_blocks_max ? (unsigned)gained : st->writer_blocks_max;
    for (unsigned i = 0; i < SAMPLES && now_has; i++) {
        check_block(&o, prng_next(prng) % (now_tip + 1));
    }
    if (now_has) {
        bool all = st->rounds++ % 10 == 0;
        check_txs(&o, all || now_tip < RECENT_BLOCKS ? 0 : now_tip - RECENT_BLOCKS, now_tip);
    }
    /* The store continues from h + 1. */
    uint64_t next = now_has ? now_tip + 1 : 0;
    rc = append_height(&o, next);
    CHECK(rc == ERR_OK, "append after reopen height=%" PRIu64 ": %s", next, err_str(rc));
    check_consistent(&o, &now_tip);
    CHECK(now_tip == next, "tip after append");
    store_close(&o);
    *has_tip = true;
    *tip = next;
}

static unsigned long long
number_parse(const char *value)
{
    CHECK(value != NULL, "option needs a value");
    char *end = NULL;
    unsigned long long n = strtoull(value, &end, 0);
    CHECK(end != value && *end == '\0', "bad number %s", value);
    return n;
}

_Noreturn static void
usage_exit(const char *option)
{
    fprintf(stderr,
            "crash_block_store: unknown option %s\nusage: crash_block_store [--iterations N] "
            "[--seed S] [--delay-max-us U] [--keep]\n",
            option);
    exit(2);
}

static void
config_parse(int argc, char **argv, struct config *cfg)
{
    *cfg = (struct config){ .iterations = 250, .seed = 1, .delay_max_us = 20000 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--keep") == 0) {
            cfg->keep = true;
        } else if (strcmp(a, "--iterations") == 0) {
            cfg->iterations = (unsigned)number_parse(value);
            i++;
        } else if (strcmp(a, "--seed") == 0) {
            cfg->seed = number_parse(value);
            i++;
        } else if (strcmp(a, "--delay-max-us") == 0) {
            cfg->delay_max_us = (unsigned)number_parse(value);
            i++;
        } else {
            usage_exit(a);
        }
    }
}

int
main(int argc, char **argv)
{
    struct config cfg;
    config_parse(argc, argv, &cfg);
    struct paths p;
    snprintf(p.root, sizeof p.root, "/tmp/lm_crash_bs_XXXXXX");
    CHECK(mkdtemp(p.root) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(p.db, sizeof p.db, "%s/db", p.root);
    snprintf(p.blocks, sizeof p.blocks, "%s/blocks", p.root);
    printf("crash_block_store: seed=%" PRIu64 " iterations=%u delay_max_us=%u dir=%s\n", cfg.seed,
           cfg.iterations, cfg.delay_max_us, p.root);
    fflush(stdout);

    struct stats st = { 0 };
    log_set_sink(capture_sink, &st);
    uint64_t prng = cfg.seed;
    bool has_tip = false;
    uint64_t tip = 0;
    double start = now_s();
    for (unsigned i = 0; i < cfg.iterations; i++) {
        round_run(&cfg, &p, &prng, &st, &has_tip, &tip);
    }
    /* Finally every block of the chain, in order. */
    struct opened o;
    CHECK(store_open(&p, &o) == ERR_OK, "final open");
    for (uint64_t h = 0; h <= tip; h++) {
        check_block(&o, h);
    }
    check_txs(&o, 0, tip);
    struct tx_index_stats txs;
    block_store_tx_index_stats(o.store, &txs);
    store_close(&o);
    log_set_sink(NULL, NULL);
    double elapsed = now_s() - start;
    printf("crash_block_store: %u kills in %.1f s; final height %" PRIu64
           "; writers committed %" PRIu64 " blocks (max %u in one life); tails cut %u "
           "(with a complete uncommitted record %u; torn by the test %u, cut as torn %u); "
           "uncommitted segments removed %u\n",
           cfg.iterations, elapsed, tip, st.blocks_written_by_writers, st.writer_blocks_max,
           st.tail_cuts, st.complete_uncommitted, st.torn_injected, st.torn_cut,
           st.segments_removed);
    printf("crash_block_store: tx index: %u runs now, at most %u after an open; at reopens found "
           "%u unfinished runs and %u merge inputs left behind, removed %u corrupt runs, rebuilt "
           "%u ranges from the blocks (the test damaged %u runs)\n",
           txs.runs, st.runs_open_max, st.runs_unfinished, st.runs_covered, st.runs_corrupt,
           st.runs_rebuilt, st.runs_damaged);
    /* The runs must have crashed inside an append at least once, or the test proved little. */
    CHECK(cfg.iterations < 50 || st.tail_cuts > 0, "no kill ever left a tail to cut");
    CHECK(st.torn_cut >= st.torn_injected, "torn tails were not recognised as torn");
    CHECK(cfg.iterations < 50 || st.runs_unfinished > 0, "no kill ever landed in a run write");
    CHECK(cfg.iterations < 50 || st.runs_rebuilt > 0, "no damaged run was ever rebuilt");
    if (!cfg.keep) {
        nftw(p.root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    return 0;
}
