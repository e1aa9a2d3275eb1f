/* Internals of mempool/mempool.c exposed to its unit tests only. */
#ifndef LM_MEMPOOL_MEMPOOL_INTERNAL_H
#define LM_MEMPOOL_MEMPOOL_INTERNAL_H

#include <stdbool.h>

#include "mempool/mempool.h"

/* Walks every structure (O(capacity)) and checks that they agree: each pending tx is found
 * by its hash and in its account's list, sorted by nonce and not below the committed nonce;
 * the expiry heap is a heap of exactly the pending txs; account, institution and total
 * counts and bytes add up; the rings hold exactly the live accounts and institutions. */
bool mempool_invariants_hold(const struct mempool *mp);

#endif
