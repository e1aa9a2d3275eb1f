/*
 * sim/sim.h - the deterministic cluster simulator (CONSENSUS.md "Testing", T1-T4).
 *
 * N consensus nodes run in one process on virtual time: a single-threaded discrete-event
 * loop ordered by (virtual time, sequence number). One seed drives splitmix64 streams for
 * the network, the faults, the Byzantine nodes and the transactions, so a run replays bit
 * for bit. Signatures are real (Ed25519 through crypto/sign.h, keys derived from the seed)
 * and one verification cache is shared by all simulated nodes.
 *
 * Network: per-link latency (LAN 0.2-2 ms, WAN 50-250 ms per pair, with jitter), per-node
 * egress bandwidth with serialization delay, drops, duplicates, reordering, symmetric and
 * asymmetric partitions that form and heal, slow nodes, per-node clock skew, and a GST after
 * which delays are bounded and nothing is dropped. Faults: crash and restart from the
 * persisted safety record (also between sign and fsync, and between fsync and send), disk
 * full. Byzantine nodes (at most f by power) wrap the honest code: equivocating leader,
 * double votes, silence, garbage bytes, replays, amnesia. Twins: extra instances sharing a
 * validator's key, sampled (random partitions) or enumerated (a partition per round, every
 * schedule of the first rounds: scenario twins-enum; twins-enum-fail must break).
 * Leader reputation (section 7 stage 2) can be switched on per run.
 *
 * Execution: synchronous, or (async_exec) answered later by a seeded delay as a simulated
 * event, results reordered across blocks and lost in crashes.
 *
 * The oracle runs after every event: agreement at every height, prefix, every finality proof
 * verifies, equal state roots per height, honest lvr never decreases, no conflicting or
 * post-timeout honest votes, liveness after GST within a bound, bounded node memory.
 * Threads: none; a run owns everything it allocates.
 */
#ifndef LM_SIM_SIM_H
#define LM_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define SIM_SPLIT_ROUNDS_MAX 8
/* twins-enum: the partition choices per round and the rounds enumerated (seeds 0 ..
 * SIM_TWINS_ENUM_CHOICES^SIM_TWINS_ENUM_ROUNDS - 1 cover the space) */
#define SIM_TWINS_ENUM_CHOICES 9
#define SIM_TWINS_ENUM_ROUNDS  4

enum sim_net {
    SIM_NET_LAN = 0,
    SIM_NET_WAN = 1,
};

enum sim_byz {
    SIM_BYZ_NONE = 0,
    SIM_BYZ_EQUIVOCATE = 1,  /* different proposals to two halves */
    SIM_BYZ_DOUBLE_VOTE = 2, /* a second, conflicting vote in every round */
    SIM_BYZ_SILENT = 3,      /* withholds everything */
    SIM_BYZ_GARBAGE = 4,     /* random bytes and bit-flipped copies of its messages */
    SIM_BYZ_REPLAY = 5,      /* replays old messages (incl. old epochs), floods */
    SIM_BYZ_AMNESIA = 6,     /* restarts without its safety record */
    SIM_BYZ_FORK = 7,        /* as leader extends an older QC (orphans its predecessor's
                              * block); times out with a stale hqc */
};

struct sim_config {
    uint64_t seed;
    uint16_t n;             /* validators, 1..200 */
    uint16_t twins;         /* validators 0..twins-1 get a second instance */
    bool twins_fixed_split; /* twins in one half, originals in the other, never healed */
    /* Twins enumeration: a proposal, vote or timeout of round r (1..round_split_count)
     * reaches only the instances on its sender's side of round_split[r-1] (bit i: instance
     * i on side 1). Later rounds, and messages without a round, are connected. */
    uint8_t round_split[SIM_SPLIT_ROUNDS_MAX];
    uint8_t round_split_count;
    enum sim_net net;
    uint32_t drop_permille;   /* before GST */
    uint32_t dup_permille;    /* any time */
    uint64_t gst_ms;          /* faults before, bounded delays after */
    uint64_t duration_ms;     /* virtual time limit */
    uint64_t target_height;   /* stop once every live honest node committed this height */
    bool partitions;          /* partitions form and heal before GST */
    uint16_t crashes;         /* crash/restart events before GST (honest nodes) */
    uint16_t crash_all_on_tc; /* the first k times an honest node persists a TC, every
                               * instance crashes a moment later and restarts from disk */
    bool disk_faults;         /* crashes between sign/fsync/send and disk-full errors */
    uint16_t slow_nodes;      /* nodes with CPU delay per message */
    uint64_t clock_skew_ms;   /* max per-node clock skew */
    uint16_t byzantine;       /* validators n-byzantine..n-1 misbehave */
    enum sim_byz byz;
    uint16_t down_every;     /* >0: validators with index % down_every == 1 never run */
    uint64_t bandwidth_kbps; /* per-node egress; 0 = unlimited */
    uint64_t reconfig_every; /* >0: an epoch ends at every multiple of this height */
    uint32_t txs_per_block;
    uint32_t tx_size;
    uint64_t tx_budget; /* >0: the mempool runs dry after this many transactions */
    uint64_t idle_ms;   /* idle_block_interval_ms of the nodes */
    uint64_t pace_ms;   /* min_block_interval_ms of the nodes */
    uint64_t base_timeout_ms;
    uint64_t warmup_height;  /* >0: the steady-state counters of sim_result start when the
                              * first honest node commits this height (start-up excluded) */
    uint32_t exclude_rounds; /* with leader_reputation; 0: the default (20) */
    /* Asynchronous execution (async_exec): env->execute returns ERR_AGAIN and the result
     * arrives as an event exec_base_us + tx_count * exec_per_tx_us + up to exec_jitter_us
     * later (seeded, so results of different blocks overtake each other);
     * exec_sync_permille of the executions still answer at once. A crash forgets the
     * pending ones. A block with more than txs_per_block transactions (the equivocating
     * leader's second one) then fails execution at every node. */
    uint32_t exec_sync_permille;
    uint64_t exec_base_us;
    uint64_t exec_per_tx_us;
    uint64_t exec_jitter_us;
    bool async_exec;
    bool leader_reputation; /* section 7 stage 2 */
    bool expect_violation;  /* a must-fail run (twins > f) */
    bool quiet;
};

#define SIM_MSG_TYPES 12

struct sim_result {
    bool ok;             /* no invariant broken (or, if expected, one was) */
    bool violation;      /* an invariant broke */
    char what[160];      /* the first broken invariant */
    uint64_t virtual_ms; /* when the run stopped */
    uint64_t min_height; /* lowest committed height among live honest nodes */
    uint64_t max_height;
    uint64_t epochs;         /* epoch changes seen by node 0's key holder */
    uint64_t msgs;           /* messages sent */
    uint64_t bytes;          /* bytes sent */
    uint64_t rounds;         /* rounds entered (sum over epochs, max over nodes) */
    uint64_t blocks;         /* blocks finalized (max height gained) */
    uint64_t latency_p50_ms; /* proposal timestamp to commit, over (node, block) */
    uint64_t latency_p99_ms;
    uint64_t verifications; /* real signature checks (cache misses) */
    uint64_t cache_hits;
    uint64_t evidence;
    uint64_t dropped_bad; /* messages dropped as malformed, bad signature, non-member */
    uint64_t restarts;
    /* by message type (index: the first byte, CONS_MSG_*; 0 holds anything else) */
    uint64_t type_msgs[SIM_MSG_TYPES];
    uint64_t type_bytes[SIM_MSG_TYPES];
    /* at warmup_height: what had been sent until then, and the rounds entered; latencies
     * are sampled only for heights above it */
    uint64_t warm_msgs;
    uint64_t warm_bytes;
    uint64_t warm_rounds;
    uint64_t warm_height;
    uint64_t warm_type_msgs[SIM_MSG_TYPES];
    uint64_t timeouts_sent; /* local timeouts broadcast, over honest nodes */
    uint64_t tcs_formed;    /* over honest nodes */
    uint64_t exec_async;    /* executions answered later (async_exec) */
    uint64_t exec_ignored;  /* results the nodes no longer waited for */
    uint64_t crash_pending; /* crashes of a node with executions pending */
};

/* Fills cfg for a named scenario and seed; ERR_NOT_FOUND for an unknown name. */
MUST_USE enum err sim_scenario(const char *name, uint64_t seed, struct sim_config *out);
/* The scenario names, NULL-terminated. */
const char *const *sim_scenario_names(void);
/* Runs one simulation; ERR_OK whenever the run completed (see result->ok). */
MUST_USE enum err sim_run(const struct sim_config *cfg, struct sim_result *out);

#endif
