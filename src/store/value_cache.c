/* store/value_cache.c - see value_cache.h. */
#include "store/value_cache.h"

#include <pthread.h>
#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "base/reader.h"

struct slot {
    struct hash key_hash;
    uint8_t *value; /* NULL with used: cached as absent */
    uint32_t size;
    bool used;
    bool ref;
};

struct value_cache {
    pthread_mutex_t lock;
    struct slot *slots; /* bucket_count * VALUE_CACHE_WAYS */
    /* Per slot, 16 bits of its key hash (not the bucket's bits), 0 when unused: a lookup
     * reads its bucket's tags (one cache line) and visits only the slots whose tag matches,
     * instead of every slot (a miss, as for each new key, touched all of them). */
    uint16_t *tags;
    uint8_t *hands; /* per bucket: the CLOCK hand */
    size_t bucket_mask;
    size_t value_size_max;
    uint64_t version;
    struct value_cache_stats stats;
};

struct value_cache *
value_cache_new(size_t entries, size_t value_size_max, uint64_t version)
{
    size_t buckets = 1;
    while (buckets * VALUE_CACHE_WAYS < entries) {
        buckets <<= 1;
    }
    struct value_cache *c = mem_calloc(1, sizeof *c);
    ASSERT(pthread_mutex_init(&c->lock, NULL) == 0);
    c->slots = mem_calloc(buckets * VALUE_CACHE_WAYS, sizeof c->slots[0]);
    c->tags = mem_calloc(buckets * VALUE_CACHE_WAYS, sizeof c->tags[0]);
    c->hands = mem_calloc(buckets, sizeof c->hands[0]);
    c->bucket_mask = buckets - 1;
    c->value_size_max = value_size_max;
    c->version = version;
    return c;
}

static void
slot_clear(struct value_cache *c, struct slot *s)
{
    if (s->used) {
        c->stats.entries--;
        c->stats.bytes -= s->size;
    }
    mem_free(s->value);
    *s = (struct slot){ 0 };
    c->tags[s - c->slots] = 0;
}

/* Never 0 (an unused slot's tag). */
static uint16_t
tag_of(const struct hash *key_hash)
{
    uint16_t t = (uint16_t)(key_hash->bytes[8] | (key_hash->bytes[9] << 8));
    return t != 0 ? t : 1;
}

void
value_cache_clear(struct value_cache *c)
{
    ASSERT(pthread_mutex_lock(&c->lock) == 0);
    for (size_t i = 0; i < (c->bucket_mask + 1) * VALUE_CACHE_WAYS; i++) {
        slot_clear(c, &c->slots[i]);
    }
    ASSERT(pthread_mutex_unlock(&c->lock) == 0);
}

void
value_cache_free(struct value_cache *c)
{
    if (c == NULL) {
        return;
    }
    value_cache_clear(c);
    ASSERT(pthread_mutex_destroy(&c->lock) == 0);
    mem_free(c->slots);
    mem_free(c->tags);
    mem_free(c->hands);
    mem_free(c);
}

static struct slot *
bucket_of(const struct value_cache *c, const struct hash *key_hash, size_t *out_bucket)
{
    size_t b = (size_t)load_u64(key_hash->bytes) & c->bucket_mask;
    *out_bucket = b;
    return &c->slots[b * VALUE_CACHE_WAYS];
}

static struct slot *
find(const struct value_cache *c, const struct hash *key_hash)
{
    size_t b = 0;
    struct slot *bucket = bucket_of(c, key_hash, &b);
    const uint16_t *tags = &c->tags[b * VALUE_CACHE_WAYS];
    uint16_t tag = tag_of(key_hash);
    for (size_t i = 0; i < VALUE_CACHE_WAYS; i++) {
        if (tags[i] == tag && bucket[i].used && hash_equal(&bucket[i].key_hash, key_hash)) {
            return &bucket[i];
        }
    }
    return NULL;
}

/* Sets a slot's content (value NULL: absent); false if the value is too large to cache. */
static bool
slot_set(struct value_cache *c, struct slot *s, const struct hash *key_hash, const uint8_t *value,
         size_t size)
{
    if (value != NULL && size > c->value_size_max) {
        return false;
    }
    if (s->used && s->value != NULL && value != NULL && s->size == size &&
        hash_equal(&s->key_hash, key_hash)) {
        memcpy(s->value, value, size); /* a new value of the same size (an account): in place */
        s->ref = false;
        return true;
    }
    slot_clear(c, s);
    s->key_hash = *key_hash;
    s->used = true;
    c->tags[s - c->slots] = tag_of(key_hash);
    if (value != NULL) {
        s->value = mem_alloc(size > 0 ? size : 1);
        memcpy(s->value, value, size);
        s->size = (uint32_t)size;
    } else {
        s->size = 0; /* absent: value stays NULL (an empty value has a 1-byte buffer) */
    }
    s->ref = false;
    c->stats.entries++;
    c->stats.bytes += s->size;
    return true;
}

enum err
value_cache_get(struct value_cache *c, uint64_t version, const struct hash *key_hash,
                struct buf *out)
{
    ASSERT(pthread_mutex_lock(&c->lock) == 0);
    struct slot *s = version == c->version ? find(c, key_hash) : NULL;
    enum err rc = ERR_AGAIN;
    if (s != NULL) {
        s->ref = true;
        c->stats.hits++;
        rc = s->value == NULL ? ERR_NOT_FOUND : buf_append(out, s->value, s->size);
    } else {
        c->stats.misses++;
    }
    ASSERT(pthread_mutex_unlock(&c->lock) == 0);
    return rc;
}

/* The slot for a new key: an empty one of its bucket, else CLOCK's victim (at most two
 * sweeps find a slot whose reference bit is clear). */
static struct slot *
victim_slot(struct value_cache *c, const struct hash *key_hash)
{
    size_t b = 0;
    struct slot *bucket = bucket_of(c, key_hash, &b);
    for (size_t i = 0; i < VALUE_CACHE_WAYS; i++) {
        if (c->tags[b * VALUE_CACHE_WAYS + i] == 0) { /* unused */
            return &bucket[i];
        }
    }
    for (size_t k = 0; k < (size_t)2 * VALUE_CACHE_WAYS; k++) {
        struct slot *cand = &bucket[c->hands[b]];
        c->hands[b] = (uint8_t)((c->hands[b] + 1) % VALUE_CACHE_WAYS);
        if (!cand->ref) {
            c->stats.evictions++;
            return cand;
        }
        cand->ref = false;
    }
    UNREACHABLE();
}

void
value_cache_put(struct value_cache *c, uint64_t version, const struct hash *key_hash,
                const uint8_t *value, size_t size)
{
    ASSERT(pthread_mutex_lock(&c->lock) == 0);
    if (version != c->version) {
        ASSERT(pthread_mutex_unlock(&c->lock) == 0);
        return; /* loaded at an older version: the commit since may have changed it */
    }
    struct slot *s = find(c, key_hash);
    if (s == NULL) {
        s = victim_slot(c, key_hash);
    }
    if (!slot_set(c, s, key_hash, value, size)) {
        slot_clear(c, s); /* too large: not cached (an older entry of the key goes too) */
    }
    ASSERT(pthread_mutex_unlock(&c->lock) == 0);
}

void
value_cache_advance(struct value_cache *c, uint64_t version,
                    const struct value_cache_change *changes, size_t count)
{
    ASSERT(pthread_mutex_lock(&c->lock) == 0);
    for (size_t i = 0; i < count; i++) {
        const struct value_cache_change *ch = &changes[i];
        struct slot *s = find(c, ch->key_hash);
        if (s != NULL && s->value == NULL && !s->ref && ch->value != NULL) {
            /* a new key (a notary record): read once as absent before its write, not since */
            slot_clear(c, s);
        } else if (s != NULL) {
            bool ref = s->ref;
            if (slot_set(c, s, ch->key_hash, ch->value, ch->size)) {
                s->ref = ref;
            } else {
                slot_clear(c, s);
            }
        }
    }
    c->version = version;
    ASSERT(pthread_mutex_unlock(&c->lock) == 0);
}

uint64_t
value_cache_version(struct value_cache *c)
{
    ASSERT(pthread_mutex_lock(&c->lock) == 0);
    uint64_t v = c->version;
    ASSERT(pthread_mutex_unlock(&c->lock) == 0);
    return v;
}

void
value_cache_get_stats(struct value_cache *c, struct value_cache_stats *out)
{
    ASSERT(pthread_mutex_lock(&c->lock) == 0);
    *out = c->stats;
    ASSERT(pthread_mutex_unlock(&c->lock) == 0);
}
