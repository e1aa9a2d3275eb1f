/* node/node_sim.h - the `lianmeng sim` command's body: runs the deterministic cluster
 * simulator (sim/sim.h) for a scenario and a seed and prints the result. It lives in node/
 * (the composition root) because cli/ may not include sim/ (STYLE.md 2.2). */
#ifndef LM_NODE_NODE_SIM_H
#define LM_NODE_NODE_SIM_H

/* argv[0] is "sim". Options: --scenario NAME (default lan), --seed S (default 1),
 * --seeds COUNT (run seeds S..S+COUNT-1), --n N, --list. Exit code 0 when every run kept
 * its invariants, 1 for a usage error, 2 when a run broke one. */
int node_sim_main(int argc, char **argv);

#endif
