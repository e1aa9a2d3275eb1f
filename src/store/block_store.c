#include "store/block_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/crc32c.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/reader.h"

#define RECORD_MAGIC     0x4b424d4cu /* "LMBK" little-endian */
#define INFO_VALUE_SIZE  (4 + 8 + 4 + HASH_SIZE + 4)
#define INFO_VALUE_OLD   (4 + 8 + 4 + HASH_SIZE) /* before tx counts: no hashes */
#define HASH_CHUNK       4096u
#define SEGMENT_NAME_FMT "seg-%010" PRIu32 ".blk"
#define META_TIP_KEY     "tip"

_Static_assert(BLOCK_STORE_RECORD_HEADER == 24, "record header layout");
_Static_assert(BLOCK_STORE_TXS_MAX == TX_INDEX_BLOCK_TXS_MAX, "the index takes any block");
_Static_assert(BLOCK_STORE_PAYLOAD_SIZE_MAX <= UINT32_MAX - BLOCK_STORE_RECORD_HEADER,
               "payload size fits the u32 field");

struct block_store {
    struct db *db;
    char *dir;
    int dir_fd;
    bool no_sync;
    uint64_t segment_size;
    struct db_table t_height; /* u64 BE height -> segment u32 | offset u64 | size u32 | id */
    struct db_table t_id;     /* block id -> u64 height */
    struct db_table t_meta;   /* "tip" -> u64 height */
    struct tx_index *tx;      /* tx hash -> (height, index), see store/tx_index.h */

    /* Committed state: the tip and the end of its record in the current segment. */
    bool has_tip;
    uint64_t tip;
    uint32_t segment;
    int fd;
    uint64_t end;

    /* The staged append (written and synced, its txn not yet committed). */
    bool staged;
    bool staged_rolled; /* it opened a new segment */
    uint64_t staged_height;
    uint32_t staged_segment;
    int staged_fd;
    uint64_t staged_end;
    struct hash *staged_hashes; /* a copy, added to the tx index at commit */
    size_t staged_hashes_cap;
    size_t staged_tx_count;
};

static void
segment_path(const struct block_store *s, uint32_t segment, char out[PATH_MAX])
{
    int n = snprintf(out, PATH_MAX, "%s/" SEGMENT_NAME_FMT, s->dir, segment);
    ASSERT(n > 0 && n < PATH_MAX); /* checked at open for the longest name */
}

static bool
segment_parse(const char *name, uint32_t *out_segment)
{
    unsigned long long number = 0;
    if (strlen(name) != 18 || strncmp(name, "seg-", 4) != 0 || strcmp(name + 14, ".blk") != 0) {
        return false;
    }
    for (size_t i = 4; i < 14; i++) {
        if (name[i] < '0' || name[i] > '9') {
            return false;
        }
        number = number * 10 + (unsigned long long)(name[i] - '0');
    }
    if (number > UINT32_MAX) {
        return false;
    }
    *out_segment = (uint32_t)number;
    return true;
}

static enum err
err_of_errno(int errnum)
{
    return errnum == EFBIG ? ERR_NO_SPACE : err_from_errno(errnum);
}

/* fdatasync; a failed sync other than a full disk is not retried (STYLE.md 2.5). */
static enum err
file_sync(const struct block_store *s, int fd, const char *what)
{
    if (s->no_sync) {
        return ERR_OK;
    }
    if (fdatasync(fd) == 0) {
        return ERR_OK;
    }
    int e = errno;
    if (e == ENOSPC || e == EDQUOT) {
        return ERR_NO_SPACE;
    }
    fatal("block store: fdatasync of %s failed dir=%s errno=%d %s", what, s->dir, e, strerror(e));
}

/* iovec wants a mutable pointer even for writes; pwritev does not write through it. */
static void *
iov_base_of(const void *p)
{
    void *m;
    memcpy(&m, &p, sizeof m);
    return m;
}

static enum err
write_all(int fd, struct iovec *iov, int iov_count, uint64_t offset)
{
    while (iov_count > 0) {
        ssize_t n = pwritev(fd, iov, iov_count, (off_t)offset);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return err_of_errno(errno);
        }
        ASSERT(n > 0 || iov[0].iov_len == 0);
        size_t done = (size_t)n;
        offset += done;
        while (iov_count > 0 && done >= iov[0].iov_len) {
            done -= iov[0].iov_len;
            iov++;
            iov_count--;
        }
        if (iov_count > 0) {
            iov[0].iov_base = (uint8_t *)iov[0].iov_base + done;
            iov[0].iov_len -= done;
        }
    }
    return ERR_OK;
}

/* ERR_CORRUPT if the file ends first: we only read what the index says was synced. */
static enum err
read_all(int fd, uint8_t *out, size_t size, uint64_t offset)
{
    while (size > 0) {
        ssize_t n = pread(fd, out, size, (off_t)offset);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return err_of_errno(errno);
        }
        if (n == 0) {
            return ERR_CORRUPT;
        }
        out += n;
        size -= (size_t)n;
        offset += (uint64_t)n;
    }
    return ERR_OK;
}

static void
height_key(uint64_t height, uint8_t out[8])
{
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(height >> (56 - 8 * i)); /* big-endian: key order is height order */
    }
}

static uint64_t
record_size_of(uint64_t payload_size, uint64_t tx_count)
{
    return BLOCK_STORE_RECORD_HEADER + payload_size + tx_count * HASH_SIZE;
}

static void
record_header_encode(uint8_t h[BLOCK_STORE_RECORD_HEADER], const struct block_store_block *block)
{
    store_u32(h, RECORD_MAGIC);
    store_u32(h + 8, (uint32_t)block->payload_size);
    store_u32(h + 12, (uint32_t)block->tx_count);
    store_u64(h + 16, block->height);
    uint32_t crc = crc32c(h + 8, BLOCK_STORE_RECORD_HEADER - 8);
    crc = crc32c_extend(crc, block->payload, block->payload_size);
    store_u32(h + 4, crc32c_extend(crc, block->tx_hashes, block->tx_count * HASH_SIZE));
}

/* Checks a header's fixed fields (not the CRC, which needs the body). */
static bool
record_header_is_plausible(const uint8_t h[BLOCK_STORE_RECORD_HEADER])
{
    return load_u32(h) == RECORD_MAGIC && load_u32(h + 8) <= BLOCK_STORE_PAYLOAD_SIZE_MAX &&
           load_u32(h + 12) <= BLOCK_STORE_TXS_MAX;
}

/* Reads size bytes at offset into out (reserved, not committed) or, with out NULL, through a
 * small buffer, extending *crc. */
static enum err
region_read(int fd, uint64_t offset, size_t size, struct buf *out, uint8_t **out_space,
            uint32_t *crc)
{
    if (out != NULL) {
        enum err rc = buf_reserve(out, size, out_space);
        if (rc == ERR_OK) {
            rc = read_all(fd, *out_space, size, offset);
        }
        if (rc == ERR_OK) {
            *crc = crc32c_extend(*crc, *out_space, size);
        }
        return rc;
    }
    uint8_t chunk[HASH_CHUNK];
    while (size > 0) {
        size_t n = size < sizeof chunk ? size : sizeof chunk;
        enum err rc = read_all(fd, chunk, n, offset);
        if (rc != ERR_OK) {
            return rc;
        }
        *crc = crc32c_extend(*crc, chunk, n);
        offset += n;
        size -= n;
    }
    return ERR_OK;
}

/* Reads the body of the record at offset whose plausible header is h and verifies the CRC;
 * then appends the payload to payload and the tx hashes to hashes (either may be NULL). */
static enum err
record_body_read(int fd, const uint8_t h[BLOCK_STORE_RECORD_HEADER], uint64_t offset,
                 struct buf *payload, struct buf *hashes)
{
    uint32_t size = load_u32(h + 8);
    size_t hashes_size = (size_t)load_u32(h + 12) * HASH_SIZE;
    uint32_t crc = crc32c(h + 8, BLOCK_STORE_RECORD_HEADER - 8);
    uint8_t *payload_space = NULL;
    uint8_t *hashes_space = NULL;
    enum err rc =
        region_read(fd, offset + BLOCK_STORE_RECORD_HEADER, size, payload, &payload_space, &crc);
    if (rc == ERR_OK) {
        rc = region_read(fd, offset + BLOCK_STORE_RECORD_HEADER + size, hashes_size, hashes,
                         &hashes_space, &crc);
    }
    if (rc == ERR_OK && crc != load_u32(h + 4)) {
        rc = ERR_CORRUPT;
    }
    if (rc == ERR_OK && payload != NULL) {
        buf_commit(payload, size);
    }
    if (rc == ERR_OK && hashes != NULL) {
        buf_commit(hashes, hashes_size);
    }
    return rc;
}

static void
info_encode(const struct block_store_info *info, uint8_t out[INFO_VALUE_SIZE])
{
    store_u32(out, info->segment);
    store_u64(out + 4, info->offset);
    store_u32(out + 12, info->payload_size);
    memcpy(out + 16, info->id.bytes, HASH_SIZE);
    store_u32(out + 16 + HASH_SIZE, info->tx_count);
}

static enum err
info_decode(uint64_t height, struct db_val v, struct block_store_info *out)
{
    if (v.size != INFO_VALUE_SIZE && v.size != INFO_VALUE_OLD) {
        return ERR_CORRUPT;
    }
    out->height = height;
    out->segment = load_u32(v.data);
    out->offset = load_u64(v.data + 4);
    out->payload_size = load_u32(v.data + 12);
    memcpy(out->id.bytes, v.data + 16, HASH_SIZE);
    out->tx_count = v.size == INFO_VALUE_SIZE ? load_u32(v.data + 16 + HASH_SIZE) : 0;
    return out->payload_size <= BLOCK_STORE_PAYLOAD_SIZE_MAX && out->tx_count <= BLOCK_STORE_TXS_MAX
               ? ERR_OK
               : ERR_CORRUPT;
}

/* Uses txn if given, else begins a read txn that the caller aborts through *own. */
static enum err
txn_use(struct block_store *s, struct db_txn *txn, struct db_txn **out_use, struct db_txn **own)
{
    *own = NULL;
    if (txn != NULL) {
        *out_use = txn;
        return ERR_OK;
    }
    enum err rc = db_txn_begin(s->db, false, own);
    if (rc == ERR_OK) {
        *out_use = *own;
    }
    return rc;
}

static enum err
tip_get(struct block_store *s, struct db_txn *txn, uint64_t *out_height)
{
    struct db_val v;
    enum err rc = db_get(txn, s->t_meta, db_val_of(META_TIP_KEY, sizeof META_TIP_KEY - 1), &v);
    if (rc != ERR_OK) {
        return rc;
    }
    if (v.size != 8) {
        return ERR_CORRUPT;
    }
    *out_height = load_u64(v.data);
    return ERR_OK;
}

static enum err
info_get(struct block_store *s, struct db_txn *txn, uint64_t height, struct block_store_info *out)
{
    uint8_t key[8];
    height_key(height, key);
    struct db_val v;
    enum err rc = db_get(txn, s->t_height, db_val_of(key, sizeof key), &v);
    if (rc != ERR_OK) {
        return rc;
    }
    struct block_store_info info;
    rc = info_decode(height, v, &info);
    if (rc == ERR_OK) {
        *out = info;
    }
    return rc;
}

/* Reads and verifies the record that info names; appends its payload to out and its tx
 * hashes to hashes (either may be NULL). */
static enum err
record_read(const struct block_store *s, const struct block_store_info *info, struct buf *out,
            struct buf *hashes)
{
    char path[PATH_MAX];
    segment_path(s, info->segment, path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? ERR_CORRUPT : err_of_errno(errno);
    }
    uint8_t h[BLOCK_STORE_RECORD_HEADER];
    enum err rc = read_all(fd, h, sizeof h, info->offset);
    if (rc == ERR_OK &&
        (!record_header_is_plausible(h) || load_u64(h + 16) != info->height ||
         load_u32(h + 8) != info->payload_size || load_u32(h + 12) != info->tx_count)) {
        rc = ERR_CORRUPT;
    }
    if (rc == ERR_OK) {
        rc = record_body_read(fd, h, info->offset, out, hashes);
    }
    if (rc == ERR_CORRUPT) {
        log_debug(LOG_STORE,
                  "block store: bad record height=%" PRIu64 " segment=%" PRIu32 " offset=%" PRIu64,
                  info->height, info->segment, info->offset);
    }
    close(fd);
    return rc;
}

/* Opens a segment; O_CREAT in extra_flags creates it and makes its name durable. */
static enum err
segment_open(struct block_store *s, uint32_t segment, int extra_flags, int *out_fd)
{
    char path[PATH_MAX];
    segment_path(s, segment, path);
    int fd = open(path, O_RDWR | O_CLOEXEC | extra_flags, 0600);
    if (fd < 0) {
        return errno == ENOENT ? ERR_CORRUPT : err_of_errno(errno);
    }
    if ((extra_flags & O_CREAT) != 0) {
        /* The new name must be durable before a record in it is indexed. */
        enum err rc = file_sync(s, s->dir_fd, "directory");
        if (rc != ERR_OK) {
            close(fd);
            return rc;
        }
    }
    *out_fd = fd;
    return ERR_OK;
}

/* At open: deletes segments after the committed one (uncommitted roll-overs). */
static enum err
segments_remove_after(struct block_store *s, uint32_t last)
{
    DIR *d = opendir(s->dir);
    if (d == NULL) {
        return err_of_errno(errno);
    }
    unsigned removed = 0;
    enum err rc = ERR_OK;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint32_t segment;
        if (!segment_parse(e->d_name, &segment) || segment <= last) {
            continue;
        }
        log_notice(LOG_STORE, "block store: removing uncommitted segment dir=%s segment=%" PRIu32,
                   s->dir, segment);
        if (unlinkat(s->dir_fd, e->d_name, 0) != 0) {
            rc = err_of_errno(errno);
            break;
        }
        removed++;
    }
    closedir(d);
    if (rc == ERR_OK && removed > 0) {
        rc = file_sync(s, s->dir_fd, "directory");
    }
    return rc;
}

/* At open: the bytes of the current segment past the committed end are a torn or
 * uncommitted tail. Counts the complete records in it (for the log line), then cuts it. */
static enum err
tail_cut(struct block_store *s, uint64_t file_size)
{
    uint64_t at = s->end;
    unsigned complete = 0;
    while (file_size - at >= BLOCK_STORE_RECORD_HEADER) {
        uint8_t h[BLOCK_STORE_RECORD_HEADER];
        if (read_all(s->fd, h, sizeof h, at) != ERR_OK || !record_header_is_plausible(h)) {
            break;
        }
        uint64_t size = record_size_of(load_u32(h + 8), load_u32(h + 12));
        if (file_size - at < size || record_body_read(s->fd, h, at, NULL, NULL) != ERR_OK) {
            break;
        }
        complete++;
        at += size;
    }
    log_notice(LOG_STORE,
               "block store: cutting tail past committed height dir=%s segment=%" PRIu32
               " offset=%" PRIu64 " bytes=%" PRIu64 " complete_uncommitted_records=%u"
               " torn_bytes=%" PRIu64,
               s->dir, s->segment, s->end, file_size - s->end, complete, file_size - at);
    if (ftruncate(s->fd, (off_t)s->end) != 0) {
        return err_of_errno(errno);
    }
    return file_sync(s, s->fd, "segment");
}

/* At open: loads the tip from the index and brings the files into agreement with it. */
static enum err
store_recover(struct block_store *s)
{
    struct db_txn *txn = NULL;
    struct block_store_info info = { 0 };
    enum err rc = db_txn_begin(s->db, false, &txn);
    if (rc == ERR_OK) {
        rc = tip_get(s, txn, &s->tip);
        s->has_tip = rc == ERR_OK;
        if (rc == ERR_NOT_FOUND) {
            rc = ERR_OK;
        } else if (rc == ERR_OK) {
            rc = info_get(s, txn, s->tip, &info);
            rc = rc == ERR_NOT_FOUND ? ERR_CORRUPT : rc;
        }
    }
    db_txn_abort(txn);
    if (rc != ERR_OK) {
        return rc;
    }
    s->segment = s->has_tip ? info.segment : 0;
    s->end = s->has_tip ? info.offset + record_size_of(info.payload_size, info.tx_count) : 0;
    rc = segments_remove_after(s, s->segment);
    if (rc == ERR_OK) {
        rc = segment_open(s, s->segment, s->has_tip ? 0 : O_CREAT, &s->fd);
    }
    struct stat st;
    if (rc == ERR_OK && fstat(s->fd, &st) != 0) {
        rc = err_of_errno(errno);
    }
    if (rc == ERR_OK && (uint64_t)st.st_size < s->end) {
        log_error(LOG_STORE,
                  "block store: segment shorter than its index dir=%s segment=%" PRIu32
                  " size=%lld indexed_end=%" PRIu64,
                  s->dir, s->segment, (long long)st.st_size, s->end);
        rc = ERR_CORRUPT;
    }
    if (rc == ERR_OK && (uint64_t)st.st_size > s->end) {
        rc = tail_cut(s, (uint64_t)st.st_size);
    }
    if (rc == ERR_OK && s->has_tip) {
        rc = record_read(s, &info, NULL, NULL);
    }
    return rc;
}

/* The tx index's source: the tx hashes of a committed block, from its verified record. */
static enum err
tx_hashes_read(void *ctx, uint64_t height, struct buf *out)
{
    struct block_store *s = ctx;
    struct block_store_info info;
    enum err rc = block_store_info(s, NULL, height, &info);
    rc = rc == ERR_NOT_FOUND ? ERR_CORRUPT : rc; /* inside first..tip */
    if (rc == ERR_OK) {
        rc = record_read(s, &info, NULL, out);
    }
    return rc;
}

/* The lowest indexed height (the first block may have any height). */
static enum err
first_height(struct block_store *s, uint64_t *out_height)
{
    struct db_txn *txn = NULL;
    struct db_cursor *c = NULL;
    struct db_val k;
    struct db_val v;
    enum err rc = db_txn_begin(s->db, false, &txn);
    if (rc == ERR_OK) {
        rc = db_cursor_open(txn, s->t_height, &c);
    }
    if (rc == ERR_OK) {
        uint8_t zero[8] = { 0 }; /* height 0, the smallest key */
        rc = db_cursor_seek(c, db_val_of(zero, sizeof zero), &k, &v);
    }
    if (rc == ERR_OK) {
        if (k.size == 8) {
            uint64_t h = 0;
            for (size_t i = 0; i < 8; i++) {
                h = h << 8 | k.data[i];
            }
            *out_height = h;
        } else {
            rc = ERR_CORRUPT;
        }
    }
    db_cursor_close(c);
    db_txn_abort(txn);
    return rc;
}

static enum err
tx_index_start(struct block_store *s, const struct block_store_options *options)
{
    uint64_t first = 0;
    enum err rc = s->has_tip ? first_height(s, &first) : ERR_OK;
    rc = rc == ERR_NOT_FOUND ? ERR_CORRUPT : rc;
    if (rc == ERR_OK && s->has_tip && first > s->tip) {
        rc = ERR_CORRUPT;
    }
    struct tx_index_options o = {
        .memtable_entries = options->tx_memtable_entries,
        .merge_fanin = options->tx_merge_fanin,
        .no_sync = options->no_sync,
    };
    struct tx_index_source src = {
        .has_blocks = s->has_tip,
        .first = first,
        .tip = s->tip,
        .read = tx_hashes_read,
        .ctx = s,
    };
    if (rc == ERR_OK) {
        rc = tx_index_open(s->dir, &o, &src, &s->tx);
    }
    return rc;
}

enum err
block_store_open(struct db *db, const char *dir, const struct block_store_options *options,
                 struct block_store **out)
{
    ASSERT(db != NULL && dir != NULL && options != NULL && out != NULL);
    if (strlen(dir) + 32 >= PATH_MAX) {
        return ERR_INVALID_ARG;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return err_of_errno(errno);
    }
    struct block_store *s = mem_calloc(1, sizeof *s);
    s->db = db;
    s->dir = mem_strdup(dir);
    s->fd = -1;
    s->staged_fd = -1;
    s->no_sync = options->no_sync;
    s->segment_size = options->segment_size_bytes != 0 ? options->segment_size_bytes
                                                       : BLOCK_STORE_SEGMENT_SIZE_DFLT;
    if (s->segment_size < BLOCK_STORE_SEGMENT_SIZE_MIN) {
        s->segment_size = BLOCK_STORE_SEGMENT_SIZE_MIN;
    }
    s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    enum err rc = s->dir_fd >= 0 ? ERR_OK : err_of_errno(errno);
    if (rc == ERR_OK) {
        rc = db_table_open(db, "block.height", &s->t_height);
    }
    if (rc == ERR_OK) {
        rc = db_table_open(db, "block.id", &s->t_id);
    }
    if (rc == ERR_OK) {
        rc = db_table_open(db, "block.meta", &s->t_meta);
    }
    if (rc == ERR_OK) {
        rc = store_recover(s);
    }
    if (rc == ERR_OK) {
        rc = tx_index_start(s, options);
    }
    if (rc != ERR_OK) {
        block_store_close(s);
        return rc;
    }
    *out = s;
    return ERR_OK;
}

/* Cuts a record that was written but is not (or will not be) committed. Failure to cut is
 * harmless for correctness: appends write at the committed end, and open cuts the tail. */
static void
record_cut(struct block_store *s, bool rolled, uint32_t segment, int fd, uint64_t end)
{
    char path[PATH_MAX];
    segment_path(s, segment, path);
    bool cut;
    if (rolled) {
        close(fd);
        cut = unlink(path) == 0;
    } else {
        cut = ftruncate(fd, (off_t)end) == 0;
    }
    if (!cut) {
        log_warn(LOG_STORE,
                 "block store: cannot cut uncommitted record path=%s offset=%" PRIu64 " errno=%d",
                 path, rolled ? 0 : end, errno);
    }
}

void
block_store_close(struct block_store *s)
{
    if (s == NULL) {
        return;
    }
    if (s->staged) {
        block_store_rollback(s);
    }
    if (s->fd >= 0) {
        close(s->fd);
    }
    if (s->dir_fd >= 0) {
        close(s->dir_fd);
    }
    tx_index_close(s->tx);
    mem_free(s->staged_hashes);
    mem_free(s->dir);
    mem_free(s);
}

bool
block_store_tip(const struct block_store *s, uint64_t *out_height)
{
    if (s->has_tip) {
        *out_height = s->tip;
    }
    return s->has_tip;
}

static enum err
index_put(struct block_store *s, struct db_txn *txn, const struct block_store_block *block,
          uint32_t segment, uint64_t offset)
{
    uint8_t key[8];
    uint8_t value[INFO_VALUE_SIZE];
    uint8_t height_le[8];
    struct block_store_info info = {
        .height = block->height,
        .id = block->id,
        .segment = segment,
        .offset = offset,
        .payload_size = (uint32_t)block->payload_size,
        .tx_count = (uint32_t)block->tx_count,
    };
    height_key(block->height, key);
    info_encode(&info, value);
    store_u64(height_le, block->height);
    enum err rc =
        db_put(txn, s->t_height, db_val_of(key, sizeof key), db_val_of(value, sizeof value));
    if (rc == ERR_OK) {
        rc = db_put(txn, s->t_id, db_val_of(block->id.bytes, HASH_SIZE),
                    db_val_of(height_le, sizeof height_le));
    }
    if (rc == ERR_OK) {
        rc = db_put(txn, s->t_meta, db_val_of(META_TIP_KEY, sizeof META_TIP_KEY - 1),
                    db_val_of(height_le, sizeof height_le));
    }
    return rc;
}

enum err
block_store_append(struct block_store *s, struct db_txn *txn, const struct block_store_block *block)
{
    ASSERT(s != NULL && txn != NULL && block != NULL);
    ASSERT(!s->staged); /* committed or rolled back before the next append */
    ASSERT(!s->has_tip || block->height == s->tip + 1); /* dense heights */
    ASSERT(block->payload != NULL || block->payload_size == 0);
    ASSERT(block->tx_hashes != NULL || block->tx_count == 0);
    if (block->payload_size > BLOCK_STORE_PAYLOAD_SIZE_MAX ||
        block->tx_count > BLOCK_STORE_TXS_MAX) {
        return ERR_TOO_LARGE;
    }
    uint64_t record_size = record_size_of(block->payload_size, block->tx_count);
    uint32_t segment = s->segment;
    int fd = s->fd;
    uint64_t offset = s->end;
    bool rolled = false;
    enum err rc = tx_index_reserve(s->tx, block->tx_count);
    if (rc != ERR_OK) {
        return rc;
    }
    if (offset > 0 && offset + record_size > s->segment_size) {
        ASSERT(segment < UINT32_MAX);
        segment++;
        offset = 0;
        rolled = true;
        /* O_TRUNC: a leftover of that name (a failed cut) holds nothing committed. */
        rc = segment_open(s, segment, O_CREAT | O_TRUNC, &fd);
        if (rc != ERR_OK) {
            return rc;
        }
    }
    uint8_t header[BLOCK_STORE_RECORD_HEADER];
    record_header_encode(header, block);
    struct iovec iov[3] = {
        { .iov_base = header, .iov_len = sizeof header },
        { .iov_base = iov_base_of(block->payload), .iov_len = block->payload_size },
        { .iov_base = iov_base_of(block->tx_hashes), .iov_len = block->tx_count * HASH_SIZE },
    };
    rc = write_all(fd, iov, 3, offset);
    if (rc == ERR_OK) {
        rc = file_sync(s, fd, "segment"); /* durable before the index can name it */
    }
    if (rc == ERR_OK) {
        rc = index_put(s, txn, block, segment, offset);
    }
    if (rc != ERR_OK) {
        record_cut(s, rolled, segment, fd, offset);
        return rc;
    }
    s->staged = true;
    s->staged_rolled = rolled;
    s->staged_height = block->height;
    s->staged_segment = segment;
    s->staged_fd = fd;
    s->staged_end = offset + record_size;
    if (block->tx_count > s->staged_hashes_cap) {
        mem_free(s->staged_hashes);
        s->staged_hashes = mem_calloc(block->tx_count, sizeof *s->staged_hashes);
        s->staged_hashes_cap = block->tx_count;
    }
    if (block->tx_count > 0) {
        memcpy(s->staged_hashes, block->tx_hashes, block->tx_count * sizeof *block->tx_hashes);
    }
    s->staged_tx_count = block->tx_count;
    return ERR_OK;
}

void
block_store_committed(struct block_store *s)
{
    ASSERT(s->staged);
    if (s->staged_rolled) {
        close(s->fd);
        s->fd = s->staged_fd;
        s->segment = s->staged_segment;
    }
    ASSERT(s->fd == s->staged_fd && s->segment == s->staged_segment);
    s->end = s->staged_end;
    s->tip = s->staged_height;
    s->has_tip = true;
    tx_index_add(s->tx, s->staged_height, s->staged_hashes, s->staged_tx_count);
    s->staged = false;
    s->staged_fd = -1;
}

void
block_store_rollback(struct block_store *s)
{
    ASSERT(s->staged);
    record_cut(s, s->staged_rolled, s->staged_segment, s->staged_fd, s->end);
    s->staged = false;
    s->staged_fd = -1;
}

enum err
block_store_commit(struct block_store *s, struct db_txn *txn)
{
    ASSERT(s->staged);
    enum err rc = db_txn_commit(txn);
    if (rc == ERR_OK) {
        block_store_committed(s);
    } else {
        block_store_rollback(s);
    }
    return rc;
}

enum err
block_store_tip_read(struct block_store *s, struct db_txn *txn, uint64_t *out_height)
{
    struct db_txn *use;
    struct db_txn *own;
    enum err rc = txn_use(s, txn, &use, &own);
    if (rc == ERR_OK) {
        rc = tip_get(s, use, out_height);
    }
    db_txn_abort(own);
    return rc;
}

enum err
block_store_info(struct block_store *s, struct db_txn *txn, uint64_t height,
                 struct block_store_info *out)
{
    struct db_txn *use;
    struct db_txn *own;
    enum err rc = txn_use(s, txn, &use, &own);
    if (rc == ERR_OK) {
        rc = info_get(s, use, height, out);
    }
    db_txn_abort(own);
    return rc;
}

enum err
block_store_read(struct block_store *s, struct db_txn *txn, uint64_t height, struct buf *out)
{
    struct block_store_info info;
    enum err rc = block_store_info(s, txn, height, &info);
    if (rc == ERR_OK) {
        rc = record_read(s, &info, out, NULL);
    }
    return rc;
}

enum err
block_store_height_of(struct block_store *s, struct db_txn *txn, const struct hash *id,
                      uint64_t *out_height)
{
    struct db_txn *use;
    struct db_txn *own;
    struct db_val v;
    enum err rc = txn_use(s, txn, &use, &own);
    if (rc == ERR_OK) {
        rc = db_get(use, s->t_id, db_val_of(id->bytes, HASH_SIZE), &v);
    }
    if (rc == ERR_OK) {
        if (v.size == 8) {
            *out_height = load_u64(v.data);
        } else {
            rc = ERR_CORRUPT;
        }
    }
    db_txn_abort(own);
    return rc;
}

enum err
block_store_read_by_id(struct block_store *s, struct db_txn *txn, const struct hash *id,
                       uint64_t *out_height, struct buf *out)
{
    struct db_txn *use;
    struct db_txn *own;
    uint64_t height = 0;
    struct block_store_info info;
    enum err rc = txn_use(s, txn, &use, &own); /* one snapshot for both lookups */
    if (rc == ERR_OK) {
        rc = block_store_height_of(s, use, id, &height);
    }
    if (rc == ERR_OK) {
        rc = info_get(s, use, height, &info);
        rc = rc == ERR_NOT_FOUND ? ERR_CORRUPT : rc; /* the id index names a missing height */
    }
    db_txn_abort(own);
    if (rc == ERR_OK) {
        rc = record_read(s, &info, out, NULL);
    }
    if (rc == ERR_OK) {
        *out_height = height;
    }
    return rc;
}

enum err
block_store_tx_find(struct block_store *s, struct db_txn *txn, const struct hash *tx_hash,
                    struct block_store_tx_location *out)
{
    struct block_store_tx_location where;
    enum err rc = tx_index_find(s->tx, tx_hash, &where.height, &where.index);
    if (rc != ERR_OK) {
        return rc;
    }
    /* The index holds committed blocks only; a snapshot older than the block must not see
     * it (as with the LMDB table this replaces). */
    struct db_txn *use;
    struct db_txn *own;
    uint64_t tip = 0;
    rc = txn_use(s, txn, &use, &own);
    if (rc == ERR_OK) {
        rc = tip_get(s, use, &tip);
    }
    db_txn_abort(own);
    if (rc == ERR_OK && where.height > tip) {
        rc = ERR_NOT_FOUND;
    }
    if (rc == ERR_OK) {
        *out = where;
    }
    return rc;
}

enum err
block_store_tx_index_settle(struct block_store *s)
{
    return tx_index_settle(s->tx);
}

void
block_store_tx_index_stats(struct block_store *s, struct tx_index_stats *out)
{
    tx_index_stats(s->tx, out);
}
