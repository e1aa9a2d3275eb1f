#include "ledger/overlay.h"

#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/mem.h"

#define OVERLAY_CAPACITY_MIN 16

/* FNV-1a: lookups only; iteration never follows the table order. */
static uint64_t
key_hash_of(const uint8_t *key, size_t size)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < size; i++) {
        h ^= key[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

void
overlay_init(struct overlay *o, size_t entries_max, size_t bytes_max)
{
    ASSERT(o != NULL);
    memset(o, 0, sizeof *o);
    o->entries_max = entries_max;
    o->bytes_max = bytes_max;
}

void
overlay_clear(struct overlay *o)
{
    for (size_t i = 0; i < o->capacity && o->count > 0; i++) {
        struct overlay_entry *e = &o->slots[i];
        if (e->key != NULL) {
            mem_free(e->key);
            mem_free(e->value);
            memset(e, 0, sizeof *e);
            o->count--;
        }
    }
    ASSERT(o->count == 0);
    o->bytes = 0;
}

void
overlay_release(struct overlay *o)
{
    if (o == NULL) {
        return;
    }
    overlay_clear(o);
    mem_free(o->slots);
    o->slots = NULL;
    o->capacity = 0;
}

static struct overlay_entry *
find_slot(const struct overlay *o, const uint8_t *key, size_t key_size, uint64_t h)
{
    ASSERT(o->capacity > 0);
    size_t mask = o->capacity - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        struct overlay_entry *e = &o->slots[i];
        if (e->key == NULL ||
            (e->key_hash == h && e->key_size == key_size && memcmp(e->key, key, key_size) == 0)) {
            return e;
        }
    }
}

static void
grow(struct overlay *o)
{
    size_t capacity = o->capacity == 0 ? OVERLAY_CAPACITY_MIN : o->capacity * 2;
    struct overlay_entry *old = o->slots;
    size_t old_capacity = o->capacity;
    o->slots = mem_calloc(capacity, sizeof *o->slots);
    o->capacity = capacity;
    for (size_t i = 0; i < old_capacity; i++) {
        if (old[i].key != NULL) {
            *find_slot(o, old[i].key, old[i].key_size, old[i].key_hash) = old[i];
        }
    }
    mem_free(old);
}

bool
overlay_get(const struct overlay *o, const uint8_t *key, size_t key_size, const uint8_t **out_value,
            size_t *out_value_size)
{
    if (o->count == 0) {
        return false;
    }
    const struct overlay_entry *e = find_slot(o, key, key_size, key_hash_of(key, key_size));
    if (e->key == NULL) {
        return false;
    }
    *out_value = e->value;
    *out_value_size = e->value_size;
    return true;
}

/* Installs an entry whose key and value are already owned copies. */
static void
put_owned(struct overlay *o, uint8_t *key, size_t key_size, uint64_t h, uint8_t *value,
          size_t value_size)
{
    if ((o->count + 1) * 4 > o->capacity * 3) {
        grow(o);
    }
    struct overlay_entry *e = find_slot(o, key, key_size, h);
    if (e->key != NULL) {
        o->bytes -= e->value_size;
        mem_free(e->value);
        mem_free(key);
    } else {
        e->key = key;
        e->key_size = key_size;
        e->key_hash = h;
        o->count++;
        o->bytes += key_size;
    }
    e->value = value;
    e->value_size = value_size;
    o->bytes += value_size;
}

enum err
overlay_put(struct overlay *o, const uint8_t *key, size_t key_size, const uint8_t *value,
            size_t value_size)
{
    ASSERT(key != NULL);
    uint64_t h = key_hash_of(key, key_size);
    const uint8_t *old_value = NULL;
    size_t old_size = 0;
    bool present = overlay_get(o, key, key_size, &old_value, &old_size);
    size_t count = o->count + (present ? 0 : 1);
    size_t bytes = o->bytes - (present ? old_size : 0) + (present ? 0 : key_size) +
                   (value != NULL ? value_size : 0);
    if (count > o->entries_max || bytes > o->bytes_max) {
        return ERR_FULL;
    }
    uint8_t *value_copy = NULL;
    if (value != NULL) {
        value_copy = mem_alloc(value_size > 0 ? value_size : 1);
        memcpy(value_copy, value, value_size);
    }
    put_owned(o, mem_dup(key, key_size), key_size, h, value_copy, value != NULL ? value_size : 0);
    return ERR_OK;
}

enum err
overlay_merge(struct overlay *dst, struct overlay *src)
{
    size_t count = dst->count;
    size_t bytes = dst->bytes;
    for (size_t i = 0; i < src->capacity; i++) {
        const struct overlay_entry *e = &src->slots[i];
        if (e->key == NULL) {
            continue;
        }
        const uint8_t *old_value = NULL;
        size_t old_size = 0;
        if (overlay_get(dst, e->key, e->key_size, &old_value, &old_size)) {
            bytes = bytes - old_size + e->value_size;
        } else {
            count++;
            bytes += e->key_size + e->value_size;
        }
    }
    if (count > dst->entries_max || bytes > dst->bytes_max) {
        return ERR_FULL;
    }
    for (size_t i = 0; i < src->capacity; i++) {
        struct overlay_entry *e = &src->slots[i];
        if (e->key != NULL) {
            put_owned(dst, e->key, e->key_size, e->key_hash, e->value, e->value_size);
            memset(e, 0, sizeof *e);
        }
    }
    src->count = 0;
    src->bytes = 0;
    ASSERT(dst->count == count);
    ASSERT(dst->bytes == bytes);
    return ERR_OK;
}

static int
write_compare(const void *a, const void *b)
{
    const struct state_write *x = a;
    const struct state_write *y = b;
    size_t n = x->key_size < y->key_size ? x->key_size : y->key_size;
    int c = memcmp(x->key, y->key, n);
    if (c != 0) {
        return c;
    }
    return x->key_size < y->key_size ? -1 : (x->key_size > y->key_size ? 1 : 0);
}

struct state_write *
overlay_writes(const struct overlay *o, size_t *out_count)
{
    struct state_write *writes = mem_calloc(o->count > 0 ? o->count : 1, sizeof *writes);
    size_t n = 0;
    for (size_t i = 0; i < o->capacity; i++) {
        const struct overlay_entry *e = &o->slots[i];
        if (e->key != NULL) {
            writes[n++] = (struct state_write){ e->key, e->key_size, e->value, e->value_size };
        }
    }
    ASSERT(n == o->count);
    *out_count = n;
    return writes;
}

struct state_write *
overlay_sorted(const struct overlay *o, size_t *out_count)
{
    struct state_write *writes = overlay_writes(o, out_count);
    qsort(writes, *out_count, sizeof *writes, write_compare);
    return writes;
}
