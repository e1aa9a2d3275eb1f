/* Tx gossip in batches (p2p FRAME_TXS).
 *
 * A node sends each tx it admits from a client (or from a peer that is not a validator) to its
 * peers. One frame per tx cost both ends a TLS record, a frame, a callback and a one-tx
 * admission whose signature check ran between unrelated work. Instead, the txs admitted in
 * one turn of the event loop leave as one FRAME_TXS per peer: tx_gossip_queue appends and a
 * zero-delay event flushes at the end of the loop's turn (earlier when the batch is full), so
 * there is no added delay. A receiver splits the frame (tx_gossip_split) and admits it with one
 * mempool_admit call, which checks the signatures as one batch.
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

/* A batch is flushed when it would exceed batch_bytes_max (>= 64 KiB; at most the p2p frame
 * payload maximum) or FRAME_TXS_COUNT_MAX txs. Never NULL (OOM aborts). */
struct tx_gossip *tx_gossip_new(struct event_base *base, struct p2p *p2p, size_t batch_bytes_max);
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
