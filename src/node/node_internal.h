/* The node's state, shared by node.c (start-up, loop, shutdown) and node_backend.c (the API
 * backend over the ledger and mempool). No other file includes this header.
 * Threads: everything here belongs to the loop thread. */
#ifndef LM_NODE_NODE_INTERNAL_H
#define LM_NODE_NODE_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "base/buf.h"
#include "base/err.h"
#include "crypto/hash.h"
#include "crypto/sign.h"
#include "ledger/genesis.h"
#include "node/config.h"
#include "store/db.h"

#define NODE_WAITERS_MAX 1024

struct node_waiter {
    bool used;
    struct hash hash;
    api_tx_final_fn *cb;
    void *cb_ctx;
};

struct tx_gossip;

struct node {
    char home[1024];
    struct config config;
    int lock_fd; /* DIR/<data_dir>/LOCK, flock'd while the node runs; -1 if not open */
    bool genesis_loaded;
    struct genesis genesis;
    struct secret_key *consensus_key;
    struct secret_key *transport_key;
    struct db *db;
    /* The loop's own durable writes (proposals before a vote, the highest TC): a second LMDB
     * environment, so that they never wait for the ledger thread's commit txn in db (LMDB has
     * one writer per environment; a commit holds it for 10-100+ ms under load). */
    struct db *cons_db;
    struct state_store *state;
    struct block_store *blocks;
    struct safety_file *safety;
    struct registry *registry;
    struct ledger *ledger;
    struct validator_set *validators; /* in force at the committed state */
    bool is_validator;
    struct verify_cache *verify_cache;
    struct verify_pool *verify_pool;
    struct mempool *mempool;
    struct event_base *base;
    struct event *sig_term;
    struct event *sig_int;
    struct api_backend backend;
    struct api_server *api;
    struct p2p *p2p;
    struct tx_gossip *gossip;                /* FRAME_TXS batches (node/tx_gossip.h) */
    const struct public_key *admitting_from; /* peer whose tx is being admitted, or NULL */
    struct node_waiter *waiters;             /* NODE_WAITERS_MAX, allocated on first use */
    struct node_cons *cons;                  /* the consensus core and its env */
    struct sync *sync;                       /* block sync (node/sync.h) */
    struct db_table epochs_table;            /* epochs.c */
    struct hash admitted_nodes;              /* hash of the registered nodes last admitted */
    struct public_key *dialled_nodes;        /* registered nodes added as p2p peers by their
                                                on-chain address (REGISTERED_NODES_MAX) */
    size_t dialled_count;
    enum err fatal; /* set with the loop broken on an error the node cannot go on after */
};

/* Stops the loop on an error the node cannot go on after; node_run returns rc. */
void node_fatal(struct node *n, enum err rc);

/* node.c: sets the p2p allow-set to the transport keys of the committed validator set and
 * the registered node keys of current members (ARCHITECTURE.md "Node transport keys");
 * p2p closes the links of keys that left it. Registered nodes with a numeric address that
 * are not config peers are dialled there (and forgotten once removed). Without force, does nothing
 * unless the registered nodes changed since the last call (cheap enough to call after every
 * commit). */
void node_admission_refresh(struct node *n, bool force);

/* Fills the API backend table over n's ledger and mempool. */
void node_backend_fill(struct node *n, struct api_backend *out);
/* Answers every registered waiter for a tx now final (or dropped: state unknown). */
void node_waiters_notify(struct node *n, const struct hash *hash,
                         const struct api_tx_status *status);
void node_waiters_release(struct node *n);
/* A receipt as the API shows it (NULL if it does not decode); the caller owns it. */
json_t *node_receipt_json(const uint8_t *data, size_t size);

/* node_consensus.c: the consensus core wired to the ledger, mempool and p2p. */
struct ledger_result;
/* Opens the consensus tables (before any other db transaction). */
MUST_USE enum err node_consensus_open_tables(struct node *n);
/* Records the genesis block info (first start, before the genesis commit). */
MUST_USE enum err node_consensus_genesis(struct node *n, const struct ledger_result *genesis);
/* Starts the core from the durable state (after p2p is up). */
MUST_USE enum err node_consensus_start(struct node *n);
void node_consensus_close(struct node *n);
/* The core's current round (0 before it starts). */
uint64_t node_consensus_round(const struct node *n);
void node_consensus_on_frame(struct node *n, const struct public_key *peer, const uint8_t *payload,
                             size_t size);
/* The mempool admitted txs: tell the core (deferred to the loop, never re-entrant). */
void node_consensus_txs_available(struct node *n);
/* Block sync: checks that block (the next height, on the committed block) is final by proof
 * under the committed validator set, and hands it to the ledger thread, which executes it,
 * compares the exec and receipts roots with the certified ones and commits it as consensus
 * would: ERR_AGAIN, and sync_block_applied(n->sync, rc) follows on the loop (ERR_CORRUPT for
 * other roots). Synchronous errors: ERR_MALFORMED for a block that does not follow or a bad
 * tx signature, the proof's errors. One block at a time: the next after the answer. */
MUST_USE enum err node_consensus_apply_final(struct node *n, const uint8_t *block,
                                             size_t block_size, const uint8_t *proof,
                                             size_t proof_size);

/* epochs.c: what proofs across epochs need, kept durably: each epoch's validator set and the
 * height of the block that ended the epoch before (whose stored finality proof holds the
 * commit certificate ending it). */
struct validator_set;
/* Opens the table (with the consensus tables, before any other db transaction). */
MUST_USE enum err node_epochs_open(struct node *n);
/* Keeps n->validators' epoch if it is not kept yet: after an epoch-ending block is committed
 * (and at start, for a stop between that commit and this record). */
MUST_USE enum err node_epochs_record(struct node *n);
/* The validator set of `epoch` and the height of the block ending the epoch before (0 for the
 * genesis epoch, whose set is the genesis file's). ERR_NOT_FOUND for an epoch not kept. */
MUST_USE enum err node_epochs_get(struct node *n, uint64_t epoch, uint64_t *out_ending_height,
                                  struct validator_set *out);
/* Appends the commit certificate (qc_encode) that ended `epoch`: its commit_info is of that
 * epoch and names the next set's hash. ERR_NOT_FOUND if the epoch has not ended here. */
MUST_USE enum err node_epochs_cert(struct node *n, uint64_t epoch, struct buf *out_cert);
/* The epochs before `current` that ended here, the newest `max` of them, oldest first, for
 * cons_start.epoch_ends (so a restarted validator still serves EpochChangeProofs to peers
 * left behind): each epoch-ending block's finality proof and the set it installed. The spans
 * point into *storage (the caller releases it) and *out_ends is the caller's (mem_free). */
struct cons_epoch_end;
MUST_USE enum err node_epochs_ends(struct node *n, uint64_t current, size_t max,
                                   struct buf *storage, struct cons_epoch_end **out_ends,
                                   size_t *out_count);

#endif
