#include "crypto/selfcheck.h"

#include <string.h>

#include "base/assert.h"
#include "base/text.h"
#include "crypto/hash.h"
#include "crypto/sign.h"

typedef enum err selfcheck_check_fn(void);

/* Decodes a hex constant of this file (a bug if malformed). */
static void
hex_const(const char *hex, uint8_t *out, size_t size)
{
    size_t got = 0;
    ASSERT(strlen(hex) == 2 * size);
    ASSERT(hex_decode(hex, 2 * size, out, size, &got) == ERR_OK);
    ASSERT(got == size);
}

static enum err
hash_kat(enum hash_alg alg, const char *msg, size_t repeat, const char *expect_hex)
{
    struct hasher h;
    struct hash got;
    struct hash expect;
    hex_const(expect_hex, expect.bytes, HASH_SIZE);
    hasher_init(&h, alg);
    for (size_t i = 0; i < repeat; i++) {
        hasher_update(&h, msg, strlen(msg));
    }
    hasher_final(&h, &got);
    hasher_release(&h);
    if (!hash_equal(&got, &expect)) {
        return ERR_CRYPTO;
    }
    if (repeat == 1) { /* the one-shot path too */
        hash_bytes(alg, msg, strlen(msg), &got);
        return hash_equal(&got, &expect) ? ERR_OK : ERR_CRYPTO;
    }
    return ERR_OK;
}

static enum err
check_sha256(void)
{
    enum err rc = hash_kat(HASH_SHA256, "abc", 1,
                           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    if (rc == ERR_OK) {
        rc = hash_kat(HASH_SHA256, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
                      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    }
    return rc;
}

static enum err
check_sm3(void)
{
    enum err rc = hash_kat(HASH_SM3, "abc", 1,
                           "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
    if (rc == ERR_OK) {
        rc = hash_kat(HASH_SM3, "abcd", 16,
                      "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732");
    }
    return rc;
}

/* Verifies (pub, msg, sig) and that the same signature fails for a changed message. */
static enum err
verify_both_ways(const struct public_key *pub, uint8_t *msg, size_t size,
                 const struct signature *sig)
{
    ASSERT(size > 0);
    if (verify_message(pub, msg, size, sig) != ERR_OK) {
        return ERR_CRYPTO;
    }
    msg[0] ^= 1;
    enum err rc = verify_message(pub, msg, size, sig);
    msg[0] ^= 1;
    return rc == ERR_BAD_SIGNATURE ? ERR_OK : ERR_CRYPTO;
}

/* RFC 8032 section 7.1, TEST 2: seed -> public key -> signature, byte for byte. */
static enum err
check_ed25519(void)
{
    uint8_t seed[SECRET_KEY_SIZE_MAX];
    uint8_t expect_pub[32];
    uint8_t expect_sig[SIGNATURE_SIZE];
    uint8_t msg[1] = { 0x72 };
    hex_const("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", seed,
              sizeof seed);
    hex_const("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", expect_pub,
              sizeof expect_pub);
    hex_const("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
              "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
              expect_sig, sizeof expect_sig);

    struct secret_key *key = NULL;
    enum err rc = secret_key_import(SIG_ED25519, seed, sizeof seed, &key);
    if (rc != ERR_OK) {
        return rc;
    }
    struct public_key pub;
    struct signature sig;
    secret_key_public(key, &pub);
    rc = sign_message(key, msg, sizeof msg, &sig);
    secret_key_free(key);
    if (rc != ERR_OK) {
        return rc;
    }
    if (pub.size != sizeof expect_pub || memcmp(pub.bytes, expect_pub, sizeof expect_pub) != 0 ||
        memcmp(sig.bytes, expect_sig, sizeof expect_sig) != 0) {
        return ERR_CRYPTO;
    }
    return verify_both_ways(&pub, msg, sizeof msg, &sig);
}

/* A fixed signature of "abc" made with `openssl dgst -sm3 -sign key.pem -sigopt
 * distid:1234567812345678` (OpenSSL 3.0), then a fresh round trip with a new key. */
static enum err
check_sm2(void)
{
    struct public_key pub = { .alg = SIG_SM2, .size = 65 };
    struct signature sig = { .alg = SIG_SM2 };
    uint8_t msg[3] = { 'a', 'b', 'c' };
    hex_const("045cdd0aa23c82653ed7f7afd337aa3704cc4b09a6ee45b4192c8112ec408412e0"
              "3687dfb767b1926500e7590f6befd24dc1e32388e3936367d79592bdc7101cd7",
              pub.bytes, pub.size);
    hex_const("4cfb647b5f4319cb786b96ac3915f90bb9b1c345d5175491dd9cce1e8369865d"
              "f4be744af0fd3fd1bd2bc612fada693afe0d08d08a0595d894d220927b7f0d50",
              sig.bytes, sizeof sig.bytes);
    if (public_key_check(&pub) != ERR_OK) {
        return ERR_CRYPTO;
    }
    enum err rc = verify_both_ways(&pub, msg, sizeof msg, &sig);
    if (rc != ERR_OK) {
        return rc;
    }

    struct secret_key *key = NULL;
    rc = secret_key_generate(SIG_SM2, &key);
    if (rc != ERR_OK) {
        return rc;
    }
    secret_key_public(key, &pub);
    rc = sign_message(key, msg, sizeof msg, &sig);
    secret_key_free(key);
    if (rc != ERR_OK) {
        return rc;
    }
    return verify_both_ways(&pub, msg, sizeof msg, &sig);
}

enum err
suite_selfcheck(selfcheck_report_fn *report, void *ctx)
{
    static const struct {
        const char *name;
        selfcheck_check_fn *run;
    } checks[] = {
        { "sha256", check_sha256 },
        { "sm3", check_sm3 },
        { "ed25519", check_ed25519 },
        { "sm2", check_sm2 },
    };
    enum err result = ERR_OK;
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        enum err rc = checks[i].run();
        if (report != NULL) {
            report(ctx, checks[i].name, rc);
        }
        if (rc != ERR_OK) {
            result = ERR_CRYPTO;
        }
    }
    return result;
}
