/* cli/cli_util.h - the toolkit every `lianmeng` command uses: option parsing with generated
 * --help, the common options (--node, --output, passphrase sources), passphrase acquisition,
 * JSON output, and error reporting that tells the user what to do.
 *
 * Conventions of every command:
 *   - usage and help text go to stdout (`--help`, exit 0); results go to stdout as text or,
 *     with --output json, as one JSON value; diagnostics go to stderr, one line each;
 *   - a wrong command line prints one line plus "run 'lianmeng CMD --help'" and exits 1;
 *   - a failure prints "lianmeng CMD: what: why; what to do" and exits with cli_exit_code()
 *     (4) or, for the node, 2 (rejected) or 3 (unreachable); with --output json it also
 *     prints {"error":{"code","message"}} on stdout.
 * Functions returning int return CLI_CONTINUE when the command goes on, otherwise the exit
 * status after the message was printed.
 * Threads: single-threaded (getopt_long state). Ownership: option values borrow argv. */
#ifndef LM_CLI_CLI_UTIL_H
#define LM_CLI_CLI_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "api/client.h"
#include "base/err.h"

#define CLI_CONTINUE          (-1)
#define CLI_NODE_DEFAULT      "http://127.0.0.1:8080"
#define CLI_OPTIONS_MAX       16 /* command-specific options per command */
#define CLI_POSITIONAL_MAX    8
#define CLI_PASSPHRASE_PROMPT "passphrase: "

#define CLI_EXIT_CODES_TEXT                                                                 \
    "exit codes: 0 ok, 1 usage error, 2 rejected by the chain, 3 cannot reach the node, 4 " \
    "other failure\n"

enum cli_output {
    CLI_OUTPUT_TEXT,
    CLI_OUTPUT_JSON,
};

/* Common options a command accepts (bit set in cli_spec.common). */
enum cli_common {
    CLI_COMMON_NODE = 1u << 0,       /* --node URL */
    CLI_COMMON_OUTPUT = 1u << 1,     /* --output text|json */
    CLI_COMMON_PASSPHRASE = 1u << 2, /* --passphrase-file FILE, --passphrase-env VAR */
};

/* One command-specific long option: a value (arg_name set, out_text receives it, borrowed
 * from argv) or a flag (arg_name NULL, out_flag set to true). Giving one twice is an error. */
struct cli_option {
    const char *name; /* "name" for --name */
    const char *arg_name;
    const char *help; /* one line */
    const char **out_text;
    bool *out_flag;
};

struct cli_spec {
    const char *command;     /* "keys new" */
    const char *usage;       /* after "lianmeng keys new ": "--name NAME [OPTIONS]" */
    const char *description; /* text after the usage line, ends with '\n' */
    const char *examples;    /* NULL or lines ending with '\n' */
    const struct cli_option *options;
    size_t option_count;
    unsigned common; /* enum cli_common bits */
    size_t positional_min;
    size_t positional_max; /* <= CLI_POSITIONAL_MAX */
};

struct cli_ctx {
    const struct cli_spec *spec;
    const char *node_url; /* CLI_NODE_DEFAULT unless --node */
    enum cli_output output;
    const char *passphrase_file; /* NULL unless given */
    const char *passphrase_env;
    size_t positional_count;
    const char *positional[CLI_POSITIONAL_MAX];
};

/* A passphrase in memory that is wiped on release. */
struct cli_passphrase {
    char *text; /* NUL-terminated; may contain no NUL before size */
    size_t size;
};

enum cli_passphrase_mode {
    CLI_PASSPHRASE_EXISTING, /* to open a key: asked once, may be empty */
    CLI_PASSPHRASE_NEW,      /* to protect a new key: asked twice, must not be empty */
};

/* ---- parsing and help ---- */

/* Parses argv (argv[0] is the command's last word) with getopt_long. Returns CLI_CONTINUE
 * with *out_ctx filled, CLI_EXIT_OK after printing the help (-h, --help) to stdout, or
 * CLI_EXIT_USAGE after printing the problem to stderr. */
int cli_parse(const struct cli_spec *spec, int argc, char **argv, struct cli_ctx *out_ctx);
void cli_print_help(const struct cli_spec *spec, FILE *out);

/* Prints "lianmeng CMD: <message>" and "run 'lianmeng CMD --help' ..." to stderr; returns
 * CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- failures ---- */

/* Exit status for a failure that is not the node's answer: 0 for ERR_OK, else 4. */
int cli_exit_code(enum err rc);
/* What the user can do about rc in general ("check the passphrase ..."); NULL if nothing
 * useful is known. Commands pass a sharper hint when they know the context. */
const char *cli_err_hint(enum err rc);
/* Prints "lianmeng CMD: <message>: <err_str(rc)>; <hint or cli_err_hint(rc)>" to stderr,
 * and in JSON mode {"error":{"code":err_name(rc),"message":...}} to stdout. Returns
 * cli_exit_code(rc). */
int cli_fail(const struct cli_ctx *ctx, enum err rc, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- output ---- */

/* Prints value as indented JSON (keys in insertion order) and a newline to stdout, then
 * releases it (steals the reference). Returns CLI_EXIT_OK, or 4 if stdout fails. */
int cli_json_print(json_t *value);
/* Flushes stdout; a failed write (full disk, closed pipe) is reported and gives 4. */
int cli_finish(const struct cli_ctx *ctx);

/* ---- passphrases ---- */

/* Gets the passphrase from --passphrase-file (first line; "-" reads stdin), from the
 * environment variable named by --passphrase-env, or from a prompt without echo when stdin
 * is a terminal; never from a command-line argument. Returns CLI_CONTINUE with *out filled
 * (release with cli_passphrase_release), or the exit status after printing why not (1 for
 * no source, an unset variable, one that is too long, an empty new passphrase or a mismatch;
 * 4 for I/O). */
int cli_passphrase_get(const struct cli_ctx *ctx, enum cli_passphrase_mode mode,
                       struct cli_passphrase *out);
/* Wipes and frees; accepts a zeroed struct. */
void cli_passphrase_release(struct cli_passphrase *passphrase);

/* ---- the node ---- */

/* Turns --node ("http://HOST:PORT", optional trailing '/', or "HOST:PORT") into a client.
 * Returns CLI_CONTINUE or CLI_EXIT_USAGE after printing what is wrong with the URL. */
int cli_node_client(const struct cli_ctx *ctx, struct api_client *out);
/* Reports a transport failure of api_client_do (ERR_IO, ERR_TIMEOUT, ...): "cannot reach
 * the node at URL"; returns CLI_EXIT_UNREACHABLE (3). */
int cli_node_fail(const struct cli_ctx *ctx, enum err rc);
/* Checks an answer: 2xx with a JSON body gives CLI_CONTINUE and *out_json (caller owns it);
 * an API error {"error":{"code","message"}} is printed and gives 2 for a 4xx (the chain or
 * node refused the request), 3 for 503 (node busy) and 4 for anything else, as does a body
 * that is not JSON. */
int cli_node_answer(const struct cli_ctx *ctx, const struct api_client_response *response,
                    json_t **out_json);

#endif
