/* A bounded set of recently seen message ids (transaction hashes), so gossip relays each
 * message once. Holds at most `capacity` ids; inserting into a full set forgets the oldest.
 * Lookups and inserts are O(1) (open addressing over a table twice the capacity, keyed with a
 * per-set random value so peers cannot aim ids at one bucket). Allocates only in
 * seen_set_new. Not thread-safe: one owner (the event loop). */
#ifndef LM_P2P_SEEN_H
#define LM_P2P_SEEN_H

#include <stdbool.h>
#include <stddef.h>

#include "crypto/hash.h"

#define SEEN_SET_CAPACITY_MAX (1u << 24)

struct seen_set;

/* 1 <= capacity <= SEEN_SET_CAPACITY_MAX. Release with seen_set_free. */
struct seen_set *seen_set_new(size_t capacity);
void seen_set_free(struct seen_set *s);

bool seen_set_contains(const struct seen_set *s, const struct hash *id);
/* Records id. True if it was new (the caller relays the message), false if already present. */
bool seen_set_insert(struct seen_set *s, const struct hash *id);
size_t seen_set_count(const struct seen_set *s);

#endif
