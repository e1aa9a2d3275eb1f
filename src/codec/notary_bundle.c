#include "codec/notary_bundle.h"

#include <string.h>

#include "base/assert.h"
#include "codec/codec.h"

enum err
notary_bundle_encode(const struct notary_bundle *bundle, struct buf *out)
{
    ASSERT(bundle != NULL);
    ASSERT(out != NULL);
    if (bundle->header_count == 0 || bundle->header_count > NOTARY_BUNDLE_HEADERS_MAX ||
        bundle->epoch_count > NOTARY_BUNDLE_EPOCHS_MAX) {
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
        rc = codec_put_bytes(out, bundle->record, bundle->record_size, NOTARY_RECORD_SIZE_MAX);
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
        rc = codec_put_bytes(out, bundle->commit_cert, bundle->commit_cert_size,
                             NOTARY_BUNDLE_CERT_SIZE_MAX);
    }
    if (rc == ERR_OK) {
        rc = codec_put_count(out, bundle->header_count, NOTARY_BUNDLE_HEADERS_MAX);
    }
    for (size_t i = 0; rc == ERR_OK && i < bundle->header_count; i++) {
        rc = codec_put_bytes(out, bundle->headers[i].data, bundle->headers[i].size,
                             NOTARY_BUNDLE_HEADER_SIZE_MAX);
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
        rc = codec_get_bytes(r, NOTARY_RECORD_SIZE_MAX, &out->record, &out->record_size);
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
        rc = codec_get_bytes(r, NOTARY_BUNDLE_CERT_SIZE_MAX, &out->commit_cert,
                             &out->commit_cert_size);
    }
    if (rc == ERR_OK) {
        rc = codec_get_count(r, NOTARY_BUNDLE_HEADERS_MAX, &out->header_count);
    }
    if (rc == ERR_OK && out->header_count == 0) {
        rc = ERR_MALFORMED;
    }
    for (size_t i = 0; rc == ERR_OK && i < out->header_count; i++) {
        rc = codec_get_bytes(r, NOTARY_BUNDLE_HEADER_SIZE_MAX, &out->headers[i].data,
                             &out->headers[i].size);
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
    notary_record_state_key(&bundle->document, &bundle->account, key);
    enum err rc = state_proof_verify(alg, root, key, sizeof key, bundle->record,
                                     bundle->record_size, &bundle->proof);
    if (rc != ERR_OK) {
        return rc;
    }
    struct notary_record record;
    rc = notary_record_decode(bundle->record, bundle->record_size, &record);
    if (rc != ERR_OK) {
        return rc;
    }
    if (memcmp(record.account.bytes, bundle->account.bytes, ADDRESS_SIZE) != 0 ||
        record.height > bundle->state_height) {
        return ERR_MALFORMED;
    }
    *out_record = record;
    return ERR_OK;
}
