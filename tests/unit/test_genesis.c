/* Unit tests of the genesis struct and the chain parameters: canonical checks (order,
 * uniqueness, references, algorithms), the genesis hash binding every field (registered
 * nodes included), and the strict parameter encoding. */
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "ledger/genesis.h"
#include "ledger/params.h"
#include "unit.h"

static struct secret_key *
key_of(enum sig_alg alg)
{
    struct secret_key *k = NULL;
    assert_int_equal(secret_key_generate(alg, &k), ERR_OK);
    return k;
}

static void
make(struct genesis *g)
{
    genesis_init(g);
    memcpy(g->chain_name, "t", 1);
    assert_int_equal(genesis_add_institution(g, 1, "Alpha 甲", true), ERR_OK);
    assert_int_equal(genesis_add_institution(g, 5, "Beta", false), ERR_OK);
    for (int i = 0; i < 2; i++) {
        struct secret_key *k = key_of(i == 0 ? SIG_ED25519 : SIG_SM2);
        struct genesis_account acc = { .institution = 1, .admin = i == 0, .key_count = 1 };
        secret_key_public(k, &acc.keys[0]);
        assert_int_equal(genesis_add_account(g, &acc), ERR_OK);
        secret_key_free(k);
    }
    g->validators->count = 1;
    struct secret_key *c = key_of(SIG_SM2);
    struct secret_key *t = key_of(SIG_ED25519);
    g->validators->nodes[0] = (struct vs_node){ .institution = 5, .power = 10 };
    secret_key_public(c, &g->validators->nodes[0].consensus_key);
    secret_key_public(t, &g->validators->nodes[0].transport_key);
    secret_key_free(c);
    secret_key_free(t);
    assert_int_equal(genesis_add_module(g, "media", (const uint8_t *)"x", 1), ERR_OK);
    assert_int_equal(genesis_add_module(g, "notary", NULL, 0), ERR_OK);
    assert_int_equal(genesis_check(g), ERR_OK);
}

static void
test_check(void **state)
{
    (void)state;
    struct genesis g;
    make(&g);
    struct hash h0;
    assert_int_equal(genesis_hash(&g, &h0), ERR_OK);
    struct hash h;
    /* Every change is a different chain. */
    g.timestamp_us = 1;
    assert_int_equal(genesis_hash(&g, &h), ERR_OK);
    assert_false(hash_equal(&h, &h0));
    g.timestamp_us = 0;
    g.institutions[1].founding = true;
    assert_int_equal(genesis_hash(&g, &h), ERR_OK);
    assert_false(hash_equal(&h, &h0));
    g.institutions[1].founding = false;
    assert_int_equal(genesis_hash(&g, &h), ERR_OK);
    assert_true(hash_equal(&h, &h0));
    /* Refusals. */
    g.institutions[1].id = 1; /* not increasing */
    assert_int_equal(genesis_check(&g), ERR_MALFORMED);
    g.institutions[1].id = 5;
    g.accounts[1].institution = 3; /* unknown */
    assert_int_equal(genesis_check(&g), ERR_MALFORMED);
    g.accounts[1].institution = 1;
    g.accounts[1].keys[0] = g.accounts[0].keys[0]; /* same address */
    assert_int_equal(genesis_check(&g), ERR_MALFORMED);
    g.accounts[1].key_count = 0;
    assert_int_equal(genesis_check(&g), ERR_MALFORMED);
    g.accounts[1].key_count = 1;
    struct secret_key *k = key_of(SIG_SM2);
    secret_key_public(k, &g.accounts[1].keys[0]);
    secret_key_free(k);
    assert_int_equal(genesis_check(&g), ERR_OK);
    g.params.sig_algs_allowed = 1u << SIG_ED25519; /* the SM2 account is not allowed */
    assert_int_equal(genesis_check(&g), ERR_MALFORMED);
    chain_params_default(&g.params);
    g.validators->epoch = 2;
    assert_int_equal(genesis_check(&g), ERR_MALFORMED);
    g.validators->epoch = GENESIS_EPOCH;
    g.validators->nodes[0].institution = 4;
    assert_int_equal(genesis_check(&g), ERR_MALFORMED);
    g.validators->nodes[0].institution = 5;
    memcpy(g.modules[1].name, "aaa", 4); /* modules out of order */
    assert_int_equal(genesis_check(&g), ERR_MALFORMED);
    memcpy(g.modules[1].name, "notary", 7);
    g.institutions[0].founding = false; /* no founder */
    assert_int_equal(genesis_check(&g), ERR_MALFORMED);
    g.institutions[0].founding = true;
    memset(g.chain_name, 0, sizeof g.chain_name);
    assert_int_equal(genesis_check(&g), ERR_MALFORMED);
    struct buf b;
    buf_init(&b, GENESIS_ENCODED_SIZE_MAX);
    assert_int_equal(genesis_encode(&g, &b), ERR_MALFORMED);
    buf_release(&b);
    genesis_release(&g);
    genesis_release(&g);
}

static struct registered_node
node_of(uint32_t institution, const char *address)
{
    struct registered_node n;
    memset(&n, 0, sizeof n);
    struct secret_key *k = key_of(SIG_ED25519);
    secret_key_public(k, &n.transport_key);
    secret_key_free(k);
    n.institution = institution;
    snprintf(n.address, sizeof n.address, "%s", address);
    return n;
}

/* Registered nodes: sorted by key, unique, Ed25519, of existing institutions, valid addresses,
 * not a validator's transport key; and part of the chain id. */
static void
test_nodes(void **state)
{
    (void)state;
    struct genesis g;
    make(&g);
    struct hash h0;
    assert_int_equal(genesis_hash(&g, &h0), ERR_OK);
    struct registered_node a = node_of(1, "127.0.0.1:9000");
    struct registered_node b = node_of(5, "");
    if (registered_node_compare(&a, &b) > 0) {
        struct registered_node t = a;
        a = b;
        b = t;
    }
    assert_int_equal(genesis_add_node(&g, &a), ERR_OK);
    assert_int_equal(genesis_add_node(&g, &b), ERR_OK);
    assert_int_equal(genesis_check(&g), ERR_OK);
    struct hash h;
    assert_int_equal(genesis_hash(&g, &h), ERR_OK);
    assert_false(hash_equal(&h, &h0));
    g.nodes[0] = b; /* out of order, then a duplicate */
    g.nodes[1] = a;
    assert_int_equal(genesis_check(&g), ERR_MALFORMED);
    g.nodes[1] = b;
    assert_int_equal(genesis_check(&g), ERR_MALFORMED);
    g.nodes[0] = a;
    g.nodes[1].institution = 4; /* unknown */
    assert_int_equal(genesis_check(&g), ERR_MALFORMED);
    g.nodes[1].institution = 5;
    snprintf(g.nodes[1].address, sizeof g.nodes[1].address, "a b:1");
    assert_int_equal(genesis_check(&g), ERR_MALFORMED);
    g.nodes[1].address[0] = '\0';
    assert_int_equal(genesis_check(&g), ERR_OK);
    g.node_count = 1;
    g.nodes[0].transport_key = g.validators->nodes[0].transport_key; /* a validator's key */
    assert_int_equal(genesis_check(&g), ERR_MALFORMED);
    struct secret_key *k = key_of(SIG_SM2);
    secret_key_public(k, &g.nodes[0].transport_key); /* not Ed25519 */
    secret_key_free(k);
    assert_int_equal(genesis_check(&g), ERR_MALFORMED);
    g.node_count = 0;
    assert_int_equal(genesis_hash(&g, &h), ERR_OK);
    assert_true(hash_equal(&h, &h0));
    assert_true(registered_node_address_ok("[::1]:80", 8));
    assert_false(registered_node_address_ok("x/y", 3));
    genesis_release(&g);
}

static void
test_params(void **state)
{
    (void)state;
    struct chain_params p;
    chain_params_default(&p);
    assert_int_equal(chain_params_check(&p), ERR_OK);
    struct buf b;
    buf_init(&b, 256);
    assert_int_equal(chain_params_encode(&p, &b), ERR_OK);
    assert_int_equal(b.size, PARAMS_ENCODED_SIZE);
    struct chain_params back;
    assert_int_equal(chain_params_decode(b.data, b.size, &back), ERR_OK);
    assert_int_equal(back.block_txs_max, p.block_txs_max);
    assert_int_equal(back.tx_expiry_window_max, p.tx_expiry_window_max);
    assert_int_equal(back.sig_algs_allowed, p.sig_algs_allowed);
    assert_int_not_equal(chain_params_decode(b.data, b.size - 1, &back), ERR_OK);
    b.data[0] = 2;
    assert_int_equal(chain_params_decode(b.data, b.size, &back), ERR_UNSUPPORTED);
    p.tx_ops_max = 0;
    assert_int_equal(chain_params_check(&p), ERR_MALFORMED);
    chain_params_default(&p);
    p.sig_algs_allowed = 1u << 7;
    assert_int_equal(chain_params_check(&p), ERR_MALFORMED);
    chain_params_default(&p);
    p.block_resource_max = p.tx_resource_max - 1;
    assert_int_equal(chain_params_check(&p), ERR_MALFORMED);
    assert_true(chain_params_sig_alg_allowed(&p, SIG_SM2));
    assert_false(chain_params_sig_alg_allowed(&p, 40));
    buf_release(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_nodes),
        cmocka_unit_test(test_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
