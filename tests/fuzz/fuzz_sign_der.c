/* Fuzz target: the DER parsers of crypto/sign that see outside bytes (keys and signatures
 * handed to the CLI or exchanged with other tools), and SM2 verification. The first byte
 * picks the check: 0 SubjectPublicKeyInfo, 1 SM2 signature, 2 Ed25519 signature (accepted
 * input must re-encode to the same bytes, one value, one encoding, and the key must pass
 * public_key_check); 3 SM2 verify of key (65) || signature (64) || message, and 4 SM2 verify
 * of a signature made with secret (32), xored with mask (64), over message: verify_message
 * (crypto/sm2_curve) must answer exactly as verify_message_reference (OpenSSL's EVP), and an
 * all-zero mask must verify. 5 and 6 the same for Ed25519 (crypto/ed25519_fast against
 * libsodium's crypto_sign_verify_detached): 5 key (32) || signature (64) || message, the key's
 * and R's encodings optionally replaced by a small-order or non-canonical one (the byte
 * after the mode: low nibble for the key, high nibble for R, 0 keeps, 1..13 pick one); 6 a
 * signature made with seed (32) for the key A + T, T the small-order point picked by the next
 * byte (0 for none), xored with mask (64), over message. Every verify check also runs the
 * item three times through verify_message_many (one group), which must answer the same. */
#include <sodium.h>
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
    ASSERT(ours == verify_message_reference(key, msg, size, sig));
    ASSERT(ours == ERR_OK || ours == ERR_BAD_SIGNATURE);
    /* In a group (verify_message_many shares the last inversion among Ed25519 items; the key
     * is cached by now, so on a CPU with AVX-512 IFMA these 3 take the 8-lane loop). */
    struct verify_item items[3];
    enum err results[3];
    for (size_t i = 0; i < 3; i++) {
        items[i] = (struct verify_item){ .key = key, .msg = msg, .size = size, .sig = sig };
    }
    verify_message_many(items, 3, results);
    for (size_t i = 0; i < 3; i++) {
        ASSERT(results[i] == ours);
    }
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

#define ED_KEY_SIZE  32
#define ED_SEED_SIZE 32
#define SPECIALS     13

/* Encodings libsodium treats specially, picked by 1..SPECIALS: the small-order y values 0,
 * 1, p - 1 and the two of order 8 with the sign bit clear and set, then p and p + 1
 * (non-canonical 0 and 1; small order), and 2^255 - 1 (non-canonical, not small order). */
static void
special_encoding(unsigned pick, uint8_t out[32])
{
    static const uint8_t order8[2][32] = {
        { 0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
          0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
          0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05 },
        { 0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
          0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
          0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a },
    };
    static const uint8_t above_p[3] = { 0xed, 0xee, 0xff }; /* low bytes of p, p + 1, 2^255 - 1 */
    ASSERT(pick >= 1 && pick <= SPECIALS);
    memset(out, 0, 32);
    if (pick > 10) {
        memset(out, 0xff, 32);
        out[31] = 0x7f;
        out[0] = above_p[pick - 11];
        return;
    }
    unsigned which = (pick - 1) / 2; /* 0: y = 0, 1: y = 1, 2: p - 1, 3 and 4: order 8 */
    if (which == 1) {
        out[0] = 1;
    } else if (which == 2) {
        memset(out, 0xff, 32);
        out[31] = 0x7f;
        out[0] = 0xec;
    } else if (which >= 3) {
        memcpy(out, order8[which - 3], 32);
    }
    if (pick % 2 == 0) {
        out[31] |= 0x80;
    }
}

static void
check_ed25519_verify(const uint8_t *data, size_t size)
{
    if (size < 1 + ED_KEY_SIZE + SIGNATURE_SIZE) {
        return;
    }
    struct public_key key = { .alg = SIG_ED25519, .size = ED_KEY_SIZE };
    struct signature sig = { .alg = SIG_ED25519 };
    memcpy(key.bytes, data + 1, ED_KEY_SIZE);
    memcpy(sig.bytes, data + 1 + ED_KEY_SIZE, SIGNATURE_SIZE);
    unsigned key_pick = data[0] & 15u;
    unsigned r_pick = data[0] >> 4;
    if (key_pick >= 1 && key_pick <= SPECIALS) {
        special_encoding(key_pick, key.bytes);
    }
    if (r_pick >= 1 && r_pick <= SPECIALS) {
        special_encoding(r_pick, sig.bytes);
    }
    size_t used = 1 + ED_KEY_SIZE + SIGNATURE_SIZE;
    check_verify_same(&key, data + used, size - used, &sig);
}

static void
check_ed25519_signed(const uint8_t *data, size_t size)
{
    if (size < ED_SEED_SIZE + 1 + SIGNATURE_SIZE) {
        return;
    }
    uint8_t pk[ED_KEY_SIZE];
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    ASSERT(sodium_init() >= 0);
    ASSERT(crypto_sign_seed_keypair(pk, sk, data) == 0);
    unsigned pick = data[ED_SEED_SIZE] % (SPECIALS + 1);
    if (pick != 0) {
        uint8_t torsion[ED_KEY_SIZE];
        special_encoding(pick, torsion);
        if (crypto_core_ed25519_add(pk, pk, torsion) != 0) {
            return; /* libsodium does not decode that one */
        }
        memcpy(sk + ED_SEED_SIZE, pk, ED_KEY_SIZE); /* libsodium signs for the key in sk */
    }
    const uint8_t *mask = data + ED_SEED_SIZE + 1;
    const uint8_t *msg = mask + SIGNATURE_SIZE;
    size_t msg_size = size - ED_SEED_SIZE - 1 - SIGNATURE_SIZE;
    struct public_key key = { .alg = SIG_ED25519, .size = ED_KEY_SIZE };
    struct signature sig = { .alg = SIG_ED25519 };
    memcpy(key.bytes, pk, ED_KEY_SIZE);
    ASSERT(crypto_sign_detached(sig.bytes, NULL, msg, msg_size, sk) == 0);
    sodium_memzero(sk, sizeof sk);
    bool unmasked = true;
    for (size_t i = 0; i < SIGNATURE_SIZE; i++) {
        sig.bytes[i] ^= mask[i];
        unmasked = unmasked && mask[i] == 0;
    }
    check_verify_same(&key, msg, msg_size, &sig);
    if (unmasked && pick == 0) {
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
    case 5:
        check_ed25519_verify(data + 1, size - 1);
        break;
    case 6:
        check_ed25519_signed(data + 1, size - 1);
        break;
    default:
        break;
    }
    return 0;
}
