/* The consensus_env of a simulated instance: virtual disk, clock, execution, mempool and the
 * oracle hooks on everything that leaves or becomes durable. */
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "codec/codec.h"
#include "sim/sim_internal.h"

void
sim_violation(struct sim *s, const char *what, uint64_t a, uint64_t b)
{
    if (s->res.violation) {
        return;
    }
    s->res.violation = true;
    snprintf(s->res.what, sizeof s->res.what, "%s (%llu, %llu) at %llu ms", what,
             (unsigned long long)a, (unsigned long long)b, (unsigned long long)(s->now_us / 1000u));
}

/* Validator set of an epoch: fixed keys, powers that change with the epoch when the run
 * reconfigures (so leader election goes weighted). */
void
sim_validator_set(const struct sim *s, uint64_t epoch, struct validator_set *out)
{
    memset(out, 0, sizeof *out);
    out->epoch = epoch;
    out->count = s->cfg.n;
    for (uint16_t i = 0; i < s->cfg.n; i++) {
        out->nodes[i].institution = i;
        out->nodes[i].consensus_key = s->pub[i];
        out->nodes[i].transport_key = s->tpub[i];
        out->nodes[i].power = s->cfg.reconfig_every > 0 ? 10u + (epoch + i) % 3u : 1u;
    }
    enum err rc = validator_set_check(out);
    ASSERT(rc == ERR_OK);
}

/* The verification cache shared by every instance: key H(pub || digest || sig). */
enum err
sim_verify(void *ctx, const struct public_key *key, const struct hash *digest,
           const struct signature *sig)
{
    struct sim *s = ctx;
    uint8_t in[2 + PUBLIC_KEY_SIZE_MAX + HASH_SIZE + 1 + SIGNATURE_SIZE];
    size_t n = 0;
    in[n++] = key->alg;
    in[n++] = key->size;
    memcpy(in + n, key->bytes, key->size);
    n += key->size;
    memcpy(in + n, digest->bytes, HASH_SIZE);
    n += HASH_SIZE;
    in[n++] = sig->alg;
    memcpy(in + n, sig->bytes, SIGNATURE_SIZE);
    n += SIGNATURE_SIZE;
    struct hash k;
    hash_bytes(HASH_SHA256, in, n, &k);
    struct vcache_entry *e = &s->vcache[load_u32(k.bytes) & (SIM_VCACHE_SIZE - 1)];
    if (e->state != 0 && hash_equal(&e->key, &k)) {
        s->res.cache_hits++;
        return e->state == 1 ? ERR_OK : ERR_BAD_SIGNATURE;
    }
    s->res.verifications++;
    enum err rc = verify_message(key, digest->bytes, HASH_SIZE, sig);
    e->key = k;
    e->state = rc == ERR_OK ? 1 : 2;
    return rc == ERR_OK ? ERR_OK : ERR_BAD_SIGNATURE;
}

static bool
is_honest(const struct sim_node *node)
{
    return node->byz == SIM_BYZ_NONE;
}

static uint64_t
env_now_us(void *ctx)
{
    struct sim_node *node = ctx;
    int64_t t = (int64_t)(SIM_GENESIS_US + node->sim->now_us) + node->skew_us;
    return (uint64_t)t;
}

/* ---- oracle on sent messages ---- */

static void
record_sent(struct sim_node *node, uint8_t kind, uint64_t epoch, uint64_t round,
            const struct hash *what)
{
    struct sim *s = node->sim;
    for (size_t i = 0; i < SIM_RECORD_RING; i++) {
        const struct sent_record *r = &node->sent[i];
        if (r->kind == 0 || r->epoch != epoch || r->round != round) {
            continue;
        }
        if (r->kind == kind && !hash_equal(&r->what, what) && kind != 2) {
            sim_violation(s, kind == 1 ? "honest double vote" : "honest double proposal", node->id,
                          round);
        }
        if (kind == 1 && r->kind == 2) {
            /* a vote after our own timeout is allowed only as the unchanged re-send */
            bool same = false;
            for (size_t k = 0; k < SIM_RECORD_RING; k++) {
                const struct sent_record *q = &node->sent[k];
                same = same || (q->kind == 1 && q->epoch == epoch && q->round == round &&
                                hash_equal(&q->what, what));
            }
            if (!same) {
                sim_violation(s, "honest vote after timeout", node->id, round);
            }
        }
    }
    node->sent[node->sent_next] = (struct sent_record){ epoch, round, kind, *what };
    node->sent_next = (node->sent_next + 1) % SIM_RECORD_RING;
}

static void
inspect_outgoing(struct sim_node *node, const uint8_t *data, size_t size)
{
    struct sim *s = node->sim;
    if (!is_honest(node) || size == 0) {
        return;
    }
    uint8_t type = data[0];
    if (type != CONS_MSG_VOTE && type != CONS_MSG_TIMEOUT && type != CONS_MSG_PROPOSAL) {
        return;
    }
    if (cons_msg_decode(data, size, s->scratch) != ERR_OK) {
        sim_violation(s, "honest node sent an undecodable message", node->id, type);
        return;
    }
    struct hash h;
    if (type == CONS_MSG_VOTE) {
        const struct vote *v = &s->scratch->u.vote.vote;
        ledger_info_hash(s->ccfg.chain.alg, &v->ledger_info, &h);
        record_sent(node, 1, v->vote_data.proposed.epoch, v->vote_data.proposed.round, &h);
    } else if (type == CONS_MSG_TIMEOUT) {
        const struct timeout *t = &s->scratch->u.timeout.timeout;
        memset(&h, 0, sizeof h);
        record_sent(node, 2, t->epoch, t->round, &h);
    } else {
        const struct block_header *bh = &s->scratch->u.proposal.block.header;
        block_header_id(s->ccfg.chain.alg, bh, &h);
        record_sent(node, 3, bh->epoch, bh->round, &h);
    }
}

static void
env_send(void *ctx, uint16_t to, const uint8_t *msg, size_t size)
{
    struct sim_node *node = ctx;
    if (node->dying || !node->up) {
        return;
    }
    inspect_outgoing(node, msg, size);
    if (node->byz != SIM_BYZ_NONE && node->byz != SIM_BYZ_AMNESIA) {
        sim_byz_outgoing(node, to, msg, size);
        return;
    }
    struct sim_buf *b = sim_buf_new(msg, size);
    sim_net_send(node, to, b);
    sim_buf_unref(b);
}

static void
env_broadcast(void *ctx, const uint8_t *msg, size_t size)
{
    struct sim_node *node = ctx;
    if (node->dying || !node->up) {
        return;
    }
    inspect_outgoing(node, msg, size);
    if (size > 0 && msg[0] == CONS_MSG_PROPOSAL) {
        sim_remember_proposal(node->sim, msg, size);
    }
    if (node->byz != SIM_BYZ_NONE && node->byz != SIM_BYZ_AMNESIA) {
        sim_byz_outgoing(node, -1, msg, size);
        return;
    }
    struct sim_buf *b = sim_buf_new(msg, size);
    for (uint16_t j = 0; j < node->sim->cfg.n; j++) {
        if (j != node->idx || node->sim->cfg.twins > 0) {
            sim_net_send(node, j, b);
        }
    }
    sim_buf_unref(b);
}

static void
env_set_timer(void *ctx, enum cons_timer kind, uint64_t delay_ms, uint64_t token)
{
    struct sim_node *node = ctx;
    struct sim *s = node->sim;
    struct event ev = { .at_us = s->now_us + delay_ms * 1000u,
                        .kind = EV_TIMER,
                        .timer_kind = (uint8_t)kind,
                        .node = node->id,
                        .token = token,
                        .gen = node->gen };
    sim_push(s, &ev);
}

/* The crash and disk faults of a persist (shared by the safety record and the TC): false
 * when nothing reaches the disk, with *out_rc what the core is told. */
static bool
disk_write_fault(struct sim_node *node, enum err *out_rc)
{
    if (node->dying) {
        *out_rc = ERR_IO;
        return true;
    }
    if (node->crash_next == CRASH_DISK_FULL) {
        node->crash_next = CRASH_NONE;
        *out_rc = ERR_NO_SPACE;
        return true;
    }
    if (node->crash_next == CRASH_BEFORE_FSYNC) {
        node->crash_next = CRASH_NONE;
        node->dying = true; /* the process dies before the write reaches the disk */
        *out_rc = ERR_OK;
        return true;
    }
    return false;
}

static void
disk_write_done(struct sim_node *node)
{
    if (node->crash_next == CRASH_AFTER_FSYNC) {
        node->crash_next = CRASH_NONE;
        node->dying = true; /* durable, but what depends on it never happens */
    }
}

static enum err
env_persist_safety(void *ctx, const uint8_t *rec, size_t size)
{
    struct sim_node *node = ctx;
    struct sim *s = node->sim;
    enum err rc = ERR_OK;
    if (disk_write_fault(node, &rc)) {
        return rc;
    }
    struct safety_record r;
    rc = safety_record_decode(rec, size, &r);
    ASSERT(rc == ERR_OK);
    if (is_honest(node)) {
        if (r.epoch == node->lvr_epoch && r.last_voted_round < node->lvr) {
            sim_violation(s, "honest lvr decreased", node->id, r.last_voted_round);
        }
        if (r.epoch < node->lvr_epoch) {
            sim_violation(s, "honest safety epoch decreased", node->id, r.epoch);
        }
        node->lvr_epoch = r.epoch;
        node->lvr = r.last_voted_round;
    }
    mem_free(node->safety);
    node->safety = mem_dup(rec, size);
    node->safety_size = size;
    disk_write_done(node);
    return ERR_OK;
}

static enum err
env_persist_tc(void *ctx, const uint8_t *tc, size_t size)
{
    struct sim_node *node = ctx;
    struct sim *s = node->sim;
    enum err rc = ERR_OK;
    if (disk_write_fault(node, &rc)) {
        return rc;
    }
    struct reader r;
    reader_init(&r, tc, size);
    rc = tc_read(&r, &s->scratch->u.sync.highest_tc);
    ASSERT(rc == ERR_OK && codec_finish(&r) == ERR_OK);
    uint64_t epoch = s->scratch->u.sync.highest_tc.epoch;
    uint64_t round = s->scratch->u.sync.highest_tc.round;
    if (is_honest(node) && node->tc != NULL && epoch == node->tc_epoch && round <= node->tc_round) {
        sim_violation(s, "honest highest TC did not increase", node->id, round);
    }
    mem_free(node->tc);
    node->tc = mem_dup(tc, size);
    node->tc_size = size;
    node->tc_epoch = epoch;
    node->tc_round = round;
    if (s->crash_all_left > 0 && is_honest(node)) {
        s->crash_all_left--;
        for (uint16_t i = 0; i < s->node_count; i++) {
            struct event ev = { .at_us = s->now_us + 1000u + rng_below(&s->fault, 20000u),
                                .kind = EV_CRASH,
                                .node = i };
            sim_push(s, &ev);
        }
    }
    disk_write_done(node);
    return ERR_OK;
}

/* Called after every consensus_start of an instance. */
void
sim_check_restart(struct sim_node *node)
{
    if (node->tc == NULL || !is_honest(node) || consensus_epoch(node->c) != node->tc_epoch) {
        return;
    }
    if (consensus_round(node->c) <= node->tc_round) {
        sim_violation(node->sim, "restart: below the round after the stored TC", node->id,
                      consensus_round(node->c));
    }
}

static enum err
env_persist_block(void *ctx, const struct hash *id, const uint8_t *block, size_t size)
{
    struct sim_node *node = ctx;
    for (size_t i = 0; i < node->block_count; i++) {
        if (hash_equal(&node->blocks[i].id, id)) {
            return ERR_OK;
        }
    }
    struct sim *s = node->sim;
    if (block_decode(block, size, s->scratch_block) != ERR_OK) {
        return ERR_CORRUPT;
    }
    if (node->block_count == node->block_cap) {
        node->block_cap = node->block_cap == 0 ? 16 : node->block_cap * 2;
        node->blocks = mem_realloc(node->blocks, node->block_cap * sizeof *node->blocks);
    }
    node->blocks[node->block_count++] =
        (struct stored_block){ .id = *id,
                               .epoch = s->scratch_block->header.epoch,
                               .height = s->scratch_block->header.height,
                               .bytes = mem_dup(block, size),
                               .size = size };
    return ERR_OK;
}

static enum err
env_sign(void *ctx, const struct hash *digest, struct signature *out)
{
    struct sim_node *node = ctx;
    return sign_message(node->key, digest->bytes, HASH_SIZE, out);
}

static enum err
env_verify(void *ctx, const struct public_key *key, const struct hash *digest,
           const struct signature *sig)
{
    struct sim_node *node = ctx;
    return sim_verify(node->sim, key, digest, sig);
}

/* The batch hook (what a worker pool would get), answered from the shared cache. */
static enum err
env_verify_batch(void *ctx, const struct cons_verify_item *items, size_t count)
{
    struct sim_node *node = ctx;
    for (size_t i = 0; i < count; i++) {
        if (sim_verify(node->sim, items[i].key, &items[i].digest, items[i].sig) != ERR_OK) {
            return ERR_BAD_SIGNATURE;
        }
    }
    return ERR_OK;
}

static enum err
env_execute(void *ctx, const struct block *blk, const struct block_info *parent,
            struct exec_result *out)
{
    struct sim_node *node = ctx;
    struct sim *s = node->sim;
    enum hash_alg alg = s->ccfg.chain.alg;
    uint8_t in[8 + 2 * HASH_SIZE];
    store_u64(in, blk->header.height);
    memcpy(in + 8, parent->exec_root.bytes, HASH_SIZE);
    memcpy(in + 8 + HASH_SIZE, blk->header.payload_root.bytes, HASH_SIZE);
    struct exec_result r;
    memset(&r, 0, sizeof r);
    hash_bytes(alg, in, sizeof in, &r.exec_root);
    hash_two(alg, "rcpt", 4, r.exec_root.bytes, HASH_SIZE, &r.receipts_root);
    if (s->cfg.reconfig_every > 0 && blk->header.height % s->cfg.reconfig_every == 0) {
        sim_validator_set(s, blk->header.epoch + 1, s->vs_scratch);
        validator_set_hash(alg, s->vs_scratch, &r.next_epoch_vs_hash);
    }
    /* with async_exec, a block over the honest payload size (the equivocating leader's second
     * block) fails execution at every node: invalid results, synchronous and late */
    bool invalid = s->cfg.async_exec && blk->payload.tx_count > s->cfg.txs_per_block;
    if (!s->cfg.async_exec || rng_permille(&s->exec, s->cfg.exec_sync_permille)) {
        *out = r;
        return invalid ? ERR_MALFORMED : ERR_OK;
    }
    /* started: the result arrives as an event, after a delay that grows with the payload */
    uint8_t msg[4 * HASH_SIZE + 1];
    struct hash id;
    block_header_id(alg, &blk->header, &id);
    memcpy(msg, id.bytes, HASH_SIZE);
    memcpy(msg + HASH_SIZE, r.exec_root.bytes, HASH_SIZE);
    memcpy(msg + (size_t)2 * HASH_SIZE, r.receipts_root.bytes, HASH_SIZE);
    memcpy(msg + (size_t)3 * HASH_SIZE, r.next_epoch_vs_hash.bytes, HASH_SIZE);
    msg[(size_t)4 * HASH_SIZE] = invalid ? 1 : 0;
    uint64_t delay = s->cfg.exec_base_us + blk->payload.tx_count * s->cfg.exec_per_tx_us +
                     rng_below(&s->exec, s->cfg.exec_jitter_us + 1u);
    struct event ev = { .at_us = s->now_us + delay,
                        .kind = EV_EXECUTED,
                        .node = node->id,
                        .gen = node->gen,
                        .msg = sim_buf_new(msg, sizeof msg) };
    sim_push(s, &ev); /* the event owns the reference */
    s->res.exec_async++;
    return ERR_AGAIN;
}

static enum err
env_pull_payload(void *ctx, const struct payload_request *req, struct buf *out, uint32_t *out_count)
{
    /* every simulated transaction is unique (instance id, counter): nothing to exclude */
    struct sim_node *node = ctx;
    struct sim *s = node->sim;
    uint32_t max_txs = req->max_txs;
    uint32_t max_bytes = req->max_bytes;
    uint32_t count = 0;
    uint8_t tx[4096];
    uint32_t size = s->cfg.tx_size < 16 ? 16 : s->cfg.tx_size;
    size = size > sizeof tx ? (uint32_t)sizeof tx : size;
    memset(tx, 0xab, size);
    while (count < s->cfg.txs_per_block && count < max_txs &&
           out->size + size + VARINT_SIZE_MAX <= max_bytes &&
           (s->cfg.tx_budget == 0 || s->txs_issued < s->cfg.tx_budget)) {
        s->txs_issued++;
        store_u16(tx, node->id);
        store_u64(tx + 2, node->tx_counter++);
        enum err rc = codec_put_bytes(out, tx, size, CONS_TX_SIZE_MAX);
        count += rc == ERR_OK ? 1u : 0u;
        if (rc != ERR_OK) {
            break;
        }
    }
    *out_count = count;
    return ERR_OK;
}

static void
prune_disk(struct sim_node *node)
{
    size_t k = 0;
    for (size_t i = 0; i < node->block_count; i++) {
        struct stored_block *b = &node->blocks[i];
        if (b->epoch < node->epoch || b->height < node->committed_height) {
            mem_free(b->bytes);
        } else {
            node->blocks[k++] = *b;
        }
    }
    node->block_count = k;
}

/* min_block_interval_ms: a block with txs (not a full one) that directly follows its parent's
 * round is at least that much younger than its parent. Only when every node is honest (a
 * Byzantine leader may propose early), clocks agree (a leader behind its parent's clock waits
 * the interval, not until its own clock passes the parent's) and within an epoch (its first
 * block follows the epoch root). */
static void
check_pacing(struct sim *s, struct sim_node *node, const struct committed_block *cb)
{
    uint64_t h = cb->info->height;
    if (s->ccfg.min_block_interval_ms == 0 || s->cfg.byzantine > 0 || s->cfg.clock_skew_ms > 0 ||
        h == 0 || h - 1 >= s->chain_cap || !s->chain[h - 1].set) {
        return;
    }
    const struct chain_entry *parent = &s->chain[h - 1];
    if (parent->epoch != cb->info->epoch || cb->info->round != parent->round + 1 ||
        block_decode(cb->block, cb->block_size, s->scratch_block) != ERR_OK) {
        return;
    }
    uint32_t txs = s->scratch_block->payload.tx_count;
    bool room = s->scratch_block->payload.txs_size + CONS_TX_SIZE_MAX <= s->ccfg.max_block_bytes;
    if (txs > 0 && txs < s->ccfg.max_block_txs && room &&
        cb->info->timestamp_us < parent->timestamp_us + s->ccfg.min_block_interval_ms * 1000u) {
        sim_violation(s, "pacing: a block with txs came before min_block_interval_ms", node->id, h);
    }
}

static void
check_agreement(struct sim_node *node, const struct committed_block *cb)
{
    struct sim *s = node->sim;
    uint64_t h = cb->info->height;
    if (h >= s->chain_cap) {
        size_t cap = s->chain_cap;
        while (cap <= h) {
            cap *= 2;
        }
        s->chain = mem_realloc(s->chain, cap * sizeof *s->chain);
        memset(s->chain + s->chain_cap, 0, (cap - s->chain_cap) * sizeof *s->chain);
        s->chain_cap = cap;
    }
    struct chain_entry *e = &s->chain[h];
    if (!e->set) {
        check_pacing(s, node, cb);
        *e = (struct chain_entry){ .set = true,
                                   .id = cb->info->id,
                                   .exec_root = cb->info->exec_root,
                                   .epoch = cb->info->epoch,
                                   .round = cb->info->round,
                                   .timestamp_us = cb->info->timestamp_us,
                                   .block = mem_dup(cb->block, cb->block_size),
                                   .size = cb->block_size };
        if (h > s->max_height) {
            s->max_height = h;
            s->last_progress_us = s->now_us;
        }
        if (h == s->cfg.warmup_height) {
            s->res.warm_msgs = s->res.msgs;
            s->res.warm_bytes = s->res.bytes;
            s->res.warm_rounds = sim_rounds(s);
            s->res.warm_height = h;
            memcpy(s->res.warm_type_msgs, s->res.type_msgs, sizeof s->res.type_msgs);
        }
        return;
    }
    if (!hash_equal(&e->id, &cb->info->id)) {
        sim_violation(s, "agreement: two blocks committed at one height", node->id, h);
    } else if (!hash_equal(&e->exec_root, &cb->info->exec_root)) {
        sim_violation(s, "determinism: state roots differ at one height", node->id, h);
    }
}

static void
check_proof(struct sim_node *node, const struct committed_block *cb)
{
    struct sim *s = node->sim;
    if (finality_proof_decode(cb->proof, cb->proof_size, s->scratch_proof) != ERR_OK) {
        sim_violation(s, "finality proof does not decode", node->id, cb->info->height);
        return;
    }
    uint64_t epoch = s->scratch_proof->cert.vote_data.proposed.epoch;
    sim_validator_set(s, epoch, s->vs_scratch);
    if (epoch != cb->info->epoch ||
        finality_proof_verify(&s->verifier, s->vs_scratch, s->scratch_proof, &cb->info->id,
                              &s->scratch_block->header) != ERR_OK) {
        sim_violation(s, "finality proof does not verify", node->id, cb->info->height);
    }
}

static void
remember_root_cert(struct sim_node *node, const struct committed_block *cb)
{
    struct sim *s = node->sim;
    if (s->scratch_proof->header_count != 0) {
        return; /* not the newest block of its batch: keep the older (root, cert) pair */
    }
    struct buf b;
    buf_init(&b, CONS_MSG_SIZE_MAX);
    enum err rc = qc_encode(&b, &s->scratch_proof->cert);
    ASSERT(rc == ERR_OK);
    mem_free(node->root_cert);
    node->root_cert = buf_detach(&b, &node->root_cert_size);
    node->committed_root = *cb->info;
}

/* Like a node's ledger: the epoch-ending block's proof and the set it installed. */
static void
remember_epoch_end(struct sim_node *node, const struct committed_block *cb)
{
    struct sim *s = node->sim;
    if (node->epoch_end_count == SIM_EPOCH_ENDS) {
        mem_free(node->epoch_ends[0].proof);
        mem_free(node->epoch_ends[0].set);
        memmove(&node->epoch_ends[0], &node->epoch_ends[1],
                (SIM_EPOCH_ENDS - 1) * sizeof node->epoch_ends[0]);
        node->epoch_end_count--;
    }
    sim_validator_set(s, cb->info->epoch + 1, s->vs_scratch);
    struct buf b;
    buf_init(&b, VS_ENCODED_SIZE_MAX);
    enum err rc = validator_set_encode(s->vs_scratch, &b);
    ASSERT(rc == ERR_OK);
    size_t set_size = 0;
    uint8_t *set = buf_detach(&b, &set_size);
    node->epoch_ends[node->epoch_end_count++] =
        (struct sim_epoch_end){ .proof = mem_dup(cb->proof, cb->proof_size),
                                .proof_size = cb->proof_size,
                                .set = set,
                                .set_size = set_size };
}

static enum err
env_commit(void *ctx, const struct committed_block *cb)
{
    struct sim_node *node = ctx;
    struct sim *s = node->sim;
    uint64_t h = cb->info->height;
    if (h <= node->committed_height) {
        /* a restarted node may be handed blocks it already has: they must be the same */
        if (h < s->chain_cap && s->chain[h].set && !hash_equal(&s->chain[h].id, &cb->info->id)) {
            sim_violation(s, "agreement: recommitted a different block", node->id, h);
        }
        return ERR_OK;
    }
    if (h != node->committed_height + 1 && is_honest(node)) {
        sim_violation(s, "prefix: committed heights not consecutive", node->id, h);
    }
    if (is_honest(node)) {
        check_agreement(node, cb);
        check_proof(node, cb);
        if (s->latency_count < SIM_LATENCY_MAX && h > s->cfg.warmup_height) {
            uint64_t now = SIM_GENESIS_US + s->now_us;
            s->latency[s->latency_count++] =
                now > cb->info->timestamp_us ? now - cb->info->timestamp_us : 0;
        }
    } else if (finality_proof_decode(cb->proof, cb->proof_size, s->scratch_proof) != ERR_OK) {
        return ERR_CORRUPT;
    }
    node->committed_height = h;
    remember_root_cert(node, cb);
    if (cb->ends_epoch) {
        remember_epoch_end(node, cb);
        if (node->id == 0 || (s->nodes[0].down_forever && node->id == 1)) {
            s->rounds_acc += consensus_round(node->c);
            s->res.epochs++;
        }
        node->epoch = cb->info->epoch + 1;
        struct block_info root = *cb->info;
        root.epoch = node->epoch;
        root.round = 0;
        memset(&root.next_epoch_vs_hash, 0, sizeof root.next_epoch_vs_hash);
        node->epoch_root = root;
        node->committed_root = root;
        mem_free(node->root_cert);
        node->root_cert = NULL;
        node->root_cert_size = 0;
    }
    prune_disk(node);
    return ERR_OK;
}

static enum err
env_next_validator_set(void *ctx, const struct block_info *ending, struct validator_set *out)
{
    struct sim_node *node = ctx;
    sim_validator_set(node->sim, ending->epoch + 1, out);
    return ERR_OK;
}

static enum err
env_load_committed_block(void *ctx, const struct hash *id, struct buf *out)
{
    struct sim_node *node = ctx;
    struct sim *s = node->sim;
    uint64_t top = node->committed_height < s->chain_cap ? node->committed_height : 0;
    for (uint64_t h = top; h > 0; h--) {
        const struct chain_entry *e = &s->chain[h];
        if (e->set && hash_equal(&e->id, id)) {
            return buf_append(out, e->block, e->size);
        }
        if (top - h > 512) {
            break;
        }
    }
    return ERR_NOT_FOUND;
}

static enum err
env_load_committed_at(void *ctx, uint64_t height, struct buf *out)
{
    struct sim_node *node = ctx;
    struct sim *s = node->sim;
    if (height == 0 || height > node->committed_height || height >= s->chain_cap ||
        !s->chain[height].set) {
        return ERR_NOT_FOUND;
    }
    return buf_append(out, s->chain[height].block, s->chain[height].size);
}

static void
env_evidence(void *ctx, const uint8_t *evidence, size_t size)
{
    struct sim_node *node = ctx;
    (void)evidence;
    (void)size;
    node->sim->res.evidence++;
}

void
sim_env_fill(struct sim_node *node, struct consensus_env *env)
{
    *env = (struct consensus_env){ .ctx = node,
                                   .now_us = env_now_us,
                                   .send = env_send,
                                   .broadcast = env_broadcast,
                                   .set_timer = env_set_timer,
                                   .persist_safety = env_persist_safety,
                                   .persist_tc = env_persist_tc,
                                   .persist_block = env_persist_block,
                                   .sign = env_sign,
                                   .verify = env_verify,
                                   .execute = env_execute,
                                   .pull_payload = env_pull_payload,
                                   .commit = env_commit,
                                   .next_validator_set = env_next_validator_set,
                                   .load_committed_block = env_load_committed_block,
                                   .load_committed_at = env_load_committed_at,
                                   .evidence = env_evidence };
    if (node->id % 2 == 0) {
        env->verify_batch = env_verify_batch; /* half the nodes take the batch path */
    }
}
