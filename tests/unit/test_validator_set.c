/* Unit tests of the validator-set encoding: round trip, hash, strict decoding and the
 * validity rules (powers, totals, transport key algorithm, duplicate keys), and the helpers
 * consensus uses (lookup, quorum predicates, reading an embedded set). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "codec/validator_set.h"
#include "unit.h"

static struct validator_set *
make(size_t count)
{
    struct validator_set *vs = mem_calloc(1, sizeof *vs);
    vs->epoch = 3;
    vs->count = count;
    for (size_t i = 0; i < count; i++) {
        struct secret_key *c = NULL;
        struct secret_key *t = NULL;
        assert_int_equal(secret_key_generate(i % 2 ? SIG_SM2 : SIG_ED25519, &c), ERR_OK);
        assert_int_equal(secret_key_generate(SIG_ED25519, &t), ERR_OK);
        vs->nodes[i].institution = (uint32_t)i + 1;
        vs->nodes[i].power = i + 1;
        secret_key_public(c, &vs->nodes[i].consensus_key);
        secret_key_public(t, &vs->nodes[i].transport_key);
        secret_key_free(c);
        secret_key_free(t);
    }
    return vs;
}

static void
test_round_trip(void **state)
{
    (void)state;
    struct validator_set *vs = make(4);
    assert_int_equal(validator_set_check(vs), ERR_OK);
    assert_int_equal(validator_set_power(vs), 10);
    struct buf b;
    buf_init(&b, VS_ENCODED_SIZE_MAX);
    assert_int_equal(validator_set_encode(vs, &b), ERR_OK);
    struct validator_set *back = mem_alloc(sizeof *back);
    assert_int_equal(validator_set_decode(b.data, b.size, back), ERR_OK);
    assert_int_equal(back->epoch, 3);
    assert_int_equal(back->count, 4);
    assert_true(public_key_equal(&back->nodes[3].consensus_key, &vs->nodes[3].consensus_key));
    struct hash h1;
    struct hash h2;
    validator_set_hash(HASH_SHA256, vs, &h1);
    hash_bytes(HASH_SHA256, b.data, b.size, &h2);
    assert_true(hash_equal(&h1, &h2));
    for (size_t n = 0; n < b.size; n++) {
        assert_int_not_equal(validator_set_decode(b.data, n, back), ERR_OK);
    }
    assert_int_equal(buf_append_byte(&b, 0), ERR_OK);
    assert_int_not_equal(validator_set_decode(b.data, b.size, back), ERR_OK);
    buf_release(&b);
    mem_free(back);
    mem_free(vs);
}

static void
test_rules(void **state)
{
    (void)state;
    struct validator_set *vs = make(3);
    struct buf b;
    buf_init(&b, VS_ENCODED_SIZE_MAX);
    vs->nodes[1].power = 0;
    assert_int_equal(validator_set_check(vs), ERR_MALFORMED);
    assert_int_equal(validator_set_encode(vs, &b), ERR_MALFORMED);
    vs->nodes[1].power = VS_POWER_TOTAL_MAX;
    assert_int_equal(validator_set_check(vs), ERR_MALFORMED); /* total over 2^60 */
    vs->nodes[1].power = 2;
    vs->nodes[2].transport_key = vs->nodes[1].consensus_key; /* SM2 transport key */
    assert_int_equal(validator_set_check(vs), ERR_MALFORMED);
    vs->nodes[2].transport_key = vs->nodes[0].transport_key; /* duplicate */
    assert_int_equal(validator_set_check(vs), ERR_MALFORMED);
    struct validator_set *other = make(3);
    vs->nodes[2].transport_key = other->nodes[2].transport_key;
    vs->nodes[2].consensus_key = vs->nodes[0].consensus_key; /* duplicate */
    assert_int_equal(validator_set_check(vs), ERR_MALFORMED);
    vs->nodes[2].consensus_key = other->nodes[2].consensus_key;
    assert_int_equal(validator_set_check(vs), ERR_OK);
    vs->count = 0;
    assert_int_equal(validator_set_check(vs), ERR_MALFORMED);
    buf_release(&b);
    mem_free(vs);
    mem_free(other);
}

/* The consensus helpers: lookup by either key, quorum (3p > 2P) and weak quorum (3p > P),
 * and validator_set_read inside a longer input. */
static void
test_consensus_helpers(void **state)
{
    (void)state;
    struct validator_set *vs = make(4); /* powers 1, 2, 3, 4: P = 10 */
    assert_int_equal(validator_set_check(vs), ERR_OK);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(validator_set_find(vs, &vs->nodes[i].consensus_key), (int)i);
        assert_int_equal(validator_set_find_transport(vs, &vs->nodes[i].transport_key), (int)i);
    }
    assert_int_equal(validator_set_find(vs, &vs->nodes[1].transport_key), -1);
    assert_int_equal(validator_set_find_transport(vs, &vs->nodes[1].consensus_key), -1);
    assert_true(validator_set_is_quorum(vs, 7));
    assert_false(validator_set_is_quorum(vs, 6)); /* 18 > 20 is false */
    assert_true(validator_set_is_weak_quorum(vs, 4));
    assert_false(validator_set_is_weak_quorum(vs, 3)); /* 9 > 10 is false */
    struct buf b;
    buf_init(&b, VS_ENCODED_SIZE_MAX + 1);
    assert_int_equal(validator_set_encode(vs, &b), ERR_OK);
    size_t size = b.size;
    assert_int_equal(buf_append_byte(&b, 0x7f), ERR_OK);
    struct reader r;
    reader_init(&r, b.data, b.size);
    struct validator_set *back = mem_alloc(sizeof *back);
    assert_int_equal(validator_set_read(&r, back), ERR_OK);
    assert_int_equal(r.pos, size);
    assert_int_equal(back->count, 4);
    reader_init(&r, b.data, size - 1);
    assert_int_not_equal(validator_set_read(&r, back), ERR_OK);
    buf_release(&b);
    mem_free(back);
    mem_free(vs);
}

/* Writes seed sets for tests/fuzz/fuzz_validator_set.c when LM_WRITE_CORPUS names a
 * directory. */
static void
test_write_corpus(void **state)
{
    (void)state;
    const char *dir = getenv("LM_WRITE_CORPUS");
    if (dir == NULL) {
        skip();
    }
    for (size_t n = 1; n <= 4; n += 3) {
        struct validator_set *vs = make(n);
        struct buf b;
        buf_init(&b, VS_ENCODED_SIZE_MAX);
        assert_int_equal(validator_set_encode(vs, &b), ERR_OK);
        char path[512];
        snprintf(path, sizeof path, "%s/seed_%zu_nodes", dir, n);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(b.data, 1, b.size, f), b.size);
        assert_int_equal(fclose(f), 0);
        buf_release(&b);
        mem_free(vs);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_consensus_helpers),
        cmocka_unit_test(test_write_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
