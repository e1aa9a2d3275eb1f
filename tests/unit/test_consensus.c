/* Targeted cases of CONSENSUS.md T5 against one consensus node whose env is captured here;
 * the other three validators are played by the test with real keys:
 *   - the vote is persisted before it is sent, and a restart between fsync and send re-sends
 *     the identical vote;
 *   - no vote after a timeout in the same round;
 *   - a TC whose max(hqc_rounds) exceeds the proposal's qc.round gets no vote; a proposal on
 *     the highest QC does, and its vote commits nothing (non-consecutive rounds);
 *   - messages with a bad signature, from a non-validator or for another epoch are dropped
 *     and counted;
 *   - an epoch-suffix block with a payload is rejected;
 *   - a learned TC is persisted before its next round is entered; a node restarted with it
 *     resumes in that round and votes on the TC without re-forming it; a failed TC write
 *     halts the node;
 *   - with leader_egress_kbps the round timer adds the stage-A dissemination time of the last
 *     accepted proposal, capped at base_timeout;
 *   - asynchronous execution (env->execute returns ERR_AGAIN): the vote only after the result,
 *     no vote for an invalid result, unknown and duplicate results ignored, results out of
 *     order (a child waits for its parent), the leader's own block sent before its result, the
 *     bound on pending executions;
 *   - retrieval: a chain no peer has is given up after one NOT_FOUND per peer and stops
 *     holding messages; an epoch proof whose certified block no peer serves is followed
 *     through the block it commits. */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "codec/codec.h"
#include "consensus/consensus.h"
#include "unit.h"

#define N    4
#define SELF 3

struct sent {
    int to; /* -1 broadcast */
    uint8_t *data;
    size_t size;
    int persists_before; /* persists done when it was sent */
};

struct harness {
    struct secret_key *keys[N];
    struct validator_set vs;
    struct consensus_config cfg;
    struct consensus *c;
    struct sent out[512];
    size_t nout;
    uint64_t round_token;
    uint64_t round_delay_ms;
    uint8_t safety[SAFETY_RECORD_SIZE_MAX];
    size_t safety_size;
    int persists;
    uint8_t tc[CONS_MSG_SIZE_MAX];
    size_t tc_size;
    int tc_persists;
    uint64_t round_at_tc_persist; /* the node's round when the TC was written */
    bool tc_write_fails;
    struct block_info genesis;
    struct qc epoch_qc;
    uint64_t epoch_end_height; /* execution ends the epoch at this height (0: never) */
    int commits;
    int block_persists;      /* env->persist_block calls */
    bool async;              /* h_execute starts executions and returns ERR_AGAIN */
    uint8_t tx_tag;          /* varies the crafted payload (distinct blocks for one round) */
    struct hash started[32]; /* blocks whose execution h_execute started, in order */
    struct exec_result results[32];
    size_t nstarted;
    uint64_t now_us;           /* 0: a fixed 1,000 s */
    uint32_t pull_txs;         /* txs h_pull hands out per call (max_txs at most) */
    uint64_t propose_token;    /* of the last CONS_TIMER_PROPOSE */
    uint64_t propose_delay_ms; /* its delay */
};

static struct harness *hx;

static uint64_t
h_now(void *ctx)
{
    (void)ctx;
    return hx->now_us != 0 ? hx->now_us : 1000000000u;
}

static void
h_record(int to, const uint8_t *msg, size_t size)
{
    assert_true(hx->nout < sizeof hx->out / sizeof hx->out[0]);
    hx->out[hx->nout++] = (struct sent){ to, mem_dup(msg, size), size, hx->persists };
}

static void
h_send(void *ctx, uint16_t to, const uint8_t *msg, size_t size)
{
    (void)ctx;
    h_record(to, msg, size);
}

static void
h_broadcast(void *ctx, const uint8_t *msg, size_t size)
{
    (void)ctx;
    h_record(-1, msg, size);
}

static void
h_timer(void *ctx, enum cons_timer kind, uint64_t delay_ms, uint64_t token)
{
    (void)ctx;
    (void)delay_ms;
    if (kind == CONS_TIMER_ROUND) {
        hx->round_token = token;
        hx->round_delay_ms = delay_ms;
    } else if (kind == CONS_TIMER_PROPOSE) {
        hx->propose_token = token;
        hx->propose_delay_ms = delay_ms;
    }
}

static enum err
h_persist(void *ctx, const uint8_t *rec, size_t size)
{
    (void)ctx;
    assert_true(size <= sizeof hx->safety);
    memcpy(hx->safety, rec, size);
    hx->safety_size = size;
    hx->persists++;
    return ERR_OK;
}

static enum err
h_persist_tc(void *ctx, const uint8_t *tc, size_t size)
{
    (void)ctx;
    if (hx->tc_write_fails) {
        return ERR_IO;
    }
    assert_true(size <= sizeof hx->tc);
    memcpy(hx->tc, tc, size);
    hx->tc_size = size;
    hx->tc_persists++;
    hx->round_at_tc_persist = consensus_round(hx->c);
    return ERR_OK;
}

static enum err
h_persist_block(void *ctx, const struct hash *id, const uint8_t *b, size_t size)
{
    (void)ctx;
    (void)id;
    (void)b;
    (void)size;
    hx->block_persists++;
    return ERR_OK;
}

static enum err
h_sign(void *ctx, const struct hash *digest, struct signature *out)
{
    (void)ctx;
    return sign_message(hx->keys[SELF], digest->bytes, HASH_SIZE, out);
}

static void
exec_of(const struct block_info *parent, const struct hash *payload_root, uint64_t height,
        struct exec_result *out)
{
    memset(out, 0, sizeof *out);
    hash_two(HASH_SHA256, parent->exec_root.bytes, HASH_SIZE, payload_root->bytes, HASH_SIZE,
             &out->exec_root);
    hash_two(HASH_SHA256, "r", 1, out->exec_root.bytes, HASH_SIZE, &out->receipts_root);
    if (height == hx->epoch_end_height) {
        validator_set_hash(HASH_SHA256, &hx->vs, &out->next_epoch_vs_hash);
    }
}

static enum err
h_execute(void *ctx, const struct block *blk, const struct block_info *parent,
          struct exec_result *out)
{
    (void)ctx;
    if (hx->async) {
        assert_true(hx->nstarted < sizeof hx->started / sizeof hx->started[0]);
        block_header_id(HASH_SHA256, &blk->header, &hx->started[hx->nstarted]);
        exec_of(parent, &blk->header.payload_root, blk->header.height, &hx->results[hx->nstarted]);
        hx->nstarted++;
        return ERR_AGAIN;
    }
    exec_of(parent, &blk->header.payload_root, blk->header.height, out);
    return ERR_OK;
}

static enum err
h_pull(void *ctx, const struct payload_request *req, struct buf *out, uint32_t *out_count)
{
    (void)ctx;
    uint32_t n = hx->pull_txs < req->max_txs ? hx->pull_txs : req->max_txs;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t tx[4] = { 'p', 'u', 'l', (uint8_t)i };
        assert_int_equal(codec_put_bytes(out, tx, sizeof tx, CONS_TX_SIZE_MAX), ERR_OK);
    }
    *out_count = n;
    return ERR_OK;
}

static enum err
h_commit(void *ctx, const struct committed_block *cb)
{
    (void)ctx;
    (void)cb;
    hx->commits++;
    return ERR_OK;
}

static enum err
h_next_vs(void *ctx, const struct block_info *ending, struct validator_set *out)
{
    (void)ctx;
    (void)ending;
    *out = hx->vs;
    return ERR_OK;
}

static const struct consensus_env h_env = {
    .now_us = h_now,
    .send = h_send,
    .broadcast = h_broadcast,
    .set_timer = h_timer,
    .persist_safety = h_persist,
    .persist_tc = h_persist_tc,
    .persist_block = h_persist_block,
    .sign = h_sign,
    .execute = h_execute,
    .pull_payload = h_pull,
    .commit = h_commit,
    .next_validator_set = h_next_vs,
};

/* Starts the node with its stored safety record and TC (with_record) and `count` durable
 * blocks. */
static void
start_node_with(bool with_record, const struct byte_span *blocks, size_t count)
{
    struct cons_start st = { .validators = &hx->vs,
                             .epoch_root = hx->genesis,
                             .committed_root = hx->genesis,
                             .blocks = blocks,
                             .block_count = count };
    if (with_record) {
        st.safety_record = (struct byte_span){ hx->safety, hx->safety_size };
        st.high_tc = (struct byte_span){ hx->tc, hx->tc_size };
    }
    secret_key_public(hx->keys[SELF], &st.self_key);
    assert_int_equal(consensus_new(&hx->cfg, &h_env, &hx->c), ERR_OK);
    assert_int_equal(consensus_start(hx->c, &st), ERR_OK);
}

static void
start_node(bool with_record)
{
    start_node_with(with_record, NULL, 0);
}

static void
clear_out(void)
{
    for (size_t i = 0; i < hx->nout; i++) {
        mem_free(hx->out[i].data);
    }
    hx->nout = 0;
}

static int
setup(void **state)
{
    (void)state;
    hx = mem_calloc(1, sizeof *hx);
    hx->vs.count = N;
    for (uint16_t i = 0; i < N; i++) {
        uint8_t seed[32];
        memset(seed, (int)(0x30 + i), sizeof seed);
        if (secret_key_import(SIG_ED25519, seed, sizeof seed, &hx->keys[i]) != ERR_OK) {
            return -1;
        }
        hx->vs.nodes[i].institution = i;
        secret_key_public(hx->keys[i], &hx->vs.nodes[i].consensus_key);
        hx->vs.nodes[i].power = 1;
        struct secret_key *tk = NULL;
        memset(seed, (int)(0x70 + i), sizeof seed);
        if (secret_key_import(SIG_ED25519, seed, sizeof seed, &tk) != ERR_OK) {
            return -1;
        }
        secret_key_public(tk, &hx->vs.nodes[i].transport_key);
        secret_key_free(tk);
    }
    hx->vs.epoch = 1;
    if (validator_set_check(&hx->vs) != ERR_OK) {
        return -1;
    }
    struct hash chain_id;
    hash_bytes(HASH_SHA256, "unit-chain", 10, &chain_id);
    consensus_config_default(&hx->cfg, HASH_SHA256, &chain_id);
    hx->genesis = (struct block_info){ .epoch = 1, .timestamp_us = 5000 };
    hash_bytes(HASH_SHA256, "g", 1, &hx->genesis.id);
    qc_epoch_genesis(HASH_SHA256, &hx->genesis, &hx->epoch_qc);
    start_node(false);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    consensus_free(hx->c);
    clear_out();
    for (int i = 0; i < N; i++) {
        secret_key_free(hx->keys[i]);
    }
    mem_free(hx);
    return 0;
}

/* A block on `parent` certified by `qc`, its BlockInfo, and the signed proposal bytes. */
struct crafted {
    struct block_info info;
    struct buf msg;
};

static void
craft(uint64_t round, const struct block_info *parent, const struct qc *qc, const struct tc *tc,
      bool with_payload, struct crafted *out)
{
    struct cons_msg *m = mem_calloc(1, sizeof *m);
    m->type = CONS_MSG_PROPOSAL;
    struct block_header *h = &m->u.proposal.block.header;
    bool suffix = !hash_is_zero(&parent->next_epoch_vs_hash);
    h->epoch = 1;
    h->round = round;
    h->height = suffix ? parent->height : parent->height + 1;
    h->parent_id = parent->id;
    h->qc = *qc;
    h->author = (uint16_t)(round % N);
    h->timestamp_us = suffix ? parent->timestamp_us : parent->timestamp_us + 1;
    for (uint64_t r = qc_round(qc) + 1; r < round; r++) {
        h->failed[h->failed_count++] = (struct failed_author){ r, (uint16_t)(r % N) };
    }
    struct buf txs;
    buf_init(&txs, 256);
    if (with_payload) {
        const uint8_t tx[3] = { 't', 'x', hx->tx_tag };
        assert_int_equal(codec_put_bytes(&txs, tx, hx->tx_tag == 0 ? 2 : 3, CONS_TX_SIZE_MAX),
                         ERR_OK);
        m->u.proposal.block.payload = (struct block_payload){
            .kind = PAYLOAD_INLINE, .tx_count = 1, .txs = txs.data, .txs_size = txs.size
        };
    }
    block_header_set_payload(HASH_SHA256, h, &m->u.proposal.block.payload);
    h->parent_exec_root = parent->exec_root;
    h->parent_receipts_root = parent->receipts_root;
    struct hash id;
    block_header_id(HASH_SHA256, h, &id);
    struct hash d;
    proposal_digest(&hx->cfg.chain, &id, &d);
    assert_int_equal(sign_message(hx->keys[h->author], d.bytes, HASH_SIZE, &m->u.proposal.sig),
                     ERR_OK);
    m->u.proposal.sync.highest_qc = *qc;
    m->u.proposal.sync.highest_commit_cert = hx->epoch_qc;
    if (tc != NULL) {
        m->u.proposal.sync.has_tc = true;
        m->u.proposal.sync.highest_tc = *tc;
    }
    buf_init(&out->msg, CONS_MSG_SIZE_MAX);
    assert_int_equal(cons_msg_encode(&out->msg, m), ERR_OK);
    struct exec_result r;
    if (suffix) {
        r = (struct exec_result){ parent->exec_root, parent->receipts_root,
                                  parent->next_epoch_vs_hash };
    } else {
        exec_of(parent, &h->payload_root, h->height, &r);
    }
    out->info = (struct block_info){ .epoch = 1,
                                     .round = round,
                                     .id = id,
                                     .height = h->height,
                                     .exec_root = r.exec_root,
                                     .receipts_root = r.receipts_root,
                                     .timestamp_us = h->timestamp_us,
                                     .next_epoch_vs_hash = r.next_epoch_vs_hash };
    buf_release(&txs);
    mem_free(m);
}

/* A QC on `b` (child of `parent`) signed by validators 0..2. */
static void
certify(const struct block_info *b, const struct block_info *parent, struct qc *qc)
{
    memset(qc, 0, sizeof *qc);
    qc->vote_data.proposed = *b;
    qc->vote_data.parent = *parent;
    qc->ledger_info.has_commit = b->round == parent->round + 1;
    if (qc->ledger_info.has_commit) {
        qc->ledger_info.commit_info = *parent;
    }
    vote_data_hash(HASH_SHA256, &qc->vote_data, &qc->ledger_info.vote_data_hash);
    struct hash d;
    vote_digest(&hx->cfg.chain, 1, &qc->ledger_info, &d);
    qc->bitmap_size = 1;
    for (uint16_t i = 0; i < 3; i++) {
        bitmap_set(qc->bitmap, i);
        assert_int_equal(sign_message(hx->keys[i], d.bytes, HASH_SIZE, &qc->sigs[i]), ERR_OK);
        qc->sig_count++;
    }
}

/* A TC for `round` from validators 0..2 with the given hqc rounds; hqc must match the max. */
static void
timeout_cert(uint64_t round, const struct qc *hqc, const uint64_t rounds[3], struct tc *tc)
{
    memset(tc, 0, sizeof *tc);
    tc->epoch = 1;
    tc->round = round;
    tc->hqc = *hqc;
    tc->bitmap_size = 1;
    for (uint16_t i = 0; i < 3; i++) {
        bitmap_set(tc->bitmap, i);
        tc->hqc_rounds[i] = rounds[i];
        struct hash d;
        timeout_digest(&hx->cfg.chain, 1, round, rounds[i], &d);
        assert_int_equal(sign_message(hx->keys[i], d.bytes, HASH_SIZE, &tc->sigs[i]), ERR_OK);
        tc->sig_count++;
    }
}

static const struct sent *
find_sent(uint8_t type)
{
    for (size_t i = 0; i < hx->nout; i++) {
        if (hx->out[i].size > 0 && hx->out[i].data[0] == type) {
            return &hx->out[i];
        }
    }
    return NULL;
}

/* The sent message of this type; the test stops if there is none. */
static const struct sent *
must_find(uint8_t type)
{
    const struct sent *s = find_sent(type);
    if (s == NULL) {
        fail_msg("no message of type %u was sent", type);
        abort();
    }
    return s;
}

static void
deliver(uint16_t from, const struct buf *msg)
{
    consensus_on_message(hx->c, from, msg->data, msg->size);
}

static void
restart(bool with_record)
{
    consensus_free(hx->c);
    hx->c = NULL;
    clear_out();
    hx->nstarted = 0;
    start_node(with_record);
}

/* A SYNC_INFO from validator 1 with hqc as highest QC and commit cert, and tc if not NULL. */
static void
deliver_sync(const struct qc *hqc, const struct tc *tc)
{
    struct cons_msg *m = mem_calloc(1, sizeof *m);
    m->type = CONS_MSG_SYNC_INFO;
    m->u.sync.highest_qc = *hqc;
    m->u.sync.highest_commit_cert = *hqc;
    if (tc != NULL) {
        m->u.sync.has_tc = true;
        m->u.sync.highest_tc = *tc;
    }
    struct buf sync;
    buf_init(&sync, CONS_MSG_SIZE_MAX);
    assert_int_equal(cons_msg_encode(&sync, m), ERR_OK);
    deliver(1, &sync);
    buf_release(&sync);
    mem_free(m);
}

/* The number of txs in the round-3 proposal this node sent. */
static uint32_t
proposal_txs(void)
{
    const struct sent *p = must_find(CONS_MSG_PROPOSAL);
    struct cons_msg *m = mem_calloc(1, sizeof *m);
    assert_int_equal(cons_msg_decode(p->data, p->size, m), ERR_OK);
    assert_int_equal(m->u.proposal.block.header.round, 3);
    uint32_t n = m->u.proposal.block.payload.tx_count;
    mem_free(m);
    return n;
}

static void
test_vote_persisted_then_resent(void **state)
{
    (void)state;
    restart(false);
    hx->tc_size = 0;
    struct crafted b1;
    craft(1, &hx->genesis, &hx->epoch_qc, NULL, true, &b1);
    int persists = hx->persists;
    deliver(1, &b1.msg);
    const struct sent *v = must_find(CONS_MSG_VOTE);
    assert_int_equal(v->to, 2);                 /* leader of round 2 */
    assert_true(v->persists_before > persists); /* durable before it left */
    uint8_t first[4096];
    size_t first_size = v->size;
    assert_true(first_size <= sizeof first);
    memcpy(first, v->data, first_size);
    /* crash between fsync and send: the restarted node sends the identical vote */
    restart(true);
    v = must_find(CONS_MSG_VOTE);
    assert_int_equal(v->size, first_size);
    assert_memory_equal(v->data, first, first_size);
    assert_int_equal(consensus_last_voted_round(hx->c), 1);
    buf_release(&b1.msg);
}

static void
test_no_vote_after_timeout(void **state)
{
    (void)state;
    restart(false);
    consensus_on_timer(hx->c, CONS_TIMER_ROUND, hx->round_token);
    assert_non_null(find_sent(CONS_MSG_TIMEOUT));
    clear_out();
    struct crafted b1;
    craft(1, &hx->genesis, &hx->epoch_qc, NULL, false, &b1);
    deliver(1, &b1.msg);
    assert_null(find_sent(CONS_MSG_VOTE));
    buf_release(&b1.msg);
}

static void
test_tc_rule_and_no_commit_on_gap(void **state)
{
    (void)state;
    restart(false);
    struct crafted b1;
    craft(1, &hx->genesis, &hx->epoch_qc, NULL, true, &b1);
    deliver(1, &b1.msg);
    struct qc *qc1 = mem_alloc(sizeof *qc1);
    certify(&b1.info, &hx->genesis, qc1);
    /* rounds 2-4 timed out; the signers' highest QC is round 1 */
    struct tc *tc2 = mem_alloc(sizeof *tc2);
    const uint64_t rounds[3] = { 1, 0, 1 };
    timeout_cert(4, qc1, rounds, tc2);
    /* a proposal for round 5 (leader 1) that extends the epoch QC (round 0 < 1): no vote */
    struct crafted bad;
    craft(5, &hx->genesis, &hx->epoch_qc, tc2, false, &bad);
    clear_out();
    deliver(1, &bad.msg);
    assert_int_equal(consensus_round(hx->c), 5);
    assert_null(find_sent(CONS_MSG_VOTE));
    assert_int_equal(consensus_stats(hx->c)->evidence_found, 0);
    /* round 9 (leader 1) after a TC for round 8 whose hqc is QC1, proposed on QC1: a vote,
     * without commit info (rounds 1 and 9 are not consecutive) */
    struct tc *tc3 = mem_alloc(sizeof *tc3);
    const uint64_t rounds3[3] = { 1, 1, 1 };
    timeout_cert(8, qc1, rounds3, tc3);
    struct crafted good;
    craft(9, &b1.info, qc1, tc3, false, &good);
    clear_out();
    deliver(1, &good.msg);
    const struct sent *v = must_find(CONS_MSG_VOTE);
    struct cons_msg *m = mem_alloc(sizeof *m);
    assert_int_equal(cons_msg_decode(v->data, v->size, m), ERR_OK);
    assert_int_equal(m->u.vote.vote.vote_data.proposed.round, 9);
    assert_false(m->u.vote.vote.ledger_info.has_commit);
    assert_int_equal(hx->commits, 0);
    mem_free(m);
    mem_free(qc1);
    mem_free(tc2);
    mem_free(tc3);
    buf_release(&b1.msg);
    buf_release(&bad.msg);
    buf_release(&good.msg);
}

static void
test_drops_are_counted(void **state)
{
    (void)state;
    restart(false);
    struct crafted b1;
    craft(1, &hx->genesis, &hx->epoch_qc, NULL, false, &b1);
    const struct consensus_stats *st = consensus_stats(hx->c);
    uint64_t bad_sig = st->dropped_bad_signature;
    uint64_t non_member = st->dropped_non_validator;
    uint64_t malformed = st->dropped_malformed;
    /* the proposal signature is the 65 bytes after the block: flip one of them */
    struct buf broken;
    buf_init(&broken, CONS_MSG_SIZE_MAX);
    assert_int_equal(buf_append(&broken, b1.msg.data, b1.msg.size), ERR_OK);
    struct cons_msg *m = mem_alloc(sizeof *m);
    assert_int_equal(cons_msg_decode(broken.data, broken.size, m), ERR_OK);
    m->u.proposal.sig.bytes[3] ^= 1;
    buf_reset(&broken);
    assert_int_equal(cons_msg_encode(&broken, m), ERR_OK);
    deliver(1, &broken);
    assert_int_equal(st->dropped_bad_signature, bad_sig + 1);
    consensus_on_message(hx->c, 9, b1.msg.data, b1.msg.size); /* not a validator */
    assert_int_equal(st->dropped_non_validator, non_member + 1);
    consensus_on_message(hx->c, 1, b1.msg.data, b1.msg.size - 1); /* truncated */
    assert_int_equal(st->dropped_malformed, malformed + 1);
    assert_null(find_sent(CONS_MSG_VOTE));
    deliver(1, &b1.msg); /* the genuine one still gets its vote */
    assert_non_null(find_sent(CONS_MSG_VOTE));
    mem_free(m);
    buf_release(&broken);
    buf_release(&b1.msg);
}

static void
test_suffix_payload_rejected(void **state)
{
    (void)state;
    hx->epoch_end_height = 1;
    restart(false);
    struct crafted b1;
    craft(1, &hx->genesis, &hx->epoch_qc, NULL, true, &b1);
    deliver(1, &b1.msg);
    assert_false(hash_is_zero(&b1.info.next_epoch_vs_hash));
    struct qc *qc1 = mem_alloc(sizeof *qc1);
    certify(&b1.info, &hx->genesis, qc1);
    struct crafted with_txs;
    craft(2, &b1.info, qc1, NULL, true, &with_txs);
    clear_out();
    uint64_t invalid = consensus_stats(hx->c)->dropped_invalid_block;
    deliver(2, &with_txs.msg);
    assert_null(find_sent(CONS_MSG_VOTE));
    assert_int_equal(consensus_stats(hx->c)->dropped_invalid_block, invalid + 1);
    hx->epoch_end_height = 0;
    mem_free(qc1);
    buf_release(&b1.msg);
    buf_release(&with_txs.msg);
}

/* A proposal for round 5 carrying a TC for round 4 (hqc: the epoch QC). */
static void
tc_round_4(struct tc *tc4, struct crafted *p5)
{
    const uint64_t rounds[3] = { 0, 0, 0 };
    timeout_cert(4, &hx->epoch_qc, rounds, tc4);
    craft(5, &hx->genesis, &hx->epoch_qc, tc4, false, p5);
}

static void
test_tc_persisted_and_restored(void **state)
{
    (void)state;
    restart(false);
    hx->tc_size = 0;
    int tc_persists = hx->tc_persists;
    struct tc *tc4 = mem_alloc(sizeof *tc4);
    struct crafted p5;
    tc_round_4(tc4, &p5);
    /* the node learns the TC from the proposal's SyncInfo: durable before round 5 */
    deliver(1, &p5.msg);
    assert_int_equal(consensus_round(hx->c), 5);
    assert_int_equal(hx->tc_persists, tc_persists + 1);
    assert_int_equal(hx->round_at_tc_persist, 1);
    assert_non_null(find_sent(CONS_MSG_VOTE));
    /* an equal or lower TC is not written again */
    deliver(1, &p5.msg);
    assert_int_equal(hx->tc_persists, tc_persists + 1);
    /* restarted with only the safety record the node would fall back to round 1 */
    uint8_t tc_saved[CONS_MSG_SIZE_MAX];
    size_t tc_saved_size = hx->tc_size;
    memcpy(tc_saved, hx->tc, tc_saved_size);
    hx->tc_size = 0;
    restart(true);
    assert_int_equal(consensus_round(hx->c), 1);
    /* with the stored TC it resumes in round 5 at once, re-sends its vote of round 5, forms
     * no TC and times out in nothing */
    memcpy(hx->tc, tc_saved, tc_saved_size);
    hx->tc_size = tc_saved_size;
    restart(true);
    assert_int_equal(consensus_round(hx->c), 5);
    assert_int_equal(consensus_stats(hx->c)->tcs_formed, 0);
    assert_null(find_sent(CONS_MSG_TIMEOUT));
    assert_int_equal(must_find(CONS_MSG_VOTE)->to, 2); /* leader of round 6 */
    assert_int_equal(hx->tc_persists, tc_persists + 1);
    mem_free(tc4);
    buf_release(&p5.msg);
}

static void
test_restored_tc_justifies_vote(void **state)
{
    (void)state;
    /* the TC is learned from a SyncInfo alone, the node crashes, and the round-5 proposal
     * arrives without the TC: only the restored TC makes it votable (rule 4) */
    restart(false);
    hx->tc_size = 0;
    struct tc *tc4 = mem_alloc(sizeof *tc4);
    struct crafted p5;
    tc_round_4(tc4, &p5);
    struct cons_msg *m = mem_calloc(1, sizeof *m);
    m->type = CONS_MSG_SYNC_INFO;
    m->u.sync.highest_qc = hx->epoch_qc;
    m->u.sync.highest_commit_cert = hx->epoch_qc;
    m->u.sync.has_tc = true;
    m->u.sync.highest_tc = *tc4;
    struct buf si;
    buf_init(&si, CONS_MSG_SIZE_MAX);
    assert_int_equal(cons_msg_encode(&si, m), ERR_OK);
    deliver(2, &si);
    assert_int_equal(consensus_round(hx->c), 5);
    assert_true(hx->tc_size > 0);
    restart(true);
    assert_int_equal(consensus_round(hx->c), 5);
    struct crafted bare;
    craft(5, &hx->genesis, &hx->epoch_qc, NULL, false, &bare);
    deliver(1, &bare.msg);
    assert_int_equal(must_find(CONS_MSG_VOTE)->to, 2);
    /* a corrupted stored TC is ignored, not trusted */
    hx->tc[hx->tc_size - 3] ^= 0x40;
    restart(true);
    assert_int_equal(consensus_round(hx->c), 1);
    mem_free(m);
    mem_free(tc4);
    buf_release(&si);
    buf_release(&p5.msg);
    buf_release(&bare.msg);
}

static void
test_tc_write_failure_halts(void **state)
{
    (void)state;
    restart(false);
    hx->tc_size = 0;
    struct tc *tc4 = mem_alloc(sizeof *tc4);
    struct crafted p5;
    tc_round_4(tc4, &p5);
    hx->tc_write_fails = true;
    deliver(1, &p5.msg);
    hx->tc_write_fails = false;
    assert_true(consensus_is_halted(hx->c));
    assert_int_equal(consensus_round(hx->c), 1);
    assert_null(find_sent(CONS_MSG_VOTE));
    mem_free(tc4);
    buf_release(&p5.msg);
}

static void
test_timer_covers_dissemination(void **state)
{
    (void)state;
    restart(false);
    assert_int_equal(hx->round_delay_ms, hx->cfg.base_timeout_ms); /* off by default */
    consensus_free(hx->c);
    hx->c = NULL;
    clear_out();
    hx->cfg.leader_egress_kbps = 80; /* 10 bytes/ms to each of the 3 others */
    start_node(false);
    assert_int_equal(hx->round_delay_ms, hx->cfg.base_timeout_ms); /* nothing accepted yet */
    struct crafted b1;
    craft(1, &hx->genesis, &hx->epoch_qc, NULL, true, &b1);
    deliver(1, &b1.msg);
    struct qc *qc1 = mem_alloc(sizeof *qc1);
    certify(&b1.info, &hx->genesis, qc1);
    struct crafted b2;
    craft(2, &b1.info, qc1, NULL, true, &b2);
    deliver(2, &b2.msg); /* enters round 2 on QC1, timer sized by the round-1 proposal */
    assert_int_equal(consensus_round(hx->c), 2);
    uint64_t allowance = 3u * b1.msg.size * 8u / 80u;
    assert_true(allowance < hx->cfg.base_timeout_ms);
    assert_int_equal(hx->round_delay_ms, hx->cfg.base_timeout_ms + allowance);
    /* a slow link (3 x 8 x size ms at 1 kbit/s): capped at base_timeout */
    consensus_free(hx->c);
    hx->c = NULL;
    clear_out();
    hx->cfg.leader_egress_kbps = 1;
    start_node(false);
    deliver(1, &b1.msg);
    deliver(2, &b2.msg);
    assert_int_equal(consensus_round(hx->c), 2);
    assert_int_equal(hx->round_delay_ms, 2 * hx->cfg.base_timeout_ms);
    hx->cfg.leader_egress_kbps = 0;
    mem_free(qc1);
    buf_release(&b1.msg);
    buf_release(&b2.msg);
}

/* ---- asynchronous execution ---- */

/* The index of the execution h_execute started for `id`; the test stops if there is none. */
static size_t
started_index(const struct hash *id)
{
    for (size_t i = 0; i < hx->nstarted; i++) {
        if (hash_equal(&hx->started[i], id)) {
            return i;
        }
    }
    fail_msg("no execution was started for the block");
    abort();
}

static void
executed(const struct hash *id, enum err result)
{
    size_t i = started_index(id);
    consensus_on_executed(hx->c, id, result, result == ERR_OK ? &hx->results[i] : NULL);
}

static void
async_restart(void)
{
    hx->async = true;
    hx->tx_tag = 0;
    restart(false);
}

static void
test_async_vote_only_after_result(void **state)
{
    (void)state;
    async_restart();
    struct crafted b1;
    craft(1, &hx->genesis, &hx->epoch_qc, NULL, true, &b1);
    deliver(1, &b1.msg);
    assert_int_equal(hx->nstarted, 1);
    assert_null(find_sent(CONS_MSG_VOTE));
    assert_int_equal(consensus_exec_pending(hx->c), 1);
    assert_int_equal(consensus_stats(hx->c)->exec_started, 1);
    assert_int_equal(consensus_tree_size(hx->c), 1); /* not inserted before its result */
    deliver(1, &b1.msg);                             /* a duplicate does not execute twice */
    assert_int_equal(hx->nstarted, 1);
    int persists = hx->persists;
    int block_persists = hx->block_persists; /* stored while it executes, once */
    assert_true(block_persists >= 1);
    executed(&b1.info.id, ERR_OK);
    assert_int_equal(hx->block_persists, block_persists);
    const struct sent *v = must_find(CONS_MSG_VOTE);
    assert_int_equal(v->to, 2);
    assert_true(v->persists_before > persists);
    struct cons_msg *m = mem_alloc(sizeof *m);
    assert_int_equal(cons_msg_decode(v->data, v->size, m), ERR_OK);
    assert_true(block_info_equal(&m->u.vote.vote.vote_data.proposed, &b1.info));
    assert_int_equal(consensus_exec_pending(hx->c), 0);
    assert_int_equal(consensus_tree_size(hx->c), 2);
    assert_int_equal(consensus_last_voted_round(hx->c), 1);
    mem_free(m);
    buf_release(&b1.msg);
}

static void
test_async_invalid_result_no_vote(void **state)
{
    (void)state;
    async_restart();
    struct crafted b1;
    craft(1, &hx->genesis, &hx->epoch_qc, NULL, true, &b1);
    deliver(1, &b1.msg);
    uint64_t invalid = consensus_stats(hx->c)->dropped_invalid_block;
    executed(&b1.info.id, ERR_MALFORMED);
    assert_null(find_sent(CONS_MSG_VOTE));
    assert_int_equal(consensus_stats(hx->c)->dropped_invalid_block, invalid + 1);
    assert_int_equal(consensus_exec_pending(hx->c), 0);
    assert_int_equal(consensus_tree_size(hx->c), 1);
    assert_int_equal(consensus_last_voted_round(hx->c), 0);
    buf_release(&b1.msg);
}

static void
test_async_stale_results_ignored(void **state)
{
    (void)state;
    async_restart();
    const struct consensus_stats *st = consensus_stats(hx->c);
    struct crafted b1;
    craft(1, &hx->genesis, &hx->epoch_qc, NULL, true, &b1);
    struct exec_result r;
    memset(&r, 0, sizeof r);
    consensus_on_executed(hx->c, &b1.info.id, ERR_OK, &r); /* never started */
    assert_int_equal(st->exec_results_ignored, 1);
    deliver(1, &b1.msg);
    /* the round times out while the block executes: its result brings no vote */
    consensus_on_timer(hx->c, CONS_TIMER_ROUND, hx->round_token);
    assert_non_null(find_sent(CONS_MSG_TIMEOUT));
    executed(&b1.info.id, ERR_OK);
    assert_null(find_sent(CONS_MSG_VOTE));
    assert_int_equal(consensus_tree_size(hx->c), 2); /* valid: kept for its descendants */
    executed(&b1.info.id, ERR_OK);                   /* a duplicate result */
    assert_int_equal(st->exec_results_ignored, 2);
    assert_int_equal(consensus_tree_size(hx->c), 2);
    buf_release(&b1.msg);
}

/* B1 (round 1) and B2 (round 2, its child) arrive while B1 executes: B2 waits for B1's
 * result, then executes; a sibling branch's result comes before an older one's. */
static void
test_async_out_of_order(void **state)
{
    (void)state;
    async_restart();
    const struct consensus_stats *st = consensus_stats(hx->c);
    struct crafted b1;
    craft(1, &hx->genesis, &hx->epoch_qc, NULL, true, &b1);
    struct qc *qc1 = mem_alloc(sizeof *qc1);
    certify(&b1.info, &hx->genesis, qc1);
    struct crafted b2;
    craft(2, &b1.info, qc1, NULL, true, &b2);
    deliver(1, &b1.msg);
    deliver(2, &b2.msg);
    assert_int_equal(hx->nstarted, 1); /* B2 is held: its parent has no result yet */
    assert_int_equal(consensus_round(hx->c), 1);
    executed(&b1.info.id, ERR_OK);
    assert_non_null(find_sent(CONS_MSG_VOTE)); /* B1, still the current round */
    assert_int_equal(consensus_round(hx->c), 2);
    assert_int_equal(hx->nstarted, 2); /* then B2 */
    uint64_t votes = st->votes_sent;
    executed(&b2.info.id, ERR_OK);
    assert_int_equal(st->votes_sent, votes + 1); /* to ourselves: leader of round 3 */
    assert_int_equal(consensus_last_voted_round(hx->c), 2);

    /* two branches: B4 executes, a TC moves to round 5, whose block (on QC1, a sibling of
     * B2's line) executes too; B5's result comes first and gets the vote, B4's none */
    struct qc *qc2 = mem_alloc(sizeof *qc2);
    certify(&b2.info, &b1.info, qc2);
    struct tc *tc3 = mem_alloc(sizeof *tc3);
    const uint64_t rounds3[3] = { 2, 2, 2 };
    timeout_cert(3, qc2, rounds3, tc3);
    struct crafted b4;
    craft(4, &b2.info, qc2, tc3, true, &b4);
    deliver(0, &b4.msg);
    assert_int_equal(consensus_round(hx->c), 4);
    struct tc *tc4 = mem_alloc(sizeof *tc4);
    const uint64_t rounds4[3] = { 2, 2, 2 };
    timeout_cert(4, qc2, rounds4, tc4);
    struct crafted b5;
    craft(5, &b2.info, qc2, tc4, false, &b5);
    deliver(1, &b5.msg);
    assert_int_equal(consensus_round(hx->c), 5);
    assert_int_equal(consensus_exec_pending(hx->c), 2);
    votes = st->votes_sent;
    clear_out();
    executed(&b5.info.id, ERR_OK);
    assert_int_equal(st->votes_sent, votes + 1);
    assert_int_equal(consensus_last_voted_round(hx->c), 5);
    executed(&b4.info.id, ERR_OK);
    assert_int_equal(st->votes_sent, votes + 1);
    assert_int_equal(consensus_exec_pending(hx->c), 0);
    mem_free(qc1);
    mem_free(qc2);
    mem_free(tc3);
    mem_free(tc4);
    buf_release(&b1.msg);
    buf_release(&b2.msg);
    buf_release(&b4.msg);
    buf_release(&b5.msg);
}

/* Round 3 is ours: the block is built and proposed at once, while it executes (the proposal
 * signs the header, not the result); our vote for it waits for the result, like a replica's. */
static void
test_async_own_block(void **state)
{
    (void)state;
    async_restart();
    struct crafted b1;
    craft(1, &hx->genesis, &hx->epoch_qc, NULL, false, &b1);
    struct qc *qc1 = mem_alloc(sizeof *qc1);
    certify(&b1.info, &hx->genesis, qc1);
    struct crafted b2;
    craft(2, &b1.info, qc1, NULL, false, &b2);
    struct qc *qc2 = mem_alloc(sizeof *qc2);
    certify(&b2.info, &b1.info, qc2);
    deliver(1, &b1.msg);
    executed(&b1.info.id, ERR_OK);
    deliver(2, &b2.msg);
    executed(&b2.info.id, ERR_OK);
    clear_out();
    deliver_sync(qc2, NULL);
    assert_int_equal(consensus_round(hx->c), 3);
    assert_int_equal(hx->nstarted, 3); /* our block executes */
    const struct sent *p = must_find(CONS_MSG_PROPOSAL);
    assert_int_equal(p->to, -1);
    assert_int_equal(proposal_txs(), 0);
    assert_null(find_sent(CONS_MSG_VOTE));
    assert_int_equal(consensus_last_voted_round(hx->c), 2);
    clear_out();
    consensus_on_executed(hx->c, &hx->started[2], ERR_OK, &hx->results[2]);
    assert_null(find_sent(CONS_MSG_PROPOSAL)); /* not sent twice */
    const struct sent *v = must_find(CONS_MSG_VOTE);
    struct cons_msg *m = mem_alloc(sizeof *m);
    assert_int_equal(cons_msg_decode(v->data, v->size, m), ERR_OK);
    assert_int_equal(m->u.vote.vote.vote_data.proposed.round, 3);
    assert_true(hash_equal(&m->u.vote.vote.vote_data.proposed.id, &hx->started[2]));
    assert_int_equal(consensus_last_voted_round(hx->c), 3);
    mem_free(m);
    /* round 7 (ours again) after a TC: proposed at once; the round times out while our block
     * executes, so its result brings no vote (no vote after a timeout in the round) and no
     * second proposal */
    struct tc *tc6 = mem_alloc(sizeof *tc6);
    const uint64_t rounds[3] = { 2, 2, 2 };
    timeout_cert(6, qc2, rounds, tc6);
    deliver_sync(qc2, tc6);
    assert_int_equal(consensus_round(hx->c), 7);
    assert_int_equal(hx->nstarted, 4);
    assert_non_null(find_sent(CONS_MSG_PROPOSAL));
    consensus_on_timer(hx->c, CONS_TIMER_ROUND, hx->round_token);
    clear_out();
    consensus_on_executed(hx->c, &hx->started[3], ERR_OK, &hx->results[3]);
    assert_null(find_sent(CONS_MSG_PROPOSAL));
    assert_null(find_sent(CONS_MSG_VOTE));
    assert_int_equal(consensus_last_voted_round(hx->c), 7); /* by its timeout */
    assert_int_equal(consensus_tree_size(hx->c), 4);        /* B1 (the root), B2, B3, ours */
    mem_free(tc6);
    mem_free(qc1);
    mem_free(qc2);
    buf_release(&b1.msg);
    buf_release(&b2.msg);
}

/* A durable block whose execution fails at a restart (blocks are stored when parked, before
 * their result) is dropped, not executed again after every result. */
static void
test_async_restart_invalid_durable_block(void **state)
{
    (void)state;
    async_restart();
    struct crafted b1;
    craft(1, &hx->genesis, &hx->epoch_qc, NULL, false, &b1);
    struct cons_msg *m = mem_alloc(sizeof *m);
    assert_int_equal(cons_msg_decode(b1.msg.data, b1.msg.size, m), ERR_OK);
    struct buf block;
    buf_init(&block, CONS_MSG_SIZE_MAX);
    assert_int_equal(block_encode(&block, &m->u.proposal.block), ERR_OK);
    consensus_free(hx->c);
    hx->c = NULL;
    clear_out();
    hx->nstarted = 0;
    const struct byte_span blocks[1] = { { block.data, block.size } };
    start_node_with(false, blocks, 1);
    assert_int_equal(hx->nstarted, 1);
    executed(&b1.info.id, ERR_MALFORMED);
    assert_int_equal(hx->nstarted, 1); /* with the result, restore_pass started it again */
    assert_int_equal(consensus_exec_pending(hx->c), 0);
    assert_int_equal(consensus_tree_size(hx->c), 1);
    assert_int_equal(consensus_stats(hx->c)->dropped_invalid_block, 1);
    buf_release(&block);
    mem_free(m);
    buf_release(&b1.msg);
}

/* Rounds 1 and 2 certified, round 3 (ours) entered through a sync message at `now_us`. The
 * blocks' timestamps are the genesis' + 1 and + 2 us. */
static void
enter_own_round3(uint64_t now_us, struct crafted *b1, struct crafted *b2)
{
    craft(1, &hx->genesis, &hx->epoch_qc, NULL, false, b1);
    struct qc *qc1 = mem_alloc(sizeof *qc1);
    certify(&b1->info, &hx->genesis, qc1);
    craft(2, &b1->info, qc1, NULL, false, b2);
    struct qc *qc2 = mem_alloc(sizeof *qc2);
    certify(&b2->info, &b1->info, qc2);
    deliver(1, &b1->msg);
    deliver(2, &b2->msg);
    clear_out();
    hx->now_us = now_us;
    deliver_sync(qc2, NULL);
    assert_int_equal(consensus_round(hx->c), 3);
    mem_free(qc1);
    mem_free(qc2);
}

/* From a restart, round 3 entered at now_us: our block of 2 txs goes out at once. */
static void
proposes_at_once(uint64_t now_us)
{
    struct crafted b1;
    struct crafted b2;
    restart(false);
    enter_own_round3(now_us, &b1, &b2);
    assert_int_equal(proposal_txs(), 2);
    buf_release(&b1.msg);
    buf_release(&b2.msg);
}

/* min_block_interval_ms: our block with txs waits until 50 ms after its parent's timestamp,
 * also when more txs arrive meanwhile, and goes when the timer fires; a full block goes at
 * once; so does one whose parent is old enough. */
static void
test_min_block_interval(void **state)
{
    (void)state;
    hx->cfg.min_block_interval_ms = 50;
    hx->pull_txs = 2;
    restart(false);
    struct crafted b1;
    struct crafted b2;
    uint64_t parent_ts = hx->genesis.timestamp_us + 2;
    enter_own_round3(parent_ts + 10000, &b1, &b2);
    assert_null(find_sent(CONS_MSG_PROPOSAL));
    assert_int_equal(hx->propose_delay_ms, 40);
    consensus_on_txs_available(hx->c); /* more txs: still paced */
    assert_null(find_sent(CONS_MSG_PROPOSAL));
    consensus_on_timer(hx->c, CONS_TIMER_PROPOSE, hx->propose_token - 1); /* a stale token */
    assert_null(find_sent(CONS_MSG_PROPOSAL));
    hx->now_us = parent_ts + 50000;
    consensus_on_timer(hx->c, CONS_TIMER_PROPOSE, hx->propose_token);
    assert_int_equal(proposal_txs(), 2);
    buf_release(&b1.msg);
    buf_release(&b2.msg);

    /* a parent stamped ahead of our clock (5 ms here): the wait is the interval at most */
    restart(false);
    enter_own_round3(1, &b1, &b2);
    assert_null(find_sent(CONS_MSG_PROPOSAL));
    assert_int_equal(hx->propose_delay_ms, 50);
    buf_release(&b1.msg);
    buf_release(&b2.msg);
    hx->cfg.max_block_txs = 2; /* the mempool fills a block: no wait */
    proposes_at_once(parent_ts + 10000);
    hx->cfg.max_block_txs = 1000;
    hx->cfg.max_block_bytes = CONS_TX_SIZE_MAX + 4; /* no room for a largest tx: no wait */
    proposes_at_once(parent_ts + 10000);
    hx->cfg.max_block_bytes = 1024u * 1024u; /* the parent is 50 ms old already: no wait */
    proposes_at_once(parent_ts + 50000);
    hx->cfg.min_block_interval_ms = 0;
    hx->pull_txs = 0;
    hx->now_us = 0;
}

/* A BLOCK_RESPONSE carrying the block of a crafted proposal (NULL: status NOT_FOUND). */
static void
block_response(const struct crafted *b, struct buf *out)
{
    struct cons_msg *m = mem_calloc(1, sizeof *m);
    struct buf block;
    buf_init(&block, CONS_MSG_SIZE_MAX);
    if (b != NULL) {
        assert_int_equal(cons_msg_decode(b->msg.data, b->msg.size, m), ERR_OK);
        assert_int_equal(block_encode(&block, &m->u.proposal.block), ERR_OK);
    }
    memset(m, 0, sizeof *m);
    m->type = CONS_MSG_BLOCK_RESPONSE;
    m->u.block_response.status = b != NULL ? BLOCK_RESPONSE_OK : BLOCK_RESPONSE_NOT_FOUND;
    m->u.block_response.count = b != NULL ? 1 : 0;
    m->u.block_response.blocks[0] = (struct byte_span){ block.data, block.size };
    buf_init(out, CONS_MSG_SIZE_MAX);
    assert_int_equal(cons_msg_encode(out, m), ERR_OK);
    buf_release(&block);
    mem_free(m);
}

/* The newest BLOCK_REQUEST sent: its peer and the block it asks for. */
static int
last_block_request(struct hash *want)
{
    for (size_t i = hx->nout; i > 0; i--) {
        const struct sent *s = &hx->out[i - 1];
        if (s->size > 0 && s->data[0] == CONS_MSG_BLOCK_REQUEST) {
            struct cons_msg *m = mem_calloc(1, sizeof *m);
            assert_int_equal(cons_msg_decode(s->data, s->size, m), ERR_OK);
            *want = m->u.block_request.block_id;
            mem_free(m);
            return s->to;
        }
    }
    fail_msg("no block request was sent");
    return -1;
}

/* B2 names B1, which this node lacks: B1 is fetched, executes, and only then does the
 * retrieval end and B2 (held meanwhile) execute and get the vote. */
static void
test_async_retrieval_chain(void **state)
{
    (void)state;
    async_restart();
    struct crafted b1;
    craft(1, &hx->genesis, &hx->epoch_qc, NULL, true, &b1);
    struct qc *qc1 = mem_alloc(sizeof *qc1);
    certify(&b1.info, &hx->genesis, qc1);
    struct crafted b2;
    craft(2, &b1.info, qc1, NULL, true, &b2);
    deliver(2, &b2.msg);
    const struct sent *q = must_find(CONS_MSG_BLOCK_REQUEST);
    assert_int_equal(q->to, 2);
    struct buf resp; /* B1's block, as the proposal carried it */
    block_response(&b1, &resp);
    deliver(2, &resp);
    assert_int_equal(hx->nstarted, 1); /* B1 executes; B2 waits */
    assert_true(hash_equal(&hx->started[0], &b1.info.id));
    assert_int_equal(consensus_round(hx->c), 1);
    uint64_t stale = consensus_stats(hx->c)->dropped_stale;
    deliver(2, &resp); /* a second response while B1 executes is not used */
    assert_int_equal(consensus_stats(hx->c)->dropped_stale, stale + 1);
    assert_int_equal(hx->nstarted, 1);
    executed(&b1.info.id, ERR_OK);
    assert_int_equal(consensus_round(hx->c), 2);
    assert_int_equal(hx->nstarted, 2);
    assert_null(find_sent(CONS_MSG_VOTE));
    executed(&b2.info.id, ERR_OK);
    assert_int_equal(consensus_last_voted_round(hx->c), 2);
    assert_int_equal(consensus_exec_pending(hx->c), 0);
    assert_int_equal(consensus_tree_size(hx->c), 3);
    mem_free(qc1);
    buf_release(&resp);
    buf_release(&b1.msg);
    buf_release(&b2.msg);
}

/* Every peer answers NOT_FOUND for the chain of a certified block (an orphan they pruned):
 * each answer moves on to the next peer at once; after the last, the block is lost, the
 * message waiting for it is dropped, and later messages naming it start no retrieval, so a
 * retrieval that can succeed is not starved behind it (sim seed "async 277"). */
static void
test_retrieval_lost(void **state)
{
    (void)state;
    hx->async = false;
    restart(false);
    const struct consensus_stats *st = consensus_stats(hx->c);
    struct crafted b1;
    craft(1, &hx->genesis, &hx->epoch_qc, NULL, true, &b1);
    struct qc *qc1 = mem_alloc(sizeof *qc1);
    certify(&b1.info, &hx->genesis, qc1);
    struct crafted b2;
    craft(2, &b1.info, qc1, NULL, true, &b2);
    deliver(2, &b2.msg);
    assert_int_equal(st->retrievals_started, 1);
    struct buf nf;
    block_response(NULL, &nf);
    struct hash want;
    const int peers[N - 1] = { 2, 0, 1 }; /* the sender first, then round-robin */
    for (uint16_t k = 0; k < N - 1; k++) {
        int peer = last_block_request(&want);
        assert_true(hash_equal(&want, &b1.info.id));
        assert_int_equal(peer, peers[k]);
        assert_true(consensus_held_count(hx->c) > 0);
        clear_out();
        deliver((uint16_t)peer, &nf);
    }
    assert_int_equal(st->retrievals_lost, 1);
    assert_null(find_sent(CONS_MSG_BLOCK_REQUEST));
    assert_int_equal(consensus_held_count(hx->c), 0);
    deliver(1, &b2.msg); /* names the lost block again: dropped */
    assert_null(find_sent(CONS_MSG_BLOCK_REQUEST));
    assert_int_equal(consensus_held_count(hx->c), 0);
    /* a certified block the peers do have is fetched as usual */
    hx->tx_tag = 1;
    struct crafted b1x;
    craft(1, &hx->genesis, &hx->epoch_qc, NULL, true, &b1x);
    certify(&b1x.info, &hx->genesis, qc1);
    struct crafted b2x;
    craft(2, &b1x.info, qc1, NULL, true, &b2x);
    deliver(1, &b2x.msg);
    assert_int_equal(last_block_request(&want), 1);
    assert_true(hash_equal(&want, &b1x.info.id));
    struct buf resp;
    block_response(&b1x, &resp);
    deliver(1, &resp);
    assert_int_equal(consensus_tree_size(hx->c), 3);
    assert_int_equal(consensus_last_voted_round(hx->c), 2);
    hx->tx_tag = 0;
    mem_free(qc1);
    buf_release(&nf);
    buf_release(&resp);
    buf_release(&b1.msg);
    buf_release(&b2.msg);
    buf_release(&b1x.msg);
    buf_release(&b2x.msg);
}

/* An EpochChangeProof whose cert certifies a reconfiguration-suffix block X that no peer
 * can serve (X is never in the ledger; a restarted peer keeps only the proof's headers):
 * the node fetches the ending block C the cert commits, and switches epoch from the cert. */
static void
test_epoch_proof_fetches_committed_block(void **state)
{
    (void)state;
    hx->async = false;
    restart(false);
    hx->vs.epoch = 2; /* the set that block 1 installs (h_next_vs) */
    hx->epoch_end_height = 1;
    struct crafted b1;
    craft(1, &hx->genesis, &hx->epoch_qc, NULL, true, &b1);
    assert_false(hash_is_zero(&b1.info.next_epoch_vs_hash));
    struct qc *qc1 = mem_alloc(sizeof *qc1);
    certify(&b1.info, &hx->genesis, qc1);
    struct crafted x; /* suffix block: empty payload, same height */
    craft(2, &b1.info, qc1, NULL, false, &x);
    struct qc *cert = mem_alloc(sizeof *cert);
    certify(&x.info, &b1.info, cert); /* commits B1, which ends epoch 1 */
    assert_true(cert->ledger_info.has_commit);
    struct buf cert_bytes;
    struct buf set_bytes;
    buf_init(&cert_bytes, CONS_MSG_SIZE_MAX);
    buf_init(&set_bytes, VS_ENCODED_SIZE_MAX);
    assert_int_equal(qc_encode(&cert_bytes, cert), ERR_OK);
    assert_int_equal(validator_set_encode(&hx->vs, &set_bytes), ERR_OK);
    struct cons_msg *m = mem_calloc(1, sizeof *m);
    m->type = CONS_MSG_EPOCH_PROOF;
    m->u.epoch_proof.count = 1;
    m->u.epoch_proof.certs[0] = (struct byte_span){ cert_bytes.data, cert_bytes.size };
    m->u.epoch_proof.sets[0] = (struct byte_span){ set_bytes.data, set_bytes.size };
    struct buf proof;
    buf_init(&proof, CONS_MSG_SIZE_MAX);
    assert_int_equal(cons_msg_encode(&proof, m), ERR_OK);
    int commits = hx->commits;
    deliver(1, &proof);
    struct hash want;
    assert_int_equal(last_block_request(&want), 1);
    assert_true(hash_equal(&want, &b1.info.id)); /* C, not X */
    assert_int_equal(consensus_epoch(hx->c), 1);
    struct buf resp;
    block_response(&b1, &resp);
    deliver(1, &resp);
    assert_int_equal(consensus_epoch(hx->c), 2);
    assert_int_equal(hx->commits, commits + 1);
    assert_int_equal(consensus_held_count(hx->c), 0);
    hx->vs.epoch = 1;
    hx->epoch_end_height = 0;
    mem_free(m);
    mem_free(qc1);
    mem_free(cert);
    buf_release(&cert_bytes);
    buf_release(&set_bytes);
    buf_release(&proof);
    buf_release(&resp);
    buf_release(&b1.msg);
    buf_release(&x.msg);
}

/* An equivocating leader floods one round with distinct valid blocks: at most
 * CONS_EXEC_PENDING_MAX wait; a block of a later round evicts one of them. */
static void
test_async_pending_bound(void **state)
{
    (void)state;
    async_restart();
    const struct consensus_stats *st = consensus_stats(hx->c);
    struct crafted b[CONS_EXEC_PENDING_MAX + 2];
    for (uint8_t i = 0; i < CONS_EXEC_PENDING_MAX + 2; i++) {
        hx->tx_tag = (uint8_t)(i + 1);
        craft(1, &hx->genesis, &hx->epoch_qc, NULL, true, &b[i]);
        deliver(1, &b[i].msg);
        assert_true(consensus_exec_pending(hx->c) <= CONS_EXEC_PENDING_MAX);
    }
    assert_int_equal(hx->nstarted, CONS_EXEC_PENDING_MAX); /* the rest were not started */
    assert_int_equal(consensus_exec_pending(hx->c), CONS_EXEC_PENDING_MAX);
    assert_int_equal(st->exec_dropped, 2);
    /* round 2 after a TC: its block evicts one of round 1, whose result is then ignored */
    struct tc *tc1 = mem_alloc(sizeof *tc1);
    const uint64_t rounds[3] = { 0, 0, 0 };
    timeout_cert(1, &hx->epoch_qc, rounds, tc1);
    hx->tx_tag = 0;
    struct crafted b2;
    craft(2, &hx->genesis, &hx->epoch_qc, tc1, true, &b2);
    deliver(2, &b2.msg);
    assert_int_equal(consensus_round(hx->c), 2);
    assert_int_equal(hx->nstarted, CONS_EXEC_PENDING_MAX + 1);
    assert_int_equal(consensus_exec_pending(hx->c), CONS_EXEC_PENDING_MAX);
    assert_int_equal(st->exec_dropped, 3);
    uint64_t ignored = st->exec_results_ignored;
    for (size_t i = 0; i < CONS_EXEC_PENDING_MAX; i++) {
        consensus_on_executed(hx->c, &hx->started[i], ERR_OK, &hx->results[i]);
    }
    assert_int_equal(st->exec_results_ignored, ignored + 1);
    assert_int_equal(consensus_last_voted_round(hx->c), 0); /* round 1 is over */
    executed(&b2.info.id, ERR_OK);
    assert_int_equal(consensus_last_voted_round(hx->c), 2);
    assert_int_equal(consensus_exec_pending(hx->c), 0);
    hx->async = false;
    hx->tx_tag = 0;
    mem_free(tc1);
    for (size_t i = 0; i < CONS_EXEC_PENDING_MAX + 2; i++) {
        buf_release(&b[i].msg);
    }
    buf_release(&b2.msg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vote_persisted_then_resent),
        cmocka_unit_test(test_no_vote_after_timeout),
        cmocka_unit_test(test_tc_rule_and_no_commit_on_gap),
        cmocka_unit_test(test_drops_are_counted),
        cmocka_unit_test(test_suffix_payload_rejected),
        cmocka_unit_test(test_async_vote_only_after_result),
        cmocka_unit_test(test_async_invalid_result_no_vote),
        cmocka_unit_test(test_async_stale_results_ignored),
        cmocka_unit_test(test_async_out_of_order),
        cmocka_unit_test(test_async_own_block),
        cmocka_unit_test(test_async_restart_invalid_durable_block),
        cmocka_unit_test(test_async_retrieval_chain),
        cmocka_unit_test(test_async_pending_bound),
        cmocka_unit_test(test_retrieval_lost),
        cmocka_unit_test(test_epoch_proof_fetches_committed_block),
        cmocka_unit_test(test_tc_persisted_and_restored),
        cmocka_unit_test(test_restored_tc_justifies_vote),
        cmocka_unit_test(test_tc_write_failure_halts),
        cmocka_unit_test(test_timer_covers_dissemination),
        cmocka_unit_test(test_min_block_interval),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
