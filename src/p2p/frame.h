/* The p2p wire frame: u32 payload length (little-endian), u8 type, payload.
 *
 * The length counts payload bytes only and is checked against the link's maximum as soon as
 * the 5 header bytes are present, before any payload is buffered. Decoding is strict: an
 * unknown type or an oversized length is an error and the peer is disconnected; there is no
 * padding, no optional field and no second encoding of a frame, so decode then encode gives
 * back the same bytes. Pure functions on borrowed bytes; thread-safe. */
#ifndef LM_P2P_FRAME_H
#define LM_P2P_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define FRAME_HEADER_SIZE 5u
/* The largest maximum a link can be configured with (64 MiB). */
#define FRAME_PAYLOAD_SIZE_LIMIT (64u * 1024u * 1024u)

/* Frame types. HELLO is the p2p layer's own and never reaches the caller. */
enum frame_type {
    FRAME_HELLO = 1,          /* first frame each way once TLS is up: u32 protocol version */
    FRAME_TX = 2,             /* a transaction, gossiped */
    FRAME_CONSENSUS = 3,      /* a consensus message (proposal, vote, timeout, ...) */
    FRAME_BLOCK_REQUEST = 4,  /* struct frame_block_request */
    FRAME_BLOCK_RESPONSE = 5, /* blocks, encoded by codec/ */
    FRAME_TXS = 6,            /* transactions, gossiped in a batch (frame_txs_*) */
};
#define FRAME_TYPE_MIN 1u
#define FRAME_TYPE_MAX 6u

/* 2: FRAME_TXS (a node gossips the txs it admits in one turn of its loop as one frame). */
#define FRAME_PROTOCOL_VERSION   2u
#define FRAME_HELLO_PAYLOAD_SIZE 4u

struct frame_header {
    uint8_t type;
    uint32_t payload_size;
};

/* A whole frame; payload borrows the decoded bytes. */
struct frame {
    uint8_t type;
    const uint8_t *payload;
    size_t payload_size;
};

/* A request for blocks [height_from, height_from + count); 12 bytes: u64 height, u32 count. */
#define FRAME_BLOCK_REQUEST_SIZE      12u
#define FRAME_BLOCK_REQUEST_COUNT_MAX 256u

struct frame_block_request {
    uint64_t height_from;
    uint32_t count; /* 1 ..= FRAME_BLOCK_REQUEST_COUNT_MAX */
};

/* A FRAME_TXS payload: u32 count (1..FRAME_TXS_COUNT_MAX), then count times u32 size
 * (1..payload) and the tx's bytes, nothing after. Built with frame_txs_begin/append/end. */
#define FRAME_TXS_COUNT_MAX 4096u
#define FRAME_TXS_HEADER    4u
#define FRAME_TXS_ITEM_HEAD 4u

struct frame_item {
    const uint8_t *data;
    size_t size;
};

bool frame_type_is_valid(unsigned type);

void frame_header_encode(uint8_t type, uint32_t payload_size, uint8_t out[FRAME_HEADER_SIZE]);
/* Decodes the header at the start of data. ERR_TRUNCATED if fewer than FRAME_HEADER_SIZE
 * bytes; ERR_TOO_LARGE if the length exceeds payload_size_max; ERR_MALFORMED if the type is
 * unknown. */
MUST_USE enum err frame_header_decode(const uint8_t *data, size_t size, uint32_t payload_size_max,
                                      struct frame_header *out);
/* Decodes one whole frame at the start of data and sets *out_size to its encoded size.
 * ERR_TRUNCATED if data ends before the frame does; other errors as frame_header_decode. */
MUST_USE enum err frame_decode(const uint8_t *data, size_t size, uint32_t payload_size_max,
                               struct frame *out, size_t *out_size);

/* HELLO payload: the protocol version. ERR_MALFORMED if the size is wrong, ERR_UNSUPPORTED
 * if the version is not ours. */
void frame_hello_encode(uint8_t out[FRAME_HELLO_PAYLOAD_SIZE]);
MUST_USE enum err frame_hello_decode(const uint8_t *payload, size_t size);

void frame_block_request_encode(const struct frame_block_request *req,
                                uint8_t out[FRAME_BLOCK_REQUEST_SIZE]);
/* ERR_MALFORMED unless exactly 12 bytes with 1 <= count <= FRAME_BLOCK_REQUEST_COUNT_MAX and
 * no height overflow. */
MUST_USE enum err frame_block_request_decode(const uint8_t *payload, size_t size,
                                             struct frame_block_request *out);

/* Appends one tx (1 or more bytes) to the FRAME_TXS payload in b (empty b: a new payload).
 * ERR_FULL if the payload holds FRAME_TXS_COUNT_MAX txs, or buf_append's errors; b is
 * unchanged on error. */
MUST_USE enum err frame_txs_append(struct buf *b, const uint8_t *tx, size_t size);
/* The number of txs in a payload built by frame_txs_append (0 for an empty b). */
size_t frame_txs_count(const struct buf *b);
/* Splits a FRAME_TXS payload into out[0..*out_count) (borrowing payload). ERR_MALFORMED
 * unless it is exactly as described above; ERR_LIMIT if it holds more than out_max txs. */
MUST_USE enum err frame_txs_split(const uint8_t *payload, size_t size, struct frame_item *out,
                                  size_t out_max, size_t *out_count);

#endif
