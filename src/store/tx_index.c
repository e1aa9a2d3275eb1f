#include "store/tx_index.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/crc32c.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/reader.h"
#include "base/thread.h"

#define RUN_MAGIC          0x58544d4cu /* "LMTX" little-endian */
#define RUN_VERSION        1u
#define RUN_FANOUT_BYTES   ((uint64_t)TX_INDEX_FANOUT * 4u)
#define RUN_ENTRIES_MAX    (1ull << 31) /* fanout counts are u32 */
#define RUN_NAME_SIZE      64
#define RUN_CANDIDATES_MAX 65536u
#define WRITE_BUF_SIZE     (1u << 20)
#define MEM_SLOTS_MIN      1024u
#define SORT_SEGMENT_SLOTS 2048u /* run_write_memtable's unit: ~1,000 entries at the usual load */
#define FANIN_MAX          16u
#define MERGE_CHECK_EVERY  65536u
/* From this many runs on, merging comes before writing another run (the worker lets the
 * frozen memtable wait, open merges in place): the list never fills while the writer adds. */
#define RUNS_HIGH (TX_INDEX_RUNS_MAX * 3u / 4u)
/* Open keeps at most this many of the runs it finds (the rest are rebuilt from the blocks),
 * so at RUNS_HIGH over a hundred runs are ones open wrote itself, adjacent: it can merge. */
#define RUNS_RECOVER_MAX (TX_INDEX_RUNS_MAX / 2u)
_Static_assert(RUNS_RECOVER_MAX + FANIN_MAX < RUNS_HIGH && RUNS_HIGH < TX_INDEX_RUNS_MAX,
               "room to merge");

_Static_assert(sizeof(struct hash) == HASH_SIZE, "hashes are contiguous");

/* One memtable slot; used == 0 marks an empty slot. */
struct mem_slot {
    uint8_t hash[HASH_SIZE];
    uint64_t height;
    uint32_t index;
    uint32_t used;
};

/* Open-addressing hash table (linear probing, load <= 3/4) of the blocks lo..hi. */
struct memtable {
    struct mem_slot *slots;
    size_t mask;
    size_t count;
    bool has_range;
    uint64_t lo;
    uint64_t hi;
};

/* An immutable run file, mapped read-only. */
struct run {
    uint64_t lo;
    uint64_t hi;
    uint64_t count;
    uint32_t level; /* 0: written from a memtable; L + 1: merged from runs of level L */
    void *map_base; /* for munmap */
    const uint8_t *map;
    size_t map_size;
    bool merging; /* an input of the merge in progress */
    char name[RUN_NAME_SIZE];
};

struct tx_index {
    char *dir;
    int dir_fd;
    uint32_t memtable_entries;
    uint32_t fanin;
    bool no_sync;

    /* lock guards everything below (the writer, readers and the worker share it). */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct memtable active;
    struct memtable *frozen; /* being written as a run by the worker, or NULL */
    struct mem_slot *spare;  /* zeroed slots of mt_slots_for(memtable_entries), or NULL */
    struct run *runs[TX_INDEX_RUNS_MAX]; /* sorted by lo; ranges disjoint */
    uint32_t run_count;
    bool stop;
    bool busy;         /* the worker is flushing or merging */
    bool flush_failed; /* the last flush failed; retried when the writer adds a block */
    enum err worker_err;
    struct tx_index_stats stats;

    pthread_t worker;
    bool worker_started;
};

/* ---- files ---- */

static enum err
err_of_errno(int errnum)
{
    return errnum == EFBIG ? ERR_NO_SPACE : err_from_errno(errnum);
}

static enum err
fd_sync(const struct tx_index *ix, int fd, bool dir)
{
    if (ix->no_sync) {
        return ERR_OK;
    }
    int rc = dir ? fsync(fd) : fdatasync(fd);
    if (rc == 0) {
        return ERR_OK;
    }
    int e = errno;
    if (e == ENOSPC || e == EDQUOT) {
        return ERR_NO_SPACE;
    }
    /* A failed sync is not retried (STYLE.md 2.5): the page cache state is unknown. */
    fatal("tx index: fsync failed dir=%s errno=%d %s", ix->dir, e, strerror(e));
}

static enum err
pwrite_all(int fd, const uint8_t *data, size_t size, uint64_t offset)
{
    while (size > 0) {
        ssize_t n = pwrite(fd, data, size, (off_t)offset);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return err_of_errno(errno);
        }
        data += n;
        size -= (size_t)n;
        offset += (uint64_t)n;
    }
    return ERR_OK;
}

static void
run_name(uint64_t lo, uint64_t hi, char out[RUN_NAME_SIZE])
{
    int n = snprintf(out, RUN_NAME_SIZE, "txi-%020" PRIu64 "-%020" PRIu64 ".run", lo, hi);
    ASSERT(n > 0 && n < RUN_NAME_SIZE);
}

static bool
digits_parse(const char *p, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 20; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return false;
        }
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* "txi-<20 digits>-<20 digits>.run" */
static bool
run_name_parse(const char *name, uint64_t *out_lo, uint64_t *out_hi)
{
    if (strlen(name) != 49 || strncmp(name, "txi-", 4) != 0 || name[24] != '-' ||
        strcmp(name + 45, ".run") != 0) {
        return false;
    }
    return digits_parse(name + 4, out_lo) && digits_parse(name + 25, out_hi);
}

static void
path_of(const struct tx_index *ix, const char *name, const char *suffix, char out[PATH_MAX])
{
    int n = snprintf(out, PATH_MAX, "%s/%s%s", ix->dir, name, suffix);
    ASSERT(n > 0 && n < PATH_MAX); /* checked at open for the longest name */
}

/* ---- memtable ---- */

/* Slots for `entries` entries at load <= 3/4: a power of two, at least MEM_SLOTS_MIN. */
static size_t
mt_slots_for(size_t entries)
{
    size_t size = MEM_SLOTS_MIN;
    while (size * 3 < entries * 4) {
        size *= 2;
    }
    return size;
}

/* An empty memtable sized for the index's memtable_entries, on the spare slots a flushed
 * memtable left when there are some: a new table of that size (25 MB at the default) is
 * fresh memory, a page fault and a zeroed page per 4 KiB on first touch, and growing to it
 * by doubling rehashes and faults in twice that (~1.5 % of a devnet's CPU at full load,
 * bench/README.md "Session 10"). Called with the lock held, or before the worker starts. */
static void
mt_init(struct tx_index *ix, struct memtable *m)
{
    size_t size = mt_slots_for(ix->memtable_entries);
    m->slots = ix->spare != NULL ? ix->spare : mem_calloc(size, sizeof *m->slots);
    ix->spare = NULL;
    m->mask = size - 1;
    m->count = 0;
    m->has_range = false;
    m->lo = 0;
    m->hi = 0;
}

static void
mt_release(struct memtable *m)
{
    mem_free(m->slots);
    m->slots = NULL;
}

/* Releases a memtable no reader can see any more, keeping its slots, zeroed, as the spare when
 * they have the index's size (a table that grew past it is freed). Takes the lock. */
static void
mt_recycle(struct tx_index *ix, struct memtable *m)
{
    size_t size = mt_slots_for(ix->memtable_entries);
    if (m->mask + 1 == size) {
        memset(m->slots, 0, size * sizeof *m->slots);
        pthread_mutex_lock(&ix->lock);
        if (ix->spare == NULL) {
            ix->spare = m->slots;
            m->slots = NULL;
        }
        pthread_mutex_unlock(&ix->lock);
    }
    mt_release(m);
}

static size_t
mt_home(const struct memtable *m, const uint8_t *hash)
{
    /* The hash's leading bits (tx hashes are uniform): slots are in hash order but for the
     * local shuffles of linear probing and the wrap at the end, so a flush sorts the table in
     * about linear time (run_write_memtable) rather than with a comparison sort. */
    uint64_t prefix = 0;
    for (size_t i = 0; i < 8; i++) {
        prefix = (prefix << 8) | hash[i];
    }
    unsigned bits = (unsigned)__builtin_ctzll((unsigned long long)m->mask + 1u);
    return (size_t)(prefix >> (64u - bits));
}

static struct mem_slot *
mt_probe(const struct memtable *m, const uint8_t *hash)
{
    size_t i = mt_home(m, hash);
    while (m->slots[i].used != 0 && memcmp(m->slots[i].hash, hash, HASH_SIZE) != 0) {
        i = (i + 1) & m->mask;
    }
    return &m->slots[i];
}

static void
mt_grow(struct memtable *m)
{
    struct mem_slot *old = m->slots;
    size_t old_size = m->mask + 1;
    m->slots = mem_calloc(old_size * 2, sizeof *m->slots);
    m->mask = old_size * 2 - 1;
    for (size_t i = 0; i < old_size; i++) {
        if (old[i].used != 0) {
            *mt_probe(m, old[i].hash) = old[i];
        }
    }
    mem_free(old);
}

static void
mt_put(struct memtable *m, const uint8_t *hash, uint64_t height, uint32_t index)
{
    if ((m->count + 1) * 4 > (m->mask + 1) * 3) {
        mt_grow(m);
    }
    struct mem_slot *slot = mt_probe(m, hash);
    if (slot->used == 0) {
        memcpy(slot->hash, hash, HASH_SIZE);
        slot->used = 1;
        m->count++;
    }
    slot->height = height;
    slot->index = index;
}

static void
mt_add_block(struct memtable *m, uint64_t height, const struct hash *hashes, size_t count)
{
    if (!m->has_range) {
        m->has_range = true;
        m->lo = height;
    }
    ASSERT(height >= m->lo && (height == m->lo || height > m->hi));
    m->hi = height;
    for (size_t i = 0; i < count; i++) {
        mt_put(m, hashes[i].bytes, height, (uint32_t)i);
    }
}

static bool
mt_get(const struct memtable *m, const uint8_t *hash, uint64_t *out_height, uint32_t *out_index)
{
    const struct mem_slot *slot = mt_probe(m, hash);
    if (slot->used == 0) {
        return false;
    }
    *out_height = slot->height;
    *out_index = slot->index;
    return true;
}

static int
slot_compare(const void *a, const void *b)
{
    return memcmp(((const struct mem_slot *)a)->hash, ((const struct mem_slot *)b)->hash,
                  HASH_SIZE);
}

/* ---- runs ---- */

static const uint8_t *
run_entry(const struct run *r, uint64_t i)
{
    return r->map + TX_INDEX_RUN_HEADER + i * TX_INDEX_ENTRY_SIZE;
}

static uint32_t
run_fanout(const struct run *r, uint32_t p)
{
    return load_u32(r->map + TX_INDEX_RUN_HEADER + r->count * TX_INDEX_ENTRY_SIZE +
                    (uint64_t)4 * p);
}

static bool
run_find(const struct run *r, const uint8_t *hash, uint64_t *out_height, uint32_t *out_index)
{
    uint32_t p = (uint32_t)hash[0] << 8 | hash[1];
    uint64_t lo = p == 0 ? 0 : run_fanout(r, p - 1);
    uint64_t hi = run_fanout(r, p);
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        const uint8_t *e = run_entry(r, mid);
        int c = memcmp(e, hash, HASH_SIZE);
        if (c == 0) {
            *out_height = load_u64(e + HASH_SIZE);
            *out_index = load_u32(e + HASH_SIZE + 8);
            return true;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

static void
run_free(struct run *r)
{
    if (r == NULL) {
        return;
    }
    if (r->map_base != NULL) {
        munmap(r->map_base, r->map_size);
    }
    mem_free(r);
}

static void
run_header_encode(uint8_t h[TX_INDEX_RUN_HEADER], uint64_t lo, uint64_t hi, uint64_t count,
                  uint32_t level, uint32_t body_crc)
{
    memset(h, 0, TX_INDEX_RUN_HEADER);
    store_u32(h, RUN_MAGIC);
    store_u32(h + 4, RUN_VERSION);
    store_u64(h + 8, lo);
    store_u64(h + 16, hi);
    store_u64(h + 24, count);
    store_u32(h + 32, body_crc);
    store_u32(h + 36, level);
    store_u32(h + 60, crc32c(h, 60));
}

/* Maps run file `name` and checks it; with verify also its body checksum and fanout.
 * ERR_CORRUPT for anything that is not a well-formed run of its name's range. */
static enum err
run_load(const struct tx_index *ix, const char *name, bool verify, struct run **out)
{
    uint64_t lo;
    uint64_t hi;
    if (!run_name_parse(name, &lo, &hi) || lo > hi) {
        return ERR_CORRUPT;
    }
    char path[PATH_MAX];
    path_of(ix, name, "", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? ERR_CORRUPT : err_of_errno(errno);
    }
    struct stat st;
    enum err rc = fstat(fd, &st) == 0 ? ERR_OK : err_of_errno(errno);
    uint64_t size = rc == ERR_OK ? (uint64_t)st.st_size : 0;
    if (rc == ERR_OK && (size < TX_INDEX_RUN_HEADER + RUN_FANOUT_BYTES || size > SIZE_MAX)) {
        rc = ERR_CORRUPT;
    }
    void *map = MAP_FAILED;
    if (rc == ERR_OK) {
        map = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
        rc = map != MAP_FAILED ? ERR_OK : err_of_errno(errno);
    }
    close(fd);
    if (rc != ERR_OK) {
        return rc;
    }
    struct run *r = mem_calloc(1, sizeof *r);
    r->map_base = map;
    r->map = map;
    r->map_size = (size_t)size;
    r->lo = lo;
    r->hi = hi;
    memcpy(r->name, name, strlen(name) + 1);
    const uint8_t *h = r->map;
    r->count = load_u64(h + 24);
    r->level = load_u32(h + 36);
    bool ok = load_u32(h) == RUN_MAGIC && load_u32(h + 4) == RUN_VERSION &&
              load_u32(h + 60) == crc32c(h, 60) && load_u64(h + 8) == lo &&
              load_u64(h + 16) == hi && r->count <= RUN_ENTRIES_MAX &&
              size == TX_INDEX_RUN_HEADER + r->count * TX_INDEX_ENTRY_SIZE + RUN_FANOUT_BYTES;
    if (ok && verify) {
        ok =
            crc32c(h + TX_INDEX_RUN_HEADER, (size_t)size - TX_INDEX_RUN_HEADER) == load_u32(h + 32);
        uint32_t prev = 0;
        for (uint32_t p = 0; ok && p < TX_INDEX_FANOUT; p++) {
            uint32_t f = run_fanout(r, p);
            ok = f >= prev && f <= r->count;
            prev = f;
        }
        ok = ok && prev == r->count;
    }
    if (!ok) {
        run_free(r);
        return ERR_CORRUPT;
    }
    *out = r;
    return ERR_OK;
}

/* Streams sorted entries into a .tmp file; run_writer_finish makes it a run. */
struct run_writer {
    int fd;
    uint64_t lo;
    uint64_t hi;
    uint32_t level;
    char name[RUN_NAME_SIZE];
    uint8_t *buf;
    size_t used;
    uint64_t offset;
    uint32_t crc;
    uint32_t *fanout; /* counts per prefix, summed at finish */
    uint64_t count;
    uint8_t last[HASH_SIZE];
};

static enum err
run_writer_begin(const struct tx_index *ix, uint64_t lo, uint64_t hi, uint32_t level,
                 struct run_writer *w)
{
    *w = (struct run_writer){
        .fd = -1, .lo = lo, .hi = hi, .level = level, .offset = TX_INDEX_RUN_HEADER
    };
    run_name(lo, hi, w->name);
    char path[PATH_MAX];
    path_of(ix, w->name, ".tmp", path);
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (w->fd < 0) {
        return err_of_errno(errno);
    }
    w->buf = mem_alloc(WRITE_BUF_SIZE);
    w->fanout = mem_calloc(TX_INDEX_FANOUT, sizeof *w->fanout);
    return ERR_OK;
}

static enum err
run_writer_drain(struct run_writer *w)
{
    enum err rc = pwrite_all(w->fd, w->buf, w->used, w->offset);
    w->crc = crc32c_extend(w->crc, w->buf, w->used);
    w->offset += w->used;
    w->used = 0;
    return rc;
}

static enum err
run_writer_put(struct run_writer *w, const uint8_t *hash, uint64_t height, uint32_t index)
{
    ASSERT(w->count == 0 || memcmp(w->last, hash, HASH_SIZE) < 0);
    enum err rc = ERR_OK;
    if (WRITE_BUF_SIZE - w->used < TX_INDEX_ENTRY_SIZE) {
        rc = run_writer_drain(w);
    }
    uint8_t *e = w->buf + w->used;
    memcpy(e, hash, HASH_SIZE);
    store_u64(e + HASH_SIZE, height);
    store_u32(e + HASH_SIZE + 8, index);
    w->used += TX_INDEX_ENTRY_SIZE;
    w->fanout[(uint32_t)hash[0] << 8 | hash[1]]++;
    memcpy(w->last, hash, HASH_SIZE);
    w->count++;
    return rc;
}

static void
run_writer_abort(const struct tx_index *ix, struct run_writer *w)
{
    if (w->fd >= 0) {
        close(w->fd);
        char path[PATH_MAX];
        path_of(ix, w->name, ".tmp", path);
        unlink(path);
    }
    mem_free(w->buf);
    mem_free(w->fanout);
    w->fd = -1;
}

/* Writes fanout and header, syncs, renames, syncs the directory, maps the run. */
static enum err
run_writer_finish(struct tx_index *ix, struct run_writer *w, struct run **out)
{
    enum err rc = ERR_OK;
    uint32_t sum = 0;
    for (uint32_t p = 0; rc == ERR_OK && p < TX_INDEX_FANOUT; p++) {
        if (WRITE_BUF_SIZE - w->used < 4) {
            rc = run_writer_drain(w);
        }
        sum += w->fanout[p];
        store_u32(w->buf + w->used, sum);
        w->used += 4;
    }
    if (rc == ERR_OK) {
        rc = run_writer_drain(w);
    }
    uint8_t h[TX_INDEX_RUN_HEADER];
    run_header_encode(h, w->lo, w->hi, w->count, w->level, w->crc);
    if (rc == ERR_OK) {
        rc = pwrite_all(w->fd, h, sizeof h, 0);
    }
    if (rc == ERR_OK) {
        rc = fd_sync(ix, w->fd, false);
    }
    char tmp[PATH_MAX];
    char final[PATH_MAX];
    path_of(ix, w->name, ".tmp", tmp);
    path_of(ix, w->name, "", final);
    if (rc == ERR_OK && rename(tmp, final) != 0) {
        rc = err_of_errno(errno);
    }
    if (rc == ERR_OK) {
        rc = fd_sync(ix, ix->dir_fd, true);
    }
    if (rc != ERR_OK) {
        run_writer_abort(ix, w);
        return rc;
    }
    uint64_t bytes = w->offset;
    close(w->fd);
    w->fd = -1;
    run_writer_abort(ix, w); /* frees the buffers */
    rc = run_load(ix, w->name, false, out);
    if (rc == ERR_OK) {
        pthread_mutex_lock(&ix->lock);
        ix->stats.bytes_written += bytes;
        pthread_mutex_unlock(&ix->lock);
    }
    return rc;
}

/* Sorts entries by hash: an insertion sort, as a segment's entries are nearly in order, bounded
 * because entries crafted to share long prefixes would make it quadratic: past 8 moves per
 * entry the comparison sort finishes the job (returns true then). */
static bool
slots_sort(struct mem_slot *e, size_t n)
{
    size_t moves = 0;
    for (size_t i = 1; i < n && moves <= 8 * n; i++) {
        struct mem_slot cur = e[i];
        size_t j = i;
        while (j > 0 && memcmp(e[j - 1].hash, cur.hash, HASH_SIZE) > 0) {
            e[j] = e[j - 1];
            j--;
            moves++;
        }
        e[j] = cur;
    }
    if (moves <= 8 * n) {
        return false;
    }
    qsort(e, n, sizeof *e, slot_compare);
    return true;
}

/* The entries of homes [a, a + seg) into *buf (grown as needed), in slot order; their count.
 * An entry sits at its home or, pushed on by probing, further on with only used slots
 * between, possibly wrapping past the last slot; so they are in the slots from a to the
 * first empty slot at or after a + seg (which exists: the load is <= 3/4; past the last slot
 * the scan goes on at slot 0), among entries of neighbouring homes, which are skipped. */
static size_t
segment_gather(const struct memtable *m, size_t a, size_t seg, struct mem_slot **buf, size_t *cap)
{
    size_t n = 0;
    size_t end = seg + m->mask + 1;
    for (size_t k = 0; k < end; k++) {
        size_t i = (a + k) & m->mask;
        const struct mem_slot *slot = &m->slots[i];
        if (slot->used == 0) {
            end = k < seg ? end : k; /* past the segment: the first empty slot ends it */
            continue;
        }
        /* Ours if its home is in the segment and it is met at its probe distance from the
         * home: a wrapped entry of the last homes seen at the start is taken when the scan
         * comes round to it. */
        size_t home = mt_home(m, slot->hash);
        if (home < a || home >= a + seg || a + k != home + ((i - home) & m->mask)) {
            continue;
        }
        if (n == *cap) {
            *cap *= 2;
            *buf = mem_realloc(*buf, *cap * sizeof **buf);
        }
        (*buf)[n++] = *slot;
    }
    return n;
}

/* Writes a memtable (not modified; the caller keeps readers off it only for writing) as
 * run lo..hi. The slots follow the hash prefix (mt_home), so the entries come out in hash
 * order segment by segment of homes, each gathered into a small buffer and sorted there: no
 * copy of the whole table (a fresh allocation of ~12 MB at the default size, a page fault per
 * 4 KiB) and no comparison sort of it. */
static enum err
run_write_memtable(struct tx_index *ix, const struct memtable *m, struct run **out)
{
    ASSERT(m->has_range);
    size_t size = m->mask + 1;
    size_t seg = size < SORT_SEGMENT_SLOTS ? size : SORT_SEGMENT_SLOTS;
    size_t cap = seg;
    struct mem_slot *buf = mem_calloc(cap, sizeof *buf);
    size_t total = 0;
    bool compared = false;
    struct run_writer w;
    enum err rc = run_writer_begin(ix, m->lo, m->hi, 0, &w);
    for (size_t a = 0; rc == ERR_OK && a < size; a += seg) {
        size_t n = segment_gather(m, a, seg, &buf, &cap);
        compared = slots_sort(buf, n) || compared;
        for (size_t i = 0; rc == ERR_OK && i < n; i++) {
            rc = run_writer_put(&w, buf[i].hash, buf[i].height, buf[i].index);
        }
        total += n;
    }
    mem_free(buf);
    ASSERT(rc != ERR_OK || total == m->count); /* a recycled table was zeroed (mt_recycle) */
    if (compared) {
        pthread_mutex_lock(&ix->lock);
        ix->stats.sorts_compared++;
        pthread_mutex_unlock(&ix->lock);
    }
    if (rc == ERR_OK) {
        return run_writer_finish(ix, &w, out);
    }
    run_writer_abort(ix, &w);
    return rc;
}

/* Under lock: inserts r in lo order. */
static enum err
runs_insert(struct tx_index *ix, struct run *r)
{
    if (ix->run_count == TX_INDEX_RUNS_MAX) {
        return ERR_FULL;
    }
    uint32_t at = ix->run_count;
    while (at > 0 && ix->runs[at - 1]->lo > r->lo) {
        ix->runs[at] = ix->runs[at - 1];
        at--;
    }
    ix->runs[at] = r;
    ix->run_count++;
    return ERR_OK;
}

static void
run_remove_file(const struct tx_index *ix, const char *name, const char *why)
{
    log_notice(LOG_STORE, "tx index: removing run dir=%s name=%s reason=%s", ix->dir, name, why);
    if (unlinkat(ix->dir_fd, name, 0) != 0 && errno != ENOENT) {
        log_warn(LOG_STORE, "tx index: cannot remove run dir=%s name=%s errno=%d", ix->dir, name,
                 errno);
    }
}

/* ---- worker ---- */

static bool
mergeable(const struct run *older, const struct run *newer)
{
    return !older->merging && !newer->merging && older->hi + 1 == newer->lo;
}

/* Under lock: the newest two adjacent runs, whatever their levels (the result takes the
 * higher one); 0 if none can merge. */
static uint32_t
merge_pick_pair(const struct tx_index *ix, struct run **inputs, uint32_t *out_level)
{
    for (uint32_t i = ix->run_count; i >= 2; i--) {
        struct run *a = ix->runs[i - 2];
        struct run *b = ix->runs[i - 1];
        if (mergeable(a, b) && a->count + b->count <= RUN_ENTRIES_MAX) {
            inputs[0] = a;
            inputs[1] = b;
            *out_level = a->level > b->level ? a->level : b->level;
            return 2;
        }
    }
    return 0;
}

/* Under lock: what to merge next, oldest first, and the level of the result; 0 if nothing.
 * Levels work as a base-fanin counter: fanin adjacent runs of level L become one of L + 1,
 * so levels never increase towards newer runs and there are at most fanin - 1 runs per
 * level. A run of a lower level before a higher one (rebuilt at open in the middle of the
 * chain) is merged into its newer neighbour. At RUNS_HIGH runs or more, with nothing of that
 * kind, the newest two adjacent runs (worker, open and settle all see the same choice). */
static uint32_t
merge_pick(const struct tx_index *ix, struct run **inputs, uint32_t *out_level)
{
    for (uint32_t i = 0; i + 1 < ix->run_count; i++) {
        struct run *a = ix->runs[i];
        struct run *b = ix->runs[i + 1];
        if (a->level < b->level && mergeable(a, b) && a->count + b->count <= RUN_ENTRIES_MAX) {
            inputs[0] = a;
            inputs[1] = b;
            *out_level = b->level;
            return 2;
        }
    }
    uint32_t k = ix->fanin;
    for (uint32_t end = ix->run_count; end >= k; end--) {
        uint32_t start = end - k;
        uint32_t level = ix->runs[start]->level;
        uint64_t total = ix->runs[start]->count;
        bool ok = !ix->runs[start]->merging;
        for (uint32_t i = start + 1; ok && i < end; i++) {
            total += ix->runs[i]->count;
            ok = ix->runs[i]->level == level && mergeable(ix->runs[i - 1], ix->runs[i]);
        }
        if (ok && total <= RUN_ENTRIES_MAX) {
            for (uint32_t i = 0; i < k; i++) {
                inputs[i] = ix->runs[start + i];
            }
            *out_level = level + 1;
            return k;
        }
    }
    /* From RUNS_HIGH on, any two adjacent runs rather than none: the list must not fill. */
    return ix->run_count >= RUNS_HIGH ? merge_pick_pair(ix, inputs, out_level) : 0;
}

/* Writes the frozen memtable as a run and installs it (worker; called without lock). */
static void
worker_flush(struct tx_index *ix)
{
    pthread_mutex_lock(&ix->lock);
    struct memtable *f = ix->frozen;
    bool skip = f == NULL || ix->flush_failed || ix->stop;
    pthread_mutex_unlock(&ix->lock);
    if (skip) {
        return;
    }
    /* Only the worker frees the frozen memtable; the writer and readers only read it. */
    struct run *r = NULL;
    enum err rc = run_write_memtable(ix, f, &r);
    pthread_mutex_lock(&ix->lock);
    if (rc == ERR_OK) {
        rc = runs_insert(ix, r);
        if (rc != ERR_OK) {
            run_free(r);
        }
    }
    if (rc == ERR_OK) {
        ix->frozen = NULL;
        ix->stats.runs_written++;
    } else {
        ix->flush_failed = true;
        ix->worker_err = rc;
    }
    pthread_cond_broadcast(&ix->cond);
    pthread_mutex_unlock(&ix->lock);
    if (rc == ERR_OK) {
        mt_recycle(ix, f);
        mem_free(f);
    } else {
        log_error(LOG_STORE,
                  "tx index: cannot write run dir=%s lo=%" PRIu64 " hi=%" PRIu64 " err=%s", ix->dir,
                  f->lo, f->hi, err_str(rc));
    }
}

/* The smallest hash at the inputs' positions, advancing past it in every input; of equal
 * hashes the newest input's entry. NULL when all are done. */
static const uint8_t *
merge_next(struct run *const *inputs, uint32_t n, uint64_t *pos)
{
    int best = -1;
    for (uint32_t i = 0; i < n; i++) {
        if (pos[i] < inputs[i]->count &&
            (best < 0 || memcmp(run_entry(inputs[i], pos[i]), run_entry(inputs[best], pos[best]),
                                HASH_SIZE) <= 0)) {
            best = (int)i; /* ties: the later (newer) input wins */
        }
    }
    if (best < 0) {
        return NULL;
    }
    const uint8_t *e = run_entry(inputs[best], pos[best]);
    for (uint32_t i = 0; i < n; i++) {
        bool same =
            pos[i] < inputs[i]->count && memcmp(run_entry(inputs[i], pos[i]), e, HASH_SIZE) == 0;
        pos[i] += same ? 1 : 0; /* includes best */
    }
    return e;
}

/* Now and then during a merge: a frozen memtable does not wait for it (unless the list is at
 * RUNS_HIGH, when the merge must finish first); close stops it. */
static enum err
merge_pause(struct tx_index *ix)
{
    pthread_mutex_lock(&ix->lock);
    bool room = ix->run_count < RUNS_HIGH;
    pthread_mutex_unlock(&ix->lock);
    if (room) {
        worker_flush(ix);
    }
    pthread_mutex_lock(&ix->lock);
    bool stop = ix->stop;
    pthread_mutex_unlock(&ix->lock);
    return stop ? ERR_CLOSED : ERR_OK;
}

/* After a merge: replaces the inputs by out in the run list (out NULL: the merge failed and
 * the inputs stay). */
static void
merge_install(struct tx_index *ix, struct run *const *inputs, uint32_t n, struct run *out)
{
    pthread_mutex_lock(&ix->lock);
    uint32_t at = 0;
    while (at < ix->run_count && ix->runs[at] != inputs[0]) {
        at++;
    }
    ASSERT(at + n <= ix->run_count && ix->runs[at + n - 1] == inputs[n - 1]);
    for (uint32_t i = 0; i < n; i++) {
        inputs[i]->merging = false;
    }
    if (out != NULL) {
        ix->runs[at] = out;
        for (uint32_t i = at + 1; i + n - 1 < ix->run_count; i++) {
            ix->runs[i] = ix->runs[i + n - 1];
        }
        ix->run_count -= n - 1;
        ix->stats.runs_merged++;
    }
    pthread_mutex_unlock(&ix->lock);
}

static void
run_unlink(const struct tx_index *ix, const char *name)
{
    if (unlinkat(ix->dir_fd, name, 0) != 0) {
        log_warn(LOG_STORE, "tx index: cannot remove merged run name=%s errno=%d", name, errno);
    }
}

/* Removes merged runs (no longer in the list: readers hold the lock while they use a run). */
static void
runs_delete(const struct tx_index *ix, struct run *const *runs, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        run_unlink(ix, runs[i]->name);
        run_free(runs[i]);
    }
}

/* Merges inputs (adjacent, oldest first) into one run; newer entries win duplicates. */
static enum err
merge_runs(struct tx_index *ix, struct run *const *inputs, uint32_t n, uint32_t level)
{
    uint64_t pos[FANIN_MAX] = { 0 };
    struct run_writer w;
    enum err rc = run_writer_begin(ix, inputs[0]->lo, inputs[n - 1]->hi, level, &w);
    uint64_t written = 0;
    const uint8_t *e;
    while (rc == ERR_OK && (e = merge_next(inputs, n, pos)) != NULL) {
        rc = run_writer_put(&w, e, load_u64(e + HASH_SIZE), load_u32(e + HASH_SIZE + 8));
        if (rc == ERR_OK && ++written % MERGE_CHECK_EVERY == 0) {
            rc = merge_pause(ix);
        }
    }
    struct run *out = NULL;
    if (rc == ERR_OK) {
        rc = run_writer_finish(ix, &w, &out);
    } else {
        run_writer_abort(ix, &w);
    }
    merge_install(ix, inputs, n, rc == ERR_OK ? out : NULL);
    if (rc == ERR_OK) {
        runs_delete(ix, inputs, n);
    } else if (rc != ERR_CLOSED) {
        log_error(LOG_STORE, "tx index: merge failed dir=%s lo=%" PRIu64 " hi=%" PRIu64 " err=%s",
                  ix->dir, inputs[0]->lo, inputs[n - 1]->hi, err_str(rc));
    }
    return rc;
}

static void *
worker_main(void *arg)
{
    struct tx_index *ix = arg;
    thread_set_name("lm-txindex");
    pthread_mutex_lock(&ix->lock);
    while (!ix->stop) {
        struct run *inputs[FANIN_MAX];
        uint32_t level = 0;
        uint32_t n = ix->worker_err == ERR_OK ? merge_pick(ix, inputs, &level) : 0;
        /* A frozen memtable goes first, unless the list is at RUNS_HIGH and a merge can
         * shorten it (the writer then waits in reserve, at twice the memtable). */
        if (ix->frozen != NULL && !ix->flush_failed && (ix->run_count < RUNS_HIGH || n == 0)) {
            ix->busy = true;
            pthread_mutex_unlock(&ix->lock);
            worker_flush(ix);
            pthread_mutex_lock(&ix->lock);
            continue;
        }
        if (n > 0) {
            for (uint32_t i = 0; i < n; i++) {
                inputs[i]->merging = true;
            }
            ix->busy = true;
            pthread_mutex_unlock(&ix->lock);
            enum err rc = merge_runs(ix, inputs, n, level);
            pthread_mutex_lock(&ix->lock);
            if (rc != ERR_OK && rc != ERR_CLOSED) {
                ix->worker_err = rc;
            }
            continue;
        }
        if (ix->spare == NULL) {
            /* Idle: the next memtable's slots, touched here so that the freeze (on the
             * writer's thread, a block's commit) takes them without a page fault per 4 KiB
             * (~10 us each on a VM; 6,400 of them at the default size). */
            ix->busy = true;
            pthread_mutex_unlock(&ix->lock);
            size_t size = mt_slots_for(ix->memtable_entries);
            struct mem_slot *spare = mem_alloc(size * sizeof *spare);
            memset(spare, 0, size * sizeof *spare);
            pthread_mutex_lock(&ix->lock);
            if (ix->spare == NULL) {
                ix->spare = spare;
                spare = NULL;
            }
            mem_free(spare);
            continue;
        }
        ix->busy = false;
        pthread_cond_broadcast(&ix->cond);
        pthread_cond_wait(&ix->cond, &ix->lock);
    }
    ix->busy = false;
    pthread_cond_broadcast(&ix->cond);
    pthread_mutex_unlock(&ix->lock);
    return NULL;
}

/* ---- open ---- */

/* At open (no worker yet): merges in place until the list is below RUNS_HIGH. */
static enum err
runs_compact(struct tx_index *ix)
{
    enum err rc = ERR_OK;
    while (rc == ERR_OK && ix->run_count >= RUNS_HIGH) {
        struct run *inputs[FANIN_MAX];
        uint32_t level = 0;
        uint32_t n = merge_pick(ix, inputs, &level);
        if (n == 0) {
            return ERR_FULL; /* cannot happen: see RUNS_RECOVER_MAX */
        }
        for (uint32_t i = 0; i < n; i++) {
            inputs[i]->merging = true;
        }
        rc = merge_runs(ix, inputs, n, level);
    }
    return rc;
}

/* At open (no worker yet): writes the active memtable as a run and empties it. */
static enum err
active_flush(struct tx_index *ix)
{
    struct run *r = NULL;
    enum err rc = runs_compact(ix);
    if (rc == ERR_OK) {
        rc = run_write_memtable(ix, &ix->active, &r);
    }
    if (rc == ERR_OK) {
        rc = runs_insert(ix, r);
        if (rc != ERR_OK) {
            run_free(r);
        }
    }
    if (rc == ERR_OK) {
        ix->stats.runs_written++;
        mt_recycle(ix, &ix->active);
        mt_init(ix, &ix->active);
    }
    return rc;
}

/* At open (no worker yet): the blocks a..b into the memtable, writing a run whenever it is
 * full and, with final, for the rest. */
static enum err
ingest(struct tx_index *ix, uint64_t a, uint64_t b, bool final, const struct tx_index_source *src)
{
    struct buf hashes;
    buf_init(&hashes, (size_t)HASH_SIZE * TX_INDEX_BLOCK_TXS_MAX);
    enum err rc = ERR_OK;
    for (uint64_t h = a; rc == ERR_OK; h++) {
        buf_reset(&hashes);
        rc = src->read(src->ctx, h, &hashes);
        if (rc == ERR_OK && hashes.size % HASH_SIZE != 0) {
            rc = ERR_CORRUPT;
        }
        if (rc != ERR_OK) {
            break;
        }
        /* struct hash is HASH_SIZE bytes, alignment 1: the buffer is an array of them */
        mt_add_block(&ix->active, h, (const struct hash *)(const void *)hashes.data,
                     hashes.size / HASH_SIZE);
        ix->stats.rebuilt_blocks++;
        if (ix->active.count >= ix->memtable_entries || (final && h == b)) {
            rc = active_flush(ix);
        }
        if (h == b) {
            break;
        }
    }
    buf_release(&hashes);
    return rc;
}

struct run_ref {
    struct run *r;
};

static int
run_order(const void *a, const void *b)
{
    const struct run *x = ((const struct run_ref *)a)->r;
    const struct run *y = ((const struct run_ref *)b)->r;
    if (x->lo != y->lo) {
        return x->lo < y->lo ? -1 : 1;
    }
    return (x->hi < y->hi) - (x->hi > y->hi); /* bigger first */
}

/* Verifies every run file, keeps a disjoint set, removes the rest and leftovers. */
static enum err
runs_recover(struct tx_index *ix, bool has_blocks, uint64_t first, uint64_t tip)
{
    DIR *d = opendir(ix->dir);
    if (d == NULL) {
        return err_of_errno(errno);
    }
    struct run_ref *found = NULL;
    size_t found_count = 0;
    enum err rc = ERR_OK;
    const struct dirent *e;
    while (rc == ERR_OK && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "txi-", 4) != 0) {
            continue;
        }
        if (len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0) {
            run_remove_file(ix, e->d_name, "unfinished");
            continue;
        }
        struct run *r = NULL;
        enum err lr = run_load(ix, e->d_name, true, &r);
        if (lr == ERR_CORRUPT) {
            run_remove_file(ix, e->d_name, "corrupt");
            continue;
        }
        if (lr != ERR_OK || r == NULL) {
            rc = lr;
            break;
        }
        if (!has_blocks || r->lo < first || r->hi > tip || found_count == RUN_CANDIDATES_MAX) {
            run_remove_file(ix, e->d_name, "outside the blocks");
            run_free(r);
            continue;
        }
        found = mem_realloc(found, (found_count + 1) * sizeof *found);
        found[found_count++].r = r;
    }
    closedir(d);
    if (found_count > 0) {
        qsort(found, found_count, sizeof *found, run_order);
    }
    for (size_t i = 0; i < found_count; i++) {
        struct run *r = found[i].r;
        bool disjoint = ix->run_count == 0 || r->lo > ix->runs[ix->run_count - 1]->hi;
        if (rc == ERR_OK && disjoint && ix->run_count < RUNS_RECOVER_MAX) {
            ix->runs[ix->run_count++] = r;
            continue;
        }
        if (rc == ERR_OK) {
            run_remove_file(ix, r->name,
                            disjoint ? "more runs than open keeps" : "covered by another run");
        }
        run_free(r);
    }
    mem_free(found);
    if (rc == ERR_OK) {
        rc = fd_sync(ix, ix->dir_fd, true);
    }
    return rc;
}

/* Rebuilds the heights first..tip that no run covers: gaps as runs, the rest in memory. */
static enum err
index_rebuild(struct tx_index *ix, const struct tx_index_source *src)
{
    uint64_t first = src->first;
    uint64_t tip = src->tip;
    uint64_t gap_lo[TX_INDEX_RUNS_MAX];
    uint64_t gap_hi[TX_INDEX_RUNS_MAX];
    uint32_t gaps = 0;
    uint64_t h = first;
    for (uint32_t i = 0; i < ix->run_count; i++) {
        if (ix->runs[i]->lo > h) {
            gap_lo[gaps] = h;
            gap_hi[gaps] = ix->runs[i]->lo - 1;
            gaps++;
        }
        h = ix->runs[i]->hi + 1;
    }
    enum err rc = ERR_OK;
    for (uint32_t g = 0; rc == ERR_OK && g < gaps; g++) {
        log_notice(LOG_STORE,
                   "tx index: rebuilding a run from the blocks dir=%s lo=%" PRIu64 " hi=%" PRIu64,
                   ix->dir, gap_lo[g], gap_hi[g]);
        rc = ingest(ix, gap_lo[g], gap_hi[g], true, src);
    }
    if (rc == ERR_OK && (ix->run_count == 0 || ix->runs[ix->run_count - 1]->hi < tip)) {
        uint64_t from = ix->run_count == 0 ? first : ix->runs[ix->run_count - 1]->hi + 1;
        rc = ingest(ix, from, tip, false, src);
    }
    return rc;
}

enum err
tx_index_open(const char *dir, const struct tx_index_options *options,
              const struct tx_index_source *src, struct tx_index **out)
{
    ASSERT(dir != NULL && options != NULL && src != NULL && src->read != NULL && out != NULL);
    ASSERT(!src->has_blocks || src->first <= src->tip);
    if (strlen(dir) + RUN_NAME_SIZE + 8 >= PATH_MAX) {
        return ERR_INVALID_ARG;
    }
    struct tx_index *ix = mem_calloc(1, sizeof *ix);
    ix->dir = mem_strdup(dir);
    ix->memtable_entries =
        options->memtable_entries != 0 ? options->memtable_entries : TX_INDEX_MEMTABLE_DFLT;
    if (ix->memtable_entries < TX_INDEX_MEMTABLE_MIN) {
        ix->memtable_entries = TX_INDEX_MEMTABLE_MIN;
    }
    ix->fanin = options->merge_fanin != 0 ? options->merge_fanin : TX_INDEX_FANIN_DFLT;
    if (ix->fanin < 2) {
        ix->fanin = 2;
    }
    if (ix->fanin > FANIN_MAX) {
        ix->fanin = FANIN_MAX;
    }
    ix->no_sync = options->no_sync;
    pthread_mutex_init(&ix->lock, NULL);
    pthread_cond_init(&ix->cond, NULL);
    mt_init(ix, &ix->active);
    ix->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    enum err rc = ix->dir_fd >= 0 ? ERR_OK : err_of_errno(errno);
    if (rc == ERR_OK) {
        rc = runs_recover(ix, src->has_blocks, src->first, src->tip);
    }
    if (rc == ERR_OK && src->has_blocks) {
        rc = index_rebuild(ix, src);
    }
    if (rc == ERR_OK) {
        int prc = pthread_create(&ix->worker, NULL, worker_main, ix);
        ix->worker_started = prc == 0;
        rc = prc == 0 ? ERR_OK : err_of_errno(prc);
    }
    if (rc != ERR_OK) {
        tx_index_close(ix);
        return rc;
    }
    *out = ix;
    return ERR_OK;
}

void
tx_index_close(struct tx_index *ix)
{
    if (ix == NULL) {
        return;
    }
    if (ix->worker_started) {
        pthread_mutex_lock(&ix->lock);
        ix->stop = true;
        pthread_cond_broadcast(&ix->cond);
        pthread_mutex_unlock(&ix->lock);
        pthread_join(ix->worker, NULL);
    }
    for (uint32_t i = 0; i < ix->run_count; i++) {
        run_free(ix->runs[i]);
    }
    if (ix->frozen != NULL) {
        mt_release(ix->frozen);
        mem_free(ix->frozen);
    }
    mt_release(&ix->active);
    mem_free(ix->spare);
    if (ix->dir_fd >= 0) {
        close(ix->dir_fd);
    }
    pthread_cond_destroy(&ix->cond);
    pthread_mutex_destroy(&ix->lock);
    mem_free(ix->dir);
    mem_free(ix);
}

/* ---- writer and readers ---- */

enum err
tx_index_reserve(struct tx_index *ix, size_t tx_count)
{
    (void)tx_count; /* a block adds at most BLOCK_STORE_TXS_MAX over the hard limit */
    enum err rc = ERR_OK;
    pthread_mutex_lock(&ix->lock);
    while (ix->frozen != NULL && ix->active.count >= 2u * (size_t)ix->memtable_entries) {
        if (ix->worker_err != ERR_OK) {
            rc = ix->worker_err;
            ix->worker_err = ERR_OK;
            ix->flush_failed = false; /* the next add retries */
            break;
        }
        pthread_cond_wait(&ix->cond, &ix->lock);
    }
    pthread_mutex_unlock(&ix->lock);
    return rc;
}

void
tx_index_add(struct tx_index *ix, uint64_t height, const struct hash *hashes, size_t count)
{
    pthread_mutex_lock(&ix->lock);
    mt_add_block(&ix->active, height, hashes, count);
    bool wake = false;
    if (ix->active.count >= ix->memtable_entries && ix->frozen == NULL) {
        ix->frozen = mem_alloc(sizeof *ix->frozen);
        *ix->frozen = ix->active;
        mt_init(ix, &ix->active);
        wake = true;
    }
    if (ix->flush_failed) {
        ix->flush_failed = false;
        ix->worker_err = ERR_OK;
        wake = true;
    }
    if (wake) {
        pthread_cond_broadcast(&ix->cond);
    }
    pthread_mutex_unlock(&ix->lock);
}

enum err
tx_index_find(struct tx_index *ix, const struct hash *tx_hash, uint64_t *out_height,
              uint32_t *out_index)
{
    uint64_t height = 0;
    uint32_t index = 0;
    pthread_mutex_lock(&ix->lock);
    bool found = mt_get(&ix->active, tx_hash->bytes, &height, &index) ||
                 (ix->frozen != NULL && mt_get(ix->frozen, tx_hash->bytes, &height, &index));
    for (uint32_t i = ix->run_count; !found && i > 0; i--) {
        found = run_find(ix->runs[i - 1], tx_hash->bytes, &height, &index);
    }
    pthread_mutex_unlock(&ix->lock);
    if (!found) {
        return ERR_NOT_FOUND;
    }
    *out_height = height;
    *out_index = index;
    return ERR_OK;
}

enum err
tx_index_settle(struct tx_index *ix)
{
    struct run *inputs[FANIN_MAX];
    uint32_t level = 0;
    enum err rc = ERR_OK;
    pthread_mutex_lock(&ix->lock);
    while (ix->frozen != NULL || ix->busy || merge_pick(ix, inputs, &level) > 0) {
        if (ix->worker_err != ERR_OK) {
            rc = ix->worker_err;
            break;
        }
        pthread_cond_broadcast(&ix->cond);
        pthread_cond_wait(&ix->cond, &ix->lock);
    }
    pthread_mutex_unlock(&ix->lock);
    return rc;
}

void
tx_index_stats(struct tx_index *ix, struct tx_index_stats *out)
{
    pthread_mutex_lock(&ix->lock);
    *out = ix->stats;
    out->runs = ix->run_count;
    out->memtable = (uint32_t)(ix->active.count + (ix->frozen != NULL ? ix->frozen->count : 0));
    pthread_mutex_unlock(&ix->lock);
}
