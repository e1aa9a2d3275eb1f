/* Key files: one secret key encrypted under a passphrase.
 *
 * Argon2id (libsodium crypto_pwhash) turns the passphrase and a random salt into a 32-byte
 * key; crypto_secretbox_easy (XSalsa20-Poly1305) encrypts the 32 secret bytes of
 * secret_key_export with a random nonce. The Argon2id limits are stored in the file, so a
 * file written with small limits (tests, devnets) reads back anywhere, and reading bounds them
 * so a hostile file cannot ask for unbounded memory or time.
 *
 * File layout (version 1; integers little-endian; exactly this size, nothing after it):
 *   magic     8   "LMKEYST\n"
 *   version   u16 1
 *   sig_alg   u8  enum sig_alg
 *   kdf       u8  1 = Argon2id v1.3
 *   pub_size  u8  == sig_alg_public_key_size(sig_alg)
 *   pub       pub_size bytes, in clear (for `keys list`)
 *   ops       u32 Argon2id passes, KEYSTORE_OPS_MIN..KEYSTORE_OPS_MAX
 *   mem_kib   u32 Argon2id memory in KiB, KEYSTORE_MEM_KIB_MIN..KEYSTORE_MEM_KIB_MAX
 *   salt      16
 *   nonce     24
 *   ct_size   u16 == 16 + 32
 *   ct        secretbox(secret bytes)
 * The header is not covered by the MAC; it does not need to be: a changed KDF field, salt or
 * nonce makes the MAC fail, and a changed algorithm or public key is caught because reading
 * derives the public key from the decrypted secret and compares (ERR_CORRUPT).
 *
 * Files are written atomically (temp file in the same directory, fsync, rename, fsync of the
 * directory) with mode 0600; reading refuses a file any group or other bit is set on.
 * Secret bytes exist only in sodium_malloc'd memory and are wiped before it is freed.
 * Threads: no shared state; safe to call from any thread. */
#ifndef LM_CRYPTO_KEYSTORE_H
#define LM_CRYPTO_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "crypto/sign.h"

#define KEYSTORE_VERSION             1
#define KEYSTORE_FILE_SIZE_MAX       256
#define KEYSTORE_PASSPHRASE_SIZE_MAX 1024

/* Argon2id bounds accepted when writing and reading. */
#define KEYSTORE_OPS_MIN     1
#define KEYSTORE_OPS_MAX     16
#define KEYSTORE_MEM_KIB_MIN 8               /* Argon2's minimum */
#define KEYSTORE_MEM_KIB_MAX (1024u * 1024u) /* 1 GiB, libsodium's "sensitive" level */

/* libsodium's "moderate" level: 3 passes over 256 MiB, about a second on one core. */
#define KEYSTORE_OPS_DEFAULT     3
#define KEYSTORE_MEM_KIB_DEFAULT (256u * 1024u)

struct keystore_params {
    uint32_t ops;     /* Argon2id passes */
    uint32_t mem_kib; /* Argon2id memory, KiB */
};

/* The default parameters above. */
struct keystore_params keystore_params_default(void);

/* Encrypts `key` under the passphrase and atomically creates or replaces the file at `path`
 * (mode 0600). On failure an existing file at `path` is unchanged and no temp file is left.
 * ERR_INVALID_ARG for params out of bounds or a passphrase over KEYSTORE_PASSPHRASE_SIZE_MAX;
 * ERR_IO (or ERR_NO_SPACE, ERR_PERMISSION) if the file system refuses; ERR_CRYPTO if Argon2id
 * cannot get its memory. The passphrase may be empty. */
MUST_USE enum err keystore_write(const char *path, const char *passphrase, size_t passphrase_size,
                                 const struct secret_key *key,
                                 const struct keystore_params *params);

/* Reads and decrypts the key at `path`. ERR_PERMISSION if the file is readable or writable by
 * group or others (or is not a regular file), ERR_NOT_FOUND if it does not exist,
 * ERR_MALFORMED/ERR_TRUNCATED/ERR_TRAILING/ERR_TOO_LARGE/ERR_UNSUPPORTED for a file that is
 * not a version 1 key file, ERR_PASSPHRASE if the passphrase is wrong (or the encrypted part
 * or its KDF fields are damaged), ERR_CORRUPT if it decrypts to a key whose public key differs
 * from the one in the file. On success the caller owns *out (secret_key_free). */
MUST_USE enum err keystore_read(const char *path, const char *passphrase, size_t passphrase_size,
                                struct secret_key **out);

/* The public key in clear, without the passphrase (for `keys list`). Same file checks and
 * errors as keystore_read except the passphrase ones; the public key is not authenticated
 * until keystore_read decrypts the file. */
MUST_USE enum err keystore_read_public(const char *path, struct public_key *out);

/* The Argon2id parameters the file was written with (same checks as keystore_read_public). */
MUST_USE enum err keystore_read_params(const char *path, struct keystore_params *out);

#endif
