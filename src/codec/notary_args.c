#include "codec/notary_args.h"

#include <string.h>

#include "base/assert.h"
#include "codec/codec.h"

_Static_assert(NOTARY_NOTE_SIZE_MAX < 16384, "note length fits a 2-byte varint");
_Static_assert(NOTARY_KIND_SIZE_MAX < 128, "kind length fits a 1-byte varint");
_Static_assert(NOTARY_ANCHORS_PER_HASH_MAX < 128, "anchor count fits a 1-byte varint");

bool
notary_kind_is_valid(const char *kind, size_t size)
{
    if (size == 0 || size > NOTARY_KIND_SIZE_MAX) {
        return false;
    }
    for (size_t i = 0; i < size; i++) {
        char c = kind[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

enum err
notary_anchor_args_encode(const struct notary_anchor_args *args, struct buf *out)
{
    ASSERT(args != NULL);
    ASSERT(out != NULL);
    if (hash_is_zero(&args->document) || !notary_kind_is_valid(args->kind, args->kind_size)) {
        return ERR_MALFORMED;
    }
    enum err rc = codec_put_hash(out, &args->document);
    if (rc == ERR_OK) {
        rc = codec_put_text(out, args->kind, args->kind_size, NOTARY_KIND_SIZE_MAX);
    }
    if (rc == ERR_OK) {
        rc = codec_put_text(out, args->note, args->note_size, NOTARY_NOTE_SIZE_MAX);
    }
    return rc;
}

/* Decodes args; on failure *why names the field and the rule it broke. */
static enum err
args_parse(const uint8_t *data, size_t size, struct notary_anchor_args *out, const char **why)
{
    struct reader r;
    reader_init(&r, data, size);
    struct notary_anchor_args a;
    memset(&a, 0, sizeof a);
    enum err rc = codec_get_hash(&r, &a.document);
    if (rc != ERR_OK) {
        *why = "document hash: 32 bytes expected";
        return rc;
    }
    if (hash_is_zero(&a.document)) {
        *why = "document hash is all zero";
        return ERR_MALFORMED;
    }
    rc = codec_get_text(&r, NOTARY_KIND_SIZE_MAX, &a.kind, &a.kind_size);
    if (rc == ERR_OK && !notary_kind_is_valid(a.kind, a.kind_size)) {
        rc = ERR_MALFORMED;
    }
    if (rc != ERR_OK) {
        *why = "kind: 1 to 32 bytes of [a-z0-9_-] expected";
        return rc;
    }
    rc = codec_get_text(&r, NOTARY_NOTE_SIZE_MAX, &a.note, &a.note_size);
    if (rc == ERR_TOO_LARGE) {
        *why = "note: longer than 256 bytes";
        return rc;
    }
    if (rc == ERR_UTF8) {
        *why = "note: not valid UTF-8";
        return rc;
    }
    if (rc != ERR_OK) {
        *why = "note: malformed length";
        return rc;
    }
    rc = codec_finish(&r);
    if (rc != ERR_OK) {
        *why = "trailing bytes after the note";
        return rc;
    }
    *out = a;
    return ERR_OK;
}

enum err
notary_anchor_args_decode(const uint8_t *data, size_t size, struct notary_anchor_args *out)
{
    ASSERT(out != NULL);
    const char *why = NULL;
    return args_parse(data, size, out, &why);
}

const char *
notary_anchor_args_problem(const uint8_t *data, size_t size)
{
    struct notary_anchor_args a;
    const char *why = NULL;
    if (args_parse(data, size, &a, &why) == ERR_OK) {
        return NULL;
    }
    ASSERT(why != NULL);
    return why;
}

enum err
notary_record_encode(const struct notary_record *record, struct buf *out)
{
    ASSERT(record != NULL);
    ASSERT(out != NULL);
    if (!notary_kind_is_valid(record->kind, record->kind_size) ||
        record->note_size > NOTARY_NOTE_SIZE_MAX) {
        return ERR_MALFORMED;
    }
    enum err rc = codec_put_u8(out, NOTARY_RECORD_VERSION);
    if (rc == ERR_OK) {
        rc = codec_put_address(out, &record->account);
    }
    if (rc == ERR_OK) {
        rc = codec_put_u32(out, record->institution);
    }
    if (rc == ERR_OK) {
        rc = codec_put_u64(out, record->height);
    }
    if (rc == ERR_OK) {
        rc = codec_put_u64(out, record->timestamp_us);
    }
    if (rc == ERR_OK) {
        rc = codec_put_text(out, record->kind, record->kind_size, NOTARY_KIND_SIZE_MAX);
    }
    if (rc == ERR_OK) {
        rc = codec_put_text(out, record->note, record->note_size, NOTARY_NOTE_SIZE_MAX);
    }
    if (rc == ERR_OK) {
        rc = codec_put_hash(out, &record->tx_hash);
    }
    return rc;
}

/* Reads one record from r (no end check: records are also read from answers). */
static enum err
record_read(struct reader *r, struct notary_record *out)
{
    struct notary_record rec;
    memset(&rec, 0, sizeof rec);
    uint8_t version = 0;
    const char *kind = NULL;
    const char *note = NULL;
    enum err rc = codec_get_u8(r, &version);
    if (rc == ERR_OK && version != NOTARY_RECORD_VERSION) {
        rc = ERR_UNSUPPORTED;
    }
    if (rc == ERR_OK) {
        rc = codec_get_address(r, &rec.account);
    }
    if (rc == ERR_OK) {
        rc = codec_get_u32(r, &rec.institution);
    }
    if (rc == ERR_OK) {
        rc = codec_get_u64(r, &rec.height);
    }
    if (rc == ERR_OK) {
        rc = codec_get_u64(r, &rec.timestamp_us);
    }
    if (rc == ERR_OK) {
        rc = codec_get_text(r, NOTARY_KIND_SIZE_MAX, &kind, &rec.kind_size);
    }
    if (rc == ERR_OK && !notary_kind_is_valid(kind, rec.kind_size)) {
        rc = ERR_MALFORMED;
    }
    if (rc == ERR_OK) {
        rc = codec_get_text(r, NOTARY_NOTE_SIZE_MAX, &note, &rec.note_size);
    }
    if (rc == ERR_OK) {
        rc = codec_get_hash(r, &rec.tx_hash);
    }
    if (rc != ERR_OK) {
        return rc;
    }
    memcpy(rec.kind, kind, rec.kind_size);
    if (rec.note_size > 0) {
        memcpy(rec.note, note, rec.note_size);
    }
    *out = rec;
    return ERR_OK;
}

enum err
notary_record_decode(const uint8_t *data, size_t size, struct notary_record *out)
{
    ASSERT(out != NULL);
    struct reader r;
    reader_init(&r, data, size);
    struct notary_record rec;
    enum err rc = record_read(&r, &rec);
    if (rc == ERR_OK) {
        rc = codec_finish(&r);
    }
    if (rc == ERR_OK) {
        *out = rec;
    }
    return rc;
}

enum err
notary_list_encode(const struct address *accounts, size_t count, struct buf *out)
{
    ASSERT(out != NULL);
    if (count == 0) {
        return ERR_MALFORMED;
    }
    enum err rc = codec_put_count(out, count, NOTARY_ANCHORS_PER_HASH_MAX);
    for (size_t i = 0; rc == ERR_OK && i < count; i++) {
        rc = codec_put_address(out, &accounts[i]);
    }
    return rc;
}

enum err
notary_list_decode(const uint8_t *data, size_t size, struct address *out_accounts,
                   size_t *out_count)
{
    ASSERT(out_accounts != NULL);
    ASSERT(out_count != NULL);
    struct reader r;
    reader_init(&r, data, size);
    size_t count = 0;
    enum err rc = codec_get_count(&r, NOTARY_ANCHORS_PER_HASH_MAX, &count);
    if (rc == ERR_OK && count == 0) {
        rc = ERR_MALFORMED;
    }
    /* Checked before writing anything: outputs only on success. */
    if (rc == ERR_OK && reader_remaining(&r) != count * ADDRESS_SIZE) {
        rc = reader_remaining(&r) < count * ADDRESS_SIZE ? ERR_TRUNCATED : ERR_TRAILING;
    }
    for (size_t i = 0; rc == ERR_OK && i < count; i++) {
        rc = codec_get_address(&r, &out_accounts[i]);
    }
    if (rc == ERR_OK) {
        rc = codec_finish(&r);
    }
    if (rc == ERR_OK) {
        *out_count = count;
    }
    return rc;
}

enum err
notary_anchors_encode(const struct notary_anchors *anchors, struct buf *out)
{
    ASSERT(anchors != NULL);
    ASSERT(out != NULL);
    if (anchors->count == 0) {
        return ERR_MALFORMED;
    }
    enum err rc = codec_put_hash(out, &anchors->document);
    if (rc == ERR_OK) {
        rc = codec_put_count(out, anchors->count, NOTARY_ANCHORS_PER_HASH_MAX);
    }
    for (size_t i = 0; rc == ERR_OK && i < anchors->count; i++) {
        rc = notary_record_encode(&anchors->records[i], out);
    }
    return rc;
}

enum err
notary_anchors_decode(const uint8_t *data, size_t size, struct notary_anchors *out)
{
    ASSERT(out != NULL);
    struct reader r;
    reader_init(&r, data, size);
    struct hash document;
    size_t count = 0;
    enum err rc = codec_get_hash(&r, &document);
    if (rc == ERR_OK) {
        rc = codec_get_count(&r, NOTARY_ANCHORS_PER_HASH_MAX, &count);
    }
    if (rc == ERR_OK && count == 0) {
        rc = ERR_MALFORMED;
    }
    if (rc != ERR_OK) {
        return rc;
    }
    /* Records are decoded in place; on failure out->count is left as it was. */
    for (size_t i = 0; rc == ERR_OK && i < count; i++) {
        rc = record_read(&r, &out->records[i]);
    }
    if (rc == ERR_OK) {
        rc = codec_finish(&r);
    }
    if (rc == ERR_OK) {
        out->document = document;
        out->count = count;
    }
    return rc;
}

void
notary_record_key(const struct hash *document, const struct address *account,
                  uint8_t out[NOTARY_RECORD_KEY_SIZE])
{
    out[0] = NOTARY_KEY_RECORD;
    memcpy(out + 1, document->bytes, HASH_SIZE);
    memcpy(out + 1 + HASH_SIZE, account->bytes, ADDRESS_SIZE);
}

void
notary_list_key(const struct hash *document, uint8_t out[NOTARY_LIST_KEY_SIZE])
{
    out[0] = NOTARY_KEY_LIST;
    memcpy(out + 1, document->bytes, HASH_SIZE);
}

void
notary_record_state_key(const struct hash *document, const struct address *account,
                        uint8_t out[NOTARY_STATE_KEY_SIZE])
{
    memcpy(out, NOTARY_MODULE "/", sizeof NOTARY_MODULE);
    notary_record_key(document, account, out + sizeof NOTARY_MODULE);
}
