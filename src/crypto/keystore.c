/* Passphrase-encrypted key files (layout and guarantees in keystore.h). */
#include "crypto/keystore.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/reader.h"

#define MAGIC_SIZE   8
#define KDF_ARGON2ID 1
#define SALT_SIZE    16
#define NONCE_SIZE   24
#define BOX_KEY_SIZE 32
#define MAC_SIZE     16
#define CT_SIZE      (MAC_SIZE + SECRET_KEY_SIZE_MAX)
/* magic, version, alg, kdf, pub_size, pub, ops, mem, salt, nonce, ct_size, ct */
#define FILE_SIZE_MAX                                                                        \
    (MAGIC_SIZE + 2 + 1 + 1 + 1 + PUBLIC_KEY_SIZE_MAX + 4 + 4 + SALT_SIZE + NONCE_SIZE + 2 + \
     CT_SIZE)

static const uint8_t magic[MAGIC_SIZE] = { 'L', 'M', 'K', 'E', 'Y', 'S', 'T', '\n' };

_Static_assert(crypto_pwhash_SALTBYTES == SALT_SIZE, "salt size");
_Static_assert(crypto_secretbox_NONCEBYTES == NONCE_SIZE, "nonce size");
_Static_assert(crypto_secretbox_KEYBYTES == BOX_KEY_SIZE, "secretbox key size");
_Static_assert(crypto_secretbox_MACBYTES == MAC_SIZE, "secretbox MAC size");
_Static_assert(FILE_SIZE_MAX <= KEYSTORE_FILE_SIZE_MAX, "file fits its maximum");
_Static_assert(KEYSTORE_OPS_MIN >= crypto_pwhash_argon2id_OPSLIMIT_MIN, "Argon2id ops minimum");
_Static_assert((size_t)KEYSTORE_MEM_KIB_MIN * 1024 >= crypto_pwhash_argon2id_MEMLIMIT_MIN,
               "Argon2id memory minimum");

/* The decoded file; nothing in it is secret. */
struct key_file {
    enum sig_alg alg;
    struct public_key pub;
    struct keystore_params params;
    uint8_t salt[SALT_SIZE];
    uint8_t nonce[NONCE_SIZE];
    uint8_t ct[CT_SIZE];
};

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;

static void
sodium_init_once(void)
{
    if (sodium_init() < 0) {
        fatal("libsodium initialisation failed");
    }
}

static uint8_t *
secret_alloc(size_t size)
{
    ASSERT(pthread_once(&sodium_once, sodium_init_once) == 0);
    uint8_t *p = sodium_malloc(size);
    if (p == NULL) {
        fatal("sodium_malloc of %zu bytes failed", size);
    }
    return p;
}

static bool
params_are_valid(const struct keystore_params *params)
{
    return params->ops >= KEYSTORE_OPS_MIN && params->ops <= KEYSTORE_OPS_MAX &&
           params->mem_kib >= KEYSTORE_MEM_KIB_MIN && params->mem_kib <= KEYSTORE_MEM_KIB_MAX;
}

struct keystore_params
keystore_params_default(void)
{
    return (struct keystore_params){ .ops = KEYSTORE_OPS_DEFAULT,
                                     .mem_kib = KEYSTORE_MEM_KIB_DEFAULT };
}

/* ---- encoding ---- */

static size_t
key_file_encode(const struct key_file *f, uint8_t out[KEYSTORE_FILE_SIZE_MAX])
{
    size_t n = 0;
    memcpy(out, magic, MAGIC_SIZE);
    n += MAGIC_SIZE;
    store_u16(out + n, KEYSTORE_VERSION);
    n += 2;
    out[n++] = (uint8_t)f->alg;
    out[n++] = KDF_ARGON2ID;
    out[n++] = f->pub.size;
    memcpy(out + n, f->pub.bytes, f->pub.size);
    n += f->pub.size;
    store_u32(out + n, f->params.ops);
    n += 4;
    store_u32(out + n, f->params.mem_kib);
    n += 4;
    memcpy(out + n, f->salt, SALT_SIZE);
    n += SALT_SIZE;
    memcpy(out + n, f->nonce, NONCE_SIZE);
    n += NONCE_SIZE;
    store_u16(out + n, CT_SIZE);
    n += 2;
    memcpy(out + n, f->ct, CT_SIZE);
    n += CT_SIZE;
    ASSERT(n <= FILE_SIZE_MAX);
    return n;
}

/* The fields after the header's fixed part; every length is checked against its one
 * allowed value before it is used. */
static enum err
key_file_decode_tail(struct reader *r, struct key_file *f)
{
    uint8_t pub_size = 0;
    uint16_t ct_size = 0;
    enum err rc = reader_u8(r, &pub_size);
    if (rc == ERR_OK && pub_size != sig_alg_public_key_size(f->alg)) {
        rc = ERR_MALFORMED;
    }
    if (rc == ERR_OK) {
        f->pub.alg = (uint8_t)f->alg;
        f->pub.size = pub_size;
        rc = reader_copy(r, f->pub.bytes, pub_size);
    }
    if (rc == ERR_OK) {
        rc = reader_u32(r, &f->params.ops);
    }
    if (rc == ERR_OK) {
        rc = reader_u32(r, &f->params.mem_kib);
    }
    if (rc == ERR_OK && !params_are_valid(&f->params)) {
        rc = ERR_MALFORMED;
    }
    if (rc == ERR_OK) {
        rc = reader_copy(r, f->salt, SALT_SIZE);
    }
    if (rc == ERR_OK) {
        rc = reader_copy(r, f->nonce, NONCE_SIZE);
    }
    if (rc == ERR_OK) {
        rc = reader_u16(r, &ct_size);
    }
    if (rc == ERR_OK && ct_size != CT_SIZE) {
        rc = ERR_MALFORMED;
    }
    if (rc == ERR_OK) {
        rc = reader_copy(r, f->ct, CT_SIZE);
    }
    if (rc == ERR_OK && !reader_is_done(r)) {
        rc = ERR_TRAILING;
    }
    return rc;
}

static enum err
key_file_decode(const uint8_t *data, size_t size, struct key_file *out)
{
    struct reader r;
    reader_init(&r, data, size);
    struct key_file f;
    memset(&f, 0, sizeof f);
    uint8_t got_magic[MAGIC_SIZE];
    uint16_t version = 0;
    uint8_t alg = 0;
    uint8_t kdf = 0;
    enum err rc = reader_copy(&r, got_magic, MAGIC_SIZE);
    if (rc == ERR_OK && memcmp(got_magic, magic, MAGIC_SIZE) != 0) {
        rc = ERR_MALFORMED;
    }
    if (rc == ERR_OK) {
        rc = reader_u16(&r, &version);
    }
    if (rc == ERR_OK && version != KEYSTORE_VERSION) {
        rc = ERR_UNSUPPORTED;
    }
    if (rc == ERR_OK) {
        rc = reader_u8(&r, &alg);
    }
    if (rc == ERR_OK && !sig_alg_is_valid(alg)) {
        rc = ERR_UNSUPPORTED;
    }
    if (rc == ERR_OK) {
        f.alg = (enum sig_alg)alg;
        rc = reader_u8(&r, &kdf);
    }
    if (rc == ERR_OK && kdf != KDF_ARGON2ID) {
        rc = ERR_UNSUPPORTED;
    }
    if (rc == ERR_OK) {
        rc = key_file_decode_tail(&r, &f);
    }
    if (rc == ERR_OK) {
        *out = f;
    }
    return rc;
}

/* ---- files ---- */

static enum err
errno_err(void)
{
    enum err rc = err_from_errno(errno);
    return rc == ERR_OK ? ERR_IO : rc;
}

static enum err
write_all(int fd, const uint8_t *data, size_t size)
{
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 ? errno_err() : ERR_IO;
        }
        done += (size_t)n;
    }
    return ERR_OK;
}

/* fsync of the directory holding path, so a rename into it is durable. */
static enum err
sync_parent_dir(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        dir[0] = '.';
        dir[1] = '\0';
    } else {
        size_t size = slash == path ? 1 : (size_t)(slash - path);
        ASSERT(size < sizeof dir); /* the caller checked the whole path fits */
        memcpy(dir, path, size);
        dir[size] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return errno_err();
    }
    enum err rc = fsync(fd) == 0 ? ERR_OK : errno_err();
    close(fd);
    return rc;
}

/* Temp file next to path (mkstemp creates it 0600), data, fsync, rename over path, fsync of
 * the directory. Before the rename any failure removes the temp file and leaves path as it
 * was. A failed fsync is not retried: the temp file is dropped and the caller gets ERR_IO. */
static enum err
write_file_atomic(const char *path, const uint8_t *data, size_t size)
{
    char tmp[PATH_MAX];
    int len = snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    if (len < 0 || (size_t)len >= sizeof tmp) {
        return ERR_INVALID_ARG;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        return errno_err();
    }
    enum err rc = fchmod(fd, S_IRUSR | S_IWUSR) == 0 ? ERR_OK : errno_err();
    if (rc == ERR_OK) {
        rc = write_all(fd, data, size);
    }
    if (rc == ERR_OK && fsync(fd) != 0) {
        rc = errno_err();
    }
    if (close(fd) != 0 && rc == ERR_OK) {
        rc = errno_err();
    }
    if (rc == ERR_OK && rename(tmp, path) != 0) {
        rc = errno_err();
    }
    if (rc != ERR_OK) {
        unlink(tmp);
        return rc;
    }
    return sync_parent_dir(path);
}

/* Opens without following into FIFOs or devices, checks the mode, reads the whole file. */
static enum err
read_key_file(const char *path, struct key_file *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        return errno_err();
    }
    uint8_t data[KEYSTORE_FILE_SIZE_MAX + 1];
    size_t size = 0;
    struct stat st;
    enum err rc = ERR_OK;
    if (fstat(fd, &st) != 0) {
        rc = errno_err();
    } else if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        rc = ERR_PERMISSION;
    } else if (st.st_size > KEYSTORE_FILE_SIZE_MAX) {
        rc = ERR_TOO_LARGE;
    }
    while (rc == ERR_OK && size < sizeof data) {
        ssize_t n = read(fd, data + size, sizeof data - size);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            rc = errno_err();
        } else if (n == 0) {
            break;
        } else {
            size += (size_t)n;
        }
    }
    close(fd);
    if (rc == ERR_OK && size > KEYSTORE_FILE_SIZE_MAX) {
        rc = ERR_TOO_LARGE; /* grew after fstat */
    }
    if (rc == ERR_OK) {
        rc = key_file_decode(data, size, out);
    }
    return rc;
}

/* ---- key derivation and the public API ---- */

static enum err
derive_box_key(const char *passphrase, size_t passphrase_size, const struct key_file *f,
               uint8_t box_key[BOX_KEY_SIZE])
{
    ASSERT(params_are_valid(&f->params));
    /* libsodium declares the passphrase non-null even when it is empty. */
    const char *pw = passphrase == NULL ? "" : passphrase;
    int r = crypto_pwhash(box_key, BOX_KEY_SIZE, pw, passphrase_size, f->salt, f->params.ops,
                          (size_t)f->params.mem_kib * 1024, crypto_pwhash_ALG_ARGON2ID13);
    return r == 0 ? ERR_OK : ERR_CRYPTO; /* only fails when it cannot allocate */
}

enum err
keystore_write(const char *path, const char *passphrase, size_t passphrase_size,
               const struct secret_key *key, const struct keystore_params *params)
{
    ASSERT(path != NULL);
    ASSERT(passphrase != NULL || passphrase_size == 0);
    ASSERT(key != NULL);
    ASSERT(params != NULL);
    if (!params_are_valid(params) || passphrase_size > KEYSTORE_PASSPHRASE_SIZE_MAX) {
        return ERR_INVALID_ARG;
    }
    struct key_file f;
    memset(&f, 0, sizeof f);
    f.alg = secret_key_alg(key);
    secret_key_public(key, &f.pub);
    f.params = *params;
    uint8_t *box_key = secret_alloc(BOX_KEY_SIZE);
    uint8_t *secret = secret_alloc(SECRET_KEY_SIZE_MAX);
    randombytes_buf(f.salt, SALT_SIZE);
    randombytes_buf(f.nonce, NONCE_SIZE);
    enum err rc = derive_box_key(passphrase, passphrase_size, &f, box_key);
    if (rc == ERR_OK) {
        secret_key_export(key, secret);
        ASSERT(crypto_secretbox_easy(f.ct, secret, SECRET_KEY_SIZE_MAX, f.nonce, box_key) == 0);
    }
    sodium_free(secret); /* wipes */
    sodium_free(box_key);
    if (rc != ERR_OK) {
        return rc;
    }
    uint8_t data[KEYSTORE_FILE_SIZE_MAX];
    size_t size = key_file_encode(&f, data);
    struct key_file check; /* encode -> decode pairing; costs nothing next to Argon2id */
    ASSERT(key_file_decode(data, size, &check) == ERR_OK);
    ASSERT(memcmp(check.ct, f.ct, CT_SIZE) == 0);
    return write_file_atomic(path, data, size);
}

enum err
keystore_read(const char *path, const char *passphrase, size_t passphrase_size,
              struct secret_key **out)
{
    ASSERT(path != NULL);
    ASSERT(passphrase != NULL || passphrase_size == 0);
    ASSERT(out != NULL);
    if (passphrase_size > KEYSTORE_PASSPHRASE_SIZE_MAX) {
        return ERR_PASSPHRASE; /* keystore_write never accepts one this long */
    }
    struct key_file f;
    enum err rc = read_key_file(path, &f);
    if (rc != ERR_OK) {
        return rc;
    }
    uint8_t *box_key = secret_alloc(BOX_KEY_SIZE);
    uint8_t *secret = secret_alloc(SECRET_KEY_SIZE_MAX);
    struct secret_key *key = NULL;
    rc = derive_box_key(passphrase, passphrase_size, &f, box_key);
    if (rc == ERR_OK && crypto_secretbox_open_easy(secret, f.ct, CT_SIZE, f.nonce, box_key) != 0) {
        rc = ERR_PASSPHRASE;
    }
    if (rc == ERR_OK && secret_key_import(f.alg, secret, SECRET_KEY_SIZE_MAX, &key) != ERR_OK) {
        rc = ERR_CORRUPT; /* authentic bytes that are no key: not written by us */
    }
    if (rc == ERR_OK) {
        struct public_key pub;
        secret_key_public(key, &pub);
        if (!public_key_equal(&pub, &f.pub)) {
            rc = ERR_CORRUPT; /* the clear public key or algorithm was changed */
        }
    }
    sodium_free(secret);
    sodium_free(box_key);
    if (rc != ERR_OK) {
        secret_key_free(key);
        return rc;
    }
    *out = key;
    return ERR_OK;
}

enum err
keystore_read_public(const char *path, struct public_key *out)
{
    ASSERT(path != NULL);
    ASSERT(out != NULL);
    struct key_file f;
    enum err rc = read_key_file(path, &f);
    if (rc == ERR_OK) {
        *out = f.pub;
    }
    return rc;
}

enum err
keystore_read_params(const char *path, struct keystore_params *out)
{
    ASSERT(path != NULL);
    ASSERT(out != NULL);
    struct key_file f;
    enum err rc = read_key_file(path, &f);
    if (rc == ERR_OK) {
        *out = f.params;
    }
    return rc;
}
