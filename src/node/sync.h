/* Block sync: a node that is behind fetches final blocks with their finality proofs in ranges
 * from its peers, checks each and has the ledger thread execute and commit it, one block at a
 * time (node_consensus_apply_final, sync_block_applied), then starts
 * consensus; and it serves such ranges to others.
 *
 * Wire (p2p FRAME_BLOCK_REQUEST / FRAME_BLOCK_RESPONSE). A request asks for [from, from +
 * count). The response is: u64 from, u64 the server's committed height, u32 n, then n times
 * (u32 size, block bytes, u32 size, finality proof bytes) for heights from .. from + n - 1;
 * n is cut at SYNC_RESPONSE_BYTES_MAX and at the server's committed height (n = 0: it has
 * nothing from `from` on, which is how a client learns it is not behind). A server answers at
 * most SYNC_SERVE_PER_S requests per second per peer and drops the rest (logged).
 *
 * Client. The node asks one connected config peer at a time, in rotation: a peer that does
 * not answer within SYNC_REQUEST_TIMEOUT_MS or answers a block that fails its checks is left
 * for the next. A validator syncs until a peer reports a committed height at most
 * SYNC_BEHIND_MAX above its own (then consensus, whose own catch-up covers the rest, starts)
 * or, with no answer at all, for SYNC_START_WAIT_MS. A node whose consensus key is not in the
 * validator set (an observer) never starts consensus and keeps syncing every
 * SYNC_FOLLOW_INTERVAL_MS. Progress is logged every SYNC_LOG_INTERVAL_MS:
 * "sync progress height=H target=T blocks_per_s=R".
 *
 * Threads: the node's loop thread only. */
#ifndef LM_NODE_SYNC_H
#define LM_NODE_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "crypto/sign.h"

#define SYNC_RANGE_BLOCKS       128u
#define SYNC_RESPONSE_BYTES_MAX 2097152u /* 2 MiB */
#define SYNC_SERVE_PER_S        50u
#define SYNC_REQUEST_TIMEOUT_MS 2000u
#define SYNC_BEHIND_MAX         8u
#define SYNC_START_WAIT_MS      1500u
#define SYNC_FOLLOW_INTERVAL_MS 300u
#define SYNC_LOG_INTERVAL_MS    1000u
#define SYNC_SERVED_PEERS_MAX   64u

struct node;
struct sync;

/* Starts syncing (after p2p is up); start_consensus runs once when a validator is caught up.
 * The caller owns *out (sync_free). */
MUST_USE enum err sync_new(struct node *n, bool observer,
                           enum err (*start_consensus)(struct node *), struct sync **out);
void sync_free(struct sync *s);

/* FRAME_BLOCK_REQUEST from peer: answers it from the block store. */
void sync_on_request(struct sync *s, const struct public_key *peer, const uint8_t *payload,
                     size_t size);
/* FRAME_BLOCK_RESPONSE from peer. */
void sync_on_response(struct sync *s, const struct public_key *peer, const uint8_t *payload,
                      size_t size);

/* The ledger thread applied the block node_consensus_apply_final handed it (rc ERR_OK) or
 * refused it: the next block of the response follows, or the peer is skipped. */
void sync_block_applied(struct sync *s, enum err rc);

/* Blocks committed by sync so far. */
uint64_t sync_blocks_applied(const struct sync *s);

#endif
