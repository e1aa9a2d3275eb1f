/* In-memory write overlay of the execution engine (internal to ledger/): the pending writes
 * of one transaction or of one block, keyed by full state key. Lookups go through an
 * open-addressing hash table; iteration is in sorted key order (overlay_sorted), or in table
 * order only for state_batch_new (overlay_writes), whose result does not depend on the order
 * of its writes (it sorts them by key hash), so no table order can reach the state root. A
 * deleted key is kept as a tombstone.
 * Bounded: at most entries_max keys and bytes_max key+value bytes (ERR_FULL beyond).
 * Owns copies of keys and values. Single-threaded. */
#ifndef LM_LEDGER_OVERLAY_H
#define LM_LEDGER_OVERLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/state_store.h"

struct overlay_entry {
    uint8_t *key; /* NULL: empty slot */
    size_t key_size;
    uint8_t *value; /* NULL: tombstone (delete) */
    size_t value_size;
    uint64_t key_hash;
};

struct overlay {
    struct overlay_entry *slots;
    size_t capacity; /* power of two, or 0 before the first put */
    size_t count;
    size_t bytes;
    size_t entries_max;
    size_t bytes_max;
};

void overlay_init(struct overlay *o, size_t entries_max, size_t bytes_max);
void overlay_release(struct overlay *o);
/* Forgets every entry (frees them), keeps the table. */
void overlay_clear(struct overlay *o);
/* Finds key: false if absent. If present, *out_value is NULL for a tombstone; the value is
 * borrowed until the next change of the overlay. */
bool overlay_get(const struct overlay *o, const uint8_t *key, size_t key_size,
                 const uint8_t **out_value, size_t *out_value_size);
/* Sets key to value (value NULL: tombstone). ERR_FULL past the bounds, overlay unchanged. */
MUST_USE enum err overlay_put(struct overlay *o, const uint8_t *key, size_t key_size,
                              const uint8_t *value, size_t value_size);
/* Moves every entry of src into dst (src's values win) and clears src. ERR_FULL if dst's
 * bounds would be exceeded: then neither changes. */
MUST_USE enum err overlay_merge(struct overlay *dst, struct overlay *src);
/* The entries as a write set sorted by key (for state_batch_new). The caller frees the array
 * with mem_free; its pointers borrow the overlay. */
struct state_write *overlay_sorted(const struct overlay *o, size_t *out_count);
/* The same write set in table order, for state_batch_new alone (see above): skips the sort,
 * a noticeable part of a block's execution. Same ownership as overlay_sorted. */
struct state_write *overlay_writes(const struct overlay *o, size_t *out_count);

#endif
