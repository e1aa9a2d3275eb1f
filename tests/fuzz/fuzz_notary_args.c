/* Fuzz target of the notary wire decoders (anchor args arrive in txs from any client;
 * records, a document's records, answers and proof bundles are read by the CLI, the API and offline
 * verifiers). The first
 * byte picks the decoder; the rest is its input. Arbitrary bytes are rejected cleanly or
 * decode to a value whose encoding is exactly the input; the args' problem text is NULL
 * exactly when the args decode. */
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/mem.h"
#include "codec/notary_args.h"
#include "codec/notary_bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
expect_same(const struct buf *again, const uint8_t *data, size_t size)
{
    ASSERT(again->size == size);
    ASSERT(size == 0 || memcmp(again->data, data, size) == 0);
}

static void
fuzz_args(const uint8_t *data, size_t size, struct buf *again)
{
    struct notary_anchor_args args;
    enum err rc = notary_anchor_args_decode(data, size, &args);
    const char *problem = notary_anchor_args_problem(data, size);
    ASSERT((rc == ERR_OK) == (problem == NULL));
    if (rc == ERR_OK) {
        ASSERT(notary_kind_is_valid(args.kind, args.kind_size));
        ASSERT(notary_anchor_args_encode(&args, again) == ERR_OK);
        expect_same(again, data, size);
    }
}

static void
fuzz_record(const uint8_t *data, size_t size, struct buf *again)
{
    struct notary_record record;
    if (notary_record_decode(data, size, &record) == ERR_OK) {
        ASSERT(notary_record_encode(&record, again) == ERR_OK);
        expect_same(again, data, size);
    }
}

/* A document's records (the state value execution reads): decode, find and append agree. */
static void
fuzz_records(const uint8_t *data, size_t size, struct buf *again)
{
    struct notary_record *records = mem_alloc(NOTARY_ANCHORS_PER_HASH_MAX * sizeof *records);
    size_t count = 0;
    enum err rc = notary_records_decode(data, size, records, &count);
    struct address nobody;
    memset(nobody.bytes, 0xee, ADDRESS_SIZE);
    size_t found_count = 0;
    enum err found = notary_records_find(data, size, &nobody, &found_count, NULL);
    ASSERT((rc == ERR_OK) == (found == ERR_OK || found == ERR_NOT_FOUND));
    if (rc == ERR_OK) {
        ASSERT(count >= 1 && count <= NOTARY_ANCHORS_PER_HASH_MAX && found_count == count);
        ASSERT(notary_records_encode(records, count, again) == ERR_OK);
        expect_same(again, data, size);
        struct notary_record last;
        ASSERT(notary_records_find(data, size, &records[count - 1].account, &found_count, &last) ==
               ERR_OK);
        ASSERT(last.height == records[count - 1].height);
        if (found == ERR_NOT_FOUND) { /* appending an absent account extends the value */
            struct notary_record extra = records[0];
            extra.account = nobody;
            rc = notary_records_append(again, count, &extra);
            ASSERT(rc == (count == NOTARY_ANCHORS_PER_HASH_MAX ? ERR_FULL : ERR_OK));
            ASSERT(rc != ERR_OK || notary_records_find(again->data, again->size, &nobody,
                                                       &found_count, NULL) == ERR_OK);
        }
    }
    mem_free(records);
}

static void
fuzz_answer(const uint8_t *data, size_t size, struct buf *again)
{
    struct notary_anchors *anchors = mem_alloc(sizeof *anchors);
    if (notary_anchors_decode(data, size, anchors) == ERR_OK) {
        ASSERT(notary_anchors_encode(anchors, again) == ERR_OK);
        expect_same(again, data, size);
    }
    mem_free(anchors);
}

static void
fuzz_bundle(const uint8_t *data, size_t size)
{
    struct notary_bundle *bundle = mem_alloc(sizeof *bundle);
    if (notary_bundle_decode(data, size, bundle) == ERR_OK) {
        struct buf again;
        buf_init(&again, NOTARY_BUNDLE_SIZE_MAX);
        ASSERT(notary_bundle_encode(bundle, &again) == ERR_OK);
        expect_same(&again, data, size);
        buf_release(&again);
    }
    mem_free(bundle);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    struct buf again;
    buf_init(&again, NOTARY_ANSWER_SIZE_MAX);
    switch (data[0] % 5) {
    case 0:
        fuzz_args(data + 1, size - 1, &again);
        break;
    case 1:
        fuzz_record(data + 1, size - 1, &again);
        break;
    case 2:
        fuzz_records(data + 1, size - 1, &again);
        break;
    case 3:
        fuzz_answer(data + 1, size - 1, &again);
        break;
    default:
        fuzz_bundle(data + 1, size - 1);
        break;
    }
    buf_release(&again);
    return 0;
}
