/*
 * consensus/consensus.h - Jolteon (two-chain HotStuff, DiemBFT v4 / AptosBFT) as a pure state
 * machine, as specified by CONSENSUS.md (stage A: inline payloads).
 *
 * Inputs: consensus_on_message (bytes from a peer), consensus_on_timer (a timer the env set
 * fired), consensus_on_txs_available (the mempool has transactions), consensus_on_executed
 * (a block execution finished). Block execution goes through env->execute, synchronously
 * (ERR_OK with the results) or asynchronously (ERR_AGAIN now, consensus_on_executed later;
 * see "Asynchronous execution" below). Outputs go through struct consensus_env: messages,
 * timers, the durable safety record (persisted before any vote, timeout or proposal that
 * depends on it is sent), the highest TC (durable before the round after it is entered),
 * durable blocks, committed blocks in height order with their finality proofs, evidence.
 *
 * No sockets, files, clocks, threads or randomness: everything is injected. Every message is
 * decoded strictly and verified (epoch, membership, signatures, voting power, sizes) before it
 * changes state; rejected messages are dropped and counted in consensus_stats.
 *
 * Peers are named by their validator index in the current epoch's set; CONS_PEER_NONE for a
 * sender that is not a validator (its messages are dropped except sync replies).
 *
 * Threads: one consensus object is owned by one thread. The env callbacks must not call back
 * into the consensus object (messages to self are queued inside, so there is no re-entry).
 *
 * Asynchronous execution: env->execute may start the execution (e.g. on an executor thread)
 * and return ERR_AGAIN. The block and parent are borrowed for the call only: the env copies
 * what it needs. It later calls consensus_on_executed(c, block_id, result, res) on the
 * consensus thread, with the block id of the header (block_header_id). The core stores the
 * block with env->persist_block at once (the store overlaps the execution; a block whose
 * result is invalid stays stored until pruned: a restart executes it once more, and drops it
 * from the restart blocks when the result is invalid again).
 * Until the result it does not vote for the block, insert it into the tree, build on it or
 * commit it: it parks a copy of the block (at most CONS_EXEC_PENDING_MAX at a
 * time; when full, a block of a later round evicts the lowest-round one, others are
 * dropped and counted) and resumes the path that asked once the result arrives:
 *   - a proposal is handled again (vote only if its round is still current and the safety
 *     rules allow: no vote after a timeout in that round);
 *   - the leader's own block: it was signed and broadcast when its execution started (the
 *     proposal digest covers the header, not the result), so the leader's execution runs
 *     alongside the replicas'; like theirs, its vote waits for the result (the proposal it
 *     sent itself is handled again); no second block is built while it executes;
 *   - a retrieved chain and the durable blocks of a restart continue bottom-up;
 *   - messages held for the block (a QC naming it, a child's proposal) are retried: a child
 *     is executed only after its parent's result, so results may arrive in any order.
 * result != ERR_OK: the block is invalid (as ERR_MALFORMED from a synchronous execute). A
 * result for a block the core does not wait for (unknown, duplicate, evicted, of a past
 * epoch, or whose parent was pruned) is ignored and counted in exec_results_ignored; the
 * same block may be handed to env->execute again later. The env may mix both modes per
 * call; one that always returns ERR_OK behaves exactly as before. A restart forgets every
 * pending execution (its results arrive at a new consensus object and are ignored).
 *
 * Resolutions of points CONSENSUS.md leaves open:
 *   - failed_authors lists the leaders of rounds max(qc.round + 1, round - 32) .. round - 1:
 *     the list is bounded by CONS_FAILED_AUTHORS_MAX, the most recent rounds are kept.
 *   - The synthetic epoch QC certifies the epoch root with proposed = parent = commit_info =
 *     root BlockInfo (round 0, epoch e, next_epoch_vs_hash zero).
 *   - A proposal whose timestamp is more than max_clock_skew ahead is held and retried once
 *     the local clock has caught up (up to one base timeout), then dropped.
 *   - Leader election: V_e[r mod n] when all powers are equal, otherwise the stateless
 *     weighted pick of section 7 (u128 of the seed reduced mod P without 128-bit types).
 *   - Leader reputation (optional): the history restarts at every epoch; at start it is
 *     reloaded through env->load_committed_at. With no usable history (an epoch start) or
 *     none recent (nothing committed in the exclude_rounds before the window) the leader is
 *     the stage-1 one: frozen weights can otherwise keep electing a dead validator (live
 *     ones that failed > 10 % weigh 1, a never-picked dead one 10) and nothing commits. Blocks that
 * are fetched or restored (already certified, or validated by this node before) skip the
 * failed_authors check, which depends on the node's committed history: a node still catching up may
 * see other leaders and must not refuse the certified chain. A pick's weights are power x weight
 *     with the powers scaled down (deterministically) so the total stays below 2^60.
 *   - An EpochChangeProof's cert certifies a block X and commits C (the ending block or a
 *     suffix block). When X is unknown the node fetches C (committed on every peer) and
 *     applies the commit from the cert: X is a reconfiguration suffix block, never in the
 *     ledger, and a restarted peer keeps only the headers from C down.
 *   - Block retrieval asks another peer at once on NOT_FOUND; when other validators holding a
 *     quorum of power (or all of them) answered NOT_FOUND the target is remembered as lost
 *     (the last 8), and messages whose certificates name it are dropped instead of held (no
 *     honest peer can ever serve it).
 */
#ifndef LM_CONSENSUS_CONSENSUS_H
#define LM_CONSENSUS_CONSENSUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "codec/consensus_types.h"

#define CONS_PEER_NONE        UINT16_MAX
#define CONS_EXEC_PENDING_MAX 8 /* blocks whose asynchronous execution the core waits for */
/* consensus_config_default's base_timeout_ms; the block intervals may be a third of it. */
#define CONS_BASE_TIMEOUT_MS_DEFAULT 1000u
#define CONS_BLOCK_INTERVAL_MAX_MS   (CONS_BASE_TIMEOUT_MS_DEFAULT / 3u)

struct consensus_config {
    struct cons_chain chain;
    uint64_t base_timeout_ms;        /* T(r) before back-off */
    uint32_t backoff_permille;       /* 1000..2000, e.g. 1200 */
    uint32_t max_backoff_exp;        /* cap of the exponent, e.g. 6 */
    uint32_t max_block_txs;          /* <= CONS_BLOCK_TXS_MAX */
    uint32_t max_block_bytes;        /* <= CONS_BLOCK_BYTES_MAX */
    uint64_t max_clock_skew_ms;      /* proposals up to this far ahead are accepted */
    uint64_t round_window;           /* R_max: later rounds need a certificate that proves them */
    uint64_t idle_block_interval_ms; /* 0: propose at once; <= base_timeout/3 */
    /* 0: off. Otherwise a leader holds a block with txs until this long after its parent's
     * timestamp (a full block goes at once): under light load the txs of a few ms share one
     * block instead of each paying a block's fixed costs. <= base_timeout/3. */
    uint64_t min_block_interval_ms;
    uint32_t block_tree_max;       /* blocks above the committed root, incl. a fetched chain */
    uint64_t retrieval_timeout_ms; /* per block-retrieval try */
    /* 0: off. Otherwise the expected egress of a leader (kbit/s): the round timer adds the
     * time to send the last accepted proposal to the n-1 others at that rate, at most
     * base_timeout_ms (stage A dissemination, see round_timeout_ms in consensus.c). */
    uint64_t leader_egress_kbps;
    /* Leader reputation (CONSENSUS.md section 7 stage 2), off by default. When on, the leader
     * of round r is a hash pick weighted by power x {1 failed, 1000 active, 10 inactive},
     * judged from the committed blocks of this epoch with rounds <= r - exclude_rounds:
     * proposals and failed_authors over the last proposer_window of them, votes (the QC
     * bitmaps) over the last n. */
    bool leader_reputation;
    uint32_t exclude_rounds;  /* >= 3, e.g. 20 */
    uint32_t proposer_window; /* 1..CONS_REPUTATION_WINDOW_MAX, e.g. 10 n */
};

#define CONS_REPUTATION_WINDOW_MAX 1024

/* Fills a config with CONSENSUS.md defaults for the given chain. */
void consensus_config_default(struct consensus_config *cfg, enum hash_alg alg,
                              const struct hash *chain_id);
MUST_USE enum err consensus_config_check(const struct consensus_config *cfg);

enum cons_timer {
    CONS_TIMER_ROUND = 1,     /* the round deadline */
    CONS_TIMER_RETRIEVAL = 2, /* a block-retrieval try timed out */
    CONS_TIMER_PROPOSE = 3,   /* idle-chain delay or a future proposal became current */
};

/* The durable safety record (CONSENSUS.md section 3). */
struct safety_record {
    uint64_t epoch;
    uint64_t last_voted_round;
    uint64_t one_chain_round;
    bool has_vote;
    struct vote last_vote;
    bool has_proposal;
    uint64_t proposal_round;
    struct hash proposal_id;
    struct signature proposal_sig;
};

#define SAFETY_RECORD_SIZE_MAX 2048
MUST_USE enum err safety_record_encode(struct buf *b, const struct safety_record *s);
MUST_USE enum err safety_record_decode(const uint8_t *data, size_t size, struct safety_record *out);

struct exec_result {
    struct hash exec_root;
    struct hash receipts_root;
    struct hash next_epoch_vs_hash; /* non-zero: this block ends its epoch */
};

/* A block that became final. Borrowed for the duration of env->commit. */
struct committed_block {
    const struct block_info *info;
    const uint8_t *block; /* the full block encoding (header then payload) */
    size_t block_size;
    const uint8_t *proof; /* finality_proof encoding */
    size_t proof_size;
    bool ends_epoch;
};

struct payload_request {
    const struct hash *exclude; /* ids of the uncommitted ancestors */
    size_t exclude_count;
    uint32_t max_txs;
    uint32_t max_bytes;
};

struct consensus_env {
    void *ctx;
    uint64_t (*now_us)(void *ctx); /* wall clock for block timestamps */
    /* Queue a message to one validator (index in the current set) or to all others. */
    void (*send)(void *ctx, uint16_t to, const uint8_t *msg, size_t size);
    void (*broadcast)(void *ctx, const uint8_t *msg, size_t size);
    /* (Re)arm the one timer of this kind; fire consensus_on_timer(kind, token) after delay. */
    void (*set_timer)(void *ctx, enum cons_timer kind, uint64_t delay_ms, uint64_t token);
    /* Durable (fsync'd) on ERR_OK. Any error halts the node: nothing more is signed. */
    enum err (*persist_safety)(void *ctx, const uint8_t *record, size_t size);
    /* Durable (fsync'd, replacing the previous one atomically) on ERR_OK: the highest TC
     * (a tc_encode encoding, up to ~30 KB at 200 validators: too large for the safety
     * record). Called before the node enters the round after a newly formed or learned TC,
     * so a restart resumes in that round (CONSENSUS.md sections 3 and 10). An error halts
     * the node like a failed persist_safety. */
    enum err (*persist_tc)(void *ctx, const uint8_t *tc, size_t size);
    /* Durable block store: a validated block above the committed root. */
    enum err (*persist_block)(void *ctx, const struct hash *id, const uint8_t *block, size_t size);
    /* Signs the 32-byte digest with this node's consensus key. */
    enum err (*sign)(void *ctx, const struct hash *digest, struct signature *out);
    cons_verify_fn *verify; /* may consult a cache; NULL: verify_message */
    /* Optional: all signatures of one certificate at once, e.g. on a worker pool (the call
     * returns when all are checked). NULL: one env->verify call per signature. */
    cons_verify_batch_fn *verify_batch;
    /* Validates the payload (tx well-formed and signed) and executes the block on its
     * parent's speculative state. ERR_MALFORMED: the block is invalid (no vote). ERR_AGAIN:
     * started, *out untouched; the result comes through consensus_on_executed. */
    enum err (*execute)(void *ctx, const struct block *blk, const struct block_info *parent,
                        struct exec_result *out);
    /* Appends up to req->max_txs transactions (each as a codec byte string) of at most
     * req->max_bytes in total to out, none of them in the blocks req->exclude (the
     * uncommitted ancestors); sets *out_count. */
    enum err (*pull_payload)(void *ctx, const struct payload_request *req, struct buf *out,
                             uint32_t *out_count);
    /* Atomically and durably commits the block (ledger, state, the cert). Blocks come in
     * height order. An error halts the node. */
    enum err (*commit)(void *ctx, const struct committed_block *cb);
    /* The validator set that the epoch-ending block `ending` installs. */
    enum err (*next_validator_set)(void *ctx, const struct block_info *ending,
                                   struct validator_set *out);
    /* A committed block by id or by height, appended to out, for serving block retrieval and
     * catch-up below the tree; ERR_NOT_FOUND. Optional (NULL: serve only the tree). */
    enum err (*load_committed_block)(void *ctx, const struct hash *id, struct buf *out);
    enum err (*load_committed_at)(void *ctx, uint64_t height, struct buf *out);
    /* Equivocation evidence found (encoded struct evidence). Optional (NULL). */
    void (*evidence)(void *ctx, const uint8_t *evidence, size_t size);
};

/* An epoch this node saw end, handed back at start so a restarted node still serves
 * EpochChangeProofs and the reconfiguration suffix to peers left in that epoch. */
struct cons_epoch_end {
    struct byte_span proof;    /* the epoch-ending block's finality proof (env->commit) */
    struct byte_span next_set; /* validator_set_encode of the set that block installed */
};

/* Where a node starts: genesis, an epoch start, or a restart. */
struct cons_start {
    const struct validator_set *validators; /* the set of `epoch_root.epoch` */
    struct block_info epoch_root;           /* round 0 of the current epoch (section 9) */
    struct block_info committed_root;       /* the last committed block (or epoch_root) */
    struct byte_span root_cert;             /* commit cert naming committed_root, or empty */
    struct byte_span safety_record;         /* empty: a fresh record for this epoch */
    struct byte_span high_tc;       /* what persist_tc stored last, or empty; ignored unless it
                                     * verifies in the current epoch */
    const struct byte_span *blocks; /* durable blocks above the root, any order */
    size_t block_count;
    const struct cons_epoch_end *epoch_ends; /* oldest first; the newest 64 are kept */
    size_t epoch_end_count;
    struct public_key self_key; /* this node's consensus key */
};

struct consensus_stats {
    uint64_t msgs_in;
    uint64_t dropped_malformed;
    uint64_t dropped_bad_signature;
    uint64_t dropped_non_validator;
    uint64_t dropped_wrong_epoch;
    uint64_t dropped_stale;
    uint64_t dropped_future;
    uint64_t dropped_invalid_block;
    uint64_t dropped_held_overflow;
    uint64_t votes_sent;
    uint64_t proposals_sent;
    uint64_t timeouts_sent;
    uint64_t qcs_formed;
    uint64_t tcs_formed;
    uint64_t blocks_committed;
    uint64_t evidence_found;
    uint64_t nondeterminism_alarms;
    uint64_t retrievals_started;
    uint64_t retrievals_lost; /* a quorum answered NOT_FOUND: messages naming it dropped */
    uint64_t epoch_changes;
    uint64_t sig_verifications; /* signature checks requested from env->verify */
    uint64_t cert_cache_hits;
    uint64_t exec_started;         /* executions env->execute started asynchronously */
    uint64_t exec_results_ignored; /* results for blocks the core no longer waited for */
    uint64_t exec_dropped;         /* blocks dropped or evicted: the pending table was full */
};

struct consensus;

/* Creates a node. The config and env are copied. The caller owns the result and releases it
 * with consensus_free. Does nothing until consensus_start. */
MUST_USE enum err consensus_new(const struct consensus_config *cfg, const struct consensus_env *env,
                                struct consensus **out);
void consensus_free(struct consensus *c);
/* Loads the state, re-executes durable blocks, enters the round after the highest
 * certificate and re-sends a persisted vote or proposal of that round. */
MUST_USE enum err consensus_start(struct consensus *c, const struct cons_start *s);

void consensus_on_message(struct consensus *c, uint16_t from, const uint8_t *msg, size_t size);
void consensus_on_timer(struct consensus *c, enum cons_timer kind, uint64_t token);
void consensus_on_txs_available(struct consensus *c);
/* The result of an execution env->execute started with ERR_AGAIN (see above). `res` is read
 * only when result == ERR_OK. */
void consensus_on_executed(struct consensus *c, const struct hash *block_id, enum err result,
                           const struct exec_result *res);

/* Inspection (tests, metrics, the simulator's oracle). */
const struct consensus_stats *consensus_stats(const struct consensus *c);
uint64_t consensus_epoch(const struct consensus *c);
uint64_t consensus_round(const struct consensus *c);
uint64_t consensus_last_voted_round(const struct consensus *c);
const struct block_info *consensus_committed_root(const struct consensus *c);
const struct validator_set *consensus_validators(const struct consensus *c);
/* Blocks held in the tree, pending votes/timeouts and held messages (memory oracle). */
size_t consensus_tree_size(const struct consensus *c);
size_t consensus_held_count(const struct consensus *c);
/* Blocks waiting for an execution result, plus restart blocks waiting for such a parent. */
size_t consensus_exec_pending(const struct consensus *c);
bool consensus_is_halted(const struct consensus *c);

/* Leader of (epoch, round) in vs. */
uint16_t consensus_leader(enum hash_alg alg, const struct validator_set *vs, uint64_t epoch,
                          uint64_t round);

#endif
