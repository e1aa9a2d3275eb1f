#include <stdio.h>

#include "cli/cli.h"

int
cli_cmd_selfcheck(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("selfcheck: ok\n");
    return CLI_EXIT_OK;
}
