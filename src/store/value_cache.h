/* A bounded cache of the state's latest committed values, keyed by key hash, so the hot
 * reads of execution and mempool admission (an account per transaction) do not walk the
 * Merkle tree in LMDB each time (state_store.c: a tree walk is several B-tree lookups).
 *
 * What it holds: for a key hash, either the value at the committed version or "absent" (a
 * known non-existence). Entries come in on a read miss (value_cache_put after the LMDB read)
 * and are kept exact at each commit by value_cache_update, which changes only entries that
 * are already cached: keys written once and never read do not push out hot ones.
 * Values larger than the cache's value_size_max are not cached.
 *
 * Layout and eviction: buckets of VALUE_CACHE_WAYS slots chosen by the key hash; within a
 * bucket, CLOCK (a hit sets the slot's reference bit; an insert into a full bucket evicts the
 * first slot, from the bucket's hand, whose bit is clear, clearing bits as it passes). Memory
 * is bounded by entries x value_size_max. Key hashes are the chain hash of the key, so an
 * outsider cannot cheaply aim many keys at one bucket beyond evicting each other.
 * Versions: the cache holds the values of exactly one committed version of the state, its
 * `version`. value_cache_advance moves it to the next version and applies that commit's
 * changes in one critical section, so a reader never sees a mix of two versions; gets and
 * puts name the version they read or loaded (a reader on another thread may still be on the
 * previous version: its gets miss and its puts are ignored).
 * Threads: every function is thread-safe (one mutex). */
#ifndef LM_STORE_VALUE_CACHE_H
#define LM_STORE_VALUE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "crypto/hash.h"

#define VALUE_CACHE_WAYS 8

struct value_cache;

struct value_cache_stats {
    uint64_t hits;
    uint64_t misses;
    uint64_t evictions;
    uint64_t entries; /* slots in use */
    uint64_t bytes;   /* value bytes held */
};

/* A cache of at least `entries` slots (rounded up to a power of two, at least one bucket)
 * holding values of at most value_size_max bytes, for the state at `version`. Never NULL (OOM
 * aborts). */
struct value_cache *value_cache_new(size_t entries, size_t value_size_max, uint64_t version);
void value_cache_free(struct value_cache *c);

/* ERR_OK: cached value at `version` appended to out (an error of buf_append passes through);
 * ERR_NOT_FOUND: cached as absent; ERR_AGAIN: not cached, or the cache is at another version. */
MUST_USE enum err value_cache_get(struct value_cache *c, uint64_t version,
                                  const struct hash *key_hash, struct buf *out);
/* Caches the value (value NULL: absent) loaded at `version` after a read miss; replaces a
 * cached entry. Ignored if the cache is at another version by now. */
void value_cache_put(struct value_cache *c, uint64_t version, const struct hash *key_hash,
                     const uint8_t *value, size_t size);

/* One key changed by a commit (value NULL: deleted). */
struct value_cache_change {
    const struct hash *key_hash;
    const uint8_t *value;
    size_t size;
};
/* The state moved to `version` with these changes: updates the changed keys that are cached
 * (keys not cached stay out) and the cache's version, atomically for readers. A key cached as
 * absent and not read since it was put, that now has a value, is dropped instead: that is how
 * a new key is written (read once to check it is absent, then put), and its value would push
 * out hot entries for nobody. */
void value_cache_advance(struct value_cache *c, uint64_t version,
                         const struct value_cache_change *changes, size_t count);
/* The version the cache holds. */
uint64_t value_cache_version(struct value_cache *c);
/* Drops every entry (the version stays). */
void value_cache_clear(struct value_cache *c);
void value_cache_get_stats(struct value_cache *c, struct value_cache_stats *out);

#endif
