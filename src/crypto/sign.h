/* Signatures with the algorithm tagged on every key and signature: Ed25519 (libsodium) and
 * SM2 (GB/T 32918, SM3 digest, distinguishing ID "1234567812345678" set explicitly; signing
 * through OpenSSL 3, verification through crypto/sm2_curve.h). Callers never name an
 * algorithm except when generating a key.
 *
 * Encodings are fixed per algorithm, so they are canonical:
 *   Ed25519 public key 32 bytes, signature 64 bytes (R || S);
 *   SM2 public key 65 bytes (SEC1 uncompressed 04 || X || Y), signature 64 bytes (r || s,
 *   each 32 bytes big-endian; converted to/from DER inside crypto/).
 * Secret keys live in sodium_malloc'd memory, are wiped on release and never logged.
 * All functions are thread-safe. */
#ifndef LM_CRYPTO_SIGN_H
#define LM_CRYPTO_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "crypto/hash.h"

#define PUBLIC_KEY_SIZE_MAX 65
#define SIGNATURE_SIZE      64
#define SECRET_KEY_SIZE_MAX 32 /* the seed (Ed25519) or the scalar (SM2) */
#define ADDRESS_SIZE        20

enum sig_alg {
    SIG_ED25519 = 1,
    SIG_SM2 = 2,
};

struct public_key {
    uint8_t alg; /* enum sig_alg */
    uint8_t size;
    uint8_t bytes[PUBLIC_KEY_SIZE_MAX];
};

struct signature {
    uint8_t alg; /* enum sig_alg; must match the key's */
    uint8_t bytes[SIGNATURE_SIZE];
};

/* An account address: the first 20 bytes of H("LM1/addr" || alg || public key). */
struct address {
    uint8_t bytes[ADDRESS_SIZE];
};

struct secret_key; /* opaque */

bool sig_alg_is_valid(unsigned value);
const char *sig_alg_name(enum sig_alg alg); /* "ed25519" or "sm2" */
bool sig_alg_parse(const char *text, enum sig_alg *out_alg);
size_t sig_alg_public_key_size(enum sig_alg alg);

/* Fresh key from the OS CSPRNG. The caller owns *out and releases it with secret_key_free. */
MUST_USE enum err secret_key_generate(enum sig_alg alg, struct secret_key **out);
/* From the secret bytes of secret_key_export (32 bytes). ERR_MALFORMED if invalid. */
MUST_USE enum err secret_key_import(enum sig_alg alg, const uint8_t *secret, size_t size,
                                    struct secret_key **out);
/* Writes the 32 secret bytes into out (sodium_malloc'd by the caller, or stack then wiped). */
void secret_key_export(const struct secret_key *key, uint8_t out[SECRET_KEY_SIZE_MAX]);
enum sig_alg secret_key_alg(const struct secret_key *key);
void secret_key_public(const struct secret_key *key, struct public_key *out);
void secret_key_free(struct secret_key *key);

/* Signs msg (callers sign a 32-byte tagged digest, see sign_digest_tagged). */
MUST_USE enum err sign_message(const struct secret_key *key, const uint8_t *msg, size_t size,
                               struct signature *out);
/* ERR_OK if valid; ERR_BAD_SIGNATURE otherwise (also for algorithm mismatch, malformed key). */
MUST_USE enum err verify_message(const struct public_key *key, const uint8_t *msg, size_t size,
                                 const struct signature *sig);
/* One signature to check (verify_message_many, verify_pool_batch); everything borrowed. */
struct verify_item {
    const struct public_key *key;
    const uint8_t *msg;
    size_t size;
    const struct signature *sig;
};
/* results[i] = verify_message(items[i]) for each item; Ed25519 items are verified together
 * (ed25519_fast_verify_many shares work among them). count may be 0. */
void verify_message_many(const struct verify_item *items, size_t count, enum err *results);
/* The same answer through the reference implementations: OpenSSL's EVP for SM2, libsodium's
 * crypto_sign_verify_detached for Ed25519 (what the tests, the fuzz target and bench_crypto
 * compare verify_message against; verify_message runs crypto/sm2_curve and
 * crypto/ed25519_fast). */
MUST_USE enum err verify_message_reference(const struct public_key *key, const uint8_t *msg,
                                           size_t size, const struct signature *sig);

/* Checks that a decoded public key is well-formed for its algorithm: Ed25519 canonical, on
 * the curve, not of small order and in the prime-order subgroup (libsodium's
 * crypto_core_ed25519_is_valid_point); SM2 65 bytes 04 || X || Y on the curve. Run it when a
 * key is registered; verify_message makes its own checks. ERR_MALFORMED otherwise. */
MUST_USE enum err public_key_check(const struct public_key *key);
bool public_key_equal(const struct public_key *a, const struct public_key *b);
/* key must be well-formed (public_key_check). */
void address_of(enum hash_alg alg, const struct public_key *key, struct address *out);

/* The digest every chain signature covers: H(tag || chain_id || bytes) (CONSENSUS.md 1). */
void sign_digest_tagged(enum hash_alg alg, const char *tag, const struct hash *chain_id,
                        const uint8_t *bytes, size_t size, struct hash *out);

/* Constant-time comparison for secrets and MACs. */
bool ct_equal(const void *a, const void *b, size_t size);

/* Interchange with X.509 tools (the CLI, the openssl command-line tool). */

#define PUBLIC_KEY_DER_SIZE_MAX 128 /* SubjectPublicKeyInfo: 44 (Ed25519), 91 (SM2) */
#define SIGNATURE_DER_SIZE_MAX  72  /* SEQUENCE { INTEGER r, INTEGER s } of SM2 */
#define PUBLIC_KEY_PEM_SIZE_MAX 256 /* "-----BEGIN PUBLIC KEY-----\n...", NUL included */

/* SubjectPublicKeyInfo DER of key (RFC 8410 for Ed25519; id-ecPublicKey on the SM2 curve).
 * ERR_MALFORMED if the key is not valid for its algorithm. */
MUST_USE enum err public_key_to_der(const struct public_key *key,
                                    uint8_t out[PUBLIC_KEY_DER_SIZE_MAX], size_t *out_size);
/* The same as PEM text ("-----BEGIN PUBLIC KEY-----"), NUL-terminated. */
MUST_USE enum err public_key_to_pem(const struct public_key *key,
                                    char out[PUBLIC_KEY_PEM_SIZE_MAX]);
/* Parses a SubjectPublicKeyInfo (DER) holding an Ed25519 or SM2 key, exactly as
 * public_key_to_der writes it (named curve, uncompressed point); ERR_MALFORMED for anything
 * else (other curves, compressed points, trailing bytes, points not on the curve). */
MUST_USE enum err public_key_from_der(const uint8_t *der, size_t size, struct public_key *out);
/* The signature as other tools write it: SM2 as DER SEQUENCE { r, s }, Ed25519 as the raw
 * 64 bytes (RFC 8410 does not wrap it). */
void signature_to_der(const struct signature *sig, uint8_t out[SIGNATURE_DER_SIZE_MAX],
                      size_t *out_size);
/* Inverse of signature_to_der for alg; ERR_MALFORMED if not strict DER or r, s do not fit
 * 32 bytes. */
MUST_USE enum err signature_from_der(enum sig_alg alg, const uint8_t *der, size_t size,
                                     struct signature *out);

#endif
