#include "p2p/seen.h"

#include <event2/util.h>
#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "base/reader.h"

/* Table slots hold ring index + 1; 0 is empty. The table is a power of two at least twice
 * the capacity, so linear probes stay short. Deletion shifts entries back (no tombstones). */
struct seen_set {
    struct hash *ring; /* ids in insertion order; oldest at ring_head when full */
    size_t capacity;
    size_t count;
    size_t ring_head;
    uint32_t *table;
    size_t table_mask;
    uint64_t key; /* random per set */
};

static size_t
seen_home(const struct seen_set *s, const struct hash *id)
{
    uint64_t x = load_u64(id->bytes) ^ s->key;
    x ^= load_u64(id->bytes + 8) + s->key;
    x *= 0x9e3779b97f4a7c15ull;
    x ^= x >> 29;
    return (size_t)x & s->table_mask;
}

struct seen_set *
seen_set_new(size_t capacity)
{
    ASSERT(capacity >= 1 && capacity <= SEEN_SET_CAPACITY_MAX);
    struct seen_set *s = mem_calloc(1, sizeof *s);
    s->capacity = capacity;
    s->ring = mem_calloc(capacity, sizeof *s->ring);
    size_t table_size = 16;
    while (table_size < 2 * capacity) {
        table_size *= 2;
    }
    s->table = mem_calloc(table_size, sizeof *s->table);
    s->table_mask = table_size - 1;
    evutil_secure_rng_get_bytes(&s->key, sizeof s->key);
    return s;
}

void
seen_set_free(struct seen_set *s)
{
    if (s == NULL) {
        return;
    }
    mem_free(s->table);
    mem_free(s->ring);
    mem_free(s);
}

/* The table slot holding id, or the empty slot where it would go. */
static size_t
seen_find(const struct seen_set *s, const struct hash *id, bool *out_found)
{
    size_t i = seen_home(s, id);
    for (size_t probes = 0; probes <= s->table_mask; probes++) {
        uint32_t v = s->table[i];
        if (v == 0) {
            *out_found = false;
            return i;
        }
        if (memcmp(s->ring[v - 1].bytes, id->bytes, HASH_SIZE) == 0) {
            *out_found = true;
            return i;
        }
        i = (i + 1) & s->table_mask;
    }
    UNREACHABLE(); /* the table is never more than half full */
}

bool
seen_set_contains(const struct seen_set *s, const struct hash *id)
{
    bool found;
    (void)seen_find(s, id, &found);
    return found;
}

static void
seen_remove_slot(struct seen_set *s, size_t slot)
{
    size_t i = slot;
    size_t j = slot;
    for (size_t probes = 0; probes <= s->table_mask; probes++) {
        j = (j + 1) & s->table_mask;
        uint32_t v = s->table[j];
        if (v == 0) {
            break;
        }
        size_t k = seen_home(s, &s->ring[v - 1]);
        /* The entry at j may fill the hole at i unless its home lies cyclically in (i, j]. */
        bool home_between = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
        if (!home_between) {
            s->table[i] = v;
            i = j;
        }
    }
    s->table[i] = 0;
}

bool
seen_set_insert(struct seen_set *s, const struct hash *id)
{
    bool found;
    size_t slot = seen_find(s, id, &found);
    if (found) {
        return false;
    }
    size_t index;
    if (s->count == s->capacity) {
        index = s->ring_head;
        bool old_found;
        size_t old_slot = seen_find(s, &s->ring[index], &old_found);
        ASSERT(old_found);
        seen_remove_slot(s, old_slot);
        s->ring_head = (s->ring_head + 1) % s->capacity;
        s->count--;
        slot = seen_find(s, id, &found); /* the removal may have moved entries */
        ASSERT(!found);
    } else {
        index = (s->ring_head + s->count) % s->capacity;
    }
    s->ring[index] = *id;
    s->table[slot] = (uint32_t)(index + 1);
    s->count++;
    return true;
}

size_t
seen_set_count(const struct seen_set *s)
{
    return s->count;
}
