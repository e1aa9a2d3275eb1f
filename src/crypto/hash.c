/* SHA256_Init/Update/Final are deprecated in OpenSSL 3.0 in favour of EVP, but remain in 3.x
 * and skip EVP's per-call dispatch (init, provider context, final), about a third of the cost
 * of hashing a 65-byte Merkle node; the state tree and Merkle roots hash millions of those. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "crypto/hash.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "base/assert.h"
#include "base/text.h"

/* Fetched once per process: implicit fetches in OpenSSL 3.0 take a global lock per call. */
static EVP_MD *md_sha256;
static EVP_MD *md_sm3;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

/* One reusable context per thread and algorithm, freed at thread exit. */
static pthread_key_t ctx_key;
struct thread_ctxs {
    EVP_MD_CTX *ctx[3];
};

static void
thread_ctxs_free(void *p)
{
    struct thread_ctxs *t = p;
    for (int i = 0; i < 3; i++) {
        EVP_MD_CTX_free(t->ctx[i]);
    }
    OPENSSL_free(t);
}

static void
md_init(void)
{
    md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    md_sm3 = EVP_MD_fetch(NULL, "SM3", NULL);
    ASSERT(md_sha256 != NULL);
    ASSERT(md_sm3 != NULL);
    ASSERT(pthread_key_create(&ctx_key, thread_ctxs_free) == 0);
}

static const EVP_MD *
md_of(enum hash_alg alg)
{
    pthread_once(&md_once, md_init);
    switch (alg) {
    case HASH_SHA256:
        return md_sha256;
    case HASH_SM3:
        return md_sm3;
    }
    UNREACHABLE();
}

static EVP_MD_CTX *
thread_ctx(enum hash_alg alg)
{
    const EVP_MD *md = md_of(alg);
    struct thread_ctxs *t = pthread_getspecific(ctx_key);
    if (t == NULL) {
        t = OPENSSL_zalloc(sizeof *t);
        ASSERT(t != NULL);
        ASSERT(pthread_setspecific(ctx_key, t) == 0);
    }
    if (t->ctx[alg] == NULL) {
        t->ctx[alg] = EVP_MD_CTX_new();
        ASSERT(t->ctx[alg] != NULL);
    }
    ASSERT(EVP_DigestInit_ex2(t->ctx[alg], md, NULL) == 1);
    return t->ctx[alg];
}

bool
hash_alg_is_valid(unsigned value)
{
    return value == HASH_SHA256 || value == HASH_SM3;
}

const char *
hash_alg_name(enum hash_alg alg)
{
    switch (alg) {
    case HASH_SHA256:
        return "sha256";
    case HASH_SM3:
        return "sm3";
    }
    UNREACHABLE();
}

bool
hash_alg_parse(const char *text, enum hash_alg *out_alg)
{
    if (strcasecmp(text, "sha256") == 0 || strcasecmp(text, "sha-256") == 0) {
        *out_alg = HASH_SHA256;
        return true;
    }
    if (strcasecmp(text, "sm3") == 0) {
        *out_alg = HASH_SM3;
        return true;
    }
    return false;
}

void
hash_bytes(enum hash_alg alg, const void *data, size_t size, struct hash *out)
{
    hash_two(alg, data, size, NULL, 0, out);
}

static void
sha256_two(const void *a, size_t a_size, const void *b, size_t b_size, struct hash *out)
{
    SHA256_CTX c;
    ASSERT(SHA256_Init(&c) == 1);
    ASSERT(SHA256_Update(&c, a, a_size) == 1);
    if (b_size > 0) {
        ASSERT(SHA256_Update(&c, b, b_size) == 1);
    }
    ASSERT(SHA256_Final(out->bytes, &c) == 1);
}

void
hash_two(enum hash_alg alg, const void *a, size_t a_size, const void *b, size_t b_size,
         struct hash *out)
{
    if (alg == HASH_SHA256) {
        sha256_two(a, a_size, b, b_size, out);
        return;
    }
    EVP_MD_CTX *ctx = thread_ctx(alg);
    ASSERT(EVP_DigestUpdate(ctx, a, a_size) == 1);
    if (b_size > 0) {
        ASSERT(EVP_DigestUpdate(ctx, b, b_size) == 1);
    }
    unsigned int n = 0;
    ASSERT(EVP_DigestFinal_ex(ctx, out->bytes, &n) == 1);
    ASSERT(n == HASH_SIZE);
}

void
hasher_init(struct hasher *h, enum hash_alg alg)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ASSERT(ctx != NULL);
    ASSERT(EVP_DigestInit_ex2(ctx, md_of(alg), NULL) == 1);
    h->ctx = ctx;
    h->alg = alg;
}

void
hasher_update(struct hasher *h, const void *data, size_t size)
{
    ASSERT(EVP_DigestUpdate(h->ctx, data, size) == 1);
}

void
hasher_final(struct hasher *h, struct hash *out)
{
    unsigned int n = 0;
    ASSERT(EVP_DigestFinal_ex(h->ctx, out->bytes, &n) == 1);
    ASSERT(n == HASH_SIZE);
    ASSERT(EVP_DigestInit_ex2(h->ctx, md_of(h->alg), NULL) == 1);
}

void
hasher_release(struct hasher *h)
{
    if (h == NULL) {
        return;
    }
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
}

void
hash_to_hex(const struct hash *h, char out[2 * HASH_SIZE + 1])
{
    hex_encode(h->bytes, HASH_SIZE, out);
}

void
hash_to_short(const struct hash *h, char out[9])
{
    hex_encode(h->bytes, 4, out);
}

enum err
hash_from_hex(const char *text, struct hash *out)
{
    size_t size = 0;
    struct hash h = { { 0 } };
    if (strlen(text) != (size_t)2 * HASH_SIZE) {
        return ERR_MALFORMED;
    }
    enum err rc = hex_decode(text, (size_t)2 * HASH_SIZE, h.bytes, HASH_SIZE, &size);
    if (rc == ERR_OK) {
        *out = h;
    }
    return rc;
}
