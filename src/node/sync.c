/* Block sync over FRAME_BLOCK_REQUEST / FRAME_BLOCK_RESPONSE (see sync.h). */
#include "node/sync.h"

#include <event2/event.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/reader.h"
#include "base/text.h"
#include "ledger/ledger.h"
#include "node/node_internal.h"
#include "p2p/frame.h"
#include "p2p/p2p.h"

#define TICK_MS            100u
#define RESPONSE_HEAD_SIZE 20u

struct served_peer {
    struct public_key key;
    uint64_t window_ms; /* start of the current one-second window */
    uint32_t count;
};

struct sync {
    struct node *n;
    enum err (*start_consensus)(struct node *);
    struct event *tick;
    /* the request in flight */
    struct public_key peer;
    uint64_t from;
    uint64_t sent_ms;
    size_t next_peer; /* rotation index into the config's peers */
    uint64_t started_ms;
    uint64_t next_poll_ms;
    uint64_t target;
    uint64_t applied;
    uint64_t log_ms;
    uint64_t log_applied;
    struct served_peer served[SYNC_SERVED_PEERS_MAX];
    struct buf out;
    /* The response being applied, one block at a time on the ledger thread. */
    struct buf resp;
    struct reader rd;
    uint64_t peer_height;
    uint32_t left;
    char peer_hex[17];
    bool applying;
    bool observer;
    bool done;     /* consensus started (validators) */
    bool waiting;  /* a request is in flight */
    bool answered; /* some peer has answered */
};

static uint64_t
now_ms(void)
{
    return clock_monotonic_ms(clock_system());
}

static void
key_hex(const struct public_key *k, char out[17])
{
    hex_encode(k->bytes, 8, out);
}

/* ---- serving ---- */

static bool
serve_allowed(struct sync *s, const struct public_key *peer)
{
    uint64_t now = now_ms();
    size_t at = SYNC_SERVED_PEERS_MAX;
    size_t oldest = 0;
    for (size_t i = 0; i < SYNC_SERVED_PEERS_MAX && at == SYNC_SERVED_PEERS_MAX; i++) {
        if (public_key_equal(&s->served[i].key, peer)) {
            at = i;
        } else if (s->served[i].window_ms < s->served[oldest].window_ms) {
            oldest = i;
        }
    }
    if (at == SYNC_SERVED_PEERS_MAX) {
        at = oldest;
        s->served[at] = (struct served_peer){ .key = *peer, .window_ms = now, .count = 0 };
    }
    struct served_peer *sp = &s->served[at];
    if (now - sp->window_ms >= 1000) {
        sp->window_ms = now;
        sp->count = 0;
    }
    sp->count++;
    return sp->count <= SYNC_SERVE_PER_S;
}

void
sync_on_request(struct sync *s, const struct public_key *peer, const uint8_t *payload, size_t size)
{
    struct frame_block_request req;
    char k[17];
    key_hex(peer, k);
    if (frame_block_request_decode(payload, size, &req) != ERR_OK) {
        log_info(LOG_NODE, "sync: malformed block request peer=%s", k);
        return;
    }
    if (!serve_allowed(s, peer)) {
        log_info(LOG_NODE, "sync: block request over the rate limit peer=%s", k);
        return;
    }
    struct node *n = s->n;
    uint64_t committed = ledger_committed_height(n->ledger);
    /* Ranges stop near SYNC_RESPONSE_BYTES_MAX, but the first block goes out whatever its size
     * (up to the frame maximum, which config.c keeps above the largest block and its
     * certificate), so a chain of big blocks still syncs. */
    uint32_t limit = n->config.frame_size_max;
    uint32_t soft = limit < SYNC_RESPONSE_BYTES_MAX ? limit : SYNC_RESPONSE_BYTES_MAX;
    struct buf *out = &s->out;
    buf_reset(out);
    uint8_t head[RESPONSE_HEAD_SIZE];
    store_u64(head, req.height_from);
    store_u64(head + 8, committed);
    store_u32(head + 16, 0);
    enum err rc = buf_append(out, head, sizeof head);
    uint32_t count = 0;
    struct buf block;
    struct buf cert;
    buf_init(&block, limit);
    buf_init(&cert, limit);
    for (uint64_t h = req.height_from;
         rc == ERR_OK && h <= committed && h != 0 && count < req.count; h++) {
        buf_reset(&block);
        buf_reset(&cert);
        rc = ledger_read_block(n->ledger, h, &block, &cert);
        if (rc != ERR_OK) {
            break;
        }
        size_t add = 8 + block.size + cert.size;
        if (out->size + add > (count == 0 ? limit : soft)) {
            break;
        }
        uint8_t len[4];
        store_u32(len, (uint32_t)block.size);
        rc = buf_append(out, len, 4);
        if (rc == ERR_OK) {
            rc = buf_append(out, block.data, block.size);
        }
        if (rc == ERR_OK) {
            store_u32(len, (uint32_t)cert.size);
            rc = buf_append(out, len, 4);
        }
        if (rc == ERR_OK) {
            rc = buf_append(out, cert.data, cert.size);
        }
        if (rc == ERR_OK) {
            count++;
        }
    }
    buf_release(&block);
    buf_release(&cert);
    if (rc != ERR_OK) {
        log_warn(LOG_NODE, "sync: cannot read blocks from=%llu error=%s",
                 (unsigned long long)req.height_from, err_str(rc));
        count = 0;
        out->size = RESPONSE_HEAD_SIZE;
    }
    store_u32(out->data + 16, count);
    rc = p2p_send(n->p2p, peer, FRAME_BLOCK_RESPONSE, out->data, out->size);
    if (rc != ERR_OK) {
        log_info(LOG_NODE, "sync: cannot answer peer=%s error=%s", k, err_name(rc));
    }
}

/* ---- fetching ---- */

static void
log_progress(struct sync *s, bool force)
{
    uint64_t now = now_ms();
    if (!force && now - s->log_ms < SYNC_LOG_INTERVAL_MS) {
        return;
    }
    uint64_t dt = now - s->log_ms;
    uint64_t rate = dt == 0 ? 0 : (s->applied - s->log_applied) * 1000u / dt;
    log_notice(LOG_NODE, "sync progress height=%llu target=%llu blocks_per_s=%llu",
               (unsigned long long)ledger_committed_height(s->n->ledger),
               (unsigned long long)s->target, (unsigned long long)rate);
    s->log_ms = now;
    s->log_applied = s->applied;
}

static void
finish(struct sync *s)
{
    if (s->observer || s->done) {
        return;
    }
    s->done = true;
    uint64_t secs_ms = now_ms() - s->started_ms;
    log_notice(LOG_NODE, "sync done height=%llu applied=%llu ms=%llu",
               (unsigned long long)ledger_committed_height(s->n->ledger),
               (unsigned long long)s->applied, (unsigned long long)secs_ms);
    enum err rc = s->start_consensus(s->n);
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "consensus cannot start after sync error=%s", err_str(rc));
        node_fatal(s->n, rc);
    }
}

static void
send_request(struct sync *s)
{
    struct node *n = s->n;
    size_t peers = n->config.peer_count;
    for (size_t tries = 0; tries < peers; tries++) {
        const struct config_peer *p = &n->config.peers[s->next_peer % peers];
        s->next_peer++;
        if (!p2p_is_connected(n->p2p, &p->key)) {
            continue;
        }
        uint64_t from = ledger_committed_height(n->ledger) + 1;
        if (p2p_request_blocks(n->p2p, &p->key, from, SYNC_RANGE_BLOCKS) == ERR_OK) {
            s->waiting = true;
            s->peer = p->key;
            s->from = from;
            s->sent_ms = now_ms();
            return;
        }
    }
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sync *s = arg;
    if (s->done) {
        return;
    }
    uint64_t now = now_ms();
    if (s->waiting && now - s->sent_ms >= SYNC_REQUEST_TIMEOUT_MS) {
        char k[17];
        key_hex(&s->peer, k);
        log_info(LOG_NODE, "sync: no answer peer=%s from=%llu", k, (unsigned long long)s->from);
        s->waiting = false;
    }
    if (!s->answered && !s->observer &&
        (s->n->config.peer_count == 0 || now - s->started_ms >= SYNC_START_WAIT_MS)) {
        finish(s); /* nobody to sync from: a fresh chain, or the peers are not up yet */
        return;
    }
    if (!s->waiting && !s->applying && now >= s->next_poll_ms) {
        send_request(s);
    }
    if (s->target > ledger_committed_height(s->n->ledger)) {
        log_progress(s, false);
    }
}

/* One (block, proof) entry of a response. */
static enum err
read_entry(struct reader *r, const uint8_t **block, uint32_t *block_size, const uint8_t **proof,
           uint32_t *proof_size)
{
    enum err rc = reader_u32(r, block_size);
    if (rc == ERR_OK) {
        rc = reader_borrow(r, *block_size, block);
    }
    if (rc == ERR_OK) {
        rc = reader_u32(r, proof_size);
    }
    if (rc == ERR_OK) {
        rc = reader_borrow(r, *proof_size, proof);
    }
    return rc;
}

/* All blocks of a response are applied: caught up, or ask for more. */
static void
response_done(struct sync *s)
{
    s->applying = false;
    uint64_t own = ledger_committed_height(s->n->ledger);
    if (s->peer_height <= own + SYNC_BEHIND_MAX) {
        if (s->target > own + SYNC_BEHIND_MAX) {
            s->target = s->peer_height; /* a peer that reported more went away or lied */
        }
        if (s->applied > s->log_applied) {
            log_progress(s, true);
        }
        if (!s->observer) {
            finish(s);
            return;
        }
        s->next_poll_ms = now_ms() + SYNC_FOLLOW_INTERVAL_MS;
        return;
    }
    send_request(s); /* more to fetch: go on at once, from the next peer */
}

/* A block failed: the rest of the response is dropped and the peer skipped. */
static void
refused(struct sync *s, enum err rc)
{
    s->applying = false;
    log_warn(LOG_NODE, "sync: block refused height=%llu peer=%s error=%s",
             (unsigned long long)(ledger_committed_height(s->n->ledger) + 1), s->peer_hex,
             err_name(rc));
}

/* Hands the next block of the response to the ledger thread (sync_block_applied answers). */
static void
apply_next(struct sync *s)
{
    if (s->left == 0) {
        response_done(s);
        return;
    }
    const uint8_t *b = NULL;
    const uint8_t *c = NULL;
    uint32_t bsize = 0;
    uint32_t csize = 0;
    enum err rc = read_entry(&s->rd, &b, &bsize, &c, &csize);
    if (rc == ERR_OK) {
        rc = node_consensus_apply_final(s->n, b, bsize, c, csize);
    }
    if (rc == ERR_AGAIN) {
        s->left--;
        return;
    }
    ASSERT(rc != ERR_OK); /* applied blocks are answered later */
    refused(s, rc);
}

void
sync_block_applied(struct sync *s, enum err rc)
{
    if (!s->applying) {
        return;
    }
    if (rc != ERR_OK) {
        refused(s, rc);
        return;
    }
    s->applied++;
    apply_next(s);
}

void
sync_on_response(struct sync *s, const struct public_key *peer, const uint8_t *payload, size_t size)
{
    if (s->done || !s->waiting || s->applying || !public_key_equal(peer, &s->peer)) {
        return; /* late, or not asked for */
    }
    struct reader r;
    reader_init(&r, payload, size);
    uint64_t from = 0;
    uint64_t peer_height = 0;
    uint32_t count = 0;
    enum err rc = reader_u64(&r, &from);
    if (rc == ERR_OK) {
        rc = reader_u64(&r, &peer_height);
    }
    if (rc == ERR_OK) {
        rc = reader_u32(&r, &count);
    }
    if (rc != ERR_OK || from != s->from) {
        return;
    }
    s->waiting = false;
    s->answered = true;
    if (peer_height > s->target) {
        s->target = peer_height;
    }
    if (from != ledger_committed_height(s->n->ledger) + 1) {
        return;
    }
    key_hex(peer, s->peer_hex);
    buf_reset(&s->resp);
    if (buf_append(&s->resp, payload + r.pos, size - r.pos) != ERR_OK) {
        return;
    }
    reader_init(&s->rd, s->resp.data, s->resp.size);
    s->left = count;
    s->peer_height = peer_height;
    s->applying = true;
    apply_next(s);
}

enum err
sync_new(struct node *n, bool observer, enum err (*start_consensus)(struct node *),
         struct sync **out)
{
    struct sync *s = mem_calloc(1, sizeof *s);
    s->n = n;
    s->observer = observer;
    s->start_consensus = start_consensus;
    s->started_ms = now_ms();
    s->log_ms = s->started_ms;
    s->target = ledger_committed_height(n->ledger);
    buf_init(&s->out, SYNC_RESPONSE_BYTES_MAX);
    buf_init(&s->resp, SYNC_RESPONSE_BYTES_MAX);
    s->tick = event_new(n->base, -1, EV_PERSIST, on_tick, s);
    if (s->tick == NULL) {
        sync_free(s);
        return ERR_IO;
    }
    struct timeval tv = { 0, (long)TICK_MS * 1000 };
    if (event_add(s->tick, &tv) != 0) {
        sync_free(s);
        return ERR_IO;
    }
    if (observer) {
        log_notice(LOG_NODE, "observer: following the chain by block sync, never voting");
    }
    *out = s;
    return ERR_OK;
}

void
sync_free(struct sync *s)
{
    if (s == NULL) {
        return;
    }
    if (s->tick != NULL) {
        event_free(s->tick);
    }
    buf_release(&s->out);
    buf_release(&s->resp);
    mem_free(s);
}

uint64_t
sync_blocks_applied(const struct sync *s)
{
    return s->applied;
}
