/* `lianmeng node --home DIR`: the composition root of one node process.
 *
 * Start-up, in order (each failure is logged once with the file or key at fault and makes
 * node_run return):
 *   DIR/config.ini (node/config.h); DIR/genesis.json (node/genesis_json.h); the passphrase
 *   (from [keys] passphrase_file, which must not be readable by group or others, or from the
 *   environment variable named by passphrase_env); the consensus and transport keys from
 *   their keystore files (a key file readable by group or others is refused); an exclusive
 *   lock on DIR/<data_dir>/LOCK (a second process on the same data is refused: one validator
 *   key, one process); the stores under DIR/<data_dir>/ (LMDB environment in state/, block segments
 * in blocks/, the safety record in safety.rec) and the ledger, committing the genesis state on
 * first start; the verify pool (signature checks on [verify] threads workers); the mempool; one
 * libevent loop that owns the API server, the p2p links (allow-set: the transport keys of the
 *   validator set in state) and the signal handlers.
 *
 * Stopping: SIGTERM or SIGINT ends the loop; everything is closed in reverse order (the
 * stores flush and close) and node_run returns ERR_OK. Every commit is synced before it is
 * acknowledged, so SIGKILL loses nothing that was final.
 *
 * What is not wired yet: the consensus core (struct consensus_env). Until it is, the node
 * admits and gossips transactions and serves the chain it has, but produces no blocks.
 *
 * Threads: node_run owns the calling thread's loop; the verify pool has its own workers.
 * Process-wide state: the log level and prefix (set from the config), SIGPIPE ignored. */
#ifndef LM_NODE_NODE_H
#define LM_NODE_NODE_H

#include "base/err.h"

/* Runs the node whose home directory is `home` until SIGTERM/SIGINT. ERR_CONFIG (bad config
 * or genesis), ERR_PERMISSION (a key or passphrase file readable by others), ERR_DENIED
 * (another process runs on this data directory),
 * ERR_PASSPHRASE, ERR_IO, ERR_WRONG_CHAIN (the data belongs to another chain), ... */
MUST_USE enum err node_run(const char *home);

#endif
