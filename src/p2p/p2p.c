/* TLS links, framing, peer set, reconnects and gossip; see p2p.h.
 *
 * OpenSSL here is libssl only (<openssl/ssl.h> for the TLS context and the verify callback,
 * <openssl/err.h> for error texts); key and certificate handling is in crypto/tls_identity.
 *
 * Life of a link: LINK_TLS (TCP + TLS handshake; the verify callback checks the peer's key)
 * -> LINK_HELLO (our HELLO sent, waiting for the peer's) -> LINK_OPEN (attached to its peer)
 * -> LINK_CLOSED (bufferevent freed; the struct waits on the reap list until the next tick,
 * because callers up the stack may still look at it). */
#include "p2p/p2p.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/assert.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/text.h"
#include "crypto/tls_identity.h"
#include "p2p/seen.h"

#define STAGE_SIZE      16384u /* one full TLS record of coalesced frames */
#define HOUSEKEEPING_MS 250u
#define LINK_STABLE_MS  10000u /* a link up this long resets the back-off */
#define LOG_BURST       10u    /* remote-triggered log lines per window and source */
#define LOG_WINDOW_MS   10000u
#define KEY_SHORT_SIZE  17u /* 8 bytes in hex + NUL */

_Static_assert(STAGE_SIZE > FRAME_HEADER_SIZE, "stage holds at least a header");

/* At most LOG_BURST lines per LOG_WINDOW_MS; the next allowed line reports how many were
 * suppressed. */
struct ratelim {
    uint64_t window_start_ms;
    uint32_t count;
    uint32_t suppressed;
};

enum link_state {
    LINK_TLS,
    LINK_HELLO,
    LINK_OPEN,
    LINK_CLOSED,
};

struct peer;

struct link {
    struct p2p *p2p;
    struct bufferevent *bev;
    struct peer *target;   /* outbound: the peer dialled (NULL once detached) */
    struct peer *peer;     /* open: the peer carried (NULL once detached) */
    struct public_key key; /* the peer's key, once TLS is up */
    enum link_state state;
    bool outbound;
    bool refused; /* the verify callback has logged why */
    bool dirty;   /* on p2p.dirty */
    bool was_full;
    uint64_t created_ms;
    uint64_t opened_ms;
    size_t stage_used;
    uint8_t *stage;    /* STAGE_SIZE bytes of frames not yet handed to the bufferevent */
    struct link *prev; /* p2p.links */
    struct link *next; /* p2p.links */
    struct link *next_dirty;
    struct link *next_reap;
    char addr[P2P_ADDRESS_TEXT_MAX];
};

struct peer {
    struct p2p *p2p;
    bool in_use;
    bool has_address;
    struct public_key key;
    struct sockaddr_storage addr;
    int addr_size;
    char addr_text[P2P_ADDRESS_TEXT_MAX];
    /* A dial address by host name: resolved (evdns, async) before every dial. */
    bool by_name;
    char host[P2P_ADDRESS_TEXT_MAX];
    char port[8];
    struct evdns_getaddrinfo_request *resolving;
    struct link *link;    /* the open link, or NULL */
    struct link *dialing; /* an outbound link not yet open, or NULL */
    struct event *dial_ev;
    uint32_t backoff_ms;
    struct p2p_peer_stats stats;
    struct ratelim log_limit;
};

struct p2p {
    struct event_base *base;
    struct evdns_base *dns; /* created at the first host-name peer */
    struct p2p_options opt;
    struct p2p_callbacks cb;
    const struct clock *clock;
    SSL_CTX *ssl_ctx;
    struct evconnlistener *listener;
    uint16_t port;
    struct public_key self;
    struct peer *peers;         /* opt.peers_max slots */
    struct public_key *allowed; /* sorted by p2p_key_compare, allowed_count entries */
    size_t allowed_count;
    struct link *links;       /* every link not closed */
    uint32_t inbound_pending; /* inbound links not yet open */
    uint32_t tokens;          /* inbound connection budget */
    uint64_t tokens_refill_ms;
    struct link *dirty; /* links with staged frames */
    struct link *reap;  /* closed links to free */
    struct event *tick_ev;
    struct event *housekeeping_ev;
    struct ratelim log_limit; /* for events before a peer is known */
    struct seen_set *seen;
    bool freeing;
};

static void link_close(struct link *l, const char *why);
static void peer_dial(struct peer *pe);

/* ---- small helpers ---- */

static uint64_t
now_ms(const struct p2p *p)
{
    return clock_monotonic_ms(p->clock);
}

static bool
ratelim_allow(struct ratelim *r, uint64_t now, uint32_t *out_suppressed)
{
    if (now - r->window_start_ms >= LOG_WINDOW_MS) {
        r->window_start_ms = now;
        r->count = 0;
    }
    if (r->count >= LOG_BURST) {
        r->suppressed++;
        return false;
    }
    r->count++;
    *out_suppressed = r->suppressed;
    r->suppressed = 0;
    return true;
}

/* Logs a line a remote party can trigger: at most LOG_BURST per window per limiter. */
__attribute__((format(printf, 4, 5))) static void
log_limited(struct p2p *p, struct ratelim *r, enum log_level level, const char *fmt, ...)
{
    uint32_t suppressed = 0;
    if (!log_is_enabled(level) || !ratelim_allow(r, now_ms(p), &suppressed)) {
        return;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_write(level, LOG_NET, "%s suppressed=%u", msg, suppressed);
}

static void
key_short(const struct public_key *key, char out[KEY_SHORT_SIZE])
{
    size_t n = key->size < 8 ? key->size : 8;
    hex_encode(key->bytes, n, out);
}

int
p2p_key_compare(const struct public_key *a, const struct public_key *b)
{
    if (a->alg != b->alg) {
        return a->alg < b->alg ? -1 : 1;
    }
    if (a->size != b->size) {
        return a->size < b->size ? -1 : 1;
    }
    size_t n = a->size <= PUBLIC_KEY_SIZE_MAX ? a->size : PUBLIC_KEY_SIZE_MAX;
    return memcmp(a->bytes, b->bytes, n);
}

static bool
key_equal(const struct public_key *a, const struct public_key *b)
{
    return p2p_key_compare(a, b) == 0;
}

static uint32_t
random_u32(void)
{
    uint32_t r;
    evutil_secure_rng_get_bytes(&r, sizeof r);
    return r;
}

/* A delay in [base/2, base]: spreads the redials of many peers (no reconnect storms). */
static uint32_t
jitter_ms(uint32_t base)
{
    uint32_t half = base / 2;
    return half + random_u32() % (base - half + 1);
}

static void
sockaddr_text(const struct sockaddr *sa, char out[P2P_ADDRESS_TEXT_MAX])
{
    char ip[48] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        (void)evutil_inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        (void)evutil_inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        port = ntohs(in6->sin6_port);
    }
    snprintf(out, P2P_ADDRESS_TEXT_MAX, "%s:%u", ip, port);
}

enum err
p2p_host_port_split(const char *text, char host[P2P_ADDRESS_TEXT_MAX], char port[8])
{
    const char *colon = strrchr(text, ':');
    size_t len = strlen(text);
    if (colon == NULL || colon == text || len >= P2P_ADDRESS_TEXT_MAX) {
        return ERR_INVALID_ARG;
    }
    size_t host_len = (size_t)(colon - text);
    size_t port_len = len - host_len - 1;
    uint32_t port_value = 0;
    for (size_t i = 0; i < port_len; i++) {
        char c = colon[1 + i];
        if (c < '0' || c > '9') {
            return ERR_INVALID_ARG;
        }
        port_value = port_value * 10u + (uint32_t)(c - '0');
    }
    if (port_len == 0 || port_len > 5 || port_value == 0 || port_value > 65535u ||
        host_len > P2P_HOST_NAME_MAX) {
        return ERR_INVALID_ARG;
    }
    /* RFC 1123 names: labels of letters, digits and '-', not starting or ending with '-'. */
    size_t label = 0;
    for (size_t i = 0; i < host_len; i++) {
        char c = text[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        bool ok = alnum || (c == '-' && label > 0 && i + 1 < host_len && text[i + 1] != '.') ||
                  (c == '.' && label > 0);
        if (!ok || label >= 63) {
            return ERR_INVALID_ARG;
        }
        label = c == '.' ? 0 : label + 1;
    }
    if (label == 0) {
        return ERR_INVALID_ARG; /* empty, or ends with '.' */
    }
    memcpy(host, text, host_len);
    host[host_len] = '\0';
    memcpy(port, colon + 1, port_len);
    port[port_len] = '\0';
    return ERR_OK;
}

/* Parses "a.b.c.d:port" or "[v6]:port" (numeric only, no names). ERR_INVALID_ARG if bad;
 * port 0 only if allow_port_zero (listening on an ephemeral port). */
static enum err
address_parse(const char *text, bool allow_port_zero, struct sockaddr_storage *out, int *out_size)
{
    char host[P2P_ADDRESS_TEXT_MAX];
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon == text || strlen(text) >= P2P_ADDRESS_TEXT_MAX) {
        return ERR_INVALID_ARG;
    }
    const char *port_text = colon + 1;
    size_t port_digits = strlen(port_text);
    if (port_digits == 0 || port_digits > 5) {
        return ERR_INVALID_ARG;
    }
    uint32_t port = 0;
    for (size_t i = 0; i < port_digits; i++) {
        if (port_text[i] < '0' || port_text[i] > '9') {
            return ERR_INVALID_ARG;
        }
        port = port * 10u + (uint32_t)(port_text[i] - '0');
    }
    if (port > 65535u || (port == 0 && !allow_port_zero)) {
        return ERR_INVALID_ARG;
    }
    size_t host_size = (size_t)(colon - text);
    bool v6 = text[0] == '[';
    if (v6 && (host_size < 3 || text[host_size - 1] != ']')) {
        return ERR_INVALID_ARG;
    }
    const char *host_start = v6 ? text + 1 : text;
    size_t host_len = v6 ? host_size - 2 : host_size;
    memcpy(host, host_start, host_len);
    host[host_len] = '\0';
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (v6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        if (evutil_inet_pton(AF_INET6, host, &in6->sin6_addr) != 1) {
            return ERR_INVALID_ARG;
        }
        *out_size = (int)sizeof *in6;
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)(void *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        if (evutil_inet_pton(AF_INET, host, &in->sin_addr) != 1) {
            return ERR_INVALID_ARG;
        }
        *out_size = (int)sizeof *in;
    }
    *out = ss;
    return ERR_OK;
}

static void
socket_set_nodelay(evutil_socket_t fd)
{
    int one = 1;
    if (fd >= 0) {
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
}

/* ---- allow-set and peer table ---- */

bool
p2p_is_allowed(const struct p2p *p, const struct public_key *key)
{
    size_t lo = 0;
    size_t hi = p->allowed_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = p2p_key_compare(&p->allowed[mid], key);
        if (c == 0) {
            return true;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

static struct peer *
peer_find(const struct p2p *p, const struct public_key *key)
{
    for (uint32_t i = 0; i < p->opt.peers_max; i++) {
        struct peer *pe = &p->peers[i];
        if (pe->in_use && key_equal(&pe->key, key)) {
            return pe;
        }
    }
    return NULL;
}

static struct peer *
peer_slot_new(struct p2p *p, const struct public_key *key)
{
    for (uint32_t i = 0; i < p->opt.peers_max; i++) {
        struct peer *pe = &p->peers[i];
        if (!pe->in_use) {
            struct event *ev = pe->dial_ev;
            memset(pe, 0, sizeof *pe);
            pe->p2p = p;
            pe->dial_ev = ev;
            pe->in_use = true;
            pe->key = *key;
            pe->backoff_ms = p->opt.reconnect_backoff_min_ms;
            return pe;
        }
    }
    return NULL;
}

static void
peer_slot_clear(struct peer *pe)
{
    if (pe->resolving != NULL) {
        struct evdns_getaddrinfo_request *r = pe->resolving;
        pe->resolving = NULL;
        evdns_getaddrinfo_cancel(r); /* its callback sees the cancel and returns */
    }
    pe->by_name = false;
    event_del(pe->dial_ev);
    pe->in_use = false;
    pe->link = NULL;
    pe->dialing = NULL;
}

static bool
peer_wants_dial(const struct p2p *p, const struct peer *pe)
{
    return pe->in_use && pe->has_address && pe->link == NULL && pe->dialing == NULL &&
           pe->resolving == NULL && !p->freeing && p2p_is_allowed(p, &pe->key);
}

static void
peer_schedule_dial(struct peer *pe, uint32_t delay_ms)
{
    struct timeval tv = { .tv_sec = (time_t)(delay_ms / 1000u),
                          .tv_usec = (suseconds_t)((delay_ms % 1000u) * 1000u) };
    event_del(pe->dial_ev);
    (void)event_add(pe->dial_ev, &tv);
}

/* First dial of a peer: the lower key dials at once, the higher waits one back-off step, so
 * both rarely dial each other at the same time. */
static void
peer_schedule_first_dial(struct p2p *p, struct peer *pe)
{
    if (!peer_wants_dial(p, pe) || event_pending(pe->dial_ev, EV_TIMEOUT, NULL)) {
        return;
    }
    bool self_lower = p2p_key_compare(&p->self, &pe->key) < 0;
    peer_schedule_dial(pe, self_lower ? 0 : jitter_ms(p->opt.reconnect_backoff_min_ms));
}

/* Redials pe after its back-off (with jitter), which doubles up to the maximum. */
static void
peer_redial_later(struct p2p *p, struct peer *pe)
{
    peer_schedule_dial(pe, jitter_ms(pe->backoff_ms));
    uint64_t next = (uint64_t)pe->backoff_ms * 2u;
    pe->backoff_ms =
        next > p->opt.reconnect_backoff_max_ms ? p->opt.reconnect_backoff_max_ms : (uint32_t)next;
}

/* After a link of pe closed: redial with exponential back-off and jitter. */
static void
peer_after_close(struct p2p *p, struct peer *pe, const struct link *l)
{
    if (l->opened_ms != 0 && now_ms(p) - l->opened_ms >= LINK_STABLE_MS) {
        pe->backoff_ms = p->opt.reconnect_backoff_min_ms;
    }
    if (!peer_wants_dial(p, pe)) {
        return;
    }
    peer_redial_later(p, pe);
}

static void
peer_dial_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct peer *pe = arg;
    if (pe->in_use) {
        peer_dial(pe);
    }
}

/* ---- links: creation, close, reap ---- */

static struct link *
link_new(struct p2p *p, bool outbound, const char *addr)
{
    struct link *l = mem_calloc(1, sizeof *l);
    l->p2p = p;
    l->outbound = outbound;
    l->state = LINK_TLS;
    l->created_ms = now_ms(p);
    l->stage = mem_alloc(STAGE_SIZE);
    snprintf(l->addr, sizeof l->addr, "%s", addr);
    l->next = p->links;
    if (p->links != NULL) {
        p->links->prev = l;
    }
    p->links = l;
    if (!outbound) {
        p->inbound_pending++;
    }
    return l;
}

static void
link_unlink(struct p2p *p, struct link *l)
{
    if (l->prev != NULL) {
        l->prev->next = l->next;
    } else {
        ASSERT(p->links == l);
        p->links = l->next;
    }
    if (l->next != NULL) {
        l->next->prev = l->prev;
    }
    l->prev = NULL;
    l->next = NULL;
}

static void
link_log_closed(const struct link *l, const char *why)
{
    char k[KEY_SHORT_SIZE];
    key_short(&l->key, k);
    log_info(LOG_NET, "peer disconnected key=%s addr=%s dir=%s reason=\"%s\"", k, l->addr,
             l->outbound ? "out" : "in", why);
}

/* Closes l; idempotent. Runs on_disconnect if l was its peer's open link. The struct stays
 * valid until the next tick. */
static void
link_close(struct link *l, const char *why)
{
    if (l->state == LINK_CLOSED) {
        return;
    }
    struct p2p *p = l->p2p;
    enum link_state was = l->state;
    l->state = LINK_CLOSED;
    if (was != LINK_OPEN && !l->outbound) {
        ASSERT(p->inbound_pending > 0);
        p->inbound_pending--;
    }
    if (l->bev != NULL) {
        bufferevent_free(l->bev);
        l->bev = NULL;
    }
    l->stage_used = 0;
    link_unlink(p, l);
    l->next_reap = p->reap;
    p->reap = l;
    event_active(p->tick_ev, EV_TIMEOUT, 0);

    struct peer *pe = NULL;
    bool was_open = false;
    if (l->peer != NULL && l->peer->link == l) {
        pe = l->peer;
        pe->link = NULL;
        pe->stats.disconnects++;
        was_open = true;
    }
    if (l->target != NULL && l->target->dialing == l) {
        pe = l->target;
        pe->dialing = NULL;
    }
    if (p->freeing) {
        return;
    }
    if (was_open) {
        link_log_closed(l, why);
    } else {
        char k[KEY_SHORT_SIZE];
        key_short(&l->key, k);
        log_debug(LOG_NET, "link closed before open addr=%s key=%s reason=\"%s\"", l->addr, k, why);
    }
    if (pe != NULL) {
        peer_after_close(p, pe, l);
    }
    if (was_open && p->cb.on_disconnect != NULL) {
        p->cb.on_disconnect(p->cb.ctx, &pe->key);
    }
}

/* Closes l for something the remote side did wrong, logging it rate-limited. */
static void
link_close_bad(struct link *l, const char *what, enum err rc)
{
    struct p2p *p = l->p2p;
    struct peer *pe = l->peer != NULL ? l->peer : peer_find(p, &l->key);
    struct ratelim *limit = pe != NULL ? &pe->log_limit : &p->log_limit;
    if (pe != NULL) {
        pe->stats.malformed++;
    }
    char k[KEY_SHORT_SIZE];
    key_short(&l->key, k);
    log_limited(p, limit, LOG_LEVEL_WARN,
                "peer sent a bad frame, disconnecting key=%s addr=%s what=\"%s\" err=%s", k,
                l->addr, what, err_name(rc));
    link_close(l, what);
}

/* ---- sending ---- */

static size_t
link_queue_bytes(const struct link *l)
{
    return evbuffer_get_length(bufferevent_get_output(l->bev)) + l->stage_used;
}

/* Hands the staged frames to the bufferevent as one block (one TLS record). libevent writes
 * at once if the socket is writable, and an error may close l before this returns. */
static void
link_flush(struct link *l)
{
    if (l->state == LINK_CLOSED || l->stage_used == 0) {
        return;
    }
    size_t n = l->stage_used;
    l->stage_used = 0;
    if (evbuffer_add(bufferevent_get_output(l->bev), l->stage, n) != 0) {
        link_close(l, "out of buffer memory");
    }
}

static void
link_mark_dirty(struct link *l)
{
    struct p2p *p = l->p2p;
    if (l->dirty) {
        return;
    }
    l->dirty = true;
    l->next_dirty = p->dirty;
    p->dirty = l;
    event_active(p->tick_ev, EV_TIMEOUT, 0);
}

static enum err
link_queue(struct link *l, uint8_t type, const uint8_t *payload, size_t size)
{
    struct p2p *p = l->p2p;
    ASSERT(l->state == LINK_OPEN || l->state == LINK_HELLO);
    ASSERT(size <= p->opt.frame_payload_size_max);
    size_t total = FRAME_HEADER_SIZE + size;
    if (link_queue_bytes(l) + total > p->opt.peer_queue_bytes_max) {
        l->was_full = true;
        return ERR_FULL;
    }
    uint8_t header[FRAME_HEADER_SIZE];
    frame_header_encode(type, (uint32_t)size, header);
    if (total <= STAGE_SIZE) {
        if (l->stage_used + total > STAGE_SIZE) {
            link_flush(l);
            if (l->state == LINK_CLOSED) {
                return ERR_CLOSED;
            }
        }
        memcpy(l->stage + l->stage_used, header, FRAME_HEADER_SIZE);
        if (size > 0) {
            memcpy(l->stage + l->stage_used + FRAME_HEADER_SIZE, payload, size);
        }
        l->stage_used += total;
        link_mark_dirty(l);
        return ERR_OK;
    }
    link_flush(l);
    if (l->state == LINK_CLOSED) {
        return ERR_CLOSED;
    }
    struct evbuffer *out = bufferevent_get_output(l->bev);
    struct evbuffer_iovec vec;
    if (evbuffer_reserve_space(out, (ev_ssize_t)total, &vec, 1) != 1 || vec.iov_len < total) {
        return ERR_FULL;
    }
    memcpy(vec.iov_base, header, FRAME_HEADER_SIZE);
    memcpy((uint8_t *)vec.iov_base + FRAME_HEADER_SIZE, payload, size);
    vec.iov_len = total;
    if (evbuffer_commit_space(out, &vec, 1) != 0) {
        return ERR_FULL;
    }
    return ERR_OK;
}

static enum err
peer_send(struct p2p *p, struct peer *pe, uint8_t type, const uint8_t *payload, size_t size)
{
    (void)p;
    if (pe->link == NULL) {
        return ERR_CLOSED;
    }
    enum err rc = link_queue(pe->link, type, payload, size);
    if (rc == ERR_OK) {
        pe->stats.frames_out++;
        pe->stats.bytes_out += size;
    } else if (rc == ERR_FULL) {
        pe->stats.drops++;
    }
    return rc;
}

enum err
p2p_send(struct p2p *p, const struct public_key *peer, uint8_t type, const uint8_t *payload,
         size_t size)
{
    ASSERT(type >= FRAME_TX && type <= FRAME_TYPE_MAX);
    ASSERT(payload != NULL || size == 0);
    if (size > p->opt.frame_payload_size_max) {
        return ERR_TOO_LARGE;
    }
    struct peer *pe = peer_find(p, peer);
    if (pe == NULL) {
        return ERR_NOT_FOUND;
    }
    return peer_send(p, pe, type, payload, size);
}

enum err
p2p_broadcast(struct p2p *p, const struct public_key *except, uint8_t type, const uint8_t *payload,
              size_t size)
{
    ASSERT(type >= FRAME_TX && type <= FRAME_TYPE_MAX);
    ASSERT(payload != NULL || size == 0);
    if (size > p->opt.frame_payload_size_max) {
        return ERR_TOO_LARGE;
    }
    enum err result = ERR_OK;
    for (uint32_t i = 0; i < p->opt.peers_max; i++) {
        struct peer *pe = &p->peers[i];
        if (!pe->in_use || pe->link == NULL || (except != NULL && key_equal(&pe->key, except))) {
            continue;
        }
        if (peer_send(p, pe, type, payload, size) == ERR_FULL) {
            result = ERR_FULL;
        }
    }
    return result;
}

enum err
p2p_gossip(struct p2p *p, const struct public_key *from, const struct hash *id, uint8_t type,
           const uint8_t *payload, size_t size)
{
    if (size > p->opt.frame_payload_size_max) {
        return ERR_TOO_LARGE;
    }
    if (!seen_set_insert(p->seen, id)) {
        return ERR_EXISTS;
    }
    return p2p_broadcast(p, from, type, payload, size);
}

enum err
p2p_request_blocks(struct p2p *p, const struct public_key *peer, uint64_t height_from,
                   uint32_t count)
{
    if (count == 0 || count > FRAME_BLOCK_REQUEST_COUNT_MAX || height_from > UINT64_MAX - count) {
        return ERR_INVALID_ARG;
    }
    struct frame_block_request req = { .height_from = height_from, .count = count };
    uint8_t payload[FRAME_BLOCK_REQUEST_SIZE];
    frame_block_request_encode(&req, payload);
    return p2p_send(p, peer, FRAME_BLOCK_REQUEST, payload, sizeof payload);
}

bool
p2p_gossip_seen(const struct p2p *p, const struct hash *id)
{
    return seen_set_contains(p->seen, id);
}

bool
p2p_gossip_mark(struct p2p *p, const struct hash *id)
{
    return seen_set_insert(p->seen, id);
}

/* ---- receiving ---- */

static bool
link_wins(const struct p2p *p, const struct link *fresh, const struct link *old)
{
    if (fresh->outbound == old->outbound) {
        return true; /* the peer reconnected: the old link is stale */
    }
    bool self_lower = p2p_key_compare(&p->self, &fresh->key) < 0;
    return fresh->outbound == self_lower; /* keep the link dialled by the lower key */
}

/* The peer's HELLO arrived: both sides accepted each other. Attach l to its peer. */
static void
link_attach(struct link *l)
{
    struct p2p *p = l->p2p;
    if (!p2p_is_allowed(p, &l->key)) {
        link_close(l, "key no longer allowed");
        return;
    }
    struct peer *pe = peer_find(p, &l->key);
    if (pe == NULL) {
        pe = peer_slot_new(p, &l->key);
        if (pe == NULL) {
            link_close_bad(l, "peer table full", ERR_FULL);
            return;
        }
    }
    if (pe->link != NULL) {
        struct link *old = pe->link;
        if (!link_wins(p, l, old)) {
            link_close(l, "duplicate link");
            return;
        }
        pe->link = NULL; /* detach first: the peer stays connected, no callbacks */
        link_close(old, "replaced by a newer link");
    }
    if (pe->dialing == l) {
        pe->dialing = NULL;
    }
    if (!l->outbound) {
        ASSERT(p->inbound_pending > 0);
        p->inbound_pending--;
    }
    l->state = LINK_OPEN;
    l->peer = pe;
    l->opened_ms = now_ms(p);
    pe->link = l;
    pe->stats.connects++;
    event_del(pe->dial_ev);
    struct timeval write_tv = { .tv_sec = (time_t)(p->opt.write_timeout_ms / 1000u),
                                .tv_usec =
                                    (suseconds_t)((p->opt.write_timeout_ms % 1000u) * 1000u) };
    (void)bufferevent_set_timeouts(l->bev, NULL, &write_tv);
    char k[KEY_SHORT_SIZE];
    key_short(&l->key, k);
    log_info(LOG_NET, "peer connected key=%s addr=%s dir=%s", k, l->addr,
             l->outbound ? "out" : "in");
    if (p->cb.on_connect != NULL) {
        p->cb.on_connect(p->cb.ctx, &pe->key);
    }
}

static void
link_dispatch(struct link *l, uint8_t type, const uint8_t *payload, size_t size)
{
    struct p2p *p = l->p2p;
    if (l->state == LINK_HELLO) {
        if (type != FRAME_HELLO) {
            link_close_bad(l, "frame before hello", ERR_MALFORMED);
            return;
        }
        enum err rc = frame_hello_decode(payload, size);
        if (rc != ERR_OK) {
            link_close_bad(l, "bad hello", rc);
            return;
        }
        link_attach(l);
        return;
    }
    ASSERT(l->state == LINK_OPEN);
    if (type == FRAME_HELLO) {
        link_close_bad(l, "second hello", ERR_MALFORMED);
        return;
    }
    struct peer *pe = l->peer;
    pe->stats.frames_in++;
    pe->stats.bytes_in += size;
    p->cb.on_frame(p->cb.ctx, &pe->key, type, payload, size);
}

static void
link_read_cb(struct bufferevent *bev, void *arg)
{
    struct link *l = arg;
    struct p2p *p = l->p2p;
    struct evbuffer *in = bufferevent_get_input(bev);
    /* Each pass consumes one frame or returns, so this loop ends with the input. */
    while (l->state == LINK_HELLO || l->state == LINK_OPEN) {
        size_t avail = evbuffer_get_length(in);
        if (avail < FRAME_HEADER_SIZE) {
            return;
        }
        uint8_t header[FRAME_HEADER_SIZE];
        if (evbuffer_copyout(in, header, FRAME_HEADER_SIZE) != (ev_ssize_t)FRAME_HEADER_SIZE) {
            link_close(l, "read failed");
            return;
        }
        struct frame_header h;
        enum err rc = frame_header_decode(header, sizeof header, p->opt.frame_payload_size_max, &h);
        if (rc != ERR_OK) {
            link_close_bad(l, rc == ERR_TOO_LARGE ? "frame too large" : "unknown frame type", rc);
            return;
        }
        size_t total = FRAME_HEADER_SIZE + (size_t)h.payload_size;
        if (avail < total) {
            return;
        }
        const uint8_t *data = evbuffer_pullup(in, (ev_ssize_t)total);
        if (data == NULL) {
            link_close(l, "out of buffer memory");
            return;
        }
        link_dispatch(l, h.type, data + FRAME_HEADER_SIZE, h.payload_size);
        if (l->state == LINK_CLOSED) {
            return;
        }
        (void)evbuffer_drain(in, total);
    }
}

static void
link_write_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct link *l = arg;
    struct p2p *p = l->p2p;
    if (l->state != LINK_OPEN || !l->was_full ||
        link_queue_bytes(l) > p->opt.peer_queue_bytes_max / 2) {
        return;
    }
    l->was_full = false;
    if (p->cb.on_drain != NULL) {
        p->cb.on_drain(p->cb.ctx, &l->peer->key);
    }
}

/* ---- TLS ---- */

static void
log_refused(struct link *l, const struct public_key *key, const char *why)
{
    struct p2p *p = l->p2p;
    l->refused = true;
    char k[KEY_SHORT_SIZE] = "none";
    if (key != NULL) {
        key_short(key, k);
    }
    log_limited(p, &p->log_limit, LOG_LEVEL_WARN,
                "refused peer key=%s addr=%s dir=%s reason=\"%s\"", k, l->addr,
                l->outbound ? "out" : "in", why);
}

/* Checks a peer's TLS key; on refusal logs why and returns false. */
static bool
link_key_acceptable(struct link *l, const struct public_key *key)
{
    struct p2p *p = l->p2p;
    if (!p2p_is_allowed(p, key)) {
        log_refused(l, key, "not a registered node key");
        return false;
    }
    if (key_equal(key, &p->self)) {
        log_refused(l, key, "our own key");
        return false;
    }
    if (l->outbound && (l->target == NULL || !key_equal(key, &l->target->key))) {
        log_refused(l, key, "not the key dialled");
        return false;
    }
    return true;
}

/* The certificate says nothing but its key: X.509 verdicts (self-signed, dates) are ignored
 * and the key is checked instead. TLS 1.3 CertificateVerify proves possession of it. */
static int
tls_verify_cb(int preverify_ok, X509_STORE_CTX *store)
{
    (void)preverify_ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct link *l = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
    if (l == NULL || l->state != LINK_TLS) {
        return 0;
    }
    if (X509_STORE_CTX_get_error_depth(store) != 0) {
        if (!l->refused) {
            log_refused(l, NULL, "certificate chain instead of one self-signed certificate");
        }
        return 0;
    }
    X509 *cert = X509_STORE_CTX_get_current_cert(store);
    struct public_key key;
    if (cert == NULL || tls_identity_peer_key(cert, &key) != ERR_OK) {
        if (!l->refused) {
            log_refused(l, NULL, "certificate key is not Ed25519");
        }
        return 0;
    }
    if (l->refused || !link_key_acceptable(l, &key)) {
        return 0;
    }
    X509_STORE_CTX_set_error(store, X509_V_OK);
    return 1;
}

static void
link_tls_done(struct link *l)
{
    SSL *ssl = bufferevent_openssl_get_ssl(l->bev);
    X509 *cert = ssl != NULL ? SSL_get0_peer_certificate(ssl) : NULL;
    struct public_key key;
    if (cert == NULL || tls_identity_peer_key(cert, &key) != ERR_OK) {
        log_refused(l, NULL, "no usable peer certificate");
        link_close(l, "no usable peer certificate");
        return;
    }
    if (!link_key_acceptable(l, &key)) {
        link_close(l, "key refused");
        return;
    }
    l->key = key;
    l->state = LINK_HELLO;
    socket_set_nodelay(bufferevent_getfd(l->bev));
    uint8_t hello[FRAME_HELLO_PAYLOAD_SIZE];
    frame_hello_encode(hello);
    if (link_queue(l, FRAME_HELLO, hello, sizeof hello) != ERR_OK) {
        link_close(l, "cannot queue hello");
        return;
    }
    link_flush(l);
}

static void
link_describe_error(struct link *l, short what, char *out, size_t out_size)
{
    unsigned long ssl_err = bufferevent_get_openssl_error(l->bev);
    if (what & BEV_EVENT_EOF) {
        snprintf(out, out_size, "closed by peer");
    } else if (what & BEV_EVENT_TIMEOUT) {
        snprintf(out, out_size, "write timeout");
    } else if (ssl_err != 0) {
        const char *reason = ERR_reason_error_string(ssl_err);
        snprintf(out, out_size, "tls: %s", reason != NULL ? reason : "unknown");
    } else {
        int e = EVUTIL_SOCKET_ERROR();
        snprintf(out, out_size, "socket: %s", e != 0 ? evutil_socket_error_to_string(e) : "error");
    }
    ERR_clear_error();
}

static void
link_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct link *l = arg;
    struct p2p *p = l->p2p;
    if (what & BEV_EVENT_CONNECTED) {
        if (l->state == LINK_TLS) {
            link_tls_done(l);
        }
        return;
    }
    char why[128];
    link_describe_error(l, what, why, sizeof why);
    if (l->state == LINK_TLS && !l->refused && l->outbound) {
        /* A peer that is down: expected while it restarts; the back-off spaces these. */
        log_info(LOG_NET, "dial failed addr=%s reason=\"%s\"", l->addr, why);
    } else if (l->state == LINK_TLS && !l->refused) {
        log_limited(p, &p->log_limit, LOG_LEVEL_NOTICE,
                    "tls handshake failed addr=%s dir=in reason=\"%s\"", l->addr, why);
    }
    link_close(l, why);
}

static void
link_setup(struct link *l, struct bufferevent *bev)
{
    struct p2p *p = l->p2p;
    l->bev = bev;
    bufferevent_setcb(bev, link_read_cb, link_write_cb, link_event_cb, l);
    /* No read high-watermark: bufferevent_openssl does not go back to data OpenSSL has
     * already decrypted when a suspended read resumes, so a link could stall. The input is
     * bounded anyway: link_read_cb runs after every read of at most one TLS record, consumes
     * every whole frame and refuses an oversized length from its header, so at most one
     * partial frame plus one record is ever buffered. */
    bufferevent_setwatermark(bev, EV_WRITE, p->opt.peer_queue_bytes_max / 2, 0);
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    (void)bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* Connects to pe->addr (resolved). */
static void
peer_connect(struct peer *pe)
{
    struct p2p *p = pe->p2p;
    SSL *ssl = SSL_new(p->ssl_ctx);
    struct bufferevent *bev = NULL;
    if (ssl != NULL) {
        bev = bufferevent_openssl_socket_new(p->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE);
    }
    if (bev == NULL) {
        SSL_free(ssl);
        log_warn(LOG_NET, "cannot create a connection addr=%s", pe->addr_text);
        peer_schedule_dial(pe, jitter_ms(pe->backoff_ms));
        return;
    }
    pe->stats.dials++;
    struct link *l = link_new(p, true, pe->addr_text);
    l->key = pe->key;
    l->target = pe;
    pe->dialing = l;
    SSL_set_app_data(ssl, l);
    link_setup(l, bev);
    if (bufferevent_socket_connect(bev, (struct sockaddr *)&pe->addr, pe->addr_size) != 0) {
        link_close(l, "connect failed");
        return;
    }
    socket_set_nodelay(bufferevent_getfd(bev));
}

/* The address to dial among a lookup's answers: IPv4 and IPv6 ones, taken in turn from one
 * dial to the next (a name may list ::1 first while the peer listens on 127.0.0.1 only). */
static const struct evutil_addrinfo *
pick_address(const struct evutil_addrinfo *res, uint64_t turn)
{
    size_t usable = 0;
    for (const struct evutil_addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        usable += ai->ai_family == AF_INET || ai->ai_family == AF_INET6 ? 1 : 0;
    }
    if (usable == 0) {
        return NULL;
    }
    size_t want = (size_t)(turn % usable);
    for (const struct evutil_addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        bool ok = ai->ai_family == AF_INET || ai->ai_family == AF_INET6;
        if (ok && want-- == 0) {
            return ai;
        }
    }
    UNREACHABLE();
}

static void
on_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
    struct peer *pe = arg;
    if (result == EVUTIL_EAI_CANCEL) {
        return; /* the peer went (peer_slot_clear) or p2p is freed */
    }
    pe->resolving = NULL;
    const struct evutil_addrinfo *ai = result == 0 ? pick_address(res, pe->stats.dials) : NULL;
    if (ai == NULL || ai->ai_addrlen > sizeof pe->addr) {
        log_limited(pe->p2p, &pe->log_limit, LOG_LEVEL_WARN,
                    "cannot resolve a peer's address addr=%s error=%s", pe->addr_text,
                    result != 0 ? evutil_gai_strerror(result) : "no address");
        if (res != NULL) {
            evutil_freeaddrinfo(res);
        }
        peer_redial_later(pe->p2p, pe);
        return;
    }
    memset(&pe->addr, 0, sizeof pe->addr);
    memcpy(&pe->addr, ai->ai_addr, ai->ai_addrlen);
    pe->addr_size = (int)ai->ai_addrlen;
    evutil_freeaddrinfo(res);
    if (peer_wants_dial(pe->p2p, pe)) {
        peer_connect(pe);
    }
}

static void
peer_dial(struct peer *pe)
{
    struct p2p *p = pe->p2p;
    if (!peer_wants_dial(p, pe)) {
        return;
    }
    if (!pe->by_name) {
        peer_connect(pe);
        return;
    }
    if (p->dns == NULL) {
        p->dns = evdns_base_new(p->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                             EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    }
    if (p->dns == NULL) {
        log_warn(LOG_NET, "no resolver for a peer's address addr=%s", pe->addr_text);
        peer_redial_later(p, pe);
        return;
    }
    struct evutil_addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    /* May answer at once (a name in the hosts file): on_resolved runs inside the call. */
    pe->resolving = evdns_getaddrinfo(p->dns, pe->host, pe->port, &hints, on_resolved, pe);
}

/* ---- accepting ---- */

static bool
inbound_take_token(struct p2p *p)
{
    uint64_t now = now_ms(p);
    uint64_t elapsed = now - p->tokens_refill_ms;
    uint64_t add = elapsed * p->opt.inbound_per_s / 1000u;
    if (add > 0) {
        uint64_t t = p->tokens + add;
        p->tokens = t > p->opt.inbound_per_s ? p->opt.inbound_per_s : (uint32_t)t;
        p->tokens_refill_ms = now;
    }
    if (p->tokens == 0) {
        return false;
    }
    p->tokens--;
    return true;
}

static void
accept_cb(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *sa, int sa_size,
          void *arg)
{
    (void)listener;
    (void)sa_size;
    struct p2p *p = arg;
    char addr[P2P_ADDRESS_TEXT_MAX];
    sockaddr_text(sa, addr);
    if (p->inbound_pending >= p->opt.handshakes_max || !inbound_take_token(p)) {
        evutil_closesocket(fd);
        log_limited(p, &p->log_limit, LOG_LEVEL_NOTICE,
                    "inbound connection dropped addr=%s reason=\"too many handshakes\" "
                    "pending=%u",
                    addr, p->inbound_pending);
        return;
    }
    socket_set_nodelay(fd);
    SSL *ssl = SSL_new(p->ssl_ctx);
    struct bufferevent *bev = NULL;
    if (ssl != NULL) {
        bev = bufferevent_openssl_socket_new(p->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                             BEV_OPT_CLOSE_ON_FREE);
    }
    if (bev == NULL) {
        SSL_free(ssl);
        evutil_closesocket(fd);
        log_warn(LOG_NET, "cannot create a connection addr=%s", addr);
        return;
    }
    struct link *l = link_new(p, false, addr);
    SSL_set_app_data(ssl, l);
    link_setup(l, bev);
}

static void
accept_error_cb(struct evconnlistener *listener, void *arg)
{
    (void)listener;
    struct p2p *p = arg;
    int e = EVUTIL_SOCKET_ERROR();
    log_limited(p, &p->log_limit, LOG_LEVEL_WARN, "accept failed error=\"%s\"",
                evutil_socket_error_to_string(e));
}

/* ---- ticks ---- */

/* Runs once per loop iteration after callbacks that queued frames or closed links. */
static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct p2p *p = arg;
    while (p->dirty != NULL) {
        struct link *l = p->dirty;
        p->dirty = l->next_dirty;
        l->next_dirty = NULL;
        l->dirty = false;
        link_flush(l);
    }
    while (p->reap != NULL) {
        struct link *l = p->reap;
        p->reap = l->next_reap;
        mem_free(l->stage);
        mem_free(l);
    }
}

/* Closes links that have not finished TLS and HELLO in time (a bound, not an idle timer,
 * so a peer trickling bytes cannot hold a slot). */
static void
housekeeping_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct p2p *p = arg;
    uint64_t now = now_ms(p);
    struct link *l = p->links;
    while (l != NULL) {
        struct link *next = l->next;
        if (l->state != LINK_OPEN && now - l->created_ms >= p->opt.handshake_timeout_ms) {
            log_limited(p, &p->log_limit, LOG_LEVEL_NOTICE, "handshake timed out addr=%s dir=%s",
                        l->addr, l->outbound ? "out" : "in");
            link_close(l, "handshake timeout");
        }
        l = next;
    }
}

/* ---- lifecycle ---- */

void
p2p_options_default(struct p2p_options *o)
{
    memset(o, 0, sizeof *o);
    o->frame_payload_size_max = 4u * 1024u * 1024u;
    o->peer_queue_bytes_max = (size_t)16u * 1024u * 1024u;
    o->reconnect_backoff_min_ms = 100;
    o->reconnect_backoff_max_ms = 30000;
    o->peers_max = 256;
    o->handshakes_max = 64;
    o->inbound_per_s = 200;
    o->handshake_timeout_ms = 10000;
    o->write_timeout_ms = 30000;
    o->seen_capacity = 65536;
}

static enum err
options_check(const struct p2p_options *o, const struct p2p_callbacks *cb)
{
    if (o->identity == NULL || cb == NULL || cb->on_frame == NULL) {
        return ERR_CONFIG;
    }
    if (o->frame_payload_size_max == 0 || o->frame_payload_size_max > FRAME_PAYLOAD_SIZE_LIMIT ||
        o->peer_queue_bytes_max < FRAME_HEADER_SIZE + (size_t)o->frame_payload_size_max) {
        return ERR_CONFIG;
    }
    if (o->reconnect_backoff_min_ms == 0 ||
        o->reconnect_backoff_max_ms < o->reconnect_backoff_min_ms) {
        return ERR_CONFIG;
    }
    if (o->peers_max == 0 || o->peers_max > P2P_PEERS_MAX || o->handshakes_max == 0 ||
        o->inbound_per_s == 0 || o->handshake_timeout_ms == 0 || o->write_timeout_ms == 0) {
        return ERR_CONFIG;
    }
    if (o->seen_capacity == 0 || o->seen_capacity > SEEN_SET_CAPACITY_MAX) {
        return ERR_CONFIG;
    }
    return ERR_OK;
}

static enum err
p2p_tls_init(struct p2p *p, const struct secret_key *identity)
{
    p->ssl_ctx = SSL_CTX_new(TLS_method());
    if (p->ssl_ctx == NULL) {
        return ERR_CRYPTO;
    }
    SSL_CTX *ctx = p->ssl_ctx;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
        return ERR_CRYPTO;
    }
    /* Links are long-lived: no resumption, every handshake proves the key again. */
    (void)SSL_CTX_set_num_tickets(ctx, 0);
    (void)SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    (void)SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, tls_verify_cb);
    return tls_identity_install(ctx, identity);
}

static enum err
p2p_listen(struct p2p *p, const char *address)
{
    struct sockaddr_storage ss;
    int ss_size = 0;
    if (address_parse(address, true, &ss, &ss_size) != ERR_OK) {
        return ERR_CONFIG;
    }
    p->listener = evconnlistener_new_bind(
        p->base, accept_cb, p, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
        128, (struct sockaddr *)&ss, ss_size);
    if (p->listener == NULL) {
        log_error(LOG_NET, "cannot listen addr=%s error=\"%s\"", address,
                  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        return ERR_IO;
    }
    evconnlistener_set_error_cb(p->listener, accept_error_cb);
    struct sockaddr_storage bound;
    socklen_t bound_size = sizeof bound;
    if (getsockname(evconnlistener_get_fd(p->listener), (struct sockaddr *)&bound, &bound_size) !=
        0) {
        return ERR_IO;
    }
    if (bound.ss_family == AF_INET) {
        p->port = ntohs(((struct sockaddr_in *)(void *)&bound)->sin_port);
    } else if (bound.ss_family == AF_INET6) {
        p->port = ntohs(((struct sockaddr_in6 *)(void *)&bound)->sin6_port);
    }
    return ERR_OK;
}

enum err
p2p_new(struct event_base *base, const struct p2p_options *options,
        const struct p2p_callbacks *callbacks, struct p2p **out)
{
    ASSERT(base != NULL);
    ASSERT(options != NULL);
    enum err rc = options_check(options, callbacks);
    if (rc != ERR_OK) {
        return rc;
    }
    if (secret_key_alg(options->identity) != SIG_ED25519) {
        return ERR_UNSUPPORTED;
    }
    struct p2p *p = mem_calloc(1, sizeof *p);
    p->base = base;
    p->opt = *options;
    p->opt.identity = NULL;
    p->opt.listen_address = NULL;
    p->cb = *callbacks;
    p->clock = options->clock != NULL ? options->clock : clock_system();
    secret_key_public(options->identity, &p->self);
    p->peers = mem_calloc(options->peers_max, sizeof *p->peers);
    for (uint32_t i = 0; i < options->peers_max; i++) {
        p->peers[i].p2p = p;
        p->peers[i].dial_ev = evtimer_new(base, peer_dial_cb, &p->peers[i]);
        ASSERT(p->peers[i].dial_ev != NULL);
    }
    p->tick_ev = event_new(base, -1, 0, tick_cb, p);
    p->housekeeping_ev = event_new(base, -1, EV_PERSIST, housekeeping_cb, p);
    ASSERT(p->tick_ev != NULL && p->housekeeping_ev != NULL);
    struct timeval hk = { .tv_sec = 0, .tv_usec = (suseconds_t)(HOUSEKEEPING_MS * 1000u) };
    (void)event_add(p->housekeeping_ev, &hk);
    p->seen = seen_set_new(options->seen_capacity);
    p->tokens = options->inbound_per_s;
    p->tokens_refill_ms = now_ms(p);
    rc = p2p_tls_init(p, options->identity);
    if (rc == ERR_OK && options->listen_address != NULL) {
        rc = p2p_listen(p, options->listen_address);
    }
    if (rc != ERR_OK) {
        p2p_free(p);
        return rc;
    }
    *out = p;
    return ERR_OK;
}

void
p2p_free(struct p2p *p)
{
    if (p == NULL) {
        return;
    }
    p->freeing = true;
    if (p->listener != NULL) {
        evconnlistener_free(p->listener);
    }
    while (p->links != NULL) {
        link_close(p->links, "shutting down");
    }
    p->dirty = NULL;
    while (p->reap != NULL) {
        struct link *l = p->reap;
        p->reap = l->next_reap;
        mem_free(l->stage);
        mem_free(l);
    }
    for (uint32_t i = 0; i < p->opt.peers_max; i++) {
        if (p->peers[i].in_use) {
            peer_slot_clear(&p->peers[i]); /* cancels a pending name lookup */
        }
        event_free(p->peers[i].dial_ev);
    }
    if (p->dns != NULL) {
        evdns_base_free(p->dns, 1);
    }
    if (p->tick_ev != NULL) {
        event_free(p->tick_ev);
    }
    if (p->housekeeping_ev != NULL) {
        event_free(p->housekeeping_ev);
    }
    SSL_CTX_free(p->ssl_ctx);
    seen_set_free(p->seen);
    mem_free(p->allowed);
    mem_free(p->peers);
    mem_free(p);
}

uint16_t
p2p_listen_port(const struct p2p *p)
{
    return p->port;
}

void
p2p_self_key(const struct p2p *p, struct public_key *out)
{
    *out = p->self;
}

/* ---- peer set ---- */

static int
key_qsort_compare(const void *a, const void *b)
{
    return p2p_key_compare(a, b);
}

/* Closes the links of a peer whose key left the allow-set. */
static void
peer_disallow(struct peer *pe)
{
    event_del(pe->dial_ev);
    char k[KEY_SHORT_SIZE];
    key_short(&pe->key, k);
    if (pe->dialing != NULL) {
        link_close(pe->dialing, "key no longer registered");
    }
    if (pe->link != NULL) {
        log_notice(LOG_NET, "closing link of a key no longer registered key=%s addr=%s", k,
                   pe->link->addr);
        link_close(pe->link, "key no longer registered");
    }
    if (pe->in_use && !pe->has_address && pe->link == NULL && pe->dialing == NULL) {
        peer_slot_clear(pe);
    }
}

enum err
p2p_set_allowed_keys(struct p2p *p, const struct public_key *keys, size_t count)
{
    if (count > P2P_ALLOWED_KEYS_MAX) {
        return ERR_LIMIT;
    }
    struct public_key *copy = NULL;
    if (count > 0) {
        copy = mem_calloc(count, sizeof *copy);
        for (size_t i = 0; i < count; i++) {
            if (keys[i].size > PUBLIC_KEY_SIZE_MAX) {
                mem_free(copy);
                return ERR_INVALID_ARG;
            }
            copy[i].alg = keys[i].alg;
            copy[i].size = keys[i].size;
            memcpy(copy[i].bytes, keys[i].bytes, keys[i].size);
        }
        qsort(copy, count, sizeof *copy, key_qsort_compare);
    }
    mem_free(p->allowed);
    p->allowed = copy;
    p->allowed_count = count;
    /* Callbacks below may change the table; every slot is visited once by index. */
    for (uint32_t i = 0; i < p->opt.peers_max; i++) {
        struct peer *pe = &p->peers[i];
        if (!pe->in_use) {
            continue;
        }
        if (!p2p_is_allowed(p, &pe->key)) {
            peer_disallow(pe);
        } else {
            peer_schedule_first_dial(p, pe);
        }
    }
    return ERR_OK;
}

enum err
p2p_add_peer(struct p2p *p, const struct public_key *key, const char *address)
{
    if (key->size == 0 || key->size > PUBLIC_KEY_SIZE_MAX || key_equal(key, &p->self)) {
        return ERR_INVALID_ARG;
    }
    struct sockaddr_storage ss;
    int ss_size = 0;
    memset(&ss, 0, sizeof ss);
    char host[P2P_ADDRESS_TEXT_MAX];
    char port[8];
    bool by_name = false;
    if (address != NULL && address_parse(address, false, &ss, &ss_size) != ERR_OK) {
        if (p2p_host_port_split(address, host, port) != ERR_OK) {
            return ERR_INVALID_ARG;
        }
        by_name = true;
    }
    struct public_key clean;
    memset(&clean, 0, sizeof clean);
    clean.alg = key->alg;
    clean.size = key->size;
    memcpy(clean.bytes, key->bytes, key->size);
    struct peer *pe = peer_find(p, &clean);
    if (pe == NULL) {
        pe = peer_slot_new(p, &clean);
        if (pe == NULL) {
            return ERR_FULL;
        }
    }
    pe->has_address = address != NULL;
    pe->by_name = by_name;
    if (by_name) {
        memcpy(pe->host, host, sizeof host);
        memcpy(pe->port, port, sizeof port);
        snprintf(pe->addr_text, sizeof pe->addr_text, "%s", address);
    } else if (address != NULL) {
        pe->addr = ss;
        pe->addr_size = ss_size;
        sockaddr_text((struct sockaddr *)&ss, pe->addr_text);
    }
    peer_schedule_first_dial(p, pe);
    return ERR_OK;
}

void
p2p_remove_peer(struct p2p *p, const struct public_key *key)
{
    struct peer *pe = peer_find(p, key);
    if (pe == NULL) {
        return;
    }
    struct public_key removed = pe->key;
    struct link *open = pe->link;
    struct link *dial = pe->dialing;
    peer_slot_clear(pe);
    if (dial != NULL) {
        dial->target = NULL;
        link_close(dial, "peer removed");
    }
    if (open != NULL) {
        open->peer = NULL;
        link_log_closed(open, "peer removed");
        link_close(open, "peer removed");
        if (p->cb.on_disconnect != NULL) {
            p->cb.on_disconnect(p->cb.ctx, &removed);
        }
    }
}

bool
p2p_is_connected(const struct p2p *p, const struct public_key *peer)
{
    const struct peer *pe = peer_find(p, peer);
    return pe != NULL && pe->link != NULL;
}

size_t
p2p_connected_count(const struct p2p *p)
{
    size_t n = 0;
    for (uint32_t i = 0; i < p->opt.peers_max; i++) {
        if (p->peers[i].in_use && p->peers[i].link != NULL) {
            n++;
        }
    }
    return n;
}

enum err
p2p_peer_stats(const struct p2p *p, const struct public_key *peer, struct p2p_peer_stats *out)
{
    const struct peer *pe = peer_find(p, peer);
    if (pe == NULL) {
        return ERR_NOT_FOUND;
    }
    *out = pe->stats;
    out->queue_bytes = pe->link != NULL ? link_queue_bytes(pe->link) : 0;
    return ERR_OK;
}
