/* The API backend (struct api_backend) over the node's ledger and mempool. Runs on the loop
 * thread, like every API call. */
#include <jansson.h>
#include <string.h>

#include "api/api.h"
#include "base/assert.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/text.h"
#include "codec/consensus_types.h"
#include "codec/notary_args.h"
#include "codec/notary_bundle.h"
#include "codec/state_proof.h"
#include "codec/tx.h"
#include "codec/validator_set.h"
#include "crypto/merkle.h"
#include "crypto/verify_cache.h"
#include "ledger/account.h"
#include "ledger/genesis.h"
#include "ledger/ledger.h"
#include "ledger/receipt.h"
#include "mempool/mempool.h"
#include "node/node_internal.h"
#include "node/tx_gossip.h"
#include "p2p/p2p.h"
#include "store/block_store.h"
#include "store/state_store.h"

#define NODE_SUBMIT_CHUNK 256 /* txs per mempool_admit call */

static json_t *
hash_json(const struct hash *h)
{
    char hex[2 * HASH_SIZE + 1];
    hex_encode(h->bytes, HASH_SIZE, hex);
    return json_string(hex);
}

static json_t *
bytes_json(const uint8_t *data, size_t size)
{
    char *hex = mem_alloc(2 * size + 1);
    hex_encode(data, size, hex);
    json_t *v = json_string(hex);
    mem_free(hex);
    return v;
}

static enum err
backend_status(void *ctx, struct api_status *out)
{
    struct node *n = ctx;
    struct api_status s;
    memset(&s, 0, sizeof s);
    snprintf(s.chain_id, sizeof s.chain_id, "%s", n->genesis.chain_name);
    s.genesis_hash = *ledger_chain_id(n->ledger);
    s.hash_alg = ledger_hash_alg(n->ledger);
    snprintf(s.node_name, sizeof s.node_name, "%s", n->config.name);
    s.final_height = ledger_committed_height(n->ledger);
    struct block_store_info info;
    enum err rc = block_store_info(n->blocks, NULL, s.final_height, &info);
    if (rc != ERR_OK) {
        log_warn(LOG_NODE, "status: no index entry for the final block height=%llu error=%s",
                 (unsigned long long)s.final_height, err_str(rc));
        return ERR_AGAIN;
    }
    s.final_id = info.id;
    s.epoch = n->validators->epoch;
    s.round = node_consensus_round(n);
    s.is_validator = n->is_validator;
    s.peers_connected = n->p2p != NULL ? (uint32_t)p2p_connected_count(n->p2p) : 0;
    struct mempool_stats ms;
    mempool_get_stats(n->mempool, &ms);
    s.mempool_txs = (uint32_t)ms.txs;
    s.mempool_bytes = ms.bytes;
    s.mempool_admitted = ms.admitted;
    s.mempool_rejected = ms.rejected;
    s.sync_state = API_SYNC_SYNCED;
    s.sync_target_height = s.final_height;
    struct verify_cache_stats vs;
    verify_cache_get_stats(n->verify_cache, &vs);
    s.sigs_checked = vs.lookups - vs.hits;
    s.sigs_cache_hits = vs.hits;
    if (n->gossip != NULL) {
        struct tx_gossip_stats gs;
        tx_gossip_get_stats(n->gossip, &gs);
        s.gossip_frames = gs.frames;
        s.gossip_txs = gs.txs;
    }
    s.state_version = state_store_version_published(n->state);
    s.state_oldest = state_store_version_min_published(n->state);
    s.state_retain = n->config.state_retain_versions;
    *out = s;
    return ERR_OK;
}

/* Height 0 is the genesis: its "block" is the genesis encoding and its id the chain id. */
/* The consensus header fields of a committed block (consensus codec), its transaction hashes
 * and, with_txs, the transactions (hex) and the block's canonical bytes; nothing if the bytes
 * do not decode as a block. */
static void
block_body_json(json_t *o, enum hash_alg alg, const uint8_t *data, size_t size, bool with_txs)
{
    struct block *blk = mem_alloc(sizeof *blk);
    if (block_decode(data, size, blk) == ERR_OK) {
        const struct block_header *h = &blk->header;
        size_t count = blk->payload.kind == PAYLOAD_INLINE ? blk->payload.tx_count : 0;
        json_object_set_new(o, "epoch", json_integer((json_int_t)h->epoch));
        json_object_set_new(o, "round", json_integer((json_int_t)h->round));
        json_object_set_new(o, "parent_id", hash_json(&h->parent_id));
        json_object_set_new(o, "author", json_integer(h->author));
        json_object_set_new(o, "timestamp_us", json_integer((json_int_t)h->timestamp_us));
        json_object_set_new(o, "payload_root", hash_json(&h->payload_root));
        json_object_set_new(o, "parent_exec_root", hash_json(&h->parent_exec_root));
        json_object_set_new(o, "tx_count", json_integer((json_int_t)count));
        json_t *hashes = json_array();
        json_t *txs = with_txs ? json_array() : NULL;
        size_t pos = 0;
        const uint8_t *wire = NULL;
        size_t wire_size = 0;
        while (payload_next_tx(&blk->payload, &pos, &wire, &wire_size) == ERR_OK) {
            struct hash th;
            tx_hash(alg, wire, wire_size, &th);
            json_array_append_new(hashes, hash_json(&th));
            if (txs != NULL) {
                json_array_append_new(txs, bytes_json(wire, wire_size));
            }
        }
        json_object_set_new(o, "tx_hashes", hashes);
        if (txs != NULL) {
            json_object_set_new(o, "txs", txs);
            json_object_set_new(o, "block", bytes_json(data, size));
        }
    }
    mem_free(blk);
}

/* The finality proof of a committed block: the commit cert's block and signers. */
static void
commit_cert_json(json_t *o, const uint8_t *data, size_t size)
{
    struct finality_proof *p = mem_alloc(sizeof *p);
    if (finality_proof_decode(data, size, p) == ERR_OK && p->cert.ledger_info.has_commit) {
        json_t *c = json_object();
        const struct block_info *ci = &p->cert.ledger_info.commit_info;
        json_object_set_new(c, "commits_height", json_integer((json_int_t)ci->height));
        json_object_set_new(c, "commits_id", hash_json(&ci->id));
        json_object_set_new(c, "round", json_integer((json_int_t)p->cert.vote_data.proposed.round));
        json_object_set_new(c, "signers", json_integer(p->cert.sig_count));
        json_object_set_new(c, "headers", json_integer(p->header_count));
        json_object_set_new(o, "finality", c);
    }
    mem_free(p);
}

static json_t *
genesis_block_json(const struct node *n)
{
    struct hash zero;
    memset(&zero, 0, sizeof zero);
    json_t *b = json_object();
    json_object_set_new(b, "height", json_integer(0));
    json_object_set_new(b, "id", hash_json(ledger_chain_id(n->ledger)));
    json_object_set_new(b, "epoch", json_integer(GENESIS_EPOCH));
    json_object_set_new(b, "round", json_integer(0));
    json_object_set_new(b, "parent_id", hash_json(&zero));
    json_object_set_new(b, "timestamp_ms",
                        json_integer((json_int_t)(n->genesis.timestamp_us / 1000)));
    json_object_set_new(b, "genesis", json_true());
    json_object_set_new(b, "chain_name", json_string(n->genesis.chain_name));
    json_object_set_new(b, "tx_hashes", json_array());
    json_object_set_new(b, "commit_cert", json_null());
    return b;
}

static enum err
backend_block_get(void *ctx, const struct api_block_query *query, json_t **out_block)
{
    struct node *n = ctx;
    uint64_t height = query->height;
    enum err rc = ERR_OK;
    if (query->by_id) {
        rc = block_store_height_of(n->blocks, NULL, &query->id, &height);
        if (rc != ERR_OK) {
            return rc == ERR_NOT_FOUND ? ERR_NOT_FOUND : rc;
        }
    }
    if (height > ledger_committed_height(n->ledger)) {
        return ERR_NOT_FOUND;
    }
    if (height == 0) {
        *out_block = genesis_block_json(n);
        return ERR_OK;
    }
    struct block_store_info info;
    rc = block_store_info(n->blocks, NULL, height, &info);
    if (rc != ERR_OK) {
        return rc;
    }
    struct buf block;
    struct buf cert;
    buf_init(&block, BLOCK_STORE_PAYLOAD_SIZE_MAX);
    buf_init(&cert, BLOCK_STORE_PAYLOAD_SIZE_MAX);
    rc = ledger_read_block(n->ledger, height, &block, &cert);
    if (rc == ERR_OK) {
        json_t *b = json_object();
        json_object_set_new(b, "height", json_integer((json_int_t)height));
        json_object_set_new(b, "id", hash_json(&info.id));
        block_body_json(b, ledger_hash_alg(n->ledger), block.data, block.size, query->with_txs);
        commit_cert_json(b, cert.data, cert.size);
        json_object_set_new(b, "commit_cert", bytes_json(cert.data, cert.size));
        *out_block = b;
    }
    buf_release(&block);
    buf_release(&cert);
    return rc;
}

static void
backend_txs_submit(void *ctx, const struct api_tx_in *txs, size_t count,
                   struct api_tx_result *out_results)
{
    struct node *n = ctx;
    struct mempool_raw raw[NODE_SUBMIT_CHUNK];
    struct mempool_result results[NODE_SUBMIT_CHUNK];
    for (size_t done = 0; done < count;) {
        size_t take = count - done;
        if (take > NODE_SUBMIT_CHUNK) {
            take = NODE_SUBMIT_CHUNK;
        }
        for (size_t i = 0; i < take; i++) {
            raw[i].data = txs[done + i].bytes;
            raw[i].size = txs[done + i].size;
        }
        mempool_admit(n->mempool, raw, take, results);
        for (size_t i = 0; i < take; i++) {
            out_results[done + i].rc = results[i].rc;
            out_results[done + i].has_hash = results[i].has_hash;
            out_results[done + i].hash = results[i].hash;
        }
        done += take;
    }
}

json_t *
node_receipt_json(const uint8_t *data, size_t size)
{
    struct receipt r;
    if (receipt_decode(data, size, &r) != ERR_OK) {
        return NULL;
    }
    json_t *v = json_object();
    json_object_set_new(v, "status", json_integer(r.status));
    json_object_set_new(v, "message", json_stringn(r.message, r.message_size));
    json_object_set_new(v, "resource_used", json_integer((json_int_t)r.resource_used));
    json_object_set_new(v, "events", json_integer((json_int_t)r.event_count));
    return v;
}

static enum err
backend_tx_get(void *ctx, const struct hash *hash, struct api_tx_status *out)
{
    struct node *n = ctx;
    struct api_tx_status s;
    memset(&s, 0, sizeof s);
    if (mempool_contains(n->mempool, hash)) {
        s.state = API_TX_PENDING;
        *out = s;
        return ERR_OK;
    }
    uint64_t height = 0;
    uint32_t index = 0;
    enum err rc = ledger_find_tx(n->ledger, hash, &height, &index);
    if (rc == ERR_NOT_FOUND) {
        s.state = API_TX_UNKNOWN;
        *out = s;
        return ERR_OK;
    }
    if (rc != ERR_OK) {
        return rc;
    }
    struct block_store_info info;
    rc = block_store_info(n->blocks, NULL, height, &info);
    if (rc != ERR_OK) {
        return rc;
    }
    struct buf receipt;
    buf_init(&receipt, RECEIPT_SIZE_MAX);
    rc = ledger_get_receipt(n->ledger, height, index, &receipt);
    if (rc == ERR_OK) {
        s.state = API_TX_FINAL;
        s.height = height;
        s.block_id = info.id;
        s.index = index;
        s.receipt = node_receipt_json(receipt.data, receipt.size);
        *out = s;
    }
    buf_release(&receipt);
    return rc;
}

static enum err
backend_tx_wait(void *ctx, const struct hash *hash, api_tx_final_fn *cb, void *cb_ctx)
{
    struct node *n = ctx;
    if (n->waiters == NULL) {
        n->waiters = mem_calloc(NODE_WAITERS_MAX, sizeof *n->waiters);
    }
    for (size_t i = 0; i < NODE_WAITERS_MAX; i++) {
        struct node_waiter *w = &n->waiters[i];
        if (!w->used) {
            w->used = true;
            w->hash = *hash;
            w->cb = cb;
            w->cb_ctx = cb_ctx;
            return ERR_OK;
        }
    }
    return ERR_FULL;
}

static void
backend_tx_wait_cancel(void *ctx, const struct hash *hash, const void *cb_ctx)
{
    struct node *n = ctx;
    if (n->waiters == NULL) {
        return;
    }
    for (size_t i = 0; i < NODE_WAITERS_MAX; i++) {
        struct node_waiter *w = &n->waiters[i];
        if (w->used && w->cb_ctx == cb_ctx && memcmp(&w->hash, hash, sizeof *hash) == 0) {
            w->used = false;
            return;
        }
    }
}

void
node_waiters_notify(struct node *n, const struct hash *hash, const struct api_tx_status *status)
{
    ASSERT(n != NULL);
    if (n->waiters == NULL) {
        return;
    }
    for (size_t i = 0; i < NODE_WAITERS_MAX; i++) {
        struct node_waiter *w = &n->waiters[i];
        if (w->used && memcmp(&w->hash, hash, sizeof *hash) == 0) {
            w->used = false; /* before the call: the callback may register again */
            w->cb(w->cb_ctx, status);
        }
    }
}

void
node_waiters_release(struct node *n)
{
    mem_free(n->waiters);
    n->waiters = NULL;
}

static json_t *
hash_array_json(const struct hash *hashes, size_t count)
{
    json_t *a = json_array();
    for (size_t i = 0; i < count; i++) {
        json_array_append_new(a, hash_json(&hashes[i]));
    }
    return a;
}

/* The Merkle path of tx `index` in the block at `height` against its header's payload_root. */
static enum err
backend_tx_inclusion(void *ctx, uint64_t height, uint32_t index, json_t **out_proof)
{
    struct node *n = ctx;
    enum hash_alg alg = ledger_hash_alg(n->ledger);
    struct buf block;
    struct buf cert;
    struct buf header;
    buf_init(&block, BLOCK_STORE_PAYLOAD_SIZE_MAX);
    buf_init(&cert, BLOCK_STORE_PAYLOAD_SIZE_MAX);
    buf_init(&header, BLOCK_STORE_PAYLOAD_SIZE_MAX);
    struct block *blk = mem_alloc(sizeof *blk);
    struct merkle_proof *proof = mem_alloc(sizeof *proof);
    struct hash *leaves = NULL;
    enum err rc = ledger_read_block(n->ledger, height, &block, &cert);
    if (rc == ERR_OK) {
        rc = block_decode(block.data, block.size, blk);
    }
    if (rc == ERR_OK && (blk->payload.kind != PAYLOAD_INLINE || index >= blk->payload.tx_count)) {
        rc = ERR_NOT_FOUND;
    }
    if (rc == ERR_OK) {
        leaves = mem_calloc(blk->payload.tx_count, sizeof *leaves);
        size_t pos = 0;
        const uint8_t *tx = NULL;
        size_t tx_size = 0;
        for (uint32_t i = 0; i < blk->payload.tx_count && rc == ERR_OK; i++) {
            rc = payload_next_tx(&blk->payload, &pos, &tx, &tx_size);
            if (rc == ERR_OK) {
                hash_bytes(alg, tx, tx_size, &leaves[i]);
            }
        }
    }
    if (rc == ERR_OK) {
        rc = merkle_prove(alg, leaves, blk->payload.tx_count, index, proof);
    }
    if (rc == ERR_OK) {
        rc = block_header_encode(&header, &blk->header);
    }
    if (rc == ERR_OK) {
        json_t *o = json_object();
        json_object_set_new(o, "header", bytes_json(header.data, header.size));
        json_object_set_new(o, "payload_root", hash_json(&blk->header.payload_root));
        json_object_set_new(o, "tx_count", json_integer((json_int_t)blk->header.tx_count));
        json_object_set_new(o, "leaf", hash_json(&leaves[index]));
        json_object_set_new(o, "index", json_integer((json_int_t)proof->index));
        json_object_set_new(o, "tree_size", json_integer((json_int_t)proof->tree_size));
        json_object_set_new(o, "path", hash_array_json(proof->path, proof->path_count));
        *out_proof = o;
    }
    mem_free(leaves);
    mem_free(proof);
    mem_free(blk);
    buf_release(&block);
    buf_release(&cert);
    buf_release(&header);
    return rc;
}

static json_t *
public_key_json(const struct public_key *k)
{
    return json_pack("{s:s,s:o}", "algorithm", sig_alg_name((enum sig_alg)k->alg), "public_key",
                     bytes_json(k->bytes, k->size));
}

static enum err
backend_account_get(void *ctx, const uint8_t *address, json_t **out_account)
{
    struct node *n = ctx;
    struct address addr;
    memcpy(addr.bytes, address, ADDRESS_SIZE);
    struct account *acct = mem_alloc(sizeof *acct);
    struct ledger_state_proof *sp = mem_alloc(sizeof *sp);
    struct buf value;
    struct buf proof;
    buf_init(&value, STATE_PROOF_SIZE_MAX);
    buf_init(&proof, STATE_PROOF_SIZE_MAX);
    struct buf block;
    struct buf cert;
    buf_init(&block, BLOCK_STORE_PAYLOAD_SIZE_MAX);
    buf_init(&cert, BLOCK_STORE_PAYLOAD_SIZE_MAX);
    enum err rc = ledger_prove(n->ledger, ACCOUNT_MODULE, addr.bytes, ADDRESS_SIZE, &value, sp);
    if (rc == ERR_OK && !sp->found) {
        rc = ERR_NOT_FOUND;
    }
    if (rc == ERR_OK && sp->height > 0) {
        rc = ledger_read_block(n->ledger, sp->height, &block, &cert);
    }
    if (rc == ERR_OK) {
        rc = account_decode(value.data, value.size, &addr, acct);
    }
    if (rc == ERR_OK) {
        rc = state_proof_encode(&proof, &sp->proof);
    }
    if (rc == ERR_OK) {
        json_t *keys = json_array();
        for (size_t i = 0; i < acct->key_count; i++) {
            json_array_append_new(keys, public_key_json(&acct->keys[i]));
        }
        json_t *o = json_object();
        json_object_set_new(o, "address", bytes_json(addr.bytes, ADDRESS_SIZE));
        json_object_set_new(o, "nonce", json_integer((json_int_t)acct->nonce));
        json_object_set_new(o, "institution", json_integer(acct->institution));
        json_object_set_new(o, "admin", json_boolean(acct->admin));
        json_object_set_new(o, "keys", keys);
        json_t *p = json_object();
        json_object_set_new(p, "height", json_integer((json_int_t)sp->height));
        json_object_set_new(p, "root", hash_json(&sp->root));
        json_object_set_new(p, "root_is",
                            json_string("the state root after the block at height: the "
                                        "exec_root of the commit_info of the latest commit "
                                        "cert (finality_proof, stored with that block)"));
        json_object_set_new(p, "finality_proof", bytes_json(cert.data, cert.size));
        json_object_set_new(p, "key", json_string(ACCOUNT_MODULE "/<address>"));
        json_object_set_new(p, "value", bytes_json(value.data, value.size));
        json_object_set_new(p, "state_proof", bytes_json(proof.data, proof.size));
        json_object_set_new(o, "proof", p);
        *out_account = o;
    }
    buf_release(&value);
    buf_release(&proof);
    buf_release(&block);
    buf_release(&cert);
    mem_free(sp);
    mem_free(acct);
    return rc;
}

static enum err
backend_validators_get(void *ctx, bool has_epoch, uint64_t epoch, json_t **out_set)
{
    struct node *n = ctx;
    struct validator_set *vs = mem_alloc(sizeof *vs);
    enum err rc = ledger_validator_set(n->ledger, NULL, vs);
    if (rc == ERR_OK && has_epoch && epoch != vs->epoch) {
        uint64_t ending_height = 0;
        rc = epoch < vs->epoch ? node_epochs_get(n, epoch, &ending_height, vs) : ERR_NOT_FOUND;
    }
    if (rc == ERR_OK) {
        json_t *nodes = json_array();
        for (size_t i = 0; i < vs->count; i++) {
            const struct vs_node *v = &vs->nodes[i];
            json_array_append_new(
                nodes,
                json_pack("{s:I,s:o,s:o,s:I}", "institution", (json_int_t)v->institution,
                          "consensus_key", public_key_json(&v->consensus_key), "transport_key",
                          public_key_json(&v->transport_key), "power", (json_int_t)v->power));
        }
        *out_set = json_pack("{s:I,s:I,s:o}", "epoch", (json_int_t)vs->epoch, "total_power",
                             (json_int_t)validator_set_power(vs), "validators", nodes);
    }
    mem_free(vs);
    return rc;
}

/* The epoch changes from genesis up to the epoch of the finality proof `finality` (the cert
 * ending each epoch and the next set, codec/notary_bundle.h step 2), their bytes in `store`. */
static enum err
bundle_epochs(struct node *n, const struct buf *finality, struct notary_bundle *bundle,
              struct buf *store)
{
    struct finality_proof *p = mem_alloc(sizeof *p);
    enum err rc = finality_proof_decode(finality->data, finality->size, p);
    uint64_t last = rc == ERR_OK ? p->cert.ledger_info.commit_info.epoch : 0;
    mem_free(p);
    if (rc == ERR_OK && (last < GENESIS_EPOCH || last - GENESIS_EPOCH > NOTARY_BUNDLE_EPOCHS_MAX)) {
        rc = ERR_LIMIT;
    }
    size_t offsets[2 * NOTARY_BUNDLE_EPOCHS_MAX + 1];
    struct validator_set *vs = mem_alloc(sizeof *vs);
    size_t count = 0;
    for (uint64_t e = GENESIS_EPOCH; rc == ERR_OK && e < last; e++) {
        uint64_t ending_height = 0;
        offsets[2 * count] = store->size;
        rc = node_epochs_cert(n, e, store);
        if (rc == ERR_OK) {
            rc = node_epochs_get(n, e + 1, &ending_height, vs);
        }
        if (rc == ERR_OK) {
            offsets[2 * count + 1] = store->size;
            rc = validator_set_encode(vs, store);
        }
        count++;
    }
    mem_free(vs);
    if (rc != ERR_OK) {
        return rc;
    }
    offsets[2 * count] = store->size;
    for (size_t i = 0; i < count; i++) { /* store is complete: its bytes no longer move */
        struct notary_bundle_epoch *ep = &bundle->epochs[i];
        ep->commit_cert = store->data + offsets[2 * i];
        ep->commit_cert_size = offsets[2 * i + 1] - offsets[2 * i];
        ep->validator_set = store->data + offsets[2 * i + 1];
        ep->validator_set_size = offsets[2 * i + 2] - offsets[2 * i + 1];
    }
    bundle->epoch_count = count;
    return ERR_OK;
}

/* The proof of a document's records at the committed state, from which each anchor's bundle
 * (codec/notary_bundle.h) is encoded: the records' state proof, the finality proof stored
 * with the block whose state it proves and, after validator-set changes, the epoch change
 * proof from genesis. bundle->account is left to the caller. */
struct notary_proof {
    struct notary_bundle *bundle;
    struct ledger_state_proof *sp;
    struct buf value; /* the records */
    struct buf block;
    struct buf cert;
    struct buf epochs;
};

static void
notary_proof_release(struct notary_proof *p)
{
    buf_release(&p->value);
    buf_release(&p->block);
    buf_release(&p->cert);
    buf_release(&p->epochs);
    mem_free(p->sp);
    mem_free(p->bundle);
}

/* ERR_NOT_FOUND if no account anchored document. Release p whatever the result. */
static enum err
notary_proof_build(struct node *n, const struct hash *document, struct notary_proof *p)
{
    uint8_t key[NOTARY_DOCUMENT_KEY_SIZE];
    notary_document_key(document, key);
    p->bundle = mem_calloc(1, sizeof *p->bundle);
    p->sp = mem_alloc(sizeof *p->sp);
    buf_init(&p->value, NOTARY_RECORDS_SIZE_MAX);
    buf_init(&p->block, BLOCK_STORE_PAYLOAD_SIZE_MAX);
    buf_init(&p->cert, BLOCK_STORE_PAYLOAD_SIZE_MAX);
    buf_init(&p->epochs, NOTARY_BUNDLE_SIZE_MAX);
    enum err rc = ledger_prove(n->ledger, NOTARY_MODULE, key, sizeof key, &p->value, p->sp);
    if (rc == ERR_OK && !p->sp->found) {
        rc = ERR_NOT_FOUND;
    }
    if (rc == ERR_OK) {
        rc = ledger_read_block(n->ledger, p->sp->height, &p->block, &p->cert);
    }
    if (rc == ERR_OK) {
        rc = bundle_epochs(n, &p->cert, p->bundle, &p->epochs);
    }
    if (rc == ERR_OK) {
        struct notary_bundle *b = p->bundle;
        b->chain_id = *ledger_chain_id(n->ledger);
        b->document = *document;
        b->records = p->value.data;
        b->records_size = p->value.size;
        b->proof = p->sp->proof;
        b->state_height = p->sp->height;
        b->finality = p->cert.data;
        b->finality_size = p->cert.size;
    }
    return rc;
}

static json_t *
notary_record_json(const struct notary_record *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "account", bytes_json(r->account.bytes, ADDRESS_SIZE));
    json_object_set_new(o, "institution", json_integer(r->institution));
    json_object_set_new(o, "height", json_integer((json_int_t)r->height));
    json_object_set_new(o, "timestamp_us", json_integer((json_int_t)r->timestamp_us));
    json_object_set_new(o, "kind", json_stringn(r->kind, r->kind_size));
    json_object_set_new(o, "note", json_stringn(r->note, r->note_size));
    json_object_set_new(o, "tx_hash", hash_json(&r->tx_hash));
    return o;
}

/* Every anchor of document with its bundle, all from one proved state (the records in the
 * answer are the proved value's). */
static enum err
backend_notary_get(void *ctx, const struct hash *document, json_t **out_anchors)
{
    struct node *n = ctx;
    struct notary_proof p;
    struct notary_record *records = mem_alloc(NOTARY_ANCHORS_PER_HASH_MAX * sizeof *records);
    size_t count = 0;
    struct buf bundle;
    buf_init(&bundle, NOTARY_BUNDLE_SIZE_MAX);
    enum err rc = notary_proof_build(n, document, &p);
    if (rc == ERR_OK) {
        rc = notary_records_decode(p.value.data, p.value.size, records, &count);
    }
    json_t *list = json_array();
    for (size_t i = 0; rc == ERR_OK && i < count; i++) {
        buf_reset(&bundle);
        p.bundle->account = records[i].account;
        rc = notary_bundle_encode(p.bundle, &bundle);
        if (rc == ERR_OK) {
            json_t *o = notary_record_json(&records[i]);
            json_object_set_new(o, "bundle", bytes_json(bundle.data, bundle.size));
            json_array_append_new(list, o);
        }
    }
    if (rc == ERR_OK) {
        *out_anchors = json_pack("{s:o,s:o}", "document", hash_json(document), "anchors", list);
    } else {
        json_decref(list);
    }
    notary_proof_release(&p);
    buf_release(&bundle);
    mem_free(records);
    return rc;
}

void
node_backend_fill(struct node *n, struct api_backend *out)
{
    ASSERT(n != NULL);
    ASSERT(out != NULL);
    out->ctx = n;
    out->status = backend_status;
    out->block_get = backend_block_get;
    out->txs_submit = backend_txs_submit;
    out->tx_get = backend_tx_get;
    out->tx_wait = backend_tx_wait;
    out->tx_wait_cancel = backend_tx_wait_cancel;
    out->tx_inclusion = backend_tx_inclusion;
    out->account_get = backend_account_get;
    out->validators_get = backend_validators_get;
    out->notary_get = backend_notary_get;
}
