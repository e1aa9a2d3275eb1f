#include "codec/consensus_types.h"

#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "codec/codec.h"
#include "crypto/merkle.h"

/* Scratch size for hashing small fixed structures. */
#define SMALL_ENCODING_MAX 1024

/* ---- BlockInfo, VoteData, LedgerInfo ---- */

enum err
block_info_encode(struct buf *b, const struct block_info *bi)
{
    TRY(codec_put_u64(b, bi->epoch));
    TRY(codec_put_u64(b, bi->round));
    TRY(codec_put_hash(b, &bi->id));
    TRY(codec_put_u64(b, bi->height));
    TRY(codec_put_hash(b, &bi->exec_root));
    TRY(codec_put_hash(b, &bi->receipts_root));
    TRY(codec_put_u64(b, bi->timestamp_us));
    return codec_put_hash(b, &bi->next_epoch_vs_hash);
}

enum err
block_info_read(struct reader *r, struct block_info *out)
{
    TRY(codec_get_u64(r, &out->epoch));
    TRY(codec_get_u64(r, &out->round));
    TRY(codec_get_hash(r, &out->id));
    TRY(codec_get_u64(r, &out->height));
    TRY(codec_get_hash(r, &out->exec_root));
    TRY(codec_get_hash(r, &out->receipts_root));
    TRY(codec_get_u64(r, &out->timestamp_us));
    return codec_get_hash(r, &out->next_epoch_vs_hash);
}

bool
block_info_equal(const struct block_info *a, const struct block_info *b)
{
    return a->epoch == b->epoch && a->round == b->round && hash_equal(&a->id, &b->id) &&
           a->height == b->height && hash_equal(&a->exec_root, &b->exec_root) &&
           hash_equal(&a->receipts_root, &b->receipts_root) && a->timestamp_us == b->timestamp_us &&
           hash_equal(&a->next_epoch_vs_hash, &b->next_epoch_vs_hash);
}

enum err
vote_data_encode(struct buf *b, const struct vote_data *vd)
{
    TRY(block_info_encode(b, &vd->proposed));
    return block_info_encode(b, &vd->parent);
}

static enum err
vote_data_read(struct reader *r, struct vote_data *out)
{
    TRY(block_info_read(r, &out->proposed));
    return block_info_read(r, &out->parent);
}

void
vote_data_hash(enum hash_alg alg, const struct vote_data *vd, struct hash *out)
{
    uint8_t storage[SMALL_ENCODING_MAX];
    struct buf b = {
        .data = storage, .size = 0, .capacity = sizeof storage, .size_max = sizeof storage
    };
    enum err rc = vote_data_encode(&b, vd);
    ASSERT(rc == ERR_OK);
    hash_bytes(alg, b.data, b.size, out);
}

enum err
ledger_info_encode(struct buf *b, const struct ledger_info *li)
{
    TRY(codec_put_u8(b, li->has_commit ? 1 : 0));
    if (li->has_commit) {
        TRY(block_info_encode(b, &li->commit_info));
    }
    return codec_put_hash(b, &li->vote_data_hash);
}

static enum err
ledger_info_read(struct reader *r, struct ledger_info *out)
{
    bool has = false;
    TRY(codec_get_bool(r, &has));
    out->has_commit = has;
    if (has) {
        TRY(block_info_read(r, &out->commit_info));
    } else {
        memset(&out->commit_info, 0, sizeof out->commit_info);
    }
    return codec_get_hash(r, &out->vote_data_hash);
}

void
ledger_info_hash(enum hash_alg alg, const struct ledger_info *li, struct hash *out)
{
    uint8_t storage[SMALL_ENCODING_MAX];
    struct buf b = {
        .data = storage, .size = 0, .capacity = sizeof storage, .size_max = sizeof storage
    };
    enum err rc = ledger_info_encode(&b, li);
    ASSERT(rc == ERR_OK);
    hash_bytes(alg, b.data, b.size, out);
}

/* ---- Bitmaps ---- */

bool
bitmap_get(const uint8_t *bitmap, uint16_t bitmap_size, uint16_t i)
{
    if (i / 8u >= bitmap_size) {
        return false;
    }
    unsigned byte = bitmap[i / 8u];
    return ((byte >> (i % 8u)) & 1u) != 0;
}

void
bitmap_set(uint8_t *bitmap, uint16_t i)
{
    ASSERT(i < CONS_VALIDATORS_MAX);
    bitmap[i / 8u] = (uint8_t)(bitmap[i / 8u] | (1u << (i % 8u)));
}

static uint16_t
bitmap_popcount(const uint8_t *bitmap, uint16_t bitmap_size)
{
    uint16_t n = 0;
    for (uint16_t i = 0; i < bitmap_size; i++) {
        n = (uint16_t)(n + (uint16_t)__builtin_popcount(bitmap[i]));
    }
    return n;
}

static enum err
bitmap_read(struct reader *r, uint16_t *out_size, uint8_t *out_bitmap, uint16_t *out_count)
{
    const uint8_t *data = NULL;
    size_t size = 0;
    TRY(codec_get_bytes(r, CONS_BITMAP_SIZE_MAX, &data, &size));
    memset(out_bitmap, 0, CONS_BITMAP_SIZE_MAX);
    if (size > 0) {
        memcpy(out_bitmap, data, size);
    }
    *out_size = (uint16_t)size;
    *out_count = bitmap_popcount(out_bitmap, (uint16_t)size);
    return ERR_OK;
}

/* The bitmap must be ceil(n/8) bytes with no bit at or past n. */
static bool
bitmap_fits(const uint8_t *bitmap, uint16_t bitmap_size, uint16_t n)
{
    if (bitmap_size != (n + 7u) / 8u) {
        return false;
    }
    for (uint16_t i = n; i < bitmap_size * 8u; i++) {
        if (bitmap_get(bitmap, bitmap_size, i)) {
            return false;
        }
    }
    return true;
}

/* ---- QC ---- */

enum err
qc_encode(struct buf *b, const struct qc *qc)
{
    ASSERT(qc->bitmap_size <= CONS_BITMAP_SIZE_MAX);
    ASSERT(qc->sig_count == bitmap_popcount(qc->bitmap, qc->bitmap_size));
    TRY(vote_data_encode(b, &qc->vote_data));
    TRY(ledger_info_encode(b, &qc->ledger_info));
    TRY(codec_put_bytes(b, qc->bitmap, qc->bitmap_size, CONS_BITMAP_SIZE_MAX));
    for (uint16_t i = 0; i < qc->sig_count; i++) {
        TRY(codec_put_signature(b, &qc->sigs[i]));
    }
    return ERR_OK;
}

enum err
qc_read(struct reader *r, struct qc *out)
{
    TRY(vote_data_read(r, &out->vote_data));
    TRY(ledger_info_read(r, &out->ledger_info));
    TRY(bitmap_read(r, &out->bitmap_size, out->bitmap, &out->sig_count));
    for (uint16_t i = 0; i < out->sig_count; i++) {
        TRY(codec_get_signature(r, &out->sigs[i]));
    }
    return ERR_OK;
}

enum err
qc_decode(const uint8_t *data, size_t size, struct qc *out)
{
    struct reader r;
    reader_init(&r, data, size);
    TRY(qc_read(&r, out));
    return codec_finish(&r);
}

void
qc_hash(enum hash_alg alg, const struct qc *qc, struct hash *out)
{
    struct buf b;
    buf_init(&b, CONS_MSG_SIZE_MAX);
    enum err rc = qc_encode(&b, qc);
    ASSERT(rc == ERR_OK);
    hash_bytes(alg, b.data, b.size, out);
    buf_release(&b);
}

void
qc_epoch_genesis(enum hash_alg alg, const struct block_info *root, struct qc *out)
{
    ASSERT(root != NULL);
    ASSERT(out != NULL);
    memset(out, 0, sizeof *out);
    out->vote_data.proposed = *root;
    out->vote_data.parent = *root;
    out->ledger_info.has_commit = true;
    out->ledger_info.commit_info = *root;
    vote_data_hash(alg, &out->vote_data, &out->ledger_info.vote_data_hash);
}

bool
qc_equal(const struct qc *a, const struct qc *b)
{
    if (!block_info_equal(&a->vote_data.proposed, &b->vote_data.proposed) ||
        !block_info_equal(&a->vote_data.parent, &b->vote_data.parent) ||
        a->ledger_info.has_commit != b->ledger_info.has_commit ||
        !block_info_equal(&a->ledger_info.commit_info, &b->ledger_info.commit_info) ||
        !hash_equal(&a->ledger_info.vote_data_hash, &b->ledger_info.vote_data_hash) ||
        a->bitmap_size != b->bitmap_size || a->sig_count != b->sig_count) {
        return false;
    }
    if (a->bitmap_size > 0 && memcmp(a->bitmap, b->bitmap, a->bitmap_size) != 0) {
        return false;
    }
    for (uint16_t i = 0; i < a->sig_count; i++) {
        if (a->sigs[i].alg != b->sigs[i].alg ||
            memcmp(a->sigs[i].bytes, b->sigs[i].bytes, SIGNATURE_SIZE) != 0) {
            return false;
        }
    }
    return true;
}

/* ---- TC ---- */

enum err
tc_encode(struct buf *b, const struct tc *tc)
{
    ASSERT(tc->sig_count == bitmap_popcount(tc->bitmap, tc->bitmap_size));
    TRY(codec_put_u64(b, tc->epoch));
    TRY(codec_put_u64(b, tc->round));
    TRY(qc_encode(b, &tc->hqc));
    TRY(codec_put_bytes(b, tc->bitmap, tc->bitmap_size, CONS_BITMAP_SIZE_MAX));
    for (uint16_t i = 0; i < tc->sig_count; i++) {
        TRY(codec_put_u64(b, tc->hqc_rounds[i]));
        TRY(codec_put_signature(b, &tc->sigs[i]));
    }
    return ERR_OK;
}

enum err
tc_read(struct reader *r, struct tc *out)
{
    TRY(codec_get_u64(r, &out->epoch));
    TRY(codec_get_u64(r, &out->round));
    TRY(qc_read(r, &out->hqc));
    TRY(bitmap_read(r, &out->bitmap_size, out->bitmap, &out->sig_count));
    for (uint16_t i = 0; i < out->sig_count; i++) {
        TRY(codec_get_u64(r, &out->hqc_rounds[i]));
        TRY(codec_get_signature(r, &out->sigs[i]));
    }
    return ERR_OK;
}

void
tc_hash(enum hash_alg alg, const struct tc *tc, struct hash *out)
{
    struct buf b;
    buf_init(&b, CONS_MSG_SIZE_MAX);
    enum err rc = tc_encode(&b, tc);
    ASSERT(rc == ERR_OK);
    hash_bytes(alg, b.data, b.size, out);
    buf_release(&b);
}

/* ---- Vote, Timeout, SyncInfo ---- */

enum err
vote_encode(struct buf *b, const struct vote *v)
{
    TRY(vote_data_encode(b, &v->vote_data));
    TRY(ledger_info_encode(b, &v->ledger_info));
    TRY(codec_put_u16(b, v->author));
    return codec_put_signature(b, &v->sig);
}

enum err
vote_read(struct reader *r, struct vote *out)
{
    TRY(vote_data_read(r, &out->vote_data));
    TRY(ledger_info_read(r, &out->ledger_info));
    TRY(codec_get_u16(r, &out->author));
    return codec_get_signature(r, &out->sig);
}

enum err
vote_decode(const uint8_t *data, size_t size, struct vote *out)
{
    struct reader r;
    reader_init(&r, data, size);
    TRY(vote_read(&r, out));
    return codec_finish(&r);
}

enum err
timeout_encode(struct buf *b, const struct timeout *t)
{
    TRY(codec_put_u64(b, t->epoch));
    TRY(codec_put_u64(b, t->round));
    TRY(qc_encode(b, &t->hqc));
    TRY(codec_put_u16(b, t->author));
    return codec_put_signature(b, &t->sig);
}

enum err
timeout_read(struct reader *r, struct timeout *out)
{
    TRY(codec_get_u64(r, &out->epoch));
    TRY(codec_get_u64(r, &out->round));
    TRY(qc_read(r, &out->hqc));
    TRY(codec_get_u16(r, &out->author));
    return codec_get_signature(r, &out->sig);
}

enum err
sync_info_encode(struct buf *b, const struct sync_info *si)
{
    TRY(qc_encode(b, &si->highest_qc));
    TRY(qc_encode(b, &si->highest_commit_cert));
    TRY(codec_put_u8(b, si->has_tc ? 1 : 0));
    if (si->has_tc) {
        TRY(tc_encode(b, &si->highest_tc));
    }
    return ERR_OK;
}

enum err
sync_info_read(struct reader *r, struct sync_info *out)
{
    TRY(qc_read(r, &out->highest_qc));
    TRY(qc_read(r, &out->highest_commit_cert));
    bool has = false;
    TRY(codec_get_bool(r, &has));
    out->has_tc = has;
    if (has) {
        TRY(tc_read(r, &out->highest_tc));
    }
    return ERR_OK;
}

/* ---- Blocks ---- */

enum err
block_header_encode(struct buf *b, const struct block_header *h)
{
    ASSERT(h->failed_count <= CONS_FAILED_AUTHORS_MAX);
    TRY(codec_put_u64(b, h->epoch));
    TRY(codec_put_u64(b, h->round));
    TRY(codec_put_u64(b, h->height));
    TRY(codec_put_hash(b, &h->parent_id));
    TRY(qc_encode(b, &h->qc));
    TRY(codec_put_u16(b, h->author));
    TRY(codec_put_u64(b, h->timestamp_us));
    TRY(codec_put_count(b, h->failed_count, CONS_FAILED_AUTHORS_MAX));
    for (uint16_t i = 0; i < h->failed_count; i++) {
        TRY(codec_put_u64(b, h->failed[i].round));
        TRY(codec_put_u16(b, h->failed[i].author));
    }
    ASSERT(h->tx_count <= CONS_BLOCK_TXS_MAX);
    TRY(codec_put_u32(b, h->tx_count));
    TRY(codec_put_hash(b, &h->payload_root));
    TRY(codec_put_hash(b, &h->parent_exec_root));
    return codec_put_hash(b, &h->parent_receipts_root);
}

enum err
block_header_read(struct reader *r, struct block_header *out)
{
    TRY(codec_get_u64(r, &out->epoch));
    TRY(codec_get_u64(r, &out->round));
    TRY(codec_get_u64(r, &out->height));
    TRY(codec_get_hash(r, &out->parent_id));
    TRY(qc_read(r, &out->qc));
    TRY(codec_get_u16(r, &out->author));
    TRY(codec_get_u64(r, &out->timestamp_us));
    size_t count = 0;
    TRY(codec_get_count(r, CONS_FAILED_AUTHORS_MAX, &count));
    out->failed_count = (uint16_t)count;
    for (size_t i = 0; i < count; i++) {
        TRY(codec_get_u64(r, &out->failed[i].round));
        TRY(codec_get_u16(r, &out->failed[i].author));
        /* strictly ascending rounds: one encoding per list */
        if (i > 0 && out->failed[i].round <= out->failed[i - 1].round) {
            return ERR_NONCANONICAL;
        }
    }
    TRY(codec_get_u32(r, &out->tx_count));
    if (out->tx_count > CONS_BLOCK_TXS_MAX) {
        return ERR_MALFORMED;
    }
    TRY(codec_get_hash(r, &out->payload_root));
    TRY(codec_get_hash(r, &out->parent_exec_root));
    return codec_get_hash(r, &out->parent_receipts_root);
}

void
block_header_id(enum hash_alg alg, const struct block_header *h, struct hash *out)
{
    struct buf b;
    buf_init(&b, CONS_MSG_SIZE_MAX);
    enum err rc = block_header_encode(&b, h);
    ASSERT(rc == ERR_OK);
    hash_bytes(alg, b.data, b.size, out);
    buf_release(&b);
}

enum err
block_payload_encode(struct buf *b, const struct block_payload *p)
{
    TRY(codec_put_u8(b, p->kind));
    if (p->kind == PAYLOAD_EMPTY) {
        return ERR_OK;
    }
    ASSERT(p->kind == PAYLOAD_INLINE);
    ASSERT(p->tx_count >= 1);
    TRY(codec_put_count(b, p->tx_count, CONS_BLOCK_TXS_MAX));
    return codec_put_fixed(b, p->txs, p->txs_size);
}

enum err
block_payload_read(struct reader *r, struct block_payload *out)
{
    uint8_t kind = 0;
    TRY(codec_get_u8(r, &kind));
    if (kind == PAYLOAD_EMPTY) {
        *out = (struct block_payload){ .kind = PAYLOAD_EMPTY };
        return ERR_OK;
    }
    if (kind != PAYLOAD_INLINE) {
        return ERR_MALFORMED;
    }
    size_t count = 0;
    TRY(codec_get_count(r, CONS_BLOCK_TXS_MAX, &count));
    if (count == 0) {
        return ERR_NONCANONICAL; /* no transactions is EMPTY */
    }
    size_t start = r->pos;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *tx = NULL;
        size_t tx_size = 0;
        TRY(codec_get_bytes(r, CONS_TX_SIZE_MAX, &tx, &tx_size));
        if (r->pos - start > CONS_BLOCK_BYTES_MAX) {
            return ERR_TOO_LARGE;
        }
    }
    *out = (struct block_payload){ .kind = PAYLOAD_INLINE,
                                   .tx_count = (uint32_t)count,
                                   .txs = r->data + start,
                                   .txs_size = r->pos - start };
    return ERR_OK;
}

enum err
payload_next_tx(const struct block_payload *p, size_t *pos, const uint8_t **out_tx,
                size_t *out_size)
{
    if (p->kind != PAYLOAD_INLINE || *pos >= p->txs_size) {
        return ERR_NOT_FOUND;
    }
    struct reader r;
    reader_init(&r, p->txs, p->txs_size);
    r.pos = *pos;
    TRY(codec_get_bytes(&r, CONS_TX_SIZE_MAX, out_tx, out_size));
    *pos = r.pos;
    return ERR_OK;
}

void
block_payload_root(enum hash_alg alg, const struct block_payload *p, struct hash *out)
{
    if (p->kind == PAYLOAD_EMPTY) {
        merkle_root(alg, NULL, 0, out);
        return;
    }
    struct hash *leaves = mem_calloc(p->tx_count, sizeof *leaves);
    size_t pos = 0;
    size_t n = 0;
    const uint8_t *tx = NULL;
    size_t tx_size = 0;
    while (n < p->tx_count && payload_next_tx(p, &pos, &tx, &tx_size) == ERR_OK) {
        hash_bytes(alg, tx, tx_size, &leaves[n]);
        n++;
    }
    ASSERT(n == p->tx_count);
    merkle_root(alg, leaves, n, out);
    mem_free(leaves);
}

void
block_header_set_payload(enum hash_alg alg, struct block_header *h, const struct block_payload *p)
{
    h->tx_count = p->kind == PAYLOAD_INLINE ? p->tx_count : 0;
    block_payload_root(alg, p, &h->payload_root);
}

enum err
block_check_payload(enum hash_alg alg, const struct block *blk)
{
    const struct block_payload *p = &blk->payload;
    uint32_t count = p->kind == PAYLOAD_INLINE ? p->tx_count : 0;
    if (blk->header.tx_count != count) {
        return ERR_MALFORMED;
    }
    struct hash root;
    block_payload_root(alg, p, &root);
    return hash_equal(&root, &blk->header.payload_root) ? ERR_OK : ERR_MALFORMED;
}

enum err
tx_inclusion_verify(enum hash_alg alg, const uint8_t *header, size_t header_size,
                    const struct hash *leaf, const struct merkle_proof *proof)
{
    struct block_header *h = mem_alloc(sizeof *h);
    struct reader r;
    reader_init(&r, header, header_size);
    enum err rc = block_header_read(&r, h);
    if (rc == ERR_OK) {
        rc = codec_finish(&r);
    }
    if (rc != ERR_OK) {
        mem_free(h);
        return ERR_MALFORMED;
    }
    if (proof->tree_size != h->tx_count || proof->index >= h->tx_count) {
        rc = ERR_BAD_SIGNATURE;
    } else {
        rc = merkle_verify(alg, leaf, proof, &h->payload_root);
    }
    mem_free(h);
    return rc;
}

enum err
block_encode(struct buf *b, const struct block *blk)
{
    TRY(block_header_encode(b, &blk->header));
    return block_payload_encode(b, &blk->payload);
}

enum err
block_read(struct reader *r, struct block *out)
{
    TRY(block_header_read(r, &out->header));
    return block_payload_read(r, &out->payload);
}

enum err
block_decode(const uint8_t *data, size_t size, struct block *out)
{
    struct reader r;
    reader_init(&r, data, size);
    TRY(block_read(&r, out));
    return codec_finish(&r);
}

/* ---- Messages ---- */

static enum err
span_read_block(struct reader *r, struct byte_span *out, struct block *scratch)
{
    size_t start = r->pos;
    TRY(block_read(r, scratch));
    out->data = r->data + start;
    out->size = r->pos - start;
    return ERR_OK;
}

static enum err
block_response_read(struct reader *r, struct block_response *out, struct block *scratch)
{
    TRY(codec_get_u8(r, &out->status));
    if (out->status != BLOCK_RESPONSE_OK && out->status != BLOCK_RESPONSE_NOT_FOUND) {
        return ERR_MALFORMED;
    }
    size_t count = 0;
    TRY(codec_get_count(r, CONS_RETRIEVAL_BLOCKS_MAX, &count));
    if ((out->status == BLOCK_RESPONSE_OK) != (count > 0)) {
        return ERR_MALFORMED;
    }
    out->count = (uint16_t)count;
    for (size_t i = 0; i < count; i++) {
        TRY(span_read_block(r, &out->blocks[i], scratch));
    }
    return ERR_OK;
}

static enum err
epoch_proof_read(struct reader *r, struct epoch_change_proof *out, struct block *scratch)
{
    size_t count = 0;
    TRY(codec_get_count(r, CONS_EPOCH_PROOF_MAX, &count));
    if (count == 0) {
        return ERR_MALFORMED;
    }
    out->count = (uint16_t)count;
    for (size_t i = 0; i < count; i++) {
        size_t start = r->pos;
        TRY(qc_read(r, &scratch->header.qc));
        out->certs[i] = (struct byte_span){ r->data + start, r->pos - start };
        start = r->pos;
        struct validator_set *vs = mem_alloc(sizeof *vs); /* 28 KB: not on the stack */
        enum err rc = validator_set_read(r, vs);
        mem_free(vs);
        TRY(rc);
        out->sets[i] = (struct byte_span){ r->data + start, r->pos - start };
    }
    return ERR_OK;
}

enum err
evidence_read(struct reader *r, struct evidence *out)
{
    TRY(codec_get_u8(r, &out->kind));
    if (out->kind != EVIDENCE_DOUBLE_VOTE && out->kind != EVIDENCE_DOUBLE_PROPOSAL) {
        return ERR_MALFORMED;
    }
    const uint8_t *d = NULL;
    size_t s = 0;
    TRY(codec_get_bytes(r, CONS_MSG_SIZE_MAX / 4, &d, &s));
    out->a = (struct byte_span){ d, s };
    TRY(codec_get_bytes(r, CONS_MSG_SIZE_MAX / 4, &d, &s));
    out->b = (struct byte_span){ d, s };
    return ERR_OK;
}

enum err
evidence_encode(struct buf *b, const struct evidence *e)
{
    TRY(codec_put_u8(b, e->kind));
    TRY(codec_put_bytes(b, e->a.data, e->a.size, CONS_MSG_SIZE_MAX / 4));
    return codec_put_bytes(b, e->b.data, e->b.size, CONS_MSG_SIZE_MAX / 4);
}

static enum err
block_request_read(struct reader *r, struct block_request *q)
{
    TRY(codec_get_hash(r, &q->block_id));
    TRY(codec_get_u16(r, &q->num_blocks));
    if (q->num_blocks == 0 || q->num_blocks > CONS_RETRIEVAL_BLOCKS_MAX) {
        return ERR_MALFORMED;
    }
    return codec_get_hash(r, &q->stop_at);
}

static enum err
ledger_request_read(struct reader *r, struct ledger_request *q)
{
    TRY(codec_get_hash(r, &q->after_id));
    TRY(codec_get_u64(r, &q->after_height));
    TRY(codec_get_u16(r, &q->num_blocks));
    if (q->num_blocks == 0 || q->num_blocks > CONS_RETRIEVAL_BLOCKS_MAX) {
        return ERR_MALFORMED;
    }
    return ERR_OK;
}

static enum err
cons_msg_read_body(struct reader *r, struct cons_msg *m)
{
    switch ((enum cons_msg_type)m->type) {
    case CONS_MSG_PROPOSAL:
        TRY(block_read(r, &m->u.proposal.block));
        TRY(codec_get_signature(r, &m->u.proposal.sig));
        return sync_info_read(r, &m->u.proposal.sync);
    case CONS_MSG_VOTE:
        TRY(vote_read(r, &m->u.vote.vote));
        return sync_info_read(r, &m->u.vote.sync);
    case CONS_MSG_TIMEOUT:
        TRY(timeout_read(r, &m->u.timeout.timeout));
        return sync_info_read(r, &m->u.timeout.sync);
    case CONS_MSG_SYNC_INFO:
        return sync_info_read(r, &m->u.sync);
    case CONS_MSG_BLOCK_REQUEST:
        return block_request_read(r, &m->u.block_request);
    case CONS_MSG_BLOCK_RESPONSE: {
        struct block *scratch = mem_alloc(sizeof *scratch);
        enum err rc = block_response_read(r, &m->u.block_response, scratch);
        mem_free(scratch);
        return rc;
    }
    case CONS_MSG_EPOCH_REQUEST:
        return codec_get_u64(r, &m->u.epoch_request.epoch);
    case CONS_MSG_EPOCH_PROOF: {
        struct block *scratch = mem_alloc(sizeof *scratch);
        enum err rc = epoch_proof_read(r, &m->u.epoch_proof, scratch);
        mem_free(scratch);
        return rc;
    }
    case CONS_MSG_EVIDENCE:
        return evidence_read(r, &m->u.evidence);
    case CONS_MSG_LEDGER_REQUEST:
        return ledger_request_read(r, &m->u.ledger_request);
    }
    return ERR_MALFORMED;
}

enum err
cons_msg_decode(const uint8_t *data, size_t size, struct cons_msg *out)
{
    ASSERT(out != NULL);
    if (size > CONS_MSG_SIZE_MAX) {
        return ERR_TOO_LARGE;
    }
    struct reader r;
    reader_init(&r, data, size);
    TRY(codec_get_u8(&r, &out->type));
    if (out->type == 0 || out->type > CONS_MSG_TYPE_MAX) {
        return ERR_MALFORMED;
    }
    TRY(cons_msg_read_body(&r, out));
    return codec_finish(&r);
}

static enum err
spans_encode(struct buf *b, const struct byte_span *spans, uint16_t count)
{
    for (uint16_t i = 0; i < count; i++) {
        TRY(codec_put_fixed(b, spans[i].data, spans[i].size));
    }
    return ERR_OK;
}

static enum err
block_request_encode(struct buf *b, const struct block_request *q)
{
    TRY(codec_put_hash(b, &q->block_id));
    TRY(codec_put_u16(b, q->num_blocks));
    return codec_put_hash(b, &q->stop_at);
}

static enum err
ledger_request_encode(struct buf *b, const struct ledger_request *q)
{
    TRY(codec_put_hash(b, &q->after_id));
    TRY(codec_put_u64(b, q->after_height));
    return codec_put_u16(b, q->num_blocks);
}

static enum err
epoch_proof_encode(struct buf *b, const struct epoch_change_proof *p)
{
    TRY(codec_put_count(b, p->count, CONS_EPOCH_PROOF_MAX));
    for (uint16_t i = 0; i < p->count; i++) {
        TRY(codec_put_fixed(b, p->certs[i].data, p->certs[i].size));
        TRY(codec_put_fixed(b, p->sets[i].data, p->sets[i].size));
    }
    return ERR_OK;
}

enum err
cons_msg_encode(struct buf *b, const struct cons_msg *m)
{
    TRY(codec_put_u8(b, m->type));
    switch ((enum cons_msg_type)m->type) {
    case CONS_MSG_PROPOSAL:
        TRY(block_encode(b, &m->u.proposal.block));
        TRY(codec_put_signature(b, &m->u.proposal.sig));
        return sync_info_encode(b, &m->u.proposal.sync);
    case CONS_MSG_VOTE:
        TRY(vote_encode(b, &m->u.vote.vote));
        return sync_info_encode(b, &m->u.vote.sync);
    case CONS_MSG_TIMEOUT:
        TRY(timeout_encode(b, &m->u.timeout.timeout));
        return sync_info_encode(b, &m->u.timeout.sync);
    case CONS_MSG_SYNC_INFO:
        return sync_info_encode(b, &m->u.sync);
    case CONS_MSG_BLOCK_REQUEST:
        return block_request_encode(b, &m->u.block_request);
    case CONS_MSG_BLOCK_RESPONSE:
        TRY(codec_put_u8(b, m->u.block_response.status));
        TRY(codec_put_count(b, m->u.block_response.count, CONS_RETRIEVAL_BLOCKS_MAX));
        return spans_encode(b, m->u.block_response.blocks, m->u.block_response.count);
    case CONS_MSG_EPOCH_REQUEST:
        return codec_put_u64(b, m->u.epoch_request.epoch);
    case CONS_MSG_EPOCH_PROOF:
        return epoch_proof_encode(b, &m->u.epoch_proof);
    case CONS_MSG_EVIDENCE:
        return evidence_encode(b, &m->u.evidence);
    case CONS_MSG_LEDGER_REQUEST:
        return ledger_request_encode(b, &m->u.ledger_request);
    }
    UNREACHABLE();
}

/* ---- Digests ---- */

void
proposal_digest(const struct cons_chain *chain, const struct hash *block_id, struct hash *out)
{
    sign_digest_tagged(chain->alg, CONS_TAG_PROPOSAL, &chain->chain_id, block_id->bytes, HASH_SIZE,
                       out);
}

void
vote_digest(const struct cons_chain *chain, uint64_t epoch, const struct ledger_info *li,
            struct hash *out)
{
    uint8_t bytes[8 + HASH_SIZE];
    store_u64(bytes, epoch);
    struct hash h;
    ledger_info_hash(chain->alg, li, &h);
    memcpy(bytes + 8, h.bytes, HASH_SIZE);
    sign_digest_tagged(chain->alg, CONS_TAG_VOTE, &chain->chain_id, bytes, sizeof bytes, out);
}

void
timeout_digest(const struct cons_chain *chain, uint64_t epoch, uint64_t round, uint64_t hqc_round,
               struct hash *out)
{
    uint8_t bytes[24];
    store_u64(bytes, epoch);
    store_u64(bytes + 8, round);
    store_u64(bytes + 16, hqc_round);
    sign_digest_tagged(chain->alg, CONS_TAG_TIMEOUT, &chain->chain_id, bytes, sizeof bytes, out);
}

/* ---- Verification ---- */

enum err
cons_verify_sig(const struct cons_verifier *v, const struct public_key *key,
                const struct hash *digest, const struct signature *sig)
{
    if (sig->alg != key->alg) {
        return ERR_BAD_SIGNATURE;
    }
    if (v->verify != NULL) {
        return v->verify(v->ctx, key, digest, sig);
    }
    return verify_message(key, digest->bytes, HASH_SIZE, sig) == ERR_OK ? ERR_OK
                                                                        : ERR_BAD_SIGNATURE;
}

/* Every item, through the batch hook when there is one. */
static enum err
verify_items(const struct cons_verifier *v, const struct cons_verify_item *items, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (items[i].sig->alg != items[i].key->alg) {
            return ERR_BAD_SIGNATURE;
        }
    }
    if (v->verify_batch != NULL) {
        return v->verify_batch(v->ctx, items, count) == ERR_OK ? ERR_OK : ERR_BAD_SIGNATURE;
    }
    for (size_t i = 0; i < count; i++) {
        TRY(cons_verify_sig(v, items[i].key, &items[i].digest, items[i].sig));
    }
    return ERR_OK;
}

/* Sum of the signers' power; ERR_MALFORMED if the bitmap does not fit the set. */
static enum err
signers_power(const struct validator_set *vs, const uint8_t *bitmap, uint16_t bitmap_size,
              uint16_t sig_count, uint64_t *out_power)
{
    if (!bitmap_fits(bitmap, bitmap_size, (uint16_t)vs->count)) {
        return ERR_MALFORMED;
    }
    if (bitmap_popcount(bitmap, bitmap_size) != sig_count) {
        return ERR_MALFORMED;
    }
    uint64_t power = 0;
    for (uint16_t i = 0; i < vs->count; i++) {
        if (bitmap_get(bitmap, bitmap_size, i)) {
            power += vs->nodes[i].power;
        }
    }
    *out_power = power;
    return ERR_OK;
}

enum err
qc_verify(const struct cons_verifier *v, const struct validator_set *vs, const struct qc *qc)
{
    ASSERT(v != NULL && vs != NULL && qc != NULL);
    if (qc->sig_count == 0) {
        return ERR_BAD_SIGNATURE;
    }
    struct hash vd_hash;
    vote_data_hash(v->chain->alg, &qc->vote_data, &vd_hash);
    if (!hash_equal(&vd_hash, &qc->ledger_info.vote_data_hash)) {
        return ERR_MALFORMED;
    }
    if (qc->vote_data.proposed.epoch != vs->epoch ||
        (qc->ledger_info.has_commit &&
         qc->ledger_info.commit_info.epoch != qc->vote_data.proposed.epoch)) {
        return ERR_MALFORMED; /* a cert is checked against the set of its own epoch only */
    }
    uint64_t power = 0;
    TRY(signers_power(vs, qc->bitmap, qc->bitmap_size, qc->sig_count, &power));
    if (!validator_set_is_quorum(vs, power)) {
        return ERR_BAD_SIGNATURE;
    }
    struct hash digest;
    vote_digest(v->chain, qc->vote_data.proposed.epoch, &qc->ledger_info, &digest);
    struct cons_verify_item items[CONS_VALIDATORS_MAX];
    uint16_t k = 0;
    for (uint16_t i = 0; i < vs->count; i++) {
        if (bitmap_get(qc->bitmap, qc->bitmap_size, i)) {
            items[k] =
                (struct cons_verify_item){ &vs->nodes[i].consensus_key, digest, &qc->sigs[k] };
            k++;
        }
    }
    ASSERT(k == qc->sig_count);
    return verify_items(v, items, k);
}

enum err
tc_verify(const struct cons_verifier *v, const struct validator_set *vs, const struct tc *tc,
          const struct qc *epoch_qc)
{
    ASSERT(v != NULL && vs != NULL && tc != NULL);
    if (tc->sig_count == 0) {
        return ERR_BAD_SIGNATURE;
    }
    uint64_t power = 0;
    TRY(signers_power(vs, tc->bitmap, tc->bitmap_size, tc->sig_count, &power));
    if (!validator_set_is_quorum(vs, power)) {
        return ERR_BAD_SIGNATURE;
    }
    uint64_t max_round = 0;
    for (uint16_t k = 0; k < tc->sig_count; k++) {
        if (tc->hqc_rounds[k] >= tc->round) {
            return ERR_MALFORMED;
        }
        max_round = tc->hqc_rounds[k] > max_round ? tc->hqc_rounds[k] : max_round;
    }
    if (qc_round(&tc->hqc) != max_round || tc->hqc.vote_data.proposed.epoch != tc->epoch) {
        return ERR_MALFORMED;
    }
    if (tc->hqc.sig_count == 0) {
        if (epoch_qc == NULL || !qc_equal(&tc->hqc, epoch_qc)) {
            return ERR_BAD_SIGNATURE;
        }
    } else {
        TRY(qc_verify(v, vs, &tc->hqc));
    }
    struct cons_verify_item items[CONS_VALIDATORS_MAX];
    uint16_t k = 0;
    for (uint16_t i = 0; i < vs->count; i++) {
        if (bitmap_get(tc->bitmap, tc->bitmap_size, i)) {
            items[k] = (struct cons_verify_item){ .key = &vs->nodes[i].consensus_key,
                                                  .sig = &tc->sigs[k] };
            timeout_digest(v->chain, tc->epoch, tc->round, tc->hqc_rounds[k], &items[k].digest);
            k++;
        }
    }
    return verify_items(v, items, k);
}

/* ---- Finality proofs ---- */

enum err
finality_proof_encode(struct buf *b, const struct qc *cert, const struct byte_span *headers,
                      uint16_t count)
{
    TRY(qc_encode(b, cert));
    TRY(codec_put_count(b, count, FINALITY_HEADERS_MAX));
    for (uint16_t i = 0; i < count; i++) {
        TRY(codec_put_fixed(b, headers[i].data, headers[i].size));
    }
    return ERR_OK;
}

enum err
finality_proof_decode(const uint8_t *data, size_t size, struct finality_proof *out)
{
    struct reader r;
    reader_init(&r, data, size);
    TRY(qc_read(&r, &out->cert));
    size_t count = 0;
    TRY(codec_get_count(&r, FINALITY_HEADERS_MAX, &count));
    out->header_count = (uint16_t)count;
    struct block_header *scratch = mem_alloc(sizeof *scratch);
    enum err rc = ERR_OK;
    for (size_t i = 0; i < count && rc == ERR_OK; i++) {
        size_t start = r.pos;
        rc = block_header_read(&r, scratch);
        out->headers[i] = (struct byte_span){ r.data + start, r.pos - start };
    }
    mem_free(scratch);
    TRY(rc);
    return codec_finish(&r);
}

enum err
finality_proof_verify(const struct cons_verifier *v, const struct validator_set *vs,
                      const struct finality_proof *proof, const struct hash *block_id,
                      struct block_header *scratch)
{
    ASSERT(v != NULL && proof != NULL && block_id != NULL && scratch != NULL);
    if (!proof->cert.ledger_info.has_commit) {
        return ERR_MALFORMED;
    }
    TRY(qc_verify(v, vs, &proof->cert));
    struct hash expect = proof->cert.ledger_info.commit_info.id;
    for (uint16_t i = 0; i < proof->header_count; i++) {
        struct hash id;
        hash_bytes(v->chain->alg, proof->headers[i].data, proof->headers[i].size, &id);
        if (!hash_equal(&id, &expect)) {
            return ERR_BAD_SIGNATURE;
        }
        struct reader r;
        reader_init(&r, proof->headers[i].data, proof->headers[i].size);
        TRY(block_header_read(&r, scratch));
        TRY(codec_finish(&r));
        expect = scratch->parent_id;
    }
    return hash_equal(&expect, block_id) ? ERR_OK : ERR_BAD_SIGNATURE;
}
