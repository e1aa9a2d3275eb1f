/* Common header of the cmocka unit tests: cmocka needs these system headers first. */
#ifndef LM_TESTS_UNIT_H
#define LM_TESTS_UNIT_H

// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#endif
