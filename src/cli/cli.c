#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

static const struct cli_command commands[] = {
    { "version", "print the version", cli_cmd_version },
    { "node", "run a node: lianmeng node --home DIR", cli_cmd_node },
    { "devnet", "run a local alliance of N nodes: lianmeng devnet --nodes 4 --dir DIR",
      cli_cmd_devnet },
    { "selfcheck", "run the built-in known-answer checks of the crypto suites", cli_cmd_selfcheck },
    { "keys", "make, list and show encrypted key files (new, list, show)", cli_cmd_keys },
    { "status", "print a node's chain, final block and sync state", cli_cmd_status },
    { "query", "ask a node about a tx, block, account or the validators", cli_cmd_query },
    { "notarize", "anchor a file's hash on the chain and save its proof", cli_cmd_notarize },
    { "verify", "check a notary proof offline against the genesis file", cli_cmd_verify },
    { "sim", "run the deterministic consensus simulator (--scenario X --seed S)", cli_cmd_sim },
};

static void
usage(FILE *out)
{
    fprintf(out, "Lianmeng (联盟): a permissioned BFT alliance chain.\n\n"
                 "usage: lianmeng COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(out, "\n'lianmeng COMMAND --help' describes a command.\n"
                 "exit codes: 0 ok, 1 usage error, 2 rejected by the chain, 3 cannot reach the "
                 "node, 4 other failure\n");
}

int
cli_main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0) {
        return cli_cmd_version(argc - 1, argv + 1);
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(name, commands[i].name) == 0) {
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "lianmeng: unknown command '%s'; run 'lianmeng --help' for the list\n", name);
    return CLI_EXIT_USAGE;
}
