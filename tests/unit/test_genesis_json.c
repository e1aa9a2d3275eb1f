/* Unit tests of node/genesis_json: JSON round trip with an identical genesis hash (registered
 * nodes included), any order of institutions, nodes and modules, strict refusals (unknown and
 * duplicate fields, types, ranges, keys, references), and loading a real file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/text.h"
#include "node/genesis_json.h"
#include "unit.h"

static void
key_text(enum sig_alg alg, char *out)
{
    struct secret_key *k = NULL;
    assert_int_equal(secret_key_generate(alg, &k), ERR_OK);
    struct public_key pk;
    secret_key_public(k, &pk);
    secret_key_free(k);
    size_t n = strlen(sig_alg_name(alg));
    memcpy(out, sig_alg_name(alg), n);
    out[n] = ':';
    hex_encode(pk.bytes, pk.size, out + n + 1);
}

/* A genesis.json text; extra is spliced in as additional top-level members. */
static char *
sample(const char *extra)
{
    char k1[160];
    char k2[160];
    char k3[160];
    char k4[160];
    char n1[160];
    char n2[160];
    key_text(SIG_ED25519, n1);
    key_text(SIG_ED25519, n2);
    key_text(SIG_ED25519, k1);
    key_text(SIG_SM2, k2);
    key_text(SIG_SM2, k3);
    key_text(SIG_ED25519, k4);
    char *text = mem_alloc(8192);
    snprintf(
        text, 8192,
        "{ \"chain_name\": \"联盟 devnet\", \"hash_alg\": \"sm3\", \"timestamp_us\": 17,\n"
        "  \"params\": { \"block_txs_max\": 5000, \"sig_algs\": [\"ed25519\", \"sm2\"] },\n"
        "  \"institutions\": [ { \"id\": 7, \"name\": \"Beta\", \"founding\": false },\n"
        "                      { \"id\": 2, \"name\": \"Alpha\", \"founding\": true } ],\n"
        "  \"accounts\": [ { \"institution\": 2, \"admin\": true, \"keys\": [\"%s\", \"%s\"] } ],\n"
        "  \"validators\": [ { \"institution\": 7, \"consensus_key\": \"%s\",\n"
        "                      \"transport_key\": \"%s\", \"power\": 3 } ],\n"
        "  \"nodes\": [ { \"institution\": 7, \"transport_key\": \"%s\",\n"
        "               \"address\": \"127.0.0.1:9004\" },\n"
        "             { \"institution\": 2, \"transport_key\": \"%s\" } ],\n"
        "  \"modules\": { \"zeta\": \"AAE=\", \"alpha\": \"\" }%s }",
        k1, k2, k3, k4, n1, n2, extra);
    return text;
}

static void
test_round_trip(void **state)
{
    (void)state;
    char *text = sample("");
    struct genesis g;
    assert_int_equal(genesis_json_decode(text, strlen(text), &g), ERR_OK);
    assert_string_equal(g.chain_name, "联盟 devnet");
    assert_int_equal(g.hash_alg, HASH_SM3);
    assert_int_equal(g.timestamp_us, 17);
    assert_int_equal(g.params.block_txs_max, 5000);
    assert_int_equal(g.institution_count, 2);
    assert_int_equal(g.institutions[0].id, 2); /* sorted */
    assert_int_equal(g.account_count, 1);
    assert_int_equal(g.accounts[0].key_count, 2);
    assert_int_equal(g.validators->nodes[0].power, 3);
    assert_int_equal(g.node_count, 2);
    assert_true(registered_node_compare(&g.nodes[0], &g.nodes[1]) < 0); /* sorted */
    size_t with_address = g.nodes[0].institution == 7 ? 0 : 1;
    assert_string_equal(g.nodes[with_address].address, "127.0.0.1:9004");
    assert_string_equal(g.nodes[1 - with_address].address, "");
    assert_int_equal(g.module_count, 2);
    assert_string_equal(g.modules[0].name, "alpha");
    assert_int_equal(g.modules[1].data_size, 2);
    struct hash h1;
    assert_int_equal(genesis_hash(&g, &h1), ERR_OK);
    struct buf json;
    buf_init(&json, GENESIS_JSON_SIZE_MAX);
    assert_int_equal(genesis_json_encode(&g, &json), ERR_OK);
    struct genesis back;
    assert_int_equal(genesis_json_decode((const char *)json.data, json.size, &back), ERR_OK);
    struct hash h2;
    assert_int_equal(genesis_hash(&back, &h2), ERR_OK);
    assert_true(hash_equal(&h1, &h2));
    /* Through a real file. */
    char path[] = "/tmp/lm_genesis_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, json.data, json.size), (ssize_t)json.size);
    assert_int_equal(close(fd), 0);
    struct genesis loaded;
    assert_int_equal(genesis_json_load(path, &loaded), ERR_OK);
    struct hash h3;
    assert_int_equal(genesis_hash(&loaded, &h3), ERR_OK);
    assert_true(hash_equal(&h1, &h3));
    assert_int_equal(unlink(path), 0);
    struct genesis missing;
    assert_int_equal(genesis_json_load(path, &missing), ERR_IO);
    genesis_release(&missing);
    genesis_release(&loaded);
    genesis_release(&back);
    genesis_release(&g);
    buf_release(&json);
    mem_free(text);
}

static void
expect_refused(const char *extra)
{
    char *text = sample(extra);
    struct genesis g;
    assert_int_equal(genesis_json_decode(text, strlen(text), &g), ERR_MALFORMED);
    genesis_release(&g);
    mem_free(text);
}

static void
test_refusals(void **state)
{
    (void)state;
    expect_refused(", \"extra\": 1");
    expect_refused(", \"chain_name\": \"again\"");
    char *text = sample("");
    struct genesis g;
    /* Edit the valid text in place: each edit alone must be refused. */
    static const char *const edits[][2] = {
        { "\"timestamp_us\": 17", "\"timestamp_us\": -1" },
        { "\"timestamp_us\": 17", "\"timestamp_us\": \"17\"" },
        { "\"hash_alg\": \"sm3\"", "\"hash_alg\": \"md5\"" },
        { "\"id\": 7", "\"id\": 2" },
        { "\"institution\": 2", "\"institution\": 3" },
        { "\"power\": 3", "\"power\": 0" },
        { "\"admin\": true", "\"admin\": 1" },
        { "\"founding\": true", "\"founding\": false" },
        { "\"block_txs_max\": 5000", "\"block_txs_max\": 0" },
        { "\"AAE=\"", "\"AAE\"" },
        { "ed25519:", "rsa:" },
        { "\"sig_algs\": [\"ed25519\", \"sm2\"]", "\"sig_algs\": [\"ed25519\"]" },
        { "\"address\": \"127.0.0.1:9004\"", "\"address\": \"127.0.0.1/9004\"" },
        { "\"address\": \"127.0.0.1:9004\"", "\"addr\": \"127.0.0.1:9004\"" },
        { "{ \"institution\": 2, \"transport_key\"", "{ \"institution\": 3, \"transport_key\"" },
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char *copy = mem_alloc(8192);
        const char *at = strstr(text, edits[i][0]);
        assert_non_null(at);
        size_t head = (size_t)(at - text);
        snprintf(copy, 8192, "%.*s%s%s", (int)head, text, edits[i][1], at + strlen(edits[i][0]));
        assert_int_equal(genesis_json_decode(copy, strlen(copy), &g), ERR_MALFORMED);
        genesis_release(&g);
        mem_free(copy);
    }
    assert_int_equal(genesis_json_decode("{", 1, &g), ERR_MALFORMED);
    genesis_release(&g);
    mem_free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
