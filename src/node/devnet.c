#include "node/devnet.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/reader.h"
#include "base/text.h"
#include "codec/codec.h"
#include "codec/notary_args.h"
#include "codec/tx.h"
#include "crypto/keystore.h"
#include "crypto/sign.h"
#include "ledger/account.h"
#include "ledger/genesis.h"
#include "ledger/test_module.h"
#include "node/config.h"
#include "node/genesis_json.h"

#define DEVNET_PATH_MAX       1024
#define DEVNET_PASSPHRASE_HEX 32
#define DEVNET_CHAIN_NAME     "lianmeng-devnet"
#define DEVNET_BACKOFF_MAX_S  30
#define DEVNET_STABLE_S       10 /* a node that ran this long restarts without back-off */

/* The public half of what devnet_init made for one node. */
struct devnet_node_keys {
    struct public_key consensus;
    struct public_key transport;
    struct public_key account;
};

static const char *const demo_institutions[] = {
    "Beijing Commercial Bank", "Fudan University", "Shenzhen Standards Institute",
    "Hangzhou Daily",          "Wuhan Logistics",  "Chengdu Hospital",
};

static enum err
join(char *out, const char *a, const char *b)
{
    int n = snprintf(out, DEVNET_PATH_MAX, "%s/%s", a, b);
    return n < 0 || n >= DEVNET_PATH_MAX ? ERR_TOO_LARGE : ERR_OK;
}

static enum err
ensure_dir(const char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST) {
        return ERR_OK;
    }
    enum err rc = err_from_errno(errno);
    log_error(LOG_NODE, "devnet: cannot create directory path=%s error=%s", path, strerror(errno));
    return rc;
}

static bool
file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Writes a whole file atomically (temp + fsync + rename) with the given mode. */
static enum err
write_file(const char *path, const void *data, size_t size, mode_t mode)
{
    char tmp[DEVNET_PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        log_error(LOG_NODE, "devnet: cannot write path=%s error=%s", tmp, strerror(errno));
        return err_from_errno(errno);
    }
    enum err rc = ERR_OK;
    const uint8_t *p = data;
    size_t done = 0;
    while (done < size && rc == ERR_OK) {
        ssize_t n = write(fd, p + done, size - done);
        if (n < 0 && errno != EINTR) {
            rc = err_from_errno(errno);
        } else if (n > 0) {
            done += (size_t)n;
        }
    }
    if (rc == ERR_OK && fsync(fd) != 0) {
        rc = err_from_errno(errno);
    }
    close(fd);
    if (rc == ERR_OK && rename(tmp, path) != 0) {
        rc = err_from_errno(errno);
    }
    if (rc != ERR_OK) {
        unlink(tmp);
        log_error(LOG_NODE, "devnet: cannot write path=%s error=%s", path, err_str(rc));
    }
    return rc;
}

static enum err
read_small_file(const char *path, char *out, size_t out_max, size_t *out_size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return err_from_errno(errno);
    }
    ssize_t n = read(fd, out, out_max - 1);
    close(fd);
    if (n < 0) {
        return ERR_IO;
    }
    out[n] = '\0';
    *out_size = (size_t)n;
    return ERR_OK;
}

static enum err
read_passphrase(const char *path, char out[DEVNET_PASSPHRASE_HEX + 1])
{
    char text[DEVNET_PASSPHRASE_HEX + 8];
    size_t size = 0;
    enum err rc = read_small_file(path, text, sizeof text, &size);
    if (rc != ERR_OK || size < DEVNET_PASSPHRASE_HEX) {
        log_error(LOG_NODE, "devnet: unreadable passphrase file path=%s", path);
        return rc != ERR_OK ? rc : ERR_CORRUPT;
    }
    memcpy(out, text, DEVNET_PASSPHRASE_HEX);
    out[DEVNET_PASSPHRASE_HEX] = '\0';
    return ERR_OK;
}

/* The passphrase of a node's keys: read back, or made and written (0600) if missing. */
static enum err
ensure_passphrase(const char *home, char out[DEVNET_PASSPHRASE_HEX + 1])
{
    char path[DEVNET_PATH_MAX];
    enum err rc = join(path, home, "passphrase");
    if (rc != ERR_OK) {
        return rc;
    }
    if (file_exists(path)) {
        return read_passphrase(path, out);
    }
    uint8_t random[DEVNET_PASSPHRASE_HEX / 2];
    if (getrandom(random, sizeof random, 0) != (ssize_t)sizeof random) {
        return ERR_IO;
    }
    hex_encode(random, sizeof random, out);
    char line[DEVNET_PASSPHRASE_HEX + 2];
    snprintf(line, sizeof line, "%s\n", out);
    return write_file(path, line, DEVNET_PASSPHRASE_HEX + 1, 0600);
}

/* A key file's public key: read back, or a fresh Ed25519 key written under the passphrase. */
static enum err
ensure_key(const char *home, const char *name, const char *passphrase, struct public_key *out)
{
    char path[DEVNET_PATH_MAX];
    char rel[64];
    snprintf(rel, sizeof rel, "keys/%s.key", name);
    enum err rc = join(path, home, rel);
    if (rc != ERR_OK) {
        return rc;
    }
    rc = file_exists(path) ? keystore_read_public(path, out) : ERR_NOT_FOUND;
    if (rc != ERR_NOT_FOUND && rc != ERR_OK) {
        log_error(LOG_NODE, "devnet: cannot read key path=%s error=%s", path, err_str(rc));
    }
    if (rc != ERR_NOT_FOUND) {
        return rc;
    }
    struct secret_key *key = NULL;
    rc = secret_key_generate(SIG_ED25519, &key);
    if (rc != ERR_OK) {
        return rc;
    }
    /* Light Argon2id: a devnet starts in seconds; real deployments use the defaults. */
    struct keystore_params params = { .ops = KEYSTORE_OPS_MIN, .mem_kib = 8192 };
    rc = keystore_write(path, passphrase, strlen(passphrase), key, &params);
    if (rc == ERR_OK) {
        secret_key_public(key, out);
    } else {
        log_error(LOG_NODE, "devnet: cannot write key path=%s error=%s", path, err_str(rc));
    }
    secret_key_free(key);
    return rc;
}

static void
key_text(const struct public_key *key, char *out, size_t out_size)
{
    char hex[2 * PUBLIC_KEY_SIZE_MAX + 1];
    hex_encode(key->bytes, key->size, hex);
    snprintf(out, out_size, "%s:%s", sig_alg_name((enum sig_alg)key->alg), hex);
}

_Static_assert(DEVNET_LOAD_KEY_MAX == TEST_KEY_SIZE_MAX, "load key size");
_Static_assert(DEVNET_LOAD_VALUE_MAX == TEST_VALUE_SIZE_MAX, "load value size");

enum err
devnet_chain(const char *dir, enum hash_alg *out_alg, struct hash *out_chain_id)
{
    char path[DEVNET_PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/node0/genesis.json", dir);
    if (n < 0 || (size_t)n >= sizeof path) {
        return ERR_TOO_LARGE;
    }
    struct genesis g;
    enum err rc = genesis_json_load(path, &g);
    if (rc != ERR_OK) {
        return rc;
    }
    struct hash id;
    rc = genesis_hash(&g, &id);
    if (rc == ERR_OK) {
        *out_alg = g.hash_alg;
        *out_chain_id = id;
    }
    genesis_release(&g);
    return rc;
}

/* Signs a one-op tx of the load account t->secret. */
static enum err
load_sign(const struct devnet_load_tx *t, const char *module, const char *op,
          const struct buf *args, struct buf *out)
{
    struct public_key pub;
    secret_key_public(t->secret, &pub);
    struct tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = TX_TYPE_V1;
    tx.chain_id = t->chain_id;
    address_of(t->alg, &pub, &tx.sender);
    tx.key = pub;
    tx.nonce = t->nonce;
    tx.expiry_height = t->expiry_height;
    tx.op_count = 1;
    tx.ops[0] = (struct tx_op){ module, strlen(module), op, strlen(op), args->data, args->size };
    return tx_sign(t->alg, &tx, t->secret, out);
}

enum err
devnet_load_put(const struct devnet_load_tx *t, struct buf *out)
{
    struct buf args;
    buf_init(&args, TEST_KEY_SIZE_MAX + TEST_VALUE_SIZE_MAX + 64);
    enum err rc = test_module_set_args(t->key, t->key_size, t->value, t->value_size, &args);
    if (rc == ERR_OK) {
        rc = load_sign(t, TEST_MODULE, "set", &args, out);
    }
    buf_release(&args);
    return rc;
}

enum err
devnet_load_anchor(const struct devnet_load_tx *t, struct buf *out)
{
    struct buf args;
    buf_init(&args, NOTARY_ARGS_SIZE_MAX);
    struct notary_anchor_args a = { .document = t->document,
                                    .kind = "bench",
                                    .kind_size = 5,
                                    .note = (const char *)t->value,
                                    .note_size = t->value_size };
    enum err rc = notary_anchor_args_encode(&a, &args);
    if (rc == ERR_OK) {
        rc = load_sign(t, NOTARY_MODULE, NOTARY_OP_ANCHOR, &args, out);
    }
    buf_release(&args);
    return rc;
}

enum err
devnet_load_key_op(const struct devnet_load_tx *t, bool add, struct buf *out)
{
    struct buf args;
    buf_init(&args, 16 + PUBLIC_KEY_SIZE_MAX);
    enum err rc = codec_put_public_key(&args, t->account_key);
    if (rc == ERR_OK) {
        rc = load_sign(t, ACCOUNT_MODULE, add ? "add_key" : "remove_key", &args, out);
    }
    buf_release(&args);
    return rc;
}

enum err
devnet_load_key(unsigned alg, uint32_t i, struct secret_key **out)
{
    uint8_t seed_in[32] = "lianmeng/devnet-load/";
    size_t n = strlen((const char *)seed_in);
    seed_in[n] = (uint8_t)alg;
    store_u32(seed_in + n + 1, i);
    struct hash h;
    hash_bytes(HASH_SHA256, seed_in, n + 5, &h);
    return secret_key_import((enum sig_alg)alg, h.bytes, HASH_SIZE, out);
}

static unsigned
devnet_total(const struct devnet_options *o)
{
    return o->nodes + o->observers;
}

/* "node<i>" for the validators, "observer<j>" for the observers after them. */
static void
devnet_name(const struct devnet_options *o, unsigned i, char out[32])
{
    if (i < o->nodes) {
        snprintf(out, 32, "node%u", i);
    } else {
        snprintf(out, 32, "observer%u", i - o->nodes);
    }
}

static void
node_home(const struct devnet_options *o, unsigned i, char out[DEVNET_PATH_MAX])
{
    char name[32];
    devnet_name(o, i, name);
    snprintf(out, DEVNET_PATH_MAX, "%s/%s", o->dir, name);
}

static int
node_qsort_compare(const void *a, const void *b)
{
    return registered_node_compare(a, b);
}

/* Observer j is registered to institution j % nodes + 1 with its p2p address, by host name
 * ("localhost:port": validators resolve it as they would "node1.bank.example:port"). */
static enum err
add_observers(const struct devnet_options *o, const struct devnet_node_keys *keys,
              struct genesis *g)
{
    enum err rc = ERR_OK;
    for (unsigned j = 0; j < o->observers && rc == ERR_OK; j++) {
        struct registered_node node;
        memset(&node, 0, sizeof node);
        node.transport_key = keys[o->nodes + j].transport;
        node.institution = j % o->nodes + 1;
        snprintf(node.address, sizeof node.address, "localhost:%u",
                 (unsigned)o->p2p_base_port + o->nodes + j);
        rc = genesis_add_node(g, &node);
    }
    if (rc == ERR_OK && g->node_count > 1) {
        qsort(g->nodes, g->node_count, sizeof *g->nodes, node_qsort_compare);
    }
    return rc;
}

/* The demo genesis: one founding institution per node, each with one admin account and one
 * validator of power 1; the observers as registered nodes. */
static enum err
build_genesis(const struct devnet_options *o, const struct devnet_node_keys *keys, struct buf *out)
{
    struct genesis g;
    genesis_init(&g);
    snprintf(g.chain_name, sizeof g.chain_name, "%s", DEVNET_CHAIN_NAME);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    g.timestamp_us = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
    enum err rc = ERR_OK;
    size_t names = sizeof demo_institutions / sizeof demo_institutions[0];
    for (unsigned i = 0; i < o->nodes && rc == ERR_OK; i++) {
        char name[GENESIS_NAME_SIZE_MAX + 1];
        if (i < names) {
            snprintf(name, sizeof name, "%s", demo_institutions[i]);
        } else {
            snprintf(name, sizeof name, "Member %u", i + 1);
        }
        rc = genesis_add_institution(&g, i + 1, name, true);
        if (rc != ERR_OK) {
            break;
        }
        struct genesis_account acc = { .institution = i + 1, .admin = true, .key_count = 1 };
        acc.keys[0] = keys[i].account;
        rc = genesis_add_account(&g, &acc);
        struct vs_node *v = &g.validators->nodes[i];
        v->institution = i + 1;
        v->power = 1;
        v->consensus_key = keys[i].consensus;
        v->transport_key = keys[i].transport;
    }
    g.validators->count = o->nodes;
    if (rc == ERR_OK) {
        rc = add_observers(o, keys, &g);
    }
    if (o->hash_alg != 0) {
        g.hash_alg = (enum hash_alg)o->hash_alg;
    }
    for (uint32_t i = 0; i < o->load_accounts && rc == ERR_OK; i++) {
        struct secret_key *key = NULL;
        rc = devnet_load_key(o->load_alg, i, &key);
        if (rc == ERR_OK) {
            /* spread over the founding institutions: the mempool caps each institution's
             * share of the pool (mempool.h) */
            struct genesis_account acc = { .institution = i % o->nodes + 1,
                                           .admin = false,
                                           .key_count = 1 };
            secret_key_public(key, &acc.keys[0]);
            rc = genesis_add_account(&g, &acc);
        }
        secret_key_free(key);
    }
    if (rc == ERR_OK && o->load_accounts > 0) {
        g.params.sig_algs_allowed |= 1u << o->load_alg;
        rc = genesis_add_module(&g, TEST_MODULE, NULL, 0);
    }
    if (rc == ERR_OK) {
        rc = genesis_check(&g);
    }
    if (rc == ERR_OK) {
        rc = genesis_json_encode(&g, out);
    }
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "devnet: cannot build the genesis error=%s", err_str(rc));
    }
    genesis_release(&g);
    return rc;
}

#define DEVNET_MEMPOOL_TXS 50000u

/* Verify threads per node when `nodes` nodes share this machine's cores (at least 1). */
static unsigned
devnet_verify_threads(unsigned nodes)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned per = cores > 0 && nodes > 0 ? (unsigned)cores / nodes : 1u;
    return per > 0 ? per : 1u;
}

/* A node's config.local.ini, read whole (size 0 if absent), and which of the devnet's tuning
 * defaults it sets. */
struct local_config {
    char *text;
    size_t size;
    bool present;
    bool sets_log_level;      /* [node] log_level */
    bool sets_verify_threads; /* [verify] threads */
    bool sets_txs_max;        /* [mempool] txs_max */
};

/* inih handler: notes the tuning keys the local file sets (the node's own parser, which reads
 * the file the same way, judges everything else). */
static int
local_config_key(void *user, const char *section, const char *name, const char *value)
{
    (void)value;
    struct local_config *l = user;
    l->sets_log_level |= strcmp(section, "node") == 0 && strcmp(name, "log_level") == 0;
    l->sets_verify_threads |= strcmp(section, "verify") == 0 && strcmp(name, "threads") == 0;
    l->sets_txs_max |= strcmp(section, "mempool") == 0 && strcmp(name, "txs_max") == 0;
    return 1;
}

static enum err
local_config_read(const char *home, struct local_config *out)
{
    *out = (struct local_config){ 0 };
    char path[DEVNET_PATH_MAX];
    enum err rc = join(path, home, DEVNET_LOCAL_CONFIG);
    if (rc != ERR_OK || !file_exists(path)) {
        return rc;
    }
    out->text = mem_alloc(CONFIG_FILE_SIZE_MAX + 1);
    out->present = true;
    rc = read_small_file(path, out->text, CONFIG_FILE_SIZE_MAX + 1, &out->size);
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "devnet: cannot read path=%s error=%s", path, err_str(rc));
        return rc;
    }
    (void)ini_parse_string(out->text, local_config_key, out); /* up to a NUL, if any */
    return ERR_OK;
}

static void
local_config_release(struct local_config *l)
{
    mem_free(l->text);
    *l = (struct local_config){ 0 };
}

/* config.ini is written anew at every start (ports follow the options); a node's own settings
 * go in config.local.ini beside it, appended as it is. The devnet's defaults for tuning
 * ([node] log_level, [verify] threads, [mempool] txs_max) are left out where that file sets
 * them; any other key set in both (names, keys, addresses, peers: the devnet's own) is the
 * node's "set twice" error at start. */
static enum err
append_local_config(const struct local_config *l, struct buf *b)
{
    if (!l->present) {
        return ERR_OK;
    }
    /* the bytes as they are (a NUL included): the node's strict parser judges them */
    enum err rc = buf_printf(b, "; from %s\n", DEVNET_LOCAL_CONFIG);
    if (rc == ERR_OK) {
        rc = buf_append(b, l->text, l->size);
    }
    if (rc == ERR_OK && l->size > 0 && l->text[l->size - 1] != '\n') {
        rc = buf_append_byte(b, '\n');
    }
    if (rc == ERR_OK && b->size > CONFIG_FILE_SIZE_MAX) {
        rc = ERR_TOO_LARGE;
    }
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "devnet: cannot add %s error=%s", DEVNET_LOCAL_CONFIG, err_str(rc));
    }
    return rc;
}

static enum err
write_config(const struct devnet_options *o, unsigned i, const struct devnet_node_keys *keys)
{
    char home[DEVNET_PATH_MAX];
    char path[DEVNET_PATH_MAX];
    node_home(o, i, home);
    struct local_config local;
    enum err rc = local_config_read(home, &local);
    if (rc != ERR_OK) {
        local_config_release(&local);
        return rc;
    }
    struct buf b;
    buf_init(&b, (size_t)64 * 1024);
    char name[32];
    devnet_name(o, i, name);
    rc = buf_printf(&b,
                    "; written by `lianmeng devnet`; rewritten at every devnet start\n"
                    "[node]\nname = %s\n",
                    name);
    if (rc == ERR_OK && !local.sets_log_level) {
        rc = buf_printf(&b, "log_level = info\n");
    }
    if (rc == ERR_OK) {
        rc = buf_printf(&b,
                        "[keys]\npassphrase_file = passphrase\n"
                        "[p2p]\nlisten = 127.0.0.1:%u\n",
                        (unsigned)o->p2p_base_port + i);
    }
    for (unsigned j = 0; j < o->nodes && rc == ERR_OK; j++) {
        if (j == i) {
            continue;
        }
        char key[16 + 2 * PUBLIC_KEY_SIZE_MAX];
        key_text(&keys[j].transport, key, sizeof key);
        rc = buf_printf(&b, "peer = %s@127.0.0.1:%u\n", key, (unsigned)o->p2p_base_port + j);
    }
    if (rc == ERR_OK) {
        rc = buf_printf(&b, "[api]\nlisten = 127.0.0.1:%u\n", (unsigned)o->base_port + i);
    }
    if (rc == ERR_OK && !local.sets_verify_threads) {
        /* The nodes share this machine: verify threads beyond its cores / nodes only add
         * context switches (measured: ~9 % more CPU per tx with 2 threads per node for 4
         * nodes on 2 cores). */
        rc = buf_printf(&b, "[verify]\nthreads = %u\n", devnet_verify_threads(o->nodes));
    }
    if (rc == ERR_OK && !local.sets_txs_max) {
        /* Room for a load generator's full window in every institution's share (25 % of
         * txs_max): with the default 10,000 a 6,000-tx window hit the share, and each refused
         * tx left a nonce gap that held the account's later txs until expiry. */
        rc = buf_printf(&b, "[mempool]\ntxs_max = %u\n", DEVNET_MEMPOOL_TXS);
    }
    if (rc == ERR_OK) {
        rc = append_local_config(&local, &b);
    }
    if (rc == ERR_OK) {
        rc = join(path, home, "config.ini");
    }
    if (rc == ERR_OK) {
        rc = write_file(path, b.data, b.size, 0600);
    }
    buf_release(&b);
    local_config_release(&local);
    return rc;
}

static enum err
check_options(const struct devnet_options *o)
{
    if (o->nodes < 1 || o->nodes > DEVNET_NODES_MAX || o->dir == NULL || o->base_port == 0 ||
        o->p2p_base_port == 0) {
        return ERR_INVALID_ARG;
    }
    if (o->observers > DEVNET_OBSERVERS_MAX) {
        return ERR_INVALID_ARG;
    }
    unsigned api_end = (unsigned)o->base_port + devnet_total(o);
    unsigned p2p_end = (unsigned)o->p2p_base_port + devnet_total(o);
    if (api_end > 65536 || p2p_end > 65536) {
        return ERR_INVALID_ARG;
    }
    if (o->base_port < p2p_end && o->p2p_base_port < api_end) {
        return ERR_INVALID_ARG; /* the two port ranges overlap */
    }
    return ERR_OK;
}

/* Keys and passphrase of every node, made where missing. */
static enum err
ensure_node_keys(const struct devnet_options *o, struct devnet_node_keys *keys)
{
    for (unsigned i = 0; i < devnet_total(o); i++) {
        char home[DEVNET_PATH_MAX];
        char sub[DEVNET_PATH_MAX];
        char passphrase[DEVNET_PASSPHRASE_HEX + 1];
        node_home(o, i, home);
        enum err rc = ensure_dir(home);
        if (rc == ERR_OK) {
            rc = join(sub, home, "keys");
        }
        if (rc == ERR_OK) {
            rc = ensure_dir(sub);
        }
        if (rc == ERR_OK) {
            rc = ensure_passphrase(home, passphrase);
        }
        if (rc == ERR_OK) {
            rc = ensure_key(home, "consensus", passphrase, &keys[i].consensus);
        }
        if (rc == ERR_OK) {
            rc = ensure_key(home, "transport", passphrase, &keys[i].transport);
        }
        if (rc == ERR_OK) {
            rc = ensure_key(home, "account", passphrase, &keys[i].account);
        }
        memset(passphrase, 0, sizeof passphrase);
        if (rc != ERR_OK) {
            return rc;
        }
    }
    return ERR_OK;
}

/* ERR_EXISTS if DIR holds a devnet of another size (validators or observers); *out_reuse:
 * it holds one of this size. */
static enum err
check_existing(const struct devnet_options *o, bool *out_reuse)
{
    char home[DEVNET_PATH_MAX];
    char path[DEVNET_PATH_MAX];
    snprintf(home, sizeof home, "%s/node%u", o->dir, o->nodes);
    bool more = file_exists(home);
    snprintf(home, sizeof home, "%s/observer%u", o->dir, o->observers);
    more = more || file_exists(home);
    node_home(o, 0, home);
    bool first = join(path, home, "genesis.json") == ERR_OK && file_exists(path);
    node_home(o, devnet_total(o) - 1, home);
    bool last = join(path, home, "genesis.json") == ERR_OK && file_exists(path);
    if (more || (first && !last)) {
        log_error(LOG_NODE, "devnet: %s holds a devnet with %s than %u nodes and %u observers",
                  o->dir, more ? "more" : "fewer", o->nodes, o->observers);
        return ERR_EXISTS;
    }
    *out_reuse = first;
    return ERR_OK;
}

static enum err
write_genesis(const struct devnet_options *o, const struct devnet_node_keys *keys)
{
    struct buf genesis;
    buf_init(&genesis, GENESIS_JSON_SIZE_MAX);
    enum err rc = build_genesis(o, keys, &genesis);
    for (unsigned i = 0; i < devnet_total(o) && rc == ERR_OK; i++) {
        char home[DEVNET_PATH_MAX];
        char path[DEVNET_PATH_MAX];
        node_home(o, i, home);
        rc = join(path, home, "genesis.json");
        if (rc == ERR_OK) {
            rc = write_file(path, genesis.data, genesis.size, 0644);
        }
    }
    buf_release(&genesis);
    return rc;
}

enum err
devnet_init(const struct devnet_options *o)
{
    ASSERT(o != NULL);
    enum err rc = check_options(o);
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "devnet: bad options nodes=%u base_port=%u p2p_base_port=%u", o->nodes,
                  o->base_port, o->p2p_base_port);
        return rc;
    }
    bool reuse = false;
    rc = ensure_dir(o->dir);
    if (rc == ERR_OK) {
        rc = check_existing(o, &reuse);
    }
    if (rc != ERR_OK) {
        return rc;
    }
    struct devnet_node_keys *keys = mem_calloc(devnet_total(o), sizeof *keys);
    rc = ensure_node_keys(o, keys);
    if (rc == ERR_OK && !reuse) {
        rc = write_genesis(o, keys);
    }
    for (unsigned i = 0; i < devnet_total(o) && rc == ERR_OK; i++) {
        rc = write_config(o, i, keys);
    }
    mem_free(keys);
    if (rc == ERR_OK) {
        log_notice(LOG_NODE, "devnet: %s %s with %u nodes and %u observers",
                   reuse ? "reusing" : "created", o->dir, o->nodes, o->observers);
    }
    return rc;
}

/* ---- supervision ---- */

struct devnet_proc {
    pid_t pid; /* 0: not running */
    uint64_t started_s;
    uint64_t restart_at_s; /* when pid == 0: start again at this time */
    unsigned backoff_s;
    unsigned restarts;
};

static uint64_t
now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec;
}

/* In the child: own process group (a Ctrl-C on the terminal reaches the supervisor only,
 * which then stops the nodes in order), output to node.log, the signal mask of the CLI. */
static _Noreturn void
exec_node(const struct devnet_options *o, const char *home, const char *log_path,
          const sigset_t *child_mask)
{
    setpgid(0, 0);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
    }
    sigprocmask(SIG_SETMASK, child_mask, NULL);
    char binary[DEVNET_PATH_MAX];
    char home_arg[DEVNET_PATH_MAX];
    char cmd[] = "node";
    char flag[] = "--home";
    snprintf(binary, sizeof binary, "%s", o->binary);
    snprintf(home_arg, sizeof home_arg, "%s", home);
    char *const argv[] = { binary, cmd, flag, home_arg, NULL };
    execv(binary, argv);
    _exit(127);
}

static enum err
start_node(const struct devnet_options *o, unsigned i, struct devnet_proc *p,
           const sigset_t *child_mask)
{
    char home[DEVNET_PATH_MAX];
    char log_path[DEVNET_PATH_MAX];
    node_home(o, i, home);
    if (join(log_path, home, "node.log") != ERR_OK) {
        return ERR_TOO_LARGE;
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_error(LOG_NODE, "devnet: fork failed node=%u error=%s", i, strerror(errno));
        return ERR_LIMIT;
    }
    if (pid == 0) {
        exec_node(o, home, log_path, child_mask);
    }
    p->pid = pid;
    p->started_s = now_s();
    return ERR_OK;
}

static json_t *
node_json(const struct devnet_options *o, const char *dir_abs, unsigned i,
          const struct devnet_proc *p)
{
    json_t *n = json_object();
    char name[32];
    devnet_name(o, i, name);
    json_object_set_new(n, "name", json_string(name));
    json_object_set_new(n, "role", json_string(i < o->nodes ? "validator" : "observer"));
    json_object_set_new(n, "api", json_sprintf("http://127.0.0.1:%u", (unsigned)o->base_port + i));
    json_object_set_new(n, "p2p", json_sprintf("127.0.0.1:%u", (unsigned)o->p2p_base_port + i));
    json_object_set_new(n, "home", json_sprintf("%s/%s", dir_abs, name));
    json_object_set_new(n, "pid", json_integer(p->pid));
    json_object_set_new(n, "restarts", json_integer(p->restarts));
    return n;
}

static enum err
write_devnet_json(const struct devnet_options *o, const struct devnet_proc *procs)
{
    char dir_abs[PATH_MAX];
    if (realpath(o->dir, dir_abs) == NULL) {
        return err_from_errno(errno);
    }
    json_t *root = json_object();
    json_object_set_new(root, "chain_name", json_string(DEVNET_CHAIN_NAME));
    json_object_set_new(root, "supervisor_pid", json_integer(getpid()));
    json_t *nodes = json_array();
    for (unsigned i = 0; i < devnet_total(o); i++) {
        json_array_append_new(nodes, node_json(o, dir_abs, i, &procs[i]));
    }
    json_object_set_new(root, "nodes", nodes);
    size_t text_max = (size_t)64 * 1024;
    char *text = mem_alloc(text_max);
    size_t size = json_dumpb(root, text, text_max, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);
    char path[DEVNET_PATH_MAX];
    enum err rc = size == 0 || size >= text_max ? ERR_TOO_LARGE : join(path, o->dir, "devnet.json");
    if (rc == ERR_OK) {
        text[size++] = '\n';
        rc = write_file(path, text, size, 0644);
    }
    mem_free(text);
    return rc;
}

/* Index of the node with this pid, or devnet_total(o). */
static unsigned
find_proc(const struct devnet_options *o, const struct devnet_proc *procs, pid_t pid)
{
    unsigned i = 0;
    while (i < devnet_total(o) && procs[i].pid != pid) {
        i++;
    }
    return i;
}

/* A node exited: log it and schedule its restart with back-off. */
static void
node_exited(const char *name, struct devnet_proc *p, int status)
{
    uint64_t ran = now_s() - p->started_s;
    unsigned backoff = ran >= DEVNET_STABLE_S || p->backoff_s == 0 ? 1 : p->backoff_s * 2;
    p->backoff_s = backoff > DEVNET_BACKOFF_MAX_S ? DEVNET_BACKOFF_MAX_S : backoff;
    p->restart_at_s = now_s() + p->backoff_s;
    bool signaled = WIFSIGNALED(status);
    log_warn(LOG_NODE, "devnet: %s (pid %d) %s %d; restarting in %u s", name, (int)p->pid,
             signaled ? "killed by signal" : "exited with status",
             signaled ? WTERMSIG(status) : WEXITSTATUS(status), p->backoff_s);
    p->pid = 0;
}

/* Reaps exited nodes and schedules their restart. */
static void
reap(const struct devnet_options *o, struct devnet_proc *procs)
{
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        unsigned i = find_proc(o, procs, pid);
        if (i < devnet_total(o)) {
            char name[32];
            devnet_name(o, i, name);
            node_exited(name, &procs[i], status);
        }
    }
}

static unsigned
running_count(const struct devnet_options *o, struct devnet_proc *procs)
{
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        unsigned i = find_proc(o, procs, pid);
        if (i < devnet_total(o)) {
            procs[i].pid = 0;
        }
    }
    unsigned running = 0;
    for (unsigned i = 0; i < devnet_total(o); i++) {
        running += procs[i].pid > 0 ? 1u : 0u;
    }
    return running;
}

static void
kill_stragglers(const struct devnet_options *o, struct devnet_proc *procs)
{
    for (unsigned i = 0; i < devnet_total(o); i++) {
        if (procs[i].pid <= 0) {
            continue;
        }
        char name[32];
        devnet_name(o, i, name);
        log_warn(LOG_NODE, "devnet: %s did not stop in %d s; killing it", name,
                 DEVNET_STOP_TIMEOUT_S);
        kill(procs[i].pid, SIGKILL);
        int status = 0;
        waitpid(procs[i].pid, &status, 0);
        procs[i].pid = 0;
    }
}

static void
stop_all(const struct devnet_options *o, struct devnet_proc *procs, const sigset_t *wait_set)
{
    for (unsigned i = 0; i < devnet_total(o); i++) {
        if (procs[i].pid > 0) {
            kill(procs[i].pid, SIGTERM);
        }
    }
    uint64_t deadline = now_s() + DEVNET_STOP_TIMEOUT_S;
    while (running_count(o, procs) > 0 && now_s() < deadline) {
        struct timespec t = { 0, 200L * 1000 * 1000 };
        siginfo_t info;
        (void)sigtimedwait(wait_set, &info, &t);
    }
    kill_stragglers(o, procs);
}

static void
print_urls(const struct devnet_options *o)
{
    printf("Lianmeng devnet: %u nodes and %u observers in %s (logs in each node's node.log)\n",
           o->nodes, o->observers, o->dir);
    for (unsigned i = 0; i < devnet_total(o); i++) {
        unsigned port = (unsigned)o->base_port + i;
        char name[32];
        devnet_name(o, i, name);
        printf("  %-10s portal http://127.0.0.1:%u/   API http://127.0.0.1:%u/v1/status\n", name,
               port, port);
    }
    printf("Stop with Ctrl-C.\n");
    fflush(stdout);
}

/* Starts node i if it is down and due; true if it started. */
static bool
start_if_due(const struct devnet_options *o, unsigned i, struct devnet_proc *p,
             const sigset_t *child_mask)
{
    uint64_t now = now_s();
    if (p->pid != 0 || p->restart_at_s > now) {
        return false;
    }
    bool first = p->started_s == 0;
    if (start_node(o, i, p, child_mask) != ERR_OK) {
        p->restart_at_s = now + DEVNET_BACKOFF_MAX_S;
        return false;
    }
    if (!first) {
        p->restarts++;
    }
    char name[32];
    devnet_name(o, i, name);
    log_notice(LOG_NODE, "devnet: %s %s pid=%d restarts=%u", name, first ? "started" : "restarted",
               (int)p->pid, p->restarts);
    return true;
}

/* Starts every node that is down and due; rewrites devnet.json if any started. */
static enum err
start_due(const struct devnet_options *o, struct devnet_proc *procs, const sigset_t *child_mask)
{
    bool changed = false;
    for (unsigned i = 0; i < devnet_total(o); i++) {
        changed = start_if_due(o, i, &procs[i], child_mask) || changed;
    }
    return changed ? write_devnet_json(o, procs) : ERR_OK;
}

/* Supervises until SIGINT or SIGTERM (signals in `set` are blocked by the caller). */
static enum err
supervise(const struct devnet_options *o, struct devnet_proc *procs, const sigset_t *set,
          const sigset_t *child_mask)
{
    enum err rc = ERR_OK;
    int sig = 0;
    while (rc == ERR_OK && sig != SIGINT && sig != SIGTERM) {
        struct timespec t = { 1, 0 };
        siginfo_t info;
        sig = sigtimedwait(set, &info, &t);
        reap(o, procs);
        rc = sig == SIGINT || sig == SIGTERM ? ERR_OK : start_due(o, procs, child_mask);
    }
    if (rc == ERR_OK) {
        log_notice(LOG_NODE, "devnet: signal %d: stopping %u nodes", sig, devnet_total(o));
    }
    return rc;
}

enum err
devnet_run(const struct devnet_options *o)
{
    ASSERT(o != NULL);
    ASSERT(o->binary != NULL);
    enum err rc = devnet_init(o);
    if (rc != ERR_OK) {
        return rc;
    }
    sigset_t set;
    sigset_t old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &old);
    struct devnet_proc *procs = mem_calloc(devnet_total(o), sizeof *procs);
    rc = start_due(o, procs, &old);
    if (rc == ERR_OK) {
        print_urls(o);
        rc = supervise(o, procs, &set, &old);
    }
    stop_all(o, procs, &set);
    if (write_devnet_json(o, procs) != ERR_OK) { /* pids now 0: nothing runs */
        log_warn(LOG_NODE, "devnet: cannot update devnet.json at stop");
    }
    log_notice(LOG_NODE, "devnet: all nodes stopped");
    mem_free(procs);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return rc;
}
