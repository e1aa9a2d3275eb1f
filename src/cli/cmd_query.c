/* `lianmeng status` and `lianmeng query tx|block|account|validators`: read-only questions to
 * a node's API, printed as text (one "key: value" line per field) or, with --output json,
 * as the node's JSON answer unchanged. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "api/client.h"
#include "base/err.h"
#include "cli/cli.h"
#include "cli/cli_util.h"

#define QUERY_PATH_MAX 256

static bool
is_hex(const char *text, size_t size)
{
    if (strlen(text) != size) {
        return false;
    }
    for (size_t i = 0; i < size; i++) {
        char c = text[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}

static bool
is_decimal(const char *text)
{
    size_t size = strlen(text);
    if (size == 0 || size > 20) {
        return false;
    }
    for (size_t i = 0; i < size; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return false;
        }
    }
    return true;
}

/* One "key: value" line per field; objects and arrays as compact JSON. */
static void
print_text(json_t *value, const char *prefix)
{
    const char *key = NULL;
    json_t *v = NULL;
    json_object_foreach(value, key, v)
    {
        if (json_is_string(v)) {
            printf("%s%s: %s\n", prefix, key, json_string_value(v));
        } else {
            printf("%s%s: ", prefix, key);
            (void)json_dumpf(v, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
            putchar('\n');
        }
    }
}

/* GETs path and prints the answer; the exit status. */
static int
get_and_print(const struct cli_ctx *ctx, const char *path)
{
    struct api_client client;
    int rc = cli_node_client(ctx, &client);
    if (rc != CLI_CONTINUE) {
        return rc;
    }
    struct api_client_response response;
    enum err e = api_client_get(&client, path, &response);
    if (e != ERR_OK) {
        return cli_node_fail(ctx, e);
    }
    json_t *answer = NULL;
    rc = cli_node_answer(ctx, &response, &answer);
    api_client_response_release(&response);
    if (rc != CLI_CONTINUE) {
        return rc;
    }
    if (ctx->output == CLI_OUTPUT_JSON) {
        rc = cli_json_print(answer);
    } else {
        print_text(answer, "");
        json_decref(answer);
        rc = CLI_EXIT_OK;
    }
    int finish = cli_finish(ctx);
    return rc == CLI_EXIT_OK ? finish : rc;
}

int
cli_cmd_status(int argc, char **argv)
{
    const struct cli_spec spec = {
        .command = "status",
        .usage = "[--node URL] [--output text|json]",
        .description = "Prints the node's chain, latest final block, epoch, round, peers, mempool\n"
                       "and sync state (GET /v1/status).\n",
        .examples = "  lianmeng status --node 127.0.0.1:8080\n",
        .common = CLI_COMMON_NODE | CLI_COMMON_OUTPUT,
    };
    struct cli_ctx ctx;
    int rc = cli_parse(&spec, argc, argv, &ctx);
    if (rc != CLI_CONTINUE) {
        return rc;
    }
    return get_and_print(&ctx, "/v1/status");
}

static void
query_usage(FILE *out)
{
    fprintf(out, "usage: lianmeng query tx HASH | block HEIGHT|ID | account ADDRESS | notary HASH"
                 " | validators [--epoch N]\n"
                 "                      [--node URL] [--output text|json]\n\n"
                 "Asks a node about one object of the chain:\n"
                 "  tx HASH           pending, final (block, receipt, inclusion proof) or unknown\n"
                 "  block HEIGHT|ID   a final block by height or by id (64 hex digits)\n"
                 "  account ADDRESS   nonce and keys with a state proof (40 hex digits)\n"
                 "  notary HASH       the anchors of a document hash with their proof bundles\n"
                 "  validators        the validator set in force (--epoch N: only that epoch)\n"
                 "'lianmeng query KIND --help' describes one.\n" CLI_EXIT_CODES_TEXT);
}

static int
query_one(const char *kind, int argc, char **argv)
{
    const char *epoch = NULL;
    const struct cli_option epoch_option[] = {
        { "epoch", "N", "only the set of epoch N (past epochs are kept)", &epoch, NULL },
    };
    bool validators = strcmp(kind, "validators") == 0;
    char command[32];
    snprintf(command, sizeof command, "query %s", kind);
    const struct cli_spec spec = {
        .command = command,
        .usage = validators ? "[--epoch N] [OPTIONS]" : "ARG [OPTIONS]",
        .description = "Prints the node's answer for one object (see 'lianmeng query --help').\n",
        .options = validators ? epoch_option : NULL,
        .option_count = validators ? 1 : 0,
        .common = CLI_COMMON_NODE | CLI_COMMON_OUTPUT,
        .positional_min = validators ? 0 : 1,
        .positional_max = validators ? 0 : 1,
    };
    struct cli_ctx ctx;
    int rc = cli_parse(&spec, argc, argv, &ctx);
    if (rc != CLI_CONTINUE) {
        return rc;
    }
    char path[QUERY_PATH_MAX];
    const char *arg = validators ? NULL : ctx.positional[0];
    if (strcmp(kind, "tx") == 0) {
        if (!is_hex(arg, 64)) {
            return cli_usage_error(&ctx, "a tx hash is 64 hex digits, not '%s'", arg);
        }
        snprintf(path, sizeof path, "/v1/txs/%s", arg);
    } else if (strcmp(kind, "block") == 0) {
        if (is_decimal(arg)) {
            snprintf(path, sizeof path, "/v1/blocks/%s", arg);
        } else if (is_hex(arg, 64)) {
            snprintf(path, sizeof path, "/v1/blocks/by-id/%s", arg);
        } else {
            return cli_usage_error(&ctx, "a block is a height or a 64-hex-digit id, not '%s'", arg);
        }
    } else if (strcmp(kind, "notary") == 0) {
        if (!is_hex(arg, 64)) {
            return cli_usage_error(&ctx, "a document hash is 64 hex digits, not '%s'", arg);
        }
        snprintf(path, sizeof path, "/v1/notary/%s", arg);
    } else if (strcmp(kind, "account") == 0) {
        if (!is_hex(arg, 40)) {
            return cli_usage_error(&ctx, "an address is 40 hex digits, not '%s'", arg);
        }
        snprintf(path, sizeof path, "/v1/accounts/%s", arg);
    } else {
        if (epoch != NULL && !is_decimal(epoch)) {
            return cli_usage_error(&ctx, "--epoch takes a number, not '%s'", epoch);
        }
        snprintf(path, sizeof path, "/v1/validators%s%s", epoch != NULL ? "?epoch=" : "",
                 epoch != NULL ? epoch : "");
    }
    return get_and_print(&ctx, path);
}

int
cli_cmd_query(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "lianmeng query: missing kind (tx, block, account, notary or validators)\n"
                        "run 'lianmeng query --help' for the usage\n");
        return CLI_EXIT_USAGE;
    }
    const char *kind = argv[1];
    if (strcmp(kind, "--help") == 0 || strcmp(kind, "-h") == 0 || strcmp(kind, "help") == 0) {
        query_usage(stdout);
        return CLI_EXIT_OK;
    }
    static const char *const kinds[] = { "tx", "block", "account", "notary", "validators" };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(kind, kinds[i]) == 0) {
            return query_one(kinds[i], argc - 1, argv + 1);
        }
    }
    fprintf(stderr,
            "lianmeng query: unknown kind '%s' (tx, block, account, notary or validators)\n"
            "run 'lianmeng query --help' for the usage\n",
            kind);
    return CLI_EXIT_USAGE;
}
