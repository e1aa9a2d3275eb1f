/* Built-in known-answer checks of the crypto suites, run by `lianmeng selfcheck` (and by a
 * node at start): SHA-256 (FIPS 180-2), SM3 (GB/T 32905), Ed25519 (RFC 8032 TEST 2), and SM2
 * with SM3 and the standard ID (a fixed signature made by the openssl tool, then a fresh
 * sign/verify round trip). They catch a misbuilt or misconfigured library (a missing
 * provider, a wrong distinguishing ID), not subtle bugs. Thread-safe. */
#ifndef LM_CRYPTO_SELFCHECK_H
#define LM_CRYPTO_SELFCHECK_H

#include "base/err.h"

/* Called once per check, in order: name ("sha256", "sm3", "ed25519", "sm2") and its result
 * (ERR_OK, or the first failure: ERR_CRYPTO for a wrong answer). */
typedef void selfcheck_report_fn(void *ctx, const char *name, enum err rc);

/* Runs every check (also after a failure) and reports each through report (may be NULL).
 * ERR_OK if all passed, else ERR_CRYPTO. */
MUST_USE enum err suite_selfcheck(selfcheck_report_fn *report, void *ctx);

#endif
