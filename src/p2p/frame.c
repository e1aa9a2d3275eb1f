#include "p2p/frame.h"

#include <string.h>

#include "base/assert.h"
#include "base/reader.h"

bool
frame_type_is_valid(unsigned type)
{
    return type >= FRAME_TYPE_MIN && type <= FRAME_TYPE_MAX;
}

void
frame_header_encode(uint8_t type, uint32_t payload_size, uint8_t out[FRAME_HEADER_SIZE])
{
    ASSERT(frame_type_is_valid(type));
    store_u32(out, payload_size);
    out[4] = type;
}

enum err
frame_header_decode(const uint8_t *data, size_t size, uint32_t payload_size_max,
                    struct frame_header *out)
{
    ASSERT(payload_size_max <= FRAME_PAYLOAD_SIZE_LIMIT);
    if (size < FRAME_HEADER_SIZE) {
        return ERR_TRUNCATED;
    }
    uint32_t payload_size = load_u32(data);
    if (payload_size > payload_size_max) {
        return ERR_TOO_LARGE;
    }
    uint8_t type = data[4];
    if (!frame_type_is_valid(type)) {
        return ERR_MALFORMED;
    }
    out->type = type;
    out->payload_size = payload_size;
    return ERR_OK;
}

enum err
frame_decode(const uint8_t *data, size_t size, uint32_t payload_size_max, struct frame *out,
             size_t *out_size)
{
    struct frame_header h;
    enum err rc = frame_header_decode(data, size, payload_size_max, &h);
    if (rc != ERR_OK) {
        return rc;
    }
    if (size - FRAME_HEADER_SIZE < h.payload_size) {
        return ERR_TRUNCATED;
    }
    out->type = h.type;
    out->payload = data + FRAME_HEADER_SIZE;
    out->payload_size = h.payload_size;
    *out_size = FRAME_HEADER_SIZE + (size_t)h.payload_size;
    return ERR_OK;
}

void
frame_hello_encode(uint8_t out[FRAME_HELLO_PAYLOAD_SIZE])
{
    store_u32(out, FRAME_PROTOCOL_VERSION);
}

enum err
frame_hello_decode(const uint8_t *payload, size_t size)
{
    if (size != FRAME_HELLO_PAYLOAD_SIZE) {
        return ERR_MALFORMED;
    }
    if (load_u32(payload) != FRAME_PROTOCOL_VERSION) {
        return ERR_UNSUPPORTED;
    }
    return ERR_OK;
}

void
frame_block_request_encode(const struct frame_block_request *req,
                           uint8_t out[FRAME_BLOCK_REQUEST_SIZE])
{
    ASSERT(req->count >= 1 && req->count <= FRAME_BLOCK_REQUEST_COUNT_MAX);
    store_u64(out, req->height_from);
    store_u32(out + 8, req->count);
}

enum err
frame_block_request_decode(const uint8_t *payload, size_t size, struct frame_block_request *out)
{
    if (size != FRAME_BLOCK_REQUEST_SIZE) {
        return ERR_MALFORMED;
    }
    uint64_t height_from = load_u64(payload);
    uint32_t count = load_u32(payload + 8);
    if (count < 1 || count > FRAME_BLOCK_REQUEST_COUNT_MAX) {
        return ERR_MALFORMED;
    }
    if (height_from > UINT64_MAX - count) {
        return ERR_MALFORMED;
    }
    out->height_from = height_from;
    out->count = count;
    return ERR_OK;
}

enum err
frame_txs_append(struct buf *b, const uint8_t *tx, size_t size)
{
    ASSERT(b != NULL);
    ASSERT(tx != NULL && size >= 1);
    if (size > UINT32_MAX) {
        return ERR_TOO_LARGE;
    }
    size_t count = frame_txs_count(b);
    if (count >= FRAME_TXS_COUNT_MAX) {
        return ERR_FULL;
    }
    size_t old = b->size;
    size_t head = old == 0 ? FRAME_TXS_HEADER : 0;
    uint8_t *space = NULL;
    enum err rc = buf_reserve(b, head + FRAME_TXS_ITEM_HEAD + size, &space);
    if (rc != ERR_OK) {
        return rc;
    }
    if (head != 0) {
        store_u32(space, 0);
    }
    store_u32(space + head, (uint32_t)size);
    memcpy(space + head + FRAME_TXS_ITEM_HEAD, tx, size);
    buf_commit(b, head + FRAME_TXS_ITEM_HEAD + size);
    store_u32(b->data, (uint32_t)(count + 1));
    return ERR_OK;
}

size_t
frame_txs_count(const struct buf *b)
{
    ASSERT(b != NULL);
    return b->size < FRAME_TXS_HEADER ? 0 : load_u32(b->data);
}

enum err
frame_txs_split(const uint8_t *payload, size_t size, struct frame_item *out, size_t out_max,
                size_t *out_count)
{
    ASSERT(payload != NULL || size == 0);
    ASSERT(out != NULL || out_max == 0);
    if (size < FRAME_TXS_HEADER) {
        return ERR_MALFORMED;
    }
    uint32_t count = load_u32(payload);
    if (count < 1 || count > FRAME_TXS_COUNT_MAX) {
        return ERR_MALFORMED;
    }
    if (count > out_max) {
        return ERR_LIMIT;
    }
    size_t pos = FRAME_TXS_HEADER;
    for (uint32_t i = 0; i < count; i++) {
        if (size - pos < FRAME_TXS_ITEM_HEAD) {
            return ERR_MALFORMED;
        }
        uint32_t item = load_u32(payload + pos);
        pos += FRAME_TXS_ITEM_HEAD;
        if (item < 1 || item > size - pos) {
            return ERR_MALFORMED;
        }
        out[i] = (struct frame_item){ payload + pos, item };
        pos += item;
    }
    if (pos != size) {
        return ERR_MALFORMED;
    }
    *out_count = count;
    return ERR_OK;
}
