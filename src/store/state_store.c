/* The authenticated state store: a Jellyfish-style Merkle tree in LMDB.
 *
 * Commitment (what the root means; codec/state_proof.h). A binary sparse Merkle tree over
 * k = H(key), each leaf at the shortest prefix of k that no other key shares, empty subtree =
 * zero, leaf = H(0x00||k||H(value)), inner = H(0x01||left||right). It depends only on the
 * set of key/values; proofs are binary sibling lists (at most 256, ~log2(n) in practice).
 *
 * Storage (how the tree is kept). Nodes are 16-ary, as in Diem's Jellyfish Merkle tree: an
 * internal node at nibble path P stands for the 4 binary levels below P, holds for each
 * child nibble the child's version, hash and kind, and hashes as the binary subtree of its
 * 16 children in which a range holding a single leaf collapses to that leaf. A leaf sits at
 * the shortest unique nibble prefix; within an internal node the collapse places it at the
 * shortest unique bit prefix, so the 16-ary layout and the binary commitment agree exactly.
 * Why 16-ary rather than one LMDB record per binary node: a random key sits ~log16(n) nodes
 * deep instead of ~log2(n), so a block of w writes touches and rewrites ~4x fewer records
 * (LMDB puts dominate the commit), while hashing work and proofs stay binary.
 *
 * Tables:
 *   state_node   version BE8 || one byte per nibble of the path -> node (immutable once
 *                written; versions first, so a block's new nodes append at the end of the
 *                B-tree, and within a version in depth-first order, so a key's path nodes
 *                written together sit together and are pruned together)
 *   state_value  version BE8 || H(key) -> value; written when a block puts a key (appended
 *                at the B-tree's end, like the nodes); a read walks the version's tree to
 *                the leaf, which names the version of its value record
 *   state_stale  since BE8 || 0x00 || node key  |  since BE8 || 0x01 || value key -> empty:
 *                records that became unreachable at version `since` (replaced or deleted);
 *                written only by a store that prunes (retain_versions > 0)
 *   state_root   version BE8 -> root hash || root kind u8 || root node version LE8; a record
 *                exists exactly for the committed, readable versions
 *   state_meta   "floor" -> LE8 oldest readable version; "hash_alg" -> u8 (checked at open)
 * Why version-first keys rather than H(key) first: random keys would dirty one random LMDB
 * page per write at commit, while appends keep a block's new records on few pages.
 * Pruning keeps versions >= floor: every stale record with since <= floor is needed by no
 * retained version and is deleted (in since order, bounded per commit). It runs when the
 * floor can advance by prune_interval versions: deleting 32 blocks' stale records in one
 * txn wrote ~14x fewer bytes per block than deleting one block's every commit (bench/README).
 *
 * A batch (one block) applies its writes one at a time, in key-hash order, with a walk from
 * the root (that keeps the levels the previous key's walk already made the batch's own),
 * copying each node on the path into the batch's node map (nodes of version v keyed by path)
 * and recording the replaced node as stale, then hashes the map bottom-up, deepest first.
 * The commit writes the map's nodes in creation order, which that key order makes their
 * table order but for rare exceptions (commit_node_tree). Cost:
 * O(writes * depth) node reads (from the batch chain or LMDB) and hashes. No recursion:
 * walks are loops over the key's nibbles with an explicit stack of steps. */
#include "store/state_store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "base/reader.h"
#include "store/state_store_internal.h"
#include "store/value_cache.h"

#define NIBBLES_MAX     ((size_t)2 * HASH_SIZE)
#define NODE_KEY_SIZE   (8 + NIBBLES_MAX)
#define NODE_VALUE_MAX  (5 + 16 * (8 + HASH_SIZE))
#define LEAF_VERSION_AT ((size_t)1 + 2 * (size_t)HASH_SIZE)
#define LEAF_VALUE_SIZE (LEAF_VERSION_AT + 8)
#define VALUE_KEY_SIZE  (HASH_SIZE + 8)
#define STALE_KEY_MAX   (8 + 1 + NODE_KEY_SIZE)
#define ROOT_VALUE_SIZE (HASH_SIZE + 1 + 8)
#define NODE_CHUNK      256u
#define TAG_LEAF        1
#define TAG_INTERNAL    2
#define STALE_NODE      0
#define STALE_VALUE     1

_Static_assert(STALE_KEY_MAX >= 8 + 1 + VALUE_KEY_SIZE, "stale key holds a value key");

static const char meta_floor_key[] = "floor";
static const char meta_alg_key[] = "hash_alg";

enum node_kind {
    NODE_NONE = 0, /* a dropped map entry, or no root */
    NODE_LEAF = 1,
    NODE_INTERNAL = 2,
};

struct node_leaf {
    struct hash key_hash;
    struct hash value_hash;
    uint64_t value_version;
};

struct node_internal {
    uint16_t child_mask;
    uint16_t leaf_mask; /* subset of child_mask */
    uint64_t child_version[16];
    struct hash child_hash[16];
};

struct node {
    uint8_t path[HASH_SIZE]; /* nibbles [0, depth) of a key hash, the rest zero */
    uint8_t depth;           /* in nibbles, 0..64 */
    uint8_t kind;            /* enum node_kind */
    struct hash hash;        /* computed by batch_hash for the batch's own nodes */
    union {
        struct node_leaf leaf;
        struct node_internal in;
    } u;
};

/* Chunks of released node maps kept for the next batches: a block's map is several MB, which
 * malloc would hand out as fresh mmap'd pages (a page fault and zeroing per 4 KiB) each time.
 * Batches may be freed on any thread (a query's empty batch), hence the mutex. */
#define NODE_POOL_CHUNKS 96u

struct node_pool {
    pthread_mutex_t lock;
    size_t count;
    struct node *chunks[NODE_POOL_CHUNKS];
};

/* The batch's nodes of its own version, keyed by path; chunked so pointers stay valid. */
struct node_map {
    struct node_pool *pool; /* where chunks come from and go back to */
    struct node **chunks;
    size_t chunk_count;
    size_t count;
    /* index + 1 in the low 32 bits (0 = empty), the path hash's high 32 bits above it: a
     * probe compares tags and reads a node (~700 bytes, a cache miss) only on a tag match.
     * Power-of-two size. */
    uint64_t *slots;
    size_t slot_count;
};

struct node_ref {
    uint8_t kind; /* NODE_NONE: empty tree */
    uint64_t version;
};

/* Copies the bytes of a node that hold its state: a leaf's node ends after the leaf, and an
 * internal node's children are copied one by one (most below the top levels have 2 or 3 of
 * 16), not the whole ~700-byte struct. The entries of absent children are left as they were
 * in dst: nothing reads them (the masks say which children exist; a delete already leaves
 * its child's entry behind). */
static void
node_copy(struct node *dst, const struct node *src)
{
    if (src->kind != NODE_INTERNAL) {
        memcpy(dst, src, offsetof(struct node, u) + sizeof(struct node_leaf));
        return;
    }
    memcpy(dst, src, offsetof(struct node, u) + offsetof(struct node_internal, child_version));
    for (uint32_t mask = src->u.in.child_mask; mask != 0; mask &= mask - 1) {
        unsigned i = (unsigned)__builtin_ctz(mask);
        dst->u.in.child_version[i] = src->u.in.child_version[i];
        dst->u.in.child_hash[i] = src->u.in.child_hash[i];
    }
}

/* The child on nibble i of internal node n (kind NODE_NONE if absent; the version is read
 * only for a present child: node_copy leaves absent entries unset). */
static struct node_ref
child_ref(const struct node *n, unsigned i)
{
    unsigned bit = 1u << i;
    struct node_ref ref = { NODE_NONE, 0 };
    if ((n->u.in.child_mask & bit) != 0) {
        ref.kind = (n->u.in.leaf_mask & bit) != 0 ? NODE_LEAF : NODE_INTERNAL;
        ref.version = n->u.in.child_version[i];
    }
    return ref;
}

struct batch_write {
    struct hash key_hash;
    struct hash value_hash;
    const uint8_t *key;
    size_t key_size;
    const uint8_t *value; /* NULL: delete */
    size_t value_size;
    bool changed; /* not a no-op: commit writes it */
};

struct stale_node {
    uint64_t version;
    uint8_t depth;
    uint8_t path[HASH_SIZE];
};

struct stale_value {
    struct hash key_hash;
    uint64_t version;
};

struct state_batch {
    struct state_store *store;
    struct state_batch *parent; /* NULL: built on base_version; dropped at commit */
    unsigned refs;
    bool committed; /* nodes and writes released; reads go to LMDB at version */
    uint64_t id;
    uint64_t base_id; /* id of the committed batch it follows (parent's id if parent) */
    uint64_t version;
    uint64_t base_version;     /* committed version under the chain when parent is NULL */
    struct node_ref base_root; /* that version's root */
    struct node_ref root;
    struct hash root_hash;
    struct node_map nodes;
    struct batch_write *writes; /* sorted by key hash */
    size_t write_count;
    uint8_t *bytes; /* copies of the keys and values */
    struct stale_node *stale_nodes;
    size_t stale_node_count;
    size_t stale_node_capacity;
    struct stale_value *stale_values;
    size_t stale_value_count;
    size_t stale_value_capacity;
    uint32_t *top_nodes; /* map indices of the live nodes of depth <= NODE_CACHE_DEPTH */
    size_t top_node_count;
    size_t live_node_count; /* counted by batch_hash */
};

struct state_store {
    struct db *db;
    struct db_table nodes;
    struct db_table values;
    struct db_table stale;
    struct db_table roots;
    struct db_table meta;
    enum hash_alg alg;
    uint64_t retain;
    uint64_t prune_interval;
    size_t prune_budget; /* stale records deleted per commit at most */
    uint64_t version;
    struct hash root_hash;
    struct node_ref root;
    uint64_t floor;
    uint64_t pending_floor; /* computed by state_store_commit, applied by _committed */
    uint64_t committed_id;
    uint64_t next_id;
    struct value_cache *cache; /* values at `version` (value_cache.h) */
    struct node_cache *top;    /* nodes of the top levels (node cache below) */
    struct node_pool pool;     /* of the batches' node maps */
    /* `version` for readers on other threads: stored after the commit's txn and the cache
     * moved on (state_store_committed), so it names a version LMDB holds. */
    _Atomic uint64_t published;
    _Atomic uint64_t published_floor; /* `floor` for readers on other threads */
};

/* ---- encoding helpers ---- */

static void
store_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t
load_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static unsigned
nibble_at(const uint8_t *path, size_t i)
{
    ASSERT(i < NIBBLES_MAX);
    uint8_t byte = path[i / 2];
    return (i % 2 == 0) ? (unsigned)(byte >> 4) : (unsigned)(byte & 0x0f);
}

/* The first depth nibbles of src, the rest zero. */
static void
path_make(const uint8_t *src, size_t depth, uint8_t out[HASH_SIZE])
{
    ASSERT(depth <= NIBBLES_MAX);
    memset(out, 0, HASH_SIZE);
    memcpy(out, src, (depth + 1) / 2);
    if (depth % 2 == 1) {
        out[depth / 2] &= 0xf0;
    }
}

static size_t
common_nibbles(const struct hash *a, const struct hash *b)
{
    size_t n = 0;
    while (n < NIBBLES_MAX && nibble_at(a->bytes, n) == nibble_at(b->bytes, n)) {
        n++;
    }
    return n;
}

static size_t
node_key_encode(uint64_t version, const uint8_t *path, size_t depth, uint8_t out[NODE_KEY_SIZE])
{
    store_be64(out, version);
    for (size_t i = 0; i < depth; i++) {
        out[8 + i] = (uint8_t)nibble_at(path, i);
    }
    return 8 + depth;
}

static size_t
node_encode(const struct node *n, uint8_t out[NODE_VALUE_MAX])
{
    if (n->kind == NODE_LEAF) {
        out[0] = TAG_LEAF;
        memcpy(out + 1, n->u.leaf.key_hash.bytes, HASH_SIZE);
        memcpy(out + 1 + HASH_SIZE, n->u.leaf.value_hash.bytes, HASH_SIZE);
        store_u64(out + LEAF_VERSION_AT, n->u.leaf.value_version);
        return LEAF_VALUE_SIZE;
    }
    ASSERT(n->kind == NODE_INTERNAL);
    out[0] = TAG_INTERNAL;
    store_u16(out + 1, n->u.in.child_mask);
    store_u16(out + 3, n->u.in.leaf_mask);
    size_t pos = 5;
    for (unsigned i = 0; i < 16; i++) {
        if ((n->u.in.child_mask & (1u << i)) != 0) {
            store_u64(out + pos, n->u.in.child_version[i]);
            memcpy(out + pos + 8, n->u.in.child_hash[i].bytes, HASH_SIZE);
            pos += 8 + HASH_SIZE;
        }
    }
    return pos;
}

/* Decodes our own stored node; any inconsistency is ERR_CORRUPT. */
static enum err
node_decode(const uint8_t *data, size_t size, const uint8_t *path, size_t depth, struct node *out)
{
    memset(out, 0, offsetof(struct node, u) + sizeof(struct node_leaf));
    path_make(path, depth, out->path);
    out->depth = (uint8_t)depth;
    if (size == LEAF_VALUE_SIZE && data[0] == TAG_LEAF) {
        out->kind = NODE_LEAF;
        memcpy(out->u.leaf.key_hash.bytes, data + 1, HASH_SIZE);
        memcpy(out->u.leaf.value_hash.bytes, data + 1 + HASH_SIZE, HASH_SIZE);
        out->u.leaf.value_version = load_u64(data + LEAF_VERSION_AT);
        return ERR_OK;
    }
    if (size < 5 || data[0] != TAG_INTERNAL || depth >= NIBBLES_MAX) {
        return ERR_CORRUPT;
    }
    memset(&out->u, 0, sizeof out->u);
    uint16_t mask = load_u16(data + 1);
    uint16_t leaves = load_u16(data + 3);
    unsigned count = (unsigned)__builtin_popcount(mask);
    if (mask == 0 || (leaves & ~mask) != 0 || (count == 1 && leaves == mask) ||
        size != 5 + count * (8 + HASH_SIZE)) {
        return ERR_CORRUPT;
    }
    out->kind = NODE_INTERNAL;
    out->u.in.child_mask = mask;
    out->u.in.leaf_mask = leaves;
    size_t pos = 5;
    for (unsigned i = 0; i < 16; i++) {
        if ((mask & (1u << i)) != 0) {
            out->u.in.child_version[i] = load_u64(data + pos);
            memcpy(out->u.in.child_hash[i].bytes, data + pos + 8, HASH_SIZE);
            pos += 8 + HASH_SIZE;
        }
    }
    return ERR_OK;
}

static size_t
value_key_encode(const struct hash *key_hash, uint64_t version, uint8_t out[VALUE_KEY_SIZE])
{
    store_be64(out, version);
    memcpy(out + 8, key_hash->bytes, HASH_SIZE);
    return VALUE_KEY_SIZE;
}

/* ---- hashing of an internal node's 4 binary levels ---- */

enum range_kind {
    RANGE_EMPTY = 0,
    RANGE_LEAF = 1, /* exactly one leaf: collapses to it */
    RANGE_TREE = 2,
};

/* Binary heap of the node's subtrees: 1 = the node, 2x and 2x+1 the halves of x, 16 + i
 * child i. */
struct subtrees {
    uint8_t kind[32];
    struct hash hash[32];
};

/* memo: NULL, or the subtrees last computed at the node's path (by this function, so each
 * inner entry is the hash of its two children there): an inner range whose two children are
 * the same as in the memo has the memo's hash, without hashing. A block changes one or two
 * children of most nodes at depth 3, so most of their 4 binary levels repeat. */
static void
subtrees_compute(enum hash_alg alg, const struct node *n, struct subtrees *t,
                 const struct subtrees *memo)
{
    ASSERT(n->kind == NODE_INTERNAL);
    for (unsigned i = 0; i < 16; i++) {
        unsigned x = 16 + i;
        if ((n->u.in.child_mask & (1u << i)) == 0) {
            t->kind[x] = RANGE_EMPTY;
            memset(&t->hash[x], 0, sizeof t->hash[x]);
        } else {
            t->kind[x] = (n->u.in.leaf_mask & (1u << i)) != 0 ? RANGE_LEAF : RANGE_TREE;
            t->hash[x] = n->u.in.child_hash[i];
        }
    }
    for (size_t x = 16; x-- > 1;) {
        uint8_t l = t->kind[2 * x];
        uint8_t r = t->kind[2 * x + 1];
        if (l == RANGE_EMPTY && r == RANGE_EMPTY) {
            t->kind[x] = RANGE_EMPTY;
            memset(&t->hash[x], 0, sizeof t->hash[x]);
        } else if (l == RANGE_EMPTY && r == RANGE_LEAF) {
            t->kind[x] = RANGE_LEAF;
            t->hash[x] = t->hash[2 * x + 1];
        } else if (l == RANGE_LEAF && r == RANGE_EMPTY) {
            t->kind[x] = RANGE_LEAF;
            t->hash[x] = t->hash[2 * x];
        } else if (memo != NULL && memo->kind[x] == RANGE_TREE && memo->kind[2 * x] == l &&
                   memo->kind[2 * x + 1] == r && hash_equal(&memo->hash[2 * x], &t->hash[2 * x]) &&
                   hash_equal(&memo->hash[2 * x + 1], &t->hash[2 * x + 1])) {
            t->kind[x] = RANGE_TREE;
            t->hash[x] = memo->hash[x];
        } else {
            t->kind[x] = RANGE_TREE;
            state_inner_hash(alg, &t->hash[2 * x], &t->hash[2 * x + 1], &t->hash[x]);
        }
    }
}

/* ---- node map ---- */

static uint64_t
path_hash(const uint8_t *path, size_t depth)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ depth;
    for (size_t i = 0; i < HASH_SIZE; i += 8) {
        h = (h ^ load_u64(path + i)) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return h;
}

static struct node *
map_at(const struct node_map *m, size_t index)
{
    return &m->chunks[index / NODE_CHUNK][index % NODE_CHUNK];
}

static struct node *
pool_take(struct node_pool *p)
{
    struct node *chunk = NULL;
    ASSERT(pthread_mutex_lock(&p->lock) == 0);
    if (p->count > 0) {
        chunk = p->chunks[--p->count];
    }
    ASSERT(pthread_mutex_unlock(&p->lock) == 0);
    return chunk != NULL ? chunk : mem_alloc(NODE_CHUNK * sizeof(struct node));
}

static void
pool_give(struct node_pool *p, struct node *chunk)
{
    ASSERT(pthread_mutex_lock(&p->lock) == 0);
    if (p->count < NODE_POOL_CHUNKS) {
        p->chunks[p->count++] = chunk;
        chunk = NULL;
    }
    ASSERT(pthread_mutex_unlock(&p->lock) == 0);
    mem_free(chunk);
}

static void
pool_release(struct node_pool *p)
{
    for (size_t i = 0; i < p->count; i++) {
        mem_free(p->chunks[i]);
    }
    p->count = 0;
    ASSERT(pthread_mutex_destroy(&p->lock) == 0);
}

#define SLOT_INDEX(s) ((uint32_t)(s))
#define SLOT_TAG(h)   ((h) >> 32)

/* Slot of path (hash h = path_hash(path, depth)): holding it, or the empty slot where it would
 * go. */
static size_t
map_slot(const struct node_map *m, uint64_t h, const uint8_t *path, size_t depth)
{
    size_t mask = m->slot_count - 1;
    uint64_t tag = SLOT_TAG(h);
    size_t i = (size_t)tag & mask; /* the tag alone names the home slot: map_grow */
    for (;;) {
        uint64_t s = m->slots[i];
        if (s == 0) {
            return i;
        }
        if ((s >> 32) == tag) {
            const struct node *n = map_at(m, SLOT_INDEX(s) - 1u);
            if (n->depth == depth && memcmp(n->path, path, HASH_SIZE) == 0) {
                return i;
            }
        }
        i = (i + 1) & mask;
    }
}

static struct node *
map_find(const struct node_map *m, const uint8_t *path, size_t depth)
{
    if (m->slot_count == 0) {
        return NULL;
    }
    uint64_t s = m->slots[map_slot(m, path_hash(path, depth), path, depth)];
    return s == 0 ? NULL : map_at(m, SLOT_INDEX(s) - 1u);
}

/* Doubles the slots (at least to slots_min), moving each entry by its tag: no node is read. */
static void
map_grow(struct node_map *m, size_t slots_min)
{
    size_t slot_count = m->slot_count == 0 ? 1024 : 2 * m->slot_count;
    while (slot_count < slots_min) {
        slot_count *= 2;
    }
    uint64_t *old = m->slots;
    size_t old_count = m->slot_count;
    m->slots = mem_calloc(slot_count, sizeof m->slots[0]);
    m->slot_count = slot_count;
    size_t mask = slot_count - 1;
    for (size_t k = 0; k < old_count; k++) {
        uint64_t s = old[k];
        if (s == 0) {
            continue;
        }
        size_t i = (size_t)(s >> 32) & mask;
        while (m->slots[i] != 0) {
            i = (i + 1) & mask;
        }
        m->slots[i] = s;
    }
    mem_free(old);
}

/* The entry for path (reusing a dropped one), with path and depth set and the rest unset:
 * the caller fills it whole (map_put) or copies a node of the same path into it. */
static struct node *
map_put_raw(struct node_map *m, const uint8_t *path, size_t depth)
{
    if (2 * (m->count + 1) > m->slot_count) {
        map_grow(m, 0);
    }
    uint64_t h = path_hash(path, depth);
    size_t slot = map_slot(m, h, path, depth);
    struct node *n;
    if (m->slots[slot] != 0) {
        n = map_at(m, SLOT_INDEX(m->slots[slot]) - 1u);
        ASSERT(n->kind == NODE_NONE);
    } else {
        ASSERT(m->count < UINT32_MAX);
        if (m->count % NODE_CHUNK == 0) {
            m->chunks = mem_realloc(m->chunks, (m->chunk_count + 1) * sizeof(struct node *));
            m->chunks[m->chunk_count++] = pool_take(m->pool);
        }
        n = map_at(m, m->count);
        m->slots[slot] = (SLOT_TAG(h) << 32) | (uint64_t)(++m->count);
    }
    return n;
}

/* The entry for path (reusing a dropped one), zeroed, with path and depth set. */
static struct node *
map_put(struct node_map *m, const uint8_t *path, size_t depth)
{
    struct node *n = map_put_raw(m, path, depth);
    memset(n, 0, sizeof *n);
    memcpy(n->path, path, HASH_SIZE);
    n->depth = (uint8_t)depth;
    return n;
}

static void
map_release(struct node_map *m)
{
    for (size_t i = 0; i < m->chunk_count; i++) {
        pool_give(m->pool, m->chunks[i]);
    }
    mem_free(m->chunks);
    mem_free(m->slots);
    struct node_pool *pool = m->pool;
    memset(m, 0, sizeof *m);
    m->pool = pool;
}

/* ---- cache of the top levels' nodes ----
 *
 * Every read and every write of a random key walks the same top levels first (a block
 * rewrites the root, every depth-1 node and most of depth 2 and 3), so without a cache most of
 * a walk's LMDB lookups (and a build's node decodes) are of the same few thousand nodes. A
 * stored node is immutable and named by (version, path, depth), so a copy stays exact: the
 * cache keeps one slot per path of depth <= NODE_CACHE_DEPTH (1 + 16 + 256 + 4096), holding
 * the newest committed node seen there (from state_store_committed and from LMDB reads), and
 * a lookup hits when the slot holds the version asked for; deeper nodes read from LMDB or
 * committed go to a direct-mapped table named by (version, path, depth). Only committed nodes enter
 * (a batch of a losing fork may have built other nodes under the same name). Its own mutex: reads
 * with the caller's txn (state_store_get, prove) may run on any thread. The same slots index
 * subtrees_compute's memo of each path's binary levels. */
#define NODE_CACHE_DEPTH 3
#define NODE_CACHE_SLOTS (1u + 16u + 256u + 4096u)
/* Deeper nodes read from LMDB or committed, direct-mapped by their name: a block's execution
 * reads the paths of the keys it then writes, so building its batch walks the same nodes
 * again, and the next block walks again the paths of the keys written again (~12 MiB). */
#define NODE_CACHE_DEEP_SLOTS 16384u

struct node_cache {
    /* Per path, the subtrees last hashed there (subtrees_compute's memo): any batch's, since
     * a memo entry is only used where its inputs match. Used by batch_hash alone, under
     * memo_lock (one batch hashes at a time). */
    pthread_mutex_t memo_lock;
    struct subtrees *memo;
    pthread_mutex_t lock; /* guards slots, versions, deep and deep_versions */
    struct node *slots;   /* kind NODE_NONE: empty */
    uint64_t *versions;   /* of each slot's node; compared first (dense, unlike the nodes) */
    struct node *deep;    /* NODE_CACHE_DEEP_SLOTS, kind NODE_NONE: empty */
    uint64_t *deep_versions;
};

static struct node_cache *
node_cache_new(void)
{
    struct node_cache *c = mem_calloc(1, sizeof *c);
    ASSERT(pthread_mutex_init(&c->memo_lock, NULL) == 0);
    ASSERT(pthread_mutex_init(&c->lock, NULL) == 0);
    c->memo = mem_calloc(NODE_CACHE_SLOTS, sizeof c->memo[0]);
    c->slots = mem_calloc(NODE_CACHE_SLOTS, sizeof c->slots[0]);
    c->versions = mem_calloc(NODE_CACHE_SLOTS, sizeof c->versions[0]);
    c->deep = mem_calloc(NODE_CACHE_DEEP_SLOTS, sizeof c->deep[0]);
    c->deep_versions = mem_calloc(NODE_CACHE_DEEP_SLOTS, sizeof c->deep_versions[0]);
    return c;
}

static void
node_cache_free(struct node_cache *c)
{
    if (c == NULL) {
        return;
    }
    ASSERT(pthread_mutex_destroy(&c->memo_lock) == 0);
    ASSERT(pthread_mutex_destroy(&c->lock) == 0);
    mem_free(c->memo);
    mem_free(c->slots);
    mem_free(c->versions);
    mem_free(c->deep);
    mem_free(c->deep_versions);
    mem_free(c);
}

/* The slot of a path of depth <= NODE_CACHE_DEPTH: the levels above, then the nibbles. */
static size_t
node_cache_slot(const uint8_t *path, size_t depth)
{
    ASSERT(depth <= NODE_CACHE_DEPTH);
    size_t slot = 0;
    size_t level = 1;
    for (size_t i = 0; i < depth; i++) {
        slot += level;
        level *= 16;
    }
    size_t prefix = 0;
    for (size_t i = 0; i < depth; i++) {
        prefix = prefix * 16 + nibble_at(path, i);
    }
    return slot + prefix;
}

/* The deep slot of (version, path/depth); path holds the first depth nibbles, the rest zero. */
static size_t
node_cache_deep_slot(uint64_t version, const uint8_t *path, size_t depth)
{
    return (size_t)((path_hash(path, depth) ^ (version * 0x9e3779b97f4a7c15ull)) %
                    NODE_CACHE_DEEP_SLOTS);
}

/* Copies node (version, path/depth) into *out if cached. */
static bool
node_cache_get(struct node_cache *c, uint64_t version, const uint8_t *path, size_t depth,
               struct node *out)
{
    bool hit = false;
    if (depth <= NODE_CACHE_DEPTH) {
        size_t slot = node_cache_slot(path, depth);
        ASSERT(pthread_mutex_lock(&c->lock) == 0);
        hit = c->versions[slot] == version && c->slots[slot].kind != NODE_NONE;
        if (hit) {
            node_copy(out, &c->slots[slot]);
        }
        ASSERT(pthread_mutex_unlock(&c->lock) == 0);
        return hit;
    }
    uint8_t p[HASH_SIZE];
    path_make(path, depth, p);
    size_t slot = node_cache_deep_slot(version, p, depth);
    ASSERT(pthread_mutex_lock(&c->lock) == 0);
    const struct node *n = &c->deep[slot];
    hit = c->deep_versions[slot] == version && n->kind != NODE_NONE && n->depth == depth &&
          memcmp(n->path, p, HASH_SIZE) == 0;
    if (hit) {
        node_copy(out, n);
    }
    ASSERT(pthread_mutex_unlock(&c->lock) == 0);
    return hit;
}

/* The child ref on nibble i of cached internal node (version, path/depth), for reads that
 * only follow one child per level (no copy of the node). */
static bool
node_cache_child(struct node_cache *c, uint64_t version, const uint8_t *path, size_t depth,
                 unsigned i, struct node_ref *out)
{
    size_t slot = node_cache_slot(path, depth);
    ASSERT(pthread_mutex_lock(&c->lock) == 0);
    const struct node *n = &c->slots[slot];
    bool hit = c->versions[slot] == version && n->kind == NODE_INTERNAL;
    if (hit) {
        *out = child_ref(n, i);
    }
    ASSERT(pthread_mutex_unlock(&c->lock) == 0);
    return hit;
}

/* Remembers a node read from LMDB below the top levels (it replaces its slot's node). */
static void
node_cache_put_deep(struct node_cache *c, uint64_t version, const struct node *n)
{
    ASSERT(n->depth > NODE_CACHE_DEPTH && n->kind != NODE_NONE);
    size_t slot = node_cache_deep_slot(version, n->path, n->depth);
    ASSERT(pthread_mutex_lock(&c->lock) == 0);
    node_copy(&c->deep[slot], n);
    c->deep_versions[slot] = version;
    ASSERT(pthread_mutex_unlock(&c->lock) == 0);
}

/* Remembers the deeper nodes of a committed batch: the newest version of each path it wrote,
 * which the next blocks' walks read first (a hot account's path is written block after
 * block, under a new version each time, so LMDB reads would not have cached it). One lock. */
static void
node_cache_put_batch_deep(struct node_cache *c, const struct state_batch *b)
{
    ASSERT(pthread_mutex_lock(&c->lock) == 0);
    for (size_t i = 0; i < b->nodes.count; i++) {
        const struct node *n = map_at(&b->nodes, i);
        if (n->depth > NODE_CACHE_DEPTH && n->kind != NODE_NONE) {
            size_t slot = node_cache_deep_slot(b->version, n->path, n->depth);
            node_copy(&c->deep[slot], n);
            memset(&c->deep[slot].hash, 0, sizeof c->deep[slot].hash); /* as node_decode */
            c->deep_versions[slot] = b->version;
        }
    }
    ASSERT(pthread_mutex_unlock(&c->lock) == 0);
}

/* Remembers a committed node of the top levels, unless its slot holds a newer one. */
static void
node_cache_put(struct node_cache *c, uint64_t version, const struct node *n)
{
    if (n->depth > NODE_CACHE_DEPTH || n->kind == NODE_NONE) {
        return;
    }
    size_t slot = node_cache_slot(n->path, n->depth);
    ASSERT(pthread_mutex_lock(&c->lock) == 0);
    if (c->slots[slot].kind == NODE_NONE || c->versions[slot] <= version) {
        node_copy(&c->slots[slot], n);
        memset(&c->slots[slot].hash, 0, sizeof c->slots[slot].hash); /* as node_decode leaves it */
        c->versions[slot] = version;
    }
    ASSERT(pthread_mutex_unlock(&c->lock) == 0);
}

/* ---- LMDB reads ---- */

static enum err
node_load_db(const struct state_store *s, struct db_txn *txn, uint64_t version, const uint8_t *path,
             size_t depth, struct node *out)
{
    if (node_cache_get(s->top, version, path, depth, out)) {
        return ERR_OK;
    }
    uint8_t key[NODE_KEY_SIZE];
    size_t key_size = node_key_encode(version, path, depth, key);
    struct db_val v;
    enum err rc = db_get(txn, s->nodes, db_val_of(key, key_size), &v);
    if (rc == ERR_NOT_FOUND) {
        return ERR_CORRUPT; /* a referenced node must exist (unless its version was pruned) */
    }
    if (rc == ERR_OK) {
        rc = node_decode(v.data, v.size, path, depth, out);
    }
    if (rc == ERR_OK && depth <= NODE_CACHE_DEPTH) {
        node_cache_put(s->top, version, out);
    } else if (rc == ERR_OK) {
        node_cache_put_deep(s->top, version, out);
    }
    return rc;
}

struct root_record {
    struct hash hash;
    struct node_ref ref;
};

static enum err
root_load(const struct state_store *s, struct db_txn *txn, uint64_t version,
          struct root_record *out)
{
    uint8_t key[8];
    store_be64(key, version);
    struct db_val v;
    enum err rc = db_get(txn, s->roots, db_val_of(key, sizeof key), &v);
    if (rc != ERR_OK) {
        return rc;
    }
    if (v.size != ROOT_VALUE_SIZE || v.data[HASH_SIZE] > NODE_INTERNAL) {
        return ERR_CORRUPT;
    }
    memcpy(out->hash.bytes, v.data, HASH_SIZE);
    out->ref.kind = v.data[HASH_SIZE];
    out->ref.version = load_u64(v.data + HASH_SIZE + 1);
    return ERR_OK;
}

static enum err
root_put(const struct state_store *s, struct db_txn *txn, uint64_t version, const struct hash *hash,
         struct node_ref ref)
{
    uint8_t key[8];
    uint8_t value[ROOT_VALUE_SIZE];
    store_be64(key, version);
    memcpy(value, hash->bytes, HASH_SIZE);
    value[HASH_SIZE] = ref.kind;
    store_u64(value + HASH_SIZE + 1, ref.version);
    return db_put(txn, s->roots, db_val_of(key, sizeof key), db_val_of(value, sizeof value));
}

/* The leaf of key_hash in the tree at ref, into *out (ERR_NOT_FOUND if absent). */
static enum err
leaf_find_db(const struct state_store *s, struct db_txn *txn, struct node_ref ref,
             const struct hash *key_hash, struct node_leaf *out)
{
    size_t depth = 0;
    for (; ref.kind == NODE_INTERNAL; depth++) {
        unsigned i = nibble_at(key_hash->bytes, depth);
        if (depth <= NODE_CACHE_DEPTH &&
            node_cache_child(s->top, ref.version, key_hash->bytes, depth, i, &ref)) {
            continue;
        }
        struct node n; /* not cached: read, decoded and cached by node_load_db */
        enum err rc = node_load_db(s, txn, ref.version, key_hash->bytes, depth, &n);
        if (rc == ERR_OK && n.kind != NODE_INTERNAL) {
            rc = ERR_CORRUPT;
        }
        if (rc != ERR_OK) {
            return rc;
        }
        ref = child_ref(&n, i);
    }
    if (ref.kind == NODE_NONE) {
        return ERR_NOT_FOUND;
    }
    struct node n;
    enum err rc = node_load_db(s, txn, ref.version, key_hash->bytes, depth, &n);
    if (rc == ERR_OK && n.kind != NODE_LEAF) {
        rc = ERR_CORRUPT;
    }
    if (rc != ERR_OK) {
        return rc;
    }
    *out = n.u.leaf;
    return hash_equal(&n.u.leaf.key_hash, key_hash) ? ERR_OK : ERR_NOT_FOUND;
}

/* The value record a leaf points to; it must exist. */
static enum err
value_get_db(const struct state_store *s, struct db_txn *txn, const struct node_leaf *leaf,
             struct buf *out_value)
{
    uint8_t key[VALUE_KEY_SIZE];
    value_key_encode(&leaf->key_hash, leaf->value_version, key);
    struct db_val v;
    enum err rc = db_get(txn, s->values, db_val_of(key, sizeof key), &v);
    if (rc == ERR_NOT_FOUND) {
        return ERR_CORRUPT;
    }
    return rc == ERR_OK ? buf_append(out_value, v.data, v.size) : rc;
}

/* Value of key_hash at a committed version: a walk of that version's tree to the leaf, then
 * the value record the leaf names. root: the version's root if the caller knows it, or NULL
 * (read from LMDB). */
static enum err
value_load(const struct state_store *s, struct db_txn *txn, const struct hash *key_hash,
           uint64_t version, const struct node_ref *root, struct buf *out_value)
{
    struct root_record stored;
    if (root == NULL) {
        enum err rc = root_load(s, txn, version, &stored);
        if (rc != ERR_OK) {
            return rc;
        }
        root = &stored.ref;
    }
    struct node_leaf leaf;
    enum err rc = leaf_find_db(s, txn, *root, key_hash, &leaf);
    if (rc == ERR_OK) {
        rc = value_get_db(s, txn, &leaf, out_value);
    }
    return rc;
}

/* ---- open / close ---- */

void
state_store_set_prune_budget(struct state_store *s, size_t budget)
{
    ASSERT(budget > 0);
    s->prune_budget = budget;
}

/* The tree's hash is fixed when the tables are created: opening with another is ERR_CONFIG. */
static enum err
store_check_alg(const struct state_store *s, struct db_txn *txn)
{
    struct db_val key = db_val_of(meta_alg_key, sizeof meta_alg_key - 1);
    struct db_val v;
    enum err rc = db_get(txn, s->meta, key, &v);
    if (rc == ERR_NOT_FOUND) {
        uint8_t alg = (uint8_t)s->alg;
        return db_put(txn, s->meta, key, db_val_of(&alg, 1));
    }
    if (rc == ERR_OK && (v.size != 1 || v.data[0] != (uint8_t)s->alg)) {
        rc = ERR_CONFIG;
    }
    return rc;
}

static enum err
store_load(struct state_store *s)
{
    struct db_txn *txn = NULL;
    struct db_cursor *c = NULL;
    enum err rc = db_txn_begin(s->db, true, &txn);
    if (rc == ERR_OK) {
        rc = store_check_alg(s, txn);
    }
    if (rc == ERR_OK) {
        rc = db_cursor_open(txn, s->roots, &c);
    }
    struct db_val k;
    struct db_val v;
    if (rc == ERR_OK) {
        rc = db_cursor_last(c, &k, &v);
        if (rc == ERR_NOT_FOUND) { /* first use: version 0 is the empty state */
            struct hash zero;
            memset(&zero, 0, sizeof zero);
            struct node_ref none = { NODE_NONE, 0 };
            rc = root_put(s, txn, 0, &zero, none);
            if (rc == ERR_OK) {
                rc = db_cursor_last(c, &k, &v);
            }
        }
    }
    struct root_record root;
    if (rc == ERR_OK && k.size != 8) {
        rc = ERR_CORRUPT;
    }
    if (rc == ERR_OK) {
        s->version = load_be64(k.data);
        rc = root_load(s, txn, s->version, &root);
    }
    if (rc == ERR_OK) {
        rc = db_get(txn, s->meta, db_val_of(meta_floor_key, sizeof meta_floor_key - 1), &v);
        if (rc == ERR_NOT_FOUND) {
            s->floor = 0;
            rc = ERR_OK;
        } else if (rc == ERR_OK) {
            s->floor = v.size == 8 ? load_u64(v.data) : UINT64_MAX;
            rc = s->floor <= s->version ? ERR_OK : ERR_CORRUPT;
        }
    }
    db_cursor_close(c);
    if (rc == ERR_OK) {
        s->root_hash = root.hash;
        s->root = root.ref;
        rc = db_txn_commit(txn);
    } else {
        db_txn_abort(txn);
    }
    return rc;
}

enum err
state_store_open(struct db *db, const struct state_store_options *options, struct state_store **out)
{
    ASSERT(hash_alg_is_valid((unsigned)options->hash_alg));
    struct state_store *s = mem_calloc(1, sizeof *s);
    s->db = db;
    s->alg = options->hash_alg;
    s->retain = options->retain_versions;
    s->prune_budget = STATE_PRUNE_PER_COMMIT_MAX;
    s->prune_interval =
        options->prune_interval != 0 ? options->prune_interval : STATE_PRUNE_INTERVAL_DEFAULT;
    s->next_id = 1;
    s->top = node_cache_new();
    ASSERT(pthread_mutex_init(&s->pool.lock, NULL) == 0);
    enum err rc = db_table_open(db, "state_node", &s->nodes);
    if (rc == ERR_OK) {
        rc = db_table_open(db, "state_value", &s->values);
    }
    if (rc == ERR_OK) {
        rc = db_table_open(db, "state_stale", &s->stale);
    }
    if (rc == ERR_OK) {
        rc = db_table_open(db, "state_root", &s->roots);
    }
    if (rc == ERR_OK) {
        rc = db_table_open(db, "state_meta", &s->meta);
    }
    if (rc == ERR_OK) {
        rc = store_load(s);
    }
    if (rc != ERR_OK) {
        node_cache_free(s->top);
        pool_release(&s->pool);
        mem_free(s);
        return rc;
    }
    s->cache = value_cache_new(STATE_CACHE_ENTRIES, STATE_CACHE_VALUE_SIZE_MAX, s->version);
    atomic_init(&s->published, s->version);
    atomic_init(&s->published_floor, s->floor);
    *out = s;
    return ERR_OK;
}

void
state_store_close(struct state_store *s)
{
    if (s == NULL) {
        return;
    }
    value_cache_free(s->cache);
    node_cache_free(s->top);
    pool_release(&s->pool);
    mem_free(s);
}

void
state_store_cache_stats(struct state_store *s, struct value_cache_stats *out)
{
    value_cache_get_stats(s->cache, out);
}

uint64_t
state_store_version(const struct state_store *s)
{
    return s->version;
}

uint64_t
state_store_version_published(struct state_store *s)
{
    return atomic_load_explicit(&s->published, memory_order_acquire);
}

void
state_store_root(const struct state_store *s, struct hash *out)
{
    *out = s->root_hash;
}

uint64_t
state_store_version_min(const struct state_store *s)
{
    return s->floor;
}

uint64_t
state_store_version_min_published(struct state_store *s)
{
    return atomic_load_explicit(&s->published_floor, memory_order_relaxed);
}

enum err
state_store_root_at(struct state_store *s, struct db_txn *txn, uint64_t version, struct hash *out)
{
    struct root_record r;
    enum err rc = root_load(s, txn, version, &r);
    if (rc == ERR_OK) {
        *out = r.hash;
    }
    return rc;
}

/* ---- building a batch ---- */

/* One node on the walked path: steps[d] is the node at nibble depth d. */
struct step {
    uint64_t version;
    const struct node *node; /* in some batch's map, or in scratch */
    struct node *own;        /* the batch's own copy once made mutable */
};

struct build {
    struct state_batch *b;
    struct db_txn *txn;
    bool has_prev;
    struct hash prev_key; /* the previous walk's key */
    size_t step_count;
    struct step steps[NIBBLES_MAX + 1];
    struct node scratch[NIBBLES_MAX + 2]; /* [d] for the walk, [NIBBLES_MAX + 1] spare */
};

/* Node (version, path/depth) as seen by the batch: its own map, an uncommitted ancestor's
 * map, or LMDB. */
static enum err
node_lookup(struct build *w, uint64_t version, const uint8_t *path, size_t depth,
            struct node *scratch, const struct node **out)
{
    uint8_t p[HASH_SIZE];
    path_make(path, depth, p);
    const struct state_store *s = w->b->store;
    const struct state_batch *b = w->b;
    while (b != NULL && !b->committed && b->version > version) {
        b = b->parent;
    }
    if (b != NULL && !b->committed && b->version == version) {
        const struct node *n = map_find(&b->nodes, p, depth);
        ASSERT(n != NULL && n->kind != NODE_NONE);
        *out = n;
        return ERR_OK;
    }
    enum err rc = node_load_db(s, w->txn, version, p, depth, scratch);
    if (rc == ERR_OK) {
        *out = scratch;
    }
    return rc;
}

/* The length of the previous walk's path that key_hash's walk can keep: its steps at depth
 * d <= the keys' common nibbles are the nodes at the same paths, and those that are the
 * batch's own live internal nodes are still the tree's nodes there (a live node of the
 * batch's map is always in its tree; a node the last write replaced is dropped or reused at
 * its path). Writes come sorted by key hash, so consecutive keys share their top levels. */
static size_t
walk_kept(const struct build *w, const struct hash *key_hash)
{
    if (!w->has_prev) {
        return 0;
    }
    size_t common = common_nibbles(&w->prev_key, key_hash);
    size_t depth = 0;
    while (depth < w->step_count && depth <= common) {
        const struct step *st = &w->steps[depth];
        if (st->version != w->b->version || st->node->kind != NODE_INTERNAL) {
            break;
        }
        depth++;
    }
    return depth;
}

/* Fills steps with the nodes on key_hash's path, down to a leaf or an internal node whose
 * slot for the key is empty. */
static enum err
walk(struct build *w, const struct hash *key_hash)
{
    size_t kept = walk_kept(w, key_hash);
    w->has_prev = true;
    w->prev_key = *key_hash;
    w->step_count = kept;
    struct node_ref ref = w->b->root;
    if (kept > 0) {
        ref = child_ref(w->steps[kept - 1].node, nibble_at(key_hash->bytes, kept - 1));
    }
    for (size_t depth = kept; ref.kind != NODE_NONE; depth++) {
        const struct node *n = NULL;
        enum err rc = node_lookup(w, ref.version, key_hash->bytes, depth, &w->scratch[depth], &n);
        if (rc != ERR_OK) {
            return rc;
        }
        if (n->kind != ref.kind) {
            return ERR_CORRUPT;
        }
        w->steps[depth] = (struct step){ ref.version, n, NULL };
        w->step_count = depth + 1;
        if (n->kind == NODE_LEAF) {
            break;
        }
        /* depth < 64: checked by decode */
        ref = child_ref(n, nibble_at(key_hash->bytes, depth));
    }
    return ERR_OK;
}

static void
stale_node_add(struct state_batch *b, uint64_t version, const uint8_t *path, size_t depth)
{
    if (b->stale_node_count == b->stale_node_capacity) {
        b->stale_node_capacity = b->stale_node_capacity == 0 ? 256 : 2 * b->stale_node_capacity;
        b->stale_nodes =
            mem_realloc(b->stale_nodes, b->stale_node_capacity * sizeof b->stale_nodes[0]);
    }
    struct stale_node *e = &b->stale_nodes[b->stale_node_count++];
    e->version = version;
    e->depth = (uint8_t)depth;
    path_make(path, depth, e->path);
}

static void
stale_value_add(struct state_batch *b, const struct hash *key_hash, uint64_t version)
{
    if (b->stale_value_count == b->stale_value_capacity) {
        b->stale_value_capacity = b->stale_value_capacity == 0 ? 256 : 2 * b->stale_value_capacity;
        b->stale_values =
            mem_realloc(b->stale_values, b->stale_value_capacity * sizeof b->stale_values[0]);
    }
    struct stale_value *e = &b->stale_values[b->stale_value_count++];
    e->key_hash = *key_hash;
    e->version = version;
}

/* Removes node (version, path/depth) from the tree being built. */
static void
node_drop(struct state_batch *b, uint64_t version, const uint8_t *path, size_t depth)
{
    if (version == b->version) {
        uint8_t p[HASH_SIZE];
        path_make(path, depth, p);
        struct node *n = map_find(&b->nodes, p, depth);
        ASSERT(n != NULL && n->kind != NODE_NONE);
        n->kind = NODE_NONE;
    } else {
        stale_node_add(b, version, path, depth);
    }
}

static void
child_set(struct node *parent, unsigned i, uint8_t kind, uint64_t version)
{
    ASSERT(parent->kind == NODE_INTERNAL);
    uint16_t bit = (uint16_t)(1u << i);
    parent->u.in.child_mask |= bit;
    if (kind == NODE_LEAF) {
        parent->u.in.leaf_mask |= bit;
    } else {
        parent->u.in.leaf_mask &= (uint16_t)~bit;
    }
    parent->u.in.child_version[i] = version;
    memset(&parent->u.in.child_hash[i], 0, HASH_SIZE); /* set by batch_hash */
}

/* Points the parent of depth (or the root) at a new node of the batch's version. */
static void
link_new(struct build *w, const struct hash *key_hash, size_t depth, uint8_t kind)
{
    struct state_batch *b = w->b;
    if (depth == 0) {
        b->root.kind = kind;
        b->root.version = b->version;
        return;
    }
    struct node *parent = w->steps[depth - 1].own;
    ASSERT(parent != NULL);
    child_set(parent, nibble_at(key_hash->bytes, depth - 1), kind, b->version);
}

/* Makes steps[0..upto] the batch's own copies, linked to each other. */
static void
path_own(struct build *w, const struct hash *key_hash, size_t upto)
{
    struct state_batch *b = w->b;
    ASSERT(upto < w->step_count);
    for (size_t d = 0; d <= upto; d++) {
        struct step *st = &w->steps[d];
        if (st->own != NULL) {
            continue;
        }
        if (st->version == b->version) {
            st->own = map_find(&b->nodes, st->node->path, d);
        } else {
            /* st->node is another batch's or scratch: map_put_raw cannot move it */
            stale_node_add(b, st->version, st->node->path, d);
            st->own = map_put_raw(&b->nodes, st->node->path, d);
            node_copy(st->own, st->node);
        }
        ASSERT(st->own != NULL);
        st->version = b->version;
        st->node = st->own;
        link_new(w, key_hash, d, st->own->kind);
    }
}

static struct node *
leaf_new(struct state_batch *b, const struct node_leaf *leaf, size_t depth)
{
    uint8_t p[HASH_SIZE];
    path_make(leaf->key_hash.bytes, depth, p);
    struct node *n = map_put(&b->nodes, p, depth);
    n->kind = NODE_LEAF;
    n->u.leaf = *leaf;
    return n;
}

/* The key's leaf meets another key's leaf at depth: internal nodes down to where they
 * differ, then both leaves. */
static void
leaf_split(struct build *w, const struct node_leaf *fresh, size_t depth)
{
    struct state_batch *b = w->b;
    struct node_leaf old = w->steps[depth].node->u.leaf;
    if (depth > 0) {
        path_own(w, &fresh->key_hash, depth - 1);
    }
    node_drop(b, w->steps[depth].version, old.key_hash.bytes, depth);
    size_t common = common_nibbles(&fresh->key_hash, &old.key_hash);
    ASSERT(common >= depth && common < NIBBLES_MAX);
    for (size_t d = depth; d <= common; d++) {
        uint8_t p[HASH_SIZE];
        path_make(fresh->key_hash.bytes, d, p);
        struct node *m = map_put(&b->nodes, p, d);
        m->kind = NODE_INTERNAL;
        unsigned i = nibble_at(fresh->key_hash.bytes, d);
        if (d < common) {
            child_set(m, i, NODE_INTERNAL, b->version);
        } else {
            child_set(m, i, NODE_LEAF, b->version);
            child_set(m, nibble_at(old.key_hash.bytes, d), NODE_LEAF, b->version);
        }
    }
    bool old_first = memcmp(old.key_hash.bytes, fresh->key_hash.bytes, HASH_SIZE) < 0;
    leaf_new(b, old_first ? &old : fresh, common + 1); /* in key order: commit_node_tree */
    leaf_new(b, old_first ? fresh : &old, common + 1);
    link_new(w, &fresh->key_hash, depth, NODE_INTERNAL);
}

static enum err
apply_put(struct build *w, struct batch_write *wr)
{
    struct state_batch *b = w->b;
    struct node_leaf fresh = { wr->key_hash, wr->value_hash, b->version };
    enum err rc = walk(w, &wr->key_hash);
    if (rc != ERR_OK) {
        return rc;
    }
    wr->changed = true;
    if (w->step_count == 0) {
        leaf_new(b, &fresh, 0);
        link_new(w, &fresh.key_hash, 0, NODE_LEAF);
        return ERR_OK;
    }
    size_t last = w->step_count - 1;
    const struct node *n = w->steps[last].node;
    if (n->kind == NODE_INTERNAL) { /* empty slot */
        path_own(w, &fresh.key_hash, last);
        leaf_new(b, &fresh, last + 1);
        link_new(w, &fresh.key_hash, last + 1, NODE_LEAF);
        return ERR_OK;
    }
    if (!hash_equal(&n->u.leaf.key_hash, &fresh.key_hash)) {
        leaf_split(w, &fresh, last);
        return ERR_OK;
    }
    if (hash_equal(&n->u.leaf.value_hash, &fresh.value_hash)) {
        wr->changed = false; /* same value: nothing to do */
        return ERR_OK;
    }
    stale_value_add(b, &fresh.key_hash, n->u.leaf.value_version);
    path_own(w, &fresh.key_hash, last);
    w->steps[last].own->u.leaf = fresh;
    return ERR_OK;
}

/* After a delete below steps[depth]: an internal node left with a single leaf child is
 * replaced by that leaf, up the path as long as this repeats. */
static enum err
collapse(struct build *w, const struct hash *key_hash, size_t depth)
{
    struct state_batch *b = w->b;
    for (size_t d = depth + 1; d-- > 0;) {
        struct node *m = w->steps[d].own;
        ASSERT(m != NULL && m->kind == NODE_INTERNAL);
        uint16_t mask = m->u.in.child_mask;
        ASSERT(mask != 0);
        if ((mask & (mask - 1)) != 0 || m->u.in.leaf_mask != mask) {
            return ERR_OK;
        }
        unsigned i = (unsigned)__builtin_ctz(mask);
        uint64_t child_version = m->u.in.child_version[i];
        uint8_t child_path[HASH_SIZE];
        memcpy(child_path, m->path, HASH_SIZE);
        child_path[d / 2] = (uint8_t)(child_path[d / 2] | (d % 2 == 0 ? i << 4 : i));
        const struct node *child = NULL;
        enum err rc =
            node_lookup(w, child_version, child_path, d + 1, &w->scratch[NIBBLES_MAX + 1], &child);
        if (rc != ERR_OK) {
            return rc;
        }
        if (child->kind != NODE_LEAF) {
            return ERR_CORRUPT;
        }
        struct node_leaf moved = child->u.leaf;
        node_drop(b, child_version, child_path, d + 1);
        m->kind = NODE_NONE; /* its stale record was made by path_own */
        leaf_new(b, &moved, d);
        link_new(w, key_hash, d, NODE_LEAF);
    }
    return ERR_OK;
}

static enum err
apply_delete(struct build *w, struct batch_write *wr)
{
    struct state_batch *b = w->b;
    const struct hash *key_hash = &wr->key_hash;
    enum err rc = walk(w, key_hash);
    if (rc != ERR_OK || w->step_count == 0) {
        return rc;
    }
    size_t last = w->step_count - 1;
    const struct node *n = w->steps[last].node;
    if (n->kind != NODE_LEAF || !hash_equal(&n->u.leaf.key_hash, key_hash)) {
        return ERR_OK; /* absent: nothing to do */
    }
    wr->changed = true;
    stale_value_add(b, key_hash, n->u.leaf.value_version);
    if (last == 0) {
        node_drop(b, w->steps[0].version, key_hash->bytes, 0);
        b->root.kind = NODE_NONE;
        b->root.version = 0;
        return ERR_OK;
    }
    path_own(w, key_hash, last - 1);
    node_drop(b, w->steps[last].version, key_hash->bytes, last);
    struct node *parent = w->steps[last - 1].own;
    uint16_t bit = (uint16_t)(1u << nibble_at(key_hash->bytes, last - 1));
    parent->u.in.child_mask &= (uint16_t)~bit;
    parent->u.in.leaf_mask &= (uint16_t)~bit;
    return collapse(w, key_hash, last - 1);
}

/* Hashes one of the batch's nodes (its children are done) into its parent's slot. */
static void
node_hash_up(struct state_batch *b, struct node *n)
{
    struct subtrees t;
    if (n->kind == NODE_LEAF) {
        state_leaf_hash(b->store->alg, &n->u.leaf.key_hash, &n->u.leaf.value_hash, &n->hash);
    } else {
        struct subtrees *memo = NULL;
        if (n->depth <= NODE_CACHE_DEPTH) {
            memo = &b->store->top->memo[node_cache_slot(n->path, n->depth)];
        }
        subtrees_compute(b->store->alg, n, &t, memo);
        if (memo != NULL) {
            *memo = t;
        }
        ASSERT(t.kind[1] == RANGE_TREE);
        n->hash = t.hash[1];
    }
    if (n->depth == 0) {
        ASSERT(b->root.kind == n->kind && b->root.version == b->version);
        b->root_hash = n->hash;
        return;
    }
    uint8_t p[HASH_SIZE];
    path_make(n->path, n->depth - 1u, p);
    struct node *parent = map_find(&b->nodes, p, n->depth - 1u);
    ASSERT(parent != NULL && parent->kind == NODE_INTERNAL);
    unsigned i = nibble_at(n->path, n->depth - 1u);
    ASSERT((parent->u.in.child_mask & (1u << i)) != 0);
    ASSERT(parent->u.in.child_version[i] == b->version);
    parent->u.in.child_hash[i] = n->hash;
}

/* Hashes the batch's nodes deepest first (a counting sort by depth), each into its parent's
 * slot, the top into the root. */
static void
batch_hash(struct state_batch *b)
{
    const struct node_map *m = &b->nodes;
    size_t starts[NIBBLES_MAX + 2] = { 0 };
    for (size_t i = 0; i < m->count; i++) {
        const struct node *n = map_at(m, i);
        starts[n->depth + 1] += n->kind != NODE_NONE ? 1 : 0;
    }
    for (size_t d = 1; d < NIBBLES_MAX + 2; d++) {
        starts[d] += starts[d - 1];
    }
    size_t live = starts[NIBBLES_MAX + 1];
    size_t top = starts[NODE_CACHE_DEPTH + 1]; /* order starts with them */
    uint32_t *order = mem_alloc((live + 1) * sizeof order[0]);
    for (size_t i = 0; i < m->count; i++) {
        const struct node *n = map_at(m, i);
        if (n->kind != NODE_NONE) {
            order[starts[n->depth]++] = (uint32_t)i;
        }
    }
    struct node_cache *c = b->store->top;
    ASSERT(pthread_mutex_lock(&c->memo_lock) == 0);
    for (size_t k = live; k-- > 0;) {
        node_hash_up(b, map_at(m, order[k]));
    }
    ASSERT(pthread_mutex_unlock(&c->memo_lock) == 0);
    /* kept for state_store_committed, which caches them without a pass over every node */
    mem_free(b->top_nodes);
    b->top_nodes = mem_realloc(order, (top + 1) * sizeof order[0]);
    b->top_node_count = top;
    b->live_node_count = live;
    if (b->root.kind == NODE_NONE) {
        memset(&b->root_hash, 0, sizeof b->root_hash);
    }
}

static int
write_compare(const void *a, const void *b)
{
    const struct batch_write *x = a;
    const struct batch_write *y = b;
    return memcmp(x->key_hash.bytes, y->key_hash.bytes, HASH_SIZE);
}

/* Checks sizes, copies keys and values, hashes and sorts them. */
static enum err
batch_copy_writes(struct state_batch *b, const struct state_write *writes, size_t count)
{
    if (count > STATE_BATCH_WRITES_MAX) {
        return ERR_TOO_LARGE;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < count; i++) {
        const struct state_write *w = &writes[i];
        if (w->key_size > STATE_KEY_SIZE_MAX ||
            (w->value != NULL && w->value_size > STATE_VALUE_SIZE_MAX)) {
            return ERR_TOO_LARGE;
        }
        total += w->key_size + (w->value != NULL ? w->value_size : 0);
    }
    if (total > STATE_BATCH_BYTES_MAX) {
        return ERR_TOO_LARGE;
    }
    b->writes = mem_calloc(count + 1, sizeof b->writes[0]);
    b->bytes = mem_alloc((size_t)total + 1);
    b->write_count = count;
    size_t pos = 0;
    enum hash_alg alg = b->store->alg;
    for (size_t i = 0; i < count; i++) {
        const struct state_write *src = &writes[i];
        struct batch_write *dst = &b->writes[i];
        if (src->key_size > 0) {
            memcpy(b->bytes + pos, src->key, src->key_size);
        }
        dst->key = b->bytes + pos;
        dst->key_size = src->key_size;
        pos += src->key_size;
        hash_bytes(alg, dst->key, dst->key_size, &dst->key_hash);
        if (src->value != NULL) {
            if (src->value_size > 0) {
                memcpy(b->bytes + pos, src->value, src->value_size);
            }
            dst->value = b->bytes + pos;
            dst->value_size = src->value_size;
            pos += src->value_size;
            hash_bytes(alg, dst->value, dst->value_size, &dst->value_hash);
        }
    }
    qsort(b->writes, count, sizeof b->writes[0], write_compare);
    for (size_t i = 1; i < count; i++) {
        if (hash_equal(&b->writes[i - 1].key_hash, &b->writes[i].key_hash)) {
            return ERR_INVALID_ARG;
        }
    }
    return ERR_OK;
}

static void
batch_release(struct state_batch *b)
{
    map_release(&b->nodes);
    mem_free(b->writes);
    mem_free(b->bytes);
    mem_free(b->stale_nodes);
    mem_free(b->stale_values);
    mem_free(b->top_nodes);
    b->top_nodes = NULL;
    b->top_node_count = 0;
    b->writes = NULL;
    b->bytes = NULL;
    b->stale_nodes = NULL;
    b->stale_values = NULL;
    b->write_count = 0;
    b->stale_node_count = 0;
    b->stale_value_count = 0;
    b->stale_node_capacity = 0;
    b->stale_value_capacity = 0;
}

static enum err
batch_build(struct state_batch *b)
{
    struct build *w = mem_alloc(sizeof *w);
    w->b = b;
    w->step_count = 0;
    w->has_prev = false;
    w->txn = NULL;
    /* ~3 nodes per write (a leaf, its parent and a share of the levels above): sized once
     * instead of growing through every power of two */
    if (b->write_count > 0 && b->write_count <= STATE_BATCH_WRITES_MAX) {
        map_grow(&b->nodes, 6 * b->write_count);
    }
    /* An empty batch (a query's view of the committed state) reads nothing here. */
    enum err rc = b->write_count > 0 ? db_txn_begin(b->store->db, false, &w->txn) : ERR_OK;
    for (size_t i = 0; rc == ERR_OK && i < b->write_count; i++) {
        struct batch_write *wr = &b->writes[i];
        rc = wr->value != NULL ? apply_put(w, wr) : apply_delete(w, wr);
    }
    db_txn_abort(w->txn);
    if (rc == ERR_OK) {
        batch_hash(b);
    }
    mem_free(w);
    return rc;
}

enum err
state_batch_new(struct state_store *s, struct state_batch *parent, uint64_t version,
                const struct state_write *writes, size_t count, struct state_batch **out)
{
    uint64_t base = parent != NULL ? parent->version : s->version;
    if (version != base + 1) {
        return ERR_INVALID_ARG;
    }
    struct state_batch *b = mem_calloc(1, sizeof *b);
    b->store = s;
    b->nodes.pool = &s->pool;
    b->refs = 1;
    b->id = s->next_id++;
    b->version = version;
    if (parent != NULL) {
        ASSERT(parent->store == s && parent->refs > 0);
        parent->refs++;
        b->parent = parent;
        b->base_id = parent->id;
        b->base_version = parent->base_version;
        b->base_root = parent->base_root;
        b->root = parent->root;
        b->root_hash = parent->root_hash;
    } else {
        b->base_id = s->committed_id;
        b->base_version = s->version;
        b->base_root = s->root;
        b->root = s->root;
        b->root_hash = s->root_hash;
    }
    enum err rc = batch_copy_writes(b, writes, count);
    if (rc == ERR_OK) {
        rc = batch_build(b);
    }
    if (rc != ERR_OK) {
        state_batch_free(b);
        return rc;
    }
    *out = b;
    return ERR_OK;
}

void
state_batch_root(const struct state_batch *b, struct hash *out)
{
    *out = b->root_hash;
}

uint64_t
state_batch_version(const struct state_batch *b)
{
    return b->version;
}

static const struct batch_write *
batch_find(const struct state_batch *b, const struct hash *key_hash)
{
    size_t lo = 0;
    size_t hi = b->write_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(b->writes[mid].key_hash.bytes, key_hash->bytes, HASH_SIZE);
        if (c == 0) {
            return &b->writes[mid];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* The value of key_hash at a committed version: from the cache if it holds that version, else
 * from LMDB (txn, or an own read txn if NULL), then cached. root: the version's root if the
 * caller knows it, or NULL (value_load). */
static enum err
cached_load(struct state_store *s, struct db_txn *txn, const struct hash *key_hash,
            uint64_t version, const struct node_ref *root, struct buf *out_value)
{
    enum err rc = value_cache_get(s->cache, version, key_hash, out_value);
    if (rc != ERR_AGAIN) {
        return rc;
    }
    struct db_txn *own = NULL;
    size_t before = out_value->size;
    rc = txn != NULL ? ERR_OK : db_txn_begin(s->db, false, &own);
    if (rc == ERR_OK) {
        rc = value_load(s, txn != NULL ? txn : own, key_hash, version, root, out_value);
        db_txn_abort(own);
    }
    if (rc == ERR_OK || rc == ERR_NOT_FOUND) {
        value_cache_put(s->cache, version, key_hash, rc == ERR_OK ? out_value->data + before : NULL,
                        out_value->size - before);
    }
    return rc;
}

enum err
state_batch_get(const struct state_batch *b, const uint8_t *key, size_t key_size,
                struct buf *out_value)
{
    struct state_store *s = b->store;
    struct hash key_hash;
    hash_bytes(s->alg, key, key_size, &key_hash);
    uint64_t version = b->base_version;
    struct node_ref root = b->base_root;
    for (const struct state_batch *p = b; p != NULL; p = p->parent) {
        if (p->committed) {
            version = p->version;
            root = p->root;
            break;
        }
        const struct batch_write *w = batch_find(p, &key_hash);
        if (w != NULL) {
            return w->value == NULL ? ERR_NOT_FOUND
                                    : buf_append(out_value, w->value, w->value_size);
        }
    }
    return cached_load(s, NULL, &key_hash, version, &root, out_value);
}

void
state_batch_free(struct state_batch *b)
{
    while (b != NULL) {
        ASSERT(b->refs > 0);
        if (--b->refs > 0) {
            return;
        }
        struct state_batch *parent = b->parent;
        batch_release(b);
        mem_free(b);
        b = parent;
    }
}

/* ---- commit and pruning ---- */

static enum err
node_put(const struct state_store *s, struct db_txn *txn, uint64_t version, const struct node *n)
{
    uint8_t key[NODE_KEY_SIZE];
    uint8_t value[NODE_VALUE_MAX];
    size_t key_size = node_key_encode(version, n->path, n->depth, key);
    size_t value_size = node_encode(n, value);
    return db_append(txn, s->nodes, db_val_of(key, key_size), db_val_of(value, value_size));
}

/* Writes the batch's live nodes in the order the build created them, which is their key order
 * (version, then nibbles: depth first, children in nibble order) but for rare exceptions:
 * writes are applied in key-hash order and each owns its path top-down, so a node is created
 * after every node whose key is smaller; a node put again at the same path (a split leaf, a
 * collapse) takes the entry, and so the place, of the one it replaces. Each node in order
 * appends at the table's end; one out of order is a plain put (db_append). No map lookups. */
static enum err
commit_node_tree(const struct state_store *s, struct db_txn *txn, const struct state_batch *b)
{
    if (b->root.kind == NODE_NONE || b->root.version != b->version) {
        ASSERT(b->live_node_count == 0);
        return ERR_OK;
    }
    enum err rc = ERR_OK;
    size_t written = 0;
    for (size_t i = 0; rc == ERR_OK && i < b->nodes.count; i++) {
        const struct node *n = map_at(&b->nodes, i);
        if (n->kind != NODE_NONE) {
            rc = node_put(s, txn, b->version, n);
            written++;
        }
    }
    ASSERT(rc != ERR_OK || written == b->live_node_count);
    return rc;
}

/* One stale record's key (state_stale), encoded for sorting. */
struct stale_key {
    uint8_t size;
    uint8_t key[STALE_KEY_MAX];
};

static int
stale_key_compare(const void *a, const void *b)
{
    const struct stale_key *x = a;
    const struct stale_key *y = b;
    int c = memcmp(x->key, y->key, x->size < y->size ? x->size : y->size);
    if (c != 0) {
        return c;
    }
    return x->size == y->size ? 0 : (x->size < y->size ? -1 : 1);
}

/* Writes the batch's stale records (nodes, then values) in key order: they all start with the
 * batch's version, above every older record, so each one appends at the table's end instead
 * of a B-tree search and insert per record. */
static enum err
commit_stale(const struct state_store *s, struct db_txn *txn, const struct state_batch *b)
{
    size_t count = b->stale_node_count + b->stale_value_count;
    if (count == 0) {
        return ERR_OK;
    }
    struct stale_key *keys = mem_alloc(count * sizeof keys[0]);
    for (size_t i = 0; i < b->stale_node_count; i++) {
        const struct stale_node *e = &b->stale_nodes[i];
        struct stale_key *k = &keys[i];
        store_be64(k->key, b->version);
        k->key[8] = STALE_NODE;
        k->size = (uint8_t)(9 + node_key_encode(e->version, e->path, e->depth, k->key + 9));
    }
    for (size_t i = 0; i < b->stale_value_count; i++) {
        const struct stale_value *e = &b->stale_values[i];
        struct stale_key *k = &keys[b->stale_node_count + i];
        store_be64(k->key, b->version);
        k->key[8] = STALE_VALUE;
        k->size = (uint8_t)(9 + value_key_encode(&e->key_hash, e->version, k->key + 9));
    }
    qsort(keys, count, sizeof keys[0], stale_key_compare);
    enum err rc = ERR_OK;
    for (size_t i = 0; rc == ERR_OK && i < count; i++) {
        rc = db_append(txn, s->stale, db_val_of(keys[i].key, keys[i].size), db_val_of(NULL, 0));
    }
    mem_free(keys);
    return rc;
}

static enum err
commit_values(const struct state_store *s, struct db_txn *txn, const struct state_batch *b)
{
    enum err rc = ERR_OK;
    for (size_t i = 0; rc == ERR_OK && i < b->write_count; i++) {
        const struct batch_write *w = &b->writes[i];
        if (w->changed && w->value != NULL) {
            uint8_t key[VALUE_KEY_SIZE];
            value_key_encode(&w->key_hash, b->version, key);
            /* writes are sorted by key hash: each value appends at the table's end */
            rc = db_append(txn, s->values, db_val_of(key, sizeof key),
                           db_val_of(w->value, w->value_size));
        }
    }
    return rc;
}

/* A record to delete, taken from a stale entry. */
struct prune_target {
    uint8_t kind; /* STALE_NODE or STALE_VALUE */
    uint8_t size;
    uint8_t key[NODE_KEY_SIZE];
};

_Static_assert(NODE_KEY_SIZE >= VALUE_KEY_SIZE, "a prune target holds either key");

static int
prune_target_compare(const void *a, const void *b)
{
    const struct prune_target *x = a;
    const struct prune_target *y = b;
    if (x->kind != y->kind) {
        return x->kind < y->kind ? -1 : 1;
    }
    int c = memcmp(x->key, y->key, x->size < y->size ? x->size : y->size);
    if (c != 0) {
        return c;
    }
    return x->size == y->size ? 0 : (x->size < y->size ? -1 : 1);
}

struct prune_set {
    struct prune_target *items;
    size_t count;
    size_t capacity;
};

static enum err
prune_set_add(struct prune_set *set, struct db_val stale_key)
{
    if (stale_key.size < 9 || stale_key.size - 9 > NODE_KEY_SIZE ||
        (stale_key.data[8] != STALE_NODE &&
         (stale_key.data[8] != STALE_VALUE || stale_key.size - 9 != VALUE_KEY_SIZE))) {
        return ERR_CORRUPT;
    }
    if (set->count == set->capacity) {
        set->capacity = set->capacity == 0 ? 4096 : 2 * set->capacity;
        set->items = mem_realloc(set->items, set->capacity * sizeof set->items[0]);
    }
    struct prune_target *t = &set->items[set->count++];
    t->kind = stale_key.data[8];
    t->size = (uint8_t)(stale_key.size - 9);
    memcpy(t->key, stale_key.data + 9, t->size);
    return ERR_OK;
}

/* Deletes the records in key order through one cursor per table: LMDB finds a key on the
 * cursor's current leaf page without a descent from the root, and sorted neighbours mostly
 * share a page (a fresh mdb_del per record searched from the root each time). */
static enum err
prune_set_apply(const struct state_store *s, struct db_txn *txn, struct prune_set *set)
{
    if (set->count == 0) {
        return ERR_OK;
    }
    qsort(set->items, set->count, sizeof set->items[0], prune_target_compare);
    enum err rc = ERR_OK;
    struct db_cursor *c = NULL;
    uint8_t open_kind = STALE_VALUE + 1;
    for (size_t i = 0; rc == ERR_OK && i < set->count; i++) {
        const struct prune_target *t = &set->items[i];
        if (t->kind != open_kind) { /* nodes sort before values */
            if (c != NULL) {
                db_cursor_close(c);
                c = NULL;
            }
            rc = db_cursor_open(txn, t->kind == STALE_NODE ? s->nodes : s->values, &c);
            open_kind = t->kind;
        }
        struct db_val k;
        struct db_val v;
        if (rc == ERR_OK) {
            rc = db_cursor_seek(c, db_val_of(t->key, t->size), &k, &v);
        }
        if (rc == ERR_OK && (k.size != t->size || memcmp(k.data, t->key, t->size) != 0)) {
            rc = ERR_NOT_FOUND;
        }
        if (rc == ERR_OK) {
            rc = db_cursor_del(c);
        }
        if (rc == ERR_NOT_FOUND) {
            rc = ERR_CORRUPT; /* a stale entry names a record that must exist */
        }
    }
    if (c != NULL) {
        db_cursor_close(c);
    }
    return rc;
}

/* Deletes stale records with since <= target (at most the per-commit budget); returns in
 * *out_floor the oldest version left intact. */
static enum err
prune_stale(const struct state_store *s, struct db_txn *txn, uint64_t target, uint64_t *out_floor)
{
    struct db_cursor *c = NULL;
    enum err rc = db_cursor_open(txn, s->stale, &c);
    if (rc != ERR_OK) {
        return rc;
    }
    uint8_t first[8] = { 0 };
    struct db_val k;
    struct db_val v;
    uint64_t floor = target;
    struct prune_set set = { NULL, 0, 0 };
    rc = db_cursor_seek(c, db_val_of(first, sizeof first), &k, &v);
    while (rc == ERR_OK) {
        uint64_t since = k.size >= 8 ? load_be64(k.data) : 0;
        if (since > target) {
            break;
        }
        if (set.count == s->prune_budget) {
            floor = since; /* versions >= since are still whole */
            break;
        }
        rc = prune_set_add(&set, k);
        if (rc == ERR_OK) {
            rc = db_cursor_del(c);
        }
        if (rc == ERR_OK) {
            rc = db_cursor_next(c, &k, &v);
        }
    }
    db_cursor_close(c);
    if (rc == ERR_NOT_FOUND) {
        rc = ERR_OK;
    }
    if (rc == ERR_OK) {
        rc = prune_set_apply(s, txn, &set);
    }
    mem_free(set.items);
    if (rc == ERR_OK) {
        *out_floor = floor;
    }
    return rc;
}

/* Deletes root records below floor (bounded); returns the oldest version still recorded. */
static enum err
prune_roots(const struct state_store *s, struct db_txn *txn, uint64_t floor, uint64_t *out_floor)
{
    struct db_cursor *c = NULL;
    enum err rc = db_cursor_open(txn, s->roots, &c);
    if (rc != ERR_OK) {
        return rc;
    }
    uint8_t first[8] = { 0 };
    struct db_val k;
    struct db_val v;
    size_t budget = s->prune_budget;
    rc = db_cursor_seek(c, db_val_of(first, sizeof first), &k, &v);
    while (rc == ERR_OK && k.size == 8 && load_be64(k.data) < floor) {
        if (budget-- == 0) {
            floor = load_be64(k.data);
            break;
        }
        rc = db_cursor_del(c);
        if (rc == ERR_OK) {
            rc = db_cursor_next(c, &k, &v);
        }
    }
    db_cursor_close(c);
    if (rc == ERR_NOT_FOUND) {
        rc = ERR_OK;
    }
    if (rc == ERR_OK) {
        *out_floor = floor;
    }
    return rc;
}

static enum err
prune(struct state_store *s, struct db_txn *txn, uint64_t version)
{
    s->pending_floor = s->floor;
    if (s->retain == 0 || version + 1 <= s->retain) {
        return ERR_OK;
    }
    uint64_t target = version + 1 - s->retain;
    if (target < s->floor + s->prune_interval) {
        return ERR_OK; /* prune in steps: cheaper in LMDB than a little every commit */
    }
    uint64_t floor = s->floor;
    enum err rc = prune_stale(s, txn, target, &floor);
    if (rc == ERR_OK) {
        rc = prune_roots(s, txn, floor, &floor);
    }
    if (rc == ERR_OK && floor != s->floor) {
        uint8_t value[8];
        store_u64(value, floor);
        rc = db_put(txn, s->meta, db_val_of(meta_floor_key, sizeof meta_floor_key - 1),
                    db_val_of(value, sizeof value));
    }
    if (rc == ERR_OK) {
        s->pending_floor = floor;
    }
    return rc;
}

enum err
state_store_commit(struct state_store *s, struct db_txn *txn, const struct state_batch *b)
{
    ASSERT(b->store == s);
    if (b->committed || b->base_id != s->committed_id || b->version != s->version + 1) {
        return ERR_STALE;
    }
    enum err rc = commit_node_tree(s, txn, b);
    if (rc == ERR_OK) {
        rc = commit_values(s, txn, b);
    }
    if (rc == ERR_OK && s->retain != 0) {
        /* a store that keeps every version never prunes: its stale index would only be
         * written (~10 % of a full block's bytes) */
        rc = commit_stale(s, txn, b);
    }
    if (rc == ERR_OK) {
        rc = root_put(s, txn, b->version, &b->root_hash, b->root);
    }
    if (rc == ERR_OK) {
        rc = prune(s, txn, b->version);
    }
    return rc;
}

void
state_store_committed(struct state_store *s, struct state_batch *b)
{
    ASSERT(b->store == s && !b->committed);
    ASSERT(b->base_id == s->committed_id && b->version == s->version + 1);
    struct value_cache_change *changes = mem_calloc(b->write_count + 1, sizeof *changes);
    size_t n = 0;
    for (size_t i = 0; i < b->write_count; i++) {
        const struct batch_write *w = &b->writes[i];
        if (w->changed) {
            changes[n++] = (struct value_cache_change){ &w->key_hash, w->value, w->value_size };
        }
    }
    value_cache_advance(s->cache, b->version, changes, n);
    mem_free(changes);
    for (size_t i = 0; i < b->top_node_count; i++) {
        node_cache_put(s->top, b->version, map_at(&b->nodes, b->top_nodes[i]));
    }
    node_cache_put_batch_deep(s->top, b);
    s->version = b->version;
    s->root_hash = b->root_hash;
    s->root = b->root;
    s->floor = s->pending_floor;
    s->committed_id = b->id;
    atomic_store_explicit(&s->published, s->version, memory_order_release);
    atomic_store_explicit(&s->published_floor, s->floor, memory_order_relaxed);
    b->committed = true;
    batch_release(b);
    struct state_batch *parent = b->parent;
    b->parent = NULL;
    state_batch_free(parent);
}

/* ---- reads ---- */

enum err
state_store_get(struct state_store *s, struct db_txn *txn, uint64_t version, const uint8_t *key,
                size_t key_size, struct buf *out_value)
{
    struct hash key_hash;
    hash_bytes(s->alg, key, key_size, &key_hash);
    return cached_load(s, txn, &key_hash, version, NULL, out_value);
}

/* The single leaf child in heap range x of node n (RANGE_LEAF). */
static unsigned
range_leaf_child(const struct node *n, unsigned x)
{
    unsigned level = 31u - (unsigned)__builtin_clz(x); /* 0..4 */
    unsigned width = 16u >> level;
    unsigned first = (x - (1u << level)) * width;
    for (unsigned i = first; i < first + width; i++) {
        if ((n->u.in.child_mask & (1u << i)) != 0) {
            return i;
        }
    }
    UNREACHABLE();
}

/* Collects the siblings inside internal node n on the path of nibble nib; returns the child
 * slot where the path continues (a leaf or internal child), or 16 at an empty range. */
static unsigned
prove_node(enum hash_alg alg, const struct node *n, unsigned nib, struct state_proof *p)
{
    struct subtrees t;
    subtrees_compute(alg, n, &t, NULL);
    ASSERT(p->sibling_count + 4 <= STATE_PROOF_DEPTH_MAX);
    size_t x = 1;
    for (unsigned level = 0; level < 4 && t.kind[x] == RANGE_TREE; level++) {
        unsigned bit = (nib >> (3 - level)) & 1u;
        p->siblings[p->sibling_count++] = t.hash[2 * x + (1 - bit)];
        x = 2 * x + bit;
    }
    if (t.kind[x] == RANGE_EMPTY) {
        return 16;
    }
    return t.kind[x] == RANGE_LEAF ? range_leaf_child(n, (unsigned)x) : nib;
}

/* Walks key_hash's path at ref, collecting siblings top-down; ends at a leaf (left in *n,
 * its hashes in p) or an empty subtree. */
static enum err
prove_walk(const struct state_store *s, struct db_txn *txn, struct node_ref ref,
           const struct hash *key_hash, struct state_proof *p, struct node *n)
{
    uint8_t path[HASH_SIZE]; /* the key's path, or another key's leaf at the end */
    memcpy(path, key_hash->bytes, HASH_SIZE);
    for (size_t depth = 0; ref.kind != NODE_NONE; depth++) {
        enum err rc = node_load_db(s, txn, ref.version, path, depth, n);
        if (rc == ERR_OK && n->kind != ref.kind) {
            rc = ERR_CORRUPT;
        }
        if (rc != ERR_OK) {
            return rc;
        }
        if (n->kind == NODE_LEAF) {
            p->has_leaf = true;
            p->leaf_key_hash = n->u.leaf.key_hash;
            p->leaf_value_hash = n->u.leaf.value_hash;
            return ERR_OK;
        }
        unsigned i = prove_node(s->alg, n, nibble_at(path, depth), p);
        if (i == 16) {
            return ERR_OK;
        }
        ref.kind = (n->u.in.leaf_mask & (1u << i)) != 0 ? NODE_LEAF : NODE_INTERNAL;
        ref.version = n->u.in.child_version[i];
        path[depth / 2] = depth % 2 == 0 ? (uint8_t)((path[depth / 2] & 0x0f) | (i << 4))
                                         : (uint8_t)((path[depth / 2] & 0xf0) | i);
    }
    return ERR_OK;
}

static void
proof_reverse(struct state_proof *p)
{
    for (size_t i = 0; i < p->sibling_count / 2; i++) {
        struct hash tmp = p->siblings[i];
        p->siblings[i] = p->siblings[p->sibling_count - 1 - i];
        p->siblings[p->sibling_count - 1 - i] = tmp;
    }
}

/* The read's inputs and its three results: clearer as parameters than packed in a struct. */
enum err
// NOLINTNEXTLINE(readability-function-size)
state_store_prove(struct state_store *s, struct db_txn *txn, uint64_t version, const uint8_t *key,
                  size_t key_size, struct buf *out_value, bool *out_found,
                  struct state_proof *out_proof)
{
    struct root_record root;
    enum err rc = root_load(s, txn, version, &root);
    if (rc != ERR_OK) {
        return rc;
    }
    struct hash key_hash;
    hash_bytes(s->alg, key, key_size, &key_hash);
    struct state_proof *p = mem_alloc(sizeof *p);
    struct node *n = mem_alloc(sizeof *n);
    memset(p, 0, offsetof(struct state_proof, siblings));
    rc = prove_walk(s, txn, root.ref, &key_hash, p, n);
    bool found = rc == ERR_OK && p->has_leaf && hash_equal(&p->leaf_key_hash, &key_hash);
    size_t value_start = out_value->size;
    if (found) {
        rc = value_get_db(s, txn, &n->u.leaf, out_value);
    }
    if (found && rc == ERR_OK) {
        struct hash value_hash;
        hash_bytes(s->alg, out_value->data + value_start, out_value->size - value_start,
                   &value_hash);
        rc = hash_equal(&value_hash, &p->leaf_value_hash) ? ERR_OK : ERR_CORRUPT;
    }
    if (rc == ERR_OK) {
        proof_reverse(p); /* collected top-down; proofs list them bottom-up */
        memcpy(out_proof, p,
               offsetof(struct state_proof, siblings) + p->sibling_count * sizeof p->siblings[0]);
        *out_found = found;
    } else {
        out_value->size = value_start;
    }
    mem_free(n);
    mem_free(p);
    return rc;
}
