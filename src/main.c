/* The lianmeng binary: everything is in the library; cli_main dispatches the command. */
#include "cli/cli.h"

int
main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
