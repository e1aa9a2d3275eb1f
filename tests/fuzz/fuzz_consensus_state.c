/* Fuzz target of the other consensus decoders that read stored or relayed bytes: the first
 * byte picks the family (0 finality proof, 1 validator set, 2 safety record, 3 block);
 * accepted inputs must re-encode to the same bytes. */
#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "codec/consensus_types.h"
#include "consensus/consensus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
same(const struct buf *b, const uint8_t *data, size_t size)
{
    ASSERT(b->size == size);
    ASSERT(memcmp(b->data, data, size) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    struct buf b;
    buf_init(&b, CONS_MSG_SIZE_MAX);
    switch (data[0] % 4) {
    case 0: {
        struct finality_proof *p = mem_alloc(sizeof *p);
        if (finality_proof_decode(in, n, p) == ERR_OK) {
            ASSERT(finality_proof_encode(&b, &p->cert, p->headers, p->header_count) == ERR_OK);
            same(&b, in, n);
        }
        mem_free(p);
        break;
    }
    case 1: {
        struct validator_set *vs = mem_alloc(sizeof *vs);
        if (validator_set_decode(in, n, vs) == ERR_OK) {
            ASSERT(validator_set_encode(vs, &b) == ERR_OK);
            same(&b, in, n);
        }
        mem_free(vs);
        break;
    }
    case 2: {
        struct safety_record rec;
        if (safety_record_decode(in, n, &rec) == ERR_OK) {
            ASSERT(safety_record_encode(&b, &rec) == ERR_OK);
            same(&b, in, n);
        }
        break;
    }
    default: {
        struct block *blk = mem_alloc(sizeof *blk);
        if (block_decode(in, n, blk) == ERR_OK) {
            ASSERT(block_encode(&b, blk) == ERR_OK);
            same(&b, in, n);
        }
        mem_free(blk);
        break;
    }
    }
    buf_release(&b);
    return 0;
}
