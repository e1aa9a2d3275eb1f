/* Throughput and sizes of the notary module on a real ledger (fsync on): blocks of 1,000
 * signed notary.anchor txs (each from its own account, a new document hash, kind "contract",
 * a 64-byte note) executed on the committed state and committed, with signatures marked
 * pre-verified (the module's cost, not the signature's: see bench_ledger for that); then
 * notary.get of a hash with 64 anchors, ledger_prove of one record and the sizes of a tx, a
 * record, a proof and an answer. Usage: bench_notary [blocks (default 10)]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/unit/ledger_fixture.h"
#include "codec/notary_args.h"
#include "modules/modules.h"

#define BENCH_TXS_PER_BLOCK 1000
#define BENCH_REPEATS       2000

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
document(size_t n, struct hash *out)
{
    char text[32];
    snprintf(text, sizeof text, "document %zu", n);
    hash_bytes(HASH_SHA256, text, strlen(text), out);
}

/* Account i anchors doc (nonce) into tx. */
static void
anchor_tx(struct fixture *f, size_t i, uint64_t nonce, const struct hash *doc, struct buf *tx)
{
    static const char note[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    struct notary_anchor_args a = { *doc, "contract", 8, note, sizeof note - 1 };
    uint8_t storage[NOTARY_ARGS_SIZE_MAX];
    struct buf args = { .data = storage, .capacity = sizeof storage, .size_max = sizeof storage };
    ASSERT(notary_anchor_args_encode(&a, &args) == ERR_OK);
    struct fixture_op op = { NOTARY_MODULE, NOTARY_OP_ANCHOR, args.data, args.size };
    fixture_tx_signed(f, i, NULL, nonce, 100000, &op, 1, tx);
}

static void
expect_all_ok(const struct ledger_result *r)
{
    for (size_t i = 0; i < ledger_result_outcome(r)->tx_count; i++) {
        ASSERT(fixture_status(r, i) == 0);
    }
}

static void
run_blocks(struct fixture *f, size_t blocks, size_t *out_tx_size)
{
    struct fixture_block *all = mem_calloc(blocks, sizeof *all);
    struct buf tx;
    buf_init(&tx, TX_SIZE_MAX);
    for (size_t b = 0; b < blocks; b++) {
        for (size_t i = 0; i < BENCH_TXS_PER_BLOCK; i++) {
            struct hash doc;
            document(b * BENCH_TXS_PER_BLOCK + i, &doc);
            anchor_tx(f, i, b, &doc, &tx);
            fixture_block_add(&all[b], &tx);
        }
    }
    *out_tx_size = tx.size;
    buf_release(&tx);
    double exec_s = 0;
    double commit_s = 0;
    double cpu0 = cpu_s();
    uint64_t resource = 0;
    for (size_t b = 0; b < blocks; b++) {
        struct ledger_result *r = NULL;
        double t0 = now_s();
        ASSERT(fixture_execute(f, NULL, b + 1, &all[b], true, &r) == ERR_OK);
        double t1 = now_s();
        ASSERT(fixture_commit(f, r) == ERR_OK);
        exec_s += t1 - t0;
        commit_s += now_s() - t1;
        expect_all_ok(r);
        resource += ledger_result_outcome(r)->resource_used;
        ledger_result_free(r);
        fixture_block_clear(&all[b]);
    }
    double txs = (double)(blocks * BENCH_TXS_PER_BLOCK);
    printf("anchors, pre-verified: %.0f tx/s  execute %.1f us/tx  commit %.1f us/tx (%.1f "
           "ms/block)  cpu %.1f us/tx  resource %.0f units/tx\n",
           txs / (exec_s + commit_s), exec_s / txs * 1e6, commit_s / txs * 1e6,
           commit_s / (double)blocks * 1e3, (cpu_s() - cpu0) / txs * 1e6, (double)resource / txs);
    mem_free(all);
}

/* 64 accounts anchor one hash in block `height`; returns it. */
static void
popular(struct fixture *f, uint64_t height, uint64_t nonce, struct hash *out_doc)
{
    document(999999999, out_doc);
    struct fixture_block *blk = mem_calloc(1, sizeof *blk);
    struct buf tx;
    buf_init(&tx, TX_SIZE_MAX);
    for (size_t i = 0; i < NOTARY_ANCHORS_PER_HASH_MAX; i++) {
        anchor_tx(f, i, nonce, out_doc, &tx);
        fixture_block_add(blk, &tx);
    }
    struct ledger_result *r = NULL;
    ASSERT(fixture_execute(f, NULL, height, blk, true, &r) == ERR_OK);
    ASSERT(fixture_commit(f, r) == ERR_OK);
    ledger_result_free(r);
    fixture_block_clear(blk);
    mem_free(blk);
    buf_release(&tx);
}

static void
run_reads(struct fixture *f, const struct hash *doc)
{
    struct buf out;
    buf_init(&out, NOTARY_ANSWER_SIZE_MAX);
    double t0 = now_s();
    for (size_t i = 0; i < BENCH_REPEATS; i++) {
        buf_reset(&out);
        ASSERT(ledger_query(f->ledger, NULL, "notary.get", doc->bytes, HASH_SIZE, &out) == ERR_OK);
    }
    double get_us = (now_s() - t0) / BENCH_REPEATS * 1e6;
    size_t answer_size = out.size;
    uint8_t key[NOTARY_DOCUMENT_KEY_SIZE];
    notary_document_key(doc, key);
    struct ledger_state_proof *lp = mem_alloc(sizeof *lp);
    t0 = now_s();
    for (size_t i = 0; i < BENCH_REPEATS; i++) {
        buf_reset(&out);
        ASSERT(ledger_prove(f->ledger, NOTARY_MODULE, key, sizeof key, &out, lp) == ERR_OK);
    }
    double prove_us = (now_s() - t0) / BENCH_REPEATS * 1e6;
    size_t records_size = out.size;
    buf_reset(&out);
    ASSERT(state_proof_encode(&out, &lp->proof) == ERR_OK);
    printf("notary.get (64 anchors): %.1f us, answer %zu bytes\n", get_us, answer_size);
    printf("ledger_prove (the document's 64 records): %.1f us, value %zu bytes, proof %zu bytes "
           "(%zu siblings)\n",
           prove_us, records_size, out.size, lp->proof.sibling_count);
    mem_free(lp);
    buf_release(&out);
}

int
main(int argc, char **argv)
{
    size_t blocks = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 10;
    if (blocks == 0 || blocks > 1000) {
        fprintf(stderr, "usage: bench_notary [blocks 1..1000]\n");
        return 1;
    }
    struct fixture f;
    fixture_open_with(&f, HASH_SHA256, BENCH_TXS_PER_BLOCK, SIG_ED25519, NULL, true);
    fixture_stop(&f);
    ASSERT(modules_register_all(f.registry) == ERR_OK);
    fixture_start(&f);
    printf("bench_notary: %zu blocks of %d anchors, ed25519, fsync on\n", blocks,
           BENCH_TXS_PER_BLOCK);
    size_t tx_size = 0;
    run_blocks(&f, blocks, &tx_size);
    printf("anchor tx: %zu bytes (64-byte note)\n", tx_size);
    struct hash doc;
    popular(&f, blocks + 1, blocks, &doc);
    run_reads(&f, &doc);
    fixture_close(&f);
    return 0;
}
