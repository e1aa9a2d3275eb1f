/* One LMDB environment per node data directory, holding every named table of the state store,
 * the block index and the node's metadata, so that one write transaction commits a block's
 * index entries, its state and the new height atomically (ARCHITECTURE.md "Storage").
 *
 * Single writer (LMDB's rule): one write transaction at a time, on one thread. Readers may
 * run on any thread with their own read transactions. Values returned by db_get or a cursor
 * are borrowed: valid until the transaction ends or the next write in it. */
#ifndef LM_STORE_DB_H
#define LM_STORE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define DB_TABLES_MAX 16

struct db;
struct db_txn;
struct db_cursor;

struct db_options {
    uint64_t map_size_bytes; /* maximum size of the environment (0: 64 GiB) */
    unsigned readers_max;    /* concurrent read transactions (0: 126) */
    bool no_sync;            /* tests only: skip fsync at commit */
};

/* A table handle, obtained once with db_table_open and valid until db_close. */
struct db_table {
    unsigned index;
};

struct db_val {
    const uint8_t *data;
    size_t size;
};

/* Opens (creating if needed) the environment in directory dir. */
MUST_USE enum err db_open(const char *dir, const struct db_options *options, struct db **out);
void db_close(struct db *db);
/* Opens or creates a named table. Call before any other transaction, at start-up. */
MUST_USE enum err db_table_open(struct db *db, const char *name, struct db_table *out);

MUST_USE enum err db_txn_begin(struct db *db, bool write, struct db_txn **out);
/* Commits (with fsync unless no_sync); the txn is gone either way. ERR_NO_SPACE when the map
 * or the disk is full: nothing of the txn was written. */
MUST_USE enum err db_txn_commit(struct db_txn *txn);
void db_txn_abort(struct db_txn *txn);

/* ERR_NOT_FOUND if absent. */
MUST_USE enum err db_get(struct db_txn *txn, struct db_table t, struct db_val key,
                         struct db_val *out);
MUST_USE enum err db_put(struct db_txn *txn, struct db_table t, struct db_val key,
                         struct db_val value);
/* db_put for a key greater than every key of the table, as when a block's records are
 * written in key order at the end of a version-first table: LMDB's MDB_APPEND, which skips
 * the search and splits a full page at its end, so appended pages stay full instead of
 * half full. A key that is not the greatest is put normally (same result, slower). */
MUST_USE enum err db_append(struct db_txn *txn, struct db_table t, struct db_val key,
                            struct db_val value);
/* ERR_NOT_FOUND if absent. */
MUST_USE enum err db_del(struct db_txn *txn, struct db_table t, struct db_val key);

/* Cursors iterate keys in lexicographic byte order. */
MUST_USE enum err db_cursor_open(struct db_txn *txn, struct db_table t, struct db_cursor **out);
void db_cursor_close(struct db_cursor *c);
/* Positions at the first key >= key; ERR_NOT_FOUND if none. */
MUST_USE enum err db_cursor_seek(struct db_cursor *c, struct db_val key, struct db_val *out_key,
                                 struct db_val *out_value);
MUST_USE enum err db_cursor_next(struct db_cursor *c, struct db_val *out_key,
                                 struct db_val *out_value);
MUST_USE enum err db_cursor_prev(struct db_cursor *c, struct db_val *out_key,
                                 struct db_val *out_value);
MUST_USE enum err db_cursor_last(struct db_cursor *c, struct db_val *out_key,
                                 struct db_val *out_value);
/* Deletes the entry under the cursor. */
MUST_USE enum err db_cursor_del(struct db_cursor *c);

static inline struct db_val
db_val_of(const void *data, size_t size)
{
    struct db_val v = { (const uint8_t *)data, size };
    return v;
}

#endif
