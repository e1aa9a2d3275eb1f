/* `lianmeng keys new|list|show`: account and node keys in passphrase-encrypted key files
 * (crypto/keystore.h), one file DIR/NAME.key per key, mode 0600. `list` and `show` read
 * the public key in clear, so they need no passphrase; `show --check` decrypts. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/mem.h"
#include "base/text.h"
#include "cli/cli.h"
#include "cli/cli_util.h"
#include "crypto/hash.h"
#include "crypto/keystore.h"
#include "crypto/sign.h"

#define KEYS_DIR_DEFAULT "keys"
#define KEY_SUFFIX       ".key"
#define KEY_NAME_MAX     64
#define KEYS_LIST_MAX    4096 /* files listed from one directory */

/* libsodium's "interactive" Argon2id level (crypto_pwhash_*_INTERACTIVE): 2 passes over
 * 64 MiB, for keys used by scripts, devnets and tests. */
#define KDF_INTERACTIVE_OPS     2
#define KDF_INTERACTIVE_MEM_KIB (64u * 1024u)

/* Options shared by the three subcommands; each spec lists the ones it takes. */
struct keys_opts {
    const char *name;
    const char *alg;
    const char *dir;
    const char *kdf;
    const char *hash;
    bool force;
    bool check;
};

/* The public facts of one key file, as `new`, `list` and `show` print them. */
struct key_info {
    const char *name;
    const char *path;
    struct public_key pub;
    struct address address;
    enum hash_alg hash;
    struct keystore_params params;
};

/* ---- shared ---- */

/* Names become file names: letters, digits, '.', '_', '-', not starting with '.' or '-'. */
static bool
key_name_is_valid(const char *name)
{
    size_t size = strlen(name);
    if (size == 0 || size > KEY_NAME_MAX || name[0] == '.' || name[0] == '-') {
        return false;
    }
    for (size_t i = 0; i < size; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

static int
check_name(const struct cli_ctx *ctx, const char *name)
{
    if (!key_name_is_valid(name)) {
        return cli_usage_error(ctx,
                               "bad key name '%s': use 1 to %d letters, digits, '.', '_' or "
                               "'-', not starting with '.' or '-'",
                               name, KEY_NAME_MAX);
    }
    return CLI_CONTINUE;
}

static int
key_path(const struct cli_ctx *ctx, const char *dir, const char *name, char out[PATH_MAX])
{
    int size = snprintf(out, PATH_MAX, "%s/%s" KEY_SUFFIX, dir, name);
    if (size < 0 || size >= PATH_MAX) {
        return cli_usage_error(ctx, "--dir %s: the path is too long", dir);
    }
    return CLI_CONTINUE;
}

static int
parse_hash(const struct cli_ctx *ctx, const char *text, enum hash_alg *out)
{
    if (text == NULL) {
        *out = HASH_SHA256;
        return CLI_CONTINUE;
    }
    if (!hash_alg_parse(text, out)) {
        return cli_usage_error(ctx,
                               "--hash must be 'sha256' or 'sm3' (the chain's hash), not "
                               "'%s'",
                               text);
    }
    return CLI_CONTINUE;
}

/* A key file the keystore would not read: say precisely what is wrong with it. */
static int
fail_key_file(const struct cli_ctx *ctx, enum err rc, const char *path)
{
    struct stat st;
    if (rc == ERR_PERMISSION && stat(path, &st) == 0) {
        if (!S_ISREG(st.st_mode)) {
            return cli_fail(ctx, rc, "a key file must be a regular file", "%s", path);
        }
        char hint[PATH_MAX + 128];
        snprintf(hint, sizeof hint,
                 "a key file must be private: if nobody else can have read it, run 'chmod 600 "
                 "%s', otherwise make a new key",
                 path);
        return cli_fail(ctx, rc, hint, "%s has mode %04o, open to other users", path,
                        (unsigned)(st.st_mode & 07777));
    }
    if (rc == ERR_NOT_FOUND) {
        return cli_fail(ctx, rc, "check the name and --dir; 'lianmeng keys list' shows the keys",
                        "%s", path);
    }
    return cli_fail(ctx, rc, NULL, "%s", path);
}

static void
print_info_text(const struct key_info *info)
{
    char pub_hex[2 * PUBLIC_KEY_SIZE_MAX + 1];
    char address_hex[2 * ADDRESS_SIZE + 1];
    hex_encode(info->pub.bytes, info->pub.size, pub_hex);
    hex_encode(info->address.bytes, ADDRESS_SIZE, address_hex);
    printf("name:       %s\n"
           "file:       %s\n"
           "algorithm:  %s\n"
           "public key: %s\n"
           "address:    %s (%s)\n"
           "kdf:        argon2id ops=%u mem_kib=%u\n",
           info->name, info->path, sig_alg_name((enum sig_alg)info->pub.alg), pub_hex, address_hex,
           hash_alg_name(info->hash), (unsigned)info->params.ops, (unsigned)info->params.mem_kib);
}

static json_t *
info_json(const struct key_info *info)
{
    char pub_hex[2 * PUBLIC_KEY_SIZE_MAX + 1];
    char address_hex[2 * ADDRESS_SIZE + 1];
    hex_encode(info->pub.bytes, info->pub.size, pub_hex);
    hex_encode(info->address.bytes, ADDRESS_SIZE, address_hex);
    json_t *j = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:{s:s,s:I,s:I}}", "name", info->name, "file", info->path,
        "algorithm", sig_alg_name((enum sig_alg)info->pub.alg), "public_key", pub_hex, "address",
        address_hex, "address_hash", hash_alg_name(info->hash), "kdf", "algorithm", "argon2id",
        "ops", (json_int_t)info->params.ops, "mem_kib", (json_int_t)info->params.mem_kib);
    ASSERT(j != NULL); /* only fails on invalid UTF-8; every string here is ASCII */
    return j;
}

/* Reads the public part of path into info (name, path and hash set by the caller). */
static enum err
read_info(struct key_info *info)
{
    enum err rc = keystore_read_public(info->path, &info->pub);
    if (rc == ERR_OK) {
        rc = keystore_read_params(info->path, &info->params);
    }
    if (rc == ERR_OK && public_key_check(&info->pub) != ERR_OK) {
        rc = ERR_CORRUPT; /* authentic only after decryption; a bad point means tampering */
    }
    if (rc == ERR_OK) {
        address_of(info->hash, &info->pub, &info->address);
    }
    return rc;
}

/* ---- keys new ---- */

static int
parse_new_choices(const struct cli_ctx *ctx, const struct keys_opts *o, enum sig_alg *out_alg,
                  struct keystore_params *out_params)
{
    if (o->name == NULL) {
        return cli_usage_error(ctx, "--name NAME is required (the key file is DIR/NAME.key)");
    }
    if (o->alg != NULL && !sig_alg_parse(o->alg, out_alg)) {
        return cli_usage_error(ctx, "--alg must be 'ed25519' or 'sm2', not '%s'", o->alg);
    }
    if (o->alg == NULL) {
        *out_alg = SIG_ED25519;
    }
    if (o->kdf == NULL || strcmp(o->kdf, "moderate") == 0) {
        *out_params = keystore_params_default();
    } else if (strcmp(o->kdf, "interactive") == 0) {
        *out_params = (struct keystore_params){ .ops = KDF_INTERACTIVE_OPS,
                                                .mem_kib = KDF_INTERACTIVE_MEM_KIB };
    } else {
        return cli_usage_error(ctx, "--kdf must be 'moderate' or 'interactive', not '%s'", o->kdf);
    }
    return check_name(ctx, o->name);
}

/* The key directory exists or is created private (0700); only its last component is made. */
static int
ensure_dir(const struct cli_ctx *ctx, const char *dir)
{
    if (mkdir(dir, S_IRWXU) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
            return CLI_CONTINUE;
        }
        return cli_fail(ctx, ERR_INVALID_ARG, "give a directory with --dir",
                        "%s exists and is not a directory", dir);
    }
    enum err rc = err_from_errno(errno);
    return cli_fail(ctx, rc == ERR_OK ? ERR_IO : rc,
                    rc == ERR_NOT_FOUND ? "create the parent directory first" : NULL,
                    "cannot create the key directory %s", dir);
}

static int
fail_exists(const struct cli_ctx *ctx, const char *path)
{
    return cli_fail(ctx, ERR_EXISTS,
                    "choose another --name, or pass --force to replace it (the old key is "
                    "lost unless it is backed up)",
                    "%s", path);
}

static enum err
sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return ERR_IO;
    }
    enum err rc = fsync(fd) == 0 ? ERR_OK : ERR_IO;
    close(fd);
    return rc;
}

/* Writes the key to a hidden file next to path, then moves it into place: link(2) fails if
 * path exists, so without --force a key is never replaced, even by a concurrent command. */
static int
write_key(const struct cli_ctx *ctx, const struct keys_opts *o, const char *path,
          const struct cli_passphrase *pass, const struct secret_key *key,
          const struct keystore_params *params)
{
    char pending[PATH_MAX];
    int size = snprintf(pending, sizeof pending, "%s/.%s" KEY_SUFFIX ".new.%ld", o->dir, o->name,
                        (long)getpid());
    if (size < 0 || (size_t)size >= sizeof pending) {
        return cli_usage_error(ctx, "--dir %s: the path is too long", o->dir);
    }
    enum err rc = keystore_write(pending, pass->text, pass->size, key, params);
    if (rc != ERR_OK) {
        return cli_fail(ctx, rc, NULL, "cannot write the key file in %s", o->dir);
    }
    int moved = o->force ? rename(pending, path) : link(pending, path);
    int saved_errno = errno;
    if (!o->force || moved != 0) {
        (void)unlink(pending);
    }
    if (moved != 0 && saved_errno == EEXIST) {
        return fail_exists(ctx, path);
    }
    if (moved != 0) {
        rc = err_from_errno(saved_errno);
        return cli_fail(ctx, rc == ERR_OK ? ERR_IO : rc, NULL, "cannot create %s", path);
    }
    rc = sync_dir(o->dir);
    if (rc != ERR_OK) {
        return cli_fail(ctx, rc, NULL, "cannot make %s durable (fsync of %s)", path, o->dir);
    }
    return CLI_CONTINUE;
}

static int
keys_new_run(const struct cli_ctx *ctx, const struct keys_opts *o)
{
    enum sig_alg alg = SIG_ED25519;
    struct keystore_params params;
    enum hash_alg hash = HASH_SHA256;
    char path[PATH_MAX];
    int rc = parse_new_choices(ctx, o, &alg, &params);
    if (rc == CLI_CONTINUE) {
        rc = parse_hash(ctx, o->hash, &hash);
    }
    if (rc == CLI_CONTINUE) {
        rc = key_path(ctx, o->dir, o->name, path);
    }
    struct stat st;
    if (rc == CLI_CONTINUE && !o->force && lstat(path, &st) == 0) {
        return fail_exists(ctx, path); /* before the prompt: do not ask for nothing */
    }
    if (rc == CLI_CONTINUE) {
        rc = ensure_dir(ctx, o->dir);
    }
    struct cli_passphrase pass = { 0 };
    if (rc == CLI_CONTINUE) {
        rc = cli_passphrase_get(ctx, CLI_PASSPHRASE_NEW, &pass);
    }
    struct secret_key *key = NULL;
    if (rc == CLI_CONTINUE) {
        enum err e = secret_key_generate(alg, &key);
        rc = e == ERR_OK ? CLI_CONTINUE : cli_fail(ctx, e, NULL, "cannot generate a key");
    }
    if (rc == CLI_CONTINUE) {
        rc = write_key(ctx, o, path, &pass, key, &params);
    }
    struct key_info info = { .name = o->name, .path = path, .hash = hash, .params = params };
    if (rc == CLI_CONTINUE) {
        secret_key_public(key, &info.pub);
        address_of(hash, &info.pub, &info.address);
    }
    secret_key_free(key);
    cli_passphrase_release(&pass);
    if (rc != CLI_CONTINUE) {
        return rc;
    }
    if (ctx->output == CLI_OUTPUT_JSON) {
        return cli_json_print(info_json(&info));
    }
    print_info_text(&info);
    return CLI_EXIT_OK;
}

/* ---- keys list ---- */

static int
compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Key names (file names without ".key") in dir, sorted; the caller frees each and the array. */
static enum err
collect_names(const char *dir, char ***out_names, size_t *out_count)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        enum err rc = err_from_errno(errno);
        return rc == ERR_OK ? ERR_IO : rc;
    }
    char **names = mem_calloc(KEYS_LIST_MAX, sizeof *names);
    size_t count = 0;
    enum err rc = ERR_OK;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t size = strlen(e->d_name);
        size_t suffix = sizeof KEY_SUFFIX - 1;
        if (e->d_name[0] == '.' || size <= suffix ||
            strcmp(e->d_name + size - suffix, KEY_SUFFIX) != 0) {
            continue; /* hidden files include keys being written */
        }
        if (count == KEYS_LIST_MAX) {
            rc = ERR_LIMIT;
            break;
        }
        names[count++] = mem_strndup(e->d_name, size - suffix);
    }
    closedir(d);
    qsort(names, count, sizeof *names, compare_names);
    *out_names = names;
    *out_count = count;
    return rc;
}

static void
free_names(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        mem_free(names[i]);
    }
    mem_free(names);
}

/* One listed file: a JSON entry or a text line; a bad file is reported and counted. */
static void
list_one(const struct cli_ctx *ctx, struct key_info *info, json_t *array, size_t *failures)
{
    enum err rc = read_info(info);
    if (rc != ERR_OK) {
        struct cli_ctx quiet = *ctx;
        quiet.output = CLI_OUTPUT_TEXT; /* errors go into the JSON array below instead */
        (void)fail_key_file(&quiet, rc, info->path);
        if (array != NULL) {
            json_array_append_new(array, json_pack("{s:s,s:s,s:{s:s,s:s}}", "name", info->name,
                                                   "file", info->path, "error", "code",
                                                   err_name(rc), "message", err_str(rc)));
        }
        (*failures)++;
        return;
    }
    if (array != NULL) {
        json_array_append_new(array, info_json(info));
        return;
    }
    char pub_hex[2 * PUBLIC_KEY_SIZE_MAX + 1];
    char address_hex[2 * ADDRESS_SIZE + 1];
    hex_encode(info->pub.bytes, info->pub.size, pub_hex);
    hex_encode(info->address.bytes, ADDRESS_SIZE, address_hex);
    printf("%-16s %-8s %s %s\n", info->name, sig_alg_name((enum sig_alg)info->pub.alg), address_hex,
           pub_hex);
}

static int
keys_list_run(const struct cli_ctx *ctx, const struct keys_opts *o)
{
    enum hash_alg hash = HASH_SHA256;
    int rc = parse_hash(ctx, o->hash, &hash);
    if (rc != CLI_CONTINUE) {
        return rc;
    }
    char **names = NULL;
    size_t count = 0;
    enum err e = collect_names(o->dir, &names, &count);
    if (e == ERR_NOT_FOUND) {
        return cli_fail(ctx, e, "make a key with 'lianmeng keys new', or give --dir",
                        "no key directory %s", o->dir);
    }
    if (e != ERR_OK && e != ERR_LIMIT) {
        return cli_fail(ctx, e, NULL, "cannot read the key directory %s", o->dir);
    }
    if (e == ERR_LIMIT) {
        fprintf(stderr, "lianmeng keys list: only the first %d keys of %s are listed\n",
                KEYS_LIST_MAX, o->dir);
    }
    if (count == 0) {
        fprintf(stderr, "lianmeng keys list: no key files in %s\n", o->dir);
    }
    json_t *array = ctx->output == CLI_OUTPUT_JSON ? json_array() : NULL;
    if (array == NULL && count > 0) {
        printf("%-16s %-8s %-40s %s\n", "NAME", "ALG", "ADDRESS", "PUBLIC KEY");
    }
    size_t failures = 0;
    for (size_t i = 0; i < count; i++) {
        char path[PATH_MAX];
        rc = key_path(ctx, o->dir, names[i], path);
        if (rc != CLI_CONTINUE) {
            break;
        }
        struct key_info info = { .name = names[i], .path = path, .hash = hash };
        list_one(ctx, &info, array, &failures);
    }
    if (rc == CLI_CONTINUE && array != NULL) {
        rc = cli_json_print(json_pack("{s:s,s:s,s:o}", "dir", o->dir, "address_hash",
                                      hash_alg_name(hash), "keys", array));
        array = NULL;
    }
    json_decref(array);
    free_names(names, count);
    if (rc == CLI_CONTINUE || rc == CLI_EXIT_OK) {
        rc = failures > 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
    }
    return rc;
}

/* ---- keys show ---- */

static int
check_passphrase(const struct cli_ctx *ctx, const struct key_info *info)
{
    struct cli_passphrase pass = { 0 };
    int rc = cli_passphrase_get(ctx, CLI_PASSPHRASE_EXISTING, &pass);
    if (rc != CLI_CONTINUE) {
        return rc;
    }
    struct secret_key *key = NULL;
    enum err e = keystore_read(info->path, pass.text, pass.size, &key);
    cli_passphrase_release(&pass);
    secret_key_free(key);
    if (e == ERR_PASSPHRASE) {
        return cli_fail(ctx, e,
                        "check the passphrase (--passphrase-file, --passphrase-env or the "
                        "prompt); if it is lost, the key is lost",
                        "cannot decrypt %s", info->path);
    }
    if (e != ERR_OK) {
        return fail_key_file(ctx, e, info->path);
    }
    return CLI_CONTINUE;
}

static int
keys_show_run(const struct cli_ctx *ctx, const struct keys_opts *o)
{
    const char *name = ctx->positional[0];
    enum hash_alg hash = HASH_SHA256;
    char path[PATH_MAX];
    int rc = check_name(ctx, name);
    if (rc == CLI_CONTINUE) {
        rc = parse_hash(ctx, o->hash, &hash);
    }
    if (rc == CLI_CONTINUE) {
        rc = key_path(ctx, o->dir, name, path);
    }
    if (rc != CLI_CONTINUE) {
        return rc;
    }
    struct key_info info = { .name = name, .path = path, .hash = hash };
    enum err e = read_info(&info);
    if (e != ERR_OK) {
        return fail_key_file(ctx, e, path);
    }
    if (o->check) {
        rc = check_passphrase(ctx, &info);
        if (rc != CLI_CONTINUE) {
            return rc;
        }
    }
    if (ctx->output == CLI_OUTPUT_JSON) {
        json_t *j = info_json(&info);
        json_object_set_new(j, "passphrase_checked", json_boolean(o->check));
        return cli_json_print(j);
    }
    print_info_text(&info);
    if (o->check) {
        printf("passphrase: ok\n");
    }
    return CLI_EXIT_OK;
}

/* ---- specs and dispatch ---- */

#define OPT_DIR(o)                                                                          \
    {                                                                                       \
        "dir", "DIR", "the key directory (default ./" KEYS_DIR_DEFAULT ")", &(o)->dir, NULL \
    }
#define OPT_HASH(o)                                                                             \
    {                                                                                           \
        "hash", "sha256|sm3", "the chain's hash, for the address (default sha256)", &(o)->hash, \
            NULL                                                                                \
    }

typedef int keys_run_fn(const struct cli_ctx *ctx, const struct keys_opts *o);

static int
run_spec(const struct cli_spec *spec, int argc, char **argv, struct keys_opts *o, keys_run_fn *run)
{
    struct cli_ctx ctx;
    int rc = cli_parse(spec, argc, argv, &ctx);
    if (rc != CLI_CONTINUE) {
        return rc;
    }
    if (o->dir == NULL) {
        o->dir = KEYS_DIR_DEFAULT;
    }
    rc = run(&ctx, o);
    int finish = cli_finish(&ctx);
    return rc == CLI_EXIT_OK ? finish : rc;
}

static int
keys_new(int argc, char **argv)
{
    struct keys_opts o = { 0 };
    const struct cli_option options[] = {
        { "name", "NAME", "the key's name: the file is DIR/NAME.key (required)", &o.name, NULL },
        { "alg", "ed25519|sm2", "the signature algorithm (default ed25519)", &o.alg, NULL },
        OPT_DIR(&o),
        { "kdf", "moderate|interactive", "Argon2id cost: moderate (default) or interactive", &o.kdf,
          NULL },
        OPT_HASH(&o),
        { "force", NULL, "replace an existing key file of that name", NULL, &o.force },
    };
    const struct cli_spec spec = {
        .command = "keys new",
        .usage = "--name NAME [OPTIONS]",
        .description =
            "Generates a key and writes it to DIR/NAME.key (mode 0600), encrypted under a\n"
            "passphrase with Argon2id. Prints the algorithm, the public key (hex) and the\n"
            "address. The address depends on the chain's hash: give --hash sm3 for a chain\n"
            "whose genesis names sm3. An existing key is never replaced without --force.\n"
            "--kdf moderate (3 passes over 256 MiB, about a second) suits keys people type a\n"
            "passphrase for; interactive (2 passes over 64 MiB) suits scripts and devnets.\n",
        .examples = "  lianmeng keys new --name alice\n"
                    "  lianmeng keys new --name bank-a --alg sm2 --hash sm3 "
                    "--passphrase-file pass.txt\n",
        .options = options,
        .option_count = sizeof options / sizeof options[0],
        .common = CLI_COMMON_OUTPUT | CLI_COMMON_PASSPHRASE,
    };
    return run_spec(&spec, argc, argv, &o, keys_new_run);
}

static int
keys_list(int argc, char **argv)
{
    struct keys_opts o = { 0 };
    const struct cli_option options[] = { OPT_DIR(&o), OPT_HASH(&o) };
    const struct cli_spec spec = {
        .command = "keys list",
        .usage = "[OPTIONS]",
        .description = "Lists the keys in DIR: name, algorithm, address and public key. No\n"
                       "passphrase is needed. A file that cannot be read is reported on stderr\n"
                       "and makes the exit status 4.\n",
        .examples = "  lianmeng keys list --dir /etc/lianmeng/keys --output json\n",
        .options = options,
        .option_count = sizeof options / sizeof options[0],
        .common = CLI_COMMON_OUTPUT,
    };
    return run_spec(&spec, argc, argv, &o, keys_list_run);
}

static int
keys_show(int argc, char **argv)
{
    struct keys_opts o = { 0 };
    const struct cli_option options[] = {
        OPT_DIR(&o),
        OPT_HASH(&o),
        { "check", NULL, "also decrypt the key to verify the passphrase", NULL, &o.check },
    };
    const struct cli_spec spec = {
        .command = "keys show",
        .usage = "NAME [OPTIONS]",
        .description = "Prints the public facts of DIR/NAME.key. With --check it also decrypts\n"
                       "the key with the passphrase, to make sure the passphrase is right.\n",
        .examples = "  lianmeng keys show alice\n"
                    "  lianmeng keys show alice --check --passphrase-env ALICE_PASS\n",
        .options = options,
        .option_count = sizeof options / sizeof options[0],
        .common = CLI_COMMON_OUTPUT | CLI_COMMON_PASSPHRASE,
        .positional_min = 1,
        .positional_max = 1,
    };
    return run_spec(&spec, argc, argv, &o, keys_show_run);
}

static void
keys_usage(FILE *out)
{
    fprintf(out, "usage: lianmeng keys new|list|show [OPTIONS]\n\n"
                 "Keys in passphrase-encrypted files DIR/NAME.key (default DIR ./keys).\n\n"
                 "commands:\n"
                 "  new    generate a key and write it encrypted\n"
                 "  list   list the keys in a directory (no passphrase needed)\n"
                 "  show   print one key's public facts; --check verifies the passphrase\n\n"
                 "'lianmeng keys COMMAND --help' describes a command.\n" CLI_EXIT_CODES_TEXT);
}

int
cli_cmd_keys(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "lianmeng keys: missing command (new, list or show)\n"
                        "run 'lianmeng keys --help' for the usage\n");
        return CLI_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        keys_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(sub, "new") == 0) {
        return keys_new(argc - 1, argv + 1);
    }
    if (strcmp(sub, "list") == 0) {
        return keys_list(argc - 1, argv + 1);
    }
    if (strcmp(sub, "show") == 0) {
        return keys_show(argc - 1, argv + 1);
    }
    fprintf(stderr,
            "lianmeng keys: unknown command '%s' (new, list or show)\n"
            "run 'lianmeng keys --help' for the usage\n",
            sub);
    return CLI_EXIT_USAGE;
}
