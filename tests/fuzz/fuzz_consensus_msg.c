/* Fuzz target of every consensus message decoder (cons_msg_decode: proposal, vote, timeout,
 * SyncInfo, block and ledger requests, block responses, epoch requests and proofs,
 * evidence). Rejecting is fine; crashing, leaking or a non-canonical acceptance is not: an
 * accepted input must re-encode to the same bytes. */
#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "codec/consensus_types.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cons_msg *m = mem_alloc(sizeof *m);
    if (cons_msg_decode(data, size, m) == ERR_OK) {
        struct buf again;
        buf_init(&again, CONS_MSG_SIZE_MAX);
        enum err rc = cons_msg_encode(&again, m);
        ASSERT(rc == ERR_OK);
        ASSERT(again.size == size);
        ASSERT(memcmp(again.data, data, size) == 0);
        buf_release(&again);
    }
    mem_free(m);
    return 0;
}
