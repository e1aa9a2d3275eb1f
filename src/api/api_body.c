/* POST /v1/txs body decoding: see api_body.h. */
#include "api/api_body.h"

#include <jansson.h>
#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "base/reader.h"
#include "base/text.h"

enum err
api_json_depth_check(const uint8_t *text, size_t size, uint32_t depth_max)
{
    ASSERT(text != NULL || size == 0);
    uint32_t depth = 0;
    bool in_string = false;
    bool escaped = false;
    for (size_t i = 0; i < size; i++) {
        uint8_t c = text[i];
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            depth++;
            if (depth > depth_max) {
                return ERR_MALFORMED;
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return ERR_OK;
}

static bool
text_is_hex(const char *text, size_t size)
{
    if (size % 2 != 0) {
        return false;
    }
    for (size_t i = 0; i < size; i++) {
        char c = text[i];
        bool digit = c >= '0' && c <= '9';
        bool lower = c >= 'a' && c <= 'f';
        bool upper = c >= 'A' && c <= 'F';
        if (!digit && !lower && !upper) {
            return false;
        }
    }
    return true;
}

enum err
api_bytes_from_text(const char *text, size_t text_size, uint8_t *out, size_t out_max,
                    size_t *out_size)
{
    ASSERT(out_size != NULL);
    if (text_size == 0) {
        return ERR_MALFORMED;
    }
    if (text_is_hex(text, text_size)) {
        return hex_decode(text, text_size, out, out_max, out_size);
    }
    return base64_decode(text, text_size, out, out_max, out_size);
}

/* Decodes one JSON string item into body->data at *used. */
static void
item_decode(struct api_txs_body *body, size_t index, const json_t *value, size_t data_max,
            size_t *used)
{
    struct api_body_item *item = &body->items[index];
    item->rc = ERR_MALFORMED;
    if (!json_is_string(value)) {
        return;
    }
    size_t decoded = 0;
    uint8_t *dst = body->data + *used;
    enum err rc = api_bytes_from_text(json_string_value(value), json_string_length(value), dst,
                                      data_max - *used, &decoded);
    if (rc != ERR_OK) {
        item->rc = rc;
        return;
    }
    ASSERT(decoded > 0);
    item->rc = ERR_OK;
    item->tx.bytes = dst;
    item->tx.size = decoded;
    *used += decoded;
}

/* Lays out `count` items and a data buffer big enough for any decoding of `size` body bytes
 * (hex and base64 both shrink, so the body size bounds the decoded total). */
static void
body_alloc(struct api_txs_body *body, size_t count, size_t size)
{
    body->count = count;
    body->items = mem_calloc(count, sizeof body->items[0]);
    body->data = mem_alloc(size > 0 ? size : 1);
}

static enum err
json_body_decode(const json_t *root, size_t size, uint32_t txs_max, struct api_txs_body *body,
                 const char **why)
{
    if (!json_is_object(root) || json_object_size(root) != 1) {
        *why = "body must be an object with exactly one key: \"tx\" or \"txs\"";
        return ERR_MALFORMED;
    }
    const json_t *one = json_object_get(root, "tx");
    const json_t *many = json_object_get(root, "txs");
    size_t used = 0;
    if (one != NULL) {
        if (!json_is_string(one)) {
            *why = "\"tx\" must be a hex or base64 string";
            return ERR_MALFORMED;
        }
        body_alloc(body, 1, size);
        item_decode(body, 0, one, size, &used);
        if (body->items[0].rc != ERR_OK) {
            *why = "\"tx\" is not valid hex or base64";
            return ERR_MALFORMED;
        }
        return ERR_OK;
    }
    if (many == NULL || !json_is_array(many) || json_array_size(many) == 0) {
        *why = "\"txs\" must be a non-empty array of hex or base64 strings";
        return ERR_MALFORMED;
    }
    if (json_array_size(many) > txs_max) {
        *why = "too many transactions in one batch";
        return ERR_TOO_LARGE;
    }
    for (size_t i = 0; i < json_array_size(many); i++) {
        if (!json_is_string(json_array_get(many, i))) {
            *why = "\"txs\" items must be strings";
            return ERR_MALFORMED;
        }
    }
    body->batch = true;
    body_alloc(body, json_array_size(many), size);
    for (size_t i = 0; i < body->count; i++) {
        item_decode(body, i, json_array_get(many, i), size, &used);
    }
    return ERR_OK;
}

/* The binary batch form: length-prefixed transactions, back to back. */
static enum err
batch_body_decode(const uint8_t *body, size_t size, uint32_t txs_max, struct api_txs_body *out,
                  const char **why)
{
    size_t count = 0;
    for (size_t off = 0; off < size;) {
        if (size - off < 4) {
            *why = "batch: truncated length prefix";
            return ERR_MALFORMED;
        }
        uint32_t len = load_u32(body + off);
        off += 4;
        if (len == 0 || len > API_BATCH_TX_SIZE_MAX || len > size - off) {
            *why = "batch: a transaction length is 0, too large or past the end of the body";
            return ERR_MALFORMED;
        }
        off += len;
        if (++count > txs_max) {
            *why = "too many transactions in one batch";
            return ERR_TOO_LARGE;
        }
    }
    if (count == 0) {
        *why = "empty body";
        return ERR_MALFORMED;
    }
    out->batch = true;
    body_alloc(out, count, size);
    memcpy(out->data, body, size);
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t len = load_u32(body + off);
        out->items[i] = (struct api_body_item){ ERR_OK, { out->data + off + 4, len } };
        off += 4 + (size_t)len;
    }
    return ERR_OK;
}

enum err
api_txs_body_decode(enum api_body_kind kind, const uint8_t *body, size_t size, uint32_t txs_max,
                    struct api_txs_body *out_body, const char **out_why)
{
    ASSERT(body != NULL || size == 0);
    ASSERT(out_body != NULL);
    ASSERT(txs_max > 0);

    const char *why = "empty body";
    struct api_txs_body decoded = { 0 };
    enum err rc = ERR_MALFORMED;
    json_t *root = NULL;

    switch (kind) {
    case API_BODY_OCTETS:
        if (size == 0) {
            goto out;
        }
        body_alloc(&decoded, 1, size);
        memcpy(decoded.data, body, size);
        decoded.items[0] = (struct api_body_item){ ERR_OK, { decoded.data, size } };
        rc = ERR_OK;
        goto out;
    case API_BODY_BATCH:
        rc = batch_body_decode(body, size, txs_max, &decoded, &why);
        goto out;
    case API_BODY_JSON:
        if (api_json_depth_check(body, size, API_BODY_DEPTH_MAX) != ERR_OK) {
            why = "JSON nested too deeply";
            goto out;
        }
        json_error_t error;
        root = json_loadb((const char *)body, size, JSON_REJECT_DUPLICATES, &error);
        if (root == NULL) {
            why = "body is not valid JSON";
            goto out;
        }
        rc = json_body_decode(root, size, txs_max, &decoded, &why);
        goto out;
    }
    UNREACHABLE();

out:
    json_decref(root);
    if (rc != ERR_OK) {
        api_txs_body_release(&decoded);
        if (out_why != NULL) {
            *out_why = why;
        }
        return rc;
    }
    ASSERT(decoded.count >= 1 && decoded.count <= txs_max);
    *out_body = decoded;
    return ERR_OK;
}

void
api_txs_body_release(struct api_txs_body *body)
{
    if (body == NULL) {
        return;
    }
    mem_free(body->items);
    mem_free(body->data);
    *body = (struct api_txs_body){ 0 };
}
