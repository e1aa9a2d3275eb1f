#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/mem.h"

void
buf_init(struct buf *b, size_t size_max)
{
    ASSERT(size_max > 0);
    b->data = NULL;
    b->size = 0;
    b->capacity = 0;
    b->size_max = size_max;
}

void
buf_release(struct buf *b)
{
    if (b == NULL) {
        return;
    }
    mem_free(b->data);
    b->data = NULL;
    b->size = 0;
    b->capacity = 0;
}

void
buf_reset(struct buf *b)
{
    b->size = 0;
}

enum err
buf_reserve(struct buf *b, size_t extra, uint8_t **out_space)
{
    ASSERT(b->size <= b->capacity);
    if (extra > b->size_max - b->size) {
        return ERR_TOO_LARGE;
    }
    size_t need = b->size + extra;
    /* Also on first use with extra == 0: NULL + 0 is undefined behaviour in C. */
    if (need > b->capacity || b->data == NULL) {
        size_t cap = b->capacity < 64 ? 64 : b->capacity;
        while (cap < need) {
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        }
        if (cap > b->size_max) {
            cap = b->size_max;
        }
        b->data = mem_realloc(b->data, cap);
        b->capacity = cap;
    }
    *out_space = b->data + b->size;
    return ERR_OK;
}

void
buf_commit(struct buf *b, size_t added)
{
    ASSERT(added <= b->capacity - b->size);
    b->size += added;
}

enum err
buf_append(struct buf *b, const void *data, size_t size)
{
    uint8_t *space;
    enum err rc = buf_reserve(b, size, &space);
    if (rc != ERR_OK) {
        return rc;
    }
    if (size > 0) {
        memcpy(space, data, size);
    }
    b->size += size;
    return ERR_OK;
}

enum err
buf_append_byte(struct buf *b, uint8_t byte)
{
    return buf_append(b, &byte, 1);
}

enum err
buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return ERR_INVALID_ARG;
    }
    uint8_t *space;
    enum err rc = buf_reserve(b, (size_t)n + 1, &space);
    if (rc != ERR_OK) {
        return rc;
    }
    va_start(ap, fmt);
    vsnprintf((char *)space, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->size += (size_t)n;
    return ERR_OK;
}

uint8_t *
buf_detach(struct buf *b, size_t *out_size)
{
    uint8_t *p = b->data;
    *out_size = b->size;
    b->data = NULL;
    b->size = 0;
    b->capacity = 0;
    return p;
}
