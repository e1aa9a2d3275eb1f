/* Unit tests of cli/cli_util in process: option parsing (permutation, flags, values given
 * twice, positional bounds, --output), --node URLs, the exit codes of node answers (2, 3, 4)
 * and of a node that is not there (a closed port: 3), and passphrases from the environment
 * and from files. The commands themselves are tested as processes in tests/cli. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/client.h"
#include "base/mem.h"
#include "cli/cli.h"
#include "cli/cli_util.h"
#include "crypto/keystore.h"
#include "unit.h"

static const char *opt_name;
static bool opt_force;

static const struct cli_option options[] = {
    { "name", "NAME", "a name", &opt_name, NULL },
    { "force", NULL, "a flag", NULL, &opt_force },
};

static const struct cli_spec spec = {
    .command = "test cmd",
    .usage = "ARG [OPTIONS]",
    .description = "A command for the tests.\n",
    .options = options,
    .option_count = 2,
    .common = CLI_COMMON_NODE | CLI_COMMON_OUTPUT | CLI_COMMON_PASSPHRASE,
    .positional_min = 1,
    .positional_max = 2,
};

/* Parses a NULL-terminated argument list (copied, since getopt_long permutes argv). */
static int
parse(struct cli_ctx *ctx, const char *const *args)
{
    static char storage[16][64];
    static char *argv[17];
    int argc = 0;
    for (; args[argc] != NULL; argc++) {
        snprintf(storage[argc], sizeof storage[argc], "%s", args[argc]);
        argv[argc] = storage[argc];
    }
    argv[argc] = NULL;
    opt_name = NULL;
    opt_force = false;
    return cli_parse(&spec, argc, argv, ctx);
}

#define PARSE(ctx, ...) parse(ctx, (const char *const[]){ "cmd", __VA_ARGS__, NULL })

static void
test_parse(void **state)
{
    (void)state;
    struct cli_ctx ctx;
    assert_int_equal(PARSE(&ctx, "first", "--name", "x", "second", "--force", "--output=json"),
                     CLI_CONTINUE);
    assert_string_equal(opt_name, "x");
    assert_true(opt_force);
    assert_int_equal(ctx.output, CLI_OUTPUT_JSON);
    assert_int_equal(ctx.positional_count, 2);
    assert_string_equal(ctx.positional[0], "first");
    assert_string_equal(ctx.positional[1], "second");
    assert_string_equal(ctx.node_url, CLI_NODE_DEFAULT);
    assert_null(ctx.passphrase_file);

    assert_int_equal(PARSE(&ctx, "a", "--node", "http://10.0.0.1:9000", "--passphrase-env", "P"),
                     CLI_CONTINUE);
    assert_string_equal(ctx.node_url, "http://10.0.0.1:9000");
    assert_string_equal(ctx.passphrase_env, "P");
    assert_int_equal(ctx.output, CLI_OUTPUT_TEXT);

    /* "--" ends the options: "--force" after it is an argument. */
    assert_int_equal(PARSE(&ctx, "--", "--force"), CLI_CONTINUE);
    assert_false(opt_force);
    assert_string_equal(ctx.positional[0], "--force");

    assert_int_equal(PARSE(&ctx, "a", "--help"), CLI_EXIT_OK);
    assert_int_equal(PARSE(&ctx, "-h"), CLI_EXIT_OK);
    assert_int_equal(PARSE(&ctx, "a", "--bogus"), CLI_EXIT_USAGE);
    assert_int_equal(PARSE(&ctx, "a", "--name"), CLI_EXIT_USAGE);
    assert_int_equal(PARSE(&ctx, "a", "--name", "x", "--name", "y"), CLI_EXIT_USAGE);
    assert_int_equal(PARSE(&ctx, "a", "--node", "u", "--node", "v"), CLI_EXIT_USAGE);
    assert_int_equal(PARSE(&ctx, "a", "--output", "xml"), CLI_EXIT_USAGE);
    assert_int_equal(PARSE(&ctx, "a", "--force=1"), CLI_EXIT_USAGE);
    assert_int_equal(PARSE(&ctx, "a", "b", "c"), CLI_EXIT_USAGE);
    assert_int_equal(parse(&ctx, (const char *const[]){ "cmd", NULL }), CLI_EXIT_USAGE);
}

static void
test_node_url(void **state)
{
    (void)state;
    struct cli_ctx ctx = { .spec = &spec };
    struct api_client client;
    static const char *const good[] = { "http://127.0.0.1:8080", "http://127.0.0.1:8080/",
                                        "127.0.0.1:8080", "http://localhost:8080" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ctx.node_url = good[i];
        memset(&client, 0, sizeof client);
        assert_int_equal(cli_node_client(&ctx, &client), CLI_CONTINUE);
        assert_int_equal(client.port, 8080);
    }
    ctx.node_url = "http://[::1]:9/";
    assert_int_equal(cli_node_client(&ctx, &client), CLI_CONTINUE);
    assert_int_equal(client.port, 9);
    static const char *const bad[] = { "https://127.0.0.1:8080",
                                       "http://127.0.0.1",
                                       "http://127.0.0.1:8080/v1",
                                       "http://",
                                       "",
                                       "ftp://x:1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ctx.node_url = bad[i];
        assert_int_equal(cli_node_client(&ctx, &client), CLI_EXIT_USAGE);
    }
}

/* A port nobody listens on: bound, then closed. */
static uint16_t
closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = 0 };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    socklen_t size = sizeof addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &size), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

static void
test_node_unreachable(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)closed_port());
    struct cli_ctx ctx = { .spec = &spec, .node_url = url, .output = CLI_OUTPUT_JSON };
    struct api_client client;
    assert_int_equal(cli_node_client(&ctx, &client), CLI_CONTINUE);
    struct api_client_response response;
    enum err rc = api_client_get(&client, "/v1/status", &response);
    assert_int_not_equal(rc, ERR_OK);
    assert_int_equal(cli_node_fail(&ctx, rc), CLI_EXIT_UNREACHABLE);
}

static int
answer(int status, const char *body)
{
    struct cli_ctx ctx = { .spec = &spec, .node_url = CLI_NODE_DEFAULT };
    uint8_t *copy = mem_dup(body, strlen(body) + 1);
    struct api_client_response response = { .status = status,
                                            .body = copy,
                                            .body_size = strlen(body) };
    json_t *json = NULL;
    int rc = cli_node_answer(&ctx, &response, &json);
    if (rc == CLI_CONTINUE) {
        assert_non_null(json);
        json_decref(json);
    } else {
        assert_null(json);
    }
    mem_free(copy);
    return rc;
}

static void
test_node_answers(void **state)
{
    (void)state;
    assert_int_equal(answer(200, "{\"height\":3}"), CLI_CONTINUE);
    assert_int_equal(answer(400, "{\"error\":{\"code\":\"stale_nonce\",\"message\":\"nonce "
                                 "already used\"}}"),
                     CLI_EXIT_REJECTED);
    assert_int_equal(answer(404, "{\"error\":{\"code\":\"not_found\",\"message\":\"x\"}}"),
                     CLI_EXIT_REJECTED);
    assert_int_equal(answer(503, "{\"error\":{\"code\":\"too_many_connections\"}}"),
                     CLI_EXIT_UNREACHABLE);
    assert_int_equal(answer(500, "{\"error\":{\"code\":\"io\",\"message\":\"disk\"}}"),
                     CLI_EXIT_FAILURE);
    assert_int_equal(answer(200, "<html>proxy</html>"), CLI_EXIT_FAILURE);
    assert_int_equal(answer(200, ""), CLI_EXIT_FAILURE);
    assert_int_equal(answer(400, "[1,2]"), CLI_EXIT_REJECTED);
}

static void
test_exit_codes_and_hints(void **state)
{
    (void)state;
    assert_int_equal(cli_exit_code(ERR_OK), CLI_EXIT_OK);
    assert_int_equal(cli_exit_code(ERR_PASSPHRASE), CLI_EXIT_FAILURE);
    assert_non_null(cli_err_hint(ERR_PASSPHRASE));
    assert_non_null(strstr(cli_err_hint(ERR_PASSPHRASE), "--passphrase-file"));
    assert_non_null(cli_err_hint(ERR_NO_SPACE));
    struct cli_ctx ctx = { .spec = &spec };
    assert_int_equal(cli_fail(&ctx, ERR_CORRUPT, NULL, "file %s", "x"), CLI_EXIT_FAILURE);
    assert_int_equal(cli_usage_error(&ctx, "bad %d", 1), CLI_EXIT_USAGE);
}

static void
test_passphrase_sources(void **state)
{
    (void)state;
    struct cli_ctx ctx = { .spec = &spec, .passphrase_env = "LM_UNIT_PASS" };
    struct cli_passphrase p = { 0 };
    assert_int_equal(unsetenv("LM_UNIT_PASS"), 0);
    assert_int_equal(cli_passphrase_get(&ctx, CLI_PASSPHRASE_EXISTING, &p), CLI_EXIT_USAGE);
    assert_null(p.text);
    assert_int_equal(setenv("LM_UNIT_PASS", "sesame", 1), 0);
    assert_int_equal(cli_passphrase_get(&ctx, CLI_PASSPHRASE_EXISTING, &p), CLI_CONTINUE);
    assert_int_equal(p.size, 6);
    assert_string_equal(p.text, "sesame");
    cli_passphrase_release(&p);
    assert_null(p.text);
    cli_passphrase_release(&p); /* twice is fine */
    assert_int_equal(setenv("LM_UNIT_PASS", "", 1), 0);
    assert_int_equal(cli_passphrase_get(&ctx, CLI_PASSPHRASE_EXISTING, &p), CLI_CONTINUE);
    assert_int_equal(p.size, 0);
    cli_passphrase_release(&p);
    assert_int_equal(cli_passphrase_get(&ctx, CLI_PASSPHRASE_NEW, &p), CLI_EXIT_USAGE);

    /* A file: the first line only; exactly the maximum is accepted, one byte more is not. */
    char path[] = "/tmp/lm_cli_util_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char *text = mem_alloc(KEYSTORE_PASSPHRASE_SIZE_MAX + 3);
    memset(text, 'a', KEYSTORE_PASSPHRASE_SIZE_MAX);
    memcpy(text + KEYSTORE_PASSPHRASE_SIZE_MAX, "\nb", 3);
    assert_int_equal(write(fd, text, KEYSTORE_PASSPHRASE_SIZE_MAX + 2),
                     KEYSTORE_PASSPHRASE_SIZE_MAX + 2);
    ctx.passphrase_env = NULL;
    ctx.passphrase_file = path;
    assert_int_equal(cli_passphrase_get(&ctx, CLI_PASSPHRASE_NEW, &p), CLI_CONTINUE);
    assert_int_equal(p.size, KEYSTORE_PASSPHRASE_SIZE_MAX);
    cli_passphrase_release(&p);
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(pwrite(fd, "x", 1, 0), 1);
    assert_int_equal(pwrite(fd, text, KEYSTORE_PASSPHRASE_SIZE_MAX, 1),
                     KEYSTORE_PASSPHRASE_SIZE_MAX);
    assert_int_equal(cli_passphrase_get(&ctx, CLI_PASSPHRASE_EXISTING, &p), CLI_EXIT_USAGE);
    close(fd);
    unlink(path);
    mem_free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_node_url),
        cmocka_unit_test(test_node_unreachable),
        cmocka_unit_test(test_node_answers),
        cmocka_unit_test(test_exit_codes_and_hints),
        cmocka_unit_test(test_passphrase_sources),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
