/* The set of known-valid signatures (design in verify_cache.h). */
#include "crypto/verify_cache.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "base/reader.h"

#define WAYS         4
#define DIGEST_SIZE  32
#define STRIPE_COUNT 64 /* mutexes; buckets map to them by index, so neighbours spread out */

_Static_assert(crypto_generichash_KEYBYTES == 32, "BLAKE2b key size");
_Static_assert(VERIFY_CACHE_CAPACITY_MIN % WAYS == 0, "whole buckets");

struct bucket {
    uint8_t digest[WAYS][DIGEST_SIZE];
    uint8_t used;       /* bit w: slot w holds an entry */
    uint8_t referenced; /* bit w: slot w was hit since the hand last passed it */
    uint8_t hand;       /* next slot the CLOCK hand looks at */
};

struct stripe {
    pthread_mutex_t lock; /* guards the buckets whose index % STRIPE_COUNT is this stripe's */
};

struct verify_cache {
    uint8_t key[crypto_generichash_KEYBYTES]; /* random, set once at creation */
    struct bucket *buckets;
    uint64_t bucket_count; /* a power of two */
    struct stripe stripes[STRIPE_COUNT];
    _Atomic uint64_t lookups;
    _Atomic uint64_t hits;
    _Atomic uint64_t inserts;
    _Atomic uint64_t evictions;
};

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;

static void
sodium_init_once(void)
{
    if (sodium_init() < 0) {
        fatal("libsodium initialisation failed");
    }
}

struct verify_cache *
verify_cache_new(size_t capacity)
{
    ASSERT(pthread_once(&sodium_once, sodium_init_once) == 0);
    uint64_t want = capacity;
    if (want < VERIFY_CACHE_CAPACITY_MIN) {
        want = VERIFY_CACHE_CAPACITY_MIN;
    }
    if (want > VERIFY_CACHE_CAPACITY_MAX) {
        want = VERIFY_CACHE_CAPACITY_MAX;
    }
    uint64_t slots = VERIFY_CACHE_CAPACITY_MIN;
    while (slots < want) {
        slots *= 2;
    }
    struct verify_cache *cache = mem_calloc(1, sizeof *cache);
    cache->bucket_count = slots / WAYS;
    cache->buckets = mem_calloc((size_t)cache->bucket_count, sizeof *cache->buckets);
    randombytes_buf(cache->key, sizeof cache->key);
    for (size_t i = 0; i < STRIPE_COUNT; i++) {
        ASSERT(pthread_mutex_init(&cache->stripes[i].lock, NULL) == 0);
    }
    atomic_init(&cache->lookups, 0);
    atomic_init(&cache->hits, 0);
    atomic_init(&cache->inserts, 0);
    atomic_init(&cache->evictions, 0);
    return cache;
}

void
verify_cache_free(struct verify_cache *cache)
{
    if (cache == NULL) {
        return;
    }
    for (size_t i = 0; i < STRIPE_COUNT; i++) {
        ASSERT(pthread_mutex_destroy(&cache->stripes[i].lock) == 0);
    }
    mem_free(cache->buckets);
    mem_free(cache);
}

/* The tuple's digest; unambiguous because every field before the message has a fixed size
 * and the message is prefixed by its size. */
static void
tuple_digest(const struct verify_cache *cache, const struct public_key *key, const uint8_t *msg,
             size_t size, const struct signature *sig, uint8_t out[DIGEST_SIZE])
{
    uint8_t head[1 + 1 + PUBLIC_KEY_SIZE_MAX + 1 + SIGNATURE_SIZE + 8];
    memset(head, 0, sizeof head);
    size_t n = 0;
    head[n++] = key->alg;
    head[n++] = key->size;
    ASSERT(key->size <= PUBLIC_KEY_SIZE_MAX); /* callers skip the cache otherwise */
    memcpy(head + n, key->bytes, key->size);
    n += PUBLIC_KEY_SIZE_MAX;
    head[n++] = sig->alg;
    memcpy(head + n, sig->bytes, SIGNATURE_SIZE);
    n += SIGNATURE_SIZE;
    store_u64(head + n, (uint64_t)size);
    n += 8;
    ASSERT(n == sizeof head);

    crypto_generichash_state state;
    ASSERT(crypto_generichash_init(&state, cache->key, sizeof cache->key, DIGEST_SIZE) == 0);
    ASSERT(crypto_generichash_update(&state, head, sizeof head) == 0);
    if (size > 0) {
        ASSERT(crypto_generichash_update(&state, msg, size) == 0);
    }
    ASSERT(crypto_generichash_final(&state, out, DIGEST_SIZE) == 0);
}

/* The digest's two candidate buckets (two-choice hashing: a tuple may live in either, and is
 * inserted where there is room, which keeps buckets from overflowing long before the cache
 * is full). They may coincide. */
struct choice {
    uint64_t index[2];
    unsigned count;     /* 1 if both candidates are the same bucket */
    unsigned stripe[2]; /* stripes to lock, ascending; stripe_count of them */
    unsigned stripe_count;
};

static struct choice
choose(const struct verify_cache *cache, const uint8_t digest[DIGEST_SIZE])
{
    struct choice c;
    uint64_t mask = cache->bucket_count - 1;
    c.index[0] = load_u64(digest) & mask;
    c.index[1] = load_u64(digest + 8) & mask;
    c.count = c.index[0] == c.index[1] ? 1 : 2;
    unsigned s0 = (unsigned)(c.index[0] % STRIPE_COUNT);
    unsigned s1 = (unsigned)(c.index[1] % STRIPE_COUNT);
    c.stripe[0] = s0 < s1 ? s0 : s1; /* a fixed order, so two inserts cannot deadlock */
    c.stripe[1] = s0 < s1 ? s1 : s0;
    c.stripe_count = s0 == s1 ? 1 : 2;
    return c;
}

static void
choice_lock(struct verify_cache *cache, const struct choice *c)
{
    for (unsigned i = 0; i < c->stripe_count; i++) {
        ASSERT(pthread_mutex_lock(&cache->stripes[c->stripe[i]].lock) == 0);
    }
}

static void
choice_unlock(struct verify_cache *cache, const struct choice *c)
{
    for (unsigned i = c->stripe_count; i > 0; i--) {
        ASSERT(pthread_mutex_unlock(&cache->stripes[c->stripe[i - 1]].lock) == 0);
    }
}

/* The slot holding digest, or WAYS. Lock held. */
static unsigned
bucket_find(const struct bucket *b, const uint8_t digest[DIGEST_SIZE])
{
    for (unsigned w = 0; w < WAYS; w++) {
        if ((b->used & (1u << w)) != 0 && memcmp(b->digest[w], digest, DIGEST_SIZE) == 0) {
            return w;
        }
    }
    return WAYS;
}

/* A free slot, or CLOCK's victim (evicted == true). Lock held. */
static unsigned
bucket_victim(struct bucket *b, bool *out_evicted)
{
    for (unsigned w = 0; w < WAYS; w++) {
        if ((b->used & (1u << w)) == 0) {
            *out_evicted = false;
            return w;
        }
    }
    /* Every slot referenced: one full turn clears them all, the next step finds one. */
    for (unsigned step = 0; step <= WAYS; step++) {
        unsigned w = b->hand;
        b->hand = (uint8_t)((w + 1) % WAYS);
        if ((b->referenced & (1u << w)) == 0) {
            *out_evicted = true;
            return w;
        }
        b->referenced = (uint8_t)(b->referenced & ~(1u << w));
    }
    UNREACHABLE();
}

static bool
tuple_is_cacheable(const struct public_key *key)
{
    return key->size <= PUBLIC_KEY_SIZE_MAX; /* anything else never verifies anyway */
}

static bool
contains_digest(struct verify_cache *cache, const uint8_t digest[DIGEST_SIZE])
{
    struct choice c = choose(cache, digest);
    bool found = false;
    choice_lock(cache, &c);
    for (unsigned i = 0; i < c.count && !found; i++) {
        struct bucket *b = &cache->buckets[c.index[i]];
        unsigned w = bucket_find(b, digest);
        if (w < WAYS) {
            b->referenced = (uint8_t)(b->referenced | (1u << w));
            found = true;
        }
    }
    choice_unlock(cache, &c);
    atomic_fetch_add_explicit(&cache->lookups, 1, memory_order_relaxed);
    if (found) {
        atomic_fetch_add_explicit(&cache->hits, 1, memory_order_relaxed);
    }
    return found;
}

static unsigned
bucket_used_count(const struct bucket *b)
{
    return (unsigned)__builtin_popcount(b->used);
}

/* Lock held. Adds digest unless present: into the emptier candidate, or if both are full
 * into the one a digest bit picks, evicting by CLOCK. */
static void
choice_insert(struct verify_cache *cache, const struct choice *c, const uint8_t digest[DIGEST_SIZE],
              bool *out_inserted, bool *out_evicted)
{
    for (unsigned i = 0; i < c->count; i++) {
        if (bucket_find(&cache->buckets[c->index[i]], digest) < WAYS) {
            return;
        }
    }
    struct bucket *b = &cache->buckets[c->index[0]];
    if (c->count == 2) {
        struct bucket *other = &cache->buckets[c->index[1]];
        unsigned used = bucket_used_count(b);
        unsigned other_used = bucket_used_count(other);
        if (other_used < used || (other_used == used && (digest[16] & 1) != 0)) {
            b = other;
        }
    }
    unsigned w = bucket_victim(b, out_evicted);
    memcpy(b->digest[w], digest, DIGEST_SIZE);
    b->used = (uint8_t)(b->used | (1u << w));
    b->referenced = (uint8_t)(b->referenced & ~(1u << w));
    *out_inserted = true;
}

static void
insert_digest(struct verify_cache *cache, const uint8_t digest[DIGEST_SIZE])
{
    struct choice c = choose(cache, digest);
    bool inserted = false;
    bool evicted = false;
    choice_lock(cache, &c);
    choice_insert(cache, &c, digest, &inserted, &evicted);
    choice_unlock(cache, &c);
    if (inserted) {
        atomic_fetch_add_explicit(&cache->inserts, 1, memory_order_relaxed);
    }
    if (evicted) {
        atomic_fetch_add_explicit(&cache->evictions, 1, memory_order_relaxed);
    }
}

bool
verify_cache_contains(struct verify_cache *cache, const struct public_key *key, const uint8_t *msg,
                      size_t size, const struct signature *sig)
{
    ASSERT(cache != NULL);
    ASSERT(msg != NULL || size == 0);
    if (!tuple_is_cacheable(key)) {
        return false;
    }
    uint8_t digest[DIGEST_SIZE];
    tuple_digest(cache, key, msg, size, sig, digest);
    return contains_digest(cache, digest);
}

void
verify_cache_insert(struct verify_cache *cache, const struct public_key *key, const uint8_t *msg,
                    size_t size, const struct signature *sig)
{
    ASSERT(cache != NULL);
    ASSERT(msg != NULL || size == 0);
    ASSERT(tuple_is_cacheable(key)); /* it verified, so its size is in range */
    uint8_t digest[DIGEST_SIZE];
    tuple_digest(cache, key, msg, size, sig, digest);
    insert_digest(cache, digest);
}

enum err
verify_cached(struct verify_cache *cache, const struct public_key *key, const uint8_t *msg,
              size_t size, const struct signature *sig)
{
    bool hit = false;
    return verify_cached_hit(cache, key, msg, size, sig, &hit);
}

enum err
verify_cached_hit(struct verify_cache *cache, const struct public_key *key, const uint8_t *msg,
                  size_t size, const struct signature *sig, bool *out_hit)
{
    ASSERT(key != NULL);
    ASSERT(sig != NULL);
    *out_hit = false;
    if (cache == NULL || !tuple_is_cacheable(key)) {
        return verify_message(key, msg, size, sig);
    }
    uint8_t digest[DIGEST_SIZE];
    tuple_digest(cache, key, msg, size, sig, digest);
    if (contains_digest(cache, digest)) {
        *out_hit = true;
        return ERR_OK;
    }
    enum err rc = verify_message(key, msg, size, sig);
    if (rc == ERR_OK) {
        insert_digest(cache, digest);
    }
    return rc;
}

size_t
verify_cached_many(struct verify_cache *cache, const struct verify_item *items, size_t count,
                   enum err *results)
{
    ASSERT(count <= VERIFY_CACHED_MANY_MAX);
    ASSERT(count == 0 || (items != NULL && results != NULL));
    uint8_t digests[VERIFY_CACHED_MANY_MAX][DIGEST_SIZE];
    bool cached[VERIFY_CACHED_MANY_MAX];
    struct verify_item misses[VERIFY_CACHED_MANY_MAX];
    enum err miss_results[VERIFY_CACHED_MANY_MAX];
    size_t at[VERIFY_CACHED_MANY_MAX];
    size_t n = 0;
    size_t hits = 0;
    for (size_t i = 0; i < count; i++) {
        const struct verify_item *it = &items[i];
        ASSERT(it->key != NULL && it->sig != NULL);
        cached[i] = cache != NULL && tuple_is_cacheable(it->key);
        if (cached[i]) {
            tuple_digest(cache, it->key, it->msg, it->size, it->sig, digests[i]);
            if (contains_digest(cache, digests[i])) {
                results[i] = ERR_OK;
                hits++;
                continue;
            }
        }
        misses[n] = *it;
        at[n++] = i;
    }
    if (n > 0) {
        verify_message_many(misses, n, miss_results);
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = at[k];
        results[i] = miss_results[k];
        if (results[i] == ERR_OK && cached[i]) {
            insert_digest(cache, digests[i]);
        }
    }
    return hits;
}

void
verify_cache_get_stats(struct verify_cache *cache, struct verify_cache_stats *out)
{
    ASSERT(cache != NULL);
    ASSERT(out != NULL);
    out->capacity = cache->bucket_count * WAYS;
    out->lookups = atomic_load_explicit(&cache->lookups, memory_order_relaxed);
    out->hits = atomic_load_explicit(&cache->hits, memory_order_relaxed);
    out->inserts = atomic_load_explicit(&cache->inserts, memory_order_relaxed);
    out->evictions = atomic_load_explicit(&cache->evictions, memory_order_relaxed);
}
