/* Unit tests of codec/: known encodings, strict rejection of every non-canonical form, UTF-8
 * edge cases, seeded round-trip properties (value -> bytes -> value, bytes -> value -> bytes)
 * and clean failure on every truncation of a valid encoding. */
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/mem.h"
#include "base/reader.h"
#include "codec/codec.h"
#include "crypto/sign.h"
#include "unit.h"

#define ARRAY_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* splitmix64: a seeded generator so every failure can be replayed. */
static uint64_t
prng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t
prng_below(uint64_t *state, uint64_t bound)
{
    return prng_next(state) % bound;
}

/* Decodes one varint from exactly these bytes (copied to an exact-size heap block so ASan
 * catches any over-read) and requires the whole input to be consumed. */
static enum err
varint_decode_all(const uint8_t *bytes, size_t size, uint64_t *out)
{
    uint8_t *copy = mem_dup(bytes, size);
    struct reader r;
    reader_init(&r, copy, size);
    uint64_t v = 0;
    enum err rc = codec_get_varint(&r, &v);
    if (rc == ERR_OK) {
        rc = codec_finish(&r);
    } else {
        assert_int_equal(r.pos, 0); /* a failed read does not move */
    }
    mem_free(copy);
    if (rc == ERR_OK) {
        *out = v;
    }
    return rc;
}

static void
check_varint(uint64_t value, const uint8_t *expect, size_t expect_size)
{
    struct buf b;
    buf_init(&b, 64);
    assert_int_equal(codec_put_varint(&b, value), ERR_OK);
    assert_int_equal(b.size, expect_size);
    assert_memory_equal(b.data, expect, expect_size);
    assert_int_equal(codec_varint_size(value), expect_size);
    uint64_t back = 0;
    assert_int_equal(varint_decode_all(expect, expect_size, &back), ERR_OK);
    assert_true(back == value);
    buf_release(&b);
}

static void
test_varint_known(void **state)
{
    (void)state;
    check_varint(0, (const uint8_t[]){ 0x00 }, 1);
    check_varint(1, (const uint8_t[]){ 0x01 }, 1);
    check_varint(127, (const uint8_t[]){ 0x7f }, 1);
    check_varint(128, (const uint8_t[]){ 0x80, 0x01 }, 2);
    check_varint(300, (const uint8_t[]){ 0xac, 0x02 }, 2);
    check_varint(16383, (const uint8_t[]){ 0xff, 0x7f }, 2);
    check_varint(16384, (const uint8_t[]){ 0x80, 0x80, 0x01 }, 3);
    check_varint(UINT32_MAX, (const uint8_t[]){ 0xff, 0xff, 0xff, 0xff, 0x0f }, 5);
    check_varint(1ull << 63,
                 (const uint8_t[]){ 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 },
                 10);
    check_varint(UINT64_MAX,
                 (const uint8_t[]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 },
                 10);
    /* Every size boundary 2^(7k) - 1 / 2^(7k). */
    for (unsigned k = 1; k < 10; k++) {
        uint64_t edge = 1ull << (7 * k);
        assert_int_equal(codec_varint_size(edge - 1), k);
        assert_int_equal(codec_varint_size(edge), k + 1);
    }
}

/* Writes value in LEB128 with `extra` redundant zero groups: never minimal when extra > 0. */
static size_t
varint_padded(uint64_t value, unsigned extra, uint8_t *out, size_t out_size)
{
    uint8_t groups[24];
    size_t n = 0;
    do {
        groups[n++] = (uint8_t)(value & 0x7f);
        value >>= 7;
    } while (value != 0);
    for (unsigned i = 0; i < extra; i++) {
        groups[n++] = 0;
    }
    assert_true(n <= out_size);
    for (size_t i = 0; i < n; i++) {
        out[i] = (uint8_t)(groups[i] | (i + 1 < n ? 0x80 : 0));
    }
    return n;
}

static void
test_varint_noncanonical(void **state)
{
    (void)state;
    const uint64_t values[] = { 0, 1, 127, 128, 16383, 16384, 1ull << 35, (1ull << 56) - 1 };
    for (size_t i = 0; i < ARRAY_COUNT(values); i++) {
        for (unsigned extra = 1; extra <= 9; extra++) {
            uint8_t enc[24];
            size_t size = varint_padded(values[i], extra, enc, sizeof enc);
            uint64_t v = 0;
            enum err rc = varint_decode_all(enc, size, &v);
            /* Up to 10 bytes it is a trailing zero group; past that it is too long. */
            assert_int_equal(rc, size <= VARINT_SIZE_MAX ? ERR_NONCANONICAL : ERR_MALFORMED);
        }
    }
    uint64_t v = 0;
    /* 11 bytes: ten continuation bytes and a terminator. */
    const uint8_t eleven[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00 };
    assert_int_equal(varint_decode_all(eleven, sizeof eleven, &v), ERR_MALFORMED);
    const uint8_t eleven_ff[] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
    };
    assert_int_equal(varint_decode_all(eleven_ff, sizeof eleven_ff, &v), ERR_MALFORMED);
    /* The 10th byte may carry only bit 63: 2, 0x7f and a set continuation bit overflow. */
    const uint8_t tenth[] = { 0x02, 0x7f, 0x40, 0x81 };
    for (size_t i = 0; i < ARRAY_COUNT(tenth); i++) {
        uint8_t enc[10] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 };
        enc[9] = tenth[i];
        assert_int_equal(varint_decode_all(enc, sizeof enc, &v), ERR_MALFORMED);
    }
    /* Truncated: a continuation bit with nothing after it. */
    assert_int_equal(varint_decode_all((const uint8_t[]){ 0x80 }, 1, &v), ERR_TRUNCATED);
    assert_int_equal(varint_decode_all((const uint8_t[]){ 0xff, 0xff }, 2, &v), ERR_TRUNCATED);
    assert_int_equal(varint_decode_all(NULL, 0, &v), ERR_TRUNCATED);
    /* Trailing bytes after a valid varint. */
    assert_int_equal(varint_decode_all((const uint8_t[]){ 0x05, 0x00 }, 2, &v), ERR_TRAILING);
}

static void
test_fixed_ints(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 64);
    assert_int_equal(codec_put_u8(&b, 0xab), ERR_OK);
    assert_int_equal(codec_put_u16(&b, 0x1234), ERR_OK);
    assert_int_equal(codec_put_u32(&b, 0x89abcdefu), ERR_OK);
    assert_int_equal(codec_put_u64(&b, 0x0102030405060708ull), ERR_OK);
    assert_int_equal(codec_put_bool(&b, true), ERR_OK);
    assert_int_equal(codec_put_bool(&b, false), ERR_OK);
    const uint8_t expect[] = { 0xab, 0x34, 0x12, 0xef, 0xcd, 0xab, 0x89, 0x08, 0x07,
                               0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0x01, 0x00 };
    assert_int_equal(b.size, sizeof expect);
    assert_memory_equal(b.data, expect, sizeof expect);

    struct reader r;
    reader_init(&r, b.data, b.size);
    uint8_t a8;
    uint16_t a16;
    uint32_t a32;
    uint64_t a64;
    bool t;
    bool f;
    assert_int_equal(codec_get_u8(&r, &a8), ERR_OK);
    assert_int_equal(codec_get_u16(&r, &a16), ERR_OK);
    assert_int_equal(codec_get_u32(&r, &a32), ERR_OK);
    assert_int_equal(codec_get_u64(&r, &a64), ERR_OK);
    assert_int_equal(codec_get_bool(&r, &t), ERR_OK);
    assert_int_equal(codec_get_bool(&r, &f), ERR_OK);
    assert_int_equal(codec_finish(&r), ERR_OK);
    assert_int_equal(a8, 0xab);
    assert_int_equal(a16, 0x1234);
    assert_int_equal(a32, 0x89abcdefu);
    assert_true(a64 == 0x0102030405060708ull);
    assert_true(t);
    assert_false(f);

    /* A bool other than 0 or 1 is malformed and does not move the reader. */
    const uint8_t bad_bool[] = { 0x02 };
    reader_init(&r, bad_bool, sizeof bad_bool);
    assert_int_equal(codec_get_bool(&r, &t), ERR_MALFORMED);
    assert_int_equal(r.pos, 0);
    buf_release(&b);
}

static void
test_bytes_and_counts(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1024);
    assert_int_equal(codec_put_bytes(&b, "abc", 3, 3), ERR_OK);
    assert_int_equal(codec_put_bytes(&b, "abcd", 4, 3), ERR_TOO_LARGE);
    assert_int_equal(codec_put_bytes(&b, NULL, 0, 0), ERR_OK);
    assert_int_equal(codec_put_count(&b, 200, 200), ERR_OK);
    assert_int_equal(codec_put_count(&b, 201, 200), ERR_TOO_LARGE);
    const uint8_t expect[] = { 0x03, 'a', 'b', 'c', 0x00, 0xc8, 0x01 };
    assert_int_equal(b.size, sizeof expect);
    assert_memory_equal(b.data, expect, sizeof expect);

    struct reader r;
    const uint8_t *data;
    size_t size;
    size_t count;
    reader_init(&r, b.data, b.size);
    /* The decoder enforces the same maximum: a length past it fails before the data. */
    assert_int_equal(codec_get_bytes(&r, 2, &data, &size), ERR_TOO_LARGE);
    assert_int_equal(r.pos, 0);
    assert_int_equal(codec_get_bytes(&r, 3, &data, &size), ERR_OK);
    assert_int_equal(size, 3);
    assert_memory_equal(data, "abc", 3);
    assert_int_equal(codec_get_bytes(&r, 0, &data, &size), ERR_OK);
    assert_int_equal(size, 0);
    assert_int_equal(codec_get_count(&r, 199, &count), ERR_TOO_LARGE);
    assert_int_equal(codec_get_count(&r, 200, &count), ERR_OK);
    assert_int_equal(count, 200);
    assert_int_equal(codec_finish(&r), ERR_OK);

    /* A length larger than what remains is truncated, not an over-read. */
    const uint8_t short_bytes[] = { 0x05, 'a', 'b' };
    reader_init(&r, short_bytes, sizeof short_bytes);
    assert_int_equal(codec_get_bytes(&r, 100, &data, &size), ERR_TRUNCATED);
    assert_int_equal(r.pos, 0);
    /* A huge declared length (2^63) is rejected by the maximum, never allocated. */
    const uint8_t huge[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 };
    reader_init(&r, huge, sizeof huge);
    assert_int_equal(codec_get_bytes(&r, SIZE_MAX, &data, &size), ERR_TRUNCATED);
    reader_init(&r, huge, sizeof huge);
    assert_int_equal(codec_get_count(&r, 1000, &count), ERR_TOO_LARGE);

    /* Empty values into a fresh buffer (once NULL + 0 inside buf_reserve: clang's UBSan
     * reported "applying zero offset to null pointer"). */
    struct buf fresh;
    buf_init(&fresh, 8);
    assert_int_equal(codec_put_fixed(&fresh, NULL, 0), ERR_OK);
    assert_int_equal(fresh.size, 0);
    assert_int_equal(codec_put_text(&fresh, "", 0, 0), ERR_OK);
    assert_int_equal(fresh.size, 1);
    buf_release(&fresh);

    /* Writers fail cleanly when the buffer's maximum is reached. */
    struct buf small;
    buf_init(&small, 4);
    assert_int_equal(codec_put_u64(&small, 1), ERR_TOO_LARGE);
    assert_int_equal(codec_put_u32(&small, 1), ERR_OK);
    assert_int_equal(codec_put_varint(&small, 1), ERR_TOO_LARGE);
    buf_release(&small);
    buf_release(&b);
}

struct utf8_case {
    const char *name;
    const char *bytes;
    size_t size;
    bool valid;
};

#define UTF8_CASE(name, lit, valid)       \
    {                                     \
        name, lit, sizeof(lit) - 1, valid \
    }

static const struct utf8_case utf8_cases[] = {
    UTF8_CASE("empty", "", true),
    UTF8_CASE("ascii", "hello, world", true),
    UTF8_CASE("nul", "a\0b", true),
    UTF8_CASE("cjk lianmeng", "\xe8\x81\x94\xe7\x9b\x9f", true), /* 联盟 */
    UTF8_CASE("cjk mixed", "alliance \xe8\x81\x94\xe7\x9b\x9f 2026", true),
    UTF8_CASE("2-byte min U+0080", "\xc2\x80", true),
    UTF8_CASE("2-byte max U+07FF", "\xdf\xbf", true),
    UTF8_CASE("3-byte min U+0800", "\xe0\xa0\x80", true),
    UTF8_CASE("before surrogates U+D7FF", "\xed\x9f\xbf", true),
    UTF8_CASE("after surrogates U+E000", "\xee\x80\x80", true),
    UTF8_CASE("U+FFFD", "\xef\xbf\xbd", true),
    UTF8_CASE("U+FFFF", "\xef\xbf\xbf", true),
    UTF8_CASE("4-byte min U+10000", "\xf0\x90\x80\x80", true),
    UTF8_CASE("emoji U+1F600", "\xf0\x9f\x98\x80", true),
    UTF8_CASE("max U+10FFFF", "\xf4\x8f\xbf\xbf", true),
    UTF8_CASE("overlong NUL C0 80", "\xc0\x80", false),
    UTF8_CASE("overlong C1 BF", "\xc1\xbf", false),
    UTF8_CASE("overlong slash E0 80 AF", "\xe0\x80\xaf", false),
    UTF8_CASE("overlong U+07FF E0 9F BF", "\xe0\x9f\xbf", false),
    UTF8_CASE("overlong F0 80 80 80", "\xf0\x80\x80\x80", false),
    UTF8_CASE("overlong U+FFFF F0 8F BF BF", "\xf0\x8f\xbf\xbf", false),
    UTF8_CASE("surrogate U+D800", "\xed\xa0\x80", false),
    UTF8_CASE("surrogate U+DBFF", "\xed\xaf\xbf", false),
    UTF8_CASE("surrogate U+DC00", "\xed\xb0\x80", false),
    UTF8_CASE("surrogate U+DFFF", "\xed\xbf\xbf", false),
    UTF8_CASE("surrogate pair CESU", "\xed\xa0\xbd\xed\xb8\x80", false),
    UTF8_CASE("U+110000", "\xf4\x90\x80\x80", false),
    UTF8_CASE("F5 lead", "\xf5\x80\x80\x80", false),
    UTF8_CASE("F7 BF BF BF", "\xf7\xbf\xbf\xbf", false),
    UTF8_CASE("5-byte F8", "\xf8\x88\x80\x80\x80", false),
    UTF8_CASE("6-byte FC", "\xfc\x84\x80\x80\x80\x80", false),
    UTF8_CASE("FE", "\xfe", false),
    UTF8_CASE("FF", "\xff", false),
    UTF8_CASE("lone continuation 80", "\x80", false),
    UTF8_CASE("lone continuation BF", "a\xbf", false),
    UTF8_CASE("truncated 2-byte", "\xc2", false),
    UTF8_CASE("truncated 3-byte (1 of 2)", "\xe8", false),
    UTF8_CASE("truncated 3-byte (2 of 3)", "\xe8\x81", false),
    UTF8_CASE("truncated CJK then ASCII",
              "\xe8\x81"
              "a",
              false),
    UTF8_CASE("truncated 4-byte (3 of 4)", "\xf0\x9f\x98", false),
    UTF8_CASE("bad continuation", "\xe8\x41\x94", false),
    UTF8_CASE("continuation is lead", "\xe8\xe8\x81\x94", false),
    UTF8_CASE("valid then truncated", "\xe8\x81\x94\xe7\x9b", false),
    /* around the 8-byte ASCII steps */
    UTF8_CASE("16 ascii", "abcdefghijklmnop", true),
    UTF8_CASE("8 ascii then FF", "abcdefgh\xff", false),
    UTF8_CASE("CJK across a word", "abcdefg\xe8\x81\x94hijklmnop", true),
    UTF8_CASE("bad byte in the second word", "abcdefghijklm\x80op", false),
    UTF8_CASE("truncated after 15 ascii", "abcdefghijklmno\xe8\x81", false),
    UTF8_CASE("surrogate after 8 ascii", "abcdefgh\xed\xa0\x80", false),
};

static void
test_utf8(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_COUNT(utf8_cases); i++) {
        const struct utf8_case *c = &utf8_cases[i];
        bool got = codec_utf8_is_valid((const uint8_t *)c->bytes, c->size);
        if (got != c->valid) {
            fail_msg("utf8 case '%s': expected %s", c->name, c->valid ? "valid" : "invalid");
        }
        /* The writer refuses what the reader would refuse, and vice versa. */
        struct buf b;
        buf_init(&b, 64);
        enum err put = codec_put_text(&b, c->bytes, c->size, 64);
        assert_int_equal(put, c->valid ? ERR_OK : ERR_UTF8);
        buf_reset(&b);
        assert_int_equal(codec_put_bytes(&b, c->bytes, c->size, 64), ERR_OK);
        struct reader r;
        reader_init(&r, b.data, b.size);
        const char *text;
        size_t size;
        enum err get = codec_get_text(&r, 64, &text, &size);
        assert_int_equal(get, c->valid ? ERR_OK : ERR_UTF8);
        if (c->valid) {
            assert_int_equal(size, c->size);
            assert_memory_equal(text, c->bytes, c->size);
        } else {
            assert_int_equal(r.pos, 0);
        }
        buf_release(&b);
    }
}

/* Every single code point, encoded by hand, is valid exactly when it is a scalar value. */
static void
test_utf8_all_code_points(void **state)
{
    (void)state;
    for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
        uint8_t e[4];
        size_t n;
        if (cp < 0x80) {
            e[0] = (uint8_t)cp;
            n = 1;
        } else if (cp < 0x800) {
            e[0] = (uint8_t)(0xc0 | (cp >> 6));
            e[1] = (uint8_t)(0x80 | (cp & 0x3f));
            n = 2;
        } else if (cp < 0x10000) {
            e[0] = (uint8_t)(0xe0 | (cp >> 12));
            e[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
            e[2] = (uint8_t)(0x80 | (cp & 0x3f));
            n = 3;
        } else {
            e[0] = (uint8_t)(0xf0 | (cp >> 18));
            e[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
            e[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
            e[3] = (uint8_t)(0x80 | (cp & 0x3f));
            n = 4;
        }
        bool scalar = cp < 0xd800 || cp > 0xdfff;
        if (codec_utf8_is_valid(e, n) != scalar) {
            fail_msg("code point U+%04X misjudged", (unsigned)cp);
        }
        /* Every proper prefix of a multi-byte sequence is invalid. */
        for (size_t k = 1; k < n; k++) {
            assert_false(codec_utf8_is_valid(e, k));
        }
    }
}

static void
test_keys_and_signatures(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 512);
    struct public_key ed = { .alg = SIG_ED25519, .size = 32 };
    struct public_key sm2 = { .alg = SIG_SM2, .size = 65 };
    for (uint8_t i = 0; i < 65; i++) {
        sm2.bytes[i] = (uint8_t)(0xa0 + i);
        if (i < 32) {
            ed.bytes[i] = i;
        }
    }
    struct signature sig = { .alg = SIG_SM2 };
    memset(sig.bytes, 0x5a, sizeof sig.bytes);
    struct hash h;
    memset(h.bytes, 0x11, sizeof h.bytes);
    struct address a;
    memset(a.bytes, 0x22, sizeof a.bytes);
    assert_int_equal(codec_put_public_key(&b, &ed), ERR_OK);
    assert_int_equal(b.size, 1 + 32);
    assert_int_equal(b.data[0], SIG_ED25519);
    assert_int_equal(codec_put_public_key(&b, &sm2), ERR_OK);
    assert_int_equal(b.size, 1 + 32 + 1 + 65);
    assert_int_equal(codec_put_signature(&b, &sig), ERR_OK);
    assert_int_equal(codec_put_hash(&b, &h), ERR_OK);
    assert_int_equal(codec_put_address(&b, &a), ERR_OK);
    assert_int_equal(b.size, 33 + 66 + 65 + 32 + 20);

    struct reader r;
    reader_init(&r, b.data, b.size);
    struct public_key ed2;
    struct public_key sm22;
    struct signature sig2;
    struct hash h2;
    struct address a2;
    assert_int_equal(codec_get_public_key(&r, &ed2), ERR_OK);
    assert_int_equal(codec_get_public_key(&r, &sm22), ERR_OK);
    assert_int_equal(codec_get_signature(&r, &sig2), ERR_OK);
    assert_int_equal(codec_get_hash(&r, &h2), ERR_OK);
    assert_int_equal(codec_get_address(&r, &a2), ERR_OK);
    assert_int_equal(codec_finish(&r), ERR_OK);
    assert_int_equal(ed2.alg, SIG_ED25519);
    assert_int_equal(ed2.size, 32);
    assert_memory_equal(ed2.bytes, ed.bytes, 32);
    assert_int_equal(sm22.size, 65);
    assert_memory_equal(sm22.bytes, sm2.bytes, 65);
    assert_int_equal(sig2.alg, SIG_SM2);
    assert_memory_equal(sig2.bytes, sig.bytes, SIGNATURE_SIZE);
    assert_memory_equal(h2.bytes, h.bytes, HASH_SIZE);
    assert_memory_equal(a2.bytes, a.bytes, ADDRESS_SIZE);

    /* Unknown algorithm tags are unsupported; a key cut short is truncated. */
    const uint8_t tags[] = { 0, 3, 0xff };
    for (size_t i = 0; i < ARRAY_COUNT(tags); i++) {
        uint8_t enc[1 + 65] = { 0 };
        enc[0] = tags[i];
        reader_init(&r, enc, sizeof enc);
        assert_int_equal(codec_get_public_key(&r, &ed2), ERR_UNSUPPORTED);
        assert_int_equal(r.pos, 0);
        reader_init(&r, enc, sizeof enc);
        assert_int_equal(codec_get_signature(&r, &sig2), ERR_UNSUPPORTED);
    }
    uint8_t short_key[1 + 64] = { SIG_SM2 };
    reader_init(&r, short_key, sizeof short_key);
    assert_int_equal(codec_get_public_key(&r, &sm22), ERR_TRUNCATED);
    assert_int_equal(r.pos, 0);
    buf_release(&b);
}

/* A random "record": a sequence of typed fields, each drawn from the PRNG. */
enum field_kind {
    FIELD_U8,
    FIELD_U16,
    FIELD_U32,
    FIELD_U64,
    FIELD_BOOL,
    FIELD_VARINT,
    FIELD_BYTES,
    FIELD_TEXT,
    FIELD_VECTOR,
    FIELD_HASH,
    FIELD_KEY,
    FIELD_KIND_COUNT
};

#define FIELDS_MAX     12
#define BYTES_SIZE_MAX 300
#define VECTOR_MAX     20

struct field {
    enum field_kind kind;
    uint64_t number;
    uint8_t bytes[BYTES_SIZE_MAX];
    size_t size; /* bytes/text size, or vector count */
    uint64_t items[VECTOR_MAX];
    struct hash hash;
    struct public_key key;
};

struct record {
    size_t count;
    struct field fields[FIELDS_MAX];
};

/* Random varints are spread over all encoded sizes, not just the (mostly 10-byte) uniform. */
static uint64_t
random_varint(uint64_t *seed)
{
    uint64_t v = prng_next(seed);
    unsigned bits = (unsigned)prng_below(seed, 65);
    return bits == 64 ? v : v & ((1ull << bits) - 1);
}

/* Random valid UTF-8: ASCII, 2-, 3- (incl. CJK) and 4-byte scalars. */
static size_t
random_text(uint64_t *seed, uint8_t *out, size_t size_max)
{
    size_t n = 0;
    size_t chars = (size_t)prng_below(seed, 40);
    for (size_t i = 0; i < chars && n + 4 <= size_max; i++) {
        uint32_t cp;
        switch (prng_below(seed, 4)) {
        case 0:
            cp = (uint32_t)prng_below(seed, 0x80);
            break;
        case 1:
            cp = 0x80 + (uint32_t)prng_below(seed, 0x800 - 0x80);
            break;
        case 2:
            cp = 0x4e00 + (uint32_t)prng_below(seed, 0x9fff - 0x4e00);
            break;
        default:
            cp = 0x10000 + (uint32_t)prng_below(seed, 0x110000 - 0x10000);
            break;
        }
        if (cp < 0x80) {
            out[n++] = (uint8_t)cp;
        } else if (cp < 0x800) {
            out[n++] = (uint8_t)(0xc0 | (cp >> 6));
            out[n++] = (uint8_t)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            out[n++] = (uint8_t)(0xe0 | (cp >> 12));
            out[n++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
            out[n++] = (uint8_t)(0x80 | (cp & 0x3f));
        } else {
            out[n++] = (uint8_t)(0xf0 | (cp >> 18));
            out[n++] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
            out[n++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
            out[n++] = (uint8_t)(0x80 | (cp & 0x3f));
        }
    }
    return n;
}

static void
random_field(uint64_t *seed, struct field *f)
{
    memset(f, 0, sizeof *f);
    f->kind = (enum field_kind)prng_below(seed, FIELD_KIND_COUNT);
    switch (f->kind) {
    case FIELD_U8:
    case FIELD_U16:
    case FIELD_U32:
    case FIELD_U64:
        f->number = prng_next(seed);
        break;
    case FIELD_BOOL:
        f->number = prng_below(seed, 2);
        break;
    case FIELD_VARINT:
        f->number = random_varint(seed);
        break;
    case FIELD_BYTES:
        f->size = (size_t)prng_below(seed, BYTES_SIZE_MAX + 1);
        for (size_t i = 0; i < f->size; i++) {
            f->bytes[i] = (uint8_t)prng_next(seed);
        }
        break;
    case FIELD_TEXT:
        f->size = random_text(seed, f->bytes, BYTES_SIZE_MAX);
        break;
    case FIELD_VECTOR:
        f->size = (size_t)prng_below(seed, VECTOR_MAX + 1);
        for (size_t i = 0; i < f->size; i++) {
            f->items[i] = random_varint(seed);
        }
        break;
    case FIELD_HASH:
        for (size_t i = 0; i < HASH_SIZE; i++) {
            f->hash.bytes[i] = (uint8_t)prng_next(seed);
        }
        break;
    case FIELD_KEY:
        f->key.alg = prng_below(seed, 2) == 0 ? SIG_ED25519 : SIG_SM2;
        f->key.size = (uint8_t)sig_alg_public_key_size((enum sig_alg)f->key.alg);
        for (size_t i = 0; i < f->key.size; i++) {
            f->key.bytes[i] = (uint8_t)prng_next(seed);
        }
        break;
    case FIELD_KIND_COUNT:
        UNREACHABLE();
    }
}

static enum err
field_encode(struct buf *b, const struct field *f)
{
    enum err rc = ERR_OK;
    switch (f->kind) {
    case FIELD_U8:
        return codec_put_u8(b, (uint8_t)f->number);
    case FIELD_U16:
        return codec_put_u16(b, (uint16_t)f->number);
    case FIELD_U32:
        return codec_put_u32(b, (uint32_t)f->number);
    case FIELD_U64:
        return codec_put_u64(b, f->number);
    case FIELD_BOOL:
        return codec_put_bool(b, f->number != 0);
    case FIELD_VARINT:
        return codec_put_varint(b, f->number);
    case FIELD_BYTES:
        return codec_put_bytes(b, f->bytes, f->size, BYTES_SIZE_MAX);
    case FIELD_TEXT:
        return codec_put_text(b, (const char *)f->bytes, f->size, BYTES_SIZE_MAX);
    case FIELD_VECTOR:
        rc = codec_put_count(b, f->size, VECTOR_MAX);
        for (size_t i = 0; i < f->size && rc == ERR_OK; i++) {
            rc = codec_put_varint(b, f->items[i]);
        }
        return rc;
    case FIELD_HASH:
        return codec_put_hash(b, &f->hash);
    case FIELD_KEY:
        return codec_put_public_key(b, &f->key);
    case FIELD_KIND_COUNT:
        break;
    }
    UNREACHABLE();
}

/* Decodes a field of the given kind (outputs only on success, as the codec promises). */
static enum err
field_decode(struct reader *r, enum field_kind kind, struct field *out)
{
    struct field f;
    memset(&f, 0, sizeof f);
    f.kind = kind;
    enum err rc = ERR_OK;
    const uint8_t *data = NULL;
    const char *text = NULL;
    uint8_t u8 = 0;
    uint16_t u16 = 0;
    uint32_t u32 = 0;
    bool flag = false;
    switch (kind) {
    case FIELD_U8:
        rc = codec_get_u8(r, &u8);
        f.number = u8;
        break;
    case FIELD_U16:
        rc = codec_get_u16(r, &u16);
        f.number = u16;
        break;
    case FIELD_U32:
        rc = codec_get_u32(r, &u32);
        f.number = u32;
        break;
    case FIELD_U64:
        rc = codec_get_u64(r, &f.number);
        break;
    case FIELD_BOOL:
        rc = codec_get_bool(r, &flag);
        f.number = flag ? 1 : 0;
        break;
    case FIELD_VARINT:
        rc = codec_get_varint(r, &f.number);
        break;
    case FIELD_BYTES:
        rc = codec_get_bytes(r, BYTES_SIZE_MAX, &data, &f.size);
        if (rc == ERR_OK && f.size > 0) {
            memcpy(f.bytes, data, f.size);
        }
        break;
    case FIELD_TEXT:
        rc = codec_get_text(r, BYTES_SIZE_MAX, &text, &f.size);
        if (rc == ERR_OK && f.size > 0) {
            memcpy(f.bytes, text, f.size);
        }
        break;
    case FIELD_VECTOR:
        rc = codec_get_count(r, VECTOR_MAX, &f.size);
        for (size_t i = 0; i < f.size && rc == ERR_OK; i++) {
            rc = codec_get_varint(r, &f.items[i]);
        }
        break;
    case FIELD_HASH:
        rc = codec_get_hash(r, &f.hash);
        break;
    case FIELD_KEY:
        rc = codec_get_public_key(r, &f.key);
        break;
    case FIELD_KIND_COUNT:
        UNREACHABLE();
    }
    if (rc == ERR_OK) {
        *out = f;
    }
    return rc;
}

static enum err
record_encode(struct buf *b, const struct record *rec)
{
    enum err rc = ERR_OK;
    for (size_t i = 0; i < rec->count && rc == ERR_OK; i++) {
        rc = field_encode(b, &rec->fields[i]);
    }
    return rc;
}

/* Decodes a record with the schema (field kinds) of `schema`; ERR_TRAILING if bytes remain. */
static enum err
record_decode(const uint8_t *data, size_t size, const struct record *schema, struct record *out)
{
    struct reader r;
    reader_init(&r, data, size);
    out->count = schema->count;
    for (size_t i = 0; i < schema->count; i++) {
        enum err rc = field_decode(&r, schema->fields[i].kind, &out->fields[i]);
        if (rc != ERR_OK) {
            return rc;
        }
    }
    return codec_finish(&r);
}

static void
field_assert_equal(const struct field *a, const struct field *b)
{
    assert_int_equal(a->kind, b->kind);
    switch (a->kind) {
    case FIELD_U8:
        assert_true((uint8_t)a->number == b->number);
        break;
    case FIELD_U16:
        assert_true((uint16_t)a->number == b->number);
        break;
    case FIELD_U32:
        assert_true((uint32_t)a->number == b->number);
        break;
    case FIELD_U64:
    case FIELD_BOOL:
    case FIELD_VARINT:
        assert_true(a->number == b->number);
        break;
    case FIELD_BYTES:
    case FIELD_TEXT:
        assert_int_equal(a->size, b->size);
        assert_memory_equal(a->bytes, b->bytes, a->size);
        break;
    case FIELD_VECTOR:
        assert_int_equal(a->size, b->size);
        for (size_t i = 0; i < a->size; i++) {
            assert_true(a->items[i] == b->items[i]);
        }
        break;
    case FIELD_HASH:
        assert_memory_equal(a->hash.bytes, b->hash.bytes, HASH_SIZE);
        break;
    case FIELD_KEY:
        assert_int_equal(a->key.alg, b->key.alg);
        assert_int_equal(a->key.size, b->key.size);
        assert_memory_equal(a->key.bytes, b->key.bytes, a->key.size);
        break;
    case FIELD_KIND_COUNT:
        UNREACHABLE();
    }
}

#define ROUND_TRIPS     5000
#define ROUND_TRIP_SEED 0x4c69616e6d656e67ull /* "Lianmeng" */

/* value -> bytes -> value gives the same value; bytes -> value -> bytes gives the same bytes;
 * every strict prefix fails cleanly; one extra byte is ERR_TRAILING. */
static void
test_round_trip_random(void **state)
{
    (void)state;
    uint64_t seed = ROUND_TRIP_SEED;
    struct record *rec = mem_calloc(3, sizeof *rec);
    struct record *back = rec + 1;
    struct record *scratch = rec + 2;
    for (unsigned iter = 0; iter < ROUND_TRIPS; iter++) {
        rec->count = 1 + (size_t)prng_below(&seed, FIELDS_MAX);
        for (size_t i = 0; i < rec->count; i++) {
            random_field(&seed, &rec->fields[i]);
        }
        struct buf enc;
        buf_init(&enc, 1 << 16);
        assert_int_equal(record_encode(&enc, rec), ERR_OK);
        /* Exact-size heap copy: ASan sees any read past the end. */
        uint8_t *wire = mem_dup(enc.data, enc.size);
        if (record_decode(wire, enc.size, rec, back) != ERR_OK) {
            fail_msg("round trip %u failed to decode", iter);
        }
        for (size_t i = 0; i < rec->count; i++) {
            field_assert_equal(&rec->fields[i], &back->fields[i]);
        }
        struct buf again;
        buf_init(&again, 1 << 16);
        assert_int_equal(record_encode(&again, back), ERR_OK);
        assert_int_equal(again.size, enc.size);
        assert_memory_equal(again.data, enc.data, enc.size);
        /* Truncation at every position fails, never crashes or over-reads. */
        for (size_t cut = 0; cut < enc.size; cut++) {
            uint8_t *prefix = mem_dup(wire, cut);
            assert_int_not_equal(record_decode(prefix, cut, rec, scratch), ERR_OK);
            mem_free(prefix);
        }
        /* One trailing byte. */
        uint8_t *longer = mem_alloc(enc.size + 1);
        memcpy(longer, wire, enc.size);
        longer[enc.size] = (uint8_t)iter;
        assert_int_equal(record_decode(longer, enc.size + 1, rec, scratch), ERR_TRAILING);
        mem_free(longer);
        mem_free(wire);
        buf_release(&again);
        buf_release(&enc);
    }
    mem_free(rec);
}

/* Every u64 that a varint decoder accepts re-encodes to the same bytes, for random bytes. */
static void
test_varint_random_bytes(void **state)
{
    (void)state;
    uint64_t seed = ROUND_TRIP_SEED ^ 1;
    unsigned accepted = 0;
    for (unsigned iter = 0; iter < 200000; iter++) {
        uint8_t raw[11];
        size_t size = 1 + (size_t)prng_below(&seed, sizeof raw);
        for (size_t i = 0; i < size; i++) {
            /* Bias toward continuation bytes and zero groups, where the edge cases are. */
            uint64_t pick = prng_below(&seed, 4);
            raw[i] = pick == 0 ? 0x80 : pick == 1 ? 0x00 : (uint8_t)prng_next(&seed);
        }
        uint64_t v = 0;
        if (varint_decode_all(raw, size, &v) != ERR_OK) {
            continue;
        }
        accepted++;
        struct buf b;
        buf_init(&b, 16);
        assert_int_equal(codec_put_varint(&b, v), ERR_OK);
        assert_int_equal(b.size, size);
        assert_memory_equal(b.data, raw, size);
        buf_release(&b);
    }
    assert_true(accepted > 1000); /* the test did exercise the accepting path */
}

/* Random values round-trip for each varint size class. */
static void
test_varint_round_trip(void **state)
{
    (void)state;
    uint64_t seed = ROUND_TRIP_SEED ^ 2;
    for (unsigned iter = 0; iter < 100000; iter++) {
        uint64_t v = random_varint(&seed);
        struct buf b;
        buf_init(&b, 16);
        assert_int_equal(codec_put_varint(&b, v), ERR_OK);
        assert_int_equal(b.size, codec_varint_size(v));
        uint64_t back = 0;
        assert_int_equal(varint_decode_all(b.data, b.size, &back), ERR_OK);
        assert_true(back == v);
        buf_release(&b);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint_known),
        cmocka_unit_test(test_varint_noncanonical),
        cmocka_unit_test(test_fixed_ints),
        cmocka_unit_test(test_bytes_and_counts),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_utf8_all_code_points),
        cmocka_unit_test(test_keys_and_signatures),
        cmocka_unit_test(test_round_trip_random),
        cmocka_unit_test(test_varint_random_bytes),
        cmocka_unit_test(test_varint_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
