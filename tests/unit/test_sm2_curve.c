/* Unit tests of crypto/sm2_curve: the field against BIGNUM (random and edge values), s*G + t*P
 * against EC_POINT_mul, the final r check on both x1 candidates, and verify_message (our
 * curve code) against verify_message_reference (OpenSSL's EVP) on random keys and messages,
 * flipped bits, out-of-range r and s, and invalid points. LM_SANITIZE=1 (the ASan run)
 * scales the random rounds down. */
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/sign.h"
#include "crypto/sm2_curve.h"
#include "crypto/sm2_curve_internal.h"
#include "unit.h"

static EC_GROUP *group;
static BN_CTX *bn_ctx;
static BIGNUM *bn_p;
static BIGNUM *bn_n;

static int
rounds(int full)
{
    const char *sanitize = getenv("LM_SANITIZE");
    return sanitize != NULL && sanitize[0] == '1' ? full / 8 + 1 : full;
}

static void
random_bytes(uint8_t *out, size_t size)
{
    assert_int_equal(RAND_bytes(out, (int)size), 1);
}

static unsigned
random_below(unsigned limit)
{
    uint8_t b[4];
    random_bytes(b, sizeof b);
    unsigned v =
        (unsigned)b[0] | ((unsigned)b[1] << 8) | ((unsigned)b[2] << 16) | ((unsigned)b[3] << 24);
    return v % limit;
}

static void
bn_to32(const BIGNUM *x, uint8_t out[32])
{
    assert_int_equal(BN_bn2binpad(x, out, 32), 32);
}

static BIGNUM *
bn_from32(const uint8_t in[32])
{
    BIGNUM *x = BN_bin2bn(in, 32, NULL);
    assert_non_null(x);
    return x;
}

static int
setup(void **state)
{
    (void)state;
    group = EC_GROUP_new_by_curve_name(NID_sm2);
    bn_ctx = BN_CTX_new();
    bn_p = BN_new();
    bn_n = BN_dup(EC_GROUP_get0_order(group));
    assert_non_null(group);
    assert_non_null(bn_ctx);
    assert_non_null(bn_n);
    assert_int_equal(EC_GROUP_get_curve(group, bn_p, NULL, NULL, bn_ctx), 1);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    BN_free(bn_p);
    BN_free(bn_n);
    BN_CTX_free(bn_ctx);
    EC_GROUP_free(group);
    return 0;
}

/* ---- the field ---- */

#define EDGE_COUNT   12
#define MSG_SIZE_MAX 96

/* Edge values below p: 0, 1, 2, 3, p-1, p-2, 2^255, 2^224, 2^256 - p (R), 2^64 - 1, 2^192,
 * p - 2^224. */
static BIGNUM *
edge_value(int i)
{
    BIGNUM *x = BN_new();
    assert_non_null(x);
    switch (i) {
    case 0:
    case 1:
    case 2:
    case 3:
        assert_int_equal(BN_set_word(x, (BN_ULONG)i), 1);
        break;
    case 4:
    case 5:
        assert_non_null(BN_copy(x, bn_p));
        assert_int_equal(BN_sub_word(x, (BN_ULONG)(i - 3)), 1);
        break;
    case 6:
    case 7:
    case 10:
        assert_int_equal(BN_set_bit(x, i == 6 ? 255 : i == 7 ? 224 : 192), 1);
        break;
    case 8:
        assert_int_equal(BN_set_bit(x, 256), 1);
        assert_int_equal(BN_sub(x, x, bn_p), 1);
        break;
    case 9:
        assert_int_equal(BN_set_word(x, ~(BN_ULONG)0), 1);
        break;
    default:
        assert_int_equal(BN_set_bit(x, 224), 1);
        assert_int_equal(BN_sub(x, bn_p, x), 1);
        break;
    }
    return x;
}

static BIGNUM *
field_value(int i)
{
    if (i < EDGE_COUNT) {
        return edge_value(i);
    }
    BIGNUM *x = BN_new();
    assert_non_null(x);
    assert_int_equal(BN_rand_range(x, bn_p), 1);
    return x;
}

static void
fe_of(const BIGNUM *x, struct sm2_fe *out)
{
    uint8_t bytes[32];
    bn_to32(x, bytes);
    assert_true(sm2_fe_from_bytes(bytes, out));
}

static void
assert_fe_equals(const struct sm2_fe *got, const BIGNUM *want)
{
    uint8_t a[32];
    uint8_t b[32];
    sm2_fe_to_bytes(got, a);
    bn_to32(want, b);
    assert_memory_equal(a, b, 32);
}

static void
check_field_pair(const BIGNUM *x, const BIGNUM *y)
{
    struct sm2_fe a;
    struct sm2_fe b;
    struct sm2_fe r;
    BIGNUM *want = BN_new();
    assert_non_null(want);
    fe_of(x, &a);
    fe_of(y, &b);
    assert_fe_equals(&a, x); /* round trip through Montgomery form */
    sm2_fe_mul(&r, &a, &b);
    assert_int_equal(BN_mod_mul(want, x, y, bn_p, bn_ctx), 1);
    assert_fe_equals(&r, want);
    sm2_fe_sqr(&r, &a);
    assert_int_equal(BN_mod_sqr(want, x, bn_p, bn_ctx), 1);
    assert_fe_equals(&r, want);
    sm2_fe_add(&r, &a, &b);
    assert_int_equal(BN_mod_add(want, x, y, bn_p, bn_ctx), 1);
    assert_fe_equals(&r, want);
    sm2_fe_sub(&r, &a, &b);
    assert_int_equal(BN_mod_sub(want, x, y, bn_p, bn_ctx), 1);
    assert_fe_equals(&r, want);
    sm2_fe_inv(&r, &a);
    if (BN_is_zero(x)) {
        BN_zero(want);
    } else {
        assert_non_null(BN_mod_inverse(want, x, bn_p, bn_ctx));
    }
    assert_fe_equals(&r, want);
    BN_free(want);
}

static void
test_field(void **state)
{
    (void)state;
    int count = EDGE_COUNT + rounds(2000);
    for (int i = 0; i < count; i++) {
        BIGNUM *x = field_value(i);
        for (int j = 0; j < EDGE_COUNT + 2; j++) {
            BIGNUM *y = field_value(i < EDGE_COUNT ? j : EDGE_COUNT + j);
            check_field_pair(x, y);
            BN_free(y);
        }
        BN_free(x);
    }
}

static void
test_field_rejects_p_and_above(void **state)
{
    (void)state;
    struct sm2_fe a = { { 7, 7, 7, 7 } };
    const struct sm2_fe before = a;
    uint8_t bytes[32];
    BIGNUM *x = BN_dup(bn_p);
    assert_non_null(x);
    for (int i = 0; i < 3; i++) { /* p, p + 1, p + 2 */
        bn_to32(x, bytes);
        assert_false(sm2_fe_from_bytes(bytes, &a));
        assert_int_equal(BN_add_word(x, 1), 1);
    }
    memset(bytes, 0xff, sizeof bytes); /* 2^256 - 1 */
    assert_false(sm2_fe_from_bytes(bytes, &a));
    assert_memory_equal(&a, &before, sizeof a); /* untouched on failure */
    BN_free(x);
}

/* ---- points ---- */

static void
point_bytes(const EC_POINT *point, uint8_t out[65])
{
    assert_int_equal(
        EC_POINT_point2oct(group, point, POINT_CONVERSION_UNCOMPRESSED, out, 65, bn_ctx), 65);
}

/* A random point d*G. */
static void
random_point(uint8_t out[65])
{
    BIGNUM *d = BN_new();
    EC_POINT *point = EC_POINT_new(group);
    assert_non_null(d);
    assert_non_null(point);
    assert_int_equal(BN_rand_range(d, bn_n), 1);
    assert_int_equal(EC_POINT_mul(group, point, d, NULL, NULL, bn_ctx), 1);
    point_bytes(point, out);
    EC_POINT_free(point);
    BN_free(d);
}

/* Scalar edge values: 0, 1, 2, n-1, n, n+1, 2^256-1, then random 256-bit values. */
static void
scalar_value(int i, uint8_t out[32])
{
    BIGNUM *x = BN_new();
    assert_non_null(x);
    if (i <= 2) {
        assert_int_equal(BN_set_word(x, (BN_ULONG)i), 1);
    } else if (i <= 5) {
        assert_non_null(BN_copy(x, bn_n));
        assert_int_equal(BN_add_word(x, (BN_ULONG)(i - 3)), 1);
        assert_int_equal(BN_sub_word(x, 1), 1);
    } else if (i == 6) {
        assert_int_equal(BN_set_bit(x, 256), 1);
        assert_int_equal(BN_sub_word(x, 1), 1);
    }
    if (i <= 6) {
        bn_to32(x, out);
    } else {
        random_bytes(out, 32);
    }
    BN_free(x);
}

/* s*G + t*P against EC_POINT_mul; both agree on infinity. */
static void
check_mul(const uint8_t s[32], const uint8_t t[32], const uint8_t point[65])
{
    EC_POINT *p = EC_POINT_new(group);
    EC_POINT *want = EC_POINT_new(group);
    BIGNUM *bs = bn_from32(s);
    BIGNUM *bt = bn_from32(t);
    assert_non_null(p);
    assert_non_null(want);
    assert_int_equal(EC_POINT_oct2point(group, p, point, 65, bn_ctx), 1);
    assert_int_equal(EC_POINT_mul(group, want, bs, p, bt, bn_ctx), 1);
    uint8_t got[65];
    bool finite = sm2_curve_mul_double(s, t, point, got);
    assert_int_equal(finite, EC_POINT_is_at_infinity(group, want) == 0);
    if (finite) {
        uint8_t expect[65];
        point_bytes(want, expect);
        assert_memory_equal(got, expect, 65);
    }
    BN_free(bs);
    BN_free(bt);
    EC_POINT_free(p);
    EC_POINT_free(want);
}

static void
test_scalar_mul(void **state)
{
    (void)state;
    uint8_t g[65];
    uint8_t neg_g[65];
    point_bytes(EC_GROUP_get0_generator(group), g);
    memcpy(neg_g, g, sizeof neg_g);
    BIGNUM *y = BN_bin2bn(g + 33, 32, NULL);
    assert_non_null(y);
    assert_int_equal(BN_sub(y, bn_p, y), 1);
    bn_to32(y, neg_g + 33);
    BN_free(y);
    uint8_t s[32];
    uint8_t t[32];
    for (int i = 0; i < 7; i++) {
        for (int j = 0; j < 7; j++) {
            scalar_value(i, s);
            scalar_value(j, t);
            check_mul(s, t, g);     /* P = G: the additions meet equal points */
            check_mul(s, t, neg_g); /* P = -G: s = t gives infinity */
            uint8_t point[65];
            random_point(point);
            check_mul(s, t, point);
        }
    }
    int count = rounds(400);
    for (int i = 0; i < count; i++) {
        uint8_t point[65];
        random_point(point);
        scalar_value(7, s);
        scalar_value(7, t);
        check_mul(s, t, point);
        check_mul(s, s, point);
        check_mul(s, s, g);
    }
}

/* A point with x >= n (so x1 = c + n), and the check on both candidates. */
static void
test_r_matches(void **state)
{
    (void)state;
    BIGNUM *x = BN_dup(bn_n);
    BIGNUM *rhs = BN_new();
    BIGNUM *y = BN_new();
    BIGNUM *a = BN_new();
    BIGNUM *b = BN_new();
    assert_non_null(x);
    assert_non_null(rhs);
    assert_non_null(y);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(EC_GROUP_get_curve(group, NULL, a, b, bn_ctx), 1);
    for (int found = 0; found < 2;) {
        /* rhs = x^3 + a x + b; a point exists when it is a square */
        assert_int_equal(BN_mod_sqr(rhs, x, bn_p, bn_ctx), 1);
        assert_int_equal(BN_mod_add(rhs, rhs, a, bn_p, bn_ctx), 1);
        assert_int_equal(BN_mod_mul(rhs, rhs, x, bn_p, bn_ctx), 1);
        assert_int_equal(BN_mod_add(rhs, rhs, b, bn_p, bn_ctx), 1);
        if (BN_mod_sqrt(y, rhs, bn_p, bn_ctx) == NULL) {
            assert_int_equal(BN_add_word(x, 1), 1);
            continue;
        }
        uint8_t point[65] = { 0x04 };
        bn_to32(x, point + 1);
        bn_to32(y, point + 33);
        assert_true(sm2_curve_point_is_valid(point));
        for (int k = 0; k < 20; k++) {
            uint8_t z[32];
            uint8_t e[32];
            uint8_t r[32];
            BIGNUM *be = BN_new();
            BIGNUM *br = BN_new();
            assert_non_null(be);
            assert_non_null(br);
            random_bytes(z, sizeof z);
            z[0] &= 0x7f; /* below p */
            z[31] |= 1;   /* not 0 */
            assert_int_equal(BN_rand_range(be, bn_n), 1);
            bn_to32(be, e);
            assert_int_equal(BN_mod_add(br, be, x, bn_n, bn_ctx), 1);
            bn_to32(br, r);
            assert_int_equal(sm2_curve_r_matches(point, z, r, e), !BN_is_zero(br));
            assert_int_equal(BN_mod_add(br, br, BN_value_one(), bn_n, bn_ctx), 1);
            bn_to32(br, r);
            assert_false(sm2_curve_r_matches(point, z, r, e));
            BN_free(be);
            BN_free(br);
        }
        found++;
        /* the second point: x < n, from the other end of the range */
        assert_int_equal(BN_set_word(x, 1), 1);
    }
    BN_free(x);
    BN_free(rhs);
    BN_free(y);
    BN_free(a);
    BN_free(b);
}

/* ---- verification against OpenSSL ---- */

static void
assert_both(const struct public_key *key, const uint8_t *msg, size_t size,
            const struct signature *sig, enum err want)
{
    assert_int_equal(verify_message_reference(key, msg, size, sig), want);
    assert_int_equal(verify_message(key, msg, size, sig), want);
}

/* A flipped bit in s or r, in the message, in the key, and another key: all rejected. */
static void
check_mutations(const struct public_key *pub, const struct public_key *previous, const uint8_t *msg,
                size_t size, const struct signature *sig)
{
    struct signature bad = *sig;
    bad.bytes[random_below(SIGNATURE_SIZE)] ^= (uint8_t)(1u << random_below(8));
    assert_both(pub, msg, size, &bad, ERR_BAD_SIGNATURE);
    if (size > 0) {
        uint8_t flipped[MSG_SIZE_MAX];
        memcpy(flipped, msg, size);
        flipped[random_below((unsigned)size)] ^= (uint8_t)(1u << random_below(8));
        assert_both(pub, flipped, size, sig, ERR_BAD_SIGNATURE);
    }
    struct public_key other = *pub;
    other.bytes[1 + random_below(64)] ^= (uint8_t)(1u << random_below(8));
    assert_both(&other, msg, size, sig, ERR_BAD_SIGNATURE);
    if (previous->size != 0) {
        assert_both(previous, msg, size, sig, ERR_BAD_SIGNATURE);
    }
}

/* 1,000 random keys, two random messages of 0..96 bytes each. */
static void
test_differential(void **state)
{
    (void)state;
    int count = rounds(1000);
    struct public_key previous = { 0 };
    for (int i = 0; i < count; i++) {
        struct secret_key *key = NULL;
        struct public_key pub;
        struct signature sig;
        uint8_t msg[MSG_SIZE_MAX];
        size_t size = random_below(sizeof msg + 1);
        assert_int_equal(secret_key_generate(SIG_SM2, &key), ERR_OK);
        secret_key_public(key, &pub);
        random_bytes(msg, sizeof msg);
        for (int m = 0; m < 2; m++) {
            assert_int_equal(sign_message(key, msg, size, &sig), ERR_OK);
            assert_both(&pub, msg, size, &sig, ERR_OK);
            if (m == 0) {
                check_mutations(&pub, &previous, msg, size, &sig);
            }
            random_bytes(msg, sizeof msg);
            size = random_below(sizeof msg + 1);
        }
        previous = pub;
        secret_key_free(key);
    }
}

/* A key, a message and a valid signature of it. */
struct fixture {
    struct public_key pub;
    uint8_t msg[32];
    struct signature sig;
};

static void
fixture_init(struct fixture *f)
{
    struct secret_key *key = NULL;
    assert_int_equal(secret_key_generate(SIG_SM2, &key), ERR_OK);
    secret_key_public(key, &f->pub);
    random_bytes(f->msg, sizeof f->msg);
    assert_int_equal(sign_message(key, f->msg, sizeof f->msg, &f->sig), ERR_OK);
    secret_key_free(key);
}

static void
set_scalar(struct signature *sig, int which, const BIGNUM *value)
{
    bn_to32(value, sig->bytes + 32 * (size_t)which);
}

static void
test_edge_signatures(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    assert_both(&f.pub, f.msg, sizeof f.msg, &f.sig, ERR_OK);
    BIGNUM *v = BN_new();
    assert_non_null(v);
    for (int which = 0; which < 2; which++) {
        struct signature bad = f.sig;
        BN_zero(v); /* 0 */
        set_scalar(&bad, which, v);
        assert_both(&f.pub, f.msg, sizeof f.msg, &bad, ERR_BAD_SIGNATURE);
        set_scalar(&bad, which, bn_n); /* n */
        assert_both(&f.pub, f.msg, sizeof f.msg, &bad, ERR_BAD_SIGNATURE);
        assert_non_null(BN_copy(v, bn_n)); /* n + 1 */
        assert_int_equal(BN_add_word(v, 1), 1);
        set_scalar(&bad, which, v);
        assert_both(&f.pub, f.msg, sizeof f.msg, &bad, ERR_BAD_SIGNATURE);
        memset(bad.bytes + 32 * (size_t)which, 0xff, 32); /* 2^256 - 1 */
        assert_both(&f.pub, f.msg, sizeof f.msg, &bad, ERR_BAD_SIGNATURE);
        /* r (or s) + n: the same value mod n, still rejected */
        bad = f.sig;
        BIGNUM *orig = BN_bin2bn(f.sig.bytes + 32 * (size_t)which, 32, NULL);
        assert_non_null(orig);
        assert_int_equal(BN_add(v, orig, bn_n), 1);
        if (BN_num_bits(v) <= 256) {
            set_scalar(&bad, which, v);
            assert_both(&f.pub, f.msg, sizeof f.msg, &bad, ERR_BAD_SIGNATURE);
        }
        BN_free(orig);
    }
    /* r + s = n: t = 0 */
    struct signature bad = f.sig;
    BIGNUM *r = BN_bin2bn(f.sig.bytes, 32, NULL);
    assert_non_null(r);
    assert_int_equal(BN_sub(v, bn_n, r), 1);
    set_scalar(&bad, 1, v);
    assert_both(&f.pub, f.msg, sizeof f.msg, &bad, ERR_BAD_SIGNATURE);
    /* r = 1, s = n - 1 (t = 0 again) and r = n - 1, s = 1 */
    assert_int_equal(BN_one(r), 1);
    assert_int_equal(BN_sub(v, bn_n, r), 1);
    set_scalar(&bad, 0, r);
    set_scalar(&bad, 1, v);
    assert_both(&f.pub, f.msg, sizeof f.msg, &bad, ERR_BAD_SIGNATURE);
    set_scalar(&bad, 0, v);
    set_scalar(&bad, 1, r);
    assert_both(&f.pub, f.msg, sizeof f.msg, &bad, ERR_BAD_SIGNATURE);
    BN_free(r);
    BN_free(v);
}

static void
test_edge_keys(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    assert_both(&f.pub, f.msg, sizeof f.msg, &f.sig, ERR_OK); /* the key is cached now */
    struct public_key key = f.pub;
    /* the point at infinity, in the encodings a 65-byte key can take */
    memset(key.bytes, 0, sizeof key.bytes);
    assert_both(&key, f.msg, sizeof f.msg, &f.sig, ERR_BAD_SIGNATURE);
    assert_false(sm2_curve_point_is_valid(key.bytes));
    key.bytes[0] = 0x04;
    assert_both(&key, f.msg, sizeof f.msg, &f.sig, ERR_BAD_SIGNATURE);
    assert_false(sm2_curve_point_is_valid(key.bytes));
    /* other prefixes on the cached valid point */
    const uint8_t prefixes[] = { 0x00, 0x02, 0x03, 0x05, 0x06, 0x07 };
    for (size_t i = 0; i < sizeof prefixes; i++) {
        key = f.pub;
        key.bytes[0] = prefixes[i];
        assert_both(&key, f.msg, sizeof f.msg, &f.sig, ERR_BAD_SIGNATURE);
        assert_false(sm2_curve_point_is_valid(key.bytes));
    }
    /* off the curve: y + 1 */
    key = f.pub;
    key.bytes[64] ^= 1;
    assert_both(&key, f.msg, sizeof f.msg, &f.sig, ERR_BAD_SIGNATURE);
    assert_false(sm2_curve_point_is_valid(key.bytes));
    /* x >= p: a point with a small x, written as x + p (same value mod p) */
    BIGNUM *x = BN_new();
    BIGNUM *y = BN_new();
    EC_POINT *point = EC_POINT_new(group);
    assert_non_null(x);
    assert_non_null(y);
    assert_non_null(point);
    int found = 0;
    for (BN_ULONG i = 0; i < 64 && found == 0; i++) {
        assert_int_equal(BN_set_word(x, i), 1);
        found = EC_POINT_set_compressed_coordinates(group, point, x, 0, bn_ctx);
    }
    assert_int_equal(found, 1);
    assert_int_equal(EC_POINT_get_affine_coordinates(group, point, x, y, bn_ctx), 1);
    key = f.pub;
    bn_to32(x, key.bytes + 1);
    bn_to32(y, key.bytes + 33);
    assert_true(sm2_curve_point_is_valid(key.bytes));
    assert_int_equal(BN_add(x, x, bn_p), 1);
    bn_to32(x, key.bytes + 1);
    assert_false(sm2_curve_point_is_valid(key.bytes));
    assert_both(&key, f.msg, sizeof f.msg, &f.sig, ERR_BAD_SIGNATURE);
    assert_int_equal(public_key_check(&key), ERR_MALFORMED);
    /* y >= p: y and p - y are both on the curve; p + (small) does not fit, so use the
     * largest representable y: 2^256 - 1 (>= p) */
    key = f.pub;
    memset(key.bytes + 33, 0xff, 32);
    assert_false(sm2_curve_point_is_valid(key.bytes));
    assert_both(&key, f.msg, sizeof f.msg, &f.sig, ERR_BAD_SIGNATURE);
    EC_POINT_free(point);
    BN_free(x);
    BN_free(y);
    /* the original still verifies (nothing invalid was cached in its place) */
    assert_both(&f.pub, f.msg, sizeof f.msg, &f.sig, ERR_OK);
}

/* Twice as many keys as the cache holds: keys are evicted and rebuilt, and still verify. */
static void
test_cache_eviction(void **state)
{
    (void)state;
    struct fixture f[4];
    for (size_t i = 0; i < 4; i++) {
        fixture_init(&f[i]);
        assert_both(&f[i].pub, f[i].msg, sizeof f[i].msg, &f[i].sig, ERR_OK);
    }
    EC_POINT *point = EC_POINT_new(group);
    assert_non_null(point);
    assert_int_equal(EC_POINT_oct2point(group, point, f[0].pub.bytes, 65, bn_ctx), 1);
    int count = rounds(2 * SM2_CURVE_KEYS_MAX);
    for (int i = 0; i < count; i++) {
        uint8_t bytes[65];
        assert_int_equal(EC_POINT_add(group, point, point, EC_GROUP_get0_generator(group), bn_ctx),
                         1);
        point_bytes(point, bytes);
        /* a wrong signature still brings the key into the cache */
        assert_int_equal(sm2_curve_verify(bytes, f[0].msg, sizeof f[0].msg, f[0].sig.bytes),
                         ERR_BAD_SIGNATURE);
    }
    EC_POINT_free(point);
    for (size_t i = 0; i < 4; i++) {
        assert_both(&f[i].pub, f[i].msg, sizeof f[i].msg, &f[i].sig, ERR_OK);
        struct signature bad = f[i].sig;
        bad.bytes[5] ^= 4;
        assert_both(&f[i].pub, f[i].msg, sizeof f[i].msg, &bad, ERR_BAD_SIGNATURE);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field),        cmocka_unit_test(test_field_rejects_p_and_above),
        cmocka_unit_test(test_scalar_mul),   cmocka_unit_test(test_r_matches),
        cmocka_unit_test(test_differential), cmocka_unit_test(test_edge_signatures),
        cmocka_unit_test(test_edge_keys),    cmocka_unit_test(test_cache_eviction),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
