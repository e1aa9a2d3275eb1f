/* TLS 1.3 links between member nodes: framing, peer set, back-pressure, reconnects, gossip.
 *
 * Identity. Each node has an Ed25519 transport key registered on chain (ARCHITECTURE.md
 * "Node transport keys"); p2p presents it in a self-signed certificate made at start-up
 * (crypto/tls_identity.h). Both sides send a certificate (SSL_VERIFY_PEER |
 * SSL_VERIFY_FAIL_IF_NO_PEER_CERT) and TLS 1.3 CertificateVerify proves possession of its
 * key. A peer is admitted only if its key is in the allow-set that node/ supplies from the
 * chain (registered node keys of current members) with p2p_set_allowed_keys; others are
 * refused during the handshake and logged. Taking a key out of the set closes its link.
 * An outbound link must also present exactly the key it was dialled for. After TLS, each
 * side sends a HELLO frame, and only after the peer's HELLO is the link open: in TLS 1.3 the
 * client finishes before the server has checked the client's certificate, so the server's
 * HELLO is the client's proof that it was accepted.
 *
 * Frames (p2p/frame.h): u32 length + u8 type + payload; the length is checked against
 * frame_payload_size_max before anything is buffered. A peer sending an oversized, unknown
 * or out-of-order frame is disconnected and logged (rate-limited).
 *
 * Peers. A peer is a public key with an optional dial address ("ip:port" or "name:port"). Peers
 * with an address are dialled and redialled with exponential back-off and jitter; peers
 * without one are accepted only. Between two nodes at most one link stays open: when both
 * dial each other, the link dialled by the lower key (alg, size, bytes) wins on both sides,
 * and the higher key waits a back-off step before its first dial so this is rare. Frames in
 * flight on a replaced link may be lost: delivery is at most once and in order per link.
 *
 * Sending. Frames go into a per-peer queue bounded by peer_queue_bytes_max; p2p_send and
 * p2p_broadcast answer ERR_FULL instead of growing it (the frame is counted as a drop), and
 * on_drain tells when a full queue has fallen below half. Frames queued during one event-loop
 * iteration are coalesced into 16 KiB TLS records (research/limits.md §4–5).
 *
 * Limits. Unauthenticated connections are bounded (handshakes_max), rate-limited
 * (inbound_per_s) and must finish TLS and HELLO within handshake_timeout_ms.
 *
 * Threads: everything runs on the caller's event_base thread; no function is thread-safe.
 * Callbacks run on that thread and may call any p2p function except p2p_free. Keys passed
 * to callbacks are borrowed for the call. The process must ignore SIGPIPE (OpenSSL writes to
 * sockets with write(2)). */
#ifndef LM_P2P_P2P_H
#define LM_P2P_P2P_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/clock.h"
#include "base/err.h"
#include "crypto/hash.h"
#include "crypto/sign.h"
#include "p2p/frame.h"

struct event_base;
struct p2p;

#define P2P_ADDRESS_TEXT_MAX 64 /* "ip:port" with NUL */
#define P2P_HOST_NAME_MAX    57 /* a host name in "name:port" (P2P_ADDRESS_TEXT_MAX - 7) */
#define P2P_ALLOWED_KEYS_MAX 4096
#define P2P_PEERS_MAX        1024

struct p2p_options {
    const char *listen_address;        /* "127.0.0.1:0" = ephemeral port; NULL: no listener */
    const struct secret_key *identity; /* Ed25519 transport key; used only in p2p_new */
    uint32_t frame_payload_size_max;   /* <= FRAME_PAYLOAD_SIZE_LIMIT */
    size_t peer_queue_bytes_max;       /* >= frame_payload_size_max + FRAME_HEADER_SIZE */
    uint32_t reconnect_backoff_min_ms;
    uint32_t reconnect_backoff_max_ms;
    uint32_t peers_max;      /* peer table capacity, <= P2P_PEERS_MAX */
    uint32_t handshakes_max; /* unauthenticated connections at once */
    uint32_t inbound_per_s;  /* accepted connections per second (token bucket) */
    uint32_t handshake_timeout_ms;
    uint32_t write_timeout_ms; /* a peer that reads nothing for this long is dropped */
    size_t seen_capacity;      /* gossip de-duplication window (message ids) */
    const struct clock *clock; /* NULL: clock_system() */
};

struct p2p_peer_stats {
    uint64_t frames_in;
    uint64_t bytes_in; /* payload bytes */
    uint64_t frames_out;
    uint64_t bytes_out;
    uint64_t drops;     /* frames refused with ERR_FULL */
    uint64_t malformed; /* links closed for a bad frame */
    uint64_t dials;     /* outbound connection attempts */
    uint64_t connects;
    uint64_t disconnects;
    size_t queue_bytes; /* bytes waiting to be written now */
};

/* A frame from peer; payload is borrowed for the call. */
typedef void p2p_frame_fn(void *ctx, const struct public_key *peer, uint8_t type,
                          const uint8_t *payload, size_t size);
/* A link to peer opened, closed, or its full queue fell below half. */
typedef void p2p_peer_fn(void *ctx, const struct public_key *peer);

struct p2p_callbacks {
    p2p_frame_fn *on_frame;
    p2p_peer_fn *on_connect;    /* may be NULL */
    p2p_peer_fn *on_disconnect; /* may be NULL */
    p2p_peer_fn *on_drain;      /* may be NULL */
    void *ctx;
};

/* Defaults: no listener, 4 MiB frames, 16 MiB queues, back-off 100 ms .. 30 s, 256 peers,
 * 64 handshakes, 200 connections/s, 10 s handshake and 30 s write timeouts, 65,536 ids. */
void p2p_options_default(struct p2p_options *o);

/* Creates the TLS context and identity and starts listening. ERR_CONFIG for invalid options,
 * ERR_UNSUPPORTED for a non-Ed25519 identity, ERR_IO if the address cannot be bound,
 * ERR_CRYPTO if OpenSSL fails. On success the caller owns *out (p2p_free). */
MUST_USE enum err p2p_new(struct event_base *base, const struct p2p_options *options,
                          const struct p2p_callbacks *callbacks, struct p2p **out);
/* Closes every link without callbacks. Accepts NULL. */
void p2p_free(struct p2p *p);

/* The bound listen port (useful with port 0); 0 without a listener. */
uint16_t p2p_listen_port(const struct p2p *p);
void p2p_self_key(const struct p2p *p, struct public_key *out);

/* Replaces the allow-set with a copy of keys (count <= P2P_ALLOWED_KEYS_MAX; duplicates are
 * fine). Links of keys no longer in the set are closed and logged; peers newly allowed are
 * dialled. */
MUST_USE enum err p2p_set_allowed_keys(struct p2p *p, const struct public_key *keys, size_t count);
bool p2p_is_allowed(const struct p2p *p, const struct public_key *key);

/* Splits "name:port" (an RFC 1123 host name of at most P2P_HOST_NAME_MAX bytes, port 1..65535)
 * into its parts; ERR_INVALID_ARG otherwise. */
MUST_USE enum err p2p_host_port_split(const char *text, char host[P2P_ADDRESS_TEXT_MAX],
                                      char port[8]);

/* Adds a peer or updates its address. address is "ip:port" (IPv4 or [IPv6]:port), a host
 * name with a port ("node1.bank.example:7000", resolved with evdns before each dial) or NULL
 * (accept only). ERR_INVALID_ARG for a bad address or our own key, ERR_FULL if the peer table
 * is full. The peer is dialled only while its key is allowed. */
MUST_USE enum err p2p_add_peer(struct p2p *p, const struct public_key *key, const char *address);
/* Forgets a peer and closes its link (on_disconnect runs if it was open). */
void p2p_remove_peer(struct p2p *p, const struct public_key *key);

/* Queues one frame for peer. ERR_NOT_FOUND if the peer is unknown, ERR_CLOSED if it has no
 * open link, ERR_TOO_LARGE if size > frame_payload_size_max, ERR_FULL if its queue is full.
 * type is FRAME_TX .. FRAME_TYPE_MAX. */
MUST_USE enum err p2p_send(struct p2p *p, const struct public_key *peer, uint8_t type,
                           const uint8_t *payload, size_t size);
/* Queues a frame for every open peer except `except` (may be NULL). ERR_FULL if at least one
 * peer's queue was full (the others still got the frame), ERR_TOO_LARGE as p2p_send. */
MUST_USE enum err p2p_broadcast(struct p2p *p, const struct public_key *except, uint8_t type,
                                const uint8_t *payload, size_t size);
/* Gossip: relays a message once. If id was seen before, returns ERR_EXISTS and sends nothing;
 * otherwise records it and broadcasts to every open peer except `from` (NULL for our own).
 * The caller checks validity first: only valid messages are relayed. */
MUST_USE enum err p2p_gossip(struct p2p *p, const struct public_key *from, const struct hash *id,
                             uint8_t type, const uint8_t *payload, size_t size);
/* True if id was gossiped or marked seen already (the caller can skip validating it). */
bool p2p_gossip_seen(const struct p2p *p, const struct hash *id);
/* Records id as gossiped; false if it was already (then the caller does not send it). For a
 * caller that gossips many messages in one frame (FRAME_TXS) through p2p_broadcast. */
MUST_USE bool p2p_gossip_mark(struct p2p *p, const struct hash *id);

/* Block retrieval: asks peer for blocks [height_from, height_from + count) with a
 * FRAME_BLOCK_REQUEST (p2p/frame.h); the peer's node answers with FRAME_BLOCK_RESPONSE frames
 * through p2p_send. Errors as p2p_send; ERR_INVALID_ARG if count is 0 or above
 * FRAME_BLOCK_REQUEST_COUNT_MAX or the range overflows. */
MUST_USE enum err p2p_request_blocks(struct p2p *p, const struct public_key *peer,
                                     uint64_t height_from, uint32_t count);

bool p2p_is_connected(const struct p2p *p, const struct public_key *peer);
size_t p2p_connected_count(const struct p2p *p);
/* ERR_NOT_FOUND if the peer is unknown. */
MUST_USE enum err p2p_peer_stats(const struct p2p *p, const struct public_key *peer,
                                 struct p2p_peer_stats *out);

/* Total order on keys (alg, size, bytes) used for duplicate-link resolution. */
int p2p_key_compare(const struct public_key *a, const struct public_key *b);

#endif
