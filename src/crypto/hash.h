/* The chain hash: SHA-256 or SM3 (GB/T 32905), both 32 bytes, fixed at genesis.
 *
 * Callers hold an `enum hash_alg` from the chain's parameters and never name an algorithm.
 * One-shot SHA-256 calls use OpenSSL's low-level SHA-256 on the stack; one-shot SM3 calls
 * reuse a per-thread EVP context (3x faster than EVP_Digest for small inputs, and free of
 * OpenSSL 3.0's fetch-lock contention). Thread-safe. */
#ifndef LM_CRYPTO_HASH_H
#define LM_CRYPTO_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/err.h"

#define HASH_SIZE 32

enum hash_alg {
    HASH_SHA256 = 1,
    HASH_SM3 = 2,
};

struct hash {
    uint8_t bytes[HASH_SIZE];
};

/* Incremental hashing on caller storage; release with hasher_release. */
struct hasher {
    void *ctx; /* EVP_MD_CTX */
    enum hash_alg alg;
};

bool hash_alg_is_valid(unsigned value);
/* "sha256" or "sm3". */
const char *hash_alg_name(enum hash_alg alg);
/* Accepts "sha256", "sha-256", "sm3" (case-insensitive). */
bool hash_alg_parse(const char *text, enum hash_alg *out_alg);

void hash_bytes(enum hash_alg alg, const void *data, size_t size, struct hash *out);
/* H(a || b), for Merkle nodes and tagged messages without copying. */
void hash_two(enum hash_alg alg, const void *a, size_t a_size, const void *b, size_t b_size,
              struct hash *out);

void hasher_init(struct hasher *h, enum hash_alg alg);
void hasher_update(struct hasher *h, const void *data, size_t size);
/* Finishes and re-initialises, so the hasher can be reused at once. */
void hasher_final(struct hasher *h, struct hash *out);
void hasher_release(struct hasher *h);

/* Inline: compared in the hot loops of the mempool, the state tree and consensus (a call
 * each was ~2 % of the ledger thread). */
static inline bool
hash_equal(const struct hash *a, const struct hash *b)
{
    return memcmp(a->bytes, b->bytes, HASH_SIZE) == 0;
}

static inline bool
hash_is_zero(const struct hash *h)
{
    static const struct hash zero;
    return hash_equal(h, &zero);
}

/* 64 hex digits + NUL. */
void hash_to_hex(const struct hash *h, char out[2 * HASH_SIZE + 1]);
/* First 8 hex digits + NUL, for logs. */
void hash_to_short(const struct hash *h, char out[9]);
MUST_USE enum err hash_from_hex(const char *text, struct hash *out);

#endif
