/* Hex and base64 (RFC 4648, standard alphabet, padded) encoding. Decoders are strict:
 * wrong length, bad characters or bad padding are ERR_MALFORMED. */
#ifndef LM_BASE_TEXT_H
#define LM_BASE_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Writes 2*size hex digits and a NUL into out (capacity >= 2*size+1). Lowercase. */
void hex_encode(const uint8_t *data, size_t size, char *out);
/* Decodes exactly text_size hex chars (upper or lower case) into out (capacity out_max);
 * *out_size = text_size/2. */
MUST_USE enum err hex_decode(const char *text, size_t text_size, uint8_t *out, size_t out_max,
                             size_t *out_size);
size_t base64_encoded_size(size_t size); /* without the NUL */
/* Writes the base64 text and a NUL into out (capacity >= base64_encoded_size(size)+1). */
void base64_encode(const uint8_t *data, size_t size, char *out);
MUST_USE enum err base64_decode(const char *text, size_t text_size, uint8_t *out, size_t out_max,
                                size_t *out_size);

#endif
