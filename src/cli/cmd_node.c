#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "cli/cli.h"
#include "node/node.h"

static void
node_usage(FILE *out)
{
    fprintf(out, "usage: lianmeng node --home DIR\n\n"
                 "Runs one node from DIR/config.ini, DIR/genesis.json and the key files the\n"
                 "config names; keeps its data under DIR (data_dir). SIGTERM or Ctrl-C stops it\n"
                 "cleanly.\n");
}

int
cli_cmd_node(int argc, char **argv)
{
    const char *home = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            node_usage(stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(argv[i], "--home") == 0 && i + 1 < argc && home == NULL) {
            home = argv[++i];
            continue;
        }
        fprintf(stderr, "lianmeng node: unexpected argument '%s'\n", argv[i]);
        node_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (home == NULL) {
        node_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    enum err rc = node_run(home);
    if (rc != ERR_OK) {
        fprintf(stderr, "lianmeng node: stopped: %s (the log lines above say where)\n",
                err_str(rc));
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}
