/* Unit tests of crypto/verify_cache: only valid results are remembered, every field of the
 * tuple matters, capacity and eviction (CLOCK keeps entries that are hit), statistics, and
 * concurrent use from two threads. Real Ed25519 and SM2 signatures. */
#include <pthread.h>
#include <string.h>

#include "crypto/sign.h"
#include "crypto/verify_cache.h"
#include "unit.h"

struct signed_msg {
    struct secret_key *sk;
    struct public_key pub;
    uint8_t msg[32];
    struct signature sig;
};

static void
make_signed(enum sig_alg alg, uint8_t tag, struct signed_msg *out)
{
    assert_int_equal(secret_key_generate(alg, &out->sk), ERR_OK);
    secret_key_public(out->sk, &out->pub);
    memset(out->msg, tag, sizeof out->msg);
    assert_int_equal(sign_message(out->sk, out->msg, sizeof out->msg, &out->sig), ERR_OK);
}

/* A tuple that was never signed: for filling the cache without verifying. */
static void
fake_tuple(uint32_t i, struct public_key *key, uint8_t msg[32], struct signature *sig)
{
    memset(key, 0, sizeof *key);
    key->alg = SIG_ED25519;
    key->size = 32;
    memcpy(key->bytes, &i, sizeof i);
    memset(msg, 7, 32);
    memset(sig, 0, sizeof *sig);
    sig->alg = SIG_ED25519;
}

static void
test_valid_only(void **state)
{
    (void)state;
    struct verify_cache *cache = verify_cache_new(1000);
    struct verify_cache_stats st;
    verify_cache_get_stats(cache, &st);
    assert_int_equal(st.capacity, 1024);
    const enum sig_alg algs[] = { SIG_ED25519, SIG_SM2 };
    for (size_t a = 0; a < 2; a++) {
        struct signed_msg s;
        make_signed(algs[a], (uint8_t)a, &s);
        verify_cache_get_stats(cache, &st);
        uint64_t hits = st.hits;
        uint64_t inserts = st.inserts;

        assert_false(verify_cache_contains(cache, &s.pub, s.msg, sizeof s.msg, &s.sig));
        assert_int_equal(verify_cached(cache, &s.pub, s.msg, sizeof s.msg, &s.sig), ERR_OK);
        assert_true(verify_cache_contains(cache, &s.pub, s.msg, sizeof s.msg, &s.sig));
        assert_int_equal(verify_cached(cache, &s.pub, s.msg, sizeof s.msg, &s.sig), ERR_OK);
        verify_cache_get_stats(cache, &st);
        assert_int_equal(st.inserts, inserts + 1);
        assert_int_equal(st.hits, hits + 2);

        /* Invalid: a flipped signature bit, never remembered, answered again each time. */
        struct signature bad = s.sig;
        bad.bytes[10] ^= 0x04;
        for (int k = 0; k < 3; k++) {
            assert_int_equal(verify_cached(cache, &s.pub, s.msg, sizeof s.msg, &bad),
                             ERR_BAD_SIGNATURE);
        }
        assert_false(verify_cache_contains(cache, &s.pub, s.msg, sizeof s.msg, &bad));
        /* Every other field of the tuple matters too. */
        uint8_t msg2[32];
        memcpy(msg2, s.msg, sizeof msg2);
        msg2[31] ^= 1;
        assert_false(verify_cache_contains(cache, &s.pub, msg2, sizeof msg2, &s.sig));
        assert_false(verify_cache_contains(cache, &s.pub, s.msg, sizeof s.msg - 1, &s.sig));
        struct public_key pub2 = s.pub;
        pub2.bytes[5] ^= 1;
        assert_false(verify_cache_contains(cache, &pub2, s.msg, sizeof s.msg, &s.sig));
        struct signature sig2 = s.sig;
        sig2.alg = (uint8_t)(algs[1 - a]);
        assert_false(verify_cache_contains(cache, &s.pub, s.msg, sizeof s.msg, &sig2));
        verify_cache_get_stats(cache, &st);
        assert_int_equal(st.inserts, inserts + 1);
        /* Out-of-range key size: never cached, still answered. */
        pub2 = s.pub;
        pub2.size = 200;
        assert_false(verify_cache_contains(cache, &pub2, s.msg, sizeof s.msg, &s.sig));
        assert_int_equal(verify_cached(cache, &pub2, s.msg, sizeof s.msg, &s.sig),
                         ERR_BAD_SIGNATURE);
        /* verify_cached_hit says who answered: the cache for a remembered tuple, the real
         * verification otherwise (invalid, not cacheable, no cache). */
        bool hit = false;
        assert_int_equal(verify_cached_hit(cache, &s.pub, s.msg, sizeof s.msg, &s.sig, &hit),
                         ERR_OK);
        assert_true(hit);
        assert_int_equal(verify_cached_hit(cache, &s.pub, s.msg, sizeof s.msg, &bad, &hit),
                         ERR_BAD_SIGNATURE);
        assert_false(hit);
        assert_int_equal(verify_cached_hit(cache, &pub2, s.msg, sizeof s.msg, &s.sig, &hit),
                         ERR_BAD_SIGNATURE);
        assert_false(hit);
        hit = true;
        assert_int_equal(verify_cached_hit(NULL, &s.pub, s.msg, sizeof s.msg, &s.sig, &hit),
                         ERR_OK);
        assert_false(hit);
        /* No cache at all. */
        assert_int_equal(verify_cached(NULL, &s.pub, s.msg, sizeof s.msg, &s.sig), ERR_OK);
        assert_int_equal(verify_cached(NULL, &s.pub, s.msg, sizeof s.msg, &bad), ERR_BAD_SIGNATURE);
        secret_key_free(s.sk);
    }
    /* Two caches use different keys: one's entries mean nothing to the other. */
    struct verify_cache *other = verify_cache_new(0);
    verify_cache_get_stats(other, &st);
    assert_int_equal(st.capacity, VERIFY_CACHE_CAPACITY_MIN);
    struct public_key key;
    uint8_t msg[32];
    struct signature sig;
    fake_tuple(1, &key, msg, &sig);
    verify_cache_insert(cache, &key, msg, sizeof msg, &sig);
    assert_true(verify_cache_contains(cache, &key, msg, sizeof msg, &sig));
    assert_false(verify_cache_contains(other, &key, msg, sizeof msg, &sig));
    /* The empty message is a message. */
    verify_cache_insert(cache, &key, NULL, 0, &sig);
    assert_true(verify_cache_contains(cache, &key, NULL, 0, &sig));
    verify_cache_free(other);
    verify_cache_free(cache);
    verify_cache_free(NULL);
}

static void
test_capacity_and_clock(void **state)
{
    (void)state;
    struct verify_cache *cache = verify_cache_new(64);
    struct public_key key;
    uint8_t msg[32];
    struct signature sig;
    const uint32_t n = 20000;
    for (uint32_t i = 0; i < n; i++) {
        fake_tuple(i, &key, msg, &sig);
        verify_cache_insert(cache, &key, msg, sizeof msg, &sig);
    }
    struct verify_cache_stats st;
    verify_cache_get_stats(cache, &st);
    assert_int_equal(st.inserts, n);
    assert_true(st.evictions >= n - 64);
    uint32_t present = 0;
    for (uint32_t i = 0; i < n; i++) {
        fake_tuple(i, &key, msg, &sig);
        present += verify_cache_contains(cache, &key, msg, sizeof msg, &sig) ? 1 : 0;
    }
    assert_true(present <= 64);
    assert_int_equal(st.inserts - st.evictions, present);
    /* Inserting an entry already present changes nothing. */
    fake_tuple(n - 1, &key, msg, &sig);
    verify_cache_insert(cache, &key, msg, sizeof msg, &sig);
    verify_cache_get_stats(cache, &st);
    assert_int_equal(st.inserts, n);

    verify_cache_free(cache);

    /* Half full: two-choice hashing keeps (nearly) everything. One-choice buckets of 4 slots
     * dropped about 150 of these 4,000. */
    cache = verify_cache_new(8192);
    for (uint32_t i = 0; i < 4000; i++) {
        fake_tuple(i, &key, msg, &sig);
        verify_cache_insert(cache, &key, msg, sizeof msg, &sig);
    }
    verify_cache_get_stats(cache, &st);
    assert_true(st.evictions <= 10);
    present = 0;
    for (uint32_t i = 0; i < 4000; i++) {
        fake_tuple(i, &key, msg, &sig);
        present += verify_cache_contains(cache, &key, msg, sizeof msg, &sig) ? 1 : 0;
    }
    assert_int_equal(present, 4000 - st.evictions);
    verify_cache_free(cache);

    /* CLOCK: an entry hit between inserts survives a flood; one not hit does not. */
    cache = verify_cache_new(64);
    struct public_key hot_key;
    uint8_t hot_msg[32];
    struct signature hot_sig;
    fake_tuple(1000000, &hot_key, hot_msg, &hot_sig);
    verify_cache_insert(cache, &hot_key, hot_msg, sizeof hot_msg, &hot_sig);
    struct public_key cold_key;
    uint8_t cold_msg[32];
    struct signature cold_sig;
    fake_tuple(2000000, &cold_key, cold_msg, &cold_sig);
    verify_cache_insert(cache, &cold_key, cold_msg, sizeof cold_msg, &cold_sig);
    for (uint32_t i = 0; i < n; i++) {
        fake_tuple(3000000 + i, &key, msg, &sig);
        verify_cache_insert(cache, &key, msg, sizeof msg, &sig);
        assert_true(verify_cache_contains(cache, &hot_key, hot_msg, sizeof hot_msg, &hot_sig));
    }
    assert_false(verify_cache_contains(cache, &cold_key, cold_msg, sizeof cold_msg, &cold_sig));
    verify_cache_free(cache);
}

struct hammer {
    struct verify_cache *cache;
    uint32_t base;
    uint32_t found;
};

static void *
hammer_main(void *arg)
{
    struct hammer *h = arg;
    struct public_key key;
    uint8_t msg[32];
    struct signature sig;
    for (uint32_t round = 0; round < 20; round++) {
        for (uint32_t i = 0; i < 2000; i++) {
            fake_tuple(h->base + i, &key, msg, &sig);
            verify_cache_insert(h->cache, &key, msg, sizeof msg, &sig);
            h->found += verify_cache_contains(h->cache, &key, msg, sizeof msg, &sig) ? 1 : 0;
        }
    }
    return NULL;
}

/* Two threads insert and look up at once (ASan/UBSan build checks the memory side). */
static void
test_two_threads(void **state)
{
    (void)state;
    struct verify_cache *cache = verify_cache_new(4096);
    struct hammer h[2] = { { cache, 0, 0 }, { cache, 1000, 0 } };
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &h[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
    }
    struct verify_cache_stats st;
    verify_cache_get_stats(cache, &st);
    assert_int_equal(st.lookups, 2 * 20 * 2000);
    assert_int_equal(st.hits, h[0].found + h[1].found);
    /* 3000 distinct tuples in 4096 slots: nearly every lookup right after an insert hits. */
    assert_true(st.hits > st.lookups * 9 / 10);
    assert_true(st.inserts <= 3000 + st.evictions);
    verify_cache_free(cache);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_only),
        cmocka_unit_test(test_capacity_and_clock),
        cmocka_unit_test(test_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
