/* Tx gossip in batches (p2p FRAME_TXS).
 *
 * A node sends each tx it admits from a client (or from a peer that is not a validator) to its
 * peers. One frame per tx cost both ends a TLS record, a frame, socket calls, a thread wake-up
 * and a one-tx admission whose signature check ran between unrelated work. So the txs a node
 * admits leave as one FRAME_TXS per peer, gathered over a few milliseconds because clients
 * send a few txs per request (the bench at a fixed rate does; 4 nodes at 3,300 tx/s used
 * 116 instead of 124 CPU-µs per tx and node with a 5 ms window): tx_gossip_queue
 * appends, and the batch is sent flush_delay_ms after its first tx (a timer), at once when it
 * reaches TX_GOSSIP_EAGER_COUNT txs or its byte limit, or on tx_gossip_flush. The delay only
 * affects when peers see a tx in their mempools, not when it can be final: the node's own
 * mempool has it at once, and a leader proposes from its own mempool. A receiver splits the
 * frame (tx_gossip_split) and admits it with one mempool_admit call, which checks the
 * signatures as one batch.
 *
 * Txs queued from different origins go in different frames (a frame is not sent back to the
 * peer its txs came from). A tx already gossiped (p2p's seen set) is not queued again. A full
 * peer queue drops the frame for that peer (p2p_broadcast): a validator that misses a tx
 * still gets it in a block.
 *
 * Threads: the node's loop thread only. */
#ifndef LM_NODE_TX_GOSSIP_H
#define LM_NODE_TX_GOSSIP_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "crypto/hash.h"
#include "crypto/sign.h"
#include "mempool/mempool.h"

struct event_base;
struct p2p;
struct tx_gossip;

#define TX_GOSSIP_EAGER_COUNT  256u /* a batch this long leaves without waiting */
#define TX_GOSSIP_DELAY_MAX_MS 100u

/* A batch is flushed flush_delay_ms (0..TX_GOSSIP_DELAY_MAX_MS; 0: at the end of the loop's
 * turn) after its first tx, or when it would exceed batch_bytes_max (>= 64 KiB; at most the p2p
 * frame payload maximum) or holds TX_GOSSIP_EAGER_COUNT txs. Never NULL (OOM aborts). */
struct tx_gossip *tx_gossip_new(struct event_base *base, struct p2p *p2p, size_t batch_bytes_max,
                                unsigned flush_delay_ms);
/* Drops what is queued. NULL is a no-op. */
void tx_gossip_free(struct tx_gossip *g);

/* Queues tx (hash = its hash) for every peer except from (NULL: a client's tx). */
void tx_gossip_queue(struct tx_gossip *g, const struct public_key *from, const struct hash *hash,
                     const uint8_t *data, size_t size);
/* Sends what is queued now. */
void tx_gossip_flush(struct tx_gossip *g);

/* A received batch: txs[0..count) and room for their results, in storage owned by the
 * tx_gossip, valid until the next tx_gossip_split. */
struct tx_gossip_batch {
    const struct mempool_raw *txs;
    struct mempool_result *results;
    size_t count;
};
/* The txs of a FRAME_TXS payload (or of a single FRAME_TX). ERR_MALFORMED for a payload that
 * does not split (frame_txs_split). */
MUST_USE enum err tx_gossip_split(struct tx_gossip *g, uint8_t frame_type, const uint8_t *payload,
                                  size_t size, struct tx_gossip_batch *out);

/* Frames and txs sent (each frame counted once, not per peer). */
struct tx_gossip_stats {
    uint64_t frames;
    uint64_t txs;
};
void tx_gossip_get_stats(const struct tx_gossip *g, struct tx_gossip_stats *out);

#endif
