/* Leader reputation (CONSENSUS.md section 7 stage 2), white-box on the consensus object:
 *   - a validator whose leader slots failed is (almost) never picked again, the active ones
 *     share the rounds;
 *   - no usable history (an epoch start) or a stale one falls back to stage 1;
 *   - a node restarted at the committed root reloads the history through
 *     env->load_committed_at and picks the same leaders as one that lived through it;
 *   - the config is checked. */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "codec/codec.h"
#include "consensus/consensus.h"
#include "consensus/consensus_internal.h"
#include "unit.h"

#define N       4
#define HISTORY 24

struct rep_harness {
    struct secret_key *key;
    struct validator_set vs;
    struct consensus_config cfg;
    struct block_info genesis;
    struct buf blocks[HISTORY + 1]; /* by height, 1..HISTORY */
    uint64_t rounds[HISTORY + 1];
};

static struct rep_harness *rh;

static uint64_t
r_now(void *ctx)
{
    (void)ctx;
    return 1000000000u;
}

static void
r_send(void *ctx, uint16_t to, const uint8_t *msg, size_t size)
{
    (void)ctx;
    (void)to;
    (void)msg;
    (void)size;
}

static void
r_broadcast(void *ctx, const uint8_t *msg, size_t size)
{
    (void)ctx;
    (void)msg;
    (void)size;
}

static void
r_timer(void *ctx, enum cons_timer kind, uint64_t delay_ms, uint64_t token)
{
    (void)ctx;
    (void)kind;
    (void)delay_ms;
    (void)token;
}

static enum err
r_persist(void *ctx, const uint8_t *data, size_t size)
{
    (void)ctx;
    (void)data;
    (void)size;
    return ERR_OK;
}

static enum err
r_persist_block(void *ctx, const struct hash *id, const uint8_t *b, size_t size)
{
    (void)ctx;
    (void)id;
    (void)b;
    (void)size;
    return ERR_OK;
}

static enum err
r_sign(void *ctx, const struct hash *digest, struct signature *out)
{
    (void)ctx;
    return sign_message(rh->key, digest->bytes, HASH_SIZE, out);
}

static enum err
r_execute(void *ctx, const struct block *blk, const struct block_info *parent,
          struct exec_result *out)
{
    (void)ctx;
    (void)blk;
    (void)parent;
    memset(out, 0, sizeof *out);
    return ERR_OK;
}

static enum err
r_pull(void *ctx, const struct payload_request *req, struct buf *out, uint32_t *out_count)
{
    (void)ctx;
    (void)req;
    (void)out;
    *out_count = 0;
    return ERR_OK;
}

static enum err
r_commit(void *ctx, const struct committed_block *cb)
{
    (void)ctx;
    (void)cb;
    return ERR_OK;
}

static enum err
r_next_vs(void *ctx, const struct block_info *ending, struct validator_set *out)
{
    (void)ctx;
    (void)ending;
    *out = rh->vs;
    return ERR_OK;
}

static enum err
r_load_at(void *ctx, uint64_t height, struct buf *out)
{
    (void)ctx;
    if (height == 0 || height > HISTORY) {
        return ERR_NOT_FOUND;
    }
    return buf_append(out, rh->blocks[height].data, rh->blocks[height].size);
}

static const struct consensus_env r_env = {
    .now_us = r_now,
    .send = r_send,
    .broadcast = r_broadcast,
    .set_timer = r_timer,
    .persist_safety = r_persist,
    .persist_tc = r_persist,
    .persist_block = r_persist_block,
    .sign = r_sign,
    .execute = r_execute,
    .pull_payload = r_pull,
    .commit = r_commit,
    .next_validator_set = r_next_vs,
    .load_committed_at = r_load_at,
};

/* A committed-looking block: author `round % N`, the skipped rounds' leaders as failed
 * authors, and a QC bitmap of the voters 0, 2, 3 (validator 1 never runs). */
static void
make_block(uint64_t height, uint64_t round, uint64_t prev_round, struct buf *out)
{
    struct block *blk = mem_calloc(1, sizeof *blk);
    struct block_header *h = &blk->header;
    h->epoch = 1;
    h->round = round;
    h->height = height;
    h->author = (uint16_t)(round % N);
    for (uint64_t r = prev_round + 1; r < round; r++) {
        h->failed[h->failed_count++] = (struct failed_author){ r, (uint16_t)(r % N) };
    }
    h->qc.vote_data.proposed.epoch = 1;
    h->qc.vote_data.proposed.round = prev_round;
    h->qc.bitmap_size = 1;
    const uint16_t voters[3] = { 0, 2, 3 };
    for (size_t i = 0; i < 3; i++) {
        bitmap_set(h->qc.bitmap, voters[i]);
        h->qc.sigs[h->qc.sig_count++] = (struct signature){ .alg = SIG_ED25519 };
    }
    blk->payload.kind = PAYLOAD_EMPTY;
    buf_init(out, CONS_MSG_SIZE_MAX);
    assert_int_equal(block_encode(out, blk), ERR_OK);
    mem_free(blk);
}

static struct consensus *
start_at(uint64_t root_height)
{
    struct consensus *c = NULL;
    assert_int_equal(consensus_new(&rh->cfg, &r_env, &c), ERR_OK);
    struct block_info root = rh->genesis;
    if (root_height > 0 && root_height <= HISTORY) {
        root.height = root_height;
        root.round = rh->rounds[root_height];
        hash_bytes(HASH_SHA256, &root_height, sizeof root_height, &root.id);
    }
    struct cons_start st = { .validators = &rh->vs,
                             .epoch_root = rh->genesis,
                             .committed_root = root };
    secret_key_public(rh->key, &st.self_key);
    assert_int_equal(consensus_start(c, &st), ERR_OK);
    return c;
}

static int
setup(void **state)
{
    (void)state;
    rh = mem_calloc(1, sizeof *rh);
    rh->vs.count = N;
    rh->vs.epoch = 1;
    for (uint16_t i = 0; i < N; i++) {
        uint8_t seed[32];
        memset(seed, (int)(0x40 + i), sizeof seed);
        struct secret_key *k = NULL;
        if (secret_key_import(SIG_ED25519, seed, sizeof seed, &k) != ERR_OK) {
            return -1;
        }
        rh->vs.nodes[i].institution = i;
        secret_key_public(k, &rh->vs.nodes[i].consensus_key);
        secret_key_public(k, &rh->vs.nodes[i].transport_key);
        rh->vs.nodes[i].power = 1;
        if (i == 0) {
            rh->key = k;
        } else {
            secret_key_free(k);
        }
    }
    if (validator_set_check(&rh->vs) != ERR_OK) {
        return -1;
    }
    struct hash chain_id;
    hash_bytes(HASH_SHA256, "rep-chain", 9, &chain_id);
    consensus_config_default(&rh->cfg, HASH_SHA256, &chain_id);
    rh->cfg.leader_reputation = true;
    rh->cfg.exclude_rounds = 3;
    rh->cfg.proposer_window = 40;
    rh->genesis = (struct block_info){ .epoch = 1, .timestamp_us = 5000 };
    hash_bytes(HASH_SHA256, "g", 1, &rh->genesis.id);
    /* round-robin history where every round of validator 1 timed out */
    uint64_t round = 0;
    for (uint64_t h = 1; h <= HISTORY; h++) {
        uint64_t prev = round;
        round++;
        if (round % N == 1) {
            round++;
        }
        rh->rounds[h] = round;
        make_block(h, round, prev, &rh->blocks[h]);
    }
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    for (size_t h = 1; h <= HISTORY; h++) {
        buf_release(&rh->blocks[h]);
    }
    secret_key_free(rh->key);
    mem_free(rh);
    return 0;
}

static void
test_failed_leader_skipped(void **state)
{
    (void)state;
    struct consensus *c = start_at(0);
    for (size_t h = 1; h <= HISTORY; h++) {
        reputation_add(c, rh->blocks[h].data, rh->blocks[h].size);
    }
    uint64_t last = rh->rounds[HISTORY];
    /* the whole history is usable for rounds last+3 .. last+6 (then it counts as stale) */
    uint16_t first[4];
    for (uint64_t r = last + 3; r <= last + 6; r++) {
        first[r - last - 3] = reputation_leader(c, r);
        assert_int_not_equal(first[r - last - 3], 1);
    }
    for (uint64_t r = last + 3; r <= last + 6; r++) {
        assert_int_equal(reputation_leader(c, r), first[r - last - 3]); /* memo agrees */
    }
    consensus_free(c);
    /* with a long stretch of rounds, the pick spreads over the active validators */
    struct consensus_config saved = rh->cfg;
    rh->cfg.exclude_rounds = 200;
    c = start_at(0);
    for (size_t h = 1; h <= HISTORY; h++) {
        reputation_add(c, rh->blocks[h].data, rh->blocks[h].size);
    }
    unsigned picks[N] = { 0 };
    for (uint64_t r = last + 200; r <= last + 400; r++) {
        picks[reputation_leader(c, r)]++;
    }
    assert_true(picks[1] <= 1);
    assert_true(picks[0] >= 30 && picks[2] >= 30 && picks[3] >= 30);
    rh->cfg = saved;
    consensus_free(c);
}

static void
test_no_or_stale_history_is_round_robin(void **state)
{
    (void)state;
    struct consensus *c = start_at(0);
    for (uint64_t r = 1; r < 50; r++) {
        assert_int_equal(reputation_leader(c, r), r % N); /* an epoch start */
    }
    for (size_t h = 1; h <= HISTORY; h++) {
        reputation_add(c, rh->blocks[h].data, rh->blocks[h].size);
    }
    uint64_t last = rh->rounds[HISTORY];
    /* nothing committed in the 3 rounds before the window: stage 1 again */
    for (uint64_t r = last + 7; r < last + 60; r++) {
        assert_int_equal(reputation_leader(c, r), r % N);
    }
    consensus_free(c);
}

static void
test_restart_reloads_history(void **state)
{
    (void)state;
    struct consensus *lived = start_at(0);
    for (size_t h = 1; h <= HISTORY; h++) {
        reputation_add(lived, rh->blocks[h].data, rh->blocks[h].size);
    }
    struct consensus *restarted = start_at(HISTORY);
    assert_int_equal(restarted->rep.count, HISTORY);
    uint64_t last = rh->rounds[HISTORY];
    for (uint64_t r = 1; r < last + 10; r++) {
        assert_int_equal(reputation_leader(restarted, r), reputation_leader(lived, r));
    }
    consensus_free(lived);
    consensus_free(restarted);
}

static void
test_config_checked(void **state)
{
    (void)state;
    struct consensus_config cfg = rh->cfg;
    assert_int_equal(consensus_config_check(&cfg), ERR_OK);
    cfg.exclude_rounds = 2;
    assert_int_equal(consensus_config_check(&cfg), ERR_CONFIG);
    cfg = rh->cfg;
    cfg.proposer_window = CONS_REPUTATION_WINDOW_MAX + 1;
    assert_int_equal(consensus_config_check(&cfg), ERR_CONFIG);
    cfg.leader_reputation = false; /* unused when off */
    assert_int_equal(consensus_config_check(&cfg), ERR_OK);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failed_leader_skipped),
        cmocka_unit_test(test_no_or_stale_history_is_round_robin),
        cmocka_unit_test(test_restart_reloads_history),
        cmocka_unit_test(test_config_checked),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
