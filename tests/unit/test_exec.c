/* Unit and property tests of the execution engine (ledger/ledger.h) on a real LMDB state
 * store and block store: genesis, receipts, atomicity, nonces and expiry, invalid blocks,
 * resource limits, forks, re-execution determinism, proofs, persistence across restarts. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "codec/state_proof.h"
#include "crypto/merkle.h"
#include "ledger_fixture.h"
#include "unit.h"

static struct fixture_block block;

/* Args of test.set(key, value) into out. */
static void
set_args(const char *key, const char *value, struct buf *out)
{
    buf_reset(out);
    assert_int_equal(test_module_set_args((const uint8_t *)key, strlen(key), (const uint8_t *)value,
                                          strlen(value), out),
                     ERR_OK);
}

static void
add_set_tx(struct fixture *f, size_t from, uint64_t nonce, const char *key, const char *value)
{
    struct buf args;
    struct buf tx;
    buf_init(&args, 4096);
    buf_init(&tx, TX_SIZE_MAX);
    set_args(key, value, &args);
    struct fixture_op op = { "test", "set", args.data, args.size };
    fixture_tx(f, from, nonce, &op, 1, &tx);
    fixture_block_add(&block, &tx);
    buf_release(&args);
    buf_release(&tx);
}

/* Value of test/<key> at r (NULL: committed), or "" if absent. */
static void
expect_state(struct fixture *f, const struct ledger_result *r, const char *key,
             const char *expected)
{
    struct buf out;
    buf_init(&out, 4096);
    enum err rc = ledger_query(f->ledger, r, "test.get", (const uint8_t *)key, strlen(key), &out);
    if (expected == NULL) {
        assert_int_equal(rc, ERR_NOT_FOUND);
    } else {
        assert_int_equal(rc, ERR_OK);
        assert_int_equal(out.size, strlen(expected));
        assert_memory_equal(out.data, expected, out.size);
    }
    buf_release(&out);
}

static uint64_t
nonce_of(struct fixture *f, const struct ledger_result *r, size_t account)
{
    struct buf out;
    buf_init(&out, ACCOUNT_VALUE_SIZE_MAX);
    assert_int_equal(
        ledger_query(f->ledger, r, "account.get", f->addrs[account].bytes, ADDRESS_SIZE, &out),
        ERR_OK);
    struct account a;
    assert_int_equal(account_decode(out.data, out.size, &f->addrs[account], &a), ERR_OK);
    buf_release(&out);
    struct account b;
    memset(&b, 0, sizeof b);
    assert_int_equal(ledger_account(f->ledger, r, &f->addrs[account], &b), ERR_OK);
    assert_int_equal(b.nonce, a.nonce);
    assert_int_equal(b.key_count, a.key_count);
    return a.nonce;
}

static void
test_genesis(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, 8, SIG_ED25519, NULL);
    assert_true(ledger_has_genesis(f.ledger));
    assert_int_equal(ledger_committed_height(f.ledger), 0);
    struct hash id;
    assert_int_equal(genesis_hash(&f.genesis, &id), ERR_OK);
    assert_true(hash_equal(&id, ledger_chain_id(f.ledger)));
    expect_state(&f, NULL, "gen0", "ok");
    assert_int_equal(nonce_of(&f, NULL, 5), 0);
    struct buf out;
    buf_init(&out, VS_ENCODED_SIZE_MAX);
    assert_int_equal(ledger_query(f.ledger, NULL, "system.vs", NULL, 0, &out), ERR_OK);
    struct validator_set *vs = mem_alloc(sizeof *vs);
    assert_int_equal(validator_set_decode(out.data, out.size, vs), ERR_OK);
    assert_int_equal(vs->epoch, GENESIS_EPOCH);
    assert_int_equal(vs->count, 4);
    mem_free(vs);
    assert_int_equal(ledger_query(f.ledger, NULL, "nosuch.get", NULL, 0, &out), ERR_NOT_FOUND);
    assert_int_equal(ledger_query(f.ledger, NULL, "test.nosuch", NULL, 0, &out), ERR_NOT_FOUND);
    buf_release(&out);
    /* The genesis block is in the block store: its bytes are the genesis encoding. */
    struct buf g;
    struct buf blk;
    struct buf cert;
    buf_init(&g, GENESIS_ENCODED_SIZE_MAX);
    buf_init(&blk, GENESIS_ENCODED_SIZE_MAX);
    buf_init(&cert, 1024);
    assert_int_equal(genesis_encode(&f.genesis, &g), ERR_OK);
    assert_int_equal(ledger_read_block(f.ledger, 0, &blk, &cert), ERR_OK);
    assert_int_equal(blk.size, g.size);
    assert_memory_equal(blk.data, g.data, g.size);
    assert_int_equal(cert.size, 0);
    buf_release(&g);
    buf_release(&blk);
    buf_release(&cert);
    fixture_close(&f);
}

static void
test_block_receipts_and_nonces(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, 8, SIG_ED25519, NULL);
    add_set_tx(&f, 3, 0, "a", "1");
    add_set_tx(&f, 3, 1, "b", "2");
    add_set_tx(&f, 3, 1, "c", "3"); /* stale nonce: receipt, nothing written */
    add_set_tx(&f, 4, 5, "d", "4"); /* nonce ahead */
    add_set_tx(&f, 5, 0, "a", "5"); /* overwrites a */
    struct ledger_result *r = NULL;
    assert_int_equal(fixture_execute(&f, NULL, 1, &block, false, &r), ERR_OK);
    const struct ledger_outcome *o = ledger_result_outcome(r);
    assert_int_equal(o->height, 1);
    assert_int_equal(o->tx_count, 5);
    assert_int_equal(fixture_status(r, 0), 0);
    assert_int_equal(fixture_status(r, 1), 0);
    assert_int_equal(fixture_status(r, 2), receipt_status_of(ERR_STALE_NONCE));
    assert_int_equal(fixture_status(r, 3), receipt_status_of(ERR_AGAIN));
    assert_int_equal(fixture_status(r, 4), 0);
    assert_true(hash_is_zero(&o->next_epoch_vs_hash));
    assert_null(o->next_vs);
    /* Speculative state is visible through the result, not yet committed. */
    expect_state(&f, r, "a", "5");
    expect_state(&f, r, "c", NULL);
    expect_state(&f, NULL, "a", NULL);
    assert_int_equal(nonce_of(&f, r, 3), 2);
    assert_int_equal(nonce_of(&f, r, 4), 0);
    assert_int_equal(fixture_commit(&f, r), ERR_OK);
    expect_state(&f, NULL, "a", "5");
    expect_state(&f, NULL, "b", "2");
    assert_int_equal(nonce_of(&f, NULL, 5), 1);
    /* Receipts and tx index are persisted. */
    uint64_t height;
    uint32_t index;
    assert_int_equal(ledger_find_tx(f.ledger, &o->tx_hashes[4], &height, &index), ERR_OK);
    assert_int_equal(height, 1);
    assert_int_equal(index, 4);
    struct buf rec;
    buf_init(&rec, RECEIPT_SIZE_MAX);
    assert_int_equal(ledger_get_receipt(f.ledger, 1, 2, &rec), ERR_OK);
    assert_int_equal(rec.size, o->receipts[2].size);
    assert_memory_equal(rec.data, o->receipts[2].data, rec.size);
    struct receipt decoded;
    assert_int_equal(receipt_decode(rec.data, rec.size, &decoded), ERR_OK);
    assert_true(hash_equal(&decoded.tx_hash, &o->tx_hashes[2]));
    assert_int_equal(decoded.resource_used, 0);
    buf_release(&rec);
    ledger_result_free(r);
    fixture_block_clear(&block);
    fixture_close(&f);
}

/* All ops of a tx apply or none; a failed tx still takes its nonce. */
static void
test_atomic_tx(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, 8, SIG_ED25519, NULL);
    struct buf args;
    struct buf tx;
    buf_init(&args, 4096);
    buf_init(&tx, TX_SIZE_MAX);
    set_args("y", "1", &args);
    uint8_t kind[] = { 4, 'p', 'i', 'n', 'g' };
    struct fixture_op ops[3] = { { "test", "set", args.data, args.size },
                                 { "test", "emit", kind, sizeof kind },
                                 { "test", "fail", NULL, 0 } };
    fixture_tx(&f, 3, 0, ops, 3, &tx);
    fixture_block_add(&block, &tx);
    set_args("x", "1", &args);
    ops[0] = (struct fixture_op){ "test", "set", args.data, args.size };
    fixture_tx(&f, 3, 1, ops, 2, &tx); /* without the failing op */
    fixture_block_add(&block, &tx);
    struct fixture_op unknown = { "test", "nosuch", NULL, 0 };
    fixture_tx(&f, 3, 2, &unknown, 1, &tx);
    fixture_block_add(&block, &tx);
    struct ledger_result *r = NULL;
    assert_int_equal(fixture_execute(&f, NULL, 1, &block, false, &r), ERR_OK);
    const struct ledger_outcome *o = ledger_result_outcome(r);
    struct receipt rec;
    assert_int_equal(receipt_decode(o->receipts[0].data, o->receipts[0].size, &rec), ERR_OK);
    assert_int_equal(rec.status, receipt_status_of(ERR_DENIED));
    assert_int_equal(rec.message_size, strlen("test.fail always fails"));
    assert_memory_equal(rec.message, "test.fail always fails", rec.message_size);
    assert_int_equal(rec.event_count, 0);
    assert_true(rec.resource_used > 0);
    assert_int_equal(receipt_decode(o->receipts[1].data, o->receipts[1].size, &rec), ERR_OK);
    assert_int_equal(rec.status, 0);
    assert_int_equal(rec.event_count, 1);
    struct reader rd;
    reader_init(&rd, rec.events, rec.events_size);
    struct event ev;
    assert_int_equal(event_decode(&rd, &ev), ERR_OK);
    assert_memory_equal(ev.module, "test", 4);
    assert_memory_equal(ev.kind, "ping", 4);
    assert_int_equal(ev.attr_count, 1);
    assert_int_equal(ev.attrs[0].value_size, HASH_SIZE);
    assert_memory_equal(ev.attrs[0].value, o->tx_hashes[1].bytes, HASH_SIZE);
    assert_int_equal(fixture_status(r, 2), receipt_status_of(ERR_NOT_FOUND));
    assert_int_equal(nonce_of(&f, r, 3), 3);
    expect_state(&f, r, "x", "1");
    expect_state(&f, r, "y", NULL);
    ledger_result_free(r);
    fixture_block_clear(&block);
    buf_release(&args);
    buf_release(&tx);
    fixture_close(&f);
}

/* Authentication failures are receipts that take no nonce. */
static void
test_auth_failures(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, 8, SIG_ED25519, NULL);
    struct buf args;
    struct buf tx;
    buf_init(&args, 4096);
    buf_init(&tx, TX_SIZE_MAX);
    set_args("k", "v", &args);
    struct fixture_op op = { "test", "set", args.data, args.size };
    fixture_tx_signed(&f, 3, NULL, 0, 0, &op, 1, &tx); /* expired at height 1 */
    fixture_block_add(&block, &tx);
    fixture_tx_signed(&f, 3, NULL, 0, 1 + 100000 + 1, &op, 1, &tx); /* too far ahead */
    fixture_block_add(&block, &tx);
    fixture_tx_signed(&f, 3, f.keys[4], 0, 10, &op, 1, &tx); /* key of another account */
    fixture_block_add(&block, &tx);
    fixture_tx_signed(&f, 3, NULL, 0, 1, &op, 1, &tx); /* expires exactly now: fine */
    fixture_block_add(&block, &tx);
    struct secret_key *stranger = fixture_key(SIG_ED25519, 99999);
    struct tx t;
    memset(&t, 0, sizeof t);
    t.type = TX_TYPE_V1;
    t.chain_id = *ledger_chain_id(f.ledger);
    memset(t.sender.bytes, 0x5a, ADDRESS_SIZE);
    t.expiry_height = 10;
    t.op_count = 1;
    t.ops[0] = (struct tx_op){ "test", 4, "set", 3, args.data, args.size };
    buf_reset(&tx);
    assert_int_equal(tx_sign(HASH_SHA256, &t, stranger, &tx), ERR_OK);
    fixture_block_add(&block, &tx);
    secret_key_free(stranger);
    struct ledger_result *r = NULL;
    assert_int_equal(fixture_execute(&f, NULL, 1, &block, false, &r), ERR_OK);
    assert_int_equal(fixture_status(r, 0), receipt_status_of(ERR_EXPIRED));
    assert_int_equal(fixture_status(r, 1), receipt_status_of(ERR_EXPIRED));
    assert_int_equal(fixture_status(r, 2), receipt_status_of(ERR_DENIED));
    assert_int_equal(fixture_status(r, 3), 0);
    assert_int_equal(fixture_status(r, 4), receipt_status_of(ERR_UNKNOWN_SENDER));
    assert_int_equal(nonce_of(&f, r, 3), 1);
    ledger_result_free(r);
    fixture_block_clear(&block);
    buf_release(&args);
    buf_release(&tx);
    fixture_close(&f);
}

/* Stateless faults make the whole block invalid (no result). */
static void
test_invalid_blocks(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, 8, SIG_ED25519, NULL);
    add_set_tx(&f, 3, 0, "a", "1");
    add_set_tx(&f, 4, 0, "b", "1");
    struct ledger_result *r = NULL;
    /* A flipped signature byte. */
    block.data[1][block.txs[1].size - 1] ^= 1;
    assert_int_equal(fixture_execute(&f, NULL, 1, &block, false, &r), ERR_BAD_SIGNATURE);
    /* The caller vouches for the signatures: not checked again (all, or that tx). */
    assert_int_equal(fixture_execute(&f, NULL, 1, &block, true, &r), ERR_OK);
    ledger_result_free(r);
    block.txs[1].signature_verified = true;
    assert_int_equal(fixture_execute(&f, NULL, 1, &block, false, &r), ERR_OK);
    ledger_result_free(r);
    block.txs[1].signature_verified = false;
    block.data[1][block.txs[1].size - 1] ^= 1;
    /* Malformed: one byte short. */
    block.txs[1].size--;
    assert_int_equal(fixture_execute(&f, NULL, 1, &block, false, &r), ERR_TRUNCATED);
    block.txs[1].size++;
    /* Another chain. */
    block.data[0][1] ^= 1;
    assert_int_equal(fixture_execute(&f, NULL, 1, &block, true, &r), ERR_WRONG_CHAIN);
    block.data[0][1] ^= 1;
    /* Wrong height. */
    assert_int_equal(fixture_execute(&f, NULL, 2, &block, false, &r), ERR_INVALID_ARG);
    struct tx t;
    struct hash h;
    assert_int_equal(ledger_check_tx(f.ledger, block.txs[0].data, block.txs[0].size, false, &t, &h),
                     ERR_OK);
    assert_int_equal(fixture_execute(&f, NULL, 1, &block, false, &r), ERR_OK);
    assert_true(hash_equal(&ledger_result_outcome(r)->tx_hashes[0], &h));
    struct hash computed_root = ledger_result_outcome(r)->payload_root;
    ledger_result_free(r);
    /* A tx hash the caller gives is taken as given (the node passes the mempool's). */
    struct hash given = h;
    block.txs[0].hash = &given;
    assert_int_equal(fixture_execute(&f, NULL, 1, &block, false, &r), ERR_OK);
    assert_true(hash_equal(&ledger_result_outcome(r)->payload_root, &computed_root));
    ledger_result_free(r);
    given.bytes[0] ^= 1;
    assert_int_equal(fixture_execute(&f, NULL, 1, &block, false, &r), ERR_OK);
    assert_true(hash_equal(&ledger_result_outcome(r)->tx_hashes[0], &given));
    assert_false(hash_equal(&ledger_result_outcome(r)->payload_root, &computed_root));
    ledger_result_free(r);
    block.txs[0].hash = NULL;
    fixture_block_clear(&block);
    fixture_close(&f);
}

static void
add_burn_tx(struct fixture *f, size_t from, uint64_t nonce, uint64_t units)
{
    uint8_t args[8];
    store_u64(args, units);
    struct fixture_op op = { "test", "burn", args, sizeof args };
    struct buf tx;
    buf_init(&tx, TX_SIZE_MAX);
    fixture_tx(f, from, nonce, &op, 1, &tx);
    fixture_block_add(&block, &tx);
    buf_release(&tx);
}

/* Per-tx, per-institution and per-block resource limits. */
static void
test_resource_limits(void **state)
{
    (void)state;
    struct chain_params p;
    chain_params_default(&p);
    p.tx_resource_max = 100000;
    p.institution_block_resource_max = 150000;
    p.block_resource_max = 245000;
    struct fixture f;
    fixture_open(&f, 8, SIG_ED25519, &p);
    add_burn_tx(&f, 3, 0, 200000); /* over the tx limit: fails, takes its nonce */
    add_burn_tx(&f, 3, 1, 10000);  /* institution 4: 100000 + ~11200 used */
    add_burn_tx(&f, 7, 0, 60000);  /* institution 4 again: over its quota mid-way */
    add_burn_tx(&f, 4, 0, 93000);  /* institution 1: leaves less than a tx's base cost */
    add_burn_tx(&f, 5, 0, 10000);  /* institution 2: the block budget is nearly gone */
    struct ledger_result *r = NULL;
    assert_int_equal(fixture_execute(&f, NULL, 1, &block, false, &r), ERR_OK);
    const struct ledger_outcome *o = ledger_result_outcome(r);
    struct receipt rec;
    assert_int_equal(receipt_decode(o->receipts[0].data, o->receipts[0].size, &rec), ERR_OK);
    assert_int_equal(rec.status, receipt_status_of(ERR_LIMIT));
    assert_int_equal(rec.resource_used, 100000);
    assert_int_equal(fixture_status(r, 1), 0);
    assert_int_equal(fixture_status(r, 2), receipt_status_of(ERR_LIMIT));
    assert_int_equal(fixture_status(r, 3), 0);
    assert_int_equal(fixture_status(r, 4), receipt_status_of(ERR_LIMIT));
    assert_true(o->resource_used <= p.block_resource_max);
    assert_int_equal(nonce_of(&f, r, 3), 2);
    assert_int_equal(nonce_of(&f, r, 7), 1);
    assert_int_equal(nonce_of(&f, r, 5), 0); /* no room at all: not executed, nonce kept */
    ledger_result_free(r);
    fixture_block_clear(&block);
    fixture_close(&f);
}

/* A deterministic pseudo-random block of sets, deletes, failing and stale txs. */
static void
random_block(struct fixture *f, uint64_t *seed, uint64_t *nonces, size_t tx_count)
{
    struct buf args;
    struct buf tx;
    buf_init(&args, 4096);
    buf_init(&tx, TX_SIZE_MAX);
    for (size_t i = 0; i < tx_count; i++) {
        *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t x = *seed >> 33;
        size_t from = 3 + (size_t)(x % 5);
        char key[16];
        char value[32];
        snprintf(key, sizeof key, "k%u", (unsigned)((x >> 8) % 50));
        snprintf(value, sizeof value, "v%llu", (unsigned long long)(x >> 4));
        set_args(key, value, &args);
        uint8_t del_args[17] = { (uint8_t)strlen(key) };
        memcpy(del_args + 1, key, strlen(key) + 1); /* the NUL is not sent */
        struct fixture_op ops[2] = { { "test", "set", args.data, args.size },
                                     { "test", "fail", NULL, 0 } };
        size_t op_count = (x >> 20) % 7 == 0 ? 2 : 1;
        if ((x >> 24) % 5 == 0) {
            ops[0] = (struct fixture_op){ "test", "del", del_args, 1 + strlen(key) };
        }
        uint64_t nonce = (x >> 28) % 11 == 0 ? nonces[from] + 3 : nonces[from];
        fixture_tx(f, from, nonce, ops, op_count, &tx);
        fixture_block_add(&block, &tx);
        nonces[from] += nonce == nonces[from] ? 1 : 0;
    }
    buf_release(&args);
    buf_release(&tx);
}

#define DET_BLOCKS 6
#define DET_TXS    40

/* Re-executing the same blocks from genesis gives the same roots: on a second store with
 * commits, and speculatively as a chain of uncommitted results on a third. */
static void
test_determinism(void **state)
{
    (void)state;
    struct fixture a;
    struct fixture b;
    struct fixture c;
    fixture_open(&a, 8, SIG_ED25519, NULL);
    fixture_open(&b, 8, SIG_ED25519, NULL);
    fixture_open(&c, 8, SIG_ED25519, NULL);
    assert_true(hash_equal(ledger_chain_id(a.ledger), ledger_chain_id(b.ledger)));
    uint64_t seed = 42;
    uint64_t nonces[8] = { 0 };
    struct ledger_result *spec[DET_BLOCKS] = { NULL };
    struct hash roots[DET_BLOCKS][3];
    for (uint64_t h = 1; h <= DET_BLOCKS; h++) {
        random_block(&a, &seed, nonces, DET_TXS);
        struct ledger_result *ra = NULL;
        struct ledger_result *rb = NULL;
        assert_int_equal(fixture_execute(&a, NULL, h, &block, false, &ra), ERR_OK);
        assert_int_equal(fixture_execute(&b, NULL, h, &block, false, &rb), ERR_OK);
        assert_int_equal(
            fixture_execute(&c, h > 1 ? spec[h - 2] : NULL, h, &block, false, &spec[h - 1]),
            ERR_OK);
        const struct ledger_outcome *oa = ledger_result_outcome(ra);
        const struct ledger_outcome *ob = ledger_result_outcome(rb);
        const struct ledger_outcome *oc = ledger_result_outcome(spec[h - 1]);
        assert_true(hash_equal(&oa->exec_root, &ob->exec_root));
        assert_true(hash_equal(&oa->receipts_root, &ob->receipts_root));
        assert_true(hash_equal(&oa->payload_root, &ob->payload_root));
        assert_true(hash_equal(&oa->exec_root, &oc->exec_root));
        assert_true(hash_equal(&oa->receipts_root, &oc->receipts_root));
        roots[h - 1][0] = oa->exec_root;
        roots[h - 1][1] = oa->receipts_root;
        roots[h - 1][2] = oa->payload_root;
        if (h > 1) {
            assert_false(hash_equal(&roots[h - 1][0], &roots[h - 2][0]));
        }
        assert_int_equal(fixture_commit(&a, ra), ERR_OK);
        assert_int_equal(fixture_commit(&b, rb), ERR_OK);
        ledger_result_free(ra);
        ledger_result_free(rb);
        fixture_block_clear(&block);
    }
    /* Commit the speculative chain on c in order; the committed root matches. */
    for (size_t i = 0; i < DET_BLOCKS; i++) {
        assert_int_equal(fixture_commit(&c, spec[i]), ERR_OK);
    }
    for (size_t i = DET_BLOCKS; i > 0; i--) {
        ledger_result_free(spec[i - 1]);
    }
    struct hash ra;
    struct hash rc;
    state_store_root(a.state, &ra);
    state_store_root(c.state, &rc);
    assert_true(hash_equal(&ra, &roots[DET_BLOCKS - 1][0]));
    assert_true(hash_equal(&ra, &rc));
    fixture_close(&a);
    fixture_close(&b);
    fixture_close(&c);
}

/* Two forks on one parent: committing one makes the other stale; abandoned results free. */
static void
test_forks(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, 8, SIG_ED25519, NULL);
    add_set_tx(&f, 3, 0, "a", "1");
    struct ledger_result *b1 = NULL;
    assert_int_equal(fixture_execute(&f, NULL, 1, &block, false, &b1), ERR_OK);
    fixture_block_clear(&block);
    add_set_tx(&f, 3, 1, "a", "left");
    struct ledger_result *left = NULL;
    assert_int_equal(fixture_execute(&f, b1, 2, &block, false, &left), ERR_OK);
    fixture_block_clear(&block);
    add_set_tx(&f, 3, 1, "a", "right");
    struct ledger_result *right = NULL;
    assert_int_equal(fixture_execute(&f, b1, 2, &block, false, &right), ERR_OK);
    struct ledger_result *right2 = NULL;
    fixture_block_clear(&block);
    assert_int_equal(fixture_execute(&f, right, 3, &block, false, &right2), ERR_OK);
    assert_false(hash_equal(&ledger_result_outcome(left)->exec_root,
                            &ledger_result_outcome(right)->exec_root));
    expect_state(&f, left, "a", "left");
    expect_state(&f, right2, "a", "right");
    /* Out of order: the child before its parent. */
    assert_int_equal(fixture_commit(&f, left), ERR_STALE);
    assert_int_equal(fixture_commit(&f, b1), ERR_OK);
    assert_int_equal(fixture_commit(&f, left), ERR_OK);
    expect_state(&f, NULL, "a", "left");
    /* The losing fork can be neither committed nor extended. */
    assert_int_equal(fixture_commit(&f, right), ERR_STALE);
    struct ledger_result *r = NULL;
    assert_int_equal(fixture_execute(&f, right2, 4, &block, false, &r), ERR_STALE);
    assert_int_equal(fixture_execute(&f, right, 3, &block, false, &r), ERR_STALE);
    /* The winner's child executes, on the committed parent or with parent NULL alike. */
    struct ledger_result *next = NULL;
    assert_int_equal(fixture_execute(&f, left, 3, &block, false, &next), ERR_OK);
    assert_int_equal(fixture_execute(&f, NULL, 3, &block, false, &r), ERR_OK);
    assert_true(
        hash_equal(&ledger_result_outcome(next)->exec_root, &ledger_result_outcome(r)->exec_root));
    ledger_result_free(r);
    ledger_result_free(next);
    /* Parents first: children keep them alive. */
    ledger_result_free(b1);
    ledger_result_free(right);
    ledger_result_free(left);
    ledger_result_free(right2);
    fixture_close(&f);
}

/* Receipt and tx inclusion proofs against the roots, state proofs against the state root;
 * tampered proofs fail. */
static void
test_proofs(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, 8, SIG_ED25519, NULL);
    for (uint64_t i = 0; i < 5; i++) {
        char key[8];
        snprintf(key, sizeof key, "p%u", (unsigned)i);
        add_set_tx(&f, 3, i, key, "value");
    }
    struct ledger_result *r = NULL;
    assert_int_equal(fixture_execute(&f, NULL, 1, &block, false, &r), ERR_OK);
    const struct ledger_outcome *o = ledger_result_outcome(r);
    struct hash leaves[5];
    for (size_t i = 0; i < 5; i++) {
        leaves[i] = o->receipts[i].hash;
    }
    struct merkle_proof proof;
    assert_int_equal(merkle_prove(HASH_SHA256, leaves, 5, 3, &proof), ERR_OK);
    assert_int_equal(merkle_verify(HASH_SHA256, &leaves[3], &proof, &o->receipts_root), ERR_OK);
    assert_int_not_equal(merkle_verify(HASH_SHA256, &leaves[2], &proof, &o->receipts_root), ERR_OK);
    proof.path[0].bytes[0] ^= 1;
    assert_int_not_equal(merkle_verify(HASH_SHA256, &leaves[3], &proof, &o->receipts_root), ERR_OK);
    assert_int_equal(merkle_prove(HASH_SHA256, o->tx_hashes, 5, 4, &proof), ERR_OK);
    assert_int_equal(merkle_verify(HASH_SHA256, &o->tx_hashes[4], &proof, &o->payload_root),
                     ERR_OK);
    assert_int_not_equal(merkle_verify(HASH_SHA256, &o->tx_hashes[4], &proof, &o->exec_root),
                         ERR_OK);
    struct hash exec_root = o->exec_root;
    assert_int_equal(fixture_commit(&f, r), ERR_OK);
    ledger_result_free(r);
    /* State proof of a present and an absent key. */
    struct buf value;
    buf_init(&value, 4096);
    struct ledger_state_proof *lp = mem_alloc(sizeof *lp);
    const struct state_proof *sp = &lp->proof;
    assert_int_equal(ledger_prove(f.ledger, "test", (const uint8_t *)"p2", 2, &value, lp), ERR_OK);
    assert_true(lp->found);
    assert_int_equal(lp->height, 1);
    assert_true(hash_equal(&lp->root, &exec_root));
    assert_int_equal(state_proof_verify(HASH_SHA256, &lp->root, (const uint8_t *)"test/p2", 7,
                                        value.data, value.size, sp),
                     ERR_OK);
    assert_int_not_equal(state_proof_verify(HASH_SHA256, &lp->root, (const uint8_t *)"test/p2", 7,
                                            (const uint8_t *)"valuf", 5, sp),
                         ERR_OK);
    if (lp->proof.sibling_count > 0) {
        lp->proof.siblings[0].bytes[5] ^= 0x10;
        assert_int_not_equal(state_proof_verify(HASH_SHA256, &lp->root, (const uint8_t *)"test/p2",
                                                7, value.data, value.size, sp),
                             ERR_OK);
    }
    buf_reset(&value);
    assert_int_equal(ledger_prove(f.ledger, "test", (const uint8_t *)"zz", 2, &value, lp), ERR_OK);
    assert_false(lp->found);
    assert_int_equal(
        state_proof_verify(HASH_SHA256, &lp->root, (const uint8_t *)"test/zz", 7, NULL, 0, sp),
        ERR_OK);
    assert_int_not_equal(
        state_proof_verify(HASH_SHA256, &lp->root, (const uint8_t *)"test/p2", 7, NULL, 0, sp),
        ERR_OK);
    mem_free(lp);
    buf_release(&value);
    fixture_block_clear(&block);
    fixture_close(&f);
}

/* Committed state, receipts and blocks survive closing and reopening every store. */
static void
test_restart(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, 8, SIG_ED25519, NULL);
    for (uint64_t h = 1; h <= 3; h++) {
        add_set_tx(&f, 3, h - 1, "r", h == 3 ? "three" : "before");
        struct ledger_result *r = NULL;
        assert_int_equal(fixture_execute(&f, NULL, h, &block, false, &r), ERR_OK);
        assert_int_equal(fixture_commit(&f, r), ERR_OK);
        ledger_result_free(r);
        fixture_block_clear(&block);
    }
    struct hash root_before;
    state_store_root(f.state, &root_before);
    fixture_stop(&f);
    fixture_start(&f);
    assert_true(ledger_has_genesis(f.ledger));
    assert_int_equal(ledger_committed_height(f.ledger), 3);
    struct hash root_after;
    state_store_root(f.state, &root_after);
    assert_true(hash_equal(&root_before, &root_after));
    expect_state(&f, NULL, "r", "three");
    assert_int_equal(nonce_of(&f, NULL, 3), 3);
    struct buf blk;
    struct buf cert;
    buf_init(&blk, 1024);
    buf_init(&cert, 1024);
    assert_int_equal(ledger_read_block(f.ledger, 2, &blk, &cert), ERR_OK);
    assert_int_equal(blk.size, 16);
    assert_int_equal(load_u64(blk.data), 2);
    buf_release(&blk);
    buf_release(&cert);
    /* The chain continues at height 4. */
    add_set_tx(&f, 3, 3, "r", "four");
    struct ledger_result *r = NULL;
    assert_int_equal(fixture_execute(&f, NULL, 4, &block, false, &r), ERR_OK);
    assert_int_equal(fixture_commit(&f, r), ERR_OK);
    ledger_result_free(r);
    fixture_block_clear(&block);
    expect_state(&f, NULL, "r", "four");
    fixture_close(&f);
}

/* A database that reaches its map size (the node's [storage] db_size_max_mib) refuses the
 * commit with ERR_NO_SPACE and keeps the last committed block whole; reopened with a larger
 * map, the same block commits. */
static void
test_map_full(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, 8, SIG_ED25519, NULL);
    fixture_stop(&f);
    char path[160];
    snprintf(path, sizeof path, "%s/data.mdb", f.dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    f.map_size_bytes = (uint64_t)st.st_size + 256ull * 1024u; /* room for a few blocks */
    fixture_start(&f);
    char value[900];
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    enum err rc = ERR_OK;
    uint64_t h = 1;
    struct ledger_result *r = NULL;
    for (; h <= 400; h++) {
        for (size_t t = 0; t < 8; t++) {
            char key[32];
            snprintf(key, sizeof key, "k%llu.%zu", (unsigned long long)h, t);
            add_set_tx(&f, 3, (h - 1) * 8 + t, key, value);
        }
        assert_int_equal(fixture_execute(&f, NULL, h, &block, false, &r), ERR_OK);
        rc = fixture_commit(&f, r);
        if (rc != ERR_OK) {
            break;
        }
        ledger_result_free(r);
        fixture_block_clear(&block);
    }
    assert_int_equal(rc, ERR_NO_SPACE);
    assert_true(h > 1);
    ledger_result_free(r);
    assert_int_equal(ledger_committed_height(f.ledger), h - 1);
    expect_state(&f, NULL, "k1.0", value);
    fixture_stop(&f);
    f.map_size_bytes = 64u << 20;
    fixture_start(&f);
    assert_int_equal(ledger_committed_height(f.ledger), h - 1);
    assert_int_equal(fixture_execute(&f, NULL, h, &block, false, &r), ERR_OK);
    assert_int_equal(fixture_commit(&f, r), ERR_OK);
    ledger_result_free(r);
    fixture_block_clear(&block);
    assert_int_equal(ledger_committed_height(f.ledger), h);
    char last[32];
    snprintf(last, sizeof last, "k%llu.7", (unsigned long long)h);
    expect_state(&f, NULL, last, value);
    fixture_close(&f);
}

/* A data directory of one chain refuses another genesis. */
static void
test_wrong_chain_directory(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, 8, SIG_ED25519, NULL);
    fixture_stop(&f);
    memcpy(f.genesis.chain_name, "another", 7);
    struct db_options dbo = { .map_size_bytes = 4ull << 30, .no_sync = true };
    assert_int_equal(db_open(f.dir, &dbo, &f.db), ERR_OK);
    struct state_store_options so = { .hash_alg = HASH_SHA256, .retain_versions = 0 };
    assert_int_equal(state_store_open(f.db, &so, &f.state), ERR_OK);
    char blocks_dir[160];
    snprintf(blocks_dir, sizeof blocks_dir, "%s/blocks", f.dir);
    struct block_store_options bo = { .no_sync = true };
    assert_int_equal(block_store_open(f.db, blocks_dir, &bo, &f.blocks), ERR_OK);
    struct ledger_config config = { .db = f.db,
                                    .state = f.state,
                                    .blocks = f.blocks,
                                    .registry = f.registry,
                                    .genesis = &f.genesis };
    assert_int_equal(ledger_open(&config, &f.ledger), ERR_WRONG_CHAIN);
    f.ledger = NULL;
    fixture_close(&f);
}

/* Signatures through a verify pool with a cache: what the mempool checked (ledger_check_tx)
 * is not verified again in the block; a bad signature is still caught. */
static void
test_verify_pool(void **state)
{
    (void)state;
    struct verify_cache *cache = verify_cache_new(1024);
    struct verify_pool *pool = NULL;
    struct verify_pool_config config = { .threads = 1, .queue_capacity = 64, .cache = cache };
    assert_int_equal(verify_pool_new(&config, &pool), ERR_OK);
    struct fixture f;
    fixture_open(&f, 8, SIG_ED25519, NULL);
    fixture_stop(&f);
    f.verify_pool = pool;
    fixture_start(&f);
    for (uint64_t i = 0; i < 6; i++) {
        add_set_tx(&f, 3 + i % 5, i / 5, "k", "v");
    }
    for (size_t i = 0; i < 3; i++) { /* the mempool admits half of them */
        struct tx t;
        struct hash h;
        assert_int_equal(
            ledger_check_tx(f.ledger, block.txs[i].data, block.txs[i].size, false, &t, &h), ERR_OK);
    }
    struct verify_pool_stats before;
    verify_pool_get_stats(pool, &before);
    assert_int_equal(before.verified, 3);
    struct ledger_result *r = NULL;
    assert_int_equal(fixture_execute(&f, NULL, 1, &block, false, &r), ERR_OK);
    struct verify_pool_stats after;
    verify_pool_get_stats(pool, &after);
    assert_int_equal(after.cache_hits - before.cache_hits, 3);
    assert_int_equal(after.verified - before.verified, 3);
    ledger_result_free(r);
    block.data[4][block.txs[4].size - 3] ^= 4;
    assert_int_equal(fixture_execute(&f, NULL, 1, &block, false, &r), ERR_BAD_SIGNATURE);
    fixture_block_clear(&block);
    fixture_close(&f);
    verify_pool_free(pool);
    verify_cache_free(cache);
}

/* A chain on the national algorithms: SM3 chain hash, SM2 account keys. The same blocks
 * give the same roots on two stores, different from a SHA-256 chain's. */
static void
test_sm3_chain(void **state)
{
    (void)state;
    struct fixture a;
    struct fixture b;
    fixture_open_suite(&a, HASH_SM3, 8, SIG_SM2);
    fixture_open_suite(&b, HASH_SM3, 8, SIG_SM2);
    add_set_tx(&a, 3, 0, "k", "v");
    add_set_tx(&a, 4, 0, "k", "w");
    struct ledger_result *ra = NULL;
    struct ledger_result *rb = NULL;
    assert_int_equal(fixture_execute(&a, NULL, 1, &block, false, &ra), ERR_OK);
    assert_int_equal(fixture_execute(&b, NULL, 1, &block, false, &rb), ERR_OK);
    assert_int_equal(fixture_status(ra, 0), 0);
    assert_int_equal(fixture_status(ra, 1), 0);
    assert_true(
        hash_equal(&ledger_result_outcome(ra)->exec_root, &ledger_result_outcome(rb)->exec_root));
    assert_true(hash_equal(&ledger_result_outcome(ra)->receipts_root,
                           &ledger_result_outcome(rb)->receipts_root));
    struct hash sm3_tx;
    tx_hash(HASH_SM3, block.txs[0].data, block.txs[0].size, &sm3_tx);
    assert_true(hash_equal(&sm3_tx, &ledger_result_outcome(ra)->tx_hashes[0]));
    assert_int_equal(fixture_commit(&a, ra), ERR_OK);
    expect_state(&a, NULL, "k", "w");
    /* A tx signed for the SM3 chain does not verify as a SHA-256 chain's tx. */
    struct tx t;
    struct hash h;
    assert_int_equal(ledger_check_tx(a.ledger, block.txs[0].data, block.txs[0].size, false, &t, &h),
                     ERR_OK);
    assert_int_equal(tx_verify(HASH_SHA256, &t, block.txs[0].data, block.txs[0].size),
                     ERR_BAD_SIGNATURE);
    ledger_result_free(ra);
    ledger_result_free(rb);
    fixture_block_clear(&block);
    fixture_close(&a);
    fixture_close(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_genesis),        cmocka_unit_test(test_block_receipts_and_nonces),
        cmocka_unit_test(test_atomic_tx),      cmocka_unit_test(test_auth_failures),
        cmocka_unit_test(test_invalid_blocks), cmocka_unit_test(test_resource_limits),
        cmocka_unit_test(test_determinism),    cmocka_unit_test(test_forks),
        cmocka_unit_test(test_proofs),         cmocka_unit_test(test_restart),
        cmocka_unit_test(test_map_full),       cmocka_unit_test(test_wrong_chain_directory),
        cmocka_unit_test(test_sm3_chain),      cmocka_unit_test(test_verify_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
