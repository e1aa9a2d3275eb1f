/* crypto/ed25519_fast.h - Ed25519 signature verification with our own arithmetic, answering
 * exactly as libsodium 1.0.18's crypto_sign_verify_detached (the reference of the tests:
 * tests/unit/test_ed25519_fast.c, fuzz mode 5 and 6 of tests/fuzz/fuzz_sign_der.c). Field
 * GF(2^255 - 19) in radix 2^51 (5 limbs, unsigned __int128 products), extended twisted
 * Edwards coordinates (a = -1). s*B - h*A is one interleaved wNAF loop of 31 doublings: the
 * 253-bit scalars are cut into 8 chunks of 32 bits, with tables of odd multiples of B,
 * 2^32 B, ..., 2^224 B (32 each, built once, 24 KiB) and of -A, 2^32 (-A), ..., 2^224 (-A)
 * (8 each: P, 3P, ..., 15P, per key): about 2.5x (2,000 keys in turn) to 3x (one key) faster
 * than libsodium on cached keys (8 rather than 4 odd multiples per key: ~6 % faster, for
 * twice the cache memory; bench/README.md, session 6). On a CPU with AVX-512 IFMA (checked at
 * run time), ed25519_fast_verify_many computes s*B - h*A of cached keys 8 signatures at a time
 * (ed25519_ifma.h: one signature per vector lane, a regular recoding of the scalars over the
 * same tables; ~2.4x faster per signature in groups), the scalar loop otherwise and for
 * fewer than 3 cached keys in a group. A key's first sight is verified
 * without tables (one wNAF loop of 253 doublings, 8 odd multiples of -A: about libsodium's
 * cost) and only remembered; its second sight builds and caches the tables (224 doublings
 * and 7 additions per chunk, once). Verification only: every input is public, so the code
 * is not constant time.
 *
 * The checks, in libsodium's terms: S < L; R not of small order (the encoding compared with
 * libsodium's 7-entry blacklist, sign bit ignored); A canonical (y < p), not of small order
 * and decompressible (A is NOT required to be in the prime-order subgroup: keys with a
 * torsion component are used as they are); h = SHA-512(R || A || M) mod L; accepted iff the
 * canonical encoding of s*B - h*A equals the 32 bytes of R.
 *
 * Per-key cache: the tables of a key (64 points of 3 packed field elements, 6,144 bytes) are
 * kept for 4,096 keys (512 sets of 8 ways, the set chosen by a keyed SipHash of the whole
 * key, FIFO within a set), and the 64-bit tags of up to 4,096 keys seen once (the same
 * sets): 4,096 x (6,144 + 32 + 8) bytes = 24.2 MiB of static memory, touched only as keys
 * arrive. A key enters the cache (or the list of keys seen) only after all the key checks
 * above passed. Threads: all functions are thread-safe; the cache has one mutex, held only to
 * copy an entry in or out. */
#ifndef LM_CRYPTO_ED25519_FAST_H
#define LM_CRYPTO_ED25519_FAST_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define ED25519_FAST_KEY_SIZE 32
#define ED25519_FAST_SIG_SIZE 64 /* R || S */
#define ED25519_FAST_KEYS_MAX 4096
/* ed25519_fast_verify_many shares one field inversion among this many signatures. */
#define ED25519_FAST_GROUP 16
/* On a CPU with AVX-512 IFMA it computes this many signatures of cached keys at once; callers
 * that split work should not hand it fewer (below 3 it falls back to the scalar loop). */
#define ED25519_FAST_VECTOR 8

struct ed25519_fast_item {
    const uint8_t *key; /* ED25519_FAST_KEY_SIZE bytes */
    const uint8_t *msg;
    size_t size;
    const uint8_t *sig; /* ED25519_FAST_SIG_SIZE bytes */
};

/* Verifies sig over msg against the public key. ERR_OK if valid; ERR_BAD_SIGNATURE for
 * everything crypto_sign_verify_detached of libsodium 1.0.18 rejects. */
MUST_USE enum err ed25519_fast_verify(const uint8_t key[ED25519_FAST_KEY_SIZE], const uint8_t *msg,
                                      size_t size, const uint8_t sig[ED25519_FAST_SIG_SIZE]);
/* results[i] = ed25519_fast_verify(items[i]) for each item, cheaper: the last step of a
 * verification (the one field inversion that encodes s*B - h*A, ~14 % of it on a cached key)
 * is shared by groups of ED25519_FAST_GROUP. count may be 0. */
void ed25519_fast_verify_many(const struct ed25519_fast_item *items, size_t count,
                              enum err *results);

#endif
