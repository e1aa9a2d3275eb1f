/* Fuzz target of the notary wire decoders (anchor args arrive in txs from any client;
 * records, lists, answers and proof bundles are read by the CLI, the API and offline
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

static void
fuzz_list(const uint8_t *data, size_t size, struct buf *again)
{
    struct address accounts[NOTARY_ANCHORS_PER_HASH_MAX];
    size_t count = 0;
    if (notary_list_decode(data, size, accounts, &count) == ERR_OK) {
        ASSERT(count >= 1 && count <= NOTARY_ANCHORS_PER_HASH_MAX);
        ASSERT(notary_list_encode(accounts, count, again) == ERR_OK);
        expect_same(again, data, size);
    }
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
        fuzz_list(data + 1, size - 1, &again);
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
