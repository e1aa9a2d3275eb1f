#include "ledger/account.h"

#include <string.h>

#include "base/assert.h"
#include "codec/codec.h"
#include "ledger/exec.h"

enum err
account_encode(const struct account *a, struct buf *out)
{
    if (a->key_count == 0 || a->key_count > ACCOUNT_KEYS_MAX) {
        return ERR_MALFORMED;
    }
    enum err rc = codec_put_u64(out, a->nonce);
    if (rc == ERR_OK) {
        rc = codec_put_u32(out, a->institution);
    }
    if (rc == ERR_OK) {
        rc = codec_put_bool(out, a->admin);
    }
    if (rc == ERR_OK) {
        rc = codec_put_count(out, a->key_count, ACCOUNT_KEYS_MAX);
    }
    for (size_t i = 0; rc == ERR_OK && i < a->key_count; i++) {
        rc = codec_put_public_key(out, &a->keys[i]);
    }
    return rc;
}

enum err
account_decode(const uint8_t *data, size_t size, const struct address *address, struct account *out)
{
    struct reader r;
    reader_init(&r, data, size);
    struct account a;
    memset(&a, 0, sizeof a);
    a.address = *address;
    enum err rc = codec_get_u64(&r, &a.nonce);
    if (rc == ERR_OK) {
        rc = codec_get_u32(&r, &a.institution);
    }
    if (rc == ERR_OK) {
        rc = codec_get_bool(&r, &a.admin);
    }
    if (rc == ERR_OK) {
        rc = codec_get_count(&r, ACCOUNT_KEYS_MAX, &a.key_count);
    }
    if (rc == ERR_OK && a.key_count == 0) {
        rc = ERR_MALFORMED;
    }
    for (size_t i = 0; rc == ERR_OK && i < a.key_count; i++) {
        rc = codec_get_public_key(&r, &a.keys[i]);
    }
    if (rc == ERR_OK) {
        rc = codec_finish(&r);
    }
    if (rc != ERR_OK) {
        return rc;
    }
    *out = a;
    return ERR_OK;
}

enum err
account_load(struct state_view *v, const struct address *address, struct account *out)
{
    uint8_t storage[ACCOUNT_VALUE_SIZE_MAX];
    struct buf value = { .data = storage, .capacity = sizeof storage, .size_max = sizeof storage };
    enum err rc = state_view_get_in(v, ACCOUNT_MODULE, address->bytes, ADDRESS_SIZE, &value);
    if (rc == ERR_OK) {
        /* Our own state: a value that does not decode is corruption, not bad input. */
        rc = account_decode(value.data, value.size, address, out);
        if (rc != ERR_OK) {
            fatal("account state does not decode: %s", err_str(rc));
        }
    }
    return rc;
}

enum err
account_store(struct state_view *v, const struct account *a)
{
    ASSERT(strcmp(v->module, ACCOUNT_MODULE) == 0);
    uint8_t storage[ACCOUNT_VALUE_SIZE_MAX];
    struct buf value = { .data = storage, .capacity = sizeof storage, .size_max = sizeof storage };
    enum err rc = account_encode(a, &value);
    ASSERT(rc == ERR_OK);
    return state_view_put(v, a->address.bytes, ADDRESS_SIZE, value.data, value.size);
}

bool
account_has_key(const struct account *a, const struct public_key *key)
{
    for (size_t i = 0; i < a->key_count; i++) {
        if (public_key_equal(&a->keys[i], key)) {
            return true;
        }
    }
    return false;
}

/* Decodes args that are exactly one public key, valid and allowed on this chain. */
static enum err
key_arg(struct exec_ctx *ctx, struct reader *r, struct public_key *out)
{
    enum err rc = codec_get_public_key(r, out);
    if (rc != ERR_OK) {
        return rc;
    }
    if (!chain_params_sig_alg_allowed(exec_ctx_params(ctx), out->alg)) {
        exec_ctx_set_message(ctx, "key algorithm not allowed on this chain");
        return ERR_UNSUPPORTED;
    }
    if (public_key_check(out) != ERR_OK) {
        exec_ctx_set_message(ctx, "public key is not valid for its algorithm");
        return ERR_MALFORMED;
    }
    return ERR_OK;
}

static enum err
emit_address(struct exec_ctx *ctx, const char *kind, const struct address *address)
{
    struct event_attr attr = { "address", 7, address->bytes, ADDRESS_SIZE };
    return exec_ctx_emit(ctx, kind, &attr, 1);
}

static enum err
op_create(struct exec_ctx *ctx, const uint8_t *args, size_t args_size)
{
    struct reader r;
    reader_init(&r, args, args_size);
    struct account a;
    memset(&a, 0, sizeof a);
    enum err rc = key_arg(ctx, &r, &a.keys[0]);
    if (rc == ERR_OK) {
        rc = codec_get_bool(&r, &a.admin);
    }
    if (rc == ERR_OK) {
        rc = codec_finish(&r);
    }
    if (rc != ERR_OK) {
        return rc;
    }
    if (!exec_ctx_sender_is_admin(ctx) || exec_ctx_institution(ctx) == 0) {
        exec_ctx_set_message(ctx, "only an institution admin creates accounts");
        return ERR_DENIED;
    }
    a.key_count = 1;
    a.institution = exec_ctx_institution(ctx);
    address_of(exec_ctx_hash_alg(ctx), &a.keys[0], &a.address);
    struct account existing;
    rc = account_load(exec_ctx_view(ctx), &a.address, &existing);
    if (rc == ERR_OK) {
        return ERR_EXISTS;
    }
    if (rc != ERR_NOT_FOUND) {
        return rc;
    }
    rc = account_store(exec_ctx_view(ctx), &a);
    if (rc == ERR_OK) {
        rc = emit_address(ctx, "created", &a.address);
    }
    return rc;
}

static enum err
load_sender_key_op(struct exec_ctx *ctx, const uint8_t *args, size_t args_size,
                   struct account *out_account, struct public_key *out_key)
{
    struct reader r;
    reader_init(&r, args, args_size);
    enum err rc = key_arg(ctx, &r, out_key);
    if (rc == ERR_OK) {
        rc = codec_finish(&r);
    }
    if (rc == ERR_OK) {
        rc = account_load(exec_ctx_view(ctx), exec_ctx_sender(ctx), out_account);
    }
    return rc;
}

static enum err
op_add_key(struct exec_ctx *ctx, const uint8_t *args, size_t args_size)
{
    struct account a;
    struct public_key key;
    enum err rc = load_sender_key_op(ctx, args, args_size, &a, &key);
    if (rc != ERR_OK) {
        return rc;
    }
    if (account_has_key(&a, &key)) {
        return ERR_EXISTS;
    }
    if (a.key_count == ACCOUNT_KEYS_MAX) {
        return ERR_FULL;
    }
    a.keys[a.key_count++] = key;
    rc = account_store(exec_ctx_view(ctx), &a);
    if (rc == ERR_OK) {
        rc = emit_address(ctx, "key_added", &a.address);
    }
    return rc;
}

static enum err
op_remove_key(struct exec_ctx *ctx, const uint8_t *args, size_t args_size)
{
    struct account a;
    struct public_key key;
    enum err rc = load_sender_key_op(ctx, args, args_size, &a, &key);
    if (rc != ERR_OK) {
        return rc;
    }
    size_t at = 0;
    while (at < a.key_count && !public_key_equal(&a.keys[at], &key)) {
        at++;
    }
    if (at == a.key_count) {
        return ERR_NOT_FOUND;
    }
    if (a.key_count == 1) {
        exec_ctx_set_message(ctx, "an account keeps at least one key");
        return ERR_DENIED;
    }
    memmove(&a.keys[at], &a.keys[at + 1], (a.key_count - at - 1) * sizeof a.keys[0]);
    a.key_count--;
    rc = account_store(exec_ctx_view(ctx), &a);
    if (rc == ERR_OK) {
        rc = emit_address(ctx, "key_removed", &a.address);
    }
    return rc;
}

static enum err
query_get(struct state_view *view, const uint8_t *args, size_t args_size, struct buf *out)
{
    if (args_size != ADDRESS_SIZE) {
        return ERR_MALFORMED;
    }
    return state_view_get_in(view, ACCOUNT_MODULE, args, args_size, out);
}

static enum err
load_genesis(struct state_view *view, const struct genesis *genesis, const uint8_t *data,
             size_t data_size)
{
    if (data_size != 0 || data != NULL) {
        return ERR_MALFORMED; /* the account module takes its state from the accounts list */
    }
    for (size_t i = 0; i < genesis->account_count; i++) {
        const struct genesis_account *g = &genesis->accounts[i];
        struct account a;
        memset(&a, 0, sizeof a);
        genesis_account_address(genesis, i, &a.address);
        a.institution = g->institution;
        a.admin = g->admin;
        a.key_count = g->key_count;
        memcpy(a.keys, g->keys, sizeof a.keys);
        enum err rc = account_store(view, &a);
        if (rc != ERR_OK) {
            return rc;
        }
    }
    return ERR_OK;
}

static const struct module_op account_ops[] = {
    { "create", op_create },
    { "add_key", op_add_key },
    { "remove_key", op_remove_key },
};

static const struct module_query account_queries[] = {
    { "get", query_get },
};

const struct module_def account_module = {
    .name = ACCOUNT_MODULE,
    .ops = account_ops,
    .op_count = sizeof account_ops / sizeof account_ops[0],
    .queries = account_queries,
    .query_count = sizeof account_queries / sizeof account_queries[0],
    .genesis = load_genesis,
};
