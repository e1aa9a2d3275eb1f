/* Unit tests of crypto/hash: FIPS 180-2 SHA-256 and GB/T 32905 SM3 vectors, the incremental
 * hasher, hash_two, hex, and use from several threads at once. */
#include <ctype.h>
#include <pthread.h>
#include <string.h>

#include "crypto/hash.h"
#include "unit.h"

static void
expect_hex(const struct hash *h, const char *hex)
{
    char text[2 * HASH_SIZE + 1];
    hash_to_hex(h, text);
    assert_string_equal(text, hex);
}

static void
expect_bytes(enum hash_alg alg, const char *msg, const char *hex)
{
    struct hash h;
    hash_bytes(alg, msg, strlen(msg), &h);
    expect_hex(&h, hex);
}

static const char msg_448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

static void
test_sha256_fips(void **state)
{
    (void)state;
    expect_bytes(HASH_SHA256, "abc",
                 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect_bytes(HASH_SHA256, "",
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect_bytes(HASH_SHA256, msg_448,
                 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void
test_sha256_million_a(void **state)
{
    (void)state;
    uint8_t block[1000];
    memset(block, 'a', sizeof block);
    struct hasher h;
    hasher_init(&h, HASH_SHA256);
    for (int i = 0; i < 1000; i++) {
        hasher_update(&h, block, sizeof block);
    }
    struct hash out;
    hasher_final(&h, &out);
    hasher_release(&h);
    expect_hex(&out, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void
test_sm3_gbt32905(void **state)
{
    (void)state;
    expect_bytes(HASH_SM3, "abc",
                 "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
    expect_bytes(HASH_SM3, "abcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcd",
                 "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732");
}

static void
test_hasher_reuse(void **state)
{
    (void)state;
    struct hasher h;
    hasher_init(&h, HASH_SM3);
    struct hash first;
    struct hash second;
    hasher_update(&h, "ab", 2);
    hasher_update(&h, "c", 1);
    hasher_final(&h, &first);
    hasher_update(&h, "abc", 3); /* final re-initialised the hasher */
    hasher_final(&h, &second);
    hasher_release(&h);
    hasher_release(&h); /* released twice is harmless */
    hasher_release(NULL);
    assert_true(hash_equal(&first, &second));
    expect_hex(&first, "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
}

static void
test_hash_two(void **state)
{
    (void)state;
    const enum hash_alg algs[] = { HASH_SHA256, HASH_SM3 };
    for (size_t a = 0; a < 2; a++) {
        for (size_t cut = 0; cut <= strlen(msg_448); cut++) {
            struct hash whole;
            struct hash two;
            hash_bytes(algs[a], msg_448, strlen(msg_448), &whole);
            hash_two(algs[a], msg_448, cut, msg_448 + cut, strlen(msg_448) - cut, &two);
            assert_true(hash_equal(&whole, &two));
        }
    }
    struct hash sha;
    struct hash sm3;
    hash_bytes(HASH_SHA256, "abc", 3, &sha);
    hash_bytes(HASH_SM3, "abc", 3, &sm3);
    assert_false(hash_equal(&sha, &sm3));
}

/* The one-shot calls (a low-level SHA-256 path) agree with the incremental hasher (EVP) on
 * every size around the block boundaries, split anywhere. */
static void
test_one_shot_matches_hasher(void **state)
{
    (void)state;
    uint8_t data[200];
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = (uint8_t)(i * 7 + 3);
    }
    const enum hash_alg algs[] = { HASH_SHA256, HASH_SM3 };
    for (size_t a = 0; a < 2; a++) {
        struct hasher h;
        hasher_init(&h, algs[a]);
        for (size_t size = 0; size <= sizeof data; size++) {
            struct hash expected;
            hasher_update(&h, data, size);
            hasher_final(&h, &expected);
            struct hash one;
            hash_bytes(algs[a], data, size, &one);
            assert_true(hash_equal(&one, &expected));
            for (size_t cut = 0; cut <= size; cut += 13) {
                struct hash two;
                hash_two(algs[a], data, cut, data + cut, size - cut, &two);
                assert_true(hash_equal(&two, &expected));
            }
        }
        hasher_release(&h);
    }
}

static void
test_hex_round_trip(void **state)
{
    (void)state;
    struct hash h;
    struct hash back;
    hash_bytes(HASH_SHA256, "abc", 3, &h);
    char text[2 * HASH_SIZE + 1];
    hash_to_hex(&h, text);
    assert_int_equal(hash_from_hex(text, &back), ERR_OK);
    assert_true(hash_equal(&h, &back));
    char upper[2 * HASH_SIZE + 1];
    for (size_t i = 0; i < sizeof upper; i++) {
        upper[i] = (char)(toupper)((unsigned char)text[i]);
    }
    memset(&back, 0, sizeof back);
    assert_int_equal(hash_from_hex(upper, &back), ERR_OK);
    assert_true(hash_equal(&h, &back));
    char shorter[9];
    hash_to_short(&h, shorter);
    assert_string_equal(shorter, "ba7816bf");

    struct hash untouched = { { 7 } };
    assert_int_equal(hash_from_hex("abc", &untouched), ERR_MALFORMED);
    text[5] = 'g';
    assert_int_equal(hash_from_hex(text, &untouched), ERR_MALFORMED);
    assert_int_equal(untouched.bytes[0], 7); /* written only on success */
    assert_false(hash_is_zero(&h));
    struct hash zero = { { 0 } };
    assert_true(hash_is_zero(&zero));

    enum hash_alg alg;
    assert_true(hash_alg_parse("SHA-256", &alg));
    assert_int_equal(alg, HASH_SHA256);
    assert_true(hash_alg_parse("sm3", &alg));
    assert_int_equal(alg, HASH_SM3);
    assert_false(hash_alg_parse("md5", &alg));
    assert_string_equal(hash_alg_name(HASH_SM3), "sm3");
    assert_true(hash_alg_is_valid(1));
    assert_false(hash_alg_is_valid(3));
}

/* Each thread hashes its own vector many times, both one-shot and incrementally. */
struct thread_job {
    enum hash_alg alg;
    const char *msg;
    const char *hex;
    int failures;
};

static void *
thread_run(void *arg)
{
    struct thread_job *job = arg;
    struct hash expect;
    if (hash_from_hex(job->hex, &expect) != ERR_OK) {
        job->failures++;
        return NULL;
    }
    struct hasher h;
    hasher_init(&h, job->alg);
    for (int i = 0; i < 5000; i++) {
        struct hash got;
        hash_bytes(job->alg, job->msg, strlen(job->msg), &got);
        job->failures += hash_equal(&got, &expect) ? 0 : 1;
        hasher_update(&h, job->msg, strlen(job->msg));
        hasher_final(&h, &got);
        job->failures += hash_equal(&got, &expect) ? 0 : 1;
    }
    hasher_release(&h);
    return NULL;
}

static void
test_threads(void **state)
{
    (void)state;
    struct thread_job jobs[2] = {
        { HASH_SHA256, msg_448, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
          0 },
        { HASH_SM3, "abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0", 0 },
    };
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&threads[i], NULL, thread_run, &jobs[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(jobs[i].failures, 0);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_fips),    cmocka_unit_test(test_sha256_million_a),
        cmocka_unit_test(test_sm3_gbt32905),   cmocka_unit_test(test_hasher_reuse),
        cmocka_unit_test(test_hash_two),       cmocka_unit_test(test_one_shot_matches_hasher),
        cmocka_unit_test(test_hex_round_trip), cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
