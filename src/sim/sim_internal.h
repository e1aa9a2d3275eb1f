/* sim/sim_internal.h - the simulator's state, shared by the files of sim/. */
#ifndef LM_SIM_SIM_INTERNAL_H
#define LM_SIM_SIM_INTERNAL_H

#include "codec/consensus_types.h"
#include "consensus/consensus.h"
#include "sim/sim.h"

#define SIM_VALIDATORS_MAX 200
#define SIM_NODES_MAX      (SIM_VALIDATORS_MAX + 8)
#define SIM_REPLAY_RING    32
#define SIM_RECORD_RING    64
#define SIM_VCACHE_SIZE    (1u << 16)
#define SIM_LATENCY_MAX    (1u << 20)
#define SIM_EPOCH_ENDS     64
#define SIM_GENESIS_US     UINT64_C(1767225600000000) /* 2026-01-01 */

struct rng {
    uint64_t s;
};

uint64_t rng_next(struct rng *r);
uint64_t rng_below(struct rng *r, uint64_t n);
bool rng_permille(struct rng *r, uint32_t permille);

/* A reference-counted message in flight. */
struct sim_buf {
    uint32_t refs;
    size_t size;
    uint8_t *data;
};

enum sim_ev {
    EV_DELIVER = 1,
    EV_TIMER = 2,
    EV_CRASH = 3,
    EV_RESTART = 4,
    EV_PARTITION = 5,
    EV_GST = 6,
    EV_BYZ_TICK = 7,
    EV_EXECUTED = 8, /* msg: block id || exec_result || 1 if the block is invalid */
};

struct event {
    uint64_t at_us;
    uint64_t seq;
    uint8_t kind;       /* enum sim_ev */
    uint8_t timer_kind; /* enum cons_timer */
    uint16_t node;      /* the instance it happens to */
    uint16_t from;      /* validator index of the sender */
    uint64_t token;
    uint64_t gen; /* the instance's incarnation when scheduled */
    struct sim_buf *msg;
};

struct stored_block {
    struct hash id;
    uint64_t epoch;
    uint64_t height;
    uint8_t *bytes;
    size_t size;
};

/* An epoch-ending block's finality proof and the set it installed (cons_epoch_end). */
struct sim_epoch_end {
    uint8_t *proof;
    size_t proof_size;
    uint8_t *set;
    size_t set_size;
};

/* What an instance sent, for the oracle's safety-module checks. */
struct sent_record {
    uint64_t epoch;
    uint64_t round;
    uint8_t kind; /* 1 vote, 2 timeout, 3 proposal */
    struct hash what;
};

enum crash_point {
    CRASH_NONE = 0,
    CRASH_BEFORE_FSYNC = 1, /* signed, not persisted, not sent */
    CRASH_AFTER_FSYNC = 2,  /* persisted, not sent */
    CRASH_DISK_FULL = 3,    /* the persist fails */
};

struct sim;

struct sim_node {
    struct sim *sim;
    uint16_t id;  /* instance number */
    uint16_t idx; /* validator index (the key) */
    bool twin;
    enum sim_byz byz;
    bool down_forever;
    struct secret_key *key;
    struct consensus *c;
    bool up;
    bool dying;
    uint64_t gen;
    uint8_t crash_next; /* enum crash_point */

    /* disk */
    uint8_t *safety;
    size_t safety_size;
    struct stored_block *blocks;
    size_t block_count;
    size_t block_cap;
    uint64_t committed_height;
    uint64_t epoch;
    struct block_info epoch_root;
    struct block_info committed_root;
    uint8_t *root_cert;
    size_t root_cert_size;
    struct sim_epoch_end epoch_ends[SIM_EPOCH_ENDS]; /* oldest first */
    size_t epoch_end_count;
    uint8_t *tc; /* the highest TC (persist_tc) */
    size_t tc_size;
    uint64_t tc_epoch;
    uint64_t tc_round;

    /* oracle */
    uint64_t lvr_epoch;
    uint64_t lvr;
    struct sent_record sent[SIM_RECORD_RING];
    size_t sent_next;

    /* network and load */
    uint64_t egress_free_us;
    uint64_t cpu_delay_us;
    int64_t skew_us;
    uint8_t group;
    uint64_t tx_counter;
};

/* One finalized height, as first committed by any honest instance. */
struct chain_entry {
    bool set;
    struct hash id;
    struct hash exec_root;
    uint64_t epoch;
    uint64_t round;
    uint64_t timestamp_us;
    uint8_t *block;
    size_t size;
};

struct vcache_entry {
    struct hash key;
    uint8_t state; /* 0 empty, 1 valid, 2 invalid */
};

/* A recent proposal: its block id and the QC in its header (for the forking leader). */
struct seen_proposal {
    struct hash id;
    struct sim_buf *qc;
};

#define SIM_PROPOSAL_RING 16

struct sim {
    struct sim_config cfg;
    struct consensus_config ccfg;
    struct rng net;
    struct rng fault;
    struct rng byzr;
    struct rng exec; /* execution delays (its own stream: other draws do not shift) */
    uint64_t now_us;
    uint64_t seq;
    bool gst;

    struct event *heap;
    size_t heap_count;
    size_t heap_cap;

    struct sim_node nodes[SIM_NODES_MAX];
    uint16_t node_count;
    struct public_key pub[SIM_VALIDATORS_MAX];
    struct public_key tpub[SIM_VALIDATORS_MAX]; /* transport keys (in the set, unused) */
    struct block_info genesis;
    struct validator_set *vs_scratch;
    uint32_t lat_us[SIM_VALIDATORS_MAX][SIM_VALIDATORS_MAX];
    uint8_t *blocked; /* node_count x node_count, 1 = a->b dropped */

    struct vcache_entry *vcache;
    struct cons_verifier verifier;

    struct chain_entry *chain;
    size_t chain_cap;
    uint64_t max_height;
    uint64_t last_progress_us;

    uint64_t *latency;
    size_t latency_count;
    uint64_t rounds_acc;

    struct sim_buf *replay[SIM_REPLAY_RING];
    size_t replay_next;
    bool sent_oversized;
    uint64_t txs_issued;
    struct seen_proposal proposals[SIM_PROPOSAL_RING];
    size_t proposal_next;
    uint16_t crash_all_left; /* whole-cluster crashes still to trigger on a persisted TC */

    struct cons_msg *scratch;
    struct block *scratch_block;
    struct finality_proof *scratch_proof;
    struct sim_result res;
};

/* sim_env.c: the consensus_env of one instance. */
void sim_env_fill(struct sim_node *node, struct consensus_env *env);
void sim_validator_set(const struct sim *s, uint64_t epoch, struct validator_set *out);
enum err sim_verify(void *ctx, const struct public_key *key, const struct hash *digest,
                    const struct signature *sig);
void sim_violation(struct sim *s, const char *what, uint64_t a, uint64_t b);
/* Rounds entered so far (sum over epochs) by the first live honest instance. */
uint64_t sim_rounds(const struct sim *s);
/* Oracle after a (re)start: an instance resumes at least in the round after its stored TC. */
void sim_check_restart(struct sim_node *node);

/* sim_net.c: delivery, partitions, Byzantine transforms. */
void sim_push(struct sim *s, const struct event *ev);
void sim_net_send(struct sim_node *from, uint16_t to_idx, struct sim_buf *msg);
struct sim_buf *sim_buf_new(const uint8_t *data, size_t size);
void sim_buf_unref(struct sim_buf *b);
void sim_byz_outgoing(struct sim_node *from, int to_idx, const uint8_t *data, size_t size);
void sim_byz_tick(struct sim_node *node);
void sim_remember_proposal(struct sim *s, const uint8_t *data, size_t size);
void sim_partition_step(struct sim *s);
void sim_heal(struct sim *s);

#endif
