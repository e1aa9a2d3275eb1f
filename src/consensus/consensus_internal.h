/* consensus/consensus_internal.h - the node's state, shared by the files of consensus/ and
 * white-box tests. Nothing outside consensus/ and tests includes it. */
#ifndef LM_CONSENSUS_CONSENSUS_INTERNAL_H
#define LM_CONSENSUS_CONSENSUS_INTERNAL_H

#include "consensus/consensus.h"

#define VOTE_SLOTS_MAX  4   /* distinct ledger infos collected in one round */
#define HELD_MAX        32  /* messages waiting for a block or for the clock */
#define INBOX_MAX       64  /* messages to self and replays, processed before returning */
#define CERT_CACHE_SIZE 128 /* hashes of verified certificates */
#define EPOCH_HISTORY   64  /* epoch-ending certs kept to serve EpochChangeProofs */
#define RETRIEVAL_TRIES 8   /* timed-out tries before a retrieval is abandoned */
#define LOST_MAX        8   /* blocks no peer had, remembered so held messages stop waiting */

/* A block in the tree above (and including) the committed root. */
struct cblock {
    struct hash id;
    struct block_info info; /* with this node's execution results */
    struct hash parent_id;
    uint64_t qc_round; /* round of the QC in the header (the parent's) */
    uint16_t author;
    bool empty_payload;
    uint8_t *bytes; /* full encoding; NULL for a root known only by its BlockInfo */
    size_t size;
    size_t header_size;
    uint8_t *qc; /* the first verified QC certifying this block, or NULL */
    size_t qc_size;
    struct cblock *parent;
};

/* An owned encoded certificate. */
struct cert {
    uint8_t *bytes;
    size_t size;
    uint64_t round;       /* certified round (QC) or timeout round (TC) */
    uint64_t aux_round;   /* QC: commit_info round (0 if none); TC: its hqc round */
    struct hash block_id; /* QC: certified block */
};

struct vote_slot {
    bool used;
    struct hash li_hash;
    struct vote_data vote_data;
    struct ledger_info ledger_info;
    uint64_t power;
};

struct pending_vote {
    bool present;
    uint8_t slot;
    struct signature sig;
};

struct pending_timeout {
    bool present;
    uint64_t round;
    uint64_t hqc_round;
    struct signature sig;
};

struct raw_msg {
    uint16_t from;
    uint8_t *bytes;
    size_t size;
};

struct epoch_entry {
    uint64_t epoch; /* the epoch this cert ends */
    uint8_t *cert;
    size_t cert_size;
    uint8_t *set; /* the next validator set */
    size_t set_size;
    /* the reconfiguration suffix up to the cert's block: never in the ledger, but a node
     * catching up needs it to check the cert */
    struct raw_msg suffix[16];
    size_t suffix_count;
};

/* A block whose execution env->execute started (ERR_AGAIN): everything but its results is
 * checked; it enters the tree when consensus_on_executed brings them. */
struct exec_wait {
    bool used;
    bool own;               /* this node's proposal (sent when parked): none other is built */
    struct block_info info; /* results not yet filled in */
    struct hash parent_id;
    uint8_t *bytes; /* the block encoding */
    size_t size;
    /* the proposal that brought it, handled again once executed: type byte || bytes ||
     * replay_tail (signature and sync info) */
    bool has_replay;
    uint16_t replay_from;
    uint8_t *replay_tail;
    size_t replay_tail_size;
};

enum retrieval_mode {
    RT_TOP_DOWN = 0, /* from a wanted block down to the tree */
    RT_LEDGER = 1,   /* committed blocks up from the root, when far behind */
};

struct retrieval {
    bool active;
    uint8_t mode;       /* enum retrieval_mode */
    struct hash target; /* the block whose absence started it */
    uint64_t target_height;
    struct hash want; /* the next block to fetch (top of the missing chain) */
    uint16_t peer;
    uint32_t tries;
    uint64_t token;
    struct raw_msg *fetched; /* top-down copies, block_tree_max slots */
    size_t fetched_count;
    bool exec_wait;      /* the lowest fetched block (or its parent) is executing */
    struct hash exec_id; /* that lowest fetched block */
    /* peers that answered NOT_FOUND for `want` (top-down): when they hold a quorum of power,
     * no honest peer can serve the chain, and waiting for it would hold forever
     * (on_block_not_found) */
    uint8_t not_found[CONS_BITMAP_SIZE_MAX];
    uint64_t not_found_power;
};

/* One committed block as leader reputation sees it (section 7 stage 2). */
struct rep_record {
    uint64_t round;
    uint16_t author;
    uint8_t failed_count;
    uint16_t failed[CONS_FAILED_AUTHORS_MAX]; /* leaders of the rounds it skipped */
    uint8_t voters[CONS_BITMAP_SIZE_MAX];     /* signers of its QC (votes for its parent) */
};

#define REP_CACHE 8

struct reputation {
    struct rep_record *ring; /* CONS_REPUTATION_WINDOW_MAX records, oldest first from head */
    size_t head;
    size_t count;
    uint64_t cache_round[REP_CACHE]; /* memo of picks, cleared when the history changes */
    uint16_t cache_leader[REP_CACHE];
    bool cache_used[REP_CACHE];
    size_t cache_next;
    struct block_header *header; /* scratch */
};

struct consensus {
    struct consensus_config cfg;
    struct consensus_env env;
    struct cons_verifier verifier;
    bool started;
    bool halted;  /* persistence failed: signs nothing more */
    bool no_vote; /* non-determinism alarm: stopped voting */

    struct validator_set vs;
    int self; /* index in vs, or -1 (not a validator in this epoch) */
    struct public_key self_key;
    uint64_t epoch;
    struct block_info epoch_root;
    struct qc epoch_qc;
    struct safety_record safety;

    uint64_t current_round;
    uint64_t last_proposal_size; /* bytes of the newest accepted proposal message */
    struct cblock **blocks;
    size_t block_count;
    struct cblock *root;
    struct cert high_qc;
    struct cert high_cc;
    struct cert high_tc; /* bytes NULL if none */

    uint64_t votes_round;
    bool qc_formed;
    struct vote_slot slots[VOTE_SLOTS_MAX];
    struct pending_vote votes[CONS_VALIDATORS_MAX];
    struct pending_timeout timeouts[CONS_VALIDATORS_MAX];
    bool timed_out;
    uint8_t *my_timeout;
    size_t my_timeout_size;
    uint64_t seen_prop_round;
    struct hash seen_prop_id;
    uint8_t *seen_prop; /* header || signature of the first proposal of seen_prop_round */
    size_t seen_prop_size;
    bool evidence_done[CONS_VALIDATORS_MAX];
    uint64_t sync_reply_round[CONS_VALIDATORS_MAX];
    uint64_t epoch_reply_us[CONS_VALIDATORS_MAX];
    bool propose_pending;
    bool propose_paced; /* the pending proposal waits for min_block_interval_ms, not txs */

    struct raw_msg inbox[INBOX_MAX];
    size_t inbox_head;
    size_t inbox_count;
    struct raw_msg held[HELD_MAX];
    size_t held_count;
    struct exec_wait exec[CONS_EXEC_PENDING_MAX];
    struct raw_msg *restore; /* durable blocks waiting for a parent that is executing */
    size_t restore_count;
    struct retrieval rt;
    struct hash lost[LOST_MAX]; /* retrieval targets every peer answered NOT_FOUND for */
    size_t lost_next;
    uint64_t round_token;
    uint64_t propose_token;

    struct hash cert_cache[CERT_CACHE_SIZE];
    size_t cert_cache_next;
    struct epoch_entry history[EPOCH_HISTORY];
    size_t history_count;

    /* scratch */
    struct cons_msg *msg;
    struct qc *tmp_qc;
    struct tc *tmp_tc;
    struct block *tmp_block;
    struct validator_set *tmp_vs;
    struct buf out;
    struct buf enc;

    struct reputation rep;

    struct consensus_stats stats;
};

/* safety.c: the weighted hash pick of section 7 over weights[0..count) (sum <= 2^60). */
uint16_t consensus_weighted_pick(enum hash_alg alg, uint64_t epoch, uint64_t round,
                                 const uint64_t *weights, uint16_t count);

/* reputation.c (only with cfg.leader_reputation) */
void reputation_init(struct consensus *c);
void reputation_free(struct consensus *c);
void reputation_reset(struct consensus *c); /* a new epoch: the history restarts */
/* A committed block of the current epoch (full encoding), in height order. */
void reputation_add(struct consensus *c, const uint8_t *block, size_t size);
/* Reloads the history of the current epoch below and at the committed root. */
void reputation_load(struct consensus *c, uint64_t root_height);
uint16_t reputation_leader(struct consensus *c, uint64_t round);

#endif
