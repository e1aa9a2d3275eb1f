/* The Jolteon state machine: block tree, certificates, pacemaker, safety rules, commit rule,
 * epochs and block retrieval (CONSENSUS.md sections 2 to 12). */
#include "consensus/consensus.h"

#include <string.h>

#include "base/assert.h"
#include "base/log.h"
#include "base/mem.h"
#include "codec/codec.h"
#include "consensus/consensus_internal.h"

/* What a handler asks the dispatcher to do with the message it was given. */
enum verdict {
    V_DONE, /* consumed or dropped (counted by the handler) */
    V_HOLD, /* keep it until a block arrives or the clock moves */
};

/* ---- small helpers ---- */

static uint8_t *
dup_bytes(const uint8_t *data, size_t size)
{
    return mem_dup(data, size == 0 ? 1 : size);
}

static void
cert_set(struct cert *c, const uint8_t *bytes, size_t size)
{
    mem_free(c->bytes);
    c->bytes = dup_bytes(bytes, size);
    c->size = size;
}

static void
cert_clear(struct cert *c)
{
    mem_free(c->bytes);
    memset(c, 0, sizeof *c);
}

static struct cblock *
tree_find(const struct consensus *c, const struct hash *id)
{
    for (size_t i = 0; i < c->block_count; i++) {
        if (hash_equal(&c->blocks[i]->id, id)) {
            return c->blocks[i];
        }
    }
    return NULL;
}

static void
cblock_free(struct cblock *b)
{
    if (b == NULL) {
        return;
    }
    mem_free(b->bytes);
    mem_free(b->qc);
    mem_free(b);
}

static uint16_t
leader_of(struct consensus *c, uint64_t round)
{
    if (c->cfg.leader_reputation) {
        return reputation_leader(c, round);
    }
    return consensus_leader(c->cfg.chain.alg, &c->vs, c->epoch, round);
}

static bool
is_self(const struct consensus *c, uint16_t index)
{
    return c->self >= 0 && (uint16_t)c->self == index;
}

/* Counts and forwards a signature check to the env (which may cache). */
static enum err
verify_counted(void *ctx, const struct public_key *key, const struct hash *digest,
               const struct signature *sig)
{
    struct consensus *c = ctx;
    c->stats.sig_verifications++;
    if (c->env.verify != NULL) {
        return c->env.verify(c->env.ctx, key, digest, sig);
    }
    return verify_message(key, digest->bytes, HASH_SIZE, sig) == ERR_OK ? ERR_OK
                                                                        : ERR_BAD_SIGNATURE;
}

static enum err
verify_batch_counted(void *ctx, const struct cons_verify_item *items, size_t count)
{
    struct consensus *c = ctx;
    c->stats.sig_verifications += count;
    return c->env.verify_batch(c->env.ctx, items, count);
}

static void
encode_into(struct buf *b)
{
    buf_reset(b);
}

/* ---- verified-certificate cache ---- */

static void
cert_hash_qc(struct consensus *c, const struct qc *qc, struct hash *out)
{
    encode_into(&c->enc);
    enum err rc = qc_encode(&c->enc, qc);
    ASSERT(rc == ERR_OK);
    hash_bytes(c->cfg.chain.alg, c->enc.data, c->enc.size, out);
}

static bool
hashes_contain(const struct hash *set, size_t count, const struct hash *h)
{
    for (size_t i = 0; i < count; i++) {
        if (hash_equal(&set[i], h)) {
            return true;
        }
    }
    return false;
}

static bool
cache_has(const struct consensus *c, const struct hash *h)
{
    return hashes_contain(c->cert_cache, CERT_CACHE_SIZE, h);
}

static void
cache_add(struct consensus *c, const struct hash *h)
{
    c->cert_cache[c->cert_cache_next] = *h;
    c->cert_cache_next = (c->cert_cache_next + 1) % CERT_CACHE_SIZE;
}

/* A QC of the current epoch: the epoch QC (signature-less, equal to ours) or a signed one. */
static enum err
verify_qc(struct consensus *c, const struct qc *qc)
{
    if (qc->vote_data.proposed.epoch != c->epoch) {
        return ERR_STALE;
    }
    if (qc->sig_count == 0) {
        return qc_equal(qc, &c->epoch_qc) ? ERR_OK : ERR_BAD_SIGNATURE;
    }
    struct hash h;
    cert_hash_qc(c, qc, &h);
    if (cache_has(c, &h)) {
        c->stats.cert_cache_hits++;
        return ERR_OK;
    }
    enum err rc = qc_verify(&c->verifier, &c->vs, qc);
    if (rc == ERR_OK) {
        cache_add(c, &h);
    }
    return rc;
}

static enum err
verify_tc(struct consensus *c, const struct tc *tc)
{
    if (tc->epoch != c->epoch) {
        return ERR_STALE;
    }
    encode_into(&c->enc);
    enum err rc = tc_encode(&c->enc, tc);
    ASSERT(rc == ERR_OK);
    struct hash h;
    hash_bytes(c->cfg.chain.alg, c->enc.data, c->enc.size, &h);
    if (cache_has(c, &h)) {
        c->stats.cert_cache_hits++;
        return ERR_OK;
    }
    rc = tc_verify(&c->verifier, &c->vs, tc, &c->epoch_qc);
    if (rc == ERR_OK) {
        cache_add(c, &h);
    }
    return rc;
}

static void
count_verify_error(struct consensus *c, enum err rc)
{
    if (rc == ERR_STALE) {
        c->stats.dropped_wrong_epoch++;
    } else if (rc == ERR_BAD_SIGNATURE) {
        c->stats.dropped_bad_signature++;
    } else {
        c->stats.dropped_malformed++;
    }
}

/* ---- inbox (messages to self and replays; no re-entry, no recursion) ---- */

static void
inbox_push(struct consensus *c, uint16_t from, const uint8_t *bytes, size_t size)
{
    if (c->inbox_count == INBOX_MAX) {
        c->stats.dropped_held_overflow++;
        return;
    }
    size_t at = (c->inbox_head + c->inbox_count) % INBOX_MAX;
    c->inbox[at] = (struct raw_msg){ from, dup_bytes(bytes, size), size };
    c->inbox_count++;
}

static void
hold(struct consensus *c, uint16_t from, const uint8_t *bytes, size_t size)
{
    if (c->held_count == HELD_MAX) {
        mem_free(c->held[0].bytes);
        memmove(&c->held[0], &c->held[1], (HELD_MAX - 1) * sizeof c->held[0]);
        c->held_count--;
        c->stats.dropped_held_overflow++;
    }
    c->held[c->held_count++] = (struct raw_msg){ from, dup_bytes(bytes, size), size };
}

/* Moves every held message back to the inbox, oldest first. */
static void
release_held(struct consensus *c)
{
    size_t n = c->held_count;
    c->held_count = 0;
    for (size_t i = 0; i < n; i++) {
        inbox_push(c, c->held[i].from, c->held[i].bytes, c->held[i].size);
        mem_free(c->held[i].bytes);
        c->held[i].bytes = NULL;
    }
}

/* ---- sending ---- */

static void
send_to(struct consensus *c, uint16_t to, const uint8_t *bytes, size_t size)
{
    if (is_self(c, to)) {
        inbox_push(c, to, bytes, size);
        return;
    }
    c->env.send(c->env.ctx, to, bytes, size);
}

static void
broadcast_all(struct consensus *c, const uint8_t *bytes, size_t size, bool include_self)
{
    c->env.broadcast(c->env.ctx, bytes, size);
    if (include_self && c->self >= 0) {
        inbox_push(c, (uint16_t)c->self, bytes, size);
    }
}

/* Appends our SyncInfo: high QC, high commit cert, and the high TC when it is the newest
 * certificate (we entered the round by it). */
static enum err
put_sync_info(struct consensus *c, struct buf *b)
{
    enum err rc = buf_append(b, c->high_qc.bytes, c->high_qc.size);
    if (rc == ERR_OK) {
        rc = buf_append(b, c->high_cc.bytes, c->high_cc.size);
    }
    bool with_tc = c->high_tc.bytes != NULL && c->high_tc.round >= c->high_qc.round;
    if (rc == ERR_OK) {
        rc = codec_put_u8(b, with_tc ? 1 : 0);
    }
    if (rc == ERR_OK && with_tc) {
        rc = buf_append(b, c->high_tc.bytes, c->high_tc.size);
    }
    return rc;
}

static void
send_sync_info(struct consensus *c, uint16_t to)
{
    encode_into(&c->out);
    enum err rc = codec_put_u8(&c->out, CONS_MSG_SYNC_INFO);
    if (rc == ERR_OK) {
        rc = put_sync_info(c, &c->out);
    }
    ASSERT(rc == ERR_OK);
    send_to(c, to, c->out.data, c->out.size);
}

/* ---- durability ---- */

static bool
persist_safety(struct consensus *c)
{
    uint8_t storage[SAFETY_RECORD_SIZE_MAX];
    struct buf b = {
        .data = storage, .size = 0, .capacity = sizeof storage, .size_max = sizeof storage
    };
    enum err rc = safety_record_encode(&b, &c->safety);
    ASSERT(rc == ERR_OK);
    rc = c->env.persist_safety(c->env.ctx, b.data, b.size);
    if (rc != ERR_OK) {
        log_error(LOG_CONSENSUS, "safety record not persisted, halting err=%s", err_name(rc));
        c->halted = true;
        return false;
    }
    return true;
}

/* ---- pacemaker ---- */

/* T(r) of section 6, plus (with leader_egress_kbps) the dissemination time of stage A: a
 * round ends when this node holds the next leader's proposal, which that leader sends to
 * n-1 peers one after another, so the last of them gets it (n-1) x size / bandwidth after
 * the first. Sized by the newest proposal this node accepted (the load changes slowly),
 * capped at base_timeout so a large proposal cannot stretch failure detection further. */
static uint64_t
dissemination_ms(const struct consensus *c)
{
    if (c->cfg.leader_egress_kbps == 0 || c->vs.count < 2) {
        return 0;
    }
    uint64_t bits = (uint64_t)(c->vs.count - 1u) * c->last_proposal_size * 8u;
    uint64_t ms = bits / c->cfg.leader_egress_kbps;
    return ms < c->cfg.base_timeout_ms ? ms : c->cfg.base_timeout_ms;
}

static uint64_t
round_timeout_ms(const struct consensus *c, uint64_t round)
{
    uint64_t hcr = c->root->info.round;
    uint64_t k = round > hcr + 2 ? round - hcr - 2 : 0;
    if (k > c->cfg.max_backoff_exp) {
        k = c->cfg.max_backoff_exp;
    }
    uint64_t t = c->cfg.base_timeout_ms;
    for (uint64_t i = 0; i < k; i++) {
        t = t * c->cfg.backoff_permille / 1000u;
    }
    return t + dissemination_ms(c);
}

static void
arm_round_timer(struct consensus *c)
{
    c->round_token++;
    c->env.set_timer(c->env.ctx, CONS_TIMER_ROUND, round_timeout_ms(c, c->current_round),
                     c->round_token);
}

static void propose(struct consensus *c);

static void
enter_round(struct consensus *c, uint64_t round)
{
    ASSERT(round > c->current_round);
    c->current_round = round;
    memset(c->slots, 0, sizeof c->slots);
    memset(c->votes, 0, sizeof c->votes);
    c->votes_round = round;
    c->qc_formed = false;
    c->timed_out = false;
    mem_free(c->my_timeout);
    c->my_timeout = NULL;
    c->my_timeout_size = 0;
    c->propose_pending = false;
    c->propose_paced = false;
    for (uint16_t i = 0; i < (uint16_t)c->vs.count; i++) { /* count <= VS_NODES_MAX */
        if (c->timeouts[i].present && c->timeouts[i].round < round) {
            c->timeouts[i].present = false;
        }
    }
    arm_round_timer(c);
    if (c->self >= 0 && leader_of(c, round) == (uint16_t)c->self) {
        propose(c);
    }
}

static void
maybe_advance(struct consensus *c)
{
    uint64_t top = c->high_qc.round;
    if (c->high_tc.bytes != NULL && c->high_tc.round > top) {
        top = c->high_tc.round;
    }
    if (top + 1 > c->current_round) {
        enter_round(c, top + 1);
    }
}

/* ---- block tree ---- */

static void
tree_add(struct consensus *c, struct cblock *b)
{
    ASSERT(c->block_count < c->cfg.block_tree_max);
    c->blocks[c->block_count++] = b;
}

static bool
descends_from_root(const struct consensus *c, const struct cblock *b)
{
    for (; b != NULL; b = b->parent) {
        if (b == c->root) {
            return true;
        }
    }
    return false;
}

/* Keeps only the root and its descendants; frees the rest (older blocks and forks). */
static void
tree_prune(struct consensus *c)
{
    size_t n = c->block_count;
    bool *keep = mem_calloc(n, sizeof *keep);
    for (size_t i = 0; i < n; i++) {
        keep[i] = descends_from_root(c, c->blocks[i]); /* before anything is freed */
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (keep[i]) {
            c->blocks[kept++] = c->blocks[i];
        } else {
            cblock_free(c->blocks[i]);
        }
    }
    c->block_count = kept;
    c->root->parent = NULL;
    mem_free(keep);
}

static void
tree_clear(struct consensus *c)
{
    for (size_t i = 0; i < c->block_count; i++) {
        cblock_free(c->blocks[i]);
    }
    c->block_count = 0;
    c->root = NULL;
}

static struct cblock *
root_from_info(const struct block_info *info)
{
    struct cblock *b = mem_calloc(1, sizeof *b);
    b->id = info->id;
    b->info = *info;
    b->empty_payload = true;
    return b;
}

/* ---- asynchronous execution: blocks waiting for their results ---- */

static struct exec_wait *
exec_find(struct consensus *c, const struct hash *id)
{
    for (size_t i = 0; i < CONS_EXEC_PENDING_MAX; i++) {
        if (c->exec[i].used && hash_equal(&c->exec[i].info.id, id)) {
            return &c->exec[i];
        }
    }
    return NULL;
}

static bool
exec_any(const struct consensus *c)
{
    for (size_t i = 0; i < CONS_EXEC_PENDING_MAX; i++) {
        if (c->exec[i].used) {
            return true;
        }
    }
    return false;
}

static void
exec_release(struct exec_wait *w)
{
    mem_free(w->bytes);
    mem_free(w->replay_tail);
    memset(w, 0, sizeof *w);
}

static void
exec_clear(struct consensus *c)
{
    for (size_t i = 0; i < CONS_EXEC_PENDING_MAX; i++) {
        exec_release(&c->exec[i]);
    }
}

/* The slot a block of `round` would take: a free one, else the lowest-round entry if its
 * round is lower (evicted: its result will be ignored). NULL: full with newer blocks. */
static struct exec_wait *
exec_slot(struct consensus *c, uint64_t round)
{
    struct exec_wait *low = NULL;
    for (size_t i = 0; i < CONS_EXEC_PENDING_MAX; i++) {
        struct exec_wait *w = &c->exec[i];
        if (!w->used) {
            return w;
        }
        if (low == NULL || w->info.round < low->info.round) {
            low = w;
        }
    }
    ASSERT(low != NULL); /* CONS_EXEC_PENDING_MAX > 0 slots, all used */
    return low->info.round < round ? low : NULL;
}

/* Parks a block whose execution env->execute started (validate_block made sure of a slot)
 * and stores it durably now: the store's fsyncs overlap the execution instead of delaying the
 * vote that follows the result. False: the store failed and the core halts (STYLE.md 2.5). */
static bool
exec_park(struct consensus *c, const struct block_info *info, const struct block *blk,
          const uint8_t *bytes, size_t size, bool own)
{
    struct exec_wait *w = exec_slot(c, info->round);
    ASSERT(w != NULL);
    if (w->used) {
        c->stats.exec_dropped++;
        exec_release(w);
    }
    *w = (struct exec_wait){ .used = true,
                             .own = own,
                             .info = *info,
                             .parent_id = blk->header.parent_id,
                             .bytes = dup_bytes(bytes, size),
                             .size = size };
    if (c->env.persist_block(c->env.ctx, &info->id, bytes, size) != ERR_OK) {
        c->halted = true;
        return false;
    }
    return true;
}

static void
restore_clear(struct consensus *c)
{
    for (size_t i = 0; i < c->restore_count; i++) {
        mem_free(c->restore[i].bytes);
    }
    mem_free(c->restore);
    c->restore = NULL;
    c->restore_count = 0;
}

/* ---- epochs ---- */

static void
set_epoch(struct consensus *c, const struct validator_set *vs, const struct block_info *root)
{
    c->vs = *vs;
    c->epoch = root->epoch;
    c->epoch_root = *root;
    qc_epoch_genesis(c->cfg.chain.alg, root, &c->epoch_qc);
    c->self = validator_set_find(&c->vs, &c->self_key);
    memset(c->timeouts, 0, sizeof c->timeouts);
    memset(c->evidence_done, 0, sizeof c->evidence_done);
    memset(c->sync_reply_round, 0, sizeof c->sync_reply_round);
    memset(c->epoch_reply_us, 0, sizeof c->epoch_reply_us);
    memset(c->cert_cache, 0, sizeof c->cert_cache);
    cert_clear(&c->high_tc);
    if (c->cfg.leader_reputation) {
        reputation_reset(c);
    }
    encode_into(&c->enc);
    enum err rc = qc_encode(&c->enc, &c->epoch_qc);
    ASSERT(rc == ERR_OK);
    cert_set(&c->high_qc, c->enc.data, c->enc.size);
    c->high_qc.round = 0;
    c->high_qc.block_id = root->id;
    cert_set(&c->high_cc, c->enc.data, c->enc.size);
    c->high_cc.round = 0;
    c->high_cc.aux_round = 0;
    c->seen_prop_round = 0;
}

static void
history_entry_free(struct epoch_entry *e)
{
    mem_free(e->cert);
    mem_free(e->set);
    for (size_t i = 0; i < e->suffix_count; i++) {
        mem_free(e->suffix[i].bytes);
    }
    memset(e, 0, sizeof *e);
}

/* Keeps the suffix blocks from the cert's block down to (not including) the ending block. */
static void
history_keep_suffix(struct consensus *c, struct epoch_entry *e, const struct hash *cert_block,
                    const struct cblock *ending)
{
    const struct cblock *b = tree_find(c, cert_block);
    size_t max = sizeof e->suffix / sizeof e->suffix[0];
    for (; b != NULL && b != ending && e->suffix_count < max; b = b->parent) {
        e->suffix[e->suffix_count++] = (struct raw_msg){ 0, dup_bytes(b->bytes, b->size), b->size };
    }
}

static void
history_add(struct consensus *c, uint64_t epoch, const uint8_t *cert, size_t cert_size,
            const struct validator_set *next)
{
    if (c->history_count == EPOCH_HISTORY) {
        history_entry_free(&c->history[0]);
        memmove(&c->history[0], &c->history[1], (EPOCH_HISTORY - 1) * sizeof c->history[0]);
        c->history_count--;
        memset(&c->history[EPOCH_HISTORY - 1], 0, sizeof c->history[0]);
    }
    struct buf b;
    buf_init(&b, VS_ENCODED_SIZE_MAX);
    enum err rc = validator_set_encode(next, &b);
    ASSERT(rc == ERR_OK);
    struct epoch_entry *e = &c->history[c->history_count++];
    e->epoch = epoch;
    e->cert = dup_bytes(cert, cert_size);
    e->cert_size = cert_size;
    e->set_size = b.size;
    e->set = buf_detach(&b, &e->set_size);
}

/* Epoch e ended at `ending` (just committed) with the cert `cert`: install e+1. */
static void
switch_epoch(struct consensus *c, const struct cblock *ending, const struct qc *qc,
             const uint8_t *cert, size_t cert_size)
{
    enum err rc = c->env.next_validator_set(c->env.ctx, &ending->info, c->tmp_vs);
    struct hash h;
    if (rc == ERR_OK) {
        rc = validator_set_check(c->tmp_vs);
    }
    if (rc == ERR_OK && c->tmp_vs->epoch != c->epoch + 1) {
        rc = ERR_CORRUPT;
    }
    if (rc == ERR_OK) {
        validator_set_hash(c->cfg.chain.alg, c->tmp_vs, &h);
        rc = hash_equal(&h, &ending->info.next_epoch_vs_hash) ? ERR_OK : ERR_CORRUPT;
    }
    if (rc != ERR_OK) {
        log_error(LOG_CONSENSUS, "next validator set unavailable or wrong, halting err=%s",
                  err_name(rc));
        c->halted = true;
        return;
    }
    history_add(c, c->epoch, cert, cert_size, c->tmp_vs);
    history_keep_suffix(c, &c->history[c->history_count - 1], qc_block_id(qc), ending);
    struct block_info root = ending->info;
    root.epoch = c->epoch + 1;
    root.round = 0;
    memset(&root.next_epoch_vs_hash, 0, sizeof root.next_epoch_vs_hash);
    tree_clear(c);
    exec_clear(c); /* results for the old epoch's blocks are ignored */
    restore_clear(c);
    c->root = root_from_info(&root);
    tree_add(c, c->root);
    set_epoch(c, c->tmp_vs, &root);
    memset(&c->safety, 0, sizeof c->safety);
    c->safety.epoch = c->epoch;
    c->stats.epoch_changes++;
    log_info(LOG_CONSENSUS, "epoch %llu starts at height=%llu validators=%zu",
             (unsigned long long)c->epoch, (unsigned long long)root.height, c->vs.count);
    if (!persist_safety(c)) {
        return;
    }
    c->current_round = 0;
    enter_round(c, 1);
}

/* ---- commit ---- */

/* Hands one final block to the env; a failure halts the node. */
static bool
commit_one(struct consensus *c, const struct cblock *b, const struct buf *proof)
{
    struct committed_block cb = { .info = &b->info,
                                  .block = b->bytes,
                                  .block_size = b->size,
                                  .proof = proof->data,
                                  .proof_size = proof->size,
                                  .ends_epoch = !hash_is_zero(&b->info.next_epoch_vs_hash) };
    enum err rc = c->env.commit(c->env.ctx, &cb);
    if (rc != ERR_OK) {
        log_error(LOG_CONSENSUS, "commit failed, halting err=%s", err_name(rc));
        c->halted = true;
        return false;
    }
    c->stats.blocks_committed++;
    if (c->cfg.leader_reputation && b->bytes != NULL) {
        reputation_add(c, b->bytes, b->size);
    }
    return true;
}

/* Delivers path[from_index] .. path[0] is the newest; commits oldest first. */
static bool
deliver_chain(struct consensus *c, struct cblock **path, size_t count, const struct qc *cert,
              size_t commit_from)
{
    struct byte_span *headers = mem_calloc(count + 1, sizeof *headers);
    for (size_t i = 0; i < count; i++) {
        headers[i] = (struct byte_span){ path[i]->bytes, path[i]->header_size };
    }
    struct buf proof;
    buf_init(&proof, CONS_MSG_SIZE_MAX);
    bool ok = true;
    for (size_t k = count; k > commit_from && ok; k--) {
        size_t i = k - 1;
        buf_reset(&proof);
        enum err rc = finality_proof_encode(&proof, cert, headers, (uint16_t)i);
        ASSERT(rc == ERR_OK);
        ok = commit_one(c, path[i], &proof);
        if (ok) {
            c->root = path[i];
        }
    }
    buf_release(&proof);
    mem_free(headers);
    return ok;
}

/* The commit rule for a verified QC whose ledger info names block C. */
static void
apply_commit(struct consensus *c, const struct qc *qc, const uint8_t *qc_bytes, size_t qc_size)
{
    const struct block_info *ci = &qc->ledger_info.commit_info;
    if (!qc->ledger_info.has_commit || ci->round <= c->root->info.round) {
        return;
    }
    struct cblock *target = tree_find(c, &ci->id);
    if (target == NULL || target->bytes == NULL) {
        return;
    }
    if (!block_info_equal(&target->info, ci)) {
        c->stats.nondeterminism_alarms++;
        c->no_vote = true;
        log_error(LOG_CONSENSUS, "non-determinism: own result differs from certified round=%llu",
                  (unsigned long long)ci->round);
        return;
    }
    /* path[0] = C, ..., path[count-1] = the child of the root */
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    struct cblock **path = mem_calloc(c->block_count, sizeof *path);
    size_t count = 0;
    for (struct cblock *b = target; b != NULL && b != c->root; b = b->parent) {
        ASSERT(count < c->block_count);
        path[count++] = b;
    }
    bool connected = count > 0 && path[count - 1]->parent == c->root;
    size_t commit_from = 0; /* index of the newest block to commit */
    if (connected && !hash_is_zero(&ci->next_epoch_vs_hash)) {
        /* the epoch-ending block is the oldest on the path carrying the next set's hash */
        for (size_t i = count; i > 0; i--) {
            if (!hash_is_zero(&path[i - 1]->info.next_epoch_vs_hash)) {
                commit_from = i - 1;
                break;
            }
        }
    }
    if (connected && deliver_chain(c, path, count, qc, commit_from)) {
        if (!hash_is_zero(&ci->next_epoch_vs_hash)) {
            switch_epoch(c, path[commit_from], qc, qc_bytes, qc_size);
        } else {
            tree_prune(c);
        }
    }
    mem_free(path);
}

/* ---- block retrieval ---- */

static uint16_t
next_peer(const struct consensus *c, uint16_t peer)
{
    uint16_t p = peer;
    for (uint16_t i = 0; i < (uint16_t)c->vs.count; i++) { /* count <= VS_NODES_MAX */
        p = (uint16_t)((p + 1u) % c->vs.count);
        if (!is_self(c, p)) {
            return p;
        }
    }
    return peer;
}

static void
arm_retrieval_timer(struct consensus *c)
{
    c->rt.token++;
    c->env.set_timer(c->env.ctx, CONS_TIMER_RETRIEVAL, c->cfg.retrieval_timeout_ms, c->rt.token);
}

static void
send_block_request(struct consensus *c)
{
    encode_into(&c->out);
    enum err rc = ERR_OK;
    if (c->rt.mode == RT_LEDGER) {
        rc = codec_put_u8(&c->out, CONS_MSG_LEDGER_REQUEST);
        rc = rc == ERR_OK ? codec_put_hash(&c->out, &c->root->id) : rc;
        rc = rc == ERR_OK ? codec_put_u64(&c->out, c->root->info.height) : rc;
        rc = rc == ERR_OK ? codec_put_u16(&c->out, CONS_RETRIEVAL_BLOCKS_MAX) : rc;
    } else {
        rc = codec_put_u8(&c->out, CONS_MSG_BLOCK_REQUEST);
        rc = rc == ERR_OK ? codec_put_hash(&c->out, &c->rt.want) : rc;
        rc = rc == ERR_OK ? codec_put_u16(&c->out, CONS_RETRIEVAL_BLOCKS_MAX) : rc;
        rc = rc == ERR_OK ? codec_put_hash(&c->out, &c->root->id) : rc;
    }
    ASSERT(rc == ERR_OK);
    send_to(c, c->rt.peer, c->out.data, c->out.size);
    arm_retrieval_timer(c);
}

/* `want` changed: no peer has answered NOT_FOUND for it yet. */
static void
not_found_clear(struct consensus *c)
{
    memset(c->rt.not_found, 0, sizeof c->rt.not_found);
    c->rt.not_found_power = 0;
}

static bool
said_not_found(const struct consensus *c, uint16_t peer)
{
    return (c->rt.not_found[peer / 8u] & (1u << (peer % 8u))) != 0;
}

static bool
is_lost(const struct consensus *c, const struct hash *id)
{
    return hashes_contain(c->lost, LOST_MAX, id);
}

static void
retrieval_reset(struct consensus *c)
{
    for (size_t i = 0; i < c->rt.fetched_count; i++) {
        mem_free(c->rt.fetched[i].bytes);
    }
    c->rt.fetched_count = 0;
    c->rt.active = false;
    c->rt.exec_wait = false;
    c->rt.tries = 0;
    not_found_clear(c);
}

/* Far behind: catch up through committed blocks first (bounded steps), then top-down. */
static uint8_t
retrieval_mode_for(const struct consensus *c, uint64_t target_height)
{
    bool far = target_height > c->root->info.height + CONS_RETRIEVAL_BLOCKS_MAX;
    return far && c->env.load_committed_at != NULL ? RT_LEDGER : RT_TOP_DOWN;
}

static void
start_retrieval(struct consensus *c, const struct hash *want, uint64_t want_height, uint16_t from)
{
    if (c->rt.active || c->vs.count < 2) {
        return; /* one at a time: held messages retry when it ends */
    }
    c->rt.active = true;
    c->rt.target = *want;
    c->rt.target_height = want_height;
    c->rt.want = *want;
    c->rt.mode = retrieval_mode_for(c, want_height);
    c->rt.tries = 0;
    not_found_clear(c);
    c->rt.peer = (from < c->vs.count && !is_self(c, from))
                     ? from
                     : next_peer(c, leader_of(c, c->current_round));
    c->stats.retrievals_started++;
    send_block_request(c);
}

/* ---- inserting certificates ---- */

/* The commit rule for a verified QC encoded in c->enc. */
static void
commit_by_encoded(struct consensus *c, const struct qc *qc)
{
    /* the enc buffer is reused below: keep a copy of the cert for the epoch history */
    uint8_t *copy = dup_bytes(c->enc.data, c->enc.size);
    size_t copy_size = c->enc.size;
    apply_commit(c, qc, copy, copy_size);
    mem_free(copy);
}

/* Inserts a verified QC: records it on its block, raises high_qc, applies the commit rule.
 * V_HOLD (and a retrieval started) when the certified block is unknown. */
static enum verdict
insert_qc(struct consensus *c, const struct qc *qc, uint16_t from)
{
    uint64_t round = qc_round(qc);
    struct cblock *b = tree_find(c, qc_block_id(qc));
    if (b == NULL) {
        if (round <= c->root->info.round) {
            return V_DONE; /* below the committed root: nothing to learn */
        }
        if (is_lost(c, qc_block_id(qc))) {
            c->stats.dropped_stale++; /* no peer can serve it: nothing to learn */
            return V_DONE;
        }
        if (exec_find(c, qc_block_id(qc)) != NULL) {
            return V_HOLD; /* retried once the block is executed */
        }
        start_retrieval(c, qc_block_id(qc), qc->vote_data.proposed.height, from);
        return V_HOLD;
    }
    encode_into(&c->enc);
    enum err rc = qc_encode(&c->enc, qc);
    ASSERT(rc == ERR_OK);
    if (b->qc == NULL) {
        b->qc = dup_bytes(c->enc.data, c->enc.size);
        b->qc_size = c->enc.size;
    }
    if (round > c->high_qc.round) {
        cert_set(&c->high_qc, c->enc.data, c->enc.size);
        c->high_qc.round = round;
        c->high_qc.block_id = *qc_block_id(qc);
    }
    if (qc->ledger_info.has_commit && qc->ledger_info.commit_info.round > c->high_cc.aux_round) {
        cert_set(&c->high_cc, c->enc.data, c->enc.size);
        c->high_cc.round = round;
        c->high_cc.aux_round = qc->ledger_info.commit_info.round;
    }
    commit_by_encoded(c, qc);
    return V_DONE;
}

/* Verifies then inserts a QC found anywhere in a message. */
static enum verdict
take_qc(struct consensus *c, const struct qc *qc, uint16_t from, bool *out_bad)
{
    enum err rc = verify_qc(c, qc);
    if (rc != ERR_OK) {
        count_verify_error(c, rc);
        *out_bad = true;
        return V_DONE;
    }
    return insert_qc(c, qc, from);
}

/* Writes the TC encoded in c->enc; a failure halts the node. */
static bool
persist_tc(struct consensus *c, uint64_t round)
{
    enum err rc = c->env.persist_tc(c->env.ctx, c->enc.data, c->enc.size);
    if (rc != ERR_OK) {
        log_error(LOG_CONSENSUS, "highest TC not persisted, halting round=%llu err=%s",
                  (unsigned long long)round, err_name(rc));
        c->halted = true;
        return false;
    }
    return true;
}

/* Raises high_tc to a verified TC. A higher TC is made durable first (persist is false only
 * for the TC handed back at start, which is durable already): the round after it is entered
 * on return, and a restart must resume there. False: the write failed, the node halted. */
static bool
take_tc(struct consensus *c, const struct tc *tc, bool persist)
{
    if (c->high_tc.bytes != NULL && tc->round <= c->high_tc.round) {
        return true;
    }
    encode_into(&c->enc);
    enum err rc = tc_encode(&c->enc, tc);
    ASSERT(rc == ERR_OK);
    if (persist && !persist_tc(c, tc->round)) {
        return false;
    }
    cert_set(&c->high_tc, c->enc.data, c->enc.size);
    c->high_tc.round = tc->round;
    c->high_tc.aux_round = qc_round(&tc->hqc);
    return true;
}

/* on_sync_info steps 1-4. *out_bad: the message carries an invalid certificate. `slack`:
 * how many rounds the sender may be behind without a reply (votes and proposals trail the
 * newest certificate by one round in the normal case; answering them would add n/3 large
 * messages per round at the leader). */
static enum verdict
process_sync(struct consensus *c, const struct sync_info *si, uint16_t from, uint64_t slack,
             bool *out_bad)
{
    *out_bad = false;
    enum verdict v = take_qc(c, &si->highest_commit_cert, from, out_bad);
    if (*out_bad || v == V_HOLD || c->epoch != si->highest_commit_cert.vote_data.proposed.epoch) {
        return v;
    }
    v = take_qc(c, &si->highest_qc, from, out_bad);
    if (*out_bad || v == V_HOLD) {
        return v;
    }
    if (si->has_tc) {
        enum err rc = verify_tc(c, &si->highest_tc);
        if (rc != ERR_OK) {
            count_verify_error(c, rc);
            *out_bad = true;
            return V_DONE;
        }
        v = take_qc(c, &si->highest_tc.hqc, from, out_bad);
        if (*out_bad || v == V_HOLD) {
            return v;
        }
        if (!take_tc(c, &si->highest_tc, true)) {
            return V_DONE;
        }
    }
    maybe_advance(c);
    uint64_t their = qc_round(&si->highest_qc);
    if (si->has_tc && si->highest_tc.round > their) {
        their = si->highest_tc.round;
    }
    bool behind = their + 1 + slack < c->current_round ||
                  (slack == 0 &&
                   si->highest_commit_cert.ledger_info.commit_info.round < c->high_cc.aux_round);
    if (behind && from < c->vs.count && !is_self(c, from) &&
        c->sync_reply_round[from] != c->current_round) {
        c->sync_reply_round[from] = c->current_round;
        send_sync_info(c, from);
    }
    return V_DONE;
}

/* ---- evidence ---- */

static void
report_evidence(struct consensus *c, uint16_t author, uint8_t kind, struct byte_span a,
                struct byte_span b)
{
    if (author >= c->vs.count || c->evidence_done[author]) {
        return;
    }
    c->evidence_done[author] = true;
    c->stats.evidence_found++;
    struct evidence e = { .kind = kind, .a = a, .b = b };
    struct buf out;
    buf_init(&out, CONS_MSG_SIZE_MAX);
    enum err rc = codec_put_u8(&out, CONS_MSG_EVIDENCE);
    if (rc == ERR_OK) {
        rc = evidence_encode(&out, &e);
    }
    ASSERT(rc == ERR_OK);
    log_warn(LOG_CONSENSUS, "equivocation evidence validator=%u kind=%u epoch=%llu", author, kind,
             (unsigned long long)c->epoch);
    if (c->env.evidence != NULL) {
        c->env.evidence(c->env.ctx, out.data + 1, out.size - 1);
    }
    c->env.broadcast(c->env.ctx, out.data, out.size);
    buf_release(&out);
}

/* ---- safety rules: make_vote ---- */

static void
send_vote(struct consensus *c, const struct vote *v)
{
    encode_into(&c->out);
    enum err rc = codec_put_u8(&c->out, CONS_MSG_VOTE);
    if (rc == ERR_OK) {
        rc = vote_encode(&c->out, v);
    }
    if (rc == ERR_OK) {
        rc = put_sync_info(c, &c->out);
    }
    ASSERT(rc == ERR_OK);
    c->stats.votes_sent++;
    log_debug(LOG_CONSENSUS, "vote sent round=%llu",
              (unsigned long long)v->vote_data.proposed.round);
    send_to(c, leader_of(c, v->vote_data.proposed.round + 1), c->out.data, c->out.size);
}

static void
make_vote(struct consensus *c, const struct cblock *b)
{
    if (c->self < 0 || c->halted || c->no_vote) {
        return;
    }
    ASSERT(c->safety.epoch == c->epoch);
    ASSERT(b->parent != NULL);
    uint64_t round = b->info.round;
    if (c->safety.has_vote && c->safety.last_vote.vote_data.proposed.round == round) {
        send_vote(c, &c->safety.last_vote); /* never a second vote in one round */
        return;
    }
    if (round <= c->safety.last_voted_round) {
        return;
    }
    bool direct = round == b->qc_round + 1;
    bool by_tc = c->high_tc.bytes != NULL && round == c->high_tc.round + 1 &&
                 b->qc_round >= c->high_tc.aux_round;
    if (!direct && !by_tc) {
        return;
    }
    struct vote v;
    memset(&v, 0, sizeof v);
    v.vote_data.proposed = b->info;
    v.vote_data.parent = b->parent->info;
    v.ledger_info.has_commit = direct;
    if (direct) {
        v.ledger_info.commit_info = b->parent->info;
    }
    vote_data_hash(c->cfg.chain.alg, &v.vote_data, &v.ledger_info.vote_data_hash);
    v.author = (uint16_t)c->self;
    struct hash digest;
    vote_digest(&c->cfg.chain, c->epoch, &v.ledger_info, &digest);
    if (c->env.sign(c->env.ctx, &digest, &v.sig) != ERR_OK) {
        c->halted = true;
        return;
    }
    c->safety.last_voted_round = round;
    if (b->qc_round > c->safety.one_chain_round) {
        c->safety.one_chain_round = b->qc_round;
    }
    c->safety.last_vote = v;
    c->safety.has_vote = true;
    if (!persist_safety(c)) {
        return;
    }
    send_vote(c, &v);
}

/* ---- block validation and insertion ---- */

/* The leaders of the rounds a block at `round` on a QC of `qc_round` skipped (bounded). */
static uint16_t
expected_failed(struct consensus *c, uint64_t qc_round, uint64_t round, struct failed_author *out)
{
    uint64_t first = qc_round + 1;
    if (round > CONS_FAILED_AUTHORS_MAX && round - CONS_FAILED_AUTHORS_MAX > first) {
        first = round - CONS_FAILED_AUTHORS_MAX;
    }
    uint16_t n = 0;
    for (uint64_t r = first; r < round; r++) {
        out[n].round = r;
        out[n].author = leader_of(c, r);
        n++;
    }
    return n;
}

/* Checks a block against its parent (not round or leader) and computes its BlockInfo.
 * ERR_AGAIN: env->execute started the execution; *out holds all but the results and the
 * caller parks the block (exec_park). ERR_FULL: no room to wait for another execution.
 * `certified`: the block was fetched under a QC or validated by this node before; with leader
 * reputation its failed_authors (which depend on this node's committed history) are then not
 * judged. */
static enum err
validate_block(struct consensus *c, const struct block *blk, const struct hash *id,
               const struct cblock *parent, bool certified, struct block_info *out)
{
    const struct block_header *h = &blk->header;
    bool suffix = !hash_is_zero(&parent->info.next_epoch_vs_hash);
    if (h->epoch != c->epoch || h->round <= parent->info.round ||
        !hash_equal(&h->parent_id, &parent->id) || h->author >= c->vs.count ||
        !block_info_equal(&h->qc.vote_data.proposed, &parent->info) ||
        !hash_equal(&h->parent_exec_root, &parent->info.exec_root) ||
        !hash_equal(&h->parent_receipts_root, &parent->info.receipts_root)) {
        return ERR_MALFORMED;
    }
    if (!certified || !c->cfg.leader_reputation) {
        struct failed_author expect[CONS_FAILED_AUTHORS_MAX];
        uint16_t n = expected_failed(c, qc_round(&h->qc), h->round, expect);
        if (n != h->failed_count) {
            return ERR_MALFORMED;
        }
        for (uint16_t i = 0; i < n; i++) {
            if (expect[i].round != h->failed[i].round || expect[i].author != h->failed[i].author) {
                return ERR_MALFORMED;
            }
        }
    }
    if (block_check_payload(c->cfg.chain.alg, blk) != ERR_OK ||
        blk->payload.tx_count > c->cfg.max_block_txs ||
        blk->payload.txs_size > c->cfg.max_block_bytes) {
        return ERR_MALFORMED;
    }
    *out = (struct block_info){ .epoch = h->epoch, .round = h->round, .id = *id };
    if (suffix) {
        /* reconfiguration suffix: empty, and a copy of the epoch-ending block's results */
        if (blk->payload.kind != PAYLOAD_EMPTY || h->height != parent->info.height ||
            h->timestamp_us != parent->info.timestamp_us) {
            return ERR_MALFORMED;
        }
        out->height = parent->info.height;
        out->exec_root = parent->info.exec_root;
        out->receipts_root = parent->info.receipts_root;
        out->timestamp_us = parent->info.timestamp_us;
        out->next_epoch_vs_hash = parent->info.next_epoch_vs_hash;
        return ERR_OK;
    }
    if (h->height != parent->info.height + 1 || h->timestamp_us <= parent->info.timestamp_us) {
        return ERR_MALFORMED;
    }
    out->height = h->height;
    out->timestamp_us = h->timestamp_us;
    if (exec_slot(c, h->round) == NULL) {
        c->stats.exec_dropped++; /* full of newer blocks: a later result could not be kept */
        return ERR_FULL;
    }
    struct exec_result res;
    enum err rc = c->env.execute(c->env.ctx, blk, &parent->info, &res);
    if (rc == ERR_AGAIN) {
        c->stats.exec_started++;
        return ERR_AGAIN;
    }
    if (rc != ERR_OK) {
        return ERR_MALFORMED;
    }
    out->exec_root = res.exec_root;
    out->receipts_root = res.receipts_root;
    out->next_epoch_vs_hash = res.next_epoch_vs_hash;
    return ERR_OK;
}

/* Adds a validated block (bytes copied) to the tree. NULL when the tree is full. */
static struct cblock *
tree_insert(struct consensus *c, const struct block *blk, const uint8_t *bytes, size_t size,
            const struct block_info *info, struct cblock *parent)
{
    if (c->block_count >= c->cfg.block_tree_max) {
        return NULL;
    }
    struct cblock *b = mem_calloc(1, sizeof *b);
    b->id = info->id;
    b->info = *info;
    b->parent_id = blk->header.parent_id;
    b->qc_round = qc_round(&blk->header.qc);
    b->author = blk->header.author;
    b->empty_payload = blk->payload.kind == PAYLOAD_EMPTY;
    b->bytes = dup_bytes(bytes, size);
    b->size = size;
    b->parent = parent;
    /* the header is everything before the payload */
    struct buf tmp;
    buf_init(&tmp, CONS_MSG_SIZE_MAX);
    enum err rc = block_payload_encode(&tmp, &blk->payload);
    ASSERT(rc == ERR_OK);
    ASSERT(tmp.size <= size);
    b->header_size = size - tmp.size;
    buf_release(&tmp);
    tree_add(c, b);
    return b;
}

/* Validates, executes, stores durably and inserts one block whose parent is in the tree.
 * ERR_AGAIN: the block or its parent is executing (the block is parked). */
static enum err
accept_block(struct consensus *c, const struct block *blk, const uint8_t *bytes, size_t size,
             bool certified, struct cblock **out)
{
    struct hash id;
    block_header_id(c->cfg.chain.alg, &blk->header, &id);
    struct cblock *existing = tree_find(c, &id);
    if (existing != NULL) {
        *out = existing;
        return ERR_OK;
    }
    if (exec_find(c, &id) != NULL) {
        return ERR_AGAIN;
    }
    struct cblock *parent = tree_find(c, &blk->header.parent_id);
    if (parent == NULL) {
        return exec_find(c, &blk->header.parent_id) != NULL ? ERR_AGAIN : ERR_NOT_FOUND;
    }
    struct block_info info;
    enum err rc = validate_block(c, blk, &id, parent, certified, &info);
    if (rc == ERR_AGAIN) {
        return exec_park(c, &info, blk, bytes, size, false) ? ERR_AGAIN : ERR_IO;
    }
    if (rc != ERR_OK) {
        return rc;
    }
    if (c->env.persist_block(c->env.ctx, &id, bytes, size) != ERR_OK) {
        c->halted = true;
        return ERR_IO;
    }
    struct cblock *b = tree_insert(c, blk, bytes, size, &info, parent);
    if (b == NULL) {
        return ERR_FULL;
    }
    *out = b;
    return ERR_OK;
}

/* ---- proposals ---- */

static enum err
put_header_and_sig(struct buf *b, const struct cblock *blk, const struct signature *sig)
{
    enum err rc = buf_append(b, blk->bytes, blk->header_size);
    if (rc == ERR_OK) {
        rc = codec_put_signature(b, sig);
    }
    return rc;
}

static void
broadcast_proposal(struct consensus *c, const uint8_t *block, size_t block_size,
                   const struct signature *sig)
{
    encode_into(&c->out);
    enum err rc = codec_put_u8(&c->out, CONS_MSG_PROPOSAL);
    if (rc == ERR_OK) {
        rc = buf_append(&c->out, block, block_size);
    }
    if (rc == ERR_OK) {
        rc = codec_put_signature(&c->out, sig);
    }
    if (rc == ERR_OK) {
        rc = put_sync_info(c, &c->out);
    }
    ASSERT(rc == ERR_OK);
    c->stats.proposals_sent++;
    log_debug(LOG_CONSENSUS, "proposal sent round=%llu bytes=%zu",
              (unsigned long long)c->current_round, block_size);
    broadcast_all(c, c->out.data, c->out.size, true);
}

/* Every uncommitted ancestor of b (inclusive) has an empty payload. */
static bool
chain_is_idle(const struct consensus *c, const struct cblock *b)
{
    for (; b != NULL && b != c->root; b = b->parent) {
        if (!b->empty_payload) {
            return false;
        }
    }
    return true;
}

/* How long a block with txs waits for min_block_interval_ms after its parent's timestamp
 * (0: propose now). A full block (max_block_txs, or no room left for a largest tx within
 * max_block_bytes), an empty one and a block after a failed round go at once.
 * Never longer than the interval itself: a parent stamped ahead of this node's clock (up to
 * max_clock_skew_ms is accepted) must not hold the round near its timeout. */
static uint64_t
pace_ms(const struct consensus *c, const struct cblock *parent, const struct block *blk)
{
    if (c->cfg.min_block_interval_ms == 0 || blk->payload.kind == PAYLOAD_EMPTY ||
        blk->header.tx_count >= c->cfg.max_block_txs ||
        blk->payload.txs_size + CONS_TX_SIZE_MAX > c->cfg.max_block_bytes ||
        c->current_round != parent->info.round + 1) {
        return 0;
    }
    uint64_t due_us = parent->info.timestamp_us + c->cfg.min_block_interval_ms * 1000u;
    uint64_t now = c->env.now_us(c->env.ctx);
    uint64_t wait_ms = now >= due_us ? 0 : (due_us - now + 999u) / 1000u;
    return wait_ms < c->cfg.min_block_interval_ms ? wait_ms : c->cfg.min_block_interval_ms;
}

/* Builds the block of this round on high_qc; returns its encoding in c->out. */
static enum err
build_block(struct consensus *c, struct cblock *parent, struct block *blk, struct buf *txs)
{
    struct block_header *h = &blk->header;
    enum err rc = qc_decode(c->high_qc.bytes, c->high_qc.size, &h->qc);
    ASSERT(rc == ERR_OK);
    bool suffix = !hash_is_zero(&parent->info.next_epoch_vs_hash);
    h->epoch = c->epoch;
    h->round = c->current_round;
    h->parent_id = parent->id;
    h->author = (uint16_t)c->self;
    h->failed_count = expected_failed(c, qc_round(&h->qc), h->round, h->failed);
    h->parent_exec_root = parent->info.exec_root;
    h->parent_receipts_root = parent->info.receipts_root;
    blk->payload = (struct block_payload){ .kind = PAYLOAD_EMPTY };
    if (suffix) {
        h->height = parent->info.height;
        h->timestamp_us = parent->info.timestamp_us;
    } else {
        h->height = parent->info.height + 1;
        uint64_t now = c->env.now_us(c->env.ctx);
        h->timestamp_us = now > parent->info.timestamp_us ? now : parent->info.timestamp_us + 1;
        size_t n_anc = 0;
        struct hash *exclude = mem_calloc(c->block_count, sizeof *exclude);
        for (const struct cblock *a = parent; a != NULL && a != c->root; a = a->parent) {
            exclude[n_anc++] = a->id;
        }
        uint32_t count = 0;
        struct payload_request req = { .exclude = exclude,
                                       .exclude_count = n_anc,
                                       .max_txs = c->cfg.max_block_txs,
                                       .max_bytes = c->cfg.max_block_bytes };
        rc = c->env.pull_payload(c->env.ctx, &req, txs, &count);
        mem_free(exclude);
        if (rc == ERR_OK && count > 0) {
            blk->payload = (struct block_payload){
                .kind = PAYLOAD_INLINE, .tx_count = count, .txs = txs->data, .txs_size = txs->size
            };
        }
    }
    block_header_set_payload(c->cfg.chain.alg, h, &blk->payload);
    return ERR_OK;
}

/* Signs this round's own block (id, encoding), records it in the safety state and broadcasts
 * it. The block may still be executing: the proposal digest covers the header only, and
 * the leader votes for its block like every replica, once executed (the proposal it sent
 * itself is parked and handled again then), so its execution runs alongside theirs instead
 * of before them (a round is one execution shorter: bench/README.md "Session 10"). */
static void
sign_proposal(struct consensus *c, const struct hash *id, uint64_t round, const uint8_t *block,
              size_t block_size)
{
    struct hash digest;
    proposal_digest(&c->cfg.chain, id, &digest);
    struct signature sig;
    if (c->env.sign(c->env.ctx, &digest, &sig) != ERR_OK) {
        c->halted = true;
        return;
    }
    c->safety.has_proposal = true;
    c->safety.proposal_round = round;
    c->safety.proposal_id = *id;
    c->safety.proposal_sig = sig;
    if (!persist_safety(c)) {
        return;
    }
    broadcast_proposal(c, block, block_size, &sig);
}

/* This round's own block is executing: no second one is built. */
static bool
own_block_executing(const struct consensus *c)
{
    for (size_t i = 0; i < CONS_EXEC_PENDING_MAX; i++) {
        const struct exec_wait *w = &c->exec[i];
        if (w->used && w->own && w->info.round == c->current_round) {
            return true;
        }
    }
    return false;
}

static void
propose(struct consensus *c)
{
    if (c->self < 0 || c->halted || leader_of(c, c->current_round) != (uint16_t)c->self) {
        return;
    }
    if (c->safety.has_proposal && c->safety.proposal_round >= c->current_round) {
        return;
    }
    if (c->current_round <= c->safety.last_voted_round) {
        return; /* sign_proposal rule 1 */
    }
    if (own_block_executing(c)) {
        return;
    }
    struct cblock *parent = tree_find(c, &c->high_qc.block_id);
    if (parent == NULL) {
        start_retrieval(c, &c->high_qc.block_id, 0, CONS_PEER_NONE);
        return;
    }
    struct block *blk = c->tmp_block;
    memset(&blk->header, 0, sizeof blk->header);
    struct buf txs;
    buf_init(&txs, c->cfg.max_block_bytes);
    enum err rc = build_block(c, parent, blk, &txs);
    ASSERT(rc == ERR_OK);
    if (blk->payload.kind == PAYLOAD_EMPTY && c->cfg.idle_block_interval_ms > 0 &&
        !c->propose_pending && chain_is_idle(c, parent)) {
        c->propose_pending = true;
        c->propose_paced = false;
        c->propose_token++;
        c->env.set_timer(c->env.ctx, CONS_TIMER_PROPOSE, c->cfg.idle_block_interval_ms,
                         c->propose_token);
        buf_release(&txs);
        return;
    }
    uint64_t wait_ms = pace_ms(c, parent, blk);
    if (wait_ms > 0 && !c->propose_pending) {
        c->propose_pending = true;
        c->propose_paced = true;
        c->propose_token++;
        c->env.set_timer(c->env.ctx, CONS_TIMER_PROPOSE, wait_ms, c->propose_token);
        buf_release(&txs);
        return;
    }
    c->propose_pending = false;
    struct buf bytes;
    buf_init(&bytes, CONS_MSG_SIZE_MAX);
    rc = block_encode(&bytes, blk);
    ASSERT(rc == ERR_OK);
    struct block_info info;
    struct hash id;
    block_header_id(c->cfg.chain.alg, &blk->header, &id);
    rc = validate_block(c, blk, &id, parent, false, &info);
    struct cblock *b = NULL;
    if (rc == ERR_AGAIN) {
        if (exec_park(c, &info, blk, bytes.data, bytes.size, true)) { /* stored */
            sign_proposal(c, &id, info.round, bytes.data, bytes.size);
        }
    } else if (rc == ERR_OK &&
               c->env.persist_block(c->env.ctx, &id, bytes.data, bytes.size) == ERR_OK) {
        b = tree_insert(c, blk, bytes.data, bytes.size, &info, parent);
    }
    buf_release(&bytes);
    buf_release(&txs);
    if (b != NULL) {
        sign_proposal(c, &b->id, b->info.round, b->bytes, b->size);
    } else if (rc != ERR_AGAIN) {
        log_warn(LOG_CONSENSUS, "cannot propose round=%llu err=%s",
                 (unsigned long long)c->current_round, err_name(rc));
    }
}

static void
remember_proposal(struct consensus *c, const struct cblock *b, const struct signature *sig)
{
    c->seen_prop_round = b->info.round;
    c->seen_prop_id = b->id;
    mem_free(c->seen_prop);
    struct buf out;
    buf_init(&out, CONS_MSG_SIZE_MAX);
    enum err rc = put_header_and_sig(&out, b, sig);
    ASSERT(rc == ERR_OK);
    c->seen_prop = buf_detach(&out, &c->seen_prop_size);
}

/* A second, different proposal of the round's leader: evidence. */
static void
double_proposal(struct consensus *c, const struct proposal_msg *p, const uint8_t *raw)
{
    struct buf b;
    buf_init(&b, CONS_MSG_SIZE_MAX);
    enum err rc = block_header_encode(&b, &p->block.header);
    if (rc == ERR_OK) {
        rc = codec_put_signature(&b, &p->sig);
    }
    ASSERT(rc == ERR_OK);
    (void)raw;
    report_evidence(c, p->block.header.author, EVIDENCE_DOUBLE_PROPOSAL,
                    (struct byte_span){ c->seen_prop, c->seen_prop_size },
                    (struct byte_span){ b.data, b.size });
    buf_release(&b);
}

static void epoch_mismatch(struct consensus *c, uint16_t from, uint64_t their_epoch);

/* A proposal whose block is executing: keeps what follows the block in the message (its
 * signature and sync info) to handle the proposal again once the result is in. False: the
 * block itself is not parked (its parent is executing). */
static bool
keep_for_replay(struct consensus *c, const struct hash *id, uint16_t from, const uint8_t *raw,
                size_t raw_size, const struct buf *block)
{
    struct exec_wait *w = exec_find(c, id);
    if (w == NULL) {
        return false;
    }
    if (!w->has_replay && raw_size > 1 + block->size &&
        memcmp(raw + 1, block->data, block->size) == 0) {
        w->has_replay = true;
        w->replay_from = from;
        w->replay_tail = dup_bytes(raw + 1 + block->size, raw_size - 1 - block->size);
        w->replay_tail_size = raw_size - 1 - block->size;
    }
    return true;
}

/* What a signed proposal or timeout brings in before its own checks. */
struct signed_entry {
    uint16_t author;
    struct hash digest; /* what the author signed */
    const struct signature *sig;
    const struct sync_info *sync; /* the sender's view, processed with `slack` rounds */
    uint64_t slack;
    const struct qc *qc; /* the QC the message carries */
};

/* The shared entry of proposals and timeouts: the author's signature, then the sender's sync
 * info and the carried QC, then the round may advance. False when the message stops here,
 * with *out_v saying whether it was consumed (V_DONE, counted) or is held (V_HOLD). */
static bool
signed_entry_ok(struct consensus *c, uint16_t from, const struct signed_entry *e,
                enum verdict *out_v)
{
    if (cons_verify_sig(&c->verifier, &c->vs.nodes[e->author].consensus_key, &e->digest, e->sig) !=
        ERR_OK) {
        c->stats.dropped_bad_signature++;
        *out_v = V_DONE;
        return false;
    }
    bool bad = false;
    enum verdict v = process_sync(c, e->sync, from, e->slack, &bad);
    if (!bad && v != V_HOLD) {
        v = take_qc(c, e->qc, from, &bad);
    }
    if (bad || v == V_HOLD) {
        *out_v = v;
        return false;
    }
    maybe_advance(c);
    return true;
}

static enum verdict
on_proposal(struct consensus *c, uint16_t from, const uint8_t *raw, size_t raw_size)
{
    struct proposal_msg *p = &c->msg->u.proposal;
    const struct block_header *h = &p->block.header;
    if (h->epoch != c->epoch) {
        epoch_mismatch(c, from, h->epoch);
        return V_DONE;
    }
    if (h->author >= c->vs.count) {
        c->stats.dropped_non_validator++;
        return V_DONE;
    }
    struct hash id;
    block_header_id(c->cfg.chain.alg, h, &id);
    struct signed_entry e = {
        .author = h->author, .sig = &p->sig, .sync = &p->sync, .slack = 1, .qc = &h->qc
    };
    proposal_digest(&c->cfg.chain, &id, &e.digest);
    enum verdict v = V_DONE;
    if (!signed_entry_ok(c, from, &e, &v)) {
        return v;
    }
    if (h->round != c->current_round || h->epoch != c->epoch) {
        c->stats.dropped_stale++;
        return V_DONE;
    }
    if (h->author != leader_of(c, h->round)) {
        c->stats.dropped_invalid_block++;
        return V_DONE;
    }
    if (c->seen_prop_round == h->round && c->seen_prop != NULL) {
        if (!hash_equal(&c->seen_prop_id, &id)) {
            double_proposal(c, p, raw);
        }
        return V_DONE;
    }
    if (h->timestamp_us > c->env.now_us(c->env.ctx) + c->cfg.max_clock_skew_ms * 1000u) {
        /* ahead of our clock: wait rather than reject (retried by the propose timer) */
        c->propose_token++;
        c->env.set_timer(c->env.ctx, CONS_TIMER_PROPOSE, c->cfg.max_clock_skew_ms,
                         c->propose_token);
        c->stats.dropped_future++;
        return h->timestamp_us > c->env.now_us(c->env.ctx) + c->cfg.base_timeout_ms * 1000u
                   ? V_DONE
                   : V_HOLD;
    }
    /* the block itself, without the message's type byte, signature and sync info */
    struct buf bytes;
    buf_init(&bytes, CONS_MSG_SIZE_MAX);
    enum err rc = block_encode(&bytes, &p->block);
    ASSERT(rc == ERR_OK);
    struct cblock *b = NULL;
    rc = accept_block(c, &p->block, bytes.data, bytes.size, false, &b);
    if (rc == ERR_AGAIN) {
        bool parked = keep_for_replay(c, &id, from, raw, raw_size, &bytes);
        buf_release(&bytes);
        return parked ? V_DONE : V_HOLD; /* V_HOLD: its parent is executing */
    }
    buf_release(&bytes);
    if (rc != ERR_OK) {
        c->stats.dropped_invalid_block++;
        return V_DONE;
    }
    remember_proposal(c, b, &p->sig);
    c->last_proposal_size = raw_size;
    make_vote(c, b);
    return V_DONE;
}

/* ---- votes ---- */

static bool
vote_well_formed(const struct consensus *c, const struct vote *v)
{
    const struct vote_data *vd = &v->vote_data;
    struct hash h;
    vote_data_hash(c->cfg.chain.alg, vd, &h);
    if (!hash_equal(&h, &v->ledger_info.vote_data_hash) || vd->parent.epoch != vd->proposed.epoch ||
        vd->proposed.round <= vd->parent.round) {
        return false;
    }
    bool direct = vd->proposed.round == vd->parent.round + 1;
    if (v->ledger_info.has_commit != direct) {
        return false;
    }
    return !direct || block_info_equal(&v->ledger_info.commit_info, &vd->parent);
}

static void
form_qc(struct consensus *c, uint8_t slot)
{
    struct qc *qc = c->tmp_qc;
    memset(qc, 0, sizeof *qc);
    qc->vote_data = c->slots[slot].vote_data;
    qc->ledger_info = c->slots[slot].ledger_info;
    qc->bitmap_size = (uint16_t)((c->vs.count + 7u) / 8u);
    for (uint16_t i = 0; i < (uint16_t)c->vs.count; i++) { /* count <= VS_NODES_MAX */
        if (c->votes[i].present && c->votes[i].slot == slot) {
            bitmap_set(qc->bitmap, i);
            qc->sigs[qc->sig_count++] = c->votes[i].sig;
        }
    }
    c->qc_formed = true;
    c->stats.qcs_formed++;
    log_debug(LOG_CONSENSUS, "qc formed round=%llu",
              (unsigned long long)qc->vote_data.proposed.round);
    struct hash h;
    cert_hash_qc(c, qc, &h);
    cache_add(c, &h);
    /* hand it to ourselves as a SyncInfo: the ordinary path inserts, commits, advances */
    encode_into(&c->out);
    enum err rc = codec_put_u8(&c->out, CONS_MSG_SYNC_INFO);
    if (rc == ERR_OK) {
        rc = qc_encode(&c->out, qc);
    }
    if (rc == ERR_OK) {
        rc = buf_append(&c->out, c->high_cc.bytes, c->high_cc.size);
    }
    if (rc == ERR_OK) {
        rc = codec_put_u8(&c->out, 0);
    }
    ASSERT(rc == ERR_OK);
    inbox_push(c, (uint16_t)c->self, c->out.data, c->out.size);
}

static void
double_vote(struct consensus *c, const struct vote *v)
{
    const struct pending_vote *pv = &c->votes[v->author];
    struct vote first = { .vote_data = c->slots[pv->slot].vote_data,
                          .ledger_info = c->slots[pv->slot].ledger_info,
                          .author = v->author,
                          .sig = pv->sig };
    struct buf a;
    struct buf b;
    buf_init(&a, 4096);
    buf_init(&b, 4096);
    enum err rc = vote_encode(&a, &first);
    if (rc == ERR_OK) {
        rc = vote_encode(&b, v);
    }
    ASSERT(rc == ERR_OK);
    report_evidence(c, v->author, EVIDENCE_DOUBLE_VOTE, (struct byte_span){ a.data, a.size },
                    (struct byte_span){ b.data, b.size });
    buf_release(&a);
    buf_release(&b);
}

/* The slot of this ledger info, or a new one; -1 when every slot is taken. Two slots for one
 * block id mean validators computed different results: the non-determinism alarm. */
static int
find_or_add_slot(struct consensus *c, const struct vote *v, const struct hash *li_hash)
{
    for (int i = 0; i < VOTE_SLOTS_MAX; i++) {
        if (c->slots[i].used && hash_equal(&c->slots[i].li_hash, li_hash)) {
            return i;
        }
    }
    for (int i = 0; i < VOTE_SLOTS_MAX; i++) {
        if (c->slots[i].used) {
            if (hash_equal(&c->slots[i].vote_data.proposed.id, &v->vote_data.proposed.id)) {
                c->stats.nondeterminism_alarms++;
            }
            continue;
        }
        c->slots[i] = (struct vote_slot){ .used = true,
                                          .li_hash = *li_hash,
                                          .vote_data = v->vote_data,
                                          .ledger_info = v->ledger_info };
        return i;
    }
    return -1;
}

static void
add_vote(struct consensus *c, const struct vote *v, const struct hash *li_hash)
{
    struct pending_vote *pv = &c->votes[v->author];
    if (pv->present) {
        if (!hash_equal(&c->slots[pv->slot].li_hash, li_hash)) {
            double_vote(c, v);
        }
        return;
    }
    int slot = find_or_add_slot(c, v, li_hash);
    if (slot < 0) {
        c->stats.dropped_held_overflow++;
        return;
    }
    *pv = (struct pending_vote){ .present = true, .slot = (uint8_t)slot, .sig = v->sig };
    c->slots[slot].power += c->vs.nodes[v->author].power;
    if (!c->qc_formed && validator_set_is_quorum(&c->vs, c->slots[slot].power)) {
        form_qc(c, (uint8_t)slot);
    }
}

static enum verdict
on_vote(struct consensus *c, uint16_t from)
{
    const struct vote_msg *m = &c->msg->u.vote;
    const struct vote *v = &m->vote;
    if (v->vote_data.proposed.epoch != c->epoch) {
        epoch_mismatch(c, from, v->vote_data.proposed.epoch);
        return V_DONE;
    }
    if (v->author >= c->vs.count) {
        c->stats.dropped_non_validator++;
        return V_DONE;
    }
    if (!vote_well_formed(c, v)) {
        c->stats.dropped_malformed++;
        return V_DONE;
    }
    struct hash digest;
    vote_digest(&c->cfg.chain, c->epoch, &v->ledger_info, &digest);
    if (cons_verify_sig(&c->verifier, &c->vs.nodes[v->author].consensus_key, &digest, &v->sig) !=
        ERR_OK) {
        c->stats.dropped_bad_signature++;
        return V_DONE;
    }
    bool bad = false;
    enum verdict verdict = process_sync(c, &m->sync, from, 1, &bad);
    if (bad || verdict == V_HOLD) {
        return verdict;
    }
    uint64_t round = v->vote_data.proposed.round;
    if (c->epoch != v->vote_data.proposed.epoch || round != c->current_round || c->self < 0 ||
        leader_of(c, round + 1) != (uint16_t)c->self) {
        c->stats.dropped_stale++;
        return V_DONE;
    }
    struct hash li_hash;
    ledger_info_hash(c->cfg.chain.alg, &v->ledger_info, &li_hash);
    add_vote(c, v, &li_hash);
    return V_DONE;
}

/* ---- timeouts ---- */

/* The QC of `round` this node holds (high_qc or one recorded on a block), as c->tmp_qc. */
static bool
find_qc_of_round(struct consensus *c, uint64_t round)
{
    if (c->high_qc.round == round) {
        return qc_decode(c->high_qc.bytes, c->high_qc.size, c->tmp_qc) == ERR_OK;
    }
    for (size_t i = 0; i < c->block_count; i++) {
        const struct cblock *b = c->blocks[i];
        if (b->qc != NULL && b->info.round == round) {
            return qc_decode(b->qc, b->qc_size, c->tmp_qc) == ERR_OK;
        }
    }
    if (round == 0) {
        *c->tmp_qc = c->epoch_qc;
        return true;
    }
    return false;
}

static void
form_tc(struct consensus *c, uint64_t round)
{
    struct tc *tc = c->tmp_tc;
    memset(tc, 0, sizeof *tc);
    tc->epoch = c->epoch;
    tc->round = round;
    tc->bitmap_size = (uint16_t)((c->vs.count + 7u) / 8u);
    uint64_t max_round = 0;
    for (uint16_t i = 0; i < (uint16_t)c->vs.count; i++) { /* count <= VS_NODES_MAX */
        const struct pending_timeout *t = &c->timeouts[i];
        if (t->present && t->round == round) {
            bitmap_set(tc->bitmap, i);
            tc->hqc_rounds[tc->sig_count] = t->hqc_round;
            tc->sigs[tc->sig_count] = t->sig;
            tc->sig_count++;
            max_round = t->hqc_round > max_round ? t->hqc_round : max_round;
        }
    }
    if (!find_qc_of_round(c, max_round)) {
        return;
    }
    tc->hqc = *c->tmp_qc;
    c->stats.tcs_formed++;
    encode_into(&c->out);
    enum err rc = codec_put_u8(&c->out, CONS_MSG_SYNC_INFO);
    if (rc == ERR_OK) {
        rc = buf_append(&c->out, c->high_qc.bytes, c->high_qc.size);
    }
    if (rc == ERR_OK) {
        rc = buf_append(&c->out, c->high_cc.bytes, c->high_cc.size);
    }
    if (rc == ERR_OK) {
        rc = codec_put_u8(&c->out, 1);
    }
    if (rc == ERR_OK) {
        rc = tc_encode(&c->out, tc);
    }
    ASSERT(rc == ERR_OK);
    inbox_push(c, (uint16_t)c->self, c->out.data, c->out.size);
}

/* sign_timeout (section 4) and the broadcast of section 5. */
static void
local_timeout(struct consensus *c)
{
    if (c->self < 0 || c->halted) {
        arm_round_timer(c);
        return;
    }
    uint64_t r = c->current_round;
    if (!c->timed_out) {
        uint64_t hqc_round = c->high_qc.round;
        bool ok = r == hqc_round + 1 || (c->high_tc.bytes != NULL && r == c->high_tc.round + 1);
        if (!ok || hqc_round < c->safety.one_chain_round || r < c->safety.last_voted_round) {
            arm_round_timer(c);
            return;
        }
        if (r > c->safety.last_voted_round) {
            c->safety.last_voted_round = r;
            if (!persist_safety(c)) {
                return;
            }
        }
        struct hash digest;
        timeout_digest(&c->cfg.chain, c->epoch, r, hqc_round, &digest);
        struct signature sig;
        if (c->env.sign(c->env.ctx, &digest, &sig) != ERR_OK) {
            c->halted = true;
            return;
        }
        struct buf b;
        buf_init(&b, CONS_MSG_SIZE_MAX);
        enum err rc = codec_put_u8(&b, CONS_MSG_TIMEOUT);
        rc = rc == ERR_OK ? codec_put_u64(&b, c->epoch) : rc;
        rc = rc == ERR_OK ? codec_put_u64(&b, r) : rc;
        rc = rc == ERR_OK ? buf_append(&b, c->high_qc.bytes, c->high_qc.size) : rc;
        rc = rc == ERR_OK ? codec_put_u16(&b, (uint16_t)c->self) : rc;
        rc = rc == ERR_OK ? codec_put_signature(&b, &sig) : rc;
        rc = rc == ERR_OK ? put_sync_info(c, &b) : rc;
        ASSERT(rc == ERR_OK);
        c->my_timeout = buf_detach(&b, &c->my_timeout_size);
        c->timed_out = true;
        inbox_push(c, (uint16_t)c->self, c->my_timeout, c->my_timeout_size);
    }
    c->stats.timeouts_sent++;
    c->env.broadcast(c->env.ctx, c->my_timeout, c->my_timeout_size);
    arm_round_timer(c);
}

static uint64_t
timeout_power(const struct consensus *c, uint64_t round)
{
    uint64_t power = 0;
    for (uint16_t i = 0; i < (uint16_t)c->vs.count; i++) { /* count <= VS_NODES_MAX */
        if (c->timeouts[i].present && c->timeouts[i].round == round) {
            power += c->vs.nodes[i].power;
        }
    }
    return power;
}

static enum verdict
on_timeout(struct consensus *c, uint16_t from)
{
    const struct timeout_msg *m = &c->msg->u.timeout;
    const struct timeout *t = &m->timeout;
    if (t->epoch != c->epoch) {
        epoch_mismatch(c, from, t->epoch);
        return V_DONE;
    }
    if (t->author >= c->vs.count) {
        c->stats.dropped_non_validator++;
        return V_DONE;
    }
    if (qc_round(&t->hqc) >= t->round) {
        c->stats.dropped_malformed++;
        return V_DONE;
    }
    struct signed_entry e = {
        .author = t->author, .sig = &t->sig, .sync = &m->sync, .slack = 0, .qc = &t->hqc
    };
    timeout_digest(&c->cfg.chain, c->epoch, t->round, qc_round(&t->hqc), &e.digest);
    enum verdict v = V_DONE;
    if (!signed_entry_ok(c, from, &e, &v)) {
        return v;
    }
    if (t->epoch != c->epoch || t->round < c->current_round) {
        c->stats.dropped_stale++;
        return V_DONE;
    }
    if (t->round > c->current_round + c->cfg.round_window) {
        c->stats.dropped_future++;
        return V_DONE;
    }
    struct pending_timeout *pt = &c->timeouts[t->author];
    if (pt->present && pt->round >= t->round) {
        return V_DONE;
    }
    *pt = (struct pending_timeout){
        .present = true, .round = t->round, .hqc_round = qc_round(&t->hqc), .sig = t->sig
    };
    uint64_t power = timeout_power(c, t->round);
    if (t->round == c->current_round && !c->timed_out &&
        validator_set_is_weak_quorum(&c->vs, power)) {
        local_timeout(c); /* Bracha-style amplification */
    }
    bool have_tc = c->high_tc.bytes != NULL && c->high_tc.round >= t->round;
    if (!have_tc && validator_set_is_quorum(&c->vs, power) && c->self >= 0) {
        form_tc(c, t->round);
    }
    return V_DONE;
}

/* ---- block retrieval: serving and receiving ---- */

/* A suffix block kept from an ended epoch (see history_keep_suffix). */
static bool
find_in_history(struct consensus *c, const struct hash *id, struct buf *out)
{
    for (size_t i = 0; i < c->history_count; i++) {
        const struct epoch_entry *e = &c->history[i];
        for (size_t k = 0; k < e->suffix_count; k++) {
            if (block_decode(e->suffix[k].bytes, e->suffix[k].size, c->tmp_block) != ERR_OK) {
                continue;
            }
            struct hash h;
            block_header_id(c->cfg.chain.alg, &c->tmp_block->header, &h);
            if (hash_equal(&h, id)) {
                return buf_append(out, e->suffix[k].bytes, e->suffix[k].size) == ERR_OK;
            }
        }
    }
    return false;
}

/* One block by id from the tree, the committed ledger or the epoch history. */
static enum err
load_any_block(struct consensus *c, const struct hash *id, struct buf *out)
{
    const struct cblock *b = tree_find(c, id);
    if (b != NULL && b->bytes != NULL) {
        return buf_append(out, b->bytes, b->size);
    }
    if (c->env.load_committed_block != NULL &&
        c->env.load_committed_block(c->env.ctx, id, out) == ERR_OK) {
        return ERR_OK;
    }
    return find_in_history(c, id, out) ? ERR_OK : ERR_NOT_FOUND;
}

/* Sends the blocks collected in bufs[0..n) as a BLOCK_RESPONSE. */
static void
send_blocks(struct consensus *c, uint16_t to, struct buf *bufs, uint16_t n)
{
    struct cons_msg *resp = mem_calloc(1, sizeof *resp);
    resp->type = CONS_MSG_BLOCK_RESPONSE;
    for (uint16_t i = 0; i < n; i++) {
        resp->u.block_response.blocks[i] = (struct byte_span){ bufs[i].data, bufs[i].size };
    }
    resp->u.block_response.count = n;
    resp->u.block_response.status = n > 0 ? BLOCK_RESPONSE_OK : BLOCK_RESPONSE_NOT_FOUND;
    encode_into(&c->out);
    enum err rc = cons_msg_encode(&c->out, resp);
    mem_free(resp);
    if (rc == ERR_OK) {
        send_to(c, to, c->out.data, c->out.size);
    }
}

static void
on_block_request(struct consensus *c, uint16_t from)
{
    const struct block_request q = c->msg->u.block_request;
    struct buf blocks[CONS_RETRIEVAL_BLOCKS_MAX];
    struct hash want = q.block_id;
    size_t total = 0;
    uint16_t n = 0;
    while (n < q.num_blocks && !hash_equal(&want, &q.stop_at)) {
        buf_init(&blocks[n], CONS_MSG_SIZE_MAX);
        if (load_any_block(c, &want, &blocks[n]) != ERR_OK ||
            block_decode(blocks[n].data, blocks[n].size, c->tmp_block) != ERR_OK ||
            (n > 0 && total + blocks[n].size > CONS_MSG_SIZE_MAX / 2)) {
            buf_release(&blocks[n]);
            break;
        }
        total += blocks[n].size;
        want = c->tmp_block->header.parent_id;
        n++;
    }
    send_blocks(c, from, blocks, n);
    for (uint16_t i = 0; i < n; i++) {
        buf_release(&blocks[i]);
    }
}

static void
on_ledger_request(struct consensus *c, uint16_t from)
{
    const struct ledger_request q = c->msg->u.ledger_request;
    struct buf blocks[CONS_RETRIEVAL_BLOCKS_MAX];
    struct hash parent = q.after_id;
    size_t total = 0;
    uint16_t n = 0;
    while (n < q.num_blocks && c->env.load_committed_at != NULL) {
        buf_init(&blocks[n], CONS_MSG_SIZE_MAX);
        if (c->env.load_committed_at(c->env.ctx, q.after_height + 1u + n, &blocks[n]) != ERR_OK ||
            block_decode(blocks[n].data, blocks[n].size, c->tmp_block) != ERR_OK ||
            !hash_equal(&c->tmp_block->header.parent_id, &parent) ||
            (n > 0 && total + blocks[n].size > CONS_MSG_SIZE_MAX / 2)) {
            buf_release(&blocks[n]);
            break;
        }
        total += blocks[n].size;
        block_header_id(c->cfg.chain.alg, &c->tmp_block->header, &parent);
        n++;
    }
    send_blocks(c, from, blocks, n);
    for (uint16_t i = 0; i < n; i++) {
        buf_release(&blocks[i]);
    }
}

/* Checks one retrieved block: its id, epoch, and that its QC certifies its parent. */
static enum err
check_fetched(struct consensus *c, const struct byte_span *span, const struct hash *expect)
{
    enum err rc = block_decode(span->data, span->size, c->tmp_block);
    if (rc != ERR_OK) {
        return rc;
    }
    const struct block_header *h = &c->tmp_block->header;
    struct hash id;
    block_header_id(c->cfg.chain.alg, h, &id);
    if ((expect != NULL && !hash_equal(&id, expect)) || h->epoch != c->epoch ||
        !hash_equal(qc_block_id(&h->qc), &h->parent_id)) {
        return ERR_MALFORMED;
    }
    return verify_qc(c, &h->qc);
}

/* Inserts one fetched block whose parent is in the tree, then its header QC (commit rule).
 * ERR_AGAIN: it or its parent is executing; ERR_STALE: an epoch ended on the way. */
static enum err
insert_fetched(struct consensus *c, const uint8_t *bytes, size_t size)
{
    if (block_decode(bytes, size, c->tmp_block) != ERR_OK) {
        return ERR_MALFORMED;
    }
    struct cblock *b = NULL;
    enum err rc = accept_block(c, c->tmp_block, bytes, size, true, &b);
    if (rc == ERR_AGAIN) {
        block_header_id(c->cfg.chain.alg, &c->tmp_block->header, &c->rt.exec_id);
        return ERR_AGAIN;
    }
    if (rc != ERR_OK) {
        c->stats.dropped_invalid_block++;
        return rc;
    }
    uint64_t epoch = c->tmp_block->header.epoch;
    *c->tmp_qc = c->tmp_block->header.qc;
    bool bad = false;
    (void)take_qc(c, c->tmp_qc, CONS_PEER_NONE, &bad);
    return c->epoch == epoch ? ERR_OK : ERR_STALE;
}

static void
retrieval_done(struct consensus *c)
{
    retrieval_reset(c);
    maybe_advance(c);
    release_held(c);
}

static void ledger_next(struct consensus *c, size_t accepted);

/* Inserts the fetched chain bottom-up once its lowest block's parent is in the tree. When a
 * block is executing, waits for its result (consensus_on_executed or the retrieval timer
 * resumes here); a ledger catch-up then asks for the next blocks. */
static void
connect_fetched(struct consensus *c)
{
    c->rt.exec_wait = false;
    enum err rc = ERR_OK;
    while (c->rt.fetched_count > 0 && rc == ERR_OK) {
        struct raw_msg *f = &c->rt.fetched[c->rt.fetched_count - 1];
        rc = insert_fetched(c, f->bytes, f->size);
        if (rc == ERR_AGAIN) {
            c->rt.exec_wait = true;
            arm_retrieval_timer(c);
            return;
        }
        if (rc == ERR_OK) {
            mem_free(f->bytes);
            f->bytes = NULL;
            c->rt.fetched_count--;
        }
    }
    if (rc == ERR_OK && c->rt.mode == RT_LEDGER) {
        ledger_next(c, 1);
        return;
    }
    retrieval_done(c);
}

static bool
fetched_has_room(const struct consensus *c)
{
    if (c->rt.fetched_count + c->block_count < c->cfg.block_tree_max) {
        return true;
    }
    log_warn(LOG_CONSENSUS, "missing chain longer than the block tree; ledger sync needed");
    return false;
}

static void
on_top_down_response(struct consensus *c, const struct block_response *resp, uint16_t from)
{
    struct hash expect = c->rt.want;
    for (uint16_t i = 0; i < resp->count; i++) {
        enum err rc = check_fetched(c, &resp->blocks[i], &expect);
        if (rc != ERR_OK) {
            count_verify_error(c, rc);
            return; /* a bad response: the retry timer moves to another peer */
        }
        if (!fetched_has_room(c)) {
            retrieval_done(c);
            return;
        }
        c->rt.fetched[c->rt.fetched_count++] =
            (struct raw_msg){ from, dup_bytes(resp->blocks[i].data, resp->blocks[i].size),
                              resp->blocks[i].size };
        expect = c->tmp_block->header.parent_id;
        if (tree_find(c, &expect) != NULL || exec_find(c, &expect) != NULL) {
            connect_fetched(c);
            return;
        }
    }
    c->rt.want = expect; /* keep walking down */
    c->rt.tries = 0;
    not_found_clear(c);
    send_block_request(c);
}

/* Block `first` of a ledger response is executing: keeps it and the checked blocks above it
 * as a fetched chain (top first) for connect_fetched. */
static void
ledger_park(struct consensus *c, const struct block_response *resp, uint16_t first)
{
    uint16_t last = first;
    while (last + 1 < resp->count && check_fetched(c, &resp->blocks[last + 1], NULL) == ERR_OK &&
           fetched_has_room(c)) {
        last++;
    }
    for (uint16_t k = last + 1; k > first; k--) {
        const struct byte_span *b = &resp->blocks[k - 1];
        c->rt.fetched[c->rt.fetched_count++] =
            (struct raw_msg){ c->rt.peer, dup_bytes(b->data, b->size), b->size };
    }
    c->rt.exec_wait = true;
    arm_retrieval_timer(c);
}

static void
on_ledger_response(struct consensus *c, const struct block_response *resp)
{
    size_t accepted = 0;
    for (uint16_t i = 0; i < resp->count; i++) {
        if (check_fetched(c, &resp->blocks[i], NULL) != ERR_OK ||
            tree_find(c, &c->tmp_block->header.parent_id) == NULL) {
            break;
        }
        enum err rc = insert_fetched(c, resp->blocks[i].data, resp->blocks[i].size);
        if (rc == ERR_AGAIN && c->rt.fetched_count == 0) {
            ledger_park(c, resp, i);
            return;
        }
        if (rc != ERR_OK) {
            break;
        }
        accepted++;
    }
    ledger_next(c, accepted);
}

/* After a ledger step: done when the target is in the tree or nothing came, else go on. */
static void
ledger_next(struct consensus *c, size_t accepted)
{
    if (tree_find(c, &c->rt.target) != NULL || accepted == 0 || !c->rt.active) {
        retrieval_done(c);
        return;
    }
    c->rt.mode = retrieval_mode_for(c, c->rt.target_height);
    c->rt.want = c->rt.target;
    c->rt.tries = 0;
    not_found_clear(c);
    send_block_request(c);
}

/* The current peer lacks `want` (top-down): a peer that has not said so is asked at once
 * (not a try: each peer answers NOT_FOUND once per `want`). When other validators holding a
 * quorum of power lack it (or all of them do), no honest peer can serve it: the block was
 * certified, so honest voters of power > (total - quorum) stored it, and one of them is
 * among those that answered. It is an orphan they pruned (voters drop a block only off the
 * committed chain), or a reconfiguration suffix block their restarts dropped
 * (take_epoch_cert goes around it). The target is remembered as lost, so that held messages
 * naming it are dropped instead of starting this retrieval again, forever, ahead of the
 * ones that can progress (sim seed "async 277"). */
static void
on_block_not_found(struct consensus *c, uint16_t from)
{
    if (!said_not_found(c, from)) {
        c->rt.not_found[from / 8u] |= (uint8_t)(1u << (from % 8u));
        c->rt.not_found_power += c->vs.nodes[from].power;
    }
    uint16_t p = next_peer(c, from);
    while (p != from && said_not_found(c, p)) {
        p = next_peer(c, p);
    }
    bool all = said_not_found(c, p); /* the walk came back to `from`: no peer left to ask */
    if (!all && !validator_set_is_quorum(&c->vs, c->rt.not_found_power)) {
        c->rt.peer = p;
        send_block_request(c);
        return;
    }
    c->lost[c->lost_next] = c->rt.target;
    c->lost_next = (c->lost_next + 1u) % LOST_MAX;
    c->stats.retrievals_lost++;
    log_info(LOG_CONSENSUS, "no peer has the chain of a certified block: dropped height=%llu",
             (unsigned long long)c->rt.target_height);
    retrieval_done(c);
}

static void
on_block_response(struct consensus *c, uint16_t from)
{
    const struct block_response *resp = &c->msg->u.block_response;
    if (c->rt.active && !c->rt.exec_wait && from == c->rt.peer && c->rt.mode == RT_TOP_DOWN &&
        resp->status == BLOCK_RESPONSE_NOT_FOUND) {
        on_block_not_found(c, from);
        return;
    }
    if (!c->rt.active || c->rt.exec_wait || from != c->rt.peer ||
        resp->status != BLOCK_RESPONSE_OK) {
        c->stats.dropped_stale++;
        return;
    }
    if (c->rt.mode == RT_LEDGER) {
        on_ledger_response(c, resp);
    } else {
        on_top_down_response(c, resp, from);
    }
}

static void
on_retrieval_timer(struct consensus *c)
{
    if (!c->rt.active) {
        return;
    }
    if (c->rt.exec_wait) {
        connect_fetched(c); /* still executing: waits again (an evicted block re-executes) */
        return;
    }
    c->rt.tries++;
    if (c->rt.tries >= RETRIEVAL_TRIES) {
        retrieval_done(c);
        return;
    }
    c->rt.peer = next_peer(c, c->rt.peer);
    send_block_request(c);
}

/* ---- epochs: requests and proofs ---- */

static void
epoch_mismatch(struct consensus *c, uint16_t from, uint64_t their_epoch)
{
    c->stats.dropped_wrong_epoch++;
    if (from >= c->vs.count || is_self(c, from)) {
        return;
    }
    uint64_t now = c->env.now_us(c->env.ctx);
    if (c->epoch_reply_us[from] != 0 &&
        now < c->epoch_reply_us[from] + c->cfg.retrieval_timeout_ms * 1000u) {
        return; /* at most one request or proof per peer per retrieval timeout */
    }
    c->epoch_reply_us[from] = now;
    encode_into(&c->out);
    if (their_epoch > c->epoch) {
        enum err rc = codec_put_u8(&c->out, CONS_MSG_EPOCH_REQUEST);
        rc = rc == ERR_OK ? codec_put_u64(&c->out, c->epoch) : rc;
        ASSERT(rc == ERR_OK);
        send_to(c, from, c->out.data, c->out.size);
        return;
    }
    /* they are behind: a proof from their epoch */
    struct cons_msg *m = mem_calloc(1, sizeof *m);
    m->type = CONS_MSG_EPOCH_PROOF;
    for (size_t i = 0; i < c->history_count && m->u.epoch_proof.count < CONS_EPOCH_PROOF_MAX; i++) {
        const struct epoch_entry *e = &c->history[i];
        if (e->epoch >= their_epoch) {
            uint16_t k = m->u.epoch_proof.count++;
            m->u.epoch_proof.certs[k] = (struct byte_span){ e->cert, e->cert_size };
            m->u.epoch_proof.sets[k] = (struct byte_span){ e->set, e->set_size };
        }
    }
    if (m->u.epoch_proof.count > 0 && cons_msg_encode(&c->out, m) == ERR_OK) {
        send_to(c, from, c->out.data, c->out.size);
    }
    mem_free(m);
}

/* The epoch-ending cert of an EpochChangeProof (this epoch's, verified here). It certifies a
 * block X whose ledger info commits C; switching needs only C, which is committed on every
 * peer. X may be one no peer can serve: the reconfiguration suffix above the ending block is
 * never in the ledger, and a restarted peer keeps only the proof's headers (C and below),
 * so when X is unknown, C is fetched and the commit applied from the cert alone. */
static enum verdict
take_epoch_cert(struct consensus *c, const struct qc *cert, uint16_t from)
{
    enum err rc = verify_qc(c, cert);
    if (rc != ERR_OK) {
        count_verify_error(c, rc);
        return V_DONE;
    }
    if (tree_find(c, qc_block_id(cert)) != NULL) {
        return insert_qc(c, cert, from);
    }
    const struct block_info *ci = &cert->ledger_info.commit_info;
    if (ci->round <= c->root->info.round) {
        return V_DONE;
    }
    if (tree_find(c, &ci->id) == NULL) {
        if (exec_find(c, &ci->id) == NULL) {
            start_retrieval(c, &ci->id, ci->height, from);
        }
        return V_HOLD; /* retried once C is in the tree */
    }
    encode_into(&c->enc);
    rc = qc_encode(&c->enc, cert);
    ASSERT(rc == ERR_OK);
    commit_by_encoded(c, cert);
    return V_DONE;
}

static enum verdict
on_epoch_proof(struct consensus *c, uint16_t from)
{
    const struct epoch_change_proof *p = &c->msg->u.epoch_proof;
    for (uint16_t i = 0; i < p->count; i++) {
        if (qc_decode(p->certs[i].data, p->certs[i].size, c->tmp_qc) != ERR_OK ||
            validator_set_decode(p->sets[i].data, p->sets[i].size, c->tmp_vs) != ERR_OK) {
            c->stats.dropped_malformed++;
            return V_DONE;
        }
        const struct qc *cert = c->tmp_qc;
        if (cert->vote_data.proposed.epoch != c->epoch) {
            continue; /* a link we already crossed, or one we cannot check yet */
        }
        struct hash h;
        validator_set_hash(c->cfg.chain.alg, c->tmp_vs, &h);
        if (!cert->ledger_info.has_commit || c->tmp_vs->epoch != c->epoch + 1 ||
            !hash_equal(&h, &cert->ledger_info.commit_info.next_epoch_vs_hash)) {
            c->stats.dropped_malformed++;
            return V_DONE;
        }
        struct qc *copy = mem_alloc(sizeof *copy);
        *copy = *cert;
        enum verdict v = take_epoch_cert(c, copy, from);
        mem_free(copy);
        return v;
    }
    return V_DONE;
}

static void
on_evidence(struct consensus *c)
{
    /* Peers' evidence is checked before it is reported: both halves signed by one validator
     * for one (epoch, round), with different signed payloads. */
    const struct evidence *e = &c->msg->u.evidence;
    if (e->kind != EVIDENCE_DOUBLE_VOTE) {
        return; /* proposal evidence is checked by whoever submits it on chain */
    }
    struct vote a;
    struct vote b;
    if (vote_decode(e->a.data, e->a.size, &a) != ERR_OK ||
        vote_decode(e->b.data, e->b.size, &b) != ERR_OK || a.author != b.author ||
        a.author >= c->vs.count || a.vote_data.proposed.epoch != c->epoch ||
        b.vote_data.proposed.epoch != c->epoch ||
        a.vote_data.proposed.round != b.vote_data.proposed.round) {
        c->stats.dropped_malformed++;
        return;
    }
    struct hash da;
    struct hash db;
    vote_digest(&c->cfg.chain, c->epoch, &a.ledger_info, &da);
    vote_digest(&c->cfg.chain, c->epoch, &b.ledger_info, &db);
    if (hash_equal(&da, &db) ||
        cons_verify_sig(&c->verifier, &c->vs.nodes[a.author].consensus_key, &da, &a.sig) !=
            ERR_OK ||
        cons_verify_sig(&c->verifier, &c->vs.nodes[a.author].consensus_key, &db, &b.sig) !=
            ERR_OK) {
        c->stats.dropped_bad_signature++;
        return;
    }
    if (!c->evidence_done[a.author]) {
        c->evidence_done[a.author] = true;
        c->stats.evidence_found++;
        encode_into(&c->enc);
        if (c->env.evidence != NULL && evidence_encode(&c->enc, e) == ERR_OK) {
            c->env.evidence(c->env.ctx, c->enc.data, c->enc.size);
        }
    }
}

/* ---- dispatch ---- */

static enum verdict
dispatch(struct consensus *c, uint16_t from, const uint8_t *bytes, size_t size)
{
    enum err rc = cons_msg_decode(bytes, size, c->msg);
    if (rc != ERR_OK) {
        c->stats.dropped_malformed++;
        return V_DONE;
    }
    bool dummy = false;
    switch ((enum cons_msg_type)c->msg->type) {
    case CONS_MSG_PROPOSAL:
        return on_proposal(c, from, bytes, size);
    case CONS_MSG_VOTE:
        return on_vote(c, from);
    case CONS_MSG_TIMEOUT:
        return on_timeout(c, from);
    case CONS_MSG_SYNC_INFO:
        if (c->msg->u.sync.highest_qc.vote_data.proposed.epoch != c->epoch) {
            epoch_mismatch(c, from, c->msg->u.sync.highest_qc.vote_data.proposed.epoch);
            return V_DONE;
        }
        return process_sync(c, &c->msg->u.sync, from, 0, &dummy);
    case CONS_MSG_BLOCK_REQUEST:
        on_block_request(c, from);
        return V_DONE;
    case CONS_MSG_BLOCK_RESPONSE:
        on_block_response(c, from);
        return V_DONE;
    case CONS_MSG_EPOCH_REQUEST:
        if (c->msg->u.epoch_request.epoch < c->epoch) {
            epoch_mismatch(c, from, c->msg->u.epoch_request.epoch);
        }
        return V_DONE;
    case CONS_MSG_EPOCH_PROOF:
        return on_epoch_proof(c, from);
    case CONS_MSG_EVIDENCE:
        on_evidence(c);
        return V_DONE;
    case CONS_MSG_LEDGER_REQUEST:
        on_ledger_request(c, from);
        return V_DONE;
    }
    UNREACHABLE();
}

static void
handle(struct consensus *c, uint16_t from, const uint8_t *bytes, size_t size)
{
    c->stats.msgs_in++;
    if (from >= c->vs.count) {
        c->stats.dropped_non_validator++;
        return;
    }
    if (size > CONS_MSG_SIZE_MAX) {
        c->stats.dropped_malformed++;
        return;
    }
    if (dispatch(c, from, bytes, size) == V_HOLD) {
        hold(c, from, bytes, size);
    }
}

/* Processes everything queued for ourselves, in order. */
static void
drain(struct consensus *c)
{
    while (c->inbox_count > 0 && !c->halted) {
        struct raw_msg m = c->inbox[c->inbox_head];
        c->inbox_head = (c->inbox_head + 1) % INBOX_MAX;
        c->inbox_count--;
        handle(c, m.from, m.bytes, m.size);
        mem_free(m.bytes);
    }
}

/* ---- public API ---- */

void
consensus_on_message(struct consensus *c, uint16_t from, const uint8_t *msg, size_t size)
{
    ASSERT(c != NULL && c->started);
    if (c->halted) {
        return;
    }
    handle(c, from, msg, size);
    drain(c);
}

void
consensus_on_timer(struct consensus *c, enum cons_timer kind, uint64_t token)
{
    ASSERT(c != NULL && c->started);
    if (c->halted) {
        return;
    }
    switch (kind) {
    case CONS_TIMER_ROUND:
        if (token == c->round_token) {
            local_timeout(c);
        }
        break;
    case CONS_TIMER_RETRIEVAL:
        if (token == c->rt.token) {
            on_retrieval_timer(c);
        }
        break;
    case CONS_TIMER_PROPOSE:
        if (token == c->propose_token) {
            release_held(c);
            if (c->propose_pending) {
                c->propose_pending = false;
                c->propose_token++;
                /* propose now even if empty or early: the delay has passed */
                uint64_t saved = c->cfg.idle_block_interval_ms;
                uint64_t saved_min = c->cfg.min_block_interval_ms;
                c->cfg.idle_block_interval_ms = 0;
                c->cfg.min_block_interval_ms = 0;
                propose(c);
                c->cfg.idle_block_interval_ms = saved;
                c->cfg.min_block_interval_ms = saved_min;
            }
        }
        break;
    }
    drain(c);
}

void
consensus_on_txs_available(struct consensus *c)
{
    ASSERT(c != NULL && c->started);
    if (c->halted || !c->propose_pending || c->propose_paced) {
        return; /* a paced proposal gathers txs until its timer */
    }
    c->propose_pending = false;
    c->propose_token++;
    uint64_t saved = c->cfg.idle_block_interval_ms;
    c->cfg.idle_block_interval_ms = 0;
    propose(c);
    c->cfg.idle_block_interval_ms = saved;
    drain(c);
}

static void restore_pass(struct consensus *c);
static void restore_forget(struct consensus *c, const struct hash *id);

/* Inserts a block whose execution result arrived; resumes what waited for it. */
static void
exec_finish(struct consensus *c, struct exec_wait *w, struct cblock *parent,
            const struct exec_result *res)
{
    w->info.exec_root = res->exec_root;
    w->info.receipts_root = res->receipts_root;
    w->info.next_epoch_vs_hash = res->next_epoch_vs_hash;
    enum err rc = block_decode(w->bytes, w->size, c->tmp_block);
    ASSERT(rc == ERR_OK); /* decoded when it was parked */
    struct cblock *b = tree_insert(c, c->tmp_block, w->bytes, w->size, &w->info, parent);
    if (b == NULL) {
        c->stats.exec_dropped++; /* the tree is full */
        return;
    }
    if (w->has_replay) {
        struct buf m;
        buf_init(&m, CONS_MSG_SIZE_MAX);
        rc = codec_put_u8(&m, CONS_MSG_PROPOSAL);
        rc = rc == ERR_OK ? buf_append(&m, w->bytes, w->size) : rc;
        rc = rc == ERR_OK ? buf_append(&m, w->replay_tail, w->replay_tail_size) : rc;
        if (rc == ERR_OK) {
            inbox_push(c, w->replay_from, m.data, m.size);
        }
        buf_release(&m);
    }
    release_held(c); /* QCs naming it, children's proposals */
}

void
consensus_on_executed(struct consensus *c, const struct hash *block_id, enum err result,
                      const struct exec_result *res)
{
    ASSERT(c != NULL && c->started && block_id != NULL);
    if (c->halted) {
        return;
    }
    struct exec_wait *slot = exec_find(c, block_id);
    if (slot == NULL) {
        c->stats.exec_results_ignored++; /* unknown, duplicate, evicted or of a past epoch */
        return;
    }
    struct exec_wait w = *slot; /* owned here: an epoch change below may clear the table */
    memset(slot, 0, sizeof *slot);
    struct cblock *parent = tree_find(c, &w.parent_id);
    if (w.info.epoch != c->epoch || parent == NULL) {
        c->stats.exec_results_ignored++; /* its parent was pruned */
    } else if (result != ERR_OK) {
        c->stats.dropped_invalid_block++;
        restore_forget(c, block_id);
        if (c->rt.active && c->rt.exec_wait && hash_equal(&c->rt.exec_id, block_id)) {
            retrieval_done(c); /* the fetched chain is invalid */
        }
    } else {
        ASSERT(res != NULL);
        exec_finish(c, &w, parent, res);
    }
    exec_release(&w);
    if (!c->halted && c->rt.active && c->rt.exec_wait) {
        connect_fetched(c);
    }
    if (!c->halted && c->restore_count > 0) {
        restore_pass(c);
    }
    drain(c);
}

enum err
consensus_new(const struct consensus_config *cfg, const struct consensus_env *env,
              struct consensus **out)
{
    ASSERT(cfg != NULL && env != NULL && out != NULL);
    if (consensus_config_check(cfg) != ERR_OK) {
        return ERR_CONFIG;
    }
    if (env->send == NULL || env->broadcast == NULL || env->set_timer == NULL ||
        env->persist_safety == NULL || env->persist_tc == NULL || env->persist_block == NULL ||
        env->sign == NULL || env->execute == NULL || env->pull_payload == NULL ||
        env->commit == NULL || env->next_validator_set == NULL || env->now_us == NULL) {
        return ERR_INVALID_ARG;
    }
    struct consensus *c = mem_calloc(1, sizeof *c);
    c->cfg = *cfg;
    c->env = *env;
    c->verifier =
        (struct cons_verifier){ .chain = &c->cfg.chain,
                                .verify = verify_counted,
                                .ctx = c,
                                .verify_batch =
                                    env->verify_batch != NULL ? verify_batch_counted : NULL };
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    c->blocks = mem_calloc(cfg->block_tree_max, sizeof *c->blocks);
    c->rt.fetched = mem_calloc(cfg->block_tree_max, sizeof *c->rt.fetched);
    c->msg = mem_alloc(sizeof *c->msg);
    c->tmp_qc = mem_alloc(sizeof *c->tmp_qc);
    c->tmp_tc = mem_alloc(sizeof *c->tmp_tc);
    c->tmp_block = mem_alloc(sizeof *c->tmp_block);
    c->tmp_vs = mem_alloc(sizeof *c->tmp_vs);
    buf_init(&c->out, CONS_MSG_SIZE_MAX);
    buf_init(&c->enc, CONS_MSG_SIZE_MAX);
    c->self = -1;
    if (cfg->leader_reputation) {
        reputation_init(c);
    }
    *out = c;
    return ERR_OK;
}

void
consensus_free(struct consensus *c)
{
    if (c == NULL) {
        return;
    }
    tree_clear(c);
    retrieval_reset(c);
    exec_clear(c);
    restore_clear(c);
    for (size_t i = 0; i < c->inbox_count; i++) {
        mem_free(c->inbox[(c->inbox_head + i) % INBOX_MAX].bytes);
    }
    for (size_t i = 0; i < c->held_count; i++) {
        mem_free(c->held[i].bytes);
    }
    for (size_t i = 0; i < c->history_count; i++) {
        history_entry_free(&c->history[i]);
    }
    cert_clear(&c->high_qc);
    cert_clear(&c->high_cc);
    cert_clear(&c->high_tc);
    mem_free(c->my_timeout);
    mem_free(c->seen_prop);
    mem_free(c->blocks);
    mem_free(c->rt.fetched);
    mem_free(c->msg);
    mem_free(c->tmp_qc);
    mem_free(c->tmp_tc);
    mem_free(c->tmp_block);
    mem_free(c->tmp_vs);
    buf_release(&c->out);
    buf_release(&c->enc);
    reputation_free(c);
    mem_free(c);
}

/* Re-inserts durable blocks above the root (parents first), re-executing each. Blocks whose
 * execution (or whose parent's) is pending are copied to c->restore for restore_pass. */
static void
restore_blocks(struct consensus *c, const struct byte_span *blocks, size_t count)
{
    bool *done = mem_calloc(count + 1, sizeof *done);
    bool progress = true;
    while (progress) {
        progress = false;
        for (size_t i = 0; i < count; i++) {
            if (done[i] || block_decode(blocks[i].data, blocks[i].size, c->tmp_block) != ERR_OK) {
                continue;
            }
            if (tree_find(c, &c->tmp_block->header.parent_id) == NULL) {
                continue;
            }
            struct cblock *b = NULL;
            enum err rc = accept_block(c, c->tmp_block, blocks[i].data, blocks[i].size, true, &b);
            if (rc == ERR_AGAIN) {
                continue; /* executing */
            }
            done[i] = true;
            progress = true;
            if (rc == ERR_OK) {
                *c->tmp_qc = c->tmp_block->header.qc;
                bool bad = false;
                (void)take_qc(c, c->tmp_qc, CONS_PEER_NONE, &bad);
            }
        }
    }
    for (size_t i = 0; i < count && exec_any(c); i++) {
        if (!done[i] && c->restore_count < c->cfg.block_tree_max) {
            if (c->restore == NULL) {
                c->restore = mem_calloc(c->cfg.block_tree_max, sizeof *c->restore);
            }
            c->restore[c->restore_count++] =
                (struct raw_msg){ 0, dup_bytes(blocks[i].data, blocks[i].size), blocks[i].size };
        }
    }
    mem_free(done);
}

/* A restart block is in the tree: its QC, and our proposal of the current round again. */
static void
restored(struct consensus *c, const struct cblock *b)
{
    *c->tmp_qc = c->tmp_block->header.qc;
    bool bad = false;
    (void)take_qc(c, c->tmp_qc, CONS_PEER_NONE, &bad);
    if (c->self >= 0 && c->safety.has_proposal && c->safety.proposal_round == c->current_round &&
        hash_equal(&b->id, &c->safety.proposal_id)) {
        broadcast_proposal(c, b->bytes, b->size, &c->safety.proposal_sig);
    }
}

/* Drops a restart block whose execution failed, so that restore_pass does not execute it
 * again (a block is stored durably when parked, before its result). */
static void
restore_forget(struct consensus *c, const struct hash *id)
{
    size_t i = 0;
    while (i < c->restore_count) {
        struct hash rid;
        if (block_decode(c->restore[i].bytes, c->restore[i].size, c->tmp_block) == ERR_OK) {
            block_header_id(c->cfg.chain.alg, &c->tmp_block->header, &rid);
            if (hash_equal(&rid, id)) {
                mem_free(c->restore[i].bytes);
                c->restore[i] = c->restore[--c->restore_count];
                continue;
            }
        }
        i++;
    }
}

/* One pass over the restart blocks after an execution result: inserts those whose parent is
 * in the tree, takes their QCs, re-sends our proposal of the current round if it is among
 * them. The list is detached during the pass (an epoch change may clear it). */
static void
restore_pass(struct consensus *c)
{
    struct raw_msg *list = c->restore;
    size_t n = c->restore_count;
    c->restore = NULL;
    c->restore_count = 0;
    uint64_t epoch = c->epoch;
    bool progress = true;
    while (progress && c->epoch == epoch) {
        progress = false;
        size_t i = 0;
        while (i < n && c->epoch == epoch) {
            struct cblock *b = NULL;
            enum err rc = block_decode(list[i].bytes, list[i].size, c->tmp_block);
            if (rc == ERR_OK) {
                rc = accept_block(c, c->tmp_block, list[i].bytes, list[i].size, true, &b);
            }
            if (rc == ERR_AGAIN || rc == ERR_NOT_FOUND) {
                i++; /* executing, or its parent not yet in */
                continue;
            }
            if (rc == ERR_OK) {
                restored(c, b);
            }
            mem_free(list[i].bytes);
            list[i] = list[--n];
            progress = true;
        }
    }
    if (c->epoch == epoch && n > 0 && exec_any(c) && c->restore == NULL) {
        c->restore = list;
        c->restore_count = n;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        mem_free(list[i].bytes);
    }
    mem_free(list);
}

static enum err
load_safety(struct consensus *c, const struct cons_start *s)
{
    memset(&c->safety, 0, sizeof c->safety);
    c->safety.epoch = c->epoch;
    if (s->safety_record.size == 0) {
        return persist_safety(c) ? ERR_OK : ERR_IO;
    }
    struct safety_record rec;
    enum err rc = safety_record_decode(s->safety_record.data, s->safety_record.size, &rec);
    if (rc != ERR_OK) {
        return ERR_CORRUPT;
    }
    if (rec.epoch > c->epoch) {
        return ERR_CONFIG; /* the record is newer than the ledger we were given */
    }
    if (rec.epoch == c->epoch) {
        c->safety = rec;
    } else if (!persist_safety(c)) {
        return ERR_IO;
    }
    return ERR_OK;
}

/* The highest TC persisted before the stop (section 10, restart step 1). One of an older
 * epoch, or one that does not verify, is ignored: the round then comes from the QCs and
 * from peers. Its hqc is inserted like any certificate (a retrieval starts if its block is
 * not in the durable tree); the TC counts even while that block is missing. */
static void
restore_tc(struct consensus *c, const struct byte_span *stored)
{
    if (stored->size == 0) {
        return;
    }
    struct reader r;
    reader_init(&r, stored->data, stored->size);
    enum err rc = tc_read(&r, c->tmp_tc);
    if (rc == ERR_OK) {
        rc = codec_finish(&r);
    }
    if (rc == ERR_OK) {
        rc = verify_tc(c, c->tmp_tc);
    }
    if (rc != ERR_OK) {
        log_warn(LOG_CONSENSUS, "stored TC ignored err=%s", err_name(rc));
        return;
    }
    *c->tmp_qc = c->tmp_tc->hqc;
    bool bad = false;
    (void)take_qc(c, c->tmp_qc, CONS_PEER_NONE, &bad);
    bool ok = take_tc(c, c->tmp_tc, false);
    ASSERT(ok);
}

/* One epoch_end into the history: the cert, the next set, and the suffix blocks (the proof's
 * headers, C down to the child of the ending block; suffix payloads are always EMPTY). Our
 * own durable data, checked for consistency only (the old sets are not at hand). */
static void
restore_epoch_end(struct consensus *c, const struct cons_epoch_end *ee, struct finality_proof *p)
{
    if (finality_proof_decode(ee->proof.data, ee->proof.size, p) != ERR_OK ||
        validator_set_decode(ee->next_set.data, ee->next_set.size, c->tmp_vs) != ERR_OK) {
        log_warn(LOG_CONSENSUS, "stored epoch end ignored: does not decode");
        return;
    }
    const struct qc *cert = &p->cert;
    uint64_t epoch = cert->vote_data.proposed.epoch;
    struct hash h;
    validator_set_hash(c->cfg.chain.alg, c->tmp_vs, &h);
    if (!cert->ledger_info.has_commit || epoch >= c->epoch || c->tmp_vs->epoch != epoch + 1 ||
        !hash_equal(&h, &cert->ledger_info.commit_info.next_epoch_vs_hash)) {
        log_warn(LOG_CONSENSUS, "stored epoch end ignored: inconsistent epoch=%llu",
                 (unsigned long long)epoch);
        return;
    }
    struct buf b;
    buf_init(&b, CONS_MSG_SIZE_MAX);
    enum err rc = qc_encode(&b, cert);
    ASSERT(rc == ERR_OK);
    history_add(c, epoch, b.data, b.size, c->tmp_vs);
    struct epoch_entry *e = &c->history[c->history_count - 1];
    size_t max = sizeof e->suffix / sizeof e->suffix[0];
    for (uint16_t i = 0; i < p->header_count && e->suffix_count < max; i++) {
        buf_reset(&b);
        rc = buf_append(&b, p->headers[i].data, p->headers[i].size);
        rc = rc == ERR_OK ? codec_put_u8(&b, PAYLOAD_EMPTY) : rc;
        ASSERT(rc == ERR_OK);
        e->suffix[e->suffix_count++] = (struct raw_msg){ 0, dup_bytes(b.data, b.size), b.size };
    }
    buf_release(&b);
}

static void
restore_history(struct consensus *c, const struct cons_start *s)
{
    if (s->epoch_end_count == 0) {
        return;
    }
    struct finality_proof *p = mem_alloc(sizeof *p);
    size_t first = s->epoch_end_count > EPOCH_HISTORY ? s->epoch_end_count - EPOCH_HISTORY : 0;
    for (size_t i = first; i < s->epoch_end_count; i++) {
        restore_epoch_end(c, &s->epoch_ends[i], p);
    }
    mem_free(p);
}

/* Re-sends what the safety record says was signed in the round we restart in. */
static void
resend_after_restart(struct consensus *c)
{
    if (c->self < 0) {
        return;
    }
    if (c->safety.has_vote && c->safety.last_vote.vote_data.proposed.round == c->current_round) {
        send_vote(c, &c->safety.last_vote);
    }
    if (c->safety.has_proposal && c->safety.proposal_round == c->current_round) {
        const struct cblock *b = tree_find(c, &c->safety.proposal_id);
        if (b != NULL && b->bytes != NULL) {
            broadcast_proposal(c, b->bytes, b->size, &c->safety.proposal_sig);
        }
    }
}

enum err
consensus_start(struct consensus *c, const struct cons_start *s)
{
    ASSERT(c != NULL && s != NULL && !c->started);
    *c->tmp_vs = *s->validators;
    if (validator_set_check(c->tmp_vs) != ERR_OK || c->tmp_vs->epoch != s->epoch_root.epoch ||
        s->epoch_root.round != 0 || s->committed_root.epoch != s->epoch_root.epoch) {
        return ERR_CONFIG;
    }
    c->self_key = s->self_key;
    c->root = root_from_info(&s->committed_root);
    tree_add(c, c->root);
    set_epoch(c, c->tmp_vs, &s->epoch_root);
    if (s->root_cert.size > 0) {
        if (qc_decode(s->root_cert.data, s->root_cert.size, c->tmp_qc) != ERR_OK ||
            verify_qc(c, c->tmp_qc) != ERR_OK || !c->tmp_qc->ledger_info.has_commit ||
            !block_info_equal(&c->tmp_qc->ledger_info.commit_info, &s->committed_root)) {
            return ERR_CORRUPT;
        }
        cert_set(&c->high_qc, s->root_cert.data, s->root_cert.size);
        c->high_qc.round = qc_round(c->tmp_qc);
        c->high_qc.block_id = *qc_block_id(c->tmp_qc);
        cert_set(&c->high_cc, s->root_cert.data, s->root_cert.size);
        c->high_cc.round = c->high_qc.round;
        c->high_cc.aux_round = s->committed_root.round;
    }
    enum err rc = load_safety(c, s);
    if (rc != ERR_OK) {
        return rc;
    }
    c->started = true;
    restore_history(c, s);
    if (c->cfg.leader_reputation) {
        reputation_load(c, s->committed_root.height);
    }
    restore_blocks(c, s->blocks, s->block_count);
    restore_tc(c, &s->high_tc);
    c->current_round = 0;
    maybe_advance(c);
    resend_after_restart(c);
    /* ask peers where they are: anyone ahead answers with its SyncInfo */
    encode_into(&c->out);
    rc = codec_put_u8(&c->out, CONS_MSG_SYNC_INFO);
    rc = rc == ERR_OK ? put_sync_info(c, &c->out) : rc;
    ASSERT(rc == ERR_OK);
    c->env.broadcast(c->env.ctx, c->out.data, c->out.size);
    drain(c);
    return ERR_OK;
}

const struct consensus_stats *
consensus_stats(const struct consensus *c)
{
    return &c->stats;
}

uint64_t
consensus_epoch(const struct consensus *c)
{
    return c->epoch;
}

uint64_t
consensus_round(const struct consensus *c)
{
    return c->current_round;
}

uint64_t
consensus_last_voted_round(const struct consensus *c)
{
    return c->safety.last_voted_round;
}

const struct block_info *
consensus_committed_root(const struct consensus *c)
{
    return &c->root->info;
}

const struct validator_set *
consensus_validators(const struct consensus *c)
{
    return &c->vs;
}

size_t
consensus_tree_size(const struct consensus *c)
{
    return c->block_count;
}

size_t
consensus_held_count(const struct consensus *c)
{
    return c->held_count + c->inbox_count + c->rt.fetched_count;
}

size_t
consensus_exec_pending(const struct consensus *c)
{
    size_t n = c->restore_count;
    for (size_t i = 0; i < CONS_EXEC_PENDING_MAX; i++) {
        n += c->exec[i].used ? 1u : 0u;
    }
    return n;
}

bool
consensus_is_halted(const struct consensus *c)
{
    return c->halted;
}
