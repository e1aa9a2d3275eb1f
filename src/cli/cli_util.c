/* The shared toolkit of the `lianmeng` commands (contracts in cli_util.h). */
#include "cli/cli_util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/mem.h"
#include "cli/cli.h"
#include "crypto/keystore.h"

/* getopt_long values: command options are OPT_BASE + index; the common ones below. */
enum {
    OPT_HELP = 'h',
    OPT_NODE = 1000,
    OPT_OUTPUT,
    OPT_PASSPHRASE_FILE,
    OPT_PASSPHRASE_ENV,
    OPT_BASE = 2000,
};

#define LONG_OPTIONS_MAX (CLI_OPTIONS_MAX + 5) /* + node, output, 2 passphrase, help; + end */
#define MESSAGE_MAX      1024

/* ---- parsing and help ---- */

static void
print_option(FILE *out, const char *name, const char *arg_name, const char *help)
{
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", name, arg_name != NULL ? " " : "",
             arg_name != NULL ? arg_name : "");
    fprintf(out, "  %-28s %s\n", left, help);
}

void
cli_print_help(const struct cli_spec *spec, FILE *out)
{
    ASSERT(spec != NULL);
    fprintf(out, "usage: lianmeng %s %s\n\n%s", spec->command, spec->usage, spec->description);
    fprintf(out, "\noptions:\n");
    for (size_t i = 0; i < spec->option_count; i++) {
        const struct cli_option *o = &spec->options[i];
        print_option(out, o->name, o->arg_name, o->help);
    }
    if ((spec->common & CLI_COMMON_NODE) != 0) {
        print_option(out, "node", "URL", "the node's API (default " CLI_NODE_DEFAULT ")");
    }
    if ((spec->common & CLI_COMMON_OUTPUT) != 0) {
        print_option(out, "output", "text|json", "print text (default) or one JSON value");
    }
    if ((spec->common & CLI_COMMON_PASSPHRASE) != 0) {
        print_option(out, "passphrase-file", "FILE",
                     "read the passphrase from the first line of FILE ('-': stdin)");
        print_option(out, "passphrase-env", "VAR",
                     "read the passphrase from the environment variable VAR");
    }
    print_option(out, "help", NULL, "print this help and exit (also -h)");
    if ((spec->common & CLI_COMMON_PASSPHRASE) != 0) {
        fprintf(out, "\nWithout --passphrase-file or --passphrase-env the passphrase is asked "
                     "on the terminal,\nwithout echo. It is never taken from a plain "
                     "command-line argument.\n");
    }
    if (spec->examples != NULL) {
        fprintf(out, "\nexamples:\n%s", spec->examples);
    }
    fprintf(out, "\n" CLI_EXIT_CODES_TEXT);
}

int
cli_usage_error(const struct cli_ctx *ctx, const char *fmt, ...)
{
    ASSERT(ctx != NULL && ctx->spec != NULL);
    char message[MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    fprintf(stderr, "lianmeng %s: %s\nrun 'lianmeng %s --help' for the usage\n", ctx->spec->command,
            message, ctx->spec->command);
    return CLI_EXIT_USAGE;
}

static size_t
build_long_options(const struct cli_spec *spec, struct option *out)
{
    size_t n = 0;
    for (size_t i = 0; i < spec->option_count; i++) {
        const struct cli_option *o = &spec->options[i];
        ASSERT((o->arg_name != NULL) == (o->out_text != NULL));
        ASSERT((o->arg_name == NULL) == (o->out_flag != NULL));
        out[n++] = (struct option){ o->name, o->arg_name != NULL ? required_argument : no_argument,
                                    NULL, OPT_BASE + (int)i };
    }
    if ((spec->common & CLI_COMMON_NODE) != 0) {
        out[n++] = (struct option){ "node", required_argument, NULL, OPT_NODE };
    }
    if ((spec->common & CLI_COMMON_OUTPUT) != 0) {
        out[n++] = (struct option){ "output", required_argument, NULL, OPT_OUTPUT };
    }
    if ((spec->common & CLI_COMMON_PASSPHRASE) != 0) {
        out[n++] =
            (struct option){ "passphrase-file", required_argument, NULL, OPT_PASSPHRASE_FILE };
        out[n++] = (struct option){ "passphrase-env", required_argument, NULL, OPT_PASSPHRASE_ENV };
    }
    out[n++] = (struct option){ "help", no_argument, NULL, OPT_HELP };
    out[n] = (struct option){ NULL, 0, NULL, 0 };
    ASSERT(n < LONG_OPTIONS_MAX);
    return n;
}

/* Stores a value once; a second --x is a mistake worth telling (which one would win?). */
static int
set_once(struct cli_ctx *ctx, const char **slot, bool *seen, const char *name, const char *value)
{
    if (*seen) {
        return cli_usage_error(ctx, "option '--%s' is given twice", name);
    }
    *seen = true;
    *slot = value;
    return CLI_CONTINUE;
}

/* One option getopt_long accepted; returns CLI_CONTINUE or an exit status. */
static int
take_option(struct cli_ctx *ctx, int opt, bool seen[LONG_OPTIONS_MAX])
{
    const struct cli_spec *spec = ctx->spec;
    const char *output = NULL;
    int rc = CLI_CONTINUE;
    if (opt >= OPT_BASE && (size_t)(opt - OPT_BASE) < spec->option_count) {
        size_t i = (size_t)(opt - OPT_BASE);
        const struct cli_option *o = &spec->options[i];
        if (o->out_flag != NULL) {
            *o->out_flag = true;
            return CLI_CONTINUE;
        }
        return set_once(ctx, o->out_text, &seen[i], o->name, optarg);
    }
    size_t common = spec->option_count;
    switch (opt) {
    case OPT_NODE:
        return set_once(ctx, &ctx->node_url, &seen[common], "node", optarg);
    case OPT_OUTPUT:
        rc = set_once(ctx, &output, &seen[common + 1], "output", optarg);
        if (rc != CLI_CONTINUE || output == NULL) {
            return rc;
        }
        if (strcmp(output, "json") == 0) {
            ctx->output = CLI_OUTPUT_JSON;
        } else if (strcmp(output, "text") != 0) {
            rc = cli_usage_error(ctx, "--output must be 'text' or 'json', not '%s'", output);
        }
        return rc;
    case OPT_PASSPHRASE_FILE:
        return set_once(ctx, &ctx->passphrase_file, &seen[common + 2], "passphrase-file", optarg);
    case OPT_PASSPHRASE_ENV:
        return set_once(ctx, &ctx->passphrase_env, &seen[common + 3], "passphrase-env", optarg);
    default:
        UNREACHABLE();
    }
}

/* getopt_long reported '?' or ':'; say which argument is wrong and how. */
static int
bad_option(struct cli_ctx *ctx, int opt, char **argv)
{
    const char *arg = argv[optind - 1];
    int name_size = (int)strcspn(arg, "="); /* "--force=yes" names "--force" */
    if (opt == ':') {
        return cli_usage_error(ctx, "option '%.*s' needs a value", name_size, arg);
    }
    if (optopt != 0 && strncmp(arg, "--", 2) == 0) {
        return cli_usage_error(ctx, "option '%.*s' takes no value", name_size, arg);
    }
    if (optopt != 0) {
        return cli_usage_error(ctx, "unknown option '-%c'", optopt);
    }
    return cli_usage_error(ctx, "unknown option '%s'", arg);
}

static int
take_positionals(struct cli_ctx *ctx, int argc, char **argv)
{
    const struct cli_spec *spec = ctx->spec;
    size_t count = (size_t)(argc - optind);
    if (count > spec->positional_max) {
        return cli_usage_error(ctx, "unexpected argument '%s'",
                               argv[optind + (int)spec->positional_max]);
    }
    if (count < spec->positional_min) {
        return cli_usage_error(ctx, "missing argument (usage: lianmeng %s %s)", spec->command,
                               spec->usage);
    }
    for (size_t i = 0; i < count; i++) {
        ctx->positional[i] = argv[optind + (int)i];
    }
    ctx->positional_count = count;
    return CLI_CONTINUE;
}

int
cli_parse(const struct cli_spec *spec, int argc, char **argv, struct cli_ctx *out_ctx)
{
    ASSERT(spec != NULL && out_ctx != NULL);
    ASSERT(spec->option_count <= CLI_OPTIONS_MAX);
    ASSERT(spec->positional_max <= CLI_POSITIONAL_MAX);
    ASSERT(argc >= 1);
    struct cli_ctx ctx = { .spec = spec, .node_url = CLI_NODE_DEFAULT, .output = CLI_OUTPUT_TEXT };
    struct option longopts[LONG_OPTIONS_MAX];
    bool seen[LONG_OPTIONS_MAX] = { false };
    build_long_options(spec, longopts);

    optind = 0; /* glibc: full re-initialisation, so a second parse in one process works */
    opterr = 0; /* our messages, not getopt's */
    int rc = CLI_CONTINUE;
    while (rc == CLI_CONTINUE) {
        int opt = getopt_long(argc, argv, ":h", longopts, NULL);
        if (opt == -1) {
            break;
        }
        if (opt == OPT_HELP) {
            cli_print_help(spec, stdout);
            return CLI_EXIT_OK;
        }
        if (opt == '?' || opt == ':') {
            return bad_option(&ctx, opt, argv);
        }
        rc = take_option(&ctx, opt, seen);
    }
    if (rc == CLI_CONTINUE) {
        rc = take_positionals(&ctx, argc, argv);
    }
    if (rc == CLI_CONTINUE) {
        *out_ctx = ctx;
    }
    return rc;
}

/* ---- failures ---- */

int
cli_exit_code(enum err rc)
{
    return rc == ERR_OK ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

const char *
cli_err_hint(enum err rc)
{
    switch (rc) {
    case ERR_NOT_FOUND:
        return "check the name or path";
    case ERR_EXISTS:
        return "choose another name";
    case ERR_PERMISSION:
        return "check the owner and mode of the file or directory";
    case ERR_PASSPHRASE:
        return "check the passphrase (--passphrase-file, --passphrase-env or the prompt)";
    case ERR_NO_SPACE:
        return "free some disk space and try again";
    case ERR_IO:
        return "check the path and the disk";
    case ERR_MALFORMED:
    case ERR_TRUNCATED:
    case ERR_TRAILING:
    case ERR_TOO_LARGE:
    case ERR_NONCANONICAL:
        return "the file is not in the expected format";
    case ERR_UNSUPPORTED:
        return "it was written by a newer lianmeng, or is no Lianmeng file";
    case ERR_CORRUPT:
        return "the file was changed; restore it from a backup";
    case ERR_CRYPTO:
        return "the crypto library failed (out of memory?); try again, and run "
               "'lianmeng selfcheck'";
    case ERR_TIMEOUT:
        return "the node did not answer in time; check that it runs and --node";
    case ERR_OK:
    case ERR_UTF8:
    case ERR_BAD_SIGNATURE:
    case ERR_INVALID_ARG:
    case ERR_FULL:
    case ERR_STALE_NONCE:
    case ERR_EXPIRED:
    case ERR_UNKNOWN_SENDER:
    case ERR_LIMIT:
    case ERR_CLOSED:
    case ERR_AGAIN:
    case ERR_DENIED:
    case ERR_CONFIG:
    case ERR_WRONG_CHAIN:
    case ERR_STALE:
        return NULL;
    }
    UNREACHABLE();
}

static void
print_json_error(const char *code, const char *message)
{
    json_t *error = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    if (error != NULL) {
        (void)cli_json_print(error);
    }
}

int
cli_fail(const struct cli_ctx *ctx, enum err rc, const char *hint, const char *fmt, ...)
{
    ASSERT(ctx != NULL && ctx->spec != NULL);
    ASSERT(rc != ERR_OK);
    char what[MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (hint == NULL) {
        hint = cli_err_hint(rc);
    }
    char message[2 * MESSAGE_MAX];
    snprintf(message, sizeof message, "%s: %s%s%s", what, err_str(rc), hint != NULL ? "; " : "",
             hint != NULL ? hint : "");
    fprintf(stderr, "lianmeng %s: %s\n", ctx->spec->command, message);
    if (ctx->output == CLI_OUTPUT_JSON) {
        print_json_error(err_name(rc), message);
    }
    return cli_exit_code(rc);
}

/* ---- output ---- */

int
cli_json_print(json_t *value)
{
    ASSERT(value != NULL);
    int r = json_dumpf(value, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(value);
    if (r != 0 || fputc('\n', stdout) == EOF) {
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

int
cli_finish(const struct cli_ctx *ctx)
{
    ASSERT(ctx != NULL && ctx->spec != NULL);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "lianmeng %s: cannot write the output: %s; check where stdout goes\n",
                ctx->spec->command, strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

/* ---- passphrases ---- */

#define PASSPHRASE_BUFFER_SIZE (KEYSTORE_PASSPHRASE_SIZE_MAX + 2) /* + '\n' to see overflow */

static void
passphrase_alloc(struct cli_passphrase *p)
{
    p->text = mem_calloc(1, PASSPHRASE_BUFFER_SIZE + 1);
    p->size = 0;
}

void
cli_passphrase_release(struct cli_passphrase *passphrase)
{
    if (passphrase == NULL || passphrase->text == NULL) {
        return;
    }
    explicit_bzero(passphrase->text, PASSPHRASE_BUFFER_SIZE + 1);
    mem_free(passphrase->text);
    passphrase->text = NULL;
    passphrase->size = 0;
}

/* Reads from fd until the first '\n' or end; the line (without "\n" or "\r\n") goes into p.
 * ERR_TOO_LARGE if longer than the keystore accepts. */
static enum err
read_line_fd(int fd, struct cli_passphrase *p)
{
    size_t size = 0;
    for (;;) {
        char c = 0;
        ssize_t n = read(fd, &c, 1); /* byte by byte: nothing after the line is consumed */
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return err_from_errno(errno) == ERR_OK ? ERR_IO : err_from_errno(errno);
        }
        if (n == 0 || c == '\n') {
            break;
        }
        if (size == KEYSTORE_PASSPHRASE_SIZE_MAX + 1) {
            return ERR_TOO_LARGE; /* one byte beyond the maximum allows a trailing '\r' */
        }
        p->text[size++] = c;
    }
    if (size > 0 && p->text[size - 1] == '\r') {
        size--;
    }
    if (size > KEYSTORE_PASSPHRASE_SIZE_MAX) {
        return ERR_TOO_LARGE;
    }
    p->text[size] = '\0';
    p->size = size;
    return ERR_OK;
}

static int
passphrase_from_file(const struct cli_ctx *ctx, struct cli_passphrase *p)
{
    const char *path = ctx->passphrase_file;
    bool is_stdin = strcmp(path, "-") == 0;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        enum err rc = err_from_errno(errno);
        return cli_fail(ctx, rc == ERR_OK ? ERR_IO : rc, "check --passphrase-file",
                        "cannot open the passphrase file %s", path);
    }
    enum err rc = read_line_fd(fd, p);
    if (!is_stdin) {
        close(fd);
    }
    if (rc == ERR_TOO_LARGE) {
        return cli_usage_error(ctx,
                               "the first line of %s is longer than a passphrase may be "
                               "(%d bytes)",
                               path, KEYSTORE_PASSPHRASE_SIZE_MAX);
    }
    if (rc != ERR_OK) {
        return cli_fail(ctx, rc, NULL, "cannot read the passphrase file %s", path);
    }
    return CLI_CONTINUE;
}

static int
passphrase_from_env(const struct cli_ctx *ctx, struct cli_passphrase *p)
{
    const char *value = getenv(ctx->passphrase_env);
    if (value == NULL) {
        return cli_usage_error(ctx, "--passphrase-env %s: the environment variable %s is not set",
                               ctx->passphrase_env, ctx->passphrase_env);
    }
    size_t size = strlen(value);
    if (size > KEYSTORE_PASSPHRASE_SIZE_MAX) {
        return cli_usage_error(ctx, "the passphrase in %s is longer than %d bytes",
                               ctx->passphrase_env, KEYSTORE_PASSPHRASE_SIZE_MAX);
    }
    memcpy(p->text, value, size);
    p->text[size] = '\0';
    p->size = size;
    return CLI_CONTINUE;
}

/* Non-canonical, no echo, no signals: Ctrl-C and Ctrl-D are handled here, so the terminal is
 * always restored (a signal would leave it without echo). Backspace edits. ERR_CLOSED when
 * the user cancels. */
static enum err
prompt_read(struct cli_passphrase *p)
{
    size_t size = 0;
    for (;;) {
        unsigned char c = 0;
        ssize_t n = read(STDIN_FILENO, &c, 1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0 || c == 3 || (c == 4 && size == 0)) { /* error, EOF, Ctrl-C, Ctrl-D */
            return ERR_CLOSED;
        }
        if (c == '\n' || c == '\r' || c == 4) {
            break;
        }
        if (c == 0x7f || c == '\b') {
            size = size > 0 ? size - 1 : 0;
        } else if (size < KEYSTORE_PASSPHRASE_SIZE_MAX + 1) {
            p->text[size++] = (char)c;
        }
    }
    if (size > KEYSTORE_PASSPHRASE_SIZE_MAX) {
        return ERR_TOO_LARGE;
    }
    p->text[size] = '\0';
    p->size = size;
    return ERR_OK;
}

static enum err
prompt_once(const char *prompt, struct cli_passphrase *p)
{
    struct termios saved;
    if (tcgetattr(STDIN_FILENO, &saved) != 0) {
        return ERR_IO;
    }
    struct termios quiet = saved;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG);
    quiet.c_cc[VMIN] = 1;
    quiet.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0) {
        return ERR_IO;
    }
    fprintf(stderr, "%s", prompt);
    fflush(stderr);
    enum err rc = prompt_read(p);
    (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    fprintf(stderr, "\n");
    return rc;
}

static int
passphrase_from_prompt(const struct cli_ctx *ctx, enum cli_passphrase_mode mode,
                       struct cli_passphrase *p)
{
    bool is_new = mode == CLI_PASSPHRASE_NEW;
    enum err rc = prompt_once(is_new ? "new passphrase: " : CLI_PASSPHRASE_PROMPT, p);
    if (rc == ERR_OK && is_new && p->size > 0) {
        struct cli_passphrase again;
        passphrase_alloc(&again);
        rc = prompt_once("repeat the passphrase: ", &again);
        bool same =
            rc == ERR_OK && again.size == p->size && memcmp(again.text, p->text, p->size) == 0;
        cli_passphrase_release(&again);
        if (rc == ERR_OK && !same) {
            return cli_usage_error(ctx, "the two passphrases differ; nothing was written");
        }
    }
    if (rc == ERR_CLOSED) {
        fprintf(stderr, "lianmeng %s: cancelled\n", ctx->spec->command);
        return CLI_EXIT_USAGE;
    }
    if (rc == ERR_TOO_LARGE) {
        return cli_usage_error(ctx, "a passphrase has at most %d bytes",
                               KEYSTORE_PASSPHRASE_SIZE_MAX);
    }
    if (rc != ERR_OK) {
        return cli_fail(ctx, rc, NULL, "cannot read the passphrase from the terminal");
    }
    return CLI_CONTINUE;
}

int
cli_passphrase_get(const struct cli_ctx *ctx, enum cli_passphrase_mode mode,
                   struct cli_passphrase *out)
{
    ASSERT(ctx != NULL && ctx->spec != NULL && out != NULL);
    ASSERT((ctx->spec->common & CLI_COMMON_PASSPHRASE) != 0);
    if (ctx->passphrase_file != NULL && ctx->passphrase_env != NULL) {
        return cli_usage_error(ctx, "give either --passphrase-file or --passphrase-env, not both");
    }
    struct cli_passphrase p;
    passphrase_alloc(&p);
    int rc = CLI_CONTINUE;
    if (ctx->passphrase_file != NULL) {
        rc = passphrase_from_file(ctx, &p);
    } else if (ctx->passphrase_env != NULL) {
        rc = passphrase_from_env(ctx, &p);
    } else if (isatty(STDIN_FILENO)) {
        rc = passphrase_from_prompt(ctx, mode, &p);
    } else {
        rc = cli_usage_error(ctx, "a passphrase is needed and stdin is not a terminal: give "
                                  "--passphrase-file FILE or --passphrase-env VAR");
    }
    if (rc == CLI_CONTINUE && mode == CLI_PASSPHRASE_NEW && p.size == 0) {
        rc = cli_usage_error(ctx, "the passphrase is empty; a key file needs one");
    }
    if (rc != CLI_CONTINUE) {
        cli_passphrase_release(&p);
        return rc;
    }
    *out = p;
    return CLI_CONTINUE;
}

/* ---- the node ---- */

int
cli_node_client(const struct cli_ctx *ctx, struct api_client *out)
{
    ASSERT(ctx != NULL && out != NULL);
    const char *url = ctx->node_url;
    if (strncmp(url, "https://", 8) == 0) {
        return cli_usage_error(ctx,
                               "--node %s: https is not supported; the node's API speaks "
                               "plain http (put a TLS proxy in front for remote use)",
                               url);
    }
    const char *rest = strncmp(url, "http://", 7) == 0 ? url + 7 : url;
    char address[300];
    size_t size = strlen(rest);
    if (size > 0 && rest[size - 1] == '/') {
        size--;
    }
    struct api_client client;
    if (size == 0 || size >= sizeof address || memchr(rest, '/', size) != NULL) {
        return cli_usage_error(ctx, "--node %s: expected http://HOST:PORT, e.g. " CLI_NODE_DEFAULT,
                               url);
    }
    memcpy(address, rest, size);
    address[size] = '\0';
    if (api_client_init(&client, address) != ERR_OK) {
        return cli_usage_error(ctx, "--node %s: expected http://HOST:PORT, e.g. " CLI_NODE_DEFAULT,
                               url);
    }
    *out = client;
    return CLI_CONTINUE;
}

int
cli_node_fail(const struct cli_ctx *ctx, enum err rc)
{
    ASSERT(ctx != NULL && ctx->spec != NULL);
    ASSERT(rc != ERR_OK);
    char message[MESSAGE_MAX];
    snprintf(message, sizeof message,
             "cannot reach the node at %s: %s; check that the node runs and that --node "
             "names its API address",
             ctx->node_url, err_str(rc));
    fprintf(stderr, "lianmeng %s: %s\n", ctx->spec->command, message);
    if (ctx->output == CLI_OUTPUT_JSON) {
        print_json_error("unreachable", message);
    }
    return CLI_EXIT_UNREACHABLE;
}

static int
node_error(const struct cli_ctx *ctx, int status, const char *code, const char *text)
{
    int exit_code = CLI_EXIT_FAILURE;
    const char *hint = "see the node's log";
    if (status >= 400 && status < 500) {
        exit_code = CLI_EXIT_REJECTED;
        hint = "the request was refused; fix it and send it again";
    } else if (status == 503) {
        exit_code = CLI_EXIT_UNREACHABLE;
        hint = "the node is busy; try again shortly";
    }
    char message[MESSAGE_MAX];
    snprintf(message, sizeof message, "the node answered %d %s: %s; %s", status, code, text, hint);
    fprintf(stderr, "lianmeng %s: %s\n", ctx->spec->command, message);
    if (ctx->output == CLI_OUTPUT_JSON) {
        print_json_error(code, message);
    }
    return exit_code;
}

int
cli_node_answer(const struct cli_ctx *ctx, const struct api_client_response *response,
                json_t **out_json)
{
    ASSERT(ctx != NULL && response != NULL && out_json != NULL);
    json_error_t jerr;
    json_t *body = NULL;
    if (response->body != NULL && response->body_size > 0) {
        body = json_loadb((const char *)response->body, response->body_size, JSON_REJECT_DUPLICATES,
                          &jerr);
    }
    bool ok = response->status >= 200 && response->status < 300;
    if (ok && body != NULL) {
        *out_json = body;
        return CLI_CONTINUE;
    }
    const char *code = "bad_answer";
    const char *text = "the answer is not JSON";
    const json_t *error = json_object_get(body, "error");
    if (json_is_object(error)) {
        const char *c = json_string_value(json_object_get(error, "code"));
        const char *t = json_string_value(json_object_get(error, "message"));
        code = c != NULL ? c : "error";
        text = t != NULL ? t : "(no message)";
    } else if (body != NULL) {
        text = "the answer carries no error object";
    }
    int exit_code = node_error(ctx, response->status, code, text);
    json_decref(body);
    return exit_code;
}
