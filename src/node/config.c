#include "node/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/mem.h"
#include "base/text.h"
#include "p2p/p2p.h"

enum config_kind {
    KIND_TEXT,    /* char[size] */
    KIND_PATH,    /* char[size], a path */
    KIND_ADDRESS, /* char[size], "ip:port" */
    KIND_U32,
    KIND_U64,
    KIND_LOG_LEVEL,
    KIND_PEER, /* repeatable */
};

struct config_key {
    const char *section;
    const char *name;
    enum config_kind kind;
    size_t offset;
    size_t size; /* text kinds: capacity with NUL */
    uint64_t min;
    uint64_t max;
};

#define TEXT_KEY(sec, nm, kind, field)                                                           \
    {                                                                                            \
        sec, nm, kind, offsetof(struct config, field), sizeof(((struct config *)0)->field), 0, 0 \
    }
#define NUM_KEY(sec, nm, kind, field, lo, hi)                                                      \
    {                                                                                              \
        sec, nm, kind, offsetof(struct config, field), sizeof(((struct config *)0)->field), lo, hi \
    }

static const struct config_key config_keys[] = {
    TEXT_KEY("node", "name", KIND_TEXT, name),
    TEXT_KEY("node", "log_level", KIND_LOG_LEVEL, log_level),
    TEXT_KEY("node", "genesis", KIND_PATH, genesis_path),
    TEXT_KEY("node", "data_dir", KIND_PATH, data_dir),
    TEXT_KEY("keys", "consensus_key", KIND_PATH, consensus_key_path),
    TEXT_KEY("keys", "transport_key", KIND_PATH, transport_key_path),
    TEXT_KEY("keys", "passphrase_file", KIND_PATH, passphrase_file),
    TEXT_KEY("keys", "passphrase_env", KIND_TEXT, passphrase_env),
    TEXT_KEY("p2p", "listen", KIND_ADDRESS, p2p_listen),
    TEXT_KEY("p2p", "peer", KIND_PEER, peers),
    NUM_KEY("p2p", "peers_max", KIND_U32, peers_max, 1, 1024),
    NUM_KEY("p2p", "frame_size_max", KIND_U32, frame_size_max, CONFIG_FRAME_SIZE_MIN, 64u << 20),
    NUM_KEY("p2p", "queue_bytes_max", KIND_U64, queue_bytes_max, 128ull * 1024u, 1u << 30),
    TEXT_KEY("api", "listen", KIND_ADDRESS, api_listen),
    NUM_KEY("api", "connections_max", KIND_U32, api_connections_max, 1, 65536),
    NUM_KEY("api", "body_size_max", KIND_U64, api_body_size_max, 1024, 64u << 20),
    NUM_KEY("api", "request_timeout_ms", KIND_U32, api_request_timeout_ms, 100, 600000),
    NUM_KEY("mempool", "txs_max", KIND_U32, mempool_txs_max, 1, 1000000),
    NUM_KEY("mempool", "bytes_max", KIND_U64, mempool_bytes_max, 1u << 20, 4ull << 30),
    NUM_KEY("verify", "threads", KIND_U32, verify_threads, 1, 64),
    NUM_KEY("consensus", "idle_block_interval_ms", KIND_U32, idle_block_interval_ms, 0,
            CONFIG_BLOCK_INTERVAL_MAX_MS),
    NUM_KEY("consensus", "min_block_interval_ms", KIND_U32, min_block_interval_ms, 0,
            CONFIG_BLOCK_INTERVAL_MAX_MS),
    NUM_KEY("storage", "state_retain_versions", KIND_U64, state_retain_versions, 0,
            CONFIG_STATE_RETAIN_MAX),
    NUM_KEY("storage", "db_size_max_mib", KIND_U64, db_size_max_mib, 1, CONFIG_DB_SIZE_MAX_MIB),
};

#define CONFIG_KEY_COUNT (sizeof config_keys / sizeof config_keys[0])

/* Parsing state: the config being filled, which keys were seen, the line counter of our
 * reader (inih's handler does not get the line number in Debian's build) and the first
 * error. */
struct config_parse {
    const char *origin;
    struct config config;
    bool seen[CONFIG_KEY_COUNT];
    const char *text;
    size_t size;
    size_t pos;
    unsigned line;
    bool failed;
    char error[CONFIG_ERROR_MAX];
};

void
config_default(struct config *out)
{
    ASSERT(out != NULL);
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "node");
    out->log_level = LOG_LEVEL_INFO;
    snprintf(out->genesis_path, sizeof out->genesis_path, "genesis.json");
    snprintf(out->data_dir, sizeof out->data_dir, "data");
    snprintf(out->consensus_key_path, sizeof out->consensus_key_path, "keys/consensus.key");
    snprintf(out->transport_key_path, sizeof out->transport_key_path, "keys/transport.key");
    snprintf(out->p2p_listen, sizeof out->p2p_listen, "127.0.0.1:9000");
    out->peers_max = 256;
    out->frame_size_max = 8u << 20;
    out->queue_bytes_max = 16u << 20;
    snprintf(out->api_listen, sizeof out->api_listen, "127.0.0.1:8080");
    out->api_connections_max = 256;
    out->api_body_size_max = 1u << 20;
    out->api_request_timeout_ms = 10000;
    out->mempool_txs_max = 10000;
    out->mempool_bytes_max = 64u << 20;
    out->verify_threads = 2;
    out->idle_block_interval_ms = 250;
    out->min_block_interval_ms = CONFIG_MIN_BLOCK_INTERVAL_DEFAULT;
    out->state_retain_versions = CONFIG_STATE_RETAIN_DEFAULT;
    out->db_size_max_mib = CONFIG_DB_SIZE_DEFAULT_MIB;
}

static void parse_fail(struct config_parse *p, const char *section, const char *name,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
parse_fail(struct config_parse *p, const char *section, const char *name, const char *fmt, ...)
{
    if (p->failed) {
        return; /* the first error is the one reported */
    }
    p->failed = true;
    char what[CONFIG_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    /* Key and line first; a long message is cut at the end. */
    if (name != NULL) {
        snprintf(p->error, sizeof p->error, "%s:%u: [%s] %s: ", p->origin, p->line, section, name);
    } else {
        snprintf(p->error, sizeof p->error, "%s:%u: ", p->origin, p->line);
    }
    size_t used = strlen(p->error);
    size_t room = sizeof p->error - 1 - used;
    size_t what_size = strlen(what);
    size_t take = what_size < room ? what_size : room;
    memcpy(p->error + used, what, take);
    p->error[used + take] = '\0';
}

bool
config_address_is_valid(const char *text)
{
    ASSERT(text != NULL);
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon == text) {
        return false;
    }
    char host[CONFIG_ADDRESS_MAX + 1];
    size_t host_size = (size_t)(colon - text);
    if (host_size >= sizeof host) {
        return false;
    }
    memcpy(host, text, host_size);
    host[host_size] = '\0';
    const char *port = colon + 1;
    size_t port_size = strlen(port);
    if (port_size == 0 || port_size > 5) {
        return false;
    }
    unsigned long value = 0;
    for (size_t i = 0; i < port_size; i++) {
        if (port[i] < '0' || port[i] > '9') {
            return false;
        }
        value = value * 10 + (unsigned long)(port[i] - '0');
    }
    if (value > 65535) {
        return false;
    }
    uint8_t addr[16];
    if (host[0] == '[') {
        if (host_size < 3 || host[host_size - 1] != ']') {
            return false;
        }
        host[host_size - 1] = '\0';
        return inet_pton(AF_INET6, host + 1, addr) == 1;
    }
    return inet_pton(AF_INET, host, addr) == 1;
}

enum err
config_key_parse(const char *text, size_t size, struct public_key *out)
{
    ASSERT(text != NULL);
    ASSERT(out != NULL);
    const char *colon = memchr(text, ':', size);
    if (colon == NULL) {
        return ERR_MALFORMED;
    }
    char alg_text[16];
    size_t alg_size = (size_t)(colon - text);
    if (alg_size == 0 || alg_size >= sizeof alg_text) {
        return ERR_MALFORMED;
    }
    memcpy(alg_text, text, alg_size);
    alg_text[alg_size] = '\0';
    enum sig_alg alg;
    if (!sig_alg_parse(alg_text, &alg)) {
        return ERR_MALFORMED;
    }
    struct public_key key = { 0 };
    size_t key_size = 0;
    const char *hex = colon + 1;
    size_t hex_size = size - alg_size - 1;
    if (hex_decode(hex, hex_size, key.bytes, sizeof key.bytes, &key_size) != ERR_OK ||
        key_size != sig_alg_public_key_size(alg)) {
        return ERR_MALFORMED;
    }
    key.alg = (uint8_t)alg;
    key.size = (uint8_t)key_size;
    if (public_key_check(&key) != ERR_OK) {
        return ERR_MALFORMED;
    }
    *out = key;
    return ERR_OK;
}

static bool
number_parse(const char *value, uint64_t *out)
{
    if (value[0] < '0' || value[0] > '9') {
        return false; /* no sign, no space, no empty */
    }
    errno = 0;
    char *end = NULL;
    unsigned long long n = strtoull(value, &end, 10);
    if (errno != 0 || end == NULL || *end != '\0') {
        return false;
    }
    *out = (uint64_t)n;
    return true;
}

static void
set_peer(struct config_parse *p, const struct config_key *key, const char *value)
{
    struct config *c = &p->config;
    if (c->peer_count == CONFIG_PEERS_MAX) {
        parse_fail(p, key->section, key->name, "more than %d peers", CONFIG_PEERS_MAX);
        return;
    }
    const char *at = strchr(value, '@');
    if (at == NULL) {
        parse_fail(p, key->section, key->name, "expected <alg>:<hex key>@<ip>:<port>, got '%s'",
                   value);
        return;
    }
    struct config_peer peer = { 0 };
    if (config_key_parse(value, (size_t)(at - value), &peer.key) != ERR_OK) {
        parse_fail(p, key->section, key->name, "bad public key in '%s'", value);
        return;
    }
    char host[P2P_ADDRESS_TEXT_MAX];
    char port[8];
    if (strlen(at + 1) > CONFIG_ADDRESS_MAX ||
        (!config_address_is_valid(at + 1) && p2p_host_port_split(at + 1, host, port) != ERR_OK)) {
        parse_fail(p, key->section, key->name,
                   "bad address in '%s' (ip:port, [ipv6]:port or host name:port)", value);
        return;
    }
    snprintf(peer.address, sizeof peer.address, "%s", at + 1);
    for (size_t i = 0; i < c->peer_count; i++) {
        if (public_key_equal(&c->peers[i].key, &peer.key)) {
            parse_fail(p, key->section, key->name, "peer key listed twice: '%s'", value);
            return;
        }
    }
    c->peers[c->peer_count++] = peer;
}

static void
set_number(struct config_parse *p, const struct config_key *key, const char *value, void *field)
{
    uint64_t n = 0;
    if (!number_parse(value, &n)) {
        parse_fail(p, key->section, key->name, "not a decimal number: '%s'", value);
        return;
    }
    if (n < key->min || n > key->max) {
        char range[96];
        snprintf(range, sizeof range, "%llu out of range %llu..%llu", (unsigned long long)n,
                 (unsigned long long)key->min, (unsigned long long)key->max);
        parse_fail(p, key->section, key->name, "%s", range);
        return;
    }
    if (key->kind == KIND_U32) {
        uint32_t v = (uint32_t)n;
        memcpy(field, &v, sizeof v);
    } else {
        memcpy(field, &n, sizeof n);
    }
}

static void
set_value(struct config_parse *p, const struct config_key *key, const char *value)
{
    void *field = (uint8_t *)&p->config + key->offset;
    switch (key->kind) {
    case KIND_TEXT:
    case KIND_PATH:
    case KIND_ADDRESS:
        if (strlen(value) >= key->size) {
            parse_fail(p, key->section, key->name, "value too long: '%s'", value);
            return;
        }
        if (key->kind == KIND_ADDRESS && !config_address_is_valid(value)) {
            parse_fail(p, key->section, key->name,
                       "bad address '%s' (numeric ip:port or [ipv6]:port)", value);
            return;
        }
        snprintf(field, key->size, "%s", value);
        return;
    case KIND_U32:
    case KIND_U64:
        set_number(p, key, value, field);
        return;
    case KIND_LOG_LEVEL: {
        enum log_level level;
        if (!log_level_parse(value, &level)) {
            parse_fail(p, key->section, key->name,
                       "unknown level '%s' (error, warn, notice, info, debug)", value);
            return;
        }
        memcpy(field, &level, sizeof level);
        return;
    }
    case KIND_PEER:
        set_peer(p, key, value);
        return;
    }
    UNREACHABLE();
}

static int
config_handler(void *user, const char *section, const char *name, const char *value)
{
    struct config_parse *p = user;
    if (name == NULL) {
        return 1; /* a section start; checked with its first key */
    }
    size_t i = 0;
    bool section_known = false;
    for (; i < CONFIG_KEY_COUNT; i++) {
        if (strcmp(config_keys[i].section, section) == 0) {
            section_known = true;
            if (strcmp(config_keys[i].name, name) == 0) {
                break;
            }
        }
    }
    if (!section_known) {
        parse_fail(p, section, name, "unknown section [%s]", section);
        return 0;
    }
    if (i == CONFIG_KEY_COUNT) {
        parse_fail(p, section, name, "unknown key");
        return 0;
    }
    const struct config_key *key = &config_keys[i];
    if (p->seen[i] && key->kind != KIND_PEER) {
        parse_fail(p, section, name, "set twice");
        return 0;
    }
    p->seen[i] = true;
    if (value == NULL || value[0] == '\0') {
        parse_fail(p, section, name, "empty value");
        return 0;
    }
    set_value(p, key, value);
    return p->failed ? 0 : 1;
}

/* inih reader over our buffer: one line per call, counting lines. */
static char *
config_reader(char *str, int num, void *stream)
{
    struct config_parse *p = stream;
    ASSERT(num > 1);
    if (p->pos >= p->size) {
        return NULL;
    }
    size_t room = (size_t)num - 1;
    size_t n = 0;
    while (p->pos < p->size && n < room) {
        char ch = p->text[p->pos++];
        str[n++] = ch;
        if (ch == '\n') {
            break;
        }
    }
    str[n] = '\0';
    p->line++;
    bool complete = (n > 0 && str[n - 1] == '\n') || p->pos == p->size;
    if (!complete) {
        /* A line longer than inih's buffer: refuse it rather than let inih split it. */
        parse_fail(p, NULL, NULL, "line longer than %d bytes", num - 2);
        p->pos = p->size;
        str[0] = '\0';
    }
    return str;
}

static void
check_whole(struct config_parse *p)
{
    const struct config *c = &p->config;
    bool has_file = c->passphrase_file[0] != '\0';
    bool has_env = c->passphrase_env[0] != '\0';
    if (has_file == has_env) {
        snprintf(p->error, sizeof p->error,
                 "%s: [keys] passphrase_file / passphrase_env: set exactly one of them", p->origin);
        p->failed = true;
        return;
    }
    if (c->queue_bytes_max < (uint64_t)c->frame_size_max + 64ull * 1024u) {
        snprintf(p->error, sizeof p->error,
                 "%s: [p2p] queue_bytes_max: must be at least frame_size_max + 65536", p->origin);
        p->failed = true;
        return;
    }
    if (strcmp(c->p2p_listen, c->api_listen) == 0) {
        snprintf(p->error, sizeof p->error, "%s: [api] listen: same address as [p2p] listen (%s)",
                 p->origin, c->api_listen);
        p->failed = true;
        return;
    }
    if (c->state_retain_versions != 0 && c->state_retain_versions < CONFIG_STATE_RETAIN_MIN) {
        snprintf(p->error, sizeof p->error,
                 "%s: [storage] state_retain_versions: 0 (keep all) or at least %u", p->origin,
                 CONFIG_STATE_RETAIN_MIN);
        p->failed = true;
        return;
    }
}

enum err
config_decode(const char *origin, const char *text, size_t size, struct config *out,
              char error[CONFIG_ERROR_MAX])
{
    ASSERT(origin != NULL);
    ASSERT(text != NULL || size == 0);
    ASSERT(out != NULL);
    ASSERT(error != NULL);
    error[0] = '\0';
    if (size > CONFIG_FILE_SIZE_MAX) {
        snprintf(error, CONFIG_ERROR_MAX, "%s: larger than %u bytes", origin, CONFIG_FILE_SIZE_MAX);
        return ERR_TOO_LARGE;
    }
    if (memchr(text, '\0', size) != NULL) {
        snprintf(error, CONFIG_ERROR_MAX, "%s: contains a NUL byte", origin);
        return ERR_CONFIG;
    }
    struct config_parse *p = mem_calloc(1, sizeof *p);
    p->origin = origin;
    p->text = text;
    p->size = size;
    config_default(&p->config);
    int line = ini_parse_stream(config_reader, p, config_handler, p);
    if (line != 0 && !p->failed) {
        /* inih's own complaint: a line that is neither [section] nor key = value. */
        snprintf(p->error, sizeof p->error, "%s:%d: expected [section] or key = value", origin,
                 line);
        p->failed = true;
    }
    if (!p->failed) {
        check_whole(p);
    }
    enum err rc = ERR_OK;
    if (p->failed) {
        snprintf(error, CONFIG_ERROR_MAX, "%s", p->error);
        rc = ERR_CONFIG;
    } else {
        *out = p->config;
    }
    mem_free(p);
    return rc;
}

enum err
config_load(const char *path, struct config *out, char error[CONFIG_ERROR_MAX])
{
    ASSERT(path != NULL);
    ASSERT(error != NULL);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int saved = errno;
        snprintf(error, CONFIG_ERROR_MAX, "%s: cannot open: %s", path, strerror(saved));
        return saved == ENOENT ? ERR_NOT_FOUND : ERR_IO;
    }
    char *text = mem_alloc(CONFIG_FILE_SIZE_MAX + 1);
    size_t size = 0;
    enum err rc = ERR_OK;
    for (;;) {
        ssize_t n = read(fd, text + size, CONFIG_FILE_SIZE_MAX + 1 - size);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            snprintf(error, CONFIG_ERROR_MAX, "%s: read failed: %s", path, strerror(errno));
            rc = ERR_IO;
            break;
        }
        if (n == 0) {
            break;
        }
        size += (size_t)n;
        if (size > CONFIG_FILE_SIZE_MAX) {
            break;
        }
    }
    close(fd);
    if (rc == ERR_OK) {
        rc = config_decode(path, text, size, out, error);
    }
    mem_free(text);
    return rc;
}

enum err
config_path(const char *home, const char *path, char *out, size_t out_size)
{
    ASSERT(home != NULL);
    ASSERT(path != NULL);
    ASSERT(out != NULL);
    char joined[4096];
    int n = path[0] == '/' ? snprintf(joined, sizeof joined, "%s", path)
                           : snprintf(joined, sizeof joined, "%s/%s", home, path);
    if (n < 0 || (size_t)n >= out_size || (size_t)n >= sizeof joined) {
        return ERR_TOO_LARGE;
    }
    memcpy(out, joined, (size_t)n + 1);
    return ERR_OK;
}
