/* Always-on assertions (STYLE.md 2.6). ASSERT is compiled in every build: a node running on
 * broken state could sign or persist garbage. Bugs only: data from peers or clients must be
 * checked and answered with enum err before it can reach an ASSERT.
 * fatal() is for an unrecoverable environment (failed fsync, invalid config at start). */
#ifndef LM_BASE_ASSERT_H
#define LM_BASE_ASSERT_H

#include <stdbool.h>

_Noreturn void assert_fail(const char *expr, const char *file, int line, const char *func);
_Noreturn void fatal_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define ASSERT(cond)                                          \
    do {                                                      \
        if (__builtin_expect(!(cond), 0)) {                   \
            assert_fail(#cond, __FILE__, __LINE__, __func__); \
        }                                                     \
    } while (0)

#if defined(LM_EXPENSIVE_CHECKS)
#define ASSERT_EXPENSIVE(cond) ASSERT(cond)
#else
#define ASSERT_EXPENSIVE(cond) ((void)0)
#endif

#define UNREACHABLE() assert_fail("unreachable", __FILE__, __LINE__, __func__)

/* Logs once with context and exits with EXIT_FAILURE. */
#define fatal(...) fatal_at(__FILE__, __LINE__, __VA_ARGS__)

#endif
