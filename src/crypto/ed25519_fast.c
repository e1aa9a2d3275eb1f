/* Ed25519 verification on our own GF(2^255 - 19) arithmetic (see ed25519_fast.h).
 *
 * Field: 5 limbs of 51 bits. A "carried" element has limbs below 2^51 + 2^13 (the output of
 * mul, sqr and sub); fe_add does not carry, so its output (below 2^52 + 2^14) may only feed
 * mul, sqr or the subtrahend of sub. Products use unsigned __int128 and stay below 2^115 for
 * limbs below 2^54. fe_sub adds 4p before subtracting, so its subtrahend may be below 2^53.
 * Curve: -x^2 + y^2 = 1 + d x^2 y^2, extended coordinates (X:Y:Z:T) with x = X/Z, y = Y/Z,
 * T = XY/Z; the addition formulas are complete (d is not a square), so points with a torsion
 * component and the identity need no special case. Table points are affine "precomputed"
 * (y + x, y - x, 2dxy), packed canonical into 4 x 64 bits to keep the cache small. */
#include "crypto/ed25519_fast.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>

#include "base/assert.h"
#include "crypto/ed25519_fast_internal.h"
#include "crypto/ed25519_ifma.h"

// NOLINTNEXTLINE(readability-identifier-naming): the name sm2_curve.c uses
__extension__ typedef unsigned __int128 u128;

#define MASK51 ((UINT64_C(1) << 51) - 1)
/* 8 chunks, windows 4 and 7: measured against 4/5/7 (63 doublings, 8 odd multiples of -A
 * per chunk, the same 32 points per key: about 15 % slower) and 16/3/6 (about the same on
 * hits, a slower table build on a miss). */
#define CHUNKS       8 /* the 253-bit scalars as CHUNKS chunks of CHUNK_BITS bits */
#define CHUNK_BITS   (256 / CHUNKS)
#define A_WINDOW     5 /* wNAF width for -A: A_TABLE odd multiples per chunk and key */
#define B_WINDOW     7 /* wNAF width for B: B_TABLE odd multiples per chunk, built once */
#define A_TABLE      (1 << (A_WINDOW - 2))
#define B_TABLE      (1 << (B_WINDOW - 2))
#define NAF_SIZE     ((size_t)CHUNKS * CHUNK_BITS) /* a scalar below 2^253 has at most 254 digits */
#define PLAIN_WINDOW 5 /* wNAF width for a key's first verification (mul_double_plain) */
#define PLAIN_TABLE  (1 << (PLAIN_WINDOW - 2))
#define CACHE_WAYS   8
#define CACHE_SETS   (ED25519_FAST_KEYS_MAX / CACHE_WAYS)
#define SCALAR_SIZE  32

_Static_assert(CACHE_SETS *CACHE_WAYS == ED25519_FAST_KEYS_MAX, "cache geometry");
_Static_assert(CHUNKS *A_TABLE == 64, "the key table size ed25519_fast.h states");

struct ext {
    struct ed_fe x, y, z, t;
};

/* (Y + X, Y - X, Z, 2dT): the second operand of a general addition. */
struct cached {
    struct ed_fe ypx, ymx, z, t2d;
};

/* Affine (y + x, y - x, 2dxy): the second operand of a mixed addition. */
struct precomp {
    struct ed_fe ypx, ymx, xy2d;
};

/* A precomp with each element canonical in 4 little-endian 64-bit words. */
struct packed_point {
    uint64_t ypx[4];
    uint64_t ymx[4];
    uint64_t xy2d[4];
};

/* A key that passed the checks: the odd multiples P, 3P, ..., of P = 2^(CHUNK_BITS i) (-A)
 * for each chunk i. */
struct key_entry {
    struct packed_point table[CHUNKS][A_TABLE];
};

_Static_assert(sizeof(struct key_entry) == 6144, "the memory ed25519_fast.h states");
_Static_assert(sizeof(struct packed_point) == ED25519_IFMA_POINT_WORDS * sizeof(uint64_t) &&
                   CHUNKS == ED25519_IFMA_CHUNKS && A_TABLE == ED25519_IFMA_A_TABLE &&
                   B_TABLE == ED25519_IFMA_B_TABLE,
               "the tables ed25519_ifma.c reads");

/* Groups verify their cached keys ED25519_IFMA_LANES at a time (ed25519_ifma.c) when the CPU
 * can; a rest of fewer than IFMA_LANES_MIN goes through the scalar loop. A vector costs about
 * two scalar loops (tables hot: ~15.6 µs for 8 lanes, ~8.5 µs per scalar loop), so 3 lanes are
 * the first clear win. */
#define IFMA_LANES_MIN 3
_Static_assert(ED25519_FAST_VECTOR == ED25519_IFMA_LANES, "the width ed25519_fast.h states");

/* Set once under init_once, read-only afterwards. */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static struct ed_fe fe_d;
static struct ed_fe fe_2d;
static struct ed_fe fe_sqrtm1;
static struct packed_point b_table[CHUNKS][B_TABLE]; /* odd multiples of 2^(CHUNK_BITS i) B */
static uint8_t cache_hash_key[crypto_shorthash_KEYBYTES];
static atomic_bool ifma_on; /* ed25519_ifma_supported(), or as a test set it */

/* The keys of a set sit together (one scan touches 256 contiguous bytes, not 8 tables). */
static struct {
    pthread_mutex_t lock;     /* guards everything below */
    uint8_t next[CACHE_SETS]; /* the way a miss replaces next (FIFO) */
    uint8_t used[CACHE_SETS]; /* bit w: way w holds a key */
    uint8_t key[CACHE_SETS][CACHE_WAYS][ED25519_FAST_KEY_SIZE];
    struct key_entry entry[CACHE_SETS][CACHE_WAYS];
    uint8_t seen_next[CACHE_SETS];         /* FIFO of the keys seen once */
    uint64_t seen[CACHE_SETS][CACHE_WAYS]; /* their tags (0: empty) */
} key_cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The standard base point B (y = 4/5, x even). */
static const uint8_t base_bytes[32] = {
    0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
    0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
};

/* L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
static const uint8_t order_l[SCALAR_SIZE] = {
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
};

/* The y coordinates libsodium 1.0.18's ge25519_has_small_order rejects (compared with the
 * encoding's sign bit cleared): 0 (order 4), 1 (order 1), the two of order 8, p - 1
 * (order 2), and the non-canonical p (= 0) and p + 1 (= 1). */
#define BLACKLIST 7
static const uint8_t small_order_y[BLACKLIST][32] = {
    { 0 },
    { 0x01 },
    { 0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
      0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
      0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05 },
    { 0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
      0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
      0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a },
    { 0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
    { 0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
    { 0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
};

/* ---- the field ---- */

static inline uint64_t
load64_le(const uint8_t *in)
{
    uint64_t w = 0;
    for (int i = 7; i >= 0; i--) {
        w = (w << 8) | in[i];
    }
    return w;
}

static inline void
fe_from_words(struct ed_fe *r, const uint64_t w[4])
{
    r->v[0] = w[0] & MASK51;
    r->v[1] = ((w[0] >> 51) | (w[1] << 13)) & MASK51;
    r->v[2] = ((w[1] >> 38) | (w[2] << 26)) & MASK51;
    r->v[3] = ((w[2] >> 25) | (w[3] << 39)) & MASK51;
    r->v[4] = (w[3] >> 12) & MASK51;
}

/* The wide column sums t0..t4 carried into r (limbs below 2^51, r0 a little above). */
static inline void
fe_carry_wide(struct ed_fe *r, u128 t0, u128 t1, u128 t2, u128 t3, u128 t4)
{
    t1 += (uint64_t)(t0 >> 51);
    uint64_t r0 = (uint64_t)t0 & MASK51;
    t2 += (uint64_t)(t1 >> 51);
    uint64_t r1 = (uint64_t)t1 & MASK51;
    t3 += (uint64_t)(t2 >> 51);
    r->v[2] = (uint64_t)t2 & MASK51;
    t4 += (uint64_t)(t3 >> 51);
    r->v[3] = (uint64_t)t3 & MASK51;
    uint64_t c = (uint64_t)(t4 >> 51);
    r->v[4] = (uint64_t)t4 & MASK51;
    r0 += c * 19;
    r1 += r0 >> 51;
    r->v[0] = r0 & MASK51;
    r->v[1] = r1;
}

/* Forced inline, as fe_sqr: gcc 12 at -O2 kept both out of line (~25 % slower). */
static inline __attribute__((always_inline)) void
fe_mul(struct ed_fe *r, const struct ed_fe *a, const struct ed_fe *b)
{
    const uint64_t a0 = a->v[0];
    const uint64_t a1 = a->v[1];
    const uint64_t a2 = a->v[2];
    const uint64_t a3 = a->v[3];
    const uint64_t a4 = a->v[4];
    const uint64_t b0 = b->v[0];
    const uint64_t b1 = b->v[1];
    const uint64_t b2 = b->v[2];
    const uint64_t b3 = b->v[3];
    const uint64_t b4 = b->v[4];
    const uint64_t b1_19 = 19 * b1;
    const uint64_t b2_19 = 19 * b2;
    const uint64_t b3_19 = 19 * b3;
    const uint64_t b4_19 = 19 * b4;
    u128 t0 =
        (u128)a0 * b0 + (u128)a1 * b4_19 + (u128)a2 * b3_19 + (u128)a3 * b2_19 + (u128)a4 * b1_19;
    u128 t1 =
        (u128)a0 * b1 + (u128)a1 * b0 + (u128)a2 * b4_19 + (u128)a3 * b3_19 + (u128)a4 * b2_19;
    u128 t2 = (u128)a0 * b2 + (u128)a1 * b1 + (u128)a2 * b0 + (u128)a3 * b4_19 + (u128)a4 * b3_19;
    u128 t3 = (u128)a0 * b3 + (u128)a1 * b2 + (u128)a2 * b1 + (u128)a3 * b0 + (u128)a4 * b4_19;
    u128 t4 = (u128)a0 * b4 + (u128)a1 * b3 + (u128)a2 * b2 + (u128)a3 * b1 + (u128)a4 * b0;
    fe_carry_wide(r, t0, t1, t2, t3, t4);
}

static inline __attribute__((always_inline)) void
fe_sqr(struct ed_fe *r, const struct ed_fe *a)
{
    const uint64_t a0 = a->v[0];
    const uint64_t a1 = a->v[1];
    const uint64_t a2 = a->v[2];
    const uint64_t a3 = a->v[3];
    const uint64_t a4 = a->v[4];
    const uint64_t a0_2 = 2 * a0;
    const uint64_t a1_2 = 2 * a1;
    const uint64_t a2_2 = 2 * a2;
    const uint64_t a3_19 = 19 * a3;
    const uint64_t a4_19 = 19 * a4;
    u128 t0 = (u128)a0 * a0 + (u128)a1_2 * a4_19 + (u128)a2_2 * a3_19;
    u128 t1 = (u128)a0_2 * a1 + (u128)a2_2 * a4_19 + (u128)a3 * a3_19;
    u128 t2 = (u128)a0_2 * a2 + (u128)a1 * a1 + (u128)(2 * a3) * a4_19;
    u128 t3 = (u128)a0_2 * a3 + (u128)a1_2 * a2 + (u128)a4 * a4_19;
    u128 t4 = (u128)a0_2 * a4 + (u128)a1_2 * a3 + (u128)a2 * a2;
    fe_carry_wide(r, t0, t1, t2, t3, t4);
}

static inline void
fe_sqr_n(struct ed_fe *r, const struct ed_fe *a, int n)
{
    fe_sqr(r, a);
    for (int i = 1; i < n; i++) {
        fe_sqr(r, r);
    }
}

/* No carry: see the bounds at the top. */
static inline void
fe_add(struct ed_fe *r, const struct ed_fe *a, const struct ed_fe *b)
{
    for (int i = 0; i < 5; i++) {
        r->v[i] = a->v[i] + b->v[i];
    }
}

/* r = a + 4p - b, carried; a and b below 2^53. */
static inline void
fe_sub(struct ed_fe *r, const struct ed_fe *a, const struct ed_fe *b)
{
    const uint64_t four_p0 = (UINT64_C(1) << 53) - 76;
    const uint64_t four_p = (UINT64_C(1) << 53) - 4;
    uint64_t r0 = a->v[0] + four_p0 - b->v[0];
    uint64_t r1 = a->v[1] + four_p - b->v[1];
    uint64_t r2 = a->v[2] + four_p - b->v[2];
    uint64_t r3 = a->v[3] + four_p - b->v[3];
    uint64_t r4 = a->v[4] + four_p - b->v[4];
    r1 += r0 >> 51;
    r0 &= MASK51;
    r2 += r1 >> 51;
    r1 &= MASK51;
    r3 += r2 >> 51;
    r2 &= MASK51;
    r4 += r3 >> 51;
    r3 &= MASK51;
    r0 += (r4 >> 51) * 19;
    r4 &= MASK51;
    r->v[0] = r0;
    r->v[1] = r1;
    r->v[2] = r2;
    r->v[3] = r3;
    r->v[4] = r4;
}

static inline void
fe_neg(struct ed_fe *r, const struct ed_fe *a)
{
    static const struct ed_fe zero = { { 0, 0, 0, 0, 0 } };
    fe_sub(r, &zero, a);
}

/* The fully reduced value (< p) in 4 little-endian words. */
static void
fe_to_words(const struct ed_fe *a, uint64_t out[4])
{
    uint64_t h[5];
    memcpy(h, a->v, sizeof h);
    for (int round = 0; round < 2; round++) { /* two weak carries: every limb below 2^51 */
        for (int i = 0; i < 4; i++) {
            h[i + 1] += h[i] >> 51;
            h[i] &= MASK51;
        }
        h[0] += (h[4] >> 51) * 19;
        h[4] &= MASK51;
    }
    /* h < 2^255 < 2p now; q = 1 iff h >= p, i.e. h + 19 >= 2^255 */
    uint64_t q = (h[0] + 19) >> 51;
    for (int i = 1; i < 5; i++) {
        q = (h[i] + q) >> 51;
    }
    h[0] += 19 * q;
    for (int i = 0; i < 4; i++) {
        h[i + 1] += h[i] >> 51;
        h[i] &= MASK51;
    }
    h[4] &= MASK51;
    out[0] = h[0] | (h[1] << 51);
    out[1] = (h[1] >> 13) | (h[2] << 38);
    out[2] = (h[2] >> 26) | (h[3] << 25);
    out[3] = (h[3] >> 39) | (h[4] << 12);
}

static void
fe_to_bytes(const struct ed_fe *a, uint8_t out[32])
{
    uint64_t w[4];
    fe_to_words(a, w);
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 8; j++) {
            out[8 * i + j] = (uint8_t)(w[i] >> (8 * j));
        }
    }
}

static void
fe_from_bytes(struct ed_fe *r, const uint8_t in[32])
{
    uint64_t w[4];
    for (size_t i = 0; i < 4; i++) {
        w[i] = load64_le(in + 8 * i);
    }
    fe_from_words(r, w);
}

static bool
fe_is_zero(const struct ed_fe *a)
{
    uint64_t w[4];
    fe_to_words(a, w);
    return (w[0] | w[1] | w[2] | w[3]) == 0;
}

static bool
fe_is_negative(const struct ed_fe *a)
{
    uint64_t w[4];
    fe_to_words(a, w);
    return (w[0] & 1) != 0;
}

/* out = z^(2^250 - 1), z11 = z^11: the common prefix of inversion and pow22523. */
static void
fe_pow_2_250_1(struct ed_fe *out, struct ed_fe *z11, const struct ed_fe *z)
{
    struct ed_fe z2;
    struct ed_fe z9;
    struct ed_fe t;
    struct ed_fe e5;
    struct ed_fe e10;
    struct ed_fe e20;
    struct ed_fe e50;
    struct ed_fe e100;
    fe_sqr(&z2, z);
    fe_sqr_n(&t, &z2, 2);
    fe_mul(&z9, &t, z);
    fe_mul(z11, &z9, &z2);
    fe_sqr(&t, z11);
    fe_mul(&e5, &t, &z9); /* 2^5 - 1 */
    fe_sqr_n(&t, &e5, 5);
    fe_mul(&e10, &t, &e5); /* 2^10 - 1 */
    fe_sqr_n(&t, &e10, 10);
    fe_mul(&e20, &t, &e10); /* 2^20 - 1 */
    fe_sqr_n(&t, &e20, 20);
    fe_mul(&t, &t, &e20); /* 2^40 - 1 */
    fe_sqr_n(&t, &t, 10);
    fe_mul(&e50, &t, &e10); /* 2^50 - 1 */
    fe_sqr_n(&t, &e50, 50);
    fe_mul(&e100, &t, &e50); /* 2^100 - 1 */
    fe_sqr_n(&t, &e100, 100);
    fe_mul(&t, &t, &e100); /* 2^200 - 1 */
    fe_sqr_n(&t, &t, 50);
    fe_mul(out, &t, &e50); /* 2^250 - 1 */
}

static void
fe_inv(struct ed_fe *r, const struct ed_fe *z)
{
    struct ed_fe t;
    struct ed_fe z11;
    fe_pow_2_250_1(&t, &z11, z);
    fe_sqr_n(&t, &t, 5);
    fe_mul(r, &t, &z11); /* 2^255 - 21 = p - 2 */
}

/* r = z^((p - 5) / 8) = z^(2^252 - 3). */
static void
fe_pow22523(struct ed_fe *r, const struct ed_fe *z)
{
    struct ed_fe t;
    struct ed_fe z11;
    fe_pow_2_250_1(&t, &z11, z);
    fe_sqr_n(&t, &t, 2);
    fe_mul(r, &t, z);
}

/* ---- points ---- */

static void
ext_identity(struct ext *r)
{
    memset(r, 0, sizeof *r);
    r->y.v[0] = 1;
    r->z.v[0] = 1;
}

/* r = 2p (dbl-2008-hwcd, a = -1, all four outputs negated, which is the same point); T only
 * if need_t (a doubling does not read T). r may alias p. */
static inline void
ext_double(struct ext *r, const struct ext *p, bool need_t)
{
    struct ed_fe xx;
    struct ed_fe yy;
    struct ed_fe b2;
    struct ed_fe s;
    struct ed_fe sum;
    struct ed_fe diff;
    struct ed_fe e;
    struct ed_fe f;
    fe_sqr(&xx, &p->x);
    fe_sqr(&yy, &p->y);
    fe_sqr(&b2, &p->z);
    fe_add(&b2, &b2, &b2); /* 2 Z^2 */
    fe_add(&s, &p->x, &p->y);
    fe_sqr(&s, &s);
    fe_add(&sum, &yy, &xx);  /* -H */
    fe_sub(&diff, &yy, &xx); /* G */
    fe_sub(&e, &s, &sum);    /* E = 2XY */
    fe_sub(&f, &b2, &diff);  /* -F */
    fe_mul(&r->x, &e, &f);
    fe_mul(&r->y, &sum, &diff);
    fe_mul(&r->z, &diff, &f);
    if (need_t) {
        fe_mul(&r->t, &e, &sum);
    }
}

/* r = p + q (neg: p - q) for an affine precomputed q (madd-2008-hwcd-3 with k = 2d). r may
 * alias p; T only if need_t. */
static inline void
ext_add_precomp(struct ext *r, const struct ext *p, const struct precomp *q, bool neg, bool need_t)
{
    struct ed_fe ypx;
    struct ed_fe ymx;
    struct ed_fe a;
    struct ed_fe b;
    struct ed_fe c;
    struct ed_fe d;
    struct ed_fe e;
    struct ed_fe f;
    struct ed_fe g;
    struct ed_fe h;
    fe_add(&ypx, &p->y, &p->x);
    fe_sub(&ymx, &p->y, &p->x);
    fe_mul(&a, &ymx, neg ? &q->ypx : &q->ymx);
    fe_mul(&b, &ypx, neg ? &q->ymx : &q->ypx);
    fe_mul(&c, &p->t, &q->xy2d);
    fe_add(&d, &p->z, &p->z);
    fe_sub(&e, &b, &a);
    fe_add(&h, &b, &a);
    if (neg) { /* -q has -2dxy: the roles of F and G swap */
        fe_add(&f, &d, &c);
        fe_sub(&g, &d, &c);
    } else {
        fe_sub(&f, &d, &c);
        fe_add(&g, &d, &c);
    }
    fe_mul(&r->x, &e, &f);
    fe_mul(&r->y, &g, &h);
    fe_mul(&r->z, &f, &g);
    if (need_t) {
        fe_mul(&r->t, &e, &h);
    }
}

static void
ext_to_cached(struct cached *r, const struct ext *p)
{
    fe_add(&r->ypx, &p->y, &p->x);
    fe_sub(&r->ymx, &p->y, &p->x);
    r->z = p->z;
    fe_mul(&r->t2d, &p->t, &fe_2d);
}

/* r = p + q (neg: p - q; add-2008-hwcd-3 with k = 2d). r may alias p; T only if need_t. */
static void
ext_add_cached(struct ext *r, const struct ext *p, const struct cached *q, bool neg, bool need_t)
{
    struct ed_fe ypx;
    struct ed_fe ymx;
    struct ed_fe a;
    struct ed_fe b;
    struct ed_fe c;
    struct ed_fe d;
    struct ed_fe e;
    struct ed_fe f;
    struct ed_fe g;
    struct ed_fe h;
    fe_add(&ypx, &p->y, &p->x);
    fe_sub(&ymx, &p->y, &p->x);
    fe_mul(&a, &ymx, neg ? &q->ypx : &q->ymx);
    fe_mul(&b, &ypx, neg ? &q->ymx : &q->ypx);
    fe_mul(&c, &p->t, &q->t2d);
    fe_mul(&d, &p->z, &q->z);
    fe_add(&d, &d, &d);
    fe_sub(&e, &b, &a);
    fe_add(&h, &b, &a);
    if (neg) { /* -q has -2dT: the roles of F and G swap */
        fe_add(&f, &d, &c);
        fe_sub(&g, &d, &c);
    } else {
        fe_sub(&f, &d, &c);
        fe_add(&g, &d, &c);
    }
    fe_mul(&r->x, &e, &f);
    fe_mul(&r->y, &g, &h);
    fe_mul(&r->z, &f, &g);
    if (need_t) {
        fe_mul(&r->t, &e, &h);
    }
}

static void
ext_encode_with(const struct ext *p, const struct ed_fe *zinv, uint8_t out[32])
{
    struct ed_fe x;
    struct ed_fe y;
    fe_mul(&x, &p->x, zinv);
    fe_mul(&y, &p->y, zinv);
    fe_to_bytes(&y, out);
    out[31] |= (uint8_t)(fe_is_negative(&x) ? 0x80 : 0);
}

static void
ext_encode(const struct ext *p, uint8_t out[32])
{
    struct ed_fe zinv;
    fe_inv(&zinv, &p->z);
    ext_encode_with(p, &zinv, out);
}

/* -P for the encoding s, as libsodium's ge25519_frombytes_negate_vartime: y from the low 255
 * bits (the caller has checked y < p), x the root of the curve equation whose parity differs
 * from the sign bit (x = 0 stays 0); false if (y^2 - 1) / (d y^2 + 1) is not a square. */
static bool
ext_decode_negate(struct ext *out, const uint8_t s[32])
{
    static const struct ed_fe one = { { 1, 0, 0, 0, 0 } };
    struct ext r;
    struct ed_fe u;
    struct ed_fe v;
    struct ed_fe v3;
    struct ed_fe vxx;
    struct ed_fe check;
    fe_from_bytes(&r.y, s);
    r.z = one;
    fe_sqr(&u, &r.y);
    fe_mul(&v, &u, &fe_d);
    fe_sub(&u, &u, &one); /* y^2 - 1 */
    fe_add(&v, &v, &one); /* d y^2 + 1 */
    fe_sqr(&v3, &v);
    fe_mul(&v3, &v3, &v); /* v^3 */
    fe_sqr(&r.x, &v3);
    fe_mul(&r.x, &r.x, &v);
    fe_mul(&r.x, &r.x, &u); /* u v^7 */
    fe_pow22523(&r.x, &r.x);
    fe_mul(&r.x, &r.x, &v3);
    fe_mul(&r.x, &r.x, &u); /* u v^3 (u v^7)^((p-5)/8) */
    fe_sqr(&vxx, &r.x);
    fe_mul(&vxx, &vxx, &v);
    fe_sub(&check, &vxx, &u);
    if (!fe_is_zero(&check)) {
        fe_add(&check, &vxx, &u);
        if (!fe_is_zero(&check)) {
            return false;
        }
        fe_mul(&r.x, &r.x, &fe_sqrtm1);
    }
    if (fe_is_negative(&r.x) == ((s[31] >> 7) != 0)) {
        fe_neg(&r.x, &r.x);
    }
    fe_mul(&r.t, &r.x, &r.y);
    *out = r;
    return true;
}

static void
point_pack(struct packed_point *out, const struct ed_fe *x, const struct ed_fe *y)
{
    struct ed_fe t;
    fe_add(&t, y, x);
    fe_to_words(&t, out->ypx);
    fe_sub(&t, y, x);
    fe_to_words(&t, out->ymx);
    fe_mul(&t, x, y);
    fe_mul(&t, &t, &fe_2d);
    fe_to_words(&t, out->xy2d);
}

static inline void
point_unpack(struct precomp *out, const struct packed_point *in)
{
    fe_from_words(&out->ypx, in->ypx);
    fe_from_words(&out->ymx, in->ymx);
    fe_from_words(&out->xy2d, in->xy2d);
}

/* The affine packed forms of count points with one inversion. */
static void
batch_pack(struct packed_point *out, const struct ext *in, size_t count, struct ed_fe *prefix)
{
    ASSERT(count >= 1);
    // cppcheck-suppress uninitvar ; chunk_tables fills in through a row pointer first
    prefix[0] = in[0].z;
    for (size_t i = 1; i < count; i++) {
        fe_mul(&prefix[i], &prefix[i - 1], &in[i].z);
    }
    struct ed_fe inv;
    fe_inv(&inv, &prefix[count - 1]);
    ASSERT(!fe_is_zero(&inv)); /* Z is never 0 with complete formulas */
    for (size_t i = count; i-- > 0;) {
        struct ed_fe zinv;
        if (i > 0) {
            fe_mul(&zinv, &inv, &prefix[i - 1]);
            fe_mul(&inv, &inv, &in[i].z);
        } else {
            zinv = inv;
        }
        struct ed_fe x;
        struct ed_fe y;
        fe_mul(&x, &in[i].x, &zinv);
        fe_mul(&y, &in[i].y, &zinv);
        point_pack(&out[i], &x, &y);
    }
}

/* out[i * per_chunk + j] = (2j + 1) 2^(CHUNK_BITS i) p, packed; scratch and prefix hold
 * CHUNKS * per_chunk. */
static void
chunk_tables(struct packed_point *out, const struct ext *p, size_t per_chunk, struct ext *scratch,
             struct ed_fe *prefix)
{
    struct ext base = *p;
    for (size_t i = 0; i < CHUNKS; i++) {
        if (i > 0) {
            for (int k = 0; k < CHUNK_BITS; k++) {
                ext_double(&base, &base, k == CHUNK_BITS - 1);
            }
        }
        struct ext twice;
        struct cached twice_cached;
        ext_double(&twice, &base, true);
        ext_to_cached(&twice_cached, &twice);
        struct ext *row = scratch + i * per_chunk;
        row[0] = base;
        for (size_t j = 1; j < per_chunk; j++) {
            ext_add_cached(&row[j], &row[j - 1], &twice_cached, false, true);
        }
    }
    batch_pack(out, scratch, CHUNKS * per_chunk, prefix);
}

/* ---- scalars ---- */

static bool
scalar_is_canonical(const uint8_t s[SCALAR_SIZE])
{
    for (int i = SCALAR_SIZE - 1; i >= 0; i--) {
        if (s[i] != order_l[i]) {
            return s[i] < order_l[i];
        }
    }
    return false; /* s = L */
}

/* A scalar below 2^253 (little-endian bytes) as 4 words and a zero fifth (room for carries). */
static void
scalar_words(const uint8_t scalar[SCALAR_SIZE], uint64_t k[5])
{
    for (size_t i = 0; i < 4; i++) {
        k[i] = load64_le(scalar + 8 * i);
    }
    k[4] = 0;
    ASSERT((k[3] >> 61) == 0);
}

/* Width-w NAF of a scalar below 2^253 (little-endian), least significant digit first, in
 * NAF_SIZE digits: at each odd window the digit is the window's value (plus the carry of the
 * previous digit) taken into (-2^(w-1), 2^(w-1)), and a negative digit carries 1 upwards. */
static void
wnaf(const uint8_t scalar[SCALAR_SIZE], unsigned width, int8_t out[NAF_SIZE])
{
    uint64_t k[5];
    scalar_words(scalar, k);
    const uint64_t mask = (UINT64_C(1) << width) - 1;
    const uint64_t half = UINT64_C(1) << (width - 1);
    memset(out, 0, NAF_SIZE);
    uint64_t carry = 0;
    size_t pos = 0;
    while (pos < NAF_SIZE) {
        size_t word = pos / 64;
        size_t bit = pos % 64;
        uint64_t bits = k[word] >> bit;
        if (bit + width > 64) {
            bits |= k[word + 1] << (64 - bit);
        }
        uint64_t window = carry + (bits & mask);
        if ((window & 1) == 0) {
            pos++;
            continue;
        }
        if (window < half) {
            carry = 0;
            out[pos] = (int8_t)window;
        } else {
            carry = 1;
            out[pos] = (int8_t)((int)window - (int)(mask + 1));
        }
        pos += width;
    }
    ASSERT(carry == 0);
}

/* Most nonzero digits of a width-w NAF of a scalar below 2^253 (they are at least w apart). */
#define NAF_DIGITS_MAX (NAF_SIZE / A_WINDOW + 2)
_Static_assert(A_WINDOW <= B_WINDOW, "NAF_DIGITS_MAX bounds both scalars' digits");

/* The nonzero digits of wnaf(scalar, width), lowest first: positions and values; returns their
 * count. Instead of wnaf's walk bit by bit, it jumps to the next set bit of the scalar and takes
 * each digit out of it (a negative digit adds 2^width at its position, which clears the
 * window and carries into the bits above), so it takes one step per digit. */
static size_t
naf_digits(const uint8_t scalar[SCALAR_SIZE], unsigned width, uint16_t pos_out[NAF_DIGITS_MAX],
           int8_t digit_out[NAF_DIGITS_MAX])
{
    uint64_t k[5];
    scalar_words(scalar, k);
    const uint64_t mask = (UINT64_C(1) << width) - 1;
    const uint64_t half = UINT64_C(1) << (width - 1);
    size_t n = 0;
    size_t word = 0;
    uint64_t cur = k[0];
    for (;;) {
        while (cur == 0 && ++word < 5) {
            cur = k[word];
        }
        if (word >= 5) {
            break;
        }
        unsigned bit = (unsigned)__builtin_ctzll(cur);
        size_t pos = word * 64 + bit;
        uint64_t window = k[word] >> bit;
        if (bit + width > 64) {
            window |= k[word + 1] << (64 - bit);
        }
        window &= mask; /* odd */
        k[word] &= ~(mask << bit);
        if (bit + width > 64) {
            k[word + 1] &= ~(mask >> (64 - bit));
        }
        ASSERT(n < NAF_DIGITS_MAX && pos < NAF_SIZE);
        pos_out[n] = (uint16_t)pos;
        if (window < half) {
            digit_out[n++] = (int8_t)window;
        } else { /* window - 2^width: add 2^(pos + width) */
            digit_out[n++] = (int8_t)((int)window - (int)(mask + 1));
            size_t up = pos + width;
            uint64_t add = UINT64_C(1) << (up % 64);
            for (size_t w = up / 64; add != 0 && w < 5; w++) {
                k[w] += add;
                add = k[w] == 0 ? 1 : 0;
            }
        }
        cur = k[word];
    }
    return n;
}

/* The adds of one scalar's digits, sorted into the steps of mul_double's loop: digit
 * CHUNK_BITS i + k adds at step k from chunk i's table (of `per_chunk` odd multiples). */
struct steps {
    uint8_t count[CHUNK_BITS];
    const struct packed_point *add[CHUNK_BITS][2 * CHUNKS];
    bool neg[CHUNK_BITS][2 * CHUNKS];
};

static void
steps_add(struct steps *st, const uint8_t scalar[SCALAR_SIZE], unsigned width,
          const struct packed_point *table, size_t per_chunk)
{
    uint16_t pos[NAF_DIGITS_MAX];
    int8_t digit[NAF_DIGITS_MAX];
    size_t n = naf_digits(scalar, width, pos, digit);
    for (size_t j = 0; j < n; j++) {
        size_t chunk = pos[j] / CHUNK_BITS;
        size_t k = pos[j] % CHUNK_BITS;
        int d = (int)digit[j];
        size_t c = st->count[k]++;
        st->add[k][c] = &table[chunk * per_chunk + (size_t)((d > 0 ? d : -d) / 2)];
        st->neg[k][c] = d < 0;
    }
}

/* out = s B + h P, P given by its chunk tables (CHUNKS x A_TABLE): digit CHUNK_BITS i + k of a
 * scalar adds to the running sum at step k, from its chunk's table. */
static void
mul_double(struct ext *out, const uint8_t s[SCALAR_SIZE], const uint8_t h[SCALAR_SIZE],
           const struct packed_point *p_table)
{
    struct steps st;
    memset(st.count, 0, sizeof st.count);
    steps_add(&st, s, B_WINDOW, &b_table[0][0], B_TABLE);
    steps_add(&st, h, A_WINDOW, p_table, A_TABLE);
    struct ext acc;
    ext_identity(&acc);
    bool started = false;
    for (int k = CHUNK_BITS - 1; k >= 0; k--) {
        size_t n = st.count[k];
        if (started) {
            ext_double(&acc, &acc, n > 0);
        }
        for (size_t j = 0; j < n; j++) {
            struct precomp q;
            point_unpack(&q, st.add[k][j]);
            ext_add_precomp(&acc, &acc, &q, st.neg[k][j], j + 1 < n);
            started = true;
        }
    }
    *out = acc;
}

/* out = s B + h P without P's chunk tables, for a key seen the first time: one wNAF loop of
 * up to 253 doublings, 8 odd multiples of P (projective, no inversion) and B's first chunk
 * table (so about libsodium's own cost). */
static void
mul_double_plain(struct ext *out, const uint8_t s[SCALAR_SIZE], const uint8_t h[SCALAR_SIZE],
                 const struct ext *p)
{
    struct cached table[PLAIN_TABLE];
    struct ext twice;
    struct ext multiple = *p;
    struct cached twice_cached;
    ext_double(&twice, p, true);
    ext_to_cached(&twice_cached, &twice);
    ext_to_cached(&table[0], p);
    for (size_t j = 1; j < PLAIN_TABLE; j++) {
        ext_add_cached(&multiple, &multiple, &twice_cached, false, true);
        ext_to_cached(&table[j], &multiple);
    }
    int8_t s_naf[NAF_SIZE];
    int8_t h_naf[NAF_SIZE];
    wnaf(s, B_WINDOW, s_naf);
    wnaf(h, PLAIN_WINDOW, h_naf);
    struct ext acc;
    ext_identity(&acc);
    bool started = false;
    for (size_t k = NAF_SIZE; k-- > 0;) {
        int sd = (int)s_naf[k];
        int hd = (int)h_naf[k];
        if (started) {
            ext_double(&acc, &acc, sd != 0 || hd != 0);
        }
        if (sd != 0) {
            struct precomp q;
            point_unpack(&q, &b_table[0][(sd > 0 ? sd : -sd) / 2]);
            ext_add_precomp(&acc, &acc, &q, sd < 0, hd != 0);
            started = true;
        }
        if (hd != 0) {
            ext_add_cached(&acc, &acc, &table[(hd > 0 ? hd : -hd) / 2], hd < 0, false);
            started = true;
        }
    }
    *out = acc;
}

/* ---- keys ---- */

/* y (sign bit cleared) below p, as libsodium's ge25519_is_canonical. */
static bool
encoding_is_canonical(const uint8_t s[32])
{
    if ((s[31] & 0x7f) != 0x7f || s[0] < 0xed) {
        return true;
    }
    for (int i = 1; i < 31; i++) {
        if (s[i] != 0xff) {
            return true;
        }
    }
    return false;
}

/* libsodium's ge25519_has_small_order: the encoding against the blacklist. */
static bool
encoding_has_small_order(const uint8_t s[32])
{
    for (int i = 0; i < BLACKLIST; i++) {
        if (memcmp(s, small_order_y[i], 31) == 0 && (s[31] & 0x7f) == small_order_y[i][31]) {
            return true;
        }
    }
    return false;
}

static void
init_once_fn(void)
{
    if (sodium_init() < 0) {
        fatal("libsodium initialisation failed");
    }
    randombytes_buf(cache_hash_key, sizeof cache_hash_key);
    /* d = -121665 / 121666 */
    struct ed_fe num = { { 121665, 0, 0, 0, 0 } };
    struct ed_fe den = { { 121666, 0, 0, 0, 0 } };
    fe_inv(&den, &den);
    fe_neg(&num, &num);
    fe_mul(&fe_d, &num, &den);
    fe_add(&fe_2d, &fe_d, &fe_d);
    fe_sub(&fe_2d, &fe_2d, &(struct ed_fe){ { 0 } }); /* carried */
    /* sqrt(-1) = 2^((p - 1) / 4) = (2^(2^252 - 3))^2 * 2 */
    struct ed_fe two = { { 2, 0, 0, 0, 0 } };
    fe_pow22523(&fe_sqrtm1, &two);
    fe_sqr(&fe_sqrtm1, &fe_sqrtm1);
    fe_mul(&fe_sqrtm1, &fe_sqrtm1, &two);
    struct ed_fe check;
    fe_sqr(&check, &fe_sqrtm1);
    fe_add(&check, &check, &(struct ed_fe){ { 1, 0, 0, 0, 0 } });
    ASSERT(fe_is_zero(&check));
    struct ext base;
    ASSERT(ext_decode_negate(&base, base_bytes));
    fe_neg(&base.x, &base.x);
    fe_neg(&base.t, &base.t);
    static struct ext scratch[CHUNKS * B_TABLE]; /* init only, off the stack */
    static struct ed_fe prefix[CHUNKS * B_TABLE];
    chunk_tables(&b_table[0][0], &base, B_TABLE, scratch, prefix);
    atomic_store_explicit(&ifma_on, ed25519_ifma_supported(), memory_order_relaxed);
}

static void
curve_init(void)
{
    ASSERT(pthread_once(&init_once, init_once_fn) == 0);
}

/* The key checks of libsodium's verify, in its order, and -A. */
static bool
key_decode(const uint8_t key[ED25519_FAST_KEY_SIZE], struct ext *out_neg_a)
{
    return encoding_is_canonical(key) && !encoding_has_small_order(key) &&
           ext_decode_negate(out_neg_a, key);
}

static void
key_entry_fill(const struct ext *neg_a, struct key_entry *out)
{
    struct ext scratch[CHUNKS * A_TABLE];
    struct ed_fe prefix[CHUNKS * A_TABLE];
    chunk_tables(&out->table[0][0], neg_a, A_TABLE, scratch, prefix);
}

/* The set of a key and its tag (64 bits of the same keyed hash, never 0) in the list of keys
 * seen once. */
static void
key_cache_place(const uint8_t key[ED25519_FAST_KEY_SIZE], size_t *out_set, uint64_t *out_tag)
{
    uint8_t h[crypto_shorthash_BYTES];
    ASSERT(crypto_shorthash(h, key, ED25519_FAST_KEY_SIZE, cache_hash_key) == 0);
    size_t v = (size_t)h[0] | ((size_t)h[1] << 8) | ((size_t)h[2] << 16);
    *out_set = v % CACHE_SETS;
    *out_tag = load64_le(h) | 1;
}

enum lookup {
    LOOKUP_BAD,    /* the key fails a check (never cached) */
    LOOKUP_TABLES, /* *out_entry holds the key's tables */
    LOOKUP_POINT,  /* first sight: *out_neg_a holds -A, no tables built */
};

/* A cached key's tables are copied into *out_entry. A key seen the first time is only
 * remembered (by its tag) and handed back as -A, for mul_double_plain: building tables costs
 * about a plain verification, so keys that sign once never pay it. A key seen again (its tag
 * still remembered) gets its tables built and cached. */
static enum lookup
key_lookup(const uint8_t key[ED25519_FAST_KEY_SIZE], struct key_entry *out_entry,
           struct ext *out_neg_a)
{
    size_t set = 0;
    uint64_t tag = 0;
    key_cache_place(key, &set, &tag);
    bool hit = false;
    ASSERT(pthread_mutex_lock(&key_cache.lock) == 0);
    for (size_t way = 0; way < CACHE_WAYS && !hit; way++) {
        if (((key_cache.used[set] >> way) & 1) != 0 &&
            memcmp(key_cache.key[set][way], key, ED25519_FAST_KEY_SIZE) == 0) {
            *out_entry = key_cache.entry[set][way];
            hit = true;
        }
    }
    ASSERT(pthread_mutex_unlock(&key_cache.lock) == 0);
    if (hit) {
        return LOOKUP_TABLES;
    }
    struct ext neg_a;
    if (!key_decode(key, &neg_a)) {
        return LOOKUP_BAD;
    }
    bool seen = false;
    ASSERT(pthread_mutex_lock(&key_cache.lock) == 0);
    for (size_t way = 0; way < CACHE_WAYS && !seen; way++) {
        seen = key_cache.seen[set][way] == tag;
    }
    if (!seen) {
        size_t way = key_cache.seen_next[set] % CACHE_WAYS;
        key_cache.seen_next[set] = (uint8_t)((way + 1) % CACHE_WAYS);
        key_cache.seen[set][way] = tag;
    }
    ASSERT(pthread_mutex_unlock(&key_cache.lock) == 0);
    if (!seen) {
        *out_neg_a = neg_a;
        return LOOKUP_POINT;
    }
    key_entry_fill(&neg_a, out_entry);
    ASSERT(pthread_mutex_lock(&key_cache.lock) == 0);
    size_t way = key_cache.next[set] % CACHE_WAYS;
    key_cache.next[set] = (uint8_t)((way + 1) % CACHE_WAYS);
    key_cache.entry[set][way] = *out_entry;
    memcpy(key_cache.key[set][way], key, ED25519_FAST_KEY_SIZE);
    key_cache.used[set] = (uint8_t)(key_cache.used[set] | (1u << way));
    ASSERT(pthread_mutex_unlock(&key_cache.lock) == 0);
    return LOOKUP_TABLES;
}

/* ---- verification ---- */

/* The checks of one signature, its key's tables (*out_entry) or -A (first sight, *out_neg_a)
 * as key_lookup hands them, and h = SHA-512(R || A || M) mod L; LOOKUP_BAD if it fails a
 * check (then it is invalid). The signature is valid iff the encoding of s*B - h*A equals R. */
static enum lookup
verify_prepare(const struct ed25519_fast_item *it, struct key_entry *out_entry,
               struct ext *out_neg_a, uint8_t h[SCALAR_SIZE])
{
    const uint8_t *key = it->key;
    const uint8_t *r_bytes = it->sig;
    const uint8_t *s = it->sig + 32;
    if (!scalar_is_canonical(s) || encoding_has_small_order(r_bytes)) {
        return LOOKUP_BAD;
    }
    enum lookup found = key_lookup(key, out_entry, out_neg_a);
    if (found == LOOKUP_BAD) {
        return LOOKUP_BAD;
    }
    crypto_hash_sha512_state state;
    uint8_t digest[crypto_hash_sha512_BYTES];
    ASSERT(crypto_hash_sha512_init(&state) == 0);
    ASSERT(crypto_hash_sha512_update(&state, r_bytes, 32) == 0);
    ASSERT(crypto_hash_sha512_update(&state, key, ED25519_FAST_KEY_SIZE) == 0);
    ASSERT(crypto_hash_sha512_update(&state, it->msg, it->size) == 0);
    ASSERT(crypto_hash_sha512_final(&state, digest) == 0);
    crypto_core_ed25519_scalar_reduce(h, digest);
    return found;
}

/* verify_prepare and s*B - h*A of one signature; false if it fails a check. */
static bool
verify_point(const struct ed25519_fast_item *it, struct ext *out_sum)
{
    struct key_entry entry;
    struct ext neg_a;
    uint8_t h[SCALAR_SIZE];
    const uint8_t *s = it->sig + 32;
    enum lookup found = verify_prepare(it, &entry, &neg_a, h);
    if (found == LOOKUP_BAD) {
        return false;
    }
    if (found == LOOKUP_TABLES) {
        mul_double(out_sum, s, h, &entry.table[0][0]);
    } else {
        mul_double_plain(out_sum, s, h, &neg_a);
    }
    return true;
}

static enum err
answer(const uint8_t check[32], const uint8_t sig[ED25519_FAST_SIG_SIZE])
{
    return memcmp(check, sig, 32) == 0 ? ERR_OK : ERR_BAD_SIGNATURE;
}

enum err
ed25519_fast_verify(const uint8_t key[ED25519_FAST_KEY_SIZE], const uint8_t *msg, size_t size,
                    const uint8_t sig[ED25519_FAST_SIG_SIZE])
{
    ASSERT(key != NULL);
    ASSERT(sig != NULL);
    ASSERT(msg != NULL || size == 0);
    curve_init();
    struct ext sum;
    const struct ed25519_fast_item item = { .key = key, .msg = msg, .size = size, .sig = sig };
    if (!verify_point(&item, &sum)) {
        return ERR_BAD_SIGNATURE;
    }
    uint8_t check[32];
    ext_encode(&sum, check);
    return answer(check, sig);
}

/* Signatures of cached keys waiting for a vector of ed25519_ifma_mul_double. */
struct lanes {
    struct key_entry entry[ED25519_IFMA_LANES];
    const uint8_t *s[ED25519_IFMA_LANES];
    uint8_t h[ED25519_IFMA_LANES][SCALAR_SIZE];
    size_t slot[ED25519_IFMA_LANES]; /* where the point goes in the group's sums */
    size_t n;
};

/* The points s*B - h*A of the waiting lanes into sums: one vector (the unused lanes repeat
 * lane 0) or, for fewer than IFMA_LANES_MIN, the scalar loop. */
static void
lanes_flush(struct lanes *v, struct ext *sums)
{
    if (v->n >= IFMA_LANES_MIN) {
        const uint8_t *s[ED25519_IFMA_LANES];
        const uint8_t *h[ED25519_IFMA_LANES];
        size_t offset[ED25519_IFMA_LANES];
        for (size_t l = 0; l < ED25519_IFMA_LANES; l++) {
            size_t from = l < v->n ? l : 0;
            s[l] = v->s[from];
            h[l] = v->h[from];
            offset[l] = from * (sizeof(struct key_entry) / sizeof(uint64_t));
        }
        struct ed25519_ifma_point out[ED25519_IFMA_LANES];
        ed25519_ifma_mul_double(s, h, v->entry[0].table[0][0].ypx, offset, b_table[0][0].ypx, out);
        for (size_t l = 0; l < v->n; l++) {
            struct ext *sum = &sums[v->slot[l]];
            sum->x = out[l].x;
            sum->y = out[l].y;
            sum->z = out[l].z;
            memset(&sum->t, 0, sizeof sum->t); /* not needed to encode */
        }
    } else {
        for (size_t l = 0; l < v->n; l++) {
            mul_double(&sums[v->slot[l]], v->s[l], v->h[l], &v->entry[l].table[0][0]);
        }
    }
    v->n = 0;
}

/* One group of at most ED25519_FAST_GROUP: the points (cached keys 8 at a time when the CPU
 * has AVX-512 IFMA), then one inversion for all their Z (Montgomery's trick: 3 multiplications
 * per point instead of an inversion each). Z is never zero for a point of the curve (complete
 * twisted Edwards addition); one that were would be encoded alone, as ed25519_fast_verify
 * does. */
static void
verify_group(const struct ed25519_fast_item *items, size_t count, enum err *results)
{
    struct ext sums[ED25519_FAST_GROUP];
    size_t at[ED25519_FAST_GROUP]; /* the item of sums[k] */
    size_t m = 0;
    struct lanes lanes;
    lanes.n = 0;
    bool vector = atomic_load_explicit(&ifma_on, memory_order_relaxed);
    for (size_t i = 0; i < count; i++) {
        const struct ed25519_fast_item *it = &items[i];
        ASSERT(it->key != NULL && it->sig != NULL && (it->msg != NULL || it->size == 0));
        results[i] = ERR_BAD_SIGNATURE;
        struct key_entry own; /* the scalar loop's tables */
        // cppcheck-suppress uninitvar ; verify_prepare fills *entry in before any read
        struct key_entry *entry = vector ? &lanes.entry[lanes.n] : &own;
        struct ext neg_a;
        uint8_t h[SCALAR_SIZE];
        enum lookup found = verify_prepare(it, entry, &neg_a, h);
        if (found == LOOKUP_BAD) {
            continue;
        }
        const uint8_t *s = it->sig + 32;
        if (found == LOOKUP_POINT) {
            mul_double_plain(&sums[m], s, h, &neg_a);
        } else if (!vector) {
            mul_double(&sums[m], s, h, &entry->table[0][0]);
        } else {
            lanes.s[lanes.n] = s;
            memcpy(lanes.h[lanes.n], h, SCALAR_SIZE);
            lanes.slot[lanes.n++] = m;
            if (lanes.n == ED25519_IFMA_LANES) {
                lanes_flush(&lanes, sums);
            }
        }
        at[m++] = i;
    }
    lanes_flush(&lanes, sums);
    struct ed_fe prefix[ED25519_FAST_GROUP];
    size_t live[ED25519_FAST_GROUP]; /* the sums with Z != 0 */
    size_t n = 0;
    for (size_t k = 0; k < m; k++) {
        if (fe_is_zero(&sums[k].z)) {
            uint8_t check[32];
            ext_encode(&sums[k], check);
            results[at[k]] = answer(check, items[at[k]].sig);
            continue;
        }
        if (n == 0) {
            prefix[0] = sums[k].z;
        } else {
            fe_mul(&prefix[n], &prefix[n - 1], &sums[k].z);
        }
        live[n++] = k;
    }
    if (n == 0) {
        return;
    }
    struct ed_fe inv;
    fe_inv(&inv, &prefix[n - 1]); /* 1 / (z_0 ... z_{n-1}) */
    for (size_t j = n; j-- > 0;) {
        const struct ext *sum = &sums[live[j]];
        struct ed_fe zinv;
        if (j > 0) {
            fe_mul(&zinv, &inv, &prefix[j - 1]); /* 1 / z_j */
            fe_mul(&inv, &inv, &sum->z);         /* 1 / (z_0 ... z_{j-1}) */
        } else {
            zinv = inv;
        }
        uint8_t check[32];
        ext_encode_with(sum, &zinv, check);
        results[at[live[j]]] = answer(check, items[at[live[j]]].sig);
    }
}

void
ed25519_fast_verify_many(const struct ed25519_fast_item *items, size_t count, enum err *results)
{
    ASSERT(count == 0 || (items != NULL && results != NULL));
    curve_init();
    for (size_t i = 0; i < count; i += ED25519_FAST_GROUP) {
        size_t n = count - i < ED25519_FAST_GROUP ? count - i : ED25519_FAST_GROUP;
        verify_group(items + i, n, results + i);
    }
}

/* ---- for tests (ed25519_fast_internal.h) ---- */

bool
ed25519_fast_naf_agrees(const uint8_t scalar[32], unsigned width)
{
    ASSERT(width >= A_WINDOW && width <= B_WINDOW);
    int8_t naf[NAF_SIZE];
    wnaf(scalar, width, naf);
    uint16_t pos[NAF_DIGITS_MAX];
    int8_t digit[NAF_DIGITS_MAX];
    size_t n = naf_digits(scalar, width, pos, digit);
    size_t j = 0;
    for (size_t i = 0; i < NAF_SIZE; i++) {
        if (naf[i] == 0) {
            continue;
        }
        if (j >= n || pos[j] != i || digit[j] != naf[i]) {
            return false;
        }
        j++;
    }
    return j == n;
}

void
ed_fe_from_bytes(const uint8_t in[32], struct ed_fe *out)
{
    fe_from_bytes(out, in);
}

void
ed_fe_to_bytes(const struct ed_fe *a, uint8_t out[32])
{
    fe_to_bytes(a, out);
}

void
ed_fe_mul(struct ed_fe *r, const struct ed_fe *a, const struct ed_fe *b)
{
    fe_mul(r, a, b);
}

void
ed_fe_sqr(struct ed_fe *r, const struct ed_fe *a)
{
    fe_sqr(r, a);
}

void
ed_fe_add(struct ed_fe *r, const struct ed_fe *a, const struct ed_fe *b)
{
    fe_add(r, a, b);
}

void
ed_fe_sub(struct ed_fe *r, const struct ed_fe *a, const struct ed_fe *b)
{
    fe_sub(r, a, b);
}

void
ed_fe_inv(struct ed_fe *r, const struct ed_fe *a)
{
    fe_inv(r, a);
}

bool
ed25519_fast_mul_double(const uint8_t s[32], const uint8_t t[32], const uint8_t point[32],
                        bool plain, uint8_t out[32])
{
    curve_init();
    struct ext neg_p;
    if ((s[31] & 0xe0) != 0 || (t[31] & 0xe0) != 0 || !key_decode(point, &neg_p)) {
        return false;
    }
    struct ext sum;
    if (plain) {
        mul_double_plain(&sum, s, t, &neg_p);
    } else {
        struct key_entry entry;
        key_entry_fill(&neg_p, &entry);
        mul_double(&sum, s, t, &entry.table[0][0]);
    }
    ext_encode(&sum, out);
    return true;
}

bool
ed25519_fast_mul_double_ifma(const uint8_t s[8 * 32], const uint8_t t[8 * 32],
                             const uint8_t points[8 * 32], uint8_t out[8 * 32])
{
    _Static_assert(ED25519_IFMA_LANES == 8, "the lanes of the test hook");
    curve_init();
    if (!ed25519_ifma_supported()) {
        return false;
    }
    static struct lanes lanes; /* tests only, single thread; ~50 KiB */
    for (size_t l = 0; l < ED25519_IFMA_LANES; l++) {
        struct ext neg_p;
        if ((s[32 * l + 31] & 0xe0) != 0 || (t[32 * l + 31] & 0xe0) != 0 ||
            !key_decode(points + 32 * l, &neg_p)) {
            return false;
        }
        key_entry_fill(&neg_p, &lanes.entry[l]);
        lanes.s[l] = s + 32 * l;
        memcpy(lanes.h[l], t + 32 * l, SCALAR_SIZE);
        lanes.slot[l] = l;
    }
    lanes.n = ED25519_IFMA_LANES;
    struct ext sums[ED25519_IFMA_LANES];
    lanes_flush(&lanes, sums); /* the verification loop's own call: a full vector */
    for (size_t l = 0; l < ED25519_IFMA_LANES; l++) {
        ext_encode(&sums[l], out + 32 * l);
    }
    return true;
}

bool
ed25519_fast_set_ifma(bool on)
{
    curve_init();
    bool vector = on && ed25519_ifma_supported();
    atomic_store_explicit(&ifma_on, vector, memory_order_relaxed);
    return vector;
}
