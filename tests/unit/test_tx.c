/* Unit tests of codec/tx: signed round trips (Ed25519 and SM2), hashing, strict decoding
 * (every truncation, trailing bytes, bad names, counts, types, algorithms), every flipped
 * byte caught by the decoder or the signature, and domain separation. With LM_WRITE_CORPUS
 * set to a directory, also writes the seed corpus of tests/fuzz/fuzz_tx.c there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "codec/tx.h"
#include "crypto/hash.h"
#include "crypto/sign.h"
#include "unit.h"

static void
chain_id_of(struct hash *out)
{
    hash_bytes(HASH_SHA256, "test chain", 10, out);
}

/* A tx of two ops signed by a fresh key of alg into wire. */
static struct secret_key *
make_tx(enum sig_alg alg, struct tx *tx, struct buf *wire)
{
    struct secret_key *key = NULL;
    assert_int_equal(secret_key_generate(alg, &key), ERR_OK);
    memset(tx, 0, sizeof *tx);
    tx->type = TX_TYPE_V1;
    chain_id_of(&tx->chain_id);
    memset(tx->sender.bytes, 0xab, ADDRESS_SIZE);
    tx->nonce = 7;
    tx->expiry_height = 1000;
    tx->op_count = 2;
    static const uint8_t args[] = { 1, 2, 3 };
    tx->ops[0] = (struct tx_op){ "test", 4, "set", 3, args, sizeof args };
    tx->ops[1] = (struct tx_op){ "account", 7, "add_key", 7, NULL, 0 };
    buf_init(wire, TX_SIZE_MAX);
    assert_int_equal(tx_sign(HASH_SHA256, tx, key, wire), ERR_OK);
    return key;
}

static void
round_trip(enum sig_alg alg)
{
    struct tx tx;
    struct buf wire;
    struct secret_key *key = make_tx(alg, &tx, &wire);
    struct tx back;
    assert_int_equal(tx_decode(wire.data, wire.size, &back), ERR_OK);
    assert_int_equal(back.type, TX_TYPE_V1);
    assert_true(hash_equal(&back.chain_id, &tx.chain_id));
    assert_memory_equal(back.sender.bytes, tx.sender.bytes, ADDRESS_SIZE);
    assert_true(public_key_equal(&back.key, &tx.key));
    assert_int_equal(back.key.alg, alg);
    assert_int_equal(back.nonce, 7);
    assert_int_equal(back.expiry_height, 1000);
    assert_int_equal(back.op_count, 2);
    assert_memory_equal(back.ops[0].module, "test", 4);
    assert_memory_equal(back.ops[1].op, "add_key", 7);
    assert_int_equal(back.ops[0].args_size, 3);
    assert_int_equal(back.ops[1].args_size, 0);
    assert_int_equal(back.unsigned_size, tx.unsigned_size);
    assert_int_equal(back.unsigned_size + 1 + SIGNATURE_SIZE, wire.size);
    assert_int_equal(tx_verify(HASH_SHA256, &back, wire.data, wire.size), ERR_OK);
    /* Canonical: re-encoding gives the same bytes; the hash is H(bytes). */
    struct buf again;
    buf_init(&again, TX_SIZE_MAX);
    assert_int_equal(tx_encode(&back, &again), ERR_OK);
    assert_int_equal(again.size, wire.size);
    assert_memory_equal(again.data, wire.data, wire.size);
    struct hash h1;
    struct hash h2;
    tx_hash(HASH_SHA256, wire.data, wire.size, &h1);
    hash_bytes(HASH_SHA256, wire.data, wire.size, &h2);
    assert_true(hash_equal(&h1, &h2));
    /* Verifying under another chain's hash algorithm fails. */
    assert_int_equal(tx_verify(HASH_SM3, &back, wire.data, wire.size), ERR_BAD_SIGNATURE);
    buf_release(&again);
    buf_release(&wire);
    secret_key_free(key);
}

static void
test_round_trip_ed25519(void **state)
{
    (void)state;
    round_trip(SIG_ED25519);
}

static void
test_round_trip_sm2(void **state)
{
    (void)state;
    round_trip(SIG_SM2);
}

static void
test_truncations_and_trailing(void **state)
{
    (void)state;
    struct tx tx;
    struct buf wire;
    struct secret_key *key = make_tx(SIG_ED25519, &tx, &wire);
    struct tx out;
    for (size_t n = 0; n < wire.size; n++) {
        assert_int_not_equal(tx_decode(wire.data, n, &out), ERR_OK);
    }
    assert_int_equal(buf_append_byte(&wire, 0), ERR_OK);
    assert_int_equal(tx_decode(wire.data, wire.size, &out), ERR_TRAILING);
    buf_release(&wire);
    secret_key_free(key);
}

/* Every single-byte change is caught: by the decoder or by the signature. */
static void
test_every_flipped_byte(void **state)
{
    (void)state;
    struct tx tx;
    struct buf wire;
    struct secret_key *key = make_tx(SIG_ED25519, &tx, &wire);
    for (size_t i = 0; i < wire.size; i++) {
        for (unsigned bit = 0; bit < 8; bit += 3) {
            wire.data[i] ^= (uint8_t)(1u << bit);
            struct tx out;
            enum err rc = tx_decode(wire.data, wire.size, &out);
            if (rc == ERR_OK) {
                rc = tx_verify(HASH_SHA256, &out, wire.data, wire.size);
            }
            assert_int_not_equal(rc, ERR_OK);
            wire.data[i] ^= (uint8_t)(1u << bit);
        }
    }
    buf_release(&wire);
    secret_key_free(key);
}

static void
test_invalid_fields(void **state)
{
    (void)state;
    struct tx tx;
    struct buf wire;
    struct secret_key *key = make_tx(SIG_ED25519, &tx, &wire);
    struct tx out;
    /* Unknown type byte. */
    wire.data[0] = 2;
    assert_int_equal(tx_decode(wire.data, wire.size, &out), ERR_UNSUPPORTED);
    wire.data[0] = TX_TYPE_V1;
    /* Signature algorithm differs from the key's. */
    wire.data[wire.size - SIGNATURE_SIZE - 1] = SIG_SM2;
    assert_int_equal(tx_decode(wire.data, wire.size, &out), ERR_MALFORMED);
    wire.data[wire.size - SIGNATURE_SIZE - 1] = SIG_ED25519;
    assert_int_equal(tx_decode(wire.data, wire.size, &out), ERR_OK);
    /* Encoding refuses what decoding refuses. */
    struct buf b;
    buf_init(&b, TX_SIZE_MAX);
    struct tx bad = tx;
    bad.ops[0].module = "Test";
    assert_int_equal(tx_encode(&bad, &b), ERR_MALFORMED);
    bad = tx;
    bad.op_count = 0;
    assert_int_equal(tx_encode(&bad, &b), ERR_MALFORMED);
    bad = tx;
    bad.op_count = TX_OPS_MAX + 1;
    assert_int_equal(tx_encode(&bad, &b), ERR_MALFORMED);
    bad = tx;
    bad.ops[1].op = "add-key";
    assert_int_equal(tx_encode(&bad, &b), ERR_MALFORMED);
    bad = tx;
    bad.sig.alg = SIG_SM2;
    assert_int_equal(tx_encode(&bad, &b), ERR_MALFORMED);
    buf_release(&b);
    assert_false(tx_name_is_valid("", 0));
    assert_false(tx_name_is_valid("abcdefghijklmnopqrstuvwxyz0123456", 33));
    assert_true(tx_name_is_valid("abcdefghijklmnopqrstuvwxyz012345", 32));
    assert_false(tx_name_is_valid("a.b", 3));
    buf_release(&wire);
    secret_key_free(key);
}

/* A tx with op names patched by hand (upper case, zero ops) is rejected by the decoder. */
static void
test_decoder_rejects_bad_names_and_counts(void **state)
{
    (void)state;
    struct tx tx;
    struct buf wire;
    struct secret_key *key = make_tx(SIG_ED25519, &tx, &wire);
    struct tx out;
    size_t ops_at = 1 + HASH_SIZE + ADDRESS_SIZE + 1 + 32 + 8 + 8;
    assert_int_equal(wire.data[ops_at], 2);
    assert_int_equal(wire.data[ops_at + 1], 4);
    wire.data[ops_at + 2] = 'T';
    assert_int_equal(tx_decode(wire.data, wire.size, &out), ERR_MALFORMED);
    wire.data[ops_at + 2] = 't';
    wire.data[ops_at] = 0;
    assert_int_not_equal(tx_decode(wire.data, wire.size, &out), ERR_OK);
    wire.data[ops_at] = TX_OPS_MAX + 1;
    assert_int_equal(tx_decode(wire.data, wire.size, &out), ERR_TOO_LARGE);
    wire.data[ops_at] = 2;
    assert_int_equal(tx_decode(wire.data, wire.size, &out), ERR_OK);
    uint8_t *big = mem_calloc(TX_SIZE_MAX + 1, 1);
    assert_int_equal(tx_decode(big, TX_SIZE_MAX + 1, &out), ERR_TOO_LARGE);
    mem_free(big);
    buf_release(&wire);
    secret_key_free(key);
}

/* The signature binds the domain tag and the chain: a signature over the same bytes with
 * another tag or chain id does not verify as a tx. */
static void
test_domain_separation(void **state)
{
    (void)state;
    struct tx tx;
    struct buf wire;
    struct secret_key *key = make_tx(SIG_ED25519, &tx, &wire);
    struct hash digest;
    sign_digest_tagged(HASH_SHA256, "LM1/vote", &tx.chain_id, wire.data, tx.unsigned_size, &digest);
    struct signature sig;
    assert_int_equal(sign_message(key, digest.bytes, HASH_SIZE, &sig), ERR_OK);
    memcpy(wire.data + tx.unsigned_size + 1, sig.bytes, SIGNATURE_SIZE);
    struct tx out;
    assert_int_equal(tx_decode(wire.data, wire.size, &out), ERR_OK);
    assert_int_equal(tx_verify(HASH_SHA256, &out, wire.data, wire.size), ERR_BAD_SIGNATURE);
    /* Same tag, other chain id. */
    struct hash other;
    hash_bytes(HASH_SHA256, "other chain", 11, &other);
    sign_digest_tagged(HASH_SHA256, TX_SIGN_TAG, &other, wire.data, tx.unsigned_size, &digest);
    assert_int_equal(sign_message(key, digest.bytes, HASH_SIZE, &sig), ERR_OK);
    memcpy(wire.data + tx.unsigned_size + 1, sig.bytes, SIGNATURE_SIZE);
    assert_int_equal(tx_decode(wire.data, wire.size, &out), ERR_OK);
    assert_int_equal(tx_verify(HASH_SHA256, &out, wire.data, wire.size), ERR_BAD_SIGNATURE);
    buf_release(&wire);
    secret_key_free(key);
}

static void
write_file(const char *dir, const char *name, const uint8_t *data, size_t size)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
}

/* Writes real signed txs as the fuzz seed corpus when LM_WRITE_CORPUS names a directory. */
static void
test_write_corpus(void **state)
{
    (void)state;
    const char *dir = getenv("LM_WRITE_CORPUS");
    if (dir == NULL) {
        skip();
    }
    const enum sig_alg algs[2] = { SIG_ED25519, SIG_SM2 };
    const char *names[2] = { "seed_ed25519", "seed_sm2" };
    for (size_t i = 0; i < 2; i++) {
        struct tx tx;
        struct buf wire;
        struct secret_key *key = make_tx(algs[i], &tx, &wire);
        write_file(dir, names[i], wire.data, wire.size);
        buf_release(&wire);
        secret_key_free(key);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_ed25519),
        cmocka_unit_test(test_round_trip_sm2),
        cmocka_unit_test(test_truncations_and_trailing),
        cmocka_unit_test(test_every_flipped_byte),
        cmocka_unit_test(test_invalid_fields),
        cmocka_unit_test(test_decoder_rejects_bad_names_and_counts),
        cmocka_unit_test(test_domain_separation),
        cmocka_unit_test(test_write_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
