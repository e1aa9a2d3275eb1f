#include "base/arena.h"

#include <stdint.h>

#include "base/assert.h"
#include "base/mem.h"

struct arena_chunk {
    struct arena_chunk *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
};

void
arena_init(struct arena *a, size_t chunk_size, size_t size_max)
{
    ASSERT(chunk_size >= 64);
    ASSERT(size_max >= chunk_size);
    a->head = NULL;
    a->chunk_size = chunk_size;
    a->used_bytes = 0;
    a->size_max = size_max;
}

void *
arena_try_alloc(struct arena *a, size_t size)
{
    size_t need = (size + 15u) & ~(size_t)15u;
    if (need < size || need > a->size_max - a->used_bytes) {
        return NULL;
    }
    struct arena_chunk *c = a->head;
    if (c == NULL || c->size - c->used < need) {
        size_t csize = need > a->chunk_size ? need : a->chunk_size;
        c = mem_alloc(sizeof *c + csize);
        c->size = csize;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += need;
    a->used_bytes += need;
    return p;
}

void *
arena_alloc(struct arena *a, size_t size)
{
    void *p = arena_try_alloc(a, size);
    ASSERT(p != NULL);
    return p;
}

void
arena_reset(struct arena *a)
{
    struct arena_chunk *c = a->head;
    if (c == NULL) {
        return;
    }
    while (c->next != NULL) {
        struct arena_chunk *next = c->next;
        c->next = next->next;
        mem_free(next);
    }
    c->used = 0;
    a->used_bytes = 0;
}

void
arena_release(struct arena *a)
{
    if (a == NULL) {
        return;
    }
    struct arena_chunk *c = a->head;
    while (c != NULL) {
        struct arena_chunk *next = c->next;
        mem_free(c);
        c = next;
    }
    a->head = NULL;
    a->used_bytes = 0;
}
