/* Unit tests of crypto/sign: RFC 8032 Ed25519 vectors, SM2 round trips, every flipped bit,
 * malformed keys and signatures, interchange encodings, and SM2/Ed25519 interoperability with
 * the `openssl` command-line tool (real processes on real temp files). */
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/text.h"
#include "crypto/hash.h"
#include "crypto/sign.h"
#include "unit.h"

extern char **environ;

static void
from_hex(const char *hex, uint8_t *out, size_t size)
{
    size_t got = 0;
    assert_int_equal(strlen(hex), 2 * size);
    assert_int_equal(hex_decode(hex, 2 * size, out, size, &got), ERR_OK);
    assert_int_equal(got, size);
}

/* RFC 8032 section 7.1. */
struct rfc8032_vector {
    const char *name;
    const char *seed;
    const char *public_key;
    const char *message;
    const char *signature;
};

static const struct rfc8032_vector rfc8032[] = {
    { "TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
      "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e3970"
      "1cf9b46bd25bf5f0595bbe24655141438e7a100b" },
    { "TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
      "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
      "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613"
      "d0f11d8c387b2eaeb4302aeeb00d291612bb0c00" },
    { "TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
      "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
      "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760"
      "984dc6594a7c15e9716ed28dc027beceea1ec40a" },
    { "TEST SHA(abc)", "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
      "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
      "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23"
      "a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
      "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c6"
      "6431e0303dca179c138ac17ad9bef1177331a704" },
};

static void
test_rfc8032(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rfc8032 / sizeof rfc8032[0]; i++) {
        const struct rfc8032_vector *v = &rfc8032[i];
        print_message("RFC 8032 %s\n", v->name);
        uint8_t seed[32];
        uint8_t pk[32];
        uint8_t msg[64];
        uint8_t sig_bytes[SIGNATURE_SIZE];
        size_t msg_size = strlen(v->message) / 2;
        from_hex(v->seed, seed, sizeof seed);
        from_hex(v->public_key, pk, sizeof pk);
        from_hex(v->message, msg, msg_size);
        from_hex(v->signature, sig_bytes, sizeof sig_bytes);

        struct secret_key *key = NULL;
        assert_int_equal(secret_key_import(SIG_ED25519, seed, sizeof seed, &key), ERR_OK);
        assert_int_equal(secret_key_alg(key), SIG_ED25519);
        struct public_key pub;
        secret_key_public(key, &pub);
        assert_int_equal(pub.alg, SIG_ED25519);
        assert_int_equal(pub.size, 32);
        assert_memory_equal(pub.bytes, pk, sizeof pk);
        assert_int_equal(public_key_check(&pub), ERR_OK);

        struct signature sig;
        assert_int_equal(sign_message(key, msg, msg_size, &sig), ERR_OK);
        assert_int_equal(sig.alg, SIG_ED25519);
        assert_memory_equal(sig.bytes, sig_bytes, SIGNATURE_SIZE);
        assert_int_equal(verify_message(&pub, msg, msg_size, &sig), ERR_OK);

        uint8_t exported[SECRET_KEY_SIZE_MAX];
        secret_key_export(key, exported);
        assert_true(ct_equal(exported, seed, sizeof seed));
        secret_key_free(key);
    }
}

static void
test_round_trip(void **state)
{
    (void)state;
    const enum sig_alg algs[] = { SIG_ED25519, SIG_SM2 };
    const uint8_t msg[] = "the alliance signs this";
    for (size_t a = 0; a < 2; a++) {
        struct secret_key *key = NULL;
        assert_int_equal(secret_key_generate(algs[a], &key), ERR_OK);
        struct public_key pub;
        secret_key_public(key, &pub);
        assert_int_equal(pub.size, sig_alg_public_key_size(algs[a]));
        assert_int_equal(public_key_check(&pub), ERR_OK);
        struct signature sig;
        assert_int_equal(sign_message(key, msg, sizeof msg, &sig), ERR_OK);
        assert_int_equal(sig.alg, algs[a]);
        assert_int_equal(verify_message(&pub, msg, sizeof msg, &sig), ERR_OK);
        assert_int_equal(verify_message(&pub, msg, sizeof msg - 1, &sig), ERR_BAD_SIGNATURE);
        assert_int_equal(sign_message(key, NULL, 0, &sig), ERR_OK); /* empty message */
        assert_int_equal(verify_message(&pub, NULL, 0, &sig), ERR_OK);

        /* Export and import give the same key; its signatures verify under the old key. */
        uint8_t secret[SECRET_KEY_SIZE_MAX];
        secret_key_export(key, secret);
        struct secret_key *again = NULL;
        assert_int_equal(secret_key_import(algs[a], secret, sizeof secret, &again), ERR_OK);
        struct public_key pub_again;
        secret_key_public(again, &pub_again);
        assert_true(public_key_equal(&pub, &pub_again));
        assert_int_equal(sign_message(again, msg, sizeof msg, &sig), ERR_OK);
        assert_int_equal(verify_message(&pub, msg, sizeof msg, &sig), ERR_OK);
        memset(secret, 0, sizeof secret);
        secret_key_free(again);

        struct secret_key *other = NULL;
        assert_int_equal(secret_key_generate(algs[a], &other), ERR_OK);
        struct public_key pub_other;
        secret_key_public(other, &pub_other);
        assert_false(public_key_equal(&pub, &pub_other));
        assert_int_equal(verify_message(&pub_other, msg, sizeof msg, &sig), ERR_BAD_SIGNATURE);
        secret_key_free(other);
        secret_key_free(key);
    }
    secret_key_free(NULL);
}

/* Every single flipped bit of message, signature or public key must fail. */
static void
flip_all_bits(enum sig_alg alg)
{
    struct secret_key *key = NULL;
    assert_int_equal(secret_key_generate(alg, &key), ERR_OK);
    struct public_key pub;
    secret_key_public(key, &pub);
    uint8_t msg[32];
    for (size_t i = 0; i < sizeof msg; i++) {
        msg[i] = (uint8_t)(i * 7);
    }
    struct signature sig;
    assert_int_equal(sign_message(key, msg, sizeof msg, &sig), ERR_OK);
    assert_int_equal(verify_message(&pub, msg, sizeof msg, &sig), ERR_OK);
    for (size_t bit = 0; bit < 8 * sizeof msg; bit++) {
        msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(verify_message(&pub, msg, sizeof msg, &sig), ERR_BAD_SIGNATURE);
        msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t bit = 0; bit < 8 * (size_t)SIGNATURE_SIZE; bit++) {
        sig.bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(verify_message(&pub, msg, sizeof msg, &sig), ERR_BAD_SIGNATURE);
        sig.bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t bit = 0; bit < (size_t)8 * pub.size; bit++) {
        pub.bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(verify_message(&pub, msg, sizeof msg, &sig), ERR_BAD_SIGNATURE);
        pub.bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    assert_int_equal(verify_message(&pub, msg, sizeof msg, &sig), ERR_OK);
    secret_key_free(key);
}

static void
test_flipped_bits_ed25519(void **state)
{
    (void)state;
    flip_all_bits(SIG_ED25519);
}

static void
test_flipped_bits_sm2(void **state)
{
    (void)state;
    flip_all_bits(SIG_SM2);
}

static void
test_alg_mismatch(void **state)
{
    (void)state;
    struct secret_key *ed = NULL;
    struct secret_key *sm = NULL;
    assert_int_equal(secret_key_generate(SIG_ED25519, &ed), ERR_OK);
    assert_int_equal(secret_key_generate(SIG_SM2, &sm), ERR_OK);
    struct public_key ed_pub;
    struct public_key sm_pub;
    secret_key_public(ed, &ed_pub);
    secret_key_public(sm, &sm_pub);
    const uint8_t msg[] = "mismatch";
    struct signature ed_sig;
    struct signature sm_sig;
    assert_int_equal(sign_message(ed, msg, sizeof msg, &ed_sig), ERR_OK);
    assert_int_equal(sign_message(sm, msg, sizeof msg, &sm_sig), ERR_OK);
    assert_int_equal(verify_message(&ed_pub, msg, sizeof msg, &ed_sig), ERR_OK);
    assert_int_equal(verify_message(&sm_pub, msg, sizeof msg, &sm_sig), ERR_OK);
    assert_int_equal(verify_message(&ed_pub, msg, sizeof msg, &sm_sig), ERR_BAD_SIGNATURE);
    assert_int_equal(verify_message(&sm_pub, msg, sizeof msg, &ed_sig), ERR_BAD_SIGNATURE);

    /* The right bytes under the wrong tag. */
    struct signature relabelled = ed_sig;
    relabelled.alg = SIG_SM2;
    assert_int_equal(verify_message(&ed_pub, msg, sizeof msg, &relabelled), ERR_BAD_SIGNATURE);
    struct public_key bad = ed_pub;
    bad.alg = SIG_SM2;
    assert_int_equal(verify_message(&bad, msg, sizeof msg, &relabelled), ERR_BAD_SIGNATURE);
    /* Unknown algorithm, wrong sizes. */
    bad = ed_pub;
    bad.alg = 3;
    relabelled = ed_sig;
    relabelled.alg = 3;
    assert_int_equal(verify_message(&bad, msg, sizeof msg, &relabelled), ERR_BAD_SIGNATURE);
    /* Zero and out-of-range SM2 scalars (r = n) in the signature. */
    struct signature forged = { .alg = SIG_SM2 };
    assert_int_equal(verify_message(&sm_pub, msg, sizeof msg, &forged), ERR_BAD_SIGNATURE);
    from_hex("fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123", forged.bytes, 32);
    memcpy(forged.bytes + 32, sm_sig.bytes + 32, 32);
    assert_int_equal(verify_message(&sm_pub, msg, sizeof msg, &forged), ERR_BAD_SIGNATURE);
    memset(forged.bytes, 0, sizeof forged.bytes);
    forged.alg = SIG_ED25519;
    assert_int_equal(verify_message(&ed_pub, msg, sizeof msg, &forged), ERR_BAD_SIGNATURE);
    bad = ed_pub;
    bad.size = 200;
    assert_false(public_key_equal(&bad, &bad));
    bad.size = 31;
    assert_int_equal(verify_message(&bad, msg, sizeof msg, &ed_sig), ERR_BAD_SIGNATURE);
    bad = sm_pub;
    bad.size = 64;
    assert_int_equal(verify_message(&bad, msg, sizeof msg, &sm_sig), ERR_BAD_SIGNATURE);
    bad.size = 200;
    assert_int_equal(verify_message(&bad, msg, sizeof msg, &sm_sig), ERR_BAD_SIGNATURE);
    secret_key_free(ed);
    secret_key_free(sm);
}

static void
expect_ed25519_rejected(const char *hex)
{
    struct public_key key = { .alg = SIG_ED25519, .size = 32 };
    from_hex(hex, key.bytes, 32);
    assert_int_equal(public_key_check(&key), ERR_MALFORMED);
}

static void
test_malformed_keys(void **state)
{
    (void)state;
    /* Ed25519: small order (identity, order 2, order 4 and 8 points), non-canonical y >= p. */
    expect_ed25519_rejected("0100000000000000000000000000000000000000000000000000000000000000");
    expect_ed25519_rejected("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
    expect_ed25519_rejected("0000000000000000000000000000000000000000000000000000000000000000");
    expect_ed25519_rejected("0000000000000000000000000000000000000000000000000000000000000080");
    expect_ed25519_rejected("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05");
    expect_ed25519_rejected("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a");
    expect_ed25519_rejected("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
    expect_ed25519_rejected("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");

    struct secret_key *key = NULL;
    assert_int_equal(secret_key_generate(SIG_SM2, &key), ERR_OK);
    struct public_key pub;
    secret_key_public(key, &pub);
    secret_key_free(key);
    assert_int_equal(public_key_check(&pub), ERR_OK);
    struct public_key bad = pub;
    bad.bytes[64] ^= 1; /* off the curve */
    assert_int_equal(public_key_check(&bad), ERR_MALFORMED);
    /* A valid key is cached by public_key_check: it stays valid, and a key that shares its
     * cache slot (same last bytes) but differs elsewhere is still checked in full. */
    assert_int_equal(public_key_check(&pub), ERR_OK);
    bad = pub;
    bad.bytes[20] ^= 1; /* X changed, Y and the last bytes kept: off the curve */
    assert_int_equal(public_key_check(&bad), ERR_MALFORMED);
    assert_int_equal(public_key_check(&bad), ERR_MALFORMED);
    assert_int_equal(public_key_check(&pub), ERR_OK);
    bad = pub;
    bad.bytes[0] = 0x02; /* compressed prefix is not our encoding */
    assert_int_equal(public_key_check(&bad), ERR_MALFORMED);
    bad = pub;
    bad.size = 33;
    assert_int_equal(public_key_check(&bad), ERR_MALFORMED);
    memset(bad.bytes, 0, sizeof bad.bytes);
    bad.size = 65;
    bad.bytes[0] = 0x04;
    assert_int_equal(public_key_check(&bad), ERR_MALFORMED);
    bad = pub;
    bad.alg = SIG_ED25519;
    assert_int_equal(public_key_check(&bad), ERR_MALFORMED);
    bad.alg = 0;
    assert_int_equal(public_key_check(&bad), ERR_MALFORMED);

    /* Secret keys: wrong size; SM2 scalar outside [1, n-2]. */
    uint8_t secret[33] = { 0 };
    struct secret_key *untouched = NULL;
    assert_int_equal(secret_key_import(SIG_ED25519, secret, 31, &untouched), ERR_MALFORMED);
    assert_int_equal(secret_key_import(SIG_SM2, secret, 33, &untouched), ERR_MALFORMED);
    assert_int_equal(secret_key_import(SIG_SM2, secret, 32, &untouched), ERR_MALFORMED);
    const char *n = "fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123";
    from_hex(n, secret, 32);
    assert_int_equal(secret_key_import(SIG_SM2, secret, 32, &untouched), ERR_MALFORMED);
    secret[31] = 0x22; /* n - 1 */
    assert_int_equal(secret_key_import(SIG_SM2, secret, 32, &untouched), ERR_MALFORMED);
    memset(secret, 0xff, 32);
    assert_int_equal(secret_key_import(SIG_SM2, secret, 32, &untouched), ERR_MALFORMED);
    assert_null(untouched);
    from_hex(n, secret, 32);
    secret[31] = 0x21; /* n - 2 is the largest valid scalar */
    assert_int_equal(secret_key_import(SIG_SM2, secret, 32, &key), ERR_OK);
    secret_key_free(key);
    memset(secret, 0, 32);
    secret[31] = 1;
    assert_int_equal(secret_key_import(SIG_SM2, secret, 32, &key), ERR_OK);
    secret_key_public(key, &pub); /* d = 1: the public key is the generator */
    assert_memory_equal(pub.bytes + 1,
                        "\x32\xc4\xae\x2c\x1f\x19\x81\x19\x5f\x99\x04\x46\x6a\x39\xc9\x94", 16);
    secret_key_free(key);
}

static void
test_interchange(void **state)
{
    (void)state;
    const enum sig_alg algs[] = { SIG_ED25519, SIG_SM2 };
    const size_t der_sizes[] = { 44, 91 };
    for (size_t a = 0; a < 2; a++) {
        struct secret_key *key = NULL;
        assert_int_equal(secret_key_generate(algs[a], &key), ERR_OK);
        struct public_key pub;
        secret_key_public(key, &pub);
        uint8_t der[PUBLIC_KEY_DER_SIZE_MAX];
        size_t der_size = 0;
        assert_int_equal(public_key_to_der(&pub, der, &der_size), ERR_OK);
        assert_int_equal(der_size, der_sizes[a]);
        struct public_key back = { 0 };
        assert_int_equal(public_key_from_der(der, der_size, &back), ERR_OK);
        assert_true(public_key_equal(&pub, &back));
        assert_int_equal(public_key_from_der(der, der_size - 1, &back), ERR_MALFORMED);
        der[der_size] = 0;
        assert_int_equal(public_key_from_der(der, der_size + 1, &back), ERR_MALFORMED);
        der[der_size - 1] ^= 1; /* SM2: off the curve; Ed25519: another (valid or not) key */
        if (algs[a] == SIG_SM2) {
            assert_int_equal(public_key_from_der(der, der_size, &back), ERR_MALFORMED);
        }
        char pem[PUBLIC_KEY_PEM_SIZE_MAX];
        assert_int_equal(public_key_to_pem(&pub, pem), ERR_OK);
        assert_non_null(strstr(pem, "-----BEGIN PUBLIC KEY-----\n"));
        assert_non_null(strstr(pem, "-----END PUBLIC KEY-----\n"));

        struct signature sig;
        assert_int_equal(sign_message(key, der, 10, &sig), ERR_OK);
        uint8_t sig_der[SIGNATURE_DER_SIZE_MAX + 1];
        size_t sig_der_size = 0;
        signature_to_der(&sig, sig_der, &sig_der_size);
        struct signature sig_back;
        assert_int_equal(signature_from_der(algs[a], sig_der, sig_der_size, &sig_back), ERR_OK);
        assert_int_equal(sig_back.alg, algs[a]);
        assert_memory_equal(sig_back.bytes, sig.bytes, SIGNATURE_SIZE);
        sig_der[sig_der_size] = 0;
        assert_int_equal(signature_from_der(algs[a], sig_der, sig_der_size + 1, &sig_back),
                         ERR_MALFORMED);
        assert_int_equal(signature_from_der(algs[a], sig_der, sig_der_size - 1, &sig_back),
                         ERR_MALFORMED);
        secret_key_free(key);
    }
    /* Non-minimal DER (a redundant leading zero) and a negative integer are refused. */
    const uint8_t padded[] = { 0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01 };
    const uint8_t negative[] = { 0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01 };
    const uint8_t minimal[] = { 0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01 };
    struct signature sig;
    assert_int_equal(signature_from_der(SIG_SM2, padded, sizeof padded, &sig), ERR_MALFORMED);
    assert_int_equal(signature_from_der(SIG_SM2, negative, sizeof negative, &sig), ERR_MALFORMED);
    assert_int_equal(signature_from_der(SIG_SM2, minimal, sizeof minimal, &sig), ERR_OK);
    assert_int_equal(sig.bytes[31], 1);
    assert_int_equal(sig.bytes[63], 1);
    /* An Ed25519 key in DER is not accepted as anything but Ed25519; a P-256 key is refused. */
    const char *p256_spki =
        "3059301306072a8648ce3d020106082a8648ce3d030107034200046b17d1f2e12c4247f8bce6e563a440f2"
        "77037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb640"
        "6837bf51f5";
    uint8_t p256[91];
    from_hex(p256_spki, p256, sizeof p256);
    struct public_key pub;
    assert_int_equal(public_key_from_der(p256, sizeof p256, &pub), ERR_MALFORMED);
    /* A valid SM2 key with a compressed point (`openssl ec -conv_form compressed`): the same
     * key, but not our encoding. */
    const char *compressed_spki =
        "3039301306072a8648ce3d020106082a811ccf5501822d032200035cdd0aa23c82653ed7f7afd337aa3704cc"
        "4b09a6ee45b4192c8112ec408412e0";
    uint8_t compressed[59];
    from_hex(compressed_spki, compressed, sizeof compressed);
    assert_int_equal(public_key_from_der(compressed, sizeof compressed, &pub), ERR_MALFORMED);
}

static void
test_address_and_digest(void **state)
{
    (void)state;
    struct secret_key *key = NULL;
    uint8_t seed[32] = { 1 };
    assert_int_equal(secret_key_import(SIG_ED25519, seed, sizeof seed, &key), ERR_OK);
    struct public_key pub;
    secret_key_public(key, &pub);
    secret_key_free(key);

    /* address = first 20 bytes of H("LM1/addr" || alg || key) */
    struct hasher hasher;
    const uint8_t alg_byte = SIG_ED25519;
    hasher_init(&hasher, HASH_SM3);
    hasher_update(&hasher, "LM1/addr", 8);
    hasher_update(&hasher, &alg_byte, 1);
    hasher_update(&hasher, pub.bytes, 32);
    struct hash h;
    hasher_final(&hasher, &h);
    struct address addr;
    address_of(HASH_SM3, &pub, &addr);
    assert_memory_equal(addr.bytes, h.bytes, ADDRESS_SIZE);
    struct address addr_sha;
    address_of(HASH_SHA256, &pub, &addr_sha);
    assert_memory_not_equal(addr.bytes, addr_sha.bytes, ADDRESS_SIZE);
    pub.alg = SIG_SM2; /* same bytes, other algorithm tag: another address */
    address_of(HASH_SM3, &pub, &addr_sha);
    assert_memory_not_equal(addr.bytes, addr_sha.bytes, ADDRESS_SIZE);

    /* digest = H(tag || chain_id || bytes) */
    struct hash chain_id;
    hash_bytes(HASH_SHA256, "chain", 5, &chain_id);
    struct hash expect;
    struct hash got;
    hasher_release(&hasher);
    hasher_init(&hasher, HASH_SHA256);
    hasher_update(&hasher, "LM1/tx", 6);
    hasher_update(&hasher, chain_id.bytes, HASH_SIZE);
    hasher_update(&hasher, "abc", 3);
    hasher_final(&hasher, &expect);
    hasher_release(&hasher);
    sign_digest_tagged(HASH_SHA256, "LM1/tx", &chain_id, (const uint8_t *)"abc", 3, &got);
    assert_true(hash_equal(&expect, &got));
    sign_digest_tagged(HASH_SHA256, "LM1/vote", &chain_id, (const uint8_t *)"abc", 3, &got);
    assert_false(hash_equal(&expect, &got));

    assert_true(ct_equal("abcd", "abcd", 4));
    assert_false(ct_equal("abcd", "abce", 4));
    enum sig_alg alg;
    assert_true(sig_alg_parse("SM2", &alg));
    assert_int_equal(alg, SIG_SM2);
    assert_true(sig_alg_parse("ed25519", &alg));
    assert_int_equal(alg, SIG_ED25519);
    assert_false(sig_alg_parse("rsa", &alg));
    assert_string_equal(sig_alg_name(SIG_SM2), "sm2");
    assert_false(sig_alg_is_valid(0));
    assert_false(sig_alg_is_valid(3));
}

/* ---- interoperability with the openssl command-line tool ---- */

struct tmp_dir {
    char path[64];
};

static void
tmp_path(const struct tmp_dir *dir, const char *name, char out[128])
{
    int n = snprintf(out, 128, "%s/%s", dir->path, name);
    assert_true(n > 0 && n < 128);
}

static void
write_file(const struct tmp_dir *dir, const char *name, const void *data, size_t size)
{
    char path[128];
    tmp_path(dir, name, path);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
}

static size_t
read_file(const struct tmp_dir *dir, const char *name, uint8_t *out, size_t max)
{
    char path[128];
    tmp_path(dir, name, path);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t size = fread(out, 1, max, f);
    assert_true(feof(f) != 0);
    assert_int_equal(fclose(f), 0);
    return size;
}

/* Runs `openssl args...` in dir with output discarded; returns its exit status. */
static int
run_openssl(const struct tmp_dir *dir, const char *const *args)
{
    static char storage[24][64]; /* posix_spawn wants mutable strings */
    char *argv[24];
    size_t argc = 0;
    for (const char *arg = "openssl"; arg != NULL; arg = args[argc - 1]) {
        assert_true(argc < 23);
        assert_true(strlen(arg) < sizeof storage[0]);
        memcpy(storage[argc], arg, strlen(arg) + 1);
        argv[argc] = storage[argc];
        argc++;
    }
    argv[argc] = NULL;
    posix_spawn_file_actions_t actions;
    assert_int_equal(posix_spawn_file_actions_init(&actions), 0);
    assert_int_equal(posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0), 0);
    assert_int_equal(posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0), 0);
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir->path), 0);
    pid_t pid = 0;
    int rc = posix_spawnp(&pid, "openssl", &actions, NULL, argv, environ);
    assert_int_equal(chdir(cwd), 0);
    posix_spawn_file_actions_destroy(&actions);
    assert_int_equal(rc, 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void
tmp_dir_open(struct tmp_dir *dir)
{
    snprintf(dir->path, sizeof dir->path, "/tmp/lm_test_sign_XXXXXX");
    assert_non_null(mkdtemp(dir->path));
}

static void
tmp_dir_close(struct tmp_dir *dir)
{
    const char *names[] = { "msg", "bad", "pub.pem", "sig.der", "key.pem", "pub.der" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[128];
        tmp_path(dir, names[i], path);
        (void)unlink(path);
    }
    assert_int_equal(rmdir(dir->path), 0);
}

#define DISTID "distid:1234567812345678"

/* A signature made here verifies with `openssl dgst -sm3` and the standard ID, not without
 * it, and not for another message. */
static void
test_sm2_verified_by_openssl(void **state)
{
    (void)state;
    struct tmp_dir dir = { { 0 } };
    tmp_dir_open(&dir);
    struct secret_key *key = NULL;
    assert_int_equal(secret_key_generate(SIG_SM2, &key), ERR_OK);
    struct public_key pub;
    secret_key_public(key, &pub);
    const char msg[] = "signed by lianmeng, checked by openssl";
    struct signature sig;
    assert_int_equal(sign_message(key, (const uint8_t *)msg, strlen(msg), &sig), ERR_OK);
    secret_key_free(key);

    char pem[PUBLIC_KEY_PEM_SIZE_MAX];
    assert_int_equal(public_key_to_pem(&pub, pem), ERR_OK);
    uint8_t der[SIGNATURE_DER_SIZE_MAX];
    size_t der_size = 0;
    signature_to_der(&sig, der, &der_size);
    write_file(&dir, "pub.pem", pem, strlen(pem));
    write_file(&dir, "sig.der", der, der_size);
    write_file(&dir, "msg", msg, strlen(msg));
    write_file(&dir, "bad", msg, strlen(msg) - 1);

    const char *ok[] = { "dgst", "-sm3",       "-verify", "pub.pem", "-sigopt",
                         DISTID, "-signature", "sig.der", "msg",     NULL };
    assert_int_equal(run_openssl(&dir, ok), 0);
    const char *other_msg[] = { "dgst", "-sm3",       "-verify", "pub.pem", "-sigopt",
                                DISTID, "-signature", "sig.der", "bad",     NULL };
    assert_int_not_equal(run_openssl(&dir, other_msg), 0);
    const char *no_id[] = { "dgst",       "-sm3",    "-verify", "pub.pem",
                            "-signature", "sig.der", "msg",     NULL };
    assert_int_not_equal(run_openssl(&dir, no_id), 0);
    const char *pkeyutl[] = { "pkeyutl",  "-verify", "-pubin",   "-inkey", "pub.pem",
                              "-rawin",   "-digest", "sm3",      "-in",    "msg",
                              "-sigfile", "sig.der", "-pkeyopt", DISTID,   NULL };
    assert_int_equal(run_openssl(&dir, pkeyutl), 0);
    tmp_dir_close(&dir);
}

/* A key made by `openssl genpkey -algorithm SM2` and a signature made by `openssl dgst -sm3`
 * with the standard ID verify here. */
static void
test_sm2_openssl_verified_here(void **state)
{
    (void)state;
    struct tmp_dir dir = { { 0 } };
    tmp_dir_open(&dir);
    const char msg[] = "signed by openssl, checked by lianmeng";
    write_file(&dir, "msg", msg, strlen(msg));
    const char *genkey[] = { "genpkey", "-algorithm", "SM2", "-out", "key.pem", NULL };
    assert_int_equal(run_openssl(&dir, genkey), 0);
    const char *pubout[] = { "pkey", "-in",  "key.pem", "-pubout", "-outform",
                             "DER",  "-out", "pub.der", NULL };
    assert_int_equal(run_openssl(&dir, pubout), 0);
    const char *sign[] = { "dgst", "-sm3", "-sign",   "key.pem", "-sigopt",
                           DISTID, "-out", "sig.der", "msg",     NULL };
    assert_int_equal(run_openssl(&dir, sign), 0);

    uint8_t pub_der[256];
    uint8_t sig_der[256];
    size_t pub_der_size = read_file(&dir, "pub.der", pub_der, sizeof pub_der);
    size_t sig_der_size = read_file(&dir, "sig.der", sig_der, sizeof sig_der);
    struct public_key pub;
    struct signature sig;
    assert_int_equal(public_key_from_der(pub_der, pub_der_size, &pub), ERR_OK);
    assert_int_equal(pub.alg, SIG_SM2);
    assert_int_equal(signature_from_der(SIG_SM2, sig_der, sig_der_size, &sig), ERR_OK);
    assert_int_equal(verify_message(&pub, (const uint8_t *)msg, strlen(msg), &sig), ERR_OK);
    assert_int_equal(verify_message(&pub, (const uint8_t *)msg, strlen(msg) - 1, &sig),
                     ERR_BAD_SIGNATURE);

    /* Signed without the ID (OpenSSL 3.0 then uses an empty one): must not verify here. */
    const char *sign_no_id[] = {
        "dgst", "-sm3", "-sign", "key.pem", "-out", "sig.der", "msg", NULL
    };
    assert_int_equal(run_openssl(&dir, sign_no_id), 0);
    sig_der_size = read_file(&dir, "sig.der", sig_der, sizeof sig_der);
    assert_int_equal(signature_from_der(SIG_SM2, sig_der, sig_der_size, &sig), ERR_OK);
    assert_int_equal(verify_message(&pub, (const uint8_t *)msg, strlen(msg), &sig),
                     ERR_BAD_SIGNATURE);
    tmp_dir_close(&dir);
}

/* Ed25519 both ways with `openssl pkeyutl -rawin` (RFC 8410 keys, raw 64-byte signatures). */
static void
test_ed25519_openssl(void **state)
{
    (void)state;
    struct tmp_dir dir = { { 0 } };
    tmp_dir_open(&dir);
    const char msg[] = "ed25519 both ways";
    write_file(&dir, "msg", msg, strlen(msg));
    struct secret_key *key = NULL;
    assert_int_equal(secret_key_generate(SIG_ED25519, &key), ERR_OK);
    struct public_key pub;
    secret_key_public(key, &pub);
    struct signature sig;
    assert_int_equal(sign_message(key, (const uint8_t *)msg, strlen(msg), &sig), ERR_OK);
    secret_key_free(key);
    char pem[PUBLIC_KEY_PEM_SIZE_MAX];
    assert_int_equal(public_key_to_pem(&pub, pem), ERR_OK);
    uint8_t der[SIGNATURE_DER_SIZE_MAX];
    size_t der_size = 0;
    signature_to_der(&sig, der, &der_size);
    assert_int_equal(der_size, SIGNATURE_SIZE);
    write_file(&dir, "pub.pem", pem, strlen(pem));
    write_file(&dir, "sig.der", der, der_size);
    const char *verify[] = { "pkeyutl", "-verify", "-pubin",   "-inkey",  "pub.pem", "-rawin",
                             "-in",     "msg",     "-sigfile", "sig.der", NULL };
    assert_int_equal(run_openssl(&dir, verify), 0);

    const char *genkey[] = { "genpkey", "-algorithm", "ED25519", "-out", "key.pem", NULL };
    assert_int_equal(run_openssl(&dir, genkey), 0);
    const char *pubout[] = { "pkey", "-in",  "key.pem", "-pubout", "-outform",
                             "DER",  "-out", "pub.der", NULL };
    assert_int_equal(run_openssl(&dir, pubout), 0);
    const char *sign[] = { "pkeyutl", "-sign", "-inkey", "key.pem", "-rawin",
                           "-in",     "msg",   "-out",   "sig.der", NULL };
    assert_int_equal(run_openssl(&dir, sign), 0);
    uint8_t pub_der[256];
    uint8_t sig_der[256];
    size_t pub_der_size = read_file(&dir, "pub.der", pub_der, sizeof pub_der);
    size_t sig_der_size = read_file(&dir, "sig.der", sig_der, sizeof sig_der);
    assert_int_equal(public_key_from_der(pub_der, pub_der_size, &pub), ERR_OK);
    assert_int_equal(pub.alg, SIG_ED25519);
    assert_int_equal(signature_from_der(SIG_ED25519, sig_der, sig_der_size, &sig), ERR_OK);
    assert_int_equal(verify_message(&pub, (const uint8_t *)msg, strlen(msg), &sig), ERR_OK);
    tmp_dir_close(&dir);
}

/* Two threads sign and verify with both algorithms at once (shared key cache). */
static void *
sign_thread(void *arg)
{
    int *failures = arg;
    const enum sig_alg algs[] = { SIG_ED25519, SIG_SM2 };
    for (int i = 0; i < 40; i++) {
        struct secret_key *key = NULL;
        struct public_key pub;
        struct signature sig;
        uint8_t msg[4] = { (uint8_t)i };
        if (secret_key_generate(algs[i % 2], &key) != ERR_OK ||
            sign_message(key, msg, sizeof msg, &sig) != ERR_OK) {
            (*failures)++;
            secret_key_free(key);
            continue;
        }
        secret_key_public(key, &pub);
        *failures += verify_message(&pub, msg, sizeof msg, &sig) == ERR_OK ? 0 : 1;
        *failures += verify_message(&pub, msg, sizeof msg, &sig) == ERR_OK ? 0 : 1; /* cached */
        msg[1] = 1;
        *failures += verify_message(&pub, msg, sizeof msg, &sig) == ERR_BAD_SIGNATURE ? 0 : 1;
        secret_key_free(key);
    }
    return NULL;
}

static void
test_threads(void **state)
{
    (void)state;
    pthread_t threads[2];
    int failures[2] = { 0, 0 };
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&threads[i], NULL, sign_thread, &failures[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(failures[i], 0);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8032),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_flipped_bits_ed25519),
        cmocka_unit_test(test_flipped_bits_sm2),
        cmocka_unit_test(test_alg_mismatch),
        cmocka_unit_test(test_malformed_keys),
        cmocka_unit_test(test_interchange),
        cmocka_unit_test(test_address_and_digest),
        cmocka_unit_test(test_sm2_verified_by_openssl),
        cmocka_unit_test(test_sm2_openssl_verified_here),
        cmocka_unit_test(test_ed25519_openssl),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
