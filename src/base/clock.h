/* Injectable clock: monotonic time for timers and wall time for timestamps. Code that needs
 * time takes a `const struct clock *`; production passes clock_system(), tests a manual
 * clock they advance by hand. Consensus and execution never read a clock themselves. */
#ifndef LM_BASE_CLOCK_H
#define LM_BASE_CLOCK_H

#include <stdint.h>

typedef uint64_t clock_read_fn(void *ctx);

struct clock {
    clock_read_fn *monotonic_ns; /* never decreases; arbitrary origin */
    clock_read_fn *wall_us;      /* microseconds since the Unix epoch */
    void *ctx;
};

/* The process's real clock (CLOCK_MONOTONIC, CLOCK_REALTIME). */
const struct clock *clock_system(void);

/* A clock that moves only when told; for tests. */
struct clock_manual {
    struct clock clock;
    uint64_t monotonic_ns;
    uint64_t wall_us;
};

void clock_manual_init(struct clock_manual *m, uint64_t wall_us);
void clock_manual_advance_ns(struct clock_manual *m, uint64_t ns);

static inline uint64_t
clock_monotonic_ns(const struct clock *c)
{
    return c->monotonic_ns(c->ctx);
}

static inline uint64_t
clock_monotonic_ms(const struct clock *c)
{
    return c->monotonic_ns(c->ctx) / 1000000u;
}

static inline uint64_t
clock_wall_us(const struct clock *c)
{
    return c->wall_us(c->ctx);
}

#endif
