/* `lianmeng bench`: the load generator for a local devnet (node/devnet.h, --load-accounts).
 *
 * Pre-signs test.set puts (a fresh key per tx, a value of --size-min..--size-max bytes: the
 * size of a notary anchor's note) from the devnet's demo load accounts, then submits them in
 * binary batches (application/vnd.lianmeng.txs) to every node over persistent HTTP/1.1
 * connections (non-blocking sockets,
 * poll), at --rate tx/s or as fast as the nodes answer (--rate 0), for --duration seconds. A
 * second thread polls the final blocks of node 0 (/v1/status, /v1/blocks/{h}: tx hashes only)
 * every BENCH_POLL_MS and marks each of our txs final when it appears in one. Reports submitted,
 * admitted and finalized tx/s, submit-to-final latency percentiles, rejections by code and each
 * node's CPU and RSS (from /proc/PID of the pids in devnet.json); one progress line a second on a
 * terminal; a JSON report with --report FILE. Bounded: at most BENCH_TXS_MAX txs, --duration +
 * --drain seconds. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/api_body.h"
#include "api/client.h"
#include "base/assert.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/reader.h"
#include "base/text.h"
#include "base/thread.h"
#include "cli/cli.h"
#include "cli/cli_util.h"
#include "codec/consensus_types.h"
#include "codec/notary_args.h"
#include "codec/tx.h"
#include "crypto/hash.h"
#include "crypto/sign.h"
#include "node/devnet.h"

#define BENCH_TXS_MAX        2000000u
#define BENCH_NODES_MAX      DEVNET_NODES_MAX
#define BENCH_CONNS_MAX      16 /* per node */
#define BENCH_BODY_MAX       (900u << 10)
#define BENCH_BATCH_MAX      1000u
#define BENCH_RESPONSE_MAX   (4u << 20)
#define BENCH_CODES_MAX      32
#define BENCH_POLL_MS        10
#define BENCH_EXPIRY_WINDOW  50000u
#define BENCH_DRAIN_MAX_S    600u
#define BENCH_DURATION_MAX_S 3600u

enum bench_workload {
    BENCH_WL_MIXED,  /* notary anchors, every 10th tx of an account an account operation */
    BENCH_WL_ANCHOR, /* notary anchors only */
    BENCH_WL_PUT,    /* test.set puts (devnet test module) */
};

static const char *const bench_workload_names[] = { "mixed", "anchor", "put" };

enum bench_tx_state {
    TX_WAITING,
    TX_SENT,
    TX_ADMITTED,
    TX_REJECTED,
};

struct bench_tx {
    size_t wire_off; /* into bench.wire: the signed canonical bytes */
    uint32_t wire_size;
    uint8_t node;
    uint8_t state; /* enum bench_tx_state; main thread only */
    struct hash hash;
    uint64_t submit_ns; /* main thread only */
    _Atomic uint64_t final_ns;
};

struct bench_conn {
    int fd;
    unsigned node;
    bool busy; /* a request is out */
    struct buf out;
    size_t out_off;
    struct buf in;
    size_t first; /* index into the node's queue of the batch's first tx */
    size_t count;
};

/* A node's threads of one name (lianmeng = the loop, lm-ledger, lm-verify, ...): CPU ticks
 * summed over them at the run's start and at the last sample. */
#define BENCH_THREAD_KINDS 8
struct bench_thread_kind {
    char name[16];
    uint64_t ticks_start;
    uint64_t ticks_end;
};

struct bench_proc {
    long pid;
    uint64_t cpu_ticks_start; /* utime + stime */
    uint64_t cpu_ticks_end;
    uint64_t sys_ticks_start;
    uint64_t sys_ticks_end;
    uint64_t rss_kib;
    uint64_t hwm_kib;
    size_t kind_count;
    struct bench_thread_kind kinds[BENCH_THREAD_KINDS];
};

struct bench_code {
    char name[40];
    uint64_t count;
};

struct bench {
    /* options */
    char dir[1024];
    double rate;
    unsigned duration_s;
    unsigned drain_s;
    unsigned accounts;
    unsigned first_account;
    bool nonces_from_chain; /* --nonces chain: each account's next nonce from node 0 */
    unsigned window;
    unsigned alg;
    unsigned size_min;
    unsigned size_max;
    enum bench_workload workload;
    unsigned batch;
    unsigned conns;
    size_t max_txs;
    const char *report;
    bool quiet;
    /* devnet */
    unsigned node_count;
    char host[BENCH_NODES_MAX][256];
    uint16_t port[BENCH_NODES_MAX];
    struct bench_proc procs[BENCH_NODES_MAX];
    enum hash_alg hash_alg;
    struct hash chain_id;
    uint64_t start_height;
    /* txs */
    size_t tx_count;
    struct bench_tx *txs;
    uint8_t *wire;
    size_t wire_bytes;              /* signed bytes of all txs */
    size_t *queue[BENCH_NODES_MAX]; /* tx indices per node, in global order */
    size_t queue_size[BENCH_NODES_MAX];
    size_t queue_next[BENCH_NODES_MAX];
    uint32_t *table; /* hash table: tx index + 1, 0 empty */
    size_t table_mask;
    /* counters */
    uint64_t submitted;
    uint64_t admitted;
    uint64_t rejected;
    struct bench_code codes[BENCH_CODES_MAX];
    size_t code_count;
    uint64_t transport_errors;
    _Atomic uint64_t finalized;
    _Atomic uint64_t blocks;
    _Atomic uint64_t block_txs;
    _Atomic uint64_t height;
    _Atomic bool stop_poller;
    _Atomic uint64_t poll_errors;
    uint64_t start_ns;
};

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
bench_usage(FILE *out)
{
    fprintf(out,
            "usage: lianmeng bench [--devnet DIR] [--rate TX_PER_S] [--duration S] [--drain S]\n"
            "                      [--accounts N] [--alg ed25519|sm2] [--size-min B]\n"
            "                      [--size-max B] [--batch N] [--conns N] [--max-txs N]\n"
            "                      [--first-account K] [--window N] [--report FILE] [--quiet]\n"
            "                      [--workload mixed|anchor|put] [--nonces zero|chain]\n\n"
            "Load generator for a devnet started with `lianmeng devnet --load-accounts N`.\n"
            "Pre-signs --workload txs (default mixed: notary anchors with notes of\n"
            "--size-min..--size-max bytes, capped at the notary's 256, and every 10th tx of an\n"
            "account an account operation, add_key or remove_key of one extra key; anchor:\n"
            "anchors only; put: test.set puts of --size-min..--size-max bytes, default\n"
            "100..1000) from\n"
            "the first --accounts demo load accounts (default 1000; keys of --alg, default\n"
            "ed25519), submits them to every node of DIR/devnet.json (default ./devnet) over\n"
            "--conns keep-alive connections per node (default 2) in batches of up to --batch\n"
            "txs (default 200), at --rate tx/s in all (0: as fast as accepted; default 1000) for\n"
            "--duration s (default 10), then waits up to --drain s (default 10) for the rest to\n"
            "become final. Reports submitted, admitted and finalized tx/s (finalized counted in\n"
            "node 0's final blocks), submit-to-final latency, rejections by code and each node's\n"
            "CPU and RSS. --max-txs bounds the pre-signed txs (default rate x duration, or\n"
            "200000 with --rate 0). --first-account K uses load accounts K.. . --nonces zero\n"
            "(default) starts every account at nonce 0 (accounts no earlier run used); --nonces\n"
            "chain asks node 0 for each account's next nonce (accounts an earlier, finished run\n"
            "used). With --rate 0 at most --window txs (default\n"
            "6000) are out and not yet final. Devnet only: the load accounts' keys are public.\n");
}

static int
parse_ulong(const char *text, unsigned long max, unsigned long *out)
{
    if (text == NULL || text[0] < '0' || text[0] > '9') {
        return -1;
    }
    errno = 0;
    char *end = NULL;
    unsigned long v = strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

/* One option with its value (v: "" when missing); nonzero when it is bad. */
static int
parse_option(struct bench *b, const char *a, const char *v, unsigned long *max_txs)
{
    unsigned long n = 0;
    int bad = 0;
    if (strcmp(a, "--devnet") == 0) {
        bad = v[0] == '\0' || strlen(v) >= sizeof b->dir;
        snprintf(b->dir, sizeof b->dir, "%s", v);
    } else if (strcmp(a, "--report") == 0) {
        bad = v[0] == '\0';
        b->report = v;
    } else if (strcmp(a, "--workload") == 0) {
        bad = 1;
        for (unsigned w = 0; w < 3; w++) {
            if (strcmp(v, bench_workload_names[w]) == 0) {
                b->workload = (enum bench_workload)w;
                bad = 0;
            }
        }
    } else if (strcmp(a, "--alg") == 0) {
        bad = strcmp(v, "ed25519") != 0 && strcmp(v, "sm2") != 0;
        b->alg = strcmp(v, "sm2") == 0 ? SIG_SM2 : SIG_ED25519;
    } else if (strcmp(a, "--rate") == 0) {
        bad = parse_ulong(v, 10000000, &n);
        b->rate = (double)n;
    } else if (strcmp(a, "--duration") == 0) {
        bad = parse_ulong(v, BENCH_DURATION_MAX_S, &n) != 0 || n == 0;
        b->duration_s = (unsigned)n;
    } else if (strcmp(a, "--drain") == 0) {
        bad = parse_ulong(v, BENCH_DRAIN_MAX_S, &n);
        b->drain_s = (unsigned)n;
    } else if (strcmp(a, "--accounts") == 0) {
        bad = parse_ulong(v, DEVNET_LOAD_ACCOUNTS_MAX, &n) != 0 || n == 0;
        b->accounts = (unsigned)n;
    } else if (strcmp(a, "--first-account") == 0) {
        bad = parse_ulong(v, DEVNET_LOAD_ACCOUNTS_MAX - 1, &n);
        b->first_account = (unsigned)n;
    } else if (strcmp(a, "--nonces") == 0) {
        bad = strcmp(v, "zero") != 0 && strcmp(v, "chain") != 0;
        b->nonces_from_chain = strcmp(v, "chain") == 0;
    } else if (strcmp(a, "--window") == 0) {
        bad = parse_ulong(v, BENCH_TXS_MAX, &n) != 0 || n == 0;
        b->window = (unsigned)n;
    } else if (strcmp(a, "--size-min") == 0) {
        bad = parse_ulong(v, DEVNET_LOAD_VALUE_MAX, &n) != 0 || n == 0;
        b->size_min = (unsigned)n;
    } else if (strcmp(a, "--size-max") == 0) {
        bad = parse_ulong(v, DEVNET_LOAD_VALUE_MAX, &n) != 0 || n == 0;
        b->size_max = (unsigned)n;
    } else if (strcmp(a, "--batch") == 0) {
        bad = parse_ulong(v, BENCH_BATCH_MAX, &n) != 0 || n == 0;
        b->batch = (unsigned)n;
    } else if (strcmp(a, "--conns") == 0) {
        bad = parse_ulong(v, BENCH_CONNS_MAX, &n) != 0 || n == 0;
        b->conns = (unsigned)n;
    } else if (strcmp(a, "--max-txs") == 0) {
        bad = parse_ulong(v, BENCH_TXS_MAX, max_txs) != 0 || *max_txs == 0;
    } else {
        bad = 1;
    }
    return bad;
}

static int
parse_args(struct bench *b, int argc, char **argv)
{
    snprintf(b->dir, sizeof b->dir, "devnet");
    b->rate = 1000;
    b->duration_s = 10;
    b->drain_s = 10;
    b->accounts = 1000;
    b->alg = SIG_ED25519;
    b->size_min = 100;
    b->size_max = 1000;
    b->batch = 200;
    b->conns = 2;
    b->window = 6000;
    unsigned long max_txs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            bench_usage(stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(a, "--quiet") == 0) {
            b->quiet = true;
            continue;
        }
        if (v == NULL) {
            v = ""; /* every option below takes a value; "" fails its check */
        }
        int bad = parse_option(b, a, v, &max_txs);
        if (bad) {
            fprintf(stderr, "lianmeng bench: bad argument '%s'\n", a);
            bench_usage(stderr);
            return CLI_EXIT_USAGE;
        }
        i++;
    }
    if (b->first_account + b->accounts > DEVNET_LOAD_ACCOUNTS_MAX) {
        fprintf(stderr, "lianmeng bench: --first-account + --accounts above %u\n",
                (unsigned)DEVNET_LOAD_ACCOUNTS_MAX);
        return CLI_EXIT_USAGE;
    }
    if (b->size_min > b->size_max) {
        fprintf(stderr, "lianmeng bench: --size-min above --size-max\n");
        return CLI_EXIT_USAGE;
    }
    if (max_txs == 0) {
        double want = b->rate > 0 ? b->rate * b->duration_s : 200000.0;
        max_txs = want > BENCH_TXS_MAX ? BENCH_TXS_MAX : (unsigned long)want;
    }
    b->max_txs = max_txs == 0 ? 1 : max_txs;
    return CLI_CONTINUE;
}

/* DIR/devnet.json: the API address and pid of each node. */
static int
load_devnet(struct bench *b)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/devnet.json", b->dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    json_t *nodes = root != NULL ? json_object_get(root, "nodes") : NULL;
    if (!json_is_array(nodes) || json_array_size(nodes) == 0 ||
        json_array_size(nodes) > BENCH_NODES_MAX) {
        fprintf(stderr, "lianmeng bench: cannot read %s; start `lianmeng devnet` first\n", path);
        json_decref(root);
        return CLI_EXIT_FAILURE;
    }
    b->node_count = (unsigned)json_array_size(nodes);
    for (unsigned i = 0; i < b->node_count; i++) {
        json_t *n = json_array_get(nodes, i);
        const char *api = json_string_value(json_object_get(n, "api"));
        struct api_client c;
        if (api == NULL || strncmp(api, "http://", 7) != 0 ||
            api_client_init(&c, api + 7) != ERR_OK) {
            fprintf(stderr, "lianmeng bench: bad node address in %s\n", path);
            json_decref(root);
            return CLI_EXIT_FAILURE;
        }
        snprintf(b->host[i], sizeof b->host[i], "%s", c.host);
        b->port[i] = c.port;
        b->procs[i].pid = (long)json_integer_value(json_object_get(n, "pid"));
    }
    json_decref(root);
    if (devnet_chain(b->dir, &b->hash_alg, &b->chain_id) != ERR_OK) {
        fprintf(stderr, "lianmeng bench: cannot read the genesis of %s\n", b->dir);
        return CLI_EXIT_FAILURE;
    }
    return CLI_CONTINUE;
}

static struct api_client
node_client(const struct bench *b, unsigned i)
{
    struct api_client c;
    memset(&c, 0, sizeof c);
    snprintf(c.host, sizeof c.host, "%s", b->host[i]);
    c.port = b->port[i];
    c.timeout_ms = 5000;
    c.response_size_max = 64u << 20;
    return c;
}

/* GET path on node i as JSON: NULL unless the answer is 200 with a JSON body. *out_status
 * (may be NULL): the HTTP status, or -1 when the node could not be reached. */
static json_t *
get_json_status(const struct bench *b, unsigned i, const char *path, int *out_status)
{
    struct api_client c = node_client(b, i);
    struct api_client_response resp;
    int status = -1;
    json_t *j = NULL;
    if (api_client_get(&c, path, &resp) == ERR_OK) {
        status = resp.status;
        if (resp.status == 200) {
            json_error_t jerr;
            j = json_loadb((const char *)resp.body, resp.body_size, 0, &jerr);
        }
        api_client_response_release(&resp);
    }
    if (out_status != NULL) {
        *out_status = status;
    }
    return j;
}

/* GET path on node i as JSON, NULL on any failure. */
static json_t *
get_json(const struct bench *b, unsigned i, const char *path)
{
    return get_json_status(b, i, path, NULL);
}

static bool
final_height(const struct bench *b, uint64_t *out)
{
    json_t *s = get_json(b, 0, "/v1/status");
    json_t *h = json_object_get(json_object_get(s, "final"), "height");
    bool ok = json_is_integer(h);
    if (ok) {
        *out = (uint64_t)json_integer_value(h);
    }
    json_decref(s);
    return ok;
}

static uint64_t
xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static void
table_insert(struct bench *b, size_t index)
{
    size_t slot = (size_t)load_u64(b->txs[index].hash.bytes) & b->table_mask;
    while (b->table[slot] != 0) {
        slot = (slot + 1) & b->table_mask;
    }
    b->table[slot] = (uint32_t)(index + 1);
}

static struct bench_tx *
table_find(const struct bench *b, const struct hash *h)
{
    size_t slot = (size_t)load_u64(h->bytes) & b->table_mask;
    for (size_t probes = 0; probes <= b->table_mask && b->table[slot] != 0; probes++) {
        struct bench_tx *t = &b->txs[b->table[slot] - 1];
        if (memcmp(t->hash.bytes, h->bytes, HASH_SIZE) == 0) {
            return t;
        }
        slot = (slot + 1) & b->table_mask;
    }
    return NULL;
}

/* What signing the load txs one by one needs. */
struct presign {
    struct secret_key **keys; /* of the load accounts */
    uint64_t *nonces;
    uint64_t expiry;
    struct public_key extra_pub; /* the key account operations add and remove again */
    unsigned note_min;           /* anchor notes: --size-min..--size-max capped by the notary */
    unsigned note_max;
    uint64_t rng;
    uint8_t value[DEVNET_LOAD_VALUE_MAX];
    struct buf wire;
    size_t wire_cap;
};

static unsigned
min_u(unsigned a, unsigned b)
{
    return a < b ? a : b;
}

/* Sizes the tables for b->tx_count txs. */
static void
presign_alloc(struct bench *b, struct presign *p)
{
    b->txs = mem_calloc(b->tx_count, sizeof *b->txs);
    p->wire_cap = b->tx_count * ((size_t)b->size_max + 300);
    b->wire = mem_alloc(p->wire_cap);
    for (unsigned n = 0; n < b->node_count; n++) {
        /* tx i goes to node (i % accounts) % nodes: at most ceil(txs / accounts) txs of each
         * of the node's ceil(accounts / nodes) accounts */
        size_t per_account = (b->tx_count + b->accounts - 1) / b->accounts;
        size_t accounts = (b->accounts + b->node_count - 1) / b->node_count;
        b->queue[n] = mem_calloc(per_account * accounts + 1, sizeof *b->queue[n]);
    }
    size_t table_size = 1;
    while (table_size < 2 * b->tx_count) {
        table_size <<= 1;
    }
    b->table = mem_calloc(table_size, sizeof *b->table);
    b->table_mask = table_size - 1;
}

/* Signs tx i (account i % accounts, its next nonce) into p->wire. */
static enum err
sign_one(const struct bench *b, struct presign *p, size_t i)
{
    uint32_t a = (uint32_t)(i % b->accounts);
    uint8_t key[24] = "bench/";
    store_u32(key + 6, b->first_account + a);
    store_u64(key + 10, p->nonces[a]);
    store_u32(key + 18, (uint32_t)(b->start_height & 0xffffffffu));
    bool put = b->workload == BENCH_WL_PUT;
    unsigned lo = put ? b->size_min : p->note_min;
    unsigned hi = put ? b->size_max : p->note_max;
    size_t size = lo + (size_t)(xorshift(&p->rng) % (hi - lo + 1u));
    for (size_t k = 0; k < size; k++) {
        /* puts: any bytes; notes: printable ASCII (UTF-8) */
        uint64_t r = xorshift(&p->rng);
        p->value[k] = put ? (uint8_t)r : (uint8_t)(' ' + r % 95);
    }
    /* mixed: every 10th tx of an account adds the extra key, the next 10th removes it */
    bool key_op = b->workload == BENCH_WL_MIXED && p->nonces[a] % 10 == 9;
    bool add = (p->nonces[a] / 10) % 2 == 0;
    buf_reset(&p->wire);
    struct devnet_load_tx lt = { .alg = b->hash_alg,
                                 .chain_id = b->chain_id,
                                 .secret = p->keys[a],
                                 .nonce = p->nonces[a]++,
                                 .expiry_height = p->expiry,
                                 .key = key,
                                 .key_size = sizeof key,
                                 .value = p->value,
                                 .value_size = size,
                                 .account_key = &p->extra_pub };
    hash_bytes(b->hash_alg, key, sizeof key, &lt.document);
    return put      ? devnet_load_put(&lt, &p->wire)
           : key_op ? devnet_load_key_op(&lt, add, &p->wire)
                    : devnet_load_anchor(&lt, &p->wire);
}

/* --nonces chain: each account's next nonce, read from node 0 (GET /v1/accounts/{address}).
 * An account the chain does not know yet starts at 0. */
static int
chain_nonces(const struct bench *b, struct presign *p)
{
    for (uint32_t a = 0; a < b->accounts; a++) {
        struct public_key pub;
        secret_key_public(p->keys[a], &pub);
        struct address addr;
        address_of(b->hash_alg, &pub, &addr);
        char path[64] = "/v1/accounts/";
        hex_encode(addr.bytes, ADDRESS_SIZE, path + strlen(path));
        int status = 0;
        json_t *j = get_json_status(b, 0, path, &status);
        if (status < 0) {
            fprintf(stderr, "lianmeng bench: cannot reach node 0 for nonces\n");
            return CLI_EXIT_UNREACHABLE;
        }
        json_t *nonce = json_object_get(j, "nonce");
        if (status == 200 && json_is_integer(nonce) && json_integer_value(nonce) >= 0) {
            p->nonces[a] = (uint64_t)json_integer_value(nonce);
        } else if (status != 404) {
            fprintf(stderr, "lianmeng bench: node 0 answered %d for account %u's nonce\n", status,
                    b->first_account + a);
            json_decref(j);
            return CLI_EXIT_FAILURE;
        }
        json_decref(j);
    }
    return CLI_CONTINUE;
}

/* Signs every tx up front. Account a's txs go to node a % nodes, with nonces 0, 1, 2, ...
 * (a fresh devnet, or --first-account past the accounts earlier runs used), or from the
 * account's next nonce on the chain (--nonces chain). */
static int
presign(struct bench *b)
{
    struct presign p = { .expiry = b->start_height + BENCH_EXPIRY_WINDOW,
                         .rng = 0x9e3779b97f4a7c15u };
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    p.keys = mem_calloc(b->accounts, sizeof *p.keys);
    p.nonces = mem_calloc(b->accounts, sizeof *p.nonces);
    p.note_max = min_u(b->size_max, NOTARY_NOTE_SIZE_MAX);
    p.note_min = min_u(b->size_min, p.note_max);
    int exit_code = CLI_CONTINUE;
    for (uint32_t a = 0; a < b->accounts && exit_code == CLI_CONTINUE; a++) {
        if (devnet_load_key(b->alg, b->first_account + a, &p.keys[a]) != ERR_OK) {
            fprintf(stderr, "lianmeng bench: cannot derive load key %u\n", a);
            exit_code = CLI_EXIT_FAILURE;
        }
    }
    struct secret_key *extra = NULL;
    if (exit_code == CLI_CONTINUE &&
        devnet_load_key(b->alg, DEVNET_LOAD_ACCOUNTS_MAX, &extra) != ERR_OK) {
        fprintf(stderr, "lianmeng bench: cannot derive the account-operation key\n");
        exit_code = CLI_EXIT_FAILURE;
    }
    if (extra != NULL) {
        secret_key_public(extra, &p.extra_pub);
    }
    if (exit_code == CLI_CONTINUE && b->nonces_from_chain) {
        exit_code = chain_nonces(b, &p);
    }
    b->tx_count = b->max_txs;
    presign_alloc(b, &p);
    buf_init(&p.wire, TX_SIZE_MAX);
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < b->tx_count && exit_code == CLI_CONTINUE; i++) {
        enum err rc = sign_one(b, &p, i);
        if (rc != ERR_OK || b->wire_bytes + p.wire.size > p.wire_cap) {
            fprintf(stderr, "lianmeng bench: cannot sign tx %zu: %s\n", i, err_str(rc));
            exit_code = CLI_EXIT_FAILURE;
            break;
        }
        struct bench_tx *t = &b->txs[i];
        t->wire_off = b->wire_bytes;
        t->wire_size = (uint32_t)p.wire.size;
        memcpy(b->wire + b->wire_bytes, p.wire.data, p.wire.size);
        b->wire_bytes += p.wire.size;
        tx_hash(b->hash_alg, p.wire.data, p.wire.size, &t->hash);
        t->node = (uint8_t)((i % b->accounts) % b->node_count);
        b->queue[t->node][b->queue_size[t->node]++] = i;
        table_insert(b, i);
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    if (exit_code == CLI_CONTINUE && !b->quiet) {
        fprintf(stderr, "bench: signed %zu txs from %u accounts in %.1f s\n", b->tx_count,
                b->accounts, secs);
    }
    buf_release(&p.wire);
    for (uint32_t a = 0; a < b->accounts; a++) {
        secret_key_free(p.keys[a]);
    }
    secret_key_free(extra);
    mem_free(p.keys);
    mem_free(p.nonces);
    return exit_code;
}

/* Fetches final block `height` from node 0 (header and tx hashes, no tx bodies) and stamps
 * our txs in it final. */
static enum err
poll_block(struct bench *b, uint64_t height)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/blocks/%llu", (unsigned long long)height);
    json_t *blk = get_json(b, 0, path);
    json_t *hashes = json_object_get(blk, "tx_hashes");
    enum err rc = json_is_array(hashes) ? ERR_OK : ERR_MALFORMED;
    uint64_t t = now_ns();
    for (size_t i = 0; rc == ERR_OK && i < json_array_size(hashes); i++) {
        const char *hex = json_string_value(json_array_get(hashes, i));
        struct hash h;
        size_t size = 0;
        rc = hex != NULL ? hex_decode(hex, strlen(hex), h.bytes, HASH_SIZE, &size) : ERR_MALFORMED;
        if (rc == ERR_OK && size != HASH_SIZE) {
            rc = ERR_MALFORMED;
        }
        struct bench_tx *tx = rc == ERR_OK ? table_find(b, &h) : NULL;
        uint64_t zero = 0;
        if (tx != NULL && atomic_compare_exchange_strong(&tx->final_ns, &zero, t)) {
            atomic_fetch_add(&b->finalized, 1);
        }
    }
    if (rc == ERR_OK) {
        atomic_fetch_add(&b->blocks, 1);
        atomic_fetch_add(&b->block_txs, json_array_size(hashes));
        atomic_store(&b->height, height);
    }
    json_decref(blk);
    return rc;
}

/* The poller thread: walks node 0's final blocks and stamps our txs final. */
static void *
poller_main(void *arg)
{
    struct bench *b = arg;
    thread_set_name("lm-bench-poll");
    uint64_t next = b->start_height + 1;
    while (!atomic_load(&b->stop_poller)) {
        uint64_t top = 0;
        if (!final_height(b, &top)) {
            atomic_fetch_add(&b->poll_errors, 1);
        }
        while (next <= top && !atomic_load(&b->stop_poller)) {
            if (poll_block(b, next) != ERR_OK) {
                atomic_fetch_add(&b->poll_errors, 1);
                break;
            }
            next++;
        }
        struct timespec ts = { 0, BENCH_POLL_MS * 1000000L };
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static int
conn_open(struct bench *b, struct bench_conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        return -1;
    }
    int one = 1;
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(b->port[c->node]);
    const char *host = strcmp(b->host[c->node], "localhost") == 0 ? "127.0.0.1" : b->host[c->node];
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

static size_t
txs_allowed(const struct bench *b, uint64_t t)
{
    if (b->rate <= 0) {
        return b->tx_count;
    }
    double want = b->rate * (double)(t - b->start_ns) / 1e9;
    return want >= (double)b->tx_count ? b->tx_count : (size_t)want;
}

/* Builds the next batch for an idle connection: txs of its node whose global index is
 * released by the rate. False when there is nothing to send now. */
static bool
conn_fill(struct bench *b, struct bench_conn *c, uint64_t t)
{
    unsigned n = c->node;
    size_t allowed = txs_allowed(b, t);
    if (b->rate <= 0) {
        /* as fast as accepted, with at most `window` txs out and not yet final (every
         * node's mempool holds all of them) */
        uint64_t out = b->submitted - b->rejected - atomic_load(&b->finalized);
        if (out >= b->window) {
            return false;
        }
        size_t room = b->window - (size_t)out;
        if (room < b->batch / 2 + 1) {
            return false;
        }
    }
    size_t first = b->queue_next[n];
    size_t count = 0;
    size_t body = 0;
    while (first + count < b->queue_size[n] && count < b->batch) {
        const struct bench_tx *tx = &b->txs[b->queue[n][first + count]];
        if (b->queue[n][first + count] >= allowed || body + 4u + tx->wire_size > BENCH_BODY_MAX) {
            break;
        }
        body += 4u + tx->wire_size;
        count++;
    }
    if (count == 0) {
        return false;
    }
    b->queue_next[n] += count;
    buf_reset(&c->out);
    enum err rc = buf_printf(&c->out,
                             "POST /v1/txs HTTP/1.1\r\nHost: %s:%u\r\nContent-Type: %s\r\n"
                             "Content-Length: %zu\r\n\r\n",
                             b->host[n], (unsigned)b->port[n], API_BATCH_CONTENT_TYPE, body);
    for (size_t k = 0; k < count && rc == ERR_OK; k++) {
        struct bench_tx *tx = &b->txs[b->queue[n][first + k]];
        uint8_t len[4];
        store_u32(len, tx->wire_size);
        rc = buf_append(&c->out, len, sizeof len);
        if (rc == ERR_OK) {
            rc = buf_append(&c->out, b->wire + tx->wire_off, tx->wire_size);
        }
        tx->state = TX_SENT;
        tx->submit_ns = t;
    }
    ASSERT(rc == ERR_OK);
    c->first = first;
    c->count = count;
    c->out_off = 0;
    c->busy = true;
    buf_reset(&c->in);
    b->submitted += count;
    return true;
}

static void
count_code(struct bench *b, const char *code)
{
    for (size_t i = 0; i < b->code_count; i++) {
        if (strcmp(b->codes[i].name, code) == 0) {
            b->codes[i].count++;
            return;
        }
    }
    if (b->code_count < BENCH_CODES_MAX) {
        snprintf(b->codes[b->code_count].name, sizeof b->codes[0].name, "%s", code);
        b->codes[b->code_count++].count = 1;
    }
}

/* Marks the batch's txs from the answer. */
static void
conn_answer(struct bench *b, struct bench_conn *c, int status, const uint8_t *body, size_t size)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)body, size, 0, &jerr);
    json_t *results = json_object_get(root, "results");
    for (size_t k = 0; k < c->count; k++) {
        struct bench_tx *tx = &b->txs[b->queue[c->node][c->first + k]];
        json_t *r = json_array_get(results, k);
        json_t *e = r != NULL ? json_object_get(r, "error") : json_object_get(root, "error");
        if (status == 200 && r != NULL && e == NULL) {
            tx->state = TX_ADMITTED;
            b->admitted++;
        } else {
            const char *code = json_string_value(json_object_get(e, "code"));
            tx->state = TX_REJECTED;
            b->rejected++;
            char fallback[40];
            snprintf(fallback, sizeof fallback, "http_%d", status);
            count_code(b, code != NULL ? code : fallback);
        }
    }
    json_decref(root);
    c->busy = false;
}

/* Parses a complete response in c->in if there is one. 1: done, 0: need more, -1: bad. */
static int
conn_parse(struct bench *b, struct bench_conn *c)
{
    const char *data = (const char *)c->in.data;
    size_t size = c->in.size;
    const char *end = NULL;
    for (size_t i = 0; i + 3 < size; i++) {
        if (memcmp(data + i, "\r\n\r\n", 4) == 0) {
            end = data + i + 4;
            break;
        }
    }
    if (end == NULL) {
        return size > API_CLIENT_HEAD_MAX ? -1 : 0;
    }
    int status = 0;
    if (size < 12 || strncmp(data, "HTTP/1.", 7) != 0) {
        return -1;
    }
    status = (data[9] - '0') * 100 + (data[10] - '0') * 10 + (data[11] - '0');
    size_t length = 0;
    bool have_length = false;
    for (const char *p = data; p < end; p++) {
        if ((p == data || p[-1] == '\n') && (size_t)(end - p) > 15 &&
            strncasecmp(p, "content-length:", 15) == 0) {
            length = (size_t)strtoul(p + 15, NULL, 10);
            have_length = true;
        }
    }
    if (!have_length || length > BENCH_RESPONSE_MAX) {
        return -1;
    }
    size_t head = (size_t)(end - data);
    if (size < head + length) {
        return 0;
    }
    conn_answer(b, c, status, (const uint8_t *)end, length);
    return 1;
}

/* A transport failure: the batch counts as rejected (code "transport"), the socket is
 * reopened. */
static void
conn_fail(struct bench *b, struct bench_conn *c)
{
    if (c->busy) {
        for (size_t k = 0; k < c->count; k++) {
            b->txs[b->queue[c->node][c->first + k]].state = TX_REJECTED;
        }
        b->rejected += c->count;
        for (size_t k = 0; k < c->count; k++) {
            count_code(b, "transport");
        }
        c->busy = false;
    }
    b->transport_errors++;
    if (c->fd >= 0) {
        close(c->fd);
    }
    c->fd = -1;
    (void)conn_open(b, c);
}

static void
conn_io(struct bench *b, struct bench_conn *c, short revents)
{
    if ((revents & (POLLERR | POLLHUP)) != 0 && (revents & POLLIN) == 0) {
        conn_fail(b, c);
        return;
    }
    if ((revents & POLLOUT) != 0 && c->busy && c->out_off < c->out.size) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.size - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            conn_fail(b, c);
            return;
        }
    }
    if ((revents & POLLIN) != 0) {
        uint8_t chunk[65536];
        ssize_t n = recv(c->fd, chunk, sizeof chunk, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            conn_fail(b, c);
            return;
        }
        if (n > 0 && (!c->busy || buf_append(&c->in, chunk, (size_t)n) != ERR_OK)) {
            conn_fail(b, c);
            return;
        }
        if (n > 0 && conn_parse(b, c) < 0) {
            conn_fail(b, c);
        }
    }
}

static double
ticks_s(uint64_t start, uint64_t end, long hz)
{
    return end >= start && hz > 0 ? (double)(end - start) / (double)hz : 0;
}

/* utime and stime (ticks) and the name of a /proc stat file ("pid (comm) state ppid pgrp
 * session tty tpgid flags minflt cminflt majflt cmajflt utime stime ..."). */
static bool
stat_read(const char *path, char comm[16], uint64_t *utime, uint64_t *stime)
{
    char text[2048];
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *open = strchr(text, '(');
    const char *s = strrchr(text, ')');
    if (open == NULL || s == NULL || s < open) {
        return false;
    }
    size_t len = (size_t)(s - open - 1) < 15 ? (size_t)(s - open - 1) : 15;
    memcpy(comm, open + 1, len);
    comm[len] = '\0';
    uint64_t t[2] = { 0, 0 };
    for (unsigned field = 0; s != NULL && field < 13; field++) {
        s = strchr(s + 1, ' ');
        if (s != NULL && field >= 11) {
            t[field - 11] = strtoull(s + 1, NULL, 10);
        }
    }
    *utime = t[0];
    *stime = t[1];
    return s != NULL;
}

/* Adds each thread's ticks to its kind (by name) at the start or at the latest sample. */
static void
proc_sample_threads(struct bench_proc *p, bool start)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/task", p->pid);
    DIR *d = opendir(path);
    if (d == NULL) {
        return;
    }
    uint64_t sums[BENCH_THREAD_KINDS] = { 0 };
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char comm[16];
        uint64_t u = 0;
        uint64_t s = 0;
        char stat[300];
        if (e->d_name[0] == '.' ||
            snprintf(stat, sizeof stat, "%s/%s/stat", path, e->d_name) >= (int)sizeof stat ||
            !stat_read(stat, comm, &u, &s)) {
            continue;
        }
        size_t k = 0;
        while (k < p->kind_count && strcmp(p->kinds[k].name, comm) != 0) {
            k++;
        }
        if (k == p->kind_count) {
            if (k == BENCH_THREAD_KINDS) {
                continue;
            }
            memcpy(p->kinds[k].name, comm, sizeof comm);
            p->kind_count++;
        }
        sums[k] += u + s;
    }
    closedir(d);
    for (size_t k = 0; k < p->kind_count; k++) {
        if (start) {
            p->kinds[k].ticks_start = sums[k];
        } else {
            p->kinds[k].ticks_end = sums[k];
        }
    }
}

static void
proc_sample(struct bench_proc *p, bool start)
{
    char path[64];
    char comm[16];
    uint64_t utime = 0;
    uint64_t stime = 0;
    snprintf(path, sizeof path, "/proc/%ld/stat", p->pid);
    if (p->pid <= 0 || !stat_read(path, comm, &utime, &stime)) {
        return;
    }
    if (start) {
        p->cpu_ticks_start = utime + stime;
        p->sys_ticks_start = stime;
    } else {
        p->cpu_ticks_end = utime + stime;
        p->sys_ticks_end = stime;
    }
    proc_sample_threads(p, start);
    snprintf(path, sizeof path, "/proc/%ld/status", p->pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    char line[256];
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            unsigned long long v = strtoull(line + 6, NULL, 10);
            p->rss_kib = v > p->rss_kib ? v : p->rss_kib;
        } else if (strncmp(line, "VmHWM:", 6) == 0) {
            p->hwm_kib = strtoull(line + 6, NULL, 10);
        }
    }
    fclose(f);
}

static int
compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

/* Submits until the duration is over, then waits for the admitted txs to become final. */
static void
run_load(struct bench *b, struct bench_conn *conns, size_t conn_count)
{
    struct pollfd pfd[BENCH_NODES_MAX * BENCH_CONNS_MAX];
    uint64_t end_ns = b->start_ns + (uint64_t)b->duration_s * 1000000000u;
    uint64_t drain_end = end_ns + (uint64_t)b->drain_s * 1000000000u;
    uint64_t next_progress = b->start_ns + 1000000000u;
    bool tty = isatty(STDERR_FILENO) != 0 && !b->quiet;
    for (;;) {
        uint64_t t = now_ns();
        bool submitting = t < end_ns;
        size_t busy = 0;
        for (size_t i = 0; i < conn_count; i++) {
            if (submitting && !conns[i].busy && conns[i].fd >= 0) {
                (void)conn_fill(b, &conns[i], t);
            }
            busy += conns[i].busy ? 1 : 0;
            pfd[i].fd = conns[i].fd;
            pfd[i].events =
                (short)(POLLIN |
                        (conns[i].busy && conns[i].out_off < conns[i].out.size ? POLLOUT : 0));
            pfd[i].revents = 0;
        }
        if (t >= next_progress) {
            if (tty) {
                fprintf(stderr,
                        "t=%3llus submitted=%llu admitted=%llu finalized=%llu rejected=%llu "
                        "height=%llu\n",
                        (unsigned long long)((t - b->start_ns) / 1000000000u),
                        (unsigned long long)b->submitted, (unsigned long long)b->admitted,
                        (unsigned long long)atomic_load(&b->finalized),
                        (unsigned long long)b->rejected,
                        (unsigned long long)atomic_load(&b->height));
            }
            for (unsigned i = 0; i < b->node_count; i++) {
                proc_sample(&b->procs[i], false);
            }
            next_progress += 1000000000u;
        }
        if (!submitting && busy == 0 &&
            (atomic_load(&b->finalized) >= b->admitted || t >= drain_end)) {
            break;
        }
        if (t >= drain_end + 5000000000u) {
            break; /* requests that never answered */
        }
        (void)poll(pfd, (nfds_t)conn_count, 2);
        for (size_t i = 0; i < conn_count; i++) {
            if (pfd[i].revents != 0 && conns[i].fd >= 0) {
                conn_io(b, &conns[i], pfd[i].revents);
            }
        }
    }
}

struct bench_result {
    double elapsed_s;
    uint64_t finalized_in_window;
    uint64_t latency_count;
    double p50_ms;
    double p90_ms;
    double p99_ms;
    double max_ms;
    double mean_ms;
};

static void
summarize(struct bench *b, struct bench_result *r)
{
    uint64_t window_end = b->start_ns + (uint64_t)b->duration_s * 1000000000u;
    uint64_t *lat = mem_calloc(b->tx_count + 1, sizeof *lat);
    size_t count = 0;
    double sum = 0;
    for (size_t i = 0; i < b->tx_count; i++) {
        uint64_t f = atomic_load(&b->txs[i].final_ns);
        if (f == 0 || b->txs[i].submit_ns == 0) {
            continue;
        }
        if (f <= window_end) {
            r->finalized_in_window++;
        }
        lat[count] = f > b->txs[i].submit_ns ? f - b->txs[i].submit_ns : 0;
        sum += (double)lat[count];
        count++;
    }
    qsort(lat, count, sizeof *lat, compare_u64);
    r->latency_count = count;
    if (count > 0) {
        size_t at50 = count * 50 / 100;
        r->p50_ms = (double)lat[at50] / 1e6;
        size_t at90 = count * 90 / 100;
        r->p90_ms = (double)lat[at90] / 1e6;
        size_t at99 = count * 99 / 100;
        r->p99_ms = (double)lat[at99] / 1e6;
        r->max_ms = (double)lat[count - 1] / 1e6;
        r->mean_ms = sum / (double)count / 1e6;
    }
    mem_free(lat);
}

static json_t *
report_json(const struct bench *b, const struct bench_result *r)
{
    double d = (double)b->duration_s;
    json_t *root = json_object();
    json_t *opt = json_object();
    json_object_set_new(opt, "rate", json_real(b->rate));
    json_object_set_new(opt, "duration_s", json_integer(b->duration_s));
    json_object_set_new(opt, "accounts", json_integer(b->accounts));
    json_object_set_new(opt, "alg", json_string(sig_alg_name((enum sig_alg)b->alg)));
    json_object_set_new(opt, "hash", json_string(hash_alg_name(b->hash_alg)));
    json_object_set_new(opt, "size_min", json_integer(b->size_min));
    json_object_set_new(opt, "size_max", json_integer(b->size_max));
    json_object_set_new(opt, "workload", json_string(bench_workload_names[b->workload]));
    json_object_set_new(opt, "batch", json_integer(b->batch));
    json_object_set_new(opt, "first_account", json_integer(b->first_account));
    json_object_set_new(opt, "window", json_integer(b->window));
    json_object_set_new(opt, "conns_per_node", json_integer(b->conns));
    json_object_set_new(opt, "nodes", json_integer(b->node_count));
    json_object_set_new(opt, "tx_kind", json_string("test.set"));
    json_object_set_new(root, "options", opt);
    uint64_t fin = atomic_load(&b->finalized);
    json_object_set_new(root, "presigned", json_integer((json_int_t)b->tx_count));
    json_object_set_new(
        root, "tx_bytes_mean",
        json_integer((json_int_t)(b->wire_bytes / (b->tx_count > 0 ? b->tx_count : 1))));
    json_object_set_new(root, "submitted", json_integer((json_int_t)b->submitted));
    json_object_set_new(root, "admitted", json_integer((json_int_t)b->admitted));
    json_object_set_new(root, "rejected", json_integer((json_int_t)b->rejected));
    json_object_set_new(root, "finalized", json_integer((json_int_t)fin));
    json_object_set_new(root, "finalized_in_window",
                        json_integer((json_int_t)r->finalized_in_window));
    json_object_set_new(root, "submitted_per_s", json_real((double)b->submitted / d));
    json_object_set_new(root, "admitted_per_s", json_real((double)b->admitted / d));
    json_object_set_new(root, "finalized_per_s", json_real((double)r->finalized_in_window / d));
    json_object_set_new(root, "elapsed_s", json_real(r->elapsed_s));
    json_t *lat = json_object();
    json_object_set_new(lat, "count", json_integer((json_int_t)r->latency_count));
    json_object_set_new(lat, "p50", json_real(r->p50_ms));
    json_object_set_new(lat, "p90", json_real(r->p90_ms));
    json_object_set_new(lat, "p99", json_real(r->p99_ms));
    json_object_set_new(lat, "max", json_real(r->max_ms));
    json_object_set_new(lat, "mean", json_real(r->mean_ms));
    json_object_set_new(root, "latency_ms", lat);
    json_t *codes = json_object();
    for (size_t i = 0; i < b->code_count; i++) {
        json_object_set_new(codes, b->codes[i].name, json_integer((json_int_t)b->codes[i].count));
    }
    json_object_set_new(root, "rejections", codes);
    json_object_set_new(root, "transport_errors", json_integer((json_int_t)b->transport_errors));
    json_object_set_new(root, "poll_errors",
                        json_integer((json_int_t)atomic_load(&b->poll_errors)));
    json_object_set_new(root, "blocks", json_integer((json_int_t)atomic_load(&b->blocks)));
    json_object_set_new(root, "block_txs", json_integer((json_int_t)atomic_load(&b->block_txs)));
    json_t *nodes = json_array();
    long hz = sysconf(_SC_CLK_TCK);
    double cpu_all = 0;
    for (unsigned i = 0; i < b->node_count; i++) {
        const struct bench_proc *p = &b->procs[i];
        json_t *n = json_object();
        json_object_set_new(n, "pid", json_integer(p->pid));
        double cpu = p->cpu_ticks_end >= p->cpu_ticks_start && hz > 0
                         ? (double)(p->cpu_ticks_end - p->cpu_ticks_start) / (double)hz
                         : 0;
        json_object_set_new(n, "cpu_s", json_real(cpu));
        json_object_set_new(n, "cpu_percent", json_real(100.0 * cpu / r->elapsed_s));
        json_object_set_new(n, "cpu_sys_s",
                            json_real(ticks_s(p->sys_ticks_start, p->sys_ticks_end, hz)));
        json_t *threads = json_object();
        for (size_t k = 0; k < p->kind_count; k++) {
            json_object_set_new(
                threads, p->kinds[k].name,
                json_real(ticks_s(p->kinds[k].ticks_start, p->kinds[k].ticks_end, hz)));
        }
        json_object_set_new(n, "threads_cpu_s", threads);
        cpu_all += cpu;
        json_object_set_new(n, "rss_kib_max", json_integer((json_int_t)p->rss_kib));
        json_object_set_new(n, "hwm_kib", json_integer((json_int_t)p->hwm_kib));
        json_array_append_new(nodes, n);
    }
    json_object_set_new(root, "nodes", nodes);
    /* The steadiest throughput figure on a shared machine: node CPU per finalized tx. */
    uint64_t finalized = atomic_load(&b->finalized);
    json_object_set_new(root, "cpu_us_per_tx_node",
                        json_real(finalized > 0 && b->node_count > 0
                                      ? 1e6 * cpu_all / (double)finalized / b->node_count
                                      : 0));
    return root;
}

static void
print_summary(const struct bench *b, const struct bench_result *r, json_t *rep)
{
    printf("bench: %u nodes, %s/%s, rate %s, %u s, workload %s, sizes %u..%u B\n", b->node_count,
           sig_alg_name((enum sig_alg)b->alg), hash_alg_name(b->hash_alg),
           b->rate > 0 ? "fixed" : "max", b->duration_s, bench_workload_names[b->workload],
           b->size_min, b->size_max);
    printf("submitted %.0f tx/s, admitted %.0f tx/s, finalized %.0f tx/s (%llu in the window, "
           "%llu in all)\n",
           json_real_value(json_object_get(rep, "submitted_per_s")),
           json_real_value(json_object_get(rep, "admitted_per_s")),
           json_real_value(json_object_get(rep, "finalized_per_s")),
           (unsigned long long)r->finalized_in_window,
           (unsigned long long)atomic_load(&b->finalized));
    printf("latency submit->final ms: p50 %.1f p90 %.1f p99 %.1f max %.1f\n", r->p50_ms, r->p90_ms,
           r->p99_ms, r->max_ms);
    printf("rejected %llu", (unsigned long long)b->rejected);
    for (size_t i = 0; i < b->code_count; i++) {
        printf(" %s=%llu", b->codes[i].name, (unsigned long long)b->codes[i].count);
    }
    printf("\n");
    json_t *nodes = json_object_get(rep, "nodes");
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        json_t *n = json_array_get(nodes, i);
        printf("node%zu pid %lld cpu %.0f%% rss %lld KiB", i,
               (long long)json_integer_value(json_object_get(n, "pid")),
               json_real_value(json_object_get(n, "cpu_percent")),
               (long long)json_integer_value(json_object_get(n, "rss_kib_max")));
        double elapsed = json_real_value(json_object_get(rep, "elapsed_s"));
        const char *name;
        json_t *v;
        json_object_foreach(json_object_get(n, "threads_cpu_s"), name, v)
        {
            double pct = elapsed > 0 ? 100.0 * json_real_value(v) / elapsed : 0;
            if (pct >= 0.5) {
                printf(" %s %.0f%%", name, pct);
            }
        }
        printf("\n");
    }
    printf("node cpu per finalized tx: %.1f us (each node)\n",
           json_real_value(json_object_get(rep, "cpu_us_per_tx_node")));
}

static void
bench_release(struct bench *b)
{
    mem_free(b->txs);
    mem_free(b->wire);
    mem_free(b->table);
    for (unsigned n = 0; n < BENCH_NODES_MAX; n++) {
        mem_free(b->queue[n]);
    }
}

int
cli_cmd_bench(int argc, char **argv)
{
    struct bench *b = mem_calloc(1, sizeof *b);
    int rc = parse_args(b, argc, argv);
    if (rc == CLI_CONTINUE) {
        rc = load_devnet(b);
    }
    if (rc == CLI_CONTINUE && !final_height(b, &b->start_height)) {
        fprintf(stderr, "lianmeng bench: node 0 does not answer /v1/status\n");
        rc = CLI_EXIT_UNREACHABLE;
    }
    if (rc == CLI_CONTINUE) {
        rc = presign(b);
    }
    if (rc != CLI_CONTINUE) {
        bench_release(b);
        mem_free(b);
        return rc;
    }
    size_t conn_count = (size_t)b->node_count * b->conns;
    struct bench_conn *conns = mem_calloc(conn_count, sizeof *conns);
    for (size_t i = 0; i < conn_count; i++) {
        conns[i].node = (unsigned)(i % b->node_count);
        buf_init(&conns[i].out, BENCH_BODY_MAX + 4096);
        buf_init(&conns[i].in, BENCH_RESPONSE_MAX + API_CLIENT_HEAD_MAX);
        (void)conn_open(b, &conns[i]);
    }
    for (unsigned i = 0; i < b->node_count; i++) {
        proc_sample(&b->procs[i], true);
    }
    b->start_ns = now_ns();
    pthread_t poller;
    bool poller_started = pthread_create(&poller, NULL, poller_main, b) == 0;
    if (poller_started) {
        run_load(b, conns, conn_count);
        atomic_store(&b->stop_poller, true);
        pthread_join(poller, NULL);
    }
    struct bench_result r;
    memset(&r, 0, sizeof r);
    r.elapsed_s = (double)(now_ns() - b->start_ns) / 1e9;
    for (unsigned i = 0; i < b->node_count; i++) {
        proc_sample(&b->procs[i], false);
    }
    for (size_t i = 0; i < conn_count; i++) {
        if (conns[i].fd >= 0) {
            close(conns[i].fd);
        }
        buf_release(&conns[i].out);
        buf_release(&conns[i].in);
    }
    mem_free(conns);
    summarize(b, &r);
    json_t *rep = report_json(b, &r);
    print_summary(b, &r, rep);
    rc = poller_started ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
    if (b->report != NULL && json_dump_file(rep, b->report, JSON_INDENT(2)) != 0) {
        fprintf(stderr, "lianmeng bench: cannot write %s\n", b->report);
        rc = CLI_EXIT_FAILURE;
    }
    json_decref(rep);
    bench_release(b);
    mem_free(b);
    return rc;
}
