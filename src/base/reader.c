#include "base/reader.h"

#include <string.h>

#include "base/assert.h"

void
reader_init(struct reader *r, const uint8_t *data, size_t size)
{
    ASSERT(data != NULL || size == 0);
    r->data = data;
    r->size = size;
    r->pos = 0;
}

size_t
reader_remaining(const struct reader *r)
{
    ASSERT(r->pos <= r->size);
    return r->size - r->pos;
}

bool
reader_is_done(const struct reader *r)
{
    return reader_remaining(r) == 0;
}

enum err
reader_borrow(struct reader *r, size_t size, const uint8_t **out)
{
    if (size > reader_remaining(r)) {
        return ERR_TRUNCATED;
    }
    *out = r->data + r->pos;
    r->pos += size;
    return ERR_OK;
}

enum err
reader_skip(struct reader *r, size_t size)
{
    const uint8_t *p;
    return reader_borrow(r, size, &p);
}

enum err
reader_copy(struct reader *r, void *out, size_t size)
{
    const uint8_t *p;
    enum err rc = reader_borrow(r, size, &p);
    if (rc == ERR_OK && size > 0) {
        memcpy(out, p, size);
    }
    return rc;
}

enum err
reader_u8(struct reader *r, uint8_t *out)
{
    return reader_copy(r, out, 1);
}

enum err
reader_u16(struct reader *r, uint16_t *out)
{
    const uint8_t *p;
    enum err rc = reader_borrow(r, 2, &p);
    if (rc == ERR_OK) {
        *out = load_u16(p);
    }
    return rc;
}

enum err
reader_u32(struct reader *r, uint32_t *out)
{
    const uint8_t *p;
    enum err rc = reader_borrow(r, 4, &p);
    if (rc == ERR_OK) {
        *out = load_u32(p);
    }
    return rc;
}

enum err
reader_u64(struct reader *r, uint64_t *out)
{
    const uint8_t *p;
    enum err rc = reader_borrow(r, 8, &p);
    if (rc == ERR_OK) {
        *out = load_u64(p);
    }
    return rc;
}

void
store_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void
store_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

void
store_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

uint16_t
load_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

uint32_t
load_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

uint64_t
load_u64(const uint8_t *p)
{
    return (uint64_t)load_u32(p) | ((uint64_t)load_u32(p + 4) << 32);
}
