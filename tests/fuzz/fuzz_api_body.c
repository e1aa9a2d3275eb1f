/* Fuzz target: the POST /v1/txs body decoder (JSON with hex/base64 items, raw octets, and the
 * binary length-prefixed batch). Input: byte 0 picks the form (bit 0: octets, else bit 5:
 * binary batch, else JSON) and the batch maximum (bits 1..4, +1); the rest is the body. Checks:
 * decoding never crashes or leaks, results stay inside their buffer, and every decoded item
 * round-trips through hex and base64. */
#include <string.h>

#include "api/api_body.h"
#include "base/assert.h"
#include "base/mem.h"
#include "base/text.h"

static void
check_round_trip(const struct api_tx_in *tx)
{
    char *hex = mem_alloc(2 * tx->size + 1);
    char *b64 = mem_alloc(base64_encoded_size(tx->size) + 1);
    uint8_t *again = mem_alloc(tx->size);
    size_t size = 0;
    hex_encode(tx->bytes, tx->size, hex);
    ASSERT(api_bytes_from_text(hex, 2 * tx->size, again, tx->size, &size) == ERR_OK);
    ASSERT(size == tx->size && memcmp(again, tx->bytes, size) == 0);
    base64_encode(tx->bytes, tx->size, b64);
    size = 0;
    enum err rc = api_bytes_from_text(b64, strlen(b64), again, tx->size, &size);
    /* A base64 text made only of hex digits is read as hex first: then it decodes to other
     * bytes, which is the documented rule, not a failure. */
    bool all_hex = strspn(b64, "0123456789abcdefABCDEF") == strlen(b64);
    if (!all_hex) {
        ASSERT(rc == ERR_OK && size == tx->size && memcmp(again, tx->bytes, size) == 0);
    }
    mem_free(hex);
    mem_free(b64);
    mem_free(again);
}

/* Returns the item's decoded size (0 for an item that failed alone). */
static size_t
check_item(const struct api_txs_body *out, const struct api_body_item *item, size_t body_size)
{
    if (item->rc != ERR_OK) {
        ASSERT(out->batch);
        return 0;
    }
    ASSERT(item->tx.size > 0);
    ASSERT(item->tx.bytes >= out->data);
    ASSERT(item->tx.bytes + item->tx.size <= out->data + body_size);
    check_round_trip(&item->tx);
    return item->tx.size;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    enum api_body_kind kind = (data[0] & 1) != 0      ? API_BODY_OCTETS
                              : (data[0] & 0x20) != 0 ? API_BODY_BATCH
                                                      : API_BODY_JSON;
    uint32_t txs_max = (uint32_t)((data[0] >> 1) & 15) + 1;
    const uint8_t *body = data + 1;
    size_t body_size = size - 1;
    bool shallow = api_json_depth_check(body, body_size, API_BODY_DEPTH_MAX) == ERR_OK;

    struct api_txs_body out;
    const char *why = NULL;
    if (api_txs_body_decode(kind, body, body_size, txs_max, &out, &why) != ERR_OK) {
        ASSERT(why != NULL);
        return 0; /* rejecting is fine; crashing, leaking or hanging is not */
    }
    ASSERT(kind != API_BODY_JSON || shallow);
    ASSERT(out.count >= 1 && out.count <= txs_max);
    ASSERT(out.batch || out.count == 1);
    size_t total = 0;
    for (size_t i = 0; i < out.count; i++) {
        total += check_item(&out, &out.items[i], body_size);
    }
    ASSERT(total <= body_size);
    if (kind == API_BODY_BATCH) {
        /* every byte is a length prefix or inside exactly one tx */
        ASSERT(out.batch && total + 4 * out.count == body_size);
        ASSERT(memcmp(out.data, body, body_size) == 0);
    }
    if (kind == API_BODY_OCTETS) {
        ASSERT(out.items[0].tx.size == body_size);
        ASSERT(memcmp(out.items[0].tx.bytes, body, body_size) == 0);
    }
    api_txs_body_release(&out);
    return 0;
}
