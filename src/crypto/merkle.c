/* RFC 6962 Merkle trees, computed without recursion.
 *
 * A subtree root is computed left to right with a stack of perfect-subtree roots (the
 * "compact range" of CT logs): after leaf i the stack holds one root per set bit of i + 1,
 * largest first, so it never exceeds 64 entries. Folding the stack from the right gives
 * exactly RFC 6962's split at the largest power of two, because a left-full tree's perfect
 * subtrees are those same stack entries. */
#include "crypto/merkle.h"

#include <stdbool.h>
#include <string.h>

#include "base/assert.h"
#include "crypto/merkle_internal.h"

#define LEAF_PREFIX 0x00
#define NODE_PREFIX 0x01

void
merkle_leaf_hash(enum hash_alg alg, const struct hash *leaf, struct hash *out)
{
    uint8_t buf[1 + HASH_SIZE];
    buf[0] = LEAF_PREFIX;
    memcpy(buf + 1, leaf->bytes, HASH_SIZE);
    hash_bytes(alg, buf, sizeof buf, out);
}

/* Copies both children first, so out may alias left or right. */
void
merkle_node_hash(enum hash_alg alg, const struct hash *left, const struct hash *right,
                 struct hash *out)
{
    uint8_t buf[1 + 2 * HASH_SIZE];
    buf[0] = NODE_PREFIX;
    memcpy(buf + 1, left->bytes, HASH_SIZE);
    memcpy(buf + 1 + HASH_SIZE, right->bytes, HASH_SIZE);
    hash_bytes(alg, buf, sizeof buf, out);
}

/* The largest power of two strictly below n (n >= 2): RFC 6962's k. */
static uint64_t
split_point(uint64_t n)
{
    ASSERT(n >= 2);
    uint64_t k = UINT64_C(1) << (63 - __builtin_clzll(n - 1));
    ASSERT(k < n);
    ASSERT(k >= n - k);
    return k;
}

/* Leaves are either leaf data (hashed here) or leaf hashes already. */
struct leaves {
    const struct hash *items;
    bool hashed;
};

static void
leaf_at(enum hash_alg alg, struct leaves leaves, size_t i, struct hash *out)
{
    if (leaves.hashed) {
        *out = leaves.items[i];
    } else {
        merkle_leaf_hash(alg, &leaves.items[i], out);
    }
}

/* Roots of the perfect subtrees of the leaves seen so far, largest first. */
struct compact_range {
    struct hash stack[MERKLE_PATH_MAX];
    size_t depth;
    uint64_t leaf_count;
};

static void
compact_range_push(enum hash_alg alg, struct compact_range *range, const struct hash *leaf_hash)
{
    struct hash h = *leaf_hash;
    /* Each trailing one bit of the leaf's position closes a perfect subtree. */
    for (uint64_t bits = range->leaf_count; (bits & 1) != 0; bits >>= 1) {
        ASSERT(range->depth > 0);
        range->depth--;
        merkle_node_hash(alg, &range->stack[range->depth], &h, &h);
    }
    ASSERT(range->depth < MERKLE_PATH_MAX);
    range->stack[range->depth] = h;
    range->depth++;
    range->leaf_count++;
}

/* Folds the stack from the right: RFC 6962's MTH of everything pushed. */
static void
compact_range_root(enum hash_alg alg, const struct compact_range *range, struct hash *out)
{
    ASSERT(range->leaf_count > 0);
    ASSERT(range->depth > 0);
    size_t depth = range->depth - 1;
    struct hash root = range->stack[depth];
    while (depth > 0) {
        depth--;
        merkle_node_hash(alg, &range->stack[depth], &root, &root);
    }
    *out = root;
}

/* MTH(leaves[lo..hi)), lo < hi. */
static void
range_root(enum hash_alg alg, struct leaves leaves, size_t lo, size_t hi, struct hash *out)
{
    ASSERT(lo < hi);
    struct compact_range range;
    range.depth = 0;
    range.leaf_count = 0;
    for (size_t i = lo; i < hi; i++) {
        struct hash h;
        leaf_at(alg, leaves, i, &h);
        compact_range_push(alg, &range, &h);
    }
    compact_range_root(alg, &range, out);
}

static void
root_of(enum hash_alg alg, struct leaves leaves, size_t count, struct hash *out)
{
    if (count == 0) {
        hash_bytes(alg, NULL, 0, out);
        return;
    }
    ASSERT(leaves.items != NULL);
    range_root(alg, leaves, 0, count, out);
}

/* RFC 6962 PATH(m, D[n]) walked top-down: at each split the sibling is the other half's
 * root. The path lists siblings bottom-up, so they are stored reversed at the end. */
static enum err
prove(enum hash_alg alg, struct leaves leaves, size_t count, size_t index, struct merkle_proof *out)
{
    if (index >= count) {
        return ERR_INVALID_ARG;
    }
    ASSERT(leaves.items != NULL);
    struct hash top_down[MERKLE_PATH_MAX];
    uint32_t n = 0;
    size_t lo = 0;
    size_t hi = count;
    while (hi - lo > 1) {
        size_t k = (size_t)split_point(hi - lo);
        ASSERT(n < MERKLE_PATH_MAX);
        if (index < lo + k) {
            range_root(alg, leaves, lo + k, hi, &top_down[n]);
            hi = lo + k;
        } else {
            range_root(alg, leaves, lo, lo + k, &top_down[n]);
            lo += k;
        }
        n++;
    }
    ASSERT(lo == index);
    ASSERT(n == merkle_path_count(index, count));

    memset(out, 0, sizeof *out);
    out->index = index;
    out->tree_size = count;
    out->path_count = n;
    for (uint32_t i = 0; i < n; i++) {
        out->path[i] = top_down[n - 1 - i];
    }
    return ERR_OK;
}

/* RFC 9162 2.1.3.2, literally; every length check returns an error, since proofs come from
 * outside. */
static enum err
proof_root(enum hash_alg alg, const struct hash *leaf_hash, const struct merkle_proof *proof,
           struct hash *out_root)
{
    if (proof->index >= proof->tree_size) {
        return ERR_MALFORMED;
    }
    if (proof->path_count != merkle_path_count(proof->index, proof->tree_size)) {
        return ERR_MALFORMED;
    }
    uint64_t fn = proof->index;
    uint64_t sn = proof->tree_size - 1;
    struct hash r = *leaf_hash;
    for (uint32_t i = 0; i < proof->path_count; i++) {
        const struct hash *p = &proof->path[i];
        if (sn == 0) {
            return ERR_MALFORMED;
        }
        if ((fn & 1) == 1 || fn == sn) {
            merkle_node_hash(alg, p, &r, &r);
            while ((fn & 1) == 0 && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            merkle_node_hash(alg, &r, p, &r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0) {
        return ERR_MALFORMED;
    }
    *out_root = r;
    return ERR_OK;
}

uint32_t
merkle_path_count(uint64_t index, uint64_t tree_size)
{
    ASSERT(index < tree_size);
    uint32_t n = 0;
    uint64_t lo = 0;
    uint64_t hi = tree_size;
    while (hi - lo > 1) {
        uint64_t k = split_point(hi - lo);
        if (index < lo + k) {
            hi = lo + k;
        } else {
            lo += k;
        }
        n++;
    }
    ASSERT(n <= MERKLE_PATH_MAX);
    return n;
}

void
merkle_root(enum hash_alg alg, const struct hash *leaves, size_t count, struct hash *out)
{
    root_of(alg, (struct leaves){ .items = leaves, .hashed = false }, count, out);
}

enum err
merkle_prove(enum hash_alg alg, const struct hash *leaves, size_t count, size_t index,
             struct merkle_proof *out)
{
    return prove(alg, (struct leaves){ .items = leaves, .hashed = false }, count, index, out);
}

enum err
merkle_proof_root(enum hash_alg alg, const struct hash *leaf, const struct merkle_proof *proof,
                  struct hash *out_root)
{
    struct hash leaf_hash;
    merkle_leaf_hash(alg, leaf, &leaf_hash);
    return proof_root(alg, &leaf_hash, proof, out_root);
}

enum err
merkle_verify(enum hash_alg alg, const struct hash *leaf, const struct merkle_proof *proof,
              const struct hash *root)
{
    struct hash computed;
    enum err rc = merkle_proof_root(alg, leaf, proof, &computed);
    if (rc != ERR_OK) {
        return rc;
    }
    /* Roots are public, so an ordinary comparison is fine. */
    return hash_equal(&computed, root) ? ERR_OK : ERR_BAD_SIGNATURE;
}

void
merkle_root_of_leaf_hashes(enum hash_alg alg, const struct hash *leaf_hashes, size_t count,
                           struct hash *out)
{
    root_of(alg, (struct leaves){ .items = leaf_hashes, .hashed = true }, count, out);
}

enum err
merkle_prove_of_leaf_hashes(enum hash_alg alg, const struct hash *leaf_hashes, size_t count,
                            size_t index, struct merkle_proof *out)
{
    return prove(alg, (struct leaves){ .items = leaf_hashes, .hashed = true }, count, index, out);
}

enum err
merkle_proof_root_of_leaf_hash(enum hash_alg alg, const struct hash *leaf_hash,
                               const struct merkle_proof *proof, struct hash *out_root)
{
    return proof_root(alg, leaf_hash, proof, out_root);
}
