/* Unit tests of the module registry: name order, lookups by (module, op) and query,
 * refusal of duplicate or invalid names and of too many modules. */
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "ledger/registry.h"
#include "ledger/test_module.h"
#include "unit.h"

static enum err
op_nothing(struct exec_ctx *ctx, const uint8_t *args, size_t args_size)
{
    (void)ctx;
    (void)args;
    (void)args_size;
    return ERR_OK;
}

static const struct module_op good_ops[] = { { "a", op_nothing }, { "b", op_nothing } };
static const struct module_op dup_ops[] = { { "a", op_nothing }, { "a", op_nothing } };
static const struct module_op bad_ops[] = { { "A", op_nothing } };

static void
test_core_and_lookup(void **state)
{
    (void)state;
    struct registry *r = registry_new();
    assert_int_equal(registry_add(r, &test_module), ERR_OK);
    assert_int_equal(registry_add_core(r), ERR_OK);
    assert_int_equal(registry_count(r), 3);
    assert_string_equal(registry_at(r, 0)->name, "account");
    assert_string_equal(registry_at(r, 1)->name, "system");
    assert_string_equal(registry_at(r, 2)->name, "test");
    assert_non_null(registry_find(r, "system", 6));
    assert_null(registry_find(r, "syste", 5));
    assert_null(registry_find(r, "systems", 7));
    assert_non_null(registry_find_op(r, "account", 7, "add_key", 7));
    assert_null(registry_find_op(r, "account", 7, "add_ke", 6));
    assert_non_null(registry_find_query(r, "test", 4, "get", 3));
    assert_null(registry_find_query(r, "test", 4, "set", 3));
    assert_int_equal(registry_add(r, &test_module), ERR_EXISTS);
    registry_free(r);
    registry_free(NULL);
}

static void
test_refusals(void **state)
{
    (void)state;
    struct registry *r = registry_new();
    struct module_def def = { .name = "mod", .ops = dup_ops, .op_count = 2 };
    assert_int_equal(registry_add(r, &def), ERR_MALFORMED);
    def.ops = bad_ops;
    def.op_count = 1;
    assert_int_equal(registry_add(r, &def), ERR_MALFORMED);
    def.ops = good_ops;
    def.op_count = 2;
    def.name = "Mod";
    assert_int_equal(registry_add(r, &def), ERR_MALFORMED);
    static char names[REGISTRY_MODULES_MAX + 1][8];
    static struct module_def defs[REGISTRY_MODULES_MAX + 1];
    for (size_t i = 0; i <= REGISTRY_MODULES_MAX; i++) {
        snprintf(names[i], sizeof names[i], "m%zu", i);
        defs[i] = (struct module_def){ .name = names[i], .ops = good_ops, .op_count = 2 };
        assert_int_equal(registry_add(r, &defs[i]), i < REGISTRY_MODULES_MAX ? ERR_OK : ERR_FULL);
    }
    /* Sorted by name whatever the insertion order. */
    for (size_t i = 1; i < registry_count(r); i++) {
        assert_true(strcmp(registry_at(r, i - 1)->name, registry_at(r, i)->name) < 0);
    }
    registry_free(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_core_and_lookup),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
