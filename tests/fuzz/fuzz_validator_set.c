/* Fuzz target of the validator-set decoder (sets arrive from peers in EpochChangeProofs):
 * arbitrary bytes are rejected cleanly or decode to a valid set whose encoding is exactly
 * the input. */
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/mem.h"
#include "codec/validator_set.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct validator_set *vs = mem_alloc(sizeof *vs);
    if (validator_set_decode(data, size, vs) == ERR_OK) {
        ASSERT(validator_set_check(vs) == ERR_OK);
        struct buf again;
        buf_init(&again, VS_ENCODED_SIZE_MAX);
        enum err rc = validator_set_encode(vs, &again);
        ASSERT(rc == ERR_OK);
        ASSERT(again.size == size);
        ASSERT(memcmp(again.data, data, size) == 0);
        buf_release(&again);
    }
    mem_free(vs);
    return 0;
}
