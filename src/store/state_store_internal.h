/* Test hooks of store/state_store.c (STYLE.md 2.3): only tests/unit includes this. */
#ifndef LM_STORE_STATE_STORE_INTERNAL_H
#define LM_STORE_STATE_STORE_INTERNAL_H

#include <stddef.h>

#include "store/state_store.h"

/* Lowers the number of stale records one commit may delete (STATE_PRUNE_PER_COMMIT_MAX), so
 * tests can exercise pruning that falls behind and catches up. */
void state_store_set_prune_budget(struct state_store *s, size_t budget);

#endif
