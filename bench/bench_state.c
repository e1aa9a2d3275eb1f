/* State store benchmark: blocks of random-key writes committed with fsync, then proof
 * generation and verification. Run by hand (bench/README.md):
 *   bench_state [--blocks N] [--writes W] [--value-bytes B] [--retain R] [--update-blocks U]
 *               [--prune-interval I] [--proofs P] [--sm3] [--dir DIR]
 * Phase 1 inserts N blocks of W new random keys; phase 2 commits U blocks of W writes that
 * update random existing keys (so pruning works, with retain R); phase 3 proves P random
 * keys (half present) and verifies them. Every block is one LMDB write txn with fsync. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "codec/state_proof.h"
#include "crypto/hash.h"
#include "store/db.h"
#include "store/state_store.h"

#define KEY_SIZE 32

struct options {
    uint64_t blocks;
    uint64_t writes;
    uint64_t value_bytes;
    uint64_t retain;
    uint64_t update_blocks;
    uint64_t proofs;
    uint64_t prune_interval;
    enum hash_alg alg;
    const char *dir;
};

struct timing {
    double build_s;
    double commit_s; /* state_store_commit: puts and pruning */
    double sync_s;   /* db_txn_commit: LMDB commit with fsync */
    uint64_t writes;
    uint64_t blocks;
    uint64_t disk_bytes; /* written to the device, from /proc/self/io */
    double commit_max_s; /* slowest commit + fsync */
    double cpu_s;        /* process CPU time, whatever the neighbours take */
    double build_cpu_s;  /* this thread's CPU in state_batch_new */
    double commit_cpu_s; /* and in state_store_commit + db_txn_commit + state_store_committed */
};

static uint64_t
io_write_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    uint64_t v = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "write_bytes: ", 13) == 0) {
            v = strtoull(line + 13, NULL, 10);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return v;
}

static uint64_t
rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double
cpu_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
key_of(uint64_t index, uint8_t out[KEY_SIZE])
{
    uint64_t s = index * 7919 + 1;
    for (size_t i = 0; i < KEY_SIZE; i += 8) {
        uint64_t x = rng_next(&s);
        memcpy(out + i, &x, 8);
    }
}

static void
check(enum err rc, const char *what)
{
    if (rc != ERR_OK) {
        fprintf(stderr, "bench_state: %s: %s\n", what, err_str(rc));
        exit(1);
    }
}

/* One block: the writes for key indices first..first+count (or random existing ones). */
struct bench {
    struct db *db;
    struct state_store *s;
    struct options o;
    uint64_t seed;
};

static void
run_block(struct bench *bench, uint64_t key_base, uint64_t key_space, struct timing *t)
{
    struct db *db = bench->db;
    struct state_store *s = bench->s;
    const struct options *o = &bench->o;
    uint64_t *seed = &bench->seed;
    uint8_t *keys = mem_alloc(o->writes * KEY_SIZE);
    uint8_t *values = mem_alloc(o->writes * o->value_bytes + 1);
    struct state_write *w = mem_alloc(o->writes * sizeof w[0]);
    for (uint64_t i = 0; i < o->writes; i++) {
        uint64_t index = key_space == 0 ? key_base + i : (key_base + i * 104729) % key_space;
        key_of(index, keys + i * KEY_SIZE);
        for (uint64_t j = 0; j < o->value_bytes; j += 8) {
            uint64_t x = rng_next(seed);
            size_t n = o->value_bytes - j < 8 ? (size_t)(o->value_bytes - j) : 8;
            memcpy(values + i * o->value_bytes + j, &x, n);
        }
        w[i] = (struct state_write){ keys + i * KEY_SIZE, KEY_SIZE, values + i * o->value_bytes,
                                     (size_t)o->value_bytes };
    }
    uint64_t io0 = io_write_bytes();
    double c0 = cpu_now_s();
    double t0 = now_s();
    double u0 = thread_cpu_s();
    struct state_batch *b = NULL;
    check(state_batch_new(s, NULL, state_store_version(s) + 1, w, (size_t)o->writes, &b), "batch");
    double t1 = now_s();
    double u1 = thread_cpu_s();
    struct db_txn *txn = NULL;
    check(db_txn_begin(db, true, &txn), "txn");
    check(state_store_commit(s, txn, b), "commit");
    double t2 = now_s();
    check(db_txn_commit(txn), "db commit");
    state_store_committed(s, b);
    double t3 = now_s();
    t->build_cpu_s += u1 - u0;
    t->commit_cpu_s += thread_cpu_s() - u1;
    state_batch_free(b);
    t->build_s += t1 - t0;
    t->commit_s += t2 - t1;
    t->sync_s += t3 - t2;
    t->cpu_s += cpu_now_s() - c0;
    if (t3 - t1 > t->commit_max_s) {
        t->commit_max_s = t3 - t1;
    }
    t->writes += o->writes;
    t->blocks++;
    t->disk_bytes += io_write_bytes() - io0;
    mem_free(w);
    mem_free(values);
    mem_free(keys);
}

static void
report(const char *name, const struct timing *t)
{
    if (t->blocks == 0) {
        return;
    }
    double total = t->build_s + t->commit_s + t->sync_s;
    printf("%-22s blocks=%" PRIu64 " writes/s=%.0f (per CPU-s %.0f) blocks/s=%.1f "
           "ms/block: build=%.2f commit=%.2f fsync=%.2f (max commit+fsync %.0f ms) "
           "disk KiB/block=%.0f cpu us/write: build=%.2f commit=%.2f\n",
           name, t->blocks, (double)t->writes / total, (double)t->writes / t->cpu_s,
           (double)t->blocks / total, 1e3 * t->build_s / (double)t->blocks,
           1e3 * t->commit_s / (double)t->blocks, 1e3 * t->sync_s / (double)t->blocks,
           1e3 * t->commit_max_s, (double)t->disk_bytes / 1024.0 / (double)t->blocks,
           1e6 * t->build_cpu_s / (double)t->writes, 1e6 * t->commit_cpu_s / (double)t->writes);
}

static void
bench_proofs(struct db *db, struct state_store *s, const struct options *o, uint64_t key_count)
{
    struct state_proof *p = mem_alloc(o->proofs * sizeof *p);
    uint8_t *keys = mem_alloc(o->proofs * KEY_SIZE);
    uint8_t *values = mem_alloc(o->proofs * o->value_bytes + 1);
    bool *found = mem_alloc(o->proofs * sizeof found[0]);
    struct buf v;
    buf_init(&v, STATE_VALUE_SIZE_MAX);
    struct hash root;
    state_store_root(s, &root);
    uint64_t version = state_store_version(s);
    uint64_t seed = 99;
    struct db_txn *txn = NULL;
    check(db_txn_begin(db, false, &txn), "read txn");
    double t0 = now_s();
    double c0 = cpu_now_s();
    size_t depth_total = 0;
    for (uint64_t i = 0; i < o->proofs; i++) {
        uint64_t index = rng_next(&seed) % (2 * key_count); /* half absent */
        key_of(index, keys + i * KEY_SIZE);
        buf_reset(&v);
        check(
            state_store_prove(s, txn, version, keys + i * KEY_SIZE, KEY_SIZE, &v, &found[i], &p[i]),
            "prove");
        if (found[i]) {
            memcpy(values + i * o->value_bytes, v.data, v.size);
        }
        depth_total += p[i].sibling_count;
    }
    double t1 = now_s();
    double c1 = cpu_now_s();
    db_txn_abort(txn);
    for (uint64_t i = 0; i < o->proofs; i++) {
        const uint8_t *value = found[i] ? values + i * o->value_bytes : NULL;
        check(state_proof_verify(o->alg, &root, keys + i * KEY_SIZE, KEY_SIZE, value,
                                 (size_t)o->value_bytes, &p[i]),
              "verify");
    }
    double t2 = now_s();
    double c2 = cpu_now_s();
    check(db_txn_begin(db, false, &txn), "read txn");
    for (uint64_t i = 0; i < o->proofs; i++) {
        buf_reset(&v);
        enum err rc = state_store_get(s, txn, version, keys + i * KEY_SIZE, KEY_SIZE, &v);
        check(rc == ERR_NOT_FOUND && !found[i] ? ERR_OK : rc, "get");
    }
    db_txn_abort(txn);
    double t3 = now_s();
    double c3 = cpu_now_s();
    struct buf enc;
    buf_init(&enc, STATE_PROOF_SIZE_MAX);
    size_t enc_total = 0;
    for (uint64_t i = 0; i < o->proofs; i++) {
        buf_reset(&enc);
        check(state_proof_encode(&enc, &p[i]), "encode");
        enc_total += enc.size;
    }
    printf("gets (same keys, one read txn): get/s=%.0f (per CPU-s %.0f)\n",
           (double)o->proofs / (t3 - t2), (double)o->proofs / (c3 - c2));
    printf("proofs (%" PRIu64 " keys, half absent): prove/s=%.0f (per CPU-s %.0f) "
           "verify/s=%.0f (per CPU-s %.0f) mean siblings=%.1f mean encoded bytes=%.0f\n",
           o->proofs, (double)o->proofs / (t1 - t0), (double)o->proofs / (c1 - c0),
           (double)o->proofs / (t2 - t1), (double)o->proofs / (c2 - c1),
           (double)depth_total / (double)o->proofs, (double)enc_total / (double)o->proofs);
    buf_release(&enc);
    buf_release(&v);
    mem_free(found);
    mem_free(values);
    mem_free(keys);
    mem_free(p);
}

static uint64_t
arg_u64(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "bench_state: %s needs a value\n", argv[*i]);
        exit(2);
    }
    *i += 1;
    return strtoull(argv[*i], NULL, 10);
}

static void
parse(int argc, char **argv, struct options *o)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--blocks") == 0) {
            o->blocks = arg_u64(argc, argv, &i);
        } else if (strcmp(argv[i], "--writes") == 0) {
            o->writes = arg_u64(argc, argv, &i);
        } else if (strcmp(argv[i], "--value-bytes") == 0) {
            o->value_bytes = arg_u64(argc, argv, &i);
        } else if (strcmp(argv[i], "--retain") == 0) {
            o->retain = arg_u64(argc, argv, &i);
        } else if (strcmp(argv[i], "--update-blocks") == 0) {
            o->update_blocks = arg_u64(argc, argv, &i);
        } else if (strcmp(argv[i], "--proofs") == 0) {
            o->proofs = arg_u64(argc, argv, &i);
        } else if (strcmp(argv[i], "--prune-interval") == 0) {
            o->prune_interval = arg_u64(argc, argv, &i);
        } else if (strcmp(argv[i], "--sm3") == 0) {
            o->alg = HASH_SM3;
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            o->dir = argv[++i];
        } else {
            fprintf(stderr, "bench_state: unknown option %s\n", argv[i]);
            exit(2);
        }
    }
}

int
main(int argc, char **argv)
{
    struct options o = { 200, 1000, 100, 100, 200, 100000, 0, HASH_SHA256, NULL };
    parse(argc, argv, &o);
    char dir[64] = "/tmp/bench_state_XXXXXX"; /* removed at the end (not a --dir) */
    bool own_dir = o.dir == NULL;
    if (o.dir == NULL) {
        if (mkdtemp(dir) == NULL) {
            perror("mkdtemp");
            return 1;
        }
        o.dir = dir;
    }
    struct db *db = NULL;
    struct db_options dbo = { .map_size_bytes = 64ull << 30 };
    check(db_open(o.dir, &dbo, &db), "db open");
    struct state_store *s = NULL;
    struct state_store_options so = { .hash_alg = o.alg,
                                      .retain_versions = o.retain,
                                      .prune_interval = o.prune_interval };
    check(state_store_open(db, &so, &s), "state open");
    printf("bench_state: %s, %" PRIu64 "-byte values, %" PRIu64 " writes/block, retain %" PRIu64
           ", dir %s, fsync on\n",
           hash_alg_name(o.alg), o.value_bytes, o.writes, o.retain, o.dir);
    struct bench x = { db, s, o, 1 };
    struct timing first = { 0 };
    struct timing last = { 0 };
    for (uint64_t b = 0; b < o.blocks; b++) {
        struct timing *t = b < o.blocks / 2 ? &first : &last;
        run_block(&x, b * o.writes, 0, t);
    }
    uint64_t key_count = o.blocks * o.writes;
    if (key_count == 0) {
        return 0;
    }
    report("insert, first half", &first);
    report("insert, second half", &last);
    struct timing upd = { 0 };
    for (uint64_t b = 0; b < o.update_blocks; b++) {
        run_block(&x, rng_next(&x.seed) % key_count, key_count, &upd);
    }
    if (o.update_blocks > 0) {
        report("update existing keys", &upd);
    }
    printf("keys=%" PRIu64 " version=%" PRIu64 " oldest readable=%" PRIu64 "\n", key_count,
           state_store_version(s), state_store_version_min(s));
    if (o.proofs > 0) {
        bench_proofs(db, s, &o, key_count);
    }
    state_store_close(s);
    db_close(db);
    if (own_dir) {
        /* LMDB's two files; a run leaves hundreds of MB otherwise */
        const char *files[] = { "data.mdb", "lock.mdb" };
        for (size_t i = 0; i < 2; i++) {
            char path[96];
            snprintf(path, sizeof path, "%s/%s", dir, files[i]);
            (void)unlink(path);
        }
        (void)rmdir(dir);
    }
    return 0;
}
