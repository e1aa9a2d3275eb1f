/* The wire types of the notary module (evidence storage, 存证): what a client encodes to
 * anchor a document hash, what the chain stores for each anchor, and what the notary.get
 * query answers. In codec/ so that the CLI, the API and offline verifiers build and read them
 * without the ledger. Layouts follow codec.h (canonical, strict).
 *
 * anchor args (op "notary.anchor"):
 *   hash document      32 bytes, the document's hash under the chain's hash algorithm;
 *                      all zero is rejected
 *   text kind          1..NOTARY_KIND_SIZE_MAX bytes of [a-z0-9_-] (e.g. "contract")
 *   text note          0..NOTARY_NOTE_SIZE_MAX bytes of UTF-8
 *
 * record (one anchor):
 *   u8 version = NOTARY_RECORD_VERSION
 *   address account    the anchoring account (20 bytes)
 *   u32 institution    the account's institution when it anchored
 *   u64 height         the block that executed the anchor
 *   u64 timestamp_us   that block's timestamp (proposer's clock, checked by consensus)
 *   text kind, text note (as in the args)
 *   hash tx            the anchoring transaction's hash
 *
 * anchor records (state value "notary/" NOTARY_KEY_DOCUMENT || document): vector (1..
 * NOTARY_ANCHORS_PER_HASH_MAX) of record, in anchoring order, accounts distinct. One account
 * anchors a hash at most once; different accounts may anchor the same hash. Why one value
 * per document rather than a record per (document, account) and a list of accounts: nearly
 * every document is anchored once, and each state entry a tx writes costs the state tree a
 * leaf and ~1.6 rewritten nodes; with one entry an anchor writes 2 (its account, its
 * document) instead of 3 (bench/README.md, session 6: +12 % tx/s). The price is a value
 * that grows with the anchors of one document (<= NOTARY_RECORDS_SIZE_MAX, ~23 KiB) and is
 * rewritten whole by each new one.
 *
 * notary.get: args = the 32-byte document hash; answer = hash document, vector
 * (1..NOTARY_ANCHORS_PER_HASH_MAX) of record, in anchoring order.
 *
 * Decoded args borrow the bytes they were decoded from; records and answers are copies.
 * Pure functions, thread-safe. */
#ifndef LM_CODEC_NOTARY_ARGS_H
#define LM_CODEC_NOTARY_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "crypto/hash.h"
#include "crypto/sign.h"

#define NOTARY_MODULE               "notary"
#define NOTARY_OP_ANCHOR            "anchor"
#define NOTARY_QUERY_GET            "get"
#define NOTARY_KIND_SIZE_MAX        32
#define NOTARY_NOTE_SIZE_MAX        256
#define NOTARY_ANCHORS_PER_HASH_MAX 64
#define NOTARY_RECORD_VERSION       1
#define NOTARY_KEY_DOCUMENT         'd'
/* Module-relative state key of a document's records: tag byte, document. */
#define NOTARY_DOCUMENT_KEY_SIZE (1 + HASH_SIZE)
/* The full state key: "notary/" then the document key. */
#define NOTARY_STATE_KEY_SIZE (sizeof NOTARY_MODULE + NOTARY_DOCUMENT_KEY_SIZE)

/* Encoded sizes (varint lengths of <= 256 take at most 2 bytes). */
#define NOTARY_ARGS_SIZE_MAX (HASH_SIZE + 1 + NOTARY_KIND_SIZE_MAX + 2 + NOTARY_NOTE_SIZE_MAX)
#define NOTARY_RECORD_SIZE_MAX \
    (1 + ADDRESS_SIZE + 4 + 8 + 8 + 1 + NOTARY_KIND_SIZE_MAX + 2 + NOTARY_NOTE_SIZE_MAX + HASH_SIZE)
/* A document's records (the count of <= 64 takes one byte). */
#define NOTARY_RECORDS_SIZE_MAX (1 + NOTARY_ANCHORS_PER_HASH_MAX * NOTARY_RECORD_SIZE_MAX)
#define NOTARY_ANSWER_SIZE_MAX  (HASH_SIZE + NOTARY_RECORDS_SIZE_MAX)

/* The arguments of notary.anchor; kind and note borrow the caller's (or decoded) bytes. */
struct notary_anchor_args {
    struct hash document;
    const char *kind;
    size_t kind_size;
    const char *note;
    size_t note_size;
};

/* One anchor as stored on chain. */
struct notary_record {
    struct address account;
    uint32_t institution;
    uint64_t height;
    uint64_t timestamp_us;
    char kind[NOTARY_KIND_SIZE_MAX];
    size_t kind_size;
    char note[NOTARY_NOTE_SIZE_MAX];
    size_t note_size;
    struct hash tx_hash;
};

/* The answer of notary.get: every anchor of one document hash. Large (~26 KiB): allocate
 * it on the heap. */
struct notary_anchors {
    struct hash document;
    size_t count;
    struct notary_record records[NOTARY_ANCHORS_PER_HASH_MAX];
};

/* True if kind is 1..NOTARY_KIND_SIZE_MAX bytes of [a-z0-9_-]. */
bool notary_kind_is_valid(const char *kind, size_t size);

/* Appends the canonical args. ERR_MALFORMED for a zero document hash or a bad kind,
 * ERR_TOO_LARGE for a note past NOTARY_NOTE_SIZE_MAX (or a full buffer), ERR_UTF8 for a note
 * that is not UTF-8. */
MUST_USE enum err notary_anchor_args_encode(const struct notary_anchor_args *args, struct buf *out);
/* Strict decoding of data (all of it). Errors as for encoding, plus the codec's
 * ERR_TRUNCATED/ERR_TRAILING/ERR_NONCANONICAL. *out borrows data. */
MUST_USE enum err notary_anchor_args_decode(const uint8_t *data, size_t size,
                                            struct notary_anchor_args *out);
/* Why data is not valid anchor args, as one line of text for a receipt (NULL if valid).
 * Depends on the bytes only, so it may go into a receipt. */
const char *notary_anchor_args_problem(const uint8_t *data, size_t size);

/* Appends the record's canonical encoding. ERR_MALFORMED for a bad kind or sizes. */
MUST_USE enum err notary_record_encode(const struct notary_record *record, struct buf *out);
MUST_USE enum err notary_record_decode(const uint8_t *data, size_t size, struct notary_record *out);

/* Anchor records (a document's state value). notary_records_find decodes all of data
 * strictly, one record at a time (no array of 64), and answers the count and whether account
 * is among them: ERR_OK with *out_found filled (may be NULL) if so, ERR_NOT_FOUND if not,
 * a decoder's error for data that is not records (zero of them is ERR_MALFORMED; so are
 * two records of one account). */
MUST_USE enum err notary_records_find(const uint8_t *data, size_t size,
                                      const struct address *account, size_t *out_count,
                                      struct notary_record *out_found);
/* Decodes records into out_records (room for NOTARY_ANCHORS_PER_HASH_MAX). */
MUST_USE enum err notary_records_decode(const uint8_t *data, size_t size,
                                        struct notary_record *out_records, size_t *out_count);
/* Appends records[0..count) as one value (count 1..NOTARY_ANCHORS_PER_HASH_MAX). */
MUST_USE enum err notary_records_encode(const struct notary_record *records, size_t count,
                                        struct buf *out);
/* Makes value (valid records, count records of distinct accounts, or empty for none) the
 * records with record appended: ERR_FULL if there are already NOTARY_ANCHORS_PER_HASH_MAX,
 * ERR_EXISTS if its account is among them, ERR_MALFORMED for a bad record. value keeps
 * its bytes on error. */
MUST_USE enum err notary_records_append(struct buf *value, size_t count,
                                        const struct notary_record *record);

/* Appends the notary.get answer. */
MUST_USE enum err notary_anchors_encode(const struct notary_anchors *anchors, struct buf *out);
/* On failure out->document and out->count are unchanged but records may be overwritten. */
MUST_USE enum err notary_anchors_decode(const uint8_t *data, size_t size,
                                        struct notary_anchors *out);

/* The module-relative state key of a document's records. The full state key, as proved by
 * ledger_prove and verified by state_proof_verify, is "notary/" followed by these bytes
 * (notary_document_state_key). */
void notary_document_key(const struct hash *document, uint8_t out[NOTARY_DOCUMENT_KEY_SIZE]);
void notary_document_state_key(const struct hash *document, uint8_t out[NOTARY_STATE_KEY_SIZE]);

#endif
