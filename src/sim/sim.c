/* The run loop, instance lifecycle (start, crash, restart), the continuous oracle checks
 * that are not tied to one callback, and the named scenarios. */
#include "sim/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/log.h"
#include "base/mem.h"
#include "sim/sim_internal.h"

/* ---- scenarios ---- */

static const char *const scenario_names[] = {
    "lan",
    "wan",
    "lossy",
    "partition",
    "crash",
    "disk",
    "slow",
    "epoch",
    "byz-equivocate",
    "byz-double-vote",
    "byz-silent",
    "byz-garbage",
    "byz-replay",
    "byz-amnesia",
    "byz-fork",
    "idle",
    "paced",
    "twins",
    "twins-fail",
    "mixed",
    "tc-restart",
    "reputation",
    "reputation-faults",
    "twins-enum",
    "twins-enum-fail",
    "async",
    NULL,
};

const char *const *
sim_scenario_names(void)
{
    return scenario_names;
}

static void
scenario_base(uint64_t seed, struct sim_config *c)
{
    memset(c, 0, sizeof *c);
    c->seed = seed;
    c->n = (seed % 3 == 0) ? 7 : 4;
    c->net = SIM_NET_LAN;
    c->gst_ms = 0;
    c->duration_ms = 60000;
    c->target_height = 20;
    c->txs_per_block = 4;
    c->tx_size = 64;
    c->base_timeout_ms = 300;
    c->quiet = true;
}

static void
scenario_byz(struct sim_config *c, enum sim_byz kind)
{
    c->byz = kind;
    c->byzantine = (uint16_t)((c->n - 1) / 3);
    c->gst_ms = 2000;
    c->drop_permille = 20;
}

static void
scenario_faults(const char *name, struct sim_config *c)
{
    if (strcmp(name, "wan") == 0) {
        c->net = SIM_NET_WAN;
        c->base_timeout_ms = 1500;
        c->duration_ms = 120000;
    } else if (strcmp(name, "lossy") == 0) {
        c->drop_permille = 100;
        c->dup_permille = 50;
        c->gst_ms = 3000;
    } else if (strcmp(name, "partition") == 0) {
        c->partitions = true;
        c->gst_ms = 2500;
    } else if (strcmp(name, "crash") == 0) {
        c->crashes = 4;
        c->gst_ms = 2500;
    } else if (strcmp(name, "disk") == 0) {
        c->crashes = 6;
        c->disk_faults = true;
        c->gst_ms = 2500;
    } else if (strcmp(name, "slow") == 0) {
        c->slow_nodes = 1;
        c->clock_skew_ms = 200;
        c->dup_permille = 20;
    } else if (strcmp(name, "idle") == 0) {
        /* the mempool runs dry: empty blocks wait idle_ms, the last full one still commits */
        c->tx_budget = 30;
        c->idle_ms = 100;
        c->target_height = 30;
    } else if (strcmp(name, "paced") == 0) {
        /* leaders hold blocks with txs until 60 ms after the parent, through crashes,
         * partitions and losses; an idle chain at the end still commits its last block */
        c->pace_ms = 60;
        c->idle_ms = 80;
        c->tx_budget = 120;
        c->crashes = 2;
        c->partitions = true;
        c->drop_permille = 50;
        c->gst_ms = 2500;
        c->target_height = 30;
    } else if (strcmp(name, "tc-restart") == 0) {
        /* dead leaders make TCs; right after one is persisted the whole cluster crashes and
         * restarts from disk: only the stored TC puts a node back in the round after it */
        c->down_every = 4;
        c->crash_all_on_tc = 3;
    } else if (strcmp(name, "reputation") == 0) {
        /* every 4-th validator never starts; reputation learns it and stops picking it */
        c->down_every = 4;
        c->leader_reputation = true;
        c->exclude_rounds = 6;
        c->target_height = 40;
    } else if (strcmp(name, "reputation-faults") == 0) {
        /* reputation while nodes crash, lag, get cut off and cross epochs: leaders may
         * differ for a while between nodes, safety must not care, liveness must return */
        c->down_every = 4;
        c->leader_reputation = true;
        c->exclude_rounds = 4;
        c->crashes = 3;
        c->partitions = true;
        c->drop_permille = 50;
        c->reconfig_every = 9;
        c->gst_ms = 3000;
        c->target_height = 40;
    } else if (strcmp(name, "epoch") == 0) {
        c->reconfig_every = 5;
        c->target_height = 24;
        c->crashes = 2;
        c->gst_ms = 2000;
    }
}

/* Twins (CONSENSUS.md T3), enumerated: 4 validators, validator 0 twinned (instances 0 and
 * 4), round-robin leaders (the twin leads round 4). The seed's base-9 digits choose, for
 * each of the first SIM_TWINS_ENUM_ROUNDS rounds, either no partition (0) or one of the 8
 * splits that put the original and the twin on different sides (1..8: bits 1-3 say which
 * of validators 1-3 join the twin). The space is seeds 0 .. 9^4 - 1. */
static void
scenario_twins_enum(uint64_t seed, struct sim_config *c)
{
    c->n = 4;
    c->twins = 1;
    c->gst_ms = 0;
    c->target_height = 6;
    c->duration_ms = 30000;
    c->round_split_count = SIM_TWINS_ENUM_ROUNDS;
    uint64_t x = seed;
    for (unsigned r = 0; r < SIM_TWINS_ENUM_ROUNDS; r++) {
        unsigned choice = (unsigned)(x % SIM_TWINS_ENUM_CHOICES);
        x /= SIM_TWINS_ENUM_CHOICES;
        c->round_split[r] = choice == 0 ? 0 : (uint8_t)((1u << 4) | ((choice - 1u) << 1));
    }
}

/* A must-fail enumeration: two of four validators twinned (> f), 8 rounds, each either
 * connected or split into {0, 1, 2} and {twin 0, twin 1, 3} (both sides hold a quorum of
 * keys), chosen by the seed's bits 0-7. Some schedules must break agreement, and the oracle
 * has to see it (sim_seeds ... --some-fail). Leaders stay round-robin. */
static void
scenario_twins_enum_fail(uint64_t seed, struct sim_config *c)
{
    c->n = 4;
    c->twins = 2;
    c->gst_ms = 0;
    c->target_height = 6;
    c->duration_ms = 30000;
    c->round_split_count = SIM_SPLIT_ROUNDS_MAX;
    for (unsigned r = 0; r < SIM_SPLIT_ROUNDS_MAX; r++) {
        c->round_split[r] = ((seed >> r) & 1u) != 0 ? (uint8_t)((3u << 4) | (1u << 3)) : 0;
    }
}

/* Asynchronous execution with delays around the LAN latency (WAN: ten times): results of
 * consecutive blocks overtake each other. */
static void
scenario_async(struct sim_config *c, uint64_t scale)
{
    c->async_exec = true;
    c->exec_base_us = 300 * scale;
    c->exec_per_tx_us = 200 * scale;
    c->exec_jitter_us = 4000 * scale;
    c->exec_sync_permille = 200;
}

enum err
sim_scenario(const char *name, uint64_t seed, struct sim_config *out)
{
    struct sim_config c;
    scenario_base(seed, &c);
    bool known = false;
    for (size_t i = 0; scenario_names[i] != NULL; i++) {
        known = known || strcmp(scenario_names[i], name) == 0;
    }
    if (!known) {
        return ERR_NOT_FOUND;
    }
    scenario_faults(name, &c);
    if (strcmp(name, "byz-equivocate") == 0) {
        scenario_byz(&c, SIM_BYZ_EQUIVOCATE);
    } else if (strcmp(name, "byz-double-vote") == 0) {
        scenario_byz(&c, SIM_BYZ_DOUBLE_VOTE);
    } else if (strcmp(name, "byz-silent") == 0) {
        scenario_byz(&c, SIM_BYZ_SILENT);
    } else if (strcmp(name, "byz-garbage") == 0) {
        scenario_byz(&c, SIM_BYZ_GARBAGE);
    } else if (strcmp(name, "byz-replay") == 0) {
        scenario_byz(&c, SIM_BYZ_REPLAY);
        c.reconfig_every = 6; /* so replays include old-epoch messages */
        c.target_height = 24;
    } else if (strcmp(name, "byz-amnesia") == 0) {
        scenario_byz(&c, SIM_BYZ_AMNESIA);
        c.crashes = 4;
    } else if (strcmp(name, "byz-fork") == 0) {
        scenario_byz(&c, SIM_BYZ_FORK);
    } else if (strcmp(name, "twins") == 0) {
        c.n = 4;
        c.twins = 1;
        c.partitions = true;
        c.gst_ms = 4000;
    } else if (strcmp(name, "twins-enum") == 0) {
        scenario_twins_enum(seed, &c);
    } else if (strcmp(name, "twins-enum-fail") == 0) {
        scenario_twins_enum_fail(seed, &c);
    } else if (strcmp(name, "twins-fail") == 0) {
        c.n = 4;
        c.twins = 2;
        c.twins_fixed_split = true;
        c.expect_violation = true;
        c.duration_ms = 20000;
    } else if (strcmp(name, "mixed") == 0) {
        /* swarm: the seed picks the fault mix */
        struct rng r = { seed ^ UINT64_C(0x5157a11ed) };
        c.n = (uint16_t)(4 + rng_below(&r, 5));
        c.drop_permille = (uint32_t)rng_below(&r, 150);
        c.dup_permille = (uint32_t)rng_below(&r, 100);
        c.partitions = rng_below(&r, 2) == 0;
        c.crashes = (uint16_t)rng_below(&r, 4);
        c.disk_faults = rng_below(&r, 2) == 0;
        c.slow_nodes = (uint16_t)rng_below(&r, 2);
        c.clock_skew_ms = rng_below(&r, 200);
        c.reconfig_every = rng_below(&r, 2) == 0 ? 0 : 4 + rng_below(&r, 6);
        c.byzantine = (uint16_t)rng_below(&r, (uint64_t)(c.n - 1) / 3 + 1);
        c.byz = c.byzantine > 0 ? (enum sim_byz)(1 + rng_below(&r, 7)) : SIM_BYZ_NONE;
        c.gst_ms = 2000 + rng_below(&r, 4000);
        c.target_height = 24;
    } else if (strcmp(name, "async") == 0) {
        /* slow execution (up to a third of the round timeout), crashes while blocks
         * execute, restarts that re-execute durable blocks, epoch changes, loss, all on
         * every seed (this mix deadlocked before the highest TC and the epoch-ending
         * proofs survived restarts; seeds 1..500 pass) */
        c.crashes = 6;
        c.drop_permille = 50;
        c.reconfig_every = 5;
        c.target_height = 24;
        c.gst_ms = 3000;
        scenario_async(&c, 1);
        c.exec_base_us = 2000;
        c.exec_per_tx_us = 3000;
        c.exec_jitter_us = 80000;
        c.exec_sync_permille = 100;
    }
    /* a quarter of every scenario runs with asynchronous execution; not the enumerated
     * Twins schedules, whose per-round partitions assume the synchronous timing */
    if (seed % 4 == 3 && !c.async_exec && c.round_split_count == 0) {
        scenario_async(&c, c.net == SIM_NET_WAN ? 10 : 1);
    }
    *out = c;
    return ERR_OK;
}

/* ---- instances ---- */

static bool
is_honest(const struct sim_node *node)
{
    return node->byz == SIM_BYZ_NONE;
}

static void
start_instance(struct sim *s, struct sim_node *node)
{
    struct consensus_env env;
    sim_env_fill(node, &env);
    struct consensus *c = NULL;
    enum err rc = consensus_new(&s->ccfg, &env, &c);
    ASSERT(rc == ERR_OK);
    struct validator_set *vs = mem_alloc(sizeof *vs);
    sim_validator_set(s, node->epoch, vs);
    struct byte_span *blocks = mem_calloc(node->block_count + 1, sizeof *blocks);
    for (size_t i = 0; i < node->block_count; i++) {
        blocks[i] = (struct byte_span){ node->blocks[i].bytes, node->blocks[i].size };
    }
    struct cons_epoch_end ends[SIM_EPOCH_ENDS];
    for (size_t i = 0; i < node->epoch_end_count; i++) {
        const struct sim_epoch_end *e = &node->epoch_ends[i];
        ends[i] = (struct cons_epoch_end){ .proof = { e->proof, e->proof_size },
                                           .next_set = { e->set, e->set_size } };
    }
    struct cons_start st = { .validators = vs,
                             .epoch_root = node->epoch_root,
                             .committed_root = node->committed_root,
                             .root_cert = { node->root_cert, node->root_cert_size },
                             .safety_record = { node->safety, node->safety_size },
                             .high_tc = { node->tc, node->tc_size },
                             .blocks = blocks,
                             .block_count = node->block_count,
                             .epoch_ends = ends,
                             .epoch_end_count = node->epoch_end_count };
    secret_key_public(node->key, &st.self_key);
    node->up = true;
    node->dying = false;
    node->c = c;
    rc = consensus_start(c, &st);
    mem_free(blocks);
    mem_free(vs);
    if (rc != ERR_OK) {
        sim_violation(s, "restart failed", node->id, (uint64_t) - (int64_t)rc);
        return;
    }
    sim_check_restart(node);
}

static void
crash_instance(struct sim *s, struct sim_node *node)
{
    if (!node->up) {
        return;
    }
    s->res.crash_pending += consensus_exec_pending(node->c) > 0 ? 1u : 0u;
    consensus_free(node->c);
    node->c = NULL;
    node->up = false;
    node->dying = false;
    node->gen++;
    node->egress_free_us = 0;
    if (node->byz == SIM_BYZ_AMNESIA) {
        mem_free(node->safety); /* loses its internal state */
        node->safety = NULL;
        node->safety_size = 0;
        mem_free(node->tc);
        node->tc = NULL;
        node->tc_size = 0;
    }
    uint64_t down = 200000u + rng_below(&s->fault, s->cfg.net == SIM_NET_WAN ? 3000000u : 800000u);
    struct event ev = { .at_us = s->now_us + down, .kind = EV_RESTART, .node = node->id };
    sim_push(s, &ev);
}

static void
init_keys(struct sim *s)
{
    struct rng keys = { s->cfg.seed ^ UINT64_C(0x6b657973) };
    for (uint16_t i = 0; i < s->cfg.n; i++) {
        uint8_t seed[32];
        for (size_t k = 0; k < sizeof seed; k += 8) {
            store_u64(seed + k, rng_next(&keys));
        }
        struct secret_key *key = NULL;
        enum err rc = secret_key_import(SIG_ED25519, seed, sizeof seed, &key);
        ASSERT(rc == ERR_OK);
        secret_key_public(key, &s->pub[i]);
        s->nodes[i].key = key;
    }
    /* Transport keys: in the validator set like a real node's TLS key; the simulated
     * network does not use them. A separate stream, so consensus keys do not depend on it. */
    struct rng tkeys = { s->cfg.seed ^ UINT64_C(0x746b657973) };
    for (uint16_t i = 0; i < s->cfg.n; i++) {
        uint8_t seed[32];
        for (size_t k = 0; k < sizeof seed; k += 8) {
            store_u64(seed + k, rng_next(&tkeys));
        }
        struct secret_key *key = NULL;
        enum err rc = secret_key_import(SIG_ED25519, seed, sizeof seed, &key);
        ASSERT(rc == ERR_OK);
        secret_key_public(key, &s->tpub[i]);
        secret_key_free(key);
        memset(seed, 0, sizeof seed);
    }
    for (uint16_t t = 0; t < s->cfg.twins; t++) {
        uint8_t seed[32];
        secret_key_export(s->nodes[t].key, seed);
        struct secret_key *key = NULL;
        enum err rc = secret_key_import(SIG_ED25519, seed, sizeof seed, &key);
        ASSERT(rc == ERR_OK);
        memset(seed, 0, sizeof seed);
        s->nodes[s->cfg.n + t].key = key;
    }
}

static void
init_latencies(struct sim *s)
{
    for (uint16_t a = 0; a < s->cfg.n; a++) {
        for (uint16_t b = a; b < s->cfg.n; b++) {
            uint64_t lat = s->cfg.net == SIM_NET_WAN ? 50000u + rng_below(&s->net, 200001u)
                                                     : 200u + rng_below(&s->net, 1801u);
            s->lat_us[a][b] = (uint32_t)lat;
            s->lat_us[b][a] = (uint32_t)lat;
        }
    }
}

static void
init_nodes(struct sim *s)
{
    const struct sim_config *c = &s->cfg;
    s->node_count = (uint16_t)(c->n + c->twins);
    for (uint16_t i = 0; i < s->node_count; i++) {
        struct sim_node *node = &s->nodes[i];
        node->sim = s;
        node->id = i;
        node->idx = i < c->n ? i : (uint16_t)(i - c->n);
        node->twin = i >= c->n;
        node->byz = (i < c->n && i >= c->n - c->byzantine) ? c->byz : SIM_BYZ_NONE;
        node->down_forever = c->down_every > 0 && i < c->n && i % c->down_every == 1;
        node->epoch = s->genesis.epoch;
        node->epoch_root = s->genesis;
        node->committed_root = s->genesis;
        node->skew_us = c->clock_skew_ms > 0
                            ? (int64_t)rng_below(&s->fault, 2 * c->clock_skew_ms * 1000u) -
                                  (int64_t)(c->clock_skew_ms * 1000u)
                            : 0;
        node->cpu_delay_us = i < c->slow_nodes ? 5000u + rng_below(&s->fault, 20000u) : 0;
    }
    if (c->twins_fixed_split) {
        /* originals of twinned validators + the first half of the rest on one side */
        uint16_t half = (uint16_t)(c->twins + (c->n - c->twins) / 2);
        for (uint16_t i = 0; i < s->node_count; i++) {
            s->nodes[i].group = (uint8_t)(i < half ? 0 : 1);
        }
        for (uint16_t a = 0; a < s->node_count; a++) {
            for (uint16_t b = 0; b < s->node_count; b++) {
                s->blocked[(size_t)a * s->node_count + b] = s->nodes[a].group != s->nodes[b].group;
            }
        }
    }
}

static void
schedule_faults(struct sim *s)
{
    const struct sim_config *c = &s->cfg;
    uint64_t gst_us = c->gst_ms * 1000u;
    struct event gst = { .at_us = gst_us, .kind = EV_GST };
    sim_push(s, &gst);
    if (c->partitions && gst_us > 0) {
        for (uint64_t t = rng_below(&s->fault, 500000u); t < gst_us;
             t += 200000u + rng_below(&s->fault, 1000000u)) {
            struct event ev = { .at_us = t, .kind = EV_PARTITION };
            sim_push(s, &ev);
        }
    }
    uint16_t crashable = (uint16_t)(c->n - c->byzantine);
    for (uint16_t k = 0; k < c->crashes && gst_us > 0 && crashable > 0; k++) {
        uint16_t who = (uint16_t)rng_below(&s->fault, crashable);
        if (c->byz == SIM_BYZ_AMNESIA && k % 2 == 0) {
            who = (uint16_t)(c->n - 1); /* the Byzantine one forgets, repeatedly */
        }
        struct event ev = { .at_us = rng_below(&s->fault, gst_us),
                            .kind = EV_CRASH,
                            .node = who,
                            .token = rng_below(&s->fault, 4) };
        sim_push(s, &ev);
    }
    for (uint16_t i = 0; i < s->node_count; i++) {
        if (s->nodes[i].byz == SIM_BYZ_GARBAGE || s->nodes[i].byz == SIM_BYZ_REPLAY) {
            struct event ev = { .at_us = 10000u, .kind = EV_BYZ_TICK, .node = i };
            sim_push(s, &ev);
        }
    }
}

/* ---- run ---- */

static struct event
pop(struct sim *s)
{
    ASSERT(s->heap_count > 0);
    struct event top = s->heap[0];
    s->heap[0] = s->heap[--s->heap_count];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1;
        size_t r = l + 1;
        size_t m = i;
        if (l < s->heap_count &&
            (s->heap[l].at_us < s->heap[m].at_us ||
             (s->heap[l].at_us == s->heap[m].at_us && s->heap[l].seq < s->heap[m].seq))) {
            m = l;
        }
        if (r < s->heap_count &&
            (s->heap[r].at_us < s->heap[m].at_us ||
             (s->heap[r].at_us == s->heap[m].at_us && s->heap[r].seq < s->heap[m].seq))) {
            m = r;
        }
        if (m == i) {
            break;
        }
        struct event t = s->heap[m];
        s->heap[m] = s->heap[i];
        s->heap[i] = t;
        i = m;
    }
    return top;
}

static void
handle_crash_event(struct sim *s, const struct event *ev)
{
    struct sim_node *node = &s->nodes[ev->node];
    if (!node->up) {
        return;
    }
    if (s->cfg.disk_faults && ev->token != 0) {
        node->crash_next = (uint8_t)ev->token; /* dies at its next persist */
        return;
    }
    crash_instance(s, node);
}

static void
process(struct sim *s, const struct event *ev)
{
    struct sim_node *node = &s->nodes[ev->node];
    switch ((enum sim_ev)ev->kind) {
    case EV_DELIVER:
        if (node->up && ev->gen == node->gen) {
            consensus_on_message(node->c, ev->from, ev->msg->data, ev->msg->size);
        }
        sim_buf_unref(ev->msg);
        break;
    case EV_TIMER:
        if (node->up && ev->gen == node->gen) {
            consensus_on_timer(node->c, (enum cons_timer)ev->timer_kind, ev->token);
        }
        break;
    case EV_CRASH:
        handle_crash_event(s, ev);
        break;
    case EV_RESTART:
        if (!node->up && !node->down_forever) {
            s->res.restarts++;
            start_instance(s, node);
        }
        break;
    case EV_PARTITION:
        if (!s->gst) {
            sim_partition_step(s);
        }
        break;
    case EV_GST:
        s->gst = true;
        sim_heal(s);
        s->last_progress_us = s->now_us;
        break;
    case EV_BYZ_TICK:
        sim_byz_tick(node);
        break;
    case EV_EXECUTED:
        if (node->up && ev->gen == node->gen) {
            struct hash id;
            struct exec_result r;
            memcpy(id.bytes, ev->msg->data, HASH_SIZE);
            memcpy(r.exec_root.bytes, ev->msg->data + HASH_SIZE, HASH_SIZE);
            memcpy(r.receipts_root.bytes, ev->msg->data + (size_t)2 * HASH_SIZE, HASH_SIZE);
            memcpy(r.next_epoch_vs_hash.bytes, ev->msg->data + (size_t)3 * HASH_SIZE, HASH_SIZE);
            bool invalid = ev->msg->data[(size_t)4 * HASH_SIZE] != 0;
            consensus_on_executed(node->c, &id, invalid ? ERR_MALFORMED : ERR_OK, &r);
        }
        sim_buf_unref(ev->msg);
        break;
    }
    if (node->up && (node->dying || consensus_is_halted(node->c))) {
        crash_instance(s, node);
    }
}

/* Every live honest instance committed the target height (and we are past GST). */
static bool
finished(const struct sim *s)
{
    if (!s->gst) {
        return false;
    }
    for (uint16_t i = 0; i < s->node_count; i++) {
        const struct sim_node *node = &s->nodes[i];
        if (is_honest(node) && !node->down_forever &&
            node->committed_height < s->cfg.target_height) {
            return false;
        }
    }
    return true;
}

static void
check_liveness(struct sim *s)
{
    if (!s->gst || s->cfg.expect_violation) {
        return;
    }
    uint64_t capped = s->ccfg.base_timeout_ms;
    for (uint32_t i = 0; i < s->ccfg.max_backoff_exp; i++) {
        capped = capped * s->ccfg.backoff_permille / 1000u;
    }
    uint64_t delta = s->cfg.net == SIM_NET_WAN ? 300u : 30u;
    /* 10 capped rounds; with faulty leaders a commit needs three honest leaders in a row,
     * which round-robin without reputation (section 7 stage 2) may take longer to meet */
    uint64_t factor = s->cfg.byzantine > 0 || s->cfg.down_every > 0 ? 40u : 10u;
    uint64_t bound_us = factor * (capped + 10u * delta) * 1000u;
    if (s->now_us > s->last_progress_us + bound_us) {
        sim_violation(s, "liveness: no new block after GST within the bound", bound_us / 1000u,
                      s->max_height);
    }
}

static void
check_memory(struct sim *s)
{
    for (uint16_t i = 0; i < s->node_count; i++) {
        const struct sim_node *node = &s->nodes[i];
        if (!node->up || !is_honest(node)) {
            continue;
        }
        if (consensus_tree_size(node->c) > s->ccfg.block_tree_max ||
            consensus_held_count(node->c) > 64u + s->ccfg.block_tree_max ||
            consensus_exec_pending(node->c) > CONS_EXEC_PENDING_MAX + s->ccfg.block_tree_max) {
            sim_violation(s, "bounded resources: a node holds too much", node->id,
                          consensus_tree_size(node->c));
        }
        if (s->gst && finished(s) && consensus_tree_size(node->c) > 48) {
            sim_violation(s, "bounded resources: block tree not pruned", node->id,
                          consensus_tree_size(node->c));
        }
    }
}

/* Per-instance state, for a human reading a failed run. */
static void
dump_nodes(const struct sim *s)
{
    for (uint16_t i = 0; i < s->node_count; i++) {
        const struct sim_node *node = &s->nodes[i];
        fprintf(stderr, "node %u idx=%u byz=%d up=%d epoch=%llu committed=%llu", node->id,
                node->idx, (int)node->byz, node->up, (unsigned long long)node->epoch,
                (unsigned long long)node->committed_height);
        if (node->up) {
            const struct consensus_stats *st = consensus_stats(node->c);
            fprintf(
                stderr,
                " c.epoch=%llu round=%llu lvr=%llu tree=%zu held=%zu retrievals=%llu "
                "lost=%llu stale=%llu wrong_epoch=%llu invalid=%llu bad_sig=%llu malformed=%llu",
                (unsigned long long)consensus_epoch(node->c),
                (unsigned long long)consensus_round(node->c),
                (unsigned long long)consensus_last_voted_round(node->c),
                consensus_tree_size(node->c), consensus_held_count(node->c),
                (unsigned long long)st->retrievals_started, (unsigned long long)st->retrievals_lost,
                (unsigned long long)st->dropped_stale, (unsigned long long)st->dropped_wrong_epoch,
                (unsigned long long)st->dropped_invalid_block,
                (unsigned long long)st->dropped_bad_signature,
                (unsigned long long)st->dropped_malformed);
        }
        fprintf(stderr, "\n");
    }
}

uint64_t
sim_rounds(const struct sim *s)
{
    for (uint16_t i = 0; i < s->node_count; i++) {
        if (s->nodes[i].up && is_honest(&s->nodes[i])) {
            return s->rounds_acc + consensus_round(s->nodes[i].c);
        }
    }
    return s->rounds_acc;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

static void
collect(struct sim *s, struct sim_result *out)
{
    uint64_t min = UINT64_MAX;
    for (uint16_t i = 0; i < s->node_count; i++) {
        const struct sim_node *node = &s->nodes[i];
        if (is_honest(node) && !node->down_forever) {
            min = node->committed_height < min ? node->committed_height : min;
        }
        if (node->up) {
            const struct consensus_stats *st = consensus_stats(node->c);
            s->res.dropped_bad +=
                st->dropped_malformed + st->dropped_bad_signature + st->dropped_non_validator;
            if (is_honest(node)) {
                s->res.timeouts_sent += st->timeouts_sent;
                s->res.tcs_formed += st->tcs_formed;
            }
            s->res.exec_ignored += st->exec_results_ignored;
        }
    }
    s->res.min_height = min == UINT64_MAX ? 0 : min;
    s->res.max_height = s->max_height;
    s->res.blocks = s->max_height;
    s->res.virtual_ms = s->now_us / 1000u;
    s->res.rounds = sim_rounds(s);
    if (s->latency_count > 0) {
        qsort(s->latency, s->latency_count, sizeof *s->latency, cmp_u64);
        s->res.latency_p50_ms = s->latency[s->latency_count / 2] / 1000u;
        s->res.latency_p99_ms = s->latency[s->latency_count * 99u / 100u] / 1000u;
    }
    s->res.ok = s->cfg.expect_violation ? s->res.violation : !s->res.violation;
    *out = s->res;
}

static void
sim_free(struct sim *s)
{
    for (uint16_t i = 0; i < s->node_count; i++) {
        struct sim_node *node = &s->nodes[i];
        consensus_free(node->c);
        secret_key_free(node->key);
        mem_free(node->safety);
        mem_free(node->root_cert);
        mem_free(node->tc);
        for (size_t k = 0; k < node->epoch_end_count; k++) {
            mem_free(node->epoch_ends[k].proof);
            mem_free(node->epoch_ends[k].set);
        }
        for (size_t k = 0; k < node->block_count; k++) {
            mem_free(node->blocks[k].bytes);
        }
        mem_free(node->blocks);
    }
    for (size_t i = 0; i < s->heap_count; i++) {
        sim_buf_unref(s->heap[i].msg); /* deliveries and execution results */
    }
    for (size_t i = 0; i < SIM_REPLAY_RING; i++) {
        sim_buf_unref(s->replay[i]);
    }
    for (size_t i = 0; i < SIM_PROPOSAL_RING; i++) {
        sim_buf_unref(s->proposals[i].qc);
    }
    for (size_t h = 0; h < s->chain_cap; h++) {
        mem_free(s->chain[h].block);
    }
    mem_free(s->chain);
    mem_free(s->heap);
    mem_free(s->blocked);
    mem_free(s->vcache);
    mem_free(s->latency);
    mem_free(s->scratch);
    mem_free(s->scratch_block);
    mem_free(s->scratch_proof);
    mem_free(s->vs_scratch);
    mem_free(s);
}

static enum err
check_config(const struct sim_config *c)
{
    if (c->n == 0 || c->n > SIM_VALIDATORS_MAX || c->twins > 8 || c->twins > c->n ||
        c->byzantine > c->n || c->target_height == 0 || c->duration_ms == 0) {
        return ERR_INVALID_ARG;
    }
    return ERR_OK;
}

static void
init_sim(struct sim *s, const struct sim_config *cfg)
{
    s->cfg = *cfg;
    s->net.s = cfg->seed * 3u + 1u;
    s->fault.s = cfg->seed * 5u + 2u;
    s->byzr.s = cfg->seed * 7u + 3u;
    s->crash_all_left = cfg->crash_all_on_tc;
    s->exec.s = cfg->seed * 11u + 4u;
    struct hash chain_id;
    hash_bytes(HASH_SHA256, "lianmeng-sim", 12, &chain_id);
    consensus_config_default(&s->ccfg, HASH_SHA256, &chain_id);
    s->ccfg.base_timeout_ms = cfg->base_timeout_ms;
    s->ccfg.idle_block_interval_ms = cfg->idle_ms;
    s->ccfg.min_block_interval_ms = cfg->pace_ms;
    s->ccfg.retrieval_timeout_ms = cfg->net == SIM_NET_WAN ? 800 : 200;
    s->ccfg.leader_egress_kbps = cfg->bandwidth_kbps; /* the model's leader egress */
    s->ccfg.leader_reputation = cfg->leader_reputation;
    s->ccfg.exclude_rounds = cfg->exclude_rounds > 0 ? cfg->exclude_rounds : 20u;
    s->ccfg.proposer_window = 10u * cfg->n < 1000u ? 10u * cfg->n : 1000u;
    s->ccfg.max_block_txs = cfg->txs_per_block > 0 ? cfg->txs_per_block + 1 : 1;
    s->verifier = (struct cons_verifier){ .chain = &s->ccfg.chain, .verify = sim_verify, .ctx = s };
    s->genesis =
        (struct block_info){ .epoch = 1, .round = 0, .height = 0, .timestamp_us = SIM_GENESIS_US };
    hash_bytes(HASH_SHA256, "genesis", 7, &s->genesis.id);
    hash_bytes(HASH_SHA256, "genesis-state", 13, &s->genesis.exec_root);
    s->blocked = mem_calloc((size_t)SIM_NODES_MAX * SIM_NODES_MAX, 1);
    s->vcache = mem_calloc(SIM_VCACHE_SIZE, sizeof *s->vcache);
    s->latency = mem_calloc(SIM_LATENCY_MAX, sizeof *s->latency);
    s->chain_cap = 256;
    s->chain = mem_calloc(s->chain_cap, sizeof *s->chain);
    s->scratch = mem_alloc(sizeof *s->scratch);
    s->scratch_block = mem_alloc(sizeof *s->scratch_block);
    s->scratch_proof = mem_alloc(sizeof *s->scratch_proof);
    s->vs_scratch = mem_alloc(sizeof *s->vs_scratch);
}

static void
discard_log(void *ctx, enum log_level level, const char *line)
{
    (void)ctx;
    (void)level;
    (void)line;
}

enum err
sim_run(const struct sim_config *cfg, struct sim_result *out)
{
    ASSERT(cfg != NULL && out != NULL);
    if (check_config(cfg) != ERR_OK) {
        return ERR_INVALID_ARG;
    }
    if (cfg->quiet) {
        log_set_sink(discard_log, NULL); /* injected faults log errors by design */
    }
    struct sim *s = mem_calloc(1, sizeof *s);
    init_sim(s, cfg);
    init_latencies(s);
    init_nodes(s);
    init_keys(s);
    schedule_faults(s);
    for (uint16_t i = 0; i < s->node_count; i++) {
        if (!s->nodes[i].down_forever) {
            start_instance(s, &s->nodes[i]);
        }
    }
    uint64_t end_us = cfg->duration_ms * 1000u;
    while (s->heap_count > 0 && !s->res.violation) {
        struct event ev = pop(s);
        if (ev.at_us > end_us) {
            sim_buf_unref(ev.msg);
            s->now_us = end_us;
            break;
        }
        s->now_us = ev.at_us;
        process(s, &ev);
        check_liveness(s);
        check_memory(s);
        if (finished(s) && !cfg->expect_violation) {
            break;
        }
    }
    if (!s->res.violation && !cfg->expect_violation && !finished(s)) {
        sim_violation(s, "liveness: target height not reached", cfg->target_height, s->max_height);
    }
    if (!cfg->quiet) {
        dump_nodes(s);
    }
    collect(s, out);
    sim_free(s);
    if (cfg->quiet) {
        log_set_sink(NULL, NULL);
    }
    return ERR_OK;
}
