#include "ledger/test_module.h"

#include <string.h>

#include "codec/codec.h"

enum err
test_module_set_args(const uint8_t *key, size_t key_size, const uint8_t *value, size_t value_size,
                     struct buf *out)
{
    enum err rc = codec_put_bytes(out, key, key_size, TEST_KEY_SIZE_MAX);
    if (rc == ERR_OK) {
        rc = codec_put_bytes(out, value, value_size, TEST_VALUE_SIZE_MAX);
    }
    return rc;
}

static enum err
op_set(struct exec_ctx *ctx, const uint8_t *args, size_t args_size)
{
    struct reader r;
    reader_init(&r, args, args_size);
    const uint8_t *key;
    size_t key_size;
    const uint8_t *value;
    size_t value_size;
    enum err rc = codec_get_bytes(&r, TEST_KEY_SIZE_MAX, &key, &key_size);
    if (rc == ERR_OK) {
        rc = codec_get_bytes(&r, TEST_VALUE_SIZE_MAX, &value, &value_size);
    }
    if (rc == ERR_OK) {
        rc = codec_finish(&r);
    }
    if (rc == ERR_OK) {
        rc = state_view_put(exec_ctx_view(ctx), key, key_size, value, value_size);
    }
    return rc;
}

static enum err
op_del(struct exec_ctx *ctx, const uint8_t *args, size_t args_size)
{
    struct reader r;
    reader_init(&r, args, args_size);
    const uint8_t *key;
    size_t key_size;
    enum err rc = codec_get_bytes(&r, TEST_KEY_SIZE_MAX, &key, &key_size);
    if (rc == ERR_OK) {
        rc = codec_finish(&r);
    }
    if (rc == ERR_OK) {
        rc = state_view_del(exec_ctx_view(ctx), key, key_size);
    }
    return rc;
}

static enum err
op_fail(struct exec_ctx *ctx, const uint8_t *args, size_t args_size)
{
    (void)args;
    (void)args_size;
    exec_ctx_set_message(ctx, "test.fail always fails");
    return ERR_DENIED;
}

static enum err
op_emit(struct exec_ctx *ctx, const uint8_t *args, size_t args_size)
{
    struct reader r;
    reader_init(&r, args, args_size);
    const char *kind;
    size_t kind_size;
    enum err rc = codec_get_text(&r, EVENT_NAME_SIZE_MAX, &kind, &kind_size);
    if (rc == ERR_OK) {
        rc = codec_finish(&r);
    }
    if (rc != ERR_OK) {
        return rc;
    }
    char name[EVENT_NAME_SIZE_MAX + 1];
    memcpy(name, kind, kind_size);
    name[kind_size] = '\0';
    struct event_attr attr = { "tx", 2, exec_ctx_tx_hash(ctx)->bytes, HASH_SIZE };
    return exec_ctx_emit(ctx, name, &attr, 1);
}

static enum err
op_burn(struct exec_ctx *ctx, const uint8_t *args, size_t args_size)
{
    if (args_size != 8) {
        return ERR_MALFORMED;
    }
    return exec_ctx_charge(ctx, load_u64(args));
}

static enum err
query_get(struct state_view *view, const uint8_t *args, size_t args_size, struct buf *out)
{
    return state_view_get(view, args, args_size, out);
}

static enum err
load_genesis(struct state_view *view, const struct genesis *genesis, const uint8_t *data,
             size_t data_size)
{
    (void)genesis;
    struct reader r;
    reader_init(&r, data, data_size);
    size_t count = 0;
    enum err rc = data_size == 0 ? ERR_OK : codec_get_count(&r, TEST_GENESIS_ITEMS_MAX, &count);
    for (size_t i = 0; rc == ERR_OK && i < count; i++) {
        const uint8_t *key;
        size_t key_size;
        const uint8_t *value;
        size_t value_size;
        rc = codec_get_bytes(&r, TEST_KEY_SIZE_MAX, &key, &key_size);
        if (rc == ERR_OK) {
            rc = codec_get_bytes(&r, TEST_VALUE_SIZE_MAX, &value, &value_size);
        }
        if (rc == ERR_OK) {
            rc = state_view_put(view, key, key_size, value, value_size);
        }
    }
    if (rc == ERR_OK) {
        rc = codec_finish(&r);
    }
    return rc;
}

static const struct module_op test_ops[] = {
    { "set", op_set },   { "del", op_del },   { "fail", op_fail },
    { "emit", op_emit }, { "burn", op_burn },
};

static const struct module_query test_queries[] = {
    { "get", query_get },
};

const struct module_def test_module = {
    .name = TEST_MODULE,
    .ops = test_ops,
    .op_count = sizeof test_ops / sizeof test_ops[0],
    .queries = test_queries,
    .query_count = sizeof test_queries / sizeof test_queries[0],
    .genesis = load_genesis,
};
