/* Ed25519 signing through libsodium, Ed25519 verification through our own curve code
 * (crypto/ed25519_fast.h, answering exactly as libsodium 1.0.18's crypto_sign_verify_detached,
 * which stays available as the Ed25519 half of verify_message_reference, the reference of the
 * tests), SM2 signing through OpenSSL 3 EVP, SM2 verification through our own curve code
 * (crypto/sm2_curve.h, ~2.8x faster than OpenSSL 3.0's generic EC code; OpenSSL's EVP verify
 * stays available as verify_message_reference). See sign.h for the encodings.
 *
 * Process-wide state, all set once under pthread_once and read-only afterwards: libsodium's
 * initialisation, the fetched SM3 EVP_MD and the SM2 EC_GROUP (OpenSSL 3.0's implicit fetches
 * take a global lock per call). The only mutable shared state is sm2_key_cache, guarded by
 * its own mutex: parsed EVP_PKEYs for the interchange functions and verify_message_reference
 * (verify_message keeps its own key cache in sm2_curve.c). valid_key_cache (its own mutex)
 * remembers keys that passed public_key_check. */
#include "crypto/sign.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/assert.h"
#include "crypto/ed25519_fast.h"
#include "crypto/sm2_curve.h"

/* GM/T 0009-2012 default distinguishing ID; OpenSSL 3.0 would otherwise use an empty one. */
static const char sm2_id[] = "1234567812345678";
#define SM2_ID_SIZE      16
#define SM2_POINT_SIZE   65
#define SM2_SCALAR_SIZE  32
#define ED25519_PK_SIZE  32
#define ADDRESS_TAG      "LM1/addr"
#define TAG_SIZE_MAX     32
#define KEYGEN_TRIES_MAX 64

_Static_assert(crypto_sign_PUBLICKEYBYTES == ED25519_PK_SIZE, "Ed25519 public key size");
_Static_assert(crypto_sign_BYTES == SIGNATURE_SIZE, "Ed25519 signature size");
_Static_assert(crypto_sign_SEEDBYTES == SECRET_KEY_SIZE_MAX, "Ed25519 seed size");
_Static_assert(SM2_POINT_SIZE == PUBLIC_KEY_SIZE_MAX, "SM2 point is the largest key");
_Static_assert(ADDRESS_SIZE <= HASH_SIZE, "address is a hash prefix");
_Static_assert(sizeof sm2_id == SM2_ID_SIZE + 1, "distinguishing ID size");

struct secret_key {
    enum sig_alg alg;
    uint8_t secret[SECRET_KEY_SIZE_MAX];            /* seed (Ed25519) or scalar (SM2) */
    uint8_t ed25519_sk[crypto_sign_SECRETKEYBYTES]; /* libsodium's seed || public key */
    struct public_key pub;
    EVP_PKEY *pkey; /* SM2 only: the key pair; used read-only after import */
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sm3;
static EC_GROUP *sm2_group;

/* Direct-mapped cache of parsed SM2 public keys. A colliding key only evicts. */
#define SM2_KEY_CACHE_SLOTS 256
struct sm2_key_slot {
    uint8_t point[SM2_POINT_SIZE];
    EVP_PKEY *pkey; /* NULL if empty; the cache holds one reference */
};
static struct {
    pthread_mutex_t lock; /* guards slot[] */
    struct sm2_key_slot slot[SM2_KEY_CACHE_SLOTS];
} sm2_key_cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Direct-mapped cache of public keys that passed public_key_check (a pure function of the
 * bytes, so a hit answers exactly as the check would). The Ed25519 subgroup check is a scalar
 * multiplication, about the cost of a verification, and execution checks the key of every
 * add_key/remove_key op; accounts add and remove the same few keys. Only valid keys are
 * cached; a colliding key only evicts. */
#define VALID_KEY_CACHE_SLOTS 1024
static struct {
    pthread_mutex_t lock;                          /* guards slot[] */
    struct public_key slot[VALID_KEY_CACHE_SLOTS]; /* size 0: empty */
} valid_key_cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

static size_t
valid_key_slot(const struct public_key *key)
{
    /* Keys are uniformly distributed points: their last bytes spread them well enough. */
    size_t at = key->size >= 2 ? key->size - 2 : 0;
    return (((size_t)key->bytes[at] << 8) | key->bytes[at + 1] | ((size_t)key->alg << 9)) %
           VALID_KEY_CACHE_SLOTS;
}

static bool
valid_key_cached(const struct public_key *key)
{
    const struct public_key *slot = &valid_key_cache.slot[valid_key_slot(key)];
    ASSERT(pthread_mutex_lock(&valid_key_cache.lock) == 0);
    bool hit = slot->size != 0 && public_key_equal(slot, key);
    ASSERT(pthread_mutex_unlock(&valid_key_cache.lock) == 0);
    return hit;
}

static void
valid_key_remember(const struct public_key *key)
{
    struct public_key *slot = &valid_key_cache.slot[valid_key_slot(key)];
    ASSERT(pthread_mutex_lock(&valid_key_cache.lock) == 0);
    *slot = *key;
    ASSERT(pthread_mutex_unlock(&valid_key_cache.lock) == 0);
}

static void
lib_init_once(void)
{
    if (sodium_init() < 0) {
        fatal("libsodium initialisation failed");
    }
    md_sm3 = EVP_MD_fetch(NULL, "SM3", NULL);
    sm2_group = EC_GROUP_new_by_curve_name(NID_sm2);
    if (md_sm3 == NULL || sm2_group == NULL) {
        fatal("OpenSSL has no SM2/SM3 (needs OpenSSL 3 with the default provider)");
    }
}

static void
lib_init(void)
{
    ASSERT(pthread_once(&lib_once, lib_init_once) == 0);
}

bool
sig_alg_is_valid(unsigned value)
{
    return value == SIG_ED25519 || value == SIG_SM2;
}

const char *
sig_alg_name(enum sig_alg alg)
{
    switch (alg) {
    case SIG_ED25519:
        return "ed25519";
    case SIG_SM2:
        return "sm2";
    }
    UNREACHABLE();
}

bool
sig_alg_parse(const char *text, enum sig_alg *out_alg)
{
    if (strcasecmp(text, "ed25519") == 0) {
        *out_alg = SIG_ED25519;
        return true;
    }
    if (strcasecmp(text, "sm2") == 0) {
        *out_alg = SIG_SM2;
        return true;
    }
    return false;
}

size_t
sig_alg_public_key_size(enum sig_alg alg)
{
    switch (alg) {
    case SIG_ED25519:
        return ED25519_PK_SIZE;
    case SIG_SM2:
        return SM2_POINT_SIZE;
    }
    UNREACHABLE();
}

/* ---- SM2 helpers ---- */

/* Builds an SM2 EVP_PKEY from an uncompressed point and, if priv != NULL, the private scalar.
 * NULL if OpenSSL rejects it (not on the curve). */
static EVP_PKEY *
sm2_pkey_from(const uint8_t point[SM2_POINT_SIZE], const BIGNUM *priv)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *kctx = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld == NULL ||
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "SM2", 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, SM2_POINT_SIZE) !=
            1) {
        goto out;
    }
    if (priv != NULL && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv) != 1) {
        goto out;
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    kctx = EVP_PKEY_CTX_new_from_name(NULL, "SM2", NULL);
    if (params == NULL || kctx == NULL || EVP_PKEY_fromdata_init(kctx) != 1) {
        goto out;
    }
    int selection = priv != NULL ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY;
    if (EVP_PKEY_fromdata(kctx, &pkey, selection, params) != 1) {
        pkey = NULL;
    }
out:
    EVP_PKEY_CTX_free(kctx);
    OSSL_PARAM_free(params); /* OSSL_PARAM_free clears the copied private scalar */
    OSSL_PARAM_BLD_free(bld);
    ERR_clear_error();
    return pkey;
}

static bool
sm2_point_is_valid(const uint8_t *bytes, size_t size)
{
    if (size != SM2_POINT_SIZE || bytes[0] != POINT_CONVERSION_UNCOMPRESSED) {
        return false;
    }
    lib_init();
    EC_POINT *point = EC_POINT_new(sm2_group);
    ASSERT(point != NULL);
    /* oct2point already refuses points off the curve; the second check states the intent. */
    bool ok = EC_POINT_oct2point(sm2_group, point, bytes, size, NULL) == 1 &&
              EC_POINT_is_on_curve(sm2_group, point, NULL) == 1 &&
              EC_POINT_is_at_infinity(sm2_group, point) == 0;
    EC_POINT_free(point);
    ERR_clear_error();
    return ok;
}

/* A parsed public key with one reference for the caller (EVP_PKEY_free it), or NULL if the
 * point is invalid. */
static EVP_PKEY *
sm2_pkey_cached(const uint8_t point[SM2_POINT_SIZE])
{
    struct sm2_key_slot *slot = &sm2_key_cache.slot[point[SM2_POINT_SIZE - 1]];
    EVP_PKEY *pkey = NULL;
    ASSERT(pthread_mutex_lock(&sm2_key_cache.lock) == 0);
    if (slot->pkey != NULL && memcmp(slot->point, point, SM2_POINT_SIZE) == 0) {
        pkey = slot->pkey;
        ASSERT(EVP_PKEY_up_ref(pkey) == 1);
    }
    ASSERT(pthread_mutex_unlock(&sm2_key_cache.lock) == 0);
    if (pkey != NULL) {
        return pkey;
    }

    if (!sm2_point_is_valid(point, SM2_POINT_SIZE)) {
        return NULL;
    }
    pkey = sm2_pkey_from(point, NULL);
    if (pkey == NULL) {
        return NULL;
    }
    EVP_PKEY *evicted = NULL;
    ASSERT(EVP_PKEY_up_ref(pkey) == 1); /* the cache's reference */
    ASSERT(pthread_mutex_lock(&sm2_key_cache.lock) == 0);
    evicted = slot->pkey;
    memcpy(slot->point, point, SM2_POINT_SIZE);
    slot->pkey = pkey;
    ASSERT(pthread_mutex_unlock(&sm2_key_cache.lock) == 0);
    EVP_PKEY_free(evicted);
    return pkey;
}

/* An EVP_MD_CTX ready for DigestSign/DigestVerify with SM3 and the standard ID; the caller
 * frees both *out_mctx and *out_pctx (the md ctx does not own the pkey ctx). */
static bool
sm2_md_ctx_new(EVP_PKEY *pkey, bool for_signing, EVP_MD_CTX **out_mctx, EVP_PKEY_CTX **out_pctx)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    bool ok = mctx != NULL && pctx != NULL && EVP_PKEY_CTX_set1_id(pctx, sm2_id, SM2_ID_SIZE) == 1;
    if (ok) {
        EVP_MD_CTX_set_pkey_ctx(mctx, pctx);
        ok = for_signing ? EVP_DigestSignInit(mctx, NULL, md_sm3, NULL, pkey) == 1
                         : EVP_DigestVerifyInit(mctx, NULL, md_sm3, NULL, pkey) == 1;
    }
    if (!ok) {
        EVP_MD_CTX_free(mctx);
        EVP_PKEY_CTX_free(pctx);
        ERR_clear_error();
        return false;
    }
    *out_mctx = mctx;
    *out_pctx = pctx;
    return true;
}

/* Checks 1 <= d <= n - 2 (GB/T 32918.1: the signer inverts 1 + d). */
static bool
sm2_scalar_is_valid(const BIGNUM *d)
{
    const BIGNUM *order = EC_GROUP_get0_order(sm2_group);
    BIGNUM *limit = BN_dup(order);
    ASSERT(limit != NULL);
    ASSERT(BN_sub_word(limit, 2) == 1);
    bool ok = !BN_is_zero(d) && !BN_is_negative(d) && BN_cmp(d, limit) <= 0;
    BN_free(limit);
    return ok;
}

static enum err
sm2_key_import(const uint8_t secret[SM2_SCALAR_SIZE], struct secret_key *key)
{
    enum err rc = ERR_MALFORMED;
    EC_POINT *point = NULL;
    BIGNUM *d = BN_secure_new();
    ASSERT(d != NULL);
    BN_set_flags(d, BN_FLG_CONSTTIME);
    ASSERT(BN_bin2bn(secret, SM2_SCALAR_SIZE, d) != NULL);
    if (!sm2_scalar_is_valid(d)) {
        goto out;
    }
    rc = ERR_CRYPTO;
    point = EC_POINT_new(sm2_group);
    if (point == NULL || EC_POINT_mul(sm2_group, point, d, NULL, NULL, NULL) != 1 ||
        EC_POINT_point2oct(sm2_group, point, POINT_CONVERSION_UNCOMPRESSED, key->pub.bytes,
                           SM2_POINT_SIZE, NULL) != SM2_POINT_SIZE) {
        goto out;
    }
    key->pub.alg = SIG_SM2;
    key->pub.size = SM2_POINT_SIZE;
    key->pkey = sm2_pkey_from(key->pub.bytes, d);
    if (key->pkey == NULL) {
        goto out;
    }
    memcpy(key->secret, secret, SM2_SCALAR_SIZE);
    rc = ERR_OK;
out:
    EC_POINT_free(point);
    BN_clear_free(d);
    ERR_clear_error();
    return rc;
}

/* ---- secret keys ---- */

static struct secret_key *
secret_key_alloc(enum sig_alg alg)
{
    struct secret_key *key = sodium_malloc(sizeof *key);
    if (key == NULL) {
        fatal("sodium_malloc of a secret key failed");
    }
    sodium_memzero(key, sizeof *key);
    key->alg = alg;
    return key;
}

enum err
secret_key_import(enum sig_alg alg, const uint8_t *secret, size_t size, struct secret_key **out)
{
    ASSERT(sig_alg_is_valid(alg));
    ASSERT(out != NULL);
    lib_init();
    if (size != SECRET_KEY_SIZE_MAX) {
        return ERR_MALFORMED;
    }
    struct secret_key *key = secret_key_alloc(alg);
    enum err rc = ERR_OK;
    switch (alg) {
    case SIG_ED25519:
        memcpy(key->secret, secret, SECRET_KEY_SIZE_MAX);
        ASSERT(crypto_sign_seed_keypair(key->pub.bytes, key->ed25519_sk, secret) == 0);
        key->pub.alg = SIG_ED25519;
        key->pub.size = ED25519_PK_SIZE;
        break;
    case SIG_SM2:
        rc = sm2_key_import(secret, key);
        break;
    }
    if (rc != ERR_OK) {
        secret_key_free(key);
        return rc;
    }
    *out = key;
    return ERR_OK;
}

enum err
secret_key_generate(enum sig_alg alg, struct secret_key **out)
{
    ASSERT(sig_alg_is_valid(alg));
    ASSERT(out != NULL);
    lib_init();
    uint8_t *secret = sodium_malloc(SECRET_KEY_SIZE_MAX);
    if (secret == NULL) {
        fatal("sodium_malloc of a secret key failed");
    }
    /* An SM2 scalar outside [1, n-2] has probability ~2^-32 per draw: retry a bounded number
     * of times; 64 misses in a row means a broken random source. */
    enum err rc = ERR_CRYPTO;
    for (int i = 0; i < KEYGEN_TRIES_MAX && rc != ERR_OK; i++) {
        randombytes_buf(secret, SECRET_KEY_SIZE_MAX);
        rc = secret_key_import(alg, secret, SECRET_KEY_SIZE_MAX, out);
        if (rc != ERR_MALFORMED && rc != ERR_OK) {
            break;
        }
    }
    sodium_free(secret); /* wipes */
    return rc == ERR_MALFORMED ? ERR_CRYPTO : rc;
}

void
secret_key_export(const struct secret_key *key, uint8_t out[SECRET_KEY_SIZE_MAX])
{
    ASSERT(key != NULL);
    memcpy(out, key->secret, SECRET_KEY_SIZE_MAX);
}

enum sig_alg
secret_key_alg(const struct secret_key *key)
{
    ASSERT(key != NULL);
    return key->alg;
}

void
secret_key_public(const struct secret_key *key, struct public_key *out)
{
    ASSERT(key != NULL);
    *out = key->pub;
}

void
secret_key_free(struct secret_key *key)
{
    if (key == NULL) {
        return;
    }
    EVP_PKEY_free(key->pkey); /* OpenSSL clears its copy of the scalar */
    sodium_memzero(key, sizeof *key);
    sodium_free(key);
}

/* ---- sign and verify ---- */

static enum err
sm2_sign(const struct secret_key *key, const uint8_t *msg, size_t size, struct signature *out)
{
    EVP_MD_CTX *mctx = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    uint8_t der[SIGNATURE_DER_SIZE_MAX];
    size_t der_size = sizeof der;
    if (!sm2_md_ctx_new(key->pkey, true, &mctx, &pctx)) {
        return ERR_CRYPTO;
    }
    int ok = EVP_DigestSign(mctx, der, &der_size, msg, size);
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_CTX_free(pctx);
    ERR_clear_error();
    if (ok != 1) {
        return ERR_CRYPTO;
    }
    return signature_from_der(SIG_SM2, der, der_size, out);
}

enum err
sign_message(const struct secret_key *key, const uint8_t *msg, size_t size, struct signature *out)
{
    ASSERT(key != NULL);
    ASSERT(out != NULL);
    ASSERT(msg != NULL || size == 0);
    lib_init();
    struct signature sig = { .alg = (uint8_t)key->alg };
    switch (key->alg) {
    case SIG_ED25519:
        ASSERT(crypto_sign_detached(sig.bytes, NULL, msg, size, key->ed25519_sk) == 0);
        break;
    case SIG_SM2: {
        enum err rc = sm2_sign(key, msg, size, &sig);
        if (rc != ERR_OK) {
            return rc;
        }
        break;
    }
    }
    *out = sig;
    return ERR_OK;
}

static enum err
sm2_verify_openssl(const struct public_key *key, const uint8_t *msg, size_t size,
                   const struct signature *sig)
{
    uint8_t der[SIGNATURE_DER_SIZE_MAX];
    size_t der_size = 0;
    EVP_MD_CTX *mctx = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_PKEY *pkey = sm2_pkey_cached(key->bytes);
    if (pkey == NULL) {
        return ERR_BAD_SIGNATURE;
    }
    signature_to_der(sig, der, &der_size);
    enum err rc = ERR_BAD_SIGNATURE;
    if (sm2_md_ctx_new(pkey, false, &mctx, &pctx)) {
        if (EVP_DigestVerify(mctx, der, der_size, msg, size) == 1) {
            rc = ERR_OK;
        }
        EVP_MD_CTX_free(mctx);
        EVP_PKEY_CTX_free(pctx);
    }
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return rc;
}

/* An Ed25519 key and a signature of its algorithm: what ed25519_fast verifies. */
static bool
ed25519_pair(const struct public_key *key, const struct signature *sig)
{
    return sig->alg == key->alg && key->alg == SIG_ED25519 && key->size == ED25519_PK_SIZE;
}

/* The checks verify_message and verify_message_reference share; Ed25519 goes to our curve code
 * (ed25519_fast.h) or to libsodium, SM2 to our curve code (sm2_curve.h) or to OpenSSL's EVP. */
static enum err
verify_with(const struct public_key *key, const uint8_t *msg, size_t size,
            const struct signature *sig, bool reference)
{
    ASSERT(key != NULL);
    ASSERT(sig != NULL);
    ASSERT(msg != NULL || size == 0);
    lib_init();
    /* key and sig may come straight from a peer: check everything, assert nothing. */
    if (sig->alg != key->alg) {
        return ERR_BAD_SIGNATURE;
    }
    if (ed25519_pair(key, sig)) {
        /* libsodium 1.0.18 rejects non-canonical S, small-order R and small-order or
         * non-canonical keys; ed25519_fast answers exactly as it does. */
        if (!reference) {
            return ed25519_fast_verify(key->bytes, msg, size, sig->bytes);
        }
        return crypto_sign_verify_detached(sig->bytes, msg, size, key->bytes) == 0
                   ? ERR_OK
                   : ERR_BAD_SIGNATURE;
    }
    if (key->alg == SIG_SM2 && key->size == SM2_POINT_SIZE) {
        return reference ? sm2_verify_openssl(key, msg, size, sig)
                         : sm2_curve_verify(key->bytes, msg, size, sig->bytes);
    }
    return ERR_BAD_SIGNATURE;
}

enum err
verify_message(const struct public_key *key, const uint8_t *msg, size_t size,
               const struct signature *sig)
{
    return verify_with(key, msg, size, sig, false);
}

/* Verifies the gathered Ed25519 items (ed25519_fast_verify_many) into their results. */
static void
ed25519_group_flush(const struct ed25519_fast_item *ed, const size_t *at, size_t n,
                    enum err *results)
{
    enum err ed_results[ED25519_FAST_GROUP];
    ed25519_fast_verify_many(ed, n, ed_results);
    for (size_t k = 0; k < n; k++) {
        results[at[k]] = ed_results[k];
    }
}

void
verify_message_many(const struct verify_item *items, size_t count, enum err *results)
{
    ASSERT(count == 0 || (items != NULL && results != NULL));
    lib_init();
    struct ed25519_fast_item ed[ED25519_FAST_GROUP];
    size_t at[ED25519_FAST_GROUP];
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        const struct verify_item *it = &items[i];
        if (!ed25519_pair(it->key, it->sig)) {
            results[i] = verify_with(it->key, it->msg, it->size, it->sig, false);
            continue;
        }
        ASSERT(it->msg != NULL || it->size == 0);
        ed[n] = (struct ed25519_fast_item){
            .key = it->key->bytes, .msg = it->msg, .size = it->size, .sig = it->sig->bytes
        };
        at[n++] = i;
        if (n == ED25519_FAST_GROUP) {
            ed25519_group_flush(ed, at, n, results);
            n = 0;
        }
    }
    if (n > 0) {
        ed25519_group_flush(ed, at, n, results);
    }
}

enum err
verify_message_reference(const struct public_key *key, const uint8_t *msg, size_t size,
                         const struct signature *sig)
{
    return verify_with(key, msg, size, sig, true);
}

/* ---- public keys, addresses, digests ---- */

enum err
public_key_check(const struct public_key *key)
{
    ASSERT(key != NULL);
    lib_init();
    bool valid = false;
    if (key->alg == SIG_ED25519 && key->size == ED25519_PK_SIZE) {
        if (valid_key_cached(key)) {
            return ERR_OK;
        }
        /* Canonical encoding, on the curve, not of small order, in the prime-order subgroup. */
        valid = crypto_core_ed25519_is_valid_point(key->bytes) == 1;
    } else if (key->alg == SIG_SM2 && key->size == SM2_POINT_SIZE) {
        if (valid_key_cached(key)) {
            return ERR_OK;
        }
        valid = sm2_point_is_valid(key->bytes, key->size);
    }
    if (!valid) {
        return ERR_MALFORMED;
    }
    valid_key_remember(key);
    return ERR_OK;
}

bool
public_key_equal(const struct public_key *a, const struct public_key *b)
{
    ASSERT(a != NULL);
    ASSERT(b != NULL);
    if (a->alg != b->alg || a->size != b->size || a->size > PUBLIC_KEY_SIZE_MAX) {
        return false; /* an out-of-range size (undecoded garbage) equals nothing */
    }
    return memcmp(a->bytes, b->bytes, a->size) == 0;
}

void
address_of(enum hash_alg alg, const struct public_key *key, struct address *out)
{
    ASSERT(key->size <= PUBLIC_KEY_SIZE_MAX);
    uint8_t prefix[sizeof ADDRESS_TAG]; /* the tag without its NUL, then the algorithm */
    memcpy(prefix, ADDRESS_TAG, sizeof ADDRESS_TAG - 1);
    prefix[sizeof ADDRESS_TAG - 1] = key->alg;
    struct hash h;
    hash_two(alg, prefix, sizeof prefix, key->bytes, key->size, &h);
    memcpy(out->bytes, h.bytes, ADDRESS_SIZE);
}

void
sign_digest_tagged(enum hash_alg alg, const char *tag, const struct hash *chain_id,
                   const uint8_t *bytes, size_t size, struct hash *out)
{
    ASSERT(tag != NULL);
    ASSERT(bytes != NULL || size == 0);
    size_t tag_size = strnlen(tag, TAG_SIZE_MAX + 1);
    ASSERT(tag_size > 0);
    ASSERT(tag_size <= TAG_SIZE_MAX); /* tags are our own constants */
    uint8_t prefix[TAG_SIZE_MAX + HASH_SIZE];
    memcpy(prefix, tag, tag_size);
    memcpy(prefix + tag_size, chain_id->bytes, HASH_SIZE);
    hash_two(alg, prefix, tag_size + HASH_SIZE, bytes, size, out);
}

bool
ct_equal(const void *a, const void *b, size_t size)
{
    return sodium_memcmp(a, b, size) == 0;
}

/* ---- interchange ---- */

/* An EVP_PKEY for key (one reference for the caller), or NULL if the key is invalid. */
static EVP_PKEY *
public_key_to_pkey(const struct public_key *key)
{
    if (public_key_check(key) != ERR_OK) {
        return NULL;
    }
    if (key->alg == SIG_ED25519) {
        EVP_PKEY *pkey =
            EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, key->bytes, ED25519_PK_SIZE);
        ERR_clear_error();
        return pkey;
    }
    return sm2_pkey_cached(key->bytes);
}

enum err
public_key_to_der(const struct public_key *key, uint8_t out[PUBLIC_KEY_DER_SIZE_MAX],
                  size_t *out_size)
{
    ASSERT(key != NULL);
    ASSERT(out_size != NULL);
    EVP_PKEY *pkey = public_key_to_pkey(key);
    if (pkey == NULL) {
        return ERR_MALFORMED;
    }
    enum err rc = ERR_CRYPTO;
    int need = i2d_PUBKEY(pkey, NULL);
    if (need > 0 && need <= PUBLIC_KEY_DER_SIZE_MAX) {
        uint8_t *p = out;
        if (i2d_PUBKEY(pkey, &p) == need) {
            *out_size = (size_t)need;
            rc = ERR_OK;
        }
    }
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return rc;
}

enum err
public_key_to_pem(const struct public_key *key, char out[PUBLIC_KEY_PEM_SIZE_MAX])
{
    ASSERT(key != NULL);
    EVP_PKEY *pkey = public_key_to_pkey(key);
    if (pkey == NULL) {
        return ERR_MALFORMED;
    }
    enum err rc = ERR_CRYPTO;
    BIO *bio = BIO_new(BIO_s_mem());
    char *text = NULL;
    if (bio != NULL && PEM_write_bio_PUBKEY(bio, pkey) == 1) {
        long size = BIO_get_mem_data(bio, &text);
        if (size > 0 && size < PUBLIC_KEY_PEM_SIZE_MAX) {
            int n = snprintf(out, PUBLIC_KEY_PEM_SIZE_MAX, "%.*s", (int)size, text);
            rc = n == (int)size ? ERR_OK : ERR_CRYPTO;
        }
    }
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return rc;
}

/* Writes the uncompressed point of an SM2 (or EC-on-the-SM2-curve) EVP_PKEY. */
static bool
sm2_pkey_point(const EVP_PKEY *pkey, uint8_t out[SM2_POINT_SIZE])
{
    char group[16];
    size_t group_size = 0;
    BIGNUM *x = NULL;
    BIGNUM *y = NULL;
    bool ok = (EVP_PKEY_is_a(pkey, "SM2") || EVP_PKEY_is_a(pkey, "EC")) &&
              EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                             &group_size) == 1 &&
              strcmp(group, "SM2") == 0 &&
              EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
              EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1;
    if (ok) {
        out[0] = POINT_CONVERSION_UNCOMPRESSED;
        ok = BN_bn2binpad(x, out + 1, SM2_SCALAR_SIZE) == SM2_SCALAR_SIZE &&
             BN_bn2binpad(y, out + 1 + SM2_SCALAR_SIZE, SM2_SCALAR_SIZE) == SM2_SCALAR_SIZE;
    }
    BN_free(x);
    BN_free(y);
    return ok;
}

enum err
public_key_from_der(const uint8_t *der, size_t size, struct public_key *out)
{
    ASSERT(der != NULL || size == 0);
    ASSERT(out != NULL);
    lib_init();
    if (size == 0 || size > PUBLIC_KEY_DER_SIZE_MAX) {
        return ERR_MALFORMED;
    }
    const uint8_t *p = der;
    EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long)size);
    struct public_key key = { 0 };
    bool ok = pkey != NULL && p == der + size;
    if (ok && EVP_PKEY_is_a(pkey, "ED25519")) {
        size_t pk_size = ED25519_PK_SIZE;
        ok = EVP_PKEY_get_raw_public_key(pkey, key.bytes, &pk_size) == 1 &&
             pk_size == ED25519_PK_SIZE;
        key.alg = SIG_ED25519;
        key.size = ED25519_PK_SIZE;
    } else if (ok) {
        ok = sm2_pkey_point(pkey, key.bytes);
        key.alg = SIG_SM2;
        key.size = SM2_POINT_SIZE;
    }
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    if (!ok || public_key_check(&key) != ERR_OK) {
        return ERR_MALFORMED;
    }
    /* Strict: only the encoding we write (named curve, uncompressed point) is accepted. */
    uint8_t again[PUBLIC_KEY_DER_SIZE_MAX];
    size_t again_size = 0;
    if (public_key_to_der(&key, again, &again_size) != ERR_OK || again_size != size ||
        memcmp(again, der, size) != 0) {
        return ERR_MALFORMED;
    }
    *out = key;
    return ERR_OK;
}

void
signature_to_der(const struct signature *sig, uint8_t out[SIGNATURE_DER_SIZE_MAX], size_t *out_size)
{
    ASSERT(sig != NULL);
    ASSERT(out_size != NULL);
    if (sig->alg != SIG_SM2) {
        memcpy(out, sig->bytes, SIGNATURE_SIZE);
        *out_size = SIGNATURE_SIZE;
        return;
    }
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig->bytes, SIGNATURE_SIZE / 2, NULL);
    BIGNUM *s = BN_bin2bn(sig->bytes + SIGNATURE_SIZE / 2, SIGNATURE_SIZE / 2, NULL);
    ASSERT(es != NULL);
    ASSERT(r != NULL);
    ASSERT(s != NULL);
    ASSERT(ECDSA_SIG_set0(es, r, s) == 1); /* es owns r and s now */
    int need = i2d_ECDSA_SIG(es, NULL);
    ASSERT(need > 0 && need <= SIGNATURE_DER_SIZE_MAX);
    uint8_t *p = out;
    ASSERT(i2d_ECDSA_SIG(es, &p) == need);
    ECDSA_SIG_free(es);
    *out_size = (size_t)need;
}

enum err
signature_from_der(enum sig_alg alg, const uint8_t *der, size_t size, struct signature *out)
{
    ASSERT(sig_alg_is_valid(alg));
    ASSERT(der != NULL || size == 0);
    ASSERT(out != NULL);
    struct signature sig = { .alg = (uint8_t)alg };
    if (alg == SIG_ED25519) {
        if (size != SIGNATURE_SIZE) {
            return ERR_MALFORMED;
        }
        memcpy(sig.bytes, der, SIGNATURE_SIZE);
        *out = sig;
        return ERR_OK;
    }
    if (size == 0 || size > SIGNATURE_DER_SIZE_MAX) {
        return ERR_MALFORMED;
    }
    const uint8_t *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)size);
    bool ok = es != NULL && p == der + size;
    if (ok) {
        const BIGNUM *r = ECDSA_SIG_get0_r(es);
        const BIGNUM *s = ECDSA_SIG_get0_s(es);
        ok = !BN_is_negative(r) && !BN_is_negative(s) &&
             BN_bn2binpad(r, sig.bytes, SIGNATURE_SIZE / 2) == SIGNATURE_SIZE / 2 &&
             BN_bn2binpad(s, sig.bytes + SIGNATURE_SIZE / 2, SIGNATURE_SIZE / 2) ==
                 SIGNATURE_SIZE / 2;
    }
    ECDSA_SIG_free(es);
    ERR_clear_error();
    if (!ok) {
        return ERR_MALFORMED;
    }
    /* Strict DER: one signature, one encoding. */
    uint8_t again[SIGNATURE_DER_SIZE_MAX];
    size_t again_size = 0;
    signature_to_der(&sig, again, &again_size);
    if (again_size != size || memcmp(again, der, size) != 0) {
        return ERR_MALFORMED;
    }
    *out = sig;
    return ERR_OK;
}
