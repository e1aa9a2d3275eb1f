#include "codec/codec.h"

#include <string.h>

#include "base/assert.h"

enum err
codec_put_u8(struct buf *b, uint8_t v)
{
    return buf_append_byte(b, v);
}

enum err
codec_put_u16(struct buf *b, uint16_t v)
{
    uint8_t p[2];
    store_u16(p, v);
    return buf_append(b, p, sizeof p);
}

enum err
codec_put_u32(struct buf *b, uint32_t v)
{
    uint8_t p[4];
    store_u32(p, v);
    return buf_append(b, p, sizeof p);
}

enum err
codec_put_u64(struct buf *b, uint64_t v)
{
    uint8_t p[8];
    store_u64(p, v);
    return buf_append(b, p, sizeof p);
}

enum err
codec_put_bool(struct buf *b, bool v)
{
    return buf_append_byte(b, v ? 1 : 0);
}

enum err
codec_put_varint(struct buf *b, uint64_t v)
{
    uint8_t p[VARINT_SIZE_MAX];
    size_t n = 0;
    do {
        uint8_t byte = (uint8_t)(v & 0x7f);
        v >>= 7;
        p[n++] = v != 0 ? (uint8_t)(byte | 0x80) : byte;
    } while (v != 0);
    return buf_append(b, p, n);
}

size_t
codec_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

enum err
codec_put_fixed(struct buf *b, const void *data, size_t size)
{
    return buf_append(b, data, size);
}

enum err
codec_put_bytes(struct buf *b, const void *data, size_t size, size_t size_max)
{
    if (size > size_max) {
        return ERR_TOO_LARGE;
    }
    enum err rc = codec_put_varint(b, size);
    if (rc == ERR_OK) {
        rc = buf_append(b, data, size);
    }
    return rc;
}

enum err
codec_put_text(struct buf *b, const char *text, size_t size, size_t size_max)
{
    if (!codec_utf8_is_valid((const uint8_t *)text, size)) {
        return ERR_UTF8;
    }
    return codec_put_bytes(b, text, size, size_max);
}

enum err
codec_put_count(struct buf *b, size_t count, size_t count_max)
{
    if (count > count_max) {
        return ERR_TOO_LARGE;
    }
    return codec_put_varint(b, count);
}

enum err
codec_put_hash(struct buf *b, const struct hash *h)
{
    return buf_append(b, h->bytes, HASH_SIZE);
}

enum err
codec_put_public_key(struct buf *b, const struct public_key *k)
{
    ASSERT(sig_alg_is_valid(k->alg));
    ASSERT(k->size == sig_alg_public_key_size(k->alg));
    enum err rc = codec_put_u8(b, k->alg);
    if (rc == ERR_OK) {
        rc = buf_append(b, k->bytes, k->size);
    }
    return rc;
}

enum err
codec_put_signature(struct buf *b, const struct signature *s)
{
    ASSERT(sig_alg_is_valid(s->alg));
    enum err rc = codec_put_u8(b, s->alg);
    if (rc == ERR_OK) {
        rc = buf_append(b, s->bytes, SIGNATURE_SIZE);
    }
    return rc;
}

enum err
codec_put_address(struct buf *b, const struct address *a)
{
    return buf_append(b, a->bytes, ADDRESS_SIZE);
}

enum err
codec_get_u8(struct reader *r, uint8_t *out)
{
    return reader_u8(r, out);
}

enum err
codec_get_u16(struct reader *r, uint16_t *out)
{
    return reader_u16(r, out);
}

enum err
codec_get_u32(struct reader *r, uint32_t *out)
{
    return reader_u32(r, out);
}

enum err
codec_get_u64(struct reader *r, uint64_t *out)
{
    return reader_u64(r, out);
}

enum err
codec_get_bool(struct reader *r, bool *out)
{
    size_t start = r->pos;
    uint8_t v;
    enum err rc = reader_u8(r, &v);
    if (rc != ERR_OK) {
        return rc;
    }
    if (v > 1) {
        r->pos = start;
        return ERR_MALFORMED;
    }
    *out = v == 1;
    return ERR_OK;
}

enum err
codec_get_varint(struct reader *r, uint64_t *out)
{
    uint64_t v = 0;
    size_t start = r->pos;
    for (unsigned i = 0; i < VARINT_SIZE_MAX; i++) {
        uint8_t byte;
        if (reader_u8(r, &byte) != ERR_OK) {
            r->pos = start;
            return ERR_TRUNCATED;
        }
        /* The 10th byte may only carry the top bit of a u64. */
        if (i == VARINT_SIZE_MAX - 1 && byte > 1) {
            r->pos = start;
            return ERR_MALFORMED;
        }
        v |= (uint64_t)(byte & 0x7f) << (7 * i);
        if ((byte & 0x80) == 0) {
            /* Minimal form: no trailing zero group (except the value 0 itself). */
            if (byte == 0 && i > 0) {
                r->pos = start;
                return ERR_NONCANONICAL;
            }
            *out = v;
            return ERR_OK;
        }
    }
    r->pos = start;
    return ERR_MALFORMED;
}

enum err
codec_get_fixed(struct reader *r, void *out, size_t size)
{
    return reader_copy(r, out, size);
}

enum err
codec_get_bytes(struct reader *r, size_t size_max, const uint8_t **out_data, size_t *out_size)
{
    size_t start = r->pos;
    uint64_t size;
    enum err rc = codec_get_varint(r, &size);
    if (rc != ERR_OK) {
        return rc;
    }
    if (size > size_max) {
        r->pos = start;
        return ERR_TOO_LARGE;
    }
    rc = reader_borrow(r, (size_t)size, out_data);
    if (rc != ERR_OK) {
        r->pos = start;
        return rc;
    }
    *out_size = (size_t)size;
    return ERR_OK;
}

enum err
codec_get_text(struct reader *r, size_t size_max, const char **out_text, size_t *out_size)
{
    size_t start = r->pos;
    const uint8_t *data;
    size_t size;
    enum err rc = codec_get_bytes(r, size_max, &data, &size);
    if (rc != ERR_OK) {
        return rc;
    }
    if (!codec_utf8_is_valid(data, size)) {
        r->pos = start;
        return ERR_UTF8;
    }
    *out_text = (const char *)data;
    *out_size = size;
    return ERR_OK;
}

enum err
codec_get_count(struct reader *r, size_t count_max, size_t *out_count)
{
    size_t start = r->pos;
    uint64_t count;
    enum err rc = codec_get_varint(r, &count);
    if (rc != ERR_OK) {
        return rc;
    }
    if (count > count_max) {
        r->pos = start;
        return ERR_TOO_LARGE;
    }
    *out_count = (size_t)count;
    return ERR_OK;
}

enum err
codec_get_hash(struct reader *r, struct hash *out)
{
    return reader_copy(r, out->bytes, HASH_SIZE);
}

enum err
codec_get_public_key(struct reader *r, struct public_key *out)
{
    size_t start = r->pos;
    uint8_t alg;
    enum err rc = reader_u8(r, &alg);
    if (rc != ERR_OK) {
        return rc;
    }
    if (!sig_alg_is_valid(alg)) {
        r->pos = start;
        return ERR_UNSUPPORTED;
    }
    struct public_key k = { .alg = alg, .size = (uint8_t)sig_alg_public_key_size(alg) };
    rc = reader_copy(r, k.bytes, k.size);
    if (rc != ERR_OK) {
        r->pos = start;
        return rc;
    }
    *out = k;
    return ERR_OK;
}

enum err
codec_get_signature(struct reader *r, struct signature *out)
{
    size_t start = r->pos;
    uint8_t alg;
    enum err rc = reader_u8(r, &alg);
    if (rc != ERR_OK) {
        return rc;
    }
    if (!sig_alg_is_valid(alg)) {
        r->pos = start;
        return ERR_UNSUPPORTED;
    }
    struct signature s = { .alg = alg };
    rc = reader_copy(r, s.bytes, SIGNATURE_SIZE);
    if (rc != ERR_OK) {
        r->pos = start;
        return rc;
    }
    *out = s;
    return ERR_OK;
}

enum err
codec_get_address(struct reader *r, struct address *out)
{
    return reader_copy(r, out->bytes, ADDRESS_SIZE);
}

enum err
codec_finish(const struct reader *r)
{
    return reader_is_done(r) ? ERR_OK : ERR_TRAILING;
}

/* UTF-8 per RFC 3629: no overlong forms, no surrogates, at most U+10FFFF. */
bool
codec_utf8_is_valid(const uint8_t *s, size_t size)
{
    size_t i = 0;
    while (i < size) {
        uint64_t word;
        if (size - i >= sizeof word) { /* 8 ASCII bytes at once (notes are mostly ASCII) */
            memcpy(&word, s + i, sizeof word);
            if ((word & UINT64_C(0x8080808080808080)) == 0) {
                i += sizeof word;
                continue;
            }
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        uint32_t min;
        if ((c & 0xe0) == 0xc0) {
            n = 2;
            cp = c & 0x1fu;
            min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3;
            cp = c & 0x0fu;
            min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4;
            cp = c & 0x07u;
            min = 0x10000;
        } else {
            return false;
        }
        if (n > size - i) {
            return false;
        }
        for (size_t j = 1; j < n; j++) {
            if ((s[i + j] & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (s[i + j] & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += n;
    }
    return true;
}
