/* `lianmeng selfcheck`: the crypto known-answer checks, one line per check. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "crypto/selfcheck.h"

static void
report_line(void *ctx, const char *name, enum err rc)
{
    FILE *out = ctx;
    if (rc == ERR_OK) {
        fprintf(out, "%-8s ok\n", name);
    } else {
        fprintf(out, "%-8s FAILED (%s)\n", name, err_str(rc));
    }
}

int
cli_cmd_selfcheck(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: lianmeng selfcheck\n\n"
               "Runs the built-in known-answer checks of SHA-256, SM3, Ed25519 and SM2 and\n"
               "prints one line per check. Exit status 0 if all pass, 4 otherwise.\n");
        return CLI_EXIT_OK;
    }
    if (argc > 1) {
        fprintf(stderr, "lianmeng selfcheck: unexpected argument '%s'\n", argv[1]);
        return CLI_EXIT_USAGE;
    }
    enum err rc = suite_selfcheck(report_line, stdout);
    if (rc != ERR_OK) {
        fprintf(stderr, "lianmeng selfcheck: a check failed: the crypto libraries are broken "
                        "or misconfigured\n");
        return CLI_EXIT_FAILURE;
    }
    printf("selfcheck: ok\n");
    return CLI_EXIT_OK;
}
