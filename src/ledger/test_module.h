/* A small module for exercising the execution engine in tests and benchmarks (not
 * registered by registry_add_core; tests and `bench_ledger` add it themselves).
 * Ops (canonical args):
 *   set  { bytes key (<= 64), bytes value (<= 4096) }   writes "test/<key>"
 *   del  { bytes key }                                    deletes it
 *   fail { }                                              fails with ERR_DENIED
 *   emit { text kind }                                    emits an event { tx: tx hash }
 *   burn { u64 units }                                    charges resource units
 * Query: get { raw key bytes } -> the value. Genesis data: vector of { key, value } pairs. */
#ifndef LM_LEDGER_TEST_MODULE_H
#define LM_LEDGER_TEST_MODULE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "ledger/module.h"

#define TEST_MODULE            "test"
#define TEST_KEY_SIZE_MAX      64
#define TEST_VALUE_SIZE_MAX    4096
#define TEST_GENESIS_ITEMS_MAX 1024

extern const struct module_def test_module;

/* Encodes the args of op set. */
MUST_USE enum err test_module_set_args(const uint8_t *key, size_t key_size, const uint8_t *value,
                                       size_t value_size, struct buf *out);

#endif
