/* Growable byte buffer with a maximum size set at init (curl's dynbuf). Appends past the
 * maximum fail with ERR_TOO_LARGE and leave the buffer unchanged. The caller owns the
 * struct; buf_release frees the storage and accepts a zeroed or released buffer. */
#ifndef LM_BASE_BUF_H
#define LM_BASE_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct buf {
    uint8_t *data;
    size_t size;
    size_t capacity;
    size_t size_max;
};

void buf_init(struct buf *b, size_t size_max);
void buf_release(struct buf *b);
/* Empties the buffer, keeping its storage. */
void buf_reset(struct buf *b);
MUST_USE enum err buf_append(struct buf *b, const void *data, size_t size);
MUST_USE enum err buf_append_byte(struct buf *b, uint8_t byte);
/* Appends formatted text (no terminating NUL counted in size). */
MUST_USE enum err buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Ensures room for `extra` more bytes; returns a pointer to them (buf_commit adds them). */
MUST_USE enum err buf_reserve(struct buf *b, size_t extra, uint8_t **out_space);
void buf_commit(struct buf *b, size_t added);
/* Hands the storage to the caller (who frees it with mem_free) and resets the buffer. */
uint8_t *buf_detach(struct buf *b, size_t *out_size);

#endif
