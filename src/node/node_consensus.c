/* The node's consensus_env (consensus/consensus.h) over the ledger, mempool, p2p, safety file
 * and the node's LMDB environment, and the routing of FRAME_CONSENSUS frames to the core.
 *
 * Durable consensus data. Written by the loop, in the node's consensus db (n->cons_db, an
 * LMDB environment of its own: its writes never wait for the ledger thread's commit txn):
 *   cons_blocks: u64 BE height || block id -> block bytes (persist_block; replayed at start;
 *                the blocks below the highest height whose commit finished are deleted in
 *                the next persist_block's txn)
 *   cons_tc:     "tc" -> the highest TC (persist_tc: one LMDB txn with fsync, so the old
 *                or the new one, never a torn one; handed back at start).
 * Written by the ledger thread's commit jobs, in the node's db beside the ledger's tables:
 *   cons_meta:   "info" || u64 BE height -> block_info of the committed block at that height
 *                (written in the ledger's commit txn, so every height the ledger holds has
 *                one); "root" -> block_info || cert bytes (the newest committed block named by
 *                its own commit cert; same txn); "epoch" -> the epoch root.
 * A root older than the ledger's block (a block whose commit cert named an ancestor, or a
 * crash before a replayed block's root update) is fine: at start the core re-executes the
 * durable blocks above it, and blocks at heights the ledger already holds are answered from
 * "info" (same id, same roots) and not committed twice.
 *
 * Execution and commits run on the node's ledger thread (node/ledger_thread.h), so the loop
 * keeps serving p2p, the API and the core meanwhile:
 *   - env->execute checks a block's tx signatures on the loop with mempool_verify_txs (pending
 *     txs and cached signatures cost nothing), copies its txs into an EXEC job and answers
 *     ERR_AGAIN; the job runs ledger_execute_block on the parent's result (the ledger thread
 *     keeps its own map block id -> result) and the loop hands the roots to the core with
 *     consensus_on_executed. The loop's map keeps id -> result for env callbacks that read
 *     outcomes (immutable once executed) until the block is committed or falls below the
 *     committed height; then a FREE job frees the results on the ledger thread.
 *   - env->commit queues a COMMIT job in order (the loop's committed height/id move at once:
 *     FIFO makes later EXEC jobs on "the committed state" see it): the job writes "info",
 *     commits the ledger, writes "root"/"epoch" and prunes durable blocks; when it is done the
 *     loop updates the mempool, waiters, validator set and admission. Until then committed
 *     blocks are answered from the job (env_load_committed_*).
 *   - block sync applies one block at a time through a SYNC job (execute on the committed
 *     state, compare the certified roots, commit), answering sync_block_applied.
 * Reconfiguration suffix blocks are never executed (the core copies the epoch-ending block's
 * results). */
#include <event2/event.h>
#include <jansson.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/reader.h"
#include "codec/codec.h"
#include "codec/consensus_types.h"
#include "consensus/consensus.h"
#include "crypto/verify_cache.h"
#include "crypto/verify_pool.h"
#include "ledger/ledger.h"
#include "mempool/mempool.h"
#include "node/ledger_thread.h"
#include "node/node_internal.h"
#include "node/safety_file.h"
#include "node/sync.h"
#include "p2p/frame.h"
#include "p2p/p2p.h"
#include "store/block_store.h"
#include "store/db.h"

#define EXEC_MAP_MAX         1024
#define META_KEY_INFO        "info"
#define META_KEY_ROOT        "root"
#define META_KEY_EPOCH       "epoch"
#define META_KEY_TC          "tc"
#define BLOCK_INFO_MAX       512
#define START_BLOCKS_MAX     1024
#define START_EPOCH_ENDS_MAX 64 /* the core keeps the newest 64 (cons_start.epoch_ends) */
#define NODE_TIMER_KINDS     4

struct exec_entry {
    bool used;
    bool pending; /* its EXEC job is queued or running */
    struct hash id;
    uint64_t height;
    struct ledger_result *result; /* NULL while pending; freed by a FREE job */
};

/* The ledger thread's map of executed blocks (touched on that thread only). */
struct worker_entry {
    struct hash id;
    struct ledger_result *result;
};

struct node_cons;

enum job_kind { JOB_EXEC, JOB_COMMIT, JOB_SYNC, JOB_FREE };

struct result_ref {
    struct ledger_result *result;
};

/* One ledger-thread job (node/ledger_thread.h); inputs are copies. */
struct cons_job {
    struct lt_job lt;
    enum job_kind kind;
    struct node_cons *nc;
    struct hash id;
    /* EXEC, SYNC: the txs (pointing into tx_bytes or block) and where to execute them */
    bool on_committed; /* parent is the committed block (else parent_id's result) */
    struct hash parent_id;
    struct ledger_block_in in;
    struct ledger_tx_in *txs;
    struct hash *tx_hashes; /* the txs' hashes, computed by the mempool's check */
    uint8_t *tx_bytes;
    struct hash want_exec; /* SYNC: the certified roots */
    struct hash want_receipts;
    /* COMMIT, SYNC: what is written */
    bool fresh; /* a block the ledger does not hold yet */
    bool ends_epoch;
    struct block_info info;
    uint8_t *block;
    size_t block_size;
    uint8_t *proof;
    size_t proof_size;
    /* FREE */
    struct result_ref *frees;
    size_t free_count;
    uint64_t check_ns; /* EXEC: time of the loop's signature check (job_take_txs) */
    /* out */
    enum err rc;
    struct ledger_result *result;
    struct cons_job *inflight_next; /* COMMIT, SYNC: the loop's list of unfinished commits */
};

struct timer_ctx {
    struct node_cons *nc;
    size_t kind;
};

struct node_cons {
    struct node *n;
    struct timer_ctx timer_ctx[NODE_TIMER_KINDS];
    struct consensus *core;
    struct db_table blocks_table; /* in n->cons_db */
    struct db_table tc_table;     /* in n->cons_db */
    struct db_table meta_table;
    struct event *timers[NODE_TIMER_KINDS];
    uint64_t tokens[NODE_TIMER_KINDS];
    struct event *txs_event;
    struct exec_entry exec[EXEC_MAP_MAX];
    /* The committed block as the loop sees it: the last one handed to a COMMIT/SYNC job. */
    bool committed_known;
    uint64_t committed_height;
    struct hash committed_id;
    struct cons_job *inflight; /* COMMIT/SYNC jobs not done, oldest first */
    uint64_t durable_height;   /* the highest height whose COMMIT job finished (0: none yet) */
    struct ledger_thread *lt;
    bool closing;
    struct worker_entry wmap[EXEC_MAP_MAX]; /* the ledger thread's */
    bool halted;
};

/* ---- durable tables ---- */

static void
info_key(uint64_t height, uint8_t key[4 + 8])
{
    key[0] = 'i';
    key[1] = 'n';
    key[2] = 'f';
    key[3] = 'o';
    for (int i = 0; i < 8; i++) {
        key[4 + i] = (uint8_t)(height >> (56 - 8 * i));
    }
}

/* Runs fn(ctx, txn) in a write txn of its own on db and commits it (an error aborts). */
static enum err
in_txn(struct db *db, enum err (*fn)(void *ctx, struct db_txn *txn), void *ctx)
{
    struct db_txn *txn = NULL;
    enum err rc = db_txn_begin(db, true, &txn);
    if (rc != ERR_OK) {
        return rc;
    }
    rc = fn(ctx, txn);
    if (rc != ERR_OK) {
        db_txn_abort(txn);
        return rc;
    }
    return db_txn_commit(txn);
}

struct meta_write {
    struct db_table table;
    const void *key;
    size_t key_size;
    const uint8_t *v;
    size_t v_size;
};

static enum err
meta_write_in(void *ctx, struct db_txn *txn)
{
    const struct meta_write *w = ctx;
    return db_put(txn, w->table, db_val_of(w->key, w->key_size), db_val_of(w->v, w->v_size));
}

static enum err
meta_put_txn(struct node_cons *nc, struct db_txn *txn, const void *key, size_t key_size,
             const uint8_t *v, size_t v_size)
{
    struct meta_write w = { nc->meta_table, key, key_size, v, v_size };
    return txn != NULL ? meta_write_in(&w, txn) : in_txn(nc->n->db, meta_write_in, &w);
}

/* The value under key in table of db, appended to out. */
static enum err
table_get(struct db *db, struct db_table table, const void *key, size_t key_size, struct buf *out)
{
    struct db_txn *txn = NULL;
    enum err rc = db_txn_begin(db, false, &txn);
    if (rc != ERR_OK) {
        return rc;
    }
    struct db_val v;
    rc = db_get(txn, table, db_val_of(key, key_size), &v);
    if (rc == ERR_OK) {
        rc = buf_append(out, v.data, v.size);
    }
    db_txn_abort(txn);
    return rc;
}

/* Writes a block_info (and cert) under key, in txn (NULL: a txn of its own). */
static enum err
info_put_txn(struct node_cons *nc, struct db_txn *txn, const void *key, size_t key_size,
             const struct block_info *bi, struct byte_span cert)
{
    struct buf b;
    buf_init(&b, BLOCK_INFO_MAX + cert.size);
    enum err rc = block_info_encode(&b, bi);
    if (rc == ERR_OK && cert.size > 0) {
        rc = buf_append(&b, cert.data, cert.size);
    }
    if (rc == ERR_OK) {
        rc = meta_put_txn(nc, txn, key, key_size, b.data, b.size);
    }
    buf_release(&b);
    return rc;
}

static enum err
info_put(struct node_cons *nc, const void *key, size_t key_size, const struct block_info *bi,
         const uint8_t *cert, size_t cert_size)
{
    return info_put_txn(nc, NULL, key, key_size, bi, (struct byte_span){ cert, cert_size });
}

/* Reads a block_info (and the bytes after it, if out_rest) stored under key. */
static enum err
info_get(struct node_cons *nc, const void *key, size_t key_size, struct block_info *out,
         struct buf *out_rest)
{
    struct buf b;
    buf_init(&b, CONS_MSG_SIZE_MAX);
    enum err rc = table_get(nc->n->db, nc->meta_table, key, key_size, &b);
    if (rc == ERR_OK) {
        struct reader r;
        reader_init(&r, b.data, b.size);
        rc = block_info_read(&r, out);
        if (rc == ERR_OK && out_rest != NULL) {
            rc = buf_append(out_rest, b.data + r.pos, b.size - r.pos);
        }
    }
    buf_release(&b);
    return rc;
}

static enum err
info_at(struct node_cons *nc, uint64_t height, struct block_info *out)
{
    uint8_t key[12];
    info_key(height, key);
    return info_get(nc, key, sizeof key, out, NULL);
}

/* ---- execution map (loop) and the ledger thread's map ---- */

static struct exec_entry *
exec_find(struct node_cons *nc, const struct hash *id)
{
    for (size_t i = 0; i < EXEC_MAP_MAX; i++) {
        if (nc->exec[i].used && hash_equal(&nc->exec[i].id, id)) {
            return &nc->exec[i];
        }
    }
    return NULL;
}

/* The result of an executed (not pending) block, or NULL. */
static const struct ledger_result *
exec_result(struct node_cons *nc, const struct hash *id)
{
    const struct exec_entry *e = exec_find(nc, id);
    return e != NULL && !e->pending ? e->result : NULL;
}

static struct exec_entry *
exec_slot(struct node_cons *nc)
{
    for (size_t i = 0; i < EXEC_MAP_MAX; i++) {
        if (!nc->exec[i].used) {
            return &nc->exec[i];
        }
    }
    return NULL;
}

static void
result_of(const struct ledger_result *r, struct exec_result *out)
{
    const struct ledger_outcome *o = ledger_result_outcome(r);
    memset(out, 0, sizeof *out);
    out->exec_root = o->exec_root;
    out->receipts_root = o->receipts_root;
    out->next_epoch_vs_hash = o->next_epoch_vs_hash;
}

static struct worker_entry *
worker_find(struct node_cons *nc, const struct hash *id)
{
    for (size_t i = 0; i < EXEC_MAP_MAX; i++) {
        if (nc->wmap[i].result != NULL && hash_equal(&nc->wmap[i].id, id)) {
            return &nc->wmap[i];
        }
    }
    return NULL;
}

/* ---- ledger-thread jobs ---- */

static void job_done(struct lt_job *lt);
static void job_run(struct lt_job *lt);

static struct cons_job *
job_new(struct node_cons *nc, enum job_kind kind, const struct hash *id)
{
    struct cons_job *j = mem_calloc(1, sizeof *j);
    j->lt.run = job_run;
    j->lt.done = job_done;
    j->kind = kind;
    j->nc = nc;
    if (id != NULL) {
        j->id = *id;
    }
    return j;
}

static void
job_free(struct cons_job *j)
{
    mem_free(j->txs);
    mem_free(j->tx_hashes);
    mem_free(j->tx_bytes);
    mem_free(j->block);
    mem_free(j->proof);
    mem_free(j->frees);
    mem_free(j);
}

static enum err
job_submit(struct node_cons *nc, struct cons_job *j)
{
    if (nc->lt == NULL) {
        enum err rc = ledger_thread_new(nc->n->base, &nc->lt);
        if (rc != ERR_OK) {
            job_free(j);
            return rc;
        }
    }
    if (j->kind == JOB_COMMIT || j->kind == JOB_SYNC) {
        struct cons_job **tail = &nc->inflight;
        while (*tail != NULL) {
            tail = &(*tail)->inflight_next;
        }
        *tail = j;
    }
    /* An execution on an uncommitted parent needs no commit queued before it (its parent's
     * result is in wmap); one on the committed state waits for the commits before it. */
    j->lt.urgent = j->kind == JOB_EXEC && !j->on_committed;
    j->lt.passable = j->kind == JOB_COMMIT || j->kind == JOB_FREE;
    j->lt.delay_in_run = j->kind == JOB_COMMIT; /* commit_meta, in the commit's txn */
    ledger_thread_submit(nc->lt, &j->lt);
    return ERR_OK;
}

/* Frees these results on the ledger thread (it owns them and their reference counts). */
static void
free_results(struct node_cons *nc, struct result_ref *results, size_t count)
{
    if (count == 0) {
        mem_free(results);
        return;
    }
    struct cons_job *j = job_new(nc, JOB_FREE, NULL);
    j->frees = results;
    j->free_count = count;
    if (job_submit(nc, j) != ERR_OK) {
        log_error(LOG_CONSENSUS, "cannot free execution results count=%zu", count);
    }
}

static void
free_one(struct node_cons *nc, struct ledger_result *r)
{
    if (r != NULL) {
        struct result_ref *one = mem_calloc(1, sizeof *one);
        one->result = r;
        free_results(nc, one, 1);
    }
}

/* Drops results at or below the committed height: committed, or forks that can no longer
 * commit (pending ones go when their result is back). */
static void
exec_prune(struct node_cons *nc, uint64_t committed_height)
{
    struct result_ref *frees = mem_calloc(EXEC_MAP_MAX, sizeof *frees);
    size_t count = 0;
    for (size_t i = 0; i < EXEC_MAP_MAX; i++) {
        struct exec_entry *e = &nc->exec[i];
        if (e->used && !e->pending && e->height <= committed_height) {
            frees[count++].result = e->result;
            memset(e, 0, sizeof *e);
        }
    }
    free_results(nc, frees, count);
}

/* ---- env callbacks ---- */

static uint64_t
env_now_us(void *ctx)
{
    (void)ctx;
    return clock_wall_us(clock_system());
}

static void
env_send(void *ctx, uint16_t to, const uint8_t *msg, size_t size)
{
    struct node_cons *nc = ctx;
    const struct validator_set *vs = consensus_validators(nc->core);
    if (to >= vs->count || nc->n->p2p == NULL) {
        return;
    }
    enum err rc = p2p_send(nc->n->p2p, &vs->nodes[to].transport_key, FRAME_CONSENSUS, msg, size);
    if (rc != ERR_OK) {
        log_debug(LOG_CONSENSUS, "send failed to=%u error=%s", to, err_name(rc));
    }
}

/* Sends msg to every node of set that is not in `sent` (may be NULL). */
static void
send_to_set(struct node_cons *nc, const struct validator_set *set, const struct validator_set *sent,
            const uint8_t *msg, size_t size)
{
    size_t dropped = 0;
    for (size_t i = 0; i < set->count; i++) {
        const struct public_key *key = &set->nodes[i].transport_key;
        bool skip = sent != NULL && validator_set_find_transport(sent, key) >= 0;
        enum err rc = skip ? ERR_OK : p2p_send(nc->n->p2p, key, FRAME_CONSENSUS, msg, size);
        dropped += rc == ERR_FULL || rc == ERR_TOO_LARGE ? 1 : 0;
    }
    if (dropped > 0) {
        log_debug(LOG_CONSENSUS, "broadcast incomplete dropped=%zu", dropped);
    }
}

static void
env_broadcast(void *ctx, const uint8_t *msg, size_t size)
{
    struct node_cons *nc = ctx;
    if (nc->n->p2p == NULL) {
        return;
    }
    /* To the validators only (the core's set and, across an epoch change, the committed
     * one): observers follow by block sync and need no votes. */
    const struct validator_set *core_set = consensus_validators(nc->core);
    send_to_set(nc, core_set, NULL, msg, size);
    if (nc->n->validators->epoch != core_set->epoch) {
        send_to_set(nc, nc->n->validators, core_set, msg, size);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg);

static void
env_set_timer(void *ctx, enum cons_timer kind, uint64_t delay_ms, uint64_t token)
{
    struct node_cons *nc = ctx;
    size_t k = (size_t)kind;
    ASSERT(k < NODE_TIMER_KINDS && nc->timers[k] != NULL);
    nc->tokens[k] = token;
    struct timeval tv = { .tv_sec = (time_t)(delay_ms / 1000u),
                          .tv_usec = (suseconds_t)((delay_ms % 1000u) * 1000u) };
    if (evtimer_add(nc->timers[k], &tv) != 0) {
        log_error(LOG_CONSENSUS, "cannot arm a timer kind=%zu", k);
    }
}

static enum err
env_persist_safety(void *ctx, const uint8_t *record, size_t size)
{
    struct node_cons *nc = ctx;
    if (nc->halted) {
        return ERR_CLOSED;
    }
    enum err rc = safety_file_write(nc->n->safety, record, size);
    if (rc != ERR_OK) {
        nc->halted = true; /* nothing more is signed (STYLE.md 2.5) */
        log_error(LOG_CONSENSUS, "safety record write failed, signing stops error=%s", err_str(rc));
    }
    return rc;
}

static enum err
env_persist_tc(void *ctx, const uint8_t *tc, size_t size)
{
    struct node_cons *nc = ctx;
    if (nc->halted) {
        return ERR_CLOSED;
    }
    struct meta_write w = { nc->tc_table, META_KEY_TC, 2, tc, size };
    enum err rc = in_txn(nc->n->cons_db, meta_write_in, &w);
    if (rc != ERR_OK) {
        nc->halted = true;
        log_error(LOG_CONSENSUS, "highest TC write failed, signing stops error=%s", err_str(rc));
    }
    return rc;
}

/* Deletes durable blocks below height, in txn. */
static enum err
prune_blocks_in(struct node_cons *nc, struct db_txn *txn, uint64_t height)
{
    struct db_cursor *cur = NULL;
    enum err rc = db_cursor_open(txn, nc->blocks_table, &cur);
    struct db_val k;
    struct db_val v;
    if (rc == ERR_OK) {
        uint8_t zero[1] = { 0 };
        rc = db_cursor_seek(cur, db_val_of(zero, sizeof zero), &k, &v);
    }
    while (rc == ERR_OK && k.size == 8 + HASH_SIZE) {
        uint64_t h = 0;
        for (size_t i = 0; i < 8; i++) {
            h = (h << 8) | k.data[i];
        }
        if (h >= height) {
            break;
        }
        rc = db_cursor_del(cur);
        if (rc == ERR_OK) {
            rc = db_cursor_next(cur, &k, &v);
        }
    }
    db_cursor_close(cur);
    return rc == ERR_NOT_FOUND ? ERR_OK : rc;
}

static enum err
env_persist_block(void *ctx, const struct hash *id, const uint8_t *block, size_t size)
{
    struct node_cons *nc = ctx;
    struct block *blk = mem_alloc(sizeof *blk);
    enum err rc = block_decode(block, size, blk);
    uint8_t key[8 + HASH_SIZE];
    if (rc == ERR_OK) {
        for (int i = 0; i < 8; i++) {
            key[i] = (uint8_t)(blk->header.height >> (56 - 8 * i));
        }
        memcpy(key + 8, id->bytes, HASH_SIZE);
    }
    mem_free(blk);
    struct db_txn *txn = NULL;
    if (rc == ERR_OK) {
        rc = db_txn_begin(nc->n->cons_db, true, &txn);
    }
    if (rc == ERR_OK) {
        /* The blocks a finished commit made history go in the same txn (no sync of its own);
         * a block whose commit is still running stays: a crash now replays it. */
        rc = prune_blocks_in(nc, txn, nc->durable_height);
        if (rc == ERR_OK) {
            rc = db_put(txn, nc->blocks_table, db_val_of(key, sizeof key), db_val_of(block, size));
        }
        if (rc != ERR_OK) {
            db_txn_abort(txn);
        } else {
            rc = db_txn_commit(txn);
        }
    }
    return rc;
}

static enum err
env_sign(void *ctx, const struct hash *digest, struct signature *out)
{
    struct node_cons *nc = ctx;
    if (nc->halted) {
        return ERR_CLOSED;
    }
    return sign_message(nc->n->consensus_key, digest->bytes, HASH_SIZE, out);
}

static enum err
env_verify(void *ctx, const struct public_key *key, const struct hash *digest,
           const struct signature *sig)
{
    struct node_cons *nc = ctx;
    return verify_cached(nc->n->verify_cache, key, digest->bytes, HASH_SIZE, sig);
}

static enum err
env_verify_batch(void *ctx, const struct cons_verify_item *items, size_t count)
{
    struct node_cons *nc = ctx;
    struct verify_item *v = mem_calloc(count + 1, sizeof *v);
    enum err *results = mem_calloc(count + 1, sizeof *results);
    for (size_t i = 0; i < count; i++) {
        v[i] = (struct verify_item){ .key = items[i].key,
                                     .msg = items[i].digest.bytes,
                                     .size = HASH_SIZE,
                                     .sig = items[i].sig };
    }
    verify_pool_batch(nc->n->verify_pool, v, count, results);
    enum err rc = ERR_OK;
    for (size_t i = 0; i < count; i++) {
        if (results[i] != ERR_OK) {
            rc = ERR_BAD_SIGNATURE;
        }
    }
    mem_free(v);
    mem_free(results);
    return rc;
}

/* The loop's committed block (first use: the ledger's). */
static enum err
committed_init(struct node_cons *nc)
{
    if (nc->committed_known) {
        return ERR_OK;
    }
    uint64_t height = ledger_committed_height(nc->n->ledger);
    struct block_info top;
    enum err rc = info_at(nc, height, &top);
    if (rc == ERR_OK) {
        nc->committed_known = true;
        nc->committed_height = height;
        nc->committed_id = top.id;
    }
    return rc;
}

/* A block at a height the ledger already committed or is committing (replay after a
 * restart): valid only if it is the committed block there; its results are the stored ones
 * ("info", or the unfinished commit job's: COMMIT jobs carry them from the start; SYNC jobs,
 * whose roots the ledger thread fills, never overlap a running core). */
static enum err
execute_committed(struct node_cons *nc, const struct hash *id, uint64_t height,
                  struct exec_result *out)
{
    struct block_info bi;
    bool found = false;
    for (const struct cons_job *j = nc->inflight; j != NULL; j = j->inflight_next) {
        if (j->info.height == height) {
            bi = j->info;
            found = true;
        }
    }
    if ((!found && info_at(nc, height, &bi) != ERR_OK) || !hash_equal(&bi.id, id)) {
        return ERR_MALFORMED;
    }
    memset(out, 0, sizeof *out);
    out->exec_root = bi.exec_root;
    out->receipts_root = bi.receipts_root;
    out->next_epoch_vs_hash = bi.next_epoch_vs_hash;
    return ERR_OK;
}

/* Checks the block's tx signatures (loop: the mempool's pending txs and the verify cache make
 * this cheap) and hands its txs to j: pointing into j->block if the job holds the block's
 * bytes (SYNC: blk was decoded from them), else into a copy (EXEC: blk is the core's). */
static enum err
job_take_txs(struct node_cons *nc, struct cons_job *j, const struct block *blk)
{
    size_t count = blk->payload.kind == PAYLOAD_INLINE ? blk->payload.tx_count : 0;
    struct mempool_raw *raw = mem_calloc(count + 1, sizeof *raw);
    enum err *results = mem_calloc(count + 1, sizeof *results);
    j->txs = mem_calloc(count + 1, sizeof *j->txs);
    j->tx_hashes = mem_calloc(count + 1, sizeof *j->tx_hashes);
    size_t pos = 0;
    size_t bytes = 0;
    enum err rc = ERR_OK;
    for (size_t i = 0; i < count && rc == ERR_OK; i++) {
        rc = payload_next_tx(&blk->payload, &pos, &raw[i].data, &raw[i].size);
        bytes += raw[i].size;
    }
    if (rc == ERR_OK && count > 0) {
        mempool_verify_txs(nc->n->mempool, raw, count, results, j->tx_hashes);
        for (size_t i = 0; i < count && rc == ERR_OK; i++) {
            rc = results[i] == ERR_OK ? ERR_OK : ERR_MALFORMED;
        }
    }
    if (rc == ERR_OK) {
        bool inside = j->block != NULL;
        if (!inside) {
            j->tx_bytes = mem_alloc(bytes + 1);
        }
        size_t off = 0;
        for (size_t i = 0; i < count; i++) {
            const uint8_t *data = raw[i].data;
            if (!inside) {
                memcpy(j->tx_bytes + off, raw[i].data, raw[i].size);
                data = j->tx_bytes + off;
                off += raw[i].size;
            }
            j->txs[i] = (struct ledger_tx_in){ .data = data,
                                               .size = raw[i].size,
                                               .signature_verified = true,
                                               .hash = &j->tx_hashes[i] };
        }
        j->in = (struct ledger_block_in){ .height = blk->header.height,
                                          .timestamp_us = blk->header.timestamp_us,
                                          .txs = j->txs,
                                          .tx_count = count,
                                          .signatures_verified = true };
    }
    mem_free(raw);
    mem_free(results);
    return rc;
}

static enum err
env_execute(void *ctx, const struct block *blk, const struct block_info *parent,
            struct exec_result *out)
{
    struct node_cons *nc = ctx;
    struct hash id;
    block_header_id(ledger_hash_alg(nc->n->ledger), &blk->header, &id);
    struct exec_entry *known = exec_find(nc, &id);
    if (known != NULL) {
        if (known->pending) {
            return ERR_AGAIN; /* its result is on the way */
        }
        result_of(known->result, out);
        return ERR_OK;
    }
    enum err rc = committed_init(nc);
    if (rc != ERR_OK) {
        return rc;
    }
    uint64_t committed = nc->committed_height;
    if (blk->header.height <= committed) {
        return execute_committed(nc, &id, blk->header.height, out);
    }
    if (parent->height == committed && !hash_equal(&parent->id, &nc->committed_id)) {
        return ERR_MALFORMED; /* a fork below the committed block */
    }
    if (parent->height != committed && exec_find(nc, &parent->id) == NULL) {
        log_warn(LOG_CONSENSUS, "parent result unknown height=%llu",
                 (unsigned long long)parent->height);
        return ERR_MALFORMED;
    }
    struct exec_entry *slot = exec_slot(nc);
    if (slot == NULL) {
        log_warn(LOG_CONSENSUS, "execution map full");
        return ERR_FULL;
    }
    struct cons_job *j = job_new(nc, JOB_EXEC, &id);
    j->on_committed = parent->height == committed;
    j->parent_id = parent->id;
    uint64_t t0 = clock_monotonic_ns(clock_system());
    rc = job_take_txs(nc, j, blk);
    j->check_ns = clock_monotonic_ns(clock_system()) - t0;
    if (rc != ERR_OK) {
        log_info(LOG_CONSENSUS, "block rejected height=%llu error=%s",
                 (unsigned long long)blk->header.height, err_name(rc));
        job_free(j);
        return ERR_MALFORMED;
    }
    rc = job_submit(nc, j);
    if (rc != ERR_OK) {
        return rc;
    }
    *slot = (struct exec_entry){
        .used = true, .pending = true, .id = id, .height = blk->header.height
    };
    return ERR_AGAIN;
}

/* Appends the tx hashes of block id if it is executed (an ancestor of the block being built,
 * or a committed block whose commit job has not finished: the mempool still holds its txs). */
static size_t
exclude_txs_of(struct node_cons *nc, const struct hash *id, struct hash *out)
{
    const struct ledger_result *r = exec_result(nc, id);
    if (r == NULL) {
        return 0;
    }
    const struct ledger_outcome *o = ledger_result_outcome(r);
    if (out != NULL) {
        memcpy(out, o->tx_hashes, o->tx_count * sizeof *out);
    }
    return o->tx_count;
}

static enum err
env_pull_payload(void *ctx, const struct payload_request *req, struct buf *out, uint32_t *out_count)
{
    struct node_cons *nc = ctx;
    size_t excl_count = 0;
    for (size_t i = 0; i < req->exclude_count; i++) {
        excl_count += exclude_txs_of(nc, &req->exclude[i], NULL);
    }
    for (const struct cons_job *j = nc->inflight; j != NULL; j = j->inflight_next) {
        excl_count += j->fresh ? exclude_txs_of(nc, &j->id, NULL) : 0;
    }
    struct hash *excl = mem_calloc(excl_count + 1, sizeof *excl);
    size_t k = 0;
    for (size_t i = 0; i < req->exclude_count; i++) {
        k += exclude_txs_of(nc, &req->exclude[i], excl + k);
    }
    for (const struct cons_job *j = nc->inflight; j != NULL; j = j->inflight_next) {
        k += j->fresh ? exclude_txs_of(nc, &j->id, excl + k) : 0;
    }
    struct mempool_tx_view *views = mem_calloc((size_t)req->max_txs + 1, sizeof *views);
    struct mempool_pull_req pr = { .exclude = excl,
                                   .exclude_count = excl_count,
                                   .bytes_max = req->max_bytes,
                                   .txs_max = req->max_txs,
                                   .out = views };
    size_t got = mempool_pull(nc->n->mempool, &pr);
    uint32_t count = 0;
    size_t used = 0;
    enum err rc = ERR_OK;
    for (size_t i = 0; i < got && rc == ERR_OK; i++) {
        if (used + views[i].size + VARINT_SIZE_MAX > req->max_bytes) {
            break;
        }
        rc = codec_put_bytes(out, views[i].data, views[i].size, CONS_TX_SIZE_MAX);
        if (rc == ERR_OK) {
            used += views[i].size + VARINT_SIZE_MAX;
            count++;
        }
    }
    mem_free(views);
    mem_free(excl);
    if (rc == ERR_OK) {
        *out_count = count;
    }
    return rc;
}

static void
notify_waiters(struct node *n, const struct ledger_outcome *o, const struct hash *block_id)
{
    if (n->waiters == NULL) {
        return;
    }
    for (size_t i = 0; i < o->tx_count; i++) {
        struct api_tx_status s;
        memset(&s, 0, sizeof s);
        s.state = API_TX_FINAL;
        s.height = o->height;
        s.block_id = *block_id;
        s.index = (uint32_t)i;
        s.receipt = node_receipt_json(o->receipts[i].data, o->receipts[i].size);
        node_waiters_notify(n, &o->tx_hashes[i], &s);
        json_decref(s.receipt);
    }
}

static void
refresh_validators(struct node_cons *nc)
{
    struct node *n = nc->n;
    if (ledger_validator_set(n->ledger, NULL, n->validators) != ERR_OK || n->p2p == NULL) {
        log_error(LOG_CONSENSUS, "cannot read the new validator set");
        return;
    }
    struct public_key self;
    secret_key_public(n->consensus_key, &self);
    n->is_validator = validator_set_find(n->validators, &self) >= 0;
    node_admission_refresh(n, true);
}

/* The commit cert of the root when the block is the newest of its finality proof. */
static enum err
root_cert_of(const struct committed_block *cb, struct buf *out)
{
    struct finality_proof *p = mem_alloc(sizeof *p);
    enum err rc = finality_proof_decode(cb->proof, cb->proof_size, p);
    if (rc == ERR_OK && p->header_count != 0) {
        rc = ERR_NOT_FOUND;
    }
    if (rc == ERR_OK) {
        rc = qc_encode(out, &p->cert);
    }
    mem_free(p);
    return rc;
}

/* ---- on the ledger thread ---- */

/* The consensus metadata of a committed block (JOB_COMMIT, JOB_SYNC), in txn: "info" of its
 * height; "root" (or, ending an epoch, "epoch" and the new epoch's root); durable blocks below
 * it pruned. */
static enum err
commit_meta(void *ctx, struct db_txn *txn)
{
    struct cons_job *j = ctx;
    struct node_cons *nc = j->nc;
    ledger_thread_pause(j->lt.test_delay_ms); /* test hook: a slow disk, writer lock held */
    enum err rc = ERR_OK;
    if (j->fresh) {
        uint8_t key[12];
        info_key(j->info.height, key);
        rc = info_put_txn(nc, txn, key, sizeof key, &j->info, (struct byte_span){ 0 });
    }
    if (rc == ERR_OK && !j->ends_epoch) {
        struct committed_block cb = { .info = &j->info,
                                      .proof = j->proof,
                                      .proof_size = j->proof_size };
        struct buf cert;
        buf_init(&cert, CONS_MSG_SIZE_MAX);
        if (root_cert_of(&cb, &cert) == ERR_OK) {
            rc = info_put_txn(nc, txn, META_KEY_ROOT, 4, &j->info,
                              (struct byte_span){ cert.data, cert.size });
        }
        buf_release(&cert);
    } else if (rc == ERR_OK) {
        struct block_info root = j->info;
        root.epoch++;
        root.round = 0;
        memset(&root.next_epoch_vs_hash, 0, sizeof root.next_epoch_vs_hash);
        rc = info_put_txn(nc, txn, META_KEY_EPOCH, 5, &root, (struct byte_span){ 0 });
        if (rc == ERR_OK) {
            rc = info_put_txn(nc, txn, META_KEY_ROOT, 4, &root, (struct byte_span){ 0 });
        }
    }
    return rc;
}

/* Writes the committed block: a fresh one with its metadata in the ledger's commit txn (one
 * synced LMDB commit: "info" of every height the ledger holds exists, "root" never names a
 * block the ledger lacks); a replayed or suffix block's metadata alone. */
static enum err
commit_run(struct cons_job *j)
{
    struct node_cons *nc = j->nc;
    if (!j->fresh) {
        return in_txn(nc->n->db, commit_meta, j);
    }
    if (j->result == NULL) { /* JOB_COMMIT: the loop saw it executed */
        struct worker_entry *w = worker_find(nc, &j->id);
        ASSERT(w != NULL);
        j->result = w->result;
    }
    struct ledger_block_bytes bytes = { .id = j->id,
                                        .block = j->block,
                                        .block_size = j->block_size,
                                        .cert = j->proof,
                                        .cert_size = j->proof_size,
                                        .also = commit_meta,
                                        .also_ctx = j };
    return ledger_commit(nc->n->ledger, j->result, &bytes);
}

static enum err
exec_run(struct cons_job *j)
{
    struct node_cons *nc = j->nc;
    struct ledger_result *parent = NULL;
    if (!j->on_committed) {
        struct worker_entry *p = worker_find(nc, &j->parent_id);
        if (p == NULL) {
            return ERR_STALE; /* its parent failed, or lost to a committed fork */
        }
        parent = p->result;
    }
    enum err rc = ledger_execute_block(nc->n->ledger, parent, &j->in, &j->result);
    if (rc == ERR_OK && j->kind == JOB_EXEC) {
        struct worker_entry *slot = NULL;
        for (size_t i = 0; i < EXEC_MAP_MAX && slot == NULL; i++) {
            slot = nc->wmap[i].result == NULL ? &nc->wmap[i] : NULL;
        }
        ASSERT(slot != NULL); /* a subset of the loop's map, which had a free slot */
        *slot = (struct worker_entry){ j->id, j->result };
    }
    return rc;
}

/* A synced block: executed on the committed state, its roots compared with the certified
 * ones, committed. */
static enum err
sync_run(struct cons_job *j)
{
    enum err rc = exec_run(j);
    if (rc != ERR_OK) {
        return rc;
    }
    const struct ledger_outcome *o = ledger_result_outcome(j->result);
    j->info.exec_root = o->exec_root;
    j->info.receipts_root = o->receipts_root;
    j->info.next_epoch_vs_hash = o->next_epoch_vs_hash;
    j->ends_epoch = !hash_is_zero(&o->next_epoch_vs_hash);
    if (!hash_equal(&o->exec_root, &j->want_exec) ||
        !hash_equal(&o->receipts_root, &j->want_receipts)) {
        log_error(LOG_NODE, "synced block executes to other roots height=%llu",
                  (unsigned long long)j->info.height);
        return ERR_CORRUPT;
    }
    return commit_run(j);
}

static void
free_run(struct cons_job *j)
{
    struct node_cons *nc = j->nc;
    for (size_t i = 0; i < j->free_count; i++) {
        struct worker_entry *w = NULL;
        for (size_t k = 0; k < EXEC_MAP_MAX && w == NULL; k++) {
            w = nc->wmap[k].result == j->frees[i].result ? &nc->wmap[k] : NULL;
        }
        if (w != NULL) {
            memset(w, 0, sizeof *w);
        }
        ledger_result_free(j->frees[i].result);
    }
}

static void
job_run(struct lt_job *lt)
{
    struct cons_job *j = (struct cons_job *)lt;
    switch (j->kind) {
    case JOB_EXEC:
        j->rc = exec_run(j);
        break;
    case JOB_COMMIT:
        j->rc = commit_run(j);
        break;
    case JOB_SYNC:
        j->rc = sync_run(j);
        break;
    case JOB_FREE:
        free_run(j);
        break;
    }
}

/* ---- back on the loop ---- */

/* The committed block's txs leave the mempool (with their hashes from the execution). */
static void
mempool_commit_block(struct node *n, const struct cons_job *j, const struct ledger_outcome *o)
{
    size_t tx_count = o->tx_count;
    struct mempool_raw *raw = mem_calloc(tx_count + 1, sizeof *raw);
    struct block *blk = mem_alloc(sizeof *blk);
    size_t pos = 0;
    bool ok =
        block_decode(j->block, j->block_size, blk) == ERR_OK && blk->payload.kind == PAYLOAD_INLINE;
    for (size_t i = 0; ok && i < blk->payload.tx_count && i < tx_count; i++) {
        ok = payload_next_tx(&blk->payload, &pos, &raw[i].data, &raw[i].size) == ERR_OK;
    }
    for (size_t i = 0; i < tx_count; i++) {
        raw[i].hash = &o->tx_hashes[i];
    }
    if (mempool_commit(n->mempool, j->info.height, raw, tx_count) != ERR_OK) {
        log_warn(LOG_CONSENSUS, "mempool out of step height=%llu",
                 (unsigned long long)j->info.height);
    }
    mem_free(blk);
    mem_free(raw);
}

/* What follows a commit on the loop: mempool, waiters, admission, validator set. */
static void
commit_finish(struct node_cons *nc, struct cons_job *j)
{
    struct node *n = nc->n;
    if (j->info.height > nc->durable_height) {
        nc->durable_height = j->info.height;
    }
    if (j->fresh) {
        node_admission_refresh(n, false); /* a registered node may have come or gone */
        const struct ledger_outcome *o = ledger_result_outcome(j->result);
        mempool_commit_block(n, j, o);
        notify_waiters(n, o, &j->id);
        log_info(LOG_CONSENSUS, "committed height=%llu round=%llu txs=%zu",
                 (unsigned long long)j->info.height, (unsigned long long)j->info.round,
                 o->tx_count);
    }
    if (j->ends_epoch) {
        refresh_validators(nc);
    }
    if (j->ends_epoch && node_epochs_record(n) != ERR_OK) {
        log_error(LOG_CONSENSUS, "cannot record the new epoch height=%llu",
                  (unsigned long long)j->info.height);
    }
    exec_prune(nc, j->info.height);
}

static void
inflight_remove(struct node_cons *nc, const struct cons_job *j)
{
    for (struct cons_job **p = &nc->inflight; *p != NULL; p = &(*p)->inflight_next) {
        if (*p == j) {
            *p = j->inflight_next;
            return;
        }
    }
}

static void
exec_done(struct node_cons *nc, struct cons_job *j)
{
    struct exec_entry *e = exec_find(nc, &j->id);
    ASSERT(e != NULL && e->pending);
    if (j->rc == ERR_OK) {
        e->pending = false;
        e->result = j->result;
    } else {
        log_info(LOG_CONSENSUS, "block rejected height=%llu error=%s",
                 (unsigned long long)e->height, err_name(j->rc));
        memset(e, 0, sizeof *e);
    }
    if (nc->closing || nc->core == NULL) {
        return;
    }
    struct exec_result res;
    if (j->rc == ERR_OK) {
        result_of(j->result, &res);
    }
    consensus_on_executed(nc->core, &j->id, j->rc == ERR_OK ? ERR_OK : ERR_MALFORMED,
                          j->rc == ERR_OK ? &res : NULL);
}

/* A COMMIT or SYNC job is back. */
static void
commit_done(struct node_cons *nc, struct cons_job *j)
{
    inflight_remove(nc, j);
    /* A synced block the disk could not take is this node's failure, not the peer's. */
    bool local = j->rc == ERR_NO_SPACE || j->rc == ERR_IO;
    if (j->rc == ERR_OK) {
        commit_finish(nc, j);
    } else if (j->kind == JOB_COMMIT || local) {
        /* Nothing of this block is durable; a restart replays it. */
        log_error(LOG_CONSENSUS, "ledger commit failed, stopping height=%llu error=%s%s",
                  (unsigned long long)j->info.height, err_str(j->rc),
                  j->rc == ERR_NO_SPACE ? " (the disk is full or the database reached [storage] "
                                          "db_size_max_mib: free space or raise it, then restart)"
                                        : "");
        nc->halted = true;
        node_fatal(nc->n, j->rc);
    } else {
        nc->committed_known = false; /* a refused synced block: the loop's view goes back */
    }
    if (j->kind == JOB_SYNC) {
        free_one(nc, j->result); /* never in the execution maps */
        if (nc->n->sync != NULL && !nc->closing) {
            sync_block_applied(nc->n->sync, j->rc);
        }
    }
}

/* Where a job's time went, at DEBUG (what a slow block waited for): the loop's signature
 * check (EXEC), the wait in the ledger thread's queue, the run, the wait for the loop. */
static void
job_timing_log(const struct cons_job *j)
{
    if (j->kind == JOB_FREE || !log_is_enabled(LOG_LEVEL_DEBUG)) {
        return;
    }
    static const char *const names[] = { "exec", "commit", "sync" };
    uint64_t now = clock_monotonic_ns(clock_system());
    log_debug(LOG_CONSENSUS,
              "job %s height=%llu txs=%zu check_us=%llu queue_us=%llu run_us=%llu cpu_us=%llu "
              "back_us=%llu",
              names[j->kind],
              (unsigned long long)(j->kind == JOB_EXEC ? j->in.height : j->info.height),
              j->in.tx_count, (unsigned long long)(j->check_ns / 1000u),
              (unsigned long long)((j->lt.start_ns - j->lt.submit_ns) / 1000u),
              (unsigned long long)((j->lt.end_ns - j->lt.start_ns) / 1000u),
              (unsigned long long)(j->lt.cpu_ns / 1000u),
              (unsigned long long)((now - j->lt.end_ns) / 1000u));
}

static void
job_done(struct lt_job *lt)
{
    struct cons_job *j = (struct cons_job *)lt;
    job_timing_log(j);
    if (j->kind == JOB_EXEC) {
        exec_done(j->nc, j);
    } else if (j->kind == JOB_COMMIT || j->kind == JOB_SYNC) {
        commit_done(j->nc, j);
    }
    job_free(j);
}

/* ---- commits (loop) ---- */

static enum err
env_commit(void *ctx, const struct committed_block *cb)
{
    struct node_cons *nc = ctx;
    enum err rc = committed_init(nc);
    if (rc != ERR_OK) {
        return rc;
    }
    bool fresh = cb->info->height > nc->committed_height;
    const struct exec_entry *e = fresh ? exec_find(nc, &cb->info->id) : NULL;
    if (fresh && (e == NULL || e->pending || cb->info->height != nc->committed_height + 1)) {
        log_error(LOG_CONSENSUS, "committed block not executed height=%llu",
                  (unsigned long long)cb->info->height);
        return ERR_CORRUPT;
    }
    struct cons_job *j = job_new(nc, JOB_COMMIT, &cb->info->id);
    j->fresh = fresh;
    j->ends_epoch = cb->ends_epoch;
    j->info = *cb->info;
    j->block = mem_alloc(cb->block_size + 1);
    memcpy(j->block, cb->block, cb->block_size);
    j->block_size = cb->block_size;
    j->proof = mem_alloc(cb->proof_size + 1);
    memcpy(j->proof, cb->proof, cb->proof_size);
    j->proof_size = cb->proof_size;
    if (fresh) {
        nc->committed_height = cb->info->height;
        nc->committed_id = cb->info->id;
    }
    return job_submit(nc, j);
}

/* An unfinished commit of that height or id (NULL id: by height). */
static const struct cons_job *
inflight_find(const struct node_cons *nc, uint64_t height, const struct hash *id)
{
    for (const struct cons_job *j = nc->inflight; j != NULL; j = j->inflight_next) {
        if (id != NULL ? hash_equal(&j->id, id) : j->info.height == height) {
            return j;
        }
    }
    return NULL;
}

static enum err
env_next_validator_set(void *ctx, const struct block_info *ending, struct validator_set *out)
{
    struct node_cons *nc = ctx;
    const struct ledger_result *r = exec_result(nc, &ending->id);
    if (r != NULL && ledger_result_outcome(r)->next_vs != NULL) {
        *out = *ledger_result_outcome(r)->next_vs;
        return ERR_OK;
    }
    if (hash_equal(&ending->id, &nc->committed_id) && inflight_find(nc, 0, &ending->id) == NULL) {
        return ledger_validator_set(nc->n->ledger, NULL, out);
    }
    return ERR_NOT_FOUND;
}

static enum err
env_load_committed_at(void *ctx, uint64_t height, struct buf *out)
{
    struct node_cons *nc = ctx;
    const struct cons_job *j = inflight_find(nc, height, NULL);
    if (j != NULL && j->fresh) {
        return buf_append(out, j->block, j->block_size);
    }
    if (height == 0 || height > ledger_committed_height(nc->n->ledger)) {
        return ERR_NOT_FOUND;
    }
    struct buf cert;
    buf_init(&cert, CONS_MSG_SIZE_MAX);
    enum err rc = ledger_read_block(nc->n->ledger, height, out, &cert);
    buf_release(&cert);
    return rc;
}

static enum err
env_load_committed_block(void *ctx, const struct hash *id, struct buf *out)
{
    struct node_cons *nc = ctx;
    const struct cons_job *j = inflight_find(nc, 0, id);
    if (j != NULL && j->fresh) {
        return buf_append(out, j->block, j->block_size);
    }
    uint64_t height = 0;
    struct db_txn *txn = NULL;
    enum err rc = db_txn_begin(nc->n->db, false, &txn);
    if (rc != ERR_OK) {
        return rc;
    }
    rc = block_store_height_of(nc->n->blocks, txn, id, &height);
    db_txn_abort(txn);
    if (rc != ERR_OK) {
        return rc;
    }
    return env_load_committed_at(ctx, height, out);
}

static void
env_evidence(void *ctx, const uint8_t *evidence, size_t size)
{
    (void)ctx;
    (void)evidence;
    log_warn(LOG_CONSENSUS, "equivocation evidence found size=%zu", size);
}

/* ---- events ---- */

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct timer_ctx *t = arg;
    struct node_cons *nc = t->nc;
    consensus_on_timer(nc->core, (enum cons_timer)t->kind, nc->tokens[t->kind]);
}

static void
on_txs(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct node_cons *nc = arg;
    consensus_on_txs_available(nc->core);
}

void
node_consensus_txs_available(struct node *n)
{
    if (n->cons != NULL && n->cons->txs_event != NULL) {
        event_active(n->cons->txs_event, 0, 0);
    }
}

void
node_consensus_on_frame(struct node *n, const struct public_key *peer, const uint8_t *payload,
                        size_t size)
{
    if (n->cons == NULL || n->cons->core == NULL) {
        return;
    }
    int idx = validator_set_find_transport(consensus_validators(n->cons->core), peer);
    uint16_t from = idx < 0 ? CONS_PEER_NONE : (uint16_t)idx;
    consensus_on_message(n->cons->core, from, payload, size);
}

/* ---- start-up ---- */

enum err
node_consensus_open_tables(struct node *n)
{
    n->cons = mem_calloc(1, sizeof *n->cons);
    n->cons->n = n;
    enum err rc = db_table_open(n->cons_db, "cons_blocks", &n->cons->blocks_table);
    if (rc == ERR_OK) {
        rc = db_table_open(n->cons_db, "cons_tc", &n->cons->tc_table);
    }
    if (rc == ERR_OK) {
        rc = db_table_open(n->db, "cons_meta", &n->cons->meta_table);
    }
    return rc;
}

enum err
node_consensus_genesis(struct node *n, const struct ledger_result *genesis)
{
    const struct ledger_outcome *o = ledger_result_outcome(genesis);
    struct block_info bi = { .epoch = GENESIS_EPOCH,
                             .round = 0,
                             .id = *ledger_chain_id(n->ledger),
                             .height = 0,
                             .exec_root = o->exec_root,
                             .receipts_root = o->receipts_root,
                             .timestamp_us = n->genesis.timestamp_us };
    uint8_t key[12];
    info_key(0, key);
    enum err rc = info_put(n->cons, key, sizeof key, &bi, NULL, 0);
    if (rc == ERR_OK) {
        rc = info_put(n->cons, META_KEY_ROOT, 4, &bi, NULL, 0);
    }
    if (rc == ERR_OK) {
        rc = info_put(n->cons, META_KEY_EPOCH, 5, &bi, NULL, 0);
    }
    return rc;
}

/* The durable blocks at or above height, for the core's replay. */
static enum err
load_blocks(struct node_cons *nc, uint64_t height, struct buf *store, struct byte_span *out,
            size_t *out_count)
{
    struct db_txn *txn = NULL;
    enum err rc = db_txn_begin(nc->n->cons_db, false, &txn);
    if (rc != ERR_OK) {
        return rc;
    }
    struct db_cursor *cur = NULL;
    rc = db_cursor_open(txn, nc->blocks_table, &cur);
    uint8_t start[8];
    for (int i = 0; i < 8; i++) {
        start[i] = (uint8_t)(height >> (56 - 8 * i));
    }
    struct db_val k;
    struct db_val v;
    size_t offsets[START_BLOCKS_MAX];
    size_t sizes[START_BLOCKS_MAX];
    size_t count = 0;
    if (rc == ERR_OK) {
        rc = db_cursor_seek(cur, db_val_of(start, sizeof start), &k, &v);
    }
    while (rc == ERR_OK && count < START_BLOCKS_MAX) {
        offsets[count] = store->size;
        sizes[count] = v.size;
        rc = buf_append(store, v.data, v.size);
        if (rc == ERR_OK) {
            count++;
            rc = db_cursor_next(cur, &k, &v);
        }
    }
    db_cursor_close(cur);
    db_txn_abort(txn);
    if (rc != ERR_OK && rc != ERR_NOT_FOUND) {
        return rc;
    }
    for (size_t i = 0; i < count; i++) {
        out[i] = (struct byte_span){ store->data + offsets[i], sizes[i] };
    }
    *out_count = count;
    return ERR_OK;
}

/* The core with its env and events. */
static enum err
core_new(struct node *n)
{
    struct node_cons *nc = n->cons;
    struct consensus_config cfg;
    consensus_config_default(&cfg, ledger_hash_alg(n->ledger), ledger_chain_id(n->ledger));
    cfg.idle_block_interval_ms = n->config.idle_block_interval_ms; /* 250: no empty stream */
    cfg.min_block_interval_ms = n->config.min_block_interval_ms;
    /* Blocks as large as the chain allows (block_txs_max, default 10,000): the core's
     * default of 1,000 capped a 4-validator devnet near 2,000 tx/s (bench/README.md). */
    uint64_t txs_max = ledger_params(n->ledger)->block_txs_max;
    cfg.max_block_txs = txs_max < CONS_BLOCK_TXS_MAX ? (uint32_t)txs_max : CONS_BLOCK_TXS_MAX;
    struct consensus_env env = { .ctx = nc,
                                 .now_us = env_now_us,
                                 .send = env_send,
                                 .broadcast = env_broadcast,
                                 .set_timer = env_set_timer,
                                 .persist_safety = env_persist_safety,
                                 .persist_tc = env_persist_tc,
                                 .persist_block = env_persist_block,
                                 .sign = env_sign,
                                 .verify = env_verify,
                                 .verify_batch = env_verify_batch,
                                 .execute = env_execute,
                                 .pull_payload = env_pull_payload,
                                 .commit = env_commit,
                                 .next_validator_set = env_next_validator_set,
                                 .load_committed_block = env_load_committed_block,
                                 .load_committed_at = env_load_committed_at,
                                 .evidence = env_evidence };
    for (size_t k = 1; k < NODE_TIMER_KINDS; k++) {
        nc->timer_ctx[k] = (struct timer_ctx){ nc, k };
        nc->timers[k] = evtimer_new(n->base, on_timer, &nc->timer_ctx[k]);
        if (nc->timers[k] == NULL) {
            return ERR_IO;
        }
    }
    nc->txs_event = event_new(n->base, -1, 0, on_txs, nc);
    if (nc->txs_event == NULL) {
        return ERR_IO;
    }
    enum err rc = consensus_new(&cfg, &env, &nc->core);
    if (rc != ERR_OK) {
        log_error(LOG_CONSENSUS, "bad consensus config error=%s", err_str(rc));
    }
    return rc;
}

/* Stopped between the commit of an epoch-ending block and the "epoch" update: the ledger's
 * set is already the next epoch's, whose root is that block. */
static void
epoch_fixup(const struct node *n, const struct block_info *top, struct block_info *epoch_root,
            struct block_info *root, struct buf *root_cert)
{
    if (hash_is_zero(&top->next_epoch_vs_hash) || n->validators->epoch != epoch_root->epoch + 1) {
        return;
    }
    *epoch_root = *top;
    epoch_root->epoch++;
    epoch_root->round = 0;
    memset(&epoch_root->next_epoch_vs_hash, 0, sizeof epoch_root->next_epoch_vs_hash);
    *root = *epoch_root;
    buf_reset(root_cert);
}

enum err
node_consensus_start(struct node *n)
{
    struct node_cons *nc = n->cons;
    enum err rc = core_new(n);
    if (rc != ERR_OK) {
        return rc;
    }
    struct block_info epoch_root;
    struct block_info root;
    struct buf root_cert;
    uint8_t *safety = mem_alloc(SAFETY_FILE_RECORD_MAX);
    struct buf store;
    buf_init(&root_cert, CONS_MSG_SIZE_MAX);
    buf_init(&store, (size_t)1 << 30);
    struct byte_span *blocks = mem_calloc(START_BLOCKS_MAX, sizeof *blocks);
    size_t block_count = 0;
    rc = info_get(nc, META_KEY_EPOCH, 5, &epoch_root, NULL);
    if (rc == ERR_OK) {
        rc = info_get(nc, META_KEY_ROOT, 4, &root, &root_cert);
    }
    size_t safety_size = 0;
    if (rc == ERR_OK) {
        rc = safety_file_read(n->safety, safety, SAFETY_FILE_RECORD_MAX, &safety_size);
    }
    struct buf high_tc;
    buf_init(&high_tc, CONS_MSG_SIZE_MAX);
    if (rc == ERR_OK) {
        /* the core ignores a stale one */
        rc = table_get(n->cons_db, nc->tc_table, META_KEY_TC, 2, &high_tc);
        rc = rc == ERR_NOT_FOUND ? ERR_OK : rc;
    }
    if (rc == ERR_OK) {
        rc = load_blocks(nc, root.height, &store, blocks, &block_count);
    }
    struct block_info top;
    memset(&top, 0, sizeof top);
    if (rc == ERR_OK) {
        rc = info_at(nc, ledger_committed_height(n->ledger), &top);
    }
    struct buf ends_store;
    buf_init(&ends_store, (size_t)1 << 30);
    struct cons_epoch_end *ends = NULL;
    size_t end_count = 0;
    if (rc == ERR_OK) {
        epoch_fixup(n, &top, &epoch_root, &root, &root_cert);
        rc = node_epochs_ends(n, epoch_root.epoch, START_EPOCH_ENDS_MAX, &ends_store, &ends,
                              &end_count);
    }
    if (rc == ERR_OK) {
        nc->committed_id = top.id;
        struct cons_start st = { .validators = n->validators,
                                 .epoch_root = epoch_root,
                                 .committed_root = root,
                                 .root_cert = { root_cert.data, root_cert.size },
                                 .safety_record = { safety, safety_size },
                                 .high_tc = { high_tc.data, high_tc.size },
                                 .blocks = blocks,
                                 .block_count = block_count,
                                 .epoch_ends = ends,
                                 .epoch_end_count = end_count };
        secret_key_public(n->consensus_key, &st.self_key);
        rc = consensus_start(nc->core, &st);
    }
    if (rc != ERR_OK) {
        log_error(LOG_CONSENSUS, "consensus cannot start error=%s", err_str(rc));
    } else {
        log_notice(LOG_CONSENSUS,
                   "consensus started epoch=%llu root_height=%llu blocks=%zu epoch_ends=%zu",
                   (unsigned long long)epoch_root.epoch, (unsigned long long)root.height,
                   block_count, end_count);
    }
    mem_free(blocks);
    mem_free(ends);
    buf_release(&ends_store);
    buf_release(&store);
    mem_free(safety);
    buf_release(&high_tc);
    buf_release(&root_cert);
    return rc;
}

void
node_consensus_close(struct node *n)
{
    struct node_cons *nc = n->cons;
    if (nc == NULL) {
        return;
    }
    /* Let the ledger thread finish what it has (commits are durable when they return), then
     * free what is left of the results here: no other thread uses them any more. */
    nc->closing = true;
    ledger_thread_free(nc->lt);
    nc->lt = NULL;
    consensus_free(nc->core);
    for (size_t k = 0; k < NODE_TIMER_KINDS; k++) {
        if (nc->timers[k] != NULL) {
            event_free(nc->timers[k]);
        }
    }
    if (nc->txs_event != NULL) {
        event_free(nc->txs_event);
    }
    for (size_t i = 0; i < EXEC_MAP_MAX; i++) {
        if (nc->exec[i].used) {
            ledger_result_free(nc->exec[i].result);
        }
    }
    mem_free(nc);
    n->cons = NULL;
}

uint64_t
node_consensus_round(const struct node *n)
{
    return n->cons != NULL && n->cons->core != NULL ? consensus_round(n->cons->core) : 0;
}

/* ---- block sync (node/sync.c) ---- */

/* The exec root and receipts root the proof certifies for the block it proves final: the
 * commit cert's own when it names the block, else the parent roots in the header above it. */
static enum err
certified_roots(const struct finality_proof *p, struct hash *out_exec, struct hash *out_receipts)
{
    if (p->header_count == 0) {
        *out_exec = p->cert.ledger_info.commit_info.exec_root;
        *out_receipts = p->cert.ledger_info.commit_info.receipts_root;
        return ERR_OK;
    }
    struct block_header *h = mem_alloc(sizeof *h);
    struct reader r;
    const struct byte_span *last = &p->headers[p->header_count - 1];
    reader_init(&r, last->data, last->size);
    enum err rc = block_header_read(&r, h);
    if (rc == ERR_OK) {
        *out_exec = h->parent_exec_root;
        *out_receipts = h->parent_receipts_root;
    }
    mem_free(h);
    return rc;
}

static enum err
sync_verify(struct node_cons *nc, const struct block *blk, const struct hash *id,
            const uint8_t *proof, size_t proof_size, struct finality_proof *p)
{
    struct node *n = nc->n;
    if (blk->header.height != nc->committed_height + 1 ||
        !hash_equal(&blk->header.parent_id, &nc->committed_id) ||
        blk->header.epoch != n->validators->epoch || /* each range under its epoch's set */
        block_check_payload(ledger_hash_alg(n->ledger), blk) != ERR_OK) {
        return ERR_MALFORMED;
    }
    enum err rc = finality_proof_decode(proof, proof_size, p);
    if (rc != ERR_OK) {
        return rc;
    }
    struct cons_chain chain = { .alg = ledger_hash_alg(n->ledger),
                                .chain_id = *ledger_chain_id(n->ledger) };
    struct cons_verifier v = {
        .chain = &chain, .verify = env_verify, .ctx = nc, .verify_batch = env_verify_batch
    };
    struct block_header *scratch = mem_alloc(sizeof *scratch);
    rc = finality_proof_verify(&v, n->validators, p, id, scratch);
    mem_free(scratch);
    return rc;
}

enum err
node_consensus_apply_final(struct node *n, const uint8_t *block, size_t block_size,
                           const uint8_t *proof, size_t proof_size)
{
    struct node_cons *nc = n->cons;
    struct block *blk = mem_alloc(sizeof *blk);
    struct finality_proof *p = mem_alloc(sizeof *p);
    struct cons_job *j = job_new(nc, JOB_SYNC, NULL);
    j->block = mem_alloc(block_size + 1);
    memcpy(j->block, block, block_size);
    j->block_size = block_size;
    j->proof = mem_alloc(proof_size + 1);
    memcpy(j->proof, proof, proof_size);
    j->proof_size = proof_size;
    enum err rc = committed_init(nc);
    if (rc == ERR_OK) {
        rc = block_decode(j->block, j->block_size, blk); /* txs point into the job's copy */
    }
    if (rc == ERR_OK) {
        block_header_id(ledger_hash_alg(n->ledger), &blk->header, &j->id);
        rc = sync_verify(nc, blk, &j->id, proof, proof_size, p);
    }
    if (rc == ERR_OK) {
        rc = certified_roots(p, &j->want_exec, &j->want_receipts);
    }
    if (rc == ERR_OK) {
        rc = job_take_txs(nc, j, blk);
    }
    if (rc == ERR_OK) {
        j->on_committed = true;
        j->fresh = true;
        j->info = (struct block_info){ .epoch = blk->header.epoch,
                                       .round = blk->header.round,
                                       .id = j->id,
                                       .height = blk->header.height,
                                       .timestamp_us = blk->header.timestamp_us };
        nc->committed_height = blk->header.height;
        nc->committed_id = j->id;
        rc = job_submit(nc, j);
        j = NULL;
        rc = rc == ERR_OK ? ERR_AGAIN : rc;
    }
    if (j != NULL) {
        job_free(j);
    }
    mem_free(p);
    mem_free(blk);
    return rc;
}
