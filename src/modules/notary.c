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

/* Loads the anchor list of document (count 0 if there is none). Our own state: a value that
 * does not decode is corruption. */
static enum err
list_load(struct state_view *view, const struct hash *document, struct address *out_accounts,
          size_t *out_count)
{
    uint8_t key[NOTARY_LIST_KEY_SIZE];
    notary_list_key(document, key);
    uint8_t storage[NOTARY_LIST_SIZE_MAX];
    struct buf value = FIXED_BUF(storage);
    enum err rc = state_view_get(view, key, sizeof key, &value);
    if (rc == ERR_NOT_FOUND) {
        *out_count = 0;
        return ERR_OK;
    }
    if (rc != ERR_OK) {
        return rc;
    }
    rc = notary_list_decode(value.data, value.size, out_accounts, out_count);
    if (rc != ERR_OK) {
        fatal("notary anchor list does not decode: %s", err_str(rc));
    }
    return ERR_OK;
}

/* Loads one record; ERR_NOT_FOUND if absent. */
static enum err
record_load(struct state_view *view, const struct hash *document, const struct address *account,
            struct buf *out_value, struct notary_record *out)
{
    uint8_t key[NOTARY_RECORD_KEY_SIZE];
    notary_record_key(document, account, key);
    size_t start = out_value->size;
    enum err rc = state_view_get(view, key, sizeof key, out_value);
    if (rc != ERR_OK) {
        return rc;
    }
    rc = notary_record_decode(out_value->data + start, out_value->size - start, out);
    if (rc != ERR_OK) {
        fatal("notary record does not decode: %s", err_str(rc));
    }
    return ERR_OK;
}

/* Fails the op with code and a receipt message. */
static enum err
reject(struct exec_ctx *ctx, enum err code, const char *message)
{
    exec_ctx_set_message(ctx, message);
    return code;
}

/* The checks that do not write: sender, duplicate, capacity. Loads the list. A record of
 * (document, account) exists exactly when the document's list names the account (anchor_write
 * writes both; nothing removes either), so the list answers the duplicate check and the
 * record is read only to quote a duplicate's height: one state read per new anchor. */
static enum err
anchor_check(struct exec_ctx *ctx, const struct notary_anchor_args *args,
             struct address *out_accounts, size_t *out_count)
{
    struct state_view *view = exec_ctx_view(ctx);
    if (exec_ctx_institution(ctx) == 0) {
        return reject(ctx, ERR_DENIED, "notary.anchor: the sender belongs to no institution");
    }
    enum err rc = list_load(view, &args->document, out_accounts, out_count);
    if (rc != ERR_OK) {
        return rc;
    }
    const struct address *sender = exec_ctx_sender(ctx);
    for (size_t i = 0; i < *out_count; i++) {
        if (memcmp(out_accounts[i].bytes, sender->bytes, ADDRESS_SIZE) != 0) {
            continue;
        }
        uint8_t storage[NOTARY_RECORD_SIZE_MAX];
        struct buf value = FIXED_BUF(storage);
        struct notary_record existing;
        rc = record_load(view, &args->document, sender, &value, &existing);
        if (rc == ERR_NOT_FOUND) {
            fatal("notary list names an account without its record");
        }
        if (rc != ERR_OK) {
            return rc;
        }
        char message[128];
        snprintf(message, sizeof message,
                 "notary.anchor: this account already anchored this document at height %" PRIu64,
                 existing.height);
        return reject(ctx, ERR_EXISTS, message);
    }
    if (*out_count >= NOTARY_ANCHORS_PER_HASH_MAX) {
        return reject(ctx, ERR_FULL, "notary.anchor: this document has the maximum of 64 anchors");
    }
    return ERR_OK;
}

static enum err
anchor_write(struct exec_ctx *ctx, const struct notary_anchor_args *args, struct address *accounts,
             size_t count)
{
    ASSERT(count < NOTARY_ANCHORS_PER_HASH_MAX);
    struct state_view *view = exec_ctx_view(ctx);
    struct notary_record rec;
    memset(&rec, 0, sizeof rec);
    rec.account = *exec_ctx_sender(ctx);
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

    uint8_t record_storage[NOTARY_RECORD_SIZE_MAX];
    struct buf record = FIXED_BUF(record_storage);
    enum err rc = notary_record_encode(&rec, &record);
    ASSERT(rc == ERR_OK); /* args were validated and the buffer has the maximum size */
    uint8_t key[NOTARY_RECORD_KEY_SIZE];
    notary_record_key(&args->document, &rec.account, key);
    rc = state_view_put(view, key, sizeof key, record.data, record.size);
    if (rc != ERR_OK) {
        return rc;
    }

    accounts[count] = rec.account;
    uint8_t list_storage[NOTARY_LIST_SIZE_MAX];
    struct buf list = FIXED_BUF(list_storage);
    rc = notary_list_encode(accounts, count + 1, &list);
    ASSERT(rc == ERR_OK);
    uint8_t list_key[NOTARY_LIST_KEY_SIZE];
    notary_list_key(&args->document, list_key);
    return state_view_put(view, list_key, sizeof list_key, list.data, list.size);
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
    struct address accounts[NOTARY_ANCHORS_PER_HASH_MAX];
    size_t count = 0;
    rc = anchor_check(ctx, &a, accounts, &count);
    if (rc == ERR_OK) {
        rc = anchor_write(ctx, &a, accounts, count);
    }
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
    struct notary_anchors *anchors = mem_alloc(sizeof *anchors);
    memcpy(anchors->document.bytes, args, HASH_SIZE);
    size_t count = 0;
    struct address accounts[NOTARY_ANCHORS_PER_HASH_MAX];
    enum err rc = list_load(view, &anchors->document, accounts, &count);
    if (rc == ERR_OK && count == 0) {
        rc = ERR_NOT_FOUND;
    }
    uint8_t storage[NOTARY_RECORD_SIZE_MAX];
    struct buf value = FIXED_BUF(storage);
    for (size_t i = 0; rc == ERR_OK && i < count; i++) {
        buf_reset(&value);
        rc = record_load(view, &anchors->document, &accounts[i], &value, &anchors->records[i]);
        if (rc == ERR_NOT_FOUND) {
            fatal("notary anchor list names a record that does not exist");
        }
    }
    if (rc == ERR_OK) {
        anchors->count = count;
        rc = notary_anchors_encode(anchors, out);
    }
    mem_free(anchors);
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
