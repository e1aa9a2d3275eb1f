/* Bounds-checked reader over borrowed bytes. Every read can fail cleanly with ERR_TRUNCATED
 * and then leaves the position unchanged. Integers are little-endian. The bytes must outlive
 * the reader and any pointer it returns.
 *
 * Everything here is static inline: every decoder (txs, blocks, frames, state nodes) reads
 * through these a few bytes at a time, and a call per byte showed in the profiles
 * (reader_u8 ~2 % of a node's loop thread, load_u64 ~2 % of its ledger thread). */
#ifndef LM_BASE_READER_H
#define LM_BASE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"

struct reader {
    const uint8_t *data;
    size_t size;
    size_t pos;
};

static inline void
reader_init(struct reader *r, const uint8_t *data, size_t size)
{
    ASSERT(data != NULL || size == 0);
    r->data = data;
    r->size = size;
    r->pos = 0;
}

static inline size_t
reader_remaining(const struct reader *r)
{
    ASSERT(r->pos <= r->size);
    return r->size - r->pos;
}

static inline bool
reader_is_done(const struct reader *r)
{
    return reader_remaining(r) == 0;
}

/* Borrows size bytes (valid as long as the underlying data). */
MUST_USE static inline enum err
reader_borrow(struct reader *r, size_t size, const uint8_t **out)
{
    if (size > reader_remaining(r)) {
        return ERR_TRUNCATED;
    }
    *out = r->data + r->pos;
    r->pos += size;
    return ERR_OK;
}

MUST_USE static inline enum err
reader_skip(struct reader *r, size_t size)
{
    const uint8_t *p;
    return reader_borrow(r, size, &p);
}

/* Copies size bytes into out. */
MUST_USE static inline enum err
reader_copy(struct reader *r, void *out, size_t size)
{
    const uint8_t *p;
    enum err rc = reader_borrow(r, size, &p);
    if (rc == ERR_OK && size > 0) {
        memcpy(out, p, size);
    }
    return rc;
}

/* Little-endian stores and loads for fixed layouts. */
static inline void
store_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void
store_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static inline void
store_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static inline uint16_t
load_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t
load_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t
load_u64(const uint8_t *p)
{
    return (uint64_t)load_u32(p) | ((uint64_t)load_u32(p + 4) << 32);
}

MUST_USE static inline enum err
reader_u8(struct reader *r, uint8_t *out)
{
    if (reader_remaining(r) < 1) {
        return ERR_TRUNCATED;
    }
    *out = r->data[r->pos++];
    return ERR_OK;
}

MUST_USE static inline enum err
reader_u16(struct reader *r, uint16_t *out)
{
    const uint8_t *p;
    enum err rc = reader_borrow(r, 2, &p);
    if (rc == ERR_OK) {
        *out = load_u16(p);
    }
    return rc;
}

MUST_USE static inline enum err
reader_u32(struct reader *r, uint32_t *out)
{
    const uint8_t *p;
    enum err rc = reader_borrow(r, 4, &p);
    if (rc == ERR_OK) {
        *out = load_u32(p);
    }
    return rc;
}

MUST_USE static inline enum err
reader_u64(struct reader *r, uint64_t *out)
{
    const uint8_t *p;
    enum err rc = reader_borrow(r, 8, &p);
    if (rc == ERR_OK) {
        *out = load_u64(p);
    }
    return rc;
}

#endif
