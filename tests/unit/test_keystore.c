/* Unit tests of crypto/keystore on real files in a temp directory: round trips for Ed25519
 * and SM2, wrong passphrases, unsafe modes, truncated/extended/corrupted files (every byte
 * flipped), file mode 0600, atomic replacement, and a write that fails half-way (file size
 * limit) leaving the old file and no temp file behind. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"
#include "crypto/keystore.h"
#include "crypto/sign.h"
#include "unit.h"

/* Argon2id's minimum, so the many reads below stay fast; the file records them. */
static const struct keystore_params small = { .ops = 1, .mem_kib = 8 };
static const char pass[] = "correct horse battery staple";

struct fixture {
    char dir[64];
    char path[128];
};

static int
setup(void **state)
{
    struct fixture *f = mem_calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/lm_keystore_XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        mem_free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/node.key", f->dir);
    *state = f;
    return 0;
}

/* Removes the files the tests leave (the directory is flat except for one subdir). */
static int
teardown(void **state)
{
    struct fixture *f = *state;
    DIR *d = opendir(f->dir);
    if (d != NULL) {
        const struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
                continue;
            }
            char p[512];
            snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
            if (unlink(p) != 0) {
                rmdir(p);
            }
        }
        closedir(d);
    }
    rmdir(f->dir);
    mem_free(f);
    return 0;
}

static size_t
dir_entry_count(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

static size_t
read_bytes(const char *path, uint8_t *out, size_t max)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    size_t n = fread(out, 1, max, fp);
    fclose(fp);
    return n;
}

static void
write_bytes(const char *path, const uint8_t *data, size_t size)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, size), (ssize_t)size);
    close(fd);
}

static void
assert_same_key(const struct secret_key *a, const struct secret_key *b)
{
    uint8_t sa[SECRET_KEY_SIZE_MAX];
    uint8_t sb[SECRET_KEY_SIZE_MAX];
    secret_key_export(a, sa);
    secret_key_export(b, sb);
    assert_int_equal(secret_key_alg(a), secret_key_alg(b));
    assert_memory_equal(sa, sb, sizeof sa);
    memset(sa, 0, sizeof sa);
    memset(sb, 0, sizeof sb);
}

static void
test_round_trip(void **state)
{
    struct fixture *f = *state;
    const enum sig_alg algs[] = { SIG_ED25519, SIG_SM2 };
    for (size_t a = 0; a < 2; a++) {
        struct secret_key *key = NULL;
        assert_int_equal(secret_key_generate(algs[a], &key), ERR_OK);
        assert_int_equal(keystore_write(f->path, pass, strlen(pass), key, &small), ERR_OK);

        struct stat st;
        assert_int_equal(stat(f->path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0600);

        struct public_key want;
        struct public_key got;
        secret_key_public(key, &want);
        assert_int_equal(keystore_read_public(f->path, &got), ERR_OK);
        assert_true(public_key_equal(&want, &got));
        struct keystore_params params;
        assert_int_equal(keystore_read_params(f->path, &params), ERR_OK);
        assert_int_equal(params.ops, small.ops);
        assert_int_equal(params.mem_kib, small.mem_kib);

        struct secret_key *back = NULL;
        assert_int_equal(keystore_read(f->path, pass, strlen(pass), &back), ERR_OK);
        assert_same_key(key, back);
        /* The key read back signs; the original public key verifies it. */
        struct signature sig;
        const uint8_t msg[32] = { 1, 2, 3 };
        assert_int_equal(sign_message(back, msg, sizeof msg, &sig), ERR_OK);
        assert_int_equal(verify_message(&want, msg, sizeof msg, &sig), ERR_OK);
        secret_key_free(back);

        /* The secret does not appear in the file. */
        uint8_t data[KEYSTORE_FILE_SIZE_MAX + 1];
        size_t size = read_bytes(f->path, data, sizeof data);
        uint8_t secret[SECRET_KEY_SIZE_MAX];
        secret_key_export(key, secret);
        for (size_t i = 0; i + 8 <= size; i++) {
            assert_true(memcmp(data + i, secret, 8) != 0);
        }
        memset(secret, 0, sizeof secret);
        secret_key_free(key);
    }
}

static void
test_default_params(void **state)
{
    struct fixture *f = *state;
    struct keystore_params params = keystore_params_default();
    assert_int_equal(params.ops, 3);
    assert_int_equal(params.mem_kib, 256 * 1024);
    struct secret_key *key = NULL;
    struct secret_key *back = NULL;
    assert_int_equal(secret_key_generate(SIG_ED25519, &key), ERR_OK);
    assert_int_equal(keystore_write(f->path, "pw", 2, key, &params), ERR_OK);
    assert_int_equal(keystore_read(f->path, "pw", 2, &back), ERR_OK);
    assert_same_key(key, back);
    secret_key_free(back);
    secret_key_free(key);
}

static void
test_wrong_passphrase(void **state)
{
    struct fixture *f = *state;
    struct secret_key *key = NULL;
    struct secret_key *back = NULL;
    assert_int_equal(secret_key_generate(SIG_SM2, &key), ERR_OK);
    assert_int_equal(keystore_write(f->path, pass, strlen(pass), key, &small), ERR_OK);
    assert_int_equal(keystore_read(f->path, pass, strlen(pass) - 1, &back), ERR_PASSPHRASE);
    assert_int_equal(keystore_read(f->path, "Correct horse battery staple", strlen(pass), &back),
                     ERR_PASSPHRASE);
    assert_int_equal(keystore_read(f->path, "", 0, &back), ERR_PASSPHRASE);
    assert_null(back); /* out untouched on failure */

    /* An empty passphrase is allowed, and is not the same as a one-byte NUL. */
    assert_int_equal(keystore_write(f->path, "", 0, key, &small), ERR_OK);
    assert_int_equal(keystore_read(f->path, "\0", 1, &back), ERR_PASSPHRASE);
    assert_int_equal(keystore_read(f->path, NULL, 0, &back), ERR_OK);
    assert_same_key(key, back);
    secret_key_free(back);
    secret_key_free(key);
}

static void
test_bad_params(void **state)
{
    struct fixture *f = *state;
    struct secret_key *key = NULL;
    assert_int_equal(secret_key_generate(SIG_ED25519, &key), ERR_OK);
    const struct keystore_params bad[] = {
        { 0, 8 }, { 17, 8 }, { 1, 7 }, { 1, KEYSTORE_MEM_KIB_MAX + 1 }, { 1, UINT32_MAX }
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(keystore_write(f->path, pass, strlen(pass), key, &bad[i]),
                         ERR_INVALID_ARG);
    }
    static char long_pass[KEYSTORE_PASSPHRASE_SIZE_MAX + 1];
    memset(long_pass, 'a', sizeof long_pass);
    assert_int_equal(keystore_write(f->path, long_pass, sizeof long_pass, key, &small),
                     ERR_INVALID_ARG);
    assert_int_equal(keystore_write(f->path, long_pass, sizeof long_pass - 1, key, &small), ERR_OK);
    assert_int_equal(dir_entry_count(f->dir), 1);
    secret_key_free(key);
}

static void
test_unsafe_modes(void **state)
{
    struct fixture *f = *state;
    struct secret_key *key = NULL;
    struct secret_key *back = NULL;
    struct public_key pub;
    assert_int_equal(secret_key_generate(SIG_ED25519, &key), ERR_OK);
    assert_int_equal(keystore_write(f->path, pass, strlen(pass), key, &small), ERR_OK);
    const mode_t refused[] = { 0644, 0640, 0604, 0620, 0602, 0601, 0610, 0666, 0777 };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_int_equal(chmod(f->path, refused[i]), 0);
        assert_int_equal(keystore_read(f->path, pass, strlen(pass), &back), ERR_PERMISSION);
        assert_int_equal(keystore_read_public(f->path, &pub), ERR_PERMISSION);
    }
    const mode_t accepted[] = { 0600, 0400, 0700 };
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        assert_int_equal(chmod(f->path, accepted[i]), 0);
        assert_int_equal(keystore_read(f->path, pass, strlen(pass), &back), ERR_OK);
        secret_key_free(back);
        back = NULL;
    }
    /* Not a regular file: a directory and a FIFO (which must not block the reader). */
    assert_int_equal(keystore_read_public(f->dir, &pub), ERR_PERMISSION);
    char fifo[160];
    snprintf(fifo, sizeof fifo, "%s/fifo", f->dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(keystore_read_public(fifo, &pub), ERR_PERMISSION);
    unlink(fifo);
    /* Missing file. */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.key", f->dir);
    assert_int_equal(keystore_read(missing, pass, strlen(pass), &back), ERR_NOT_FOUND);
    secret_key_free(key);
}

static void
test_truncated_and_extended(void **state)
{
    struct fixture *f = *state;
    struct secret_key *key = NULL;
    struct secret_key *back = NULL;
    assert_int_equal(secret_key_generate(SIG_SM2, &key), ERR_OK);
    assert_int_equal(keystore_write(f->path, pass, strlen(pass), key, &small), ERR_OK);
    uint8_t good[KEYSTORE_FILE_SIZE_MAX + 64];
    size_t size = read_bytes(f->path, good, sizeof good);
    assert_true(size > 100 && size <= KEYSTORE_FILE_SIZE_MAX);
    for (size_t n = 0; n < size; n++) {
        write_bytes(f->path, good, n);
        enum err rc = keystore_read(f->path, pass, strlen(pass), &back);
        assert_true(rc == ERR_TRUNCATED || rc == ERR_MALFORMED);
    }
    good[size] = 0;
    write_bytes(f->path, good, size + 1);
    assert_int_equal(keystore_read(f->path, pass, strlen(pass), &back), ERR_TRAILING);
    memset(good + size, 0, sizeof good - size);
    write_bytes(f->path, good, sizeof good);
    assert_int_equal(keystore_read(f->path, pass, strlen(pass), &back), ERR_TOO_LARGE);
    write_bytes(f->path, good, size);
    assert_int_equal(keystore_read(f->path, pass, strlen(pass), &back), ERR_OK);
    secret_key_free(back);
    secret_key_free(key);
}

/* Where the parts of a key file are, for the expectations below. */
struct layout {
    size_t pub_start;
    size_t pub_size;
    size_t ct_start;
    size_t counts[4]; /* passphrase, corrupt, unsupported, malformed/other */
};

static void
check_flipped(const char *path, const uint8_t *good, size_t size, size_t i, uint8_t mask,
              struct layout *layout)
{
    uint8_t bad[KEYSTORE_FILE_SIZE_MAX];
    memcpy(bad, good, size);
    bad[i] ^= mask;
    write_bytes(path, bad, size);
    struct secret_key *back = NULL;
    enum err rc = keystore_read(path, pass, strlen(pass), &back);
    assert_int_not_equal(rc, ERR_OK);
    assert_null(back);
    if (i >= layout->ct_start) {
        assert_int_equal(rc, ERR_PASSPHRASE); /* the MAC catches it */
    }
    if (i >= layout->pub_start && i < layout->pub_start + layout->pub_size) {
        assert_int_equal(rc, ERR_CORRUPT); /* the derived public key differs */
    }
    size_t kind = 3;
    if (rc == ERR_PASSPHRASE) {
        kind = 0;
    } else if (rc == ERR_CORRUPT) {
        kind = 1;
    } else if (rc == ERR_UNSUPPORTED) {
        kind = 2;
    }
    layout->counts[kind]++;
}

/* Every byte of the file changed three ways: the right passphrase never yields a key. */
static void
test_every_byte_flipped(void **state)
{
    struct fixture *f = *state;
    const enum sig_alg algs[] = { SIG_ED25519, SIG_SM2 };
    const uint8_t masks[] = { 0x01, 0x80, 0xff };
    for (size_t a = 0; a < 2; a++) {
        struct secret_key *key = NULL;
        assert_int_equal(secret_key_generate(algs[a], &key), ERR_OK);
        assert_int_equal(keystore_write(f->path, pass, strlen(pass), key, &small), ERR_OK);
        uint8_t good[KEYSTORE_FILE_SIZE_MAX];
        size_t size = read_bytes(f->path, good, sizeof good);
        struct layout layout = { .pub_start = 8 + 2 + 1 + 1 + 1,
                                 .pub_size = sig_alg_public_key_size(algs[a]),
                                 .ct_start = size - 48 };
        for (size_t i = 0; i < size; i++) {
            for (size_t m = 0; m < sizeof masks; m++) {
                check_flipped(f->path, good, size, i, masks[m], &layout);
            }
        }
        const size_t *c = layout.counts;
        print_message("%s: %zu-byte file, %zu flips: passphrase/MAC %zu, corrupt %zu, "
                      "unsupported %zu, malformed %zu\n",
                      sig_alg_name(algs[a]), size, 3 * size, c[0], c[1], c[2], c[3]);
        assert_true(c[0] > 0 && c[1] > 0 && c[2] > 0 && c[3] > 0);
        secret_key_free(key);
    }
}

static void
test_atomic_replace(void **state)
{
    struct fixture *f = *state;
    struct secret_key *a = NULL;
    struct secret_key *b = NULL;
    struct secret_key *back = NULL;
    assert_int_equal(secret_key_generate(SIG_ED25519, &a), ERR_OK);
    assert_int_equal(secret_key_generate(SIG_SM2, &b), ERR_OK);
    assert_int_equal(keystore_write(f->path, pass, strlen(pass), a, &small), ERR_OK);
    struct stat before;
    assert_int_equal(stat(f->path, &before), 0);
    assert_int_equal(keystore_write(f->path, "other", 5, b, &small), ERR_OK);
    struct stat after;
    assert_int_equal(stat(f->path, &after), 0);
    assert_true(before.st_ino != after.st_ino); /* a new file was renamed over the old */
    assert_int_equal(after.st_mode & 07777, 0600);
    assert_int_equal(keystore_read(f->path, "other", 5, &back), ERR_OK);
    assert_same_key(b, back);
    secret_key_free(back);
    assert_int_equal(dir_entry_count(f->dir), 1); /* no temp file left */

    /* A write that fails half-way (file size limit of 16 bytes: EFBIG) leaves the old file
     * and removes its temp file. */
    struct rlimit old_limit;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
    struct sigaction ignore = { .sa_handler = SIG_IGN };
    struct sigaction old_action;
    assert_int_equal(sigaction(SIGXFSZ, &ignore, &old_action), 0);
    struct rlimit limit = { .rlim_cur = 16, .rlim_max = old_limit.rlim_max };
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &limit), 0);
    enum err rc = keystore_write(f->path, pass, strlen(pass), a, &small);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
    assert_int_equal(sigaction(SIGXFSZ, &old_action, NULL), 0);
    assert_int_equal(rc, ERR_IO);
    assert_int_equal(dir_entry_count(f->dir), 1);
    assert_int_equal(keystore_read(f->path, "other", 5, &back), ERR_OK);
    assert_same_key(b, back);
    secret_key_free(back);

    /* The target is a non-empty directory: rename fails, nothing is left behind. */
    char sub[160];
    char inner[200];
    snprintf(sub, sizeof sub, "%s/sub", f->dir);
    snprintf(inner, sizeof inner, "%s/x", sub);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_bytes(inner, (const uint8_t *)"x", 1);
    assert_int_not_equal(keystore_write(sub, pass, strlen(pass), a, &small), ERR_OK);
    assert_int_equal(dir_entry_count(f->dir), 2);
    unlink(inner);
    rmdir(sub);
    /* A missing directory. */
    char nowhere[200];
    snprintf(nowhere, sizeof nowhere, "%s/no/such/dir.key", f->dir);
    assert_int_equal(keystore_write(nowhere, pass, strlen(pass), a, &small), ERR_NOT_FOUND);
    secret_key_free(a);
    secret_key_free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_passphrase, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsafe_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_and_extended, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_byte_flipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_replace, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
