/* What proofs across epochs need, kept durably (node_internal.h "epochs.c").
 *
 * Table "epochs" in the node's db: u64 BE epoch -> u64 ending height || validator set
 * encoding, for every epoch after the genesis one. The ending height is the height of the block
 * that ended the previous epoch (the ledger's "system/vs_height" when the set was installed);
 * the commit certificate that ends an epoch is the cert of the finality proof the ledger keeps
 * with that block. The genesis epoch's set is the genesis file's. */
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/reader.h"
#include "codec/consensus_types.h"
#include "codec/validator_set.h"
#include "consensus/consensus.h"
#include "ledger/ledger.h"
#include "ledger/system.h"
#include "node/node_internal.h"
#include "store/block_store.h"
#include "store/db.h"

#define EPOCHS_TABLE     "epochs"
#define VS_HEIGHT_KEY    "vs_height"
#define EPOCH_VALUE_HEAD 8u

static void
epoch_key(uint64_t epoch, uint8_t key[8])
{
    for (int i = 0; i < 8; i++) {
        key[i] = (uint8_t)(epoch >> (56 - 8 * i));
    }
}

enum err
node_epochs_open(struct node *n)
{
    return db_table_open(n->db, EPOCHS_TABLE, &n->epochs_table);
}

/* The height of the block that installed the set in force at the committed state. */
static enum err
installed_at(struct node *n, uint64_t *out_height)
{
    struct buf value;
    buf_init(&value, 64);
    struct ledger_state_proof *sp = mem_alloc(sizeof *sp);
    enum err rc = ledger_prove(n->ledger, SYSTEM_MODULE, (const uint8_t *)VS_HEIGHT_KEY,
                               strlen(VS_HEIGHT_KEY), &value, sp);
    if (rc == ERR_OK && (!sp->found || value.size != 8)) {
        rc = ERR_CORRUPT;
    }
    if (rc == ERR_OK) {
        *out_height = load_u64(value.data);
    }
    mem_free(sp);
    buf_release(&value);
    return rc;
}

static enum err
epochs_lookup(struct node *n, uint64_t epoch, struct buf *out)
{
    uint8_t key[8];
    epoch_key(epoch, key);
    struct db_txn *txn = NULL;
    enum err rc = db_txn_begin(n->db, false, &txn);
    if (rc != ERR_OK) {
        return rc;
    }
    struct db_val v;
    rc = db_get(txn, n->epochs_table, db_val_of(key, sizeof key), &v);
    if (rc == ERR_OK) {
        rc = buf_append(out, v.data, v.size);
    }
    db_txn_abort(txn);
    return rc;
}

enum err
node_epochs_record(struct node *n)
{
    const struct validator_set *vs = n->validators;
    if (vs->epoch <= GENESIS_EPOCH) {
        return ERR_OK;
    }
    struct buf b;
    buf_init(&b, EPOCH_VALUE_HEAD + VS_ENCODED_SIZE_MAX);
    enum err rc = epochs_lookup(n, vs->epoch, &b);
    if (rc != ERR_NOT_FOUND) {
        buf_release(&b);
        return rc; /* kept already (or the db failed) */
    }
    buf_reset(&b);
    uint64_t height = 0;
    rc = installed_at(n, &height);
    uint8_t head[EPOCH_VALUE_HEAD];
    store_u64(head, height);
    if (rc == ERR_OK) {
        rc = buf_append(&b, head, sizeof head);
    }
    if (rc == ERR_OK) {
        rc = validator_set_encode(vs, &b);
    }
    struct db_txn *txn = NULL;
    if (rc == ERR_OK) {
        rc = db_txn_begin(n->db, true, &txn);
    }
    if (rc == ERR_OK) {
        uint8_t key[8];
        epoch_key(vs->epoch, key);
        rc = db_put(txn, n->epochs_table, db_val_of(key, sizeof key), db_val_of(b.data, b.size));
        if (rc == ERR_OK) {
            rc = db_txn_commit(txn);
        } else {
            db_txn_abort(txn);
        }
    }
    if (rc == ERR_OK) {
        log_notice(LOG_NODE, "epoch kept epoch=%llu ending_height=%llu validators=%zu",
                   (unsigned long long)vs->epoch, (unsigned long long)height, vs->count);
    } else {
        log_error(LOG_NODE, "cannot keep the validator set epoch=%llu error=%s",
                  (unsigned long long)vs->epoch, err_str(rc));
    }
    buf_release(&b);
    return rc;
}

enum err
node_epochs_get(struct node *n, uint64_t epoch, uint64_t *out_ending_height,
                struct validator_set *out)
{
    if (epoch == GENESIS_EPOCH) {
        memcpy(out, n->genesis.validators, sizeof *out);
        *out_ending_height = 0;
        return ERR_OK;
    }
    struct buf b;
    buf_init(&b, EPOCH_VALUE_HEAD + VS_ENCODED_SIZE_MAX);
    enum err rc = epoch < GENESIS_EPOCH ? ERR_NOT_FOUND : epochs_lookup(n, epoch, &b);
    if (rc == ERR_OK && b.size < EPOCH_VALUE_HEAD) {
        rc = ERR_CORRUPT;
    }
    if (rc == ERR_OK) {
        rc = validator_set_decode(b.data + EPOCH_VALUE_HEAD, b.size - EPOCH_VALUE_HEAD, out);
        rc = rc == ERR_OK && out->epoch != epoch ? ERR_CORRUPT : rc;
    }
    if (rc == ERR_OK) {
        *out_ending_height = load_u64(b.data);
    }
    buf_release(&b);
    return rc;
}

enum err
node_epochs_cert(struct node *n, uint64_t epoch, struct buf *out_cert)
{
    struct validator_set *next = mem_alloc(sizeof *next);
    uint64_t height = 0;
    enum err rc = node_epochs_get(n, epoch + 1, &height, next);
    mem_free(next);
    struct buf block;
    struct buf proof;
    buf_init(&block, BLOCK_STORE_PAYLOAD_SIZE_MAX);
    buf_init(&proof, BLOCK_STORE_PAYLOAD_SIZE_MAX);
    if (rc == ERR_OK) {
        rc = ledger_read_block(n->ledger, height, &block, &proof);
    }
    struct finality_proof *p = mem_alloc(sizeof *p);
    if (rc == ERR_OK) {
        rc = finality_proof_decode(proof.data, proof.size, p);
    }
    const struct block_info *ci = &p->cert.ledger_info.commit_info;
    if (rc == ERR_OK && (!p->cert.ledger_info.has_commit || ci->epoch != epoch ||
                         hash_is_zero(&ci->next_epoch_vs_hash))) {
        rc = ERR_CORRUPT;
    }
    if (rc == ERR_OK) {
        rc = qc_encode(out_cert, &p->cert);
    }
    mem_free(p);
    buf_release(&block);
    buf_release(&proof);
    return rc;
}

enum err
node_epochs_ends(struct node *n, uint64_t current, size_t max, struct buf *storage,
                 struct cons_epoch_end **out_ends, size_t *out_count)
{
    uint64_t first = current > GENESIS_EPOCH + max ? current - max : GENESIS_EPOCH + 1;
    size_t cap = current >= first ? (size_t)(current - first + 1) : 0;
    struct cons_epoch_end *ends = mem_calloc(cap + 1, sizeof *ends);
    size_t *offsets = mem_calloc(4 * cap + 1, sizeof *offsets); /* proof, size, set, size */
    struct validator_set *set = mem_alloc(sizeof *set);
    struct buf block;
    buf_init(&block, BLOCK_STORE_PAYLOAD_SIZE_MAX);
    size_t count = 0;
    enum err rc = ERR_OK;
    for (uint64_t e = first; e <= current && rc == ERR_OK; e++) {
        uint64_t height = 0;
        enum err got = node_epochs_get(n, e, &height, set);
        if (got == ERR_NOT_FOUND) {
            continue; /* joined later: this node never saw that epoch end */
        }
        rc = got;
        size_t at = storage->size;
        buf_reset(&block);
        if (rc == ERR_OK) {
            rc = ledger_read_block(n->ledger, height, &block, storage);
        }
        size_t set_at = storage->size;
        if (rc == ERR_OK) {
            rc = validator_set_encode(set, storage);
        }
        if (rc == ERR_OK) {
            offsets[4 * count] = at;
            offsets[4 * count + 1] = set_at - at;
            offsets[4 * count + 2] = set_at;
            offsets[4 * count + 3] = storage->size - set_at;
            count++;
        }
    }
    for (size_t i = 0; i < count && rc == ERR_OK; i++) {
        ends[i].proof = (struct byte_span){ storage->data + offsets[4 * i], offsets[4 * i + 1] };
        ends[i].next_set =
            (struct byte_span){ storage->data + offsets[4 * i + 2], offsets[4 * i + 3] };
    }
    buf_release(&block);
    mem_free(set);
    mem_free(offsets);
    if (rc != ERR_OK) {
        mem_free(ends);
        return rc;
    }
    *out_ends = ends;
    *out_count = count;
    return ERR_OK;
}
