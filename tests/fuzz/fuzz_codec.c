/* Fuzz target of codec/: the input carries its own small schema, then the bytes to decode.
 *
 *   byte 0        field count n (mod FIELDS_MAX + 1)
 *   bytes 1..n    one byte per field: low 4 bits the kind, high 4 bits the maximum (for bytes,
 *                 text and vectors) from size_maxes[]
 *   the rest      the encoding, decoded field by field, then codec_finish
 *
 * When the whole encoding decodes, re-encoding the decoded values must give exactly the same
 * bytes (one value, one encoding). Independently, codec_utf8_is_valid is checked against a
 * reference validator written from the Unicode well-formed byte sequence table (Table 3-7). */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/reader.h"
#include "codec/codec.h"
#include "crypto/sign.h"

#define FIELDS_MAX 16
#define FIXED_SIZE 5

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum kind {
    KIND_U8,
    KIND_U16,
    KIND_U32,
    KIND_U64,
    KIND_BOOL,
    KIND_VARINT,
    KIND_BYTES,
    KIND_TEXT,
    KIND_VECTOR,
    KIND_HASH,
    KIND_KEY,
    KIND_SIGNATURE,
    KIND_ADDRESS,
    KIND_FIXED,
    KIND_COUNT
};

static const size_t size_maxes[16] = {
    0, 1, 2, 5, 16, 64, 127, 128, 255, 1000, 4096, 16383, 16384, 65535, 1u << 20, SIZE_MAX,
};

struct value {
    enum kind kind;
    size_t size_max;
    uint64_t number;
    const uint8_t *data; /* bytes/text (borrowed from the input), or the vector's elements */
    size_t size;         /* bytes/text size, vector count */
    struct hash hash;
    struct public_key key;
    struct signature signature;
    struct address address;
    uint8_t fixed[FIXED_SIZE];
};

/* Unicode 15, Table 3-7: the well-formed UTF-8 byte sequences, range by range. */
static bool
utf8_reference(const uint8_t *s, size_t size)
{
    size_t i = 0;
    while (i < size) {
        uint8_t c = s[i];
        size_t n;
        uint8_t lo = 0x80;
        uint8_t hi = 0xbf;
        if (c <= 0x7f) {
            n = 1;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 2;
        } else if (c == 0xe0) {
            n = 3;
            lo = 0xa0;
        } else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
            n = 3;
        } else if (c == 0xed) {
            n = 3;
            hi = 0x9f;
        } else if (c == 0xf0) {
            n = 4;
            lo = 0x90;
        } else if (c >= 0xf1 && c <= 0xf3) {
            n = 4;
        } else if (c == 0xf4) {
            n = 4;
            hi = 0x8f;
        } else {
            return false;
        }
        if (size - i < n) {
            return false;
        }
        for (size_t j = 1; j < n; j++) {
            uint8_t b = s[i + j];
            uint8_t min = j == 1 ? lo : 0x80;
            uint8_t max = j == 1 ? hi : 0xbf;
            if (b < min || b > max) {
                return false;
            }
        }
        i += n;
    }
    return true;
}

static enum err
vector_decode(struct reader *r, struct value *v)
{
    size_t count;
    size_t start = r->pos;
    enum err rc = codec_get_count(r, v->size_max > 4096 ? 4096 : v->size_max, &count);
    if (rc != ERR_OK) {
        return rc;
    }
    v->data = r->data + r->pos;
    for (size_t i = 0; i < count; i++) {
        uint64_t item;
        rc = codec_get_varint(r, &item);
        if (rc != ERR_OK) {
            r->pos = start;
            return rc;
        }
    }
    v->size = count;
    v->number = r->pos - (size_t)(v->data - r->data); /* byte size of the elements */
    return ERR_OK;
}

static enum err
value_decode(struct reader *r, struct value *v)
{
    uint8_t u8 = 0;
    uint16_t u16 = 0;
    uint32_t u32 = 0;
    bool flag = false;
    enum err rc = ERR_OK;
    const char *text = NULL;
    size_t start = r->pos;
    switch (v->kind) {
    case KIND_U8:
        rc = codec_get_u8(r, &u8);
        v->number = u8;
        return rc;
    case KIND_U16:
        rc = codec_get_u16(r, &u16);
        v->number = u16;
        return rc;
    case KIND_U32:
        rc = codec_get_u32(r, &u32);
        v->number = u32;
        return rc;
    case KIND_U64:
        return codec_get_u64(r, &v->number);
    case KIND_BOOL:
        rc = codec_get_bool(r, &flag);
        v->number = flag ? 1 : 0;
        return rc;
    case KIND_VARINT:
        rc = codec_get_varint(r, &v->number);
        if (rc == ERR_OK) {
            ASSERT(r->pos - start == codec_varint_size(v->number));
        }
        return rc;
    case KIND_BYTES:
        return codec_get_bytes(r, v->size_max, &v->data, &v->size);
    case KIND_TEXT:
        rc = codec_get_text(r, v->size_max, &text, &v->size);
        v->data = (const uint8_t *)text;
        return rc;
    case KIND_VECTOR:
        return vector_decode(r, v);
    case KIND_HASH:
        return codec_get_hash(r, &v->hash);
    case KIND_KEY:
        return codec_get_public_key(r, &v->key);
    case KIND_SIGNATURE:
        return codec_get_signature(r, &v->signature);
    case KIND_ADDRESS:
        return codec_get_address(r, &v->address);
    case KIND_FIXED:
        return codec_get_fixed(r, v->fixed, FIXED_SIZE);
    case KIND_COUNT:
        break;
    }
    UNREACHABLE();
}

static enum err
vector_encode(struct buf *b, const struct value *v)
{
    enum err rc = codec_put_count(b, v->size, v->size_max > 4096 ? 4096 : v->size_max);
    struct reader items;
    reader_init(&items, v->data, (size_t)v->number);
    for (size_t i = 0; i < v->size && rc == ERR_OK; i++) {
        uint64_t item;
        rc = codec_get_varint(&items, &item);
        ASSERT(rc == ERR_OK); /* decoded once already */
        rc = codec_put_varint(b, item);
    }
    return rc;
}

static enum err
value_encode(struct buf *b, const struct value *v)
{
    switch (v->kind) {
    case KIND_U8:
        return codec_put_u8(b, (uint8_t)v->number);
    case KIND_U16:
        return codec_put_u16(b, (uint16_t)v->number);
    case KIND_U32:
        return codec_put_u32(b, (uint32_t)v->number);
    case KIND_U64:
        return codec_put_u64(b, v->number);
    case KIND_BOOL:
        return codec_put_bool(b, v->number != 0);
    case KIND_VARINT:
        return codec_put_varint(b, v->number);
    case KIND_BYTES:
        return codec_put_bytes(b, v->data, v->size, v->size_max);
    case KIND_TEXT:
        return codec_put_text(b, (const char *)v->data, v->size, v->size_max);
    case KIND_VECTOR:
        return vector_encode(b, v);
    case KIND_HASH:
        return codec_put_hash(b, &v->hash);
    case KIND_KEY:
        return codec_put_public_key(b, &v->key);
    case KIND_SIGNATURE:
        return codec_put_signature(b, &v->signature);
    case KIND_ADDRESS:
        return codec_put_address(b, &v->address);
    case KIND_FIXED:
        return codec_put_fixed(b, v->fixed, FIXED_SIZE);
    case KIND_COUNT:
        break;
    }
    UNREACHABLE();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ASSERT(codec_utf8_is_valid(data, size) == utf8_reference(data, size));
    if (size == 0) {
        return 0;
    }
    size_t count = data[0] % (FIELDS_MAX + 1);
    if (size < 1 + count) {
        return 0;
    }
    struct value values[FIELDS_MAX];
    memset(values, 0, sizeof values);
    for (size_t i = 0; i < count; i++) {
        uint8_t spec = data[1 + i];
        values[i].kind = (enum kind)((spec & 0x0f) % KIND_COUNT);
        values[i].size_max = size_maxes[spec >> 4];
    }
    const uint8_t *wire = data + 1 + count;
    size_t wire_size = size - 1 - count;
    struct reader r;
    reader_init(&r, wire, wire_size);
    for (size_t i = 0; i < count; i++) {
        size_t before = r.pos;
        enum err rc = value_decode(&r, &values[i]);
        if (rc != ERR_OK) {
            ASSERT(r.pos == before); /* a failed read does not move the reader */
            return 0;
        }
    }
    if (codec_finish(&r) != ERR_OK) {
        return 0;
    }
    struct buf again;
    buf_init(&again, wire_size + 1);
    for (size_t i = 0; i < count; i++) {
        enum err rc = value_encode(&again, &values[i]);
        ASSERT(rc == ERR_OK); /* what decodes must encode, within the same size */
    }
    ASSERT(again.size == wire_size);
    ASSERT(wire_size == 0 || memcmp(again.data, wire, wire_size) == 0);
    buf_release(&again);
    return 0;
}
