/* Unit tests of the core account module through real blocks: account creation by an
 * institution admin, key rotation (a new key signs, a removed key no longer does), the last
 * key kept, and the account state encoding. */
#include <string.h>

#include "ledger_fixture.h"
#include "unit.h"

static struct fixture_block block;

static void
key_args(const struct secret_key *key, bool with_admin, bool admin, struct buf *out)
{
    struct public_key pk;
    secret_key_public(key, &pk);
    buf_reset(out);
    assert_int_equal(codec_put_public_key(out, &pk), ERR_OK);
    if (with_admin) {
        assert_int_equal(codec_put_bool(out, admin), ERR_OK);
    }
}

static void
add_tx(struct fixture *f, size_t from, const struct secret_key *signer, uint64_t nonce,
       const char *op, const struct buf *args)
{
    struct fixture_op o = { "account", op, args->data, args->size };
    struct buf tx;
    buf_init(&tx, TX_SIZE_MAX);
    fixture_tx_signed(f, from, signer, nonce, 100, &o, 1, &tx);
    fixture_block_add(&block, &tx);
    buf_release(&tx);
}

static struct ledger_result *
run_and_commit(struct fixture *f, uint64_t height)
{
    struct ledger_result *r = NULL;
    assert_int_equal(fixture_execute(f, NULL, height, &block, false, &r), ERR_OK);
    assert_int_equal(fixture_commit(f, r), ERR_OK);
    fixture_block_clear(&block);
    return r;
}

static enum err
load(struct fixture *f, const struct address *address, struct account *out)
{
    struct buf value;
    buf_init(&value, ACCOUNT_VALUE_SIZE_MAX);
    enum err rc =
        ledger_query(f->ledger, NULL, "account.get", address->bytes, ADDRESS_SIZE, &value);
    if (rc == ERR_OK) {
        assert_int_equal(account_decode(value.data, value.size, address, out), ERR_OK);
    }
    buf_release(&value);
    return rc;
}

static void
test_create(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, 8, SIG_ED25519, NULL);
    struct secret_key *fresh = fixture_key(SIG_SM2, 5000);
    struct buf args;
    buf_init(&args, 256);
    key_args(fresh, true, false, &args);
    add_tx(&f, 3, NULL, 0, "create", &args); /* not an admin */
    add_tx(&f, 1, NULL, 0, "create", &args); /* admin of institution 2 */
    add_tx(&f, 2, NULL, 0, "create", &args); /* exists by now */
    struct ledger_result *r = run_and_commit(&f, 1);
    assert_int_equal(fixture_status(r, 0), receipt_status_of(ERR_DENIED));
    assert_int_equal(fixture_status(r, 1), 0);
    assert_int_equal(fixture_status(r, 2), receipt_status_of(ERR_EXISTS));
    const struct ledger_outcome *o = ledger_result_outcome(r);
    struct receipt rec;
    assert_int_equal(receipt_decode(o->receipts[1].data, o->receipts[1].size, &rec), ERR_OK);
    assert_int_equal(rec.event_count, 1);
    ledger_result_free(r);
    struct public_key pk;
    secret_key_public(fresh, &pk);
    struct address addr;
    address_of(HASH_SHA256, &pk, &addr);
    struct account a;
    memset(&a, 0, sizeof a);
    assert_int_equal(load(&f, &addr, &a), ERR_OK);
    assert_int_equal(a.institution, 2);
    assert_false(a.admin);
    assert_int_equal(a.nonce, 0);
    assert_int_equal(a.key_count, 1);
    assert_true(public_key_equal(&a.keys[0], &pk));
    /* Malformed args: trailing byte. */
    assert_int_equal(buf_append_byte(&args, 0), ERR_OK);
    add_tx(&f, 0, NULL, 0, "create", &args);
    r = run_and_commit(&f, 2);
    assert_int_equal(fixture_status(r, 0), receipt_status_of(ERR_TRAILING));
    ledger_result_free(r);
    buf_release(&args);
    secret_key_free(fresh);
    fixture_close(&f);
}

static void
test_key_rotation(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, 8, SIG_ED25519, NULL);
    struct secret_key *second = fixture_key(SIG_SM2, 6000);
    struct buf args;
    buf_init(&args, 256);
    key_args(second, false, false, &args);
    add_tx(&f, 5, second, 0, "add_key", &args); /* not registered yet: denied */
    add_tx(&f, 5, NULL, 0, "add_key", &args);
    add_tx(&f, 5, second, 1, "add_key", &args); /* signed by the new key; already there */
    struct ledger_result *r = run_and_commit(&f, 1);
    assert_int_equal(fixture_status(r, 0), receipt_status_of(ERR_DENIED));
    assert_int_equal(fixture_status(r, 1), 0);
    assert_int_equal(fixture_status(r, 2), receipt_status_of(ERR_EXISTS));
    ledger_result_free(r);
    struct account a;
    memset(&a, 0, sizeof a);
    assert_int_equal(load(&f, &f.addrs[5], &a), ERR_OK);
    assert_int_equal(a.key_count, 2);
    assert_int_equal(a.nonce, 2);
    /* The new key removes the old one; then the old one no longer signs. */
    key_args(f.keys[5], false, false, &args);
    add_tx(&f, 5, second, 2, "remove_key", &args);
    add_tx(&f, 5, NULL, 3, "remove_key", &args);
    key_args(second, false, false, &args);
    add_tx(&f, 5, second, 3, "remove_key", &args); /* the last key stays */
    r = run_and_commit(&f, 2);
    assert_int_equal(fixture_status(r, 0), 0);
    assert_int_equal(fixture_status(r, 1), receipt_status_of(ERR_DENIED));
    assert_int_equal(fixture_status(r, 2), receipt_status_of(ERR_DENIED));
    ledger_result_free(r);
    assert_int_equal(load(&f, &f.addrs[5], &a), ERR_OK);
    assert_int_equal(a.key_count, 1);
    assert_int_equal(a.keys[0].alg, SIG_SM2);
    assert_int_equal(a.nonce, 4);
    buf_release(&args);
    secret_key_free(second);
    fixture_close(&f);
}

static void
test_encoding(void **state)
{
    (void)state;
    struct account a;
    memset(&a, 0, sizeof a);
    a.nonce = 0x0102030405060708ull;
    a.institution = 9;
    a.admin = true;
    a.key_count = 1;
    struct secret_key *key = fixture_key(SIG_ED25519, 1);
    secret_key_public(key, &a.keys[0]);
    secret_key_free(key);
    struct buf b;
    buf_init(&b, ACCOUNT_VALUE_SIZE_MAX);
    assert_int_equal(account_encode(&a, &b), ERR_OK);
    struct account back;
    assert_int_equal(account_decode(b.data, b.size, &a.address, &back), ERR_OK);
    assert_int_equal(back.nonce, a.nonce);
    assert_int_equal(back.institution, 9);
    assert_true(back.admin);
    assert_true(account_has_key(&back, &a.keys[0]));
    for (size_t n = 0; n < b.size; n++) {
        assert_int_not_equal(account_decode(b.data, n, &a.address, &back), ERR_OK);
    }
    a.key_count = 0;
    assert_int_equal(account_encode(&a, &b), ERR_MALFORMED);
    buf_release(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create),
        cmocka_unit_test(test_key_rotation),
        cmocka_unit_test(test_encoding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
