/* Strict decoding of POST /v1/txs bodies, apart from the server so it can be fuzzed.
 *
 * Forms:
 *   JSON   {"tx":"<text>"}             one transaction
 *          {"txs":["<text>", ...]}     a batch of 1..txs_max, answered per transaction
 *   octets the raw canonical bytes of one transaction (application/octet-stream)
 *   batch  1..txs_max transactions in binary (application/vnd.lianmeng.txs): each is a
 *          4-byte little-endian length (1..API_BATCH_TX_SIZE_MAX) followed by that many
 *          canonical bytes, back to back, nothing after the last; answered per transaction
 *          like the "txs" form. The cheap form for load: no hex, no JSON parsing.
 * <text> is hex (even length, digits and a-f/A-F only, tried first) or padded standard
 * base64. The JSON object has exactly one of the two keys; duplicate keys, other keys,
 * nesting deeper than API_BODY_DEPTH_MAX and empty transactions are malformed. A batch item
 * that is not valid hex/base64 fails alone (its own rc); everything else fails the body.
 *
 * Ownership: api_txs_body owns one buffer that all decoded transactions point into; release
 * it with api_txs_body_release. */
#ifndef LM_API_API_BODY_H
#define LM_API_API_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "base/err.h"

#define API_BODY_DEPTH_MAX     4
#define API_BATCH_CONTENT_TYPE "application/vnd.lianmeng.txs"
#define API_BATCH_TX_SIZE_MAX  (1u << 20) /* a length prefix above this is malformed */

enum api_body_kind {
    API_BODY_JSON,
    API_BODY_OCTETS,
    API_BODY_BATCH,
};

struct api_body_item {
    enum err rc;         /* ERR_OK: tx holds the decoded bytes */
    struct api_tx_in tx; /* points into api_txs_body.data */
};

struct api_txs_body {
    bool batch; /* the "txs" form */
    size_t count;
    struct api_body_item *items; /* count items */
    uint8_t *data;               /* decoded bytes of every item, back to back */
};

/* Decodes `body`. On failure *out_why (if not NULL) gets a static message for the client and
 * *out_body is untouched: ERR_MALFORMED (not one of the forms), ERR_TOO_LARGE (more than
 * txs_max transactions). */
MUST_USE enum err api_txs_body_decode(enum api_body_kind kind, const uint8_t *body, size_t size,
                                      uint32_t txs_max, struct api_txs_body *out_body,
                                      const char **out_why);
/* Frees what api_txs_body_decode allocated; accepts a zeroed struct. */
void api_txs_body_release(struct api_txs_body *body);

/* ERR_MALFORMED when arrays/objects nest deeper than depth_max in `text`, scanned without
 * recursion and without parsing; ERR_OK otherwise (the text may still be invalid JSON). */
MUST_USE enum err api_json_depth_check(const uint8_t *text, size_t size, uint32_t depth_max);

/* Decodes hex (tried first) or base64 text into out (capacity out_max). */
MUST_USE enum err api_bytes_from_text(const char *text, size_t text_size, uint8_t *out,
                                      size_t out_max, size_t *out_size);

#endif
