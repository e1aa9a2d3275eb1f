/* One error vocabulary for the whole project (STYLE.md 2.5).
 *
 * ERR_OK is 0; every failure is negative. A function that can fail returns enum err and is
 * MUST_USE; results go through out_ pointers written only on success. err_str() gives a
 * stable human text, err_name() the short machine code ("malformed"). Add a code only when
 * a caller will act on it differently. */
#ifndef LM_BASE_ERR_H
#define LM_BASE_ERR_H

#define MUST_USE __attribute__((warn_unused_result))

/* In a function returning enum err: returns the first error of a sequence of calls. */
#define TRY(expr)                  \
    do {                           \
        enum err try_rc_ = (expr); \
        if (try_rc_ != ERR_OK) {   \
            return try_rc_;        \
        }                          \
    } while (0)

/* X(name, value, code, text) */
#define ERR_MAP(X)                                                                     \
    X(ERR_OK, 0, "ok", "success")                                                      \
    X(ERR_MALFORMED, -1, "malformed", "malformed input")                               \
    X(ERR_TOO_LARGE, -2, "too_large", "value exceeds its maximum size")                \
    X(ERR_TRUNCATED, -3, "truncated", "input ended early")                             \
    X(ERR_TRAILING, -4, "trailing", "trailing bytes after the value")                  \
    X(ERR_NONCANONICAL, -5, "noncanonical", "non-canonical encoding")                  \
    X(ERR_UTF8, -6, "bad_utf8", "invalid UTF-8 text")                                  \
    X(ERR_BAD_SIGNATURE, -7, "bad_signature", "signature does not verify")             \
    X(ERR_NOT_FOUND, -8, "not_found", "not found")                                     \
    X(ERR_EXISTS, -9, "exists", "already exists")                                      \
    X(ERR_IO, -10, "io", "input/output error")                                         \
    X(ERR_NO_SPACE, -11, "no_space", "no space left on device")                        \
    X(ERR_CORRUPT, -12, "corrupt", "stored data is corrupt")                           \
    X(ERR_PERMISSION, -13, "permission", "permission denied or unsafe file mode")      \
    X(ERR_PASSPHRASE, -14, "wrong_passphrase", "wrong passphrase or damaged key file") \
    X(ERR_UNSUPPORTED, -15, "unsupported", "unsupported algorithm or version")         \
    X(ERR_INVALID_ARG, -16, "invalid_argument", "invalid argument")                    \
    X(ERR_FULL, -17, "full", "capacity reached")                                       \
    X(ERR_STALE_NONCE, -18, "stale_nonce", "nonce already used")                       \
    X(ERR_EXPIRED, -19, "expired", "expired")                                          \
    X(ERR_UNKNOWN_SENDER, -20, "unknown_sender", "unknown sender")                     \
    X(ERR_LIMIT, -21, "limit", "resource limit exceeded")                              \
    X(ERR_TIMEOUT, -22, "timeout", "timed out")                                        \
    X(ERR_CLOSED, -23, "closed", "closed")                                             \
    X(ERR_AGAIN, -24, "again", "try again")                                            \
    X(ERR_CRYPTO, -25, "crypto", "cryptographic library failure")                      \
    X(ERR_DENIED, -26, "denied", "not allowed")                                        \
    X(ERR_CONFIG, -27, "config", "invalid configuration")                              \
    X(ERR_WRONG_CHAIN, -28, "wrong_chain", "belongs to another chain")                 \
    X(ERR_STALE, -29, "stale", "outdated message")

enum err {
#define ERR_ENUM_(name, value, code, text) name = (value),
    ERR_MAP(ERR_ENUM_)
#undef ERR_ENUM_
};

/* Human-readable text of an error; never NULL. */
const char *err_str(enum err e);
/* Short stable machine code ("bad_signature"), used in API errors; never NULL. */
const char *err_name(enum err e);
/* Maps an errno value from a failed syscall to the closest error. */
enum err err_from_errno(int errnum);

#endif
