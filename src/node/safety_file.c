#include "node/safety_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/crc32c.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/reader.h"

static const uint8_t safety_magic[8] = { 'L', 'M', 'S', 'A', 'F', 'E', '1', '\n' };

_Static_assert(SAFETY_FILE_HEADER_SIZE >= 8 + 8 + 4 + 4, "header fields fit");
_Static_assert(SAFETY_FILE_RECORD_MAX >= 2048, "consensus safety records fit");
_Static_assert(SAFETY_FILE_SIZE == 2 * SAFETY_FILE_SLOT_SIZE, "two slots");

struct safety_file {
    int fd;
    unsigned newest_slot; /* 0 or 1 */
    uint64_t sequence;    /* of the newest record */
    size_t size;
    uint8_t data[SAFETY_FILE_RECORD_MAX];
};

static uint32_t
slot_crc(const uint8_t *slot, size_t size)
{
    uint32_t crc = crc32c(slot, 20);
    return crc32c_extend(crc, slot + SAFETY_FILE_HEADER_SIZE, size);
}

/* Fills slot[SAFETY_FILE_SLOT_SIZE] with a record. Bytes after the data are zero. */
static void
slot_encode(uint8_t *slot, uint64_t sequence, const uint8_t *data, size_t size)
{
    ASSERT(size <= SAFETY_FILE_RECORD_MAX);
    memset(slot, 0, SAFETY_FILE_SLOT_SIZE);
    memcpy(slot, safety_magic, sizeof safety_magic);
    store_u64(slot + 8, sequence);
    store_u32(slot + 16, (uint32_t)size);
    if (size > 0) {
        memcpy(slot + SAFETY_FILE_HEADER_SIZE, data, size);
    }
    store_u32(slot + 20, slot_crc(slot, size));
}

/* True if the slot holds a whole record; *out_sequence and *out_size describe it. */
static bool
slot_decode(const uint8_t *slot, uint64_t *out_sequence, size_t *out_size)
{
    if (memcmp(slot, safety_magic, sizeof safety_magic) != 0) {
        return false;
    }
    uint32_t size = load_u32(slot + 16);
    if (size > SAFETY_FILE_RECORD_MAX) {
        return false;
    }
    if (load_u32(slot + 20) != slot_crc(slot, size)) {
        return false;
    }
    *out_sequence = load_u64(slot + 8);
    *out_size = size;
    return true;
}

static enum err
write_all_at(int fd, const uint8_t *data, size_t size, off_t offset)
{
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(fd, data + done, size - done, offset + (off_t)done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return err_from_errno(errno);
        }
        done += (size_t)n;
    }
    return ERR_OK;
}

static enum err
read_all_at(int fd, uint8_t *data, size_t size, off_t offset)
{
    size_t done = 0;
    while (done < size) {
        ssize_t n = pread(fd, data + done, size - done, offset + (off_t)done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return err_from_errno(errno);
        }
        if (n == 0) {
            return ERR_CORRUPT; /* shorter than its fixed size */
        }
        done += (size_t)n;
    }
    return ERR_OK;
}

static enum err
fsync_parent_dir(const char *path)
{
    char copy[4096];
    int n = snprintf(copy, sizeof copy, "%s", path);
    if (n < 0 || (size_t)n >= sizeof copy) {
        return ERR_TOO_LARGE;
    }
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        return err_from_errno(errno);
    }
    enum err rc = fsync(dfd) == 0 ? ERR_OK : err_from_errno(errno);
    close(dfd);
    return rc;
}

/* Creates the file with an empty record in slot 0 (slot 1 zero), durable with its name. The
 * temp + rename makes creation atomic: a crash leaves no file or a complete one. */
static enum err
create_file(const char *path)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        return ERR_TOO_LARGE;
    }
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return err_from_errno(errno);
    }
    uint8_t *image = mem_calloc(1, SAFETY_FILE_SIZE);
    slot_encode(image, 1, NULL, 0);
    enum err rc = write_all_at(fd, image, SAFETY_FILE_SIZE, 0);
    mem_free(image);
    if (rc == ERR_OK && fsync(fd) != 0) {
        rc = err_from_errno(errno);
    }
    close(fd);
    if (rc == ERR_OK && rename(tmp, path) != 0) {
        rc = err_from_errno(errno);
    }
    if (rc != ERR_OK) {
        unlink(tmp);
        return rc;
    }
    return fsync_parent_dir(path);
}

/* Reads both slots and keeps the valid one with the higher sequence. */
static enum err
load_newest(struct safety_file *f)
{
    uint8_t *image = mem_alloc(SAFETY_FILE_SIZE);
    enum err rc = read_all_at(f->fd, image, SAFETY_FILE_SIZE, 0);
    if (rc != ERR_OK) {
        goto out;
    }
    bool found = false;
    for (unsigned i = 0; i < 2; i++) {
        const uint8_t *slot = image + (size_t)i * SAFETY_FILE_SLOT_SIZE;
        uint64_t sequence = 0;
        size_t size = 0;
        if (!slot_decode(slot, &sequence, &size)) {
            continue;
        }
        if (!found || sequence > f->sequence) {
            found = true;
            f->newest_slot = i;
            f->sequence = sequence;
            f->size = size;
            memcpy(f->data, slot + SAFETY_FILE_HEADER_SIZE, size);
        }
    }
    rc = found ? ERR_OK : ERR_CORRUPT;
out:
    mem_free(image);
    return rc;
}

enum err
safety_file_open(const char *path, struct safety_file **out)
{
    ASSERT(path != NULL);
    ASSERT(out != NULL);
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno != ENOENT) {
            return err_from_errno(errno);
        }
        enum err rc = create_file(path);
        if (rc != ERR_OK) {
            return rc;
        }
        log_info(LOG_NODE, "created safety record file path=%s", path);
    }
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return err_from_errno(errno);
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != (off_t)SAFETY_FILE_SIZE) {
        close(fd);
        return ERR_CORRUPT;
    }
    struct safety_file *f = mem_calloc(1, sizeof *f);
    f->fd = fd;
    enum err rc = load_newest(f);
    if (rc != ERR_OK) {
        safety_file_close(f);
        return rc;
    }
    *out = f;
    return ERR_OK;
}

enum err
safety_file_read(const struct safety_file *f, uint8_t *out, size_t out_max, size_t *out_size)
{
    ASSERT(f != NULL);
    ASSERT(out_size != NULL);
    if (f->size > out_max) {
        return ERR_TOO_LARGE;
    }
    if (f->size > 0) {
        memcpy(out, f->data, f->size);
    }
    *out_size = f->size;
    return ERR_OK;
}

uint64_t
safety_file_sequence(const struct safety_file *f)
{
    ASSERT(f != NULL);
    return f->sequence;
}

enum err
safety_file_write(struct safety_file *f, const uint8_t *data, size_t size)
{
    ASSERT(f != NULL);
    ASSERT(size <= SAFETY_FILE_RECORD_MAX);
    ASSERT(data != NULL || size == 0);
    unsigned target = 1 - f->newest_slot;
    uint64_t sequence = f->sequence + 1;
    uint8_t *slot = mem_alloc(SAFETY_FILE_SLOT_SIZE);
    slot_encode(slot, sequence, data, size);
    enum err rc = write_all_at(f->fd, slot, SAFETY_FILE_SLOT_SIZE,
                               (off_t)target * (off_t)SAFETY_FILE_SLOT_SIZE);
    mem_free(slot);
    if (rc == ERR_OK && fdatasync(f->fd) != 0) {
        rc = err_from_errno(errno);
    }
    if (rc != ERR_OK) {
        return rc; /* the other slot still holds the previous record */
    }
    f->newest_slot = target;
    f->sequence = sequence;
    f->size = size;
    if (size > 0) {
        memcpy(f->data, data, size);
    }
    return ERR_OK;
}

void
safety_file_close(struct safety_file *f)
{
    if (f == NULL) {
        return;
    }
    close(f->fd);
    mem_free(f);
}
