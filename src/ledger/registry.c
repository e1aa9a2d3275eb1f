#include "ledger/registry.h"

#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "codec/tx.h"
#include "ledger/account.h"
#include "ledger/system.h"

struct registry {
    size_t count;
    const struct module_def *modules[REGISTRY_MODULES_MAX]; /* sorted by name */
};

struct registry *
registry_new(void)
{
    return mem_calloc(1, sizeof(struct registry));
}

void
registry_free(struct registry *r)
{
    mem_free(r);
}

/* Byte-wise comparison of (a, a_size) with (b, b_size), shorter first on a common prefix. */
static int
name_compare(const char *a, size_t a_size, const char *b, size_t b_size)
{
    size_t n = a_size < b_size ? a_size : b_size;
    int c = memcmp(a, b, n);
    if (c != 0) {
        return c;
    }
    return a_size < b_size ? -1 : (a_size > b_size ? 1 : 0);
}

static bool
names_are_valid(const void *table, size_t count, size_t stride, size_t count_max)
{
    if (count > count_max || (count > 0 && table == NULL)) {
        return false;
    }
    const uint8_t *base = table;
    for (size_t i = 0; i < count; i++) {
        const char *name = *(const char *const *)(const void *)(base + i * stride);
        if (name == NULL || !tx_name_is_valid(name, strlen(name))) {
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            const char *other = *(const char *const *)(const void *)(base + j * stride);
            if (strcmp(other, name) == 0) {
                return false;
            }
        }
    }
    return true;
}

enum err
registry_add(struct registry *r, const struct module_def *def)
{
    ASSERT(r != NULL);
    ASSERT(def != NULL);
    if (def->name == NULL || !tx_name_is_valid(def->name, strlen(def->name)) ||
        !names_are_valid(def->ops, def->op_count, sizeof(struct module_op), MODULE_OPS_MAX) ||
        !names_are_valid(def->queries, def->query_count, sizeof(struct module_query),
                         MODULE_QUERIES_MAX)) {
        return ERR_MALFORMED;
    }
    size_t at = 0;
    while (at < r->count && strcmp(r->modules[at]->name, def->name) < 0) {
        at++;
    }
    if (at < r->count && strcmp(r->modules[at]->name, def->name) == 0) {
        return ERR_EXISTS;
    }
    if (r->count == REGISTRY_MODULES_MAX) {
        return ERR_FULL;
    }
    /* The array holds pointers: moving them is the intent. */
    memmove(&r->modules[at + 1], &r->modules[at],
            (r->count - at) * sizeof r->modules[0]); // NOLINT(bugprone-sizeof-expression)
    r->modules[at] = def;
    r->count++;
    return ERR_OK;
}

enum err
registry_add_core(struct registry *r)
{
    enum err rc = registry_add(r, &account_module);
    if (rc == ERR_OK) {
        rc = registry_add(r, &system_module);
    }
    return rc;
}

size_t
registry_count(const struct registry *r)
{
    return r->count;
}

const struct module_def *
registry_at(const struct registry *r, size_t index)
{
    ASSERT(index < r->count);
    return r->modules[index];
}

const struct module_def *
registry_find(const struct registry *r, const char *module, size_t module_size)
{
    size_t lo = 0;
    size_t hi = r->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *name = r->modules[mid]->name;
        int c = name_compare(name, strlen(name), module, module_size);
        if (c == 0) {
            return r->modules[mid];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

const struct module_op *
registry_find_op(const struct registry *r, const char *module, size_t module_size, const char *op,
                 size_t op_size)
{
    const struct module_def *def = registry_find(r, module, module_size);
    if (def == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < def->op_count; i++) {
        const char *name = def->ops[i].name;
        if (name_compare(name, strlen(name), op, op_size) == 0) {
            return &def->ops[i];
        }
    }
    return NULL;
}

const struct module_query *
registry_find_query(const struct registry *r, const char *module, size_t module_size,
                    const char *query, size_t query_size)
{
    const struct module_def *def = registry_find(r, module, module_size);
    if (def == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < def->query_count; i++) {
        const char *name = def->queries[i].name;
        if (name_compare(name, strlen(name), query, query_size) == 0) {
            return &def->queries[i];
        }
    }
    return NULL;
}
