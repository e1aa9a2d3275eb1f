/* SM2 verification on our own sm2p256v1 arithmetic (see sm2_curve.h).
 *
 * Field: p = 2^256 - 2^224 - 2^96 + 2^64 - 1. Elements are kept in Montgomery form with
 * R = 2^256; since p = -1 mod 2^64, the Montgomery factor -p^-1 mod 2^64 is 1, so each
 * reduction round multiplies by the low limb itself. Products use unsigned __int128.
 * Curve: y^2 = x^3 - 3x + b, Jacobian coordinates (x = X/Z^2, y = Y/Z^3), Z = 0 is the
 * point at infinity. The result of s*G + t*P is never converted to affine: R = (e + x1) mod n
 * equals r iff x1 is (r - e) mod n or that plus n (when below p), and x1 = c is checked as
 * X == c * Z^2, which saves the field inversion. */
#include "crypto/sm2_curve.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "base/assert.h"
#include "crypto/hash.h"
#include "crypto/sm2_curve_internal.h"

__extension__ typedef unsigned __int128 u128;

#define LIMBS      4
#define FE_SIZE    ((size_t)32)
#define XY_SIZE    ((size_t)64) /* X || Y of a point */
#define G_WINDOW   8            /* wNAF width for G: 64 odd multiples, 4 KiB, built once */
#define P_WINDOW   5            /* wNAF width for P: 8 odd multiples per cached key */
#define G_TABLE    (1 << (G_WINDOW - 2))
#define P_TABLE    (1 << (P_WINDOW - 2))
#define WNAF_SIZE  258 /* a 256-bit scalar has at most 257 wNAF digits */
#define Z_INPUT    (2 + 16 + 6 * FE_SIZE)
#define CACHE_WAYS 8
#define CACHE_SETS (SM2_CURVE_KEYS_MAX / CACHE_WAYS)

_Static_assert(sizeof SM2_CURVE_ID - 1 == 16, "ENTL is 128 bits");
_Static_assert(G_TABLE <= 64 && P_TABLE <= 64, "tables fit the batch inversion scratch");
_Static_assert(CACHE_SETS *CACHE_WAYS == SM2_CURVE_KEYS_MAX, "cache geometry");

struct jac {
    struct sm2_fe x, y, z;
};

struct aff {
    struct sm2_fe x, y;
};

/* Little-endian limbs. */
static const uint64_t p_limbs[LIMBS] = { 0xFFFFFFFFFFFFFFFFu, 0xFFFFFFFF00000000u,
                                         0xFFFFFFFFFFFFFFFFu, 0xFFFFFFFEFFFFFFFFu };
static const uint64_t n_limbs[LIMBS] = { 0x53BBF40939D54123u, 0x7203DF6B21C6052Bu,
                                         0xFFFFFFFFFFFFFFFFu, 0xFFFFFFFEFFFFFFFFu };
/* R mod p = 2^224 + 2^96 - 2^64 + 1: the Montgomery form of 1. */
static const struct sm2_fe fe_one = { { 1, 0x00000000FFFFFFFFu, 0, 0x0000000100000000u } };
/* R^2 mod p, to enter Montgomery form (checked against BIGNUM in the tests). */
static const struct sm2_fe fe_rr = { { 0x0000000200000003u, 0x00000002FFFFFFFFu,
                                       0x0000000100000001u, 0x0000000400000002u } };

/* Big-endian curve parameters (GB/T 32918.5), hashed into Z as they are. */
static const uint8_t curve_a[FE_SIZE] = {
    0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFC,
};
static const uint8_t curve_b[FE_SIZE] = {
    0x28, 0xE9, 0xFA, 0x9E, 0x9D, 0x9F, 0x5E, 0x34, 0x4D, 0x5A, 0x9E, 0x4B, 0xCF, 0x65, 0x09, 0xA7,
    0xF3, 0x97, 0x89, 0xF5, 0x15, 0xAB, 0x8F, 0x92, 0xDD, 0xBC, 0xBD, 0x41, 0x4D, 0x94, 0x0E, 0x93,
};
static const uint8_t curve_gx[FE_SIZE] = {
    0x32, 0xC4, 0xAE, 0x2C, 0x1F, 0x19, 0x81, 0x19, 0x5F, 0x99, 0x04, 0x46, 0x6A, 0x39, 0xC9, 0x94,
    0x8F, 0xE3, 0x0B, 0xBF, 0xF2, 0x66, 0x0B, 0xE1, 0x71, 0x5A, 0x45, 0x89, 0x33, 0x4C, 0x74, 0xC7,
};
static const uint8_t curve_gy[FE_SIZE] = {
    0xBC, 0x37, 0x36, 0xA2, 0xF4, 0xF6, 0x77, 0x9C, 0x59, 0xBD, 0xCE, 0xE3, 0x6B, 0x69, 0x21, 0x53,
    0xD0, 0xA9, 0x87, 0x7C, 0xC6, 0x2A, 0x47, 0x40, 0x02, 0xDF, 0x32, 0xE5, 0x21, 0x39, 0xF0, 0xA0,
};

/* Set once under init_once, read-only afterwards. */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static struct sm2_fe fe_b;
static struct aff g_table[G_TABLE]; /* G, 3G, ..., 127G */
static uint8_t cache_hash_key[crypto_shorthash_KEYBYTES];

/* A validated key: the point without its 04 prefix, Z, and P, 3P, ..., 15P affine. */
struct key_entry {
    uint8_t point[XY_SIZE];
    uint8_t z[HASH_SIZE];
    bool used;
    struct aff table[P_TABLE];
};

_Static_assert(sizeof(struct key_entry) == 616, "the memory sm2_curve.h states");

static struct {
    pthread_mutex_t lock;     /* guards everything below */
    uint8_t next[CACHE_SETS]; /* the way a miss replaces next (FIFO) */
    struct key_entry entry[CACHE_SETS][CACHE_WAYS];
} key_cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- 256-bit integers ---- */

static void
u256_from_bytes(const uint8_t in[FE_SIZE], uint64_t out[LIMBS])
{
    for (int i = 0; i < LIMBS; i++) {
        uint64_t w = 0;
        for (int j = 0; j < 8; j++) {
            w = (w << 8) | in[8 * i + j];
        }
        out[LIMBS - 1 - i] = w;
    }
}

static void
u256_to_bytes(const uint64_t in[LIMBS], uint8_t out[FE_SIZE])
{
    for (int i = 0; i < LIMBS; i++) {
        uint64_t w = in[LIMBS - 1 - i];
        for (int j = 7; j >= 0; j--) {
            out[8 * i + j] = (uint8_t)w;
            w >>= 8;
        }
    }
}

/* r = a - b; returns the borrow (0 or 1). r may alias a or b. */
static uint64_t
u256_sub(uint64_t r[LIMBS], const uint64_t a[LIMBS], const uint64_t b[LIMBS])
{
    uint64_t borrow = 0;
    for (int i = 0; i < LIMBS; i++) {
        u128 x = (u128)a[i] - b[i] - borrow;
        r[i] = (uint64_t)x;
        borrow = (uint64_t)(x >> 64) & 1;
    }
    return borrow;
}

/* r = a + b; returns the carry (0 or 1). r may alias a or b. */
static uint64_t
u256_add(uint64_t r[LIMBS], const uint64_t a[LIMBS], const uint64_t b[LIMBS])
{
    uint64_t carry = 0;
    for (int i = 0; i < LIMBS; i++) {
        u128 x = (u128)a[i] + b[i] + carry;
        r[i] = (uint64_t)x;
        carry = (uint64_t)(x >> 64);
    }
    return carry;
}

static bool
u256_less(const uint64_t a[LIMBS], const uint64_t b[LIMBS])
{
    uint64_t scratch[LIMBS];
    return u256_sub(scratch, a, b) != 0;
}

static bool
u256_is_zero(const uint64_t a[LIMBS])
{
    return (a[0] | a[1] | a[2] | a[3]) == 0;
}

/* ---- the field ---- */

/* The limbs of p, for the unrolled arithmetic. */
#define P0 0xFFFFFFFFFFFFFFFFu
#define P1 0xFFFFFFFF00000000u
#define P2 0xFFFFFFFFFFFFFFFFu
#define P3 0xFFFFFFFEFFFFFFFFu

/* Add and subtract with carry on single limbs; gcc turns these into adc and sbb. */
#define ADC(out, carry, x, y)                \
    do {                                     \
        u128 s_ = (u128)(x) + (y) + (carry); \
        (out) = (uint64_t)s_;                \
        (carry) = (uint64_t)(s_ >> 64);      \
    } while (0)
#define SBB(out, borrow, x, y)                \
    do {                                      \
        u128 d_ = (u128)(x) - (y) - (borrow); \
        (out) = (uint64_t)d_;                 \
        (borrow) = (uint64_t)(d_ >> 64) & 1;  \
    } while (0)

/* r = v + top * 2^256 reduced once by p, for v + top * 2^256 < 2p. Branch-free: the
 * subtraction is needed about half the time after an addition, and a mispredicted branch
 * costs more than the select. */
static inline void
fe_reduce_once(struct sm2_fe *r, uint64_t v0, uint64_t v1, uint64_t v2, uint64_t v3, uint64_t top)
{
    uint64_t d0;
    uint64_t d1;
    uint64_t d2;
    uint64_t d3;
    uint64_t borrow = 0;
    SBB(d0, borrow, v0, P0);
    SBB(d1, borrow, v1, P1);
    SBB(d2, borrow, v2, P2);
    SBB(d3, borrow, v3, P3);
    uint64_t keep_d = 0 - ((top | (borrow ^ 1)) & 1);
    r->v[0] = (d0 & keep_d) | (v0 & ~keep_d);
    r->v[1] = (d1 & keep_d) | (v1 & ~keep_d);
    r->v[2] = (d2 & keep_d) | (v2 & ~keep_d);
    r->v[3] = (d3 & keep_d) | (v3 & ~keep_d);
}

/* (carry:out) = x * y + t + carry. Row-wise products in this form compile to mul/add/adc
 * with gcc; column-wise (Comba) accumulators came out 1.5x slower. */
#define MULADD(out, carry, x, y, t)                \
    do {                                           \
        u128 z_ = (u128)(x) * (y) + (t) + (carry); \
        (out) = (uint64_t)z_;                      \
        (carry) = (uint64_t)(z_ >> 64);            \
    } while (0)

/* One Montgomery round on the window w0..w4 of the product: m = w0 (-p^-1 mod 2^64 = 1),
 * adding m * p zeroes w0; top carries the overflow of w4 from round to round. */
#define MONT_ROUND(w0, w1, w2, w3, w4)   \
    do {                                 \
        uint64_t m_ = (w0);              \
        uint64_t c_ = 0;                 \
        MULADD(w0, c_, m_, P0, w0);      \
        MULADD(w1, c_, m_, P1, w1);      \
        MULADD(w2, c_, m_, P2, w2);      \
        MULADD(w3, c_, m_, P3, w3);      \
        u128 x_ = (u128)(w4) + c_ + top; \
        (w4) = (uint64_t)x_;             \
        top = (uint64_t)(x_ >> 64);      \
    } while (0)

/* r = t / 2^256 mod p for the 512-bit t = t7:...:t0 < p * 2^256 (locals of the caller,
 * destroyed; a macro so that they stay in registers). */
#define MONT_REDUCE(r)                            \
    do {                                          \
        uint64_t top = 0;                         \
        MONT_ROUND(t0, t1, t2, t3, t4);           \
        MONT_ROUND(t1, t2, t3, t4, t5);           \
        MONT_ROUND(t2, t3, t4, t5, t6);           \
        MONT_ROUND(t3, t4, t5, t6, t7);           \
        fe_reduce_once((r), t4, t5, t6, t7, top); \
    } while (0)

/* r = a * b / 2^256 mod p: schoolbook rows, then the reduction, all in registers. */
static inline void
fe_mul(struct sm2_fe *r, const struct sm2_fe *a, const struct sm2_fe *b)
{
    const uint64_t *x = a->v;
    const uint64_t *y = b->v;
    uint64_t t0;
    uint64_t t1;
    uint64_t t2;
    uint64_t t3;
    uint64_t t4;
    uint64_t t5;
    uint64_t t6;
    uint64_t t7;
    uint64_t c = 0;
    MULADD(t0, c, x[0], y[0], 0);
    MULADD(t1, c, x[0], y[1], 0);
    MULADD(t2, c, x[0], y[2], 0);
    MULADD(t3, c, x[0], y[3], 0);
    t4 = c;
    c = 0;
    MULADD(t1, c, x[1], y[0], t1);
    MULADD(t2, c, x[1], y[1], t2);
    MULADD(t3, c, x[1], y[2], t3);
    MULADD(t4, c, x[1], y[3], t4);
    t5 = c;
    c = 0;
    MULADD(t2, c, x[2], y[0], t2);
    MULADD(t3, c, x[2], y[1], t3);
    MULADD(t4, c, x[2], y[2], t4);
    MULADD(t5, c, x[2], y[3], t5);
    t6 = c;
    c = 0;
    MULADD(t3, c, x[3], y[0], t3);
    MULADD(t4, c, x[3], y[1], t4);
    MULADD(t5, c, x[3], y[2], t5);
    MULADD(t6, c, x[3], y[3], t6);
    t7 = c;
    MONT_REDUCE(r);
}

/* r = a^2 / 2^256 mod p: the six cross products once, doubled, plus the squares. */
static inline void
fe_sqr(struct sm2_fe *r, const struct sm2_fe *a)
{
    const uint64_t *x = a->v;
    uint64_t t1;
    uint64_t t2;
    uint64_t t3;
    uint64_t t4;
    uint64_t t5;
    uint64_t t6;
    uint64_t c = 0;
    MULADD(t1, c, x[0], x[1], 0);
    MULADD(t2, c, x[0], x[2], 0);
    MULADD(t3, c, x[0], x[3], 0);
    t4 = c;
    c = 0;
    MULADD(t3, c, x[1], x[2], t3);
    MULADD(t4, c, x[1], x[3], t4);
    t5 = c;
    c = 0;
    MULADD(t5, c, x[2], x[3], t5);
    t6 = c;
    /* double the cross products: t7:t6..t1 <<= 1 */
    uint64_t t7 = t6 >> 63;
    t6 = (t6 << 1) | (t5 >> 63);
    t5 = (t5 << 1) | (t4 >> 63);
    t4 = (t4 << 1) | (t3 >> 63);
    t3 = (t3 << 1) | (t2 >> 63);
    t2 = (t2 << 1) | (t1 >> 63);
    t1 <<= 1;
    /* add the squares x[i]^2 at 2i */
    uint64_t t0;
    u128 sq = (u128)x[0] * x[0];
    t0 = (uint64_t)sq;
    u128 acc = (u128)t1 + (uint64_t)(sq >> 64);
    t1 = (uint64_t)acc;
    sq = (u128)x[1] * x[1];
    acc = (u128)t2 + (uint64_t)sq + (uint64_t)(acc >> 64);
    t2 = (uint64_t)acc;
    acc = (u128)t3 + (uint64_t)(sq >> 64) + (uint64_t)(acc >> 64);
    t3 = (uint64_t)acc;
    sq = (u128)x[2] * x[2];
    acc = (u128)t4 + (uint64_t)sq + (uint64_t)(acc >> 64);
    t4 = (uint64_t)acc;
    acc = (u128)t5 + (uint64_t)(sq >> 64) + (uint64_t)(acc >> 64);
    t5 = (uint64_t)acc;
    sq = (u128)x[3] * x[3];
    acc = (u128)t6 + (uint64_t)sq + (uint64_t)(acc >> 64);
    t6 = (uint64_t)acc;
    t7 += (uint64_t)(sq >> 64) + (uint64_t)(acc >> 64);
    MONT_REDUCE(r);
}

static inline void
fe_add(struct sm2_fe *r, const struct sm2_fe *a, const struct sm2_fe *b)
{
    uint64_t s0;
    uint64_t s1;
    uint64_t s2;
    uint64_t s3;
    uint64_t carry = 0;
    ADC(s0, carry, a->v[0], b->v[0]);
    ADC(s1, carry, a->v[1], b->v[1]);
    ADC(s2, carry, a->v[2], b->v[2]);
    ADC(s3, carry, a->v[3], b->v[3]);
    fe_reduce_once(r, s0, s1, s2, s3, carry);
}

/* r = a - b mod p: subtract, then add p back under a mask if it borrowed. */
static inline void
fe_sub(struct sm2_fe *r, const struct sm2_fe *a, const struct sm2_fe *b)
{
    uint64_t d0;
    uint64_t d1;
    uint64_t d2;
    uint64_t d3;
    uint64_t borrow = 0;
    SBB(d0, borrow, a->v[0], b->v[0]);
    SBB(d1, borrow, a->v[1], b->v[1]);
    SBB(d2, borrow, a->v[2], b->v[2]);
    SBB(d3, borrow, a->v[3], b->v[3]);
    uint64_t mask = 0 - borrow;
    uint64_t carry = 0;
    ADC(r->v[0], carry, d0, P0 & mask);
    ADC(r->v[1], carry, d1, P1 & mask);
    ADC(r->v[2], carry, d2, P2 & mask);
    ADC(r->v[3], carry, d3, P3 & mask);
}

static inline void
fe_neg(struct sm2_fe *r, const struct sm2_fe *a)
{
    static const struct sm2_fe zero = { { 0, 0, 0, 0 } };
    fe_sub(r, &zero, a);
}

static inline bool
fe_is_zero(const struct sm2_fe *a)
{
    return u256_is_zero(a->v);
}

static inline bool
fe_equal(const struct sm2_fe *a, const struct sm2_fe *b)
{
    return ((a->v[0] ^ b->v[0]) | (a->v[1] ^ b->v[1]) | (a->v[2] ^ b->v[2]) |
            (a->v[3] ^ b->v[3])) == 0;
}

/* Montgomery form of an integer x < p. */
static void
fe_from_u256(struct sm2_fe *r, const uint64_t x[LIMBS])
{
    struct sm2_fe plain;
    memcpy(plain.v, x, sizeof plain.v);
    fe_mul(r, &plain, &fe_rr);
}

static void
fe_to_u256(const struct sm2_fe *a, uint64_t out[LIMBS])
{
    static const struct sm2_fe plain_one = { { 1, 0, 0, 0 } };
    struct sm2_fe r;
    fe_mul(&r, a, &plain_one);
    memcpy(out, r.v, sizeof r.v);
}

static void
fe_inv(struct sm2_fe *r, const struct sm2_fe *a)
{
    static const uint64_t p_minus_2[LIMBS] = { 0xFFFFFFFFFFFFFFFDu, 0xFFFFFFFF00000000u,
                                               0xFFFFFFFFFFFFFFFFu, 0xFFFFFFFEFFFFFFFFu };
    struct sm2_fe acc = fe_one;
    for (int i = LIMBS * 64 - 1; i >= 0; i--) {
        fe_sqr(&acc, &acc);
        if ((p_minus_2[i / 64] >> (i % 64)) & 1) {
            fe_mul(&acc, &acc, a);
        }
    }
    *r = acc;
}

/* ---- points ---- */

/* r = 2a (dbl-2001-b, a = -3). r may alias a; doubling infinity (Z = 0) gives Z = 0. */
static void
jac_double(struct jac *r, const struct jac *a)
{
    struct sm2_fe delta;
    struct sm2_fe gamma;
    struct sm2_fe beta;
    struct sm2_fe alpha;
    struct sm2_fe t0;
    struct sm2_fe t1;
    fe_sqr(&delta, &a->z);
    fe_sqr(&gamma, &a->y);
    fe_mul(&beta, &a->x, &gamma);
    fe_sub(&t0, &a->x, &delta);
    fe_add(&t1, &a->x, &delta);
    fe_mul(&t0, &t0, &t1);
    fe_add(&alpha, &t0, &t0);
    fe_add(&alpha, &alpha, &t0); /* 3 (X - delta)(X + delta) */
    fe_add(&t1, &a->y, &a->z);
    fe_sqr(&t1, &t1);
    fe_sub(&t1, &t1, &gamma);
    fe_sub(&r->z, &t1, &delta); /* a->y, a->z no longer needed */
    fe_add(&beta, &beta, &beta);
    fe_add(&beta, &beta, &beta); /* 4 beta */
    fe_sqr(&t0, &alpha);
    fe_add(&t1, &beta, &beta);
    fe_sub(&r->x, &t0, &t1); /* alpha^2 - 8 beta */
    fe_sub(&t0, &beta, &r->x);
    fe_mul(&t0, &alpha, &t0);
    fe_sqr(&gamma, &gamma);
    fe_add(&gamma, &gamma, &gamma);
    fe_add(&gamma, &gamma, &gamma);
    fe_add(&gamma, &gamma, &gamma); /* 8 gamma^2 */
    fe_sub(&r->y, &t0, &gamma);
}

static void
jac_set_infinity(struct jac *r)
{
    memset(r, 0, sizeof *r);
}

/* r = a + b with b affine (madd-2007-bl); handles a = infinity, a = b and a = -b. */
static void
jac_add_affine(struct jac *r, const struct jac *a, const struct aff *b)
{
    if (fe_is_zero(&a->z)) {
        r->x = b->x;
        r->y = b->y;
        r->z = fe_one;
        return;
    }
    struct sm2_fe z1z1;
    struct sm2_fe u2;
    struct sm2_fe s2;
    struct sm2_fe h;
    struct sm2_fe rr;
    fe_sqr(&z1z1, &a->z);
    fe_mul(&u2, &b->x, &z1z1);
    fe_mul(&s2, &b->y, &a->z);
    fe_mul(&s2, &s2, &z1z1);
    fe_sub(&h, &u2, &a->x);
    fe_sub(&rr, &s2, &a->y);
    if (fe_is_zero(&h)) {
        if (fe_is_zero(&rr)) {
            jac_double(r, a);
        } else {
            jac_set_infinity(r);
        }
        return;
    }
    struct sm2_fe hh;
    struct sm2_fe i4;
    struct sm2_fe j;
    struct sm2_fe v;
    struct sm2_fe t;
    struct jac out;
    fe_sqr(&hh, &h);
    fe_add(&i4, &hh, &hh);
    fe_add(&i4, &i4, &i4);
    fe_mul(&j, &h, &i4);
    fe_add(&rr, &rr, &rr);
    fe_mul(&v, &a->x, &i4);
    fe_sqr(&out.x, &rr);
    fe_sub(&out.x, &out.x, &j);
    fe_add(&t, &v, &v);
    fe_sub(&out.x, &out.x, &t);
    fe_sub(&t, &v, &out.x);
    fe_mul(&out.y, &rr, &t);
    fe_mul(&t, &a->y, &j);
    fe_add(&t, &t, &t);
    fe_sub(&out.y, &out.y, &t);
    fe_add(&out.z, &a->z, &h);
    fe_sqr(&out.z, &out.z);
    fe_sub(&out.z, &out.z, &z1z1);
    fe_sub(&out.z, &out.z, &hh);
    *r = out;
}

/* Affine forms of count Jacobian points, none at infinity, with one inversion. */
static void
jac_batch_to_affine(struct aff *out, const struct jac *in, size_t count)
{
    struct sm2_fe prefix[64];
    ASSERT(count >= 1);
    ASSERT(count <= 64);
    prefix[0] = in[0].z;
    for (size_t i = 1; i < count; i++) {
        fe_mul(&prefix[i], &prefix[i - 1], &in[i].z);
    }
    struct sm2_fe inv;
    fe_inv(&inv, &prefix[count - 1]);
    ASSERT(!fe_is_zero(&inv));
    for (size_t i = count; i-- > 0;) {
        struct sm2_fe zinv;
        struct sm2_fe zinv2;
        if (i > 0) {
            fe_mul(&zinv, &inv, &prefix[i - 1]);
            fe_mul(&inv, &inv, &in[i].z);
        } else {
            zinv = inv;
        }
        fe_sqr(&zinv2, &zinv);
        fe_mul(&out[i].x, &in[i].x, &zinv2);
        fe_mul(&zinv2, &zinv2, &zinv);
        fe_mul(&out[i].y, &in[i].y, &zinv2);
    }
}

/* out[i] = (2i + 1) * base, for i < count. */
static void
odd_multiples(struct aff *out, const struct aff *base, size_t count)
{
    struct jac jacs[64];
    ASSERT(count >= 2);
    ASSERT(count <= 64);
    struct jac twice = { base->x, base->y, fe_one };
    jac_double(&twice, &twice);
    struct aff twice_aff;
    jac_batch_to_affine(&twice_aff, &twice, 1);
    jacs[0] = (struct jac){ base->x, base->y, fe_one };
    for (size_t i = 1; i < count; i++) {
        jac_add_affine(&jacs[i], &jacs[i - 1], &twice_aff);
    }
    jac_batch_to_affine(out, jacs, count);
}

/* k += small, over 5 limbs (k < 2^257 stays in range). */
static void
u320_add_small(uint64_t k[LIMBS + 1], uint64_t small)
{
    uint64_t carry = small;
    for (int i = 0; i <= LIMBS && carry != 0; i++) {
        k[i] += carry;
        carry = k[i] < carry ? 1 : 0;
    }
}

/* Width-w NAF of a 256-bit scalar, least significant digit first; returns the length. */
static size_t
wnaf(const uint64_t scalar[LIMBS], unsigned width, int8_t out[WNAF_SIZE])
{
    uint64_t k[LIMBS + 1] = { scalar[0], scalar[1], scalar[2], scalar[3], 0 };
    const uint64_t mask = (1u << width) - 1;
    size_t length = 0;
    memset(out, 0, WNAF_SIZE);
    while ((k[0] | k[1] | k[2] | k[3] | k[4]) != 0) {
        ASSERT(length < WNAF_SIZE);
        if (k[0] & 1) {
            int digit = (int)(k[0] & mask);
            if (digit >= (1 << (width - 1))) {
                digit -= 1 << width;
            }
            out[length] = (int8_t)digit;
            /* k -= digit: k's low bits equal digit mod 2^w, so a positive digit only
             * clears low bits and a negative one adds. */
            if (digit > 0) {
                k[0] -= (uint64_t)digit;
            } else {
                u320_add_small(k, (uint64_t)(-digit));
            }
        }
        for (int i = 0; i < LIMBS; i++) {
            k[i] = (k[i] >> 1) | (k[i + 1] << 63);
        }
        k[LIMBS] >>= 1;
        length++;
    }
    return length;
}

static void
add_digit(struct jac *acc, const struct aff *table, int digit)
{
    if (digit > 0) {
        jac_add_affine(acc, acc, &table[(digit - 1) / 2]);
    } else {
        struct aff neg = table[(-digit - 1) / 2];
        fe_neg(&neg.y, &neg.y);
        jac_add_affine(acc, acc, &neg);
    }
}

/* out = s*G + t*P, P given by its table of odd multiples; Strauss-Shamir over wNAF. */
static void
mul_double(struct jac *out, const uint64_t s[LIMBS], const uint64_t t[LIMBS],
           const struct aff p_table[P_TABLE])
{
    int8_t s_naf[WNAF_SIZE];
    int8_t t_naf[WNAF_SIZE];
    size_t s_length = wnaf(s, G_WINDOW, s_naf);
    size_t t_length = wnaf(t, P_WINDOW, t_naf);
    size_t length = s_length > t_length ? s_length : t_length;
    struct jac acc;
    jac_set_infinity(&acc);
    for (size_t i = length; i-- > 0;) {
        if (!fe_is_zero(&acc.z)) {
            jac_double(&acc, &acc);
        }
        if (s_naf[i] != 0) {
            add_digit(&acc, g_table, s_naf[i]);
        }
        if (t_naf[i] != 0) {
            add_digit(&acc, p_table, t_naf[i]);
        }
    }
    *out = acc;
}

/* ---- keys ---- */

static bool
point_decode(const uint8_t point[SM2_CURVE_POINT_SIZE], struct aff *out)
{
    struct aff a;
    if (point[0] != 0x04 || !sm2_fe_from_bytes(point + 1, &a.x) ||
        !sm2_fe_from_bytes(point + 1 + FE_SIZE, &a.y)) {
        return false;
    }
    /* y^2 = x^3 - 3x + b */
    struct sm2_fe lhs;
    struct sm2_fe rhs;
    struct sm2_fe three_x;
    fe_sqr(&lhs, &a.y);
    fe_sqr(&rhs, &a.x);
    fe_mul(&rhs, &rhs, &a.x);
    fe_add(&three_x, &a.x, &a.x);
    fe_add(&three_x, &three_x, &a.x);
    fe_sub(&rhs, &rhs, &three_x);
    fe_add(&rhs, &rhs, &fe_b);
    if (!fe_equal(&lhs, &rhs)) {
        return false;
    }
    *out = a;
    return true;
}

static void
init_once_fn(void)
{
    if (sodium_init() < 0) {
        fatal("libsodium initialisation failed");
    }
    randombytes_buf(cache_hash_key, sizeof cache_hash_key);
    ASSERT(sm2_fe_from_bytes(curve_b, &fe_b));
    uint8_t g[SM2_CURVE_POINT_SIZE] = { 0x04 };
    memcpy(g + 1, curve_gx, FE_SIZE);
    memcpy(g + 1 + FE_SIZE, curve_gy, FE_SIZE);
    struct aff base;
    ASSERT(point_decode(g, &base));
    odd_multiples(g_table, &base, G_TABLE);
}

static void
curve_init(void)
{
    ASSERT(pthread_once(&init_once, init_once_fn) == 0);
}

/* Builds the cache entry of a valid point; false if the point is invalid. */
static bool
key_entry_build(const uint8_t point[SM2_CURVE_POINT_SIZE], struct key_entry *out)
{
    struct aff base;
    if (!point_decode(point, &base)) {
        return false;
    }
    static const uint8_t entl_id[2 + 16] = { 0x00, 0x80, '1', '2', '3', '4', '5', '6', '7',
                                             '8',  '1',  '2', '3', '4', '5', '6', '7', '8' };
    uint8_t input[Z_INPUT];
    uint8_t *at = input;
    memcpy(at, entl_id, sizeof entl_id);
    at += sizeof entl_id;
    const uint8_t *parts[4] = { curve_a, curve_b, curve_gx, curve_gy };
    for (int i = 0; i < 4; i++) {
        memcpy(at, parts[i], FE_SIZE);
        at += FE_SIZE;
    }
    memcpy(at, point + 1, XY_SIZE);
    ASSERT(at + XY_SIZE == input + sizeof input);
    struct hash z;
    hash_bytes(HASH_SM3, input, sizeof input, &z);
    memcpy(out->point, point + 1, sizeof out->point);
    memcpy(out->z, z.bytes, sizeof out->z);
    out->used = true;
    odd_multiples(out->table, &base, P_TABLE);
    return true;
}

static size_t
key_cache_set(const uint8_t point[SM2_CURVE_POINT_SIZE])
{
    uint8_t h[crypto_shorthash_BYTES];
    ASSERT(crypto_shorthash(h, point + 1, XY_SIZE, cache_hash_key) == 0);
    size_t v = (size_t)h[0] | ((size_t)h[1] << 8) | ((size_t)h[2] << 16);
    return v % CACHE_SETS;
}

/* Copies the key's entry into *out, building and caching it on a miss; false if the point
 * is invalid (never cached). */
static bool
key_lookup(const uint8_t point[SM2_CURVE_POINT_SIZE], struct key_entry *out)
{
    if (point[0] != 0x04) {
        return false; /* entries hold X || Y only: the prefix is checked here */
    }
    size_t set = key_cache_set(point);
    bool hit = false;
    ASSERT(pthread_mutex_lock(&key_cache.lock) == 0);
    for (size_t way = 0; way < CACHE_WAYS && !hit; way++) {
        const struct key_entry *e = &key_cache.entry[set][way];
        if (e->used && memcmp(e->point, point + 1, sizeof e->point) == 0) {
            *out = *e;
            hit = true;
        }
    }
    ASSERT(pthread_mutex_unlock(&key_cache.lock) == 0);
    if (hit) {
        return true;
    }
    if (!key_entry_build(point, out)) {
        return false;
    }
    ASSERT(pthread_mutex_lock(&key_cache.lock) == 0);
    size_t way = key_cache.next[set] % CACHE_WAYS;
    key_cache.next[set] = (uint8_t)((way + 1) % CACHE_WAYS);
    key_cache.entry[set][way] = *out;
    ASSERT(pthread_mutex_unlock(&key_cache.lock) == 0);
    return true;
}

/* ---- verification ---- */

static bool
scalar_in_range(const uint64_t x[LIMBS])
{
    return !u256_is_zero(x) && u256_less(x, n_limbs);
}

/* X == c * Z^2 for the integer c < p, i.e. the affine x of (X, Y, Z) is c. */
static bool
x_equals(const struct jac *point, const struct sm2_fe *zz, const uint64_t c[LIMBS])
{
    struct sm2_fe cm;
    fe_from_u256(&cm, c);
    fe_mul(&cm, &cm, zz);
    return fe_equal(&cm, &point->x);
}

/* (e + x1) mod n == r for the affine x1 of sum (not infinity), r < n, e < n:
 * x1 == c or x1 == c + n (if below p), c = (r - e) mod n. */
static bool
r_matches(const struct jac *sum, const uint64_t r[LIMBS], const uint64_t e[LIMBS])
{
    uint64_t c[LIMBS];
    if (u256_sub(c, r, e) != 0) {
        (void)u256_add(c, c, n_limbs);
    }
    struct sm2_fe zz;
    fe_sqr(&zz, &sum->z);
    if (x_equals(sum, &zz, c)) {
        return true;
    }
    return u256_add(c, c, n_limbs) == 0 && u256_less(c, p_limbs) && x_equals(sum, &zz, c);
}

enum err
sm2_curve_verify(const uint8_t point[SM2_CURVE_POINT_SIZE], const uint8_t *msg, size_t size,
                 const uint8_t sig[SM2_CURVE_SIG_SIZE])
{
    ASSERT(point != NULL);
    ASSERT(sig != NULL);
    ASSERT(msg != NULL || size == 0);
    curve_init();
    uint64_t r[LIMBS];
    uint64_t s[LIMBS];
    u256_from_bytes(sig, r);
    u256_from_bytes(sig + FE_SIZE, s);
    if (!scalar_in_range(r) || !scalar_in_range(s)) {
        return ERR_BAD_SIGNATURE;
    }
    uint64_t t[LIMBS];
    uint64_t carry = u256_add(t, r, s);
    if (carry != 0 || !u256_less(t, n_limbs)) {
        (void)u256_sub(t, t, n_limbs); /* r + s < 2n */
    }
    if (u256_is_zero(t)) {
        return ERR_BAD_SIGNATURE;
    }
    struct key_entry key;
    if (!key_lookup(point, &key)) {
        return ERR_BAD_SIGNATURE;
    }
    struct hash digest;
    hash_two(HASH_SM3, key.z, sizeof key.z, msg, size, &digest);
    uint64_t e[LIMBS];
    u256_from_bytes(digest.bytes, e);
    if (!u256_less(e, n_limbs)) {
        (void)u256_sub(e, e, n_limbs); /* e < 2^256 < 2n */
    }

    struct jac sum;
    mul_double(&sum, s, t, key.table);
    if (fe_is_zero(&sum.z)) {
        return ERR_BAD_SIGNATURE;
    }
    return r_matches(&sum, r, e) ? ERR_OK : ERR_BAD_SIGNATURE;
}

bool
sm2_curve_point_is_valid(const uint8_t point[SM2_CURVE_POINT_SIZE])
{
    ASSERT(point != NULL);
    curve_init();
    struct aff a;
    return point_decode(point, &a);
}

/* ---- for tests (sm2_curve_internal.h) ---- */

bool
sm2_fe_from_bytes(const uint8_t in[32], struct sm2_fe *out)
{
    uint64_t x[LIMBS];
    u256_from_bytes(in, x);
    if (!u256_less(x, p_limbs)) {
        return false;
    }
    fe_from_u256(out, x);
    return true;
}

void
sm2_fe_to_bytes(const struct sm2_fe *a, uint8_t out[32])
{
    uint64_t x[LIMBS];
    fe_to_u256(a, x);
    u256_to_bytes(x, out);
}

void
sm2_fe_mul(struct sm2_fe *r, const struct sm2_fe *a, const struct sm2_fe *b)
{
    fe_mul(r, a, b);
}

void
sm2_fe_sqr(struct sm2_fe *r, const struct sm2_fe *a)
{
    fe_sqr(r, a);
}

void
sm2_fe_add(struct sm2_fe *r, const struct sm2_fe *a, const struct sm2_fe *b)
{
    fe_add(r, a, b);
}

void
sm2_fe_sub(struct sm2_fe *r, const struct sm2_fe *a, const struct sm2_fe *b)
{
    fe_sub(r, a, b);
}

void
sm2_fe_inv(struct sm2_fe *r, const struct sm2_fe *a)
{
    fe_inv(r, a);
}

bool
sm2_curve_mul_double(const uint8_t s[32], const uint8_t t[32], const uint8_t point[65],
                     uint8_t out[65])
{
    curve_init();
    struct key_entry key;
    if (!key_entry_build(point, &key)) {
        return false;
    }
    uint64_t sv[LIMBS];
    uint64_t tv[LIMBS];
    u256_from_bytes(s, sv);
    u256_from_bytes(t, tv);
    struct jac sum;
    mul_double(&sum, sv, tv, key.table);
    if (fe_is_zero(&sum.z)) {
        return false;
    }
    struct aff a;
    jac_batch_to_affine(&a, &sum, 1);
    out[0] = 0x04;
    sm2_fe_to_bytes(&a.x, out + 1);
    sm2_fe_to_bytes(&a.y, out + 1 + FE_SIZE);
    return true;
}

bool
sm2_curve_r_matches(const uint8_t point[65], const uint8_t z[32], const uint8_t r[32],
                    const uint8_t e[32])
{
    curve_init();
    struct aff a;
    struct sm2_fe zm;
    if (!point_decode(point, &a) || !sm2_fe_from_bytes(z, &zm) || fe_is_zero(&zm)) {
        return false;
    }
    struct jac sum;
    struct sm2_fe zz;
    fe_sqr(&zz, &zm);
    fe_mul(&sum.x, &a.x, &zz);
    fe_mul(&zz, &zz, &zm);
    fe_mul(&sum.y, &a.y, &zz);
    sum.z = zm;
    uint64_t rv[LIMBS];
    uint64_t ev[LIMBS];
    u256_from_bytes(r, rv);
    u256_from_bytes(e, ev);
    if (!scalar_in_range(rv) || !u256_less(ev, n_limbs)) {
        return false;
    }
    return r_matches(&sum, rv, ev);
}
