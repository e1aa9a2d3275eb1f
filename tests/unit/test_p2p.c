/* Unit and loopback tests of p2p/: frame codec, seen-set, and real TLS links on 127.0.0.1
 * with ephemeral ports (in one process, and across forked processes). Every wait is bounded
 * by a deadline; the whole file runs in a few seconds. */
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/reader.h"
#include "crypto/sign.h"
#include "p2p/frame.h"
#include "p2p/p2p.h"
#include "p2p/seen.h"
#include "unit.h"

#define PAYLOAD_SIZE 200u
#define NODES_MAX    4

/* ---- harness ---- */

struct node {
    struct secret_key *sk;
    struct p2p *p2p;
    struct node *all;             /* the test's node array, to map keys to indexes */
    uint64_t received[NODES_MAX]; /* frames received from node i, in order */
    unsigned count;
    unsigned index;
    unsigned connects;
    unsigned disconnects;
    unsigned drains;
    unsigned gossip_relayed;
    unsigned gossip_dups;
    unsigned blocks_received;
    uint64_t next_block;
    struct public_key pk;
    bool out_of_order;
    bool relay_gossip;
};

static unsigned refused_lines;
static unsigned bad_frame_lines;
static unsigned handshake_failed_lines;
static unsigned wrong_key_lines;

static void
capture_sink(void *ctx, enum log_level level, const char *line)
{
    (void)ctx;
    (void)level;
    if (strstr(line, "refused peer") != NULL) {
        refused_lines++;
        wrong_key_lines += strstr(line, "not the key dialled") != NULL ? 1u : 0u;
    }
    if (strstr(line, "bad frame") != NULL) {
        bad_frame_lines++;
    }
    if (strstr(line, "handshake failed") != NULL) {
        handshake_failed_lines++;
    }
    fprintf(stderr, "%s\n", line);
}

static uint64_t
mono_ms(void)
{
    return clock_monotonic_ms(clock_system());
}

static int
node_index_of(const struct node *n, const struct public_key *key)
{
    for (unsigned i = 0; i < n->count; i++) {
        if (p2p_key_compare(&n->all[i].pk, key) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* A stand-in for the node's block store: block h is its height in 8 bytes. */
static void
answer_block_request(struct node *n, const struct public_key *peer, const uint8_t *payload,
                     size_t size)
{
    struct frame_block_request req;
    if (frame_block_request_decode(payload, size, &req) != ERR_OK) {
        n->out_of_order = true;
        return;
    }
    for (uint32_t i = 0; i < req.count; i++) {
        uint8_t block[8];
        store_u64(block, req.height_from + i);
        if (p2p_send(n->p2p, peer, FRAME_BLOCK_RESPONSE, block, sizeof block) != ERR_OK) {
            n->out_of_order = true;
        }
    }
}

static void
on_frame(void *ctx, const struct public_key *peer, uint8_t type, const uint8_t *payload,
         size_t size)
{
    struct node *n = ctx;
    int from = node_index_of(n, peer);
    if (from < 0 || size < 8) {
        n->out_of_order = true;
        return;
    }
    if (type == FRAME_BLOCK_REQUEST) {
        answer_block_request(n, peer, payload, size);
        return;
    }
    if (type == FRAME_BLOCK_RESPONSE) {
        n->blocks_received += size == 8 ? 1u : 0u;
        n->out_of_order |= size != 8 || load_u64(payload) != n->next_block;
        n->next_block++;
        return;
    }
    if (type == FRAME_TX && n->relay_gossip) {
        struct hash id;
        memset(&id, 0, sizeof id);
        memcpy(id.bytes, payload, 8);
        enum err rc = p2p_gossip(n->p2p, peer, &id, FRAME_TX, payload, size);
        if (rc == ERR_OK) {
            n->gossip_relayed++;
        } else if (rc == ERR_EXISTS) {
            n->gossip_dups++;
        }
        return;
    }
    uint64_t seq = load_u64(payload);
    if (seq != n->received[from]) {
        n->out_of_order = true;
    }
    n->received[from] = seq + 1;
}

static void
on_connect(void *ctx, const struct public_key *peer)
{
    (void)peer;
    struct node *n = ctx;
    n->connects++;
}

static void
on_disconnect(void *ctx, const struct public_key *peer)
{
    (void)peer;
    struct node *n = ctx;
    n->disconnects++;
}

static void
on_drain(void *ctx, const struct public_key *peer)
{
    (void)peer;
    struct node *n = ctx;
    n->drains++;
}

static void
node_keys(struct node *nodes, unsigned count)
{
    for (unsigned i = 0; i < count; i++) {
        memset(&nodes[i], 0, sizeof nodes[i]);
        if (secret_key_generate(SIG_ED25519, &nodes[i].sk) != ERR_OK) {
            fail();
        }
        secret_key_public(nodes[i].sk, &nodes[i].pk);
        nodes[i].all = nodes;
        nodes[i].count = count;
        nodes[i].index = i;
    }
}

static void
test_options(struct p2p_options *o, const struct node *n, const char *listen)
{
    p2p_options_default(o);
    o->listen_address = listen;
    o->identity = n->sk;
    o->frame_payload_size_max = 64u * 1024u;
    o->peer_queue_bytes_max = (size_t)1024u * 1024u;
    o->reconnect_backoff_min_ms = 40;
    o->reconnect_backoff_max_ms = 400;
    o->handshake_timeout_ms = 2000;
}

static enum err
node_start(struct event_base *base, struct node *n, const struct p2p_options *o)
{
    struct p2p_callbacks cb = { on_frame, on_connect, on_disconnect, on_drain, n };
    return p2p_new(base, o, &cb, &n->p2p);
}

static void
node_start_default(struct event_base *base, struct node *n)
{
    struct p2p_options o;
    test_options(&o, n, "127.0.0.1:0");
    assert_int_equal(node_start(base, n, &o), ERR_OK);
}

static void
address_of_node(const struct node *n, char out[P2P_ADDRESS_TEXT_MAX])
{
    snprintf(out, P2P_ADDRESS_TEXT_MAX, "127.0.0.1:%u", (unsigned)p2p_listen_port(n->p2p));
}

/* Node i allows every node in `allowed` (a bit mask) and dials those in `dial`. */
static void
node_wire(struct node *nodes, unsigned i, unsigned allowed, unsigned dial)
{
    struct public_key keys[NODES_MAX];
    size_t k = 0;
    for (unsigned j = 0; j < nodes[i].count; j++) {
        if (allowed & (1u << j)) {
            keys[k++] = nodes[j].pk;
        }
    }
    assert_int_equal(p2p_set_allowed_keys(nodes[i].p2p, keys, k), ERR_OK);
    for (unsigned j = 0; j < nodes[i].count; j++) {
        if (j != i && (dial & (1u << j))) {
            char addr[P2P_ADDRESS_TEXT_MAX];
            address_of_node(&nodes[j], addr);
            assert_int_equal(p2p_add_peer(nodes[i].p2p, &nodes[j].pk, addr), ERR_OK);
        }
    }
}

static void
nodes_release(struct node *nodes, unsigned count)
{
    for (unsigned i = 0; i < count; i++) {
        p2p_free(nodes[i].p2p);
        nodes[i].p2p = NULL;
        secret_key_free(nodes[i].sk);
    }
}

typedef bool cond_fn(void *ctx);

/* Runs the loop until cond holds or timeout_ms passes. The p2p housekeeping timer wakes the
 * loop at least every 250 ms, so each EVLOOP_ONCE returns. */
static bool
run_until(struct event_base *base, cond_fn *cond, void *ctx, uint64_t timeout_ms)
{
    uint64_t deadline = mono_ms() + timeout_ms;
    while (!cond(ctx)) {
        if (mono_ms() >= deadline) {
            return false;
        }
        (void)event_base_loop(base, EVLOOP_ONCE);
    }
    return true;
}

static void
run_for(struct event_base *base, uint64_t ms)
{
    uint64_t deadline = mono_ms() + ms;
    while (mono_ms() < deadline) {
        (void)event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        struct timespec ts = { 0, 2000000 };
        nanosleep(&ts, NULL);
    }
}

struct pair {
    struct node *a;
    struct node *b;
};

static bool
pair_connected(void *ctx)
{
    struct pair *pr = ctx;
    return p2p_is_connected(pr->a->p2p, &pr->b->pk) && p2p_is_connected(pr->b->p2p, &pr->a->pk);
}

static bool
pair_disconnected(void *ctx)
{
    struct pair *pr = ctx;
    return !p2p_is_connected(pr->a->p2p, &pr->b->pk) && !p2p_is_connected(pr->b->p2p, &pr->a->pk);
}

static void
make_payload(uint8_t *payload, uint64_t seq)
{
    memset(payload, 0xab, PAYLOAD_SIZE);
    store_u64(payload, seq);
}

struct transfer {
    struct node *from;
    struct node *to;
    uint64_t sent;
    uint64_t total;
};

/* Sends as much as the queue takes; true once everything was queued and received. */
static bool
transfer_step(void *ctx)
{
    struct transfer *t = ctx;
    uint8_t payload[PAYLOAD_SIZE];
    while (t->sent < t->total) {
        make_payload(payload, t->sent);
        enum err rc = p2p_send(t->from->p2p, &t->to->pk, FRAME_CONSENSUS, payload, sizeof payload);
        if (rc == ERR_FULL) {
            break;
        }
        if (rc != ERR_OK) {
            return false;
        }
        t->sent++;
    }
    return t->to->received[t->from->index] == t->total;
}

/* ---- codec and seen-set ---- */

/* FRAME_TXS: built tx by tx, split back; every malformed shape refused; the count bound. */
static void
test_frame_txs(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1u << 20);
    assert_int_equal(frame_txs_count(&b), 0);
    const uint8_t a[] = { 1, 2, 3 };
    const uint8_t c[] = { 9 };
    assert_int_equal(frame_txs_append(&b, a, sizeof a), ERR_OK);
    assert_int_equal(frame_txs_append(&b, c, sizeof c), ERR_OK);
    assert_int_equal(frame_txs_count(&b), 2);
    assert_int_equal(b.size, FRAME_TXS_HEADER + 2 * FRAME_TXS_ITEM_HEAD + 4);
    struct frame_item items[4];
    size_t n = 0;
    assert_int_equal(frame_txs_split(b.data, b.size, items, 4, &n), ERR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(items[0].size, 3);
    assert_memory_equal(items[0].data, a, 3);
    assert_int_equal(items[1].size, 1);
    assert_int_equal(items[1].data[0], 9);
    assert_int_equal(frame_txs_split(b.data, b.size, items, 1, &n), ERR_LIMIT);
    /* Every truncation and an extra byte are malformed. */
    for (size_t cut = 0; cut < b.size; cut++) {
        assert_int_equal(frame_txs_split(b.data, cut, items, 4, &n), ERR_MALFORMED);
    }
    uint8_t extra[64];
    memcpy(extra, b.data, b.size);
    extra[b.size] = 0;
    assert_int_equal(frame_txs_split(extra, b.size + 1, items, 4, &n), ERR_MALFORMED);
    /* A count of 0, a count above the maximum, an empty tx, a size past the end. */
    memcpy(extra, b.data, b.size);
    store_u32(extra, 0);
    assert_int_equal(frame_txs_split(extra, b.size, items, 4, &n), ERR_MALFORMED);
    store_u32(extra, FRAME_TXS_COUNT_MAX + 1);
    assert_int_equal(frame_txs_split(extra, b.size, items, 4, &n), ERR_MALFORMED);
    memcpy(extra, b.data, b.size);
    store_u32(extra + FRAME_TXS_HEADER, 0);
    assert_int_equal(frame_txs_split(extra, b.size, items, 4, &n), ERR_MALFORMED);
    store_u32(extra + FRAME_TXS_HEADER, 0xffffffffu);
    assert_int_equal(frame_txs_split(extra, b.size, items, 4, &n), ERR_MALFORMED);
    /* At most FRAME_TXS_COUNT_MAX txs; a full payload is left as it was. */
    buf_reset(&b);
    for (unsigned i = 0; i < FRAME_TXS_COUNT_MAX; i++) {
        assert_int_equal(frame_txs_append(&b, c, sizeof c), ERR_OK);
    }
    size_t full = b.size;
    assert_int_equal(frame_txs_append(&b, c, sizeof c), ERR_FULL);
    assert_int_equal(b.size, full);
    assert_int_equal(frame_txs_count(&b), FRAME_TXS_COUNT_MAX);
    /* A payload larger than the buffer's maximum is refused and leaves it unchanged. */
    struct buf small;
    buf_init(&small, 16);
    assert_int_equal(frame_txs_append(&small, a, sizeof a), ERR_OK);
    uint8_t big[16] = { 0 };
    assert_int_not_equal(frame_txs_append(&small, big, sizeof big), ERR_OK);
    assert_int_equal(frame_txs_count(&small), 1);
    buf_release(&small);
    buf_release(&b);
}

static void
test_frame_codec(void **state)
{
    (void)state;
    uint8_t buf[32];
    frame_header_encode(FRAME_TX, 3, buf);
    memcpy(buf + FRAME_HEADER_SIZE, "abc", 3);
    struct frame f;
    size_t used = 0;
    assert_int_equal(frame_decode(buf, 8, 100, &f, &used), ERR_OK);
    assert_int_equal(used, 8);
    assert_int_equal(f.type, FRAME_TX);
    assert_int_equal(f.payload_size, 3);
    assert_memory_equal(f.payload, "abc", 3);
    assert_int_equal(frame_decode(buf, 7, 100, &f, &used), ERR_TRUNCATED);
    assert_int_equal(frame_decode(buf, 4, 100, &f, &used), ERR_TRUNCATED);
    assert_int_equal(frame_decode(buf, 8, 2, &f, &used), ERR_TOO_LARGE);
    buf[4] = 0;
    assert_int_equal(frame_decode(buf, 8, 100, &f, &used), ERR_MALFORMED);
    buf[4] = FRAME_TYPE_MAX + 1;
    assert_int_equal(frame_decode(buf, 8, 100, &f, &used), ERR_MALFORMED);
    /* A huge length is refused from the header alone. */
    store_u32(buf, 0xffffffffu);
    buf[4] = FRAME_TX;
    struct frame_header h;
    assert_int_equal(frame_header_decode(buf, 5, FRAME_PAYLOAD_SIZE_LIMIT, &h), ERR_TOO_LARGE);

    uint8_t hello[FRAME_HELLO_PAYLOAD_SIZE];
    frame_hello_encode(hello);
    assert_int_equal(frame_hello_decode(hello, sizeof hello), ERR_OK);
    assert_int_equal(frame_hello_decode(hello, 3), ERR_MALFORMED);
    hello[0] = 9;
    assert_int_equal(frame_hello_decode(hello, sizeof hello), ERR_UNSUPPORTED);

    struct frame_block_request req = { .height_from = 42, .count = 7 };
    uint8_t rb[FRAME_BLOCK_REQUEST_SIZE];
    frame_block_request_encode(&req, rb);
    struct frame_block_request back;
    assert_int_equal(frame_block_request_decode(rb, sizeof rb, &back), ERR_OK);
    assert_true(back.height_from == 42 && back.count == 7);
    assert_int_equal(frame_block_request_decode(rb, 11, &back), ERR_MALFORMED);
    store_u32(rb + 8, 0);
    assert_int_equal(frame_block_request_decode(rb, sizeof rb, &back), ERR_MALFORMED);
    store_u32(rb + 8, FRAME_BLOCK_REQUEST_COUNT_MAX + 1);
    assert_int_equal(frame_block_request_decode(rb, sizeof rb, &back), ERR_MALFORMED);
    store_u64(rb, UINT64_MAX);
    store_u32(rb + 8, 1);
    assert_int_equal(frame_block_request_decode(rb, sizeof rb, &back), ERR_MALFORMED);
}

static void
hash_of(uint64_t v, struct hash *out)
{
    memset(out, 0, sizeof *out);
    store_u64(out->bytes, v * 0x9e3779b97f4a7c15ull);
    store_u64(out->bytes + 24, v);
}

static void
test_seen_set(void **state)
{
    (void)state;
    struct seen_set *s = seen_set_new(100);
    struct hash h;
    for (uint64_t i = 0; i < 100; i++) {
        hash_of(i, &h);
        assert_true(seen_set_insert(s, &h));
        assert_false(seen_set_insert(s, &h));
    }
    assert_int_equal(seen_set_count(s), 100);
    /* Inserting more forgets the oldest, in order. */
    for (uint64_t i = 100; i < 10000; i++) {
        hash_of(i, &h);
        assert_true(seen_set_insert(s, &h));
        assert_int_equal(seen_set_count(s), 100);
        hash_of(i - 100, &h);
        assert_false(seen_set_contains(s, &h));
        for (uint64_t j = i - 99; j <= i; j += 13) {
            hash_of(j, &h);
            assert_true(seen_set_contains(s, &h));
        }
    }
    seen_set_free(s);
    seen_set_free(NULL);

    /* Colliding low bits (all ids equal in their first 16 bytes) still work. */
    s = seen_set_new(8);
    for (uint64_t i = 0; i < 64; i++) {
        memset(&h, 0, sizeof h);
        store_u64(h.bytes + 16, i);
        assert_true(seen_set_insert(s, &h));
        assert_false(seen_set_insert(s, &h));
    }
    assert_int_equal(seen_set_count(s), 8);
    seen_set_free(s);
}

static void
test_options_checked(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct node n[1];
    node_keys(n, 1);
    struct p2p_options o;
    test_options(&o, &n[0], NULL);
    o.peer_queue_bytes_max = 10; /* smaller than one frame */
    assert_int_equal(node_start(base, &n[0], &o), ERR_CONFIG);
    test_options(&o, &n[0], NULL);
    o.reconnect_backoff_max_ms = 1;
    assert_int_equal(node_start(base, &n[0], &o), ERR_CONFIG);
    test_options(&o, &n[0], "not-an-address");
    assert_int_equal(node_start(base, &n[0], &o), ERR_CONFIG);

    struct secret_key *sm2 = NULL;
    assert_int_equal(secret_key_generate(SIG_SM2, &sm2), ERR_OK);
    test_options(&o, &n[0], NULL);
    o.identity = sm2;
    assert_int_equal(node_start(base, &n[0], &o), ERR_UNSUPPORTED);
    secret_key_free(sm2);

    test_options(&o, &n[0], NULL);
    assert_int_equal(node_start(base, &n[0], &o), ERR_OK);
    assert_int_equal(p2p_listen_port(n[0].p2p), 0);
    assert_int_equal(p2p_add_peer(n[0].p2p, &n[0].pk, "127.0.0.1:1"), ERR_INVALID_ARG);
    struct public_key other = n[0].pk;
    other.bytes[0] ^= 1;
    assert_int_equal(p2p_add_peer(n[0].p2p, &other, "local_host:80"), ERR_INVALID_ARG);
    assert_int_equal(p2p_add_peer(n[0].p2p, &other, "localhost:0"), ERR_INVALID_ARG);
    assert_int_equal(p2p_add_peer(n[0].p2p, &other, "127.0.0.1:0"), ERR_INVALID_ARG);
    assert_int_equal(p2p_add_peer(n[0].p2p, &other, "127.0.0.1:9"), ERR_OK);
    uint8_t payload[8] = { 0 };
    assert_int_equal(p2p_send(n[0].p2p, &other, FRAME_TX, payload, 8), ERR_CLOSED);
    other.bytes[1] ^= 1;
    assert_int_equal(p2p_send(n[0].p2p, &other, FRAME_TX, payload, 8), ERR_NOT_FOUND);
    nodes_release(n, 1);
    event_base_free(base);
}

/* ---- links in one process ---- */

static bool
blocks_done(void *ctx)
{
    const struct node *n = ctx;
    return n->blocks_received == 64;
}

static void
test_two_nodes_in_order(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct node n[2];
    node_keys(n, 2);
    node_start_default(base, &n[0]);
    node_start_default(base, &n[1]);
    /* Both dial each other: duplicate links are resolved to one. */
    node_wire(n, 0, 3, 2);
    node_wire(n, 1, 3, 1);
    struct pair pr = { &n[0], &n[1] };
    assert_true(run_until(base, pair_connected, &pr, 5000));
    run_for(base, 200);
    assert_true(pair_connected(&pr));
    assert_int_equal(p2p_connected_count(n[0].p2p), 1);

    struct transfer ab = { &n[0], &n[1], 0, 20000 };
    struct transfer ba = { &n[1], &n[0], 0, 20000 };
    assert_true(run_until(base, transfer_step, &ab, 20000));
    assert_true(run_until(base, transfer_step, &ba, 20000));
    assert_false(n[0].out_of_order);
    assert_false(n[1].out_of_order);
    struct p2p_peer_stats st;
    assert_int_equal(p2p_peer_stats(n[1].p2p, &n[0].pk, &st), ERR_OK);
    assert_true(st.frames_in >= 20000);
    assert_true(st.bytes_in >= (uint64_t)20000u * PAYLOAD_SIZE);
    assert_int_equal(st.malformed, 0);

    /* Block retrieval: 0 asks 1 for blocks 100..163 and gets them in order. */
    n[0].next_block = 100;
    assert_int_equal(p2p_request_blocks(n[0].p2p, &n[1].pk, 100, 64), ERR_OK);
    assert_int_equal(p2p_request_blocks(n[0].p2p, &n[1].pk, 1, 0), ERR_INVALID_ARG);
    assert_int_equal(p2p_request_blocks(n[0].p2p, &n[1].pk, UINT64_MAX, 1), ERR_INVALID_ARG);
    assert_true(run_until(base, blocks_done, &n[0], 5000));
    assert_false(n[0].out_of_order);
    nodes_release(n, 2);
    event_base_free(base);
}

/* "name:port" addresses: what is a host name, and a link dialled by name (resolved through
 * the hosts file by evdns). */
static void
test_host_names(void **state)
{
    (void)state;
    char host[P2P_ADDRESS_TEXT_MAX];
    char port[8];
    assert_int_equal(p2p_host_port_split("node1.bank-a.example:7000", host, port), ERR_OK);
    assert_string_equal(host, "node1.bank-a.example");
    assert_string_equal(port, "7000");
    assert_int_equal(p2p_host_port_split("localhost:65535", host, port), ERR_OK);
    const char *bad[] = { "localhost",   ":80",      "host:",    "host:0",   "host:65536",
                          "host:123456", "-host:80", "host-:80", "a..b:80",  "host.:80",
                          "ho st:80",    "host:8a",  "ho_st:80", "[::1]:80", "caf\xc3\xa9:80" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(p2p_host_port_split(bad[i], host, port), ERR_INVALID_ARG);
    }
    char label[80];
    memset(label, 'a', 64);
    snprintf(label + 64, sizeof label - 64, ":80"); /* a 64-byte label */
    assert_int_equal(p2p_host_port_split(label, host, port), ERR_INVALID_ARG);

    struct event_base *base = event_base_new();
    struct node n[2];
    node_keys(n, 2);
    node_start_default(base, &n[0]);
    node_start_default(base, &n[1]);
    node_wire(n, 0, 3, 0);
    node_wire(n, 1, 3, 0);
    char addr[P2P_ADDRESS_TEXT_MAX];
    snprintf(addr, sizeof addr, "localhost:%u", (unsigned)p2p_listen_port(n[1].p2p));
    assert_int_equal(p2p_add_peer(n[0].p2p, &n[1].pk, addr), ERR_OK);
    struct pair pr = { &n[0], &n[1] };
    assert_true(run_until(base, pair_connected, &pr, 5000));
    struct transfer ab = { &n[0], &n[1], 0, 100 };
    assert_true(run_until(base, transfer_step, &ab, 5000));
    /* a name that does not resolve: no link, no crash, redials with back-off */
    struct public_key other = n[1].pk;
    other.bytes[0] ^= 1;
    assert_int_equal(p2p_add_peer(n[0].p2p, &other, "no-such-host.invalid:9"), ERR_OK);
    run_for(base, 300);
    assert_false(p2p_is_connected(n[0].p2p, &other));
    p2p_remove_peer(n[0].p2p, &other); /* cancels a lookup in flight, if any */
    assert_true(pair_connected(&pr));
    nodes_release(n, 2);
    event_base_free(base);
}

/* Regression: with the read side bounded to one small frame, OpenSSL holds most of each
 * 16 KiB record already decrypted; the link must still deliver everything. */
static void
test_small_frame_limit_streams(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct node n[2];
    node_keys(n, 2);
    for (unsigned i = 0; i < 2; i++) {
        struct p2p_options o;
        test_options(&o, &n[i], "127.0.0.1:0");
        o.frame_payload_size_max = PAYLOAD_SIZE;
        assert_int_equal(node_start(base, &n[i], &o), ERR_OK);
    }
    node_wire(n, 0, 3, 2);
    node_wire(n, 1, 3, 0);
    struct pair pr = { &n[0], &n[1] };
    assert_true(run_until(base, pair_connected, &pr, 5000));
    struct transfer ab = { &n[0], &n[1], 0, 5000 };
    assert_true(run_until(base, transfer_step, &ab, 10000));
    assert_false(n[1].out_of_order);
    nodes_release(n, 2);
    event_base_free(base);
}

static bool
refused_more(void *ctx)
{
    const unsigned *before = ctx;
    return refused_lines > *before;
}

static bool
wrong_key_refused(void *ctx)
{
    (void)ctx;
    return wrong_key_lines >= 1;
}

static void
test_unregistered_refused(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct node n[4];
    node_keys(n, 4);
    for (unsigned i = 0; i < 4; i++) {
        node_start_default(base, &n[i]);
    }
    /* 0 and 1 are members. 2 is not registered with 0 but dials it. */
    node_wire(n, 0, 0x3, 0);
    node_wire(n, 1, 0x3, 0);
    node_wire(n, 2, 0x5, 0x1);
    refused_lines = 0;
    struct pair pr = { &n[0], &n[2] };
    unsigned before = 0;
    assert_true(run_until(base, refused_more, &before, 5000));
    run_for(base, 300);
    assert_false(pair_connected(&pr));
    assert_int_equal(n[0].connects, 0);
    assert_int_equal(n[2].connects, 0); /* the TLS client never hears HELLO: not connected */
    assert_true(refused_lines >= 1);

    /* Outbound: 1 dials the address of 3 expecting 0's key (allowed): 3 presents its own
     * key, which 1 does not allow. */
    before = refused_lines;
    char addr3[P2P_ADDRESS_TEXT_MAX];
    address_of_node(&n[3], addr3);
    node_wire(n, 3, 0xf, 0);
    assert_int_equal(p2p_add_peer(n[1].p2p, &n[0].pk, addr3), ERR_OK);
    assert_true(run_until(base, refused_more, &before, 5000));
    run_for(base, 200);
    assert_int_equal(n[1].connects, 0);
    assert_int_equal(n[3].connects, 0);

    /* Outbound to an allowed but different key than dialled is refused too. */
    before = refused_lines;
    wrong_key_lines = 0;
    node_wire(n, 1, 0xb, 0);
    assert_true(run_until(base, wrong_key_refused, NULL, 5000));
    assert_int_equal(n[1].connects, 0);
    nodes_release(n, 4);
    event_base_free(base);
}

static void
test_remove_key_closes_link(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct node n[2];
    node_keys(n, 2);
    node_start_default(base, &n[0]);
    node_start_default(base, &n[1]);
    node_wire(n, 0, 3, 2);
    node_wire(n, 1, 3, 1);
    struct pair pr = { &n[0], &n[1] };
    assert_true(run_until(base, pair_connected, &pr, 5000));
    /* Node 1 leaves the chain: node 0 drops it and refuses its redials. */
    refused_lines = 0;
    assert_int_equal(p2p_set_allowed_keys(n[0].p2p, &n[0].pk, 1), ERR_OK);
    assert_false(p2p_is_connected(n[0].p2p, &n[1].pk));
    assert_int_equal(n[0].disconnects, 1);
    assert_true(run_until(base, pair_disconnected, &pr, 3000));
    run_for(base, 500);
    assert_false(p2p_is_connected(n[1].p2p, &n[0].pk));
    assert_true(refused_lines >= 1);
    /* Registered again: the link comes back. */
    node_wire(n, 0, 3, 2);
    assert_true(run_until(base, pair_connected, &pr, 5000));
    /* Removing the peer closes it too. */
    p2p_remove_peer(n[0].p2p, &n[1].pk);
    assert_false(p2p_is_connected(n[0].p2p, &n[1].pk));
    nodes_release(n, 2);
    event_base_free(base);
}

static void
test_redial_with_backoff(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct node n[2];
    node_keys(n, 2);
    node_start_default(base, &n[0]);
    node_start_default(base, &n[1]);
    char addr1[P2P_ADDRESS_TEXT_MAX];
    address_of_node(&n[1], addr1);
    node_wire(n, 0, 3, 2); /* only 0 dials */
    node_wire(n, 1, 3, 0);
    struct pair pr = { &n[0], &n[1] };
    assert_true(run_until(base, pair_connected, &pr, 5000));

    /* Node 1 goes away for a second: 0 notices and keeps redialling, spaced out. */
    p2p_free(n[1].p2p);
    n[1].p2p = NULL;
    uint64_t t0 = mono_ms();
    while (n[0].disconnects == 0 && mono_ms() - t0 < 3000) {
        (void)event_base_loop(base, EVLOOP_ONCE);
    }
    assert_int_equal(n[0].disconnects, 1);
    run_for(base, 1000);
    struct p2p_peer_stats st;
    assert_int_equal(p2p_peer_stats(n[0].p2p, &n[1].pk, &st), ERR_OK);
    assert_int_equal(st.connects, 1);
    /* Back-off 40 ms doubling to 400 ms with jitter: about 5 attempts in that second (a fixed
     * 40 ms retry would make 25). */
    uint64_t dials_down = st.dials - 1;
    fprintf(stderr, "dials while down: %llu\n", (unsigned long long)dials_down);
    assert_true(dials_down >= 2 && dials_down <= 10);

    /* Back on the same port and key: the link resumes and carries frames in order. */
    struct p2p_options o;
    test_options(&o, &n[1], addr1);
    memset(n[1].received, 0, sizeof n[1].received);
    assert_int_equal(node_start(base, &n[1], &o), ERR_OK);
    node_wire(n, 1, 3, 0);
    assert_true(run_until(base, pair_connected, &pr, 5000));
    struct transfer ab = { &n[0], &n[1], 0, 2000 };
    assert_true(run_until(base, transfer_step, &ab, 10000));
    assert_false(n[1].out_of_order);
    assert_int_equal(p2p_peer_stats(n[0].p2p, &n[1].pk, &st), ERR_OK);
    assert_int_equal(st.connects, 2);
    nodes_release(n, 2);
    event_base_free(base);
}

static int
raw_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

struct raw_wait {
    int fd;
    bool closed;
};

static bool
raw_closed(void *ctx)
{
    struct raw_wait *w = ctx;
    uint8_t b[256];
    for (;;) {
        ssize_t r = recv(w->fd, b, sizeof b, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            w->closed = true;
            return true;
        }
        if (r < 0) {
            return false;
        }
    }
}

static void
test_bad_input_disconnects_only_that_peer(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct node n[3];
    node_keys(n, 3);
    node_start_default(base, &n[0]);
    node_start_default(base, &n[2]);
    /* Node 1 may send frames up to 1 MiB; node 0 takes 64 KiB. */
    struct p2p_options o;
    test_options(&o, &n[1], "127.0.0.1:0");
    o.frame_payload_size_max = 1024u * 1024u;
    o.peer_queue_bytes_max = (size_t)4u * 1024u * 1024u;
    assert_int_equal(node_start(base, &n[1], &o), ERR_OK);
    node_wire(n, 0, 7, 0);
    node_wire(n, 1, 7, 1);
    node_wire(n, 2, 7, 1);
    struct pair p01 = { &n[0], &n[1] };
    struct pair p02 = { &n[0], &n[2] };
    assert_true(run_until(base, pair_connected, &p01, 5000));
    assert_true(run_until(base, pair_connected, &p02, 5000));

    /* A plain TCP client writing junk: its connection is dropped, the members stay. */
    handshake_failed_lines = 0;
    int fd = raw_connect(p2p_listen_port(n[0].p2p));
    const char junk[] = "GET / HTTP/1.0\r\n\r\n\x16\x03\x01\xff\xff garbage";
    assert_true(write(fd, junk, sizeof junk) == (ssize_t)sizeof junk);
    struct raw_wait w = { fd, false };
    assert_true(run_until(base, raw_closed, &w, 3000));
    close(fd);
    assert_true(handshake_failed_lines >= 1);
    /* A client that connects and says nothing is dropped at the handshake deadline. */
    fd = raw_connect(p2p_listen_port(n[0].p2p));
    w.fd = fd;
    w.closed = false;
    uint64_t t0 = mono_ms();
    assert_true(run_until(base, raw_closed, &w, 5000));
    assert_true(mono_ms() - t0 >= 1500);
    close(fd);
    assert_true(pair_connected(&p01));
    assert_true(pair_connected(&p02));

    /* An oversized frame from an authenticated member: only that member is dropped. */
    bad_frame_lines = 0;
    uint8_t *big = mem_calloc(1, (size_t)100u * 1024u);
    assert_int_equal(p2p_send(n[1].p2p, &n[0].pk, FRAME_TX, big, (size_t)100u * 1024u), ERR_OK);
    mem_free(big);
    uint64_t t1 = mono_ms();
    while (p2p_is_connected(n[0].p2p, &n[1].pk) && mono_ms() - t1 < 3000) {
        (void)event_base_loop(base, EVLOOP_ONCE);
    }
    assert_false(p2p_is_connected(n[0].p2p, &n[1].pk));
    assert_true(bad_frame_lines >= 1);
    struct p2p_peer_stats st;
    assert_int_equal(p2p_peer_stats(n[0].p2p, &n[1].pk, &st), ERR_OK);
    assert_int_equal(st.malformed, 1);
    assert_true(pair_connected(&p02));
    struct transfer t = { &n[2], &n[0], 0, 1000 };
    assert_true(run_until(base, transfer_step, &t, 5000));
    assert_false(n[0].out_of_order);
    nodes_release(n, 3);
    event_base_free(base);
}

static void
test_full_queue(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct node n[2];
    node_keys(n, 2);
    struct p2p_options o;
    test_options(&o, &n[0], "127.0.0.1:0");
    o.peer_queue_bytes_max = (size_t)128u * 1024u;
    assert_int_equal(node_start(base, &n[0], &o), ERR_OK);
    node_start_default(base, &n[1]);
    node_wire(n, 0, 3, 2);
    node_wire(n, 1, 3, 0);
    struct pair pr = { &n[0], &n[1] };
    assert_true(run_until(base, pair_connected, &pr, 5000));
    /* Without running the loop node 1 reads nothing: the kernel buffers fill, then the queue,
     * then sends are refused instead of growing. */
    uint8_t payload[PAYLOAD_SIZE];
    uint64_t sent = 0;
    enum err rc = ERR_OK;
    for (uint64_t i = 0; i < 2000000 && rc == ERR_OK; i++) {
        make_payload(payload, sent);
        rc = p2p_send(n[0].p2p, &n[1].pk, FRAME_CONSENSUS, payload, sizeof payload);
        if (rc == ERR_OK) {
            sent++;
        }
    }
    assert_int_equal(rc, ERR_FULL);
    assert_int_equal(p2p_broadcast(n[0].p2p, NULL, FRAME_CONSENSUS, payload, sizeof payload),
                     ERR_FULL);
    struct p2p_peer_stats st;
    assert_int_equal(p2p_peer_stats(n[0].p2p, &n[1].pk, &st), ERR_OK);
    assert_true(st.queue_bytes <= o.peer_queue_bytes_max);
    assert_int_equal(st.drops, 2);
    /* Once the peer reads, the queue drains, on_drain fires and everything arrives. */
    struct transfer t = { &n[0], &n[1], sent, sent + 1000 };
    assert_true(run_until(base, transfer_step, &t, 20000));
    assert_true(n[0].drains >= 1);
    assert_false(n[1].out_of_order);
    nodes_release(n, 2);
    event_base_free(base);
}

struct raw_set {
    const int *fds;
    unsigned count;
};

static unsigned
raw_closed_count(const struct raw_set *s)
{
    unsigned closed = 0;
    for (unsigned i = 0; i < s->count; i++) {
        struct raw_wait w = { s->fds[i], false };
        closed += raw_closed(&w) ? 1u : 0u;
    }
    return closed;
}

static bool
raw_two_closed(void *ctx)
{
    return raw_closed_count(ctx) >= 2;
}

/* Unauthenticated connections beyond handshakes_max are dropped at once; members still get
 * in. */
static void
test_handshake_cap(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct node n[2];
    node_keys(n, 2);
    struct p2p_options o;
    test_options(&o, &n[0], "127.0.0.1:0");
    o.handshakes_max = 2;
    o.handshake_timeout_ms = 3000;
    assert_int_equal(node_start(base, &n[0], &o), ERR_OK);
    node_start_default(base, &n[1]);
    int fds[4];
    for (unsigned i = 0; i < 4; i++) {
        fds[i] = raw_connect(p2p_listen_port(n[0].p2p));
    }
    struct raw_set set = { fds, 4 };
    assert_true(run_until(base, raw_two_closed, &set, 2000));
    run_for(base, 100);
    assert_int_equal(raw_closed_count(&set), 2); /* the first two wait for their handshake */
    for (unsigned i = 0; i < 4; i++) {
        close(fds[i]);
    }
    node_wire(n, 0, 3, 0);
    node_wire(n, 1, 3, 1);
    struct pair pr = { &n[0], &n[1] };
    assert_true(run_until(base, pair_connected, &pr, 5000));
    nodes_release(n, 2);
    event_base_free(base);
}

/* The stuck member of test_stuck_peer_dropped: a separate process that connects, runs its
 * loop for a second and then never reads again. */
static void
stuck_child(struct node *n, int port_fd)
{
    alarm(30);
    struct event_base *base = event_base_new();
    struct p2p_options o;
    test_options(&o, &n[1], "127.0.0.1:0");
    struct p2p_callbacks cb = { on_frame, on_connect, on_disconnect, on_drain, &n[1] };
    struct public_key keys[2] = { n[0].pk, n[1].pk };
    if (p2p_new(base, &o, &cb, &n[1].p2p) != ERR_OK ||
        p2p_set_allowed_keys(n[1].p2p, keys, 2) != ERR_OK) {
        _exit(1);
    }
    uint16_t port = p2p_listen_port(n[1].p2p);
    if (write(port_fd, &port, sizeof port) != (ssize_t)sizeof port) {
        _exit(1);
    }
    uint64_t until = mono_ms() + 10000;
    while (n[1].connects == 0 && mono_ms() < until) {
        (void)event_base_loop(base, EVLOOP_ONCE);
    }
    run_for(base, 200);
    pause(); /* the parent kills us */
    _exit(0);
}

/* A member that stops reading: its queue fills, sends answer ERR_FULL, and after
 * write_timeout_ms it is dropped, so a stuck peer cannot hold memory. */
static void
test_stuck_peer_dropped(void **state)
{
    (void)state;
    struct node n[2];
    node_keys(n, 2);
    int ports[2];
    assert_int_equal(pipe(ports), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        stuck_child(n, ports[1]);
    }
    uint16_t port = 0;
    assert_int_equal(read(ports[0], &port, sizeof port), sizeof port);
    struct event_base *base = event_base_new();
    struct p2p_options o;
    test_options(&o, &n[0], NULL);
    o.peer_queue_bytes_max = (size_t)256u * 1024u;
    o.write_timeout_ms = 400;
    assert_int_equal(node_start(base, &n[0], &o), ERR_OK);
    node_wire(n, 0, 3, 0);
    char addr[P2P_ADDRESS_TEXT_MAX];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)port);
    assert_int_equal(p2p_add_peer(n[0].p2p, &n[1].pk, addr), ERR_OK);
    uint64_t t0 = mono_ms();
    while (!p2p_is_connected(n[0].p2p, &n[1].pk) && mono_ms() - t0 < 5000) {
        (void)event_base_loop(base, EVLOOP_ONCE);
    }
    assert_true(p2p_is_connected(n[0].p2p, &n[1].pk));
    run_for(base, 1200); /* the child is stuck now */
    /* Keep the queue full until the kernel's socket buffers (several MB on loopback) are full
     * too; from then on nothing drains and the write timeout drops the peer. */
    uint8_t payload[PAYLOAD_SIZE];
    memset(payload, 1, sizeof payload);
    uint64_t full = 0;
    uint64_t deadline = mono_ms() + 15000;
    while (p2p_is_connected(n[0].p2p, &n[1].pk) && mono_ms() < deadline) {
        enum err rc = p2p_send(n[0].p2p, &n[1].pk, FRAME_CONSENSUS, payload, sizeof payload);
        if (rc == ERR_FULL) {
            full++;
            run_for(base, 20);
        } else {
            assert_int_equal(rc, ERR_OK);
        }
    }
    assert_true(full > 0);
    assert_false(p2p_is_connected(n[0].p2p, &n[1].pk));
    assert_int_equal(n[0].disconnects, 1);
    kill(child, SIGKILL);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    close(ports[0]);
    close(ports[1]);
    p2p_free(n[0].p2p);
    event_base_free(base);
    secret_key_free(n[0].sk);
    secret_key_free(n[1].sk);
}

static bool
gossip_done(void *ctx)
{
    struct node *n = ctx;
    return n[1].gossip_relayed == 1 && n[2].gossip_relayed == 1 && n[1].gossip_dups == 1 &&
           n[2].gossip_dups == 1;
}

static bool
mesh3_connected(void *ctx)
{
    struct node *n = ctx;
    return p2p_connected_count(n[0].p2p) == 2 && p2p_connected_count(n[1].p2p) == 2 &&
           p2p_connected_count(n[2].p2p) == 2;
}

static void
test_gossip_relays_once(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct node n[3];
    node_keys(n, 3);
    for (unsigned i = 0; i < 3; i++) {
        node_start_default(base, &n[i]);
        n[i].relay_gossip = true;
    }
    node_wire(n, 0, 7, 6);
    node_wire(n, 1, 7, 5);
    node_wire(n, 2, 7, 3);
    assert_true(run_until(base, mesh3_connected, n, 5000));
    uint8_t tx[PAYLOAD_SIZE];
    make_payload(tx, 77);
    struct hash id;
    memset(&id, 0, sizeof id);
    memcpy(id.bytes, tx, 8);
    assert_int_equal(p2p_gossip(n[0].p2p, NULL, &id, FRAME_TX, tx, sizeof tx), ERR_OK);
    assert_int_equal(p2p_gossip(n[0].p2p, NULL, &id, FRAME_TX, tx, sizeof tx), ERR_EXISTS);
    assert_true(p2p_gossip_seen(n[0].p2p, &id));
    assert_true(run_until(base, gossip_done, n, 5000));
    run_for(base, 200);
    /* 1 and 2 each relayed once (not back to 0) and saw the other's relay as a duplicate. */
    assert_true(gossip_done(n));
    assert_int_equal(n[0].gossip_relayed + n[0].gossip_dups, 0);
    nodes_release(n, 3);
    event_base_free(base);
}

/* ---- separate processes ---- */

#define FORK_FRAMES 5000u

static int
child_fail(const char *what)
{
    fprintf(stderr, "child: %s\n", what);
    return 1;
}

struct mesh_wait {
    struct node *n;
    unsigned count;
    uint64_t frames;
};

static bool
mesh_all_received(void *ctx)
{
    struct mesh_wait *w = ctx;
    for (unsigned j = 0; j < w->count; j++) {
        if (j != w->n->index && w->n->received[j] < w->frames) {
            return false;
        }
    }
    return true;
}

static bool
mesh_all_sent(const uint64_t *sent, unsigned count, unsigned self)
{
    for (unsigned j = 0; j < count; j++) {
        if (j != self && sent[j] < FORK_FRAMES) {
            return false;
        }
    }
    return true;
}

/* Sends frames to `to` until its queue is full (back-pressure: the loop drains it, then we
 * go on) or all are queued. False on any other error. */
static bool
mesh_send_to(struct node *n, const struct node *to, uint64_t *sent)
{
    uint8_t payload[PAYLOAD_SIZE];
    while (*sent < FORK_FRAMES) {
        make_payload(payload, *sent);
        enum err rc = p2p_send(n->p2p, &to->pk, FRAME_CONSENSUS, payload, sizeof payload);
        if (rc == ERR_FULL) {
            return true;
        }
        if (rc != ERR_OK) {
            return false;
        }
        (*sent)++;
    }
    return true;
}

static bool
mesh_node_connected(void *ctx)
{
    struct mesh_wait *w = ctx;
    return p2p_connected_count(w->n->p2p) == w->count - 1;
}

/* One node of the forked mesh: learns the ports from the parent, connects to everyone,
 * broadcasts FORK_FRAMES frames and waits to receive FORK_FRAMES from each peer in order.
 * Returns the exit code. */
static int
mesh_child(struct node *nodes, unsigned count, unsigned i, int port_out, int ports_in)
{
    struct event_base *base = event_base_new();
    struct node *n = &nodes[i];
    struct p2p_options o;
    test_options(&o, n, "127.0.0.1:0");
    if (node_start(base, n, &o) != ERR_OK) {
        return child_fail("start");
    }
    uint16_t port = p2p_listen_port(n->p2p);
    uint16_t ports[NODES_MAX];
    if (write(port_out, &port, sizeof port) != (ssize_t)sizeof port ||
        read(ports_in, ports, sizeof ports[0] * count) != (ssize_t)(sizeof ports[0] * count)) {
        return child_fail("pipe");
    }
    struct public_key keys[NODES_MAX];
    for (unsigned j = 0; j < count; j++) {
        keys[j] = nodes[j].pk;
    }
    if (p2p_set_allowed_keys(n->p2p, keys, count) != ERR_OK) {
        return child_fail("allow");
    }
    for (unsigned j = 0; j < count; j++) {
        char addr[P2P_ADDRESS_TEXT_MAX];
        snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)ports[j]);
        if (j != i && p2p_add_peer(n->p2p, &nodes[j].pk, addr) != ERR_OK) {
            return child_fail("add peer");
        }
    }
    struct mesh_wait w = { n, count, FORK_FRAMES };
    if (!run_until(base, mesh_node_connected, &w, 10000)) {
        return child_fail("connect");
    }
    run_for(base, 300); /* let duplicate links settle before streaming */
    uint64_t sent[NODES_MAX] = { 0 };
    uint64_t deadline = mono_ms() + 30000;
    while (!mesh_all_received(&w) || !mesh_all_sent(sent, count, i)) {
        if (mono_ms() >= deadline) {
            break;
        }
        for (unsigned j = 0; j < count; j++) {
            if (j != i && !mesh_send_to(n, &nodes[j], &sent[j])) {
                return child_fail("send");
            }
        }
        (void)event_base_loop(base, EVLOOP_ONCE);
    }
    int code = mesh_all_received(&w) && !n->out_of_order ? 0 : child_fail("frames");
    run_for(base, 300); /* let the others finish receiving from us */
    p2p_free(n->p2p);
    n->p2p = NULL;
    event_base_free(base);
    return code;
}

static void
run_forked_mesh(unsigned count)
{
    struct node nodes[NODES_MAX];
    node_keys(nodes, count);
    int to_parent[NODES_MAX][2];
    int to_child[NODES_MAX][2];
    pid_t pids[NODES_MAX];
    for (unsigned i = 0; i < count; i++) {
        assert_int_equal(pipe(to_parent[i]), 0);
        assert_int_equal(pipe(to_child[i]), 0);
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            alarm(60); /* a hung child dies */
            int code = mesh_child(nodes, count, i, to_parent[i][1], to_child[i][0]);
            _exit(code);
        }
        close(to_parent[i][1]);
        close(to_child[i][0]);
    }
    uint16_t ports[NODES_MAX];
    for (unsigned i = 0; i < count; i++) {
        assert_int_equal(read(to_parent[i][0], &ports[i], sizeof ports[i]), sizeof ports[i]);
    }
    for (unsigned i = 0; i < count; i++) {
        assert_int_equal(write(to_child[i][1], ports, sizeof ports[0] * count),
                         (ssize_t)(sizeof ports[0] * count));
    }
    for (unsigned i = 0; i < count; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        close(to_parent[i][0]);
        close(to_child[i][1]);
    }
    for (unsigned i = 0; i < count; i++) {
        secret_key_free(nodes[i].sk);
    }
}

static void
test_two_processes(void **state)
{
    (void)state;
    run_forked_mesh(2);
}

static void
test_four_processes(void **state)
{
    (void)state;
    run_forked_mesh(4);
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_sink(capture_sink, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_codec),
        cmocka_unit_test(test_frame_txs),
        cmocka_unit_test(test_seen_set),
        cmocka_unit_test(test_options_checked),
        cmocka_unit_test(test_two_nodes_in_order),
        cmocka_unit_test(test_host_names),
        cmocka_unit_test(test_small_frame_limit_streams),
        cmocka_unit_test(test_unregistered_refused),
        cmocka_unit_test(test_remove_key_closes_link),
        cmocka_unit_test(test_redial_with_backoff),
        cmocka_unit_test(test_bad_input_disconnects_only_that_peer),
        cmocka_unit_test(test_full_queue),
        cmocka_unit_test(test_handshake_cap),
        cmocka_unit_test(test_stuck_peer_dropped),
        cmocka_unit_test(test_gossip_relays_once),
        cmocka_unit_test(test_two_processes),
        cmocka_unit_test(test_four_processes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
