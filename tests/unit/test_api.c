/* Unit tests of api/: the HTTP server on 127.0.0.1:0 in a loop thread, with a test backend
 * over in-memory data (a tiny "chain": blocks, a mempool that checks a MAC standing in for
 * the signature, nonces and capacity, and finality driven by the test), driven through the
 * client helper and raw sockets. */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/api_body.h"
#include "api/client.h"
#include "base/clock.h"
#include "base/mem.h"
#include "base/reader.h"
#include "base/text.h"
#include "crypto/hash.h"
#include "unit.h"

/* ---- The test backend ------------------------------------------------------------------ */

#define TB_BLOCKS      4
#define TB_TXS_MAX     16
#define TB_WAITERS_MAX 8
#define TB_SENDERS     3
#define TX_SIZE        46 /* kind, sender, nonce[8], payload[4], mac[32] */
#define TX_KIND        0x01

struct tb_tx {
    struct hash hash;
    bool final;
    uint64_t height;
    uint32_t index;
};

struct tb_waiter {
    bool used;
    struct hash hash;
    api_tx_final_fn *cb;
    void *cb_ctx;
};

struct test_backend {
    struct api_status status;
    struct hash block_ids[TB_BLOCKS];
    struct tb_tx txs[TB_TXS_MAX];
    size_t tx_count;
    uint32_t pending_max; /* mempool capacity */
    uint64_t nonces[TB_SENDERS + 1];
    struct tb_waiter waiters[TB_WAITERS_MAX];
    size_t submit_calls;
    size_t cancels;
    enum err status_rc; /* what status() answers; ERR_AGAIN while "starting" */
};

static size_t
tb_pending_count(const struct test_backend *tb)
{
    size_t n = 0;
    for (size_t i = 0; i < tb->tx_count; i++) {
        n += tb->txs[i].final ? 0u : 1u;
    }
    return n;
}

static size_t
tb_waiters_count(const struct test_backend *tb)
{
    size_t n = 0;
    for (size_t i = 0; i < TB_WAITERS_MAX; i++) {
        n += tb->waiters[i].used ? 1u : 0u;
    }
    return n;
}

static enum err
tb_status(void *ctx, struct api_status *out)
{
    struct test_backend *tb = ctx;
    if (tb->status_rc != ERR_OK) {
        return tb->status_rc;
    }
    *out = tb->status;
    out->mempool_txs = (uint32_t)tb_pending_count(tb);
    return ERR_OK;
}

static json_t *
hex_json(const uint8_t *data, size_t size)
{
    char text[2 * TX_SIZE + 1];
    assert_true(size <= TX_SIZE);
    hex_encode(data, size, text);
    return json_string(text);
}

static json_t *
hash_hex_json(const struct hash *h)
{
    return hex_json(h->bytes, HASH_SIZE);
}

static enum err
tb_block_get(void *ctx, const struct api_block_query *q, json_t **out_block)
{
    struct test_backend *tb = ctx;
    uint64_t height = q->height;
    if (q->by_id) {
        height = TB_BLOCKS;
        for (uint64_t i = 0; i < TB_BLOCKS; i++) {
            if (hash_equal(&tb->block_ids[i], &q->id)) {
                height = i;
            }
        }
    }
    if (height >= TB_BLOCKS) {
        return ERR_NOT_FOUND;
    }
    json_t *hashes = json_array();
    json_t *txs = json_array();
    for (size_t i = 0; i < tb->tx_count; i++) {
        if (tb->txs[i].final && tb->txs[i].height == height) {
            json_array_append_new(hashes, hash_hex_json(&tb->txs[i].hash));
            json_array_append_new(txs, hash_hex_json(&tb->txs[i].hash));
        }
    }
    json_t *block = json_pack("{s:I,s:o,s:I,s:o,s:{s:I}}", "height", (json_int_t)height, "id",
                              hash_hex_json(&tb->block_ids[height]), "epoch", (json_int_t)1,
                              "tx_hashes", hashes, "commit_cert", "round", (json_int_t)height);
    if (q->with_txs) {
        json_object_set_new(block, "txs", txs);
    } else {
        json_decref(txs);
    }
    *out_block = block;
    return ERR_OK;
}

static struct tb_tx *
tb_find(struct test_backend *tb, const struct hash *h)
{
    for (size_t i = 0; i < tb->tx_count; i++) {
        if (hash_equal(&tb->txs[i].hash, h)) {
            return &tb->txs[i];
        }
    }
    return NULL;
}

static enum err
tb_admit(struct test_backend *tb, const struct api_tx_in *in, struct api_tx_result *out)
{
    if (in->size != TX_SIZE || in->bytes[0] != TX_KIND) {
        return ERR_MALFORMED;
    }
    hash_bytes(HASH_SHA256, in->bytes, in->size, &out->hash);
    out->has_hash = true;
    struct hash mac;
    hash_bytes(HASH_SHA256, in->bytes, TX_SIZE - HASH_SIZE, &mac);
    if (memcmp(mac.bytes, in->bytes + TX_SIZE - HASH_SIZE, HASH_SIZE) != 0) {
        return ERR_BAD_SIGNATURE;
    }
    uint8_t sender = in->bytes[1];
    if (sender == 0 || sender > TB_SENDERS) {
        return ERR_UNKNOWN_SENDER;
    }
    uint64_t nonce = 0;
    for (int i = 7; i >= 0; i--) {
        nonce = (nonce << 8) | in->bytes[2 + i];
    }
    if (tb_find(tb, &out->hash) != NULL) {
        return ERR_EXISTS;
    }
    if (nonce <= tb->nonces[sender]) {
        return ERR_STALE_NONCE;
    }
    if (tb_pending_count(tb) >= tb->pending_max || tb->tx_count == TB_TXS_MAX) {
        return ERR_FULL;
    }
    tb->nonces[sender] = nonce;
    tb->txs[tb->tx_count++] = (struct tb_tx){ .hash = out->hash };
    return ERR_OK;
}

static void
tb_txs_submit(void *ctx, const struct api_tx_in *txs, size_t count, struct api_tx_result *out)
{
    struct test_backend *tb = ctx;
    assert_true(count >= 1);
    tb->submit_calls++;
    for (size_t i = 0; i < count; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].rc = tb_admit(tb, &txs[i], &out[i]);
    }
}

static void
tb_tx_status(const struct tb_tx *tx, struct api_tx_status *out)
{
    memset(out, 0, sizeof *out);
    if (tx == NULL) {
        out->state = API_TX_UNKNOWN;
        return;
    }
    out->state = tx->final ? API_TX_FINAL : API_TX_PENDING;
    if (tx->final) {
        out->height = tx->height;
        out->index = tx->index;
        out->receipt = json_pack("{s:b,s:I}", "ok", 1, "gas", (json_int_t)21);
    }
}

static enum err
tb_tx_get(void *ctx, const struct hash *h, struct api_tx_status *out)
{
    struct test_backend *tb = ctx;
    tb_tx_status(tb_find(tb, h), out);
    if (out->state == API_TX_FINAL) {
        out->block_id = tb->block_ids[out->height];
    }
    return ERR_OK;
}

static enum err
tb_tx_wait(void *ctx, const struct hash *h, api_tx_final_fn *cb, void *cb_ctx)
{
    struct test_backend *tb = ctx;
    for (size_t i = 0; i < TB_WAITERS_MAX; i++) {
        if (!tb->waiters[i].used) {
            tb->waiters[i] = (struct tb_waiter){ true, *h, cb, cb_ctx };
            return ERR_OK;
        }
    }
    return ERR_FULL;
}

static void
tb_tx_wait_cancel(void *ctx, const struct hash *h, const void *cb_ctx)
{
    struct test_backend *tb = ctx;
    for (size_t i = 0; i < TB_WAITERS_MAX; i++) {
        if (tb->waiters[i].used && tb->waiters[i].cb_ctx == cb_ctx &&
            hash_equal(&tb->waiters[i].hash, h)) {
            tb->waiters[i].used = false;
            tb->cancels++;
        }
    }
}

/* Makes `h` final in block 3 and calls its waiters (on the loop thread). */
static void
tb_finalize(struct test_backend *tb, const struct hash *h)
{
    struct tb_tx *tx = tb_find(tb, h);
    if (tx == NULL) {
        fail_msg("finalize of an unknown tx");
        return;
    }
    tx->final = true;
    tx->height = 3;
    tx->index = 0;
    struct api_tx_status st;
    tb_tx_get(tb, h, &st);
    for (size_t i = 0; i < TB_WAITERS_MAX; i++) {
        if (tb->waiters[i].used && hash_equal(&tb->waiters[i].hash, h)) {
            tb->waiters[i].used = false;
            tb->waiters[i].cb(tb->waiters[i].cb_ctx, &st);
        }
    }
    json_decref(st.receipt);
}

static enum err
tb_tx_inclusion(void *ctx, uint64_t height, uint32_t index, json_t **out_proof)
{
    (void)ctx;
    *out_proof = json_pack("{s:I,s:I}", "height", (json_int_t)height, "index", (json_int_t)index);
    return ERR_OK;
}

static enum err
tb_account_get(void *ctx, const uint8_t *address, json_t **out_account)
{
    (void)ctx;
    if (address[0] != 0xaa) {
        return ERR_NOT_FOUND;
    }
    *out_account = json_pack("{s:i}", "nonce", 3);
    return ERR_OK;
}

static enum err
tb_notary_get(void *ctx, const struct hash *document, json_t **out_anchors)
{
    (void)ctx;
    (void)document;
    (void)out_anchors;
    return ERR_NOT_FOUND;
}

static enum err
tb_validators_get(void *ctx, bool has_epoch, uint64_t epoch, json_t **out_set)
{
    (void)ctx;
    if (has_epoch && epoch != 1) {
        return ERR_NOT_FOUND;
    }
    *out_set = json_pack("{s:i}", "epoch", 1);
    return ERR_OK;
}

static void
tb_init(struct test_backend *tb, struct api_backend *out)
{
    memset(tb, 0, sizeof *tb);
    snprintf(tb->status.chain_id, sizeof tb->status.chain_id, "lianmeng-test");
    snprintf(tb->status.node_name, sizeof tb->status.node_name, "node-1");
    hash_bytes(HASH_SHA256, "genesis", 7, &tb->status.genesis_hash);
    tb->status.hash_alg = HASH_SHA256;
    for (uint64_t i = 0; i < TB_BLOCKS; i++) {
        hash_bytes(HASH_SHA256, &i, sizeof i, &tb->block_ids[i]);
    }
    tb->status.final_height = TB_BLOCKS - 1;
    tb->status.final_id = tb->block_ids[TB_BLOCKS - 1];
    tb->status.epoch = 1;
    tb->status.round = 7;
    tb->status.is_validator = true;
    tb->status.peers_connected = 3;
    tb->status.sync_state = API_SYNC_SYNCED;
    tb->status.sync_target_height = TB_BLOCKS - 1;
    tb->pending_max = 6;
    *out = (struct api_backend){ .ctx = tb,
                                 .status = tb_status,
                                 .block_get = tb_block_get,
                                 .txs_submit = tb_txs_submit,
                                 .tx_get = tb_tx_get,
                                 .tx_wait = tb_tx_wait,
                                 .tx_wait_cancel = tb_tx_wait_cancel,
                                 .tx_inclusion = tb_tx_inclusion,
                                 .account_get = tb_account_get,
                                 .validators_get = tb_validators_get,
                                 .notary_get = tb_notary_get };
}

/* A test transaction; good_mac false gives a bad "signature". */
static void
tx_make(uint8_t sender, uint64_t nonce, uint8_t payload, bool good_mac, uint8_t out[TX_SIZE])
{
    memset(out, 0, TX_SIZE);
    out[0] = TX_KIND;
    out[1] = sender;
    for (int i = 0; i < 8; i++) {
        out[2 + i] = (uint8_t)(nonce >> (8 * i));
    }
    memset(out + 10, payload, 4);
    struct hash mac;
    hash_bytes(HASH_SHA256, out, TX_SIZE - HASH_SIZE, &mac);
    memcpy(out + TX_SIZE - HASH_SIZE, mac.bytes, HASH_SIZE);
    if (!good_mac) {
        out[TX_SIZE - 1] ^= 1;
    }
}

static void
tx_hex(const uint8_t tx[TX_SIZE], char out[2 * TX_SIZE + 1])
{
    hex_encode(tx, TX_SIZE, out);
}

static void
tx_hash_hex(const uint8_t tx[TX_SIZE], char out[2 * HASH_SIZE + 1])
{
    struct hash h;
    hash_bytes(HASH_SHA256, tx, TX_SIZE, &h);
    hash_to_hex(&h, out);
}

/* ---- The fixture: server + backend on a loop thread ------------------------------------- */

struct fixture {
    struct event_base *base;
    struct event *keepalive;
    struct api_server *server;
    struct test_backend tb;
    struct api_backend backend;
    struct api_client client;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    bool done;
};

static void *
loop_main(void *arg)
{
    struct fixture *f = arg;
    event_base_dispatch(f->base);
    return NULL;
}

static void
keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static void
fixture_start(struct fixture *f, const struct api_options *options)
{
    memset(f, 0, sizeof *f);
    assert_int_equal(evthread_use_pthreads(), 0);
    f->base = event_base_new();
    assert_non_null(f->base);
    f->keepalive = event_new(f->base, -1, EV_PERSIST, keepalive_cb, NULL);
    struct timeval hour = { 3600, 0 };
    event_add(f->keepalive, &hour);
    tb_init(&f->tb, &f->backend);
    assert_int_equal(api_server_new(f->base, options, &f->backend, &f->server), ERR_OK);
    assert_true(api_server_port(f->server) != 0);
    assert_int_equal(api_client_init(&f->client, "127.0.0.1:1"), ERR_OK);
    f->client.port = api_server_port(f->server);
    f->client.timeout_ms = 5000;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->done_cond, NULL);
    assert_int_equal(pthread_create(&f->thread, NULL, loop_main, f), 0);
}

static void
fixture_options(struct api_options *o)
{
    api_options_default(o);
    o->bind_address = "127.0.0.1:0";
    o->body_size_max = 4096;
    o->header_size_max = 1024;
    o->connections_max = 8;
    o->request_timeout_ms = 2000;
    o->wait_final_timeout_ms = 3000;
    o->batch_txs_max = 8;
}

static void
fixture_start_default(struct fixture *f)
{
    struct api_options o;
    fixture_options(&o);
    fixture_start(f, &o);
}

/* Stops the loop, frees the server on this thread, checks nothing is left waiting. */
static void
fixture_stop(struct fixture *f)
{
    event_base_loopbreak(f->base);
    pthread_join(f->thread, NULL);
    api_server_free(f->server);
    assert_int_equal(tb_waiters_count(&f->tb), 0);
    event_free(f->keepalive);
    event_base_free(f->base);
    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->done_cond);
}

struct on_loop_call {
    struct fixture *f;
    void (*fn)(struct fixture *f, void *arg);
    void *arg;
};

static void
on_loop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct on_loop_call *call = arg;
    call->fn(call->f, call->arg);
    pthread_mutex_lock(&call->f->lock);
    call->f->done = true;
    pthread_cond_signal(&call->f->done_cond);
    pthread_mutex_unlock(&call->f->lock);
}

/* Runs fn on the loop thread and waits for it. */
static void
on_loop(struct fixture *f, void (*fn)(struct fixture *f, void *arg), void *arg)
{
    struct on_loop_call call = { f, fn, arg };
    pthread_mutex_lock(&f->lock);
    f->done = false;
    pthread_mutex_unlock(&f->lock);
    struct timeval now = { 0, 0 };
    assert_int_equal(event_base_once(f->base, -1, EV_TIMEOUT, on_loop_cb, &call, &now), 0);
    pthread_mutex_lock(&f->lock);
    while (!f->done) {
        pthread_cond_wait(&f->done_cond, &f->lock);
    }
    pthread_mutex_unlock(&f->lock);
}

static void
finalize_fn(struct fixture *f, void *arg)
{
    const uint8_t *tx = arg;
    struct hash h;
    hash_bytes(HASH_SHA256, tx, TX_SIZE, &h);
    tb_finalize(&f->tb, &h);
}

static void
stats_fn(struct fixture *f, void *arg)
{
    api_server_stats(f->server, arg);
}

static void
sleep_ms(uint32_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L };
    nanosleep(&ts, NULL);
}

/* ---- Response helpers ------------------------------------------------------------------ */

/* Parses the response body; asserts the JSON content type. */
static json_t *
body_json(const struct api_client_response *r)
{
    assert_string_equal(r->content_type, "application/json");
    json_error_t error;
    json_t *v = json_loadb((const char *)r->body, r->body_size, 0, &error);
    if (v == NULL) {
        fprintf(stderr, "not JSON: %.*s\n", (int)r->body_size, (const char *)r->body);
    }
    assert_non_null(v);
    return v;
}

/* Asserts {"error":{"code":code,"message":"..."}} (other keys allowed beside "error"). */
static void
assert_error_shape(json_t *v, const char *code)
{
    json_t *e = json_object_get(v, "error");
    assert_true(json_is_object(e));
    assert_int_equal(json_object_size(e), 2);
    assert_true(json_is_string(json_object_get(e, "code")));
    assert_true(json_is_string(json_object_get(e, "message")));
    assert_true(json_string_length(json_object_get(e, "message")) > 0);
    if (strcmp(json_string_value(json_object_get(e, "code")), code) != 0) {
        fprintf(stderr, "code %s, expected %s\n", json_string_value(json_object_get(e, "code")),
                code);
    }
    assert_string_equal(json_string_value(json_object_get(e, "code")), code);
}

static void
expect_get(struct fixture *f, const char *path, int status, const char *code)
{
    struct api_client_response r;
    assert_int_equal(api_client_get(&f->client, path, &r), ERR_OK);
    if (r.status != status) {
        fprintf(stderr, "GET %s: %d %s\n", path, r.status, (const char *)r.body);
    }
    assert_int_equal(r.status, status);
    json_t *v = body_json(&r);
    if (code != NULL) {
        assert_error_shape(v, code);
    }
    json_decref(v);
    api_client_response_release(&r);
}

/* POSTs `json` to path; returns the parsed body and checks the status. */
static json_t *
post_json(struct fixture *f, const char *path, const char *json, int status)
{
    struct api_client_response r;
    assert_int_equal(api_client_post_json(&f->client, path, json, &r), ERR_OK);
    if (r.status != status) {
        fprintf(stderr, "POST %s %s: %d %s\n", path, json, r.status, (const char *)r.body);
    }
    assert_int_equal(r.status, status);
    json_t *v = body_json(&r);
    api_client_response_release(&r);
    return v;
}

static void
expect_post_error(struct fixture *f, const char *json, int status, const char *code)
{
    json_t *v = post_json(f, "/v1/txs", json, status);
    assert_error_shape(v, code);
    json_decref(v);
}

/* ---- Raw sockets ------------------------------------------------------------------------ */

static int
raw_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void
raw_send(int fd, const void *data, size_t size)
{
    assert_int_equal(send(fd, data, size, MSG_NOSIGNAL), (ssize_t)size);
}

/* Reads until EOF or timeout; returns the byte count (NUL-terminated in out). -1 on reset. */
static ssize_t
raw_read_all(int fd, uint32_t timeout_ms, char *out, size_t out_max)
{
    size_t size = 0;
    memset(out, 0, out_max);
    uint64_t deadline = clock_monotonic_ms(clock_system()) + timeout_ms;
    while (size + 1 < out_max) {
        uint64_t now = clock_monotonic_ms(clock_system());
        if (now >= deadline) {
            break;
        }
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, (int)(deadline - now)) <= 0) {
            break;
        }
        ssize_t n = recv(fd, out + size, out_max - 1 - size, 0);
        if (n < 0) {
            return errno == ECONNRESET && size == 0 ? -1 : (ssize_t)size;
        }
        if (n == 0) {
            break;
        }
        size += (size_t)n;
    }
    out[size] = '\0';
    return (ssize_t)size;
}

/* True when the peer closed (EOF or reset) within timeout_ms. */
static bool
raw_closed_within(int fd, uint32_t timeout_ms)
{
    char byte[512];
    uint64_t deadline = clock_monotonic_ms(clock_system()) + timeout_ms;
    for (;;) {
        uint64_t now = clock_monotonic_ms(clock_system());
        if (now >= deadline) {
            return false;
        }
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, (int)(deadline - now)) <= 0) {
            return false;
        }
        ssize_t n = recv(fd, byte, sizeof byte, 0);
        if (n <= 0) {
            return true;
        }
    }
}

static int
raw_status(const char *response)
{
    if (strnlen(response, 12) < 12 || strncmp(response, "HTTP/1.", 7) != 0) {
        return 0;
    }
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (response[i] < '0' || response[i] > '9') {
            return 0;
        }
        status = status * 10 + (response[i] - '0');
    }
    return status;
}

static json_t *
raw_body_json(const char *response)
{
    const char *body = strstr(response, "\r\n\r\n");
    assert_non_null(body);
    assert_non_null(strstr(response, "Content-Type: application/json"));
    json_error_t error;
    json_t *v = json_loads(body + 4, 0, &error);
    assert_non_null(v);
    return v;
}

/* ---- Tests ------------------------------------------------------------------------------- */

static void
test_status(void **state)
{
    (void)state;
    struct fixture f;
    fixture_start_default(&f);
    struct api_client_response r;
    assert_int_equal(api_client_get(&f.client, "/v1/status", &r), ERR_OK);
    assert_int_equal(r.status, 200);
    json_t *v = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(v, "chain_id")), "lianmeng-test");
    assert_string_equal(json_string_value(json_object_get(v, "node_name")), "node-1");
    char hex[2 * HASH_SIZE + 1];
    hash_to_hex(&f.tb.status.genesis_hash, hex);
    assert_string_equal(json_string_value(json_object_get(v, "genesis_hash")), hex);
    json_t *fin = json_object_get(v, "final");
    assert_int_equal(json_integer_value(json_object_get(fin, "height")), 3);
    hash_to_hex(&f.tb.block_ids[3], hex);
    assert_string_equal(json_string_value(json_object_get(fin, "id")), hex);
    assert_int_equal(json_integer_value(json_object_get(v, "round")), 7);
    assert_true(json_is_true(json_object_get(v, "validator")));
    assert_int_equal(json_integer_value(json_object_get(v, "peers")), 3);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "mempool"), "txs")), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "sync"), "state")),
                        "synced");
    json_decref(v);
    api_client_response_release(&r);
    expect_get(&f, "/v1/status?x=1", 400, "invalid_argument");
    fixture_stop(&f);
}

static void
test_blocks(void **state)
{
    (void)state;
    struct fixture f;
    fixture_start_default(&f);
    struct api_client_response r;
    assert_int_equal(api_client_get(&f.client, "/v1/blocks/2", &r), ERR_OK);
    assert_int_equal(r.status, 200);
    json_t *v = body_json(&r);
    assert_int_equal(json_integer_value(json_object_get(v, "height")), 2);
    assert_null(json_object_get(v, "txs"));
    assert_true(json_is_object(json_object_get(v, "commit_cert")));
    const char *id = json_string_value(json_object_get(v, "id"));
    char path[128];
    snprintf(path, sizeof path, "/v1/blocks/by-id/%s?txs=1", id);
    api_client_response_release(&r);
    json_decref(v);

    assert_int_equal(api_client_get(&f.client, path, &r), ERR_OK);
    assert_int_equal(r.status, 200);
    v = body_json(&r);
    assert_int_equal(json_integer_value(json_object_get(v, "height")), 2);
    assert_true(json_is_array(json_object_get(v, "txs")));
    json_decref(v);
    api_client_response_release(&r);

    expect_get(&f, "/v1/blocks/0", 200, NULL);
    expect_get(&f, "/v1/blocks/4", 404, "not_found");
    expect_get(&f, "/v1/blocks/abc", 400, "malformed");
    expect_get(&f, "/v1/blocks/01", 400, "malformed");
    expect_get(&f, "/v1/blocks/-1", 400, "malformed");
    expect_get(&f, "/v1/blocks/99999999999999999999", 400, "malformed");
    expect_get(&f, "/v1/blocks/", 400, "malformed");
    expect_get(&f, "/v1/blocks/1?txs=2", 400, "invalid_argument");
    expect_get(&f, "/v1/blocks/1?txs=1&txs=1", 400, "invalid_argument");
    expect_get(&f, "/v1/blocks/1?foo=1", 400, "invalid_argument");
    expect_get(&f, "/v1/blocks/1?txs", 400, "invalid_argument");
    expect_get(&f, "/v1/blocks/1?txs=%31", 400, "invalid_argument");
    expect_get(&f, "/v1/blocks/by-id/1234", 400, "malformed");
    expect_get(&f,
               "/v1/blocks/by-id/"
               "zz00000000000000000000000000000000000000000000000000000000000000",
               400, "malformed");
    expect_get(&f,
               "/v1/blocks/by-id/"
               "0000000000000000000000000000000000000000000000000000000000000000",
               404, "not_found");
    fixture_stop(&f);
}

static void
test_routes(void **state)
{
    (void)state;
    struct fixture f;
    fixture_start_default(&f);
    expect_get(&f, "/", 404, "not_found");
    expect_get(&f, "/v1/status/", 404, "not_found");
    expect_get(&f, "//v1/status", 404, "not_found");
    expect_get(&f, "/v2/status", 404, "not_found");
    expect_get(&f, "/v1/txs", 405, "method_not_allowed");

    struct api_client_response r;
    struct api_client_request req = { .method = "POST", .path = "/v1/status" };
    assert_int_equal(api_client_do(&f.client, &req, &r), ERR_OK);
    assert_int_equal(r.status, 405);
    json_t *v = body_json(&r);
    assert_error_shape(v, "method_not_allowed");
    json_decref(v);
    api_client_response_release(&r);

    req = (struct api_client_request){ .method = "DELETE", .path = "/v1/blocks/1" };
    assert_int_equal(api_client_do(&f.client, &req, &r), ERR_OK);
    assert_int_equal(r.status, 405);
    api_client_response_release(&r);

    /* The Allow header names the method that works. */
    int fd = raw_connect(f.client.port);
    const char get_txs[] = "GET /v1/txs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    raw_send(fd, get_txs, sizeof get_txs - 1);
    char buf[4096];
    assert_true(raw_read_all(fd, 3000, buf, sizeof buf) > 0);
    assert_int_equal(raw_status(buf), 405);
    assert_non_null(strstr(buf, "Allow: POST"));
    close(fd);
    fixture_stop(&f);
}

/* The read routes added for the front door: accounts, validators, notary. */
static void
test_read_routes(void **state)
{
    (void)state;
    struct fixture f;
    fixture_start_default(&f);
    expect_get(&f, "/v1/accounts/aa00000000000000000000000000000000000000", 200, NULL);
    expect_get(&f, "/v1/accounts/bb00000000000000000000000000000000000000", 404, "not_found");
    expect_get(&f, "/v1/accounts/aa", 400, "malformed");
    expect_get(&f, "/v1/accounts/zz00000000000000000000000000000000000000", 400, "malformed");
    expect_get(&f, "/v1/accounts/aa00000000000000000000000000000000000000?x=1", 400, NULL);
    expect_get(&f, "/v1/validators", 200, NULL);
    expect_get(&f, "/v1/validators?epoch=1", 200, NULL);
    expect_get(&f, "/v1/validators?epoch=2", 404, "not_found");
    expect_get(&f, "/v1/validators?epoch=x", 400, NULL);
    expect_get(&f, "/v1/validators?era=1", 400, NULL);
    expect_get(&f, "/v1/validators/", 404, "not_found");
    expect_get(&f, "/v1/notary/00", 400, "malformed");
    expect_get(&f, "/v1/notary/0000000000000000000000000000000000000000000000000000000000000000",
               404, "not_found");
    fixture_stop(&f);
}

static void
test_post_forms(void **state)
{
    (void)state;
    struct fixture f;
    fixture_start_default(&f);
    uint8_t tx[TX_SIZE];
    char hex[2 * TX_SIZE + 1];
    char hash[2 * HASH_SIZE + 1];
    char json[512];

    /* hex */
    tx_make(1, 1, 0xaa, true, tx);
    tx_hex(tx, hex);
    tx_hash_hex(tx, hash);
    snprintf(json, sizeof json, "{\"tx\":\"%s\"}", hex);
    json_t *v = post_json(&f, "/v1/txs", json, 200);
    assert_string_equal(json_string_value(json_object_get(v, "hash")), hash);
    assert_string_equal(json_string_value(json_object_get(v, "status")), "pending");
    json_decref(v);

    /* base64 */
    tx_make(1, 2, 0xbb, true, tx);
    char b64[128];
    base64_encode(tx, TX_SIZE, b64);
    tx_hash_hex(tx, hash);
    snprintf(json, sizeof json, "{\"tx\":\"%s\"}", b64);
    v = post_json(&f, "/v1/txs", json, 200);
    assert_string_equal(json_string_value(json_object_get(v, "hash")), hash);
    json_decref(v);

    /* raw octets */
    tx_make(2, 1, 0xcc, true, tx);
    tx_hash_hex(tx, hash);
    struct api_client_request req = { .method = "POST",
                                      .path = "/v1/txs",
                                      .content_type = "application/octet-stream",
                                      .body = tx,
                                      .body_size = TX_SIZE };
    struct api_client_response r;
    assert_int_equal(api_client_do(&f.client, &req, &r), ERR_OK);
    assert_int_equal(r.status, 200);
    v = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(v, "hash")), hash);
    json_decref(v);
    api_client_response_release(&r);

    /* GET /v1/txs/{hash}: pending, then final after the backend makes it final */
    char path[128];
    snprintf(path, sizeof path, "/v1/txs/%s", hash);
    assert_int_equal(api_client_get(&f.client, path, &r), ERR_OK);
    assert_int_equal(r.status, 200);
    v = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(v, "status")), "pending");
    json_decref(v);
    api_client_response_release(&r);
    on_loop(&f, finalize_fn, tx);
    assert_int_equal(api_client_get(&f.client, path, &r), ERR_OK);
    assert_int_equal(r.status, 200);
    v = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(v, "status")), "final");
    assert_int_equal(json_integer_value(json_object_get(v, "height")), 3);
    assert_true(json_is_true(json_object_get(json_object_get(v, "receipt"), "ok")));
    json_decref(v);
    api_client_response_release(&r);

    /* unknown */
    tx_make(3, 1, 0xdd, true, tx);
    tx_hash_hex(tx, hash);
    snprintf(path, sizeof path, "/v1/txs/%s", hash);
    assert_int_equal(api_client_get(&f.client, path, &r), ERR_OK);
    assert_int_equal(r.status, 404);
    v = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(v, "status")), "unknown");
    assert_error_shape(v, "not_found");
    json_decref(v);
    api_client_response_release(&r);
    expect_get(&f, "/v1/txs/abcd", 400, "malformed");
    snprintf(path, sizeof path, "/v1/txs/%s?x=1", hash);
    expect_get(&f, path, 400, "invalid_argument");
    assert_int_equal(f.tb.tx_count, 3);
    fixture_stop(&f);
}

/* The binary batch form: two txs, answered per tx like the JSON batch; a truncated body is
 * malformed as a whole. */
static void
test_post_binary_batch(void **state)
{
    (void)state;
    struct fixture f;
    fixture_start_default(&f);
    uint8_t batch[2 * (4 + TX_SIZE)];
    uint8_t tx[TX_SIZE];
    char hash1[2 * HASH_SIZE + 1];
    char hash2[2 * HASH_SIZE + 1];
    tx_make(2, 1, 0xdd, true, tx);
    tx_hash_hex(tx, hash1);
    store_u32(batch, TX_SIZE);
    memcpy(batch + 4, tx, TX_SIZE);
    tx_make(2, 2, 0xde, true, tx);
    tx_hash_hex(tx, hash2);
    store_u32(batch + 4 + TX_SIZE, TX_SIZE);
    memcpy(batch + 8 + TX_SIZE, tx, TX_SIZE);
    struct api_client_request req = { .method = "POST",
                                      .path = "/v1/txs",
                                      .content_type = API_BATCH_CONTENT_TYPE,
                                      .body = batch,
                                      .body_size = sizeof batch };
    struct api_client_response r;
    assert_int_equal(api_client_do(&f.client, &req, &r), ERR_OK);
    assert_int_equal(r.status, 200);
    json_t *v = body_json(&r);
    assert_int_equal(json_integer_value(json_object_get(v, "accepted")), 2);
    json_t *results = json_object_get(v, "results");
    assert_int_equal(json_array_size(results), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(results, 0), "hash")),
                        hash1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(results, 1), "hash")),
                        hash2);
    json_decref(v);
    api_client_response_release(&r);
    req.body_size = sizeof batch - 1;
    assert_int_equal(api_client_do(&f.client, &req, &r), ERR_OK);
    assert_int_equal(r.status, 400);
    api_client_response_release(&r);
    assert_int_equal(f.tb.tx_count, 2);
    fixture_stop(&f);
}

static void
test_post_errors(void **state)
{
    (void)state;
    struct fixture f;
    fixture_start_default(&f);
    uint8_t tx[TX_SIZE];
    char hex[2 * TX_SIZE + 1];
    char json[512];

    expect_post_error(&f, "{\"tx\":", 400, "malformed");
    expect_post_error(&f, "", 400, "malformed");
    expect_post_error(&f, "[]", 400, "malformed");
    expect_post_error(&f, "{\"tx\":\"zz\"}", 400, "malformed");
    expect_post_error(&f, "{\"tx\":\"abc\"}", 400, "malformed");
    expect_post_error(&f, "{\"tx\":\"\"}", 400, "malformed");
    expect_post_error(&f, "{\"tx\":1}", 400, "malformed");
    expect_post_error(&f, "{\"tx\":\"00\",\"x\":1}", 400, "malformed");
    expect_post_error(&f, "{\"tx\":\"00\",\"tx\":\"00\"}", 400, "malformed");
    expect_post_error(&f, "{\"txs\":[]}", 400, "malformed");
    expect_post_error(&f, "{\"txs\":[[[[[\"00\"]]]]]}", 400, "malformed");
    expect_post_error(&f, "{\"txs\":[1]}", 400, "malformed");
    expect_post_error(&f,
                      "{\"txs\":[\"00\",\"00\",\"00\",\"00\",\"00\",\"00\",\"00\",\"00\",\"00\"]}",
                      413, "too_large");
    /* Decodes as hex but is no transaction for the backend. */
    expect_post_error(&f, "{\"tx\":\"00\"}", 400, "malformed");

    tx_make(1, 5, 1, false, tx);
    tx_hex(tx, hex);
    snprintf(json, sizeof json, "{\"tx\":\"%s\"}", hex);
    json_t *v = post_json(&f, "/v1/txs", json, 400);
    assert_error_shape(v, "bad_signature");
    char hash[2 * HASH_SIZE + 1];
    tx_hash_hex(tx, hash);
    assert_string_equal(json_string_value(json_object_get(v, "hash")), hash);
    json_decref(v);

    tx_make(9, 5, 1, true, tx);
    tx_hex(tx, hex);
    snprintf(json, sizeof json, "{\"tx\":\"%s\"}", hex);
    expect_post_error(&f, json, 400, "unknown_sender");

    tx_make(1, 5, 1, true, tx);
    tx_hex(tx, hex);
    snprintf(json, sizeof json, "{\"tx\":\"%s\"}", hex);
    json_decref(post_json(&f, "/v1/txs", json, 200));
    expect_post_error(&f, json, 409, "exists");
    tx_make(1, 4, 2, true, tx);
    tx_hex(tx, hex);
    snprintf(json, sizeof json, "{\"tx\":\"%s\"}", hex);
    expect_post_error(&f, json, 409, "stale_nonce");

    /* Fill the mempool (capacity 6, one pending already). */
    for (uint64_t n = 6; n < 11; n++) {
        tx_make(2, n, 3, true, tx);
        tx_hex(tx, hex);
        snprintf(json, sizeof json, "{\"tx\":\"%s\"}", hex);
        json_decref(post_json(&f, "/v1/txs", json, 200));
    }
    tx_make(3, 1, 3, true, tx);
    tx_hex(tx, hex);
    snprintf(json, sizeof json, "{\"tx\":\"%s\"}", hex);
    expect_post_error(&f, json, 503, "mempool_full");

    /* Content types and queries. */
    struct api_client_request req = { .method = "POST",
                                      .path = "/v1/txs",
                                      .content_type = "text/plain",
                                      .body = (const uint8_t *)json,
                                      .body_size = strlen(json) };
    struct api_client_response r;
    assert_int_equal(api_client_do(&f.client, &req, &r), ERR_OK);
    assert_int_equal(r.status, 415);
    v = body_json(&r);
    assert_error_shape(v, "unsupported");
    json_decref(v);
    api_client_response_release(&r);
    req.content_type = "application/octet-stream";
    req.body_size = 0;
    assert_int_equal(api_client_do(&f.client, &req, &r), ERR_OK);
    assert_int_equal(r.status, 400);
    api_client_response_release(&r);
    v = post_json(&f, "/v1/txs?wait=soon", json, 400);
    assert_error_shape(v, "invalid_argument");
    json_decref(v);
    json_decref(post_json(&f, "/v1/txs?timeout_ms=5", json, 400));
    json_decref(post_json(&f, "/v1/txs?wait=final&timeout_ms=999999", json, 400));
    json_decref(post_json(&f, "/v1/txs?wait=final&timeout_ms=0", json, 400));
    fixture_stop(&f);
}

static void
test_batch(void **state)
{
    (void)state;
    struct fixture f;
    fixture_start_default(&f);
    uint8_t a[TX_SIZE];
    uint8_t b[TX_SIZE];
    uint8_t c[TX_SIZE];
    char ha[2 * TX_SIZE + 1];
    char hb[2 * TX_SIZE + 1];
    char hc[2 * TX_SIZE + 1];
    tx_make(1, 1, 1, true, a);
    tx_make(1, 2, 2, false, b);
    tx_make(2, 1, 3, true, c);
    tx_hex(a, ha);
    tx_hex(b, hb);
    base64_encode(c, TX_SIZE, hc);
    char json[1024];
    snprintf(json, sizeof json, "{\"txs\":[\"%s\",\"not hex!\",\"%s\",\"%s\"]}", ha, hb, hc);
    json_t *v = post_json(&f, "/v1/txs", json, 200);
    assert_int_equal(json_integer_value(json_object_get(v, "accepted")), 2);
    json_t *results = json_object_get(v, "results");
    assert_int_equal(json_array_size(results), 4);
    char hash[2 * HASH_SIZE + 1];
    tx_hash_hex(a, hash);
    assert_string_equal(json_string_value(json_object_get(json_array_get(results, 0), "hash")),
                        hash);
    assert_string_equal(json_string_value(json_object_get(json_array_get(results, 0), "status")),
                        "pending");
    assert_error_shape(json_array_get(results, 1), "malformed");
    assert_error_shape(json_array_get(results, 2), "bad_signature");
    tx_hash_hex(c, hash);
    assert_string_equal(json_string_value(json_object_get(json_array_get(results, 3), "hash")),
                        hash);
    json_decref(v);
    /* One backend call for the whole batch. */
    assert_int_equal(f.tb.submit_calls, 1);
    assert_int_equal(f.tb.tx_count, 2);
    fixture_stop(&f);
}

/* Sends a POST /v1/txs?query with a JSON body on a raw socket. */
static int
raw_post_tx(struct fixture *f, const char *query, const char *json)
{
    int fd = raw_connect(f->client.port);
    char head[512];
    int n = snprintf(head, sizeof head,
                     "POST /v1/txs%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     query, strlen(json));
    raw_send(fd, head, (size_t)n);
    raw_send(fd, json, strlen(json));
    return fd;
}

static void
test_wait_final(void **state)
{
    (void)state;
    struct fixture f;
    fixture_start_default(&f);
    uint8_t tx[TX_SIZE];
    char hex[2 * TX_SIZE + 1];
    char json[512];
    char buf[8192];

    /* Answered after the backend signals finality, not before. */
    tx_make(1, 1, 1, true, tx);
    tx_hex(tx, hex);
    snprintf(json, sizeof json, "{\"tx\":\"%s\"}", hex);
    int fd = raw_post_tx(&f, "?wait=final", json);
    assert_int_equal(raw_read_all(fd, 300, buf, sizeof buf), 0);
    struct api_server_stats stats;
    memset(&stats, 0, sizeof stats);
    on_loop(&f, stats_fn, &stats);
    assert_int_equal(stats.waits_pending, 1);
    on_loop(&f, finalize_fn, tx);
    assert_true(raw_read_all(fd, 3000, buf, sizeof buf) > 0);
    close(fd);
    assert_int_equal(raw_status(buf), 200);
    json_t *v = raw_body_json(buf);
    assert_string_equal(json_string_value(json_object_get(v, "status")), "final");
    assert_int_equal(json_integer_value(json_object_get(v, "height")), 3);
    assert_true(json_is_object(json_object_get(v, "receipt")));
    json_decref(v);

    /* Already final when submitted again: not admitted (exists). */
    v = post_json(&f, "/v1/txs?wait=final", json, 409);
    assert_error_shape(v, "exists");
    json_decref(v);

    /* Times out, bounded: 202 pending after about timeout_ms. */
    tx_make(1, 2, 2, true, tx);
    tx_hex(tx, hex);
    snprintf(json, sizeof json, "{\"tx\":\"%s\"}", hex);
    uint64_t t0 = clock_monotonic_ms(clock_system());
    v = post_json(&f, "/v1/txs?wait=final&timeout_ms=300", json, 202);
    uint64_t took = clock_monotonic_ms(clock_system()) - t0;
    assert_true(took >= 290 && took < 2000);
    assert_string_equal(json_string_value(json_object_get(v, "status")), "pending");
    json_decref(v);
    assert_int_equal(tb_waiters_count(&f.tb), 0); /* the registration was cancelled */

    /* A batch waits for all; the one that became final says so, the other stays pending. */
    uint8_t t2[TX_SIZE];
    char hex2[2 * TX_SIZE + 1];
    tx_make(2, 1, 3, true, t2);
    tx_hex(t2, hex2);
    uint8_t t3[TX_SIZE];
    char hex3[2 * TX_SIZE + 1];
    tx_make(3, 1, 4, true, t3);
    tx_hex(t3, hex3);
    snprintf(json, sizeof json, "{\"txs\":[\"%s\",\"%s\"]}", hex2, hex3);
    fd = raw_post_tx(&f, "?wait=final&timeout_ms=800", json);
    sleep_ms(100);
    on_loop(&f, finalize_fn, t2);
    assert_true(raw_read_all(fd, 3000, buf, sizeof buf) > 0);
    close(fd);
    assert_int_equal(raw_status(buf), 200);
    v = raw_body_json(buf);
    json_t *results = json_object_get(v, "results");
    assert_string_equal(json_string_value(json_object_get(json_array_get(results, 0), "status")),
                        "final");
    assert_string_equal(json_string_value(json_object_get(json_array_get(results, 1), "status")),
                        "pending");
    json_decref(v);

    /* A client that leaves while waiting; the server carries on. */
    uint8_t t4[TX_SIZE];
    tx_make(2, 2, 5, true, t4);
    tx_hex(t4, hex);
    snprintf(json, sizeof json, "{\"tx\":\"%s\"}", hex);
    fd = raw_post_tx(&f, "?wait=final&timeout_ms=500", json);
    sleep_ms(100);
    close(fd);
    sleep_ms(700);
    expect_get(&f, "/v1/status", 200, NULL);

    /* Still waiting when the server is freed: the registration is cancelled (checked in
     * fixture_stop). */
    uint8_t t5[TX_SIZE];
    tx_make(2, 3, 6, true, t5);
    tx_hex(t5, hex);
    snprintf(json, sizeof json, "{\"tx\":\"%s\"}", hex);
    fd = raw_post_tx(&f, "?wait=final", json);
    sleep_ms(200);
    on_loop(&f, stats_fn, &stats);
    assert_int_equal(stats.waits_pending, 1);
    fixture_stop(&f);
    close(fd);
}

static void
test_body_limit(void **state)
{
    (void)state;
    struct fixture f;
    fixture_start_default(&f);
    size_t size = 5000; /* body_size_max is 4096 */
    char *big = mem_alloc(size + 1);
    memset(big, 'a', size);
    big[0] = '"';
    big[size - 1] = '"';
    big[size] = '\0';
    struct api_client_response r;
    assert_int_equal(api_client_post_json(&f.client, "/v1/txs", big, &r), ERR_OK);
    assert_int_equal(r.status, 413);
    json_t *v = body_json(&r);
    assert_error_shape(v, "too_large");
    json_decref(v);
    api_client_response_release(&r);
    mem_free(big);
    /* Declared huge, nothing sent: refused without reading. */
    int fd = raw_connect(f.client.port);
    const char head[] = "POST /v1/txs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Content-Length: 99999999999\r\n\r\n";
    raw_send(fd, head, sizeof head - 1);
    char buf[4096];
    ssize_t n = raw_read_all(fd, 3000, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(raw_status(buf), 413);
    v = raw_body_json(buf);
    assert_error_shape(v, "too_large");
    json_decref(v);
    close(fd);
    expect_get(&f, "/v1/status", 200, NULL);
    fixture_stop(&f);
}

static void
test_header_limit(void **state)
{
    (void)state;
    struct fixture f;
    fixture_start_default(&f);
    char buf[8192];
    /* Over header_size_max (1024): 431 in JSON. */
    char head[4096];
    char filler[1501];
    memset(filler, 'x', sizeof filler - 1);
    filler[sizeof filler - 1] = '\0';
    int n = snprintf(head, sizeof head,
                     "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Filler: %s\r\n\r\n", filler);
    int fd = raw_connect(f.client.port);
    raw_send(fd, head, (size_t)n);
    assert_true(raw_read_all(fd, 3000, buf, sizeof buf) > 0);
    close(fd);
    assert_int_equal(raw_status(buf), 431);
    json_t *v = raw_body_json(buf);
    assert_error_shape(v, "headers_too_large");
    json_decref(v);

    /* Far over: evhttp stops reading at its backstop; still a 431 in JSON. */
    fd = raw_connect(f.client.port);
    const char start[] = "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Filler: ";
    raw_send(fd, start, sizeof start - 1);
    char chunk[1024];
    memset(chunk, 'y', sizeof chunk);
    for (int i = 0; i < 8; i++) {
        if (send(fd, chunk, sizeof chunk, MSG_NOSIGNAL) < 0) {
            break;
        }
    }
    ssize_t got = raw_read_all(fd, 3000, buf, sizeof buf);
    assert_true(got > 0);
    assert_int_equal(raw_status(buf), 431);
    v = raw_body_json(buf);
    assert_error_shape(v, "headers_too_large");
    json_decref(v);
    close(fd);
    expect_get(&f, "/v1/status", 200, NULL);
    fixture_stop(&f);
}

static void
test_connection_cap(void **state)
{
    (void)state;
    struct fixture f;
    struct api_options o;
    fixture_options(&o);
    o.connections_max = 4;
    o.request_timeout_ms = 5000;
    fixture_start(&f, &o);
    int idle[4];
    for (int i = 0; i < 4; i++) {
        idle[i] = raw_connect(f.client.port);
    }
    sleep_ms(200);
    struct api_server_stats stats;
    memset(&stats, 0, sizeof stats);
    on_loop(&f, stats_fn, &stats);
    assert_int_equal(stats.connections_open, 4);

    /* Over the cap: 503 JSON at once, for an idle connection and for a real request. */
    char buf[4096];
    int extra = raw_connect(f.client.port);
    assert_true(raw_read_all(extra, 3000, buf, sizeof buf) > 0);
    close(extra);
    assert_int_equal(raw_status(buf), 503);
    json_t *v = raw_body_json(buf);
    assert_error_shape(v, "too_many_connections");
    json_decref(v);
    struct api_client_response r;
    assert_int_equal(api_client_get(&f.client, "/v1/status", &r), ERR_OK);
    assert_int_equal(r.status, 503);
    api_client_response_release(&r);

    /* Once they close, normal service. */
    for (int i = 0; i < 4; i++) {
        close(idle[i]);
    }
    sleep_ms(200);
    expect_get(&f, "/v1/status", 200, NULL);
    on_loop(&f, stats_fn, &stats);
    assert_true(stats.connections_rejected >= 2);
    assert_true(stats.connections_open <= 1);

    /* A burst that arrives all at once: exactly the cap is served, every other one gets 503. */
    enum { BURST = 12 };
    int fds[BURST];
    for (int i = 0; i < BURST; i++) {
        fds[i] = raw_connect(f.client.port);
    }
    int rejected = 0;
    for (int i = 0; i < BURST; i++) {
        ssize_t n = raw_read_all(fds[i], 300, buf, sizeof buf);
        if (n > 0) {
            assert_int_equal(raw_status(buf), 503);
            rejected++;
        }
    }
    on_loop(&f, stats_fn, &stats);
    assert_int_equal(stats.connections_open, 4);
    assert_int_equal(rejected, BURST - 4);
    for (int i = 0; i < BURST; i++) {
        close(fds[i]);
    }
    sleep_ms(200);
    expect_get(&f, "/v1/status", 200, NULL);
    fixture_stop(&f);
}

static void
test_slowloris(void **state)
{
    (void)state;
    struct fixture f;
    struct api_options o;
    fixture_options(&o);
    o.request_timeout_ms = 600;
    fixture_start(&f, &o);
    /* One byte every 100 ms never finishes a request: closed by the request deadline even
     * though no gap between bytes reaches the timeout. */
    int fd = raw_connect(f.client.port);
    const char slow[] =
        "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    uint64_t t0 = clock_monotonic_ms(clock_system());
    bool closed = false;
    for (size_t i = 0; i < sizeof slow - 1 && !closed; i++) {
        if (send(fd, &slow[i], 1, MSG_NOSIGNAL) != 1) {
            closed = true;
            break;
        }
        closed = raw_closed_within(fd, 100);
    }
    uint64_t took = clock_monotonic_ms(clock_system()) - t0;
    assert_true(closed);
    assert_true(took < 2000);
    close(fd);
    /* An idle connection is closed too. */
    fd = raw_connect(f.client.port);
    assert_true(raw_closed_within(fd, 2000));
    close(fd);
    struct api_server_stats stats;
    memset(&stats, 0, sizeof stats);
    on_loop(&f, stats_fn, &stats);
    assert_true(stats.connections_timed_out >= 1); /* the idle one may go by evhttp's timeout */
    assert_int_equal(stats.connections_open, 0);
    expect_get(&f, "/v1/status", 200, NULL);
    fixture_stop(&f);
}

/* Requests evhttp refuses before they reach the API still get JSON answers. */
static void
test_malformed_http(void **state)
{
    (void)state;
    struct fixture f;
    fixture_start_default(&f);
    static const char *const bad[] = {
        "GARBAGE\r\n\r\n",
        "GET /v1/status HTTP/9.9\r\nHost: x\r\n\r\n",
        "GET /v1/status HTTP/1.1\r\nNo colon here\r\n\r\n",
        "POST /v1/txs HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    };
    char buf[4096];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int fd = raw_connect(f.client.port);
        raw_send(fd, bad[i], strlen(bad[i]));
        ssize_t n = raw_read_all(fd, 3000, buf, sizeof buf);
        close(fd);
        assert_true(n > 0);
        assert_int_equal(raw_status(buf), 400);
        json_t *v = raw_body_json(buf);
        assert_error_shape(v, "malformed");
        json_decref(v);
    }
    /* Expect: 100-continue passes through untouched. */
    uint8_t tx[TX_SIZE];
    char hex[2 * TX_SIZE + 1];
    char json[256];
    tx_make(1, 1, 1, true, tx);
    tx_hex(tx, hex);
    int len = snprintf(json, sizeof json, "{\"tx\":\"%s\"}", hex);
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "POST /v1/txs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      "Expect: 100-continue\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n",
                      len);
    int fd = raw_connect(f.client.port);
    raw_send(fd, head, (size_t)hn);
    assert_true(raw_read_all(fd, 300, buf, sizeof buf) > 0);
    assert_int_equal(raw_status(buf), 100);
    raw_send(fd, json, (size_t)len);
    assert_true(raw_read_all(fd, 3000, buf, sizeof buf) > 0);
    close(fd);
    assert_int_equal(raw_status(buf), 200);
    expect_get(&f, "/v1/status", 200, NULL);
    fixture_stop(&f);
}

static void
test_keepalive(void **state)
{
    (void)state;
    struct fixture f;
    fixture_start_default(&f);
    /* Two requests on one connection, then a bad one closes nothing but itself. */
    int fd = raw_connect(f.client.port);
    const char two[] = "GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /v1/blocks/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    raw_send(fd, two, sizeof two - 1);
    char buf[8192];
    assert_true(raw_read_all(fd, 3000, buf, sizeof buf) > 0);
    close(fd);
    const char *second = strstr(buf + 1, "HTTP/1.1 200");
    assert_int_equal(raw_status(buf), 200);
    assert_non_null(second);
    fixture_stop(&f);
}

static void
test_client_errors(void **state)
{
    (void)state;
    struct api_client c;
    assert_int_equal(api_client_init(&c, "127.0.0.1:8080"), ERR_OK);
    assert_int_equal(c.port, 8080);
    assert_int_equal(api_client_init(&c, "[::1]:9"), ERR_OK);
    assert_string_equal(c.host, "::1");
    assert_int_equal(api_client_init(&c, "127.0.0.1"), ERR_MALFORMED);
    assert_int_equal(api_client_init(&c, "127.0.0.1:0"), ERR_MALFORMED);
    assert_int_equal(api_client_init(&c, "127.0.0.1:70000"), ERR_MALFORMED);
    assert_int_equal(api_client_init(&c, "127.0.0.1:8a"), ERR_MALFORMED);

    /* Nobody listening. */
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(probe, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t size = sizeof a;
    assert_int_equal(getsockname(probe, (struct sockaddr *)&a, &size), 0);
    assert_int_equal(api_client_init(&c, "127.0.0.1:1"), ERR_OK);
    c.port = ntohs(a.sin_port);
    c.timeout_ms = 1000;
    struct api_client_response r;
    assert_int_equal(api_client_get(&c, "/v1/status", &r), ERR_IO);

    /* Listening but never answering: bounded by the timeout. */
    assert_int_equal(listen(probe, 4), 0);
    c.timeout_ms = 300;
    uint64_t t0 = clock_monotonic_ms(clock_system());
    assert_int_equal(api_client_get(&c, "/v1/status", &r), ERR_TIMEOUT);
    assert_true(clock_monotonic_ms(clock_system()) - t0 < 2000);
    close(probe);

    /* Response larger than the client accepts. */
    struct fixture f;
    fixture_start_default(&f);
    f.client.response_size_max = 16;
    assert_int_equal(api_client_get(&f.client, "/v1/status", &r), ERR_TOO_LARGE);
    f.client.response_size_max = 1 << 16;
    assert_int_equal(api_client_get(&f.client, "/v1/status", &r), ERR_OK);
    api_client_response_release(&r);
    fixture_stop(&f);
}

static void
set_starting_fn(struct fixture *f, void *arg)
{
    f->tb.status_rc = *(const enum err *)arg;
}

static void
test_backend_failure(void **state)
{
    (void)state;
    struct fixture f;
    fixture_start_default(&f);
    enum err again = ERR_AGAIN;
    on_loop(&f, set_starting_fn, &again);
    expect_get(&f, "/v1/status", 503, "again");
    enum err ok = ERR_OK;
    on_loop(&f, set_starting_fn, &ok);
    expect_get(&f, "/v1/status", 200, NULL);
    fixture_stop(&f);
}

static void
test_options(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct test_backend tb;
    struct api_backend backend;
    tb_init(&tb, &backend);
    struct api_options o;
    struct api_server *server = NULL;
    static const char *const bad_addresses[] = {
        "localhost:80", "127.0.0.1", "127.0.0.1:99999", "1.2.3.4.5:1",
        ":80",          "[::1:80",   "127.0.0.1:08",
    };
    for (size_t i = 0; i < sizeof bad_addresses / sizeof bad_addresses[0]; i++) {
        fixture_options(&o);
        o.bind_address = bad_addresses[i];
        assert_int_equal(api_server_new(base, &o, &backend, &server), ERR_CONFIG);
    }
    fixture_options(&o);
    o.connections_max = 0;
    assert_int_equal(api_server_new(base, &o, &backend, &server), ERR_CONFIG);
    fixture_options(&o);
    o.body_size_max = 1;
    assert_int_equal(api_server_new(base, &o, &backend, &server), ERR_CONFIG);
    /* A port in use. */
    fixture_options(&o);
    assert_int_equal(api_server_new(base, &o, &backend, &server), ERR_OK);
    char taken[32];
    snprintf(taken, sizeof taken, "127.0.0.1:%u", (unsigned)api_server_port(server));
    struct api_server *second = NULL;
    o.bind_address = taken;
    assert_int_equal(api_server_new(base, &o, &backend, &second), ERR_IO);
    api_server_free(server);
    api_server_free(NULL);
    event_base_free(base);
}

static void
test_err_table(void **state)
{
    (void)state;
    assert_string_equal(api_err_code(ERR_FULL), "mempool_full");
    assert_string_equal(api_err_code(ERR_TOO_LARGE), "too_large");
    assert_string_equal(api_err_code(ERR_BAD_SIGNATURE), "bad_signature");
    assert_string_equal(api_err_code(ERR_STALE_NONCE), "stale_nonce");
    assert_string_equal(api_err_code(ERR_EXPIRED), "expired");
    assert_string_equal(api_err_code(ERR_UNKNOWN_SENDER), "unknown_sender");
    assert_string_equal(api_err_code(ERR_TRAILING), "malformed");
    assert_int_equal(api_err_http_status(ERR_FULL), 503);
    assert_int_equal(api_err_http_status(ERR_TOO_LARGE), 413);
    assert_int_equal(api_err_http_status(ERR_NOT_FOUND), 404);
    assert_int_equal(api_err_http_status(ERR_MALFORMED), 400);
    assert_int_equal(api_err_http_status(ERR_STALE_NONCE), 409);
    assert_int_equal(api_err_http_status(ERR_IO), 500);
    for (int e = 0; e >= ERR_STALE; e--) {
        int status = api_err_http_status((enum err)e);
        assert_true(status == 200 || (status >= 400 && status < 600));
        assert_non_null(api_err_code((enum err)e));
    }
}

static void
test_body_decoder(void **state)
{
    (void)state;
    struct api_txs_body body;
    const char *why = NULL;
    const char *ok = "{\"txs\":[\"0102\",\"AQI=\",\"zz\"]}";
    assert_int_equal(
        api_txs_body_decode(API_BODY_JSON, (const uint8_t *)ok, strlen(ok), 4, &body, &why),
        ERR_OK);
    assert_true(body.batch);
    assert_int_equal(body.count, 3);
    assert_int_equal(body.items[0].rc, ERR_OK);
    assert_int_equal(body.items[0].tx.size, 2);
    assert_memory_equal(body.items[0].tx.bytes, "\x01\x02", 2);
    assert_int_equal(body.items[1].rc, ERR_OK);
    assert_memory_equal(body.items[1].tx.bytes, "\x01\x02", 2);
    assert_int_equal(body.items[2].rc, ERR_MALFORMED);
    api_txs_body_release(&body);
    assert_int_equal(
        api_txs_body_decode(API_BODY_JSON, (const uint8_t *)ok, strlen(ok), 2, &body, &why),
        ERR_TOO_LARGE);
    const char deep[] = "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[";
    assert_int_equal(api_json_depth_check((const uint8_t *)deep, sizeof deep - 1, 4),
                     ERR_MALFORMED);
    const char quoted[] = "{\"a\":\"[[[[[[[[\\\"[[[[[[\"}";
    assert_int_equal(api_json_depth_check((const uint8_t *)quoted, sizeof quoted - 1, 1), ERR_OK);
    assert_int_equal(
        api_txs_body_decode(API_BODY_OCTETS, (const uint8_t *)"\x07", 1, 1, &body, NULL), ERR_OK);
    assert_int_equal(body.count, 1);
    assert_false(body.batch);
    assert_int_equal(body.items[0].tx.bytes[0], 7);
    api_txs_body_release(&body);
    api_txs_body_release(&body);

    /* the binary batch form: length-prefixed, back to back, nothing after the last */
    const uint8_t two[] = { 3, 0, 0, 0, 'a', 'b', 'c', 1, 0, 0, 0, 'd' };
    assert_int_equal(api_txs_body_decode(API_BODY_BATCH, two, sizeof two, 2, &body, &why), ERR_OK);
    assert_true(body.batch);
    assert_int_equal(body.count, 2);
    assert_int_equal(body.items[0].tx.size, 3);
    assert_memory_equal(body.items[0].tx.bytes, "abc", 3);
    assert_int_equal(body.items[1].tx.size, 1);
    assert_memory_equal(body.items[1].tx.bytes, "d", 1);
    api_txs_body_release(&body);
    assert_int_equal(api_txs_body_decode(API_BODY_BATCH, two, sizeof two, 1, &body, &why),
                     ERR_TOO_LARGE);
    assert_int_equal(api_txs_body_decode(API_BODY_BATCH, two, sizeof two - 1, 2, &body, &why),
                     ERR_MALFORMED); /* second length past the end */
    assert_int_equal(api_txs_body_decode(API_BODY_BATCH, two, 6, 2, &body, &why), ERR_MALFORMED);
    assert_int_equal(api_txs_body_decode(API_BODY_BATCH, two, 2, 2, &body, &why), ERR_MALFORMED);
    const uint8_t zero_len[] = { 0, 0, 0, 0 };
    assert_int_equal(api_txs_body_decode(API_BODY_BATCH, zero_len, 4, 2, &body, &why),
                     ERR_MALFORMED);
    const uint8_t huge_len[] = { 0xff, 0xff, 0xff, 0xff, 1 };
    assert_int_equal(api_txs_body_decode(API_BODY_BATCH, huge_len, 5, 2, &body, &why),
                     ERR_MALFORMED);
    assert_int_equal(api_txs_body_decode(API_BODY_BATCH, NULL, 0, 2, &body, &why), ERR_MALFORMED);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_table),     cmocka_unit_test(test_body_decoder),
        cmocka_unit_test(test_status),        cmocka_unit_test(test_blocks),
        cmocka_unit_test(test_routes),        cmocka_unit_test(test_read_routes),
        cmocka_unit_test(test_post_forms),    cmocka_unit_test(test_post_binary_batch),
        cmocka_unit_test(test_post_errors),   cmocka_unit_test(test_batch),
        cmocka_unit_test(test_wait_final),    cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_header_limit),  cmocka_unit_test(test_connection_cap),
        cmocka_unit_test(test_slowloris),     cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_client_errors), cmocka_unit_test(test_backend_failure),
        cmocka_unit_test(test_options),       cmocka_unit_test(test_malformed_http),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
