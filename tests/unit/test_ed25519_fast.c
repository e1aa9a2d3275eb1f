/* Unit tests of crypto/ed25519_fast: the field against BIGNUM (random and edge values, also
 * encodings >= p), s*B - t*P against libsodium's crypto_scalarmult_ed25519, and verification
 * against libsodium 1.0.18's crypto_sign_verify_detached (the reference) on random keys and
 * messages, flipped bits, S >= L, every small-order point and non-canonical encoding as R
 * and as A, keys with a torsion component, and cache eviction. The 8-lane loop of
 * crypto/ed25519_ifma (AVX-512 IFMA; skipped on CPUs without it): its field against BIGNUM at
 * the limb bounds it relies on, s*B - t*P per lane against libsodium, and every verification
 * case replayed through verify_many with both loops. LM_SANITIZE=1 (the ASan run) scales the
 * random rounds down. */
#include <openssl/bn.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/ed25519_fast.h"
#include "crypto/ed25519_fast_internal.h"
#include "crypto/ed25519_ifma.h"
#include "crypto/sign.h"
#include "unit.h"

#define MSG_SIZE_MAX 96

static BN_CTX *bn_ctx;
static BIGNUM *bn_p;

static int
rounds(int full)
{
    const char *sanitize = getenv("LM_SANITIZE");
    return sanitize != NULL && sanitize[0] == '1' ? full / 8 + 1 : full;
}

static unsigned
random_below(unsigned limit)
{
    return randombytes_uniform(limit);
}

/* 32 little-endian bytes <-> BIGNUM */
static BIGNUM *
bn_from_le(const uint8_t in[32])
{
    BIGNUM *x = BN_lebin2bn(in, 32, NULL);
    assert_non_null(x);
    return x;
}

static void
bn_to_le(const BIGNUM *x, uint8_t out[32])
{
    assert_int_equal(BN_bn2lebinpad(x, out, 32), 32);
}

static int
setup(void **state)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    bn_ctx = BN_CTX_new();
    bn_p = BN_new();
    assert_non_null(bn_ctx);
    assert_non_null(bn_p);
    assert_int_equal(BN_set_bit(bn_p, 255), 1);
    assert_int_equal(BN_sub_word(bn_p, 19), 1);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    BN_free(bn_p);
    BN_CTX_free(bn_ctx);
    return 0;
}

/* ---- the field ---- */

#define EDGE_COUNT 12

/* 255-bit encodings: 0, 1, 2, 19, p - 1, p, p + 1, p + 18 (the largest, 2^255 - 1),
 * 2^51 - 1, 2^51, 2^254, 2^255 - 20 - 2^51. */
static void
edge_value(int i, uint8_t out[32])
{
    BIGNUM *x = BN_new();
    assert_non_null(x);
    static const BN_ULONG small[] = { 0, 1, 2, 19 };
    if (i < 4) {
        assert_int_equal(BN_set_word(x, small[i]), 1);
    } else if (i < 8) {
        static const int offset[] = { -1, 0, 1, 18 };
        assert_non_null(BN_copy(x, bn_p));
        if (offset[i - 4] < 0) {
            assert_int_equal(BN_sub_word(x, 1), 1);
        } else {
            assert_int_equal(BN_add_word(x, (BN_ULONG)offset[i - 4]), 1);
        }
    } else if (i == 8 || i == 9) {
        assert_int_equal(BN_set_bit(x, 51), 1);
        if (i == 8) {
            assert_int_equal(BN_sub_word(x, 1), 1);
        }
    } else if (i == 10) {
        assert_int_equal(BN_set_bit(x, 254), 1);
    } else {
        BIGNUM *t = BN_new();
        assert_non_null(t);
        assert_int_equal(BN_set_bit(t, 51), 1);
        assert_int_equal(BN_sub(x, bn_p, t), 1);
        assert_int_equal(BN_sub_word(x, 1), 1);
        BN_free(t);
    }
    bn_to_le(x, out);
    BN_free(x);
}

static void
random_value(uint8_t out[32])
{
    randombytes_buf(out, 32);
    out[31] &= 0x7f;
}

/* The field result r must equal the BIGNUM value want mod p (canonical bytes). */
static void
assert_fe(const struct ed_fe *r, const BIGNUM *want)
{
    BIGNUM *m = BN_new();
    assert_non_null(m);
    assert_int_equal(BN_nnmod(m, want, bn_p, bn_ctx), 1);
    uint8_t got[32];
    uint8_t expect[32];
    ed_fe_to_bytes(r, got);
    bn_to_le(m, expect);
    assert_memory_equal(got, expect, 32);
    BN_free(m);
}

static void
check_field_pair(const uint8_t a_bytes[32], const uint8_t b_bytes[32])
{
    struct ed_fe a;
    struct ed_fe b;
    struct ed_fe r;
    struct ed_fe s;
    ed_fe_from_bytes(a_bytes, &a);
    ed_fe_from_bytes(b_bytes, &b);
    BIGNUM *ba = bn_from_le(a_bytes);
    BIGNUM *bb = bn_from_le(b_bytes);
    BIGNUM *w = BN_new();
    BIGNUM *w2 = BN_new();
    assert_non_null(w);
    assert_non_null(w2);

    assert_fe(&a, ba); /* to_bytes reduces values >= p */
    ed_fe_mul(&r, &a, &b);
    assert_int_equal(BN_mul(w, ba, bb, bn_ctx), 1);
    assert_fe(&r, w);
    ed_fe_sqr(&r, &a);
    assert_int_equal(BN_sqr(w, ba, bn_ctx), 1);
    assert_fe(&r, w);
    ed_fe_add(&r, &a, &b);
    assert_int_equal(BN_add(w, ba, bb), 1);
    assert_fe(&r, w);
    ed_fe_sub(&r, &a, &b);
    assert_int_equal(BN_sub(w, ba, bb), 1);
    assert_fe(&r, w);
    /* the widest inputs the formulas use: a sum as subtrahend and as factor */
    ed_fe_add(&s, &a, &b);
    ed_fe_sub(&r, &a, &s);
    assert_int_equal(BN_add(w2, ba, bb), 1);
    assert_int_equal(BN_sub(w, ba, w2), 1);
    assert_fe(&r, w);
    ed_fe_add(&r, &s, &b); /* a + 2b, limbs near 2^53 */
    ed_fe_mul(&r, &r, &s);
    assert_int_equal(BN_add(w, w2, bb), 1);
    assert_int_equal(BN_mul(w, w, w2, bn_ctx), 1);
    assert_fe(&r, w);
    ed_fe_inv(&r, &a);
    assert_int_equal(BN_nnmod(w, ba, bn_p, bn_ctx), 1);
    if (BN_is_zero(w)) {
        assert_fe(&r, w); /* 0^(p-2) = 0 */
    } else {
        assert_non_null(BN_mod_inverse(w2, w, bn_p, bn_ctx));
        assert_fe(&r, w2);
    }
    BN_free(ba);
    BN_free(bb);
    BN_free(w);
    BN_free(w2);
}

static void
test_field(void **state)
{
    (void)state;
    uint8_t a[32];
    uint8_t b[32];
    for (int i = 0; i < EDGE_COUNT; i++) {
        edge_value(i, a);
        for (int j = 0; j < EDGE_COUNT; j++) {
            edge_value(j, b);
            check_field_pair(a, b);
        }
        random_value(b);
        check_field_pair(a, b);
        check_field_pair(b, a);
    }
    int count = rounds(2000);
    for (int i = 0; i < count; i++) {
        random_value(a);
        random_value(b);
        check_field_pair(a, b);
    }
    /* the top bit of the encoding is ignored */
    edge_value(4, a);
    memcpy(b, a, 32);
    b[31] |= 0x80;
    struct ed_fe x;
    struct ed_fe y;
    uint8_t xa[32];
    uint8_t ya[32];
    ed_fe_from_bytes(a, &x);
    ed_fe_from_bytes(b, &y);
    ed_fe_to_bytes(&x, xa);
    ed_fe_to_bytes(&y, ya);
    assert_memory_equal(xa, ya, 32);
}

/* ---- the 8-lane field of ed25519_ifma.c (on CPUs with AVX-512 IFMA) ---- */

#define LIMB_CARRIED ((UINT64_C(1) << 51) + (UINT64_C(1) << 15)) /* ed25519_ifma.c's bound */

static BIGNUM *
bn_from_limbs(const struct ed_fe *a)
{
    BIGNUM *x = BN_new();
    assert_non_null(x);
    BN_zero(x);
    for (int i = 4; i >= 0; i--) {
        assert_int_equal(BN_lshift(x, x, 51), 1);
        assert_int_equal(BN_add_word(x, (BN_ULONG)a->v[i]), 1);
    }
    return x;
}

/* A limb below `limit`: edges (0, 1, 2^51 - 1, 2^51, limit - 1) or random. */
static uint64_t
random_limb(uint64_t limit)
{
    uint64_t r = 0;
    randombytes_buf(&r, sizeof r);
    switch (random_below(8)) {
    case 0:
        return 0;
    case 1:
        return 1;
    case 2:
        return (UINT64_C(1) << 51) - 1;
    case 3:
        return UINT64_C(1) << 51;
    case 4:
    case 5:
        return limit - 1;
    default:
        return r % limit;
    }
}

static void
assert_carried(const struct ed_fe *r)
{
    for (int i = 0; i < 5; i++) {
        assert_true(r->v[i] < LIMB_CARRIED);
    }
}

/* Lanes of a and b below limit; mul and sqr always checked, add and sub if with_sums. */
static void
check_ifma_lanes(uint64_t limit, bool with_sums)
{
    struct ed_fe a[ED25519_IFMA_LANES];
    struct ed_fe b[ED25519_IFMA_LANES];
    struct ed_fe r[ED25519_IFMA_LANES];
    struct ed_fe sq[ED25519_IFMA_LANES];
    struct ed_fe u[ED25519_IFMA_LANES];
    struct ed_fe d[ED25519_IFMA_LANES];
    for (size_t l = 0; l < ED25519_IFMA_LANES; l++) {
        for (int i = 0; i < 5; i++) {
            a[l].v[i] = random_limb(limit);
            b[l].v[i] = random_limb(limit);
        }
    }
    ed25519_ifma_field(a, b, r, sq, u, d);
    BIGNUM *w = BN_new();
    assert_non_null(w);
    for (size_t l = 0; l < ED25519_IFMA_LANES; l++) {
        BIGNUM *ba = bn_from_limbs(&a[l]);
        BIGNUM *bb = bn_from_limbs(&b[l]);
        assert_int_equal(BN_mul(w, ba, bb, bn_ctx), 1);
        assert_fe(&r[l], w);
        assert_carried(&r[l]);
        assert_int_equal(BN_sqr(w, ba, bn_ctx), 1);
        assert_fe(&sq[l], w);
        assert_carried(&sq[l]);
        if (with_sums) {
            assert_int_equal(BN_add(w, ba, bb), 1);
            assert_fe(&u[l], w);
            assert_carried(&u[l]);
            assert_int_equal(BN_sub(w, ba, bb), 1);
            assert_fe(&d[l], w);
            assert_carried(&d[l]);
        }
        BN_free(ba);
        BN_free(bb);
    }
    BN_free(w);
}

/* Products of operands up to IFMA's 52 bits per limb, sums and differences of carried
 * operands, and every result within the carried bound the loop relies on. */
static void
test_ifma_field(void **state)
{
    (void)state;
    if (!ed25519_ifma_supported()) {
        skip(); /* the scalar loop is all this CPU runs */
    }
    int count = rounds(3000);
    for (int i = 0; i < count; i++) {
        check_ifma_lanes(UINT64_C(1) << 52, false);
        check_ifma_lanes(LIMB_CARRIED, true);
    }
}

/* ---- s*B - t*P against libsodium ---- */

static void
random_scalar_253(uint8_t out[32])
{
    randombytes_buf(out, 32);
    out[31] &= 0x1f;
}

/* want = s*B - t*P by libsodium. */
static void
sodium_mul_double(const uint8_t s[32], const uint8_t t[32], const uint8_t point[32],
                  uint8_t want[32])
{
    uint8_t sb[32];
    uint8_t tp[32];
    /* libsodium's scalar multiplication rejects a zero result (a zero scalar, or a multiple
     * of the point's order): the identity stands in */
    if (crypto_scalarmult_ed25519_base_noclamp(sb, s) != 0) {
        memset(sb, 0, sizeof sb);
        sb[0] = 1;
    }
    if (crypto_scalarmult_ed25519_noclamp(tp, t, point) != 0) {
        memset(tp, 0, sizeof tp);
        tp[0] = 1;
    }
    assert_int_equal(crypto_core_ed25519_sub(want, sb, tp), 0);
}

static void
test_mul_double(void **state)
{
    (void)state;
    int count = rounds(300);
    for (int i = 0; i < count; i++) {
        uint8_t a[32];
        uint8_t point[32];
        uint8_t s[32];
        uint8_t t[32];
        crypto_core_ed25519_scalar_random(a);
        assert_int_equal(crypto_scalarmult_ed25519_base_noclamp(point, a), 0);
        random_scalar_253(s);
        random_scalar_253(t);
        if (i == 0) {
            memset(s, 0, sizeof s); /* 0*B - t*P */
        } else if (i == 1) {
            memset(t, 0, sizeof t);
        } else if (i == 2) {
            memset(s, 0xff, sizeof s); /* the largest scalars taken */
            memset(t, 0xff, sizeof t);
            s[31] = 0x1f;
            t[31] = 0x1f;
        }
        uint8_t want[32];
        uint8_t got[32];
        sodium_mul_double(s, t, point, want);
        assert_true(ed25519_fast_mul_double(s, t, point, false, got));
        assert_memory_equal(got, want, 32);
        memset(got, 0, sizeof got);
        assert_true(ed25519_fast_mul_double(s, t, point, true, got));
        assert_memory_equal(got, want, 32);
    }
    /* scalars of 254 bits and more are refused */
    uint8_t s[32] = { 0 };
    uint8_t t[32] = { 0 };
    uint8_t point[32];
    uint8_t out[32];
    crypto_core_ed25519_random(point);
    s[31] = 0x20;
    assert_false(ed25519_fast_mul_double(s, t, point, false, out));
    assert_false(ed25519_fast_mul_double(t, s, point, true, out));
}

/* The 8-lane loop against libsodium: random points and scalars per lane, odd and even (an
 * even scalar takes a correction), zero, one and the largest, lanes sharing a point. */
static void
test_mul_double_ifma(void **state)
{
    (void)state;
    if (!ed25519_ifma_supported()) {
        skip();
    }
    int count = rounds(60);
    for (int i = 0; i < count; i++) {
        uint8_t s_all[8 * 32];
        uint8_t t_all[8 * 32];
        uint8_t points[8 * 32];
        uint8_t got[8 * 32];
        for (size_t l = 0; l < 8; l++) {
            uint8_t a[32];
            uint8_t *s = s_all + 32 * l;
            uint8_t *t = t_all + 32 * l;
            crypto_core_ed25519_scalar_random(a);
            if (l == 7 && i % 2 == 1) {
                memcpy(points + 32 * l, points, 32);
            } else {
                assert_int_equal(crypto_scalarmult_ed25519_base_noclamp(points + 32 * l, a), 0);
            }
            random_scalar_253(s);
            random_scalar_253(t);
            switch ((i + (int)l) % 8) {
            case 0:
                memset(s, 0, 32);
                break;
            case 1:
                memset(t, 0, 32);
                t[0] = 1;
                break;
            case 2:
                memset(s, 0xff, 32);
                s[31] = 0x1f;
                memset(t, 0xff, 32);
                t[31] = 0x1f;
                break;
            case 3:
                s[0] &= 0xfe; /* both even */
                t[0] &= 0xfe;
                break;
            case 4:
                s[0] |= 1; /* both odd */
                t[0] |= 1;
                break;
            default:
                break;
            }
        }
        memset(got, 0, sizeof got);
        assert_true(ed25519_fast_mul_double_ifma(s_all, t_all, points, got));
        for (size_t l = 0; l < 8; l++) {
            uint8_t want[32];
            sodium_mul_double(s_all + 32 * l, t_all + 32 * l, points + 32 * l, want);
            assert_memory_equal(got + 32 * l, want, 32);
        }
    }
}

/* mul_double's digit lists (naf_digits) equal the reference wNAF: random scalars, and runs of
 * ones and alternating bits, where negative digits carry across words. */
static void
test_naf_digits(void **state)
{
    (void)state;
    static const uint8_t patterns[] = { 0x00, 0xff, 0x55, 0xaa, 0x0f, 0xf0, 0x01, 0x80 };
    int count = rounds(2000);
    for (int i = 0; i < count; i++) {
        uint8_t s[32];
        if ((size_t)i < sizeof patterns) {
            memset(s, patterns[i], sizeof s);
            s[31] &= 0x1f;
        } else {
            random_scalar_253(s);
            if (i % 3 == 0) { /* a long run of ones across a word boundary */
                memset(s + 6 + (size_t)(i % 17), 0xff, 8);
                s[31] &= 0x1f;
            }
        }
        for (unsigned width = 5; width <= 7; width++) {
            assert_true(ed25519_fast_naf_agrees(s, width));
        }
    }
}

/* ---- verification against libsodium ---- */

/* Both answer want: libsodium directly, ed25519_fast directly, and both through sign.h. */
/* Every case assert_both checks is also recorded, and replayed at the end of a test through
 * ed25519_fast_verify_many with either loop (replay_recorded): groups of cached keys take the
 * 8-lane loop, so the edge cases reach it as well. */
#define RECORDED_MAX 8192
struct recorded {
    uint8_t pk[32];
    uint8_t msg[MSG_SIZE_MAX];
    size_t size;
    uint8_t sig[64];
    enum err want;
};
static struct recorded recorded[RECORDED_MAX];
static size_t recorded_count;

static void
replay_recorded(void)
{
    static struct ed25519_fast_item items[RECORDED_MAX];
    static enum err results[RECORDED_MAX];
    assert_true(recorded_count > 0);
    for (size_t i = 0; i < recorded_count; i++) {
        const struct recorded *r = &recorded[i];
        items[i] = (struct ed25519_fast_item){
            .key = r->pk, .msg = r->msg, .size = r->size, .sig = r->sig
        };
    }
    for (int vector = 1; vector >= 0; vector--) {
        (void)ed25519_fast_set_ifma(vector == 1);
        for (size_t i = 0; i < recorded_count; i++) {
            results[i] = ERR_CLOSED; /* neither answer */
        }
        ed25519_fast_verify_many(items, recorded_count, results);
        for (size_t i = 0; i < recorded_count; i++) {
            assert_int_equal(results[i], recorded[i].want);
        }
    }
    (void)ed25519_fast_set_ifma(true);
    recorded_count = 0;
}

static void
assert_both(const uint8_t pk[32], const uint8_t *msg, size_t size, const uint8_t sig[64],
            enum err want)
{
    if (recorded_count < RECORDED_MAX && size <= MSG_SIZE_MAX) {
        struct recorded *r = &recorded[recorded_count++];
        memcpy(r->pk, pk, 32);
        if (size > 0) {
            memcpy(r->msg, msg, size);
        }
        r->size = size;
        memcpy(r->sig, sig, 64);
        r->want = want;
    }
    enum err ref =
        crypto_sign_verify_detached(sig, msg, size, pk) == 0 ? ERR_OK : ERR_BAD_SIGNATURE;
    assert_int_equal(ref, want);
    assert_int_equal(ed25519_fast_verify(pk, msg, size, sig), want);
    struct public_key key = { .alg = SIG_ED25519, .size = 32 };
    struct signature s = { .alg = SIG_ED25519 };
    memcpy(key.bytes, pk, 32);
    memcpy(s.bytes, sig, 64);
    assert_int_equal(verify_message(&key, msg, size, &s), want);
    assert_int_equal(verify_message_reference(&key, msg, size, &s), want);
}

/* Whatever libsodium answers, ed25519_fast answers the same. */
static enum err
assert_same(const uint8_t pk[32], const uint8_t *msg, size_t size, const uint8_t sig[64])
{
    enum err ref =
        crypto_sign_verify_detached(sig, msg, size, pk) == 0 ? ERR_OK : ERR_BAD_SIGNATURE;
    assert_both(pk, msg, size, sig, ref);
    return ref;
}

struct fixture {
    uint8_t pk[32];
    uint8_t sk[64];
    uint8_t msg[MSG_SIZE_MAX];
    size_t size;
    uint8_t sig[64];
};

static void
fixture_init(struct fixture *f)
{
    assert_int_equal(crypto_sign_keypair(f->pk, f->sk), 0);
    f->size = random_below(MSG_SIZE_MAX + 1);
    randombytes_buf(f->msg, sizeof f->msg);
    assert_int_equal(crypto_sign_detached(f->sig, NULL, f->msg, f->size, f->sk), 0);
}

static void
test_differential(void **state)
{
    (void)state;
    int count = rounds(2000);
    int rejected = 0;
    for (int i = 0; i < count; i++) {
        struct fixture f;
        fixture_init(&f);
        assert_both(f.pk, f.msg, f.size, f.sig, ERR_OK);
        uint8_t bad[64];
        memcpy(bad, f.sig, 64);
        bad[random_below(32)] ^= (uint8_t)(1u << random_below(8)); /* R */
        rejected += assert_same(f.pk, f.msg, f.size, bad) != ERR_OK;
        memcpy(bad, f.sig, 64);
        bad[32 + random_below(32)] ^= (uint8_t)(1u << random_below(8)); /* S */
        rejected += assert_same(f.pk, f.msg, f.size, bad) != ERR_OK;
        uint8_t pk[32];
        memcpy(pk, f.pk, 32);
        pk[random_below(32)] ^= (uint8_t)(1u << random_below(8));
        rejected += assert_same(pk, f.msg, f.size, f.sig) != ERR_OK;
        if (f.size > 0) {
            uint8_t msg[MSG_SIZE_MAX];
            memcpy(msg, f.msg, f.size);
            msg[random_below((unsigned)f.size)] ^= (uint8_t)(1u << random_below(8));
            assert_both(f.pk, msg, f.size, f.sig, ERR_BAD_SIGNATURE);
            rejected++;
        }
        /* random garbage everywhere */
        uint8_t junk[64];
        randombytes_buf(junk, sizeof junk);
        randombytes_buf(pk, sizeof pk);
        (void)assert_same(pk, f.msg, f.size, junk);
        (void)assert_same(f.pk, f.msg, f.size, junk);
    }
    assert_true(rejected >= 3 * count); /* flipped bits reject (both agree either way) */
    replay_recorded();
}

/* The 8 small-order points and the non-canonical encodings of 0 and 1, each with both sign
 * bits, as libsodium's blacklist sees them; plus encodings of y >= p that are not. */
#define SPECIAL_COUNT 48

static void
special_encoding(int i, uint8_t out[32])
{
    /* y values (little-endian): 0, 1, p - 1, the two of order 8, p, p + 1; then p + 2 ..
     * p + 18 = 2^255 - 1 */
    static const uint8_t order8[2][32] = {
        { 0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
          0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
          0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05 },
        { 0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
          0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
          0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a },
    };
    int which = i / 2;
    memset(out, 0, 32);
    if (which == 0) {
        /* y = 0 */
    } else if (which == 1) {
        out[0] = 1;
    } else if (which == 3 || which == 4) {
        memcpy(out, order8[which - 3], 32);
    } else {
        /* p - 1 + k for which = 2 (k = 0), 5 (k = 1, p), 6 .. 23 (p + 1 .. p + 18) */
        int k = which == 2 ? 0 : which - 4;
        memset(out, 0xff, 32);
        out[31] = 0x7f;
        out[0] = (uint8_t)(0xec + k);
    }
    if (i % 2 == 1) {
        out[31] |= 0x80;
    }
}

static void
test_edge_signatures(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    assert_both(f.pk, f.msg, f.size, f.sig, ERR_OK);
    static const uint8_t order_l[32] = {
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
        0xa2, 0xde, 0xf9, 0xde, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
    };
    uint8_t bad[64];
    /* S = L, L + 1, L - 1, 2^253 - 1, 2^256 - 1, S + L (the same value mod L) */
    memcpy(bad, f.sig, 64);
    memcpy(bad + 32, order_l, 32);
    assert_both(f.pk, f.msg, f.size, bad, ERR_BAD_SIGNATURE);
    bad[32] = (uint8_t)(order_l[0] + 1);
    assert_both(f.pk, f.msg, f.size, bad, ERR_BAD_SIGNATURE);
    bad[32] = (uint8_t)(order_l[0] - 1);
    (void)assert_same(f.pk, f.msg, f.size, bad);
    memset(bad + 32, 0xff, 32);
    bad[63] = 0x1f;
    assert_both(f.pk, f.msg, f.size, bad, ERR_BAD_SIGNATURE);
    bad[63] = 0xff;
    assert_both(f.pk, f.msg, f.size, bad, ERR_BAD_SIGNATURE);
    memset(bad + 32, 0, 32); /* S = 0 */
    (void)assert_same(f.pk, f.msg, f.size, bad);
    BIGNUM *s = BN_lebin2bn(f.sig + 32, 32, NULL);
    BIGNUM *l = BN_lebin2bn(order_l, 32, NULL);
    assert_non_null(s);
    assert_non_null(l);
    assert_int_equal(BN_add(s, s, l), 1);
    memcpy(bad, f.sig, 64);
    bn_to_le(s, bad + 32);
    assert_both(f.pk, f.msg, f.size, bad, ERR_BAD_SIGNATURE);
    BN_free(s);
    BN_free(l);
    /* every special encoding as R */
    for (int i = 0; i < SPECIAL_COUNT; i++) {
        memcpy(bad, f.sig, 64);
        special_encoding(i, bad);
        assert_both(f.pk, f.msg, f.size, bad, ERR_BAD_SIGNATURE);
    }
    /* R with the sign bit flipped, R with y + p where that fits */
    memcpy(bad, f.sig, 64);
    bad[31] ^= 0x80;
    assert_both(f.pk, f.msg, f.size, bad, ERR_BAD_SIGNATURE);
    replay_recorded();
}

static void
test_edge_keys(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    assert_both(f.pk, f.msg, f.size, f.sig, ERR_OK);
    uint8_t pk[32];
    for (int i = 0; i < SPECIAL_COUNT; i++) {
        special_encoding(i, pk);
        assert_both(pk, f.msg, f.size, f.sig, ERR_BAD_SIGNATURE);
        /* a signature made for the key itself (libsodium signs with any 32 bytes as pk) */
        uint8_t sk[64];
        uint8_t sig[64];
        memcpy(sk, f.sk, 32);
        memcpy(sk + 32, pk, 32);
        assert_int_equal(crypto_sign_detached(sig, NULL, f.msg, f.size, sk), 0);
        assert_both(pk, f.msg, f.size, sig, ERR_BAD_SIGNATURE);
    }
    /* the key with its sign bit flipped (-A): a different key */
    memcpy(pk, f.pk, 32);
    pk[31] ^= 0x80;
    assert_both(pk, f.msg, f.size, f.sig, ERR_BAD_SIGNATURE);
    /* y values that are not on the curve: both reject, and they are never cached */
    int off_curve = 0;
    for (int i = 0; i < 64; i++) {
        randombytes_buf(pk, sizeof pk);
        if (assert_same(pk, f.msg, f.size, f.sig) == ERR_BAD_SIGNATURE) {
            off_curve++;
        }
        assert_int_equal(ed25519_fast_verify(pk, f.msg, f.size, f.sig), ERR_BAD_SIGNATURE);
    }
    assert_int_equal(off_curve, 64);
    assert_both(f.pk, f.msg, f.size, f.sig, ERR_OK);
    replay_recorded();
}

/* h = SHA-512(R || A || M) mod L, as libsodium computes it. */
static void
hram(const uint8_t r[32], const uint8_t pk[32], const uint8_t *msg, size_t size, uint8_t h[32])
{
    crypto_hash_sha512_state st;
    uint8_t digest[64];
    assert_int_equal(crypto_hash_sha512_init(&st), 0);
    assert_int_equal(crypto_hash_sha512_update(&st, r, 32), 0);
    assert_int_equal(crypto_hash_sha512_update(&st, pk, 32), 0);
    assert_int_equal(crypto_hash_sha512_update(&st, msg, size), 0);
    assert_int_equal(crypto_hash_sha512_final(&st, digest), 0);
    crypto_core_ed25519_scalar_reduce(h, digest);
}

/* Signatures whose equation s*B - h*A = R holds but that libsodium rejects all the same,
 * because R or A has small order: the blacklists must be applied, not just the equation.
 * R = identity with S = h*a for a prime-order key; and for each small-order A = T,
 * R = S*B - k*T with k = h mod 8 (found by retrying S). */
static void
test_blacklist_equation_holds(void **state)
{
    (void)state;
    static const uint8_t identity[32] = { 1 };
    uint8_t msg[32];
    randombytes_buf(msg, sizeof msg);
    for (int i = 0; i < 8; i++) {
        uint8_t a[32];
        uint8_t pk[32];
        uint8_t sig[64];
        uint8_t h[32];
        crypto_core_ed25519_scalar_random(a);
        assert_int_equal(crypto_scalarmult_ed25519_base_noclamp(pk, a), 0);
        memcpy(sig, identity, 32);
        hram(sig, pk, msg, sizeof msg, h);
        crypto_core_ed25519_scalar_mul(sig + 32, h, a);
        assert_both(pk, msg, sizeof msg, sig, ERR_BAD_SIGNATURE);
    }
    int found = 0;
    for (int t = 0; t < SPECIAL_COUNT; t++) {
        uint8_t torsion[32];
        uint8_t check[32];
        special_encoding(t, torsion);
        if (crypto_core_ed25519_add(check, identity, torsion) != 0) {
            continue; /* libsodium does not decode it */
        }
        for (int attempt = 0; attempt < 64; attempt++) {
            uint8_t multiple[32];
            uint8_t sb[32];
            uint8_t sig[64];
            uint8_t h[32];
            unsigned k = random_below(8);
            memcpy(multiple, identity, 32);
            for (unsigned j = 0; j < k; j++) {
                assert_int_equal(crypto_core_ed25519_add(multiple, multiple, torsion), 0);
            }
            crypto_core_ed25519_scalar_random(sig + 32);
            assert_int_equal(crypto_scalarmult_ed25519_base_noclamp(sb, sig + 32), 0);
            assert_int_equal(crypto_core_ed25519_sub(sig, sb, multiple), 0);
            hram(sig, torsion, msg, sizeof msg, h);
            if ((h[0] & 7) == k) {
                assert_both(torsion, msg, sizeof msg, sig, ERR_BAD_SIGNATURE);
                found++;
                break;
            }
        }
    }
    assert_true(found >= 10);
    replay_recorded();
}

/* Keys A' = A + T for each small-order T: libsodium accepts a signature made with A' as the
 * public key exactly when h * T = 0 (h mod the order of T is 0), and ed25519_fast must agree
 * signature for signature. */
static void
test_torsion_keys(void **state)
{
    (void)state;
    int count = rounds(64);
    int accepted = 0;
    int tried = 0;
    for (int i = 0; i < count; i++) {
        struct fixture f;
        fixture_init(&f);
        for (int t = 0; t < SPECIAL_COUNT; t++) {
            uint8_t torsion[32];
            uint8_t pk[32];
            special_encoding(t, torsion);
            if (crypto_core_ed25519_add(pk, f.pk, torsion) != 0) {
                continue; /* not a point libsodium decodes */
            }
            uint8_t sk[64];
            memcpy(sk, f.sk, 32);
            memcpy(sk + 32, pk, 32);
            for (int m = 0; m < 4; m++) {
                uint8_t sig[64];
                f.msg[0] = (uint8_t)(f.msg[0] + 1);
                size_t size = f.size > 0 ? f.size : 1;
                assert_int_equal(crypto_sign_detached(sig, NULL, f.msg, size, sk), 0);
                accepted += assert_same(pk, f.msg, size, sig) == ERR_OK;
                tried++;
                sig[40] ^= 1;
                assert_both(pk, f.msg, size, sig, ERR_BAD_SIGNATURE);
            }
        }
    }
    /* the identity's sums (A itself) always, the others about 1 in their order */
    assert_true(accepted > tried / 8);
    assert_true(accepted < tried);
    replay_recorded();
}

/* ed25519_fast_verify_many and verify_message_many answer item by item what libsodium does,
 * for any mix (valid, flipped R, S, message or key bits, S >= L, small-order R, garbage;
 * keys on first sight, second sight and cached) and any count, across group boundaries. */
#define MANY_CASES 150

struct many_case {
    uint8_t pk[32];
    uint8_t msg[MSG_SIZE_MAX];
    size_t size;
    uint8_t sig[64];
    enum err want;
};

static void
many_cases(struct many_case *c, size_t count)
{
    struct fixture keys[6]; /* few keys, so most items see a key again (tables, cache) */
    for (size_t k = 0; k < 6; k++) {
        fixture_init(&keys[k]);
    }
    for (size_t i = 0; i < count; i++) {
        struct fixture *f = &keys[random_below(6)];
        memcpy(c[i].pk, f->pk, 32);
        c[i].size = random_below(MSG_SIZE_MAX + 1);
        randombytes_buf(c[i].msg, sizeof c[i].msg);
        assert_int_equal(crypto_sign_detached(c[i].sig, NULL, c[i].msg, c[i].size, f->sk), 0);
        switch (random_below(8)) {
        case 0:
            c[i].sig[random_below(32)] ^= (uint8_t)(1u << random_below(8));
            break;
        case 1:
            c[i].sig[32 + random_below(32)] ^= (uint8_t)(1u << random_below(8));
            break;
        case 2:
            c[i].pk[random_below(32)] ^= (uint8_t)(1u << random_below(8));
            break;
        case 3:
            memset(c[i].sig + 32, 0xff, 32); /* S >= L */
            break;
        case 4:
            special_encoding((int)random_below(SPECIAL_COUNT), c[i].sig); /* small-order R */
            break;
        case 5:
            randombytes_buf(c[i].sig, 64);
            break;
        default: /* valid */
            break;
        }
        c[i].want = crypto_sign_verify_detached(c[i].sig, c[i].msg, c[i].size, c[i].pk) == 0
                        ? ERR_OK
                        : ERR_BAD_SIGNATURE;
    }
}

static void *
must_calloc(size_t count, size_t size)
{
    void *p = calloc(count, size);
    assert_non_null(p);
    return p;
}

/* verify_many on slices of every size around the group and lane counts, at many offsets. */
static void
verify_many_slices(const struct many_case *c, const struct ed25519_fast_item *items,
                   enum err *results)
{
    static const size_t counts[] = { 0,
                                     1,
                                     2,
                                     3,
                                     8,
                                     9,
                                     ED25519_FAST_GROUP - 1,
                                     ED25519_FAST_GROUP,
                                     ED25519_FAST_GROUP + 1,
                                     2 * ED25519_FAST_GROUP + 3,
                                     MANY_CASES };
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        for (size_t start = 0; start + counts[k] <= MANY_CASES; start += 37) {
            for (size_t i = 0; i < counts[k]; i++) {
                results[start + i] = ERR_CLOSED; /* neither answer */
            }
            ed25519_fast_verify_many(items + start, counts[k], results + start);
            for (size_t i = start; i < start + counts[k]; i++) {
                assert_int_equal(results[i], c[i].want);
            }
        }
    }
}

static void
test_verify_many(void **state)
{
    (void)state;
    struct many_case *c = must_calloc(MANY_CASES, sizeof *c);
    struct ed25519_fast_item *items = must_calloc(MANY_CASES, sizeof *items);
    enum err *results = must_calloc(MANY_CASES, sizeof *results);
    many_cases(c, MANY_CASES);
    size_t valid = 0;
    for (size_t i = 0; i < MANY_CASES; i++) {
        items[i] = (struct ed25519_fast_item){
            .key = c[i].pk, .msg = c[i].msg, .size = c[i].size, .sig = c[i].sig
        };
        valid += c[i].want == ERR_OK;
    }
    assert_true(valid > MANY_CASES / 8 && valid < MANY_CASES); /* both kinds present */
    for (int vector = 1; vector >= 0; vector--) { /* the 8-lane loop (if the CPU can), scalar */
        (void)ed25519_fast_set_ifma(vector == 1);
        verify_many_slices(c, items, results);
    }
    (void)ed25519_fast_set_ifma(true);
    /* Through sign.h, mixed with SM2 items (valid and not) and algorithm mismatches. */
    struct secret_key *sm2 = NULL;
    assert_int_equal(secret_key_generate(SIG_SM2, &sm2), ERR_OK);
    struct public_key sm2_pub;
    secret_key_public(sm2, &sm2_pub);
    struct public_key *keys = must_calloc(MANY_CASES, sizeof *keys);
    struct signature *sigs = must_calloc(MANY_CASES, sizeof *sigs);
    struct verify_item *vitems = must_calloc(MANY_CASES, sizeof *vitems);
    enum err *want = must_calloc(MANY_CASES, sizeof *want);
    for (size_t i = 0; i < MANY_CASES; i++) {
        if (i % 5 == 1) {
            keys[i] = sm2_pub;
            assert_int_equal(sign_message(sm2, c[i].msg, c[i].size, &sigs[i]), ERR_OK);
            sigs[i].bytes[0] ^= (uint8_t)(i % 3 == 0); /* some broken */
        } else {
            keys[i] = (struct public_key){ .alg = SIG_ED25519, .size = 32 };
            memcpy(keys[i].bytes, c[i].pk, 32);
            sigs[i] = (struct signature){ .alg = i % 7 == 3 ? SIG_SM2 : SIG_ED25519 };
            memcpy(sigs[i].bytes, c[i].sig, 64);
        }
        vitems[i] = (struct verify_item){
            .key = &keys[i], .msg = c[i].msg, .size = c[i].size, .sig = &sigs[i]
        };
        want[i] = verify_message_reference(&keys[i], c[i].msg, c[i].size, &sigs[i]);
    }
    verify_message_many(vitems, MANY_CASES, results);
    size_t sm2_valid = 0;
    for (size_t i = 0; i < MANY_CASES; i++) {
        assert_int_equal(results[i], want[i]);
        sm2_valid += i % 5 == 1 && want[i] == ERR_OK;
    }
    assert_true(sm2_valid > 0);
    verify_message_many(vitems, 0, results);
    secret_key_free(sm2);
    free(want);
    free(vitems);
    free(sigs);
    free(keys);
    free(results);
    free(items);
    free(c);
}

/* Twice as many keys as the cache holds, each verified twice (a key's tables are built on its
 * second sight): keys are evicted and rebuilt, and still verify, by either loop. */
static void
test_cache_eviction(void **state)
{
    (void)state;
    struct fixture f[4];
    for (size_t i = 0; i < 4; i++) {
        fixture_init(&f[i]);
        assert_both(f[i].pk, f[i].msg, f[i].size, f[i].sig, ERR_OK);
    }
    int count = rounds(2 * ED25519_FAST_KEYS_MAX);
    for (int i = 0; i < count; i++) {
        uint8_t pk[32];
        uint8_t sk[64];
        assert_int_equal(crypto_sign_keypair(pk, sk), 0);
        /* a wrong signature still brings the key into the cache */
        assert_int_equal(ed25519_fast_verify(pk, f[0].msg, f[0].size, f[0].sig), ERR_BAD_SIGNATURE);
    }
    for (size_t i = 0; i < 4; i++) {
        assert_both(f[i].pk, f[i].msg, f[i].size, f[i].sig, ERR_OK);
        uint8_t bad[64];
        memcpy(bad, f[i].sig, 64);
        bad[5] ^= 4;
        assert_both(f[i].pk, f[i].msg, f[i].size, bad, ERR_BAD_SIGNATURE);
        /* again: first sight, second sight (tables built), then a cache hit */
        assert_both(f[i].pk, f[i].msg, f[i].size, f[i].sig, ERR_OK);
        assert_both(f[i].pk, f[i].msg, f[i].size, f[i].sig, ERR_OK);
    }
    replay_recorded();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field),           cmocka_unit_test(test_mul_double),
        cmocka_unit_test(test_ifma_field),      cmocka_unit_test(test_mul_double_ifma),
        cmocka_unit_test(test_naf_digits),      cmocka_unit_test(test_differential),
        cmocka_unit_test(test_edge_signatures), cmocka_unit_test(test_edge_keys),
        cmocka_unit_test(test_torsion_keys),    cmocka_unit_test(test_blacklist_equation_holds),
        cmocka_unit_test(test_cache_eviction),  cmocka_unit_test(test_verify_many),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
