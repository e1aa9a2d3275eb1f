/* Unit tests of mempool/mempool.h against a real ledger (LMDB state, genesis accounts with
 * Ed25519 keys) and a real verify pool and cache: admission and every error code,
 * duplicates, capacity (ERR_FULL never evicts), per-account and per-institution limits,
 * fairness and nonce order in pull, exclusion of uncommitted ancestors, commit (included and
 * stale txs), expiry, readmission after a fork, verification once (cache stats), and a
 * 100,000-tx stress run bounded in time. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "crypto/verify_cache.h"
#include "crypto/verify_pool.h"
#include "ledger_fixture.h"
#include "mempool/mempool.h"
#include "mempool/mempool_internal.h"
#include "unit.h"

struct env {
    struct fixture f;
    struct verify_cache *cache;
    struct verify_pool *pool;
    struct mempool_config config;
    struct mempool *mp;
    size_t gossiped;
    struct hash last_gossip;
};

static struct fixture_block block;

static void
on_admitted(void *ctx, const struct hash *hash, const uint8_t *data, size_t size)
{
    struct env *e = ctx;
    assert_non_null(data);
    assert_true(size > 0);
    e->gossiped++;
    e->last_gossip = *hash;
}

/* A ledger with `accounts` accounts (institution i % 4 + 1) and a mempool config over it;
 * params NULL: defaults. The mempool is created by env_start. */
static void
env_open(struct env *e, size_t accounts, const struct chain_params *params, unsigned threads)
{
    memset(e, 0, sizeof *e);
    fixture_open(&e->f, accounts, SIG_ED25519, params);
    e->cache = verify_cache_new(1u << 18);
    struct verify_pool_config pc = { .threads = threads,
                                     .queue_capacity = 1024,
                                     .cache = e->cache };
    assert_int_equal(verify_pool_new(&pc, &e->pool), ERR_OK);
    mempool_config_default(&e->config);
    e->config.seed = 0x1234567890abcdefull;
    e->config.hash_alg = ledger_hash_alg(e->f.ledger);
    e->config.chain_id = *ledger_chain_id(e->f.ledger);
    e->config.params = *ledger_params(e->f.ledger);
    e->config.committed_height = ledger_committed_height(e->f.ledger);
    e->config.pool = e->pool;
    e->config.sender_fn = mempool_ledger_sender;
    e->config.sender_ctx = e->f.ledger;
    e->config.admitted_fn = on_admitted;
    e->config.admitted_ctx = e;
}

static void
env_start(struct env *e)
{
    assert_int_equal(mempool_new(&e->config, &e->mp), ERR_OK);
}

static void
env_close(struct env *e)
{
    mempool_free(e->mp);
    verify_pool_free(e->pool);
    verify_cache_free(e->cache);
    fixture_close(&e->f);
    fixture_block_clear(&block);
}

struct txspec {
    const struct address *sender;
    const struct secret_key *key;
    const struct hash *chain;
    uint64_t nonce;
    uint64_t expiry;
    size_t value_size;
    uint32_t salt;
};

/* A signed tx: test.set("k<salt>", value of value_size bytes) by `sender` signed with key. */
static void
make_tx_spec(struct env *e, const struct txspec *spec, struct buf *out)
{
    const struct address *sender = spec->sender;
    uint64_t nonce = spec->nonce;
    uint64_t expiry = spec->expiry;
    size_t value_size = spec->value_size;
    uint32_t salt = spec->salt;
    char k[24];
    snprintf(k, sizeof k, "k%u", salt);
    uint8_t value[TEST_VALUE_SIZE_MAX];
    assert_true(value_size <= sizeof value);
    memset(value, (int)('a' + salt % 26), value_size);
    struct buf args;
    buf_init(&args, TEST_VALUE_SIZE_MAX + 128);
    assert_int_equal(test_module_set_args((const uint8_t *)k, strlen(k), value, value_size, &args),
                     ERR_OK);
    struct tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = TX_TYPE_V1;
    tx.chain_id = *spec->chain;
    tx.sender = *sender;
    tx.nonce = nonce;
    tx.expiry_height = expiry;
    tx.op_count = 1;
    tx.ops[0] = (struct tx_op){ "test", 4, "set", 3, args.data, args.size };
    buf_reset(out);
    assert_int_equal(tx_sign(e->config.hash_alg, &tx, spec->key, out), ERR_OK);
    buf_release(&args);
}

/* Tx of account `from` with nonce, expiry 100, 32-byte value, salted. */
static void
make_tx(struct env *e, size_t from, uint64_t nonce, uint32_t salt, struct buf *out)
{
    make_tx_spec(e,
                 &(struct txspec){ &e->f.addrs[from], e->f.keys[from], &e->config.chain_id, nonce,
                                   100, 32, salt },
                 out);
}

static enum err
admit_one(struct env *e, const struct buf *tx, struct hash *out_hash)
{
    struct mempool_raw raw = { .data = tx->data, .size = tx->size };
    struct mempool_result res;
    mempool_admit(e->mp, &raw, 1, &res);
    if (out_hash != NULL) {
        assert_true(res.has_hash);
        *out_hash = res.hash;
    }
    return res.rc;
}

static size_t
pull(struct env *e, const struct hash *exclude, size_t exclude_count, size_t txs_max,
     struct mempool_tx_view *out)
{
    struct mempool_pull_req req = { .exclude = exclude,
                                    .exclude_count = exclude_count,
                                    .bytes_max = 1u << 20,
                                    .txs_max = txs_max,
                                    .out = out };
    return mempool_pull(e->mp, &req);
}

/* Executes and commits the txs as the next block on the ledger, then reports it to the
 * mempool. */
static void
commit_block(struct env *e, const struct mempool_raw *txs, size_t count)
{
    fixture_block_clear(&block);
    struct buf b;
    buf_init(&b, TX_SIZE_MAX);
    for (size_t i = 0; i < count; i++) {
        buf_reset(&b);
        assert_int_equal(buf_append(&b, txs[i].data, txs[i].size), ERR_OK);
        fixture_block_add(&block, &b);
    }
    buf_release(&b);
    uint64_t height = ledger_committed_height(e->f.ledger) + 1;
    struct ledger_result *r = NULL;
    assert_int_equal(fixture_execute(&e->f, NULL, height, &block, false, &r), ERR_OK);
    assert_int_equal(fixture_commit(&e->f, r), ERR_OK);
    ledger_result_free(r);
    fixture_block_clear(&block);
    assert_int_equal(mempool_commit(e->mp, height, txs, count), ERR_OK);
}

static void
test_admit_errors(void **state)
{
    (void)state;
    struct env e;
    struct chain_params params;
    chain_params_default(&params);
    params.tx_size_bytes_max = 2048;
    params.tx_expiry_window_max = 1000;
    env_open(&e, 8, &params, 0);
    env_start(&e);
    struct buf tx;
    buf_init(&tx, TX_SIZE_MAX);
    struct hash h;

    make_tx(&e, 0, 0, 1, &tx);
    assert_int_equal(admit_one(&e, &tx, &h), ERR_OK);
    assert_true(mempool_contains(e.mp, &h));
    assert_int_equal(e.gossiped, 1);
    assert_true(hash_equal(&e.last_gossip, &h));
    struct mempool_tx_view v;
    assert_int_equal(mempool_get(e.mp, &h, &v), ERR_OK);
    assert_int_equal(v.size, tx.size);
    assert_memory_equal(v.data, tx.data, tx.size);
    assert_int_equal(v.nonce, 0);
    assert_int_equal(v.institution, 1);
    assert_memory_equal(v.sender.bytes, e.f.addrs[0].bytes, ADDRESS_SIZE);

    /* duplicate */
    assert_int_equal(admit_one(&e, &tx, NULL), ERR_EXISTS);
    /* malformed: garbage, and a truncated tx */
    uint8_t junk[40] = { 1, 2, 3 };
    struct mempool_raw raws[2] = { { .data = junk, .size = sizeof junk },
                                   { .data = tx.data, .size = tx.size - 1 } };
    struct mempool_result res[2];
    mempool_admit(e.mp, raws, 2, res);
    assert_int_equal(res[0].rc, ERR_MALFORMED);
    assert_false(res[0].has_hash);
    assert_int_equal(res[1].rc, ERR_MALFORMED);
    /* too large for the chain parameter */
    make_tx_spec(
        &e, &(struct txspec){ &e.f.addrs[1], e.f.keys[1], &e.config.chain_id, 0, 100, 3000, 2 },
        &tx);
    assert_int_equal(admit_one(&e, &tx, NULL), ERR_TOO_LARGE);
    /* bad signature: flip a byte of the signature */
    make_tx(&e, 1, 0, 3, &tx);
    tx.data[tx.size - 1] ^= 1;
    assert_int_equal(admit_one(&e, &tx, &h), ERR_BAD_SIGNATURE);
    assert_false(mempool_contains(e.mp, &h));
    /* expired: expiry below the next height; too far ahead */
    make_tx_spec(
        &e, &(struct txspec){ &e.f.addrs[1], e.f.keys[1], &e.config.chain_id, 0, 0, 32, 4 }, &tx);
    assert_int_equal(admit_one(&e, &tx, NULL), ERR_EXPIRED);
    make_tx_spec(&e,
                 &(struct txspec){ &e.f.addrs[1], e.f.keys[1], &e.config.chain_id, 0, 5000, 32, 4 },
                 &tx);
    assert_int_equal(admit_one(&e, &tx, NULL), ERR_EXPIRED);
    /* unknown sender: a key with no account */
    struct secret_key *stranger = fixture_key(SIG_ED25519, 777777);
    struct public_key spk;
    secret_key_public(stranger, &spk);
    struct address saddr;
    address_of(e.config.hash_alg, &spk, &saddr);
    make_tx_spec(&e, &(struct txspec){ &saddr, stranger, &e.config.chain_id, 0, 100, 32, 5 }, &tx);
    assert_int_equal(admit_one(&e, &tx, NULL), ERR_UNKNOWN_SENDER);
    /* a key not registered to the sender */
    make_tx_spec(&e, &(struct txspec){ &e.f.addrs[2], stranger, &e.config.chain_id, 0, 100, 32, 6 },
                 &tx);
    assert_int_equal(admit_one(&e, &tx, NULL), ERR_DENIED);
    secret_key_free(stranger);
    /* another chain */
    struct hash other = e.config.chain_id;
    other.bytes[0] ^= 0xff;
    make_tx_spec(&e, &(struct txspec){ &e.f.addrs[2], e.f.keys[2], &other, 0, 100, 32, 7 }, &tx);
    assert_int_equal(admit_one(&e, &tx, NULL), ERR_WRONG_CHAIN);
    /* nonce beyond the window */
    make_tx(&e, 2, e.config.nonce_window, 8, &tx);
    assert_int_equal(admit_one(&e, &tx, NULL), ERR_LIMIT);
    make_tx(&e, 2, e.config.nonce_window - 1, 8, &tx);
    assert_int_equal(admit_one(&e, &tx, NULL), ERR_OK);

    /* stale nonce: account 3's nonce 0 is used by a committed block */
    struct buf used;
    buf_init(&used, TX_SIZE_MAX);
    make_tx(&e, 3, 0, 9, &used);
    struct mempool_raw used_raw = { .data = used.data, .size = used.size };
    commit_block(&e, &used_raw, 1);
    make_tx(&e, 3, 0, 10, &tx);
    assert_int_equal(admit_one(&e, &tx, NULL), ERR_STALE_NONCE);
    make_tx(&e, 3, 1, 10, &tx);
    assert_int_equal(admit_one(&e, &tx, NULL), ERR_OK);

    struct mempool_stats st;
    mempool_get_stats(e.mp, &st);
    assert_int_equal(st.txs, 3);
    assert_int_equal(st.admitted, 3);
    assert_int_equal(st.rejected, 12);
    assert_int_equal(e.gossiped, 3);
    buf_release(&used);
    buf_release(&tx);
    env_close(&e);
}

static void
test_duplicates(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 8, NULL, 1);
    env_start(&e);
    struct buf a;
    struct buf b;
    struct buf c;
    buf_init(&a, TX_SIZE_MAX);
    buf_init(&b, TX_SIZE_MAX);
    buf_init(&c, TX_SIZE_MAX);
    make_tx(&e, 0, 0, 1, &a);
    make_tx(&e, 0, 0, 2, &b); /* same sender and nonce, other content */
    make_tx(&e, 1, 0, 3, &c);
    struct mempool_raw raws[4] = {
        { .data = a.data, .size = a.size },
        { .data = a.data, .size = a.size },
        { .data = b.data, .size = b.size },
        { .data = c.data, .size = c.size },
    };
    struct mempool_result res[4];
    mempool_admit(e.mp, raws, 4, res);
    assert_int_equal(res[0].rc, ERR_OK);
    assert_int_equal(res[1].rc, ERR_EXISTS);
    assert_true(hash_equal(&res[0].hash, &res[1].hash));
    assert_int_equal(res[2].rc, ERR_EXISTS);
    assert_int_equal(res[3].rc, ERR_OK);
    mempool_admit(e.mp, raws, 4, res);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(res[i].rc, ERR_EXISTS);
    }
    assert_int_equal(e.gossiped, 2); /* each admitted tx reported once */
    struct mempool_stats st;
    mempool_get_stats(e.mp, &st);
    assert_int_equal(st.txs, 2);
    buf_release(&a);
    buf_release(&b);
    buf_release(&c);
    env_close(&e);
}

static void
test_capacity(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 64, NULL, 0);
    e.config.txs_max = 20;
    e.config.institution_share = 100;
    e.config.account_txs_max = 3;
    env_start(&e);
    struct buf tx;
    buf_init(&tx, TX_SIZE_MAX);
    struct hash admitted[20];
    size_t n = 0;
    /* per account: the fourth pending tx of one account is refused */
    for (uint64_t nonce = 0; nonce < 3; nonce++) {
        make_tx(&e, 0, nonce, 0, &tx);
        assert_int_equal(admit_one(&e, &tx, &admitted[n++]), ERR_OK);
    }
    make_tx(&e, 0, 3, 0, &tx);
    assert_int_equal(admit_one(&e, &tx, NULL), ERR_LIMIT);
    for (size_t from = 1; n < 20; from++) {
        make_tx(&e, from, 0, (uint32_t)from, &tx);
        assert_int_equal(admit_one(&e, &tx, &admitted[n++]), ERR_OK);
    }
    /* full: new txs are refused, nothing admitted is evicted */
    for (size_t from = 30; from < 40; from++) {
        make_tx(&e, from, 0, (uint32_t)from, &tx);
        assert_int_equal(admit_one(&e, &tx, NULL), ERR_FULL);
    }
    for (size_t i = 0; i < 20; i++) {
        assert_true(mempool_contains(e.mp, &admitted[i]));
    }
    struct mempool_stats st;
    mempool_get_stats(e.mp, &st);
    assert_int_equal(st.txs, 20);
    assert_int_equal(st.rejected_full, 10);
    /* room again after a commit */
    struct mempool_tx_view v;
    assert_int_equal(mempool_get(e.mp, &admitted[5], &v), ERR_OK);
    struct mempool_raw raw = { .data = v.data, .size = v.size };
    struct buf copy;
    buf_init(&copy, TX_SIZE_MAX);
    assert_int_equal(buf_append(&copy, v.data, v.size), ERR_OK);
    raw.data = copy.data;
    commit_block(&e, &raw, 1);
    make_tx(&e, 30, 0, 30, &tx);
    assert_int_equal(admit_one(&e, &tx, NULL), ERR_OK);
    mempool_free(e.mp);

    /* bytes bound: TX_SIZE_MAX bytes of 4 KiB txs */
    e.config.txs_max = 1000;
    e.config.bytes_max = TX_SIZE_MAX;
    env_start(&e);
    size_t bytes = 0;
    size_t ok = 0;
    for (size_t from = 4; from < 64; from++) { /* account 3 used its nonce 0 above */
        make_tx_spec(&e,
                     &(struct txspec){ &e.f.addrs[from], e.f.keys[from], &e.config.chain_id, 0, 100,
                                       4000, (uint32_t)from },
                     &tx);
        enum err rc = admit_one(&e, &tx, NULL);
        if (bytes + tx.size <= TX_SIZE_MAX) {
            assert_int_equal(rc, ERR_OK);
            bytes += tx.size;
            ok++;
        } else {
            assert_int_equal(rc, ERR_FULL);
        }
    }
    mempool_get_stats(e.mp, &st);
    assert_int_equal(st.bytes, bytes);
    assert_int_equal(st.txs, ok);
    assert_true(ok >= 30 && ok < 64);
    mempool_free(e.mp);

    /* institution share: 25% of 20 txs = 5 per institution */
    e.config.txs_max = 20;
    e.config.bytes_max = TX_SIZE_MAX;
    e.config.institution_share = 25;
    env_start(&e);
    size_t inst1 = 0;
    for (size_t from = 0; from < 64; from += 4) { /* institution 1 */
        make_tx(&e, from, 0, (uint32_t)from, &tx);
        enum err rc = admit_one(&e, &tx, NULL);
        assert_int_equal(rc, inst1 < 5 ? ERR_OK : ERR_LIMIT);
        if (rc == ERR_OK) {
            inst1++;
        }
    }
    make_tx(&e, 1, 0, 1, &tx); /* institution 2 still has room */
    assert_int_equal(admit_one(&e, &tx, NULL), ERR_OK);
    buf_release(&copy);
    buf_release(&tx);
    env_close(&e);
}

/* Fairness: institution 1 floods with 4 accounts x 8 txs, institutions 2..4 send a few. */
static void
test_fairness(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 16, NULL, 1);
    e.config.institution_share = 100;
    env_start(&e);
    struct buf tx;
    buf_init(&tx, TX_SIZE_MAX);
    for (size_t from = 0; from < 16; from++) {
        uint64_t count = from % 4 == 0 ? 8 : 2; /* institution 1: accounts 0, 4, 8, 12 */
        for (uint64_t nonce = 0; nonce < count; nonce++) {
            make_tx(&e, from, nonce, (uint32_t)nonce, &tx);
            assert_int_equal(admit_one(&e, &tx, NULL), ERR_OK);
        }
    }
    struct mempool_tx_view out[64];
    size_t n = pull(&e, NULL, 0, 8, out);
    assert_int_equal(n, 8);
    size_t per_inst[5] = { 0 };
    for (size_t i = 0; i < n; i++) {
        per_inst[out[i].institution]++;
    }
    for (size_t i = 1; i <= 4; i++) {
        assert_int_equal(per_inst[i], 2); /* round-robin across institutions */
    }
    /* everything (56): institutions 2..4 have 6 txs each (3 accounts x 2), institution 1 has
     * 32 (4 accounts x 8) whose accounts take turns; per account nonces ascend */
    n = pull(&e, NULL, 0, 64, out);
    assert_int_equal(n, 56);
    size_t per_account_seen[16] = { 0 };
    size_t inst1_accounts_in_first_16 = 0;
    bool seen[16] = { false };
    for (size_t i = 0; i < n; i++) {
        size_t from = 0;
        while (from < 15 && memcmp(out[i].sender.bytes, e.f.addrs[from].bytes, ADDRESS_SIZE) != 0) {
            from++;
        }
        assert_memory_equal(out[i].sender.bytes, e.f.addrs[from].bytes, ADDRESS_SIZE);
        assert_int_equal(out[i].nonce, per_account_seen[from]);
        per_account_seen[from]++;
        if (i < 16 && out[i].institution == 1 && !seen[from]) {
            seen[from] = true;
            inst1_accounts_in_first_16++;
        }
    }
    assert_int_equal(inst1_accounts_in_first_16, 4); /* round-robin within the institution */
    /* the first 24 txs: 6 rounds over the 4 institutions */
    memset(per_inst, 0, sizeof per_inst);
    for (size_t i = 0; i < 24; i++) {
        per_inst[out[i].institution]++;
    }
    for (size_t i = 1; i <= 4; i++) {
        assert_int_equal(per_inst[i], 6);
    }
    buf_release(&tx);
    env_close(&e);
}

static void
test_nonce_order_and_exclude(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 8, NULL, 0);
    env_start(&e);
    struct buf tx;
    buf_init(&tx, TX_SIZE_MAX);
    struct hash h[4];
    make_tx(&e, 0, 2, 0, &tx);
    assert_int_equal(admit_one(&e, &tx, &h[2]), ERR_OK);
    make_tx(&e, 0, 0, 0, &tx);
    assert_int_equal(admit_one(&e, &tx, &h[0]), ERR_OK);
    struct mempool_tx_view out[8];
    /* nonce 1 missing: only 0 is proposable */
    assert_int_equal(pull(&e, NULL, 0, 8, out), 1);
    assert_true(hash_equal(&out[0].hash, &h[0]));
    make_tx(&e, 0, 1, 0, &tx);
    assert_int_equal(admit_one(&e, &tx, &h[1]), ERR_OK);
    uint64_t allocs = mem_alloc_count();
    assert_int_equal(pull(&e, NULL, 0, 8, out), 3);
    assert_int_equal(mem_alloc_count(), allocs); /* pull does not allocate */
    for (size_t i = 0; i < 3; i++) {
        assert_true(hash_equal(&out[i].hash, &h[i]));
    }
    /* 0 and 1 are in uncommitted ancestors: only 2 */
    assert_int_equal(pull(&e, h, 2, 8, out), 1);
    assert_true(hash_equal(&out[0].hash, &h[2]));
    /* 1 alone excluded leaves a gap after 0 taken: 0 then 2 */
    assert_int_equal(pull(&e, &h[1], 1, 8, out), 2);
    assert_true(hash_equal(&out[0].hash, &h[0]));
    assert_true(hash_equal(&out[1].hash, &h[2]));
    /* all excluded: nothing */
    assert_int_equal(pull(&e, h, 3, 8, out), 0);
    /* the byte limit: one tx fits */
    struct mempool_pull_req req = { .bytes_max = out[0].size, .txs_max = 8, .out = out };
    assert_int_equal(mempool_pull(e.mp, &req), 1);
    buf_release(&tx);
    env_close(&e);
}

/* Accounts 0..3 each admit nonces 0..2 (12 txs); tx is scratch. */
static void
admit_grid(struct env *e, struct buf *tx)
{
    for (size_t from = 0; from < 4; from++) {
        for (uint64_t nonce = 0; nonce < 3; nonce++) {
            make_tx(e, from, nonce, (uint32_t)(from * 10 + nonce), tx);
            assert_int_equal(admit_one(e, tx, NULL), ERR_OK);
        }
    }
}

/* Commit: included txs leave, a tx whose nonce another committed tx used leaves as stale,
 * others stay; the ledger then executes them with the right nonces. */
static void
test_commit(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 8, NULL, 0);
    env_start(&e);
    struct buf tx;
    buf_init(&tx, TX_SIZE_MAX);
    admit_grid(&e, &tx);
    struct mempool_tx_view out[16];
    size_t n = pull(&e, NULL, 0, 4, out);
    assert_int_equal(n, 4);
    struct mempool_raw raws[5] = { { 0 } };
    uint8_t *copies[5] = { 0 };
    for (size_t i = 0; i < n; i++) {
        copies[i] = mem_dup(out[i].data, out[i].size);
        raws[i] = (struct mempool_raw){ .data = copies[i], .size = out[i].size };
    }
    /* plus a tx from another node's mempool that uses account 0's nonce 1 */
    struct buf rival;
    buf_init(&rival, TX_SIZE_MAX);
    make_tx(&e, 0, 1, 99, &rival);
    raws[4] = (struct mempool_raw){ .data = rival.data, .size = rival.size };
    commit_block(&e, raws, 5);
    struct mempool_stats st;
    mempool_get_stats(e.mp, &st);
    assert_int_equal(st.committed, 4);
    assert_int_equal(st.stale, 1); /* account 0's own nonce-1 tx */
    assert_int_equal(st.txs, 12 - 4 - 1);
    for (size_t i = 0; i < 4; i++) {
        assert_false(mempool_contains(e.mp, &out[i].hash));
        mem_free(copies[i]);
    }
    /* the rest is proposable in nonce order and executes without nonce failures */
    n = pull(&e, NULL, 0, 16, out);
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++) {
        copies[0] = mem_dup(out[i].data, out[i].size);
        struct buf b = { .data = copies[0], .size = out[i].size };
        fixture_block_add(&block, &b);
        mem_free(copies[0]);
    }
    struct ledger_result *r = NULL;
    assert_int_equal(fixture_execute(&e.f, NULL, 2, &block, true, &r), ERR_OK);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(fixture_status(r, i), 0);
    }
    ledger_result_free(r);
    /* out of order height */
    assert_int_equal(mempool_commit(e.mp, 5, NULL, 0), ERR_INVALID_ARG);
    buf_release(&rival);
    buf_release(&tx);
    env_close(&e);
}

/* Commit with the txs' hashes given (the node passes the execution's): held txs leave without
 * hashing or decoding; a tx given with a wrong hash is not found by it, but its sender's nonce
 * moves on and it leaves as stale; a tx with no hash is hashed; an account whose last tx
 * leaves is released and takes new txs again. */
static void
test_commit_with_hashes(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 8, NULL, 0);
    env_start(&e);
    struct buf tx;
    buf_init(&tx, TX_SIZE_MAX);
    admit_grid(&e, &tx);
    make_tx(&e, 5, 0, 50, &tx); /* account 5's only tx */
    assert_int_equal(admit_one(&e, &tx, NULL), ERR_OK);
    struct mempool_tx_view out[16];
    size_t n = pull(&e, NULL, 0, 16, out);
    assert_true(n >= 5);
    struct mempool_raw raws[6] = { { 0 } };
    uint8_t *copies[6] = { 0 };
    struct hash hashes[6];
    memset(hashes, 0, sizeof hashes);
    size_t used = 0;
    size_t lone = n;
    for (size_t i = 0; i < n; i++) { /* the first tx of accounts 0..3 (pulled first) */
        if (out[i].size == tx.size && memcmp(out[i].data, tx.data, tx.size) == 0) {
            lone = i;
            continue;
        }
        if (used == 4) {
            continue;
        }
        copies[used] = mem_dup(out[i].data, out[i].size);
        hashes[used] = out[i].hash;
        raws[used] = (struct mempool_raw){ .data = copies[used],
                                           .size = out[i].size,
                                           .hash = &hashes[used] };
        used++;
    }
    assert_int_equal(used, 4);
    assert_true(lone < n);
    struct hash wrong_of = hashes[3];
    memset(&hashes[3], 0x5a, sizeof hashes[3]); /* the 4th given with a wrong hash */
    copies[4] = mem_dup(tx.data, tx.size);      /* account 5's, found by its hash */
    hashes[4] = out[lone].hash;
    raws[4] = (struct mempool_raw){ .data = copies[4], .size = tx.size, .hash = &hashes[4] };
    struct buf rival; /* another node's tx for account 0's nonce 1, no hash given */
    buf_init(&rival, TX_SIZE_MAX);
    make_tx(&e, 0, 1, 99, &rival);
    raws[5] = (struct mempool_raw){ .data = rival.data, .size = rival.size };
    commit_block(&e, raws, 6);
    struct mempool_stats st;
    mempool_get_stats(e.mp, &st);
    assert_int_equal(st.committed, 4); /* three by hash and account 5's */
    assert_int_equal(st.stale, 2);     /* the wrong-hash tx and account 0's own nonce 1 */
    assert_int_equal(st.txs, 13 - 4 - 2);
    assert_false(mempool_contains(e.mp, &wrong_of));
    for (size_t i = 0; i < 5; i++) {
        assert_false(mempool_contains(e.mp, raws[i].hash));
        mem_free(copies[i]);
    }
    /* account 5 was released with its last tx and takes its next nonce */
    make_tx(&e, 5, 1, 51, &tx);
    assert_int_equal(admit_one(&e, &tx, NULL), ERR_OK);
    buf_release(&rival);
    buf_release(&tx);
    env_close(&e);
}

/* The node's ledger thread commits before the loop calls mempool_commit: an admission that
 * reads the newer nonce drops the account's committed txs at once, so they do not hold the
 * account's pending limit, and the late mempool_commit finds them gone. */
static void
test_ledger_ahead_of_commit(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 4, NULL, 0);
    e.config.account_txs_max = 4;
    env_start(&e);
    struct buf tx;
    buf_init(&tx, TX_SIZE_MAX);
    struct mempool_raw raws[4];
    uint8_t *copies[4];
    for (uint64_t nonce = 0; nonce < 4; nonce++) {
        make_tx(&e, 0, nonce, (uint32_t)nonce, &tx);
        assert_int_equal(admit_one(&e, &tx, NULL), ERR_OK);
        copies[nonce] = mem_dup(tx.data, tx.size);
        raws[nonce] = (struct mempool_raw){ .data = copies[nonce], .size = tx.size };
    }
    make_tx(&e, 0, 4, 4, &tx);
    assert_int_equal(admit_one(&e, &tx, NULL), ERR_LIMIT); /* 4 pending: the limit */
    /* the ledger commits the 4 txs; the mempool is not told yet */
    fixture_block_clear(&block);
    struct buf b;
    buf_init(&b, TX_SIZE_MAX);
    for (size_t i = 0; i < 4; i++) {
        buf_reset(&b);
        assert_int_equal(buf_append(&b, raws[i].data, raws[i].size), ERR_OK);
        fixture_block_add(&block, &b);
    }
    buf_release(&b);
    struct ledger_result *r = NULL;
    assert_int_equal(fixture_execute(&e.f, NULL, 1, &block, false, &r), ERR_OK);
    assert_int_equal(fixture_commit(&e.f, r), ERR_OK);
    ledger_result_free(r);
    fixture_block_clear(&block);
    assert_int_equal(admit_one(&e, &tx, NULL), ERR_OK); /* nonce 4 now fits */
    struct mempool_stats st;
    mempool_get_stats(e.mp, &st);
    assert_int_equal(st.txs, 1);
    assert_int_equal(st.stale, 4);
    assert_int_equal(mempool_commit(e.mp, 1, raws, 4), ERR_OK); /* late: nothing left of it */
    mempool_get_stats(e.mp, &st);
    assert_int_equal(st.txs, 1);
    for (size_t i = 0; i < 4; i++) {
        mem_free(copies[i]);
    }
    buf_release(&tx);
    env_close(&e);
}

static void
test_expiry(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 8, NULL, 0);
    env_start(&e);
    struct buf tx;
    buf_init(&tx, TX_SIZE_MAX);
    struct hash h[4];
    for (size_t i = 0; i < 4; i++) { /* expiries 1, 2, 3, 4 */
        make_tx_spec(
            &e, &(struct txspec){ &e.f.addrs[i], e.f.keys[i], &e.config.chain_id, 0, i + 1, 32, 0 },
            &tx);
        assert_int_equal(admit_one(&e, &tx, &h[i]), ERR_OK);
    }
    assert_int_equal(mempool_commit(e.mp, 1, NULL, 0), ERR_OK);
    assert_false(mempool_contains(e.mp, &h[0])); /* cannot run at height 2 */
    assert_true(mempool_contains(e.mp, &h[1]));
    assert_int_equal(mempool_commit(e.mp, 2, NULL, 0), ERR_OK);
    assert_int_equal(mempool_commit(e.mp, 3, NULL, 0), ERR_OK);
    assert_false(mempool_contains(e.mp, &h[1]));
    assert_false(mempool_contains(e.mp, &h[2]));
    assert_true(mempool_contains(e.mp, &h[3]));
    struct mempool_stats st;
    mempool_get_stats(e.mp, &st);
    assert_int_equal(st.expired, 3);
    /* a tx expiring at 3 is now refused */
    make_tx_spec(
        &e, &(struct txspec){ &e.f.addrs[5], e.f.keys[5], &e.config.chain_id, 0, 3, 32, 0 }, &tx);
    assert_int_equal(admit_one(&e, &tx, NULL), ERR_EXPIRED);
    buf_release(&tx);
    env_close(&e);
}

/* Node A proposes a block from its mempool; node B (its own mempool on the same chain) saw
 * none of the txs; the block is abandoned, B readmits its txs: pending, not gossiped, and
 * their signatures are cache hits (shared cache, as in the simulator). */
static void
test_fork_readmit(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 8, NULL, 0);
    env_start(&e);
    struct mempool *b = NULL;
    assert_int_equal(mempool_new(&e.config, &b), ERR_OK);
    struct buf tx;
    buf_init(&tx, TX_SIZE_MAX);
    for (size_t from = 0; from < 4; from++) {
        make_tx(&e, from, 0, 0, &tx);
        assert_int_equal(admit_one(&e, &tx, NULL), ERR_OK);
    }
    struct mempool_tx_view out[8];
    size_t n = pull(&e, NULL, 0, 8, out);
    assert_int_equal(n, 4);
    struct mempool_raw raws[4];
    uint8_t *copies[4];
    for (size_t i = 0; i < n; i++) {
        copies[i] = mem_dup(out[i].data, out[i].size);
        raws[i] = (struct mempool_raw){ .data = copies[i], .size = out[i].size };
    }
    struct verify_pool_stats before;
    verify_pool_get_stats(e.pool, &before);
    size_t gossiped = e.gossiped;
    /* meanwhile account 0's nonce 0 was used by another final block */
    struct buf rival;
    buf_init(&rival, TX_SIZE_MAX);
    make_tx(&e, 0, 0, 7, &rival);
    struct mempool_raw rival_raw = { .data = rival.data, .size = rival.size };
    commit_block(&e, &rival_raw, 1);
    assert_int_equal(mempool_commit(b, 1, &rival_raw, 1), ERR_OK);
    struct mempool_result res[4];
    mempool_readmit(b, raws, 4, res);
    size_t ok = 0;
    for (size_t i = 0; i < 4; i++) {
        bool from0 = memcmp(out[i].sender.bytes, e.f.addrs[0].bytes, ADDRESS_SIZE) == 0;
        assert_int_equal(res[i].rc, from0 ? ERR_STALE_NONCE : ERR_OK);
        if (res[i].rc == ERR_OK) {
            ok++;
        }
        assert_true(mempool_contains(b, &res[i].hash) == !from0);
    }
    assert_int_equal(ok, 3);
    assert_int_equal(e.gossiped, gossiped); /* readmission is not gossiped */
    struct verify_pool_stats after;
    verify_pool_get_stats(e.pool, &after);
    assert_int_equal(after.verified, before.verified);
    assert_int_equal(after.cache_hits - before.cache_hits, 3);
    /* A still holds them: readmission there changes nothing */
    mempool_readmit(e.mp, raws, 4, res);
    for (size_t i = 0; i < 4; i++) {
        bool from0 = memcmp(out[i].sender.bytes, e.f.addrs[0].bytes, ADDRESS_SIZE) == 0;
        assert_int_equal(res[i].rc, from0 ? ERR_STALE_NONCE : ERR_EXISTS);
        mem_free(copies[i]);
    }
    mempool_free(b);
    buf_release(&rival);
    buf_release(&tx);
    env_close(&e);
}

/* Verified once: block validation of pending txs verifies nothing; of txs that left the
 * mempool, hits the cache; a tampered tx still fails. */
static void
test_verified_once(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 64, NULL, 2);
    env_start(&e);
    enum { N = 48 };
    struct buf tx;
    buf_init(&tx, TX_SIZE_MAX);
    uint8_t *copies[N + 1];
    struct mempool_raw raws[N + 1];
    for (size_t i = 0; i < N; i++) {
        make_tx(&e, i, 0, (uint32_t)i, &tx);
        copies[i] = mem_dup(tx.data, tx.size);
        raws[i] = (struct mempool_raw){ .data = copies[i], .size = tx.size };
    }
    struct mempool_result res[N];
    mempool_admit(e.mp, raws, N, res);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(res[i].rc, ERR_OK);
    }
    struct verify_pool_stats ps0;
    struct verify_cache_stats cs0;
    verify_pool_get_stats(e.pool, &ps0);
    verify_cache_get_stats(e.cache, &cs0);
    assert_int_equal(ps0.verified, N);
    /* block validation while pending: answered from the mempool */
    enum err results[N + 1];
    mempool_verify_txs(e.mp, raws, N, results, NULL);
    struct mempool_stats st;
    mempool_get_stats(e.mp, &st);
    assert_int_equal(st.verify_skipped, N);
    struct verify_pool_stats ps1;
    verify_pool_get_stats(e.pool, &ps1);
    assert_int_equal(ps1.verified, ps0.verified);
    /* committed elsewhere, then validated again (e.g. another fork): cache hits */
    commit_block(&e, raws, N);
    mempool_get_stats(e.mp, &st);
    assert_int_equal(st.txs, 0);
    copies[N] = mem_dup(copies[0], raws[0].size);
    copies[N][raws[0].size - 1] ^= 1; /* tampered signature */
    raws[N] = (struct mempool_raw){ .data = copies[N], .size = raws[0].size };
    struct hash hashes[N + 1];
    mempool_verify_txs(e.mp, raws, N + 1, results, hashes);
    for (size_t i = 0; i <= N; i++) { /* the hashes out are the txs' hashes, any answer */
        struct hash want;
        tx_hash(e.config.hash_alg, raws[i].data, raws[i].size, &want);
        assert_true(hash_equal(&hashes[i], &want));
    }
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(results[i], ERR_OK);
    }
    assert_int_equal(results[N], ERR_BAD_SIGNATURE);
    struct verify_pool_stats ps2;
    struct verify_cache_stats cs2;
    verify_pool_get_stats(e.pool, &ps2);
    verify_cache_get_stats(e.cache, &cs2);
    assert_int_equal(ps2.cache_hits - ps1.cache_hits, N);
    assert_int_equal(ps2.verified - ps1.verified, 1); /* only the tampered one */
    assert_true(cs2.hits - cs0.hits >= N);
    for (size_t i = 0; i <= N; i++) {
        mem_free(copies[i]);
    }
    buf_release(&tx);
    env_close(&e);
}

/* CPU seconds of the process (all threads): a bound that the neighbours' load on a shared
 * machine does not break. */
static double
cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The stress run does not execute its blocks on the ledger (that is bench_ledger's job): its
 * lookup answers keys from the ledger and nonces from what the run committed. */
static uint64_t stress_nonces[2000];
static uint32_t stress_slots[8192]; /* account index + 1 by the address's first bytes */

static void
stress_map_build(const struct env *e)
{
    memset(stress_slots, 0, sizeof stress_slots);
    for (size_t i = 0; i < e->f.account_count; i++) {
        size_t s = load_u32(e->f.addrs[i].bytes) % 8192;
        while (stress_slots[s] != 0) {
            s = (s + 1) % 8192;
        }
        stress_slots[s] = (uint32_t)(i + 1);
    }
}

static size_t
stress_account(const struct env *e, const struct address *a)
{
    size_t s = load_u32(a->bytes) % 8192;
    while (stress_slots[s] != 0) {
        size_t i = stress_slots[s] - 1;
        if (memcmp(e->f.addrs[i].bytes, a->bytes, ADDRESS_SIZE) == 0) {
            return i;
        }
        s = (s + 1) % 8192;
    }
    fail();
    return 0;
}

static enum err
stress_sender(void *ctx, const struct address *sender, const struct public_key *key,
              struct mempool_sender *out)
{
    struct env *e = ctx;
    struct mempool_sender s;
    enum err rc = mempool_ledger_sender(e->f.ledger, sender, key, &s);
    if (rc != ERR_OK) {
        return rc;
    }
    s.nonce = stress_nonces[stress_account(e, sender)];
    *out = s;
    return ERR_OK;
}

/* 100,000 signed txs from 2,000 accounts (50 nonces each) through admission, pull and commit,
 * within a bound of CPU time (Ed25519 verification alone is ~5 CPU s of it). */
static void
test_stress(void **state)
{
    (void)state;
    enum { ACCOUNTS = 2000, PER = 50, TOTAL = ACCOUNTS * PER, BLOCK = 10000 };
    struct env e;
    env_open(&e, ACCOUNTS, NULL, 1);
    e.config.txs_max = TOTAL;
    e.config.institution_share = 100;
    e.config.bytes_max = 64u << 20;
    e.config.sender_fn = stress_sender;
    e.config.sender_ctx = &e;
    memset(stress_nonces, 0, sizeof stress_nonces);
    stress_map_build(&e);
    env_start(&e);
    double t0 = cpu_s();
    uint8_t **copies = mem_calloc(TOTAL, sizeof *copies);
    struct mempool_raw *raws = mem_calloc(TOTAL, sizeof *raws);
    struct buf tx;
    buf_init(&tx, TX_SIZE_MAX);
    for (size_t i = 0; i < TOTAL; i++) {
        size_t from = i % ACCOUNTS;
        uint64_t nonce = i / ACCOUNTS;
        make_tx(&e, from, nonce, (uint32_t)i, &tx);
        copies[i] = mem_dup(tx.data, tx.size);
        raws[i] = (struct mempool_raw){ .data = copies[i], .size = tx.size };
    }
    double t1 = cpu_s();
    struct mempool_result *res = mem_calloc(TOTAL, sizeof *res);
    for (size_t off = 0; off < TOTAL; off += 1000) { /* TOTAL is a multiple of 1,000 */
        mempool_admit(e.mp, raws + off, 1000, res + off);
    }
    for (size_t k = 0; k < TOTAL; k++) {
        assert_int_equal(res[k].rc, ERR_OK);
    }
    double t2 = cpu_s();
    struct mempool_stats st;
    mempool_get_stats(e.mp, &st);
    assert_int_equal(st.txs, TOTAL);
    /* one more is refused */
    make_tx(&e, 0, PER, 1, &tx);
    assert_int_equal(admit_one(&e, &tx, NULL), ERR_FULL);
    struct mempool_tx_view *out = mem_calloc(BLOCK, sizeof *out);
    struct mempool_raw *block_raws = mem_calloc(BLOCK, sizeof *block_raws);
    uint64_t height = 0;
    size_t pulled = 0;
    while (st.txs > 0) {
        struct mempool_pull_req req = { .bytes_max = 16u << 20, .txs_max = BLOCK, .out = out };
        size_t n = mempool_pull(e.mp, &req);
        assert_true(n > 0);
        for (size_t k = 0; k < n; k++) {
            block_raws[k] = (struct mempool_raw){ .data = out[k].data, .size = out[k].size };
            size_t a = stress_account(&e, &out[k].sender);
            assert_int_equal(out[k].nonce, stress_nonces[a]);
            stress_nonces[a]++;
        }
        /* the views borrow the mempool until commit; mempool_commit reads them first */
        assert_int_equal(mempool_commit(e.mp, ++height, block_raws, n), ERR_OK);
        pulled += n;
        mempool_get_stats(e.mp, &st);
    }
    double t3 = cpu_s();
    assert_int_equal(pulled, TOTAL);
    print_message("stress (CPU s): sign %.2f, admit %.2f (%.0f tx/s), pull+commit %.2f\n", t1 - t0,
                  t2 - t1, TOTAL / (t2 - t1), t3 - t2);
    assert_true(t3 - t1 < 60.0);
    for (size_t i = 0; i < TOTAL; i++) {
        mem_free(copies[i]);
    }
    mem_free(copies);
    mem_free(raws);
    mem_free(res);
    mem_free(out);
    mem_free(block_raws);
    buf_release(&tx);
    env_close(&e);
}

/* ---- Randomised run against a model ---------------------------------------------------- */

struct model_tx {
    bool live;
    struct hash hash;
    size_t account;
    uint64_t nonce;
    uint64_t expiry;
};

struct model {
    struct model_tx txs[256];
    uint64_t height;
    uint64_t state;
};

static uint64_t
model_rand(struct model *m)
{
    m->state ^= m->state << 13; /* xorshift64: deterministic, seeded by the test */
    m->state ^= m->state >> 7;
    m->state ^= m->state << 17;
    return m->state;
}

static struct model_tx *
model_find(struct model *m, size_t account, uint64_t nonce)
{
    for (size_t i = 0; i < 256; i++) {
        if (m->txs[i].live && m->txs[i].account == account && m->txs[i].nonce == nonce) {
            return &m->txs[i];
        }
    }
    return NULL;
}

static void
model_check(struct env *e, struct model *m)
{
    assert_true(mempool_invariants_hold(e->mp));
    size_t live = 0;
    for (size_t i = 0; i < 256; i++) {
        if (m->txs[i].live) {
            live++;
            assert_true(mempool_contains(e->mp, &m->txs[i].hash));
        }
    }
    struct mempool_stats st;
    mempool_get_stats(e->mp, &st);
    assert_int_equal(st.txs, live);
}

static void
model_admit(struct env *e, struct model *m, struct buf *tx, uint32_t salt)
{
    size_t a = (size_t)(model_rand(m) % e->f.account_count);
    uint64_t nonce = stress_nonces[a] + model_rand(m) % 10;
    uint64_t expiry = m->height + model_rand(m) % 64;
    make_tx_spec(e,
                 &(struct txspec){ &e->f.addrs[a], e->f.keys[a], &e->config.chain_id, nonce, expiry,
                                   16, salt },
                 tx);
    struct hash h;
    enum err rc = admit_one(e, tx, &h);
    struct model_tx *same = model_find(m, a, nonce);
    if (expiry <= m->height) {
        assert_int_equal(rc, ERR_EXPIRED);
    } else if (nonce - stress_nonces[a] >= e->config.nonce_window) {
        assert_int_equal(rc, ERR_LIMIT);
    } else if (same != NULL) {
        assert_int_equal(rc, ERR_EXISTS);
    } else if (rc == ERR_OK) {
        for (size_t i = 0; i < 256; i++) {
            if (!m->txs[i].live) {
                m->txs[i] = (struct model_tx){ true, h, a, nonce, expiry };
                return;
            }
        }
        fail();
    } else {
        assert_true(rc == ERR_FULL || rc == ERR_LIMIT);
    }
}

/* Pulls, checks the order, and commits up to `take` of the pulled txs (a prefix, as a block
 * holds them in order), sometimes with a rival tx from outside. */
static void
model_commit(struct env *e, struct model *m, struct buf *rival, uint32_t salt)
{
    struct mempool_tx_view out[64];
    size_t n = pull(e, NULL, 0, 64, out);
    size_t take = n == 0 ? 0 : (size_t)(model_rand(m) % (n + 1));
    struct mempool_raw raws[65];
    for (size_t k = 0; k < take; k++) {
        size_t a = stress_account(e, &out[k].sender);
        assert_int_equal(out[k].nonce, stress_nonces[a]); /* contiguous, in nonce order */
        stress_nonces[a]++;
        raws[k] = (struct mempool_raw){ .data = out[k].data, .size = out[k].size };
        struct model_tx *mt = model_find(m, a, out[k].nonce);
        if (mt == NULL) {
            fail_msg("pulled a tx the model does not hold");
            return;
        }
        mt->live = false;
    }
    if (model_rand(m) % 2 == 0) { /* mostly an account with pending txs */
        size_t a = (size_t)(model_rand(m) % e->f.account_count);
        size_t from = (size_t)(model_rand(m) % 256);
        for (size_t i = 0; i < 256; i++) {
            if (m->txs[(from + i) % 256].live) {
                a = m->txs[(from + i) % 256].account;
                break;
            }
        }
        make_tx_spec(e,
                     &(struct txspec){ &e->f.addrs[a], e->f.keys[a], &e->config.chain_id,
                                       stress_nonces[a], m->height + 50, 16, salt },
                     rival);
        stress_nonces[a]++;
        raws[take++] = (struct mempool_raw){ .data = rival->data, .size = rival->size };
    }
    m->height++;
    assert_int_equal(mempool_commit(e->mp, m->height, raws, take), ERR_OK);
    for (size_t i = 0; i < 256; i++) {
        struct model_tx *mt = &m->txs[i];
        if (mt->live && (mt->nonce < stress_nonces[mt->account] || mt->expiry <= m->height)) {
            mt->live = false;
        }
    }
}

/* txs_max 40 (an index of 128 slots) and 7 (16 slots: probe runs wrap around the end). */
static void
random_model_run(size_t txs_max, uint64_t seed)
{
    struct env e;
    env_open(&e, 16, NULL, 0);
    e.config.txs_max = txs_max;
    e.config.account_txs_max = 6;
    e.config.nonce_window = 8;
    e.config.institution_share = 50;
    e.config.sender_fn = stress_sender;
    e.config.sender_ctx = &e;
    memset(stress_nonces, 0, sizeof stress_nonces);
    stress_map_build(&e);
    env_start(&e);
    struct model *m = mem_calloc(1, sizeof *m);
    m->state = seed;
    struct buf tx;
    struct buf rival;
    buf_init(&tx, TX_SIZE_MAX);
    buf_init(&rival, TX_SIZE_MAX);
    for (uint32_t step = 0; step < 3000; step++) {
        uint64_t op = model_rand(m) % 10;
        if (op < 8) {
            model_admit(&e, m, &tx, step);
        } else {
            model_commit(&e, m, &rival, step);
        }
        model_check(&e, m);
    }
    struct mempool_stats st;
    mempool_get_stats(e.mp, &st);
    print_message("random: admitted %lu, committed %lu, stale %lu, expired %lu, full %lu\n",
                  (unsigned long)st.admitted, (unsigned long)st.committed, (unsigned long)st.stale,
                  (unsigned long)st.expired, (unsigned long)st.rejected_full);
    assert_true(st.committed > 50 && st.stale > 10 && st.expired > 10 && st.rejected_full > 0);
    mem_free(m);
    buf_release(&tx);
    buf_release(&rival);
    env_close(&e);
}

static void
test_random_model(void **state)
{
    (void)state;
    random_model_run(40, 0x9e3779b97f4a7c15ull);
    random_model_run(7, 0x2545f4914f6cdd1dull);
}

static void
test_config(void **state)
{
    (void)state;
    struct mempool_config c;
    mempool_config_default(&c);
    struct mempool *mp = NULL;
    assert_int_equal(mempool_new(&c, &mp), ERR_INVALID_ARG); /* no pool, no lookup */
    assert_null(mp);
    mempool_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),       cmocka_unit_test(test_admit_errors),
        cmocka_unit_test(test_duplicates),   cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_fairness),     cmocka_unit_test(test_nonce_order_and_exclude),
        cmocka_unit_test(test_commit),       cmocka_unit_test(test_commit_with_hashes),
        cmocka_unit_test(test_expiry),       cmocka_unit_test(test_ledger_ahead_of_commit),
        cmocka_unit_test(test_fork_readmit), cmocka_unit_test(test_verified_once),
        cmocka_unit_test(test_random_model), cmocka_unit_test(test_stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
