#include <stdio.h>

#include "cli/cli.h"

#define LIANMENG_VERSION "0.1.0"

int
cli_cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("lianmeng %s\n", LIANMENG_VERSION);
    return CLI_EXIT_OK;
}
