/* The node's HTTP/JSON API (libevent evhttp + jansson), under /v1.
 *
 *   GET  /v1/status                      chain, node, latest final block, sync state
 *   GET  /v1/blocks/{height}[?txs=1]     header fields, tx hashes, commit certificate
 *   GET  /v1/blocks/by-id/{id}[?txs=1]   the same by block id (64 hex digits)
 *   POST /v1/txs[?wait=final[&timeout_ms=N]]
 *        body: {"tx":"<hex|base64>"}, {"txs":["<hex|base64>", ...]} or the raw canonical
 *        bytes of one tx as application/octet-stream
 *   GET  /v1/txs/{hash}                  pending, final (with its receipt and a Merkle
 *                                        inclusion proof against the block's payload_root)
 *                                        or unknown
 *   GET  /v1/accounts/{address}          nonce, keys and a state proof (40 hex digits)
 *   GET  /v1/notary/{hash}               the anchors of a document hash with proof bundles
 *   GET  /v1/validators[?epoch=N]        the validator set in force, or of epoch N (past
 *                                        epochs are kept; a future N is a 404)
 *
 * Every answer is JSON with Content-Type application/json; errors are
 * {"error":{"code":"...","message":"..."}} with the status of api_err_http_status(), and the
 * transport's own: 404 not_found (route), 405 method_not_allowed (with Allow), 413 too_large,
 * 431 headers_too_large, 503 too_many_connections (at connections_max, then closed).
 * Answers:
 *   status   {"chain_id","genesis_hash","hash","node_name","final":{"height","id"},"epoch","round",
 *             "validator":bool,"peers","mempool":{"txs","bytes"},
 *             "sync":{"state":"synced"|"catching_up","target_height"}}
 *   block    the backend's object (see block_get)
 *   tx       {"hash","status":"pending"|"final"|"unknown"} plus, when final, "height",
 *            "block_id","index","receipt"; unknown is a 404 that also carries "error"
 *   POST one 200 {"hash","status":"pending"} when admitted; with ?wait=final 200 and the tx
 *            object when final, 202 {"hash","status":"pending"} when the wait timed out;
 *            refused: the error status, {"error":...,"hash"?}
 *   POST many 200 {"results":[tx object or {"error":...,"hash"?}, ...],"accepted":N}, in order
 * Hashes and ids are 64 lowercase hex digits.
 *
 * The API reaches the chain only through struct api_backend, which node/ fills. The table
 * uses plain structs, bytes and jansson values, never ledger or consensus types: the
 * backend decodes transactions (the API hands it raw canonical bytes) and builds the JSON
 * of blocks and receipts.
 *
 * Threads: the server and every backend call run on the thread of the caller's event_base.
 * Ownership: the server borrows the event_base and the backend table; both must outlive it.
 */
#ifndef LM_API_API_H
#define LM_API_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "crypto/hash.h"

struct event_base;

#define API_TEXT_MAX     64           /* chain id, node name (bytes, without NUL) */
#define API_ADDRESS_SIZE ((size_t)20) /* = ADDRESS_SIZE of crypto/sign.h */

enum api_sync_state {
    API_SYNC_SYNCED,
    API_SYNC_CATCHING_UP,
};

/* GET /v1/status. Text fields are NUL-terminated UTF-8. */
struct api_status {
    char chain_id[API_TEXT_MAX + 1];
    struct hash genesis_hash;
    enum hash_alg hash_alg; /* the chain's hash, shown as "hash" */
    char node_name[API_TEXT_MAX + 1];
    uint64_t final_height; /* latest final block */
    struct hash final_id;
    uint64_t epoch;
    uint64_t round;
    bool is_validator;
    uint32_t peers_connected;
    uint32_t mempool_txs;
    uint64_t mempool_bytes;
    uint64_t mempool_admitted; /* since start */
    uint64_t mempool_rejected; /* since start, all reasons (duplicates too) */
    enum api_sync_state sync_state;
    uint64_t sync_target_height; /* highest final height heard of; = final_height if synced */
    uint64_t sigs_checked;       /* signatures verified since start (cache misses) */
    uint64_t sigs_cache_hits;    /* signature checks answered by the verify cache */
    uint64_t gossip_frames;      /* FRAME_TXS batches this node sent (once per batch) */
    uint64_t gossip_txs;         /* txs in them */
    uint64_t state_version;      /* the committed state version (final height + 1) */
    uint64_t state_oldest;       /* oldest state version still readable (pruning) */
    uint64_t state_retain;       /* versions kept readable; 0: all (archive node) */
};

/* Which block GET /v1/blocks asks for. */
struct api_block_query {
    bool by_id; /* true: `id`; false: `height` */
    uint64_t height;
    struct hash id;
    bool with_txs; /* ?txs=1 */
};

/* One transaction as received: its canonical bytes, borrowed for the call. */
struct api_tx_in {
    const uint8_t *bytes;
    size_t size;
};

/* The backend's answer for one submitted transaction. `hash` is meaningful when has_hash
 * (the bytes decoded far enough to hash them), which is always the case for rc == ERR_OK. */
struct api_tx_result {
    enum err rc; /* ERR_OK: admitted to the mempool */
    bool has_hash;
    struct hash hash;
};

enum api_tx_state {
    API_TX_UNKNOWN,
    API_TX_PENDING,
    API_TX_FINAL,
};

/* State of one transaction. For API_TX_FINAL: the block and index it is final in, and the
 * receipt as a JSON object (or NULL). Whoever receives the struct from the backend owns one
 * reference to `receipt` except in api_tx_final_fn, where it is borrowed for the call. */
struct api_tx_status {
    enum api_tx_state state;
    uint64_t height;
    struct hash block_id;
    uint32_t index;
    json_t *receipt;
};

/* Called by the backend, on the loop thread and never from inside tx_wait, when the awaited
 * transaction is final (or can no longer become final: state API_TX_UNKNOWN, e.g. it expired
 * or was evicted). Called at most once per tx_wait; never after tx_wait_cancel. */
typedef void api_tx_final_fn(void *cb_ctx, const struct api_tx_status *status);

/* What the API needs from the node. Every function is required. */
struct api_backend {
    void *ctx; /* passed first to every call */

    /* Fills *out_status. Fails only when the node cannot answer (ERR_AGAIN while starting). */
    enum err (*status)(void *ctx, struct api_status *out_status);

    /* The block asked for, as a JSON object the caller takes ownership of (one reference).
     * Keys the API documents for clients: "height", "id", "epoch", "round", "parent_id",
     * "timestamp_ms", "author", "payload_root", "parent_exec_root", "parent_receipts_root",
     * "tx_hashes" (array of hex), "commit_cert" (the finality proof), and "txs" (array of
     * hex canonical bytes) when query->with_txs. ERR_NOT_FOUND when there is no such final
     * block. */
    enum err (*block_get)(void *ctx, const struct api_block_query *query, json_t **out_block);

    /* Decodes and admits `count` transactions to the mempool (count >= 1), one result each in
     * out_results[0..count). Codes clients act on: ERR_MALFORMED, ERR_BAD_SIGNATURE,
     * ERR_STALE_NONCE, ERR_EXPIRED, ERR_TOO_LARGE, ERR_FULL (mempool full), ERR_UNKNOWN_SENDER,
     * ERR_WRONG_CHAIN, ERR_EXISTS (already pending or final). */
    void (*txs_submit)(void *ctx, const struct api_tx_in *txs, size_t count,
                       struct api_tx_result *out_results);

    /* State of a transaction by hash; unknown is not an error (state API_TX_UNKNOWN). */
    enum err (*tx_get)(void *ctx, const struct hash *hash, struct api_tx_status *out_status);

    /* Registers cb to be called when `hash` is final. The API calls it only for a tx that
     * tx_get reported pending in the same loop turn. ERR_FULL when the backend holds too
     * many waiters (the API then answers without waiting). (hash, cb_ctx) identifies the
     * registration. */
    enum err (*tx_wait)(void *ctx, const struct hash *hash, api_tx_final_fn *cb, void *cb_ctx);
    /* Forgets a registration whose callback has not run; a no-op if there is none. */
    void (*tx_wait_cancel)(void *ctx, const struct hash *hash, const void *cb_ctx);

    /* The inclusion proof of the final tx at (height, index): {"header" (hex encoding),
     * "payload_root", "leaf", "index", "tree_size", "path" (hex hashes, leaf level up)}. */
    enum err (*tx_inclusion)(void *ctx, uint64_t height, uint32_t index, json_t **out_proof);
    /* The account at `address` (ADDRESS_SIZE bytes) at the committed state with its state
     * proof. ERR_NOT_FOUND if there is none. */
    enum err (*account_get)(void *ctx, const uint8_t *address, json_t **out_account);
    /* The validator set of `epoch` (has_epoch false: the one in force). ERR_NOT_FOUND for an
     * epoch the node does not keep. */
    enum err (*validators_get)(void *ctx, bool has_epoch, uint64_t epoch, json_t **out_set);
    /* Every anchor of a document hash, each with its proof bundle (codec/notary_bundle.h, as
     * hex): {"document","anchors":[{"account","institution","height","timestamp_us","kind",
     * "note","tx_hash","bundle"}]}. ERR_NOT_FOUND if the hash was never anchored. */
    enum err (*notary_get)(void *ctx, const struct hash *document, json_t **out_anchors);
};

/* Limits and address. api_options_default() gives the values below. */
struct api_options {
    const char *bind_address;       /* "127.0.0.1:8080", "[::1]:0"; port 0 = ephemeral */
    size_t body_size_max;           /* 1 MiB; larger bodies get 413 */
    size_t header_size_max;         /* 16 KiB: request line + headers; larger get 431 */
    uint32_t connections_max;       /* 256 open connections; more get 503 at once */
    uint32_t request_timeout_ms;    /* 10 s to receive a whole request, and idle keep-alive */
    uint32_t wait_final_timeout_ms; /* 10 s: ?wait=final default and maximum */
    uint32_t batch_txs_max;         /* 1000 transactions per POST /v1/txs */
    uint32_t rejecting_max;         /* 64 over-limit connections being answered 503 */
};

struct api_server_stats {
    uint32_t connections_open;
    uint32_t waits_pending;        /* requests waiting for finality */
    uint64_t connections_accepted; /* handed to evhttp */
    uint64_t connections_rejected; /* answered 503 (or dropped) at the connection limit */
    uint64_t connections_timed_out;
    uint64_t requests;
};

struct api_server;

void api_options_default(struct api_options *out_options);

/* Binds options->bind_address and serves on `base`. ERR_CONFIG for an unusable address or
 * option, ERR_IO when the bind fails. On success the caller owns *out_server (api_server_free).
 */
MUST_USE enum err api_server_new(struct event_base *base, const struct api_options *options,
                                 const struct api_backend *backend, struct api_server **out_server);
/* The bound TCP port (the ephemeral one when the address said port 0). */
uint16_t api_server_port(const struct api_server *server);
void api_server_stats(const struct api_server *server, struct api_server_stats *out_stats);
/* Closes the listener and every connection; pending ?wait=final registrations are cancelled
 * through the backend. Accepts NULL. Call on the loop thread while the loop is not inside a
 * server callback. */
void api_server_free(struct api_server *server);

/* The one table of error answers: HTTP status and machine code for an enum err. */
int api_err_http_status(enum err rc);
/* "mempool_full" for ERR_FULL, otherwise err_name(rc). Never NULL. */
const char *api_err_code(enum err rc);

#endif
