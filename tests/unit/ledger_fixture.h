/* A real ledger on a temporary directory for tests and benchmarks: LMDB env, state store,
 * block store, the core modules plus the test module, and a genesis of deterministic keys:
 *   institutions 1 "Alpha", 2 "Beta", 3 "Gamma" (founding) and 4 "Delta";
 *   account i (keys from seed i) belongs to institution i % 4 + 1; accounts 0..2 are admins;
 *   4 validators, one per institution, power 1.
 * Header-only (static functions) so each test executable and bench_ledger can use it.
 * Failures abort through ASSERT (tests and benchmarks only). */
#ifndef LM_TESTS_LEDGER_FIXTURE_H
#define LM_TESTS_LEDGER_FIXTURE_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/mem.h"
#include "codec/codec.h"
#include "codec/tx.h"
#include "ledger/account.h"
#include "ledger/genesis.h"
#include "ledger/ledger.h"
#include "ledger/receipt.h"
#include "ledger/registry.h"
#include "ledger/test_module.h"
#include "store/block_store.h"
#include "store/db.h"
#include "store/state_store.h"

#define FIXTURE_ACCOUNTS_MAX 4096

struct fixture {
    char dir[128];
    enum sig_alg alg;
    enum hash_alg hash_alg;          /* the chain's hash (SHA-256 unless fixture_open_suite) */
    bool durable;                    /* fsync at commit (benchmarks); tests skip it */
    uint64_t map_size_bytes;         /* the LMDB map at fixture_start (0: 4 GiB) */
    struct verify_pool *verify_pool; /* borrowed; set, then fixture_stop + fixture_start */
    size_t account_count;
    struct db *db;
    struct state_store *state;
    struct block_store *blocks;
    struct registry *registry;
    struct genesis genesis;
    struct ledger *ledger;
    struct secret_key **keys;
    struct address *addrs;
};

/* Deterministic key number i of alg. */
static inline struct secret_key *
fixture_key(enum sig_alg alg, uint32_t i)
{
    uint8_t seed_input[8] = { 'k', 'e', 'y', (uint8_t)alg };
    store_u32(seed_input + 4, i);
    struct hash seed;
    hash_bytes(HASH_SHA256, seed_input, sizeof seed_input, &seed);
    if (alg == SIG_SM2) {
        seed.bytes[0] &= 0x7f; /* below the SM2 group order */
        seed.bytes[31] |= 1;
    }
    struct secret_key *key = NULL;
    ASSERT(secret_key_import(alg, seed.bytes, HASH_SIZE, &key) == ERR_OK);
    return key;
}

static inline void
fixture_genesis(struct fixture *f, const struct chain_params *params)
{
    struct genesis *g = &f->genesis;
    genesis_init(g);
    memcpy(g->chain_name, "fixture", 7);
    g->timestamp_us = 1700000000000000ull;
    g->hash_alg = f->hash_alg;
    if (params != NULL) {
        g->params = *params;
    }
    static const char *names[4] = { "Alpha", "Beta", "Gamma", "Delta" };
    for (uint32_t i = 0; i < 4; i++) {
        ASSERT(genesis_add_institution(g, i + 1, names[i], i < 3) == ERR_OK);
    }
    for (size_t i = 0; i < f->account_count; i++) {
        struct genesis_account acc = { .institution = (uint32_t)(i % 4 + 1),
                                       .admin = i < 3,
                                       .key_count = 1 };
        secret_key_public(f->keys[i], &acc.keys[0]);
        ASSERT(genesis_add_account(g, &acc) == ERR_OK);
    }
    g->validators->count = 4;
    for (uint32_t i = 0; i < 4; i++) {
        struct secret_key *consensus = fixture_key(SIG_ED25519, 100000 + i);
        struct secret_key *transport = fixture_key(SIG_ED25519, 200000 + i);
        struct vs_node *node = &g->validators->nodes[i];
        node->institution = i + 1;
        node->power = 1;
        secret_key_public(consensus, &node->consensus_key);
        secret_key_public(transport, &node->transport_key);
        secret_key_free(consensus);
        secret_key_free(transport);
    }
    static const uint8_t test_data[] = { 1, 4, 'g', 'e', 'n', '0', 2, 'o', 'k' };
    ASSERT(genesis_add_module(g, TEST_MODULE, test_data, sizeof test_data) == ERR_OK);
    ASSERT(genesis_check(g) == ERR_OK);
}

/* Opens the stores and the ledger on f->dir (existing data is kept). */
static inline void
fixture_start(struct fixture *f)
{
    struct db_options dbo = { .map_size_bytes =
                                  f->map_size_bytes != 0 ? f->map_size_bytes : 4ull << 30,
                              .no_sync = !f->durable };
    ASSERT(db_open(f->dir, &dbo, &f->db) == ERR_OK);
    struct state_store_options so = { .hash_alg = f->genesis.hash_alg, .retain_versions = 0 };
    ASSERT(state_store_open(f->db, &so, &f->state) == ERR_OK);
    char blocks_dir[160];
    snprintf(blocks_dir, sizeof blocks_dir, "%s/blocks", f->dir);
    struct block_store_options bo = { .segment_size_bytes = 0, .no_sync = !f->durable };
    ASSERT(block_store_open(f->db, blocks_dir, &bo, &f->blocks) == ERR_OK);
    struct ledger_config config = { .db = f->db,
                                    .state = f->state,
                                    .blocks = f->blocks,
                                    .registry = f->registry,
                                    .genesis = &f->genesis,
                                    .verify_pool = f->verify_pool };
    ASSERT(ledger_open(&config, &f->ledger) == ERR_OK);
}

static inline void
fixture_stop(struct fixture *f)
{
    ledger_close(f->ledger);
    block_store_close(f->blocks);
    state_store_close(f->state);
    db_close(f->db);
    f->ledger = NULL;
    f->blocks = NULL;
    f->state = NULL;
    f->db = NULL;
}

/* Commits result with a stand-in block (its height) and no certificate. */
static inline enum err
fixture_commit(struct fixture *f, struct ledger_result *r)
{
    const struct ledger_outcome *o = ledger_result_outcome(r);
    uint8_t stand_in[16];
    store_u64(stand_in, o->height);
    store_u64(stand_in + 8, o->timestamp_us);
    struct ledger_block_bytes bytes = { .block = stand_in, .block_size = sizeof stand_in };
    hash_bytes(HASH_SHA256, stand_in, sizeof stand_in, &bytes.id);
    return ledger_commit(f->ledger, r, &bytes);
}

/* A fresh chain with account_count accounts of alg, genesis committed; durable: fsync. */
static inline void
fixture_open_with(struct fixture *f, enum hash_alg hash_alg, size_t account_count, enum sig_alg alg,
                  const struct chain_params *params, bool durable)
{
    ASSERT(account_count >= 3 && account_count <= FIXTURE_ACCOUNTS_MAX);
    memset(f, 0, sizeof *f);
    f->durable = durable;
    f->hash_alg = hash_alg;
    snprintf(f->dir, sizeof f->dir, "/tmp/lm_ledger_XXXXXX");
    ASSERT(mkdtemp(f->dir) != NULL);
    f->alg = alg;
    f->account_count = account_count;
    f->keys = mem_calloc(account_count, sizeof *f->keys);
    f->addrs = mem_calloc(account_count, sizeof *f->addrs);
    for (size_t i = 0; i < account_count; i++) {
        f->keys[i] = fixture_key(alg, (uint32_t)i);
        struct public_key pk;
        secret_key_public(f->keys[i], &pk);
        address_of(f->hash_alg, &pk, &f->addrs[i]);
    }
    fixture_genesis(f, params);
    f->registry = registry_new();
    ASSERT(registry_add_core(f->registry) == ERR_OK);
    ASSERT(registry_add(f->registry, &test_module) == ERR_OK);
    fixture_start(f);
    struct ledger_result *r = NULL;
    ASSERT(ledger_execute_genesis(f->ledger, &r) == ERR_OK);
    struct buf g;
    buf_init(&g, GENESIS_ENCODED_SIZE_MAX);
    ASSERT(genesis_encode(&f->genesis, &g) == ERR_OK);
    struct ledger_block_bytes bytes = { .id = *ledger_chain_id(f->ledger),
                                        .block = g.data,
                                        .block_size = g.size };
    ASSERT(ledger_commit(f->ledger, r, &bytes) == ERR_OK);
    buf_release(&g);
    ledger_result_free(r);
}

static inline void
fixture_open(struct fixture *f, size_t account_count, enum sig_alg alg,
             const struct chain_params *params)
{
    fixture_open_with(f, HASH_SHA256, account_count, alg, params, false);
}

/* Like fixture_open on a chain whose hash is hash_alg (SHA-256 or SM3). */
static inline void
fixture_open_suite(struct fixture *f, enum hash_alg hash_alg, size_t account_count,
                   enum sig_alg alg)
{
    fixture_open_with(f, hash_alg, account_count, alg, NULL, false);
}

/* Removes the regular files of dir, then dir. */
static inline void
fixture_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    ASSERT(d != NULL);
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            ASSERT(unlink(path) == 0);
        }
    }
    closedir(d);
    ASSERT(rmdir(dir) == 0);
}

static inline void
fixture_close(struct fixture *f)
{
    fixture_stop(f);
    for (size_t i = 0; i < f->account_count; i++) {
        secret_key_free(f->keys[i]);
    }
    mem_free(f->keys);
    mem_free(f->addrs);
    registry_free(f->registry);
    genesis_release(&f->genesis);
    char blocks_dir[160];
    snprintf(blocks_dir, sizeof blocks_dir, "%s/blocks", f->dir);
    fixture_remove_dir(blocks_dir);
    fixture_remove_dir(f->dir);
}

/* One op for fixture_tx. */
struct fixture_op {
    const char *module;
    const char *op;
    const uint8_t *args;
    size_t args_size;
};

/* Appends to out (reset first) a tx of account `from` signed with key (NULL: its own). */
static inline void
fixture_tx_signed(struct fixture *f, size_t from, const struct secret_key *key, uint64_t nonce,
                  uint64_t expiry, const struct fixture_op *ops, size_t op_count, struct buf *out)
{
    ASSERT(from < f->account_count && op_count <= TX_OPS_MAX);
    struct tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = TX_TYPE_V1;
    tx.chain_id = *ledger_chain_id(f->ledger);
    tx.sender = f->addrs[from];
    tx.nonce = nonce;
    tx.expiry_height = expiry;
    tx.op_count = op_count;
    for (size_t i = 0; i < op_count; i++) {
        tx.ops[i] = (struct tx_op){ ops[i].module,     strlen(ops[i].module), ops[i].op,
                                    strlen(ops[i].op), ops[i].args,           ops[i].args_size };
    }
    buf_reset(out);
    ASSERT(tx_sign(f->hash_alg, &tx, key != NULL ? key : f->keys[from], out) == ERR_OK);
}

static inline void
fixture_tx(struct fixture *f, size_t from, uint64_t nonce, const struct fixture_op *ops,
           size_t op_count, struct buf *out)
{
    fixture_tx_signed(f, from, NULL, nonce, 10000, ops, op_count, out);
}

/* A set of test txs (owned copies) to feed ledger_execute_block. */
struct fixture_block {
    size_t count;
    uint8_t *data[8192];
    struct ledger_tx_in txs[8192];
};

static inline void
fixture_block_add(struct fixture_block *b, const struct buf *tx)
{
    ASSERT(b->count < 8192);
    b->data[b->count] = mem_dup(tx->data, tx->size);
    b->txs[b->count] = (struct ledger_tx_in){ .data = b->data[b->count], .size = tx->size };
    b->count++;
}

static inline void
fixture_block_clear(struct fixture_block *b)
{
    for (size_t i = 0; i < b->count; i++) {
        mem_free(b->data[i]);
    }
    b->count = 0;
}

static inline enum err
fixture_execute(struct fixture *f, struct ledger_result *parent, uint64_t height,
                const struct fixture_block *b, bool verified, struct ledger_result **out)
{
    struct ledger_block_in in = { .height = height,
                                  .timestamp_us = 1700000000000000ull + height * 1000000ull,
                                  .txs = b->txs,
                                  .tx_count = b->count,
                                  .signatures_verified = verified };
    return ledger_execute_block(f->ledger, parent, &in, out);
}

/* The status of receipt i of r. */
static inline uint16_t
fixture_status(const struct ledger_result *r, size_t i)
{
    const struct ledger_outcome *o = ledger_result_outcome(r);
    ASSERT(i < o->tx_count);
    struct receipt rec;
    ASSERT(receipt_decode(o->receipts[i].data, o->receipts[i].size, &rec) == ERR_OK);
    return rec.status;
}

#endif
