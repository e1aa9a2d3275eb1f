#include "ledger/receipt.h"

#include <string.h>

#include "base/assert.h"
#include "codec/codec.h"
#include "codec/tx.h"

uint16_t
receipt_status_of(enum err rc)
{
    ASSERT(rc <= 0);
    ASSERT(rc > -65536);
    return (uint16_t)(-(int)rc);
}

enum err
event_encode(const char *module, const char *kind, const struct event_attr *attrs,
             size_t attr_count, struct buf *out)
{
    size_t module_size = strlen(module);
    size_t kind_size = strlen(kind);
    if (!tx_name_is_valid(module, module_size) || !tx_name_is_valid(kind, kind_size) ||
        attr_count > EVENT_ATTRS_MAX) {
        return ERR_MALFORMED;
    }
    for (size_t i = 0; i < attr_count; i++) {
        if (!tx_name_is_valid(attrs[i].key, attrs[i].key_size) ||
            attrs[i].value_size > EVENT_ATTR_VALUE_SIZE_MAX) {
            return ERR_MALFORMED;
        }
    }
    enum err rc = codec_put_text(out, module, module_size, EVENT_NAME_SIZE_MAX);
    if (rc == ERR_OK) {
        rc = codec_put_text(out, kind, kind_size, EVENT_NAME_SIZE_MAX);
    }
    if (rc == ERR_OK) {
        rc = codec_put_count(out, attr_count, EVENT_ATTRS_MAX);
    }
    for (size_t i = 0; rc == ERR_OK && i < attr_count; i++) {
        rc = codec_put_text(out, attrs[i].key, attrs[i].key_size, EVENT_NAME_SIZE_MAX);
        if (rc == ERR_OK) {
            rc = codec_put_bytes(out, attrs[i].value, attrs[i].value_size,
                                 EVENT_ATTR_VALUE_SIZE_MAX);
        }
    }
    return rc;
}

enum err
event_decode(struct reader *r, struct event *out)
{
    struct event e;
    memset(&e, 0, sizeof e);
    size_t start = r->pos;
    enum err rc = codec_get_text(r, EVENT_NAME_SIZE_MAX, &e.module, &e.module_size);
    if (rc == ERR_OK) {
        rc = codec_get_text(r, EVENT_NAME_SIZE_MAX, &e.kind, &e.kind_size);
    }
    if (rc == ERR_OK) {
        rc = codec_get_count(r, EVENT_ATTRS_MAX, &e.attr_count);
    }
    for (size_t i = 0; rc == ERR_OK && i < e.attr_count; i++) {
        struct event_attr *a = &e.attrs[i];
        rc = codec_get_text(r, EVENT_NAME_SIZE_MAX, &a->key, &a->key_size);
        if (rc == ERR_OK) {
            rc = codec_get_bytes(r, EVENT_ATTR_VALUE_SIZE_MAX, &a->value, &a->value_size);
        }
        if (rc == ERR_OK && !tx_name_is_valid(a->key, a->key_size)) {
            rc = ERR_MALFORMED;
        }
    }
    if (rc == ERR_OK &&
        (!tx_name_is_valid(e.module, e.module_size) || !tx_name_is_valid(e.kind, e.kind_size))) {
        rc = ERR_MALFORMED;
    }
    if (rc != ERR_OK) {
        r->pos = start;
        return rc;
    }
    *out = e;
    return ERR_OK;
}

enum err
receipt_encode(const struct receipt *receipt, struct buf *out)
{
    enum err rc = codec_put_hash(out, &receipt->tx_hash);
    if (rc == ERR_OK) {
        rc = codec_put_u16(out, receipt->status);
    }
    if (rc == ERR_OK) {
        rc = codec_put_text(out, receipt->message, receipt->message_size, RECEIPT_MESSAGE_SIZE_MAX);
    }
    if (rc == ERR_OK) {
        rc = codec_put_u64(out, receipt->resource_used);
    }
    if (rc == ERR_OK) {
        rc = codec_put_count(out, receipt->event_count, RECEIPT_EVENTS_MAX);
    }
    if (rc == ERR_OK) {
        rc = codec_put_fixed(out, receipt->events, receipt->events_size);
    }
    return rc;
}

enum err
receipt_decode(const uint8_t *data, size_t size, struct receipt *out)
{
    struct reader r;
    reader_init(&r, data, size);
    struct receipt rec;
    memset(&rec, 0, sizeof rec);
    enum err rc = codec_get_hash(&r, &rec.tx_hash);
    if (rc == ERR_OK) {
        rc = codec_get_u16(&r, &rec.status);
    }
    if (rc == ERR_OK) {
        rc = codec_get_text(&r, RECEIPT_MESSAGE_SIZE_MAX, &rec.message, &rec.message_size);
    }
    if (rc == ERR_OK) {
        rc = codec_get_u64(&r, &rec.resource_used);
    }
    if (rc == ERR_OK) {
        rc = codec_get_count(&r, RECEIPT_EVENTS_MAX, &rec.event_count);
    }
    size_t events_start = r.pos;
    for (size_t i = 0; rc == ERR_OK && i < rec.event_count; i++) {
        struct event e;
        rc = event_decode(&r, &e);
    }
    if (rc == ERR_OK) {
        rc = codec_finish(&r);
    }
    if (rc != ERR_OK) {
        return rc;
    }
    rec.events = data + events_start;
    rec.events_size = r.pos - events_start;
    *out = rec;
    return ERR_OK;
}
