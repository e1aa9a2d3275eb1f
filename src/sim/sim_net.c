/* The simulated network (latency, bandwidth, loss, duplication, partitions), the event heap
 * and the Byzantine wrappers that rewrite what a faulty validator sends. */
#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "codec/codec.h"
#include "sim/sim_internal.h"

uint64_t
rng_next(struct rng *r)
{
    /* splitmix64 */
    r->s += UINT64_C(0x9e3779b97f4a7c15);
    uint64_t z = r->s;
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

uint64_t
rng_below(struct rng *r, uint64_t n)
{
    return n == 0 ? 0 : rng_next(r) % n;
}

bool
rng_permille(struct rng *r, uint32_t permille)
{
    return rng_below(r, 1000) < permille;
}

struct sim_buf *
sim_buf_new(const uint8_t *data, size_t size)
{
    struct sim_buf *b = mem_alloc(sizeof *b);
    b->refs = 1;
    b->size = size;
    b->data = mem_dup(data, size == 0 ? 1 : size);
    return b;
}

void
sim_buf_unref(struct sim_buf *b)
{
    if (b == NULL) {
        return;
    }
    ASSERT(b->refs > 0);
    b->refs--;
    if (b->refs == 0) {
        mem_free(b->data);
        mem_free(b);
    }
}

/* ---- event heap ordered by (time, seq) ---- */

static bool
ev_before(const struct event *a, const struct event *b)
{
    return a->at_us < b->at_us || (a->at_us == b->at_us && a->seq < b->seq);
}

void
sim_push(struct sim *s, const struct event *ev)
{
    if (s->heap_count == s->heap_cap) {
        s->heap_cap = s->heap_cap == 0 ? 1024 : s->heap_cap * 2;
        s->heap = mem_realloc(s->heap, s->heap_cap * sizeof *s->heap);
    }
    size_t i = s->heap_count++;
    s->heap[i] = *ev;
    s->heap[i].seq = s->seq++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ev_before(&s->heap[i], &s->heap[p])) {
            break;
        }
        struct event t = s->heap[p];
        s->heap[p] = s->heap[i];
        s->heap[i] = t;
        i = p;
    }
}

/* ---- delivery ---- */

static void
deliver_one(struct sim *s, struct sim_node *from, struct sim_node *to, struct sim_buf *msg,
            uint64_t extra_us)
{
    uint64_t lat = s->lat_us[from->idx][to->idx];
    uint64_t jitter = rng_below(&s->net, lat / 10u + 1u);
    if (!s->gst) {
        jitter += rng_below(&s->net, lat + 1u); /* reordering before GST */
    }
    uint64_t depart = s->now_us;
    if (s->cfg.bandwidth_kbps > 0) {
        uint64_t tx_us = (uint64_t)msg->size * 8u * 1000u / s->cfg.bandwidth_kbps;
        depart = (from->egress_free_us > s->now_us ? from->egress_free_us : s->now_us) + tx_us;
        from->egress_free_us = depart;
    }
    struct event ev = { .at_us = depart + lat + jitter + to->cpu_delay_us + extra_us,
                        .kind = EV_DELIVER,
                        .node = to->id,
                        .from = from->idx,
                        .gen = to->gen,
                        .msg = msg };
    msg->refs++;
    s->res.msgs++;
    s->res.bytes += msg->size;
    size_t type = msg->size > 0 && msg->data[0] < SIM_MSG_TYPES ? msg->data[0] : 0;
    s->res.type_msgs[type]++;
    s->res.type_bytes[type] += msg->size;
    sim_push(s, &ev);
}

/* Twins enumeration: the message belongs to a partitioned round and the two instances are
 * on different sides. A proposal, vote or timeout belongs to the round it names (the u64
 * after the type byte and the epoch in all three encodings); other messages (sync info,
 * block retrieval, epoch proofs) carry no round of their own and always pass. */
static bool
split_apart(const struct sim *s, const struct sim_node *from, const struct sim_node *to,
            const struct sim_buf *msg)
{
    if (s->cfg.round_split_count == 0 || msg->size < 17 ||
        (msg->data[0] != CONS_MSG_PROPOSAL && msg->data[0] != CONS_MSG_VOTE &&
         msg->data[0] != CONS_MSG_TIMEOUT)) {
        return false;
    }
    uint64_t r = load_u64(msg->data + 9);
    if (r == 0 || r > s->cfg.round_split_count) {
        return false;
    }
    unsigned mask = s->cfg.round_split[r - 1];
    return (((mask >> from->id) ^ (mask >> to->id)) & 1u) != 0;
}

void
sim_net_send(struct sim_node *from, uint16_t to_idx, struct sim_buf *msg)
{
    struct sim *s = from->sim;
    for (uint16_t k = 0; k < s->node_count; k++) {
        struct sim_node *to = &s->nodes[k];
        if (to->idx != to_idx || to == from) {
            continue;
        }
        if (s->blocked[(size_t)from->id * s->node_count + k] != 0 ||
            split_apart(s, from, to, msg)) {
            continue;
        }
        if (!s->gst && rng_permille(&s->net, s->cfg.drop_permille)) {
            continue;
        }
        deliver_one(s, from, to, msg, 0);
        if (rng_permille(&s->net, s->cfg.dup_permille)) {
            deliver_one(s, from, to, msg, rng_below(&s->net, 50000));
        }
    }
}

static void
send_bytes(struct sim_node *from, int to_idx, const uint8_t *data, size_t size)
{
    struct sim *s = from->sim;
    struct sim_buf *b = sim_buf_new(data, size);
    if (to_idx >= 0) {
        sim_net_send(from, (uint16_t)to_idx, b);
    } else {
        for (uint16_t j = 0; j < s->cfg.n; j++) {
            if (j != from->idx) {
                sim_net_send(from, j, b);
            }
        }
    }
    sim_buf_unref(b);
}

/* ---- partitions ---- */

void
sim_heal(struct sim *s)
{
    if (s->cfg.twins_fixed_split) {
        return;
    }
    memset(s->blocked, 0, (size_t)s->node_count * s->node_count);
}

static void
split_two_sides(struct sim *s)
{
    uint16_t n = s->node_count;
    for (uint16_t i = 0; i < n; i++) {
        s->nodes[i].group = (uint8_t)rng_below(&s->fault, 2);
    }
    for (uint16_t a = 0; a < n; a++) {
        for (uint16_t b = 0; b < n; b++) {
            s->blocked[(size_t)a * n + b] = s->nodes[a].group != s->nodes[b].group;
        }
    }
}

static void
cut_off_one(struct sim *s)
{
    uint16_t n = s->node_count;
    uint16_t x = (uint16_t)rng_below(&s->fault, n);
    for (uint16_t b = 0; b < n; b++) {
        s->blocked[(size_t)x * n + b] = 1;
        s->blocked[(size_t)b * n + x] = 1;
    }
}

/* Asymmetric: some links drop one way only. */
static void
block_one_way(struct sim *s)
{
    uint16_t n = s->node_count;
    for (uint16_t k = 0; k < n; k++) {
        uint16_t a = (uint16_t)rng_below(&s->fault, n);
        uint16_t b = (uint16_t)rng_below(&s->fault, n);
        s->blocked[(size_t)a * n + b] = 1;
    }
}

void
sim_partition_step(struct sim *s)
{
    sim_heal(s);
    switch (rng_below(&s->fault, 4)) {
    case 0:
        break; /* healed */
    case 1:
        split_two_sides(s);
        break;
    case 2:
        cut_off_one(s);
        break;
    default:
        block_one_way(s);
        break;
    }
}

/* ---- Byzantine wrappers ---- */

/* Re-signs a proposal with one more transaction: a second, valid block for the round. */
static bool
equivocal_proposal(struct sim_node *node, const uint8_t *data, size_t size, struct buf *out)
{
    struct sim *s = node->sim;
    if (cons_msg_decode(data, size, s->scratch) != ERR_OK) {
        return false;
    }
    struct proposal_msg *p = &s->scratch->u.proposal;
    struct buf txs;
    buf_init(&txs, CONS_BLOCK_BYTES_MAX);
    uint8_t tx[24];
    memset(tx, 0xee, sizeof tx);
    store_u64(tx, p->block.header.round);
    enum err rc = buf_append(&txs, p->block.payload.txs, p->block.payload.txs_size);
    if (rc == ERR_OK) {
        rc = codec_put_bytes(&txs, tx, sizeof tx, CONS_TX_SIZE_MAX);
    }
    p->block.payload = (struct block_payload){ .kind = PAYLOAD_INLINE,
                                               .tx_count = p->block.payload.tx_count + 1,
                                               .txs = txs.data,
                                               .txs_size = txs.size };
    block_header_set_payload(s->ccfg.chain.alg, &p->block.header, &p->block.payload);
    struct hash id;
    block_header_id(s->ccfg.chain.alg, &p->block.header, &id);
    struct hash digest;
    proposal_digest(&s->ccfg.chain, &id, &digest);
    if (rc == ERR_OK) {
        rc = sign_message(node->key, digest.bytes, HASH_SIZE, &p->sig);
    }
    if (rc == ERR_OK) {
        rc = cons_msg_encode(out, s->scratch);
    }
    buf_release(&txs);
    return rc == ERR_OK;
}

/* A second vote in the same round for a block id that does not exist. */
static bool
conflicting_vote(struct sim_node *node, const uint8_t *data, size_t size, struct buf *out)
{
    struct sim *s = node->sim;
    if (cons_msg_decode(data, size, s->scratch) != ERR_OK) {
        return false;
    }
    struct vote *v = &s->scratch->u.vote.vote;
    v->vote_data.proposed.id.bytes[0] ^= 0x5a;
    vote_data_hash(s->ccfg.chain.alg, &v->vote_data, &v->ledger_info.vote_data_hash);
    struct hash digest;
    vote_digest(&s->ccfg.chain, v->vote_data.proposed.epoch, &v->ledger_info, &digest);
    if (sign_message(node->key, digest.bytes, HASH_SIZE, &v->sig) != ERR_OK) {
        return false;
    }
    return cons_msg_encode(out, s->scratch) == ERR_OK;
}

/* The same bytes delivered as if from a peer that is not a validator (CONS_PEER_NONE), and
 * once per run a message over the size limit. Both must be dropped and counted. */
static void
send_as_outsider(struct sim_node *node, const uint8_t *data, size_t size)
{
    struct sim *s = node->sim;
    uint16_t k = (uint16_t)rng_below(&s->byzr, s->node_count);
    struct sim_buf *b = NULL;
    if (!s->sent_oversized) {
        s->sent_oversized = true;
        uint8_t *big = mem_calloc(CONS_MSG_SIZE_MAX + 1, 1);
        big[0] = CONS_MSG_PROPOSAL;
        b = sim_buf_new(big, CONS_MSG_SIZE_MAX + 1);
        mem_free(big);
    } else {
        b = sim_buf_new(data, size);
    }
    struct event ev = { .at_us = s->now_us + 1000u,
                        .kind = EV_DELIVER,
                        .node = k,
                        .from = CONS_PEER_NONE,
                        .gen = s->nodes[k].gen,
                        .msg = b };
    sim_push(s, &ev); /* the event owns the reference */
}

static void
send_garbage(struct sim_node *node, const uint8_t *data, size_t size)
{
    struct sim *s = node->sim;
    uint8_t junk[512];
    size_t n = (size_t)rng_below(&s->byzr, sizeof junk) + 1;
    for (size_t i = 0; i < n; i++) {
        junk[i] = (uint8_t)rng_next(&s->byzr);
    }
    if (rng_below(&s->byzr, 2) == 0) {
        junk[0] = (uint8_t)(1 + rng_below(&s->byzr, CONS_MSG_TYPE_MAX)); /* plausible type */
    }
    send_bytes(node, (int)rng_below(&s->byzr, s->cfg.n), junk, n);
    if (data != NULL && size > 0) {
        uint8_t *copy = mem_dup(data, size);
        copy[rng_below(&s->byzr, size)] ^= (uint8_t)(1u << rng_below(&s->byzr, 8));
        send_bytes(node, (int)rng_below(&s->byzr, s->cfg.n), copy, size);
        mem_free(copy);
        send_as_outsider(node, data, size);
    }
}

static void
replay_old(struct sim_node *node)
{
    struct sim *s = node->sim;
    struct sim_buf *old = s->replay[rng_below(&s->byzr, SIM_REPLAY_RING)];
    if (old != NULL) {
        send_bytes(node, (int)rng_below(&s->byzr, s->cfg.n), old->data, old->size);
    }
}

void
sim_remember_proposal(struct sim *s, const uint8_t *data, size_t size)
{
    if (cons_msg_decode(data, size, s->scratch) != ERR_OK) {
        return;
    }
    const struct block_header *h = &s->scratch->u.proposal.block.header;
    struct buf qc;
    buf_init(&qc, CONS_MSG_SIZE_MAX);
    if (qc_encode(&qc, &h->qc) != ERR_OK) {
        buf_release(&qc);
        return;
    }
    struct seen_proposal *p = &s->proposals[s->proposal_next];
    s->proposal_next = (s->proposal_next + 1) % SIM_PROPOSAL_RING;
    sim_buf_unref(p->qc);
    block_header_id(s->ccfg.chain.alg, h, &p->id);
    p->qc = sim_buf_new(qc.data, qc.size);
    buf_release(&qc);
}

static const struct sim_buf *
qc_of_proposal(const struct sim *s, const struct hash *id)
{
    for (size_t i = 0; i < SIM_PROPOSAL_RING; i++) {
        if (s->proposals[i].qc != NULL && hash_equal(&s->proposals[i].id, id)) {
            return s->proposals[i].qc;
        }
    }
    return NULL;
}

/* Rewrites the leader's proposal to extend the QC its parent carries (one round older),
 * orphaning the parent. Honest nodes must refuse it (no TC justifies the gap). */
static bool
forked_proposal(struct sim_node *node, const uint8_t *data, size_t size, struct buf *out)
{
    struct sim *s = node->sim;
    if (cons_msg_decode(data, size, s->scratch) != ERR_OK) {
        return false;
    }
    struct block_header *h = &s->scratch->u.proposal.block.header;
    const struct sim_buf *older = qc_of_proposal(s, &h->parent_id);
    if (older == NULL || qc_decode(older->data, older->size, &h->qc) != ERR_OK) {
        return false;
    }
    const struct block_info *gp = &h->qc.vote_data.proposed;
    if (!hash_is_zero(&gp->next_epoch_vs_hash) || gp->epoch != h->epoch) {
        return false;
    }
    h->parent_id = gp->id;
    h->height = gp->height + 1;
    h->parent_exec_root = gp->exec_root;
    h->parent_receipts_root = gp->receipts_root;
    sim_validator_set(s, h->epoch, s->vs_scratch);
    h->failed_count = 0;
    for (uint64_t r = gp->round + 1; r < h->round && h->failed_count < CONS_FAILED_AUTHORS_MAX;
         r++) {
        h->failed[h->failed_count++] =
            (struct failed_author){ r, consensus_leader(s->ccfg.chain.alg, s->vs_scratch, h->epoch,
                                                        r) };
    }
    struct hash id;
    block_header_id(s->ccfg.chain.alg, h, &id);
    struct hash digest;
    proposal_digest(&s->ccfg.chain, &id, &digest);
    if (sign_message(node->key, digest.bytes, HASH_SIZE, &s->scratch->u.proposal.sig) != ERR_OK) {
        return false;
    }
    return cons_msg_encode(out, s->scratch) == ERR_OK;
}

/* Re-signs a timeout with the epoch QC as its hqc: stale, but validly signed. */
static bool
stale_timeout(struct sim_node *node, const uint8_t *data, size_t size, struct buf *out)
{
    struct sim *s = node->sim;
    if (cons_msg_decode(data, size, s->scratch) != ERR_OK) {
        return false;
    }
    struct timeout *t = &s->scratch->u.timeout.timeout;
    if (t->epoch != node->epoch_root.epoch) {
        return false;
    }
    qc_epoch_genesis(s->ccfg.chain.alg, &node->epoch_root, &t->hqc);
    struct hash digest;
    timeout_digest(&s->ccfg.chain, t->epoch, t->round, 0, &digest);
    if (sign_message(node->key, digest.bytes, HASH_SIZE, &t->sig) != ERR_OK) {
        return false;
    }
    return cons_msg_encode(out, s->scratch) == ERR_OK;
}

/* One proposal to the even validators, the other to the odd ones. */
static void
send_split(struct sim_node *from, const uint8_t *data, size_t size, const struct buf *alt)
{
    for (uint16_t j = 0; j < from->sim->cfg.n; j++) {
        if (j == from->idx) {
            continue;
        }
        const uint8_t *d = j % 2 == 0 ? data : alt->data;
        send_bytes(from, j, d, j % 2 == 0 ? size : alt->size);
    }
}

static void
byz_fork(struct sim_node *from, int to_idx, const uint8_t *data, size_t size, struct buf *alt)
{
    bool rewritten = false;
    if (data[0] == CONS_MSG_PROPOSAL) {
        rewritten = forked_proposal(from, data, size, alt);
    } else if (data[0] == CONS_MSG_TIMEOUT) {
        rewritten = stale_timeout(from, data, size, alt);
    }
    if (rewritten) {
        send_bytes(from, to_idx, alt->data, alt->size);
    } else {
        send_bytes(from, to_idx, data, size);
    }
}

void
sim_byz_outgoing(struct sim_node *from, int to_idx, const uint8_t *data, size_t size)
{
    struct sim *s = from->sim;
    struct buf alt;
    buf_init(&alt, CONS_MSG_SIZE_MAX);
    switch (from->byz) {
    case SIM_BYZ_SILENT:
        break;
    case SIM_BYZ_EQUIVOCATE:
        if (to_idx < 0 && data[0] == CONS_MSG_PROPOSAL &&
            equivocal_proposal(from, data, size, &alt)) {
            send_split(from, data, size, &alt);
        } else {
            send_bytes(from, to_idx, data, size);
        }
        break;
    case SIM_BYZ_DOUBLE_VOTE:
        send_bytes(from, to_idx, data, size);
        if (data[0] == CONS_MSG_VOTE && conflicting_vote(from, data, size, &alt)) {
            send_bytes(from, to_idx, alt.data, alt.size);
        }
        break;
    case SIM_BYZ_GARBAGE:
        send_bytes(from, to_idx, data, size);
        send_garbage(from, data, size);
        break;
    case SIM_BYZ_REPLAY: {
        send_bytes(from, to_idx, data, size);
        size_t slot = s->replay_next;
        sim_buf_unref(s->replay[slot]);
        s->replay[slot] = sim_buf_new(data, size);
        s->replay_next = (slot + 1) % SIM_REPLAY_RING;
        replay_old(from);
        break;
    }
    case SIM_BYZ_FORK:
        byz_fork(from, to_idx, data, size, &alt);
        break;
    case SIM_BYZ_NONE:
    case SIM_BYZ_AMNESIA:
        send_bytes(from, to_idx, data, size);
        break;
    }
    buf_release(&alt);
}

void
sim_byz_tick(struct sim_node *node)
{
    struct sim *s = node->sim;
    if (!node->up) {
        return;
    }
    if (node->byz == SIM_BYZ_GARBAGE) {
        send_garbage(node, NULL, 0);
    } else if (node->byz == SIM_BYZ_REPLAY) {
        for (int i = 0; i < 4; i++) {
            replay_old(node); /* a small flood of stale and old-epoch messages */
        }
    }
    struct event ev = { .at_us = s->now_us + 20000u + rng_below(&s->byzr, 80000u),
                        .kind = EV_BYZ_TICK,
                        .node = node->id,
                        .gen = 0 };
    sim_push(s, &ev);
}
