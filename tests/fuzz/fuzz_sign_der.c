/* Fuzz target: the DER parsers of crypto/sign that see outside bytes (keys and signatures
 * handed to the CLI or exchanged with other tools). The first byte picks the parser:
 * 0 SubjectPublicKeyInfo, 1 SM2 signature, 2 Ed25519 signature. Accepted input must
 * re-encode to the same bytes (one value, one encoding) and the key must pass
 * public_key_check. */
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
    default:
        break;
    }
    return 0;
}
