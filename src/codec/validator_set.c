#include "codec/validator_set.h"

#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "codec/codec.h"

static bool
key_is_well_formed(const struct public_key *key)
{
    return sig_alg_is_valid(key->alg) && key->size == sig_alg_public_key_size(key->alg);
}

static bool
node_is_valid(const struct vs_node *node)
{
    return node->power >= 1 && node->power <= VS_POWER_TOTAL_MAX &&
           key_is_well_formed(&node->consensus_key) && key_is_well_formed(&node->transport_key) &&
           node->transport_key.alg == SIG_ED25519;
}

enum err
validator_set_check(const struct validator_set *vs)
{
    ASSERT(vs != NULL);
    if (vs->count == 0 || vs->count > VS_NODES_MAX) {
        return ERR_MALFORMED;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < vs->count; i++) {
        const struct vs_node *node = &vs->nodes[i];
        if (!node_is_valid(node)) {
            return ERR_MALFORMED;
        }
        total += node->power; /* each <= 2^60 and the running total too: no overflow */
        if (total > VS_POWER_TOTAL_MAX) {
            return ERR_MALFORMED;
        }
        for (size_t j = 0; j < i; j++) {
            if (public_key_equal(&vs->nodes[j].consensus_key, &node->consensus_key) ||
                public_key_equal(&vs->nodes[j].transport_key, &node->transport_key)) {
                return ERR_MALFORMED;
            }
        }
    }
    return ERR_OK;
}

uint64_t
validator_set_power(const struct validator_set *vs)
{
    uint64_t total = 0;
    for (size_t i = 0; i < vs->count; i++) {
        total += vs->nodes[i].power;
    }
    ASSERT(total <= VS_POWER_TOTAL_MAX);
    return total;
}

enum err
validator_set_encode(const struct validator_set *vs, struct buf *out)
{
    if (validator_set_check(vs) != ERR_OK) {
        return ERR_MALFORMED;
    }
    enum err rc = codec_put_u64(out, vs->epoch);
    if (rc == ERR_OK) {
        rc = codec_put_count(out, vs->count, VS_NODES_MAX);
    }
    for (size_t i = 0; rc == ERR_OK && i < vs->count; i++) {
        const struct vs_node *node = &vs->nodes[i];
        rc = codec_put_u32(out, node->institution);
        if (rc == ERR_OK) {
            rc = codec_put_public_key(out, &node->consensus_key);
        }
        if (rc == ERR_OK) {
            rc = codec_put_public_key(out, &node->transport_key);
        }
        if (rc == ERR_OK) {
            rc = codec_put_u64(out, node->power);
        }
    }
    return rc;
}

enum err
validator_set_read(struct reader *r, struct validator_set *out)
{
    ASSERT(r != NULL && out != NULL);
    struct validator_set *vs = mem_calloc(1, sizeof *vs);
    enum err rc = codec_get_u64(r, &vs->epoch);
    if (rc == ERR_OK) {
        rc = codec_get_count(r, VS_NODES_MAX, &vs->count);
    }
    for (size_t i = 0; rc == ERR_OK && i < vs->count; i++) {
        struct vs_node *node = &vs->nodes[i];
        rc = codec_get_u32(r, &node->institution);
        if (rc == ERR_OK) {
            rc = codec_get_public_key(r, &node->consensus_key);
        }
        if (rc == ERR_OK) {
            rc = codec_get_public_key(r, &node->transport_key);
        }
        if (rc == ERR_OK) {
            rc = codec_get_u64(r, &node->power);
        }
    }
    if (rc == ERR_OK) {
        rc = validator_set_check(vs);
    }
    if (rc == ERR_OK) {
        memcpy(out, vs, sizeof *vs);
    }
    mem_free(vs);
    return rc;
}

enum err
validator_set_decode(const uint8_t *data, size_t size, struct validator_set *out)
{
    ASSERT(out != NULL);
    struct reader r;
    reader_init(&r, data, size);
    struct validator_set *vs = mem_alloc(sizeof *vs);
    enum err rc = validator_set_read(&r, vs);
    if (rc == ERR_OK) {
        rc = codec_finish(&r);
    }
    if (rc == ERR_OK) {
        memcpy(out, vs, sizeof *vs);
    }
    mem_free(vs);
    return rc;
}

void
validator_set_hash(enum hash_alg alg, const struct validator_set *vs, struct hash *out)
{
    struct buf b;
    buf_init(&b, VS_ENCODED_SIZE_MAX);
    enum err rc = validator_set_encode(vs, &b);
    ASSERT(rc == ERR_OK); /* callers hash valid sets only */
    hash_bytes(alg, b.data, b.size, out);
    buf_release(&b);
}

int
validator_set_find(const struct validator_set *vs, const struct public_key *consensus_key)
{
    ASSERT(vs->count <= VS_NODES_MAX);
    for (size_t i = 0; i < vs->count; i++) {
        if (public_key_equal(&vs->nodes[i].consensus_key, consensus_key)) {
            return (int)i;
        }
    }
    return -1;
}

int
validator_set_find_transport(const struct validator_set *vs, const struct public_key *transport_key)
{
    ASSERT(vs->count <= VS_NODES_MAX);
    for (size_t i = 0; i < vs->count; i++) {
        if (public_key_equal(&vs->nodes[i].transport_key, transport_key)) {
            return (int)i;
        }
    }
    return -1;
}

bool
validator_set_is_quorum(const struct validator_set *vs, uint64_t power)
{
    uint64_t total = validator_set_power(vs);
    ASSERT(power <= total);
    return 3 * power > 2 * total;
}

bool
validator_set_is_weak_quorum(const struct validator_set *vs, uint64_t power)
{
    uint64_t total = validator_set_power(vs);
    ASSERT(power <= total);
    return 3 * power > total;
}
