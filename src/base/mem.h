/* All allocation goes through here (STYLE.md 2.7). mem_alloc never returns NULL: running out
 * of memory aborts, because memory use is bounded by design. mem_free accepts NULL.
 * mem_alloc_count() counts successful allocations, so tests can assert that hot paths do not
 * allocate after start-up. Thread-safe. */
#ifndef LM_BASE_MEM_H
#define LM_BASE_MEM_H

#include <stddef.h>
#include <stdint.h>

void *mem_alloc(size_t size);
/* Zeroed array of count * size bytes; aborts on overflow. */
void *mem_calloc(size_t count, size_t size);
void *mem_realloc(void *p, size_t size);
void mem_free(void *p);
void *mem_dup(const void *p, size_t size);
char *mem_strdup(const char *s);
char *mem_strndup(const char *s, size_t size_max);
/* Number of allocations (alloc, calloc, realloc, dup) since the process started. */
uint64_t mem_alloc_count(void);

#endif
