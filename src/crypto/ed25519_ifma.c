/* The 8-lane s*B + h*P loop (see ed25519_ifma.h).
 *
 * Bounds (per limb): a "carried" element is below 2^51 + 2^15 (the output of mul, sqr, add, sub
 * and table points); mul and sqr take operands below 2^52, which IFMA needs; add_nc's output
 * (below 2^52 + 2^16) may only feed add or sub. Products: each column of a 5 x 5 product sums at
 * most 5 low halves (< 2^52) and 5 doubled high halves, below 15 * 2^52; folding the upper five
 * columns times 19 keeps them below 2^61, and one parallel carry brings every limb below
 * 2^51 + 19 * 2^10. */
#include "crypto/ed25519_ifma.h"

#include <string.h>

#include "base/assert.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

#define IFMA        __attribute__((target("avx512f,avx512ifma")))
#define IFMA_INLINE static inline __attribute__((always_inline, target("avx512f,avx512ifma")))

#define LANES      ED25519_IFMA_LANES
#define CHUNKS     ED25519_IFMA_CHUNKS
#define CHUNK_BITS (256 / CHUNKS)
#define WORDS      ED25519_IFMA_POINT_WORDS
#define A_WIDTH    4  /* regular digits of h: odd, |d| <= 15, A_TABLE multiples */
#define B_WIDTH    6  /* of s: |d| <= 63, B_TABLE multiples */
#define A_DIGITS   64 /* 4 * 63 = 252: the last digit holds bit 252 */
#define B_DIGITS   43 /* 6 * 42 = 252 */
#define MASK51     ((UINT64_C(1) << 51) - 1)

_Static_assert((1 << (A_WIDTH - 1)) == ED25519_IFMA_A_TABLE, "A digits index the key table");
_Static_assert((1 << (B_WIDTH - 1)) == ED25519_IFMA_B_TABLE, "B digits index B's table");
_Static_assert(A_WIDTH *(A_DIGITS - 1) == 252 && B_WIDTH * (B_DIGITS - 1) == 252,
               "the last digit of each recoding sits at bit 252");

typedef __m512i vec;

struct vfe {
    vec v[5];
};

struct vext {
    struct vfe x, y, z, t;
};

/* An affine (y + x, y - x, 2dxy) per lane. */
struct vpre {
    struct vfe ypx, ymx, xy2d;
};

bool
ed25519_ifma_supported(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512ifma");
}

IFMA_INLINE vec
vset(uint64_t x)
{
    return _mm512_set1_epi64((long long)x);
}

IFMA_INLINE vec
times19(vec x)
{
    return _mm512_add_epi64(_mm512_add_epi64(_mm512_slli_epi64(x, 4), _mm512_slli_epi64(x, 1)), x);
}

/* r = t with one parallel carry: limb i keeps its low 51 bits plus the carry of limb i - 1
 * (limb 0 gets 19 times the carry of limb 4). */
IFMA_INLINE void
vfe_carry(struct vfe *r, const vec t[5])
{
    const vec mask = vset(MASK51);
    vec c0 = _mm512_srli_epi64(t[0], 51);
    vec c1 = _mm512_srli_epi64(t[1], 51);
    vec c2 = _mm512_srli_epi64(t[2], 51);
    vec c3 = _mm512_srli_epi64(t[3], 51);
    vec c4 = _mm512_srli_epi64(t[4], 51);
    r->v[0] = _mm512_add_epi64(_mm512_and_si512(t[0], mask), times19(c4));
    r->v[1] = _mm512_add_epi64(_mm512_and_si512(t[1], mask), c0);
    r->v[2] = _mm512_add_epi64(_mm512_and_si512(t[2], mask), c1);
    r->v[3] = _mm512_add_epi64(_mm512_and_si512(t[3], mask), c2);
    r->v[4] = _mm512_add_epi64(_mm512_and_si512(t[4], mask), c3);
}

/* Columns z[0..9] of a product folded (2^255 = 19) and carried into r. */
IFMA_INLINE void
vfe_reduce(struct vfe *r, const vec z[10])
{
    vec t[5];
#pragma GCC unroll 10
    for (int c = 0; c < 5; c++) {
        t[c] = _mm512_add_epi64(z[c], times19(z[c + 5]));
    }
    vfe_carry(r, t);
}

IFMA_INLINE void
vfe_mul(struct vfe *r, const struct vfe *a, const struct vfe *b)
{
    const vec zero = _mm512_setzero_si512();
    vec lo[10];
    vec hi[10]; /* hi[c]: high halves of the products of column c - 1 (weight 2^52 = 2 * 2^51) */
#pragma GCC unroll 10
    for (int c = 0; c < 10; c++) {
        lo[c] = zero;
        hi[c] = zero;
    }
#pragma GCC unroll 10
    for (int i = 0; i < 5; i++) {
#pragma GCC unroll 10
        for (int j = 0; j < 5; j++) {
            lo[i + j] = _mm512_madd52lo_epu64(lo[i + j], a->v[i], b->v[j]);
            hi[i + j + 1] = _mm512_madd52hi_epu64(hi[i + j + 1], a->v[i], b->v[j]);
        }
    }
    vec z[10];
#pragma GCC unroll 10
    for (int c = 0; c < 10; c++) {
        z[c] = _mm512_add_epi64(lo[c], _mm512_slli_epi64(hi[c], 1));
    }
    vfe_reduce(r, z);
}

/* The 15 distinct products of a square: z = l + 2m + 4n with l the low halves of the squares,
 * m their high halves and the low halves of the cross products, n the cross products' highs. */
IFMA_INLINE void
vfe_sqr(struct vfe *r, const struct vfe *a)
{
    const vec zero = _mm512_setzero_si512();
    vec l[10];
    vec m[10];
    vec n[10];
#pragma GCC unroll 10
    for (int c = 0; c < 10; c++) {
        l[c] = zero;
        m[c] = zero;
        n[c] = zero;
    }
#pragma GCC unroll 10
    for (size_t i = 0; i < 5; i++) {
        l[2 * i] = _mm512_madd52lo_epu64(l[2 * i], a->v[i], a->v[i]);
        m[2 * i + 1] = _mm512_madd52hi_epu64(m[2 * i + 1], a->v[i], a->v[i]);
#pragma GCC unroll 10
        for (size_t j = i + 1; j < 5; j++) {
            m[i + j] = _mm512_madd52lo_epu64(m[i + j], a->v[i], a->v[j]);
            n[i + j + 1] = _mm512_madd52hi_epu64(n[i + j + 1], a->v[i], a->v[j]);
        }
    }
    vec z[10];
#pragma GCC unroll 10
    for (int c = 0; c < 10; c++) {
        vec mn = _mm512_add_epi64(m[c], _mm512_slli_epi64(n[c], 1));
        z[c] = _mm512_add_epi64(l[c], _mm512_slli_epi64(mn, 1));
    }
    vfe_reduce(r, z);
}

/* a + b, carried. */
IFMA_INLINE void
vfe_add(struct vfe *r, const struct vfe *a, const struct vfe *b)
{
    vec t[5];
#pragma GCC unroll 10
    for (int i = 0; i < 5; i++) {
        t[i] = _mm512_add_epi64(a->v[i], b->v[i]);
    }
    vfe_carry(r, t);
}

/* a + b, not carried: only for add or sub. */
IFMA_INLINE void
vfe_add_nc(struct vfe *r, const struct vfe *a, const struct vfe *b)
{
#pragma GCC unroll 10
    for (int i = 0; i < 5; i++) {
        r->v[i] = _mm512_add_epi64(a->v[i], b->v[i]);
    }
}

/* a + 4p - b, carried; b below 2^53 - 76. */
IFMA_INLINE void
vfe_sub(struct vfe *r, const struct vfe *a, const struct vfe *b)
{
    const vec four_p0 = vset((UINT64_C(1) << 53) - 76);
    const vec four_p = vset((UINT64_C(1) << 53) - 4);
    vec t[5];
    t[0] = _mm512_sub_epi64(_mm512_add_epi64(a->v[0], four_p0), b->v[0]);
#pragma GCC unroll 10
    for (int i = 1; i < 5; i++) {
        t[i] = _mm512_sub_epi64(_mm512_add_epi64(a->v[i], four_p), b->v[i]);
    }
    vfe_carry(r, t);
}

IFMA_INLINE void
vfe_blend(struct vfe *r, __mmask8 take_b, const struct vfe *a, const struct vfe *b)
{
#pragma GCC unroll 10
    for (int i = 0; i < 5; i++) {
        r->v[i] = _mm512_mask_blend_epi64(take_b, a->v[i], b->v[i]);
    }
}

IFMA_INLINE void
vfe_set(struct vfe *r, uint64_t v0)
{
    r->v[0] = vset(v0);
#pragma GCC unroll 10
    for (int i = 1; i < 5; i++) {
        r->v[i] = _mm512_setzero_si512();
    }
}

/* The point of each lane at word offset idx[lane] of base: 4 canonical words -> 5 limbs. */
IFMA_INLINE void
vfe_gather(struct vfe *r, vec idx, const uint64_t *base)
{
    const vec mask = vset(MASK51);
    const long long *p = (const long long *)base;
/* without optimisation gcc 12's gather is a macro passing its mask as a char */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-conversion"
    vec w0 = _mm512_i64gather_epi64(idx, p, 8);
    vec w1 = _mm512_i64gather_epi64(idx, p + 1, 8);
    vec w2 = _mm512_i64gather_epi64(idx, p + 2, 8);
    vec w3 = _mm512_i64gather_epi64(idx, p + 3, 8);
#pragma GCC diagnostic pop
    r->v[0] = _mm512_and_si512(w0, mask);
    r->v[1] = _mm512_and_si512(
        _mm512_or_si512(_mm512_srli_epi64(w0, 51), _mm512_slli_epi64(w1, 13)), mask);
    r->v[2] = _mm512_and_si512(
        _mm512_or_si512(_mm512_srli_epi64(w1, 38), _mm512_slli_epi64(w2, 26)), mask);
    r->v[3] = _mm512_and_si512(
        _mm512_or_si512(_mm512_srli_epi64(w2, 25), _mm512_slli_epi64(w3, 39)), mask);
    r->v[4] = _mm512_and_si512(_mm512_srli_epi64(w3, 12), mask);
}

IFMA_INLINE void
vpre_gather(struct vpre *r, vec idx, const uint64_t *base)
{
    vfe_gather(&r->ypx, idx, base);
    vfe_gather(&r->ymx, idx, base + 4);
    vfe_gather(&r->xy2d, idx, base + 8);
}

/* r = 2p, as ext_double of ed25519_fast.c (dbl-2008-hwcd, the four outputs negated); T only if
 * need_t. r may alias p. */
IFMA_INLINE void
vext_double(struct vext *r, const struct vext *p, bool need_t)
{
    struct vfe xx;
    struct vfe yy;
    struct vfe b2;
    struct vfe s;
    struct vfe sum;
    struct vfe diff;
    struct vfe e;
    struct vfe f;
    vfe_sqr(&xx, &p->x);
    vfe_sqr(&yy, &p->y);
    vfe_sqr(&b2, &p->z);
    vfe_add_nc(&b2, &b2, &b2); /* 2 Z^2 */
    vfe_add(&s, &p->x, &p->y);
    vfe_sqr(&s, &s);
    vfe_add(&sum, &yy, &xx);  /* -H */
    vfe_sub(&diff, &yy, &xx); /* G */
    vfe_sub(&e, &s, &sum);    /* E = 2XY */
    vfe_sub(&f, &b2, &diff);  /* -F */
    vfe_mul(&r->x, &e, &f);
    vfe_mul(&r->y, &sum, &diff);
    vfe_mul(&r->z, &diff, &f);
    if (need_t) {
        vfe_mul(&r->t, &e, &sum);
    }
}

/* r = p + q, or p - q in the lanes of neg (madd-2008-hwcd-3 with k = 2d, as ext_add_precomp of
 * ed25519_fast.c). r may alias p; T only if need_t. */
IFMA_INLINE void
vext_add(struct vext *r, const struct vext *p, const struct vpre *q, __mmask8 neg, bool need_t)
{
    struct vfe ypx;
    struct vfe ymx;
    struct vfe qa;
    struct vfe qb;
    struct vfe a;
    struct vfe b;
    struct vfe c;
    struct vfe d;
    struct vfe e;
    struct vfe h;
    struct vfe minus;
    struct vfe plus;
    struct vfe f;
    struct vfe g;
    vfe_add(&ypx, &p->y, &p->x);
    vfe_sub(&ymx, &p->y, &p->x);
    vfe_blend(&qa, neg, &q->ymx, &q->ypx); /* -q swaps y + x and y - x */
    vfe_blend(&qb, neg, &q->ypx, &q->ymx);
    vfe_mul(&a, &ymx, &qa);
    vfe_mul(&b, &ypx, &qb);
    vfe_mul(&c, &p->t, &q->xy2d);
    vfe_add_nc(&d, &p->z, &p->z);
    vfe_sub(&e, &b, &a);
    vfe_add(&h, &b, &a);
    vfe_sub(&minus, &d, &c);
    vfe_add(&plus, &d, &c);
    vfe_blend(&f, neg, &minus, &plus); /* and negates 2dxy: F and G swap */
    vfe_blend(&g, neg, &plus, &minus);
    vfe_mul(&r->x, &e, &f);
    vfe_mul(&r->y, &g, &h);
    vfe_mul(&r->z, &f, &g);
    if (need_t) {
        vfe_mul(&r->t, &e, &h);
    }
}

/* acc -= the table point at idx in the lanes of `lanes`; the other lanes add the identity
 * (1, 1, 0). T only if need_t. */
IFMA_INLINE void
vext_sub_in(struct vext *acc, vec idx, const uint64_t *table, __mmask8 lanes, bool need_t)
{
    struct vpre one;
    vfe_set(&one.ypx, 1);
    vfe_set(&one.ymx, 1);
    vfe_set(&one.xy2d, 0);
    struct vpre q;
    vpre_gather(&q, idx, table);
    vfe_blend(&q.ypx, lanes, &one.ypx, &q.ypx);
    vfe_blend(&q.ymx, lanes, &one.ymx, &q.ymx);
    vfe_blend(&q.xy2d, lanes, &one.xy2d, &q.xy2d);
    vext_add(acc, acc, &q, lanes, need_t);
}

/* The regular recoding of ed25519_ifma.h: digits[i] (weight 2^(w i)) for i < count, of the
 * scalar (below 2^253) or, if it is even, of scalar + 1 (*out_even says which). With k odd,
 * the remainder after i digits is (k >> w i) | 1, so digit i is that remainder's low w + 1 bits
 * minus 2^w, and the last digit is the remainder itself (1: k < 2^253). */
static void
regular_digits(const uint8_t scalar[32], unsigned width, size_t count, int8_t *digits,
               bool *out_even)
{
    uint64_t k[5] = { 0 };
    for (size_t i = 0; i < 32; i++) {
        k[i / 8] |= (uint64_t)scalar[i] << (8 * (i % 8));
    }
    ASSERT((k[3] >> 61) == 0);
    *out_even = (k[0] & 1) == 0;
    k[0] |= 1; /* an even k becomes k + 1 */
    const uint64_t mask = (UINT64_C(1) << (width + 1)) - 1;
    for (size_t i = 0; i + 1 < count; i++) {
        size_t pos = width * i;
        size_t bit = pos % 64;
        uint64_t window = k[pos / 64] >> bit;
        if (bit + width + 1 > 64) {
            window |= k[pos / 64 + 1] << (64 - bit);
        }
        window = (window & mask) | 1;
        digits[i] = (int8_t)((int)window - (1 << width));
    }
    ASSERT(width * (count - 1) == 252);
    digits[count - 1] = 1; /* (k >> 252) | 1, k below 2^253 */
}

/* The gather indexes (words from the table base) and the negative lanes of digit i of every
 * lane, for chunk `chunk` of tables of `per_chunk` points, lane l's table at offset[l]. */
IFMA_INLINE vec
digit_index(int8_t digits[LANES][A_DIGITS], size_t i, size_t chunk, size_t per_chunk,
            const size_t offset[LANES], __mmask8 *out_neg)
{
    long long idx[LANES];
    unsigned neg = 0;
    for (size_t l = 0; l < LANES; l++) {
        int d = (int)digits[l][i];
        size_t j = (size_t)(d > 0 ? d : -d) / 2;
        size_t at = offset[l] + (chunk * per_chunk + j) * WORDS;
        idx[l] = (long long)at;
        neg |= (unsigned)(d < 0) << l;
    }
    *out_neg = (__mmask8)neg;
    return _mm512_loadu_si512(idx);
}

/* Lane l of a into r[l]. */
IFMA_INLINE void
vfe_unload(struct ed_fe r[LANES], const struct vfe *a)
{
    uint64_t limbs[5][LANES];
#pragma GCC unroll 10
    for (int i = 0; i < 5; i++) {
        _mm512_storeu_si512(limbs[i], a->v[i]);
    }
    for (size_t l = 0; l < LANES; l++) {
#pragma GCC unroll 10
        for (int i = 0; i < 5; i++) {
            r[l].v[i] = limbs[i][l];
        }
    }
}

IFMA void
ed25519_ifma_mul_double(const uint8_t *const s[LANES], const uint8_t *const h[LANES],
                        const uint64_t *a_tables, const size_t a_offset[LANES],
                        const uint64_t *b_table, struct ed25519_ifma_point out[LANES])
{
    static const size_t no_offset[LANES] = { 0 };
    int8_t s_digits[LANES][A_DIGITS]; /* B_DIGITS used */
    int8_t h_digits[LANES][A_DIGITS];
    unsigned s_even = 0;
    unsigned h_even = 0;
    for (size_t l = 0; l < LANES; l++) {
        bool even = false;
        regular_digits(s[l], B_WIDTH, B_DIGITS, s_digits[l], &even);
        s_even |= (unsigned)even << l;
        regular_digits(h[l], A_WIDTH, A_DIGITS, h_digits[l], &even);
        h_even |= (unsigned)even << l;
    }
    struct vext acc;
    vfe_set(&acc.x, 0);
    vfe_set(&acc.y, 1);
    vfe_set(&acc.z, 1);
    vfe_set(&acc.t, 0);
    bool started = false;
    for (int k = CHUNK_BITS - 1; k >= 0; k--) {
        /* the digits at bit 32 c + k: A's every 4 bits, B's every 6 */
        size_t a_at[CHUNKS];
        size_t b_at[CHUNKS];
        size_t na = 0;
        size_t nb = 0;
        for (size_t c = 0; c < CHUNKS; c++) {
            size_t pos = CHUNK_BITS * c + (size_t)k;
            if (pos % A_WIDTH == 0) {
                a_at[na++] = c;
            }
            if (pos % B_WIDTH == 0 && pos / B_WIDTH < B_DIGITS) {
                b_at[nb++] = c;
            }
        }
        size_t n = na + nb;
        bool more_after = k == 0; /* the corrections of even scalars follow step 0 */
        if (started) {
            vext_double(&acc, &acc, n > 0 || more_after);
        }
        for (size_t j = 0; j < n; j++) {
            struct vpre q;
            __mmask8 neg;
            if (j < na) {
                size_t c = a_at[j];
                size_t pos = CHUNK_BITS * c + (size_t)k;
                vec idx =
                    digit_index(h_digits, pos / A_WIDTH, c, ED25519_IFMA_A_TABLE, a_offset, &neg);
                vpre_gather(&q, idx, a_tables);
            } else {
                size_t c = b_at[j - na];
                size_t pos = CHUNK_BITS * c + (size_t)k;
                vec idx =
                    digit_index(s_digits, pos / B_WIDTH, c, ED25519_IFMA_B_TABLE, no_offset, &neg);
                vpre_gather(&q, idx, b_table);
            }
            vext_add(&acc, &acc, &q, neg, j + 1 < n || more_after);
            started = true;
        }
    }
    ASSERT(started);
    /* an even scalar was recoded as scalar + 1: subtract the first point of its table (B, or
     * P_l) in those lanes */
    long long lane_base[LANES];
    for (size_t l = 0; l < LANES; l++) {
        lane_base[l] = (long long)a_offset[l];
    }
    vext_sub_in(&acc, _mm512_setzero_si512(), b_table, (__mmask8)s_even, true);
    vext_sub_in(&acc, _mm512_loadu_si512(lane_base), a_tables, (__mmask8)h_even, false);
    struct ed_fe x[LANES];
    struct ed_fe y[LANES];
    struct ed_fe z[LANES];
    vfe_unload(x, &acc.x);
    vfe_unload(y, &acc.y);
    vfe_unload(z, &acc.z);
    for (size_t l = 0; l < LANES; l++) {
        out[l] = (struct ed25519_ifma_point){ .x = x[l], .y = y[l], .z = z[l] };
    }
}

static IFMA void
vfe_load(struct vfe *r, const struct ed_fe a[LANES])
{
    uint64_t limbs[5][LANES];
    for (size_t l = 0; l < LANES; l++) {
#pragma GCC unroll 10
        for (int i = 0; i < 5; i++) {
            limbs[i][l] = a[l].v[i];
        }
    }
#pragma GCC unroll 10
    for (int i = 0; i < 5; i++) {
        r->v[i] = _mm512_loadu_si512(limbs[i]);
    }
}

IFMA void
ed25519_ifma_field(const struct ed_fe a[LANES], const struct ed_fe b[LANES], struct ed_fe r[LANES],
                   struct ed_fe s[LANES], struct ed_fe u[LANES], struct ed_fe d[LANES])
{
    struct vfe va;
    struct vfe vb;
    struct vfe out;
    vfe_load(&va, a);
    vfe_load(&vb, b);
    vfe_mul(&out, &va, &vb);
    vfe_unload(r, &out);
    vfe_sqr(&out, &va);
    vfe_unload(s, &out);
    vfe_add(&out, &va, &vb);
    vfe_unload(u, &out);
    vfe_sub(&out, &va, &vb);
    vfe_unload(d, &out);
}

#else /* not x86-64: ed25519_ifma_supported() is false, so the others are never called */

bool
ed25519_ifma_supported(void)
{
    return false;
}

void
ed25519_ifma_mul_double(const uint8_t *const s[ED25519_IFMA_LANES],
                        const uint8_t *const h[ED25519_IFMA_LANES], const uint64_t *a_tables,
                        const size_t a_offset[ED25519_IFMA_LANES], const uint64_t *b_table,
                        struct ed25519_ifma_point out[ED25519_IFMA_LANES])
{
    (void)s;
    (void)h;
    (void)a_tables;
    (void)a_offset;
    (void)b_table;
    (void)out;
    fatal("ed25519_ifma_mul_double without AVX-512 IFMA");
}

void
ed25519_ifma_field(const struct ed_fe a[ED25519_IFMA_LANES],
                   const struct ed_fe b[ED25519_IFMA_LANES], struct ed_fe r[ED25519_IFMA_LANES],
                   struct ed_fe s[ED25519_IFMA_LANES], struct ed_fe u[ED25519_IFMA_LANES],
                   struct ed_fe d[ED25519_IFMA_LANES])
{
    (void)a;
    (void)b;
    (void)r;
    (void)s;
    (void)u;
    (void)d;
    fatal("ed25519_ifma_field without AVX-512 IFMA");
}

#endif
