/* CLI tests of `lianmeng keys`: the real binary (LM_BINARY) runs as a child process in a
 * fresh temp directory, with stdin from /dev/null (not a terminal), from a file, or from a
 * pseudo-terminal for the interactive prompt. Exit codes, stdout (text and JSON, parsed with
 * jansson) and stderr messages are checked, and the key files are checked independently:
 * mode 0600, readable with crypto/keystore and the passphrase, the printed public key signs
 * and verifies, the printed address is address_of(hash, public key). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/text.h"
#include "crypto/hash.h"
#include "crypto/keystore.h"
#include "crypto/sign.h"
#include "unit.h"

#define OUT_MAX   65536
#define ARGS_MAX  24
#define PASS      "correct horse battery staple"
#define PASS_FILE "pass.txt"

struct run {
    int status; /* exit status; 128 + signal if killed */
    char out[OUT_MAX];
    char err[OUT_MAX];
    size_t out_size;
    size_t err_size;
    char tty[OUT_MAX]; /* what the child wrote to (or echoed on) the terminal */
    size_t tty_size;
};

struct fixture {
    char dir[64];
    struct run run;
};

/* ---- process plumbing ---- */

static void
append(char *buf, size_t *size, const char *data, size_t n)
{
    if (*size + n >= OUT_MAX) {
        n = OUT_MAX - 1 - *size;
    }
    memcpy(buf + *size, data, n);
    *size += n;
    buf[*size] = '\0';
}

/* Reads what is available on fd into buf; false at EOF (or EIO of a closed pty). */
static bool
drain(int fd, char *buf, size_t *size)
{
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return true;
    }
    if (n <= 0) {
        return false;
    }
    append(buf, size, chunk, (size_t)n);
    return true;
}

/* Input for the terminal: each line is written once `after` appears on stderr. */
struct tty_script {
    const char *after[3];
    const char *line[3];
    size_t count;
};

static void
child_exec(const char *cwd, int in_fd, int out_fd, int err_fd, char **argv)
{
    if (chdir(cwd) != 0) {
        _exit(126);
    }
    dup2(in_fd, STDIN_FILENO);
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    execv(LM_BINARY, argv);
    _exit(127);
}

/* Opens a pty master; the child makes the slave its controlling terminal and stdin. */
static int
pty_open(char *slave_name, size_t size)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(master >= 0);
    assert_int_equal(fcntl(master, F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    const char *name = ptsname(master);
    assert_non_null(name);
    snprintf(slave_name, size, "%s", name);
    return master;
}

/* Feeds the tty script and collects stdout, stderr and the terminal until the child exits. */
static void
collect(struct run *r, int out_fd, int err_fd, int master, const struct tty_script *script)
{
    size_t step = 0;
    bool out_open = true;
    bool err_open = true;
    while (out_open || err_open) {
        struct pollfd fds[3] = { { out_open ? out_fd : -1, POLLIN, 0 },
                                 { err_open ? err_fd : -1, POLLIN, 0 },
                                 { master, POLLIN, 0 } };
        int n = poll(fds, master >= 0 ? 3 : 2, 20000);
        assert_true(n > 0); /* 20 s without any output: the child hangs */
        if (fds[0].revents != 0) {
            out_open = drain(out_fd, r->out, &r->out_size);
        }
        if (fds[1].revents != 0) {
            err_open = drain(err_fd, r->err, &r->err_size);
        }
        if (master >= 0 && fds[2].revents != 0 && !drain(master, r->tty, &r->tty_size)) {
            master = -1;
        }
        if (script != NULL && step < script->count && strstr(r->err, script->after[step])) {
            size_t len = strlen(script->line[step]);
            assert_int_equal(write(fds[2].fd, script->line[step], len), (ssize_t)len);
            step++;
        }
    }
}

/* Runs `lianmeng ARGS...` (NULL-terminated) in dir with stdin from stdin_path (NULL:
 * /dev/null) or, with a script, from a pseudo-terminal. */
static void
run_in(struct run *r, const char *dir, const char *stdin_path, const struct tty_script *script,
       const char *const *args)
{
    memset(r, 0, sizeof *r);
    char *argv[ARGS_MAX + 2];
    size_t argc = 0;
    argv[argc++] = mem_strdup("lianmeng");
    for (; args[argc - 1] != NULL; argc++) {
        assert_true(argc <= ARGS_MAX);
        argv[argc] = mem_strdup(args[argc - 1]);
    }
    argv[argc] = NULL;
    int out[2];
    int err[2];
    assert_int_equal(pipe(out), 0);
    assert_int_equal(pipe(err), 0);
    char slave[128];
    int master = script != NULL ? pty_open(slave, sizeof slave) : -1;
    /* The parent holds the slave open too, so the master never sees a hang-up while the
     * child starts or after it exits. */
    int slave_held = master >= 0 ? open(slave, O_RDWR | O_NOCTTY) : -1;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int in = -1;
        if (master >= 0) {
            setsid();
            in = open(slave, O_RDWR); /* first tty opened after setsid: controlling terminal */
        } else {
            in = open(stdin_path != NULL ? stdin_path : "/dev/null", O_RDONLY);
        }
        if (in < 0) {
            _exit(125);
        }
        child_exec(dir, in, out[1], err[1], argv);
    }
    close(out[1]);
    close(err[1]);
    collect(r, out[0], err[0], master, script);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (master >= 0) {
        while (drain(master, r->tty, &r->tty_size)) {
            struct pollfd p = { master, POLLIN, 0 };
            if (poll(&p, 1, 0) <= 0) {
                break;
            }
        }
        close(master);
        close(slave_held);
    }
    close(out[0]);
    close(err[0]);
    for (size_t i = 0; i < argc; i++) {
        mem_free(argv[i]);
    }
    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define RUN(f, ...) \
    run_in(&(f)->run, (f)->dir, NULL, NULL, (const char *const[]){ __VA_ARGS__, NULL })

static void
expect(const struct run *r, int status, const char *in_err)
{
    if (r->status != status || (in_err != NULL && strstr(r->err, in_err) == NULL)) {
        fprintf(stderr,
                "expected status %d and stderr containing \"%s\"\nstatus %d\nstdout:\n%s\n"
                "stderr:\n%s\n",
                status, in_err != NULL ? in_err : "", r->status, r->out, r->err);
        fail();
    }
}

static json_t *
stdout_json(const struct run *r)
{
    json_error_t jerr;
    json_t *j = json_loads(r->out, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        fprintf(stderr, "stdout is not JSON (%s):\n%s\n", jerr.text, r->out);
        fail();
    }
    return j;
}

static const char *
str_of(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (s == NULL) {
        fprintf(stderr, "no string \"%s\" in the JSON\n", key);
        fail();
    }
    return s;
}

static void
write_text(const struct fixture *f, const char *name, const char *text, mode_t mode)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void
path_in(const struct fixture *f, const char *rel, char out[256])
{
    snprintf(out, 256, "%s/%s", f->dir, rel);
}

/* ---- independent checks of a key file ---- */

/* The file decrypts with PASS to a key whose public key is pub_hex and whose signatures
 * verify under it; the printed address is address_of(hash, that key). */
static void
check_key_file(const struct fixture *f, const char *rel, const char *pub_hex,
               const char *address_hex, enum hash_alg hash)
{
    char path[256];
    path_in(f, rel, path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    struct secret_key *key = NULL;
    assert_int_equal(keystore_read(path, PASS, strlen(PASS), &key), ERR_OK);
    struct public_key pub;
    secret_key_public(key, &pub);
    char hex[2 * PUBLIC_KEY_SIZE_MAX + 1];
    hex_encode(pub.bytes, pub.size, hex);
    assert_string_equal(hex, pub_hex);

    struct address addr;
    address_of(hash, &pub, &addr);
    char addr_hex[2 * ADDRESS_SIZE + 1];
    hex_encode(addr.bytes, ADDRESS_SIZE, addr_hex);
    assert_string_equal(addr_hex, address_hex);

    static const uint8_t msg[] = "lianmeng cli test";
    struct signature sig;
    assert_int_equal(sign_message(key, msg, sizeof msg, &sig), ERR_OK);
    assert_int_equal(verify_message(&pub, msg, sizeof msg, &sig), ERR_OK);
    secret_key_free(key);
}

/* ---- fixture ---- */

static int
setup(void **state)
{
    struct fixture *f = mem_calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/lm_cli_keys_XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        mem_free(f);
        return -1;
    }
    write_text(f, PASS_FILE, PASS "\n", 0600);
    *state = f;
    return 0;
}

/* Calls fn(path) for each entry of dir other than "." and ".."; returns their number. */
static size_t
dir_each(const char *dir, void (*fn)(const char *path))
{
    size_t count = 0;
    DIR *d = opendir(dir);
    if (d == NULL) {
        return 0;
    }
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        count++;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (fn != NULL) {
            fn(p);
        }
    }
    closedir(d);
    return count;
}

static void
remove_file(const char *path)
{
    (void)unlink(path);
}

/* A file, or a key directory (which holds files only). */
static void
remove_entry(const char *path)
{
    if (unlink(path) != 0) {
        (void)dir_each(path, remove_file);
        (void)rmdir(path);
    }
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    (void)dir_each(f->dir, remove_entry);
    int rc = rmdir(f->dir);
    mem_free(f);
    return rc;
}

/* ---- tests ---- */

static void
new_list_show(struct fixture *f, const char *alg, size_t pub_hex_size)
{
    RUN(f, "keys", "new", "--name", "alice", "--alg", alg, "--kdf", "interactive",
        "--passphrase-file", PASS_FILE, "--output", "json");
    expect(&f->run, 0, NULL);
    json_t *made = stdout_json(&f->run);
    assert_string_equal(str_of(made, "algorithm"), alg);
    assert_string_equal(str_of(made, "name"), "alice");
    assert_string_equal(str_of(made, "address_hash"), "sha256");
    assert_int_equal(strlen(str_of(made, "public_key")), pub_hex_size);
    assert_int_equal(strlen(str_of(made, "address")), 2 * ADDRESS_SIZE);
    const json_t *kdf = json_object_get(made, "kdf");
    assert_int_equal(json_integer_value(json_object_get(kdf, "ops")), 2);
    assert_int_equal(json_integer_value(json_object_get(kdf, "mem_kib")), 65536);
    check_key_file(f, "keys/alice.key", str_of(made, "public_key"), str_of(made, "address"),
                   HASH_SHA256);

    /* A second key, so list has something to order. */
    RUN(f, "keys", "new", "--name", "aaron", "--alg", alg, "--kdf", "interactive",
        "--passphrase-file", PASS_FILE);
    expect(&f->run, 0, NULL);
    assert_non_null(strstr(f->run.out, "address:"));
    assert_non_null(strstr(f->run.out, alg));

    RUN(f, "keys", "list", "--output", "json");
    expect(&f->run, 0, NULL);
    json_t *list = stdout_json(&f->run);
    const json_t *keys = json_object_get(list, "keys");
    assert_int_equal(json_array_size(keys), 2);
    assert_string_equal(str_of(json_array_get(keys, 0), "name"), "aaron"); /* sorted */
    const json_t *listed = json_array_get(keys, 1);
    assert_string_equal(str_of(listed, "public_key"), str_of(made, "public_key"));
    assert_string_equal(str_of(listed, "address"), str_of(made, "address"));
    assert_string_equal(str_of(listed, "algorithm"), alg);

    RUN(f, "keys", "list");
    expect(&f->run, 0, NULL);
    assert_non_null(strstr(f->run.out, str_of(made, "address")));
    assert_non_null(strstr(f->run.out, "aaron"));

    RUN(f, "keys", "show", "alice", "--output", "json");
    expect(&f->run, 0, NULL);
    json_t *shown = stdout_json(&f->run);
    assert_string_equal(str_of(shown, "public_key"), str_of(made, "public_key"));
    assert_false(json_is_true(json_object_get(shown, "passphrase_checked")));

    RUN(f, "keys", "show", "alice", "--check", "--passphrase-file", PASS_FILE, "--output", "json");
    expect(&f->run, 0, NULL);
    json_t *checked = stdout_json(&f->run);
    assert_true(json_is_true(json_object_get(checked, "passphrase_checked")));

    RUN(f, "keys", "show", "alice", "--check", "--passphrase-file", PASS_FILE);
    expect(&f->run, 0, NULL);
    assert_non_null(strstr(f->run.out, "passphrase: ok"));
    json_decref(made);
    json_decref(list);
    json_decref(shown);
    json_decref(checked);
}

static void
test_ed25519(void **state)
{
    new_list_show(*state, "ed25519", 64);
}

static void
test_sm2(void **state)
{
    new_list_show(*state, "sm2", 130);
}

/* --hash sm3 gives the address an SM3 chain uses; list and show follow --hash. */
static void
test_hash_sm3(void **state)
{
    struct fixture *f = *state;
    RUN(f, "keys", "new", "--name", "bank-a", "--alg", "sm2", "--hash", "sm3", "--kdf",
        "interactive", "--passphrase-file", PASS_FILE, "--output", "json", "--dir", "k");
    expect(&f->run, 0, NULL);
    json_t *made = stdout_json(&f->run);
    assert_string_equal(str_of(made, "address_hash"), "sm3");
    check_key_file(f, "k/bank-a.key", str_of(made, "public_key"), str_of(made, "address"),
                   HASH_SM3);

    RUN(f, "keys", "show", "bank-a", "--dir", "k", "--output", "json");
    expect(&f->run, 0, NULL);
    json_t *sha = stdout_json(&f->run);
    assert_string_not_equal(str_of(sha, "address"), str_of(made, "address"));

    RUN(f, "keys", "list", "--dir", "k", "--hash", "sm3", "--output", "json");
    expect(&f->run, 0, NULL);
    json_t *list = stdout_json(&f->run);
    const json_t *first = json_array_get(json_object_get(list, "keys"), 0);
    assert_string_equal(str_of(first, "address"), str_of(made, "address"));

    RUN(f, "keys", "list", "--dir", "k", "--hash", "md5");
    expect(&f->run, 1, "--hash must be 'sha256' or 'sm3'");
    json_decref(made);
    json_decref(sha);
    json_decref(list);
}

static void
test_wrong_passphrase(void **state)
{
    struct fixture *f = *state;
    RUN(f, "keys", "new", "--name", "carol", "--kdf", "interactive", "--passphrase-file",
        PASS_FILE);
    expect(&f->run, 0, NULL);
    write_text(f, "wrong.txt", "not the passphrase\n", 0600);
    RUN(f, "keys", "show", "carol", "--check", "--passphrase-file", "wrong.txt");
    expect(&f->run, 4, "wrong passphrase");
    assert_non_null(strstr(f->run.err, "check the passphrase"));
    assert_int_equal(f->run.out_size, 0);

    RUN(f, "keys", "show", "carol", "--check", "--passphrase-file", "wrong.txt", "--output",
        "json");
    expect(&f->run, 4, NULL);
    json_t *j = stdout_json(&f->run);
    const json_t *error = json_object_get(j, "error");
    assert_string_equal(str_of(error, "code"), "wrong_passphrase");
    json_decref(j);

    /* The passphrase is the whole first line: a trailing space is part of it. */
    write_text(f, "space.txt", PASS " \n", 0600);
    RUN(f, "keys", "show", "carol", "--check", "--passphrase-file", "space.txt");
    expect(&f->run, 4, "wrong passphrase");
    /* CRLF line ends are accepted. */
    write_text(f, "crlf.txt", PASS "\r\n", 0600);
    RUN(f, "keys", "show", "carol", "--check", "--passphrase-file", "crlf.txt");
    expect(&f->run, 0, NULL);
}

static void
test_usage_errors(void **state)
{
    struct fixture *f = *state;
    RUN(f, "keys", "new", "--frob");
    expect(&f->run, 1, "unknown option '--frob'");
    assert_non_null(strstr(f->run.err, "run 'lianmeng keys new --help'"));
    assert_int_equal(f->run.out_size, 0);
    RUN(f, "keys", "list", "-x");
    expect(&f->run, 1, "unknown option '-x'");
    RUN(f, "keys", "new", "--name");
    expect(&f->run, 1, "option '--name' needs a value");
    RUN(f, "keys", "new", "--name", "a", "--force=yes");
    expect(&f->run, 1, "option '--force' takes no value");
    RUN(f, "keys", "new", "--name", "a", "--name", "b");
    expect(&f->run, 1, "given twice");
    RUN(f, "keys", "new", "--passphrase-file", PASS_FILE);
    expect(&f->run, 1, "--name NAME is required");
    RUN(f, "keys", "new", "--name", "../evil", "--passphrase-file", PASS_FILE);
    expect(&f->run, 1, "bad key name");
    RUN(f, "keys", "new", "--name", "a", "--alg", "rsa", "--passphrase-file", PASS_FILE);
    expect(&f->run, 1, "--alg must be 'ed25519' or 'sm2'");
    RUN(f, "keys", "new", "--name", "a", "--kdf", "fast", "--passphrase-file", PASS_FILE);
    expect(&f->run, 1, "--kdf must be");
    RUN(f, "keys", "list", "--output", "yaml");
    expect(&f->run, 1, "--output must be 'text' or 'json'");
    RUN(f, "keys", "show");
    expect(&f->run, 1, "missing argument");
    RUN(f, "keys", "show", "a", "b");
    expect(&f->run, 1, "unexpected argument 'b'");
    RUN(f, "keys", "list", "--passphrase-file", PASS_FILE); /* list takes no passphrase */
    expect(&f->run, 1, "unknown option '--passphrase-file'");
    RUN(f, "keys", "rotate");
    expect(&f->run, 1, "unknown command 'rotate'");
    RUN(f, "keys");
    expect(&f->run, 1, "missing command");
    RUN(f, "keys", "new", "--name", "a", "--passphrase-file", PASS_FILE, "--passphrase-env", "X");
    expect(&f->run, 1, "not both");
    struct stat st;
    char path[256];
    path_in(f, "keys/a.key", path);
    assert_int_not_equal(stat(path, &st), 0); /* nothing written by any of them */
}

static void
test_help(void **state)
{
    struct fixture *f = *state;
    static const char *const subs[] = { "new", "list", "show" };
    for (size_t i = 0; i < 3; i++) {
        RUN(f, "keys", subs[i], "--help");
        expect(&f->run, 0, NULL);
        assert_non_null(strstr(f->run.out, "usage: lianmeng keys"));
        assert_non_null(strstr(f->run.out, "exit codes:"));
        assert_int_equal(f->run.err_size, 0);
        RUN(f, "keys", subs[i], "-h");
        expect(&f->run, 0, NULL);
    }
    RUN(f, "keys", "new", "--help");
    assert_non_null(strstr(f->run.out, "--hash sha256|sm3"));
    assert_non_null(strstr(f->run.out, "--passphrase-env VAR"));
    assert_non_null(strstr(f->run.out, "default sha256"));
    RUN(f, "keys", "--help");
    expect(&f->run, 0, NULL);
    assert_non_null(strstr(f->run.out, "show"));
    RUN(f, "--help");
    expect(&f->run, 0, NULL);
    assert_non_null(strstr(f->run.out, "keys"));
    assert_non_null(strstr(f->run.out, "3 cannot reach the node"));
}

/* Without a passphrase source and without a terminal: exit 1, naming both options. */
static void
test_no_passphrase_source(void **state)
{
    struct fixture *f = *state;
    RUN(f, "keys", "new", "--name", "dave", "--kdf", "interactive");
    expect(&f->run, 1, "stdin is not a terminal");
    assert_non_null(strstr(f->run.err, "--passphrase-file"));
    assert_non_null(strstr(f->run.err, "--passphrase-env"));
    RUN(f, "keys", "new", "--name", "dave", "--kdf", "interactive", "--passphrase-file", PASS_FILE);
    expect(&f->run, 0, NULL);
    RUN(f, "keys", "show", "dave", "--check");
    expect(&f->run, 1, "--passphrase-env VAR");
    RUN(f, "keys", "show", "dave"); /* no --check: no passphrase needed */
    expect(&f->run, 0, NULL);
}

static void
test_passphrase_env_and_stdin(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(setenv("LM_TEST_PASS", PASS, 1), 0);
    RUN(f, "keys", "new", "--name", "erin", "--kdf", "interactive", "--passphrase-env",
        "LM_TEST_PASS", "--output", "json");
    expect(&f->run, 0, NULL);
    json_t *made = stdout_json(&f->run);
    check_key_file(f, "keys/erin.key", str_of(made, "public_key"), str_of(made, "address"),
                   HASH_SHA256);
    json_decref(made);
    RUN(f, "keys", "show", "erin", "--check", "--passphrase-env", "LM_TEST_PASS");
    expect(&f->run, 0, NULL);
    assert_int_equal(unsetenv("LM_TEST_PASS"), 0);
    RUN(f, "keys", "show", "erin", "--check", "--passphrase-env", "LM_TEST_PASS");
    expect(&f->run, 1, "LM_TEST_PASS is not set");

    /* --passphrase-file - reads the first line of stdin. */
    char pass_path[256];
    path_in(f, PASS_FILE, pass_path);
    run_in(
        &f->run, f->dir, pass_path, NULL,
        (const char *const[]){ "keys", "show", "erin", "--check", "--passphrase-file", "-", NULL });
    expect(&f->run, 0, NULL);

    /* An empty passphrase protects nothing: refused for a new key. */
    write_text(f, "empty.txt", "\n", 0600);
    RUN(f, "keys", "new", "--name", "frank", "--passphrase-file", "empty.txt");
    expect(&f->run, 1, "the passphrase is empty");
    RUN(f, "keys", "new", "--name", "frank", "--passphrase-file", "missing.txt");
    expect(&f->run, 4, "cannot open the passphrase file missing.txt");
}

static void
test_refuse_overwrite(void **state)
{
    struct fixture *f = *state;
    RUN(f, "keys", "new", "--name", "gina", "--kdf", "interactive", "--passphrase-file", PASS_FILE,
        "--output", "json");
    expect(&f->run, 0, NULL);
    json_t *first = stdout_json(&f->run);
    RUN(f, "keys", "new", "--name", "gina", "--kdf", "interactive", "--passphrase-file", PASS_FILE);
    expect(&f->run, 4, "already exists");
    assert_non_null(strstr(f->run.err, "--force"));
    RUN(f, "keys", "show", "gina", "--output", "json");
    json_t *still = stdout_json(&f->run);
    assert_string_equal(str_of(still, "public_key"), str_of(first, "public_key"));

    RUN(f, "keys", "new", "--name", "gina", "--kdf", "interactive", "--passphrase-file", PASS_FILE,
        "--force", "--output", "json");
    expect(&f->run, 0, NULL);
    json_t *replaced = stdout_json(&f->run);
    assert_string_not_equal(str_of(replaced, "public_key"), str_of(first, "public_key"));
    check_key_file(f, "keys/gina.key", str_of(replaced, "public_key"), str_of(replaced, "address"),
                   HASH_SHA256);
    /* No pending files are left next to the key. */
    RUN(f, "keys", "list", "--output", "json");
    expect(&f->run, 0, NULL);
    json_t *list = stdout_json(&f->run);
    assert_int_equal(json_array_size(json_object_get(list, "keys")), 1);
    char keys_dir[256];
    path_in(f, "keys", keys_dir);
    assert_int_equal(dir_each(keys_dir, NULL), 1);
    json_decref(first);
    json_decref(still);
    json_decref(replaced);
    json_decref(list);
}

static void
test_world_readable_refused(void **state)
{
    struct fixture *f = *state;
    RUN(f, "keys", "new", "--name", "hank", "--kdf", "interactive", "--passphrase-file", PASS_FILE);
    expect(&f->run, 0, NULL);
    RUN(f, "keys", "new", "--name", "ivy", "--kdf", "interactive", "--passphrase-file", PASS_FILE);
    expect(&f->run, 0, NULL);
    char path[256];
    path_in(f, "keys/hank.key", path);
    assert_int_equal(chmod(path, 0644), 0);

    RUN(f, "keys", "show", "hank");
    expect(&f->run, 4, "mode 0644");
    assert_non_null(strstr(f->run.err, "chmod 600 keys/hank.key"));
    RUN(f, "keys", "show", "hank", "--check", "--passphrase-file", PASS_FILE);
    expect(&f->run, 4, "open to other users");

    /* list shows the good key, reports the bad one, and exits 4. */
    RUN(f, "keys", "list", "--output", "json");
    expect(&f->run, 4, "keys/hank.key has mode 0644");
    json_t *list = stdout_json(&f->run);
    const json_t *keys = json_object_get(list, "keys");
    assert_int_equal(json_array_size(keys), 2);
    const json_t *bad = json_array_get(keys, 0);
    assert_string_equal(str_of(json_object_get(bad, "error"), "code"), "permission");
    assert_string_equal(str_of(json_array_get(keys, 1), "name"), "ivy");
    json_decref(list);

    assert_int_equal(chmod(path, 0600), 0);
    RUN(f, "keys", "show", "hank", "--check", "--passphrase-file", PASS_FILE);
    expect(&f->run, 0, NULL);
}

static void
test_missing_key_and_dir(void **state)
{
    struct fixture *f = *state;
    RUN(f, "keys", "show", "nobody");
    expect(&f->run, 4, "keys list");
    RUN(f, "keys", "list", "--dir", "nowhere");
    expect(&f->run, 4, "no key directory nowhere");
    /* The default directory is created private. */
    RUN(f, "keys", "new", "--name", "jo", "--kdf", "interactive", "--passphrase-file", PASS_FILE);
    expect(&f->run, 0, NULL);
    char path[256];
    path_in(f, "keys", path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    /* Garbage in a .key file is reported, not trusted. */
    write_text(f, "keys/junk.key", "not a key file at all\n", 0600);
    RUN(f, "keys", "show", "junk");
    expect(&f->run, 4, "keys/junk.key");
}

/* The interactive prompt: asked twice for a new key, without echo; a mismatch writes
 * nothing. */
static void
test_prompt_tty(void **state)
{
    struct fixture *f = *state;
    const struct tty_script twice = { { "new passphrase: ", "repeat the passphrase: " },
                                      { PASS "\r", PASS "\r" },
                                      2 };
    run_in(&f->run, f->dir, NULL, &twice,
           (const char *const[]){ "keys", "new", "--name", "kim", "--kdf", "interactive",
                                  "--output", "json", NULL });
    expect(&f->run, 0, NULL);
    assert_null(strstr(f->run.tty, "horse")); /* nothing echoed */
    json_t *made = stdout_json(&f->run);
    check_key_file(f, "keys/kim.key", str_of(made, "public_key"), str_of(made, "address"),
                   HASH_SHA256);
    json_decref(made);

    const struct tty_script differ = { { "new passphrase: ", "repeat the passphrase: " },
                                       { PASS "\r", "something else\r" },
                                       2 };
    run_in(&f->run, f->dir, NULL, &differ,
           (const char *const[]){ "keys", "new", "--name", "lee", "--kdf", "interactive", NULL });
    expect(&f->run, 1, "the two passphrases differ");
    char path[256];
    path_in(f, "keys/lee.key", path);
    struct stat st;
    assert_int_not_equal(stat(path, &st), 0);

    const struct tty_script once = { { "passphrase: " }, { PASS "\r" }, 1 };
    run_in(&f->run, f->dir, NULL, &once,
           (const char *const[]){ "keys", "show", "kim", "--check", NULL });
    expect(&f->run, 0, NULL);
    assert_null(strstr(f->run.tty, "horse"));

    const struct tty_script cancel = { { "passphrase: " }, { "\003" }, 1 };
    run_in(&f->run, f->dir, NULL, &cancel,
           (const char *const[]){ "keys", "show", "kim", "--check", NULL });
    expect(&f->run, 1, "cancelled");
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ed25519, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sm2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_sm3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_passphrase, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_passphrase_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_passphrase_env_and_stdin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuse_overwrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_world_readable_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_key_and_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prompt_tty, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
