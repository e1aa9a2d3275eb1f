/* Leveled logging (STYLE.md 2.8). One line per event to stderr (or a sink set by the process):
 *   2026-11-25T08:00:00.123Z WARN net: peer frame too long len=9000 max=4096
 * The message carries key=value fields after the text. The level test comes before
 * formatting, so DEBUG costs nothing when filtered. Thread-safe (one write per line). */
#ifndef LM_BASE_LOG_H
#define LM_BASE_LOG_H

#include <stdbool.h>

enum log_level {
    LOG_LEVEL_ERROR,
    LOG_LEVEL_WARN,
    LOG_LEVEL_NOTICE,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG
};

enum log_domain {
    LOG_BASE,
    LOG_CRYPTO,
    LOG_CODEC,
    LOG_STORE,
    LOG_LEDGER,
    LOG_MODULES,
    LOG_CONSENSUS,
    LOG_SIM,
    LOG_MEMPOOL,
    LOG_NET,
    LOG_API,
    LOG_NODE,
    LOG_CLI,
    LOG_DOMAIN_COUNT
};

/* Receives each formatted line (without newline). */
typedef void log_sink_fn(void *ctx, enum log_level level, const char *line);

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "notice", "info", "debug"; false if unknown. */
bool log_level_parse(const char *text, enum log_level *out_level);
/* Replaces the stderr sink; NULL restores it. For tests and the node's log file. */
void log_set_sink(log_sink_fn *sink, void *ctx);
/* Prefix every line with "name " (the node name in a devnet); NULL clears it. */
void log_set_prefix(const char *prefix);
bool log_is_enabled(enum log_level level);
void log_flush(void);
void log_write(enum log_level level, enum log_domain domain, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_AT(level, domain, ...)                 \
    do {                                           \
        if (log_is_enabled(level)) {               \
            log_write(level, domain, __VA_ARGS__); \
        }                                          \
    } while (0)
#define log_error(domain, ...)  LOG_AT(LOG_LEVEL_ERROR, domain, __VA_ARGS__)
#define log_warn(domain, ...)   LOG_AT(LOG_LEVEL_WARN, domain, __VA_ARGS__)
#define log_notice(domain, ...) LOG_AT(LOG_LEVEL_NOTICE, domain, __VA_ARGS__)
#define log_info(domain, ...)   LOG_AT(LOG_LEVEL_INFO, domain, __VA_ARGS__)
#define log_debug(domain, ...)  LOG_AT(LOG_LEVEL_DEBUG, domain, __VA_ARGS__)

#endif
