/* crypto/ed25519_ifma.h - the s*B + h*P loop of ed25519_fast.c for 8 signatures at once, one
 * per 64-bit lane of AVX-512 vectors, with the 52-bit multiply-add instructions (AVX-512 IFMA,
 * vpmadd52luq/vpmadd52huq). Internal to crypto/ed25519_fast.c (and its tests): it reads that
 * file's tables and answers in its field representation.
 *
 * Field: the radix 2^51 of ed25519_fast.c, each limb in a lane; IFMA multiplies the low 52
 * bits of its operands, so every multiplication operand is kept below 2^52 (additions and
 * subtractions carry their result). Scalars: a regular signed recoding (Joye-Tunstall), every
 * window of w bits one odd digit in +-[1, 2^w - 1], so all 8 lanes add at the same steps:
 * h in 64 digits of 4 bits from the key tables (8 odd multiples per chunk), s in 43 digits of
 * 6 bits from B's tables (32 per chunk); an even scalar is recoded as scalar + 1 and the extra
 * point subtracted at the end. 31 doublings and 109 mixed additions per 8 signatures, against
 * 31 doublings and ~74 additions per signature for the scalar wNAF loop.
 *
 * Only called when ed25519_ifma_supported() (the CPU has AVX-512F and IFMA and the OS saves
 * the vector state); the code is compiled for that target function by function, so the rest
 * of the program runs on any x86-64; on other architectures ed25519_ifma_supported() is false
 * and the other two functions stop the program if called. */
#ifndef LM_CRYPTO_ED25519_IFMA_H
#define LM_CRYPTO_ED25519_IFMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/ed25519_fast_internal.h"

/* The tables' geometry (ed25519_fast.c): chunks, odd multiples per chunk of a key's table and
 * of B's, and the words of a table point (y + x, y - x, 2dxy: canonical, 4 little-endian words
 * each). */
#define ED25519_IFMA_LANES       8
#define ED25519_IFMA_CHUNKS      8
#define ED25519_IFMA_A_TABLE     8
#define ED25519_IFMA_B_TABLE     32
#define ED25519_IFMA_POINT_WORDS 12

/* A projective point (X : Y : Z) of the result, limbs below 2^52. */
struct ed25519_ifma_point {
    struct ed_fe x, y, z;
};

/* Whether this CPU (and OS) runs the vector code. */
bool ed25519_ifma_supported(void);

/* out[l] = s[l] B + h[l] P_l for each lane l, scalars below 2^253 (little-endian). B's table:
 * b_table, CHUNKS x B_TABLE points (point j of chunk i = (2j + 1) 2^(32 i) B); P_l's table
 * at a_tables + a_offset[l] (words; lanes may share a table), CHUNKS x A_TABLE points
 * likewise. */
void ed25519_ifma_mul_double(const uint8_t *const s[ED25519_IFMA_LANES],
                             const uint8_t *const h[ED25519_IFMA_LANES], const uint64_t *a_tables,
                             const size_t a_offset[ED25519_IFMA_LANES], const uint64_t *b_table,
                             struct ed25519_ifma_point out[ED25519_IFMA_LANES]);

/* For tests: r[l] = a[l] * b[l], s[l] = a[l]^2, u[l] = a[l] + b[l], d[l] = a[l] - b[l] with the
 * vector operations, for limbs of a and b below 2^52 (mul, sqr), and a sum or difference's
 * operands as the loop makes them (below 2^51 + 2^15). */
void ed25519_ifma_field(const struct ed_fe a[ED25519_IFMA_LANES],
                        const struct ed_fe b[ED25519_IFMA_LANES],
                        struct ed_fe r[ED25519_IFMA_LANES], struct ed_fe s[ED25519_IFMA_LANES],
                        struct ed_fe u[ED25519_IFMA_LANES], struct ed_fe d[ED25519_IFMA_LANES]);

#endif
