/* Runs a simulator scenario over a range of seeds; exits non-zero at the first seed whose run
 * breaks an invariant (the seed is printed, so it can become a regression test).
 *   sim_seeds SCENARIO FIRST_SEED COUNT
 *   sim_seeds SCENARIO FIRST_SEED COUNT --some-fail   (a must-fail space: succeeds once a
 *                                                    seed breaks an invariant, fails if none)
 *   sim_seeds --file REGRESSIONS   (lines "scenario seed"; '#' starts a comment) */
#include <stdbool.h>
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

/* 1: the run broke an invariant, 0: it did not, 2: no such scenario. */
static int
run_quiet(const char *scenario, uint64_t seed, char *what, size_t what_size)
{
    struct sim_config cfg;
    if (sim_scenario(scenario, seed, &cfg) != ERR_OK) {
        return 2;
    }
    struct sim_result res;
    if (sim_run(&cfg, &res) != ERR_OK) {
        return 2;
    }
    snprintf(what, what_size, "%s", res.what);
    return res.violation ? 1 : 0;
}

static int
some_fail(const char *scenario, uint64_t first, uint64_t count)
{
    char what[160];
    for (uint64_t seed = first; seed < first + count; seed++) {
        int rc = run_quiet(scenario, seed, what, sizeof what);
        if (rc == 2) {
            fprintf(stderr, "unknown scenario %s\n", scenario);
            return 2;
        }
        if (rc == 1) {
            printf("ok scenario=%s: seed %llu broke an invariant as it must: %s\n", scenario,
                   (unsigned long long)seed, what);
            return 0;
        }
    }
    printf("FAIL scenario=%s seeds=%llu..%llu: no run broke an invariant\n", scenario,
           (unsigned long long)first, (unsigned long long)(first + count - 1));
    return 1;
}

static int
run_one(const char *scenario, uint64_t seed, uint64_t *blocks)
{
    struct sim_config cfg;
    if (sim_scenario(scenario, seed, &cfg) != ERR_OK) {
        fprintf(stderr, "unknown scenario %s\n", scenario);
        return 2;
    }
    struct sim_result res;
    if (sim_run(&cfg, &res) != ERR_OK || !res.ok) {
        printf("FAIL scenario=%s seed=%llu: %s\n", scenario, (unsigned long long)seed,
               res.violation ? res.what : "expected a violation, none found");
        printf("replay: lianmeng sim --scenario %s --seed %llu --verbose\n", scenario,
               (unsigned long long)seed);
        return 1;
    }
    *blocks += res.min_height;
    return 0;
}

static int
run_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return 2;
    }
    char line[256];
    uint64_t blocks = 0;
    unsigned runs = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        char *space = strchr(line, ' ');
        if (line[0] == '#' || space == NULL) {
            continue;
        }
        *space = '\0';
        char *nl = strchr(space + 1, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }
        uint64_t seed = 0;
        if (parse_u64(space + 1, &seed) != 0) {
            continue;
        }
        rc = run_one(line, seed, &blocks);
        runs++;
    }
    fclose(f);
    if (rc == 0) {
        printf("ok regressions=%u blocks=%llu\n", runs, (unsigned long long)blocks);
    }
    return rc;
}

int
main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--file") == 0) {
        return run_file(argv[2]);
    }
    uint64_t first = 0;
    uint64_t count = 0;
    bool must_fail = argc == 5 && strcmp(argv[4], "--some-fail") == 0;
    if ((argc != 4 && !must_fail) || parse_u64(argv[2], &first) != 0 ||
        parse_u64(argv[3], &count) != 0) {
        fprintf(stderr, "usage: sim_seeds SCENARIO FIRST_SEED COUNT [--some-fail]\n");
        return 2;
    }
    if (must_fail) {
        return some_fail(argv[1], first, count);
    }
    uint64_t blocks = 0;
    for (uint64_t seed = first; seed < first + count; seed++) {
        int rc = run_one(argv[1], seed, &blocks);
        if (rc != 0) {
            return rc;
        }
    }
    printf("ok scenario=%s seeds=%llu..%llu blocks=%llu\n", argv[1], (unsigned long long)first,
           (unsigned long long)(first + count - 1), (unsigned long long)blocks);
    return 0;
}
