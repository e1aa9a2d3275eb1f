/* Unit tests of receipts and events: round trip, strict decoding (truncations, trailing
 * bytes, bad names, counts past the maxima). */
#include <string.h>

#include "ledger/receipt.h"
#include "unit.h"

static void
encode_sample(struct buf *out)
{
    struct buf events;
    buf_init(&events, RECEIPT_SIZE_MAX);
    const struct event_attr attrs[2] = { { "who", 3, (const uint8_t *)"alice", 5 },
                                         { "n", 1, (const uint8_t *)"", 0 } };
    assert_int_equal(event_encode("test", "ping", attrs, 2, &events), ERR_OK);
    assert_int_equal(event_encode("test", "pong", NULL, 0, &events), ERR_OK);
    struct receipt r = { .status = receipt_status_of(ERR_DENIED),
                         .message = "no",
                         .message_size = 2,
                         .resource_used = 1234,
                         .event_count = 2,
                         .events = events.data,
                         .events_size = events.size };
    memset(r.tx_hash.bytes, 9, HASH_SIZE);
    assert_int_equal(receipt_encode(&r, out), ERR_OK);
    buf_release(&events);
}

static void
test_round_trip(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, RECEIPT_SIZE_MAX);
    encode_sample(&b);
    struct receipt r;
    assert_int_equal(receipt_decode(b.data, b.size, &r), ERR_OK);
    assert_int_equal(r.status, 26);
    assert_int_equal(r.resource_used, 1234);
    assert_int_equal(r.event_count, 2);
    assert_int_equal(r.tx_hash.bytes[31], 9);
    struct reader rd;
    reader_init(&rd, r.events, r.events_size);
    struct event e;
    assert_int_equal(event_decode(&rd, &e), ERR_OK);
    assert_int_equal(e.attr_count, 2);
    assert_memory_equal(e.attrs[0].value, "alice", 5);
    assert_int_equal(event_decode(&rd, &e), ERR_OK);
    assert_memory_equal(e.kind, "pong", 4);
    assert_true(reader_is_done(&rd));
    for (size_t n = 0; n < b.size; n++) {
        assert_int_not_equal(receipt_decode(b.data, n, &r), ERR_OK);
    }
    assert_int_equal(buf_append_byte(&b, 0), ERR_OK);
    assert_int_equal(receipt_decode(b.data, b.size, &r), ERR_TRAILING);
    buf_release(&b);
}

static void
test_refusals(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, RECEIPT_SIZE_MAX);
    assert_int_equal(event_encode("Test", "ping", NULL, 0, &b), ERR_MALFORMED);
    assert_int_equal(event_encode("test", "", NULL, 0, &b), ERR_MALFORMED);
    const struct event_attr bad = { "a-b", 3, NULL, 0 };
    assert_int_equal(event_encode("test", "x", &bad, 1, &b), ERR_MALFORMED);
    struct event_attr many[EVENT_ATTRS_MAX + 1];
    for (size_t i = 0; i <= EVENT_ATTRS_MAX; i++) {
        many[i] = (struct event_attr){ "k", 1, NULL, 0 };
    }
    assert_int_equal(event_encode("test", "x", many, EVENT_ATTRS_MAX + 1, &b), ERR_MALFORMED);
    assert_int_equal(b.size, 0);
    /* A decoded event with a bad kind is refused. */
    encode_sample(&b);
    size_t kind_at = HASH_SIZE + 2 + 1 + 2 + 8 + 1 + 1 + 4 + 1;
    assert_int_equal(b.data[kind_at], 'p');
    b.data[kind_at] = 'P';
    struct receipt r;
    assert_int_equal(receipt_decode(b.data, b.size, &r), ERR_MALFORMED);
    assert_int_equal(receipt_status_of(ERR_OK), 0);
    buf_release(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
