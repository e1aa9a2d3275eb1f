/* crypto/ed25519_fast_internal.h - the field and curve arithmetic of ed25519_fast.c, exposed
 * for tests/unit/test_ed25519_fast.c only (checked there against OpenSSL's BIGNUM and
 * libsodium's crypto_core_ed25519 / crypto_scalarmult_ed25519). */
#ifndef LM_CRYPTO_ED25519_FAST_INTERNAL_H
#define LM_CRYPTO_ED25519_FAST_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

/* An element of GF(2^255 - 19): 5 little-endian limbs of 51 bits (a little more between
 * operations), not necessarily fully reduced. */
struct ed_fe {
    uint64_t v[5];
};

/* Little-endian 32 bytes, the top bit ignored (values p..2^255-1 are accepted as they are). */
void ed_fe_from_bytes(const uint8_t in[32], struct ed_fe *out);
/* The canonical encoding (fully reduced, < p). */
void ed_fe_to_bytes(const struct ed_fe *a, uint8_t out[32]);
void ed_fe_mul(struct ed_fe *r, const struct ed_fe *a, const struct ed_fe *b);
void ed_fe_sqr(struct ed_fe *r, const struct ed_fe *a);
void ed_fe_add(struct ed_fe *r, const struct ed_fe *a, const struct ed_fe *b);
void ed_fe_sub(struct ed_fe *r, const struct ed_fe *a, const struct ed_fe *b);
/* r = a^(p-2); 0 for a = 0. */
void ed_fe_inv(struct ed_fe *r, const struct ed_fe *a);

/* out = encoding of s*B - t*P for scalars s, t < 2^253 (little-endian) and a key P that
 * passes the key checks of ed25519_fast.h (false otherwise), by the loop a cached key takes
 * (its tables built here, not cached) or, if plain, the loop of a key's first sight. */
bool ed25519_fast_mul_double(const uint8_t s[32], const uint8_t t[32], const uint8_t point[32],
                             bool plain, uint8_t out[32]);

/* The same for 8 lanes at once by ed25519_ifma_mul_double (lane l: the 32 bytes at 32 l of
 * each array); false if a scalar or point is refused or the CPU lacks AVX-512 IFMA. */
bool ed25519_fast_mul_double_ifma(const uint8_t s[8 * 32], const uint8_t t[8 * 32],
                                  const uint8_t points[8 * 32], uint8_t out[8 * 32]);

/* Verification (ed25519_fast_verify_many) takes the vector loop if on and the CPU has AVX-512
 * IFMA (the default), the scalar loop otherwise; returns whether the vector loop is taken. */
bool ed25519_fast_set_ifma(bool on);

/* Whether the digit list mul_double takes from a scalar below 2^253 equals the width-w NAF
 * of the reference loop (A_WINDOW <= width <= B_WINDOW). */
bool ed25519_fast_naf_agrees(const uint8_t scalar[32], unsigned width);

#endif
