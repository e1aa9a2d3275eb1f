/* Fuzz target for the p2p frame decoder (p2p/frame.h): the input is a byte stream as a peer
 * would send it. Frames are decoded one after another until the stream ends or is refused;
 * each decoded frame must re-encode to exactly the bytes it came from, and the HELLO,
 * block-request and FRAME_TXS payload decoders must round-trip too. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "p2p/frame.h"

#define FUZZ_PAYLOAD_SIZE_MAX 4096u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_payload(const struct frame *f)
{
    if (f->type == FRAME_HELLO && frame_hello_decode(f->payload, f->payload_size) == ERR_OK) {
        uint8_t again[FRAME_HELLO_PAYLOAD_SIZE];
        frame_hello_encode(again);
        ASSERT(f->payload_size == sizeof again);
        ASSERT(memcmp(again, f->payload, sizeof again) == 0);
    }
    struct frame_block_request req;
    if (f->type == FRAME_BLOCK_REQUEST &&
        frame_block_request_decode(f->payload, f->payload_size, &req) == ERR_OK) {
        uint8_t again[FRAME_BLOCK_REQUEST_SIZE];
        frame_block_request_encode(&req, again);
        ASSERT(f->payload_size == sizeof again);
        ASSERT(memcmp(again, f->payload, sizeof again) == 0);
    }
    static struct frame_item items[FRAME_TXS_COUNT_MAX];
    size_t count = 0;
    enum err rc = f->type == FRAME_TXS ? frame_txs_split(f->payload, f->payload_size, items,
                                                         FRAME_TXS_COUNT_MAX, &count)
                                       : ERR_MALFORMED;
    ASSERT(rc == ERR_OK || rc == ERR_MALFORMED);
    if (rc == ERR_OK) {
        struct buf again;
        buf_init(&again, FUZZ_PAYLOAD_SIZE_MAX);
        for (size_t i = 0; i < count; i++) {
            ASSERT(items[i].size >= 1);
            ASSERT(frame_txs_append(&again, items[i].data, items[i].size) == ERR_OK);
        }
        ASSERT(frame_txs_count(&again) == count);
        ASSERT(again.size == f->payload_size);
        ASSERT(memcmp(again.data, f->payload, again.size) == 0);
        buf_release(&again);
    }
}

/* A stream is refused only with these errors. */
static void
check_refusal(enum err rc)
{
    ASSERT(rc == ERR_TRUNCATED || rc == ERR_TOO_LARGE || rc == ERR_MALFORMED);
}

/* One decoded frame: sizes agree and it re-encodes to exactly its bytes. */
static void
check_frame(const uint8_t *at, size_t remaining, const struct frame *f, size_t used)
{
    ASSERT(used == FRAME_HEADER_SIZE + f->payload_size);
    ASSERT(used <= remaining);
    ASSERT(f->payload_size <= FUZZ_PAYLOAD_SIZE_MAX);
    ASSERT(frame_type_is_valid(f->type));
    uint8_t header[FRAME_HEADER_SIZE];
    frame_header_encode(f->type, (uint32_t)f->payload_size, header);
    ASSERT(memcmp(header, at, FRAME_HEADER_SIZE) == 0);
    ASSERT(f->payload == at + FRAME_HEADER_SIZE);
    check_payload(f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    while (pos < size) {
        struct frame f;
        size_t used = 0;
        enum err rc = frame_decode(data + pos, size - pos, FUZZ_PAYLOAD_SIZE_MAX, &f, &used);
        if (rc != ERR_OK) {
            check_refusal(rc);
            break;
        }
        check_frame(data + pos, size - pos, &f, used);
        pos += used;
    }
    return 0;
}
