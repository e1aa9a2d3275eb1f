#include "modules/notary.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/mem.h"

/* Values are read into fixed storage of their maximum size: no allocation in execution. */
#define FIXED_BUF(storage)                                                                     \
    {                                                                                          \
        .data = (storage), .size = 0, .capacity = sizeof(storage), .size_max = sizeof(storage) \
    }

/* What records_load found: the number of records and whether the sender is among them
 * (then its record). */
struct records_found {
    size_t count;
    bool has_sender;
    struct notary_record sender_record;
};

/* Loads document's records into value (empty if there are none). Our own state: a value that
 * does not decode is corruption. */
static enum err
records_load(struct state_view *view, const struct hash *document, const struct address *sender,
             struct buf *value, struct records_found *out)
{
    uint8_t key[NOTARY_DOCUMENT_KEY_SIZE];
    notary_document_key(document, key);
    enum err rc = state_view_get(view, key, sizeof key, value);
    out->count = 0;
    out->has_sender = false;
    if (rc == ERR_NOT_FOUND) {
        return ERR_OK;
    }
    if (rc != ERR_OK) {
        return rc;
    }
    rc = notary_records_find(value->data, value->size, sender, &out->count, &out->sender_record);
    if (rc != ERR_OK && rc != ERR_NOT_FOUND) {
        fatal("notary records do not decode: %s", err_str(rc));
    }
    out->has_sender = rc == ERR_OK;
    return ERR_OK;
}

/* Fails the op with code and a receipt message. */
static enum err
reject(struct exec_ctx *ctx, enum err code, const char *message)
{
    exec_ctx_set_message(ctx, message);
    return code;
}

/* Checks sender, duplicate and capacity, then writes the document's records with the new one
 * appended: one state read and one write per anchor. */
static enum err
anchor(struct exec_ctx *ctx, const struct notary_anchor_args *args)
{
    if (exec_ctx_institution(ctx) == 0) {
        return reject(ctx, ERR_DENIED, "notary.anchor: the sender belongs to no institution");
    }
    struct state_view *view = exec_ctx_view(ctx);
    struct notary_record rec;
    memset(&rec, 0, sizeof rec);
    rec.account = *exec_ctx_sender(ctx);
    uint8_t storage[NOTARY_RECORDS_SIZE_MAX];
    struct buf value = FIXED_BUF(storage);
    struct records_found found;
    enum err rc = records_load(view, &args->document, &rec.account, &value, &found);
    if (rc != ERR_OK) {
        return rc;
    }
    if (found.has_sender) {
        char message[128];
        snprintf(message, sizeof message,
                 "notary.anchor: this account already anchored this document at height %" PRIu64,
                 found.sender_record.height);
        return reject(ctx, ERR_EXISTS, message);
    }
    if (found.count >= NOTARY_ANCHORS_PER_HASH_MAX) {
        return reject(ctx, ERR_FULL, "notary.anchor: this document has the maximum of 64 anchors");
    }
    rec.institution = exec_ctx_institution(ctx);
    rec.height = exec_ctx_height(ctx);
    rec.timestamp_us = exec_ctx_timestamp_us(ctx);
    ASSERT(args->kind_size <= sizeof rec.kind);
    ASSERT(args->note_size <= sizeof rec.note);
    memcpy(rec.kind, args->kind, args->kind_size);
    rec.kind_size = args->kind_size;
    if (args->note_size > 0) {
        memcpy(rec.note, args->note, args->note_size);
    }
    rec.note_size = args->note_size;
    rec.tx_hash = *exec_ctx_tx_hash(ctx);
    rc = notary_records_append(&value, found.count, &rec);
    ASSERT(rc == ERR_OK); /* args were validated, the buffer has the maximum size */
    uint8_t key[NOTARY_DOCUMENT_KEY_SIZE];
    notary_document_key(&args->document, key);
    return state_view_put(view, key, sizeof key, value.data, value.size);
}

static enum err
op_anchor(struct exec_ctx *ctx, const uint8_t *args, size_t args_size)
{
    enum err rc = exec_ctx_charge(ctx, NOTARY_RES_ANCHOR + (uint64_t)args_size);
    if (rc != ERR_OK) {
        return rc;
    }
    struct notary_anchor_args a;
    rc = notary_anchor_args_decode(args, args_size, &a);
    if (rc != ERR_OK) {
        const char *why = notary_anchor_args_problem(args, args_size);
        ASSERT(why != NULL);
        char message[RECEIPT_MESSAGE_SIZE_MAX];
        snprintf(message, sizeof message, "notary.anchor: %s", why);
        return reject(ctx, rc, message);
    }
    rc = anchor(ctx, &a);
    if (rc != ERR_OK) {
        return rc;
    }
    struct event_attr attrs[3] = {
        { "document", 8, a.document.bytes, HASH_SIZE },
        { "account", 7, exec_ctx_sender(ctx)->bytes, ADDRESS_SIZE },
        { "kind", 4, (const uint8_t *)a.kind, a.kind_size },
    };
    return exec_ctx_emit(ctx, "anchored", attrs, 3);
}

static enum err
query_get(struct state_view *view, const uint8_t *args, size_t args_size, struct buf *out)
{
    if (args_size != HASH_SIZE) {
        return ERR_MALFORMED;
    }
    struct hash document;
    memcpy(document.bytes, args, HASH_SIZE);
    uint8_t key[NOTARY_DOCUMENT_KEY_SIZE];
    notary_document_key(&document, key);
    struct buf value;
    buf_init(&value, NOTARY_RECORDS_SIZE_MAX);
    enum err rc = state_view_get(view, key, sizeof key, &value);
    struct notary_anchors *anchors = mem_alloc(sizeof *anchors);
    if (rc == ERR_OK) {
        anchors->document = document;
        rc = notary_records_decode(value.data, value.size, anchors->records, &anchors->count);
        if (rc != ERR_OK) {
            fatal("notary records do not decode: %s", err_str(rc));
        }
        rc = notary_anchors_encode(anchors, out);
    }
    mem_free(anchors);
    buf_release(&value);
    return rc;
}

static const struct module_op notary_ops[] = {
    { NOTARY_OP_ANCHOR, op_anchor },
};

static const struct module_query notary_queries[] = {
    { NOTARY_QUERY_GET, query_get },
};

static const struct module_def notary_def = {
    .name = NOTARY_MODULE,
    .ops = notary_ops,
    .op_count = sizeof notary_ops / sizeof notary_ops[0],
    .queries = notary_queries,
    .query_count = sizeof notary_queries / sizeof notary_queries[0],
    .genesis = NULL,
};

const struct module_def *
notary_module(void)
{
    return &notary_def;
}
