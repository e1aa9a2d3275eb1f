/* The module registry: the table of modules that node/ fills at start-up and the execution
 * engine dispatches through (ARCHITECTURE.md: layers call upward only through tables).
 * Modules are kept sorted by name and looked up by binary search (no hash-table order can
 * leak into execution). The definitions are borrowed: they are static tables that outlive
 * the registry. Not thread-safe while being filled; read-only afterwards. */
#ifndef LM_LEDGER_REGISTRY_H
#define LM_LEDGER_REGISTRY_H

#include <stddef.h>

#include "base/err.h"
#include "ledger/module.h"

#define REGISTRY_MODULES_MAX 32

struct registry;

/* An empty registry; the caller owns it (registry_free). */
struct registry *registry_new(void);
void registry_free(struct registry *r);
/* Adds a module. ERR_EXISTS for a name already present, ERR_MALFORMED for an invalid name or
 * op/query table (bad or duplicate names, too many), ERR_FULL past REGISTRY_MODULES_MAX. */
MUST_USE enum err registry_add(struct registry *r, const struct module_def *def);
/* Adds the core modules of the ledger: account and system. */
MUST_USE enum err registry_add_core(struct registry *r);

size_t registry_count(const struct registry *r);
/* The i-th module in name order. */
const struct module_def *registry_at(const struct registry *r, size_t index);
/* NULL if absent. Names need not be NUL-terminated. */
const struct module_def *registry_find(const struct registry *r, const char *module,
                                       size_t module_size);
const struct module_op *registry_find_op(const struct registry *r, const char *module,
                                         size_t module_size, const char *op, size_t op_size);
const struct module_query *registry_find_query(const struct registry *r, const char *module,
                                               size_t module_size, const char *query,
                                               size_t query_size);

#endif
