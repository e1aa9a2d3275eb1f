/* Tests of the notary module (modules/notary.h, codec/notary_args.h) through real signed txs
 * in real blocks on a real ledger (LMDB state store and block store in a temp dir): anchors,
 * duplicates, rejections with receipts, queries, state proofs of records, the per-hash limit,
 * resource accounting and re-execution determinism. */
#include <stdio.h>
#include <string.h>

#include "codec/consensus_types.h"
#include "codec/notary_args.h"
#include "codec/notary_bundle.h"
#include "codec/state_proof.h"
#include "ledger_fixture.h"
#include "modules/modules.h"
#include "modules/notary.h"
#include "unit.h"

static struct fixture_block block;

/* A fixture chain with the business modules registered (genesis has no notary state, so
 * registering them after genesis gives the same chain as registering them before). */
static void
open_chain(struct fixture *f, enum hash_alg alg, size_t accounts)
{
    fixture_open_with(f, alg, accounts, SIG_ED25519, NULL, false);
    fixture_stop(f);
    assert_int_equal(modules_register_all(f->registry), ERR_OK);
    assert_int_equal(modules_register_all(f->registry), ERR_EXISTS);
    fixture_start(f);
}

/* Like open_chain (SHA-256, 8 accounts), but account 7 belongs to no institution. */
static void
open_chain_loner(struct fixture *f)
{
    memset(f, 0, sizeof *f);
    f->hash_alg = HASH_SHA256;
    f->alg = SIG_ED25519;
    f->account_count = 8;
    snprintf(f->dir, sizeof f->dir, "/tmp/lm_notary_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->keys = mem_calloc(f->account_count, sizeof(struct secret_key *));
    f->addrs = mem_calloc(f->account_count, sizeof *f->addrs);
    for (size_t i = 0; i < f->account_count; i++) {
        f->keys[i] = fixture_key(f->alg, (uint32_t)i);
        struct public_key pk;
        secret_key_public(f->keys[i], &pk);
        address_of(f->hash_alg, &pk, &f->addrs[i]);
    }
    fixture_genesis(f, NULL);
    f->genesis.accounts[7].institution = 0;
    assert_int_equal(genesis_check(&f->genesis), ERR_OK);
    f->registry = registry_new();
    assert_int_equal(registry_add_core(f->registry), ERR_OK);
    assert_int_equal(registry_add(f->registry, &test_module), ERR_OK);
    assert_int_equal(modules_register_all(f->registry), ERR_OK);
    fixture_start(f);
    struct ledger_result *r = NULL;
    assert_int_equal(ledger_execute_genesis(f->ledger, &r), ERR_OK);
    struct buf g;
    buf_init(&g, GENESIS_ENCODED_SIZE_MAX);
    assert_int_equal(genesis_encode(&f->genesis, &g), ERR_OK);
    struct ledger_block_bytes bytes = { .id = *ledger_chain_id(f->ledger),
                                        .block = g.data,
                                        .block_size = g.size };
    assert_int_equal(ledger_commit(f->ledger, r, &bytes), ERR_OK);
    buf_release(&g);
    ledger_result_free(r);
}

static void
doc_hash(enum hash_alg alg, const char *document, struct hash *out)
{
    hash_bytes(alg, document, strlen(document), out);
}

static void
add_raw_anchor(struct fixture *f, size_t from, uint64_t nonce, const uint8_t *args,
               size_t args_size)
{
    struct buf tx;
    buf_init(&tx, TX_SIZE_MAX);
    struct fixture_op op = { NOTARY_MODULE, NOTARY_OP_ANCHOR, args, args_size };
    fixture_tx(f, from, nonce, &op, 1, &tx);
    fixture_block_add(&block, &tx);
    buf_release(&tx);
}

static void
add_anchor(struct fixture *f, size_t from, uint64_t nonce, const struct hash *doc, const char *kind,
           const char *note)
{
    struct notary_anchor_args a = { *doc, kind, strlen(kind), note, strlen(note) };
    struct buf args;
    buf_init(&args, NOTARY_ARGS_SIZE_MAX);
    assert_int_equal(notary_anchor_args_encode(&a, &args), ERR_OK);
    add_raw_anchor(f, from, nonce, args.data, args.size);
    buf_release(&args);
}

/* Executes the pending block at height on the committed state, commits it, clears the
 * block; returns the result (caller frees). */
static struct ledger_result *
run_block(struct fixture *f, uint64_t height)
{
    struct ledger_result *r = NULL;
    assert_int_equal(fixture_execute(f, NULL, height, &block, false, &r), ERR_OK);
    assert_int_equal(fixture_commit(f, r), ERR_OK);
    fixture_block_clear(&block);
    return r;
}

static void
expect_receipt(const struct ledger_result *r, size_t i, enum err code, const char *message_part)
{
    const struct ledger_outcome *o = ledger_result_outcome(r);
    assert_true(i < o->tx_count);
    struct receipt rec;
    assert_int_equal(receipt_decode(o->receipts[i].data, o->receipts[i].size, &rec), ERR_OK);
    assert_int_equal(rec.status, receipt_status_of(code));
    if (message_part != NULL) {
        char message[RECEIPT_MESSAGE_SIZE_MAX + 1];
        memcpy(message, rec.message, rec.message_size);
        message[rec.message_size] = '\0';
        if (strstr(message, message_part) == NULL) {
            print_error("receipt %zu message '%s' lacks '%s'\n", i, message, message_part);
            fail();
        }
    }
}

/* notary.get of doc at the committed state; returns the rc, fills *out on success. */
static enum err
get_anchors(struct fixture *f, const struct hash *doc, struct notary_anchors *out)
{
    struct buf answer;
    buf_init(&answer, NOTARY_ANSWER_SIZE_MAX);
    enum err rc = ledger_query(f->ledger, NULL, "notary.get", doc->bytes, HASH_SIZE, &answer);
    if (rc == ERR_OK) {
        assert_int_equal(notary_anchors_decode(answer.data, answer.size, out), ERR_OK);
        assert_true(hash_equal(&out->document, doc));
        /* Canonical: re-encoding gives the same bytes. */
        struct buf again;
        buf_init(&again, NOTARY_ANSWER_SIZE_MAX);
        assert_int_equal(notary_anchors_encode(out, &again), ERR_OK);
        assert_int_equal(again.size, answer.size);
        assert_memory_equal(again.data, answer.data, answer.size);
        buf_release(&again);
    }
    buf_release(&answer);
    return rc;
}

static void
expect_texts(const struct notary_record *rec, const char *kind, const char *note)
{
    assert_int_equal(rec->kind_size, strlen(kind));
    assert_memory_equal(rec->kind, kind, rec->kind_size);
    assert_int_equal(rec->note_size, strlen(note));
    assert_memory_equal(rec->note, note, rec->note_size);
}

/* What a record should hold. */
struct expect {
    size_t account;
    uint64_t height;
    const char *kind;
    const char *note;
    const struct hash *tx_hash;
};

static void
expect_record(const struct fixture *f, const struct notary_record *rec, const struct expect *e)
{
    size_t account = e->account;
    uint64_t height = e->height;
    const struct hash *want_tx = e->tx_hash;
    assert_memory_equal(rec->account.bytes, f->addrs[account].bytes, ADDRESS_SIZE);
    assert_int_equal(rec->institution, account % 4 + 1);
    assert_int_equal(rec->height, height);
    assert_int_equal(rec->timestamp_us, 1700000000000000ull + height * 1000000ull);
    expect_texts(rec, e->kind, e->note);
    assert_true(hash_equal(&rec->tx_hash, want_tx));
}

static void
anchor_and_duplicates(enum hash_alg alg)
{
    struct fixture f;
    open_chain(&f, alg, 8);
    struct hash doc;
    doc_hash(alg, "contract 2026-001", &doc);
    const char *note = "采购合同 第一版"; /* UTF-8 */
    add_anchor(&f, 3, 0, &doc, "contract", note);
    struct ledger_result *r1 = run_block(&f, 1);
    expect_receipt(r1, 0, ERR_OK, NULL);
    struct hash tx1 = ledger_result_outcome(r1)->tx_hashes[0];

    struct notary_anchors *got = mem_alloc(sizeof *got);
    assert_int_equal(get_anchors(&f, &doc, got), ERR_OK);
    assert_int_equal(got->count, 1);
    expect_record(&f, &got->records[0], &(struct expect){ 3, 1, "contract", note, &tx1 });

    /* Same account again (next block, and twice in one block): rejected, nonce taken.
     * Another account: accepted. */
    add_anchor(&f, 3, 1, &doc, "contract", "again");
    add_anchor(&f, 5, 0, &doc, "witness", "");
    add_anchor(&f, 5, 1, &doc, "witness", "twice in one block");
    struct ledger_result *r2 = run_block(&f, 2);
    expect_receipt(r2, 0, ERR_EXISTS, "already anchored this document at height 1");
    expect_receipt(r2, 1, ERR_OK, NULL);
    expect_receipt(r2, 2, ERR_EXISTS, "already anchored this document at height 2");
    struct hash tx2 = ledger_result_outcome(r2)->tx_hashes[1];

    assert_int_equal(get_anchors(&f, &doc, got), ERR_OK);
    assert_int_equal(got->count, 2);
    expect_record(&f, &got->records[0], &(struct expect){ 3, 1, "contract", note, &tx1 });
    expect_record(&f, &got->records[1], &(struct expect){ 5, 2, "witness", "", &tx2 });

    struct hash other;
    doc_hash(alg, "never anchored", &other);
    assert_int_equal(get_anchors(&f, &other, got), ERR_NOT_FOUND);
    struct buf out;
    buf_init(&out, 64);
    assert_int_equal(ledger_query(f.ledger, NULL, "notary.get", doc.bytes, 31, &out),
                     ERR_MALFORMED);
    buf_release(&out);
    mem_free(got);
    ledger_result_free(r1);
    ledger_result_free(r2);
    fixture_close(&f);
}

static void
test_anchor_and_duplicates(void **state)
{
    (void)state;
    anchor_and_duplicates(HASH_SHA256);
}

static void
test_anchor_sm3_chain(void **state)
{
    (void)state;
    anchor_and_duplicates(HASH_SM3);
}

/* Raw args: hash, then kind and note as unchecked bytes (the encoder refuses bad ones). */
static void
raw_args(const struct hash *doc, const void *kind, size_t kind_size, const void *note,
         size_t note_size, struct buf *out)
{
    buf_reset(out);
    assert_int_equal(codec_put_hash(out, doc), ERR_OK);
    assert_int_equal(codec_put_bytes(out, kind, kind_size, 1024), ERR_OK);
    assert_int_equal(codec_put_bytes(out, note, note_size, 1024), ERR_OK);
}

static void
test_rejections(void **state)
{
    (void)state;
    struct fixture f;
    open_chain(&f, HASH_SHA256, 8);
    struct hash doc;
    doc_hash(HASH_SHA256, "doc", &doc);
    struct hash zero;
    memset(&zero, 0, sizeof zero);
    char long_note[NOTARY_NOTE_SIZE_MAX + 1];
    memset(long_note, 'n', sizeof long_note);
    static const uint8_t bad_utf8[] = { 'o', 'k', 0xc3, 0x28 };
    static const uint8_t overlong[] = { 0xc0, 0xaf };
    struct buf args;
    buf_init(&args, 2048);
    uint64_t nonce = 0;
    raw_args(&doc, "contract", 8, long_note, sizeof long_note, &args);
    add_raw_anchor(&f, 3, nonce++, args.data, args.size);
    raw_args(&doc, "contract", 8, bad_utf8, sizeof bad_utf8, &args);
    add_raw_anchor(&f, 3, nonce++, args.data, args.size);
    raw_args(&doc, "Contract", 8, "", 0, &args);
    add_raw_anchor(&f, 3, nonce++, args.data, args.size);
    raw_args(&doc, "", 0, "", 0, &args);
    add_raw_anchor(&f, 3, nonce++, args.data, args.size);
    raw_args(&doc, "a b", 3, "", 0, &args);
    add_raw_anchor(&f, 3, nonce++, args.data, args.size);
    raw_args(&zero, "contract", 8, "", 0, &args);
    add_raw_anchor(&f, 3, nonce++, args.data, args.size);
    raw_args(&doc, "contract", 8, overlong, sizeof overlong, &args);
    add_raw_anchor(&f, 3, nonce++, args.data, args.size);
    raw_args(&doc, "contract", 8, "", 0, &args);
    assert_int_equal(buf_append_byte(&args, 0), ERR_OK); /* trailing byte */
    add_raw_anchor(&f, 3, nonce++, args.data, args.size);
    add_raw_anchor(&f, 3, nonce++, doc.bytes, 20); /* truncated hash */
    /* The maximum note is accepted (the last tx, so the rejections above wrote nothing). */
    raw_args(&doc, "contract", 8, long_note, NOTARY_NOTE_SIZE_MAX, &args);
    add_raw_anchor(&f, 3, nonce++, args.data, args.size);
    struct ledger_result *r = run_block(&f, 1);
    expect_receipt(r, 0, ERR_TOO_LARGE, "note: longer than 256 bytes");
    expect_receipt(r, 1, ERR_UTF8, "note: not valid UTF-8");
    expect_receipt(r, 2, ERR_MALFORMED, "kind: 1 to 32 bytes of [a-z0-9_-]");
    expect_receipt(r, 3, ERR_MALFORMED, "kind:");
    expect_receipt(r, 4, ERR_MALFORMED, "kind:");
    expect_receipt(r, 5, ERR_MALFORMED, "document hash is all zero");
    expect_receipt(r, 6, ERR_UTF8, "note: not valid UTF-8");
    expect_receipt(r, 7, ERR_TRAILING, "trailing bytes");
    expect_receipt(r, 8, ERR_TRUNCATED, "document hash");
    expect_receipt(r, 9, ERR_OK, NULL);
    /* Failed txs took their nonces. */
    struct account acc;
    assert_int_equal(ledger_account(f.ledger, NULL, &f.addrs[3], &acc), ERR_OK);
    assert_int_equal(acc.nonce, nonce);
    struct notary_anchors *got = mem_alloc(sizeof *got);
    assert_int_equal(get_anchors(&f, &doc, got), ERR_OK);
    assert_int_equal(got->count, 1);
    assert_int_equal(got->records[0].note_size, NOTARY_NOTE_SIZE_MAX);
    assert_int_equal(get_anchors(&f, &zero, got), ERR_NOT_FOUND);
    mem_free(got);
    ledger_result_free(r);
    buf_release(&args);
    fixture_close(&f);
}

/* Anchoring is vouched for by an institution: an account of none is refused. */
static void
test_no_institution(void **state)
{
    (void)state;
    struct fixture f;
    open_chain_loner(&f);
    struct hash doc;
    doc_hash(HASH_SHA256, "unvouched", &doc);
    add_anchor(&f, 7, 0, &doc, "contract", "");
    add_anchor(&f, 6, 0, &doc, "contract", "");
    struct ledger_result *r = run_block(&f, 1);
    expect_receipt(r, 0, ERR_DENIED, "belongs to no institution");
    expect_receipt(r, 1, ERR_OK, NULL);
    struct notary_anchors *got = mem_alloc(sizeof *got);
    assert_int_equal(get_anchors(&f, &doc, got), ERR_OK);
    assert_int_equal(got->count, 1);
    assert_int_equal(got->records[0].institution, 3);
    mem_free(got);
    ledger_result_free(r);
    fixture_close(&f);
}

/* An anchor is charged its validation on top of its state accesses. */
static void
test_resources(void **state)
{
    (void)state;
    struct fixture f;
    open_chain(&f, HASH_SHA256, 8);
    struct hash doc;
    doc_hash(HASH_SHA256, "metered", &doc);
    add_anchor(&f, 3, 0, &doc, "k", "");
    struct ledger_result *r = run_block(&f, 1);
    const struct ledger_outcome *o = ledger_result_outcome(r);
    struct receipt rec;
    assert_int_equal(receipt_decode(o->receipts[0].data, o->receipts[0].size, &rec), ERR_OK);
    assert_int_equal(rec.status, 0);
    /* Base + size + op + anchor charge + two reads (record, list) + two writes. */
    uint64_t floor = LEDGER_RES_TX_BASE + LEDGER_RES_OP + NOTARY_RES_ANCHOR + 2 * LEDGER_RES_READ +
                     2 * LEDGER_RES_WRITE;
    assert_true(rec.resource_used > floor);
    assert_true(o->resource_used >= rec.resource_used);
    ledger_result_free(r);
    fixture_close(&f);
}

/* 64 accounts anchor one hash; the 65th is refused. */
static void
test_anchor_limit(void **state)
{
    (void)state;
    struct fixture f;
    open_chain(&f, HASH_SHA256, NOTARY_ANCHORS_PER_HASH_MAX + 2);
    struct hash doc;
    doc_hash(HASH_SHA256, "popular", &doc);
    for (size_t i = 0; i <= NOTARY_ANCHORS_PER_HASH_MAX; i++) {
        add_anchor(&f, i, 0, &doc, "copy", "");
    }
    struct ledger_result *r = run_block(&f, 1);
    for (size_t i = 0; i < NOTARY_ANCHORS_PER_HASH_MAX; i++) {
        expect_receipt(r, i, ERR_OK, NULL);
    }
    expect_receipt(r, NOTARY_ANCHORS_PER_HASH_MAX, ERR_FULL, "maximum of 64 anchors");
    struct notary_anchors *got = mem_alloc(sizeof *got);
    assert_int_equal(get_anchors(&f, &doc, got), ERR_OK);
    assert_int_equal(got->count, NOTARY_ANCHORS_PER_HASH_MAX);
    for (size_t i = 0; i < NOTARY_ANCHORS_PER_HASH_MAX; i++) {
        assert_memory_equal(got->records[i].account.bytes, f.addrs[i].bytes, ADDRESS_SIZE);
    }
    mem_free(got);
    ledger_result_free(r);
    fixture_close(&f);
}

/* A document's records' state proof verifies against the committed root; tampering fails. */
static void
test_record_proof(void **state)
{
    (void)state;
    struct fixture f;
    open_chain(&f, HASH_SHA256, 8);
    struct hash doc;
    doc_hash(HASH_SHA256, "proved", &doc);
    add_anchor(&f, 4, 0, &doc, "diploma", "毕业证书");
    struct ledger_result *r1 = run_block(&f, 1);
    struct hash root1 = ledger_result_outcome(r1)->exec_root;
    uint8_t key[NOTARY_DOCUMENT_KEY_SIZE];
    notary_document_key(&doc, key);
    uint8_t full_key[NOTARY_STATE_KEY_SIZE];
    notary_document_state_key(&doc, full_key);
    assert_memory_equal(full_key + sizeof NOTARY_MODULE, key, sizeof key);

    struct buf value;
    buf_init(&value, NOTARY_RECORDS_SIZE_MAX);
    struct ledger_state_proof *lp = mem_alloc(sizeof *lp);
    assert_int_equal(ledger_prove(f.ledger, NOTARY_MODULE, key, sizeof key, &value, lp), ERR_OK);
    assert_true(lp->found);
    assert_int_equal(lp->height, 1);
    assert_true(hash_equal(&lp->root, &root1));
    assert_int_equal(state_proof_verify(HASH_SHA256, &lp->root, full_key, sizeof full_key,
                                        value.data, value.size, &lp->proof),
                     ERR_OK);
    struct notary_record rec;
    size_t count = 0;
    assert_int_equal(notary_records_find(value.data, value.size, &f.addrs[4], &count, &rec),
                     ERR_OK);
    assert_int_equal(count, 1);
    assert_int_equal(notary_records_find(value.data, value.size, &f.addrs[5], &count, &rec),
                     ERR_NOT_FOUND);
    expect_record(
        &f, &rec,
        &(struct expect){ 4, 1, "diploma", "毕业证书", &ledger_result_outcome(r1)->tx_hashes[0] });
    /* The proof survives its canonical encoding. */
    struct buf enc;
    buf_init(&enc, STATE_PROOF_SIZE_MAX);
    assert_int_equal(state_proof_encode(&enc, &lp->proof), ERR_OK);
    struct reader rd;
    reader_init(&rd, enc.data, enc.size);
    struct state_proof *decoded = mem_alloc(sizeof *decoded);
    assert_int_equal(state_proof_decode(&rd, decoded), ERR_OK);
    assert_int_equal(codec_finish(&rd), ERR_OK);
    assert_int_equal(state_proof_verify(HASH_SHA256, &lp->root, full_key, sizeof full_key,
                                        value.data, value.size, decoded),
                     ERR_OK);
    /* Tampered record (a later height), key (another account), root, proof: all fail. */
    for (size_t i = 0; i < value.size; i++) {
        value.data[i] ^= 0x01;
        assert_int_not_equal(state_proof_verify(HASH_SHA256, &lp->root, full_key, sizeof full_key,
                                                value.data, value.size, &lp->proof),
                             ERR_OK);
        value.data[i] ^= 0x01;
    }
    full_key[sizeof full_key - 1] ^= 0x80;
    assert_int_not_equal(state_proof_verify(HASH_SHA256, &lp->root, full_key, sizeof full_key,
                                            value.data, value.size, &lp->proof),
                         ERR_OK);
    full_key[sizeof full_key - 1] ^= 0x80;
    struct hash bad_root = lp->root;
    bad_root.bytes[0] ^= 1;
    assert_int_not_equal(state_proof_verify(HASH_SHA256, &bad_root, full_key, sizeof full_key,
                                            value.data, value.size, &lp->proof),
                         ERR_OK);
    assert_true(lp->proof.sibling_count > 0 || lp->proof.has_leaf);
    if (lp->proof.sibling_count > 0) {
        lp->proof.siblings[0].bytes[3] ^= 0x40;
        assert_int_not_equal(state_proof_verify(HASH_SHA256, &lp->root, full_key, sizeof full_key,
                                                value.data, value.size, &lp->proof),
                             ERR_OK);
    }
    /* A document nobody anchored is absent, provably. */
    buf_reset(&value);
    struct hash other;
    doc_hash(HASH_SHA256, "never anchored", &other);
    notary_document_key(&other, key);
    assert_int_equal(ledger_prove(f.ledger, NOTARY_MODULE, key, sizeof key, &value, lp), ERR_OK);
    assert_false(lp->found);
    memcpy(full_key + sizeof NOTARY_MODULE, key, sizeof key);
    assert_int_equal(
        state_proof_verify(HASH_SHA256, &lp->root, full_key, sizeof full_key, NULL, 0, &lp->proof),
        ERR_OK);
    mem_free(decoded);
    mem_free(lp);
    buf_release(&enc);
    buf_release(&value);
    ledger_result_free(r1);
    fixture_close(&f);
}

/* Builds blocks 1..3 of anchors (some rejected) on f, returning each block's exec_root. */
static void
anchor_history(struct fixture *f, struct hash roots[3])
{
    struct hash docs[3];
    doc_hash(f->hash_alg, "a", &docs[0]);
    doc_hash(f->hash_alg, "b", &docs[1]);
    doc_hash(f->hash_alg, "c", &docs[2]);
    uint64_t nonces[8] = { 0 };
    for (uint64_t h = 1; h <= 3; h++) {
        for (size_t acc = 3; acc < 8; acc++) {
            const struct hash *doc = &docs[(acc + h) % 3];
            char note[64];
            snprintf(note, sizeof note, "block %u account %zu", (unsigned)h, acc);
            add_anchor(f, acc, nonces[acc]++, doc, acc % 2 == 0 ? "even" : "odd", note);
        }
        struct ledger_result *r = run_block(f, h);
        roots[h - 1] = ledger_result_outcome(r)->exec_root;
        ledger_result_free(r);
    }
}

static void
test_reexecution(void **state)
{
    (void)state;
    struct fixture a;
    struct fixture b;
    open_chain(&a, HASH_SHA256, 8);
    open_chain(&b, HASH_SHA256, 8);
    struct hash roots_a[3];
    struct hash roots_b[3];
    anchor_history(&a, roots_a);
    anchor_history(&b, roots_b);
    for (size_t i = 0; i < 3; i++) {
        assert_true(hash_equal(&roots_a[i], &roots_b[i]));
    }
    assert_false(hash_equal(&roots_a[0], &roots_a[1]));
    /* The state survives a restart and answers the same. */
    struct notary_anchors *before = mem_alloc(sizeof *before);
    struct notary_anchors *after = mem_alloc(sizeof *after);
    struct hash doc;
    doc_hash(HASH_SHA256, "a", &doc);
    assert_int_equal(get_anchors(&a, &doc, before), ERR_OK);
    fixture_stop(&a);
    fixture_start(&a);
    assert_int_equal(get_anchors(&a, &doc, after), ERR_OK);
    assert_int_equal(before->count, after->count);
    assert_true(before->count >= 3);
    assert_memory_equal(before->records, after->records, before->count * sizeof before->records[0]);
    mem_free(before);
    mem_free(after);
    fixture_close(&a);
    fixture_close(&b);
}

/* The wire codecs on their own: round trips and strictness. */
static void
test_codec(void **state)
{
    (void)state;
    assert_true(notary_kind_is_valid("a-b_c9", 6));
    assert_false(notary_kind_is_valid("", 0));
    assert_false(notary_kind_is_valid("A", 1));
    assert_false(notary_kind_is_valid("a.b", 3));
    assert_false(notary_kind_is_valid("abcdefghijklmnopqrstuvwxyz0123456", 33));
    struct hash doc;
    doc_hash(HASH_SHA256, "x", &doc);
    struct notary_anchor_args a = { doc, "k", 1, "\xe4\xb8\xad", 3 };
    struct buf b;
    buf_init(&b, NOTARY_ARGS_SIZE_MAX);
    assert_int_equal(notary_anchor_args_encode(&a, &b), ERR_OK);
    struct notary_anchor_args d;
    assert_int_equal(notary_anchor_args_decode(b.data, b.size, &d), ERR_OK);
    assert_null(notary_anchor_args_problem(b.data, b.size));
    assert_true(hash_equal(&d.document, &doc));
    assert_int_equal(d.note_size, 3);
    for (size_t cut = 0; cut < b.size; cut++) {
        assert_int_not_equal(notary_anchor_args_decode(b.data, cut, &d), ERR_OK);
        assert_non_null(notary_anchor_args_problem(b.data, cut));
    }
    a.kind = "K";
    buf_reset(&b);
    assert_int_equal(notary_anchor_args_encode(&a, &b), ERR_MALFORMED);
    a.kind = "k";
    a.note = "\xff";
    a.note_size = 1;
    buf_reset(&b);
    assert_int_equal(notary_anchor_args_encode(&a, &b), ERR_UTF8);
    /* Records: none and over-long are refused, a round trip is exact, an account appears
     * once, append keeps the rest and refuses a duplicate and the 65th. */
    struct notary_record *recs = mem_calloc(NOTARY_ANCHORS_PER_HASH_MAX + 1, sizeof *recs);
    for (size_t i = 0; i <= NOTARY_ANCHORS_PER_HASH_MAX; i++) {
        memset(recs[i].account.bytes, (int)i + 1, ADDRESS_SIZE);
        recs[i].height = i + 10;
        memcpy(recs[i].kind, "k", 1);
        recs[i].kind_size = 1;
    }
    buf_reset(&b);
    assert_int_equal(notary_records_encode(recs, 0, &b), ERR_MALFORMED);
    assert_int_not_equal(notary_records_encode(recs, NOTARY_ANCHORS_PER_HASH_MAX + 1, &b), ERR_OK);
    struct buf l;
    buf_init(&l, NOTARY_RECORDS_SIZE_MAX);
    struct buf appended;
    buf_init(&appended, NOTARY_RECORDS_SIZE_MAX);
    for (size_t n = 1; n <= NOTARY_ANCHORS_PER_HASH_MAX; n++) {
        buf_reset(&l);
        assert_int_equal(notary_records_encode(recs, n, &l), ERR_OK);
        assert_int_equal(notary_records_append(&appended, n - 1, &recs[n - 1]), ERR_OK);
        assert_int_equal(appended.size, l.size);
        assert_memory_equal(appended.data, l.data, l.size);
    }
    assert_true(l.size <= NOTARY_RECORDS_SIZE_MAX);
    assert_int_equal(notary_records_append(&appended, NOTARY_ANCHORS_PER_HASH_MAX,
                                           &recs[NOTARY_ANCHORS_PER_HASH_MAX]),
                     ERR_FULL);
    buf_reset(&l);
    assert_int_equal(notary_records_encode(recs, 3, &l), ERR_OK);
    size_t at = l.size;
    assert_int_equal(notary_records_append(&l, 3, &recs[1]), ERR_EXISTS);
    assert_int_equal(l.size, at);
    struct notary_record *got = mem_alloc(NOTARY_ANCHORS_PER_HASH_MAX * sizeof *got);
    size_t count = 0;
    assert_int_equal(notary_records_decode(l.data, l.size, got, &count), ERR_OK);
    assert_int_equal(count, 3);
    assert_int_equal(got[2].height, 12);
    struct notary_record one;
    assert_int_equal(notary_records_find(l.data, l.size, &recs[2].account, &count, &one), ERR_OK);
    assert_int_equal(one.height, 12);
    assert_int_equal(notary_records_find(l.data, l.size, &recs[3].account, &count, NULL),
                     ERR_NOT_FOUND);
    for (size_t cut = 0; cut < l.size; cut++) {
        assert_int_not_equal(notary_records_decode(l.data, cut, got, &count), ERR_OK);
        assert_int_not_equal(notary_records_find(l.data, cut, &recs[0].account, &count, NULL),
                             ERR_OK);
    }
    /* Two records of one account do not decode. */
    recs[1].account = recs[0].account;
    assert_int_equal(notary_records_encode(recs, 2, &b), ERR_MALFORMED);
    buf_reset(&l);
    assert_int_equal(notary_records_encode(recs, 1, &l), ERR_OK);
    buf_reset(&b);
    assert_int_equal(notary_record_encode(&recs[1], &b), ERR_OK);
    assert_int_equal(buf_append(&l, b.data, b.size), ERR_OK);
    l.data[0] = 2;
    assert_int_equal(notary_records_decode(l.data, l.size, got, &count), ERR_MALFORMED);
    mem_free(got);
    mem_free(recs);
    buf_release(&appended);
    buf_release(&l);
    buf_release(&b);
}

/* What a test commit cert names and who signs it (validators 0..signers-1 of the fixture's
 * genesis set, whose keys serve in every epoch of these tests). */
struct cert_spec {
    uint64_t epoch;
    uint64_t height;
    struct hash id;
    struct hash root;
    struct hash next_vs_hash;
    uint16_t signers;
};

/* Encodes the signed commit cert of spec into out (qc_encode). */
static void
make_cert(struct fixture *f, const struct cert_spec *spec, struct qc *qc)
{
    memset(qc, 0, sizeof *qc);
    struct block_info c = { .epoch = spec->epoch,
                            .round = 10 + spec->height,
                            .id = spec->id,
                            .height = spec->height,
                            .exec_root = spec->root,
                            .next_epoch_vs_hash = spec->next_vs_hash };
    qc->vote_data.parent = c;
    qc->vote_data.proposed = c;
    qc->vote_data.proposed.round++;
    qc->vote_data.proposed.height++;
    qc->vote_data.proposed.id.bytes[0] ^= 0xff;
    qc->ledger_info.has_commit = true;
    qc->ledger_info.commit_info = c;
    vote_data_hash(f->hash_alg, &qc->vote_data, &qc->ledger_info.vote_data_hash);
    struct cons_chain chain = { f->hash_alg, *ledger_chain_id(f->ledger) };
    struct hash digest;
    vote_digest(&chain, spec->epoch, &qc->ledger_info, &digest);
    qc->bitmap_size = 1;
    for (uint16_t i = 0; i < spec->signers; i++) {
        struct secret_key *key = fixture_key(SIG_ED25519, 100000 + i);
        bitmap_set(qc->bitmap, i);
        assert_int_equal(sign_message(key, digest.bytes, HASH_SIZE, &qc->sigs[i]), ERR_OK);
        secret_key_free(key);
    }
    qc->sig_count = spec->signers;
}

/* The genesis-epoch cert naming block `height` (id, exec_root root) by `signers`. */
static struct cert_spec
spec_of(uint64_t height, const struct hash *id, const struct hash *root, uint16_t signers)
{
    struct cert_spec spec = {
        .epoch = GENESIS_EPOCH, .height = height, .id = *id, .root = *root, .signers = signers
    };
    return spec;
}

/* A finality proof: the cert of spec and `headers` (C down to B + 1). */
static void
make_finality(struct fixture *f, struct cert_spec spec, const struct byte_span *headers,
              uint16_t header_count, struct buf *out)
{
    struct qc *qc = mem_alloc(sizeof *qc);
    make_cert(f, &spec, qc);
    buf_reset(out);
    assert_int_equal(finality_proof_encode(out, qc, headers, header_count), ERR_OK);
    mem_free(qc);
}

/* Builds, encodes, decodes and verifies bundle b (finality from fin) for the chain of f. */
static enum err
verify_bundle(struct fixture *f, struct notary_bundle *b, const struct buf *fin,
              struct notary_record *out)
{
    b->finality = fin->data;
    b->finality_size = fin->size;
    struct buf enc;
    buf_init(&enc, NOTARY_BUNDLE_SIZE_MAX);
    assert_int_equal(notary_bundle_encode(b, &enc), ERR_OK);
    struct notary_bundle *d = mem_alloc(sizeof *d);
    assert_int_equal(notary_bundle_decode(enc.data, enc.size, d), ERR_OK);
    struct cons_chain chain = { f->hash_alg, *ledger_chain_id(f->ledger) };
    struct cons_verifier v = { .chain = &chain };
    enum err rc = notary_bundle_verify(&v, f->genesis.validators, d, out);
    mem_free(d);
    buf_release(&enc);
    return rc;
}

/* A chain where account 6 anchored "bundled" at height 1 and account 7 at height 2; b
 * holds account 6's record with its proof at the committed height 2 (lp, record). */
static void
prepare_bundle(struct fixture *f, struct notary_bundle *b, struct buf *record,
               struct ledger_state_proof *lp)
{
    open_chain(f, HASH_SHA256, 8);
    struct hash doc;
    doc_hash(HASH_SHA256, "bundled", &doc);
    add_anchor(f, 6, 0, &doc, "evidence", "证据");
    ledger_result_free(run_block(f, 1));
    add_anchor(f, 7, 0, &doc, "evidence", "");
    ledger_result_free(run_block(f, 2));
    uint8_t key[NOTARY_DOCUMENT_KEY_SIZE];
    notary_document_key(&doc, key);
    assert_int_equal(ledger_prove(f->ledger, NOTARY_MODULE, key, sizeof key, record, lp), ERR_OK);
    assert_true(lp->found);
    assert_int_equal(lp->height, 2);
    memset(b, 0, sizeof *b);
    b->chain_id = *ledger_chain_id(f->ledger);
    b->document = doc;
    b->account = f->addrs[6];
    b->records = record->data; /* account 6's and 7's */
    b->records_size = record->size;
    b->proof = lp->proof;
    b->state_height = 2;
}

/* Proof bundles from a real record proof and real commit certs signed by the genesis
 * validators verify offline; every forgery is refused. */
static void
test_bundle(void **state)
{
    (void)state;
    struct fixture f;
    struct notary_bundle *b = mem_alloc(sizeof *b);
    struct buf record;
    buf_init(&record, NOTARY_RECORDS_SIZE_MAX);
    struct ledger_state_proof *lp = mem_alloc(sizeof *lp);
    prepare_bundle(&f, b, &record, lp);
    struct buf fin;
    buf_init(&fin, NOTARY_BUNDLE_SIZE_MAX);
    struct hash id2;
    doc_hash(HASH_SHA256, "block 2", &id2);
    struct notary_record rec;
    /* B == C: the cert names block 2, whose exec_root holds the record. */
    make_finality(&f, spec_of(2, &id2, &lp->root, 3), NULL, 0, &fin);
    assert_int_equal(verify_bundle(&f, b, &fin, &rec), ERR_OK);
    assert_int_equal(rec.height, 1);
    assert_int_equal(rec.institution, 6 % 4 + 1);
    assert_memory_equal(rec.account.bytes, f.addrs[6].bytes, ADDRESS_SIZE);
    /* Two of four signers are no quorum; a flipped signature byte fails. */
    make_finality(&f, spec_of(2, &id2, &lp->root, 2), NULL, 0, &fin);
    assert_int_equal(verify_bundle(&f, b, &fin, &rec), ERR_BAD_SIGNATURE);
    make_finality(&f, spec_of(2, &id2, &lp->root, 3), NULL, 0, &fin);
    fin.data[fin.size - 40] ^= 1; /* inside the last signature */
    assert_int_not_equal(verify_bundle(&f, b, &fin, &rec), ERR_OK);
    /* A cert over another root, or for another height, does not prove this state. */
    struct hash other = lp->root;
    other.bytes[7] ^= 1;
    make_finality(&f, spec_of(2, &id2, &other, 3), NULL, 0, &fin);
    assert_int_equal(verify_bundle(&f, b, &fin, &rec), ERR_CORRUPT);
    make_finality(&f, spec_of(3, &id2, &lp->root, 3), NULL, 0, &fin);
    assert_int_equal(verify_bundle(&f, b, &fin, &rec), ERR_MALFORMED);

    /* Another chain; an account that anchored the document too (its record is in the same
     * proved value); one that did not. */
    make_finality(&f, spec_of(2, &id2, &lp->root, 3), NULL, 0, &fin);
    b->chain_id.bytes[0] ^= 1;
    assert_int_equal(verify_bundle(&f, b, &fin, &rec), ERR_WRONG_CHAIN);
    b->chain_id.bytes[0] ^= 1;
    b->account = f.addrs[7];
    assert_int_equal(verify_bundle(&f, b, &fin, &rec), ERR_OK);
    assert_memory_equal(rec.account.bytes, f.addrs[7].bytes, ADDRESS_SIZE);
    b->account = f.addrs[5];
    assert_int_equal(verify_bundle(&f, b, &fin, &rec), ERR_NOT_FOUND);
    b->account = f.addrs[6];
    assert_int_equal(verify_bundle(&f, b, &fin, &rec), ERR_OK);
    assert_memory_equal(rec.account.bytes, f.addrs[6].bytes, ADDRESS_SIZE);

    mem_free(b);
    mem_free(lp);
    buf_release(&fin);
    buf_release(&record);
    fixture_close(&f);
}

/* B < C: a cert naming block 3 and block 3's header, whose parent_exec_root is B's root;
 * and strict decoding of the bundle. */
static void
test_bundle_header_chain(void **state)
{
    (void)state;
    struct fixture f;
    struct notary_bundle *b = mem_alloc(sizeof *b);
    struct buf record;
    buf_init(&record, NOTARY_RECORDS_SIZE_MAX);
    struct ledger_state_proof *lp = mem_alloc(sizeof *lp);
    prepare_bundle(&f, b, &record, lp);
    struct buf fin;
    buf_init(&fin, NOTARY_BUNDLE_SIZE_MAX);
    struct hash id2;
    doc_hash(HASH_SHA256, "block 2", &id2);
    struct notary_record rec;
    struct block_header *h3 = mem_calloc(1, sizeof *h3);
    h3->epoch = GENESIS_EPOCH;
    h3->round = 13;
    h3->height = 3;
    h3->parent_id = id2;
    h3->parent_exec_root = lp->root;
    h3->qc.vote_data.proposed = (struct block_info){
        .epoch = GENESIS_EPOCH, .round = 12, .id = id2, .height = 2, .exec_root = lp->root
    };
    struct buf hb;
    buf_init(&hb, 1 << 20);
    assert_int_equal(block_header_encode(&hb, h3), ERR_OK);
    struct hash id3;
    hash_bytes(HASH_SHA256, hb.data, hb.size, &id3);
    struct byte_span span = { hb.data, hb.size };
    struct hash root3;
    doc_hash(HASH_SHA256, "some later root", &root3);
    make_finality(&f, spec_of(3, &id3, &root3, 3), &span, 1, &fin);
    assert_int_equal(verify_bundle(&f, b, &fin, &rec), ERR_OK);
    make_finality(&f, spec_of(3, &id2, &root3, 3), &span, 1,
                  &fin); /* header is not the cert's block */
    assert_int_equal(verify_bundle(&f, b, &fin, &rec), ERR_BAD_SIGNATURE);

    /* A header whose QC names another parent height than the chain's is refused. */
    h3->qc.vote_data.proposed.height = 1;
    buf_reset(&hb);
    assert_int_equal(block_header_encode(&hb, h3), ERR_OK);
    span = (struct byte_span){ hb.data, hb.size };
    hash_bytes(HASH_SHA256, hb.data, hb.size, &id3);
    make_finality(&f, spec_of(3, &id3, &root3, 3), &span, 1, &fin);
    assert_int_equal(verify_bundle(&f, b, &fin, &rec), ERR_MALFORMED);

    /* Block 2 ended an epoch: the cert names a reconfiguration suffix block at height 2 on it
     * (same height, same roots); its header leads to block 2's post-state. */
    struct hash next_vs;
    doc_hash(HASH_SHA256, "next set", &next_vs);
    h3->qc.vote_data.proposed.height = 2;
    h3->qc.vote_data.proposed.next_epoch_vs_hash = next_vs;
    h3->height = 2;
    buf_reset(&hb);
    assert_int_equal(block_header_encode(&hb, h3), ERR_OK);
    span = (struct byte_span){ hb.data, hb.size };
    hash_bytes(HASH_SHA256, hb.data, hb.size, &id3);
    struct cert_spec suffix = spec_of(2, &id3, &lp->root, 3);
    suffix.next_vs_hash = next_vs;
    make_finality(&f, suffix, &span, 1, &fin);
    assert_int_equal(verify_bundle(&f, b, &fin, &rec), ERR_OK);

    /* Strict decoding: every truncation, a trailing byte, another version. */
    b->finality = fin.data;
    b->finality_size = fin.size;
    struct buf enc;
    buf_init(&enc, NOTARY_BUNDLE_SIZE_MAX);
    assert_int_equal(notary_bundle_encode(b, &enc), ERR_OK);
    struct notary_bundle *d = mem_alloc(sizeof *d);
    for (size_t cut = 0; cut < enc.size; cut++) {
        assert_int_not_equal(notary_bundle_decode(enc.data, cut, d), ERR_OK);
    }
    assert_int_equal(buf_append_byte(&enc, 0), ERR_OK);
    assert_int_equal(notary_bundle_decode(enc.data, enc.size, d), ERR_TRAILING);
    enc.data[0] = 1; /* the format before one value per document */
    assert_int_equal(notary_bundle_decode(enc.data, enc.size - 1, d), ERR_UNSUPPORTED);

    mem_free(h3);
    mem_free(b);
    mem_free(d);
    mem_free(lp);
    buf_release(&hb);
    buf_release(&enc);
    buf_release(&fin);
    buf_release(&record);
    fixture_close(&f);
}

/* A bundle from a later epoch carries the epoch change from the genesis set. */
static void
test_bundle_epoch_change(void **state)
{
    (void)state;
    struct fixture f;
    open_chain(&f, HASH_SHA256, 8);
    struct hash doc;
    doc_hash(HASH_SHA256, "later epoch", &doc);
    add_anchor(&f, 5, 0, &doc, "evidence", "");
    ledger_result_free(run_block(&f, 1));
    uint8_t key[NOTARY_DOCUMENT_KEY_SIZE];
    notary_document_key(&doc, key);
    struct buf record;
    buf_init(&record, NOTARY_RECORDS_SIZE_MAX);
    struct ledger_state_proof *lp = mem_alloc(sizeof *lp);
    assert_int_equal(ledger_prove(f.ledger, NOTARY_MODULE, key, sizeof key, &record, lp), ERR_OK);
    /* Epoch 2's set: the genesis nodes, epoch + 1. */
    struct validator_set *vs2 = mem_alloc(sizeof *vs2);
    memcpy(vs2, f.genesis.validators, sizeof *vs2);
    vs2->epoch = GENESIS_EPOCH + 1;
    struct buf vs_bytes;
    buf_init(&vs_bytes, VS_ENCODED_SIZE_MAX);
    assert_int_equal(validator_set_encode(vs2, &vs_bytes), ERR_OK);
    struct cert_spec end = { .epoch = GENESIS_EPOCH, .height = 1, .signers = 3 };
    doc_hash(HASH_SHA256, "block 1", &end.id);
    validator_set_hash(HASH_SHA256, vs2, &end.next_vs_hash);
    struct qc *qc = mem_alloc(sizeof *qc);
    make_cert(&f, &end, qc);
    struct buf end_bytes;
    buf_init(&end_bytes, 1 << 20);
    assert_int_equal(qc_encode(&end_bytes, qc), ERR_OK);
    struct cert_spec fin_spec = {
        .epoch = GENESIS_EPOCH + 1, .height = 1, .root = lp->root, .signers = 3
    };
    doc_hash(HASH_SHA256, "block 1", &fin_spec.id);
    make_cert(&f, &fin_spec, qc);
    struct buf fin;
    buf_init(&fin, NOTARY_BUNDLE_SIZE_MAX);
    assert_int_equal(finality_proof_encode(&fin, qc, NULL, 0), ERR_OK);

    struct notary_bundle *b = mem_calloc(1, sizeof *b);
    b->chain_id = *ledger_chain_id(f.ledger);
    b->document = doc;
    b->account = f.addrs[5];
    b->records = record.data;
    b->records_size = record.size;
    b->proof = lp->proof;
    b->state_height = 1;
    struct notary_record rec;
    /* Without the epoch change the epoch-2 cert is refused; with it, it verifies. */
    assert_int_equal(verify_bundle(&f, b, &fin, &rec), ERR_MALFORMED);
    b->epoch_count = 1;
    b->epochs[0] = (struct notary_bundle_epoch){ end_bytes.data, end_bytes.size, vs_bytes.data,
                                                 vs_bytes.size };
    assert_int_equal(verify_bundle(&f, b, &fin, &rec), ERR_OK);
    assert_int_equal(rec.height, 1);
    /* A set that is not the one the cert names is refused. */
    vs2->nodes[0].power = 2;
    buf_reset(&vs_bytes);
    assert_int_equal(validator_set_encode(vs2, &vs_bytes), ERR_OK);
    b->epochs[0].validator_set = vs_bytes.data;
    b->epochs[0].validator_set_size = vs_bytes.size;
    assert_int_equal(verify_bundle(&f, b, &fin, &rec), ERR_BAD_SIGNATURE);

    mem_free(b);
    mem_free(qc);
    mem_free(vs2);
    mem_free(lp);
    buf_release(&fin);
    buf_release(&end_bytes);
    buf_release(&vs_bytes);
    buf_release(&record);
    fixture_close(&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec),
        cmocka_unit_test(test_anchor_and_duplicates),
        cmocka_unit_test(test_anchor_sm3_chain),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_no_institution),
        cmocka_unit_test(test_resources),
        cmocka_unit_test(test_anchor_limit),
        cmocka_unit_test(test_record_proof),
        cmocka_unit_test(test_reexecution),
        cmocka_unit_test(test_bundle),
        cmocka_unit_test(test_bundle_header_chain),
        cmocka_unit_test(test_bundle_epoch_change),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
