/* Block store throughput: append + index + commit of blocks sized like 1,000 transactions
 * (250 KB payload, 1,000 tx hashes indexed), one fdatasync of the segment and one LMDB commit
 * per block, as the ledger does it; the bytes the process wrote to the disk meanwhile
 * (/proc/self/io write_bytes: segments, LMDB pages, tx index runs). Then waits for the tx
 * index's worker, looks up tx hashes, and reads every block back (checksum verified).
 *
 * Usage: bench_block_store [--blocks N] [--payload-bytes B] [--txs T] [--dir DIR]
 *                          [--segment-bytes S] [--tx-memtable E] [--lookups L] [--no-sync]
 * DIR must be on the disk to measure (default: a fresh directory under /tmp). */
#define _XOPEN_SOURCE 700 /* nftw */ // NOLINT(readability-identifier-naming)
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/reader.h"
#include "crypto/hash.h"
#include "store/block_store.h"
#include "store/db.h"

struct config {
    unsigned blocks;
    size_t payload_bytes;
    size_t txs;
    uint64_t segment_bytes;
    uint32_t tx_memtable;
    unsigned lookups;
    bool no_sync;
    const char *dir;
};

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

static void
die(const char *what, enum err rc)
{
    fprintf(stderr, "bench_block_store: %s: %s\n", what, err_str(rc));
    exit(EXIT_FAILURE);
}

static void
config_parse(int argc, char **argv, struct config *cfg)
{
    *cfg =
        (struct config){ .blocks = 400, .payload_bytes = 250000, .txs = 1000, .lookups = 100000 };
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-sync") == 0) {
            cfg->no_sync = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "option %s needs a value\n", argv[i]);
            exit(2);
        }
        const char *v = argv[++i];
        if (strcmp(argv[i - 1], "--dir") == 0) {
            cfg->dir = v;
            continue;
        }
        char *end = NULL;
        unsigned long long n = strtoull(v, &end, 0);
        if (end == v || *end != '\0') {
            fprintf(stderr, "bad number %s\n", v);
            exit(2);
        }
        if (strcmp(argv[i - 1], "--blocks") == 0) {
            cfg->blocks = (unsigned)n;
        } else if (strcmp(argv[i - 1], "--payload-bytes") == 0) {
            cfg->payload_bytes = (size_t)n;
        } else if (strcmp(argv[i - 1], "--txs") == 0) {
            cfg->txs = (size_t)n;
        } else if (strcmp(argv[i - 1], "--segment-bytes") == 0) {
            cfg->segment_bytes = n;
        } else if (strcmp(argv[i - 1], "--tx-memtable") == 0) {
            cfg->tx_memtable = (uint32_t)n;
        } else if (strcmp(argv[i - 1], "--lookups") == 0) {
            cfg->lookups = (unsigned)n;
        } else {
            fprintf(stderr, "unknown option %s\n", argv[i - 1]);
            exit(2);
        }
    }
}

/* Bytes this process caused to be written to storage so far (all threads), 0 if unknown. */
static uint64_t
disk_write_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    if (f == NULL) {
        return 0;
    }
    char line[128];
    uint64_t v = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "write_bytes: ", 13) == 0) {
            v = strtoull(line + 13, NULL, 10);
        }
    }
    fclose(f);
    return v;
}

static void
tx_hash_of(uint64_t counter, struct hash *out)
{
    uint8_t seed[8];
    store_u64(seed, counter);
    hash_bytes(HASH_SHA256, seed, sizeof seed, out);
}

/* Appends cfg->blocks blocks; writes each block's append+commit time into latency[]. */
static void
appends_run(const struct config *cfg, struct db *db, struct block_store *store, double *latency)
{
    uint8_t *payload = mem_alloc(cfg->payload_bytes + 1);
    struct hash *txs = mem_calloc(cfg->txs + 1, sizeof *txs);
    uint64_t counter = 0;
    for (unsigned h = 0; h < cfg->blocks; h++) {
        /* Fresh content per block; random tx hashes as real ones are (outside the timing). */
        memset(payload, (int)(h & 0xff), cfg->payload_bytes);
        for (size_t i = 0; i < cfg->txs; i++) {
            tx_hash_of(counter++, &txs[i]);
        }
        struct block_store_block block = {
            .height = h,
            .payload = payload,
            .payload_size = cfg->payload_bytes,
            .tx_hashes = txs,
            .tx_count = cfg->txs,
        };
        hash_bytes(HASH_SHA256, &h, sizeof h, &block.id);
        double t0 = now_s();
        struct db_txn *txn;
        enum err rc = db_txn_begin(db, true, &txn);
        if (rc == ERR_OK) {
            rc = block_store_append(store, txn, &block);
            if (rc != ERR_OK) {
                db_txn_abort(txn);
            }
        }
        if (rc == ERR_OK) {
            rc = block_store_commit(store, txn);
        }
        if (rc != ERR_OK) {
            die("append", rc);
        }
        latency[h] = now_s() - t0;
    }
    mem_free(txs);
    mem_free(payload);
}

static void
appends_report(const struct config *cfg, double *latency, uint64_t disk_bytes)
{
    double total = 0;
    for (unsigned h = 0; h < cfg->blocks; h++) {
        total += latency[h];
    }
    qsort(latency, cfg->blocks, sizeof *latency, cmp_double);
    double mb = (double)cfg->blocks * (double)cfg->payload_bytes / 1e6;
    printf("append+index+commit: %u blocks of %zu B with %zu tx hashes%s\n", cfg->blocks,
           cfg->payload_bytes, cfg->txs, cfg->no_sync ? " (no sync)" : "");
    printf("  %.1f blocks/s  %.1f MB/s  %.0f tx/s  latency p50 %.2f ms  p99 %.2f ms  max "
           "%.2f ms\n",
           cfg->blocks / total, mb / total, (double)cfg->blocks * (double)cfg->txs / total,
           latency[cfg->blocks / 2] * 1e3, latency[cfg->blocks * 99 / 100] * 1e3,
           latency[cfg->blocks - 1] * 1e3);
    printf("  written to disk meanwhile: %.1f MB (%.2f MB per block)\n", (double)disk_bytes / 1e6,
           (double)disk_bytes / 1e6 / cfg->blocks);
}

/* The tx index's worker finishing its runs and merges after the appends; its counters. */
static void
index_settle_report(struct block_store *store)
{
    uint64_t before = disk_write_bytes();
    double t0 = now_s();
    enum err rc = block_store_tx_index_settle(store);
    if (rc != ERR_OK) {
        die("tx index settle", rc);
    }
    struct tx_index_stats st;
    block_store_tx_index_stats(store, &st);
    printf("tx index: settled in %.2f s (%.1f MB more written); %" PRIu64 " runs written, "
           "%" PRIu64 " merges, %.1f MB of runs in all, %u runs now, %u entries in memory\n",
           now_s() - t0, (double)(disk_write_bytes() - before) / 1e6, st.runs_written,
           st.runs_merged, (double)st.bytes_written / 1e6, st.runs, st.memtable);
}

/* Random lookups of indexed tx hashes (and as many absent ones). */
static void
lookups_run(const struct config *cfg, struct block_store *store)
{
    uint64_t indexed = (uint64_t)cfg->blocks * cfg->txs;
    if (indexed == 0 || cfg->lookups == 0) {
        return;
    }
    uint64_t x = 88172645463325252ull;
    double t0 = now_s();
    for (unsigned i = 0; i < cfg->lookups; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t k = x % indexed;
        struct hash tx;
        tx_hash_of(k, &tx);
        struct block_store_tx_location loc;
        enum err rc = block_store_tx_find(store, NULL, &tx, &loc);
        if (rc != ERR_OK || loc.height * cfg->txs + loc.index != k) {
            die("tx find", rc == ERR_OK ? ERR_CORRUPT : rc);
        }
        tx_hash_of(indexed + k, &tx);
        if (block_store_tx_find(store, NULL, &tx, &loc) != ERR_NOT_FOUND) {
            die("tx find of an absent hash", ERR_CORRUPT);
        }
    }
    double t = now_s() - t0;
    printf("tx lookups: %.0f found + %.0f absent per s\n", cfg->lookups / t, cfg->lookups / t);
}

static void
reads_run(const struct config *cfg, struct block_store *store)
{
    struct buf out;
    buf_init(&out, cfg->payload_bytes + 1);
    double r0 = now_s();
    for (unsigned h = 0; h < cfg->blocks; h++) {
        buf_reset(&out);
        enum err rc = block_store_read(store, NULL, h, &out);
        if (rc != ERR_OK || out.size != cfg->payload_bytes) {
            die("read", rc);
        }
    }
    double rt = now_s() - r0;
    double mb = (double)cfg->blocks * (double)cfg->payload_bytes / 1e6;
    printf("read (checksum verified, page cache warm): %.0f blocks/s  %.0f MB/s\n",
           cfg->blocks / rt, mb / rt);
    buf_release(&out);
}

int
main(int argc, char **argv)
{
    struct config cfg;
    config_parse(argc, argv, &cfg);
    if (cfg.blocks == 0) {
        return 0;
    }
    char root[256];
    snprintf(root, sizeof root, "%s/lm_bench_bs_XXXXXX", cfg.dir != NULL ? cfg.dir : "/tmp");
    if (mkdtemp(root) == NULL) {
        fprintf(stderr, "mkdtemp %s: %s\n", root, strerror(errno));
        return 1;
    }
    char db_dir[300];
    char blocks_dir[300];
    snprintf(db_dir, sizeof db_dir, "%s/db", root);
    snprintf(blocks_dir, sizeof blocks_dir, "%s/blocks", root);
    struct db_options dbo = { .map_size_bytes = 8ull << 30, .no_sync = cfg.no_sync };
    struct block_store_options bso = { .segment_size_bytes = cfg.segment_bytes,
                                       .no_sync = cfg.no_sync,
                                       .tx_memtable_entries = cfg.tx_memtable };
    struct db *db;
    struct block_store *store;
    enum err rc = db_open(db_dir, &dbo, &db);
    if (rc != ERR_OK) {
        die("db_open", rc);
    }
    rc = block_store_open(db, blocks_dir, &bso, &store);
    if (rc != ERR_OK) {
        die("block_store_open", rc);
    }
    double *latency = mem_calloc(cfg.blocks, sizeof *latency);
    uint64_t disk0 = disk_write_bytes();
    appends_run(&cfg, db, store, latency);
    appends_report(&cfg, latency, disk_write_bytes() - disk0);
    index_settle_report(store);
    lookups_run(&cfg, store);
    reads_run(&cfg, store);
    block_store_close(store);
    db_close(db);
    mem_free(latency);
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
