/* Arena for short-lived work tied to one lifetime (an HTTP request, a block being built or
 * checked): allocate many, release all at once. Never mem_free arena memory. Aborts when
 * the arena's maximum is exceeded only through arena_alloc; arena_try_alloc returns NULL. */
#ifndef LM_BASE_ARENA_H
#define LM_BASE_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
    struct arena_chunk *head;
    size_t chunk_size;
    size_t used_bytes;
    size_t size_max;
};

void arena_init(struct arena *a, size_t chunk_size, size_t size_max);
/* 16-byte aligned, uninitialised; NULL when the arena's maximum would be exceeded. */
void *arena_try_alloc(struct arena *a, size_t size);
/* Like arena_try_alloc but asserts success: for sizes the caller already bounded. */
void *arena_alloc(struct arena *a, size_t size);
/* Frees everything but the first chunk, which is kept for reuse. */
void arena_reset(struct arena *a);
void arena_release(struct arena *a);

#endif
