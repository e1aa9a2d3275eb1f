#include "base/mem.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"

static atomic_uint_fast64_t alloc_count;

static void *
check(void *p, size_t size)
{
    if (p == NULL && size != 0) {
        fprintf(stderr, "out of memory allocating %zu bytes\n", size);
        abort();
    }
    atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
    return p;
}

void *
mem_alloc(size_t size)
{
    return check(malloc(size == 0 ? 1 : size), size == 0 ? 1 : size);
}

void *
mem_calloc(size_t count, size_t size)
{
    ASSERT(size == 0 || count <= SIZE_MAX / size);
    size_t total = count * size;
    return check(calloc(total == 0 ? 1 : total, 1), total == 0 ? 1 : total);
}

void *
mem_realloc(void *p, size_t size)
{
    return check(realloc(p, size == 0 ? 1 : size), size == 0 ? 1 : size);
}

void
mem_free(void *p)
{
    free(p);
}

void *
mem_dup(const void *p, size_t size)
{
    void *q = mem_alloc(size);
    if (size > 0) {
        memcpy(q, p, size);
    }
    return q;
}

char *
mem_strdup(const char *s)
{
    return mem_dup(s, strlen(s) + 1);
}

char *
mem_strndup(const char *s, size_t size_max)
{
    size_t n = strnlen(s, size_max);
    char *q = mem_alloc(n + 1);
    memcpy(q, s, n);
    q[n] = '\0';
    return q;
}

uint64_t
mem_alloc_count(void)
{
    return atomic_load_explicit(&alloc_count, memory_order_relaxed);
}
