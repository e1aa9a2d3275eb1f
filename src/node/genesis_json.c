#include "node/genesis_json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/text.h"

#define KEY_TEXT_SIZE_MAX (8 + 2 * PUBLIC_KEY_SIZE_MAX)

static bool
key_is_allowed(const char *key, const char *const *allowed)
{
    for (size_t i = 0; allowed[i] != NULL; i++) {
        if (strcmp(key, allowed[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* ERR_MALFORMED unless every key of obj is one of allowed (NULL-terminated list). */
static enum err
only_keys(json_t *obj, const char *const *allowed)
{
    if (!json_is_object(obj)) {
        return ERR_MALFORMED;
    }
    const char *key;
    json_t *value;
    const char *unknown = NULL;
    json_object_foreach(obj, key, value)
    {
        (void)value;
        if (!key_is_allowed(key, allowed)) {
            unknown = key;
            break;
        }
    }
    if (unknown != NULL) {
        log_error(LOG_NODE, "genesis: unknown field \"%s\"", unknown);
        return ERR_MALFORMED;
    }
    return ERR_OK;
}

static enum err
get_u64(json_t *obj, const char *name, uint64_t max, uint64_t *out)
{
    json_t *v = json_object_get(obj, name);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max) {
        log_error(LOG_NODE, "genesis: \"%s\" must be an integer in 0..%llu", name,
                  (unsigned long long)max);
        return ERR_MALFORMED;
    }
    *out = (uint64_t)json_integer_value(v);
    return ERR_OK;
}

/* An optional integer field: *out keeps its value if absent. */
static enum err
get_u64_opt(json_t *obj, const char *name, uint64_t max, uint64_t *out)
{
    return json_object_get(obj, name) == NULL ? ERR_OK : get_u64(obj, name, max, out);
}

static enum err
get_u32_opt(json_t *obj, const char *name, uint32_t *out)
{
    uint64_t v = *out;
    enum err rc = get_u64_opt(obj, name, UINT32_MAX, &v);
    if (rc == ERR_OK) {
        *out = (uint32_t)v;
    }
    return rc;
}

static enum err
get_bool(json_t *obj, const char *name, bool *out)
{
    json_t *v = json_object_get(obj, name);
    if (!json_is_boolean(v)) {
        log_error(LOG_NODE, "genesis: \"%s\" must be true or false", name);
        return ERR_MALFORMED;
    }
    *out = json_is_true(v);
    return ERR_OK;
}

/* Copies a string field into out (capacity size_max + 1). */
static enum err
get_text(json_t *obj, const char *name, char *out, size_t size_max)
{
    json_t *v = json_object_get(obj, name);
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > size_max ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        log_error(LOG_NODE, "genesis: \"%s\" must be a string of 1..%zu bytes", name, size_max);
        return ERR_MALFORMED;
    }
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return ERR_OK;
}

/* "ed25519:<hex>" or "sm2:<hex>". */
static enum err
key_from_text(json_t *v, struct public_key *out)
{
    const char *text = json_string_value(v);
    const char *colon = text != NULL ? strchr(text, ':') : NULL;
    if (colon == NULL || (size_t)(colon - text) >= 16) {
        return ERR_MALFORMED;
    }
    char alg_name[16];
    memcpy(alg_name, text, (size_t)(colon - text));
    alg_name[colon - text] = '\0';
    enum sig_alg alg;
    if (!sig_alg_parse(alg_name, &alg)) {
        return ERR_MALFORMED;
    }
    struct public_key key = { .alg = (uint8_t)alg };
    size_t size = 0;
    enum err rc = hex_decode(colon + 1, strlen(colon + 1), key.bytes, sizeof key.bytes, &size);
    if (rc != ERR_OK || size != sig_alg_public_key_size(alg)) {
        return ERR_MALFORMED;
    }
    key.size = (uint8_t)size;
    if (public_key_check(&key) != ERR_OK) {
        return ERR_MALFORMED;
    }
    *out = key;
    return ERR_OK;
}

static enum err
get_key(json_t *obj, const char *name, struct public_key *out)
{
    enum err rc = key_from_text(json_object_get(obj, name), out);
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "genesis: \"%s\" must be \"ed25519:<hex>\" or \"sm2:<hex>\"", name);
    }
    return rc;
}

static enum err
decode_params(json_t *obj, struct chain_params *p)
{
    static const char *const fields[] = { "tx_size_bytes_max",
                                          "tx_ops_max",
                                          "tx_resource_max",
                                          "block_resource_max",
                                          "institution_block_resource_max",
                                          "block_txs_max",
                                          "tx_expiry_window_max",
                                          "sig_algs",
                                          NULL };
    chain_params_default(p);
    if (obj == NULL) {
        return ERR_OK;
    }
    enum err rc = only_keys(obj, fields);
    if (rc == ERR_OK) {
        rc = get_u32_opt(obj, fields[0], &p->tx_size_bytes_max);
    }
    if (rc == ERR_OK) {
        rc = get_u32_opt(obj, fields[1], &p->tx_ops_max);
    }
    if (rc == ERR_OK) {
        rc = get_u64_opt(obj, fields[2], INT64_MAX, &p->tx_resource_max);
    }
    if (rc == ERR_OK) {
        rc = get_u64_opt(obj, fields[3], INT64_MAX, &p->block_resource_max);
    }
    if (rc == ERR_OK) {
        rc = get_u64_opt(obj, fields[4], INT64_MAX, &p->institution_block_resource_max);
    }
    if (rc == ERR_OK) {
        rc = get_u32_opt(obj, fields[5], &p->block_txs_max);
    }
    if (rc == ERR_OK) {
        rc = get_u64_opt(obj, fields[6], INT64_MAX, &p->tx_expiry_window_max);
    }
    json_t *algs = json_object_get(obj, "sig_algs");
    if (rc == ERR_OK && algs != NULL) {
        p->sig_algs_allowed = 0;
        size_t i;
        json_t *a;
        json_array_foreach(algs, i, a)
        {
            enum sig_alg alg;
            if (!json_is_string(a) || !sig_alg_parse(json_string_value(a), &alg)) {
                return ERR_MALFORMED;
            }
            p->sig_algs_allowed |= 1u << alg;
        }
        rc = json_is_array(algs) ? ERR_OK : ERR_MALFORMED;
    }
    return rc;
}

static int
institution_compare(const void *a, const void *b)
{
    uint32_t x = ((const struct genesis_institution *)a)->id;
    uint32_t y = ((const struct genesis_institution *)b)->id;
    return x < y ? -1 : (x > y ? 1 : 0);
}

static enum err
decode_institutions(json_t *arr, struct genesis *g)
{
    static const char *const fields[] = { "id", "name", "founding", NULL };
    if (!json_is_array(arr)) {
        return ERR_MALFORMED;
    }
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item)
    {
        uint64_t id = 0;
        bool founding = false;
        char name[GENESIS_NAME_SIZE_MAX + 1];
        enum err rc = only_keys(item, fields);
        if (rc == ERR_OK) {
            rc = get_u64(item, "id", UINT32_MAX, &id);
        }
        if (rc == ERR_OK) {
            rc = get_text(item, "name", name, GENESIS_NAME_SIZE_MAX);
        }
        if (rc == ERR_OK) {
            rc = get_bool(item, "founding", &founding);
        }
        if (rc == ERR_OK) {
            rc = genesis_add_institution(g, (uint32_t)id, name, founding);
        }
        if (rc != ERR_OK) {
            return rc;
        }
    }
    if (g->institution_count > 1) {
        qsort(g->institutions, g->institution_count, sizeof *g->institutions, institution_compare);
    }
    return ERR_OK;
}

static enum err
decode_account(json_t *item, struct genesis_account *acc)
{
    static const char *const fields[] = { "institution", "admin", "keys", NULL };
    memset(acc, 0, sizeof *acc);
    uint64_t institution = 0;
    enum err rc = only_keys(item, fields);
    if (rc == ERR_OK) {
        rc = get_u64(item, "institution", UINT32_MAX, &institution);
    }
    if (rc == ERR_OK) {
        rc = get_bool(item, "admin", &acc->admin);
    }
    json_t *keys = json_object_get(item, "keys");
    if (rc == ERR_OK && (!json_is_array(keys) || json_array_size(keys) == 0 ||
                         json_array_size(keys) > ACCOUNT_KEYS_MAX)) {
        rc = ERR_MALFORMED;
    }
    for (size_t k = 0; rc == ERR_OK && k < json_array_size(keys); k++) {
        rc = key_from_text(json_array_get(keys, k), &acc->keys[k]);
    }
    if (rc != ERR_OK) {
        log_error(LOG_NODE,
                  "genesis: an account needs 1..%d keys \"ed25519:<hex>\" or "
                  "\"sm2:<hex>\"",
                  ACCOUNT_KEYS_MAX);
    }
    acc->institution = (uint32_t)institution;
    acc->key_count = json_array_size(keys);
    return rc;
}

static enum err
decode_validators(json_t *arr, struct validator_set *vs)
{
    static const char *const fields[] = { "institution", "consensus_key", "transport_key", "power",
                                          NULL };
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > VS_NODES_MAX) {
        return ERR_MALFORMED;
    }
    vs->epoch = GENESIS_EPOCH;
    vs->count = json_array_size(arr);
    for (size_t i = 0; i < vs->count; i++) {
        json_t *item = json_array_get(arr, i);
        struct vs_node *node = &vs->nodes[i];
        uint64_t institution = 0;
        enum err rc = only_keys(item, fields);
        if (rc == ERR_OK) {
            rc = get_u64(item, "institution", UINT32_MAX, &institution);
        }
        if (rc == ERR_OK) {
            rc = get_key(item, "consensus_key", &node->consensus_key);
        }
        if (rc == ERR_OK) {
            rc = get_key(item, "transport_key", &node->transport_key);
        }
        if (rc == ERR_OK) {
            rc = get_u64(item, "power", VS_POWER_TOTAL_MAX, &node->power);
        }
        if (rc != ERR_OK) {
            return rc;
        }
        node->institution = (uint32_t)institution;
    }
    return ERR_OK;
}

static int
node_qsort_compare(const void *a, const void *b)
{
    return registered_node_compare(a, b);
}

static enum err
decode_nodes(json_t *arr, struct genesis *g)
{
    static const char *const fields[] = { "institution", "transport_key", "address", NULL };
    if (arr == NULL) {
        return ERR_OK;
    }
    if (!json_is_array(arr) || json_array_size(arr) > REGISTERED_NODES_MAX) {
        log_error(LOG_NODE, "genesis: \"nodes\" must be an array of at most %d nodes",
                  REGISTERED_NODES_MAX);
        return ERR_MALFORMED;
    }
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item)
    {
        struct registered_node node;
        memset(&node, 0, sizeof node);
        uint64_t institution = 0;
        enum err rc = only_keys(item, fields);
        if (rc == ERR_OK) {
            rc = get_u64(item, "institution", UINT32_MAX, &institution);
        }
        if (rc == ERR_OK) {
            rc = get_key(item, "transport_key", &node.transport_key);
        }
        if (rc == ERR_OK && json_object_get(item, "address") != NULL) {
            rc = get_text(item, "address", node.address, NODE_ADDRESS_SIZE_MAX);
        }
        node.institution = (uint32_t)institution;
        if (rc == ERR_OK) {
            rc = genesis_add_node(g, &node);
        }
        if (rc != ERR_OK) {
            return ERR_MALFORMED;
        }
    }
    if (g->node_count > 1) {
        qsort(g->nodes, g->node_count, sizeof *g->nodes, node_qsort_compare);
    }
    return ERR_OK;
}

static int
module_compare(const void *a, const void *b)
{
    return strcmp(((const struct genesis_module *)a)->name,
                  ((const struct genesis_module *)b)->name);
}

static enum err
decode_modules(json_t *obj, struct genesis *g)
{
    if (obj == NULL) {
        return ERR_OK;
    }
    if (!json_is_object(obj)) {
        return ERR_MALFORMED;
    }
    const char *name;
    json_t *value;
    uint8_t *data = mem_alloc(GENESIS_MODULE_DATA_MAX);
    enum err rc = ERR_OK;
    json_object_foreach(obj, name, value)
    {
        size_t size = 0;
        rc = json_is_string(value) && strlen(name) <= TX_NAME_SIZE_MAX ? ERR_OK : ERR_MALFORMED;
        if (rc == ERR_OK) {
            rc = base64_decode(json_string_value(value), json_string_length(value), data,
                               GENESIS_MODULE_DATA_MAX, &size);
        }
        if (rc == ERR_OK) {
            rc = genesis_add_module(g, name, data, size);
        }
        if (rc != ERR_OK) {
            break;
        }
    }
    mem_free(data);
    if (rc == ERR_OK && g->module_count > 1) {
        qsort(g->modules, g->module_count, sizeof *g->modules, module_compare);
    }
    return rc == ERR_OK ? ERR_OK : ERR_MALFORMED;
}

static enum err
decode_root(json_t *root, struct genesis *g)
{
    static const char *const fields[] = { "chain_name",   "hash_alg", "timestamp_us", "params",
                                          "institutions", "accounts", "validators",   "nodes",
                                          "modules",      NULL };
    enum err rc = only_keys(root, fields);
    if (rc == ERR_OK) {
        rc = get_text(root, "chain_name", g->chain_name, GENESIS_NAME_SIZE_MAX);
    }
    const char *alg = json_string_value(json_object_get(root, "hash_alg"));
    if (rc == ERR_OK && (alg == NULL || !hash_alg_parse(alg, &g->hash_alg))) {
        log_error(LOG_NODE, "genesis: \"hash_alg\" must be \"sha256\" or \"sm3\"");
        rc = ERR_MALFORMED;
    }
    if (rc == ERR_OK) {
        rc = get_u64(root, "timestamp_us", INT64_MAX, &g->timestamp_us);
    }
    if (rc == ERR_OK) {
        rc = decode_params(json_object_get(root, "params"), &g->params);
    }
    if (rc == ERR_OK) {
        rc = decode_institutions(json_object_get(root, "institutions"), g);
    }
    json_t *accounts = json_object_get(root, "accounts");
    if (rc == ERR_OK && !json_is_array(accounts)) {
        rc = ERR_MALFORMED;
    }
    for (size_t i = 0; rc == ERR_OK && i < json_array_size(accounts); i++) {
        struct genesis_account acc;
        rc = decode_account(json_array_get(accounts, i), &acc);
        if (rc == ERR_OK) {
            rc = genesis_add_account(g, &acc);
        }
    }
    if (rc == ERR_OK) {
        rc = decode_validators(json_object_get(root, "validators"), g->validators);
    }
    if (rc == ERR_OK) {
        rc = decode_nodes(json_object_get(root, "nodes"), g);
    }
    if (rc == ERR_OK) {
        rc = decode_modules(json_object_get(root, "modules"), g);
    }
    return rc;
}

enum err
genesis_json_decode(const char *text, size_t size, struct genesis *out)
{
    ASSERT(out != NULL);
    genesis_init(out);
    if (size > GENESIS_JSON_SIZE_MAX) {
        return ERR_TOO_LARGE;
    }
    json_error_t error;
    json_t *root = json_loadb(text, size, JSON_REJECT_DUPLICATES, &error);
    if (root == NULL) {
        log_error(LOG_NODE, "genesis: invalid JSON at line %d: %s", error.line, error.text);
        return ERR_MALFORMED;
    }
    enum err rc = decode_root(root, out);
    json_decref(root);
    if (rc == ERR_OK && genesis_check(out) != ERR_OK) {
        log_error(LOG_NODE, "genesis: inconsistent (order, references, keys or limits)");
        rc = ERR_MALFORMED;
    }
    return rc == ERR_OK || rc == ERR_TOO_LARGE ? rc : ERR_MALFORMED;
}

enum err
genesis_json_load(const char *path, struct genesis *out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        genesis_init(out);
        return ERR_IO;
    }
    char *text = mem_alloc(GENESIS_JSON_SIZE_MAX + 1);
    size_t size = fread(text, 1, GENESIS_JSON_SIZE_MAX + 1, f);
    bool failed = ferror(f) != 0;
    fclose(f);
    enum err rc = failed ? ERR_IO : genesis_json_decode(text, size, out);
    if (failed) {
        genesis_init(out);
    }
    mem_free(text);
    return rc;
}

static json_t *
key_to_json(const struct public_key *key)
{
    char text[KEY_TEXT_SIZE_MAX + 1];
    const char *alg = sig_alg_name(key->alg);
    size_t n = strlen(alg);
    memcpy(text, alg, n + 1); /* the NUL is replaced by the ':' */
    text[n] = ':';
    hex_encode(key->bytes, key->size, text + n + 1);
    return json_string(text);
}

static json_t *
params_to_json(const struct chain_params *p)
{
    json_t *algs = json_array();
    for (unsigned alg = SIG_ED25519; alg <= SIG_SM2; alg++) {
        if (chain_params_sig_alg_allowed(p, alg)) {
            json_array_append_new(algs, json_string(sig_alg_name((enum sig_alg)alg)));
        }
    }
    json_t *o = json_object();
    json_object_set_new(o, "tx_size_bytes_max", json_integer(p->tx_size_bytes_max));
    json_object_set_new(o, "tx_ops_max", json_integer(p->tx_ops_max));
    json_object_set_new(o, "tx_resource_max", json_integer((json_int_t)p->tx_resource_max));
    json_object_set_new(o, "block_resource_max", json_integer((json_int_t)p->block_resource_max));
    json_object_set_new(o, "institution_block_resource_max",
                        json_integer((json_int_t)p->institution_block_resource_max));
    json_object_set_new(o, "block_txs_max", json_integer(p->block_txs_max));
    json_object_set_new(o, "tx_expiry_window_max",
                        json_integer((json_int_t)p->tx_expiry_window_max));
    json_object_set_new(o, "sig_algs", algs);
    return o;
}

static json_t *
people_to_json(const struct genesis *g, json_t *root)
{
    json_t *insts = json_array();
    for (size_t i = 0; i < g->institution_count; i++) {
        const struct genesis_institution *inst = &g->institutions[i];
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(inst->id));
        json_object_set_new(o, "name", json_string(inst->name));
        json_object_set_new(o, "founding", json_boolean(inst->founding));
        json_array_append_new(insts, o);
    }
    json_object_set_new(root, "institutions", insts);
    json_t *accounts = json_array();
    for (size_t i = 0; i < g->account_count; i++) {
        const struct genesis_account *acc = &g->accounts[i];
        json_t *keys = json_array();
        for (size_t k = 0; k < acc->key_count; k++) {
            json_array_append_new(keys, key_to_json(&acc->keys[k]));
        }
        json_t *o = json_object();
        json_object_set_new(o, "institution", json_integer(acc->institution));
        json_object_set_new(o, "admin", json_boolean(acc->admin));
        json_object_set_new(o, "keys", keys);
        json_array_append_new(accounts, o);
    }
    json_object_set_new(root, "accounts", accounts);
    return root;
}

static json_t *
genesis_to_json(const struct genesis *g)
{
    json_t *root = json_object();
    json_object_set_new(root, "chain_name", json_string(g->chain_name));
    json_object_set_new(root, "hash_alg", json_string(hash_alg_name(g->hash_alg)));
    json_object_set_new(root, "timestamp_us", json_integer((json_int_t)g->timestamp_us));
    json_object_set_new(root, "params", params_to_json(&g->params));
    people_to_json(g, root);
    json_t *nodes = json_array();
    for (size_t i = 0; i < g->validators->count; i++) {
        const struct vs_node *node = &g->validators->nodes[i];
        json_t *o = json_object();
        json_object_set_new(o, "institution", json_integer(node->institution));
        json_object_set_new(o, "consensus_key", key_to_json(&node->consensus_key));
        json_object_set_new(o, "transport_key", key_to_json(&node->transport_key));
        json_object_set_new(o, "power", json_integer((json_int_t)node->power));
        json_array_append_new(nodes, o);
    }
    json_object_set_new(root, "validators", nodes);
    if (g->node_count > 0) {
        json_t *observers = json_array();
        for (size_t i = 0; i < g->node_count; i++) {
            const struct registered_node *node = &g->nodes[i];
            json_t *o = json_object();
            json_object_set_new(o, "institution", json_integer(node->institution));
            json_object_set_new(o, "transport_key", key_to_json(&node->transport_key));
            if (node->address[0] != '\0') {
                json_object_set_new(o, "address", json_string(node->address));
            }
            json_array_append_new(observers, o);
        }
        json_object_set_new(root, "nodes", observers);
    }
    json_t *modules = json_object();
    for (size_t i = 0; i < g->module_count; i++) {
        const struct genesis_module *m = &g->modules[i];
        char *text = mem_alloc(base64_encoded_size(m->data_size) + 1);
        base64_encode(m->data, m->data_size, text);
        json_object_set_new(modules, m->name, json_string(text));
        mem_free(text);
    }
    json_object_set_new(root, "modules", modules);
    return root;
}

enum err
genesis_json_encode(const struct genesis *g, struct buf *out)
{
    enum err rc = genesis_check(g);
    if (rc != ERR_OK) {
        return rc;
    }
    json_t *root = genesis_to_json(g);
    size_t flags = JSON_INDENT(2) | JSON_ENSURE_ASCII;
    size_t size = json_dumpb(root, NULL, 0, flags);
    uint8_t *space = NULL;
    rc = size == 0 ? ERR_MALFORMED : buf_reserve(out, size + 1, &space);
    if (rc == ERR_OK) {
        size_t written = json_dumpb(root, (char *)space, size, flags);
        ASSERT(written == size);
        space[size] = '\n';
        buf_commit(out, size + 1);
    }
    json_decref(root);
    return rc;
}
