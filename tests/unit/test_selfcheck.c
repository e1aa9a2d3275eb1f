/* Unit tests of crypto/selfcheck and the `lianmeng selfcheck` command (a real process). */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "crypto/selfcheck.h"
#include "unit.h"

struct seen {
    char names[8][16];
    int count;
    int failures;
};

static void
record(void *ctx, const char *name, enum err rc)
{
    struct seen *seen = ctx;
    assert_true(seen->count < 8);
    snprintf(seen->names[seen->count], sizeof seen->names[0], "%s", name);
    seen->count++;
    seen->failures += rc == ERR_OK ? 0 : 1;
}

static void
test_suite_selfcheck(void **state)
{
    (void)state;
    struct seen seen = { .count = 0 };
    assert_int_equal(suite_selfcheck(record, &seen), ERR_OK);
    assert_int_equal(seen.count, 4);
    assert_int_equal(seen.failures, 0);
    assert_string_equal(seen.names[0], "sha256");
    assert_string_equal(seen.names[1], "sm3");
    assert_string_equal(seen.names[2], "ed25519");
    assert_string_equal(seen.names[3], "sm2");
    assert_int_equal(suite_selfcheck(NULL, NULL), ERR_OK);
}

static void
test_cli_selfcheck(void **state)
{
    (void)state;
    FILE *p = popen(LM_BINARY " selfcheck", "r");
    assert_non_null(p);
    char out[1024];
    size_t size = fread(out, 1, sizeof out - 1, p);
    out[size] = '\0';
    int status = pclose(p);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(out, "sha256   ok\n"));
    assert_non_null(strstr(out, "sm3      ok\n"));
    assert_non_null(strstr(out, "ed25519  ok\n"));
    assert_non_null(strstr(out, "sm2      ok\n"));
    assert_non_null(strstr(out, "selfcheck: ok\n"));

    p = popen(LM_BINARY " selfcheck --bogus 2>/dev/null", "r");
    assert_non_null(p);
    status = pclose(p);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suite_selfcheck),
        cmocka_unit_test(test_cli_selfcheck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
