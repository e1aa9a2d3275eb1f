/* What a module sees of the ledger (modules/ may use this header and registry.h only, never
 * store/ directly, STYLE.md 2.2).
 *
 * A module is a table (struct module_def): a name, op handlers, query handlers and a genesis
 * loader. Handlers reach state only through a struct state_view, which
 *   - confines writes to the module's own namespace (full state key "<module>/<key>");
 *   - reads the module's own keys, or another module's with state_view_get_in;
 *   - sees the transaction's pending writes, then the block's, then the parent state;
 *   - charges every read and write to the transaction's resource meter (ERR_LIMIT when the
 *     tx or block limit is exceeded: the tx then fails).
 * Execution is deterministic: handlers must not read clocks, randomness, files or globals;
 * they get height and timestamp from the context. A handler that returns an error fails the
 * whole tx: all its writes and events are discarded (the nonce is still taken).
 * Views and contexts are borrowed for the duration of the call only. */
#ifndef LM_LEDGER_MODULE_H
#define LM_LEDGER_MODULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "crypto/hash.h"
#include "crypto/sign.h"
#include "ledger/params.h"

#define MODULE_KEY_SIZE_MAX   (256 - 33) /* state key minus "<module>/" */
#define MODULE_VALUE_SIZE_MAX (1u << 20)
#define MODULE_OPS_MAX        64
#define MODULE_QUERIES_MAX    64

#define EVENT_ATTRS_MAX           16
#define EVENT_NAME_SIZE_MAX       32 /* kind and attribute keys: [a-z0-9_] */
#define EVENT_ATTR_VALUE_SIZE_MAX 1024
#define RECEIPT_EVENTS_MAX        64
#define RECEIPT_MESSAGE_SIZE_MAX  256

struct state_view;
struct exec_ctx;
struct genesis;

/* An event attribute: key is [a-z0-9_] text, value opaque bytes (often UTF-8 text). */
struct event_attr {
    const char *key;
    size_t key_size;
    const uint8_t *value;
    size_t value_size;
};

/* Reads key of this module; appends the value to out_value. ERR_NOT_FOUND if absent,
 * ERR_LIMIT if the resource meter is exhausted, ERR_TOO_LARGE if out_value is full. */
MUST_USE enum err state_view_get(struct state_view *v, const uint8_t *key, size_t key_size,
                                 struct buf *out_value);
/* Reads key of another module (read-only access to its namespace). */
MUST_USE enum err state_view_get_in(struct state_view *v, const char *module, const uint8_t *key,
                                    size_t key_size, struct buf *out_value);
/* Writes key = value. ERR_DENIED in a read-only view (queries), ERR_TOO_LARGE past
 * MODULE_KEY_SIZE_MAX / MODULE_VALUE_SIZE_MAX, ERR_LIMIT or ERR_FULL when the tx's budget of
 * writes is exhausted. */
MUST_USE enum err state_view_put(struct state_view *v, const uint8_t *key, size_t key_size,
                                 const uint8_t *value, size_t value_size);
/* Deletes key (no error if absent). */
MUST_USE enum err state_view_del(struct state_view *v, const uint8_t *key, size_t key_size);

/* The context of one op of one tx. */
struct state_view *exec_ctx_view(struct exec_ctx *ctx);
const struct address *exec_ctx_sender(const struct exec_ctx *ctx);
/* The hash of the tx being executed (e.g. to record where something was published). */
const struct hash *exec_ctx_tx_hash(const struct exec_ctx *ctx);
/* The sender's institution (0: none) and whether the sender is an institution admin. */
uint32_t exec_ctx_institution(const struct exec_ctx *ctx);
bool exec_ctx_sender_is_admin(const struct exec_ctx *ctx);
uint64_t exec_ctx_height(const struct exec_ctx *ctx);
uint64_t exec_ctx_timestamp_us(const struct exec_ctx *ctx);
enum hash_alg exec_ctx_hash_alg(const struct exec_ctx *ctx);
const struct chain_params *exec_ctx_params(const struct exec_ctx *ctx);
/* Charges extra resource units for work that is not state access; ERR_LIMIT past a limit. */
MUST_USE enum err exec_ctx_charge(struct exec_ctx *ctx, uint64_t units);
/* Emits an event of this module (kept only if the tx succeeds). ERR_FULL past
 * RECEIPT_EVENTS_MAX events, ERR_MALFORMED for a bad kind or attribute. */
MUST_USE enum err exec_ctx_emit(struct exec_ctx *ctx, const char *kind,
                                const struct event_attr *attrs, size_t attr_count);
/* Sets the receipt's message for the error the handler is about to return (truncated to
 * RECEIPT_MESSAGE_SIZE_MAX). Without it the message is err_name of the code. The message is
 * part of the receipts root: it must depend on the inputs only. */
void exec_ctx_set_message(struct exec_ctx *ctx, const char *message);

/* Handlers. args are the op's canonical arguments (borrowed). A query writes its answer to
 * out and gets a read-only view of committed (or speculative) state. A genesis loader writes
 * the module's initial state from the genesis struct and its own data blob (NULL, 0 if the
 * genesis has none for it). */
typedef enum err module_op_fn(struct exec_ctx *ctx, const uint8_t *args, size_t args_size);
typedef enum err module_query_fn(struct state_view *view, const uint8_t *args, size_t args_size,
                                 struct buf *out);
typedef enum err module_genesis_fn(struct state_view *view, const struct genesis *genesis,
                                   const uint8_t *data, size_t data_size);

struct module_op {
    const char *name;
    module_op_fn *run;
};

struct module_query {
    const char *name;
    module_query_fn *run;
};

struct module_def {
    const char *name; /* [a-z0-9_], 1..TX_NAME_SIZE_MAX */
    const struct module_op *ops;
    size_t op_count;
    const struct module_query *queries;
    size_t query_count;
    module_genesis_fn *genesis; /* may be NULL */
};

#endif
