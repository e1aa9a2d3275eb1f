#include "base/clock.h"

#include <time.h>

#include "base/assert.h"

static uint64_t
system_monotonic_ns(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
system_wall_us(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static const struct clock system_clock = { system_monotonic_ns, system_wall_us, NULL };

const struct clock *
clock_system(void)
{
    return &system_clock;
}

static uint64_t
manual_monotonic_ns(void *ctx)
{
    return ((const struct clock_manual *)ctx)->monotonic_ns;
}

static uint64_t
manual_wall_us(void *ctx)
{
    return ((const struct clock_manual *)ctx)->wall_us;
}

void
clock_manual_init(struct clock_manual *m, uint64_t wall_us)
{
    m->clock.monotonic_ns = manual_monotonic_ns;
    m->clock.wall_us = manual_wall_us;
    m->clock.ctx = m;
    m->monotonic_ns = 0;
    m->wall_us = wall_us;
}

void
clock_manual_advance_ns(struct clock_manual *m, uint64_t ns)
{
    ASSERT(m->monotonic_ns + ns >= m->monotonic_ns);
    m->monotonic_ns += ns;
    m->wall_us += ns / 1000u;
}
