/* Verification once (ARCHITECTURE.md): a bounded, thread-safe set of signatures known to be
 * VALID, so the mempool, block validation and certificate checks never verify the same
 * (public key, message, signature) twice. Only valid results are remembered: an invalid
 * signature is cheap to reject again relative to the harm of letting a flood of them evict
 * valid entries, and its sender is penalised elsewhere.
 *
 * Entries are 32-byte BLAKE2b digests of (key alg, key, signature alg, signature, message
 * size, message) keyed with a random per-cache key, so outsiders can neither predict which
 * slot an entry uses (to evict chosen entries) nor find colliding tuples; the full digest is
 * compared, so a hit means the same tuple up to a 2^-128 collision bound.
 *
 * Layout and eviction: two-choice hashing over buckets of 4 slots (a tuple may live in either
 * of two buckets picked by its digest and is inserted into the emptier one), so buckets do not
 * overflow while the cache has room (measured: 4,000 entries in 8,192 slots, 5 evictions in
 * 200 trials; one-choice buckets lost ~4 %, and CLOCK then thrashed on them). When both are
 * full, CLOCK evicts within one of them (a hit sets the slot's reference bit; the hand evicts
 * the first slot whose bit is clear, clearing bits as it passes). Fixed capacity chosen at
 * creation; no allocation after verify_cache_new.
 * Threads: all functions are thread-safe (striped mutexes, one per group of buckets; atomic
 * counters). The simulator may share one cache across its simulated nodes. */
#ifndef LM_CRYPTO_VERIFY_CACHE_H
#define LM_CRYPTO_VERIFY_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "crypto/sign.h"

#define VERIFY_CACHE_CAPACITY_MIN 64
#define VERIFY_CACHE_CAPACITY_MAX (UINT64_C(1) << 26) /* 64 Mi entries, ~2.2 GB */

struct verify_cache; /* opaque */

struct verify_cache_stats {
    uint64_t capacity;  /* slots (a power of two >= the requested capacity) */
    uint64_t lookups;   /* verify_cache_contains and verify_cached calls */
    uint64_t hits;      /* lookups that found the tuple */
    uint64_t inserts;   /* new entries */
    uint64_t evictions; /* entries dropped to make room */
};

/* A cache of at least `capacity` entries (rounded up to a power of two), clamped to
 * VERIFY_CACHE_CAPACITY_MIN..MAX. About 33 bytes per entry. Never NULL (OOM aborts).
 * Release with verify_cache_free. */
struct verify_cache *verify_cache_new(size_t capacity);
void verify_cache_free(struct verify_cache *cache);

/* True if the tuple was inserted before and not evicted since. */
bool verify_cache_contains(struct verify_cache *cache, const struct public_key *key,
                           const uint8_t *msg, size_t size, const struct signature *sig);
/* Records the tuple as VALID. Call only after verify_message returned ERR_OK for it. */
void verify_cache_insert(struct verify_cache *cache, const struct public_key *key,
                         const uint8_t *msg, size_t size, const struct signature *sig);

/* verify_message through the cache: ERR_OK at once for a remembered tuple, otherwise the real
 * verification, remembering it if valid. cache may be NULL (plain verify_message). */
MUST_USE enum err verify_cached(struct verify_cache *cache, const struct public_key *key,
                                const uint8_t *msg, size_t size, const struct signature *sig);
/* verify_cached that also says whether the cache answered (*out_hit; written always). One
 * digest of the tuple for the lookup and the insert (contains then insert compute it twice). */
MUST_USE enum err verify_cached_hit(struct verify_cache *cache, const struct public_key *key,
                                    const uint8_t *msg, size_t size, const struct signature *sig,
                                    bool *out_hit);

/* verify_cached_hit for up to VERIFY_CACHED_MANY_MAX items at once: the ones the cache does
 * not answer are verified together (verify_message_many). results[i] as verify_cached would
 * answer; returns how many the cache answered. */
#define VERIFY_CACHED_MANY_MAX 16
size_t verify_cached_many(struct verify_cache *cache, const struct verify_item *items, size_t count,
                          enum err *results);

void verify_cache_get_stats(struct verify_cache *cache, struct verify_cache_stats *out);

#endif
