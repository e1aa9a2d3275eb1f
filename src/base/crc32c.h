/* CRC-32C (Castagnoli, polynomial 0x1EDC6F41 reflected as 0x82F63B78), the checksum of
 * iSCSI, ext4 metadata and LevelDB/RocksDB records. Detects torn and bit-flipped records in
 * our own files; it is not a defence against an adversary (use the chain hash for that).
 * Uses the SSE4.2 crc32 instruction when the CPU has it, slicing-by-8 tables otherwise.
 * Thread-safe. */
#ifndef LM_BASE_CRC32C_H
#define LM_BASE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) with size bytes: crc32c(a || b) == crc32c_extend(crc32c(a), b). */
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t size);

/* The table-driven path alone, whatever the CPU (for tests that cross-check both paths). */
uint32_t crc32c_extend_portable(uint32_t crc, const void *data, size_t size);

static inline uint32_t
crc32c(const void *data, size_t size)
{
    return crc32c_extend(0, data, size);
}

#endif
