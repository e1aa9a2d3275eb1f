#include "crypto/tls_identity.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <string.h>

#include "base/assert.h"
#include "base/log.h"
#include "base/text.h"

#define ED25519_KEY_SIZE 32

/* Validity is irrelevant (peers check the key, not dates) but X.509 needs one: from a day
 * before now, to tolerate clock skew, for 100 years. */
#define CERT_BACKDATE_S (24L * 3600L)
#define CERT_DAYS       36500

static EVP_PKEY *
ed25519_pkey_from_secret(const struct secret_key *key)
{
    uint8_t seed[SECRET_KEY_SIZE_MAX];
    secret_key_export(key, seed);
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, ED25519_KEY_SIZE);
    sodium_memzero(seed, sizeof seed);
    return pkey;
}

static enum err
cert_set_subject(X509 *cert, const struct secret_key *key)
{
    struct public_key pub;
    secret_key_public(key, &pub);
    char hex[2 * 8 + 1];
    hex_encode(pub.bytes, 8, hex);
    char cn[64];
    int n = snprintf(cn, sizeof cn, "lianmeng-node-%s", hex);
    ASSERT(n > 0 && (size_t)n < sizeof cn);
    X509_NAME *name = X509_get_subject_name(cert);
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                   0) != 1) {
        return ERR_CRYPTO;
    }
    if (X509_set_issuer_name(cert, name) != 1) {
        return ERR_CRYPTO;
    }
    return ERR_OK;
}

static enum err
cert_fill(X509 *cert, EVP_PKEY *pkey, const struct secret_key *key)
{
    uint8_t serial_bytes[8];
    if (RAND_bytes(serial_bytes, sizeof serial_bytes) != 1) {
        return ERR_CRYPTO;
    }
    serial_bytes[0] &= 0x7f; /* positive */
    serial_bytes[0] |= 0x01; /* non-zero */
    BIGNUM *bn = BN_bin2bn(serial_bytes, sizeof serial_bytes, NULL);
    if (bn == NULL) {
        return ERR_CRYPTO;
    }
    ASN1_INTEGER *serial = X509_get_serialNumber(cert);
    bool ok = BN_to_ASN1_INTEGER(bn, serial) != NULL;
    BN_free(bn);
    if (!ok || X509_set_version(cert, 2) != 1) {
        return ERR_CRYPTO;
    }
    if (X509_gmtime_adj(X509_getm_notBefore(cert), -CERT_BACKDATE_S) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(cert), CERT_DAYS, 0, NULL) == NULL) {
        return ERR_CRYPTO;
    }
    if (X509_set_pubkey(cert, pkey) != 1) {
        return ERR_CRYPTO;
    }
    enum err rc = cert_set_subject(cert, key);
    if (rc != ERR_OK) {
        return rc;
    }
    /* Ed25519 signs the whole message: no separate digest. */
    if (X509_sign(cert, pkey, NULL) <= 0) {
        return ERR_CRYPTO;
    }
    return ERR_OK;
}

enum err
tls_identity_install(struct ssl_ctx_st *ctx, const struct secret_key *key)
{
    ASSERT(ctx != NULL);
    ASSERT(key != NULL);
    if (secret_key_alg(key) != SIG_ED25519) {
        return ERR_UNSUPPORTED;
    }
    enum err rc = ERR_CRYPTO;
    X509 *cert = NULL;
    EVP_PKEY *pkey = ed25519_pkey_from_secret(key);
    if (pkey == NULL) {
        goto out;
    }
    cert = X509_new();
    if (cert == NULL) {
        goto out;
    }
    rc = cert_fill(cert, pkey, key);
    if (rc != ERR_OK) {
        goto out;
    }
    rc = ERR_CRYPTO;
    if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, pkey) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        goto out;
    }
    rc = ERR_OK;
out:
    if (rc == ERR_CRYPTO) {
        log_debug(LOG_CRYPTO, "tls identity: openssl error=%lu", ERR_peek_last_error());
    }
    X509_free(cert);
    EVP_PKEY_free(pkey);
    return rc;
}

enum err
tls_identity_peer_key(const struct x509_st *cert, struct public_key *out)
{
    ASSERT(cert != NULL);
    ASSERT(out != NULL);
    EVP_PKEY *pkey = X509_get0_pubkey(cert);
    if (pkey == NULL || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519) {
        return ERR_UNSUPPORTED;
    }
    struct public_key key;
    memset(&key, 0, sizeof key);
    size_t size = sizeof key.bytes;
    if (EVP_PKEY_get_raw_public_key(pkey, key.bytes, &size) != 1 || size != ED25519_KEY_SIZE) {
        return ERR_UNSUPPORTED;
    }
    key.alg = SIG_ED25519;
    key.size = ED25519_KEY_SIZE;
    *out = key;
    return ERR_OK;
}
