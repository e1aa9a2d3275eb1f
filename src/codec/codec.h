/* The canonical binary encoding of everything that is hashed or signed (in the spirit of
 * Diem/Aptos BCS). The same bytes are hashed, signed and sent.
 *
 *   integers     fixed-width little-endian (u8, u16, u32, u64)
 *   varint       unsigned LEB128, minimal form only, at most 10 bytes (u64)
 *   bool         one byte, 0 or 1
 *   bytes        varint length, then the bytes; every field has a maximum length
 *   text         like bytes, and must be valid UTF-8 (no overlongs, no surrogates)
 *   vector       varint count (with a maximum), then the elements
 *   fixed        fixed-size arrays (hashes, keys) are written raw
 *
 * Decoding is strict: non-minimal varints, lengths or counts past the maximum, invalid UTF-8,
 * a bool other than 0/1 and trailing bytes (codec_finish) are errors. A decoder never
 * allocates from an unchecked length. Writers append to a struct buf and fail with
 * ERR_TOO_LARGE when it is full; a failed writer leaves the buffer in an unspecified but
 * valid state, so callers discard it. */
#ifndef LM_CODEC_CODEC_H
#define LM_CODEC_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/reader.h"
#include "crypto/hash.h"
#include "crypto/sign.h"

#define VARINT_SIZE_MAX 10

/* Writing (append to buf). */
MUST_USE enum err codec_put_u8(struct buf *b, uint8_t v);
MUST_USE enum err codec_put_u16(struct buf *b, uint16_t v);
MUST_USE enum err codec_put_u32(struct buf *b, uint32_t v);
MUST_USE enum err codec_put_u64(struct buf *b, uint64_t v);
MUST_USE enum err codec_put_bool(struct buf *b, bool v);
MUST_USE enum err codec_put_varint(struct buf *b, uint64_t v);
MUST_USE enum err codec_put_fixed(struct buf *b, const void *data, size_t size);
/* ERR_TOO_LARGE if size > size_max (the same maximum the decoder enforces). */
MUST_USE enum err codec_put_bytes(struct buf *b, const void *data, size_t size, size_t size_max);
/* ERR_UTF8 if text is not valid UTF-8. */
MUST_USE enum err codec_put_text(struct buf *b, const char *text, size_t size, size_t size_max);
MUST_USE enum err codec_put_count(struct buf *b, size_t count, size_t count_max);
MUST_USE enum err codec_put_hash(struct buf *b, const struct hash *h);
/* alg byte, then the key bytes (size implied by alg). */
MUST_USE enum err codec_put_public_key(struct buf *b, const struct public_key *k);
/* alg byte, then 64 bytes. */
MUST_USE enum err codec_put_signature(struct buf *b, const struct signature *s);
MUST_USE enum err codec_put_address(struct buf *b, const struct address *a);

/* Reading (from a bounds-checked reader). Outputs written only on success. */
MUST_USE enum err codec_get_u8(struct reader *r, uint8_t *out);
MUST_USE enum err codec_get_u16(struct reader *r, uint16_t *out);
MUST_USE enum err codec_get_u32(struct reader *r, uint32_t *out);
MUST_USE enum err codec_get_u64(struct reader *r, uint64_t *out);
MUST_USE enum err codec_get_bool(struct reader *r, bool *out);
MUST_USE enum err codec_get_varint(struct reader *r, uint64_t *out);
MUST_USE enum err codec_get_fixed(struct reader *r, void *out, size_t size);
/* Borrows the bytes (valid as long as the reader's data). */
MUST_USE enum err codec_get_bytes(struct reader *r, size_t size_max, const uint8_t **out_data,
                                  size_t *out_size);
MUST_USE enum err codec_get_text(struct reader *r, size_t size_max, const char **out_text,
                                 size_t *out_size);
MUST_USE enum err codec_get_count(struct reader *r, size_t count_max, size_t *out_count);
MUST_USE enum err codec_get_hash(struct reader *r, struct hash *out);
/* Checks the algorithm tag and the key's size; not that the point is on the curve. */
MUST_USE enum err codec_get_public_key(struct reader *r, struct public_key *out);
MUST_USE enum err codec_get_signature(struct reader *r, struct signature *out);
MUST_USE enum err codec_get_address(struct reader *r, struct address *out);
/* ERR_TRAILING unless the reader is exhausted. */
MUST_USE enum err codec_finish(const struct reader *r);

/* Byte count of v's varint encoding. */
size_t codec_varint_size(uint64_t v);
bool codec_utf8_is_valid(const uint8_t *s, size_t size);

#endif
