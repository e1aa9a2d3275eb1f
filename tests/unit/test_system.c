/* Unit tests of the core system module through real blocks: validator-set proposals and
 * approvals by founding institutions, installation at more than 2/3 of the founders (the
 * block reports next_epoch_vs_hash), refusals (non-founder, wrong epoch, unknown proposal,
 * a second change in one block), approvals moving between proposals, the parameters, and
 * node registration (register_node / remove_node: who may, bad keys and addresses,
 * duplicates, removal by another institution). */
#include <string.h>

#include "ledger/system.h"
#include "ledger_fixture.h"
#include "unit.h"

static struct fixture_block block;

/* A set for epoch with three nodes of institutions 1..3 and keys from seed base. */
static struct validator_set *
make_set(uint64_t epoch, uint32_t base)
{
    struct validator_set *vs = mem_calloc(1, sizeof *vs);
    vs->epoch = epoch;
    vs->count = 3;
    for (uint32_t i = 0; i < 3; i++) {
        struct secret_key *c = fixture_key(i == 1 ? SIG_SM2 : SIG_ED25519, base + i);
        struct secret_key *t = fixture_key(SIG_ED25519, base + 100 + i);
        vs->nodes[i].institution = i + 1;
        vs->nodes[i].power = i + 1;
        secret_key_public(c, &vs->nodes[i].consensus_key);
        secret_key_public(t, &vs->nodes[i].transport_key);
        secret_key_free(c);
        secret_key_free(t);
    }
    return vs;
}

static void
add_op(struct fixture *f, size_t from, uint64_t nonce, const char *op, const uint8_t *args,
       size_t args_size)
{
    struct fixture_op o = { "system", op, args, args_size };
    struct buf tx;
    buf_init(&tx, TX_SIZE_MAX);
    fixture_tx(f, from, nonce, &o, 1, &tx);
    fixture_block_add(&block, &tx);
    buf_release(&tx);
}

static void
add_propose(struct fixture *f, size_t from, uint64_t nonce, const struct validator_set *vs)
{
    struct buf b;
    buf_init(&b, VS_ENCODED_SIZE_MAX);
    assert_int_equal(validator_set_encode(vs, &b), ERR_OK);
    add_op(f, from, nonce, "propose_vs", b.data, b.size);
    buf_release(&b);
}

static struct ledger_result *
run_and_commit(struct fixture *f, uint64_t height)
{
    struct ledger_result *r = NULL;
    assert_int_equal(fixture_execute(f, NULL, height, &block, false, &r), ERR_OK);
    assert_int_equal(fixture_commit(f, r), ERR_OK);
    fixture_block_clear(&block);
    return r;
}

static void
current_set_hash(struct fixture *f, struct hash *out)
{
    struct buf b;
    buf_init(&b, VS_ENCODED_SIZE_MAX);
    assert_int_equal(ledger_query(f->ledger, NULL, "system.vs", NULL, 0, &b), ERR_OK);
    hash_bytes(HASH_SHA256, b.data, b.size, out);
    buf_release(&b);
}

static void
test_install_after_two_thirds(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, 8, SIG_ED25519, NULL);
    struct validator_set *next = make_set(GENESIS_EPOCH + 1, 7000);
    struct validator_set *wrong_epoch = make_set(GENESIS_EPOCH + 5, 7000);
    struct hash h;
    validator_set_hash(HASH_SHA256, next, &h);
    add_propose(&f, 3, 0, next);                        /* institution 4 is not founding */
    add_propose(&f, 0, 0, next);                        /* founder 1 proposes and approves */
    add_op(&f, 1, 0, "approve_vs", h.bytes, HASH_SIZE); /* founder 2: 2 of 3, not > 2/3 */
    add_propose(&f, 1, 1, wrong_epoch);
    struct hash unknown;
    memset(&unknown, 7, sizeof unknown);
    add_op(&f, 2, 0, "approve_vs", unknown.bytes, HASH_SIZE);
    add_op(&f, 1, 2, "approve_vs", h.bytes, HASH_SIZE); /* already approved */
    struct ledger_result *r = run_and_commit(&f, 1);
    assert_int_equal(fixture_status(r, 0), receipt_status_of(ERR_DENIED));
    assert_int_equal(fixture_status(r, 1), 0);
    assert_int_equal(fixture_status(r, 2), 0);
    assert_int_equal(fixture_status(r, 3), receipt_status_of(ERR_INVALID_ARG));
    assert_int_equal(fixture_status(r, 4), receipt_status_of(ERR_NOT_FOUND));
    assert_int_equal(fixture_status(r, 5), receipt_status_of(ERR_EXISTS));
    assert_true(hash_is_zero(&ledger_result_outcome(r)->next_epoch_vs_hash));
    ledger_result_free(r);
    /* Founder 3 completes the quorum; a second change in the same block is refused. */
    struct validator_set *later = make_set(GENESIS_EPOCH + 2, 8000);
    add_op(&f, 2, 1, "approve_vs", h.bytes, HASH_SIZE);
    add_propose(&f, 0, 1, later);
    r = run_and_commit(&f, 2);
    assert_int_equal(fixture_status(r, 0), 0);
    assert_int_equal(fixture_status(r, 1), receipt_status_of(ERR_AGAIN));
    const struct ledger_outcome *o = ledger_result_outcome(r);
    assert_true(hash_equal(&o->next_epoch_vs_hash, &h));
    assert_non_null(o->next_vs);
    assert_int_equal(o->next_vs->epoch, GENESIS_EPOCH + 1);
    assert_int_equal(o->next_vs->count, 3);
    assert_int_equal(o->next_vs->nodes[1].consensus_key.alg, SIG_SM2);
    ledger_result_free(r);
    struct hash now;
    current_set_hash(&f, &now);
    assert_true(hash_equal(&now, &h));
    struct validator_set *installed = mem_alloc(sizeof *installed);
    assert_int_equal(ledger_validator_set(f.ledger, NULL, installed), ERR_OK);
    assert_int_equal(installed->epoch, GENESIS_EPOCH + 1);
    mem_free(installed);
    /* The next block is not epoch-ending; the next epoch's proposal is now accepted. */
    add_propose(&f, 0, 2, later);
    r = run_and_commit(&f, 3);
    assert_int_equal(fixture_status(r, 0), 0);
    assert_true(hash_is_zero(&ledger_result_outcome(r)->next_epoch_vs_hash));
    ledger_result_free(r);
    mem_free(next);
    mem_free(wrong_epoch);
    mem_free(later);
    fixture_close(&f);
}

/* An institution's approval moves when it approves another proposal. */
static void
test_approval_moves(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, 8, SIG_ED25519, NULL);
    struct validator_set *x = make_set(GENESIS_EPOCH + 1, 9000);
    struct validator_set *y = make_set(GENESIS_EPOCH + 1, 9500);
    struct hash hx;
    struct hash hy;
    validator_set_hash(HASH_SHA256, x, &hx);
    validator_set_hash(HASH_SHA256, y, &hy);
    add_propose(&f, 0, 0, x);                            /* x: {1} */
    add_propose(&f, 1, 0, y);                            /* y: {2} */
    add_op(&f, 2, 0, "approve_vs", hy.bytes, HASH_SIZE); /* y: {2, 3} */
    add_op(&f, 1, 1, "approve_vs", hx.bytes, HASH_SIZE); /* x: {1, 2}, y: {3} */
    struct ledger_result *r = run_and_commit(&f, 1);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(fixture_status(r, i), 0);
    }
    assert_true(hash_is_zero(&ledger_result_outcome(r)->next_epoch_vs_hash));
    ledger_result_free(r);
    add_op(&f, 0, 1, "approve_vs", hy.bytes, HASH_SIZE); /* x: {2}, y: {1, 3} */
    add_op(&f, 1, 2, "approve_vs", hy.bytes, HASH_SIZE); /* y: {1, 2, 3}: installed */
    r = run_and_commit(&f, 2);
    assert_int_equal(fixture_status(r, 0), 0);
    assert_int_equal(fixture_status(r, 1), 0);
    assert_true(hash_equal(&ledger_result_outcome(r)->next_epoch_vs_hash, &hy));
    ledger_result_free(r);
    /* Every proposal was cleared: x can no longer be approved. */
    add_op(&f, 2, 1, "approve_vs", hx.bytes, HASH_SIZE);
    r = run_and_commit(&f, 3);
    assert_int_equal(fixture_status(r, 0), receipt_status_of(ERR_NOT_FOUND));
    ledger_result_free(r);
    mem_free(x);
    mem_free(y);
    fixture_close(&f);
}

static void
test_params_and_institutions(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, 8, SIG_ED25519, NULL);
    struct buf b;
    buf_init(&b, 256);
    assert_int_equal(ledger_query(f.ledger, NULL, "system.params", NULL, 0, &b), ERR_OK);
    struct chain_params p;
    assert_int_equal(chain_params_decode(b.data, b.size, &p), ERR_OK);
    struct buf again;
    buf_init(&again, 256);
    assert_int_equal(chain_params_encode(ledger_params(f.ledger), &again), ERR_OK);
    assert_int_equal(again.size, b.size);
    assert_memory_equal(again.data, b.data, b.size);
    assert_int_equal(p.tx_ops_max, f.genesis.params.tx_ops_max);
    buf_release(&again);
    buf_reset(&b);
    uint8_t id[4];
    store_u32(id, 2);
    assert_int_equal(ledger_query(f.ledger, NULL, "system.institution", id, 4, &b), ERR_OK);
    assert_int_equal(b.data[0], 4);
    assert_memory_equal(b.data + 1, "Beta", 4);
    assert_int_equal(b.data[5], 1);
    store_u32(id, 9);
    assert_int_equal(ledger_query(f.ledger, NULL, "system.institution", id, 4, &b), ERR_NOT_FOUND);
    buf_release(&b);
    fixture_close(&f);
}

/* register_node args: the key's encoding, then the address as text. */
static void
add_register(struct fixture *f, size_t from, uint64_t nonce, const struct public_key *key,
             const char *address)
{
    struct buf b;
    buf_init(&b, 256);
    assert_int_equal(codec_put_public_key(&b, key), ERR_OK);
    assert_int_equal(codec_put_text(&b, address, strlen(address), 255), ERR_OK);
    add_op(f, from, nonce, "register_node", b.data, b.size);
    buf_release(&b);
}

static void
add_remove(struct fixture *f, size_t from, uint64_t nonce, const struct public_key *key)
{
    struct buf b;
    buf_init(&b, 256);
    assert_int_equal(codec_put_public_key(&b, key), ERR_OK);
    add_op(f, from, nonce, "remove_node", b.data, b.size);
    buf_release(&b);
}

static struct public_key
key_of(enum sig_alg alg, uint32_t seed)
{
    struct secret_key *k = fixture_key(alg, seed);
    struct public_key pk;
    secret_key_public(k, &pk);
    secret_key_free(k);
    return pk;
}

static void
load_nodes(struct fixture *f, struct registered_node *out, size_t *count)
{
    struct buf b;
    buf_init(&b, 65536);
    assert_int_equal(ledger_query(f->ledger, NULL, "system.nodes", NULL, 0, &b), ERR_OK);
    assert_int_equal(system_nodes_decode(b.data, b.size, out, count), ERR_OK);
    buf_release(&b);
}

/* Accounts 0..2 are admins of institutions 1..3; account 3 (institution 4) is not an admin. */
static void
test_register_and_remove_nodes(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, 8, SIG_ED25519, NULL);
    struct registered_node *nodes = mem_calloc(REGISTERED_NODES_MAX, sizeof *nodes);
    size_t count = 99;
    load_nodes(&f, nodes, &count);
    assert_int_equal(count, 0);
    struct public_key k1 = key_of(SIG_ED25519, 50001);
    struct public_key k2 = key_of(SIG_ED25519, 50002);
    struct public_key validator = key_of(SIG_ED25519, 200001); /* fixture validator 1 */
    struct public_key sm2 = key_of(SIG_SM2, 50003);
    struct public_key small_order = { .alg = SIG_ED25519, .size = 32 };
    small_order.bytes[0] = 1;                      /* the identity point */
    add_register(&f, 0, 0, &k1, "127.0.0.1:9000"); /* ok: institution 1 */
    add_register(&f, 3, 0, &k2, "");               /* not an admin */
    add_register(&f, 1, 0, &k1, "");               /* registered already */
    add_register(&f, 1, 1, &validator, "");        /* a validator's transport key */
    add_register(&f, 1, 2, &sm2, "");              /* not Ed25519 */
    add_register(&f, 1, 3, &small_order, "");      /* not a valid point */
    add_register(&f, 1, 4, &k2, "host name:1");    /* bad address */
    add_register(&f, 2, 0, &k2, "");               /* ok: institution 3, no address */
    static const uint8_t trailing[] = { 1 };
    add_op(&f, 2, 1, "remove_node", trailing, sizeof trailing); /* malformed args */
    struct ledger_result *r = run_and_commit(&f, 1);
    assert_int_equal(fixture_status(r, 0), 0);
    assert_int_equal(fixture_status(r, 1), receipt_status_of(ERR_DENIED));
    assert_int_equal(fixture_status(r, 2), receipt_status_of(ERR_EXISTS));
    assert_int_equal(fixture_status(r, 3), receipt_status_of(ERR_EXISTS));
    assert_int_equal(fixture_status(r, 4), receipt_status_of(ERR_MALFORMED));
    assert_int_equal(fixture_status(r, 5), receipt_status_of(ERR_MALFORMED));
    assert_int_equal(fixture_status(r, 6), receipt_status_of(ERR_MALFORMED));
    assert_int_equal(fixture_status(r, 7), 0);
    assert_int_equal(fixture_status(r, 8), receipt_status_of(ERR_MALFORMED));
    ledger_result_free(r);
    load_nodes(&f, nodes, &count);
    assert_int_equal(count, 2);
    assert_true(registered_node_compare(&nodes[0], &nodes[1]) < 0);
    size_t i1 = public_key_equal(&nodes[0].transport_key, &k1) ? 0 : 1;
    assert_true(public_key_equal(&nodes[i1].transport_key, &k1));
    assert_int_equal(nodes[i1].institution, 1);
    assert_string_equal(nodes[i1].address, "127.0.0.1:9000");
    assert_true(public_key_equal(&nodes[1 - i1].transport_key, &k2));
    assert_int_equal(nodes[1 - i1].institution, 3);
    assert_string_equal(nodes[1 - i1].address, "");
    /* Removal: only by an admin of the node's institution. */
    add_remove(&f, 1, 5, &k1); /* institution 2 removing institution 1's node */
    add_remove(&f, 3, 1, &k1); /* not an admin */
    add_remove(&f, 0, 1, &k1); /* ok */
    add_remove(&f, 0, 2, &k1); /* gone */
    r = run_and_commit(&f, 2);
    assert_int_equal(fixture_status(r, 0), receipt_status_of(ERR_DENIED));
    assert_int_equal(fixture_status(r, 1), receipt_status_of(ERR_DENIED));
    assert_int_equal(fixture_status(r, 2), 0);
    assert_int_equal(fixture_status(r, 3), receipt_status_of(ERR_NOT_FOUND));
    ledger_result_free(r);
    load_nodes(&f, nodes, &count);
    assert_int_equal(count, 1);
    assert_true(public_key_equal(&nodes[0].transport_key, &k2));
    /* The last one goes: the list is empty again; a removed key may register again. */
    add_remove(&f, 2, 2, &k2);
    add_register(&f, 0, 3, &k1, "[::1]:9001");
    r = run_and_commit(&f, 3);
    assert_int_equal(fixture_status(r, 0), 0);
    assert_int_equal(fixture_status(r, 1), 0);
    ledger_result_free(r);
    load_nodes(&f, nodes, &count);
    assert_int_equal(count, 1);
    assert_string_equal(nodes[0].address, "[::1]:9001");
    mem_free(nodes);
    fixture_close(&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_install_after_two_thirds),
        cmocka_unit_test(test_approval_moves),
        cmocka_unit_test(test_params_and_institutions),
        cmocka_unit_test(test_register_and_remove_nodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
