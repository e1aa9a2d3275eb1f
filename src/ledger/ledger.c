#include "ledger/ledger.h"

#include <stdatomic.h>
#include <string.h>

#include "base/assert.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/reader.h"
#include "codec/codec.h"
#include "crypto/merkle.h"
#include "ledger/account.h"
#include "ledger/exec.h"
#include "ledger/overlay.h"
#include "ledger/receipt.h"
#include "ledger/system.h"

#define LEDGER_RECEIPT_BYTES_MAX (256u << 20)
#define META_KEY_CHAIN_ID        "chain_id"
#define META_KEY_HEIGHT          "height"

struct ledger {
    struct db *db;
    struct state_store *state;
    struct block_store *blocks;
    struct verify_pool *verify_pool;
    const struct registry *registry;
    const struct genesis *genesis;
    struct hash chain_id;
    enum hash_alg alg;
    struct db_table meta;
    struct db_table receipts;
    bool has_genesis; /* set once, before other threads read the ledger */
    /* Written by the ledger's thread at commit, read by any thread. */
    _Atomic uint64_t committed_height;
    struct chain_params params;
    size_t results_live;
};

struct ledger_result {
    struct ledger *ledger;
    struct ledger_result *parent; /* referenced */
    unsigned refs;
    bool committed;
    uint64_t base_version; /* the committed version this chain was executed on (parent NULL) */
    struct overlay writes;
    struct state_batch *batch;
    struct ledger_outcome outcome;
    struct hash *tx_hashes;
    struct ledger_receipt_ref *receipts;
    struct buf receipt_bytes;
    struct validator_set *next_vs;
    struct chain_params params_after;
};

static struct ledger_result *
result_new(struct ledger *l, struct ledger_result *parent, uint64_t height, uint64_t timestamp_us,
           size_t tx_count)
{
    struct ledger_result *r = mem_calloc(1, sizeof *r);
    r->ledger = l;
    r->parent = parent;
    if (parent != NULL) {
        parent->refs++;
    }
    r->refs = 1;
    r->base_version = state_store_version(l->state);
    overlay_init(&r->writes, LEDGER_BLOCK_WRITES_MAX, LEDGER_BLOCK_WRITE_BYTES);
    buf_init(&r->receipt_bytes, LEDGER_RECEIPT_BYTES_MAX);
    r->tx_hashes = mem_calloc(tx_count > 0 ? tx_count : 1, sizeof *r->tx_hashes);
    r->receipts = mem_calloc(tx_count > 0 ? tx_count : 1, sizeof *r->receipts);
    r->outcome.height = height;
    r->outcome.timestamp_us = timestamp_us;
    r->outcome.tx_count = tx_count;
    r->outcome.tx_hashes = r->tx_hashes;
    r->outcome.receipts = r->receipts;
    l->results_live++;
    return r;
}

void
ledger_result_free(struct ledger_result *r)
{
    /* Iterative: dropping the last reference to a chain of results frees the chain. */
    while (r != NULL) {
        ASSERT(r->refs > 0);
        if (--r->refs > 0) {
            return;
        }
        struct ledger_result *parent = r->parent;
        state_batch_free(r->batch);
        overlay_release(&r->writes);
        buf_release(&r->receipt_bytes);
        mem_free(r->tx_hashes);
        mem_free(r->receipts);
        mem_free(r->next_vs);
        r->ledger->results_live--;
        mem_free(r);
        r = parent;
    }
}

const struct ledger_outcome *
ledger_result_outcome(const struct ledger_result *r)
{
    ASSERT(r != NULL);
    ASSERT(r->batch != NULL);
    return &r->outcome;
}

/* True if executing on r builds on the current committed state. */
static bool
chain_is_live(const struct ledger *l, const struct ledger_result *r)
{
    const struct ledger_result *p = r;
    while (p != NULL && !p->committed) {
        if (p->parent == NULL) {
            return p->base_version == state_store_version(l->state);
        }
        p = p->parent;
    }
    return p != NULL && l->has_genesis && p->outcome.height == l->committed_height;
}

const struct hash *
ledger_chain_id(const struct ledger *l)
{
    return &l->chain_id;
}

enum hash_alg
ledger_hash_alg(const struct ledger *l)
{
    return l->alg;
}

bool
ledger_has_genesis(const struct ledger *l)
{
    return l->has_genesis;
}

uint64_t
ledger_committed_height(const struct ledger *l)
{
    ASSERT(l->has_genesis);
    return atomic_load_explicit(&l->committed_height, memory_order_acquire);
}

const struct chain_params *
ledger_params(const struct ledger *l)
{
    return &l->params;
}

/* An empty batch on the committed state: the read base of a block executed with no parent
 * and of queries on committed state. */
static enum err
committed_base(struct ledger *l, struct state_batch **out)
{
    return state_batch_new(l->state, NULL, state_store_version(l->state) + 1, NULL, 0, out);
}

static enum err
load_params_at(const struct state_batch *base, struct chain_params *out)
{
    struct state_view v;
    state_view_init(&v, SYSTEM_MODULE, base, NULL);
    return system_load_params(&v, out);
}

static enum err
open_tables(struct ledger *l)
{
    enum err rc = db_table_open(l->db, "ledger_meta", &l->meta);
    if (rc == ERR_OK) {
        rc = db_table_open(l->db, "ledger_receipt", &l->receipts);
    }
    return rc;
}

/* Reads the committed height and checks the stored chain id against the genesis. */
static enum err
load_meta(struct ledger *l)
{
    struct db_txn *txn = NULL;
    enum err rc = db_txn_begin(l->db, false, &txn);
    struct db_val v;
    if (rc == ERR_OK) {
        rc = db_get(txn, l->meta, db_val_of(META_KEY_CHAIN_ID, strlen(META_KEY_CHAIN_ID)), &v);
        if (rc == ERR_NOT_FOUND) {
            rc = state_store_version(l->state) == 0 ? ERR_OK : ERR_CORRUPT;
            db_txn_abort(txn);
            return rc;
        }
    }
    if (rc == ERR_OK &&
        (v.size != HASH_SIZE || memcmp(v.data, l->chain_id.bytes, HASH_SIZE) != 0)) {
        log_error(LOG_LEDGER, "the data directory holds another chain");
        rc = ERR_WRONG_CHAIN;
    }
    if (rc == ERR_OK) {
        rc = db_get(txn, l->meta, db_val_of(META_KEY_HEIGHT, strlen(META_KEY_HEIGHT)), &v);
    }
    if (rc == ERR_OK && v.size != 8) {
        rc = ERR_CORRUPT;
    }
    if (rc == ERR_OK) {
        l->committed_height = load_u64(v.data);
        l->has_genesis = true;
        if (l->committed_height + 1 != state_store_version(l->state)) {
            rc = ERR_CORRUPT;
        }
    }
    db_txn_abort(txn);
    return rc;
}

enum err
ledger_open(const struct ledger_config *config, struct ledger **out)
{
    ASSERT(config != NULL);
    ASSERT(config->db != NULL && config->state != NULL && config->blocks != NULL);
    ASSERT(config->registry != NULL && config->genesis != NULL);
    ASSERT(registry_find(config->registry, ACCOUNT_MODULE, strlen(ACCOUNT_MODULE)) != NULL);
    ASSERT(registry_find(config->registry, SYSTEM_MODULE, strlen(SYSTEM_MODULE)) != NULL);
    struct ledger *l = mem_calloc(1, sizeof *l);
    l->db = config->db;
    l->state = config->state;
    l->blocks = config->blocks;
    l->verify_pool = config->verify_pool;
    l->registry = config->registry;
    l->genesis = config->genesis;
    l->alg = config->genesis->hash_alg;
    l->params = config->genesis->params;
    enum err rc = genesis_hash(config->genesis, &l->chain_id);
    if (rc == ERR_OK) {
        rc = open_tables(l);
    }
    if (rc == ERR_OK) {
        rc = load_meta(l);
    }
    struct state_batch *base = NULL;
    if (rc == ERR_OK && l->has_genesis) {
        rc = committed_base(l, &base);
        if (rc == ERR_OK) {
            rc = load_params_at(base, &l->params);
        }
    }
    state_batch_free(base);
    if (rc != ERR_OK) {
        mem_free(l);
        return rc;
    }
    *out = l;
    return ERR_OK;
}

void
ledger_close(struct ledger *l)
{
    if (l == NULL) {
        return;
    }
    ASSERT(l->results_live == 0);
    mem_free(l);
}

/* Verifies items on the pool (through its cache) or, without one, here. */
static void
verify_items(const struct ledger *l, const struct verify_item *items, size_t count,
             enum err *results)
{
    if (l->verify_pool != NULL) {
        verify_pool_batch(l->verify_pool, items, count, results);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        results[i] =
            verify_message(items[i].key, items[i].msg, items[i].size, items[i].sig) == ERR_OK
                ? ERR_OK
                : ERR_BAD_SIGNATURE;
    }
}

static enum err
check_tx_with(const struct ledger *l, const struct chain_params *params,
              const struct ledger_tx_in *in, bool skip_signature, struct tx *out_tx,
              struct hash *out_hash)
{
    const uint8_t *wire = in->data;
    size_t size = in->size;
    if (size > params->tx_size_bytes_max) {
        return ERR_TOO_LARGE;
    }
    enum err rc = tx_decode(wire, size, out_tx);
    if (rc != ERR_OK) {
        return rc;
    }
    if (!hash_equal(&out_tx->chain_id, &l->chain_id)) {
        return ERR_WRONG_CHAIN;
    }
    if (!chain_params_sig_alg_allowed(params, out_tx->key.alg)) {
        return ERR_UNSUPPORTED;
    }
    if (out_tx->op_count > params->tx_ops_max) {
        return ERR_LIMIT;
    }
    if (!skip_signature) {
        struct hash digest;
        tx_signing_digest(l->alg, &out_tx->chain_id, wire, out_tx->unsigned_size, &digest);
        struct verify_item item = { &out_tx->key, digest.bytes, HASH_SIZE, &out_tx->sig };
        verify_items(l, &item, 1, &rc);
        if (rc != ERR_OK) {
            return rc;
        }
    }
    if (in->hash != NULL) {
        *out_hash = *in->hash;
    } else {
        tx_hash(l->alg, wire, size, out_hash);
    }
    return ERR_OK;
}

enum err
ledger_check_tx(const struct ledger *l, const uint8_t *wire, size_t size, bool skip_signature,
                struct tx *out_tx, struct hash *out_hash)
{
    struct ledger_tx_in in = { .data = wire, .size = size, .signature_verified = skip_signature };
    struct tx tx;
    struct hash h;
    enum err rc = check_tx_with(l, &l->params, &in, skip_signature, &tx, &h);
    if (rc == ERR_OK) {
        *out_tx = tx;
        *out_hash = h;
    }
    return rc;
}

/* Resource used by the txs of one institution in the block being executed. */
struct institution_use {
    uint32_t institution;
    uint64_t used;
};

/* The state of one block's execution. */
struct block_exec {
    struct ledger *l;
    struct ledger_result *r;
    const struct state_batch *base;
    struct exec_env env;
    struct chain_params params;
    struct overlay tx_writes;
    struct buf events;
    size_t event_count;
    size_t *receipt_offsets;
    struct institution_use *inst;
    size_t inst_count;
    uint64_t block_used;
    const struct hash *tx_hash; /* of the tx being executed */
};

static struct institution_use *
institution_use(struct block_exec *x, uint32_t institution)
{
    for (size_t i = 0; i < x->inst_count; i++) {
        if (x->inst[i].institution == institution) {
            return &x->inst[i];
        }
    }
    /* At most one entry per tx: the array was sized for the block's tx count. */
    struct institution_use *u = &x->inst[x->inst_count++];
    *u = (struct institution_use){ .institution = institution, .used = 0 };
    return u;
}

static enum err
append_receipt(struct block_exec *x, size_t index, enum err status, const char *message,
               uint64_t used)
{
    struct ledger_result *r = x->r;
    struct receipt rec = {
        .tx_hash = r->tx_hashes[index],
        .status = receipt_status_of(status),
        .message = message,
        .message_size = strlen(message),
        .resource_used = used,
        .event_count = status == ERR_OK ? x->event_count : 0,
        .events = status == ERR_OK ? x->events.data : NULL,
        .events_size = status == ERR_OK ? x->events.size : 0,
    };
    x->receipt_offsets[index] = r->receipt_bytes.size;
    enum err rc = receipt_encode(&rec, &r->receipt_bytes);
    buf_reset(&x->events);
    x->event_count = 0;
    return rc;
}

/* Checks that the tx may run now: known sender, registered key, not expired, next nonce. */
static enum err
authenticate(struct block_exec *x, const struct tx *tx, struct account *out_sender)
{
    struct state_view v;
    state_view_init(&v, ACCOUNT_MODULE, x->base, NULL);
    state_view_layer(&v, NULL, &x->r->writes, NULL);
    enum err rc = account_load(&v, &tx->sender, out_sender);
    if (rc != ERR_OK) {
        return rc == ERR_NOT_FOUND ? ERR_UNKNOWN_SENDER : rc;
    }
    if (!account_has_key(out_sender, &tx->key)) {
        return ERR_DENIED;
    }
    if (x->env.height > tx->expiry_height ||
        tx->expiry_height - x->env.height > x->params.tx_expiry_window_max) {
        return ERR_EXPIRED;
    }
    if (tx->nonce != out_sender->nonce) {
        return tx->nonce < out_sender->nonce ? ERR_STALE_NONCE : ERR_AGAIN;
    }
    return ERR_OK;
}

static const char *
auth_message(enum err rc)
{
    if (rc == ERR_UNKNOWN_SENDER) {
        return "the sender account does not exist";
    }
    if (rc == ERR_DENIED) {
        return "the signing key is not registered to the sender account";
    }
    if (rc == ERR_EXPIRED) {
        return "the tx expired or its expiry is too far ahead";
    }
    if (rc == ERR_STALE_NONCE) {
        return "the nonce was already used";
    }
    if (rc == ERR_AGAIN) {
        return "the nonce is ahead of the account's next nonce";
    }
    return err_name(rc);
}

/* Runs the ops of an authenticated tx into x->tx_writes; returns the tx's status. */
static enum err
run_ops(struct block_exec *x, const struct tx *tx, const struct account *sender,
        struct meter *meter, char *message)
{
    enum err rc = ERR_OK;
    for (size_t i = 0; rc == ERR_OK && i < tx->op_count; i++) {
        const struct tx_op *op = &tx->ops[i];
        const struct module_def *def = registry_find(x->l->registry, op->module, op->module_size);
        const struct module_op *handler =
            registry_find_op(x->l->registry, op->module, op->module_size, op->op, op->op_size);
        if (def == NULL || handler == NULL) {
            rc = ERR_NOT_FOUND;
            memcpy(message, "unknown module or op", sizeof "unknown module or op");
            break;
        }
        struct exec_ctx ctx = {
            .env = &x->env,
            .sender = sender,
            .tx_hash = x->tx_hash,
            .events = &x->events,
            .event_count = &x->event_count,
        };
        state_view_init(&ctx.view, def->name, x->base, meter);
        state_view_layer(&ctx.view, &x->tx_writes, &x->tx_writes, &x->r->writes);
        rc = handler->run(&ctx, op->args, op->args_size);
        if (rc != ERR_OK && ctx.message[0] != '\0') {
            memcpy(message, ctx.message, sizeof ctx.message);
        }
    }
    if (rc == ERR_OK) {
        rc = overlay_merge(&x->r->writes, &x->tx_writes);
        if (rc != ERR_OK) {
            memcpy(message, "the block's write budget is exhausted",
                   sizeof "the block's write budget is exhausted");
            rc = ERR_LIMIT;
        }
    }
    return rc;
}

/* Executes tx index of the block: authenticate, take the nonce, run the ops atomically,
 * account the resources, write the receipt. Fails only on a receipt that cannot be encoded
 * (the block's receipt budget), which makes the block invalid. */
static enum err
execute_tx(struct block_exec *x, size_t index, const struct tx *tx, size_t size)
{
    struct account sender;
    x->tx_hash = &x->r->tx_hashes[index];
    enum err rc = authenticate(x, tx, &sender);
    if (rc != ERR_OK) {
        return append_receipt(x, index, rc, auth_message(rc), 0);
    }
    struct institution_use *inst = institution_use(x, sender.institution);
    uint64_t base_cost =
        LEDGER_RES_TX_BASE + (uint64_t)size + LEDGER_RES_OP * (uint64_t)tx->op_count;
    uint64_t block_left = x->params.block_resource_max - x->block_used;
    uint64_t inst_left = x->params.institution_block_resource_max - inst->used;
    if (base_cost > block_left || base_cost > inst_left) {
        return append_receipt(x, index, ERR_LIMIT,
                              "no room left in the block's or the institution's budget", 0);
    }
    /* The nonce is taken whatever the ops do: it goes to the block's writes directly. */
    struct state_view account_view;
    state_view_init(&account_view, ACCOUNT_MODULE, x->base, NULL);
    state_view_layer(&account_view, &x->r->writes, &x->r->writes, NULL);
    sender.nonce++;
    rc = account_store(&account_view, &sender);
    if (rc != ERR_OK) {
        return rc;
    }
    uint64_t limit = x->params.tx_resource_max;
    limit = limit < block_left ? limit : block_left;
    limit = limit < inst_left ? limit : inst_left;
    struct meter meter = { .used = 0, .limit = limit };
    char message[RECEIPT_MESSAGE_SIZE_MAX + 1] = { 0 };
    rc = meter_charge(&meter, base_cost);
    if (rc == ERR_OK) {
        rc = run_ops(x, tx, &sender, &meter, message);
    }
    if (rc != ERR_OK) {
        overlay_clear(&x->tx_writes);
        buf_reset(&x->events);
        x->event_count = 0;
    }
    if (rc == ERR_LIMIT && message[0] == '\0') {
        memcpy(message, "the tx exceeded its resource limit",
               sizeof "the tx exceeded its resource limit");
    }
    x->block_used += meter.used;
    inst->used += meter.used;
    return append_receipt(x, index, rc, message[0] != '\0' ? message : err_name(rc), meter.used);
}

static void
log_block_invalid(uint64_t height, size_t index, enum err rc)
{
    log_info(LOG_LEDGER, "invalid block: tx rejected height=%llu index=%zu err=%s",
             (unsigned long long)height, index, err_name(rc));
}

/* Verifies, as one batch, the signatures of the block's txs not marked verified. */
static enum err
verify_block_signatures(const struct ledger *l, const struct ledger_block_in *in,
                        const struct tx *txs)
{
    size_t n = in->tx_count;
    struct hash *digests = mem_calloc(n + 1, sizeof *digests);
    struct verify_item *items = mem_calloc(n + 1, sizeof *items);
    size_t *tx_index = mem_calloc(n + 1, sizeof *tx_index);
    enum err *results = mem_calloc(n + 1, sizeof *results);
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        if (in->txs[i].signature_verified) {
            continue;
        }
        tx_signing_digest(l->alg, &txs[i].chain_id, in->txs[i].data, txs[i].unsigned_size,
                          &digests[count]);
        items[count] =
            (struct verify_item){ &txs[i].key, digests[count].bytes, HASH_SIZE, &txs[i].sig };
        tx_index[count++] = i;
    }
    verify_items(l, items, count, results);
    enum err rc = ERR_OK;
    for (size_t k = 0; k < count && rc == ERR_OK; k++) {
        if (results[k] != ERR_OK) {
            log_block_invalid(in->height, tx_index[k], ERR_BAD_SIGNATURE);
            rc = ERR_BAD_SIGNATURE;
        }
    }
    mem_free(digests);
    mem_free(items);
    mem_free(tx_index);
    mem_free(results);
    return rc;
}

/* Stateless validity of every tx of the block; fills the tx hashes. */
static enum err
check_block_txs(struct block_exec *x, const struct ledger_block_in *in, struct tx *txs)
{
    if (in->tx_count > x->params.block_txs_max) {
        return ERR_LIMIT;
    }
    for (size_t i = 0; i < in->tx_count; i++) {
        enum err rc =
            check_tx_with(x->l, &x->params, &in->txs[i], true, &txs[i], &x->r->tx_hashes[i]);
        if (rc != ERR_OK) {
            log_block_invalid(in->height, i, rc);
            return rc;
        }
    }
    return in->signatures_verified ? ERR_OK : verify_block_signatures(x->l, in, txs);
}

/* Reads the epoch-ending set, if the block wrote "system/vs". */
static enum err
finish_next_vs(struct ledger_result *r, enum hash_alg alg)
{
    static const char key[] = SYSTEM_MODULE "/" SYSTEM_KEY_VS;
    const uint8_t *value;
    size_t value_size;
    if (r->outcome.height == 0 ||
        !overlay_get(&r->writes, (const uint8_t *)key, sizeof key - 1, &value, &value_size) ||
        value == NULL) {
        return ERR_OK;
    }
    r->next_vs = mem_alloc(sizeof *r->next_vs);
    if (validator_set_decode(value, value_size, r->next_vs) != ERR_OK) {
        return ERR_CORRUPT;
    }
    validator_set_hash(alg, r->next_vs, &r->outcome.next_epoch_vs_hash);
    r->outcome.next_vs = r->next_vs;
    return ERR_OK;
}

/* Builds the state batch and the roots of a result whose writes and receipts are done. */
static enum err
finish_result(struct ledger *l, struct ledger_result *r, const size_t *receipt_offsets)
{
    size_t count = 0;
    /* table order: state_batch_new sorts by key hash (overlay.h) */
    struct state_write *writes = overlay_writes(&r->writes, &count);
    struct state_batch *parent = r->parent != NULL ? r->parent->batch : NULL;
    enum err rc =
        state_batch_new(l->state, parent, r->outcome.height + 1, writes, count, &r->batch);
    mem_free(writes);
    if (rc != ERR_OK) {
        return rc;
    }
    state_batch_root(r->batch, &r->outcome.exec_root);
    size_t n = r->outcome.tx_count;
    struct hash *receipt_hashes = mem_calloc(n > 0 ? n : 1, sizeof *receipt_hashes);
    ASSERT(n == 0 || receipt_offsets != NULL);
    for (size_t i = 0; receipt_offsets != NULL && i < n; i++) {
        size_t end = i + 1 < n ? receipt_offsets[i + 1] : r->receipt_bytes.size;
        struct ledger_receipt_ref *ref = &r->receipts[i];
        ref->data = r->receipt_bytes.data + receipt_offsets[i];
        ref->size = end - receipt_offsets[i];
        hash_bytes(l->alg, ref->data, ref->size, &ref->hash);
        receipt_hashes[i] = ref->hash;
    }
    merkle_root(l->alg, receipt_hashes, n, &r->outcome.receipts_root);
    merkle_root(l->alg, r->tx_hashes, n, &r->outcome.payload_root);
    mem_free(receipt_hashes);
    rc = finish_next_vs(r, l->alg);
    if (rc == ERR_OK) {
        rc = load_params_at(r->batch, &r->params_after);
    }
    /* The batch holds its own copy of the writes and serves reads from here on. */
    overlay_release(&r->writes);
    return rc;
}

static void
block_exec_release(struct block_exec *x)
{
    overlay_release(&x->tx_writes);
    buf_release(&x->events);
    mem_free(x->receipt_offsets);
    mem_free(x->inst);
}

enum err
ledger_execute_block(struct ledger *l, struct ledger_result *parent,
                     const struct ledger_block_in *in, struct ledger_result **out)
{
    ASSERT(l != NULL && in != NULL && out != NULL);
    ASSERT(l->has_genesis);
    ASSERT(in->tx_count == 0 || in->txs != NULL);
    uint64_t expected = parent != NULL ? parent->outcome.height + 1 : l->committed_height + 1;
    if (in->height != expected) {
        return ERR_INVALID_ARG;
    }
    if (parent != NULL && !chain_is_live(l, parent)) {
        return ERR_STALE;
    }
    if (in->tx_count > LEDGER_BLOCK_TXS_MAX) {
        return ERR_LIMIT;
    }
    struct state_batch *owned_base = NULL;
    enum err rc = parent != NULL ? ERR_OK : committed_base(l, &owned_base);
    if (rc != ERR_OK) {
        return rc;
    }
    struct block_exec x = { .l = l, .base = parent != NULL ? parent->batch : owned_base };
    x.r = result_new(l, parent, in->height, in->timestamp_us, in->tx_count);
    x.env = (struct exec_env){ in->height, in->timestamp_us, l->alg, &x.params };
    overlay_init(&x.tx_writes, LEDGER_TX_WRITES_MAX, LEDGER_TX_WRITE_BYTES);
    buf_init(&x.events, RECEIPT_SIZE_MAX);
    x.receipt_offsets = mem_calloc(in->tx_count + 1, sizeof *x.receipt_offsets);
    x.inst = mem_calloc(in->tx_count + 1, sizeof *x.inst);
    struct tx *txs = mem_calloc(in->tx_count + 1, sizeof *txs);
    rc = load_params_at(x.base, &x.params);
    if (rc == ERR_OK) {
        rc = check_block_txs(&x, in, txs);
    }
    for (size_t i = 0; rc == ERR_OK && i < in->tx_count; i++) {
        rc = execute_tx(&x, i, &txs[i], in->txs[i].size);
    }
    if (rc == ERR_OK) {
        x.r->outcome.resource_used = x.block_used;
        rc = finish_result(l, x.r, x.receipt_offsets);
    }
    mem_free(txs);
    block_exec_release(&x);
    state_batch_free(owned_base);
    if (rc != ERR_OK) {
        ledger_result_free(x.r);
        return rc;
    }
    *out = x.r;
    return ERR_OK;
}

static const struct genesis_module *
genesis_module_data(const struct genesis *g, const char *name)
{
    for (size_t i = 0; i < g->module_count; i++) {
        if (strcmp(g->modules[i].name, name) == 0) {
            return &g->modules[i];
        }
    }
    return NULL;
}

static void
log_genesis_failure(const char *module, enum err rc)
{
    log_error(LOG_LEDGER, "genesis: module %s cannot load its state: %s", module, err_str(rc));
}

/* Runs every registered module's genesis loader, in name order. */
static enum err
load_genesis_modules(struct ledger *l, struct ledger_result *r)
{
    const struct genesis *g = l->genesis;
    for (size_t i = 0; i < g->module_count; i++) {
        const struct module_def *def =
            registry_find(l->registry, g->modules[i].name, strlen(g->modules[i].name));
        if (def == NULL || def->genesis == NULL) {
            log_genesis_failure(g->modules[i].name, ERR_MALFORMED);
            return ERR_MALFORMED;
        }
    }
    for (size_t i = 0; i < registry_count(l->registry); i++) {
        const struct module_def *def = registry_at(l->registry, i);
        if (def->genesis == NULL) {
            continue;
        }
        const struct genesis_module *m = genesis_module_data(g, def->name);
        struct state_view v;
        state_view_init(&v, def->name, NULL, NULL);
        state_view_layer(&v, &r->writes, &r->writes, NULL);
        enum err rc = def->genesis(&v, g, m != NULL ? m->data : NULL, m != NULL ? m->data_size : 0);
        if (rc != ERR_OK) {
            log_genesis_failure(def->name, rc);
            return rc;
        }
    }
    return ERR_OK;
}

enum err
ledger_execute_genesis(struct ledger *l, struct ledger_result **out)
{
    ASSERT(l != NULL && out != NULL);
    ASSERT(!l->has_genesis);
    if (state_store_version(l->state) != 0) {
        return ERR_EXISTS;
    }
    struct ledger_result *r = result_new(l, NULL, 0, l->genesis->timestamp_us, 0);
    enum err rc = load_genesis_modules(l, r);
    if (rc == ERR_OK) {
        rc = finish_result(l, r, NULL); /* genesis has no txs */
    }
    if (rc != ERR_OK) {
        ledger_result_free(r);
        return rc;
    }
    *out = r;
    return ERR_OK;
}

static enum err
commit_index(struct ledger *l, struct db_txn *txn, const struct ledger_result *r)
{
    enum err rc = ERR_OK;
    uint64_t height = r->outcome.height;
    for (size_t i = 0; rc == ERR_OK && i < r->outcome.tx_count; i++) {
        /* Receipts are keyed big-endian so they sort by height, then index. */
        uint8_t key[12];
        for (size_t b = 0; b < 8; b++) {
            key[b] = (uint8_t)(height >> (56 - 8 * b));
        }
        for (size_t b = 0; b < 4; b++) {
            key[8 + b] = (uint8_t)(i >> (24 - 8 * b));
        }
        rc = db_put(txn, l->receipts, db_val_of(key, sizeof key),
                    db_val_of(r->receipts[i].data, r->receipts[i].size));
    }
    uint8_t h[8];
    store_u64(h, height);
    if (rc == ERR_OK) {
        rc = db_put(txn, l->meta, db_val_of(META_KEY_HEIGHT, strlen(META_KEY_HEIGHT)),
                    db_val_of(h, sizeof h));
    }
    if (rc == ERR_OK && height == 0) {
        rc = db_put(txn, l->meta, db_val_of(META_KEY_CHAIN_ID, strlen(META_KEY_CHAIN_ID)),
                    db_val_of(l->chain_id.bytes, HASH_SIZE));
    }
    return rc;
}

/* payload = bytes block, bytes cert (codec.h). */
static enum err
block_payload(const struct ledger_block_bytes *block, struct buf *out)
{
    enum err rc =
        codec_put_bytes(out, block->block, block->block_size, BLOCK_STORE_PAYLOAD_SIZE_MAX);
    if (rc == ERR_OK) {
        rc = codec_put_bytes(out, block->cert, block->cert_size, BLOCK_STORE_PAYLOAD_SIZE_MAX);
    }
    return rc;
}

/* Everything of the commit that goes into txn; *out_staged says whether the block store
 * staged a record (to roll back if the txn does not commit). */
static enum err
commit_into(struct ledger *l, struct db_txn *txn, const struct ledger_result *r,
            const struct hash *block_id, const struct buf *payload, bool *out_staged)
{
    enum err rc = state_store_commit(l->state, txn, r->batch);
    if (rc == ERR_OK) {
        struct block_store_block block = {
            .height = r->outcome.height,
            .id = *block_id,
            .payload = payload->data,
            .payload_size = payload->size,
            .tx_hashes = r->tx_hashes,
            .tx_count = r->outcome.tx_count,
        };
        rc = block_store_append(l->blocks, txn, &block);
        *out_staged = rc == ERR_OK;
    }
    if (rc == ERR_OK) {
        rc = commit_index(l, txn, r);
    }
    return rc;
}

enum err
ledger_commit(struct ledger *l, struct ledger_result *r, const struct ledger_block_bytes *block)
{
    ASSERT(l != NULL && r != NULL && r->batch != NULL && block != NULL);
    ASSERT(!r->committed);
    uint64_t expected = l->has_genesis ? l->committed_height + 1 : 0;
    bool parent_ok = r->parent == NULL
                         ? r->base_version == state_store_version(l->state)
                         : r->parent->committed && r->parent->outcome.height == l->committed_height;
    if (r->outcome.height != expected || !parent_ok) {
        return ERR_STALE;
    }
    struct buf payload;
    buf_init(&payload, BLOCK_STORE_PAYLOAD_SIZE_MAX);
    enum err rc = block_payload(block, &payload);
    struct db_txn *txn = NULL;
    if (rc == ERR_OK) {
        rc = db_txn_begin(l->db, true, &txn);
    }
    bool staged = false;
    if (rc == ERR_OK) {
        rc = commit_into(l, txn, r, &block->id, &payload, &staged);
        if (rc == ERR_OK && block->also != NULL) {
            rc = block->also(block->also_ctx, txn);
        }
        if (rc == ERR_OK) {
            rc = db_txn_commit(txn); /* consumes txn */
        } else {
            db_txn_abort(txn);
        }
    }
    buf_release(&payload);
    if (rc != ERR_OK) {
        if (staged) {
            block_store_rollback(l->blocks);
        }
        return rc;
    }
    block_store_committed(l->blocks);
    state_store_committed(l->state, r->batch);
    r->committed = true;
    atomic_store_explicit(&l->committed_height, r->outcome.height, memory_order_release);
    if (!l->has_genesis) {
        l->has_genesis = true; /* once (genesis), before readers on other threads start */
    }
    l->params = r->params_after;
    return ERR_OK;
}

enum err
ledger_read_block(struct ledger *l, uint64_t height, struct buf *out_block, struct buf *out_cert)
{
    struct buf payload;
    buf_init(&payload, BLOCK_STORE_PAYLOAD_SIZE_MAX);
    enum err rc = block_store_read(l->blocks, NULL, height, &payload);
    struct reader r;
    reader_init(&r, payload.data, payload.size);
    const uint8_t *block = NULL;
    const uint8_t *cert = NULL;
    size_t block_size = 0;
    size_t cert_size = 0;
    if (rc == ERR_OK) {
        rc = codec_get_bytes(&r, BLOCK_STORE_PAYLOAD_SIZE_MAX, &block, &block_size);
    }
    if (rc == ERR_OK) {
        rc = codec_get_bytes(&r, BLOCK_STORE_PAYLOAD_SIZE_MAX, &cert, &cert_size);
    }
    if (rc == ERR_OK) {
        rc = codec_finish(&r) == ERR_OK ? ERR_OK : ERR_CORRUPT;
    }
    if (rc == ERR_OK) {
        rc = buf_append(out_block, block, block_size);
    }
    if (rc == ERR_OK) {
        rc = buf_append(out_cert, cert, cert_size);
    }
    buf_release(&payload);
    return rc;
}

enum err
ledger_query(struct ledger *l, const struct ledger_result *at, const char *query,
             const uint8_t *args, size_t args_size, struct buf *out)
{
    ASSERT(l != NULL && query != NULL && out != NULL);
    const char *dot = strchr(query, '.');
    if (dot == NULL) {
        return ERR_NOT_FOUND;
    }
    size_t module_size = (size_t)(dot - query);
    const struct module_def *def = registry_find(l->registry, query, module_size);
    const struct module_query *q =
        registry_find_query(l->registry, query, module_size, dot + 1, strlen(dot + 1));
    if (def == NULL || q == NULL) {
        return ERR_NOT_FOUND;
    }
    struct state_view v;
    if (at != NULL) {
        state_view_init(&v, def->name, at->batch, NULL);
    } else if (l->has_genesis) {
        state_view_init_committed(&v, def->name, l->state, state_store_version_published(l->state));
    } else {
        return ERR_NOT_FOUND;
    }
    return q->run(&v, args, args_size, out);
}

enum err
ledger_find_tx(struct ledger *l, const struct hash *tx_hash, uint64_t *out_height,
               uint32_t *out_index)
{
    struct block_store_tx_location where;
    enum err rc = block_store_tx_find(l->blocks, NULL, tx_hash, &where);
    if (rc == ERR_OK) {
        *out_height = where.height;
        *out_index = where.index;
    }
    return rc;
}

enum err
ledger_get_receipt(struct ledger *l, uint64_t height, uint32_t index, struct buf *out)
{
    uint8_t key[12];
    for (size_t b = 0; b < 8; b++) {
        key[b] = (uint8_t)(height >> (56 - 8 * b));
    }
    for (size_t b = 0; b < 4; b++) {
        key[8 + b] = (uint8_t)(index >> (24 - 8 * b));
    }
    struct db_txn *txn = NULL;
    enum err rc = db_txn_begin(l->db, false, &txn);
    struct db_val v;
    if (rc == ERR_OK) {
        rc = db_get(txn, l->receipts, db_val_of(key, sizeof key), &v);
    }
    if (rc == ERR_OK) {
        rc = buf_append(out, v.data, v.size);
    }
    db_txn_abort(txn);
    return rc;
}

enum err
ledger_prove(struct ledger *l, const char *module, const uint8_t *key, size_t key_size,
             struct buf *out_value, struct ledger_state_proof *out)
{
    ASSERT(l != NULL && module != NULL);
    size_t module_size = strlen(module);
    if (!l->has_genesis) {
        return ERR_NOT_FOUND;
    }
    if (!tx_name_is_valid(module, module_size)) {
        return ERR_INVALID_ARG;
    }
    if (key_size > MODULE_KEY_SIZE_MAX) {
        return ERR_TOO_LARGE;
    }
    uint8_t full[STATE_KEY_SIZE_MAX];
    memcpy(full, module, module_size + 1); /* the NUL is replaced by the '/' */
    full[module_size] = '/';
    if (key_size > 0) {
        memcpy(full + module_size + 1, key, key_size);
    }
    uint64_t version = state_store_version_published(l->state); /* before the txn: it holds it */
    struct db_txn *txn = NULL;
    enum err rc = db_txn_begin(l->db, false, &txn);
    if (rc == ERR_OK) {
        rc = state_store_root_at(l->state, txn, version, &out->root);
    }
    if (rc == ERR_OK) {
        rc = state_store_prove(l->state, txn, version, full, module_size + 1 + key_size, out_value,
                               &out->found, &out->proof);
    }
    db_txn_abort(txn);
    if (rc == ERR_OK) {
        out->height = version - 1;
    }
    return rc;
}

enum err
ledger_validator_set(struct ledger *l, const struct ledger_result *at, struct validator_set *out)
{
    struct buf b;
    buf_init(&b, VS_ENCODED_SIZE_MAX);
    enum err rc = ledger_query(l, at, SYSTEM_MODULE ".vs", NULL, 0, &b);
    if (rc == ERR_OK) {
        rc = validator_set_decode(b.data, b.size, out) == ERR_OK ? ERR_OK : ERR_CORRUPT;
    }
    buf_release(&b);
    return rc;
}

enum err
ledger_account(struct ledger *l, const struct ledger_result *at, const struct address *address,
               struct account *out)
{
    uint8_t storage[ACCOUNT_VALUE_SIZE_MAX];
    struct buf b = { .data = storage, .capacity = sizeof storage, .size_max = sizeof storage };
    enum err rc = ledger_query(l, at, ACCOUNT_MODULE ".get", address->bytes, ADDRESS_SIZE, &b);
    if (rc == ERR_OK) {
        rc = account_decode(b.data, b.size, address, out) == ERR_OK ? ERR_OK : ERR_CORRUPT;
    }
    return rc;
}
