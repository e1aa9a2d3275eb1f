/* The `lianmeng` multi-command front end. Each command lives in cli/cmd_<name>.c and is
 * listed in the table of cli.c. Exit codes (documented in `lianmeng --help`):
 *   0 ok, 1 usage error, 2 rejected by the chain, 3 cannot reach the node, 4 other failure. */
#ifndef LM_CLI_CLI_H
#define LM_CLI_CLI_H

enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_USAGE = 1,
    CLI_EXIT_REJECTED = 2,
    CLI_EXIT_UNREACHABLE = 3,
    CLI_EXIT_FAILURE = 4,
};

typedef int cli_command_fn(int argc, char **argv);

struct cli_command {
    const char *name;
    const char *summary;
    cli_command_fn *run;
};

int cli_main(int argc, char **argv);

/* Commands (one per cmd_*.c). */
int cli_cmd_version(int argc, char **argv);
int cli_cmd_selfcheck(int argc, char **argv);
int cli_cmd_keys(int argc, char **argv);
int cli_cmd_node(int argc, char **argv);
int cli_cmd_devnet(int argc, char **argv);
int cli_cmd_sim(int argc, char **argv);
int cli_cmd_status(int argc, char **argv);
int cli_cmd_query(int argc, char **argv);
int cli_cmd_notarize(int argc, char **argv);
int cli_cmd_verify(int argc, char **argv);

#endif
