/* Unit tests of base/: buffer, reader, errors, hex/base64, arena, clock, log sink. */
#include <stdio.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/reader.h"
#include "base/text.h"
#include "unit.h"

static void
test_buf_max(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_append(&b, "12345", 5), ERR_OK);
    assert_int_equal(buf_append(&b, "123456", 6), ERR_TOO_LARGE);
    assert_int_equal(b.size, 5);
    assert_int_equal(buf_append(&b, "12345", 5), ERR_OK);
    assert_int_equal(buf_append_byte(&b, 1), ERR_TOO_LARGE);
    assert_memory_equal(b.data, "1234512345", 10);
    buf_reset(&b);
    assert_int_equal(buf_printf(&b, "x=%d", 42), ERR_OK);
    assert_int_equal(b.size, 4);
    assert_memory_equal(b.data, "x=42", 4);
    assert_int_equal(buf_printf(&b, "%s", "toolongtext"), ERR_TOO_LARGE);
    buf_release(&b);
    buf_release(&b);
}

static void
test_reader(void **state)
{
    (void)state;
    const uint8_t data[] = { 1, 2, 0, 3, 0, 0, 0, 9, 8, 7, 6, 5, 4, 3, 2, 1 };
    struct reader r;
    reader_init(&r, data, sizeof data);
    uint8_t a;
    uint16_t b;
    uint32_t c;
    uint64_t d;
    assert_int_equal(reader_u8(&r, &a), ERR_OK);
    assert_int_equal(a, 1);
    assert_int_equal(reader_u16(&r, &b), ERR_OK);
    assert_int_equal(b, 2);
    assert_int_equal(reader_u32(&r, &c), ERR_OK);
    assert_int_equal(c, 3);
    assert_int_equal(reader_remaining(&r), 9);
    assert_int_equal(reader_skip(&r, 1), ERR_OK);
    assert_int_equal(reader_u64(&r, &d), ERR_OK);
    assert_true(d == 0x0102030405060708ull);
    assert_true(reader_is_done(&r));
    assert_int_equal(reader_u8(&r, &a), ERR_TRUNCATED);
    reader_init(&r, data, 7);
    assert_int_equal(reader_u64(&r, &d), ERR_TRUNCATED);
    assert_int_equal(reader_remaining(&r), 7); /* a failed read does not move */
}

static void
test_err_table(void **state)
{
    (void)state;
    assert_string_equal(err_name(ERR_OK), "ok");
    assert_string_equal(err_name(ERR_BAD_SIGNATURE), "bad_signature");
    assert_string_equal(err_str(ERR_TOO_LARGE), "value exceeds its maximum size");
    assert_string_equal(err_str((enum err) - 9999), "unknown error");
    assert_int_equal(err_from_errno(28 /* ENOSPC */), ERR_NO_SPACE);
}

static void
test_hex(void **state)
{
    (void)state;
    const uint8_t data[] = { 0x00, 0xab, 0xff, 0x10 };
    char text[9];
    hex_encode(data, sizeof data, text);
    assert_string_equal(text, "00abff10");
    uint8_t out[4];
    size_t size = 0;
    assert_int_equal(hex_decode("00ABff10", 8, out, sizeof out, &size), ERR_OK);
    assert_int_equal(size, 4);
    assert_memory_equal(out, data, 4);
    assert_int_equal(hex_decode("0", 1, out, sizeof out, &size), ERR_MALFORMED);
    assert_int_equal(hex_decode("zz", 2, out, sizeof out, &size), ERR_MALFORMED);
    assert_int_equal(hex_decode("0011223344", 10, out, sizeof out, &size), ERR_TOO_LARGE);
}

static void
test_base64_vectors(void **state)
{
    (void)state;
    /* RFC 4648 section 10. */
    static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    static const char *const enc[] = { "",         "Zg==",     "Zm8=",    "Zm9v",
                                       "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
    for (size_t i = 0; i < 7; i++) {
        char text[16];
        base64_encode((const uint8_t *)plain[i], strlen(plain[i]), text);
        assert_string_equal(text, enc[i]);
        uint8_t out[8];
        size_t size = 99;
        assert_int_equal(base64_decode(enc[i], strlen(enc[i]), out, sizeof out, &size), ERR_OK);
        assert_int_equal(size, strlen(plain[i]));
        assert_memory_equal(out, plain[i], size);
    }
    uint8_t out[8];
    size_t size;
    assert_int_equal(base64_decode("Zg=", 3, out, 8, &size), ERR_MALFORMED);
    assert_int_equal(base64_decode("Zh==", 4, out, 8, &size), ERR_MALFORMED); /* non-canonical */
    assert_int_equal(base64_decode("Z!==", 4, out, 8, &size), ERR_MALFORMED);
    assert_int_equal(base64_decode("Zg==Zg==", 8, out, 8, &size), ERR_MALFORMED);
}

static void
test_arena(void **state)
{
    (void)state;
    struct arena a;
    arena_init(&a, 128, 1024);
    void *p = arena_alloc(&a, 10);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 16, 0);
    void *q = arena_alloc(&a, 500);
    assert_non_null(q);
    assert_null(arena_try_alloc(&a, 1000));
    arena_reset(&a);
    assert_int_equal(a.used_bytes, 0);
    assert_non_null(arena_alloc(&a, 1000));
    arena_release(&a);
}

static void
test_clock_manual(void **state)
{
    (void)state;
    struct clock_manual m;
    clock_manual_init(&m, 1000000);
    assert_int_equal(clock_monotonic_ns(&m.clock), 0);
    clock_manual_advance_ns(&m, 5000000);
    assert_int_equal(clock_monotonic_ms(&m.clock), 5);
    assert_int_equal(clock_wall_us(&m.clock), 1005000);
    const struct clock *sys = clock_system();
    uint64_t t0 = clock_monotonic_ns(sys);
    assert_true(clock_monotonic_ns(sys) >= t0);
    assert_true(clock_wall_us(sys) > 1700000000ull * 1000000ull);
}

static char last_line[512];

static void
capture(void *ctx, enum log_level level, const char *line)
{
    (void)ctx;
    (void)level;
    snprintf(last_line, sizeof last_line, "%s", line);
}

static void
test_log(void **state)
{
    (void)state;
    log_set_sink(capture, NULL);
    log_set_level(LOG_LEVEL_INFO);
    log_warn(LOG_NET, "peer frame too long len=%u max=%u", 9000u, 4096u);
    assert_non_null(strstr(last_line, "WARN net: peer frame too long len=9000 max=4096"));
    last_line[0] = '\0';
    log_debug(LOG_NET, "hidden");
    assert_string_equal(last_line, "");
    enum log_level lv;
    assert_true(log_level_parse("debug", &lv));
    assert_int_equal(lv, LOG_LEVEL_DEBUG);
    assert_false(log_level_parse("loud", &lv));
    log_set_sink(NULL, NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_max),        cmocka_unit_test(test_reader),
        cmocka_unit_test(test_err_table),      cmocka_unit_test(test_hex),
        cmocka_unit_test(test_base64_vectors), cmocka_unit_test(test_arena),
        cmocka_unit_test(test_clock_manual),   cmocka_unit_test(test_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
