#include "store/db.h"

#include <errno.h>
#include <lmdb.h>
#include <string.h>
#include <sys/stat.h>

#include "base/assert.h"
#include "base/log.h"
#include "base/mem.h"

struct db {
    MDB_env *env;
    MDB_dbi tables[DB_TABLES_MAX];
    unsigned table_count;
};

struct db_txn {
    struct db *db;
    MDB_txn *txn;
};

struct db_cursor {
    MDB_cursor *cursor;
};

static enum err
err_of_mdb(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return ERR_OK;
    case MDB_NOTFOUND:
        return ERR_NOT_FOUND;
    case MDB_MAP_FULL:
    case ENOSPC:
        return ERR_NO_SPACE;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
        return ERR_CORRUPT;
    case MDB_BAD_VALSIZE:
        return ERR_TOO_LARGE;
    case MDB_READERS_FULL:
    case MDB_DBS_FULL:
    case MDB_TXN_FULL:
        return ERR_LIMIT;
    default:
        return rc > 0 ? err_from_errno(rc) : ERR_IO;
    }
}

enum err
db_open(const char *dir, const struct db_options *options, struct db **out)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return err_from_errno(errno);
    }
    struct db *db = mem_calloc(1, sizeof *db);
    int rc = mdb_env_create(&db->env);
    if (rc != MDB_SUCCESS) {
        mem_free(db);
        return err_of_mdb(rc);
    }
    uint64_t map = options->map_size_bytes != 0 ? options->map_size_bytes : (64ull << 30);
    unsigned readers = options->readers_max != 0 ? options->readers_max : 126;
    unsigned flags = MDB_NORDAHEAD | (options->no_sync ? MDB_NOSYNC : 0u);
    rc = mdb_env_set_mapsize(db->env, (size_t)map);
    if (rc == MDB_SUCCESS) {
        rc = mdb_env_set_maxdbs(db->env, DB_TABLES_MAX);
    }
    if (rc == MDB_SUCCESS) {
        rc = mdb_env_set_maxreaders(db->env, readers);
    }
    if (rc == MDB_SUCCESS) {
        rc = mdb_env_open(db->env, dir, flags, 0600);
    }
    if (rc != MDB_SUCCESS) {
        log_debug(LOG_STORE, "lmdb open failed dir=%s rc=%d %s", dir, rc, mdb_strerror(rc));
        mdb_env_close(db->env);
        mem_free(db);
        return err_of_mdb(rc);
    }
    *out = db;
    return ERR_OK;
}

void
db_close(struct db *db)
{
    if (db == NULL) {
        return;
    }
    mdb_env_close(db->env);
    mem_free(db);
}

enum err
db_table_open(struct db *db, const char *name, struct db_table *out)
{
    ASSERT(db->table_count < DB_TABLES_MAX);
    MDB_txn *txn;
    int rc = mdb_txn_begin(db->env, NULL, 0, &txn);
    if (rc != MDB_SUCCESS) {
        return err_of_mdb(rc);
    }
    MDB_dbi dbi;
    rc = mdb_dbi_open(txn, name, MDB_CREATE, &dbi);
    if (rc != MDB_SUCCESS) {
        mdb_txn_abort(txn);
        return err_of_mdb(rc);
    }
    rc = mdb_txn_commit(txn);
    if (rc != MDB_SUCCESS) {
        return err_of_mdb(rc);
    }
    db->tables[db->table_count] = dbi;
    out->index = db->table_count++;
    return ERR_OK;
}

enum err
db_txn_begin(struct db *db, bool write, struct db_txn **out)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(db->env, NULL, write ? 0 : MDB_RDONLY, &txn);
    if (rc != MDB_SUCCESS) {
        return err_of_mdb(rc);
    }
    struct db_txn *t = mem_alloc(sizeof *t);
    t->db = db;
    t->txn = txn;
    *out = t;
    return ERR_OK;
}

enum err
db_txn_commit(struct db_txn *txn)
{
    int rc = mdb_txn_commit(txn->txn);
    mem_free(txn);
    return err_of_mdb(rc);
}

void
db_txn_abort(struct db_txn *txn)
{
    if (txn == NULL) {
        return;
    }
    mdb_txn_abort(txn->txn);
    mem_free(txn);
}

static MDB_dbi
dbi_of(const struct db_txn *txn, struct db_table t)
{
    ASSERT(t.index < txn->db->table_count);
    return txn->db->tables[t.index];
}

static MDB_val
mdb_val_of(struct db_val v)
{
    /* LMDB takes non-const pointers but does not write through keys or values we pass. */
    MDB_val m = { v.size, NULL };
    memcpy(&m.mv_data, &v.data, sizeof m.mv_data);
    return m;
}

static struct db_val
db_val_from(MDB_val m)
{
    struct db_val v = { m.mv_data, m.mv_size };
    return v;
}

enum err
db_get(struct db_txn *txn, struct db_table t, struct db_val key, struct db_val *out)
{
    MDB_val k = mdb_val_of(key);
    MDB_val v;
    int rc = mdb_get(txn->txn, dbi_of(txn, t), &k, &v);
    if (rc == MDB_SUCCESS) {
        *out = db_val_from(v);
    }
    return err_of_mdb(rc);
}

enum err
db_put(struct db_txn *txn, struct db_table t, struct db_val key, struct db_val value)
{
    MDB_val k = mdb_val_of(key);
    MDB_val v = mdb_val_of(value);
    return err_of_mdb(mdb_put(txn->txn, dbi_of(txn, t), &k, &v, 0));
}

enum err
db_append(struct db_txn *txn, struct db_table t, struct db_val key, struct db_val value)
{
    MDB_val k = mdb_val_of(key);
    MDB_val v = mdb_val_of(value);
    int rc = mdb_put(txn->txn, dbi_of(txn, t), &k, &v, MDB_APPEND);
    if (rc == MDB_KEYEXIST) { /* not after the last key: nothing was written */
        k = mdb_val_of(key);
        v = mdb_val_of(value);
        rc = mdb_put(txn->txn, dbi_of(txn, t), &k, &v, 0);
    }
    return err_of_mdb(rc);
}

enum err
db_del(struct db_txn *txn, struct db_table t, struct db_val key)
{
    MDB_val k = mdb_val_of(key);
    return err_of_mdb(mdb_del(txn->txn, dbi_of(txn, t), &k, NULL));
}

enum err
db_cursor_open(struct db_txn *txn, struct db_table t, struct db_cursor **out)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn->txn, dbi_of(txn, t), &cursor);
    if (rc != MDB_SUCCESS) {
        return err_of_mdb(rc);
    }
    struct db_cursor *c = mem_alloc(sizeof *c);
    c->cursor = cursor;
    *out = c;
    return ERR_OK;
}

void
db_cursor_close(struct db_cursor *c)
{
    if (c == NULL) {
        return;
    }
    mdb_cursor_close(c->cursor);
    mem_free(c);
}

static enum err
cursor_get(struct db_cursor *c, MDB_val *k, MDB_cursor_op op, struct db_val *out_key,
           struct db_val *out_value)
{
    MDB_val v;
    int rc = mdb_cursor_get(c->cursor, k, &v, op);
    if (rc == MDB_SUCCESS) {
        *out_key = db_val_from(*k);
        *out_value = db_val_from(v);
    }
    return err_of_mdb(rc);
}

enum err
db_cursor_seek(struct db_cursor *c, struct db_val key, struct db_val *out_key,
               struct db_val *out_value)
{
    MDB_val k = mdb_val_of(key);
    return cursor_get(c, &k, MDB_SET_RANGE, out_key, out_value);
}

enum err
db_cursor_next(struct db_cursor *c, struct db_val *out_key, struct db_val *out_value)
{
    MDB_val k;
    return cursor_get(c, &k, MDB_NEXT, out_key, out_value);
}

enum err
db_cursor_prev(struct db_cursor *c, struct db_val *out_key, struct db_val *out_value)
{
    MDB_val k;
    return cursor_get(c, &k, MDB_PREV, out_key, out_value);
}

enum err
db_cursor_last(struct db_cursor *c, struct db_val *out_key, struct db_val *out_value)
{
    MDB_val k;
    return cursor_get(c, &k, MDB_LAST, out_key, out_value);
}

enum err
db_cursor_del(struct db_cursor *c)
{
    return err_of_mdb(mdb_cursor_del(c->cursor, 0));
}
