/* State views and op contexts of the execution engine (module.h API, exec.h layouts). */
#include "ledger/exec.h"

#include <string.h>

#include "base/assert.h"
#include "codec/tx.h"
#include "ledger/receipt.h"

void
state_view_init(struct state_view *v, const char *module, const struct state_batch *base,
                struct meter *meter)
{
    ASSERT(v != NULL);
    ASSERT(module != NULL);
    ASSERT(strlen(module) <= TX_NAME_SIZE_MAX);
    *v = (struct state_view){ .module = module, .base = base, .meter = meter };
}

void
state_view_init_committed(struct state_view *v, const char *module, struct state_store *store,
                          uint64_t version)
{
    state_view_init(v, module, NULL, NULL);
    v->store = store;
    v->version = version;
}

void
state_view_layer(struct state_view *v, struct overlay *write, const struct overlay *first,
                 const struct overlay *second)
{
    v->write = write;
    v->layers[0] = first;
    v->layers[1] = second;
}

enum err
meter_charge(struct meter *m, uint64_t units)
{
    if (m == NULL) {
        return ERR_OK;
    }
    if (units > m->limit - m->used) {
        m->used = m->limit;
        return ERR_LIMIT;
    }
    m->used += units;
    return ERR_OK;
}

/* "<module>/<key>" into out (STATE_KEY_SIZE_MAX bytes). */
static enum err
full_key(const char *module, const uint8_t *key, size_t key_size, uint8_t *out, size_t *out_size)
{
    size_t prefix = strlen(module);
    if (key_size > MODULE_KEY_SIZE_MAX) {
        return ERR_TOO_LARGE;
    }
    ASSERT(prefix + 1 + key_size <= STATE_KEY_SIZE_MAX);
    memcpy(out, module, prefix + 1); /* with the NUL, replaced by the '/' */
    out[prefix] = '/';
    if (key_size > 0) {
        memcpy(out + prefix + 1, key, key_size);
    }
    *out_size = prefix + 1 + key_size;
    return ERR_OK;
}

enum err
state_view_get_raw(const struct state_view *v, const uint8_t *key, size_t key_size,
                   struct buf *out_value)
{
    for (size_t i = 0; i < 2; i++) {
        const uint8_t *value;
        size_t value_size;
        if (v->layers[i] != NULL && overlay_get(v->layers[i], key, key_size, &value, &value_size)) {
            return value == NULL ? ERR_NOT_FOUND : buf_append(out_value, value, value_size);
        }
    }
    if (v->base != NULL) {
        return state_batch_get(v->base, key, key_size, out_value);
    }
    if (v->store != NULL) {
        return state_store_get(v->store, NULL, v->version, key, key_size, out_value);
    }
    return ERR_NOT_FOUND;
}

static enum err
view_read(struct state_view *v, const char *module, const uint8_t *key, size_t key_size,
          struct buf *out_value)
{
    uint8_t full[STATE_KEY_SIZE_MAX];
    size_t full_size;
    if (!tx_name_is_valid(module, strlen(module))) {
        return ERR_INVALID_ARG;
    }
    enum err rc = full_key(module, key, key_size, full, &full_size);
    if (rc != ERR_OK) {
        return rc;
    }
    size_t start = out_value->size;
    rc = state_view_get_raw(v, full, full_size, out_value);
    uint64_t value_size = rc == ERR_OK ? out_value->size - start : 0;
    enum err charged = meter_charge(v->meter, LEDGER_RES_READ + full_size + value_size);
    if (charged != ERR_OK) {
        out_value->size = start;
        return charged;
    }
    return rc;
}

enum err
state_view_get(struct state_view *v, const uint8_t *key, size_t key_size, struct buf *out_value)
{
    return view_read(v, v->module, key, key_size, out_value);
}

enum err
state_view_get_in(struct state_view *v, const char *module, const uint8_t *key, size_t key_size,
                  struct buf *out_value)
{
    return view_read(v, module, key, key_size, out_value);
}

static enum err
view_write(struct state_view *v, const uint8_t *key, size_t key_size, const uint8_t *value,
           size_t value_size)
{
    if (v->write == NULL) {
        return ERR_DENIED;
    }
    if (value_size > MODULE_VALUE_SIZE_MAX) {
        return ERR_TOO_LARGE;
    }
    uint8_t full[STATE_KEY_SIZE_MAX];
    size_t full_size;
    enum err rc = full_key(v->module, key, key_size, full, &full_size);
    if (rc == ERR_OK) {
        rc = meter_charge(v->meter, LEDGER_RES_WRITE + 2 * ((uint64_t)full_size + value_size));
    }
    if (rc == ERR_OK) {
        rc = overlay_put(v->write, full, full_size, value, value_size);
    }
    return rc;
}

enum err
state_view_put(struct state_view *v, const uint8_t *key, size_t key_size, const uint8_t *value,
               size_t value_size)
{
    ASSERT(value != NULL || value_size == 0);
    static const uint8_t empty[1] = { 0 };
    return view_write(v, key, key_size, value != NULL ? value : empty, value_size);
}

enum err
state_view_del(struct state_view *v, const uint8_t *key, size_t key_size)
{
    return view_write(v, key, key_size, NULL, 0);
}

struct state_view *
exec_ctx_view(struct exec_ctx *ctx)
{
    return &ctx->view;
}

const struct address *
exec_ctx_sender(const struct exec_ctx *ctx)
{
    return &ctx->sender->address;
}

const struct hash *
exec_ctx_tx_hash(const struct exec_ctx *ctx)
{
    return ctx->tx_hash;
}

uint32_t
exec_ctx_institution(const struct exec_ctx *ctx)
{
    return ctx->sender->institution;
}

bool
exec_ctx_sender_is_admin(const struct exec_ctx *ctx)
{
    return ctx->sender->admin;
}

uint64_t
exec_ctx_height(const struct exec_ctx *ctx)
{
    return ctx->env->height;
}

uint64_t
exec_ctx_timestamp_us(const struct exec_ctx *ctx)
{
    return ctx->env->timestamp_us;
}

enum hash_alg
exec_ctx_hash_alg(const struct exec_ctx *ctx)
{
    return ctx->env->hash_alg;
}

const struct chain_params *
exec_ctx_params(const struct exec_ctx *ctx)
{
    return ctx->env->params;
}

enum err
exec_ctx_charge(struct exec_ctx *ctx, uint64_t units)
{
    return meter_charge(ctx->view.meter, units);
}

enum err
exec_ctx_emit(struct exec_ctx *ctx, const char *kind, const struct event_attr *attrs,
              size_t attr_count)
{
    if (*ctx->event_count >= RECEIPT_EVENTS_MAX) {
        return ERR_FULL;
    }
    size_t start = ctx->events->size;
    const char *module = ctx->view.module;
    enum err rc = event_encode(module, kind, attrs, attr_count, ctx->events);
    if (rc != ERR_OK) {
        ctx->events->size = start;
        return rc;
    }
    (*ctx->event_count)++;
    return ERR_OK;
}

void
exec_ctx_set_message(struct exec_ctx *ctx, const char *message)
{
    size_t size = strnlen(message, RECEIPT_MESSAGE_SIZE_MAX);
    /* Cut at a character boundary so the message stays valid UTF-8. */
    while (size > 0 && size < strlen(message) && ((uint8_t)message[size] & 0xc0) == 0x80) {
        size--;
    }
    memcpy(ctx->message, message, size);
    ctx->message[size] = '\0';
}
