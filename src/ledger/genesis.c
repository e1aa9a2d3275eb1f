#include "ledger/genesis.h"

#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "codec/codec.h"

void
genesis_init(struct genesis *g)
{
    ASSERT(g != NULL);
    memset(g, 0, sizeof *g);
    g->hash_alg = HASH_SHA256;
    chain_params_default(&g->params);
    g->validators = mem_calloc(1, sizeof *g->validators);
    g->validators->epoch = GENESIS_EPOCH;
}

void
genesis_release(struct genesis *g)
{
    if (g == NULL) {
        return;
    }
    for (size_t i = 0; i < g->module_count; i++) {
        mem_free(g->modules[i].data);
    }
    mem_free(g->modules);
    mem_free(g->institutions);
    mem_free(g->accounts);
    mem_free(g->nodes);
    mem_free(g->validators);
    memset(g, 0, sizeof *g);
}

enum err
genesis_add_institution(struct genesis *g, uint32_t id, const char *name, bool founding)
{
    size_t name_size = strlen(name);
    if (g->institution_count == GENESIS_INSTITUTIONS_MAX) {
        return ERR_FULL;
    }
    if (name_size > GENESIS_NAME_SIZE_MAX) {
        return ERR_TOO_LARGE;
    }
    g->institutions =
        mem_realloc(g->institutions, (g->institution_count + 1) * sizeof *g->institutions);
    struct genesis_institution *inst = &g->institutions[g->institution_count++];
    memset(inst, 0, sizeof *inst);
    inst->id = id;
    memcpy(inst->name, name, name_size);
    inst->founding = founding;
    return ERR_OK;
}

enum err
genesis_add_account(struct genesis *g, const struct genesis_account *account)
{
    if (g->account_count == GENESIS_ACCOUNTS_MAX) {
        return ERR_FULL;
    }
    g->accounts = mem_realloc(g->accounts, (g->account_count + 1) * sizeof *g->accounts);
    g->accounts[g->account_count++] = *account;
    return ERR_OK;
}

enum err
genesis_add_node(struct genesis *g, const struct registered_node *node)
{
    if (g->node_count == REGISTERED_NODES_MAX) {
        return ERR_FULL;
    }
    g->nodes = mem_realloc(g->nodes, (g->node_count + 1) * sizeof *g->nodes);
    g->nodes[g->node_count++] = *node;
    return ERR_OK;
}

int
registered_node_compare(const struct registered_node *a, const struct registered_node *b)
{
    const struct public_key *x = &a->transport_key;
    const struct public_key *y = &b->transport_key;
    if (x->alg != y->alg) {
        return x->alg < y->alg ? -1 : 1;
    }
    if (x->size != y->size) {
        return x->size < y->size ? -1 : 1;
    }
    return memcmp(x->bytes, y->bytes, x->size);
}

bool
registered_node_address_ok(const char *address, size_t size)
{
    if (size > NODE_ADDRESS_SIZE_MAX) {
        return false;
    }
    for (size_t i = 0; i < size; i++) {
        char c = address[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '.' || c == ':' || c == '[' || c == ']' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

enum err
registered_node_put(struct buf *b, const struct registered_node *node)
{
    enum err rc = codec_put_public_key(b, &node->transport_key);
    if (rc == ERR_OK) {
        rc = codec_put_u32(b, node->institution);
    }
    if (rc == ERR_OK) {
        rc = codec_put_text(b, node->address, strnlen(node->address, sizeof node->address),
                            NODE_ADDRESS_SIZE_MAX);
    }
    return rc;
}

enum err
registered_node_get(struct reader *r, struct registered_node *out)
{
    struct registered_node node;
    memset(&node, 0, sizeof node);
    const char *text = NULL;
    size_t size = 0;
    enum err rc = codec_get_public_key(r, &node.transport_key);
    if (rc == ERR_OK) {
        rc = codec_get_u32(r, &node.institution);
    }
    if (rc == ERR_OK) {
        rc = codec_get_text(r, NODE_ADDRESS_SIZE_MAX, &text, &size);
    }
    if (rc == ERR_OK &&
        (node.transport_key.alg != SIG_ED25519 || !registered_node_address_ok(text, size))) {
        rc = ERR_MALFORMED;
    }
    if (rc == ERR_OK) {
        memcpy(node.address, text, size);
        *out = node;
    }
    return rc;
}

enum err
genesis_add_module(struct genesis *g, const char *name, const uint8_t *data, size_t data_size)
{
    size_t name_size = strlen(name);
    if (g->module_count == GENESIS_MODULES_MAX) {
        return ERR_FULL;
    }
    if (name_size > TX_NAME_SIZE_MAX || data_size > GENESIS_MODULE_DATA_MAX) {
        return ERR_TOO_LARGE;
    }
    g->modules = mem_realloc(g->modules, (g->module_count + 1) * sizeof *g->modules);
    struct genesis_module *m = &g->modules[g->module_count++];
    memset(m, 0, sizeof *m);
    memcpy(m->name, name, name_size);
    m->data = data_size > 0 ? mem_dup(data, data_size) : NULL;
    m->data_size = data_size;
    return ERR_OK;
}

void
genesis_account_address(const struct genesis *g, size_t index, struct address *out)
{
    ASSERT(index < g->account_count);
    ASSERT(g->accounts[index].key_count >= 1);
    address_of(g->hash_alg, &g->accounts[index].keys[0], out);
}

static bool
institution_exists(const struct genesis *g, uint32_t id)
{
    for (size_t i = 0; i < g->institution_count; i++) {
        if (g->institutions[i].id == id) {
            return true;
        }
    }
    return false;
}

static enum err
check_institutions(const struct genesis *g)
{
    size_t founding = 0;
    for (size_t i = 0; i < g->institution_count; i++) {
        const struct genesis_institution *inst = &g->institutions[i];
        size_t name_size = strnlen(inst->name, sizeof inst->name);
        if (inst->id == 0 || (i > 0 && inst->id <= g->institutions[i - 1].id) || name_size == 0 ||
            name_size > GENESIS_NAME_SIZE_MAX ||
            !codec_utf8_is_valid((const uint8_t *)inst->name, name_size)) {
            return ERR_MALFORMED;
        }
        founding += inst->founding ? 1 : 0;
    }
    return founding >= 1 ? ERR_OK : ERR_MALFORMED;
}

static int
address_compare(const void *a, const void *b)
{
    return memcmp(a, b, ADDRESS_SIZE);
}

static enum err
check_accounts(const struct genesis *g)
{
    for (size_t i = 0; i < g->account_count; i++) {
        const struct genesis_account *acc = &g->accounts[i];
        if (acc->key_count == 0 || acc->key_count > ACCOUNT_KEYS_MAX ||
            (acc->institution != 0 && !institution_exists(g, acc->institution)) ||
            (acc->admin && acc->institution == 0)) {
            return ERR_MALFORMED;
        }
        for (size_t k = 0; k < acc->key_count; k++) {
            if (!chain_params_sig_alg_allowed(&g->params, acc->keys[k].alg) ||
                public_key_check(&acc->keys[k]) != ERR_OK) {
                return ERR_MALFORMED;
            }
        }
    }
    if (g->account_count == 0) {
        return ERR_OK;
    }
    struct address *addrs = mem_calloc(g->account_count, sizeof *addrs);
    for (size_t i = 0; i < g->account_count; i++) {
        genesis_account_address(g, i, &addrs[i]);
    }
    qsort(addrs, g->account_count, sizeof *addrs, address_compare);
    enum err rc = ERR_OK;
    for (size_t i = 1; i < g->account_count; i++) {
        if (memcmp(&addrs[i - 1], &addrs[i], ADDRESS_SIZE) == 0) {
            rc = ERR_MALFORMED;
        }
    }
    mem_free(addrs);
    return rc;
}

static enum err
check_validators(const struct genesis *g)
{
    const struct validator_set *vs = g->validators;
    if (vs == NULL || vs->epoch != GENESIS_EPOCH || validator_set_check(vs) != ERR_OK) {
        return ERR_MALFORMED;
    }
    for (size_t i = 0; i < vs->count; i++) {
        if (!institution_exists(g, vs->nodes[i].institution) ||
            !chain_params_sig_alg_allowed(&g->params, vs->nodes[i].consensus_key.alg) ||
            public_key_check(&vs->nodes[i].consensus_key) != ERR_OK ||
            public_key_check(&vs->nodes[i].transport_key) != ERR_OK) {
            return ERR_MALFORMED;
        }
    }
    return ERR_OK;
}

static enum err
check_nodes(const struct genesis *g)
{
    for (size_t i = 0; i < g->node_count; i++) {
        const struct registered_node *node = &g->nodes[i];
        size_t address_size = strnlen(node->address, sizeof node->address);
        if (node->transport_key.alg != SIG_ED25519 ||
            public_key_check(&node->transport_key) != ERR_OK ||
            !institution_exists(g, node->institution) || address_size > NODE_ADDRESS_SIZE_MAX ||
            !registered_node_address_ok(node->address, address_size) ||
            (i > 0 && registered_node_compare(&g->nodes[i - 1], node) >= 0) ||
            validator_set_find_transport(g->validators, &node->transport_key) >= 0) {
            return ERR_MALFORMED;
        }
    }
    return ERR_OK;
}

static enum err
check_modules(const struct genesis *g)
{
    for (size_t i = 0; i < g->module_count; i++) {
        const struct genesis_module *m = &g->modules[i];
        size_t size = strnlen(m->name, sizeof m->name);
        if (!tx_name_is_valid(m->name, size) || m->data_size > GENESIS_MODULE_DATA_MAX ||
            (i > 0 && strcmp(g->modules[i - 1].name, m->name) >= 0)) {
            return ERR_MALFORMED;
        }
    }
    return ERR_OK;
}

enum err
genesis_check(const struct genesis *g)
{
    ASSERT(g != NULL);
    size_t name_size = strnlen(g->chain_name, sizeof g->chain_name);
    if (name_size == 0 || name_size > GENESIS_NAME_SIZE_MAX ||
        !codec_utf8_is_valid((const uint8_t *)g->chain_name, name_size) ||
        !hash_alg_is_valid(g->hash_alg) || chain_params_check(&g->params) != ERR_OK) {
        return ERR_MALFORMED;
    }
    enum err rc = check_institutions(g);
    if (rc == ERR_OK) {
        rc = check_accounts(g);
    }
    if (rc == ERR_OK) {
        rc = check_validators(g);
    }
    if (rc == ERR_OK) {
        rc = check_nodes(g);
    }
    if (rc == ERR_OK) {
        rc = check_modules(g);
    }
    return rc;
}

static enum err
encode_people(const struct genesis *g, struct buf *out)
{
    enum err rc = codec_put_count(out, g->institution_count, GENESIS_INSTITUTIONS_MAX);
    for (size_t i = 0; rc == ERR_OK && i < g->institution_count; i++) {
        const struct genesis_institution *inst = &g->institutions[i];
        rc = codec_put_u32(out, inst->id);
        if (rc == ERR_OK) {
            rc = codec_put_text(out, inst->name, strlen(inst->name), GENESIS_NAME_SIZE_MAX);
        }
        if (rc == ERR_OK) {
            rc = codec_put_bool(out, inst->founding);
        }
    }
    if (rc == ERR_OK) {
        rc = codec_put_count(out, g->account_count, GENESIS_ACCOUNTS_MAX);
    }
    for (size_t i = 0; rc == ERR_OK && i < g->account_count; i++) {
        const struct genesis_account *acc = &g->accounts[i];
        rc = codec_put_u32(out, acc->institution);
        if (rc == ERR_OK) {
            rc = codec_put_bool(out, acc->admin);
        }
        if (rc == ERR_OK) {
            rc = codec_put_count(out, acc->key_count, ACCOUNT_KEYS_MAX);
        }
        for (size_t k = 0; rc == ERR_OK && k < acc->key_count; k++) {
            rc = codec_put_public_key(out, &acc->keys[k]);
        }
    }
    return rc;
}

enum err
genesis_encode(const struct genesis *g, struct buf *out)
{
    enum err rc = genesis_check(g);
    if (rc != ERR_OK) {
        return rc;
    }
    rc = codec_put_u8(out, GENESIS_VERSION);
    if (rc == ERR_OK) {
        rc = codec_put_text(out, g->chain_name, strlen(g->chain_name), GENESIS_NAME_SIZE_MAX);
    }
    if (rc == ERR_OK) {
        rc = codec_put_u8(out, (uint8_t)g->hash_alg);
    }
    if (rc == ERR_OK) {
        rc = codec_put_u64(out, g->timestamp_us);
    }
    if (rc == ERR_OK) {
        rc = chain_params_encode(&g->params, out);
    }
    if (rc == ERR_OK) {
        rc = encode_people(g, out);
    }
    if (rc == ERR_OK) {
        rc = validator_set_encode(g->validators, out);
    }
    if (rc == ERR_OK) {
        rc = codec_put_count(out, g->node_count, REGISTERED_NODES_MAX);
    }
    for (size_t i = 0; rc == ERR_OK && i < g->node_count; i++) {
        rc = registered_node_put(out, &g->nodes[i]);
    }
    if (rc == ERR_OK) {
        rc = codec_put_count(out, g->module_count, GENESIS_MODULES_MAX);
    }
    for (size_t i = 0; rc == ERR_OK && i < g->module_count; i++) {
        const struct genesis_module *m = &g->modules[i];
        rc = codec_put_text(out, m->name, strlen(m->name), TX_NAME_SIZE_MAX);
        if (rc == ERR_OK) {
            rc = codec_put_bytes(out, m->data, m->data_size, GENESIS_MODULE_DATA_MAX);
        }
    }
    return rc;
}

enum err
genesis_hash(const struct genesis *g, struct hash *out)
{
    struct buf b;
    buf_init(&b, GENESIS_ENCODED_SIZE_MAX);
    enum err rc = genesis_encode(g, &b);
    if (rc == ERR_OK) {
        hash_bytes(g->hash_alg, b.data, b.size, out);
    }
    buf_release(&b);
    return rc;
}
