/* Unit tests of crypto/merkle: the RFC 6962 reference vectors (Certificate Transparency's
 * test data, SHA-256), small trees of both hashes worked out by hand with hash_two, and
 * property tests over many tree sizes: every leaf's proof verifies, and changing the leaf, a
 * path element, the index or the size makes it fail. */
#include <string.h>

#include "base/mem.h"
#include "base/text.h"
#include "crypto/hash.h"
#include "crypto/merkle.h"
#include "crypto/merkle_internal.h"
#include "unit.h"

static const enum hash_alg algs[] = { HASH_SHA256, HASH_SM3 };

#define HASH_BITS ((size_t)8 * HASH_SIZE)

static struct hash
from_hex(const char *text)
{
    struct hash h;
    assert_int_equal(hash_from_hex(text, &h), ERR_OK);
    return h;
}

/* Independent of merkle.c: the hashes spelled out with hash_two. */
static struct hash
by_hand_leaf(enum hash_alg alg, const struct hash *data)
{
    struct hash out;
    hash_two(alg, "\x00", 1, data->bytes, HASH_SIZE, &out);
    return out;
}

static struct hash
by_hand_node(enum hash_alg alg, struct hash left, struct hash right)
{
    uint8_t both[2 * HASH_SIZE];
    memcpy(both, left.bytes, HASH_SIZE);
    memcpy(both + HASH_SIZE, right.bytes, HASH_SIZE);
    struct hash out;
    hash_two(alg, "\x01", 1, both, sizeof both, &out);
    return out;
}

static struct hash *
make_leaves(size_t count, uint32_t seed)
{
    struct hash *leaves = mem_calloc(count == 0 ? 1 : count, sizeof *leaves);
    for (size_t i = 0; i < count; i++) {
        uint8_t input[12];
        memcpy(input, &seed, 4);
        uint64_t i64 = i;
        memcpy(input + 4, &i64, 8);
        hash_bytes(HASH_SHA256, input, sizeof input, &leaves[i]);
    }
    return leaves;
}

/* CT's reference leaves ("", 00, 10, 2021, ...) and roots for sizes 0..8, from the
 * certificate-transparency test data (also recomputed with a recursive Python MTH). */
static const char *const ct_leaf_hex[] = {
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
};
static const char *const ct_roots[] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

struct ct_inclusion {
    size_t index;
    size_t size;
    size_t path_count;
    const char *path[3];
};

static const struct ct_inclusion ct_inclusions[] = {
    { 0,
      8,
      3,
      { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
    { 5,
      8,
      3,
      { "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
    { 2, 3, 1, { "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125" } },
    { 1,
      5,
      3,
      { "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
};

static void
test_rfc6962_vectors(void **state)
{
    (void)state;
    struct hash leaf_hashes[8];
    for (size_t i = 0; i < 8; i++) {
        uint8_t data[16];
        size_t size = 0;
        assert_int_equal(
            hex_decode(ct_leaf_hex[i], strlen(ct_leaf_hex[i]), data, sizeof data, &size), ERR_OK);
        hash_two(HASH_SHA256, "\x00", 1, data, size, &leaf_hashes[i]);
    }
    for (size_t n = 0; n <= 8; n++) {
        struct hash root;
        merkle_root_of_leaf_hashes(HASH_SHA256, n == 0 ? NULL : leaf_hashes, n, &root);
        struct hash want = from_hex(ct_roots[n]);
        assert_memory_equal(root.bytes, want.bytes, HASH_SIZE);
    }
    for (size_t v = 0; v < sizeof ct_inclusions / sizeof ct_inclusions[0]; v++) {
        const struct ct_inclusion *c = &ct_inclusions[v];
        struct merkle_proof proof;
        assert_int_equal(
            merkle_prove_of_leaf_hashes(HASH_SHA256, leaf_hashes, c->size, c->index, &proof),
            ERR_OK);
        assert_int_equal(proof.index, c->index);
        assert_int_equal(proof.tree_size, c->size);
        assert_int_equal(proof.path_count, c->path_count);
        for (size_t j = 0; j < c->path_count; j++) {
            struct hash want = from_hex(c->path[j]);
            assert_memory_equal(proof.path[j].bytes, want.bytes, HASH_SIZE);
        }
        struct hash root;
        assert_int_equal(
            merkle_proof_root_of_leaf_hash(HASH_SHA256, &leaf_hashes[c->index], &proof, &root),
            ERR_OK);
        struct hash want = from_hex(ct_roots[c->size]);
        assert_memory_equal(root.bytes, want.bytes, HASH_SIZE);
    }
}

/* Trees of 0..7 leaves written out by hand, for both hashes. */
static void
test_small_trees_by_hand(void **state)
{
    (void)state;
    for (size_t a = 0; a < 2; a++) {
        enum hash_alg alg = algs[a];
        struct hash *d = make_leaves(7, 1);
        struct hash l[7];
        for (size_t i = 0; i < 7; i++) {
            l[i] = by_hand_leaf(alg, &d[i]);
        }
        struct hash n01 = by_hand_node(alg, l[0], l[1]);
        struct hash n23 = by_hand_node(alg, l[2], l[3]);
        struct hash n45 = by_hand_node(alg, l[4], l[5]);
        struct hash n0123 = by_hand_node(alg, n01, n23);
        struct hash want[8];
        hash_bytes(alg, "", 0, &want[0]);
        want[1] = l[0];
        want[2] = n01;
        want[3] = by_hand_node(alg, n01, l[2]);
        want[4] = n0123;
        want[5] = by_hand_node(alg, n0123, l[4]);
        want[6] = by_hand_node(alg, n0123, n45);
        want[7] = by_hand_node(alg, n0123, by_hand_node(alg, n45, l[6]));
        for (size_t n = 0; n <= 7; n++) {
            struct hash root;
            merkle_root(alg, n == 0 ? NULL : d, n, &root);
            assert_memory_equal(root.bytes, want[n].bytes, HASH_SIZE);
        }
        /* The empty root is H() of nothing. */
        struct hash empty =
            from_hex(alg == HASH_SHA256
                         ? "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                         : "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b");
        assert_memory_equal(want[0].bytes, empty.bytes, HASH_SIZE);

        /* Leaf 6 of 7: siblings l[6]'s neighbour n45, then n0123. */
        struct merkle_proof proof;
        assert_int_equal(merkle_prove(alg, d, 7, 6, &proof), ERR_OK);
        assert_int_equal(proof.path_count, 2);
        assert_memory_equal(proof.path[0].bytes, n45.bytes, HASH_SIZE);
        assert_memory_equal(proof.path[1].bytes, n0123.bytes, HASH_SIZE);
        assert_true(hash_is_zero(&proof.path[2]));
        assert_int_equal(merkle_verify(alg, &d[6], &proof, &want[7]), ERR_OK);
        /* Leaf 2 of 7: l3, n01, then the right half. */
        assert_int_equal(merkle_prove(alg, d, 7, 2, &proof), ERR_OK);
        assert_int_equal(proof.path_count, 3);
        assert_memory_equal(proof.path[0].bytes, l[3].bytes, HASH_SIZE);
        assert_memory_equal(proof.path[1].bytes, n01.bytes, HASH_SIZE);
        struct hash right = by_hand_node(alg, n45, l[6]);
        assert_memory_equal(proof.path[2].bytes, right.bytes, HASH_SIZE);

        /* No duplication of an odd last leaf (unlike Bitcoin's tree). */
        struct hash dup = by_hand_node(alg, n01, by_hand_node(alg, l[2], l[2]));
        assert_false(hash_equal(&want[3], &dup));
        mem_free(d);
    }
    /* The two hashes give different trees. */
    struct hash *d = make_leaves(5, 2);
    struct hash r1;
    struct hash r2;
    merkle_root(HASH_SHA256, d, 5, &r1);
    merkle_root(HASH_SM3, d, 5, &r2);
    assert_false(hash_equal(&r1, &r2));
    mem_free(d);
}

static void
test_domain_separation(void **state)
{
    (void)state;
    struct hash *d = make_leaves(2, 3);
    struct hash root;
    struct hash leaf;
    merkle_root(HASH_SHA256, d, 1, &root);
    merkle_leaf_hash(HASH_SHA256, &d[0], &leaf);
    assert_memory_equal(root.bytes, leaf.bytes, HASH_SIZE);
    assert_false(hash_equal(&root, &d[0])); /* a one-leaf root is not the bare data */
    /* A two-leaf root cannot pose as a leaf: the interior hash of (a, b) differs from the leaf
     * hash of anything, here checked against the leaf hash of the node's own bytes. */
    struct hash node;
    merkle_node_hash(HASH_SHA256, &d[0], &d[1], &node);
    struct hash as_leaf;
    merkle_leaf_hash(HASH_SHA256, &node, &as_leaf);
    merkle_root(HASH_SHA256, d, 2, &root);
    assert_false(hash_equal(&root, &node)); /* leaves are hashed first */
    assert_false(hash_equal(&root, &as_leaf));
    mem_free(d);
}

/* The left/right turns from the root down to leaf `index` (bit j set = right at depth j),
 * computed with RFC 6962's split, independently of merkle.c's bottom-up verifier. */
static uint64_t
turns_of(uint64_t index, uint64_t size, uint32_t *out_count)
{
    uint64_t turns = 0;
    uint32_t n = 0;
    uint64_t lo = 0;
    uint64_t hi = size;
    while (hi - lo > 1) {
        uint64_t k = 1;
        while (k < (hi - lo) - k) { /* 2k < size, without overflow */
            k *= 2;
        }
        if (index >= lo + k) {
            turns |= UINT64_C(1) << n;
            lo += k;
        } else {
            hi = lo + k;
        }
        n++;
    }
    *out_count = n;
    return turns;
}

/* Same turns means the verifier computes the same hashes: the root alone does not pin the
 * size (documented in merkle.h). */
static bool
same_schedule(uint64_t i1, uint64_t n1, uint64_t i2, uint64_t n2)
{
    uint32_t c1 = 0;
    uint32_t c2 = 0;
    uint64_t t1 = turns_of(i1, n1, &c1);
    uint64_t t2 = turns_of(i2, n2, &c2);
    return c1 == c2 && t1 == t2;
}

struct tamper_stats {
    bool every_bit; /* flip every bit of the leaf and path, not one chosen bit of each */
    size_t proofs;
    size_t rejected;
    size_t same_schedule;
    size_t size_rejected;
};

static void
check_size_changes(enum hash_alg alg, const struct hash *leaf, const struct merkle_proof *good,
                   const struct hash *root, struct tamper_stats *stats)
{
    uint64_t n = good->tree_size;
    const uint64_t sizes[] = { n + 1, n + 2, n - 1, n / 2, 2 * n, n + 64, 0, UINT64_MAX };
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        if (sizes[s] == n) {
            continue;
        }
        struct merkle_proof p = *good;
        p.tree_size = sizes[s];
        enum err rc = merkle_verify(alg, leaf, &p, root);
        if (p.index < p.tree_size && same_schedule(p.index, n, p.index, p.tree_size)) {
            assert_int_equal(rc, ERR_OK);
            stats->same_schedule++;
        } else {
            assert_int_not_equal(rc, ERR_OK);
            stats->size_rejected++;
        }
    }
}

static void
check_index_changes(enum hash_alg alg, const struct hash *leaf, const struct merkle_proof *good,
                    const struct hash *root, struct tamper_stats *stats)
{
    uint64_t n = good->tree_size;
    const uint64_t others[8] = { good->index + 1, good->index - 1, 0, n - 1, n, n + 5,
                                 good->index ^ 1, good->index ^ 2 };
    for (size_t k = 0; k < 8; k++) {
        if (others[k] == good->index) {
            continue;
        }
        struct merkle_proof p = *good;
        p.index = others[k];
        assert_int_not_equal(merkle_verify(alg, leaf, &p, root), ERR_OK);
        stats->rejected++;
    }
}

static void
check_proof(enum hash_alg alg, const struct hash *leaves, size_t count, size_t index,
            const struct hash *root, struct tamper_stats *stats)
{
    struct merkle_proof proof;
    assert_int_equal(merkle_prove(alg, leaves, count, index, &proof), ERR_OK);
    assert_int_equal(proof.index, index);
    assert_int_equal(proof.tree_size, count);
    assert_int_equal(proof.path_count, merkle_path_count(index, count));
    assert_int_equal(merkle_verify(alg, &leaves[index], &proof, root), ERR_OK);
    struct hash got;
    assert_int_equal(merkle_proof_root(alg, &leaves[index], &proof, &got), ERR_OK);
    assert_memory_equal(got.bytes, root->bytes, HASH_SIZE);
    stats->proofs++;

    /* Flip bits of the leaf: all of them, or one (a different one per leaf). */
    for (size_t bit = 0; bit < HASH_BITS; bit++) {
        if (!stats->every_bit && bit != (index * 37 + count) % HASH_BITS) {
            continue;
        }
        struct hash leaf = leaves[index];
        leaf.bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(merkle_verify(alg, &leaf, &proof, root), ERR_BAD_SIGNATURE);
        stats->rejected++;
    }
    /* Flip bits of every path element. */
    for (uint32_t j = 0; j < proof.path_count; j++) {
        for (size_t bit = 0; bit < HASH_BITS; bit++) {
            if (!stats->every_bit && bit != (index + (size_t)11 * j) % HASH_BITS) {
                continue;
            }
            struct merkle_proof p = proof;
            p.path[j].bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            assert_int_equal(merkle_verify(alg, &leaves[index], &p, root), ERR_BAD_SIGNATURE);
            stats->rejected++;
        }
    }
    /* Wrong path lengths are malformed, not merely wrong. */
    struct merkle_proof p = proof;
    p.path_count = proof.path_count + 1;
    assert_int_equal(merkle_verify(alg, &leaves[index], &p, root), ERR_MALFORMED);
    if (proof.path_count > 0) {
        p.path_count = proof.path_count - 1;
        assert_int_equal(merkle_verify(alg, &leaves[index], &p, root), ERR_MALFORMED);
    }
    p.path_count = UINT32_MAX;
    assert_int_equal(merkle_verify(alg, &leaves[index], &p, root), ERR_MALFORMED);

    check_index_changes(alg, &leaves[index], &proof, root, stats);
    check_size_changes(alg, &leaves[index], &proof, root, stats);
    /* A proof from this tree does not verify against another root. */
    struct hash other = *root;
    other.bytes[0] ^= 1;
    assert_int_equal(merkle_verify(alg, &leaves[index], &proof, &other), ERR_BAD_SIGNATURE);
}

static void
test_proofs_many_sizes(void **state)
{
    (void)state;
    /* Every size up to 100, then every 10th and the powers of two +-1 up to 300: every leaf of
     * each. */
    size_t sizes[160] = { 0 };
    size_t size_count = 0;
    size_t proofs_want = 0;
    for (size_t n = 1; n <= 300; n++) {
        bool pow2_near = (n & (n - 1)) == 0 || ((n + 1) & n) == 0 || ((n - 1) & (n - 2)) == 0;
        if (n <= 100 || n % 10 == 0 || pow2_near || n == 299) {
            assert_true(size_count < sizeof sizes / sizeof sizes[0]);
            sizes[size_count++] = n;
            proofs_want += n;
        }
    }
    for (size_t a = 0; a < 2; a++) {
        struct tamper_stats stats = { 0 };
        for (size_t s = 0; s < size_count; s++) {
            size_t n = sizes[s];
            struct hash *leaves = make_leaves(n, (uint32_t)(n * 2 + a));
            struct hash root;
            merkle_root(algs[a], leaves, n, &root);
            for (size_t i = 0; i < n; i++) {
                stats.every_bit = n == 7 || n == 13 || n == 32;
                check_proof(algs[a], leaves, n, i, &root, &stats);
            }
            struct merkle_proof proof;
            assert_int_equal(merkle_prove(algs[a], leaves, n, n, &proof), ERR_INVALID_ARG);
            mem_free(leaves);
        }
        /* The size is authenticated only by the schedule, which differs most of the time. */
        assert_int_equal(stats.proofs, proofs_want);
        assert_true(stats.same_schedule > 0);
        print_message("%s: %zu proofs, %zu tampered rejected, size changes: %zu rejected, %zu "
                      "with the same schedule verify\n",
                      hash_alg_name(algs[a]), stats.proofs, stats.rejected, stats.size_rejected,
                      stats.same_schedule);
        assert_true(stats.size_rejected > stats.same_schedule);
    }
}

static void
test_edge_cases(void **state)
{
    (void)state;
    struct merkle_proof proof;
    struct hash leaf = { { 0 } };
    assert_int_equal(merkle_prove(HASH_SHA256, NULL, 0, 0, &proof), ERR_INVALID_ARG);
    /* One leaf: empty path, root = leaf hash. */
    assert_int_equal(merkle_prove(HASH_SHA256, &leaf, 1, 0, &proof), ERR_OK);
    assert_int_equal(proof.path_count, 0);
    struct hash root;
    merkle_root(HASH_SHA256, &leaf, 1, &root);
    assert_int_equal(merkle_verify(HASH_SHA256, &leaf, &proof, &root), ERR_OK);
    /* A zero-size proof never verifies, even against the empty root. */
    memset(&proof, 0, sizeof proof);
    merkle_root(HASH_SHA256, NULL, 0, &root);
    assert_int_equal(merkle_verify(HASH_SHA256, &leaf, &proof, &root), ERR_MALFORMED);
    /* Path lengths at the extremes of uint64. */
    assert_int_equal(merkle_path_count(0, 1), 0);
    assert_int_equal(merkle_path_count(0, 2), 1);
    assert_int_equal(merkle_path_count(4, 5), 1);
    assert_int_equal(merkle_path_count(0, 5), 3);
    assert_int_equal(merkle_path_count(0, UINT64_MAX), 64);
    assert_int_equal(merkle_path_count(UINT64_MAX - 1, UINT64_MAX), 63);
    assert_int_equal(merkle_path_count(0, UINT64_C(1) << 63), 63);
    /* A proof claiming a huge tree with the right length runs and fails cleanly. */
    memset(&proof, 0, sizeof proof);
    proof.index = UINT64_MAX / 3;
    proof.tree_size = UINT64_MAX;
    proof.path_count = merkle_path_count(proof.index, proof.tree_size);
    assert_int_equal(merkle_verify(HASH_SM3, &leaf, &proof, &root), ERR_BAD_SIGNATURE);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc6962_vectors),   cmocka_unit_test(test_small_trees_by_hand),
        cmocka_unit_test(test_domain_separation), cmocka_unit_test(test_proofs_many_sizes),
        cmocka_unit_test(test_edge_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
