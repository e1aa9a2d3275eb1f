/* Leader reputation (CONSENSUS.md section 7 stage 2, after DiemBFT v4 / Aptos): the history
 * of committed blocks of the current epoch, and the weighted leader pick judged from it. */
#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "codec/codec.h"
#include "consensus/consensus_internal.h"

#define WEIGHT_FAILED   1u
#define WEIGHT_ACTIVE   1000u
#define WEIGHT_INACTIVE 10u
#define POWER_BITS      50 /* powers scaled below 2^50, so x 1000 stays below 2^60 */

static void
cache_clear(struct reputation *r)
{
    memset(r->cache_used, 0, sizeof r->cache_used);
}

void
reputation_init(struct consensus *c)
{
    c->rep.ring = mem_calloc(CONS_REPUTATION_WINDOW_MAX, sizeof *c->rep.ring);
    c->rep.header = mem_alloc(sizeof *c->rep.header);
}

void
reputation_free(struct consensus *c)
{
    mem_free(c->rep.ring);
    mem_free(c->rep.header);
    memset(&c->rep, 0, sizeof c->rep);
}

void
reputation_reset(struct consensus *c)
{
    c->rep.head = 0;
    c->rep.count = 0;
    cache_clear(&c->rep);
}

/* The record of a committed block of the current epoch; false for anything else. */
static bool
record_of(struct consensus *c, const uint8_t *block, size_t size, struct rep_record *out)
{
    struct reader r;
    reader_init(&r, block, size);
    struct block_header *h = c->rep.header;
    if (block_header_read(&r, h) != ERR_OK || h->epoch != c->epoch || h->author >= c->vs.count) {
        return false;
    }
    memset(out, 0, sizeof *out);
    out->round = h->round;
    out->author = h->author;
    for (uint16_t i = 0; i < h->failed_count; i++) {
        if (h->failed[i].author < c->vs.count) {
            out->failed[out->failed_count++] = h->failed[i].author;
        }
    }
    memcpy(out->voters, h->qc.bitmap, h->qc.bitmap_size);
    return true;
}

static void
push(struct reputation *r, const struct rep_record *rec)
{
    if (r->count < CONS_REPUTATION_WINDOW_MAX) {
        r->ring[(r->head + r->count) % CONS_REPUTATION_WINDOW_MAX] = *rec;
        r->count++;
    } else {
        r->ring[r->head] = *rec;
        r->head = (r->head + 1) % CONS_REPUTATION_WINDOW_MAX;
    }
    cache_clear(r);
}

void
reputation_add(struct consensus *c, const uint8_t *block, size_t size)
{
    struct rep_record rec;
    if (record_of(c, block, size, &rec)) {
        push(&c->rep, &rec);
    }
}

void
reputation_load(struct consensus *c, uint64_t root_height)
{
    if (c->env.load_committed_at == NULL) {
        return;
    }
    size_t want = CONS_REPUTATION_WINDOW_MAX; /* the window (<= the max) or n votes */
    if (c->cfg.proposer_window < want && c->vs.count < want) {
        want = c->cfg.proposer_window > c->vs.count ? c->cfg.proposer_window : c->vs.count;
    }
    struct rep_record *tmp = mem_calloc(want, sizeof *tmp);
    size_t got = 0;
    struct buf b;
    buf_init(&b, CONS_MSG_SIZE_MAX);
    for (uint64_t h = root_height; h > 0 && got < want; h--) {
        buf_reset(&b);
        if (c->env.load_committed_at(c->env.ctx, h, &b) != ERR_OK ||
            !record_of(c, b.data, b.size, &tmp[got])) {
            break; /* an older epoch, or history this node does not hold */
        }
        got++;
    }
    for (size_t i = got; i > 0; i--) {
        push(&c->rep, &tmp[i - 1]);
    }
    buf_release(&b);
    mem_free(tmp);
}

/* Records [0, end) in ring order have round <= target. */
static size_t
usable_end(const struct reputation *r, uint64_t target)
{
    size_t end = r->count;
    while (end > 0 && r->ring[(r->head + end - 1) % CONS_REPUTATION_WINDOW_MAX].round > target) {
        end--;
    }
    return end;
}

/* Weights of section 7 from the records [0, end). */
static void
weights_at(const struct consensus *c, size_t end, uint64_t *out)
{
    const struct reputation *r = &c->rep;
    uint16_t n = (uint16_t)c->vs.count;
    uint32_t proposed[VS_NODES_MAX] = { 0 };
    uint32_t failed[VS_NODES_MAX] = { 0 };
    bool voted[VS_NODES_MAX] = { false };
    for (size_t k = 0; k < end && k < c->cfg.proposer_window; k++) {
        const struct rep_record *rec =
            &r->ring[(r->head + end - 1 - k) % CONS_REPUTATION_WINDOW_MAX];
        proposed[rec->author]++;
        for (uint8_t i = 0; i < rec->failed_count; i++) {
            failed[rec->failed[i]]++;
        }
        if (k < n) {
            for (uint16_t i = 0; i < n; i++) {
                voted[i] = voted[i] || bitmap_get(rec->voters, CONS_BITMAP_SIZE_MAX, i);
            }
        }
    }
    uint64_t total = validator_set_power(&c->vs);
    unsigned shift = 0;
    while ((total >> shift) >= ((uint64_t)1 << POWER_BITS)) {
        shift++;
    }
    for (uint16_t i = 0; i < n; i++) {
        uint64_t slots = (uint64_t)proposed[i] + failed[i];
        uint64_t w = WEIGHT_INACTIVE;
        if (failed[i] > 0 && (uint64_t)failed[i] * 10u > slots) {
            w = WEIGHT_FAILED;
        } else if (proposed[i] > 0 || voted[i]) {
            w = WEIGHT_ACTIVE;
        }
        uint64_t power = c->vs.nodes[i].power >> shift;
        out[i] = w * (power > 0 ? power : 1u);
    }
}

uint16_t
reputation_leader(struct consensus *c, uint64_t round)
{
    struct reputation *r = &c->rep;
    for (size_t i = 0; i < REP_CACHE; i++) {
        if (r->cache_used[i] && r->cache_round[i] == round) {
            return r->cache_leader[i];
        }
    }
    uint64_t target = round > c->cfg.exclude_rounds ? round - c->cfg.exclude_rounds : 0;
    size_t end = usable_end(r, target);
    uint16_t leader = 0;
    if (end == 0 ||
        r->ring[(r->head + end - 1) % CONS_REPUTATION_WINDOW_MAX].round + c->cfg.exclude_rounds <
            target) {
        /* No history yet (an epoch start), or none recent: nothing committed for the last
         * exclude_rounds before the window. The weights then describe a past that may keep
         * picking a dead leader forever (found in simulation: live validators that failed
         * > 10% weigh 1, a dead one never picked weighs 10), so fall back to stage 1 until
         * blocks commit again. Every node with the same history decides the same. */
        leader = consensus_leader(c->cfg.chain.alg, &c->vs, c->epoch, round);
    } else {
        uint64_t weights[VS_NODES_MAX];
        weights_at(c, end, weights);
        leader = consensus_weighted_pick(c->cfg.chain.alg, c->epoch, round, weights,
                                         (uint16_t)c->vs.count);
    }
    r->cache_round[r->cache_next] = round;
    r->cache_leader[r->cache_next] = leader;
    r->cache_used[r->cache_next] = true;
    r->cache_next = (r->cache_next + 1) % REP_CACHE;
    return leader;
}
