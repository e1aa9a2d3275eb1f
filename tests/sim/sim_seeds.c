/* Runs a simulator scenario over a range of seeds; exits non-zero at the first seed whose run
 * breaks an invariant (the seed is printed, so it can become a regression test).
 *   sim_seeds SCENARIO FIRST_SEED COUNT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

static int
parse_u64(const char *text, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || *end != '\0') {
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

int
main(int argc, char **argv)
{
    uint64_t first = 0;
    uint64_t count = 0;
    if (argc != 4 || parse_u64(argv[2], &first) != 0 || parse_u64(argv[3], &count) != 0) {
        fprintf(stderr, "usage: sim_seeds SCENARIO FIRST_SEED COUNT\n");
        return 2;
    }
    uint64_t blocks = 0;
    for (uint64_t seed = first; seed < first + count; seed++) {
        struct sim_config cfg;
        if (sim_scenario(argv[1], seed, &cfg) != ERR_OK) {
            fprintf(stderr, "unknown scenario %s\n", argv[1]);
            return 2;
        }
        struct sim_result res;
        if (sim_run(&cfg, &res) != ERR_OK || !res.ok) {
            printf("FAIL scenario=%s seed=%llu: %s\n", argv[1], (unsigned long long)seed,
                   res.violation ? res.what : "expected a violation, none found");
            printf("replay: lianmeng sim --scenario %s --seed %llu\n", argv[1],
                   (unsigned long long)seed);
            return 1;
        }
        blocks += res.min_height;
    }
    printf("ok scenario=%s seeds=%llu..%llu blocks=%llu\n", argv[1], (unsigned long long)first,
           (unsigned long long)(first + count - 1), (unsigned long long)blocks);
    return 0;
}
