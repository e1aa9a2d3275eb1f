/* The core `system` module: chain parameters, institutions and the validator set, in
 * authenticated state from the first block (ARCHITECTURE.md "Validator set in state").
 *
 * State (keys under "system/"):
 *   params              chain_params (params.h)
 *   vs                  the current validator set (codec/validator_set.h)
 *   vs_height           u64 height of the block that installed the current set
 *   founders            vector u32: ids of the founding institutions, increasing
 *   inst/<u32 BE id>    text name, bool founding
 *   props               vector hash: pending proposed sets (<= SYSTEM_PROPOSALS_MAX)
 *   prop/<hash>         a proposed set
 *   tally/<hash>        vector u32: founding institutions approving it, increasing
 *   appr/<u32 BE id>    hash a founding institution currently approves
 *   nodes               vector registered_node (genesis.h), sorted by key: the registered
 *                       non-validator nodes (absent: none)
 * Ops (sender: an admin account of a founding institution):
 *   propose_vs { validator_set }   epoch must be current + 1; records the set and the
 *                                  proposer's approval
 *   approve_vs { hash }            moves the institution's approval to that proposal
 * When institutions holding more than 2/3 of the founding votes (one per founding
 * institution) approve the same set, it is installed: "system/vs" is rewritten, every
 * proposal and approval is cleared, and the engine reports the block as epoch-ending
 * (next_epoch_vs_hash = H(set)). No second install in the same block.
 * Node registration (sender: an admin account of a member institution, i.e. of any
 * institution in state; the node is bound to the sender's institution):
 *   register_node { public_key transport_key, text address }   the key must be a valid
 *                  Ed25519 key (ERR_MALFORMED), not registered yet nor a current validator's
 *                  transport key (ERR_EXISTS); the address is "" or a valid one (genesis.h);
 *                  ERR_FULL at REGISTERED_NODES_MAX
 *   remove_node { public_key transport_key }   only an admin of the node's institution
 *                  (ERR_DENIED), ERR_NOT_FOUND if not registered
 * Events node_registered / node_removed { key, institution }.
 * Queries: vs -> current set; params -> chain params; institution { u32 id } -> record;
 * nodes -> the registered nodes' encoding (an empty vector if none). */
#ifndef LM_LEDGER_SYSTEM_H
#define LM_LEDGER_SYSTEM_H

#include "base/buf.h"
#include "base/err.h"
#include "codec/validator_set.h"
#include "ledger/genesis.h"
#include "ledger/module.h"
#include "ledger/params.h"

#define SYSTEM_MODULE        "system"
#define SYSTEM_KEY_VS        "vs"
#define SYSTEM_KEY_PARAMS    "params"
#define SYSTEM_PROPOSALS_MAX 8

extern const struct module_def system_module;

/* Reads the chain parameters through any view. */
MUST_USE enum err system_load_params(struct state_view *v, struct chain_params *out);
/* Reads the current validator set through any view (out is large: heap-allocate it). */
MUST_USE enum err system_load_vs(struct state_view *v, struct validator_set *out);
/* The registered nodes in out (capacity REGISTERED_NODES_MAX), *out_count of them. */
MUST_USE enum err system_load_nodes(struct state_view *v, struct registered_node *out,
                                    size_t *out_count);
/* Strict decoding of the "nodes" query answer / state value. */
MUST_USE enum err system_nodes_decode(const uint8_t *data, size_t size, struct registered_node *out,
                                      size_t *out_count);
/* True if the founding institution id exists. */
MUST_USE enum err system_institution_is_founding(struct state_view *v, uint32_t id,
                                                 bool *out_founding);

#endif
