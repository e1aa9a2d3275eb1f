#include "ledger/system.h"

#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "codec/codec.h"
#include "ledger/exec.h"
#include "ledger/genesis.h"

#define KEY_VS_HEIGHT "vs_height"
#define KEY_FOUNDERS  "founders"
#define KEY_PROPS     "props"
#define KEY_NODES     "nodes"
#define NODES_SIZE_MAX \
    (3 + REGISTERED_NODES_MAX * (1 + PUBLIC_KEY_SIZE_MAX + 4 + 2 + NODE_ADDRESS_SIZE_MAX))
#define FOUNDERS_MAX  GENESIS_INSTITUTIONS_MAX
#define KEY_SIZE_MAX  (8 + HASH_SIZE)
#define LIST_SIZE_MAX (3 + FOUNDERS_MAX * HASH_SIZE)

/* "<prefix><bytes>" keys: inst/appr + u32 BE id, prop/tally + hash. */
static size_t
make_key(uint8_t out[KEY_SIZE_MAX], const char *prefix, const void *suffix, size_t suffix_size)
{
    size_t n = strlen(prefix);
    ASSERT(n + suffix_size <= KEY_SIZE_MAX);
    memcpy(out, prefix, n + 1); /* the NUL is overwritten by the suffix or ignored */
    memcpy(out + n, suffix, suffix_size);
    return n + suffix_size;
}

static size_t
inst_key(uint8_t out[KEY_SIZE_MAX], const char *prefix, uint32_t id)
{
    uint8_t be[4] = { (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id };
    return make_key(out, prefix, be, sizeof be);
}

static enum err
get_key(struct state_view *v, const char *key, struct buf *out)
{
    return state_view_get_in(v, SYSTEM_MODULE, (const uint8_t *)key, strlen(key), out);
}

enum err
system_load_params(struct state_view *v, struct chain_params *out)
{
    uint8_t storage[PARAMS_ENCODED_SIZE + 1];
    struct buf b = { .data = storage, .capacity = sizeof storage, .size_max = sizeof storage };
    enum err rc = get_key(v, SYSTEM_KEY_PARAMS, &b);
    if (rc == ERR_OK) {
        rc = chain_params_decode(b.data, b.size, out) == ERR_OK ? ERR_OK : ERR_CORRUPT;
    }
    return rc;
}

enum err
system_load_vs(struct state_view *v, struct validator_set *out)
{
    struct buf b;
    buf_init(&b, VS_ENCODED_SIZE_MAX);
    enum err rc = get_key(v, SYSTEM_KEY_VS, &b);
    if (rc == ERR_OK) {
        rc = validator_set_decode(b.data, b.size, out) == ERR_OK ? ERR_OK : ERR_CORRUPT;
    }
    buf_release(&b);
    return rc;
}

enum err
system_institution_is_founding(struct state_view *v, uint32_t id, bool *out_founding)
{
    uint8_t key[KEY_SIZE_MAX];
    size_t key_size = inst_key(key, "inst/", id);
    struct buf b;
    buf_init(&b, 2 + GENESIS_NAME_SIZE_MAX + 1);
    enum err rc = state_view_get_in(v, SYSTEM_MODULE, key, key_size, &b);
    if (rc == ERR_OK) {
        ASSERT(b.size >= 1);
        *out_founding = b.data[b.size - 1] == 1;
    }
    buf_release(&b);
    return rc;
}

/* A vector of u32 ids (founders, tallies), increasing. Absent: empty. */
static enum err
load_ids(struct state_view *v, const uint8_t *key, size_t key_size, uint32_t *ids, size_t *count)
{
    struct buf b;
    buf_init(&b, LIST_SIZE_MAX);
    enum err rc = state_view_get(v, key, key_size, &b);
    *count = 0;
    if (rc == ERR_NOT_FOUND) {
        buf_release(&b);
        return ERR_OK;
    }
    struct reader r;
    reader_init(&r, b.data, b.size);
    if (rc == ERR_OK) {
        rc = codec_get_count(&r, FOUNDERS_MAX, count);
    }
    for (size_t i = 0; rc == ERR_OK && i < *count; i++) {
        rc = codec_get_u32(&r, &ids[i]);
    }
    buf_release(&b);
    return rc;
}

static enum err
store_ids(struct state_view *v, const uint8_t *key, size_t key_size, const uint32_t *ids,
          size_t count)
{
    struct buf b;
    buf_init(&b, LIST_SIZE_MAX);
    enum err rc = codec_put_count(&b, count, FOUNDERS_MAX);
    for (size_t i = 0; rc == ERR_OK && i < count; i++) {
        rc = codec_put_u32(&b, ids[i]);
    }
    if (rc == ERR_OK) {
        rc = state_view_put(v, key, key_size, b.data, b.size);
    }
    buf_release(&b);
    return rc;
}

/* The pending proposals' hashes. */
static enum err
load_props(struct state_view *v, struct hash *props, size_t *count)
{
    struct buf b;
    buf_init(&b, LIST_SIZE_MAX);
    enum err rc = get_key(v, KEY_PROPS, &b);
    *count = 0;
    if (rc == ERR_NOT_FOUND) {
        buf_release(&b);
        return ERR_OK;
    }
    struct reader r;
    reader_init(&r, b.data, b.size);
    if (rc == ERR_OK) {
        rc = codec_get_count(&r, SYSTEM_PROPOSALS_MAX, count);
    }
    for (size_t i = 0; rc == ERR_OK && i < *count; i++) {
        rc = codec_get_hash(&r, &props[i]);
    }
    buf_release(&b);
    return rc;
}

static enum err
store_props(struct state_view *v, const struct hash *props, size_t count)
{
    if (count == 0) {
        return state_view_del(v, (const uint8_t *)KEY_PROPS, strlen(KEY_PROPS));
    }
    struct buf b;
    buf_init(&b, LIST_SIZE_MAX);
    enum err rc = codec_put_count(&b, count, SYSTEM_PROPOSALS_MAX);
    for (size_t i = 0; rc == ERR_OK && i < count; i++) {
        rc = codec_put_hash(&b, &props[i]);
    }
    if (rc == ERR_OK) {
        rc = state_view_put(v, (const uint8_t *)KEY_PROPS, strlen(KEY_PROPS), b.data, b.size);
    }
    buf_release(&b);
    return rc;
}

static enum err
get_u64_key(struct state_view *v, const char *key, uint64_t *out)
{
    uint8_t storage[8];
    struct buf b = { .data = storage, .capacity = sizeof storage, .size_max = sizeof storage };
    enum err rc = get_key(v, key, &b);
    if (rc == ERR_OK) {
        ASSERT(b.size == 8);
        *out = load_u64(b.data);
    }
    return rc;
}

static enum err
put_u64_key(struct state_view *v, const char *key, uint64_t value)
{
    uint8_t bytes[8];
    store_u64(bytes, value);
    return state_view_put(v, (const uint8_t *)key, strlen(key), bytes, sizeof bytes);
}

/* The sender must be an admin account of a founding institution. */
static enum err
require_founder(struct exec_ctx *ctx, uint32_t *out_institution)
{
    uint32_t id = exec_ctx_institution(ctx);
    bool founding = false;
    if (exec_ctx_sender_is_admin(ctx) && id != 0) {
        enum err rc = system_institution_is_founding(exec_ctx_view(ctx), id, &founding);
        if (rc != ERR_OK && rc != ERR_NOT_FOUND) {
            return rc;
        }
    }
    if (!founding) {
        exec_ctx_set_message(ctx, "only an admin of a founding institution may do this");
        return ERR_DENIED;
    }
    *out_institution = id;
    return ERR_OK;
}

/* No second validator-set change in the block that installed one. */
static enum err
require_no_install_this_block(struct exec_ctx *ctx)
{
    uint64_t installed = 0;
    enum err rc = get_u64_key(exec_ctx_view(ctx), KEY_VS_HEIGHT, &installed);
    if (rc != ERR_OK) {
        return rc == ERR_NOT_FOUND ? ERR_CORRUPT : rc;
    }
    if (installed == exec_ctx_height(ctx) && exec_ctx_height(ctx) != 0) {
        exec_ctx_set_message(ctx, "the validator set already changed in this block");
        return ERR_AGAIN;
    }
    return ERR_OK;
}

static enum err
emit_hash(struct exec_ctx *ctx, const char *kind, const struct hash *h, uint64_t number)
{
    uint8_t le[8];
    store_u64(le, number);
    struct event_attr attrs[2] = {
        { "hash", 4, h->bytes, HASH_SIZE },
        { "number", 6, le, sizeof le },
    };
    return exec_ctx_emit(ctx, kind, attrs, 2);
}

/* Installs proposal h as the current set and clears every proposal and approval. */
static enum err
install(struct exec_ctx *ctx, const struct hash *h, const uint32_t *founders, size_t founder_count)
{
    struct state_view *v = exec_ctx_view(ctx);
    uint8_t key[KEY_SIZE_MAX];
    struct buf set;
    buf_init(&set, VS_ENCODED_SIZE_MAX);
    enum err rc = state_view_get(v, key, make_key(key, "prop/", h->bytes, HASH_SIZE), &set);
    if (rc == ERR_OK) {
        rc = state_view_put(v, (const uint8_t *)SYSTEM_KEY_VS, strlen(SYSTEM_KEY_VS), set.data,
                            set.size);
    }
    uint64_t epoch = set.size >= 8 ? load_u64(set.data) : 0;
    buf_release(&set);
    if (rc == ERR_OK) {
        rc = put_u64_key(v, KEY_VS_HEIGHT, exec_ctx_height(ctx));
    }
    struct hash props[SYSTEM_PROPOSALS_MAX];
    size_t prop_count = 0;
    if (rc == ERR_OK) {
        rc = load_props(v, props, &prop_count);
    }
    for (size_t i = 0; rc == ERR_OK && i < prop_count; i++) {
        rc = state_view_del(v, key, make_key(key, "prop/", props[i].bytes, HASH_SIZE));
        if (rc == ERR_OK) {
            rc = state_view_del(v, key, make_key(key, "tally/", props[i].bytes, HASH_SIZE));
        }
    }
    if (rc == ERR_OK) {
        rc = store_props(v, NULL, 0);
    }
    for (size_t i = 0; rc == ERR_OK && i < founder_count; i++) {
        rc = state_view_del(v, key, inst_key(key, "appr/", founders[i]));
    }
    if (rc == ERR_OK) {
        rc = emit_hash(ctx, "vs_installed", h, epoch);
    }
    return rc;
}

/* Removes institution id from the tally of h (if there). */
static enum err
tally_remove(struct state_view *v, const struct hash *h, uint32_t id)
{
    uint8_t key[KEY_SIZE_MAX];
    size_t key_size = make_key(key, "tally/", h->bytes, HASH_SIZE);
    uint32_t ids[FOUNDERS_MAX];
    size_t count;
    enum err rc = load_ids(v, key, key_size, ids, &count);
    size_t at = 0;
    while (rc == ERR_OK && at < count && ids[at] != id) {
        at++;
    }
    if (rc != ERR_OK || at == count) {
        return rc;
    }
    memmove(&ids[at], &ids[at + 1], (count - at - 1) * sizeof ids[0]);
    return store_ids(v, key, key_size, ids, count - 1);
}

/* Records institution id's approval of h; installs h at more than 2/3 of the founders. */
static enum err
approve(struct exec_ctx *ctx, uint32_t id, const struct hash *h)
{
    struct state_view *v = exec_ctx_view(ctx);
    uint8_t key[KEY_SIZE_MAX];
    size_t appr_size = inst_key(key, "appr/", id);
    uint8_t previous[HASH_SIZE] = { 0 };
    struct buf prev = { .data = previous, .capacity = HASH_SIZE, .size_max = HASH_SIZE };
    enum err rc = state_view_get(v, key, appr_size, &prev);
    if (rc == ERR_OK) {
        struct hash old;
        if (prev.size != HASH_SIZE) {
            return ERR_CORRUPT;
        }
        memcpy(old.bytes, prev.data, HASH_SIZE);
        if (hash_equal(&old, h)) {
            return ERR_EXISTS;
        }
        rc = tally_remove(v, &old, id);
    } else if (rc == ERR_NOT_FOUND) {
        rc = ERR_OK;
    }
    if (rc == ERR_OK) {
        rc = state_view_put(v, key, inst_key(key, "appr/", id), h->bytes, HASH_SIZE);
    }
    uint32_t tally[FOUNDERS_MAX];
    size_t tally_count = 0;
    size_t tally_size = make_key(key, "tally/", h->bytes, HASH_SIZE);
    if (rc == ERR_OK) {
        rc = load_ids(v, key, tally_size, tally, &tally_count);
    }
    if (rc == ERR_OK) {
        size_t at = 0;
        while (at < tally_count && tally[at] < id) {
            at++;
        }
        ASSERT(tally_count < FOUNDERS_MAX);
        memmove(&tally[at + 1], &tally[at], (tally_count - at) * sizeof tally[0]);
        tally[at] = id;
        tally_count++;
        rc = store_ids(v, key, tally_size, tally, tally_count);
    }
    if (rc == ERR_OK) {
        rc = emit_hash(ctx, "vs_approved", h, id);
    }
    uint32_t founders[FOUNDERS_MAX];
    size_t founder_count = 0;
    if (rc == ERR_OK) {
        rc = load_ids(v, (const uint8_t *)KEY_FOUNDERS, strlen(KEY_FOUNDERS), founders,
                      &founder_count);
    }
    if (rc == ERR_OK && 3 * tally_count > 2 * founder_count) {
        rc = install(ctx, h, founders, founder_count);
    }
    return rc;
}

/* Checks a proposed set against state: next epoch, known institutions, usable keys. */
static enum err
check_proposed_set(struct exec_ctx *ctx, const struct validator_set *set)
{
    struct state_view *v = exec_ctx_view(ctx);
    struct validator_set *current = mem_alloc(sizeof *current);
    enum err rc = system_load_vs(v, current);
    if (rc == ERR_OK && set->epoch != current->epoch + 1) {
        exec_ctx_set_message(ctx, "a proposed set must be for the next epoch");
        rc = ERR_INVALID_ARG;
    }
    mem_free(current);
    for (size_t i = 0; rc == ERR_OK && i < set->count; i++) {
        const struct vs_node *node = &set->nodes[i];
        bool founding;
        rc = system_institution_is_founding(v, node->institution, &founding);
        if (rc == ERR_OK &&
            (!chain_params_sig_alg_allowed(exec_ctx_params(ctx), node->consensus_key.alg) ||
             public_key_check(&node->consensus_key) != ERR_OK ||
             public_key_check(&node->transport_key) != ERR_OK)) {
            exec_ctx_set_message(ctx, "a node key is invalid or not allowed");
            rc = ERR_MALFORMED;
        }
    }
    return rc;
}

static enum err
op_propose_vs(struct exec_ctx *ctx, const uint8_t *args, size_t args_size)
{
    uint32_t id = 0;
    enum err rc = require_founder(ctx, &id);
    if (rc == ERR_OK) {
        rc = require_no_install_this_block(ctx);
    }
    struct validator_set *set = mem_alloc(sizeof *set);
    if (rc == ERR_OK) {
        rc = validator_set_decode(args, args_size, set); /* strict: args are canonical */
    }
    if (rc == ERR_OK) {
        rc = check_proposed_set(ctx, set);
    }
    struct hash h;
    if (rc == ERR_OK) {
        validator_set_hash(exec_ctx_hash_alg(ctx), set, &h);
    }
    mem_free(set);
    struct state_view *v = exec_ctx_view(ctx);
    struct hash props[SYSTEM_PROPOSALS_MAX + 1];
    size_t count = 0;
    if (rc == ERR_OK) {
        rc = load_props(v, props, &count);
    }
    for (size_t i = 0; rc == ERR_OK && i < count; i++) {
        rc = hash_equal(&props[i], &h) ? ERR_EXISTS : ERR_OK;
    }
    if (rc == ERR_OK && count == SYSTEM_PROPOSALS_MAX) {
        exec_ctx_set_message(ctx, "too many pending validator-set proposals");
        rc = ERR_FULL;
    }
    if (rc == ERR_OK) {
        uint8_t key[KEY_SIZE_MAX];
        rc = state_view_put(v, key, make_key(key, "prop/", h.bytes, HASH_SIZE), args, args_size);
    }
    if (rc == ERR_OK) {
        props[count++] = h;
        rc = store_props(v, props, count);
    }
    if (rc == ERR_OK) {
        rc = emit_hash(ctx, "vs_proposed", &h, id);
    }
    if (rc == ERR_OK) {
        rc = approve(ctx, id, &h);
    }
    return rc;
}

static enum err
op_approve_vs(struct exec_ctx *ctx, const uint8_t *args, size_t args_size)
{
    if (args_size != HASH_SIZE) {
        return ERR_MALFORMED;
    }
    struct hash h;
    memcpy(h.bytes, args, HASH_SIZE);
    uint32_t id = 0;
    enum err rc = require_founder(ctx, &id);
    if (rc == ERR_OK) {
        rc = require_no_install_this_block(ctx);
    }
    struct buf probe;
    buf_init(&probe, VS_ENCODED_SIZE_MAX);
    if (rc == ERR_OK) {
        uint8_t key[KEY_SIZE_MAX];
        rc = state_view_get(exec_ctx_view(ctx), key, make_key(key, "prop/", h.bytes, HASH_SIZE),
                            &probe);
    }
    buf_release(&probe);
    if (rc == ERR_OK) {
        rc = approve(ctx, id, &h);
    }
    return rc;
}

static enum err
query_vs(struct state_view *view, const uint8_t *args, size_t args_size, struct buf *out)
{
    (void)args;
    return args_size != 0 ? ERR_MALFORMED : get_key(view, SYSTEM_KEY_VS, out);
}

static enum err
query_params(struct state_view *view, const uint8_t *args, size_t args_size, struct buf *out)
{
    (void)args;
    return args_size != 0 ? ERR_MALFORMED : get_key(view, SYSTEM_KEY_PARAMS, out);
}

static enum err
query_institution(struct state_view *view, const uint8_t *args, size_t args_size, struct buf *out)
{
    if (args_size != 4) {
        return ERR_MALFORMED;
    }
    uint8_t key[KEY_SIZE_MAX];
    size_t key_size = inst_key(key, "inst/", load_u32(args));
    return state_view_get_in(view, SYSTEM_MODULE, key, key_size, out);
}

/* ---- registered nodes ---- */

enum err
system_nodes_decode(const uint8_t *data, size_t size, struct registered_node *out,
                    size_t *out_count)
{
    struct reader r;
    reader_init(&r, data, size);
    size_t count = 0;
    enum err rc = codec_get_count(&r, REGISTERED_NODES_MAX, &count);
    for (size_t i = 0; rc == ERR_OK && i < count; i++) {
        rc = registered_node_get(&r, &out[i]);
        if (rc == ERR_OK && i > 0 && registered_node_compare(&out[i - 1], &out[i]) >= 0) {
            rc = ERR_MALFORMED;
        }
    }
    if (rc == ERR_OK) {
        rc = codec_finish(&r);
    }
    if (rc == ERR_OK) {
        *out_count = count;
    }
    return rc == ERR_OK ? ERR_OK : ERR_MALFORMED;
}

enum err
system_load_nodes(struct state_view *v, struct registered_node *out, size_t *out_count)
{
    struct buf b;
    buf_init(&b, NODES_SIZE_MAX);
    enum err rc = get_key(v, KEY_NODES, &b);
    if (rc == ERR_NOT_FOUND) {
        *out_count = 0;
        rc = ERR_OK;
    } else if (rc == ERR_OK) {
        rc = system_nodes_decode(b.data, b.size, out, out_count) == ERR_OK ? ERR_OK : ERR_CORRUPT;
    }
    buf_release(&b);
    return rc;
}

static enum err
store_nodes(struct state_view *v, const struct registered_node *nodes, size_t count)
{
    if (count == 0) {
        return state_view_del(v, (const uint8_t *)KEY_NODES, strlen(KEY_NODES));
    }
    struct buf b;
    buf_init(&b, NODES_SIZE_MAX);
    enum err rc = codec_put_count(&b, count, REGISTERED_NODES_MAX);
    for (size_t i = 0; rc == ERR_OK && i < count; i++) {
        rc = registered_node_put(&b, &nodes[i]);
    }
    if (rc == ERR_OK) {
        rc = state_view_put(v, (const uint8_t *)KEY_NODES, strlen(KEY_NODES), b.data, b.size);
    }
    buf_release(&b);
    return rc;
}

/* The sender must be an admin account of an institution that exists (a member). */
static enum err
require_member_admin(struct exec_ctx *ctx, uint32_t *out_institution)
{
    uint32_t id = exec_ctx_institution(ctx);
    bool founding = false;
    enum err rc = ERR_NOT_FOUND;
    if (exec_ctx_sender_is_admin(ctx) && id != 0) {
        rc = system_institution_is_founding(exec_ctx_view(ctx), id, &founding);
        if (rc != ERR_OK && rc != ERR_NOT_FOUND) {
            return rc;
        }
    }
    if (rc != ERR_OK) {
        exec_ctx_set_message(ctx, "only an admin of a member institution may do this");
        return ERR_DENIED;
    }
    *out_institution = id;
    return ERR_OK;
}

static enum err
emit_node(struct exec_ctx *ctx, const char *kind, const struct registered_node *node)
{
    uint8_t be[4];
    store_u32(be, node->institution);
    struct event_attr attrs[2] = {
        { "key", 3, node->transport_key.bytes, node->transport_key.size },
        { "institution", 11, be, sizeof be },
    };
    return exec_ctx_emit(ctx, kind, attrs, 2);
}

/* Index where key is (or would be inserted) in the sorted list; *found if there. */
static size_t
nodes_find(const struct registered_node *nodes, size_t count, const struct registered_node *key,
           bool *found)
{
    size_t at = 0;
    while (at < count && registered_node_compare(&nodes[at], key) < 0) {
        at++;
    }
    *found = at < count && registered_node_compare(&nodes[at], key) == 0;
    return at;
}

static enum err
op_register_node(struct exec_ctx *ctx, const uint8_t *args, size_t args_size)
{
    struct registered_node node;
    memset(&node, 0, sizeof node);
    struct reader r;
    reader_init(&r, args, args_size);
    const char *text = NULL;
    size_t text_size = 0;
    enum err rc = codec_get_public_key(&r, &node.transport_key);
    if (rc == ERR_OK) {
        rc = codec_get_text(&r, NODE_ADDRESS_SIZE_MAX, &text, &text_size);
    }
    if (rc == ERR_OK) {
        rc = codec_finish(&r);
    }
    if (rc != ERR_OK) {
        return ERR_MALFORMED;
    }
    if (node.transport_key.alg != SIG_ED25519 || public_key_check(&node.transport_key) != ERR_OK) {
        exec_ctx_set_message(ctx, "a node's transport key must be a valid Ed25519 key");
        return ERR_MALFORMED;
    }
    if (!registered_node_address_ok(text, text_size)) {
        exec_ctx_set_message(ctx, "a node address is host:port of [0-9A-Za-z.:[]-]");
        return ERR_MALFORMED;
    }
    memcpy(node.address, text, text_size);
    rc = require_member_admin(ctx, &node.institution);
    if (rc != ERR_OK) {
        return rc;
    }
    struct state_view *v = exec_ctx_view(ctx);
    struct validator_set *vs = mem_alloc(sizeof *vs);
    rc = system_load_vs(v, vs);
    if (rc == ERR_OK && validator_set_find_transport(vs, &node.transport_key) >= 0) {
        exec_ctx_set_message(ctx, "the key is a validator's transport key");
        rc = ERR_EXISTS;
    }
    mem_free(vs);
    struct registered_node *nodes = mem_calloc(REGISTERED_NODES_MAX, sizeof *nodes);
    size_t count = 0;
    if (rc == ERR_OK) {
        rc = system_load_nodes(v, nodes, &count);
    }
    bool found = false;
    size_t at = rc == ERR_OK ? nodes_find(nodes, count, &node, &found) : 0;
    if (rc == ERR_OK && found) {
        exec_ctx_set_message(ctx, "the node key is registered already");
        rc = ERR_EXISTS;
    }
    if (rc == ERR_OK && count == REGISTERED_NODES_MAX) {
        exec_ctx_set_message(ctx, "too many registered nodes");
        rc = ERR_FULL;
    }
    if (rc == ERR_OK) {
        memmove(&nodes[at + 1], &nodes[at], (count - at) * sizeof nodes[0]);
        nodes[at] = node;
        rc = store_nodes(v, nodes, count + 1);
    }
    mem_free(nodes);
    if (rc == ERR_OK) {
        rc = emit_node(ctx, "node_registered", &node);
    }
    return rc;
}

static enum err
op_remove_node(struct exec_ctx *ctx, const uint8_t *args, size_t args_size)
{
    struct registered_node key;
    memset(&key, 0, sizeof key);
    struct reader r;
    reader_init(&r, args, args_size);
    enum err rc = codec_get_public_key(&r, &key.transport_key);
    if (rc == ERR_OK) {
        rc = codec_finish(&r);
    }
    if (rc != ERR_OK) {
        return ERR_MALFORMED;
    }
    uint32_t institution = 0;
    rc = require_member_admin(ctx, &institution);
    if (rc != ERR_OK) {
        return rc;
    }
    struct state_view *v = exec_ctx_view(ctx);
    struct registered_node *nodes = mem_calloc(REGISTERED_NODES_MAX, sizeof *nodes);
    size_t count = 0;
    rc = system_load_nodes(v, nodes, &count);
    bool found = false;
    size_t at = rc == ERR_OK ? nodes_find(nodes, count, &key, &found) : 0;
    if (rc == ERR_OK && !found) {
        rc = ERR_NOT_FOUND;
    }
    if (rc == ERR_OK && nodes[at].institution != institution) {
        exec_ctx_set_message(ctx, "only an admin of the node's institution may remove it");
        rc = ERR_DENIED;
    }
    struct registered_node removed = key;
    if (rc == ERR_OK) {
        removed = nodes[at];
        memmove(&nodes[at], &nodes[at + 1], (count - at - 1) * sizeof nodes[0]);
        rc = store_nodes(v, nodes, count - 1);
    }
    mem_free(nodes);
    if (rc == ERR_OK) {
        rc = emit_node(ctx, "node_removed", &removed);
    }
    return rc;
}

static enum err
query_nodes(struct state_view *view, const uint8_t *args, size_t args_size, struct buf *out)
{
    (void)args;
    if (args_size != 0) {
        return ERR_MALFORMED;
    }
    enum err rc = get_key(view, KEY_NODES, out);
    return rc == ERR_NOT_FOUND ? codec_put_count(out, 0, REGISTERED_NODES_MAX) : rc;
}

static enum err
genesis_institutions(struct state_view *view, const struct genesis *g)
{
    uint32_t founders[FOUNDERS_MAX];
    size_t founder_count = 0;
    enum err rc = ERR_OK;
    struct buf b;
    buf_init(&b, 2 + GENESIS_NAME_SIZE_MAX + 1);
    for (size_t i = 0; rc == ERR_OK && i < g->institution_count; i++) {
        const struct genesis_institution *inst = &g->institutions[i];
        buf_reset(&b);
        rc = codec_put_text(&b, inst->name, strlen(inst->name), GENESIS_NAME_SIZE_MAX);
        if (rc == ERR_OK) {
            rc = codec_put_bool(&b, inst->founding);
        }
        if (rc == ERR_OK) {
            uint8_t key[KEY_SIZE_MAX];
            rc = state_view_put(view, key, inst_key(key, "inst/", inst->id), b.data, b.size);
        }
        if (inst->founding) {
            founders[founder_count++] = inst->id; /* ids are increasing (genesis_check) */
        }
    }
    buf_release(&b);
    if (rc == ERR_OK) {
        rc = store_ids(view, (const uint8_t *)KEY_FOUNDERS, strlen(KEY_FOUNDERS), founders,
                       founder_count);
    }
    return rc;
}

static enum err
load_genesis(struct state_view *view, const struct genesis *g, const uint8_t *data,
             size_t data_size)
{
    if (data_size != 0 || data != NULL) {
        return ERR_MALFORMED; /* the system module takes its state from the genesis fields */
    }
    struct buf b;
    buf_init(&b, VS_ENCODED_SIZE_MAX);
    enum err rc = chain_params_encode(&g->params, &b);
    if (rc == ERR_OK) {
        rc = state_view_put(view, (const uint8_t *)SYSTEM_KEY_PARAMS, strlen(SYSTEM_KEY_PARAMS),
                            b.data, b.size);
    }
    if (rc == ERR_OK) {
        buf_reset(&b);
        rc = validator_set_encode(g->validators, &b);
    }
    if (rc == ERR_OK) {
        rc = state_view_put(view, (const uint8_t *)SYSTEM_KEY_VS, strlen(SYSTEM_KEY_VS), b.data,
                            b.size);
    }
    buf_release(&b);
    if (rc == ERR_OK) {
        rc = put_u64_key(view, KEY_VS_HEIGHT, 0);
    }
    if (rc == ERR_OK) {
        rc = genesis_institutions(view, g);
    }
    if (rc == ERR_OK) {
        rc = store_nodes(view, g->nodes, g->node_count);
    }
    return rc;
}

static const struct module_op system_ops[] = {
    { "propose_vs", op_propose_vs },
    { "approve_vs", op_approve_vs },
    { "register_node", op_register_node },
    { "remove_node", op_remove_node },
};

static const struct module_query system_queries[] = {
    { "vs", query_vs },
    { "params", query_params },
    { "institution", query_institution },
    { "nodes", query_nodes },
};

const struct module_def system_module = {
    .name = SYSTEM_MODULE,
    .ops = system_ops,
    .op_count = sizeof system_ops / sizeof system_ops[0],
    .queries = system_queries,
    .query_count = sizeof system_queries / sizeof system_queries[0],
    .genesis = load_genesis,
};
