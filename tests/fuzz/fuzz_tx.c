/* Fuzz target of the tx envelope decoder: arbitrary bytes must be rejected cleanly or decode
 * to a tx whose encoding is exactly the input (one value, one encoding); the signature check
 * and hashing must not crash on any decoded tx. */
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "codec/tx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tx tx;
    if (tx_decode(data, size, &tx) != ERR_OK) {
        return 0;
    }
    struct buf again;
    buf_init(&again, TX_SIZE_MAX);
    ASSERT(tx_encode(&tx, &again) == ERR_OK);
    ASSERT(again.size == size);
    ASSERT(memcmp(again.data, data, size) == 0);
    ASSERT(tx.unsigned_size < size);
    struct hash h;
    tx_hash(HASH_SHA256, data, size, &h);
    enum err rc = tx_verify(HASH_SHA256, &tx, data, size);
    ASSERT(rc == ERR_OK || rc == ERR_BAD_SIGNATURE);
    buf_release(&again);
    return 0;
}
