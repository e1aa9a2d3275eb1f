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

/* Reads count (1..NOTARY_ANCHORS_PER_HASH_MAX) records from r into out (room for count; NULL:
 * each into a scratch record), checking that their accounts are distinct. If account is not
 * NULL, *out_at is the index of its record (count if absent). */
static enum err
records_read(struct reader *r, size_t count, struct notary_record *out,
             const struct address *account, struct notary_record *out_found, size_t *out_at)
{
    /* Distinct accounts: at most 64 of them, compared pairwise. */
    struct address seen[NOTARY_ANCHORS_PER_HASH_MAX];
    size_t at = count;
    enum err rc = ERR_OK;
    struct notary_record scratch;
    memset(&scratch, 0, sizeof scratch);
    for (size_t i = 0; rc == ERR_OK && i < count; i++) {
        struct notary_record *rec = out != NULL ? &out[i] : &scratch;
        rc = record_read(r, rec);
        for (size_t k = 0; rc == ERR_OK && k < i; k++) {
            if (memcmp(seen[k].bytes, rec->account.bytes, ADDRESS_SIZE) == 0) {
                rc = ERR_MALFORMED;
            }
        }
        if (rc != ERR_OK) {
            break;
        }
        seen[i] = rec->account;
        if (account != NULL && at == count &&
            memcmp(account->bytes, rec->account.bytes, ADDRESS_SIZE) == 0) {
            at = i;
            if (out_found != NULL) {
                *out_found = *rec;
            }
        }
    }
    if (out_at != NULL) {
        *out_at = at;
    }
    return rc;
}

static enum err
records_count(struct reader *r, size_t *out_count)
{
    enum err rc = codec_get_count(r, NOTARY_ANCHORS_PER_HASH_MAX, out_count);
    return rc == ERR_OK && *out_count == 0 ? ERR_MALFORMED : rc;
}

enum err
notary_records_find(const uint8_t *data, size_t size, const struct address *account,
                    size_t *out_count, struct notary_record *out_found)
{
    ASSERT(account != NULL);
    ASSERT(out_count != NULL);
    struct reader r;
    reader_init(&r, data, size);
    size_t count = 0;
    size_t at = 0;
    enum err rc = records_count(&r, &count);
    if (rc == ERR_OK) {
        rc = records_read(&r, count, NULL, account, out_found, &at);
    }
    if (rc == ERR_OK) {
        rc = codec_finish(&r);
    }
    if (rc != ERR_OK) {
        return rc;
    }
    *out_count = count;
    return at < count ? ERR_OK : ERR_NOT_FOUND;
}

enum err
notary_records_decode(const uint8_t *data, size_t size, struct notary_record *out_records,
                      size_t *out_count)
{
    ASSERT(out_records != NULL);
    ASSERT(out_count != NULL);
    struct reader r;
    reader_init(&r, data, size);
    size_t count = 0;
    enum err rc = records_count(&r, &count);
    if (rc == ERR_OK) {
        rc = records_read(&r, count, out_records, NULL, NULL, NULL);
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
notary_records_encode(const struct notary_record *records, size_t count, struct buf *out)
{
    ASSERT(out != NULL);
    if (count == 0) {
        return ERR_MALFORMED;
    }
    enum err rc = codec_put_count(out, count, NOTARY_ANCHORS_PER_HASH_MAX);
    for (size_t i = 0; rc == ERR_OK && i < count; i++) {
        for (size_t k = 0; k < i; k++) {
            if (memcmp(records[k].account.bytes, records[i].account.bytes, ADDRESS_SIZE) == 0) {
                return ERR_MALFORMED;
            }
        }
        rc = notary_record_encode(&records[i], out);
    }
    return rc;
}

enum err
notary_records_append(struct buf *value, size_t count, const struct notary_record *record)
{
    ASSERT(value != NULL);
    ASSERT(record != NULL);
    ASSERT(count <= NOTARY_ANCHORS_PER_HASH_MAX);
    ASSERT((count == 0) == (value->size == 0));
    if (count == NOTARY_ANCHORS_PER_HASH_MAX) {
        return ERR_FULL;
    }
    /* A count below 128 is one byte (codec.h varints), so the records stay where they are. */
    _Static_assert(NOTARY_ANCHORS_PER_HASH_MAX < 128, "a one-byte count");
    size_t size = value->size;
    if (count > 0) {
        struct reader r;
        reader_init(&r, value->data, value->size);
        size_t at = 0;
        size_t have = 0;
        enum err rc = records_count(&r, &have);
        ASSERT(rc == ERR_OK && have == count);
        rc = records_read(&r, count, NULL, &record->account, NULL, &at);
        ASSERT(rc == ERR_OK);
        if (at < count) {
            return ERR_EXISTS;
        }
    } else {
        enum err rc = codec_put_u8(value, 0);
        if (rc != ERR_OK) {
            return rc;
        }
    }
    enum err rc = notary_record_encode(record, value);
    if (rc != ERR_OK) {
        value->size = size;
        return rc;
    }
    value->data[0] = (uint8_t)(count + 1);
    return ERR_OK;
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
        rc = notary_records_encode(anchors->records, anchors->count, out);
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
        rc = records_count(&r, &count);
    }
    /* Records are decoded in place; on failure out->count is left as it was. */
    if (rc == ERR_OK) {
        rc = records_read(&r, count, out->records, NULL, NULL, NULL);
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
notary_document_key(const struct hash *document, uint8_t out[NOTARY_DOCUMENT_KEY_SIZE])
{
    out[0] = NOTARY_KEY_DOCUMENT;
    memcpy(out + 1, document->bytes, HASH_SIZE);
}

void
notary_document_state_key(const struct hash *document, uint8_t out[NOTARY_STATE_KEY_SIZE])
{
    memcpy(out, NOTARY_MODULE "/", sizeof NOTARY_MODULE);
    notary_document_key(document, out + sizeof NOTARY_MODULE);
}
