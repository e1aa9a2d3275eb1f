/* The HTTP server of api.h: evhttp on the caller's event_base, with our own accounting of
 * connections so that every limit is answered instead of crashing or growing.
 *
 * Connections. evhttp 2.1 has no connection cap, so the listening socket has two listeners:
 * evhttp's (enabled while fewer than connections_max connections are open) and a rejecting
 * one (enabled at the cap) that answers 503 JSON and lingers briefly so the client reads it.
 * Each connection evhttp accepts gets its bufferevent from our bevcb, which takes a slot
 * from a pool allocated at start and holds a reference to the bufferevent; right after the
 * accept ("adopt") we find the evhttp_connection (the bufferevent's callback argument),
 * register a close callback that frees the slot, and arm the request deadline. A periodic
 * sweep frees slots whose bufferevent evhttp has freed without a close callback, so a slot
 * can never leak. The deadline bounds the time to receive a whole request (slowloris) and
 * keep-alive idleness; evhttp's own timeout only bounds the gap between two reads.
 *
 * Answers evhttp gives itself (malformed request, headers past its 4x backstop, body over
 * the maximum) are HTML in libevent 2.1; an output-buffer callback on each connection
 * replaces them by our JSON (400 malformed, 431, 413) before they reach the socket. Headers
 * between our limit and the backstop reach on_request and get 431 there.
 *
 * Requests are answered at once, except POST /v1/txs?wait=final, which keeps a struct
 * api_wait until the backend reports finality or its timer fires. At most one request per
 * connection is in progress (evhttp reads the next only after the answer), so waits are
 * bounded by connections_max. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api.h"
#include "api/api_body.h"
#include "base/assert.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/text.h"

#define API_LINGER_MS         1000u
#define API_SWEEP_MS          1000u
#define API_REJECT_REPLY_SIZE 256u
#define API_BACKLOG           128
#define API_FDS_RESERVED      64u /* descriptors left for the rest of the node */
#define API_HEADER_BACKSTOP   4u  /* evhttp stops reading headers at 4x our limit */

struct api_wait;

/* One open evhttp connection; `evcon` is NULL until adopted. */
struct api_conn {
    struct api_server *server;
    struct bufferevent *bev; /* we hold one reference while the slot is used */
    struct evhttp_connection *evcon;
    struct event *deadline;
    struct api_wait *wait; /* the request being answered later, if any */
    struct api_conn *next; /* free list or adopt queue */
    struct evbuffer_cb_entry *input_cb;
    struct evbuffer_cb_entry *output_cb;
    uint64_t request_bytes; /* received since the last request was handed to us */
    bool used;
    bool busy;     /* a request was handed to us and is not answered yet */
    bool sending;  /* inside evhttp_send_reply for one of our answers */
    bool replaced; /* evhttp's own error page was replaced by ours; output frozen */
};

/* A connection over the cap, being answered 503 then closed. */
struct api_reject {
    struct api_server *server;
    struct bufferevent *bev;
    struct api_reject *next_free;
};

/* One transaction of a POST /v1/txs answer. */
struct api_item {
    struct api_wait *wait; /* for the finality callback */
    enum err rc;
    bool has_hash;
    struct hash hash;
    bool waiting;
    struct api_tx_status status; /* owns status.receipt */
};

/* A POST /v1/txs in progress (answered at once or after ?wait=final). */
struct api_wait {
    struct api_server *server;
    struct api_conn *conn;
    struct evhttp_request *req;
    struct event *timer;
    bool batch;
    bool wait_final; /* ?wait=final: a tx still pending at the end answers 202 */
    size_t count;
    size_t waiting;
    struct api_item *items;
};

struct api_server {
    struct event_base *base;
    struct api_options options;
    struct api_backend backend;
    struct evhttp *http;
    struct evconnlistener *listener;        /* evhttp's; owned by evhttp */
    struct evconnlistener *reject_listener; /* ours, on a dup of the socket */
    struct event *adopt_event;
    struct event *sweep_event;
    struct api_conn *conns; /* connections_max slots */
    struct api_conn *conns_free;
    struct api_conn *adopt_queue;
    struct api_reject *rejects; /* rejecting_max slots */
    struct api_reject *rejects_free;
    uint32_t rejects_open;
    bool at_cap;
    bool closing; /* listeners are gone: no more listener switching */
    uint16_t port;
    char reject_reply[API_REJECT_REPLY_SIZE];
    size_t reject_reply_size;
    struct api_server_stats stats;
};

/* ---- Error table ---------------------------------------------------------------------- */

int
api_err_http_status(enum err rc)
{
    switch (rc) {
    case ERR_OK:
        return 200;
    case ERR_MALFORMED:
    case ERR_TRUNCATED:
    case ERR_TRAILING:
    case ERR_NONCANONICAL:
    case ERR_UTF8:
    case ERR_INVALID_ARG:
    case ERR_BAD_SIGNATURE:
    case ERR_EXPIRED:
    case ERR_UNKNOWN_SENDER:
    case ERR_WRONG_CHAIN:
    case ERR_STALE:
        return 400;
    case ERR_PERMISSION:
    case ERR_DENIED:
        return 403;
    case ERR_NOT_FOUND:
        return 404;
    case ERR_STALE_NONCE:
    case ERR_EXISTS:
        return 409;
    case ERR_TOO_LARGE:
        return 413;
    case ERR_UNSUPPORTED:
        return 415;
    case ERR_LIMIT:
        return 429;
    case ERR_FULL:
    case ERR_AGAIN:
    case ERR_CLOSED:
        return 503;
    case ERR_TIMEOUT:
        return 504;
    case ERR_IO:
    case ERR_NO_SPACE:
    case ERR_CORRUPT:
    case ERR_PASSPHRASE:
    case ERR_CRYPTO:
    case ERR_CONFIG:
        return 500;
    }
    UNREACHABLE();
}

const char *
api_err_code(enum err rc)
{
    switch (rc) {
    case ERR_FULL:
        return "mempool_full";
    case ERR_TRUNCATED:
    case ERR_TRAILING:
    case ERR_NONCANONICAL:
    case ERR_UTF8:
        return "malformed"; /* one code for clients; the message keeps the detail */
    default:
        return err_name(rc);
    }
}

/* ---- Responses ------------------------------------------------------------------------- */

static int
json_to_evbuffer(const char *text, size_t size, void *ctx)
{
    return evbuffer_add(ctx, text, size);
}

static const char *
http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 202:
        return "Accepted";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Internal Server Error";
    }
}

static struct timeval
ms_to_timeval(uint32_t ms)
{
    return (struct timeval){ .tv_sec = (time_t)(ms / 1000u),
                             .tv_usec = (suseconds_t)(ms % 1000u) * 1000 };
}

static void
conn_deadline_arm(struct api_conn *conn)
{
    struct timeval tv = ms_to_timeval(conn->server->options.request_timeout_ms);
    event_add(conn->deadline, &tv);
}

/* Sends `body` (consumes one reference) with `status`; the connection goes back to reading
 * its next request under a fresh deadline. */
static void
respond(struct api_conn *conn, struct evhttp_request *req, int status, json_t *body, bool close)
{
    ASSERT(body != NULL);
    struct evbuffer *out = evbuffer_new();
    ASSERT(out != NULL);
    int dumped = json_dump_callback(body, json_to_evbuffer, out, JSON_COMPACT);
    json_decref(body);
    ASSERT(dumped == 0);
    evbuffer_add(out, "\n", 1);

    struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
    evhttp_add_header(headers, "Content-Type", "application/json");
    evhttp_add_header(headers, "Cache-Control", "no-store");
    if (close) {
        evhttp_add_header(headers, "Connection", "close");
    }
    if (conn != NULL) {
        conn->busy = false;
        conn_deadline_arm(conn); /* before sending: a close during the send frees the slot */
    }
    if (conn != NULL) {
        conn->sending = true;
    }
    evhttp_send_reply(req, status, http_reason(status), out);
    if (conn != NULL) {
        conn->sending = false; /* still our slot: a close during the send keeps it until now */
    }
    evbuffer_free(out);
}

static json_t *
error_json(const char *code, const char *message)
{
    return json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
}

static void
respond_error(struct api_conn *conn, struct evhttp_request *req, int status, const char *code,
              const char *message)
{
    respond(conn, req, status, error_json(code, message), status == 431 || status == 413);
}

static void
respond_err(struct api_conn *conn, struct evhttp_request *req, enum err rc, const char *message)
{
    respond_error(conn, req, api_err_http_status(rc), api_err_code(rc),
                  message != NULL ? message : err_str(rc));
}

static json_t *
hash_json(const struct hash *h)
{
    char hex[2 * HASH_SIZE + 1];
    hash_to_hex(h, hex);
    return json_string(hex);
}

static json_t *
u64_json(uint64_t value)
{
    /* Heights, rounds and sizes stay far below 2^63 (jansson integers are signed 64-bit). */
    ASSERT(value <= (uint64_t)INT64_MAX);
    return json_integer((json_int_t)value);
}

/* ---- Strict path and query parsing -------------------------------------------------- */

/* Decimal without sign or leading zeros, at most 2^63-1. */
static bool
parse_u64(const char *text, size_t size, uint64_t *out)
{
    if (size == 0 || size > 19 || (size > 1 && text[0] == '0')) {
        return false;
    }
    uint64_t value = 0;
    for (size_t i = 0; i < size; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return false;
        }
        value = value * 10u + (uint64_t)(text[i] - '0');
    }
    if (value > (uint64_t)INT64_MAX) {
        return false;
    }
    *out = value;
    return true;
}

static bool
parse_hash(const char *text, struct hash *out)
{
    if (strlen(text) != (size_t)2 * HASH_SIZE) {
        return false;
    }
    return hash_from_hex(text, out) == ERR_OK;
}

#define QUERY_KEYS_MAX 4

struct query {
    size_t count;
    struct {
        const char *key;
        size_t key_size;
        const char *value;
        size_t value_size;
    } items[QUERY_KEYS_MAX];
};

/* Splits "a=1&b=2" without decoding; percent-encoding, empty keys, duplicates and keys not
 * in `allowed` (NULL-terminated) are rejected. */
static bool
query_parse(const char *text, const char *const *allowed, struct query *out)
{
    struct query q = { 0 };
    if (text == NULL || text[0] == '\0') {
        *out = q;
        return true;
    }
    const char *p = text;
    for (;;) {
        const char *end = strchr(p, '&');
        size_t size = end != NULL ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', size);
        if (eq == NULL || eq == p || memchr(p, '%', size) != NULL || q.count == QUERY_KEYS_MAX) {
            return false;
        }
        size_t key_size = (size_t)(eq - p);
        bool known = false;
        for (size_t i = 0; allowed[i] != NULL; i++) {
            known |= strlen(allowed[i]) == key_size && memcmp(allowed[i], p, key_size) == 0;
        }
        for (size_t i = 0; i < q.count; i++) {
            known &= !(q.items[i].key_size == key_size && memcmp(q.items[i].key, p, key_size) == 0);
        }
        if (!known) {
            return false;
        }
        q.items[q.count].key = p;
        q.items[q.count].key_size = key_size;
        q.items[q.count].value = eq + 1;
        q.items[q.count].value_size = size - key_size - 1;
        q.count++;
        if (end == NULL) {
            break;
        }
        p = end + 1;
    }
    *out = q;
    return true;
}

/* The value of `key`, or NULL; *out_size gets its length. */
static const char *
query_get(const struct query *q, const char *key, size_t *out_size)
{
    for (size_t i = 0; i < q->count; i++) {
        if (strlen(key) == q->items[i].key_size &&
            memcmp(key, q->items[i].key, q->items[i].key_size) == 0) {
            *out_size = q->items[i].value_size;
            return q->items[i].value;
        }
    }
    return NULL;
}

static bool
query_value_is(const char *value, size_t size, const char *expected)
{
    return value != NULL && size == strlen(expected) && memcmp(value, expected, size) == 0;
}

/* ---- GET handlers ---------------------------------------------------------------------- */

static const char *
sync_state_name(enum api_sync_state state)
{
    switch (state) {
    case API_SYNC_SYNCED:
        return "synced";
    case API_SYNC_CATCHING_UP:
        return "catching_up";
    }
    UNREACHABLE();
}

static void
handle_status(struct api_server *server, struct api_conn *conn, struct evhttp_request *req)
{
    struct api_status st;
    memset(&st, 0, sizeof st);
    enum err rc = server->backend.status(server->backend.ctx, &st);
    if (rc != ERR_OK) {
        respond_err(conn, req, rc, "node status unavailable");
        return;
    }
    st.chain_id[API_TEXT_MAX] = '\0';
    st.node_name[API_TEXT_MAX] = '\0';
    json_t *body = json_pack(
        "{s:s,s:o,s:s,s:s,s:{s:o,s:o},s:o,s:o,s:b,s:I,s:{s:I,s:o,s:o,s:o},"
        "s:{s:s,s:o},s:{s:o,s:o},s:{s:o,s:o},s:{s:o,s:o,s:o}}",
        "chain_id", st.chain_id, "genesis_hash", hash_json(&st.genesis_hash), "hash",
        hash_alg_name(st.hash_alg), "node_name", st.node_name, "final", "height",
        u64_json(st.final_height), "id", hash_json(&st.final_id), "epoch", u64_json(st.epoch),
        "round", u64_json(st.round), "validator", st.is_validator, "peers",
        (json_int_t)st.peers_connected, "mempool", "txs", (json_int_t)st.mempool_txs, "bytes",
        u64_json(st.mempool_bytes), "admitted", u64_json(st.mempool_admitted), "rejected",
        u64_json(st.mempool_rejected), "sync", "state", sync_state_name(st.sync_state),
        "target_height", u64_json(st.sync_target_height), "signatures", "checked",
        u64_json(st.sigs_checked), "cache_hits", u64_json(st.sigs_cache_hits), "gossip", "frames",
        u64_json(st.gossip_frames), "txs", u64_json(st.gossip_txs), "state", "version",
        u64_json(st.state_version), "oldest_version", u64_json(st.state_oldest), "retain_versions",
        u64_json(st.state_retain));
    if (body == NULL) { /* a name that is not UTF-8 */
        respond_err(conn, req, ERR_UTF8, "node status is not valid UTF-8");
        return;
    }
    respond(conn, req, 200, body, false);
}

static void
handle_block(struct api_server *server, struct api_conn *conn, struct evhttp_request *req,
             struct api_block_query *query, const char *query_text)
{
    static const char *const allowed[] = { "txs", NULL };
    struct query q;
    if (!query_parse(query_text, allowed, &q)) {
        respond_err(conn, req, ERR_INVALID_ARG, "unknown, duplicate or malformed query parameter");
        return;
    }
    size_t size = 0;
    const char *txs = query_get(&q, "txs", &size);
    if (txs != NULL && !query_value_is(txs, size, "0") && !query_value_is(txs, size, "1")) {
        respond_err(conn, req, ERR_INVALID_ARG, "txs must be 0 or 1");
        return;
    }
    query->with_txs = query_value_is(txs, size, "1");
    json_t *block = NULL;
    enum err rc = server->backend.block_get(server->backend.ctx, query, &block);
    if (rc != ERR_OK) {
        respond_err(conn, req, rc, rc == ERR_NOT_FOUND ? "no such final block" : NULL);
        return;
    }
    ASSERT(json_is_object(block));
    respond(conn, req, 200, block, false);
}

static const char *
tx_state_name(enum api_tx_state state)
{
    switch (state) {
    case API_TX_UNKNOWN:
        return "unknown";
    case API_TX_PENDING:
        return "pending";
    case API_TX_FINAL:
        return "final";
    }
    UNREACHABLE();
}

/* {"hash":..., "status":...} plus the block, index and receipt of a final tx. */
static json_t *
tx_status_json(const struct hash *hash, const struct api_tx_status *st)
{
    json_t *o = json_pack("{s:o,s:s}", "hash", hash_json(hash), "status", tx_state_name(st->state));
    ASSERT(o != NULL);
    if (st->state == API_TX_FINAL) {
        json_object_set_new(o, "height", u64_json(st->height));
        json_object_set_new(o, "block_id", hash_json(&st->block_id));
        json_object_set_new(o, "index", json_integer(st->index));
        json_object_set(o, "receipt", st->receipt != NULL ? st->receipt : json_null());
    }
    return o;
}

static void
handle_tx_get(struct api_server *server, struct api_conn *conn, struct evhttp_request *req,
              const struct hash *hash)
{
    struct api_tx_status st;
    memset(&st, 0, sizeof st);
    enum err rc = server->backend.tx_get(server->backend.ctx, hash, &st);
    if (rc != ERR_OK) {
        respond_err(conn, req, rc, NULL);
        return;
    }
    json_t *body = tx_status_json(hash, &st);
    json_decref(st.receipt);
    if (st.state == API_TX_FINAL) {
        json_t *proof = NULL;
        rc = server->backend.tx_inclusion(server->backend.ctx, st.height, st.index, &proof);
        if (rc != ERR_OK) {
            json_decref(body);
            respond_err(conn, req, rc, "inclusion proof unavailable");
            return;
        }
        json_object_set_new(body, "inclusion", proof);
    }
    if (st.state == API_TX_UNKNOWN) {
        json_object_set_new(body, "error",
                            json_pack("{s:s,s:s}", "code", "not_found", "message",
                                      "no pending or final transaction"));
        respond(conn, req, 404, body, false);
        return;
    }
    respond(conn, req, 200, body, false);
}

static void
handle_account(struct api_server *server, struct api_conn *conn, struct evhttp_request *req,
               const char *text)
{
    uint8_t address[API_ADDRESS_SIZE];
    size_t size = 0;
    if (strlen(text) != 2 * API_ADDRESS_SIZE ||
        hex_decode(text, 2 * API_ADDRESS_SIZE, address, sizeof address, &size) != ERR_OK) {
        respond_err(conn, req, ERR_MALFORMED, "address must be 40 hex digits");
        return;
    }
    json_t *account = NULL;
    enum err rc = server->backend.account_get(server->backend.ctx, address, &account);
    if (rc != ERR_OK) {
        respond_err(conn, req, rc, rc == ERR_NOT_FOUND ? "no such account" : NULL);
        return;
    }
    respond(conn, req, 200, account, false);
}

static void
handle_validators(struct api_server *server, struct api_conn *conn, struct evhttp_request *req,
                  const char *query_text)
{
    static const char *const allowed[] = { "epoch", NULL };
    struct query q;
    if (!query_parse(query_text, allowed, &q)) {
        respond_err(conn, req, ERR_INVALID_ARG, "unknown, duplicate or malformed query parameter");
        return;
    }
    size_t size = 0;
    const char *epoch_text = query_get(&q, "epoch", &size);
    uint64_t epoch = 0;
    if (epoch_text != NULL && !parse_u64(epoch_text, size, &epoch)) {
        respond_err(conn, req, ERR_INVALID_ARG, "epoch must be a decimal number");
        return;
    }
    json_t *set = NULL;
    enum err rc =
        server->backend.validators_get(server->backend.ctx, epoch_text != NULL, epoch, &set);
    if (rc != ERR_OK) {
        respond_err(conn, req, rc, rc == ERR_NOT_FOUND ? "no such epoch (yet)" : NULL);
        return;
    }
    respond(conn, req, 200, set, false);
}

/* ---- POST /v1/txs ---------------------------------------------------------------------- */

static void
wait_free(struct api_wait *w)
{
    if (w == NULL) {
        return;
    }
    for (size_t i = 0; i < w->count; i++) {
        json_decref(w->items[i].status.receipt);
    }
    if (w->timer != NULL) {
        event_free(w->timer);
    }
    mem_free(w->items);
    mem_free(w);
}

/* Stops every registration still waiting. */
static void
wait_cancel_all(struct api_wait *w)
{
    for (size_t i = 0; i < w->count; i++) {
        struct api_item *item = &w->items[i];
        if (item->waiting) {
            w->server->backend.tx_wait_cancel(w->server->backend.ctx, &item->hash, item);
            item->waiting = false;
            w->waiting--;
            w->server->stats.waits_pending--;
        }
    }
    ASSERT(w->waiting == 0);
}

static json_t *
item_json(const struct api_item *item)
{
    if (item->rc == ERR_OK) {
        return tx_status_json(&item->hash, &item->status);
    }
    json_t *o = error_json(api_err_code(item->rc), err_str(item->rc));
    if (item->has_hash) {
        json_object_set_new(o, "hash", hash_json(&item->hash));
    }
    return o;
}

/* Answers the request of `w` and frees `w`. */
static void
wait_finish(struct api_wait *w)
{
    ASSERT(w->waiting == 0);
    struct api_conn *conn = w->conn;
    if (conn != NULL) {
        conn->wait = NULL;
    }
    if (!w->batch) {
        const struct api_item *item = &w->items[0];
        int status = item->rc != ERR_OK ? api_err_http_status(item->rc)
                     : (w->wait_final && item->status.state == API_TX_PENDING) ? 202
                                                                               : 200;
        respond(conn, w->req, status, item_json(item), false);
    } else {
        json_t *results = json_array();
        size_t accepted = 0;
        for (size_t i = 0; i < w->count; i++) {
            json_array_append_new(results, item_json(&w->items[i]));
            accepted += w->items[i].rc == ERR_OK ? 1u : 0u;
        }
        json_t *body = json_pack("{s:o,s:I}", "results", results, "accepted", (json_int_t)accepted);
        respond(conn, w->req, 200, body, false);
    }
    wait_free(w);
}

static void
wait_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct api_wait *w = arg;
    wait_cancel_all(w); /* the unfinished ones answer "pending" */
    wait_finish(w);
}

static void
wait_final_cb(void *cb_ctx, const struct api_tx_status *status)
{
    struct api_item *item = cb_ctx;
    struct api_wait *w = item->wait;
    ASSERT(item->waiting);
    ASSERT(status != NULL);
    item->waiting = false;
    item->status = *status;
    item->status.receipt = status->receipt != NULL ? json_incref(status->receipt) : NULL;
    w->waiting--;
    w->server->stats.waits_pending--;
    if (w->waiting == 0) {
        wait_finish(w);
    }
}

/* Registers the finality waits of admitted items; returns how many wait. */
static size_t
wait_register(struct api_wait *w)
{
    struct api_backend *b = &w->server->backend;
    for (size_t i = 0; i < w->count; i++) {
        struct api_item *item = &w->items[i];
        if (item->rc != ERR_OK) {
            continue;
        }
        struct api_tx_status st;
        memset(&st, 0, sizeof st);
        if (b->tx_get(b->ctx, &item->hash, &st) == ERR_OK && st.state == API_TX_FINAL) {
            item->status = st; /* takes the receipt reference */
            continue;
        }
        json_decref(st.receipt);
        if (b->tx_wait(b->ctx, &item->hash, wait_final_cb, item) == ERR_OK) {
            item->waiting = true;
            w->waiting++;
            w->server->stats.waits_pending++;
        }
    }
    return w->waiting;
}

static enum api_body_kind
body_kind(struct evhttp_request *req, bool *out_ok)
{
    const char *type = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    *out_ok = true;
    if (type == NULL) {
        return API_BODY_JSON;
    }
    size_t size = strcspn(type, "; ");
    if (size == strlen("application/json") && strncasecmp(type, "application/json", size) == 0) {
        return API_BODY_JSON;
    }
    if (size == strlen("application/octet-stream") &&
        strncasecmp(type, "application/octet-stream", size) == 0) {
        return API_BODY_OCTETS;
    }
    if (size == strlen(API_BATCH_CONTENT_TYPE) &&
        strncasecmp(type, API_BATCH_CONTENT_TYPE, size) == 0) {
        return API_BODY_BATCH;
    }
    *out_ok = false;
    return API_BODY_JSON;
}

/* ?wait=final[&timeout_ms=N]: *out_wait_ms is 0 without wait. */
static bool
txs_query_parse(const struct api_server *server, const char *text, uint32_t *out_wait_ms)
{
    static const char *const allowed[] = { "wait", "timeout_ms", NULL };
    struct query q;
    if (!query_parse(text, allowed, &q)) {
        return false;
    }
    size_t wait_size = 0;
    size_t timeout_size = 0;
    const char *wait = query_get(&q, "wait", &wait_size);
    const char *timeout = query_get(&q, "timeout_ms", &timeout_size);
    uint64_t ms = server->options.wait_final_timeout_ms;
    if ((wait != NULL && !query_value_is(wait, wait_size, "final")) ||
        (timeout != NULL && wait == NULL)) {
        return false;
    }
    if (timeout != NULL && (!parse_u64(timeout, timeout_size, &ms) || ms == 0 ||
                            ms > server->options.wait_final_timeout_ms)) {
        return false;
    }
    *out_wait_ms = wait != NULL ? (uint32_t)ms : 0;
    return true;
}

/* Submits the decoded items of `body` in one backend call and records the results. */
static struct api_wait *
txs_submit(struct api_server *server, struct api_conn *conn, struct evhttp_request *req,
           const struct api_txs_body *body)
{
    struct api_wait *w = mem_calloc(1, sizeof *w);
    w->server = server;
    w->conn = conn;
    w->req = req;
    w->batch = body->batch;
    w->count = body->count;
    w->items = mem_calloc(body->count, sizeof w->items[0]);
    struct api_tx_in *in = mem_calloc(body->count, sizeof in[0]);
    struct api_tx_result *out = mem_calloc(body->count, sizeof out[0]);
    size_t n = 0;
    for (size_t i = 0; i < body->count; i++) {
        w->items[i].wait = w;
        w->items[i].rc = body->items[i].rc;
        if (body->items[i].rc == ERR_OK) {
            in[n++] = body->items[i].tx;
        }
    }
    if (n > 0) {
        server->backend.txs_submit(server->backend.ctx, in, n, out);
    }
    size_t k = 0;
    for (size_t i = 0; i < body->count; i++) {
        struct api_item *item = &w->items[i];
        if (item->rc != ERR_OK) {
            continue;
        }
        item->rc = out[k].rc;
        item->has_hash = out[k].has_hash;
        item->hash = out[k].hash;
        item->status.state = API_TX_PENDING;
        ASSERT(item->rc != ERR_OK || item->has_hash);
        k++;
    }
    ASSERT(k == n);
    mem_free(in);
    mem_free(out);
    return w;
}

static void
handle_txs_post(struct api_server *server, struct api_conn *conn, struct evhttp_request *req,
                const char *query_text)
{
    uint32_t wait_ms = 0;
    if (!txs_query_parse(server, query_text, &wait_ms)) {
        respond_err(conn, req, ERR_INVALID_ARG,
                    "query must be empty or wait=final with an optional timeout_ms in "
                    "1..the server's maximum");
        return;
    }
    bool type_ok = false;
    enum api_body_kind kind = body_kind(req, &type_ok);
    if (!type_ok) {
        respond_err(conn, req, ERR_UNSUPPORTED,
                    "Content-Type must be application/json, application/octet-stream or "
                    "application/vnd.lianmeng.txs");
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t size = evbuffer_get_length(in);
    if (size > server->options.body_size_max) {
        respond_err(conn, req, ERR_TOO_LARGE, "request body too large");
        return;
    }
    const uint8_t *data = size > 0 ? evbuffer_pullup(in, -1) : NULL;
    struct api_txs_body body = { 0 };
    const char *why = NULL;
    enum err rc = api_txs_body_decode(kind, data, size, server->options.batch_txs_max, &body, &why);
    if (rc != ERR_OK) {
        respond_err(conn, req, rc, why);
        return;
    }
    struct api_wait *w = txs_submit(server, conn, req, &body);
    api_txs_body_release(&body);
    w->wait_final = wait_ms > 0;
    if (wait_ms == 0 || wait_register(w) == 0) {
        wait_finish(w);
        return;
    }
    w->timer = evtimer_new(server->base, wait_timer_cb, w);
    ASSERT(w->timer != NULL);
    struct timeval tv = ms_to_timeval(wait_ms);
    evtimer_add(w->timer, &tv);
    if (conn != NULL) {
        conn->wait = w;
    }
}

/* ---- Routing --------------------------------------------------------------------------- */

/* Request line + headers, as counted against header_size_max. */
static size_t
request_head_size(struct evhttp_request *req)
{
    const char *uri = evhttp_request_get_uri(req);
    size_t size = strlen("OPTIONS  HTTP/1.1\r\n") + (uri != NULL ? strlen(uri) : 0);
    const struct evkeyvalq *headers = evhttp_request_get_input_headers(req);
    for (const struct evkeyval *h = headers->tqh_first; h != NULL; h = h->next.tqe_next) {
        size += strlen(h->key) + strlen(h->value) + 4;
    }
    return size;
}

static bool
starts_with(const char *text, const char *prefix, const char **out_rest)
{
    size_t size = strlen(prefix);
    if (strncmp(text, prefix, size) != 0) {
        return false;
    }
    *out_rest = text + size;
    return true;
}

static void
route_get(struct api_server *server, struct api_conn *conn, struct evhttp_request *req,
          const char *path, const char *query)
{
    const char *rest = NULL;
    struct api_block_query bq;
    memset(&bq, 0, sizeof bq);
    struct hash hash;
    if (strcmp(path, "/v1/status") == 0) {
        if (query != NULL && query[0] != '\0') {
            respond_err(conn, req, ERR_INVALID_ARG, "/v1/status takes no query");
            return;
        }
        handle_status(server, conn, req);
    } else if (starts_with(path, "/v1/blocks/by-id/", &rest)) {
        if (!parse_hash(rest, &bq.id)) {
            respond_err(conn, req, ERR_MALFORMED, "block id must be 64 hex digits");
            return;
        }
        bq.by_id = true;
        handle_block(server, conn, req, &bq, query);
    } else if (starts_with(path, "/v1/blocks/", &rest)) {
        if (!parse_u64(rest, strlen(rest), &bq.height)) {
            respond_err(conn, req, ERR_MALFORMED, "block height must be a decimal number");
            return;
        }
        handle_block(server, conn, req, &bq, query);
    } else if (starts_with(path, "/v1/txs/", &rest)) {
        if (query != NULL && query[0] != '\0') {
            respond_err(conn, req, ERR_INVALID_ARG, "/v1/txs/{hash} takes no query");
            return;
        }
        if (!parse_hash(rest, &hash)) {
            respond_err(conn, req, ERR_MALFORMED, "tx hash must be 64 hex digits");
            return;
        }
        handle_tx_get(server, conn, req, &hash);
    } else if (starts_with(path, "/v1/accounts/", &rest)) {
        if (query != NULL && query[0] != '\0') {
            respond_err(conn, req, ERR_INVALID_ARG, "/v1/accounts/{address} takes no query");
            return;
        }
        handle_account(server, conn, req, rest);
    } else if (strcmp(path, "/v1/validators") == 0) {
        handle_validators(server, conn, req, query);
    } else if (starts_with(path, "/v1/notary/", &rest)) {
        if (query != NULL && query[0] != '\0') {
            respond_err(conn, req, ERR_INVALID_ARG, "/v1/notary/{hash} takes no query");
            return;
        }
        if (!parse_hash(rest, &hash)) {
            respond_err(conn, req, ERR_MALFORMED, "document hash must be 64 hex digits");
            return;
        }
        json_t *anchors = NULL;
        enum err rc = server->backend.notary_get(server->backend.ctx, &hash, &anchors);
        if (rc != ERR_OK) {
            respond_err(conn, req, rc, rc == ERR_NOT_FOUND ? "the hash was never anchored" : NULL);
            return;
        }
        respond(conn, req, 200, anchors, false);
    } else {
        UNREACHABLE();
    }
}

enum route_kind {
    ROUTE_NONE,
    ROUTE_GET,
    ROUTE_POST_TXS,
};

static enum route_kind
route_of(const char *path)
{
    const char *rest = NULL;
    if (strcmp(path, "/v1/txs") == 0) {
        return ROUTE_POST_TXS;
    }
    if (strcmp(path, "/v1/status") == 0 || starts_with(path, "/v1/blocks/", &rest) ||
        starts_with(path, "/v1/txs/", &rest) || starts_with(path, "/v1/accounts/", &rest) ||
        strcmp(path, "/v1/validators") == 0 || starts_with(path, "/v1/notary/", &rest)) {
        return ROUTE_GET;
    }
    return ROUTE_NONE;
}

static struct api_conn *
conn_find(struct api_server *server, const struct evhttp_connection *evcon)
{
    for (uint32_t i = 0; i < server->options.connections_max; i++) {
        if (server->conns[i].used && server->conns[i].evcon == evcon) {
            return &server->conns[i];
        }
    }
    return NULL;
}

static void
on_request(struct evhttp_request *req, void *arg)
{
    struct api_server *server = arg;
    server->stats.requests++;
    struct api_conn *conn = conn_find(server, evhttp_request_get_connection(req));
    if (conn != NULL) {
        ASSERT(!conn->busy);
        conn->busy = true;
        conn->request_bytes = 0;
        event_del(conn->deadline);
    }
    if (request_head_size(req) > server->options.header_size_max) {
        respond_error(conn, req, 431, "headers_too_large", "request line and headers too large");
        return;
    }
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
    enum route_kind route = path != NULL ? route_of(path) : ROUTE_NONE;
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    switch (route) {
    case ROUTE_NONE:
        respond_error(conn, req, 404, "not_found", "no such route");
        return;
    case ROUTE_GET:
        if (method != EVHTTP_REQ_GET) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
            respond_error(conn, req, 405, "method_not_allowed", "use GET");
            return;
        }
        route_get(server, conn, req, path, query);
        return;
    case ROUTE_POST_TXS:
        if (method != EVHTTP_REQ_POST) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
            respond_error(conn, req, 405, "method_not_allowed", "use POST");
            return;
        }
        handle_txs_post(server, conn, req, query);
        return;
    }
    UNREACHABLE();
}

/* ---- Connection accounting ------------------------------------------------------------ */

static void
listeners_update(struct api_server *server)
{
    bool at_cap = server->stats.connections_open >= server->options.connections_max;
    if (server->closing || at_cap == server->at_cap) {
        return;
    }
    server->at_cap = at_cap;
    if (at_cap) {
        evconnlistener_disable(server->listener);
        evconnlistener_enable(server->reject_listener);
    } else {
        evconnlistener_disable(server->reject_listener);
        evconnlistener_enable(server->listener);
    }
}

/* Frees a slot whose connection evhttp has closed (or is closing). */
static void
conn_release(struct api_conn *conn)
{
    struct api_server *server = conn->server;
    ASSERT(conn->used);
    if (conn->wait != NULL) {
        /* evhttp owns and frees the request with the connection: forget it, answer nothing. */
        wait_cancel_all(conn->wait);
        wait_free(conn->wait);
        conn->wait = NULL;
    }
    event_del(conn->deadline);
    evbuffer_remove_cb_entry(bufferevent_get_input(conn->bev), conn->input_cb);
    evbuffer_remove_cb_entry(bufferevent_get_output(conn->bev), conn->output_cb);
    conn->input_cb = NULL;
    conn->output_cb = NULL;
    bufferevent_decref(conn->bev);
    conn->bev = NULL;
    conn->evcon = NULL;
    conn->used = false;
    conn->busy = false;
    conn->next = server->conns_free;
    server->conns_free = conn;
    ASSERT(server->stats.connections_open > 0);
    server->stats.connections_open--;
    listeners_update(server);
}

static void
// cppcheck-suppress constParameter ; the type is libevent's close callback
conn_closed_cb(struct evhttp_connection *evcon, void *arg)
{
    struct api_conn *conn = arg;
    ASSERT(conn->used && conn->evcon == evcon);
    conn_release(conn);
}

static void
conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct api_conn *conn = arg;
    ASSERT(conn->used && !conn->busy && conn->evcon != NULL);
    conn->server->stats.connections_timed_out++;
    evhttp_connection_free(conn->evcon); /* calls conn_closed_cb */
}

static void
conn_input_cb(struct evbuffer *buffer, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buffer;
    struct api_conn *conn = arg;
    conn->request_bytes += info->n_added;
}

/* Our JSON answer for a status evhttp chose itself (it never reached on_request). */
static size_t
evhttp_error_replacement(const struct api_conn *conn, int status, char *out, size_t out_max)
{
    const char *code = "malformed";
    const char *message = "malformed HTTP request";
    if (status == 400 && conn->request_bytes >= conn->server->options.header_size_max) {
        status = 431;
        code = "headers_too_large";
        message = "request line and headers too large";
    } else if (status == 413) {
        code = "too_large";
        message = "request body too large";
    }
    char body[160];
    int body_size = snprintf(body, sizeof body,
                             "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n", code, message);
    ASSERT(body_size > 0 && (size_t)body_size < sizeof body);
    int n = snprintf(out, out_max,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     "Connection: close\r\n\r\n%s",
                     status, http_reason(status), body_size, body);
    ASSERT(n > 0 && (size_t)n < out_max);
    return (size_t)n;
}

/* evhttp answers some requests itself (malformed request, headers or body over its hard
 * limits) with an HTML page and then closes. Those pages start while none of our answers is
 * being sent: replace the page by our JSON and freeze the buffer's end so the rest of it is
 * dropped. 100 Continue passes. */
static void
conn_output_cb(struct evbuffer *buffer, const struct evbuffer_cb_info *info, void *arg)
{
    struct api_conn *conn = arg;
    if (info->n_added == 0 || conn->sending || conn->replaced || info->orig_size != 0) {
        return;
    }
    char line[13];
    if (evbuffer_copyout(buffer, line, 12) != 12) {
        return;
    }
    line[12] = '\0';
    uint64_t status = 0;
    if (strncmp(line, "HTTP/1.", 7) != 0 || !parse_u64(line + 9, 3, &status) || status == 100) {
        return;
    }
    char reply[API_REJECT_REPLY_SIZE];
    size_t size = evhttp_error_replacement(conn, (int)status, reply, sizeof reply);
    conn->replaced = true;
    conn->sending = true; /* our own changes below come back through this callback */
    evbuffer_drain(buffer, evbuffer_get_length(buffer));
    evbuffer_add(buffer, reply, size);
    conn->sending = false;
    evbuffer_freeze(buffer, 0);
}

/* evhttp asks for the bufferevent of each connection it accepts. */
static struct bufferevent *
conn_bev_cb(struct event_base *base, void *arg)
{
    struct api_server *server = arg;
    struct api_conn *conn = server->conns_free;
    ASSERT(conn != NULL); /* evhttp's listener is disabled at the cap */
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    ASSERT(bev != NULL);
    server->conns_free = conn->next;
    bufferevent_incref(bev);
    conn->bev = bev;
    conn->evcon = NULL;
    conn->used = true;
    conn->busy = false;
    conn->sending = false;
    conn->replaced = false;
    conn->request_bytes = 0;
    conn->wait = NULL;
    conn->input_cb = evbuffer_add_cb(bufferevent_get_input(bev), conn_input_cb, conn);
    conn->output_cb = evbuffer_add_cb(bufferevent_get_output(bev), conn_output_cb, conn);
    ASSERT(conn->input_cb != NULL && conn->output_cb != NULL);
    conn->next = server->adopt_queue;
    server->adopt_queue = conn;
    server->stats.connections_open++;
    server->stats.connections_accepted++;
    event_active(server->adopt_event, EV_TIMEOUT, 0);
    listeners_update(server); /* stops evhttp's accept loop at the cap */
    return bev;
}

/* Runs right after evhttp set up the connections it just accepted. */
static void
conn_adopt_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct api_server *server = arg;
    while (server->adopt_queue != NULL) {
        struct api_conn *conn = server->adopt_queue;
        server->adopt_queue = conn->next;
        conn->next = NULL;
        bufferevent_data_cb read_cb = NULL;
        void *cb_arg = NULL;
        bufferevent_getcb(conn->bev, &read_cb, NULL, NULL, &cb_arg);
        if (read_cb == NULL) { /* evhttp already freed the connection */
            conn_release(conn);
            continue;
        }
        struct evhttp_connection *evcon = cb_arg;
        ASSERT(evhttp_connection_get_bufferevent(evcon) == conn->bev);
        conn->evcon = evcon;
        evhttp_connection_set_closecb(evcon, conn_closed_cb, conn);
        conn_deadline_arm(conn);
    }
}

static void
conn_reclaim(struct api_conn *conn)
{
    log_warn(LOG_API, "api: connection freed without close callback; slot reclaimed");
    conn_release(conn);
}

/* Safety net: a slot whose bufferevent evhttp freed without calling conn_closed_cb. */
static void
conn_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct api_server *server = arg;
    for (uint32_t i = 0; i < server->options.connections_max; i++) {
        struct api_conn *conn = &server->conns[i];
        if (!conn->used || conn->evcon == NULL) {
            continue;
        }
        /* bufferevent_free clears all three callbacks; evhttp clears only the read callback
         * while it writes a response (evhttp_write_buffer), so a NULL read callback alone is a
         * live connection. */
        bufferevent_data_cb read_cb = NULL;
        bufferevent_data_cb write_cb = NULL;
        bufferevent_event_cb event_cb = NULL;
        bufferevent_getcb(conn->bev, &read_cb, &write_cb, &event_cb, NULL);
        if (read_cb == NULL && write_cb == NULL && event_cb == NULL) {
            conn_reclaim(conn);
        }
    }
}

/* ---- Rejecting over the cap ------------------------------------------------------------ */

static void
reject_close(struct api_reject *r)
{
    struct api_server *server = r->server;
    bufferevent_free(r->bev);
    r->bev = NULL;
    r->next_free = server->rejects_free;
    server->rejects_free = r;
    server->rejects_open--;
}

static void
reject_read_cb(struct bufferevent *bev, void *arg)
{
    (void)arg;
    evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
}

static void
reject_write_cb(struct bufferevent *bev, void *arg)
{
    (void)arg;
    /* Answer sent: half-close and keep draining until the client closes or the linger ends,
     * so unread request bytes do not turn our answer into a reset. */
    shutdown(bufferevent_getfd(bev), SHUT_WR);
}

static void
reject_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what;
    reject_close(arg);
}

static void
reject_accept_cb(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *addr,
                 int addr_size, void *arg)
{
    (void)listener;
    (void)addr;
    (void)addr_size;
    struct api_server *server = arg;
    server->stats.connections_rejected++;
    struct api_reject *r = server->rejects_free;
    if (r == NULL) {
        evutil_closesocket(fd); /* even the rejecting slots are full */
        return;
    }
    struct bufferevent *bev = bufferevent_socket_new(server->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        evutil_closesocket(fd);
        return;
    }
    server->rejects_free = r->next_free;
    server->rejects_open++;
    r->bev = bev;
    struct timeval linger = ms_to_timeval(API_LINGER_MS);
    bufferevent_setcb(bev, reject_read_cb, reject_write_cb, reject_event_cb, r);
    bufferevent_set_timeouts(bev, &linger, &linger);
    bufferevent_write(bev, server->reject_reply, server->reject_reply_size);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* ---- Lifecycle ------------------------------------------------------------------------- */

void
api_options_default(struct api_options *out_options)
{
    ASSERT(out_options != NULL);
    *out_options = (struct api_options){
        .bind_address = "127.0.0.1:8080",
        .body_size_max = 1u << 20,
        .header_size_max = 16u << 10,
        .connections_max = 256,
        .request_timeout_ms = 10000,
        .wait_final_timeout_ms = 10000,
        .batch_txs_max = 1000,
        .rejecting_max = 64,
    };
}

static enum err
options_check(const struct api_options *o)
{
    bool ok = o->bind_address != NULL && o->body_size_max >= 64 &&
              o->body_size_max <= (256u << 20) && o->header_size_max >= 256 &&
              o->header_size_max <= (1u << 20) && o->connections_max >= 1 &&
              o->connections_max <= 65536 && o->request_timeout_ms >= 10 &&
              o->wait_final_timeout_ms >= 10 && o->batch_txs_max >= 1 &&
              o->batch_txs_max <= 100000 && o->rejecting_max >= 1 && o->rejecting_max <= 65536;
    if (!ok) {
        return ERR_CONFIG;
    }
    /* Accepting beyond the descriptor limit makes accept() fail on every loop turn. */
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
        (rlim_t)o->connections_max + o->rejecting_max + API_FDS_RESERVED > limit.rlim_cur) {
        log_debug(LOG_API, "api: connections_max + rejecting_max exceed the file limit limit=%lu",
                  (unsigned long)limit.rlim_cur);
        return ERR_CONFIG;
    }
    return ERR_OK;
}

/* "1.2.3.4:PORT" or "[v6]:PORT" (numeric only; port 0 = ephemeral) into `ss`. */
static bool
address_parse(const char *address, struct sockaddr_storage *ss, socklen_t *out_size)
{
    const char *colon = strrchr(address, ':');
    if (colon == NULL || colon == address) {
        return false;
    }
    char host[64];
    size_t host_size = (size_t)(colon - address);
    const char *h = address;
    bool v6 = h[0] == '[';
    if (v6) {
        if (host_size < 3 || h[host_size - 1] != ']') {
            return false;
        }
        h++;
        host_size -= 2;
    }
    uint64_t port = 0;
    if (host_size >= sizeof host || !parse_u64(colon + 1, strlen(colon + 1), &port) ||
        port > 65535) {
        return false;
    }
    memcpy(host, h, host_size);
    host[host_size] = '\0';
    memset(ss, 0, sizeof *ss);
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *out_size = sizeof *a;
        return inet_pton(AF_INET6, host, &a->sin6_addr) == 1;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    *out_size = sizeof *a;
    return inet_pton(AF_INET, host, &a->sin_addr) == 1;
}

/* A non-blocking listening socket on `address`; *out_port gets the bound port. */
static enum err
listen_socket_open(const char *address, evutil_socket_t *out_fd, uint16_t *out_port)
{
    struct sockaddr_storage ss;
    socklen_t ss_size = 0;
    if (!address_parse(address, &ss, &ss_size)) {
        log_debug(LOG_API, "api: bad bind address address=%s", address);
        return ERR_CONFIG;
    }
    evutil_socket_t fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return err_from_errno(errno);
    }
    if (evutil_make_listen_socket_reuseable(fd) != 0 ||
        bind(fd, (struct sockaddr *)&ss, ss_size) != 0 || listen(fd, API_BACKLOG) != 0) {
        int saved = errno;
        log_debug(LOG_API, "api: cannot listen address=%s errno=%d", address, saved);
        evutil_closesocket(fd);
        return ERR_IO;
    }
    socklen_t bound_size = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &bound_size) != 0) {
        evutil_closesocket(fd);
        return ERR_IO;
    }
    *out_port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                                        : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    *out_fd = fd;
    return ERR_OK;
}

static void
reject_reply_build(struct api_server *server)
{
    static const char body[] = "{\"error\":{\"code\":\"too_many_connections\",\"message\":"
                               "\"connection limit reached; retry later\"}}\n";
    int n = snprintf(server->reject_reply, sizeof server->reject_reply,
                     "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\nRetry-After: 1\r\n\r\n%s",
                     sizeof body - 1, body);
    ASSERT(n > 0 && (size_t)n < sizeof server->reject_reply);
    server->reject_reply_size = (size_t)n;
}

static void
pools_init(struct api_server *server)
{
    uint32_t conns = server->options.connections_max;
    server->conns = mem_calloc(conns, sizeof server->conns[0]);
    for (uint32_t i = conns; i-- > 0;) {
        struct api_conn *conn = &server->conns[i];
        conn->server = server;
        conn->deadline = evtimer_new(server->base, conn_deadline_cb, conn);
        ASSERT(conn->deadline != NULL);
        conn->next = server->conns_free;
        server->conns_free = conn;
    }
    uint32_t rejects = server->options.rejecting_max;
    server->rejects = mem_calloc(rejects, sizeof server->rejects[0]);
    for (uint32_t i = rejects; i-- > 0;) {
        server->rejects[i].server = server;
        server->rejects[i].next_free = server->rejects_free;
        server->rejects_free = &server->rejects[i];
    }
}

static enum err
http_init(struct api_server *server, evutil_socket_t fd)
{
    const struct api_options *o = &server->options;
    server->http = evhttp_new(server->base);
    ASSERT(server->http != NULL);
    /* evhttp's own limits are the hard backstop; below them we answer 431/413 in JSON. */
    evhttp_set_max_headers_size(server->http,
                                (ev_ssize_t)(API_HEADER_BACKSTOP * o->header_size_max));
    evhttp_set_max_body_size(server->http, (ev_ssize_t)o->body_size_max);
    struct timeval tv = ms_to_timeval(o->request_timeout_ms);
    evhttp_set_timeout_tv(server->http, &tv);
    evhttp_set_allowed_methods(server->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                                 EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                                 EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_default_content_type(server->http, "application/json");
    evhttp_set_gencb(server->http, on_request, server);
    evhttp_set_bevcb(server->http, conn_bev_cb, server);

    evutil_socket_t reject_fd = dup(fd);
    if (reject_fd < 0) {
        evutil_closesocket(fd);
        return ERR_IO;
    }
    evutil_make_socket_closeonexec(reject_fd);
    server->reject_listener = evconnlistener_new(
        server->base, reject_accept_cb, server,
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED, 0, reject_fd);
    server->listener = evconnlistener_new(server->base, NULL, NULL,
                                          LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
    if (server->reject_listener == NULL || server->listener == NULL) {
        if (server->reject_listener == NULL) {
            evutil_closesocket(reject_fd);
        }
        if (server->listener == NULL) {
            evutil_closesocket(fd);
        }
        return ERR_IO;
    }
    if (evhttp_bind_listener(server->http, server->listener) == NULL) {
        evconnlistener_free(server->listener);
        server->listener = NULL;
        return ERR_IO;
    }
    return ERR_OK;
}

enum err
api_server_new(struct event_base *base, const struct api_options *options,
               const struct api_backend *backend, struct api_server **out_server)
{
    ASSERT(base != NULL && options != NULL && backend != NULL && out_server != NULL);
    ASSERT(backend->status != NULL && backend->block_get != NULL && backend->txs_submit != NULL);
    ASSERT(backend->tx_get != NULL && backend->tx_wait != NULL && backend->tx_wait_cancel != NULL);
    if (options_check(options) != ERR_OK) {
        log_debug(LOG_API, "api: invalid options");
        return ERR_CONFIG;
    }
    evutil_socket_t fd = -1;
    uint16_t port = 0;
    enum err rc = listen_socket_open(options->bind_address, &fd, &port);
    if (rc != ERR_OK) {
        return rc;
    }
    struct api_server *server = mem_calloc(1, sizeof *server);
    server->base = base;
    server->options = *options;
    server->options.bind_address = NULL; /* borrowed only during this call */
    server->backend = *backend;
    server->port = port;
    reject_reply_build(server);
    pools_init(server);
    server->adopt_event = event_new(base, -1, 0, conn_adopt_cb, server);
    server->sweep_event = event_new(base, -1, EV_PERSIST, conn_sweep_cb, server);
    ASSERT(server->adopt_event != NULL && server->sweep_event != NULL);
    struct timeval sweep = ms_to_timeval(API_SWEEP_MS);
    event_add(server->sweep_event, &sweep);
    rc = http_init(server, fd); /* owns fd from here */
    if (rc != ERR_OK) {
        api_server_free(server);
        return rc;
    }
    log_info(LOG_API, "api: listening port=%u connections_max=%u", (unsigned)port,
             (unsigned)options->connections_max);
    *out_server = server;
    return ERR_OK;
}

uint16_t
api_server_port(const struct api_server *server)
{
    ASSERT(server != NULL);
    return server->port;
}

void
api_server_stats(const struct api_server *server, struct api_server_stats *out_stats)
{
    ASSERT(server != NULL && out_stats != NULL);
    *out_stats = server->stats;
}

void
api_server_free(struct api_server *server)
{
    if (server == NULL) {
        return;
    }
    /* Our state first: evhttp_free then frees the connections, and their requests, without
     * answering; conn_closed_cb still runs for each and returns its slot. */
    for (uint32_t i = 0; i < server->options.connections_max; i++) {
        struct api_conn *conn = &server->conns[i];
        if (conn->used && conn->wait != NULL) {
            wait_cancel_all(conn->wait);
            wait_free(conn->wait);
            conn->wait = NULL;
        }
    }
    conn_adopt_cb(-1, 0, server); /* closes the gap for connections accepted this turn */
    server->closing = true;
    if (server->http != NULL) {
        evhttp_free(server->http);
    }
    for (uint32_t i = 0; i < server->options.connections_max; i++) {
        struct api_conn *conn = &server->conns[i];
        if (conn->used) { /* freed without a close callback */
            conn_release(conn);
        }
        event_free(conn->deadline);
    }
    for (uint32_t i = 0; i < server->options.rejecting_max; i++) {
        if (server->rejects[i].bev != NULL) {
            reject_close(&server->rejects[i]);
        }
    }
    if (server->reject_listener != NULL) {
        evconnlistener_free(server->reject_listener);
    }
    if (server->adopt_event != NULL) {
        event_free(server->adopt_event);
    }
    if (server->sweep_event != NULL) {
        event_free(server->sweep_event);
    }
    mem_free(server->conns);
    mem_free(server->rejects);
    mem_free(server);
}
