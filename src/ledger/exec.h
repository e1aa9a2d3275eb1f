/* Layouts of the execution engine's views and contexts, shared by the files of ledger/ only
 * (ledger.c, exec.c, account.c, system.c); modules/ see them as opaque types (module.h).
 *
 * A view reads through up to two overlays (the tx's, then the block's) down to a state
 * batch (the parent state), and writes into one overlay. Reads and writes are charged to a
 * meter when there is one. */
#ifndef LM_LEDGER_EXEC_H
#define LM_LEDGER_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "ledger/account.h"
#include "ledger/module.h"
#include "ledger/overlay.h"
#include "ledger/params.h"
#include "store/state_store.h"

/* Resource accounting of one tx: charges beyond limit fail with ERR_LIMIT. */
struct meter {
    uint64_t used;
    uint64_t limit;
};

struct state_view {
    const char *module;              /* NUL-terminated module name: the key prefix "<module>/" */
    struct overlay *write;           /* NULL: read-only */
    const struct overlay *layers[2]; /* read in order; entries may be NULL */
    const struct state_batch *base;  /* NULL: `committed`, else the empty state */
    /* With base NULL and store set: the committed state at `version` (a read from any
     * thread through state_store_get, see state_store.h Threading). */
    struct state_store *store;
    uint64_t version;
    struct meter *meter; /* NULL: not charged */
};

/* What every op of a block shares. */
struct exec_env {
    uint64_t height;
    uint64_t timestamp_us;
    enum hash_alg hash_alg;
    const struct chain_params *params;
};

struct exec_ctx {
    struct state_view view;
    const struct exec_env *env;
    const struct account *sender;
    const struct hash *tx_hash;
    struct buf *events; /* encoded events of the tx so far */
    size_t *event_count;
    char message[RECEIPT_MESSAGE_SIZE_MAX + 1];
};

/* A read-only view of module over base (no overlays), charged to meter if not NULL. */
void state_view_init(struct state_view *v, const char *module, const struct state_batch *base,
                     struct meter *meter);
/* A read-only view of module over the committed state at version (no overlays, no meter). */
void state_view_init_committed(struct state_view *v, const char *module, struct state_store *store,
                               uint64_t version);
/* Makes v write into write and read first, then second (either may be NULL), then base. */
void state_view_layer(struct state_view *v, struct overlay *write, const struct overlay *first,
                      const struct overlay *second);
/* Charges units to the view's meter (no-op without one). */
MUST_USE enum err meter_charge(struct meter *m, uint64_t units);
/* Reads a full state key (no module prefix, no charge). */
MUST_USE enum err state_view_get_raw(const struct state_view *v, const uint8_t *key,
                                     size_t key_size, struct buf *out_value);

#endif
