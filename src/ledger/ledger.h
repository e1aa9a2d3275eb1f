/* The ledger: deterministic execution of blocks of transactions on speculative state, and
 * their commit (ARCHITECTURE.md "How a transaction flows", CONSENSUS.md 5).
 *
 * Execution. ledger_execute_block runs a block on top of a parent: the committed state
 * (parent NULL) or the result of executing the parent block (speculative, before it is
 * final). It returns a result holding the block's state batch (exec_root), receipts
 * (receipts_root), tx hashes (payload_root) and, for an epoch-ending block, the next
 * validator set. Results of abandoned forks are simply freed. The same blocks give the same
 * roots on every node: no clock (the block timestamp is an input), no floats, no hash-table
 * order, sorted write sets.
 *
 * Validity. A block is invalid (an error, no result) if it exceeds block_txs_max, or any tx
 * is malformed, oversized, for another chain, signed with a disallowed algorithm or with a
 * bad signature (skipped when the caller says signatures were verified, e.g. by the mempool's
 * cache). Everything else is a receipt: unknown sender, key not registered to the sender,
 * expired, wrong nonce, or no room left in the block's or the institution's resource budget
 * (these do not take the nonce); a failing op or a tx over its resource limit (these take the
 * nonce; the tx's writes and events are discarded).
 *
 * State versions: the state after the block at height h is version h + 1 (genesis is height
 * 0; version 0 is the empty store).
 * Threads: one thread (the execution pipeline: the node's ledger thread) executes, commits and
 * frees results, and is the only one to call ledger_params and functions taking a result.
 * Reads of the committed state may run on any thread at the same time: ledger_committed_height,
 * and with at == NULL ledger_query/ledger_account/ledger_validator_set, plus ledger_prove,
 * ledger_read_block, ledger_find_tx and ledger_get_receipt. Each read sees one committed
 * version (the state store's published one); two reads may see two versions. Another thread
 * may read a result's outcome (immutable once executed) while the pipeline holds the result. */
#ifndef LM_LEDGER_LEDGER_H
#define LM_LEDGER_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "codec/state_proof.h"
#include "codec/tx.h"
#include "codec/validator_set.h"
#include "crypto/hash.h"
#include "crypto/verify_pool.h"
#include "ledger/account.h"
#include "ledger/genesis.h"
#include "ledger/params.h"
#include "ledger/registry.h"
#include "store/block_store.h"
#include "store/db.h"
#include "store/state_store.h"

#define LEDGER_BLOCK_WRITES_MAX  (1u << 20) /* distinct keys written by one block */
#define LEDGER_BLOCK_WRITE_BYTES (256u << 20)
#define LEDGER_TX_WRITES_MAX     4096
#define LEDGER_TX_WRITE_BYTES    (8u << 20)

struct ledger;
struct ledger_result;

struct ledger_config {
    struct db *db;                   /* borrowed; tables are opened in ledger_open */
    struct state_store *state;       /* borrowed, opened on db */
    struct block_store *blocks;      /* borrowed, opened on db */
    const struct registry *registry; /* borrowed; must hold the core modules */
    const struct genesis *genesis;   /* borrowed for the ledger's lifetime */
    /* Optional (NULL: verify on the calling thread, no cache). Borrowed. A block's tx
     * signatures are verified as one batch on the pool, through its cache, so a tx whose
     * signature the mempool checked (ledger_check_tx) is not verified again. */
    struct verify_pool *verify_pool;
};

struct ledger_tx_in {
    const uint8_t *data; /* the tx's encoding, borrowed during the call */
    size_t size;
    bool signature_verified; /* already checked by the caller (mempool, verify cache) */
    /* Its tx hash if the caller computed it (tx_hash of data: the ledger takes it as given),
     * else NULL. Borrowed during the call. */
    const struct hash *hash;
};

struct ledger_block_in {
    uint64_t height;
    uint64_t timestamp_us;
    const struct ledger_tx_in *txs;
    size_t tx_count;
    bool signatures_verified; /* every tx signature was already checked (else: per tx) */
};

/* What ledger_commit stores of a block besides the result: its id (the header hash) and the
 * bytes of the block and of its commit certificate (borrowed for the call). */
struct ledger_block_bytes {
    struct hash id;
    const uint8_t *block;
    size_t block_size;
    const uint8_t *cert;
    size_t cert_size;
    /* Optional: the caller's own writes to commit atomically with the block (e.g. the
     * node's consensus metadata), in the same write txn, after the ledger's; an error aborts
     * the commit. One synced commit per block instead of several. */
    enum err (*also)(void *ctx, struct db_txn *txn);
    void *also_ctx;
};

/* A state read with its proof (ledger_prove). */
struct ledger_state_proof {
    bool found;
    struct hash root; /* the state root the proof verifies against */
    uint64_t height;  /* the committed block whose state it is */
    struct state_proof proof;
};

struct ledger_receipt_ref {
    const uint8_t *data; /* the encoded receipt (receipt.h), owned by the result */
    size_t size;
    struct hash hash;
};

/* What a block's execution produced; owned by its result. */
struct ledger_outcome {
    uint64_t height;
    uint64_t timestamp_us;
    struct hash exec_root;               /* the state root after the block */
    struct hash receipts_root;           /* Merkle root of the receipt hashes */
    struct hash payload_root;            /* Merkle root of the tx hashes */
    struct hash next_epoch_vs_hash;      /* zero unless the block installed a new validator set */
    const struct validator_set *next_vs; /* NULL unless epoch-ending */
    uint64_t resource_used;
    size_t tx_count;
    const struct hash *tx_hashes;
    const struct ledger_receipt_ref *receipts;
};

/* Opens the ledger over an opened db and state store. The chain id is the genesis hash;
 * ERR_WRONG_CHAIN if the store holds another chain, ERR_MALFORMED if the genesis is invalid.
 * The caller owns *out (ledger_close). */
MUST_USE enum err ledger_open(const struct ledger_config *config, struct ledger **out);
/* Frees the ledger; every result must have been freed first. Accepts NULL. */
void ledger_close(struct ledger *l);

const struct hash *ledger_chain_id(const struct ledger *l);
enum hash_alg ledger_hash_alg(const struct ledger *l);
/* False until the genesis result is committed. */
bool ledger_has_genesis(const struct ledger *l);
/* The height of the last committed block (requires ledger_has_genesis). */
uint64_t ledger_committed_height(const struct ledger *l);
/* The parameters in force at the committed state. */
const struct chain_params *ledger_params(const struct ledger *l);

/* Stateless admission (the mempool's check): size, decoding, chain, algorithm, op count and,
 * unless skip_signature, the signature. Fills *out_tx (borrowing wire) and *out_hash. */
MUST_USE enum err ledger_check_tx(const struct ledger *l, const uint8_t *wire, size_t size,
                                  bool skip_signature, struct tx *out_tx, struct hash *out_hash);

/* Builds the genesis state (height 0) as a result to commit. */
MUST_USE enum err ledger_execute_genesis(struct ledger *l, struct ledger_result **out);
/* Executes a block at in->height == parent's height + 1 (parent NULL: on the committed
 * state). ERR_INVALID_ARG for a wrong height, ERR_STALE if parent was abandoned (its parent
 * is no longer the committed state). The result holds a reference to parent; the caller owns
 * *out (ledger_result_free). */
MUST_USE enum err ledger_execute_block(struct ledger *l, struct ledger_result *parent,
                                       const struct ledger_block_in *in,
                                       struct ledger_result **out);
const struct ledger_outcome *ledger_result_outcome(const struct ledger_result *r);
/* Drops the caller's reference (children keep their parents alive). Accepts NULL. */
void ledger_result_free(struct ledger_result *r);

/* Persists the result in ONE write txn of the db: the block record (block store: payload =
 * bytes block, bytes cert; its index: height, block_id, tx hashes), the state batch, the
 * receipts and the ledger's metadata, so a crash leaves the previous or the new height,
 * nothing in between. The result's parent must be the committed state (ERR_STALE
 * otherwise). For genesis: block = genesis_encode bytes, cert empty, block_id = chain id. */
MUST_USE enum err ledger_commit(struct ledger *l, struct ledger_result *r,
                                const struct ledger_block_bytes *block);
/* Appends the committed block and certificate bytes of height to out_block and out_cert. */
MUST_USE enum err ledger_read_block(struct ledger *l, uint64_t height, struct buf *out_block,
                                    struct buf *out_cert);

/* Runs query "module.name" (e.g. "account.get") on the state after `at` (NULL: the
 * committed state). Appends the answer to out. ERR_NOT_FOUND for an unknown query. */
MUST_USE enum err ledger_query(struct ledger *l, const struct ledger_result *at, const char *query,
                               const uint8_t *args, size_t args_size, struct buf *out);
/* Reads "<module>/<key>" at the committed state with a proof against that state's root
 * (codec/state_proof.h verifies it). If found, the value is appended to out_value. */
MUST_USE enum err ledger_prove(struct ledger *l, const char *module, const uint8_t *key,
                               size_t key_size, struct buf *out_value,
                               struct ledger_state_proof *out);
/* The account at address after `at` (NULL: committed): its next nonce, keys, institution
 * (the mempool's nonce check). ERR_NOT_FOUND if there is none. */
MUST_USE enum err ledger_account(struct ledger *l, const struct ledger_result *at,
                                 const struct address *address, struct account *out);
/* The validator set in force after `at` (NULL: the committed state). out is large
 * (~40 KiB): heap-allocate it. */
MUST_USE enum err ledger_validator_set(struct ledger *l, const struct ledger_result *at,
                                       struct validator_set *out);
/* Where a committed tx is: its height and index in the block. ERR_NOT_FOUND if unknown. */
MUST_USE enum err ledger_find_tx(struct ledger *l, const struct hash *tx_hash, uint64_t *out_height,
                                 uint32_t *out_index);
/* Appends the committed receipt of tx index at height to out. */
MUST_USE enum err ledger_get_receipt(struct ledger *l, uint64_t height, uint32_t index,
                                     struct buf *out);

#endif
