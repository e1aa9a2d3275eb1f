/* Unit tests of codec/consensus_types: canonical round trips, strict decoding (every
 * truncation and a trailing byte rejected), validator-set limits, quorum arithmetic, QC/TC and
 * finality-proof verification with real Ed25519 signatures, and domain separation.
 * With LM_WRITE_CORPUS=DIR set, also writes the fuzz seed corpus of fuzz_consensus_msg. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "codec/codec.h"
#include "codec/consensus_types.h"
#include "unit.h"

#define N 4

static struct secret_key *keys[N];
static struct validator_set *vs;
static struct cons_chain chain;
static struct cons_verifier verifier;

static int
setup(void **state)
{
    (void)state;
    vs = mem_calloc(1, sizeof *vs);
    vs->count = N;
    for (uint16_t i = 0; i < N; i++) {
        uint8_t seed[32];
        memset(seed, (int)(i + 1), sizeof seed);
        if (secret_key_import(SIG_ED25519, seed, sizeof seed, &keys[i]) != ERR_OK) {
            return -1;
        }
        vs->nodes[i].institution = i;
        secret_key_public(keys[i], &vs->nodes[i].consensus_key);
        vs->nodes[i].power = 1;
        struct secret_key *tk = NULL;
        memset(seed, (int)(i + 0x41), sizeof seed);
        if (secret_key_import(SIG_ED25519, seed, sizeof seed, &tk) != ERR_OK) {
            return -1;
        }
        secret_key_public(tk, &vs->nodes[i].transport_key);
        secret_key_free(tk);
    }
    vs->epoch = 1;
    chain.alg = HASH_SHA256;
    hash_bytes(HASH_SHA256, "test-chain", 10, &chain.chain_id);
    verifier = (struct cons_verifier){ .chain = &chain };
    return validator_set_check(vs) == ERR_OK ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    for (int i = 0; i < N; i++) {
        secret_key_free(keys[i]);
    }
    mem_free(vs);
    return 0;
}

static void
info_at(uint64_t round, uint8_t tag, struct block_info *out)
{
    memset(out, 0, sizeof *out);
    out->epoch = 1;
    out->round = round;
    out->height = round;
    memset(out->id.bytes, tag, HASH_SIZE);
    memset(out->exec_root.bytes, (int)(tag + 1), HASH_SIZE);
    out->timestamp_us = 1000 + round;
}

/* A QC on block (round, tag) whose parent is round-1, signed by the first `signers`. */
static void
make_qc(uint64_t round, uint8_t tag, int signers, struct qc *qc)
{
    memset(qc, 0, sizeof *qc);
    info_at(round, tag, &qc->vote_data.proposed);
    info_at(round - 1, (uint8_t)(tag - 1), &qc->vote_data.parent);
    qc->ledger_info.has_commit = true;
    qc->ledger_info.commit_info = qc->vote_data.parent;
    vote_data_hash(chain.alg, &qc->vote_data, &qc->ledger_info.vote_data_hash);
    struct hash digest;
    vote_digest(&chain, 1, &qc->ledger_info, &digest);
    qc->bitmap_size = (N + 7) / 8;
    for (int i = 0; i < signers; i++) {
        bitmap_set(qc->bitmap, (uint16_t)i);
        assert_int_equal(sign_message(keys[i], digest.bytes, HASH_SIZE, &qc->sigs[i]), ERR_OK);
        qc->sig_count++;
    }
}

static void
make_tc(uint64_t round, struct tc *tc)
{
    memset(tc, 0, sizeof *tc);
    tc->epoch = 1;
    tc->round = round;
    make_qc(round - 2, 7, 3, &tc->hqc);
    tc->bitmap_size = 1;
    for (uint16_t i = 0; i < 3; i++) {
        bitmap_set(tc->bitmap, i);
        tc->hqc_rounds[i] = i == 1 ? round - 2 : round - 3;
        struct hash d;
        timeout_digest(&chain, 1, round, tc->hqc_rounds[i], &d);
        assert_int_equal(sign_message(keys[i], d.bytes, HASH_SIZE, &tc->sigs[i]), ERR_OK);
        tc->sig_count++;
    }
}

/* Decoding every strict prefix fails; one extra byte fails; the full input round-trips. */
static void
check_strict(const uint8_t *data, size_t size)
{
    struct cons_msg *m = mem_alloc(sizeof *m);
    for (size_t cut = 0; cut < size; cut += 1 + cut / 64) {
        assert_int_not_equal(cons_msg_decode(data, cut, m), ERR_OK);
    }
    uint8_t *longer = mem_alloc(size + 1);
    memcpy(longer, data, size);
    longer[size] = 0;
    assert_int_not_equal(cons_msg_decode(longer, size + 1, m), ERR_OK);
    assert_int_equal(cons_msg_decode(data, size, m), ERR_OK);
    struct buf again;
    buf_init(&again, CONS_MSG_SIZE_MAX);
    assert_int_equal(cons_msg_encode(&again, m), ERR_OK);
    assert_int_equal(again.size, size);
    assert_memory_equal(again.data, data, size);
    buf_release(&again);
    mem_free(longer);
    mem_free(m);
}

static void
write_corpus(const char *name, const uint8_t *data, size_t size)
{
    const char *dir = getenv("LM_WRITE_CORPUS");
    if (dir == NULL) {
        return;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    fclose(f);
}

/* The corpus of fuzz_consensus_state: a family byte, then the encoding. */
static void
write_state_corpus(const char *name, uint8_t family, const uint8_t *data, size_t size)
{
    const char *dir = getenv("LM_WRITE_CORPUS_STATE");
    if (dir == NULL) {
        return;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(&family, 1, 1, f), 1);
    assert_int_equal(fwrite(data, 1, size, f), size);
    fclose(f);
}

static void
fill_sync(struct sync_info *si, bool with_tc)
{
    make_qc(5, 50, 3, &si->highest_qc);
    make_qc(5, 50, 3, &si->highest_commit_cert);
    si->has_tc = with_tc;
    if (with_tc) {
        make_tc(6, &si->highest_tc);
    }
}

static void
test_messages_round_trip(void **state)
{
    (void)state;
    struct cons_msg *m = mem_calloc(1, sizeof *m);
    struct buf b;
    buf_init(&b, CONS_MSG_SIZE_MAX);

    /* proposal with two transactions */
    struct buf txs;
    buf_init(&txs, 1024);
    assert_int_equal(codec_put_bytes(&txs, "tx-one", 6, CONS_TX_SIZE_MAX), ERR_OK);
    assert_int_equal(codec_put_bytes(&txs, "tx-two", 6, CONS_TX_SIZE_MAX), ERR_OK);
    m->type = CONS_MSG_PROPOSAL;
    struct block_header *h = &m->u.proposal.block.header;
    h->epoch = 1;
    h->round = 7;
    h->height = 6;
    make_qc(5, 50, 3, &h->qc);
    h->parent_id = h->qc.vote_data.proposed.id;
    h->author = 3;
    h->timestamp_us = 99;
    h->failed_count = 1;
    h->failed[0] = (struct failed_author){ 6, 2 };
    m->u.proposal.block.payload = (struct block_payload){
        .kind = PAYLOAD_INLINE, .tx_count = 2, .txs = txs.data, .txs_size = txs.size
    };
    block_header_set_payload(chain.alg, h, &m->u.proposal.block.payload);
    struct hash id;
    block_header_id(chain.alg, h, &id);
    struct hash d;
    proposal_digest(&chain, &id, &d);
    assert_int_equal(sign_message(keys[3], d.bytes, HASH_SIZE, &m->u.proposal.sig), ERR_OK);
    fill_sync(&m->u.proposal.sync, true);
    assert_int_equal(cons_msg_encode(&b, m), ERR_OK);
    check_strict(b.data, b.size);
    write_corpus("proposal", b.data, b.size);
    struct buf blk;
    buf_init(&blk, CONS_MSG_SIZE_MAX);
    assert_int_equal(block_encode(&blk, &m->u.proposal.block), ERR_OK);
    write_state_corpus("block", 3, blk.data, blk.size);
    buf_release(&blk);

    buf_release(&txs);
    buf_release(&b);
    mem_free(m);
}

static void
test_vote_timeout_round_trip(void **state)
{
    (void)state;
    struct cons_msg *m = mem_calloc(1, sizeof *m);
    struct buf b;
    buf_init(&b, CONS_MSG_SIZE_MAX);
    struct hash d;
    /* vote */
    memset(m, 0, sizeof *m);
    m->type = CONS_MSG_VOTE;
    struct qc *q = mem_alloc(sizeof *q);
    make_qc(8, 80, 0, q);
    m->u.vote.vote.vote_data = q->vote_data;
    m->u.vote.vote.ledger_info = q->ledger_info;
    m->u.vote.vote.author = 1;
    vote_digest(&chain, 1, &q->ledger_info, &d);
    assert_int_equal(sign_message(keys[1], d.bytes, HASH_SIZE, &m->u.vote.vote.sig), ERR_OK);
    fill_sync(&m->u.vote.sync, false);
    buf_reset(&b);
    assert_int_equal(cons_msg_encode(&b, m), ERR_OK);
    check_strict(b.data, b.size);
    write_corpus("vote", b.data, b.size);

    /* timeout */
    memset(m, 0, sizeof *m);
    m->type = CONS_MSG_TIMEOUT;
    m->u.timeout.timeout.epoch = 1;
    m->u.timeout.timeout.round = 9;
    make_qc(8, 80, 3, &m->u.timeout.timeout.hqc);
    m->u.timeout.timeout.author = 2;
    timeout_digest(&chain, 1, 9, 8, &d);
    assert_int_equal(sign_message(keys[2], d.bytes, HASH_SIZE, &m->u.timeout.timeout.sig), ERR_OK);
    fill_sync(&m->u.timeout.sync, true);
    buf_reset(&b);
    assert_int_equal(cons_msg_encode(&b, m), ERR_OK);
    check_strict(b.data, b.size);
    write_corpus("timeout", b.data, b.size);

    buf_release(&b);
    mem_free(q);
    mem_free(m);
}

static void
test_other_messages_round_trip(void **state)
{
    (void)state;
    struct cons_msg *m = mem_calloc(1, sizeof *m);
    struct buf b;
    buf_init(&b, CONS_MSG_SIZE_MAX);
    struct qc *q = mem_alloc(sizeof *q);
    make_qc(8, 80, 0, q);
    /* block request, ledger request, epoch request */
    memset(m, 0, sizeof *m);
    m->type = CONS_MSG_BLOCK_REQUEST;
    m->u.block_request.num_blocks = 3;
    buf_reset(&b);
    assert_int_equal(cons_msg_encode(&b, m), ERR_OK);
    check_strict(b.data, b.size);
    write_corpus("block_request", b.data, b.size);
    memset(m, 0, sizeof *m);
    m->type = CONS_MSG_LEDGER_REQUEST;
    m->u.ledger_request.num_blocks = 16;
    m->u.ledger_request.after_height = 1000;
    buf_reset(&b);
    assert_int_equal(cons_msg_encode(&b, m), ERR_OK);
    check_strict(b.data, b.size);
    write_corpus("ledger_request", b.data, b.size);

    /* epoch proof: one cert and one set */
    struct buf cert;
    struct buf set;
    buf_init(&cert, CONS_MSG_SIZE_MAX);
    buf_init(&set, CONS_MSG_SIZE_MAX);
    assert_int_equal(qc_encode(&cert, q), ERR_OK);
    assert_int_equal(validator_set_encode(vs, &set), ERR_OK);
    write_state_corpus("validator_set", 1, set.data, set.size);
    memset(m, 0, sizeof *m);
    m->type = CONS_MSG_EPOCH_PROOF;
    m->u.epoch_proof.count = 1;
    m->u.epoch_proof.certs[0] = (struct byte_span){ cert.data, cert.size };
    m->u.epoch_proof.sets[0] = (struct byte_span){ set.data, set.size };
    buf_reset(&b);
    assert_int_equal(cons_msg_encode(&b, m), ERR_OK);
    check_strict(b.data, b.size);
    write_corpus("epoch_proof", b.data, b.size);

    /* evidence */
    memset(m, 0, sizeof *m);
    m->type = CONS_MSG_EVIDENCE;
    m->u.evidence = (struct evidence){ EVIDENCE_DOUBLE_VOTE, { cert.data, 40 }, { set.data, 50 } };
    buf_reset(&b);
    assert_int_equal(cons_msg_encode(&b, m), ERR_OK);
    check_strict(b.data, b.size);
    write_corpus("evidence", b.data, b.size);

    buf_release(&cert);
    buf_release(&set);
    buf_release(&b);
    mem_free(q);
    mem_free(m);
}

static void
test_validator_set_limits(void **state)
{
    (void)state;
    struct validator_set *v = mem_alloc(sizeof *v);
    *v = *vs;
    assert_int_equal(validator_set_check(v), ERR_OK);
    assert_true(validator_set_is_quorum(v, 3));
    assert_false(validator_set_is_quorum(v, 2));
    assert_true(validator_set_is_weak_quorum(v, 2));
    assert_false(validator_set_is_weak_quorum(v, 1));
    v->nodes[0].power = CONS_POWER_TOTAL_MAX; /* total past 2^60 */
    assert_int_equal(validator_set_check(v), ERR_MALFORMED);
    *v = *vs;
    v->nodes[1].consensus_key = v->nodes[0].consensus_key; /* one key twice */
    assert_int_equal(validator_set_check(v), ERR_MALFORMED);
    *v = *vs;
    v->nodes[2].transport_key = v->nodes[3].transport_key; /* one transport key twice */
    assert_int_equal(validator_set_check(v), ERR_MALFORMED);
    *v = *vs;
    assert_int_equal(validator_set_find(v, &v->nodes[2].consensus_key), 2);
    assert_int_equal(validator_set_find(v, &v->nodes[2].transport_key), -1);
    assert_int_equal(validator_set_find_transport(v, &v->nodes[3].transport_key), 3);
    *v = *vs;
    v->nodes[3].power = 0;
    assert_int_equal(validator_set_check(v), ERR_MALFORMED);
    mem_free(v);
}

static void
test_qc_verify(void **state)
{
    (void)state;
    struct qc *qc = mem_alloc(sizeof *qc);
    make_qc(5, 50, 3, qc);
    assert_int_equal(qc_verify(&verifier, vs, qc), ERR_OK);
    make_qc(5, 50, 2, qc); /* 2 of 4 is not a quorum */
    assert_int_equal(qc_verify(&verifier, vs, qc), ERR_BAD_SIGNATURE);
    make_qc(5, 50, 3, qc);
    qc->sigs[1].bytes[5] ^= 1;
    assert_int_equal(qc_verify(&verifier, vs, qc), ERR_BAD_SIGNATURE);
    make_qc(5, 50, 3, qc);
    qc->bitmap_size = 2; /* not ceil(n/8) */
    assert_int_equal(qc_verify(&verifier, vs, qc), ERR_MALFORMED);
    make_qc(5, 50, 3, qc);
    qc->ledger_info.vote_data_hash.bytes[0] ^= 1;
    assert_int_not_equal(qc_verify(&verifier, vs, qc), ERR_OK);
    make_qc(5, 50, 0, qc); /* signature-less: only the derived epoch QC is trusted */
    assert_int_equal(qc_verify(&verifier, vs, qc), ERR_BAD_SIGNATURE);
    make_qc(5, 50, 3, qc); /* the same signers, checked as the set of another epoch */
    vs->epoch++;
    assert_int_equal(qc_verify(&verifier, vs, qc), ERR_MALFORMED);
    vs->epoch--;
    assert_int_equal(qc_verify(&verifier, vs, qc), ERR_OK);
    mem_free(qc);
}

static size_t batch_calls;
static size_t batch_items;

/* A stand-in for a worker pool: checks every item, counts what it was given. */
static enum err
batch_verify(void *ctx, const struct cons_verify_item *items, size_t count)
{
    (void)ctx;
    batch_calls++;
    batch_items += count;
    for (size_t i = 0; i < count; i++) {
        if (verify_message(items[i].key, items[i].digest.bytes, HASH_SIZE, items[i].sig) !=
            ERR_OK) {
            return ERR_BAD_SIGNATURE;
        }
    }
    return ERR_OK;
}

static void
test_batch_hook(void **state)
{
    (void)state;
    struct cons_verifier bv = verifier;
    bv.verify_batch = batch_verify;
    struct qc *qc = mem_alloc(sizeof *qc);
    make_qc(5, 50, 3, qc);
    batch_calls = 0;
    batch_items = 0;
    assert_int_equal(qc_verify(&bv, vs, qc), ERR_OK);
    assert_int_equal(batch_calls, 1);
    assert_int_equal(batch_items, 3);
    qc->sigs[2].bytes[9] ^= 1;
    assert_int_equal(qc_verify(&bv, vs, qc), ERR_BAD_SIGNATURE);
    struct tc *tc = mem_alloc(sizeof *tc);
    make_tc(10, tc);
    batch_calls = 0;
    assert_int_equal(tc_verify(&bv, vs, tc, NULL), ERR_OK);
    assert_int_equal(batch_calls, 2); /* its hqc, then its own signatures */
    mem_free(tc);
    mem_free(qc);
}

static void
test_domain_separation(void **state)
{
    (void)state;
    /* a vote signature never verifies as a timeout or a proposal over the same bytes */
    struct hash v;
    struct hash t;
    struct hash p;
    struct ledger_info li;
    memset(&li, 0, sizeof li);
    vote_digest(&chain, 1, &li, &v);
    timeout_digest(&chain, 1, 2, 1, &t);
    proposal_digest(&chain, &v, &p);
    struct signature sig;
    assert_int_equal(sign_message(keys[0], v.bytes, HASH_SIZE, &sig), ERR_OK);
    assert_int_equal(cons_verify_sig(&verifier, &vs->nodes[0].consensus_key, &v, &sig), ERR_OK);
    assert_int_equal(cons_verify_sig(&verifier, &vs->nodes[0].consensus_key, &t, &sig),
                     ERR_BAD_SIGNATURE);
    assert_int_equal(cons_verify_sig(&verifier, &vs->nodes[0].consensus_key, &p, &sig),
                     ERR_BAD_SIGNATURE);
    /* another chain id gives another digest */
    struct cons_chain other = chain;
    other.chain_id.bytes[0] ^= 1;
    struct hash v2;
    vote_digest(&other, 1, &li, &v2);
    assert_false(hash_equal(&v, &v2));
}

static void
test_tc_verify(void **state)
{
    (void)state;
    struct tc *tc = mem_alloc(sizeof *tc);
    make_tc(10, tc);
    assert_int_equal(tc_verify(&verifier, vs, tc, NULL), ERR_OK);
    tc->hqc_rounds[1] = 7; /* hqc.round is no longer the maximum */
    assert_int_not_equal(tc_verify(&verifier, vs, tc, NULL), ERR_OK);
    make_tc(10, tc);
    tc->sigs[2].bytes[0] ^= 1;
    assert_int_equal(tc_verify(&verifier, vs, tc, NULL), ERR_BAD_SIGNATURE);
    mem_free(tc);
}

static void
test_finality_proof(void **state)
{
    (void)state;
    /* chain B <- C; the cert names C; the proof of B carries C's header */
    struct block_header *hb = mem_calloc(1, sizeof *hb);
    struct block_header *hc = mem_calloc(1, sizeof *hc);
    hb->epoch = 1;
    hb->round = 3;
    hb->height = 3;
    block_payload_root(chain.alg, &(struct block_payload){ .kind = PAYLOAD_EMPTY },
                       &hb->payload_root);
    struct hash idb;
    block_header_id(chain.alg, hb, &idb);
    *hc = *hb;
    hc->round = 4;
    hc->height = 4;
    hc->parent_id = idb;
    struct hash idc;
    block_header_id(chain.alg, hc, &idc);
    struct buf hdr;
    buf_init(&hdr, CONS_MSG_SIZE_MAX);
    assert_int_equal(block_header_encode(&hdr, hc), ERR_OK);
    struct qc *cert = mem_alloc(sizeof *cert);
    make_qc(5, 50, 3, cert);
    cert->ledger_info.commit_info.id = idc;
    vote_data_hash(chain.alg, &cert->vote_data, &cert->ledger_info.vote_data_hash);
    struct hash d;
    vote_digest(&chain, 1, &cert->ledger_info, &d);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sign_message(keys[i], d.bytes, HASH_SIZE, &cert->sigs[i]), ERR_OK);
    }
    struct byte_span span = { hdr.data, hdr.size };
    struct buf proof;
    buf_init(&proof, CONS_MSG_SIZE_MAX);
    assert_int_equal(finality_proof_encode(&proof, cert, &span, 1), ERR_OK);
    write_state_corpus("finality_proof", 0, proof.data, proof.size);
    struct finality_proof *fp = mem_alloc(sizeof *fp);
    assert_int_equal(finality_proof_decode(proof.data, proof.size, fp), ERR_OK);
    assert_int_equal(finality_proof_verify(&verifier, vs, fp, &idb, hb), ERR_OK);
    assert_int_equal(finality_proof_verify(&verifier, vs, fp, &idc, hb), ERR_BAD_SIGNATURE);
    fp->header_count = 0; /* the cert alone proves C, not B */
    assert_int_equal(finality_proof_verify(&verifier, vs, fp, &idc, hb), ERR_OK);
    assert_int_equal(finality_proof_verify(&verifier, vs, fp, &idb, hb), ERR_BAD_SIGNATURE);
    mem_free(fp);
    mem_free(cert);
    buf_release(&proof);
    buf_release(&hdr);
    mem_free(hb);
    mem_free(hc);
}

static void
test_reject_noncanonical(void **state)
{
    (void)state;
    struct cons_msg *m = mem_alloc(sizeof *m);
    const uint8_t unknown_type[] = { 0x42 };
    assert_int_not_equal(cons_msg_decode(unknown_type, sizeof unknown_type, m), ERR_OK);
    const uint8_t empty_inline[] = { 0x05 };
    assert_int_not_equal(cons_msg_decode(empty_inline, 0, m), ERR_OK);
    /* a payload tagged INLINE with zero transactions is not canonical (EMPTY is) */
    uint8_t pl[] = { PAYLOAD_INLINE, 0 };
    struct reader r;
    reader_init(&r, pl, sizeof pl);
    struct block_payload p;
    assert_int_equal(block_payload_read(&r, &p), ERR_NONCANONICAL);
    uint8_t *big = mem_calloc(CONS_MSG_SIZE_MAX + 1, 1);
    assert_int_equal(cons_msg_decode(big, CONS_MSG_SIZE_MAX + 1, m), ERR_TOO_LARGE);
    mem_free(big);
    mem_free(m);
}

/* The header binds tx_count: a block whose count differs from its payload is refused, and a tx
 * inclusion proof must be for the header's tree size (RFC 6962 paths of leaf 0 of 3 and of 4
 * take the same turns, so merkle_verify alone accepts both). */
static void
test_tx_count(void **state)
{
    (void)state;
    struct buf txs;
    buf_init(&txs, 1024);
    struct hash leaves[3];
    static const char *const names[3] = { "tx-a", "tx-b", "tx-c" };
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(codec_put_bytes(&txs, names[i], 4, CONS_TX_SIZE_MAX), ERR_OK);
        hash_bytes(chain.alg, names[i], 4, &leaves[i]);
    }
    struct block *blk = mem_calloc(1, sizeof *blk);
    blk->header.epoch = 1;
    blk->header.height = 2;
    blk->payload = (struct block_payload){
        .kind = PAYLOAD_INLINE, .tx_count = 3, .txs = txs.data, .txs_size = txs.size
    };
    block_header_set_payload(chain.alg, &blk->header, &blk->payload);
    assert_int_equal(blk->header.tx_count, 3);
    assert_int_equal(block_check_payload(chain.alg, blk), ERR_OK);
    blk->header.tx_count = 4;
    assert_int_equal(block_check_payload(chain.alg, blk), ERR_MALFORMED);
    blk->header.tx_count = 3;

    struct buf hdr;
    buf_init(&hdr, CONS_MSG_SIZE_MAX);
    assert_int_equal(block_header_encode(&hdr, &blk->header), ERR_OK);
    struct merkle_proof *proof = mem_calloc(1, sizeof *proof);
    assert_int_equal(merkle_prove(chain.alg, leaves, 3, 0, proof), ERR_OK);
    assert_int_equal(tx_inclusion_verify(chain.alg, hdr.data, hdr.size, &leaves[0], proof), ERR_OK);
    proof->tree_size = 4; /* same turns: the bare Merkle check cannot tell */
    assert_int_equal(merkle_verify(chain.alg, &leaves[0], proof, &blk->header.payload_root),
                     ERR_OK);
    assert_int_equal(tx_inclusion_verify(chain.alg, hdr.data, hdr.size, &leaves[0], proof),
                     ERR_BAD_SIGNATURE);
    proof->tree_size = 3;
    assert_int_equal(tx_inclusion_verify(chain.alg, hdr.data, hdr.size - 1, &leaves[0], proof),
                     ERR_MALFORMED);

    /* a count past the maximum does not decode */
    blk->header.tx_count = CONS_BLOCK_TXS_MAX;
    buf_reset(&hdr);
    assert_int_equal(block_header_encode(&hdr, &blk->header), ERR_OK);
    size_t at = hdr.size - (size_t)3 * HASH_SIZE - 4; /* u32 tx_count before the 3 roots */
    store_u32(hdr.data + at, CONS_BLOCK_TXS_MAX + 1);
    struct reader r;
    reader_init(&r, hdr.data, hdr.size);
    assert_int_equal(block_header_read(&r, &blk->header), ERR_MALFORMED);

    mem_free(proof);
    buf_release(&hdr);
    mem_free(blk);
    buf_release(&txs);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_round_trip),
        cmocka_unit_test(test_vote_timeout_round_trip),
        cmocka_unit_test(test_other_messages_round_trip),
        cmocka_unit_test(test_validator_set_limits),
        cmocka_unit_test(test_batch_hook),
        cmocka_unit_test(test_qc_verify),
        cmocka_unit_test(test_domain_separation),
        cmocka_unit_test(test_tc_verify),
        cmocka_unit_test(test_finality_proof),
        cmocka_unit_test(test_reject_noncanonical),
        cmocka_unit_test(test_tx_count),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
