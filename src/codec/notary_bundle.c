#include "codec/notary_bundle.h"

#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "codec/codec.h"

enum err
notary_bundle_encode(const struct notary_bundle *bundle, struct buf *out)
{
    ASSERT(bundle != NULL);
    ASSERT(out != NULL);
    if (bundle->epoch_count > NOTARY_BUNDLE_EPOCHS_MAX) {
        return ERR_MALFORMED;
    }
    enum err rc = codec_put_u8(out, NOTARY_BUNDLE_VERSION);
    if (rc == ERR_OK) {
        rc = codec_put_hash(out, &bundle->chain_id);
    }
    if (rc == ERR_OK) {
        rc = codec_put_hash(out, &bundle->document);
    }
    if (rc == ERR_OK) {
        rc = codec_put_address(out, &bundle->account);
    }
    if (rc == ERR_OK) {
        rc = codec_put_bytes(out, bundle->records, bundle->records_size, NOTARY_RECORDS_SIZE_MAX);
    }
    if (rc == ERR_OK) {
        rc = state_proof_encode(out, &bundle->proof);
    }
    if (rc == ERR_OK) {
        rc = codec_put_u64(out, bundle->state_height);
    }
    if (rc == ERR_OK) {
        rc = codec_put_count(out, bundle->epoch_count, NOTARY_BUNDLE_EPOCHS_MAX);
    }
    for (size_t i = 0; rc == ERR_OK && i < bundle->epoch_count; i++) {
        const struct notary_bundle_epoch *e = &bundle->epochs[i];
        rc = codec_put_bytes(out, e->commit_cert, e->commit_cert_size, NOTARY_BUNDLE_CERT_SIZE_MAX);
        if (rc == ERR_OK) {
            rc = codec_put_bytes(out, e->validator_set, e->validator_set_size, VS_ENCODED_SIZE_MAX);
        }
    }
    if (rc == ERR_OK) {
        rc = codec_put_bytes(out, bundle->finality, bundle->finality_size, NOTARY_BUNDLE_SIZE_MAX);
    }
    return rc;
}

static enum err
read_head(struct reader *r, struct notary_bundle *out)
{
    uint8_t version = 0;
    enum err rc = codec_get_u8(r, &version);
    if (rc == ERR_OK && version != NOTARY_BUNDLE_VERSION) {
        rc = ERR_UNSUPPORTED;
    }
    if (rc == ERR_OK) {
        rc = codec_get_hash(r, &out->chain_id);
    }
    if (rc == ERR_OK) {
        rc = codec_get_hash(r, &out->document);
    }
    if (rc == ERR_OK) {
        rc = codec_get_address(r, &out->account);
    }
    if (rc == ERR_OK) {
        rc = codec_get_bytes(r, NOTARY_RECORDS_SIZE_MAX, &out->records, &out->records_size);
    }
    if (rc == ERR_OK) {
        rc = state_proof_decode(r, &out->proof);
    }
    if (rc == ERR_OK) {
        rc = codec_get_u64(r, &out->state_height);
    }
    return rc;
}

static enum err
read_finality(struct reader *r, struct notary_bundle *out)
{
    enum err rc = codec_get_count(r, NOTARY_BUNDLE_EPOCHS_MAX, &out->epoch_count);
    for (size_t i = 0; rc == ERR_OK && i < out->epoch_count; i++) {
        struct notary_bundle_epoch *e = &out->epochs[i];
        rc = codec_get_bytes(r, NOTARY_BUNDLE_CERT_SIZE_MAX, &e->commit_cert, &e->commit_cert_size);
        if (rc == ERR_OK) {
            rc = codec_get_bytes(r, VS_ENCODED_SIZE_MAX, &e->validator_set, &e->validator_set_size);
        }
    }
    if (rc == ERR_OK) {
        rc = codec_get_bytes(r, NOTARY_BUNDLE_SIZE_MAX, &out->finality, &out->finality_size);
    }
    return rc;
}

enum err
notary_bundle_decode(const uint8_t *data, size_t size, struct notary_bundle *out)
{
    ASSERT(out != NULL);
    if (size > NOTARY_BUNDLE_SIZE_MAX) {
        return ERR_TOO_LARGE;
    }
    struct reader r;
    reader_init(&r, data, size);
    enum err rc = read_head(&r, out);
    if (rc == ERR_OK) {
        rc = read_finality(&r, out);
    }
    if (rc == ERR_OK) {
        rc = codec_finish(&r);
    }
    return rc;
}

enum err
notary_bundle_check_record(enum hash_alg alg, const struct notary_bundle *bundle,
                           const struct hash *root, struct notary_record *out_record)
{
    ASSERT(bundle != NULL);
    ASSERT(root != NULL);
    ASSERT(out_record != NULL);
    uint8_t key[NOTARY_STATE_KEY_SIZE];
    notary_document_state_key(&bundle->document, key);
    enum err rc = state_proof_verify(alg, root, key, sizeof key, bundle->records,
                                     bundle->records_size, &bundle->proof);
    if (rc != ERR_OK) {
        return rc;
    }
    struct notary_record record;
    size_t count = 0;
    rc = notary_records_find(bundle->records, bundle->records_size, &bundle->account, &count,
                             &record);
    if (rc != ERR_OK) { /* ERR_NOT_FOUND: the records hold none of the bundle's account */
        return rc;
    }
    if (record.height > bundle->state_height) {
        return ERR_MALFORMED;
    }
    *out_record = record;
    return ERR_OK;
}

/* Step 2: walks the epoch changes from vs (updated in place to the last epoch's set). */
static enum err
verify_epochs(const struct cons_verifier *v, const struct notary_bundle *bundle,
              struct validator_set *vs, struct qc *cert)
{
    struct validator_set *next = mem_alloc(sizeof *next);
    enum err rc = ERR_OK;
    for (size_t i = 0; rc == ERR_OK && i < bundle->epoch_count; i++) {
        const struct notary_bundle_epoch *e = &bundle->epochs[i];
        rc = qc_decode(e->commit_cert, e->commit_cert_size, cert);
        if (rc == ERR_OK &&
            (!cert->ledger_info.has_commit || cert->ledger_info.commit_info.epoch != vs->epoch ||
             hash_is_zero(&cert->ledger_info.commit_info.next_epoch_vs_hash))) {
            rc = ERR_MALFORMED;
        }
        if (rc == ERR_OK) {
            rc = qc_verify(v, vs, cert);
        }
        if (rc == ERR_OK) {
            rc = validator_set_decode(e->validator_set, e->validator_set_size, next);
        }
        struct hash next_hash;
        if (rc == ERR_OK) {
            validator_set_hash(v->chain->alg, next, &next_hash);
            bool linked = hash_equal(&next_hash, &cert->ledger_info.commit_info.next_epoch_vs_hash);
            rc = linked && next->epoch == vs->epoch + 1 ? ERR_OK : ERR_BAD_SIGNATURE;
        }
        if (rc == ERR_OK) {
            memcpy(vs, next, sizeof *vs);
        }
    }
    mem_free(next);
    return rc;
}

/* Step 4: the state root of B from the finality proof (cert already verified). Each header
 * names its parent by id and certifies the parent's BlockInfo in its QC (consensus checks that
 * they agree), so the next header down must be at that parent's height: one less, or the same
 * for a reconfiguration suffix block, which repeats its epoch-ending parent's height. */
static enum err
finality_root(enum hash_alg alg, const struct finality_proof *proof, uint64_t state_height,
              struct hash *out_root)
{
    const struct block_info *c = &proof->cert.ledger_info.commit_info;
    if (proof->header_count == 0) {
        if (c->height != state_height) {
            return ERR_MALFORMED;
        }
        *out_root = c->exec_root;
        return ERR_OK;
    }
    struct block_header *header = mem_alloc(sizeof *header);
    struct hash expect = c->id;
    uint64_t height = c->height;
    enum err rc = ERR_OK;
    for (uint16_t i = 0; rc == ERR_OK && i < proof->header_count; i++) {
        struct hash id;
        hash_bytes(alg, proof->headers[i].data, proof->headers[i].size, &id);
        struct reader r;
        reader_init(&r, proof->headers[i].data, proof->headers[i].size);
        rc = hash_equal(&id, &expect) ? block_header_read(&r, header) : ERR_BAD_SIGNATURE;
        if (rc == ERR_OK) {
            rc = codec_finish(&r);
        }
        const struct block_info *parent = &header->qc.vote_data.proposed;
        if (rc == ERR_OK &&
            (header->height != height || !hash_equal(&parent->id, &header->parent_id) ||
             parent->height + 1 < header->height || parent->height > header->height ||
             !hash_equal(&parent->exec_root, &header->parent_exec_root))) {
            rc = ERR_MALFORMED;
        }
        expect = header->parent_id;
        height = parent->height;
    }
    if (rc == ERR_OK && height != state_height) {
        rc = ERR_MALFORMED;
    }
    if (rc == ERR_OK) {
        *out_root = header->parent_exec_root; /* the post-state of B, the last one's parent */
    }
    mem_free(header);
    return rc;
}

enum err
notary_bundle_verify(const struct cons_verifier *v, const struct validator_set *genesis_vs,
                     const struct notary_bundle *bundle, struct notary_record *out_record)
{
    ASSERT(v != NULL);
    ASSERT(genesis_vs != NULL);
    ASSERT(bundle != NULL);
    ASSERT(out_record != NULL);
    if (!hash_equal(&v->chain->chain_id, &bundle->chain_id)) {
        return ERR_WRONG_CHAIN;
    }
    struct validator_set *vs = mem_alloc(sizeof *vs);
    memcpy(vs, genesis_vs, sizeof *vs);
    struct finality_proof *proof = mem_alloc(sizeof *proof);
    enum err rc = verify_epochs(v, bundle, vs, &proof->cert);
    if (rc == ERR_OK) {
        rc = finality_proof_decode(bundle->finality, bundle->finality_size, proof);
    }
    if (rc == ERR_OK && (!proof->cert.ledger_info.has_commit ||
                         proof->cert.ledger_info.commit_info.epoch != vs->epoch)) {
        rc = ERR_MALFORMED;
    }
    if (rc == ERR_OK) {
        rc = qc_verify(v, vs, &proof->cert);
    }
    struct hash root;
    if (rc == ERR_OK) {
        rc = finality_root(v->chain->alg, proof, bundle->state_height, &root);
    }
    if (rc == ERR_OK) {
        rc = notary_bundle_check_record(v->chain->alg, bundle, &root, out_record);
    }
    mem_free(proof);
    mem_free(vs);
    return rc;
}
