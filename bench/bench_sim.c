/* Consensus at scale in the simulator (virtual time, WAN links of 50-250 ms per pair, 100
 * Mbit/s egress per node, real Ed25519 signatures with one shared verification cache).
 * For each n: finality latency p50/p99 (proposal timestamp to commit, over every node and
 * block), messages and bytes per finalized block, and the rounds lost when every k-th
 * validator (index % k == 1, at most f of them) is down, with round-robin leaders and with
 * leader reputation (CONSENSUS.md section 7 stage 2).
 * Per-block figures are the steady state: counted from the moment the first node commits
 * height WARMUP (the start-up, when every node broadcasts its SyncInfo to all, is reported
 * on its own as a one-off message count).
 *   bench_sim [BLOCKS] [SEED] [N...]   prints a Markdown table (bench/README.md) */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "codec/consensus_types.h"
#include "sim/sim.h"

#define WARMUP 5

static double
seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct run_args {
    uint64_t blocks; /* after the warm-up */
    uint64_t seed;
};

static int
run(uint16_t n, uint16_t down_every, bool reputation, const struct run_args *args,
    struct sim_result *out, double *wall)
{
    uint64_t blocks = args->blocks;
    uint64_t seed = args->seed;
    struct sim_config cfg;
    if (sim_scenario("wan", seed, &cfg) != ERR_OK) {
        return -1;
    }
    cfg.n = n;
    cfg.target_height = blocks + WARMUP;
    cfg.warmup_height = WARMUP;
    cfg.down_every = down_every;
    cfg.leader_reputation = reputation; /* exclude_rounds 20, window 10 n (at most 1000) */
    cfg.bandwidth_kbps = 100000;        /* also the leader egress the pacemaker assumes */
    cfg.base_timeout_ms = 1500;
    cfg.duration_ms = 1000000;
    cfg.txs_per_block = 100;
    cfg.tx_size = 250;
    double t0 = seconds();
    if (sim_run(&cfg, out) != ERR_OK) {
        return -1;
    }
    *wall = seconds() - t0;
    return out->ok && out->warm_height == WARMUP && out->blocks > WARMUP ? 0 : -1;
}

/* Rounds entered beyond one per finalized block, per 100 blocks, in the steady state. */
static double
lost_per_100(const struct sim_result *r)
{
    double blocks = (double)(r->blocks - r->warm_height);
    return 100.0 * ((double)(r->rounds - r->warm_rounds) - blocks) / blocks;
}

int
main(int argc, char **argv)
{
    struct run_args args = { .blocks = argc > 1 ? strtoull(argv[1], NULL, 10) : 30,
                             .seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1 };
    static const uint16_t all[] = { 4, 16, 64, 100, 128, 200 };
    uint16_t sizes[16];
    size_t count = 0;
    for (int i = 3; i < argc && count < 16; i++) {
        sizes[count++] = (uint16_t)strtoul(argv[i], NULL, 10);
    }
    for (size_t i = 0; count == 0 && i < sizeof all / sizeof all[0]; i++) {
        sizes[i] = all[i];
        if (i + 1 == sizeof all / sizeof all[0]) {
            count = i + 1;
        }
    }
    const uint16_t k = 4;
    printf("| n | p50 finality (ms) | p99 finality (ms) | msgs/block | msgs/block/n | KB/block "
           "| rounds/block | timeout msgs/block | start-up msgs (once) | every %u-th down: "
           "rounds lost per 100 blocks | p50 / p99 (ms) | same with reputation: rounds lost "
           "| p50 / p99 (ms) | sim wall (s) |\n",
           k);
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t i = 0; i < count; i++) {
        struct sim_result a;
        struct sim_result b;
        struct sim_result d;
        double wa = 0;
        double wb = 0;
        double wd = 0;
        int ra = run(sizes[i], 0, false, &args, &a, &wa);
        int rb = run(sizes[i], k, false, &args, &b, &wb);
        int rd = run(sizes[i], k, true, &args, &d, &wd);
        if (ra != 0 || rb != 0 || rd != 0) {
            printf("| %u | run failed: %s | | | | | | | | | | | | |\n", sizes[i],
                   ra != 0 ? a.what : (rb != 0 ? b.what : d.what));
            continue;
        }
        double per = (double)(a.blocks - a.warm_height);
        double msgs = (double)(a.msgs - a.warm_msgs) / per;
        double tmo =
            (double)(a.type_msgs[CONS_MSG_TIMEOUT] - a.warm_type_msgs[CONS_MSG_TIMEOUT]) / per;
        printf("| %u | %llu | %llu | %.0f | %.2f | %.0f | %.2f | %.1f | %llu | %.0f | %llu / %llu "
               "| %.0f | %llu / %llu | %.1f |\n",
               sizes[i], (unsigned long long)a.latency_p50_ms, (unsigned long long)a.latency_p99_ms,
               msgs, msgs / sizes[i], (double)(a.bytes - a.warm_bytes) / per / 1024.0,
               (double)(a.rounds - a.warm_rounds) / per, tmo, (unsigned long long)a.warm_msgs,
               lost_per_100(&b), (unsigned long long)b.latency_p50_ms,
               (unsigned long long)b.latency_p99_ms, lost_per_100(&d),
               (unsigned long long)d.latency_p50_ms, (unsigned long long)d.latency_p99_ms,
               wa + wb + wd);
        fflush(stdout);
    }
    return 0;
}
