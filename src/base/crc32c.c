#include "base/crc32c.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "base/reader.h"

#define CRC32C_POLY 0x82f63b78u

/* Slicing-by-8 tables, built once. */
static uint32_t crc_table[8][256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void
crc_table_build(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1u) != 0 ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        }
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        for (int t = 1; t < 8; t++) {
            uint32_t prev = crc_table[t - 1][i];
            crc_table[t][i] = (prev >> 8) ^ crc_table[0][prev & 0xffu];
        }
    }
}

static uint32_t
crc_soft(uint32_t crc, const uint8_t *p, size_t size)
{
    pthread_once(&crc_table_once, crc_table_build);
    while (size >= 8) {
        uint32_t lo = load_u32(p) ^ crc;
        uint32_t hi = load_u32(p + 4);
        crc = crc_table[7][lo & 0xffu] ^ crc_table[6][(lo >> 8) & 0xffu] ^
              crc_table[5][(lo >> 16) & 0xffu] ^ crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xffu] ^
              crc_table[2][(hi >> 8) & 0xffu] ^ crc_table[1][(hi >> 16) & 0xffu] ^
              crc_table[0][hi >> 24];
        p += 8;
        size -= 8;
    }
    while (size > 0) {
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p) & 0xffu];
        p++;
        size--;
    }
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t
crc_hard(uint32_t crc, const uint8_t *p, size_t size)
{
    uint64_t c = crc;
    while (size >= 8) {
        uint64_t word;
        memcpy(&word, p, sizeof word); /* x86 is little-endian, as the CRC wants */
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        size -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (size > 0) {
        c32 = __builtin_ia32_crc32qi(c32, *p);
        p++;
        size--;
    }
    return c32;
}

static bool crc_hard_present;
static pthread_once_t crc_hard_once = PTHREAD_ONCE_INIT;

static void
crc_hard_probe(void)
{
    __builtin_cpu_init();
    crc_hard_present = __builtin_cpu_supports("sse4.2") != 0;
}

static bool
crc_has_hard(void)
{
    pthread_once(&crc_hard_once, crc_hard_probe);
    return crc_hard_present;
}
#endif

uint32_t
crc32c_extend(uint32_t crc, const void *data, size_t size)
{
    const uint8_t *p = data;
    crc = ~crc;
#if defined(__x86_64__)
    if (crc_has_hard()) {
        return ~crc_hard(crc, p, size);
    }
#endif
    return ~crc_soft(crc, p, size);
}

uint32_t
crc32c_extend_portable(uint32_t crc, const void *data, size_t size)
{
    return ~crc_soft(~crc, data, size);
}
