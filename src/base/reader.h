/* Bounds-checked reader over borrowed bytes. Every read can fail cleanly with ERR_TRUNCATED
 * and then leaves the position unchanged. Integers are little-endian. The bytes must outlive
 * the reader and any pointer it returns. */
#ifndef LM_BASE_READER_H
#define LM_BASE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct reader {
    const uint8_t *data;
    size_t size;
    size_t pos;
};

void reader_init(struct reader *r, const uint8_t *data, size_t size);
size_t reader_remaining(const struct reader *r);
bool reader_is_done(const struct reader *r);
MUST_USE enum err reader_u8(struct reader *r, uint8_t *out);
MUST_USE enum err reader_u16(struct reader *r, uint16_t *out);
MUST_USE enum err reader_u32(struct reader *r, uint32_t *out);
MUST_USE enum err reader_u64(struct reader *r, uint64_t *out);
/* Copies size bytes into out. */
MUST_USE enum err reader_copy(struct reader *r, void *out, size_t size);
/* Borrows size bytes (valid as long as the underlying data). */
MUST_USE enum err reader_borrow(struct reader *r, size_t size, const uint8_t **out);
MUST_USE enum err reader_skip(struct reader *r, size_t size);

/* Little-endian stores and loads for fixed layouts. */
void store_u16(uint8_t *p, uint16_t v);
void store_u32(uint8_t *p, uint32_t v);
void store_u64(uint8_t *p, uint64_t v);
uint16_t load_u16(const uint8_t *p);
uint32_t load_u32(const uint8_t *p);
uint64_t load_u64(const uint8_t *p);

#endif
