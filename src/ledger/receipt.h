/* Receipts and events: the result of each transaction of a block.
 *
 *   receipt = hash tx_hash, u16 status (0 ok, else -enum err of the failure), text message
 *             (<= RECEIPT_MESSAGE_SIZE_MAX), u64 resource_used, vector events
 *             (<= RECEIPT_EVENTS_MAX)
 *   event   = text module, text kind, vector attrs (<= EVENT_ATTRS_MAX) of
 *             { text key, bytes value (<= EVENT_ATTR_VALUE_SIZE_MAX) }
 * A receipt's hash is H(encoding); receipts_root is the Merkle root (crypto/merkle.h) of a
 * block's receipt hashes in tx order, so a receipt proof is a Merkle path. Status codes are
 * the values of enum err and therefore part of consensus: never renumber them. A failed tx's
 * message is the module's text or else err_name (the stable code, not err_str), so editing
 * error texts cannot change receipts roots.
 * Decoded structs borrow the bytes they were decoded from. Pure, thread-safe. */
#ifndef LM_LEDGER_RECEIPT_H
#define LM_LEDGER_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/reader.h"
#include "crypto/hash.h"
#include "ledger/module.h"

#define RECEIPT_SIZE_MAX                                    \
    (HASH_SIZE + 2 + 2 + RECEIPT_MESSAGE_SIZE_MAX + 8 + 2 + \
     RECEIPT_EVENTS_MAX *                                   \
         (2 * (1 + EVENT_NAME_SIZE_MAX) + 1 +               \
          EVENT_ATTRS_MAX * (1 + EVENT_NAME_SIZE_MAX + 2 + EVENT_ATTR_VALUE_SIZE_MAX)))

struct event {
    const char *module;
    size_t module_size;
    const char *kind;
    size_t kind_size;
    size_t attr_count;
    struct event_attr attrs[EVENT_ATTRS_MAX];
};

struct receipt {
    struct hash tx_hash;
    uint16_t status;
    const char *message;
    size_t message_size;
    uint64_t resource_used;
    size_t event_count;
    const uint8_t *events; /* the encoded events, for event_decode */
    size_t events_size;
};

/* Appends one encoded event. ERR_MALFORMED for an invalid name or too many attributes. */
/* module and kind are NUL-terminated. */
MUST_USE enum err event_encode(const char *module, const char *kind, const struct event_attr *attrs,
                               size_t attr_count, struct buf *out);
/* Reads the next event from r (positioned in a receipt's events). */
MUST_USE enum err event_decode(struct reader *r, struct event *out);

/* Appends a receipt whose events are already encoded (event_count of them in events). */
MUST_USE enum err receipt_encode(const struct receipt *receipt, struct buf *out);
/* Strict decoding, including every event. */
MUST_USE enum err receipt_decode(const uint8_t *data, size_t size, struct receipt *out);
/* The receipt status of an error code (0 for ERR_OK). */
uint16_t receipt_status_of(enum err rc);

#endif
