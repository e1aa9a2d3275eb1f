/* Fuzz target: the DER parsers of crypto/sign that see outside bytes (keys and signatures
 * handed to the CLI or exchanged with other tools), and SM2 verification. The first byte
 * picks the check: 0 SubjectPublicKeyInfo, 1 SM2 signature, 2 Ed25519 signature (accepted
 * input must re-encode to the same bytes, one value, one encoding, and the key must pass
 * public_key_check); 3 SM2 verify of key (65) || signature (64) || message, and 4 SM2 verify
 * of a signature made with secret (32), xored with mask (64), over message: verify_message
 * (crypto/sm2_curve) must answer exactly as verify_message_openssl (OpenSSL's EVP), and an
 * all-zero mask must verify. */
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "crypto/sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_public_key(const uint8_t *der, size_t size)
{
    struct public_key key;
    if (public_key_from_der(der, size, &key) != ERR_OK) {
        return;
    }
    ASSERT(public_key_check(&key) == ERR_OK);
    uint8_t again[PUBLIC_KEY_DER_SIZE_MAX];
    size_t again_size = 0;
    ASSERT(public_key_to_der(&key, again, &again_size) == ERR_OK);
    ASSERT(again_size == size);
    ASSERT(memcmp(again, der, size) == 0);
}

static void
check_signature(enum sig_alg alg, const uint8_t *der, size_t size)
{
    struct signature sig;
    if (signature_from_der(alg, der, size, &sig) != ERR_OK) {
        return;
    }
    ASSERT(sig.alg == alg);
    uint8_t again[SIGNATURE_DER_SIZE_MAX];
    size_t again_size = 0;
    signature_to_der(&sig, again, &again_size);
    ASSERT(again_size == size);
    ASSERT(memcmp(again, der, size) == 0);
}

#define SM2_KEY_SIZE    65
#define SM2_SECRET_SIZE 32

static void
check_verify_same(const struct public_key *key, const uint8_t *msg, size_t size,
                  const struct signature *sig)
{
    enum err ours = verify_message(key, msg, size, sig);
    ASSERT(ours == verify_message_openssl(key, msg, size, sig));
    ASSERT(ours == ERR_OK || ours == ERR_BAD_SIGNATURE);
}

static void
check_sm2_verify(const uint8_t *data, size_t size)
{
    if (size < SM2_KEY_SIZE + SIGNATURE_SIZE) {
        return;
    }
    struct public_key key = { .alg = SIG_SM2, .size = SM2_KEY_SIZE };
    struct signature sig = { .alg = SIG_SM2 };
    memcpy(key.bytes, data, SM2_KEY_SIZE);
    memcpy(sig.bytes, data + SM2_KEY_SIZE, SIGNATURE_SIZE);
    size_t used = SM2_KEY_SIZE + SIGNATURE_SIZE;
    check_verify_same(&key, data + used, size - used, &sig);
}

static void
check_sm2_signed(const uint8_t *data, size_t size)
{
    struct secret_key *secret = NULL;
    if (size < SM2_SECRET_SIZE + SIGNATURE_SIZE ||
        secret_key_import(SIG_SM2, data, SM2_SECRET_SIZE, &secret) != ERR_OK) {
        return;
    }
    const uint8_t *mask = data + SM2_SECRET_SIZE;
    const uint8_t *msg = mask + SIGNATURE_SIZE;
    size_t msg_size = size - SM2_SECRET_SIZE - SIGNATURE_SIZE;
    struct public_key key;
    struct signature sig;
    secret_key_public(secret, &key);
    ASSERT(sign_message(secret, msg, msg_size, &sig) == ERR_OK);
    secret_key_free(secret);
    bool unmasked = true;
    for (size_t i = 0; i < SIGNATURE_SIZE; i++) {
        sig.bytes[i] ^= mask[i];
        unmasked = unmasked && mask[i] == 0;
    }
    check_verify_same(&key, msg, msg_size, &sig);
    if (unmasked) {
        ASSERT(verify_message(&key, msg, msg_size, &sig) == ERR_OK);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    switch (data[0]) {
    case 0:
        check_public_key(data + 1, size - 1);
        break;
    case 1:
        check_signature(SIG_SM2, data + 1, size - 1);
        break;
    case 2:
        check_signature(SIG_ED25519, data + 1, size - 1);
        break;
    case 3:
        check_sm2_verify(data + 1, size - 1);
        break;
    case 4:
        check_sm2_signed(data + 1, size - 1);
        break;
    default:
        break;
    }
    return 0;
}
