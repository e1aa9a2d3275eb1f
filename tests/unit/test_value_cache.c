/* Unit tests: the committed-value cache (store/value_cache.h). */
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "crypto/hash.h"
#include "store/value_cache.h"
#include "unit.h"

static struct hash
key_of(unsigned i)
{
    struct hash h;
    hash_bytes(HASH_SHA256, &i, sizeof i, &h);
    return h;
}

static void
test_get_put_update(void **state)
{
    (void)state;
    struct value_cache *c = value_cache_new(64, 16, 7);
    struct buf out;
    buf_init(&out, 64);
    struct hash a = key_of(1);
    struct hash b = key_of(2);
    assert_int_equal(value_cache_get(c, 7, &a, &out), ERR_AGAIN);
    value_cache_put(c, 7, &a, (const uint8_t *)"one", 3);
    value_cache_put(c, 7, &b, NULL, 0); /* known absent */
    assert_int_equal(value_cache_get(c, 7, &a, &out), ERR_OK);
    assert_int_equal(out.size, 3);
    assert_memory_equal(out.data, "one", 3);
    buf_reset(&out);
    assert_int_equal(value_cache_get(c, 7, &b, &out), ERR_NOT_FOUND);
    /* an empty value is a value, not an absence */
    value_cache_put(c, 7, &b, (const uint8_t *)"", 0);
    assert_int_equal(value_cache_get(c, 7, &b, &out), ERR_OK);
    assert_int_equal(out.size, 0);
    /* a commit changes cached entries only, and moves the version */
    struct hash d = key_of(4);
    struct value_cache_change ch[2] = { { &d, (const uint8_t *)"x", 1 },
                                        { &a, (const uint8_t *)"two", 3 } };
    value_cache_advance(c, 8, ch, 2);
    assert_int_equal(value_cache_version(c), 8);
    assert_int_equal(value_cache_get(c, 8, &d, &out), ERR_AGAIN);
    buf_reset(&out);
    assert_int_equal(value_cache_get(c, 7, &a, &out), ERR_AGAIN); /* a reader still on 7 */
    value_cache_put(c, 7, &a, (const uint8_t *)"one", 3);         /* its load: ignored */
    assert_int_equal(value_cache_get(c, 8, &a, &out), ERR_OK);
    assert_memory_equal(out.data, "two", 3);
    ch[0] = (struct value_cache_change){ &a, NULL, 0 }; /* deleted */
    value_cache_advance(c, 9, ch, 1);
    assert_int_equal(value_cache_get(c, 9, &a, &out), ERR_NOT_FOUND);
    /* too large: not cached, and an older entry of the key is dropped */
    uint8_t big[17] = { 0 };
    ch[0] = (struct value_cache_change){ &b, big, sizeof big };
    value_cache_advance(c, 10, ch, 1);
    assert_int_equal(value_cache_get(c, 10, &b, &out), ERR_AGAIN);
    value_cache_put(c, 10, &b, big, sizeof big);
    assert_int_equal(value_cache_get(c, 10, &b, &out), ERR_AGAIN);
    struct value_cache_stats st;
    value_cache_get_stats(c, &st);
    assert_int_equal(st.entries, 1); /* a (absent) */
    assert_int_equal(st.bytes, 0);
    value_cache_clear(c);
    value_cache_get_stats(c, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(value_cache_get(c, 10, &a, &out), ERR_AGAIN);
    buf_release(&out);
    value_cache_free(c);
    value_cache_free(NULL);
}

/* More keys than slots: the cache stays bounded, referenced entries survive CLOCK, and every
 * hit returns the value last put for its key. */
static void
test_eviction(void **state)
{
    (void)state;
    struct value_cache *c = value_cache_new((size_t)VALUE_CACHE_WAYS * 4, 8, 7);
    struct buf out;
    buf_init(&out, 16);
    struct hash hot = key_of(0);
    value_cache_put(c, 7, &hot, (const uint8_t *)"hot", 3);
    for (unsigned i = 1; i < 2000; i++) {
        struct hash k = key_of(i);
        value_cache_put(c, 7, &k, (const uint8_t *)&i, sizeof i);
        buf_reset(&out);
        assert_int_equal(value_cache_get(c, 7, &hot, &out), ERR_OK); /* referenced: kept */
        assert_memory_equal(out.data, "hot", 3);
    }
    struct value_cache_stats st;
    value_cache_get_stats(c, &st);
    assert_true(st.entries <= (size_t)VALUE_CACHE_WAYS * 4);
    assert_true(st.evictions > 0);
    size_t hits = 0;
    for (unsigned i = 1; i < 2000; i++) {
        struct hash k = key_of(i);
        buf_reset(&out);
        enum err rc = value_cache_get(c, 7, &k, &out);
        if (rc == ERR_OK) {
            hits++;
            assert_int_equal(out.size, sizeof i);
            assert_memory_equal(out.data, &i, sizeof i);
        } else {
            assert_int_equal(rc, ERR_AGAIN);
        }
    }
    assert_true(hits > 0 && hits < (size_t)VALUE_CACHE_WAYS * 4);
    buf_release(&out);
    value_cache_free(c);
}

/* Keys of one bucket with the same 16-bit tag (a tag of 0 bytes is stored as 1, like the tag
 * 1): told apart by their full hashes, hits and misses alike. */
static void
test_tag_collisions(void **state)
{
    (void)state;
    struct value_cache *c = value_cache_new(64, 16, 1);
    struct buf out;
    buf_init(&out, 16);
    struct hash k[4];
    memset(k, 0, sizeof k);
    k[1].bytes[8] = 1; /* tag 1, as the all-zero tag bytes of k[0] */
    k[2].bytes[20] = 1;
    k[3].bytes[31] = 1;
    for (unsigned i = 0; i < 3; i++) {
        uint8_t v = (uint8_t)i;
        value_cache_put(c, 1, &k[i], &v, 1);
    }
    for (unsigned i = 0; i < 3; i++) {
        buf_reset(&out);
        assert_int_equal(value_cache_get(c, 1, &k[i], &out), ERR_OK);
        assert_int_equal(out.size, 1);
        assert_int_equal(out.data[0], i);
    }
    assert_int_equal(value_cache_get(c, 1, &k[3], &out), ERR_AGAIN);
    struct value_cache_change ch = { &k[1], NULL, 0 }; /* deleted at version 2 */
    value_cache_advance(c, 2, &ch, 1);
    assert_int_equal(value_cache_get(c, 2, &k[1], &out), ERR_NOT_FOUND);
    buf_reset(&out);
    assert_int_equal(value_cache_get(c, 2, &k[0], &out), ERR_OK);
    assert_int_equal(out.data[0], 0);
    buf_release(&out);
    value_cache_free(c);
}

/* A key cached as absent and then written (a new key: read once to check, then put) leaves
 * the cache at the commit; one read again while absent is kept and updated; a changed value
 * of the same size is updated in place. */
static void
test_new_keys_leave(void **state)
{
    (void)state;
    struct value_cache *c = value_cache_new(64, 16, 1);
    struct buf out;
    buf_init(&out, 16);
    struct hash fresh = key_of(1);
    struct hash hot = key_of(2);
    struct hash account = key_of(3);
    value_cache_put(c, 1, &fresh, NULL, 0);
    value_cache_put(c, 1, &hot, NULL, 0);
    value_cache_put(c, 1, &account, (const uint8_t *)"aaa", 3);
    assert_int_equal(value_cache_get(c, 1, &hot, &out), ERR_NOT_FOUND); /* read again */
    struct value_cache_change ch[3] = { { &fresh, (const uint8_t *)"f", 1 },
                                        { &hot, (const uint8_t *)"h", 1 },
                                        { &account, (const uint8_t *)"bbb", 3 } };
    value_cache_advance(c, 2, ch, 3);
    assert_int_equal(value_cache_get(c, 2, &fresh, &out), ERR_AGAIN);
    assert_int_equal(value_cache_get(c, 2, &hot, &out), ERR_OK);
    assert_int_equal(out.size, 1);
    assert_int_equal(out.data[0], 'h');
    buf_reset(&out);
    assert_int_equal(value_cache_get(c, 2, &account, &out), ERR_OK);
    assert_int_equal(out.size, 3);
    assert_memory_equal(out.data, "bbb", 3);
    struct value_cache_stats st;
    value_cache_get_stats(c, &st);
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.bytes, 4);
    buf_release(&out);
    value_cache_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_put_update),
        cmocka_unit_test(test_eviction),
        cmocka_unit_test(test_tag_collisions),
        cmocka_unit_test(test_new_keys_leave),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
