/* crypto/sm2_curve_internal.h - the field and curve arithmetic of sm2_curve.c, exposed for
 * tests/unit/test_sm2_curve.c only (checked there against OpenSSL's BIGNUM and EC_POINT). */
#ifndef LM_CRYPTO_SM2_CURVE_INTERNAL_H
#define LM_CRYPTO_SM2_CURVE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

/* An element of GF(p) in Montgomery form (a * 2^256 mod p), little-endian limbs, always
 * fully reduced (< p). */
struct sm2_fe {
    uint64_t v[4];
};

/* Big-endian 32 bytes to Montgomery form; false (and *out untouched) if the value is >= p. */
bool sm2_fe_from_bytes(const uint8_t in[32], struct sm2_fe *out);
void sm2_fe_to_bytes(const struct sm2_fe *a, uint8_t out[32]);
void sm2_fe_mul(struct sm2_fe *r, const struct sm2_fe *a, const struct sm2_fe *b);
void sm2_fe_sqr(struct sm2_fe *r, const struct sm2_fe *a);
void sm2_fe_add(struct sm2_fe *r, const struct sm2_fe *a, const struct sm2_fe *b);
void sm2_fe_sub(struct sm2_fe *r, const struct sm2_fe *a, const struct sm2_fe *b);
/* r = a^(p-2); 0 for a = 0. */
void sm2_fe_inv(struct sm2_fe *r, const struct sm2_fe *a);

/* out = s*G + t*P for any 256-bit s, t (big-endian) and a valid point; false if the result
 * is the point at infinity or the point is invalid. out is 04 || X || Y (affine). */
bool sm2_curve_mul_double(const uint8_t s[32], const uint8_t t[32], const uint8_t point[65],
                          uint8_t out[65]);

/* The final check of verification on the affine point scaled to Jacobian by z != 0:
 * (e + x) mod n == r, for r in [1, n-1] and e < n (false otherwise). */
bool sm2_curve_r_matches(const uint8_t point[65], const uint8_t z[32], const uint8_t r[32],
                         const uint8_t e[32]);

#endif
