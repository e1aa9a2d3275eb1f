#include "node/node_sim.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

static int
parse_u64(const char *text, uint64_t *out)
{
    char *end = NULL;
    if (text == NULL || text[0] < '0' || text[0] > '9') {
        return -1;
    }
    unsigned long long v = strtoull(text, &end, 10);
    if (*end != '\0') {
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

static void
usage(FILE *out)
{
    fprintf(out, "usage: lianmeng sim [--scenario NAME] [--seed S] [--seeds COUNT] [--n N] "
                 "[--list] [--verbose]\n"
                 "Runs N validators on virtual time; the same seed replays bit for bit.\n");
}

static void
print_result(const char *scenario, uint64_t seed, const struct sim_result *r)
{
    printf("scenario=%s seed=%llu ok=%s virtual_ms=%llu height=%llu..%llu rounds=%llu "
           "epochs=%llu msgs=%llu bytes=%llu p50_ms=%llu p99_ms=%llu verifications=%llu "
           "cache_hits=%llu evidence=%llu dropped_bad=%llu restarts=%llu\n",
           scenario, (unsigned long long)seed, r->ok ? "yes" : "NO",
           (unsigned long long)r->virtual_ms, (unsigned long long)r->min_height,
           (unsigned long long)r->max_height, (unsigned long long)r->rounds,
           (unsigned long long)r->epochs, (unsigned long long)r->msgs, (unsigned long long)r->bytes,
           (unsigned long long)r->latency_p50_ms, (unsigned long long)r->latency_p99_ms,
           (unsigned long long)r->verifications, (unsigned long long)r->cache_hits,
           (unsigned long long)r->evidence, (unsigned long long)r->dropped_bad,
           (unsigned long long)r->restarts);
    if (r->violation) {
        printf("  violation: %s\n", r->what);
    }
}

int
node_sim_main(int argc, char **argv)
{
    const char *scenario = "lan";
    uint64_t seed = 1;
    uint64_t count = 1;
    uint64_t n = 0;
    bool verbose = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--list") == 0) {
            for (const char *const *s = sim_scenario_names(); *s != NULL; s++) {
                printf("%s\n", *s);
            }
            return 0;
        }
        if (strcmp(a, "--verbose") == 0) {
            verbose = true;
            continue;
        }
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        int bad = v == NULL;
        if (!bad && strcmp(a, "--scenario") == 0) {
            scenario = v;
        } else if (!bad && strcmp(a, "--seed") == 0) {
            bad = parse_u64(v, &seed);
        } else if (!bad && strcmp(a, "--seeds") == 0) {
            bad = parse_u64(v, &count) != 0 || count == 0;
        } else if (!bad && strcmp(a, "--n") == 0) {
            bad = parse_u64(v, &n) != 0 || n == 0 || n > 200;
        } else {
            bad = 1;
        }
        if (bad) {
            usage(stderr);
            return 1;
        }
        i++;
    }
    int failed = 0;
    for (uint64_t s = seed; s < seed + count; s++) {
        struct sim_config cfg;
        if (sim_scenario(scenario, s, &cfg) != ERR_OK) {
            fprintf(stderr, "lianmeng sim: unknown scenario '%s' (see --list)\n", scenario);
            return 1;
        }
        if (n > 0) {
            cfg.n = (uint16_t)n;
        }
        cfg.quiet = !verbose;
        struct sim_result r;
        if (sim_run(&cfg, &r) != ERR_OK) {
            fprintf(stderr, "lianmeng sim: invalid configuration\n");
            return 1;
        }
        print_result(scenario, s, &r);
        failed += r.ok ? 0 : 1;
    }
    return failed > 0 ? 2 : 0;
}
