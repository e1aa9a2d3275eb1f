/* Unit tests of base/crc32c: published check values, both code paths agreeing, and the
 * extend property that lets a record be checksummed in pieces. */
#include <string.h>

#include "base/crc32c.h"
#include "unit.h"

static void
test_crc32c_vectors(void **state)
{
    (void)state;
    /* The CRC catalogue's check value, and RFC 3720 (iSCSI) B.4 vectors. */
    assert_int_equal(crc32c("123456789", 9), 0xe3069283u);
    uint8_t zeros[32] = { 0 };
    uint8_t ones[32];
    uint8_t inc[32];
    uint8_t dec[32];
    memset(ones, 0xff, sizeof ones);
    for (unsigned i = 0; i < 32; i++) {
        inc[i] = (uint8_t)i;
        dec[i] = (uint8_t)(31 - i);
    }
    assert_int_equal(crc32c(zeros, 32), 0x8a9136aau);
    assert_int_equal(crc32c(ones, 32), 0x62a8ab43u);
    assert_int_equal(crc32c(inc, 32), 0x46dd794eu);
    assert_int_equal(crc32c(dec, 32), 0x113fdb5cu);
    assert_int_equal(crc32c(NULL, 0), 0);
    assert_int_equal(crc32c_extend_portable(0, "123456789", 9), 0xe3069283u);
}

static void
test_crc32c_paths_and_extend(void **state)
{
    (void)state;
    uint8_t data[1031];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof data; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (uint8_t)(x >> 16);
    }
    for (size_t size = 0; size <= sizeof data; size += 7) {
        uint32_t whole = crc32c(data, size);
        assert_int_equal(crc32c_extend_portable(0, data, size), whole);
        for (size_t cut = 0; cut <= size; cut += 13) {
            uint32_t part = crc32c_extend(crc32c(data, cut), data + cut, size - cut);
            assert_int_equal(part, whole);
        }
    }
    /* One flipped bit changes the checksum. */
    uint32_t before = crc32c(data, sizeof data);
    data[500] ^= 0x10;
    assert_int_not_equal(crc32c(data, sizeof data), before);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_vectors),
        cmocka_unit_test(test_crc32c_paths_and_extend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
