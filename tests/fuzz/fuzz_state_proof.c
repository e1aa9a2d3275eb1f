/* Fuzz target: the state proof decoder (proofs arrive from untrusted nodes). A decoded proof
 * must re-encode to the same bytes, and verifying it must not crash, whatever it claims. */
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/mem.h"
#include "base/reader.h"
#include "codec/state_proof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reader r;
    reader_init(&r, data, size);
    struct state_proof *p = mem_alloc(sizeof *p);
    if (state_proof_decode(&r, p) == ERR_OK && reader_is_done(&r)) {
        struct buf b;
        buf_init(&b, STATE_PROOF_SIZE_MAX);
        enum err rc = state_proof_encode(&b, p);
        ASSERT(rc == ERR_OK);
        ASSERT(b.size == size);
        ASSERT(memcmp(b.data, data, size) == 0);
        struct hash root;
        memset(&root, 0, sizeof root);
        size_t key_size = size < 8 ? size : 8;
        rc = state_proof_verify(HASH_SHA256, &root, data, key_size, NULL, 0, p);
        ASSERT(rc == ERR_OK || rc == ERR_CORRUPT);
        rc = state_proof_verify(HASH_SM3, &root, data, key_size, data, size, p);
        ASSERT(rc == ERR_OK || rc == ERR_CORRUPT);
        buf_release(&b);
    }
    mem_free(p);
    return 0;
}
