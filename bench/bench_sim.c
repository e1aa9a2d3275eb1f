/* Consensus at scale in the simulator (virtual time, WAN links of 50-250 ms per pair, 100
 * Mbit/s egress per node, real Ed25519 signatures with one shared verification cache).
 * For each n: finality latency p50/p99 (proposal timestamp to commit, over every node and
 * block), messages and bytes per finalized block, and the rounds lost when every k-th
 * validator (index % k == 1, at most f of them) is down.
 *   bench_sim [BLOCKS] [SEED]      prints a Markdown table (bench/README.md) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sim/sim.h"

static double
seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
run(uint16_t n, uint16_t down_every, uint64_t blocks, uint64_t seed, struct sim_result *out,
    double *wall)
{
    struct sim_config cfg;
    if (sim_scenario("wan", seed, &cfg) != ERR_OK) {
        return -1;
    }
    cfg.n = n;
    cfg.target_height = blocks;
    cfg.down_every = down_every;
    cfg.bandwidth_kbps = 100000;
    cfg.base_timeout_ms = 1500;
    cfg.duration_ms = 1000000;
    cfg.txs_per_block = 100;
    cfg.tx_size = 250;
    double t0 = seconds();
    if (sim_run(&cfg, out) != ERR_OK) {
        return -1;
    }
    *wall = seconds() - t0;
    return out->ok ? 0 : -1;
}

int
main(int argc, char **argv)
{
    uint64_t blocks = argc > 1 ? strtoull(argv[1], NULL, 10) : 30;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    static const uint16_t sizes[] = { 4, 16, 64, 100, 128, 200 };
    const uint16_t k = 4;
    printf("| n | p50 finality (ms) | p99 finality (ms) | msgs/block | KB/block | rounds/block "
           "| with every %u-th down: rounds lost per 100 blocks | p50 (ms) | sim wall (s) |\n",
           k);
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct sim_result a;
        struct sim_result b;
        double wa = 0;
        double wb = 0;
        int ra = run(sizes[i], 0, blocks, seed, &a, &wa);
        int rb = run(sizes[i], k, blocks, seed, &b, &wb);
        if (ra != 0 || rb != 0) {
            printf("| %u | run failed: %s | | | | | | | |\n", sizes[i], ra != 0 ? a.what : b.what);
            continue;
        }
        double per = (double)a.blocks;
        double lost_b = (double)b.rounds - (double)b.blocks;
        printf("| %u | %llu | %llu | %.0f | %.1f | %.2f | %.0f | %llu | %.1f |\n", sizes[i],
               (unsigned long long)a.latency_p50_ms, (unsigned long long)a.latency_p99_ms,
               (double)a.msgs / per, (double)a.bytes / per / 1024.0, (double)a.rounds / per,
               100.0 * lost_b / (double)b.blocks, (unsigned long long)b.latency_p50_ms, wa + wb);
        fflush(stdout);
    }
    return 0;
}
