/* crypto/sm2_curve.h - SM2 signature verification (GB/T 32918.2) with our own arithmetic for
 * the sm2p256v1 curve: 4 x 64-bit limbs in Montgomery form, Jacobian points with a = -3,
 * s*G + t*P by interleaved wNAF (a table of 64 odd multiples of G built once, 8 of P per
 * key). About 2x faster than OpenSSL 3.0's generic EC code; OpenSSL stays the reference in
 * the tests (tests/unit/test_sm2_curve.c, tests/fuzz/fuzz_sm2_verify.c). Verification only:
 * every input is public, so the code is not constant time; signing stays on OpenSSL.
 *
 * Per-key cache: the key's Z = SM3(ENTL || ID || a || b || xG || yG || xP || yP) and the
 * affine table of P, 3P, ..., 15P are kept for 4,096 keys (512 sets of 8 ways, the set chosen
 * by a keyed SipHash of the whole point, FIFO within a set): 4,096 x 616 bytes = 2.5 MB of
 * static memory, touched only as keys arrive. A key is fully validated (coordinates < p, on
 * the curve) before it enters the cache. Threads: all functions are thread-safe; the cache
 * has one mutex, held only to copy an entry in or out. */
#ifndef LM_CRYPTO_SM2_CURVE_H
#define LM_CRYPTO_SM2_CURVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define SM2_CURVE_POINT_SIZE 65 /* 04 || X || Y */
#define SM2_CURVE_SIG_SIZE   64 /* r || s, 32 bytes each, big-endian */
#define SM2_CURVE_ID         "1234567812345678"
#define SM2_CURVE_KEYS_MAX   4096

/* Verifies sig over msg (hashed as e = SM3(Z || msg), ID SM2_CURVE_ID) against the
 * uncompressed point. ERR_OK if valid; ERR_BAD_SIGNATURE for an invalid signature, r or s
 * outside [1, n-1], or a point that is not a valid public key. */
MUST_USE enum err sm2_curve_verify(const uint8_t point[SM2_CURVE_POINT_SIZE], const uint8_t *msg,
                                   size_t size, const uint8_t sig[SM2_CURVE_SIG_SIZE]);

/* True if point is 04 || X || Y with X, Y < p on the curve (so not the point at infinity). */
bool sm2_curve_point_is_valid(const uint8_t point[SM2_CURVE_POINT_SIZE]);

#endif
