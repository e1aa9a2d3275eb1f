/* Unit tests of the execution engine's write overlay: puts, tombstones, overwrite, bounds,
 * all-or-nothing merge, and a write set sorted by key whatever the insertion order. */
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "ledger/overlay.h"
#include "unit.h"

static enum err
put_text(struct overlay *o, const char *key, const char *value)
{
    return overlay_put(o, (const uint8_t *)key, strlen(key), (const uint8_t *)value,
                       value != NULL ? strlen(value) : 0);
}

static void
test_put_get_delete(void **state)
{
    (void)state;
    struct overlay o;
    overlay_init(&o, 100, 10000);
    const uint8_t *v;
    size_t n;
    assert_false(overlay_get(&o, (const uint8_t *)"a", 1, &v, &n));
    assert_int_equal(put_text(&o, "a", "1"), ERR_OK);
    assert_int_equal(put_text(&o, "a", "22"), ERR_OK);
    assert_true(overlay_get(&o, (const uint8_t *)"a", 1, &v, &n));
    assert_int_equal(n, 2);
    assert_memory_equal(v, "22", 2);
    assert_int_equal(put_text(&o, "b", NULL), ERR_OK);
    assert_true(overlay_get(&o, (const uint8_t *)"b", 1, &v, &n));
    assert_null(v);
    assert_int_equal(overlay_put(&o, (const uint8_t *)"e", 1, (const uint8_t *)"", 0), ERR_OK);
    assert_true(overlay_get(&o, (const uint8_t *)"e", 1, &v, &n));
    assert_non_null(v); /* an empty value is a value, not a delete */
    assert_int_equal(n, 0);
    assert_int_equal(o.count, 3);
    assert_int_equal(o.bytes, 1 + 2 + 1 + 1);
    overlay_clear(&o);
    assert_int_equal(o.count, 0);
    assert_false(overlay_get(&o, (const uint8_t *)"a", 1, &v, &n));
    overlay_release(&o);
    overlay_release(&o);
}

static void
test_bounds(void **state)
{
    (void)state;
    struct overlay o;
    overlay_init(&o, 3, 10);
    assert_int_equal(put_text(&o, "a", "1"), ERR_OK);
    assert_int_equal(put_text(&o, "b", "1"), ERR_OK);
    assert_int_equal(put_text(&o, "c", "1"), ERR_OK);
    assert_int_equal(put_text(&o, "d", "1"), ERR_FULL);
    assert_int_equal(put_text(&o, "a", "12345"), ERR_OK); /* 1 + 5 + 2 + 2 = 10 bytes */
    assert_int_equal(put_text(&o, "a", "123456"), ERR_FULL);
    assert_int_equal(o.count, 3);
    assert_int_equal(o.bytes, 10);
    overlay_release(&o);
}

static void
test_merge(void **state)
{
    (void)state;
    struct overlay block;
    struct overlay tx;
    overlay_init(&block, 4, 1000);
    overlay_init(&tx, 100, 1000);
    assert_int_equal(put_text(&block, "a", "old"), ERR_OK);
    assert_int_equal(put_text(&tx, "a", "new"), ERR_OK);
    assert_int_equal(put_text(&tx, "b", NULL), ERR_OK);
    assert_int_equal(overlay_merge(&block, &tx), ERR_OK);
    assert_int_equal(tx.count, 0);
    const uint8_t *v;
    size_t n;
    assert_true(overlay_get(&block, (const uint8_t *)"a", 1, &v, &n));
    assert_memory_equal(v, "new", 3);
    assert_true(overlay_get(&block, (const uint8_t *)"b", 1, &v, &n));
    assert_null(v);
    /* Too many new keys: neither side changes. */
    assert_int_equal(put_text(&tx, "c", "1"), ERR_OK);
    assert_int_equal(put_text(&tx, "d", "1"), ERR_OK);
    assert_int_equal(put_text(&tx, "e", "1"), ERR_OK);
    assert_int_equal(overlay_merge(&block, &tx), ERR_FULL);
    assert_int_equal(block.count, 2);
    assert_int_equal(tx.count, 3);
    overlay_release(&block);
    overlay_release(&tx);
}

/* The sorted write set is the same whatever order the keys were written in. */
static void
test_sorted_any_order(void **state)
{
    (void)state;
    struct overlay a;
    struct overlay b;
    overlay_init(&a, 1000, 100000);
    overlay_init(&b, 1000, 100000);
    char key[16];
    for (unsigned i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "k%u", (i * 7919u) % 300u);
        assert_int_equal(put_text(&a, key, key), ERR_OK);
        snprintf(key, sizeof key, "k%u", 299u - i);
        assert_int_equal(put_text(&b, key, key), ERR_OK);
    }
    size_t na;
    size_t nb;
    struct state_write *wa = overlay_sorted(&a, &na);
    struct state_write *wb = overlay_sorted(&b, &nb);
    assert_int_equal(na, 300);
    assert_int_equal(nb, 300);
    for (size_t i = 0; i < na; i++) {
        assert_int_equal(wa[i].key_size, wb[i].key_size);
        assert_memory_equal(wa[i].key, wb[i].key, wa[i].key_size);
        if (i > 0) {
            size_t m = wa[i - 1].key_size < wa[i].key_size ? wa[i - 1].key_size : wa[i].key_size;
            int c = memcmp(wa[i - 1].key, wa[i].key, m);
            assert_true(c < 0 || (c == 0 && wa[i - 1].key_size < wa[i].key_size));
        }
    }
    mem_free(wa);
    mem_free(wb);
    /* overlay_writes: the same entries (with their values and tombstones) in table order */
    assert_int_equal(overlay_put(&a, (const uint8_t *)"k5", 2, NULL, 0), ERR_OK);
    struct state_write *ws = overlay_sorted(&a, &na);
    struct state_write *wt = overlay_writes(&a, &nb);
    assert_int_equal(na, 300);
    assert_int_equal(nb, 300);
    size_t matched = 0;
    for (size_t i = 0; i < nb; i++) {
        for (size_t j = 0; j < na; j++) {
            if (wt[i].key_size == ws[j].key_size &&
                memcmp(wt[i].key, ws[j].key, ws[j].key_size) == 0) {
                assert_ptr_equal(wt[i].value, ws[j].value);
                assert_int_equal(wt[i].value_size, ws[j].value_size);
                matched++;
            }
        }
    }
    assert_int_equal(matched, 300);
    mem_free(ws);
    mem_free(wt);
    overlay_release(&a);
    overlay_release(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_delete),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_sorted_any_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
