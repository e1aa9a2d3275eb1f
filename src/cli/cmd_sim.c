/* `lianmeng sim`: the deterministic cluster simulator (see node/node_sim.h). */
#include "cli/cli.h"
#include "node/node_sim.h"

int
cli_cmd_sim(int argc, char **argv)
{
    return node_sim_main(argc, argv);
}
