#include "base/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = LOG_LEVEL_INFO;
static log_sink_fn *log_sink;
static void *log_sink_ctx;
static char log_prefix[64];

static const char *const level_names[] = { "ERROR", "WARN", "NOTICE", "INFO", "DEBUG" };
static const char *const domain_names[LOG_DOMAIN_COUNT] = {
    "base", "crypto",  "codec", "store", "ledger", "modules", "consensus",
    "sim",  "mempool", "net",   "api",   "node",   "cli",
};

void
log_set_level(enum log_level level)
{
    atomic_store(&log_level, (int)level);
}

enum log_level
log_get_level(void)
{
    return (enum log_level)atomic_load(&log_level);
}

bool
log_level_parse(const char *text, enum log_level *out_level)
{
    static const char *const lower[] = { "error", "warn", "notice", "info", "debug" };
    for (unsigned i = 0; i < sizeof lower / sizeof lower[0]; i++) {
        if (strcmp(text, lower[i]) == 0) {
            *out_level = (enum log_level)i;
            return true;
        }
    }
    return false;
}

void
log_set_sink(log_sink_fn *sink, void *ctx)
{
    log_sink = sink;
    log_sink_ctx = ctx;
}

void
log_set_prefix(const char *prefix)
{
    if (prefix == NULL) {
        log_prefix[0] = '\0';
    } else {
        snprintf(log_prefix, sizeof log_prefix, "%s ", prefix);
    }
}

bool
log_is_enabled(enum log_level level)
{
    return (int)level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

void
log_flush(void)
{
    fflush(stderr);
}

void
log_write(enum log_level level, enum log_domain domain, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(
        line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s%s %s: ", tm.tm_year + 1900,
        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000),
        log_prefix, level_names[level], domain_names[domain]);
    if (n < 0 || (size_t)n >= sizeof line) {
        n = 0;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (log_sink != NULL) {
        log_sink(log_sink_ctx, level, line);
        return;
    }
    size_t len = strlen(line);
    if (len + 1 < sizeof line) {
        line[len++] = '\n';
    } else {
        line[sizeof line - 2] = '\n';
        len = sizeof line - 1;
    }
    /* One write per line keeps lines whole when threads log at once. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
