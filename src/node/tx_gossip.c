#include "node/tx_gossip.h"

#include <event2/event.h>
#include <string.h>
#include <sys/time.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "p2p/frame.h"
#include "p2p/p2p.h"

#define TX_GOSSIP_BATCH_BYTES_MIN ((size_t)64 * 1024)

struct tx_gossip {
    struct p2p *p2p;
    struct event *flush_ev; /* armed when the first tx of a batch is queued */
    struct timeval delay;
    size_t batch_bytes_max;
    struct buf batch; /* a FRAME_TXS payload (frame_txs_append) */
    bool has_from;    /* the batch's txs came from `from` (else from clients) */
    struct public_key from;
    struct mempool_raw *rx;         /* FRAME_TXS_COUNT_MAX */
    struct frame_item *items;       /* FRAME_TXS_COUNT_MAX */
    struct mempool_result *results; /* FRAME_TXS_COUNT_MAX */
    struct tx_gossip_stats stats;
};

static void
on_flush(evutil_socket_t fd, short what, void *ctx)
{
    (void)fd;
    (void)what;
    tx_gossip_flush(ctx);
}

struct tx_gossip *
tx_gossip_new(struct event_base *base, struct p2p *p2p, size_t batch_bytes_max,
              unsigned flush_delay_ms)
{
    ASSERT(base != NULL);
    ASSERT(p2p != NULL);
    ASSERT(batch_bytes_max >= TX_GOSSIP_BATCH_BYTES_MIN);
    ASSERT(flush_delay_ms <= TX_GOSSIP_DELAY_MAX_MS);
    struct tx_gossip *g = mem_calloc(1, sizeof *g);
    g->p2p = p2p;
    g->batch_bytes_max = batch_bytes_max;
    g->delay.tv_sec = 0;
    g->delay.tv_usec = (suseconds_t)flush_delay_ms * 1000;
    buf_init(&g->batch, batch_bytes_max);
    g->flush_ev = event_new(base, -1, 0, on_flush, g);
    ASSERT(g->flush_ev != NULL);
    g->rx = mem_calloc(FRAME_TXS_COUNT_MAX, sizeof *g->rx);
    g->items = mem_calloc(FRAME_TXS_COUNT_MAX, sizeof *g->items);
    g->results = mem_calloc(FRAME_TXS_COUNT_MAX, sizeof *g->results);
    return g;
}

void
tx_gossip_free(struct tx_gossip *g)
{
    if (g == NULL) {
        return;
    }
    event_free(g->flush_ev);
    buf_release(&g->batch);
    mem_free(g->rx);
    mem_free(g->items);
    mem_free(g->results);
    mem_free(g);
}

void
tx_gossip_flush(struct tx_gossip *g)
{
    ASSERT(g != NULL);
    size_t count = frame_txs_count(&g->batch);
    if (count == 0) {
        return;
    }
    enum err rc = p2p_broadcast(g->p2p, g->has_from ? &g->from : NULL, FRAME_TXS, g->batch.data,
                                g->batch.size);
    if (rc != ERR_OK) {
        log_debug(LOG_NODE, "gossip of %zu txs incomplete error=%s", count, err_name(rc));
    }
    g->stats.frames++;
    g->stats.txs += count;
    buf_reset(&g->batch);
    g->has_from = false;
    event_del(g->flush_ev);
}

/* The batch got its first tx, from `from`: remember the origin, arm the flush. */
static void
batch_started(struct tx_gossip *g, const struct public_key *from)
{
    g->has_from = from != NULL;
    if (from != NULL) {
        g->from = *from;
    }
    if (g->delay.tv_usec == 0) {
        event_active(g->flush_ev, EV_TIMEOUT, 0);
    } else {
        ASSERT(event_add(g->flush_ev, &g->delay) == 0);
    }
}

void
tx_gossip_queue(struct tx_gossip *g, const struct public_key *from, const struct hash *hash,
                const uint8_t *data, size_t size)
{
    ASSERT(g != NULL);
    ASSERT(hash != NULL);
    ASSERT(data != NULL && size >= 1);
    if (size + FRAME_TXS_HEADER + FRAME_TXS_ITEM_HEAD > g->batch_bytes_max) {
        log_debug(LOG_NODE, "tx of %zu bytes too large to gossip", size);
        return;
    }
    if (!p2p_gossip_mark(g->p2p, hash)) {
        return; /* gossiped already */
    }
    bool same_origin =
        from == NULL ? !g->has_from : g->has_from && public_key_equal(&g->from, from);
    if (frame_txs_count(&g->batch) > 0 && !same_origin) {
        tx_gossip_flush(g);
    }
    if (frame_txs_append(&g->batch, data, size) != ERR_OK) {
        tx_gossip_flush(g); /* full: the tx starts the next batch */
        enum err rc = frame_txs_append(&g->batch, data, size);
        ASSERT(rc == ERR_OK); /* an empty batch takes any tx that fits batch_bytes_max */
    }
    size_t count = frame_txs_count(&g->batch);
    if (count == 1) {
        batch_started(g, from);
    } else if (count >= TX_GOSSIP_EAGER_COUNT) {
        tx_gossip_flush(g);
    }
}

enum err
tx_gossip_split(struct tx_gossip *g, uint8_t frame_type, const uint8_t *payload, size_t size,
                struct tx_gossip_batch *out)
{
    ASSERT(g != NULL);
    size_t count = 0;
    if (frame_type == FRAME_TX) {
        g->rx[0] = (struct mempool_raw){ .data = payload, .size = size };
        count = 1;
    } else {
        ASSERT(frame_type == FRAME_TXS);
        enum err rc = frame_txs_split(payload, size, g->items, FRAME_TXS_COUNT_MAX, &count);
        if (rc != ERR_OK) {
            return ERR_MALFORMED;
        }
        for (size_t i = 0; i < count; i++) {
            g->rx[i] = (struct mempool_raw){ .data = g->items[i].data, .size = g->items[i].size };
        }
    }
    *out = (struct tx_gossip_batch){ g->rx, g->results, count };
    return ERR_OK;
}

void
tx_gossip_get_stats(const struct tx_gossip *g, struct tx_gossip_stats *out)
{
    ASSERT(g != NULL);
    *out = g->stats;
}
