/* Unit tests of store/block_store: append/read/reopen, index lookups, segment roll-over,
 * rollback, a torn tail of every length cut at open, checksum corruption detected, and a full
 * disk (a real size-limited tmpfs in a private mount namespace) losing nothing; the tx index
 * (store/tx_index.h) across flushes, merges and reopens, with damaged runs rebuilt, duplicate
 * hashes and read snapshots. */
#define _GNU_SOURCE /* unshare, CLONE_NEWNS */ // NOLINT(readability-identifier-naming)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/crc32c.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/reader.h"
#include "crypto/hash.h"
#include "store/block_store.h"
#include "store/db.h"
#include "unit.h"

#define TXS_PER_BLOCK_MAX 8

struct fixture {
    char root[64];
    char db_dir[96];
    char blocks_dir[96];
    struct db *db;
    struct block_store *store;
    struct block_store_options options;
};

/* Deterministic test data: payload, id and tx hashes of a height. */
static size_t
payload_size_of(uint64_t height, size_t size_max)
{
    return (size_t)((height * 7919u) % (size_max + 1));
}

static void
payload_fill(uint64_t height, uint8_t *out, size_t size)
{
    uint64_t x = height * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < size; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[i] = (uint8_t)x;
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
    return (size_t)(height % (TXS_PER_BLOCK_MAX + 1));
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
fixture_paths(struct fixture *f)
{
    snprintf(f->db_dir, sizeof f->db_dir, "%s/db", f->root);
    snprintf(f->blocks_dir, sizeof f->blocks_dir, "%s/blocks", f->root);
}

static void
fixture_open(struct fixture *f)
{
    struct db_options dbo = { .map_size_bytes = 256ull << 20 };
    assert_int_equal(db_open(f->db_dir, &dbo, &f->db), ERR_OK);
    assert_int_equal(block_store_open(f->db, f->blocks_dir, &f->options, &f->store), ERR_OK);
}

static enum err
fixture_reopen(struct fixture *f)
{
    block_store_close(f->store);
    f->store = NULL;
    db_close(f->db);
    struct db_options dbo = { .map_size_bytes = 256ull << 20 };
    assert_int_equal(db_open(f->db_dir, &dbo, &f->db), ERR_OK);
    return block_store_open(f->db, f->blocks_dir, &f->options, &f->store);
}

static struct fixture *
fixture_new(uint64_t segment_size)
{
    struct fixture *f = mem_calloc(1, sizeof *f);
    snprintf(f->root, sizeof f->root, "/tmp/lm_test_bs_XXXXXX");
    assert_non_null(mkdtemp(f->root));
    fixture_paths(f);
    f->options.segment_size_bytes = segment_size;
    fixture_open(f);
    return f;
}

static void
fixture_free(struct fixture *f)
{
    block_store_close(f->store);
    db_close(f->db);
    nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    mem_free(f);
}

/* Appends and commits the deterministic block of `height`. */
static enum err
append_height(struct block_store *store, struct db *db, uint64_t height, size_t size_max)
{
    size_t size = payload_size_of(height, size_max);
    uint8_t *payload = mem_alloc(size + 1);
    payload_fill(height, payload, size);
    struct hash txs[TXS_PER_BLOCK_MAX];
    size_t tx_count = tx_count_of(height);
    for (size_t i = 0; i < tx_count; i++) {
        tx_of(height, (uint32_t)i, &txs[i]);
    }
    struct block_store_block block = {
        .height = height,
        .payload = payload,
        .payload_size = size,
        .tx_hashes = txs,
        .tx_count = tx_count,
    };
    id_of(height, &block.id);
    struct db_txn *txn;
    enum err rc = db_txn_begin(db, true, &txn);
    assert_int_equal(rc, ERR_OK);
    rc = block_store_append(store, txn, &block);
    if (rc == ERR_OK) {
        rc = block_store_commit(store, txn);
    } else {
        db_txn_abort(txn);
    }
    mem_free(payload);
    return rc;
}

/* Checks every index and the bytes of `height`. */
static void
check_height(struct block_store *store, uint64_t height, size_t size_max)
{
    size_t size = payload_size_of(height, size_max);
    uint8_t *expect = mem_alloc(size + 1);
    payload_fill(height, expect, size);
    struct buf got;
    buf_init(&got, size_max + 1);
    assert_int_equal(block_store_read(store, NULL, height, &got), ERR_OK);
    assert_int_equal(got.size, size);
    if (size > 0) {
        assert_memory_equal(got.data, expect, size);
    }
    struct hash id;
    id_of(height, &id);
    struct block_store_info info;
    assert_int_equal(block_store_info(store, NULL, height, &info), ERR_OK);
    assert_true(info.height == height);
    assert_int_equal(info.payload_size, size);
    assert_memory_equal(info.id.bytes, id.bytes, HASH_SIZE);
    uint64_t h = 0;
    assert_int_equal(block_store_height_of(store, NULL, &id, &h), ERR_OK);
    assert_true(h == height);
    struct buf by_id;
    buf_init(&by_id, size_max + 1);
    h = 0;
    assert_int_equal(block_store_read_by_id(store, NULL, &id, &h, &by_id), ERR_OK);
    assert_true(h == height);
    assert_int_equal(by_id.size, size);
    if (size > 0) {
        assert_memory_equal(by_id.data, expect, size);
    }
    buf_release(&by_id);
    for (uint32_t i = 0; i < tx_count_of(height); i++) {
        struct hash tx;
        tx_of(height, i, &tx);
        struct block_store_tx_location loc;
        assert_int_equal(block_store_tx_find(store, NULL, &tx, &loc), ERR_OK);
        assert_true(loc.height == height);
        assert_int_equal(loc.index, i);
    }
    buf_release(&got);
    mem_free(expect);
}

static void
check_tip(struct block_store *store, uint64_t expect)
{
    uint64_t tip = 0;
    assert_true(block_store_tip(store, &tip));
    assert_true(tip == expect);
    assert_int_equal(block_store_tip_read(store, NULL, &tip), ERR_OK);
    assert_true(tip == expect);
}

static off_t
file_size(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        return -1;
    }
    return st.st_size;
}

static void
segment_file(const struct fixture *f, uint32_t segment, char out[160])
{
    snprintf(out, 160, "%s/seg-%010u.blk", f->blocks_dir, segment);
}

static void
test_append_read_reopen(void **state)
{
    (void)state;
    const size_t size_max = 5000;
    struct fixture *f = fixture_new(0);
    uint64_t tip = 0;
    assert_false(block_store_tip(f->store, &tip));
    assert_int_equal(block_store_tip_read(f->store, NULL, &tip), ERR_NOT_FOUND);
    for (uint64_t h = 0; h < 60; h++) {
        assert_int_equal(append_height(f->store, f->db, h, size_max), ERR_OK);
        check_tip(f->store, h);
    }
    for (uint64_t h = 0; h < 60; h++) {
        check_height(f->store, h, size_max);
    }
    /* Absent entries. */
    struct buf b;
    buf_init(&b, 1 << 16);
    assert_int_equal(block_store_read(f->store, NULL, 60, &b), ERR_NOT_FOUND);
    struct hash unknown;
    id_of(1000, &unknown);
    uint64_t h = 0;
    assert_int_equal(block_store_height_of(f->store, NULL, &unknown, &h), ERR_NOT_FOUND);
    assert_int_equal(block_store_read_by_id(f->store, NULL, &unknown, &h, &b), ERR_NOT_FOUND);
    struct block_store_tx_location loc;
    assert_int_equal(block_store_tx_find(f->store, NULL, &unknown, &loc), ERR_NOT_FOUND);
    /* A read into a buffer whose maximum is too small fails and leaves it unchanged. */
    struct buf tiny;
    buf_init(&tiny, 1);
    assert_int_equal(block_store_read(f->store, NULL, 1, &tiny), ERR_TOO_LARGE);
    assert_int_equal(tiny.size, 0);
    buf_release(&tiny);

    assert_int_equal(fixture_reopen(f), ERR_OK);
    check_tip(f->store, 59);
    for (uint64_t k = 0; k < 60; k++) {
        check_height(f->store, k, size_max);
    }
    /* Continues after reopen. */
    assert_int_equal(append_height(f->store, f->db, 60, size_max), ERR_OK);
    check_height(f->store, 60, size_max);
    buf_release(&b);
    fixture_free(f);
}

static void
test_first_height_and_too_large(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(0);
    /* An empty store takes any first height (a node started from a snapshot). */
    assert_int_equal(append_height(f->store, f->db, 1000, 100), ERR_OK);
    assert_int_equal(append_height(f->store, f->db, 1001, 100), ERR_OK);
    check_tip(f->store, 1001);
    uint8_t byte = 0;
    struct block_store_block big = {
        .height = 1002,
        .payload = &byte,
        .payload_size = (size_t)BLOCK_STORE_PAYLOAD_SIZE_MAX + 1, /* rejected before use */
    };
    struct db_txn *txn;
    assert_int_equal(db_txn_begin(f->db, true, &txn), ERR_OK);
    assert_int_equal(block_store_append(f->store, txn, &big), ERR_TOO_LARGE);
    db_txn_abort(txn);
    assert_int_equal(fixture_reopen(f), ERR_OK);
    check_tip(f->store, 1001);
    check_height(f->store, 1000, 100);
    fixture_free(f);
}

static void
test_segment_rollover(void **state)
{
    (void)state;
    const size_t size_max = 20000;
    struct fixture *f = fixture_new(BLOCK_STORE_SEGMENT_SIZE_MIN);
    for (uint64_t h = 0; h < 80; h++) {
        assert_int_equal(append_height(f->store, f->db, h, size_max), ERR_OK);
    }
    struct block_store_info first;
    struct block_store_info last;
    assert_int_equal(block_store_info(f->store, NULL, 0, &first), ERR_OK);
    assert_int_equal(block_store_info(f->store, NULL, 79, &last), ERR_OK);
    assert_int_equal(first.segment, 0);
    assert_true(last.segment > 10); /* ~800 KB of records in 64 KiB segments */
    for (uint32_t seg = 0; seg <= last.segment; seg++) {
        char path[160];
        segment_file(f, seg, path);
        off_t size = file_size(path);
        assert_true(size > 0);
        assert_true((uint64_t)size <= BLOCK_STORE_SEGMENT_SIZE_MIN);
    }
    /* A record larger than a segment gets a segment of its own. */
    const size_t huge = (size_t)3 * BLOCK_STORE_SEGMENT_SIZE_MIN;
    uint8_t *payload = mem_alloc(huge);
    payload_fill(80, payload, huge);
    struct block_store_block block = { .height = 80, .payload = payload, .payload_size = huge };
    id_of(80, &block.id);
    struct db_txn *txn;
    assert_int_equal(db_txn_begin(f->db, true, &txn), ERR_OK);
    assert_int_equal(block_store_append(f->store, txn, &block), ERR_OK);
    assert_int_equal(block_store_commit(f->store, txn), ERR_OK);
    struct block_store_info info;
    assert_int_equal(block_store_info(f->store, NULL, 80, &info), ERR_OK);
    assert_int_equal(info.segment, last.segment + 1);
    assert_true(info.offset == 0);
    assert_int_equal(fixture_reopen(f), ERR_OK);
    for (uint64_t h = 0; h < 80; h++) {
        check_height(f->store, h, size_max);
    }
    struct buf b;
    buf_init(&b, huge);
    assert_int_equal(block_store_read(f->store, NULL, 80, &b), ERR_OK);
    assert_memory_equal(b.data, payload, huge);
    /* The next block rolls over again, out of the oversized segment. */
    assert_int_equal(append_height(f->store, f->db, 81, size_max), ERR_OK);
    assert_int_equal(block_store_info(f->store, NULL, 81, &info), ERR_OK);
    assert_int_equal(info.segment, last.segment + 2);
    buf_release(&b);
    mem_free(payload);
    fixture_free(f);
}

static void
test_rollback(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(BLOCK_STORE_SEGMENT_SIZE_MIN);
    for (uint64_t h = 0; h < 3; h++) {
        assert_int_equal(append_height(f->store, f->db, h, 1000), ERR_OK);
    }
    char path[160];
    segment_file(f, 0, path);
    off_t before = file_size(path);
    uint8_t payload[500] = { 1, 2, 3 };
    struct block_store_block block = { .height = 3, .payload = payload, .payload_size = 500 };
    id_of(3, &block.id);
    struct db_txn *txn;
    assert_int_equal(db_txn_begin(f->db, true, &txn), ERR_OK);
    assert_int_equal(block_store_append(f->store, txn, &block), ERR_OK);
    assert_true(file_size(path) == before + (off_t)BLOCK_STORE_RECORD_HEADER + 500);
    /* The caller's txn sees the staged index entries. */
    uint64_t tip = 0;
    assert_int_equal(block_store_tip_read(f->store, txn, &tip), ERR_OK);
    assert_true(tip == 3);
    db_txn_abort(txn);
    block_store_rollback(f->store);
    assert_true(file_size(path) == before);
    check_tip(f->store, 2);
    /* A rolled-back roll-over removes the new segment. */
    uint8_t *big = mem_calloc(1, BLOCK_STORE_SEGMENT_SIZE_MIN);
    block.payload = big;
    block.payload_size = BLOCK_STORE_SEGMENT_SIZE_MIN;
    assert_int_equal(db_txn_begin(f->db, true, &txn), ERR_OK);
    assert_int_equal(block_store_append(f->store, txn, &block), ERR_OK);
    char next[160];
    segment_file(f, 1, next);
    assert_true(file_size(next) > 0);
    db_txn_abort(txn);
    block_store_rollback(f->store);
    assert_true(file_size(next) < 0);
    assert_int_equal(append_height(f->store, f->db, 3, 1000), ERR_OK);
    check_height(f->store, 3, 1000);
    /* Closing with a staged append (its txn aborted) cuts it too. */
    before = file_size(path);
    block.height = 4;
    block.payload = payload;
    block.payload_size = 500;
    assert_int_equal(db_txn_begin(f->db, true, &txn), ERR_OK);
    assert_int_equal(block_store_append(f->store, txn, &block), ERR_OK);
    db_txn_abort(txn);
    assert_int_equal(fixture_reopen(f), ERR_OK);
    assert_true(file_size(path) == before);
    check_tip(f->store, 3);
    mem_free(big);
    fixture_free(f);
}

struct log_capture {
    unsigned cut_lines;
    unsigned removed_lines;
    unsigned complete_one;
};

static void
capture_sink(void *ctx, enum log_level level, const char *line)
{
    struct log_capture *c = ctx;
    (void)level;
    if (strstr(line, "cutting tail") != NULL) {
        c->cut_lines++;
        if (strstr(line, "complete_uncommitted_records=1") != NULL) {
            c->complete_one++;
        }
    }
    if (strstr(line, "removing uncommitted segment") != NULL) {
        c->removed_lines++;
    }
}

static void
append_bytes(const char *path, const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, size), (ssize_t)size);
    close(fd);
}

/* The record of `height` as the store writes it (pins the on-disk format). */
static size_t
record_make(uint64_t height, size_t payload_size, uint8_t *out)
{
    uint8_t *h = out;
    store_u32(h, 0x4b424d4cu);
    store_u32(h + 8, (uint32_t)payload_size);
    store_u32(h + 12, 0);
    store_u64(h + 16, height);
    payload_fill(height, h + 24, payload_size);
    uint32_t crc = crc32c(h + 8, 16);
    store_u32(h + 4, crc32c_extend(crc, h + 24, payload_size));
    return 24 + payload_size;
}

static void
test_torn_tail_every_length(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(0);
    for (uint64_t h = 0; h < 5; h++) {
        assert_int_equal(append_height(f->store, f->db, h, 300), ERR_OK);
    }
    char path[160];
    segment_file(f, 0, path);
    off_t committed = file_size(path);
    uint8_t record[24 + 200];
    size_t record_size = record_make(5, 200, record);
    struct log_capture cap = { 0 };
    log_set_sink(capture_sink, &cap);
    for (size_t cut = 1; cut <= record_size; cut++) {
        append_bytes(path, record, cut);
        assert_int_equal(fixture_reopen(f), ERR_OK);
        assert_true(file_size(path) == committed);
        check_tip(f->store, 4);
    }
    assert_int_equal(cap.cut_lines, record_size);
    assert_int_equal(cap.complete_one, 1); /* the full record was recognised, then cut */
    /* A complete record followed by garbage, and plain garbage. */
    append_bytes(path, record, record_size);
    append_bytes(path, (const uint8_t *)"garbage", 7);
    assert_int_equal(fixture_reopen(f), ERR_OK);
    assert_true(file_size(path) == committed);
    /* A leftover segment after the committed one (a roll-over that never committed). */
    char next[160];
    segment_file(f, 1, next);
    int fd = open(next, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    append_bytes(next, record, record_size);
    assert_int_equal(fixture_reopen(f), ERR_OK);
    assert_true(file_size(next) < 0);
    assert_int_equal(cap.removed_lines, 1);
    log_set_sink(NULL, NULL);
    for (uint64_t h = 0; h < 5; h++) {
        check_height(f->store, h, 300);
    }
    /* The store continues at the next height, where the torn record was. */
    assert_int_equal(append_height(f->store, f->db, 5, 300), ERR_OK);
    check_height(f->store, 5, 300);
    fixture_free(f);
}

/* A crash during the very first append: the index is empty, segment 0 holds a torn record. */
static void
test_torn_first_block(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(0);
    char path[160];
    segment_file(f, 0, path);
    uint8_t record[24 + 100];
    size_t record_size = record_make(0, 100, record);
    struct log_capture cap = { 0 };
    log_set_sink(capture_sink, &cap);
    append_bytes(path, record, record_size - 1);
    assert_int_equal(fixture_reopen(f), ERR_OK);
    log_set_sink(NULL, NULL);
    assert_int_equal(cap.cut_lines, 1);
    assert_true(file_size(path) == 0);
    uint64_t tip = 0;
    assert_false(block_store_tip(f->store, &tip));
    assert_int_equal(append_height(f->store, f->db, 0, 100), ERR_OK);
    check_height(f->store, 0, 100);
    fixture_free(f);
}

static void
flip_byte(const char *path, uint64_t offset)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b = 0;
    assert_int_equal(pread(fd, &b, 1, (off_t)offset), 1);
    b ^= 0x01;
    assert_int_equal(pwrite(fd, &b, 1, (off_t)offset), 1);
    close(fd);
}

static void
test_corruption_detected(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(0);
    for (uint64_t h = 1; h <= 10; h++) {
        assert_int_equal(append_height(f->store, f->db, h, 2000), ERR_OK);
    }
    char path[160];
    segment_file(f, 0, path);
    struct block_store_info info;
    assert_int_equal(block_store_info(f->store, NULL, 5, &info), ERR_OK);
    assert_true(info.payload_size > 10);
    struct buf b;
    buf_init(&b, 1 << 16);
    /* Payload bit flip: that block is corrupt, its neighbours are fine. */
    flip_byte(path, info.offset + 24 + info.payload_size / 2);
    assert_int_equal(block_store_read(f->store, NULL, 5, &b), ERR_CORRUPT);
    assert_int_equal(b.size, 0); /* nothing appended on failure */
    check_height(f->store, 4, 2000);
    check_height(f->store, 6, 2000);
    flip_byte(path, info.offset + 24 + info.payload_size / 2);
    check_height(f->store, 5, 2000);
    /* Each header field is covered: magic, crc, size, tx count, height. */
    const uint64_t header_bytes[] = { 0, 5, 9, 13, 17 };
    for (size_t i = 0; i < sizeof header_bytes / sizeof header_bytes[0]; i++) {
        flip_byte(path, info.offset + header_bytes[i]);
        assert_int_equal(block_store_read(f->store, NULL, 5, &b), ERR_CORRUPT);
        flip_byte(path, info.offset + header_bytes[i]);
    }
    check_height(f->store, 5, 2000);
    /* A corrupt tip record makes open fail: the index and the files disagree. */
    assert_int_equal(block_store_info(f->store, NULL, 10, &info), ERR_OK);
    flip_byte(path, info.offset + 30);
    assert_int_equal(fixture_reopen(f), ERR_CORRUPT);
    flip_byte(path, info.offset + 30);
    assert_int_equal(fixture_reopen(f), ERR_OK);
    /* A segment shorter than its index is corrupt, not a tail to cut. */
    off_t size = file_size(path);
    assert_int_equal(truncate(path, size - 1), 0);
    assert_int_equal(fixture_reopen(f), ERR_CORRUPT);
    /* A missing segment is corrupt too. */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(fixture_reopen(f), ERR_CORRUPT);
    buf_release(&b);
    fixture_free(f);
}

/* Runs in a child with a private mount namespace: a 1 MiB tmpfs holds the store. Returns the
 * failing line, 0 on success. */
#define CHILD_CHECK(cond)    \
    do {                     \
        if (!(cond)) {       \
            return __LINE__; \
        }                    \
    } while (0)

static int
no_space_child(const char *root)
{
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", root, "tmpfs", 0, "size=1m") != 0) {
        return -1; /* not permitted here: skipped */
    }
    char db_dir[128];
    char blocks_dir[128];
    char ballast[128];
    snprintf(db_dir, sizeof db_dir, "%s/db", root);
    snprintf(blocks_dir, sizeof blocks_dir, "%s/blocks", root);
    snprintf(ballast, sizeof ballast, "%s/ballast", root);
    /* Room to free later, to show the store continues once space is back. */
    int fd = open(ballast, O_CREAT | O_WRONLY, 0600);
    CHILD_CHECK(fd >= 0);
    static uint8_t zeros[128 << 10];
    CHILD_CHECK(write(fd, zeros, sizeof zeros) == (ssize_t)sizeof zeros);
    close(fd);
    struct db_options dbo = { .map_size_bytes = 8ull << 20 };
    struct db *db;
    struct block_store *store;
    struct block_store_options options = { .segment_size_bytes = 256 << 10 };
    CHILD_CHECK(db_open(db_dir, &dbo, &db) == ERR_OK);
    CHILD_CHECK(block_store_open(db, blocks_dir, &options, &store) == ERR_OK);
    uint64_t height = 0;
    enum err rc = ERR_OK;
    while (height < 1000) {
        rc = append_height(store, db, height, 40000);
        if (rc != ERR_OK) {
            break;
        }
        height++;
    }
    CHILD_CHECK(rc == ERR_NO_SPACE);
    CHILD_CHECK(height > 3);
    uint64_t tip = 0;
    CHILD_CHECK(block_store_tip(store, &tip) && tip == height - 1);
    /* Nothing committed was lost and the failed record was cut back. */
    struct block_store_info info;
    CHILD_CHECK(block_store_info(store, NULL, tip, &info) == ERR_OK);
    char path[160];
    snprintf(path, sizeof path, "%s/seg-%010u.blk", blocks_dir, info.segment);
    CHILD_CHECK(file_size(path) ==
                (off_t)(info.offset + 24 + info.payload_size + (uint64_t)32 * info.tx_count));
    snprintf(path, sizeof path, "%s/seg-%010u.blk", blocks_dir, info.segment + 1);
    CHILD_CHECK(file_size(path) < 0);
    block_store_close(store);
    db_close(db);
    CHILD_CHECK(db_open(db_dir, &dbo, &db) == ERR_OK);
    CHILD_CHECK(block_store_open(db, blocks_dir, &options, &store) == ERR_OK);
    CHILD_CHECK(block_store_tip(store, &tip) && tip == height - 1);
    for (uint64_t h = 0; h < height; h++) {
        struct buf b;
        buf_init(&b, 40001);
        CHILD_CHECK(block_store_read(store, NULL, h, &b) == ERR_OK);
        CHILD_CHECK(b.size == payload_size_of(h, 40000));
        buf_release(&b);
    }
    /* Space comes back: the store continues at the same height. */
    CHILD_CHECK(unlink(ballast) == 0);
    CHILD_CHECK(append_height(store, db, height, 40000) == ERR_OK);
    CHILD_CHECK(block_store_tip(store, &tip) && tip == height);
    block_store_close(store);
    db_close(db);
    return 0;
}

static void
test_no_space(void **state)
{
    (void)state;
    char root[] = "/tmp/lm_test_nospace_XXXXXX";
    assert_non_null(mkdtemp(root));
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int line = no_space_child(root);
        _exit(line < 0 ? 77 : line == 0 ? 0 : 1 + line % 250);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    rmdir(root);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) {
        skip(); /* no permission to mount a tmpfs in a private namespace */
    }
    if (WEXITSTATUS(status) != 0) {
        fail_msg("no-space child failed at line (mod 250) %d", WEXITSTATUS(status) - 1);
    }
}

/* ---- the tx index (store/tx_index.h) ---- */

static struct fixture *
fixture_tx_new(uint32_t memtable, uint32_t fanin)
{
    struct fixture *f = mem_calloc(1, sizeof *f);
    snprintf(f->root, sizeof f->root, "/tmp/lm_test_bs_XXXXXX");
    assert_non_null(mkdtemp(f->root));
    fixture_paths(f);
    f->options.tx_memtable_entries = memtable;
    f->options.tx_merge_fanin = fanin;
    fixture_open(f);
    return f;
}

static void
check_txs_found(struct block_store *store, uint64_t lo, uint64_t hi)
{
    for (uint64_t height = lo; height <= hi; height++) {
        for (uint32_t i = 0; i < tx_count_of(height); i++) {
            struct hash tx;
            tx_of(height, i, &tx);
            struct block_store_tx_location loc = { 0 };
            assert_int_equal(block_store_tx_find(store, NULL, &tx, &loc), ERR_OK);
            assert_true(loc.height == height);
            assert_int_equal(loc.index, i);
        }
    }
}

static void
check_tx_absent(struct block_store *store, const struct hash *tx)
{
    struct block_store_tx_location loc = { .height = 77, .index = 7 };
    assert_int_equal(block_store_tx_find(store, NULL, tx, &loc), ERR_NOT_FOUND);
    assert_true(loc.height == 77 && loc.index == 7); /* untouched */
}

/* Run files of the store, and one of their names. */
static unsigned
run_files(const struct fixture *f, char *out_name, size_t name_size, unsigned pick)
{
    DIR *d = opendir(f->blocks_dir);
    assert_non_null(d);
    unsigned n = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "txi-", 4) != 0 || len < 8 ||
            strcmp(e->d_name + len - 4, ".run") != 0) {
            continue;
        }
        if (n == pick && out_name != NULL) {
            snprintf(out_name, name_size, "%s", e->d_name);
        }
        n++;
    }
    closedir(d);
    return n;
}

/* Appends a block with these tx hashes (payload: a few fixed bytes). */
static void
append_txs(struct fixture *f, uint64_t height, const struct hash *txs, size_t n)
{
    uint8_t payload[16] = { 'p' };
    struct block_store_block block = {
        .height = height,
        .payload = payload,
        .payload_size = sizeof payload,
        .tx_hashes = txs,
        .tx_count = n,
    };
    id_of(height, &block.id);
    struct db_txn *txn;
    assert_int_equal(db_txn_begin(f->db, true, &txn), ERR_OK);
    assert_int_equal(block_store_append(f->store, txn, &block), ERR_OK);
    assert_int_equal(block_store_commit(f->store, txn), ERR_OK);
}

/* Finds across memtable, flushes and merges, after reopen; absent hashes are absent. */
static void
test_tx_index_flush_merge_reopen(void **state)
{
    (void)state;
    struct fixture *f = fixture_tx_new(16, 2);
    const uint64_t blocks = 400;
    for (uint64_t h = 0; h < blocks; h++) {
        assert_int_equal(append_height(f->store, f->db, h, 300), ERR_OK);
        if (h % 50 == 0) {
            check_txs_found(f->store, 0, h); /* whatever the worker is doing meanwhile */
        }
    }
    assert_int_equal(block_store_tx_index_settle(f->store), ERR_OK);
    struct tx_index_stats st;
    block_store_tx_index_stats(f->store, &st);
    /* ~1,600 hashes in memtables of 16 (more while the worker is behind) */
    assert_true(st.runs_written >= 40);
    assert_true(st.runs_merged >= 30);
    assert_true(st.runs_merged + st.runs == st.runs_written); /* each merge of 2: one run less */
    assert_true(st.runs <= 12); /* merges keep lookups to a few runs */
    /* The active memtable freezes at 16 entries only when the frozen one was written, and
     * adds wait at 2 x 16; settle does not freeze it. */
    assert_true(st.memtable < 2 * 16 + TXS_PER_BLOCK_MAX);
    assert_int_equal(run_files(f, NULL, 0, 0), st.runs);
    check_txs_found(f->store, 0, blocks - 1);
    struct hash tx;
    tx_of(blocks, 0, &tx); /* not appended yet */
    check_tx_absent(f->store, &tx);
    tx_of(5, TXS_PER_BLOCK_MAX, &tx); /* never in a block */
    check_tx_absent(f->store, &tx);

    assert_int_equal(fixture_reopen(f), ERR_OK);
    block_store_tx_index_stats(f->store, &st);
    assert_true(st.rebuilt_blocks <= 16); /* only the memtable's blocks are read again */
    /* A memtable of 16+ entries at close (the worker lagged) is written once when rebuilt. */
    assert_true(st.runs_written <= 1);
    check_txs_found(f->store, 0, blocks - 1);
    check_tx_absent(f->store, &tx);
    /* It continues: more flushes and merges after the reopen. */
    for (uint64_t h = blocks; h < blocks + 100; h++) {
        assert_int_equal(append_height(f->store, f->db, h, 300), ERR_OK);
    }
    assert_int_equal(block_store_tx_index_settle(f->store), ERR_OK);
    check_txs_found(f->store, 0, blocks + 99);
    fixture_free(f);
}

/* A damaged, truncated or missing run and an unfinished one are never trusted: rebuilt. */
static void
test_tx_index_corrupt_run_rebuilt(void **state)
{
    (void)state;
    struct fixture *f = fixture_tx_new(16, 16);
    const uint64_t blocks = 600;
    /* Settled after each block, so the run layout does not depend on how far the worker
     * lagged (memtables of exactly 16..23 entries; nothing left over 16 at close). */
    for (uint64_t h = 0; h < blocks; h++) {
        assert_int_equal(append_height(f->store, f->db, h, 300), ERR_OK);
        assert_int_equal(block_store_tx_index_settle(f->store), ERR_OK);
    }
    struct tx_index_stats st;
    block_store_tx_index_stats(f->store, &st);
    assert_true(st.runs >= 6); /* each round below can cost one run (absorbed rebuilds) */
    assert_int_equal(fixture_reopen(f), ERR_OK);
    block_store_tx_index_stats(f->store, &st);
    uint64_t clean = st.rebuilt_blocks; /* the memtable's blocks: read at every open */
    block_store_close(f->store);
    f->store = NULL;

    char name[128];
    char path[300];
    /* Each kind of damage, each on its own, then all at once. */
    for (int kind = 0; kind < 5; kind++) {
        unsigned runs = run_files(f, name, sizeof name, (unsigned)kind % 3);
        assert_true(runs >= 3);
        snprintf(path, sizeof path, "%s/%s", f->blocks_dir, name);
        off_t size = file_size(path);
        if (kind == 0 || kind == 4) {
            flip_byte(path, 64 + (uint64_t)(size - 64) / 3); /* in an entry or the fanout */
        }
        if (kind == 1 || kind == 4) {
            run_files(f, name, sizeof name, 1);
            snprintf(path, sizeof path, "%s/%s", f->blocks_dir, name);
            flip_byte(path, 20); /* the header's hi */
        }
        if (kind == 2 || kind == 4) {
            run_files(f, name, sizeof name, 2);
            snprintf(path, sizeof path, "%s/%s", f->blocks_dir, name);
            assert_int_equal(truncate(path, file_size(path) - 4), 0);
        }
        if (kind == 3 || kind == 4) {
            run_files(f, name, sizeof name, 0);
            snprintf(path, sizeof path, "%s/%s", f->blocks_dir, name);
            assert_int_equal(unlink(path), 0);
            /* An unfinished run under a plausible name is removed, not read. */
            snprintf(path, sizeof path, "%s/%s.tmp", f->blocks_dir, name);
            int fd = open(path, O_CREAT | O_WRONLY, 0600);
            assert_true(fd >= 0);
            assert_int_equal(write(fd, "junk", 4), 4);
            close(fd);
        }
        assert_int_equal(fixture_reopen(f), ERR_OK);
        block_store_tx_index_stats(f->store, &st);
        assert_true(st.rebuilt_blocks > clean); /* a damaged range was read from the blocks */
        assert_true(st.runs_written > 0);
        assert_int_equal(file_size(path), kind >= 3 ? -1 : file_size(path));
        check_txs_found(f->store, 0, blocks - 1);
        struct hash tx;
        tx_of(3, TXS_PER_BLOCK_MAX, &tx);
        check_tx_absent(f->store, &tx);
        assert_int_equal(block_store_tx_index_settle(f->store), ERR_OK);
        block_store_close(f->store);
        f->store = NULL;
    }
    assert_int_equal(fixture_reopen(f), ERR_OK);
    block_store_tx_index_stats(f->store, &st);
    assert_true(st.runs_written == 0); /* repaired for good: no range left to rebuild */
    check_txs_found(f->store, 0, blocks - 1);
    fixture_free(f);
}

/* Blocks 0..blocks-1 of txs tx_of(h, 0..txs-1) are found where they are. */
static void
check_txs_found_n(struct block_store *store, uint64_t blocks, uint32_t txs)
{
    for (uint64_t h = 0; h < blocks; h++) {
        for (uint32_t i = 0; i < txs; i++) {
            struct hash tx;
            tx_of(h, i, &tx);
            struct block_store_tx_location loc = { 0 };
            assert_int_equal(block_store_tx_find(store, NULL, &tx, &loc), ERR_OK);
            assert_true(loc.height == h && loc.index == i);
        }
    }
}

/* A damaged run bigger than the list of runs can hold in memtables: open rebuilds its range
 * from the blocks and merges as it goes, instead of running out of room (CI failure of
 * crash.block_store: "reopen after kill: capacity reached"). */
static void
test_tx_index_big_gap_rebuilt(void **state)
{
    (void)state;
    enum { BLOCKS = 800, TXS = 16 };
    struct fixture *f = fixture_tx_new(8192, 2);
    f->options.no_sync = true; /* 800 blocks: no fdatasync needed to make the runs */
    assert_int_equal(fixture_reopen(f), ERR_OK);
    struct hash txs[TXS];
    for (uint64_t h = 0; h < BLOCKS; h++) {
        for (uint32_t i = 0; i < TXS; i++) {
            tx_of(h, i, &txs[i]);
        }
        append_txs(f, h, txs, TXS);
    }
    assert_int_equal(block_store_tx_index_settle(f->store), ERR_OK);
    struct tx_index_stats st;
    block_store_tx_index_stats(f->store, &st);
    assert_int_equal(st.runs, 1); /* 8,192 entries; the other 4,608 in the memtable */
    block_store_close(f->store);
    f->store = NULL;
    char name[128];
    char path[300];
    assert_int_equal(run_files(f, name, sizeof name, 0), 1);
    snprintf(path, sizeof path, "%s/%s", f->blocks_dir, name);
    assert_int_equal(unlink(path), 0);
    /* Memtables of 16 now, a block each: 800 runs, over TX_INDEX_RUNS_MAX. */
    f->options.tx_memtable_entries = 16;
    assert_int_equal(fixture_reopen(f), ERR_OK);
    block_store_tx_index_stats(f->store, &st);
    assert_true(st.rebuilt_blocks == BLOCKS);
    assert_true(st.runs_written >= BLOCKS);
    assert_true(st.runs_merged > 0);
    assert_true(st.runs <= TX_INDEX_RUNS_MAX * 3 / 4); /* merged before each run past that */
    check_txs_found_n(f->store, BLOCKS, TXS);
    /* The worker starts at ~3/4 of the list: new runs wait for merges, adds go on. */
    for (uint64_t h = BLOCKS; h < BLOCKS + 100; h++) {
        for (uint32_t i = 0; i < TXS; i++) {
            tx_of(h, i, &txs[i]);
        }
        append_txs(f, h, txs, TXS);
        block_store_tx_index_stats(f->store, &st);
        assert_true(st.runs <= TX_INDEX_RUNS_MAX * 3 / 4);
    }
    assert_int_equal(block_store_tx_index_settle(f->store), ERR_OK);
    block_store_tx_index_stats(f->store, &st);
    assert_true(st.runs <= 16);
    check_txs_found_n(f->store, BLOCKS + 100, TXS);
    fixture_free(f);
}

/* A hash in two blocks: the later wins, in memory, across a flush, a merge and a reopen.
 * A read txn older than a block does not see its txs. */
static void
test_tx_index_duplicates_and_snapshots(void **state)
{
    (void)state;
    struct fixture *f = fixture_tx_new(16, 2);
    struct hash dup;
    tx_of(999, 0, &dup);
    struct hash txs[8];
    uint64_t h = 0;
    for (; h < 40; h++) {
        for (uint32_t i = 0; i < 8; i++) {
            tx_of(h, i, &txs[i]);
        }
        if (h == 3 || h == 30) {
            txs[h % 8] = dup;
        }
        append_txs(f, h, txs, 8);
        if (h == 3 || h == 30) {
            struct block_store_tx_location loc;
            assert_int_equal(block_store_tx_find(f->store, NULL, &dup, &loc), ERR_OK);
            assert_true(loc.height == h && loc.index == h % 8);
        }
    }
    assert_int_equal(block_store_tx_index_settle(f->store), ERR_OK);
    struct block_store_tx_location loc;
    assert_int_equal(block_store_tx_find(f->store, NULL, &dup, &loc), ERR_OK);
    assert_true(loc.height == 30 && loc.index == 6);
    assert_int_equal(fixture_reopen(f), ERR_OK);
    assert_int_equal(block_store_tx_find(f->store, NULL, &dup, &loc), ERR_OK);
    assert_true(loc.height == 30 && loc.index == 6);

    struct db_txn *old;
    assert_int_equal(db_txn_begin(f->db, false, &old), ERR_OK);
    struct hash fresh;
    tx_of(h, 0, &fresh);
    append_txs(f, h, &fresh, 1);
    assert_int_equal(block_store_tx_find(f->store, old, &fresh, &loc), ERR_NOT_FOUND);
    assert_int_equal(block_store_tx_find(f->store, old, &txs[1], &loc), ERR_OK);
    db_txn_abort(old);
    assert_int_equal(block_store_tx_find(f->store, NULL, &fresh, &loc), ERR_OK);
    assert_true(loc.height == h && loc.index == 0);
    fixture_free(f);
}

/* Blocks of 200 tx hashes for test_tx_index_crowded_prefixes: in the first three, the first
 * `crowded` share a prefix (the last slot, which wraps; a quarter of the table; just before
 * its middle, a segment boundary at 4,096 slots) with tails in order or reversed. */
static void crowded_fill(struct hash (*txs)[200], uint64_t blocks, bool descending)
{
    static const uint8_t prefixes[3][2] = { { 0xff, 0xff }, { 0x40, 0x00 }, { 0x7f, 0xf0 } };
    uint32_t crowded = descending ? 200u : 40u;
    for (uint64_t h = 0; h < blocks; h++) {
        for (uint32_t i = 0; i < 200; i++) {
            if (h < 3 && i < crowded) {
                memset(txs[h][i].bytes, prefixes[h][1], HASH_SIZE);
                txs[h][i].bytes[0] = prefixes[h][0];
                store_u32(txs[h][i].bytes + HASH_SIZE - 4, descending ? 1000 - i : i);
            } else {
                tx_of(h, i, &txs[h][i]);
            }
        }
    }
}

/* Every hash of the blocks is found where it was added; an absent one is not. */
static void
crowded_check(struct fixture *f, struct hash (*txs)[200], uint64_t blocks)
{
    for (uint64_t h = 0; h < blocks; h++) {
        for (uint32_t i = 0; i < (h + 1 < blocks ? 200u : 1u); i++) {
            struct block_store_tx_location loc = { 0 };
            assert_int_equal(block_store_tx_find(f->store, NULL, &txs[h][i], &loc), ERR_OK);
            assert_true(loc.height == h && loc.index == i);
        }
    }
    struct hash absent;
    memset(absent.bytes, 0xff, HASH_SIZE);
    check_tx_absent(f->store, &absent);
}

/* Hashes sharing their leading bytes crowd the memtable's slots (its slots follow the hash
 * prefix): probes wrap past the last slot, spill across the flush's sort segments (2,048
 * slots) and meet runs out of order. 40 ascending tails per prefix stay near sorted (the
 * insertion sort); 200 descending ones make it give up to the comparison sort. Either way the
 * run written must be in order: every hash is found, after a reopen too. One segment (600
 * entries, 1,024 slots) and two (1,600 entries, 4,096 slots). */
static void
test_tx_index_crowded_prefixes(void **state)
{
    (void)state;
    for (int big = 0; big < 2; big++) {
        for (int descending = 0; descending < 2; descending++) {
            uint32_t entries = big ? 1600 : 600;
            struct fixture *f = fixture_tx_new(entries, 2);
            uint64_t blocks = entries / 200 + 1; /* one entry over: the memtable freezes */
            struct hash(*txs)[200] = mem_calloc(blocks, sizeof *txs);
            crowded_fill(txs, blocks, descending != 0);
            for (uint64_t h = 0; h < blocks; h++) {
                append_txs(f, h, txs[h], h + 1 < blocks ? 200 : 1);
            }
            assert_int_equal(block_store_tx_index_settle(f->store), ERR_OK);
            struct tx_index_stats st;
            block_store_tx_index_stats(f->store, &st);
            assert_int_equal(st.runs_written, 1);
            assert_int_equal(st.sorts_compared, descending); /* ascending: near linear */
            crowded_check(f, txs, blocks);
            assert_int_equal(fixture_reopen(f), ERR_OK); /* the run passes open's checks */
            crowded_check(f, txs, blocks);
            block_store_tx_index_stats(f->store, &st);
            assert_int_equal(st.runs, 1);
            mem_free(txs);
            fixture_free(f);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_read_reopen),
        cmocka_unit_test(test_first_height_and_too_large),
        cmocka_unit_test(test_segment_rollover),
        cmocka_unit_test(test_rollback),
        cmocka_unit_test(test_torn_tail_every_length),
        cmocka_unit_test(test_torn_first_block),
        cmocka_unit_test(test_corruption_detected),
        cmocka_unit_test(test_no_space),
        cmocka_unit_test(test_tx_index_flush_merge_reopen),
        cmocka_unit_test(test_tx_index_corrupt_run_rebuilt),
        cmocka_unit_test(test_tx_index_big_gap_rebuilt),
        cmocka_unit_test(test_tx_index_duplicates_and_snapshots),
        cmocka_unit_test(test_tx_index_crowded_prefixes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
