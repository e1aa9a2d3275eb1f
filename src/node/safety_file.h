/* The durable safety record of a validator (CONSENSUS.md §3, §10): one small opaque record
 * (consensus encodes it) that must be on disk before any vote, timeout or proposal leaves
 * the node.
 *
 * Layout: a file of exactly two 4 KiB slots. Each slot holds
 *   magic "LMSAFE1\n" (8) | u64 sequence | u32 size | u32 crc32c | 8 reserved (0) | data
 * (little-endian; the crc covers the first 20 header bytes and the data). A write goes to
 * the slot that does not hold the newest record, with sequence + 1, then fdatasync: a crash
 * or power loss during the write tears at most that slot, so reading finds the previous
 * record or the new one, never a mix. One fdatasync per write and no rename (the file's size
 * never changes after creation, so data sync suffices).
 *
 * Creating a file writes an empty record (size 0, sequence 1) and fsyncs the file and its
 * directory, so an existing file always holds one valid record; a file where neither slot is
 * valid, or with the wrong size, is ERR_CORRUPT (bit rot or tampering: the operator must
 * decide, never a silent reset that could make the validator equivocate).
 *
 * Threads: one owner. Ownership: the object owns its file descriptor. */
#ifndef LM_NODE_SAFETY_FILE_H
#define LM_NODE_SAFETY_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define SAFETY_FILE_SLOT_SIZE   4096u
#define SAFETY_FILE_HEADER_SIZE 32u
#define SAFETY_FILE_RECORD_MAX  (SAFETY_FILE_SLOT_SIZE - SAFETY_FILE_HEADER_SIZE)
#define SAFETY_FILE_SIZE        8192u /* two slots */

struct safety_file;

/* Opens the file at path, creating it (mode 0600, with an empty record) if it does not exist.
 * ERR_CORRUPT if it exists but holds no valid record or has the wrong size; ERR_IO,
 * ERR_PERMISSION, ERR_NO_SPACE from the file system. On success the caller owns *out
 * (safety_file_close). */
MUST_USE enum err safety_file_open(const char *path, struct safety_file **out);

/* The newest record (size 0 for a fresh file): copies it into out (capacity out_max) and sets
 * *out_size. ERR_TOO_LARGE if out_max is too small. */
MUST_USE enum err safety_file_read(const struct safety_file *f, uint8_t *out, size_t out_max,
                                   size_t *out_size);
/* The sequence number of the newest record (1 for a fresh file). */
uint64_t safety_file_sequence(const struct safety_file *f);

/* Durably replaces the record: returns ERR_OK only after fdatasync succeeded. size <=
 * SAFETY_FILE_RECORD_MAX. An I/O error leaves the previous record readable; the caller must
 * stop signing (STYLE.md 2.5: a failed fsync is not retried). */
MUST_USE enum err safety_file_write(struct safety_file *f, const uint8_t *data, size_t size);

/* Closes the file. Accepts NULL. */
void safety_file_close(struct safety_file *f);

#endif
