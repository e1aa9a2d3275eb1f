#include "codec/state_proof.h"

#include <stddef.h>
#include <string.h>

#include "base/assert.h"

#define TAG_LEAF  0x00
#define TAG_INNER 0x01
#define KEY_BITS  ((size_t)8 * HASH_SIZE)

_Static_assert(STATE_PROOF_DEPTH_MAX == 8 * HASH_SIZE, "one sibling per key hash bit at most");
_Static_assert(STATE_PROOF_DEPTH_MAX <= UINT16_MAX, "count is encoded as u16");

void
state_leaf_hash(enum hash_alg alg, const struct hash *key_hash, const struct hash *value_hash,
                struct hash *out)
{
    uint8_t in[1 + 2 * HASH_SIZE];
    in[0] = TAG_LEAF;
    memcpy(in + 1, key_hash->bytes, HASH_SIZE);
    memcpy(in + 1 + HASH_SIZE, value_hash->bytes, HASH_SIZE);
    hash_bytes(alg, in, sizeof in, out);
}

void
state_inner_hash(enum hash_alg alg, const struct hash *left, const struct hash *right,
                 struct hash *out)
{
    uint8_t in[1 + 2 * HASH_SIZE];
    in[0] = TAG_INNER;
    memcpy(in + 1, left->bytes, HASH_SIZE);
    memcpy(in + 1 + HASH_SIZE, right->bytes, HASH_SIZE);
    hash_bytes(alg, in, sizeof in, out);
}

unsigned
state_key_bit(const struct hash *key_hash, size_t i)
{
    ASSERT(i < KEY_BITS);
    return ((unsigned)key_hash->bytes[i / 8] >> (7u - (unsigned)(i % 8))) & 1u;
}

static size_t
common_prefix_bits(const struct hash *a, const struct hash *b)
{
    size_t n = 0;
    while (n < KEY_BITS && state_key_bit(a, n) == state_key_bit(b, n)) {
        n++;
    }
    return n;
}

enum err
state_proof_verify_hashed(enum hash_alg alg, const struct hash *root, const struct hash *key_hash,
                          const struct hash *value_hash, const struct state_proof *proof)
{
    if (proof->sibling_count > STATE_PROOF_DEPTH_MAX) {
        return ERR_CORRUPT;
    }
    struct hash cur;
    memset(&cur, 0, sizeof cur);
    if (value_hash != NULL) {
        if (!proof->has_leaf || !hash_equal(&proof->leaf_key_hash, key_hash) ||
            !hash_equal(&proof->leaf_value_hash, value_hash)) {
            return ERR_CORRUPT;
        }
        state_leaf_hash(alg, key_hash, value_hash, &cur);
    } else if (proof->has_leaf) {
        /* Another key's leaf whose subtree holds the path of key: key is absent. */
        if (hash_equal(&proof->leaf_key_hash, key_hash) ||
            common_prefix_bits(&proof->leaf_key_hash, key_hash) < proof->sibling_count) {
            return ERR_CORRUPT;
        }
        state_leaf_hash(alg, &proof->leaf_key_hash, &proof->leaf_value_hash, &cur);
    }
    for (size_t i = 0; i < proof->sibling_count; i++) {
        size_t bit_index = proof->sibling_count - 1 - i;
        const struct hash *sibling = &proof->siblings[i];
        if (state_key_bit(key_hash, bit_index) == 0) {
            state_inner_hash(alg, &cur, sibling, &cur);
        } else {
            state_inner_hash(alg, sibling, &cur, &cur);
        }
    }
    return hash_equal(&cur, root) ? ERR_OK : ERR_CORRUPT;
}

/* A key and a value are two (pointer, size) pairs: seven parameters read better than a
 * struct here. */
enum err
// NOLINTNEXTLINE(readability-function-size)
state_proof_verify(enum hash_alg alg, const struct hash *root, const uint8_t *key, size_t key_size,
                   const uint8_t *value, size_t value_size, const struct state_proof *proof)
{
    struct hash key_hash;
    struct hash value_hash;
    hash_bytes(alg, key, key_size, &key_hash);
    if (value != NULL) {
        hash_bytes(alg, value, value_size, &value_hash);
    }
    return state_proof_verify_hashed(alg, root, &key_hash, value != NULL ? &value_hash : NULL,
                                     proof);
}

enum err
state_proof_encode(struct buf *b, const struct state_proof *proof)
{
    ASSERT(proof->sibling_count <= STATE_PROOF_DEPTH_MAX);
    enum err rc = buf_append_byte(b, proof->has_leaf ? 1 : 0);
    if (rc == ERR_OK && proof->has_leaf) {
        rc = buf_append(b, proof->leaf_key_hash.bytes, HASH_SIZE);
        if (rc == ERR_OK) {
            rc = buf_append(b, proof->leaf_value_hash.bytes, HASH_SIZE);
        }
    }
    if (rc == ERR_OK) {
        uint8_t count[2];
        store_u16(count, (uint16_t)proof->sibling_count);
        rc = buf_append(b, count, sizeof count);
    }
    uint8_t bitmap[STATE_PROOF_DEPTH_MAX / 8] = { 0 };
    size_t bitmap_size = (proof->sibling_count + 7) / 8;
    for (size_t i = 0; i < proof->sibling_count; i++) {
        if (!hash_is_zero(&proof->siblings[i])) {
            bitmap[i / 8] = (uint8_t)(bitmap[i / 8] | (1u << (i % 8)));
        }
    }
    if (rc == ERR_OK) {
        rc = buf_append(b, bitmap, bitmap_size);
    }
    for (size_t i = 0; rc == ERR_OK && i < proof->sibling_count; i++) {
        if (!hash_is_zero(&proof->siblings[i])) {
            rc = buf_append(b, proof->siblings[i].bytes, HASH_SIZE);
        }
    }
    return rc;
}

static enum err
decode_siblings(struct reader *r, struct state_proof *p)
{
    ASSERT(p->sibling_count <= STATE_PROOF_DEPTH_MAX); /* checked by the caller */
    uint8_t bitmap[STATE_PROOF_DEPTH_MAX / 8] = { 0 };
    size_t bitmap_size = (p->sibling_count + 7) / 8;
    enum err rc = reader_copy(r, bitmap, bitmap_size);
    if (rc != ERR_OK) {
        return rc;
    }
    if (p->sibling_count % 8 != 0 && (bitmap[bitmap_size - 1] >> (p->sibling_count % 8)) != 0) {
        return ERR_NONCANONICAL;
    }
    for (size_t i = 0; i < p->sibling_count; i++) {
        if ((bitmap[i / 8] & (1u << (i % 8))) == 0) {
            memset(&p->siblings[i], 0, sizeof p->siblings[i]);
            continue;
        }
        rc = reader_copy(r, p->siblings[i].bytes, HASH_SIZE);
        if (rc != ERR_OK) {
            return rc;
        }
        if (hash_is_zero(&p->siblings[i])) {
            return ERR_NONCANONICAL;
        }
    }
    return ERR_OK;
}

enum err
state_proof_decode(struct reader *r, struct state_proof *out)
{
    size_t start = r->pos;
    struct state_proof p; /* 8 KiB; *out is written only on success */
    memset(&p, 0, offsetof(struct state_proof, siblings));
    uint8_t flags = 0;
    uint16_t count = 0;
    enum err rc = reader_u8(r, &flags);
    if (rc == ERR_OK && (flags & ~1u) != 0) {
        rc = ERR_MALFORMED;
    }
    p.has_leaf = (flags & 1u) != 0;
    if (rc == ERR_OK && p.has_leaf) {
        rc = reader_copy(r, p.leaf_key_hash.bytes, HASH_SIZE);
        if (rc == ERR_OK) {
            rc = reader_copy(r, p.leaf_value_hash.bytes, HASH_SIZE);
        }
    }
    if (rc == ERR_OK) {
        rc = reader_u16(r, &count);
    }
    if (rc == ERR_OK && count > STATE_PROOF_DEPTH_MAX) {
        rc = ERR_MALFORMED;
    }
    if (rc == ERR_OK) {
        p.sibling_count = count;
        rc = decode_siblings(r, &p);
    }
    if (rc != ERR_OK) {
        r->pos = start;
        return rc;
    }
    memcpy(out, &p, offsetof(struct state_proof, siblings) + count * sizeof p.siblings[0]);
    return ERR_OK;
}
