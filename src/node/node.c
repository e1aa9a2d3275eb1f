#include "node/node.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "base/assert.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/text.h"
#include "codec/validator_set.h"
#include "crypto/keystore.h"
#include "crypto/verify_cache.h"
#include "crypto/verify_pool.h"
#include "ledger/genesis.h"
#include "ledger/ledger.h"
#include "ledger/receipt.h"
#include "ledger/registry.h"
#include "ledger/system.h"
#include "ledger/test_module.h"
#include "mempool/mempool.h"
#include "modules/modules.h"
#include "node/config.h"
#include "node/genesis_json.h"
#include "node/node_internal.h"
#include "node/safety_file.h"
#include "node/sync.h"
#include "node/tx_gossip.h"
#include "p2p/p2p.h"
#include "store/block_store.h"
#include "store/db.h"
#include "store/state_store.h"

#define NODE_PATH_MAX           1024
#define NODE_VERIFY_CACHE_SIZE  (1u << 16)
#define NODE_GOSSIP_BATCH_BYTES (1u << 20) /* a FRAME_TXS payload at most */
#define NODE_GOSSIP_DELAY_MS    5u         /* a gossip batch waits at most this long */
_Static_assert(NODE_GOSSIP_BATCH_BYTES < CONFIG_FRAME_SIZE_MIN, "a gossip batch fits any frame");
#define NODE_VERIFY_QUEUE 4096

/* Opens everything in start-up order; node_close releases what was opened (NULL fields are
 * skipped), in reverse order. */
static enum err
node_path(const struct node *n, const char *configured, char *out)
{
    enum err rc = config_path(n->home, configured, out, NODE_PATH_MAX);
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "path too long home=%s path=%s", n->home, configured);
    }
    return rc;
}

static enum err
mkdir_if_missing(const char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST) {
        return ERR_OK;
    }
    enum err rc = err_from_errno(errno);
    log_error(LOG_NODE, "cannot create directory path=%s error=%s", path, strerror(errno));
    return rc;
}

static enum err
passphrase_from_env(const char *name, char *out, size_t out_max, size_t *out_size)
{
    const char *value = getenv(name);
    size_t size = value != NULL ? strlen(value) : 0;
    if (value == NULL || size >= out_max) {
        log_error(LOG_NODE, "[keys] passphrase_env: environment variable %s is %s", name,
                  value == NULL ? "not set" : "too long");
        return ERR_CONFIG;
    }
    memcpy(out, value, size + 1);
    *out_size = size;
    return ERR_OK;
}

/* The passphrase from the file (one line; a final newline is not part of it) or from the
 * environment variable the config names. The file must not be readable by group or others,
 * the same rule as the key files. */
static enum err
load_passphrase(const struct node *n, char *out, size_t out_max, size_t *out_size)
{
    const struct config *c = &n->config;
    if (c->passphrase_env[0] != '\0') {
        return passphrase_from_env(c->passphrase_env, out, out_max, out_size);
    }
    char path[NODE_PATH_MAX];
    enum err rc = node_path(n, c->passphrase_file, path);
    if (rc != ERR_OK) {
        return rc;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = err_from_errno(errno);
        log_error(LOG_NODE, "cannot open passphrase file path=%s error=%s", path, strerror(errno));
        return rc;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
        close(fd);
        log_error(LOG_NODE,
                  "refusing passphrase file readable by group or others (chmod 600) path=%s", path);
        return ERR_PERMISSION;
    }
    ssize_t got = read(fd, out, out_max - 1);
    close(fd);
    if (got < 0 || (size_t)got >= out_max - 1) {
        log_error(LOG_NODE, "cannot read passphrase file (or too long) path=%s", path);
        return got < 0 ? ERR_IO : ERR_CONFIG;
    }
    size_t size = (size_t)got;
    if (size > 0 && out[size - 1] == '\n') {
        size--;
    }
    if (size > 0 && out[size - 1] == '\r') {
        size--;
    }
    out[size] = '\0';
    *out_size = size;
    return ERR_OK;
}

static enum err
load_key(const struct node *n, const char *configured, const char *passphrase,
         size_t passphrase_size, struct secret_key **out)
{
    char path[NODE_PATH_MAX];
    enum err rc = node_path(n, configured, path);
    if (rc != ERR_OK) {
        return rc;
    }
    rc = keystore_read(path, passphrase, passphrase_size, out);
    if (rc == ERR_PERMISSION) {
        log_error(LOG_NODE,
                  "refusing key file readable or writable by group or others (chmod 600) "
                  "path=%s",
                  path);
    } else if (rc != ERR_OK) {
        log_error(LOG_NODE, "cannot load key path=%s error=%s", path, err_str(rc));
    }
    return rc;
}

static enum err
load_keys(struct node *n)
{
    char *passphrase = mem_alloc(KEYSTORE_PASSPHRASE_SIZE_MAX + 2);
    size_t passphrase_size = 0;
    enum err rc =
        load_passphrase(n, passphrase, KEYSTORE_PASSPHRASE_SIZE_MAX + 2, &passphrase_size);
    if (rc == ERR_OK) {
        rc = load_key(n, n->config.consensus_key_path, passphrase, passphrase_size,
                      &n->consensus_key);
    }
    if (rc == ERR_OK) {
        rc = load_key(n, n->config.transport_key_path, passphrase, passphrase_size,
                      &n->transport_key);
    }
    memset(passphrase, 0, KEYSTORE_PASSPHRASE_SIZE_MAX + 2);
    mem_free(passphrase);
    if (rc == ERR_OK && secret_key_alg(n->transport_key) != SIG_ED25519) {
        log_error(LOG_NODE, "[keys] transport_key: must be an Ed25519 key (TLS identity)");
        rc = ERR_CONFIG;
    }
    return rc;
}

static enum err
open_genesis(struct node *n)
{
    char path[NODE_PATH_MAX];
    enum err rc = node_path(n, n->config.genesis_path, path);
    if (rc != ERR_OK) {
        return rc;
    }
    n->genesis_loaded = true;
    rc = genesis_json_load(path, &n->genesis);
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "cannot load genesis path=%s error=%s", path, err_str(rc));
        return rc == ERR_IO ? ERR_IO : ERR_CONFIG;
    }
    return ERR_OK;
}

/* One process per data directory (and so per validator key and safety record: two would be
 * Twins in production, CONSENSUS.md §10), and a second opener must not touch the stores (the
 * block store cuts uncommitted tails when it opens). The lock dies with the process. */
static enum err
lock_data_dir(struct node *n, const char *data)
{
    char path[NODE_PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/LOCK", data);
    n->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (n->lock_fd < 0) {
        enum err rc = err_from_errno(errno);
        log_error(LOG_NODE, "cannot open lock file path=%s error=%s", path, strerror(errno));
        return rc;
    }
    if (flock(n->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        log_error(LOG_NODE, "data directory in use by another node process path=%s", data);
        return ERR_DENIED;
    }
    return ERR_OK;
}

static enum err
open_stores(struct node *n)
{
    char data[NODE_PATH_MAX];
    char sub[NODE_PATH_MAX + 32];
    enum err rc = node_path(n, n->config.data_dir, data);
    if (rc == ERR_OK) {
        rc = mkdir_if_missing(data);
    }
    if (rc == ERR_OK) {
        rc = lock_data_dir(n, data);
    }
    if (rc != ERR_OK) {
        return rc;
    }
    snprintf(sub, sizeof sub, "%s/state", data);
    rc = mkdir_if_missing(sub);
    if (rc != ERR_OK) {
        return rc;
    }
    struct db_options dbo = { .map_size_bytes = n->config.db_size_max_mib << 20 };
    rc = db_open(sub, &dbo, &n->db);
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "cannot open database path=%s error=%s", sub, err_str(rc));
        return rc;
    }
    snprintf(sub, sizeof sub, "%s/consensus", data);
    rc = mkdir_if_missing(sub);
    if (rc == ERR_OK) {
        rc = db_open(sub, &dbo, &n->cons_db);
    }
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "cannot open database path=%s error=%s", sub, err_str(rc));
        return rc;
    }
    rc = node_consensus_open_tables(n);
    if (rc == ERR_OK) {
        rc = node_epochs_open(n);
    }
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "cannot open the consensus tables error=%s", err_str(rc));
        return rc;
    }
    struct state_store_options so = { .hash_alg = n->genesis.hash_alg,
                                      .retain_versions = n->config.state_retain_versions };
    rc = state_store_open(n->db, &so, &n->state);
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "cannot open state store path=%s error=%s", sub, err_str(rc));
        return rc;
    }
    snprintf(sub, sizeof sub, "%s/blocks", data);
    struct block_store_options bo = { 0 };
    rc = block_store_open(n->db, sub, &bo, &n->blocks);
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "cannot open block store path=%s error=%s", sub, err_str(rc));
        return rc;
    }
    snprintf(sub, sizeof sub, "%s/safety.rec", data);
    rc = safety_file_open(sub, &n->safety);
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "cannot open safety record path=%s error=%s", sub, err_str(rc));
    }
    return rc;
}

/* First start: the genesis state, committed as height 0. */
static enum err
commit_genesis(struct node *n)
{
    struct ledger_result *r = NULL;
    struct buf encoded;
    buf_init(&encoded, GENESIS_ENCODED_SIZE_MAX);
    enum err rc = ledger_execute_genesis(n->ledger, &r);
    if (rc == ERR_OK) {
        rc = genesis_encode(&n->genesis, &encoded);
    }
    if (rc == ERR_OK) {
        rc = node_consensus_genesis(n, r);
    }
    if (rc == ERR_OK) {
        struct ledger_block_bytes bytes = { .id = *ledger_chain_id(n->ledger),
                                            .block = encoded.data,
                                            .block_size = encoded.size };
        rc = ledger_commit(n->ledger, r, &bytes);
    }
    ledger_result_free(r);
    buf_release(&encoded);
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "cannot commit the genesis state error=%s", err_str(rc));
        return rc;
    }
    log_notice(LOG_NODE, "genesis committed chain=%s", n->genesis.chain_name);
    return ERR_OK;
}

/* Opens the ledger and commits the genesis state on first start. */
static enum err
open_ledger(struct node *n)
{
    n->registry = registry_new();
    enum err rc = registry_add_core(n->registry);
    if (rc == ERR_OK) {
        rc = modules_register_all(n->registry);
    }
    /* A devnet genesis with demo load accounts lists the test module (devnet.h): register it
     * then, and only then. */
    for (size_t i = 0; rc == ERR_OK && i < n->genesis.module_count; i++) {
        if (strcmp(n->genesis.modules[i].name, TEST_MODULE) == 0) {
            rc = registry_add(n->registry, &test_module);
        }
    }
    if (rc != ERR_OK) {
        return rc;
    }
    struct ledger_config lc = { .db = n->db,
                                .state = n->state,
                                .blocks = n->blocks,
                                .registry = n->registry,
                                .genesis = &n->genesis };
    rc = ledger_open(&lc, &n->ledger);
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "cannot open the ledger error=%s", err_str(rc));
        return rc;
    }
    if (!ledger_has_genesis(n->ledger)) {
        rc = commit_genesis(n);
        if (rc != ERR_OK) {
            return rc;
        }
    }
    n->validators = mem_calloc(1, sizeof *n->validators);
    rc = ledger_validator_set(n->ledger, NULL, n->validators);
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "cannot read the validator set error=%s", err_str(rc));
    }
    return rc == ERR_OK ? node_epochs_record(n) : rc;
}

static void
on_admitted(void *ctx, const struct hash *hash, const uint8_t *data, size_t size)
{
    struct node *n = ctx;
    node_consensus_txs_available(n);
    if (n->gossip == NULL) {
        return;
    }
    /* Validators are linked to each other directly, and a validator sends each tx it admits
     * from a client to all its peers: relaying a tx that came from a validator would only
     * send every other validator a duplicate (6 of 9 transmissions per tx on 4 nodes; each
     * costs TLS, decoding and hashing at both ends). So it is not relayed; a tx missing at
     * a validator whose link to the origin is down still reaches it in a block. */
    if (n->admitting_from != NULL &&
        validator_set_find_transport(n->validators, n->admitting_from) >= 0) {
        return;
    }
    tx_gossip_queue(n->gossip, n->admitting_from, hash, data, size);
}

static enum err
open_mempool(struct node *n)
{
    struct verify_pool_config vc = { .threads = n->config.verify_threads,
                                     .queue_capacity = NODE_VERIFY_QUEUE,
                                     .cache = n->verify_cache };
    n->verify_cache = verify_cache_new(NODE_VERIFY_CACHE_SIZE);
    vc.cache = n->verify_cache;
    enum err rc = verify_pool_new(&vc, &n->verify_pool);
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "cannot start the verify pool threads=%u error=%s",
                  n->config.verify_threads, err_str(rc));
        return rc;
    }
    struct mempool_config mc;
    mempool_config_default(&mc);
    mc.txs_max = n->config.mempool_txs_max;
    mc.bytes_max = n->config.mempool_bytes_max;
    if (getrandom(&mc.seed, sizeof mc.seed, 0) != (ssize_t)sizeof mc.seed) {
        return ERR_IO;
    }
    mc.hash_alg = ledger_hash_alg(n->ledger);
    mc.chain_id = *ledger_chain_id(n->ledger);
    mc.params = *ledger_params(n->ledger);
    mc.committed_height = ledger_committed_height(n->ledger);
    mc.pool = n->verify_pool;
    mc.sender_fn = mempool_ledger_sender;
    mc.sender_ctx = n->ledger;
    mc.admitted_fn = on_admitted;
    mc.admitted_ctx = n;
    rc = mempool_new(&mc, &n->mempool);
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "cannot create the mempool error=%s", err_str(rc));
    }
    return rc;
}

static void
on_frame(void *ctx, const struct public_key *peer, uint8_t type, const uint8_t *payload,
         size_t size)
{
    struct node *n = ctx;
    if (type == FRAME_CONSENSUS) {
        node_consensus_on_frame(n, peer, payload, size);
        return;
    }
    if (type == FRAME_BLOCK_REQUEST && n->sync != NULL) {
        sync_on_request(n->sync, peer, payload, size);
        return;
    }
    if (type == FRAME_BLOCK_RESPONSE && n->sync != NULL) {
        sync_on_response(n->sync, peer, payload, size);
        return;
    }
    if ((type != FRAME_TX && type != FRAME_TXS) || n->gossip == NULL) {
        log_debug(LOG_NODE, "frame ignored type=%u size=%zu", type, size);
        return;
    }
    struct tx_gossip_batch batch;
    if (tx_gossip_split(n->gossip, type, payload, size, &batch) != ERR_OK) {
        log_debug(LOG_NODE, "gossiped tx batch malformed size=%zu", size);
        return;
    }
    n->admitting_from = peer;
    mempool_admit(n->mempool, batch.txs, batch.count, batch.results);
    n->admitting_from = NULL;
    size_t refused = 0;
    enum err last = ERR_OK;
    for (size_t i = 0; i < batch.count; i++) {
        if (batch.results[i].rc != ERR_OK && batch.results[i].rc != ERR_EXISTS) {
            refused++;
            last = batch.results[i].rc;
        }
    }
    if (refused > 0) {
        log_debug(LOG_NODE, "gossiped txs refused count=%zu of=%zu error=%s", refused, batch.count,
                  err_name(last));
    }
}

static void
on_peer_connect(void *ctx, const struct public_key *peer)
{
    (void)ctx;
    char hex[17];
    hex_encode(peer->bytes, 8, hex);
    log_info(LOG_NET, "peer connected key=%s", hex);
}

static void
on_peer_disconnect(void *ctx, const struct public_key *peer)
{
    (void)ctx;
    char hex[17];
    hex_encode(peer->bytes, 8, hex);
    log_info(LOG_NET, "peer disconnected key=%s", hex);
}

static enum err
add_peer(struct node *n, const struct config_peer *peer, const struct public_key *self)
{
    if (public_key_equal(&peer->key, self)) {
        return ERR_OK; /* a config may list every node, this one included */
    }
    enum err rc = p2p_add_peer(n->p2p, &peer->key, peer->address);
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "[p2p] peer %s: cannot add error=%s", peer->address, err_str(rc));
        return rc;
    }
    if (!p2p_is_allowed(n->p2p, &peer->key)) {
        log_warn(LOG_NODE, "[p2p] peer %s: key is not a registered node key; not dialled",
                 peer->address);
    }
    return ERR_OK;
}

/* True if institution id is a member (recorded in the committed state). */
static bool
is_member(struct node *n, uint32_t id)
{
    uint8_t args[4];
    store_u32(args, id);
    struct buf b;
    buf_init(&b, 2 + GENESIS_NAME_SIZE_MAX + 1);
    enum err rc = ledger_query(n->ledger, NULL, "system.institution", args, sizeof args, &b);
    buf_release(&b);
    return rc == ERR_OK;
}

static bool
is_config_peer(const struct node *n, const struct public_key *key)
{
    for (size_t i = 0; i < n->config.peer_count; i++) {
        if (public_key_equal(&n->config.peers[i].key, key)) {
            return true;
        }
    }
    return false;
}

static bool
has_address_on_chain(const struct registered_node *nodes, size_t count,
                     const struct public_key *key)
{
    for (size_t j = 0; j < count; j++) {
        if (nodes[j].address[0] != '\0' && public_key_equal(&nodes[j].transport_key, key)) {
            return true;
        }
    }
    return false;
}

/* The dial list from the chain: registered nodes with an address (config peers keep their
 * configured address); peers added before and no longer registered are forgotten. */
static void
dial_registered(struct node *n, const struct registered_node *nodes, size_t count)
{
    if (n->dialled_nodes == NULL) {
        n->dialled_nodes = mem_calloc(REGISTERED_NODES_MAX, sizeof *n->dialled_nodes);
    }
    for (size_t i = 0; i < n->dialled_count; i++) {
        if (!has_address_on_chain(nodes, count, &n->dialled_nodes[i])) {
            p2p_remove_peer(n->p2p, &n->dialled_nodes[i]);
        }
    }
    n->dialled_count = 0;
    size_t failed = 0;
    struct public_key self;
    p2p_self_key(n->p2p, &self);
    for (size_t j = 0; j < count; j++) {
        const struct registered_node *node = &nodes[j];
        if (node->address[0] == '\0' || public_key_equal(&node->transport_key, &self) ||
            is_config_peer(n, &node->transport_key) ||
            !p2p_is_allowed(n->p2p, &node->transport_key)) {
            continue;
        }
        enum err rc = p2p_add_peer(n->p2p, &node->transport_key, node->address);
        if (rc == ERR_OK) {
            n->dialled_nodes[n->dialled_count++] = node->transport_key;
        }
        failed += rc == ERR_OK ? 0 : 1; /* a bad address or a full peer table */
    }
    if (failed > 0) {
        log_info(LOG_NET, "registered nodes not dialled at their address count=%zu", failed);
    }
}

void
node_admission_refresh(struct node *n, bool force)
{
    if (n->p2p == NULL) {
        return;
    }
    struct buf b;
    buf_init(&b, (size_t)REGISTERED_NODES_MAX * (PUBLIC_KEY_SIZE_MAX + 8 + NODE_ADDRESS_SIZE_MAX));
    enum err rc = ledger_query(n->ledger, NULL, "system.nodes", NULL, 0, &b);
    struct hash h;
    hash_bytes(ledger_hash_alg(n->ledger), b.data, b.size, &h);
    if (rc == ERR_OK && !force && hash_equal(&h, &n->admitted_nodes)) {
        buf_release(&b);
        return;
    }
    struct registered_node *nodes = mem_calloc(REGISTERED_NODES_MAX, sizeof *nodes);
    size_t node_count = 0;
    if (rc == ERR_OK) {
        rc = system_nodes_decode(b.data, b.size, nodes, &node_count);
    }
    buf_release(&b);
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "cannot read the registered nodes error=%s", err_str(rc));
        node_count = 0; /* validators only, rather than a stale set */
    }
    struct public_key *keys = mem_calloc(VS_NODES_MAX + REGISTERED_NODES_MAX, sizeof *keys);
    size_t count = 0;
    for (size_t i = 0; i < n->validators->count; i++) {
        keys[count++] = n->validators->nodes[i].transport_key;
    }
    size_t members = 0;
    for (size_t i = 0; i < node_count; i++) {
        if (is_member(n, nodes[i].institution)) {
            keys[count++] = nodes[i].transport_key;
            members++;
        }
    }
    rc = p2p_set_allowed_keys(n->p2p, keys, count);
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "cannot set the p2p allow-set error=%s", err_str(rc));
    } else {
        n->admitted_nodes = h;
        log_info(LOG_NET, "admitted keys validators=%zu registered_nodes=%zu", n->validators->count,
                 members);
        dial_registered(n, nodes, node_count);
    }
    mem_free(keys);
    mem_free(nodes);
}

static enum err
open_p2p(struct node *n)
{
    struct p2p_options po;
    p2p_options_default(&po);
    po.listen_address = n->config.p2p_listen;
    po.identity = n->transport_key;
    po.frame_payload_size_max = n->config.frame_size_max;
    po.peer_queue_bytes_max = (size_t)n->config.queue_bytes_max;
    po.peers_max = n->config.peers_max;
    struct p2p_callbacks cb = { .on_frame = on_frame,
                                .on_connect = on_peer_connect,
                                .on_disconnect = on_peer_disconnect,
                                .ctx = n };
    enum err rc = p2p_new(n->base, &po, &cb, &n->p2p);
    if (rc != ERR_OK) {
        log_error(LOG_NODE,
                  "cannot start p2p listen=%s error=%s (if the address is in use: stop the "
                  "process that holds it or change [p2p] listen in config.ini)",
                  n->config.p2p_listen, err_str(rc));
        return rc;
    }
    n->gossip = tx_gossip_new(n->base, n->p2p, NODE_GOSSIP_BATCH_BYTES, NODE_GOSSIP_DELAY_MS);
    node_admission_refresh(n, true);
    struct public_key self;
    p2p_self_key(n->p2p, &self);
    for (size_t i = 0; i < n->config.peer_count && rc == ERR_OK; i++) {
        rc = add_peer(n, &n->config.peers[i], &self);
    }
    return rc;
}

static void
on_signal(evutil_socket_t fd, short what, void *ctx)
{
    (void)what;
    struct node *n = ctx;
    log_notice(LOG_NODE, "signal %d: stopping", (int)fd);
    event_base_loopexit(n->base, NULL);
}

static enum err
open_loop(struct node *n)
{
    n->base = event_base_new();
    if (n->base == NULL) {
        return ERR_IO;
    }
    n->sig_term = evsignal_new(n->base, SIGTERM, on_signal, n);
    n->sig_int = evsignal_new(n->base, SIGINT, on_signal, n);
    if (n->sig_term == NULL || n->sig_int == NULL || evsignal_add(n->sig_term, NULL) != 0 ||
        evsignal_add(n->sig_int, NULL) != 0) {
        return ERR_IO;
    }
    return ERR_OK;
}

static enum err
open_api(struct node *n)
{
    struct api_options ao;
    api_options_default(&ao);
    ao.bind_address = n->config.api_listen;
    ao.connections_max = n->config.api_connections_max;
    ao.body_size_max = (size_t)n->config.api_body_size_max;
    ao.request_timeout_ms = n->config.api_request_timeout_ms;
    node_backend_fill(n, &n->backend);
    enum err rc = api_server_new(n->base, &ao, &n->backend, &n->api);
    if (rc != ERR_OK) {
        log_error(LOG_NODE,
                  "cannot start the API listen=%s error=%s (if the address is in use: stop "
                  "the process that holds it or change [api] listen in config.ini)",
                  n->config.api_listen, err_str(rc));
    }
    return rc;
}

static void
node_close(struct node *n)
{
    sync_free(n->sync);
    n->sync = NULL;
    node_consensus_close(n);
    api_server_free(n->api);
    tx_gossip_free(n->gossip);
    p2p_free(n->p2p);
    if (n->sig_term != NULL) {
        event_free(n->sig_term);
    }
    if (n->sig_int != NULL) {
        event_free(n->sig_int);
    }
    if (n->base != NULL) {
        event_base_free(n->base);
    }
    mempool_free(n->mempool);
    verify_pool_free(n->verify_pool);
    verify_cache_free(n->verify_cache);
    mem_free(n->validators);
    ledger_close(n->ledger);
    registry_free(n->registry);
    safety_file_close(n->safety);
    block_store_close(n->blocks);
    state_store_close(n->state);
    db_close(n->cons_db);
    db_close(n->db);
    if (n->lock_fd >= 0) {
        close(n->lock_fd); /* releases the flock */
    }
    secret_key_free(n->consensus_key);
    secret_key_free(n->transport_key);
    if (n->genesis_loaded) {
        genesis_release(&n->genesis);
    }
    node_waiters_release(n);
    mem_free(n->dialled_nodes);
}

static enum err
node_open(struct node *n)
{
    char path[NODE_PATH_MAX];
    enum err rc = node_path(n, "config.ini", path);
    if (rc != ERR_OK) {
        return rc;
    }
    char error[CONFIG_ERROR_MAX];
    rc = config_load(path, &n->config, error);
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "%s", error);
        return rc == ERR_NOT_FOUND || rc == ERR_IO ? rc : ERR_CONFIG;
    }
    log_set_level(n->config.log_level);
    log_set_prefix(n->config.name);
    rc = open_genesis(n);
    if (rc == ERR_OK) {
        rc = load_keys(n);
    }
    if (rc == ERR_OK) {
        rc = open_stores(n);
    }
    if (rc == ERR_OK) {
        rc = open_ledger(n);
    }
    if (rc == ERR_OK) {
        rc = open_mempool(n);
    }
    if (rc == ERR_OK) {
        rc = open_loop(n);
    }
    if (rc == ERR_OK) {
        rc = open_api(n);
    }
    if (rc == ERR_OK) {
        rc = open_p2p(n);
    }
    if (rc == ERR_OK) {
        struct public_key self;
        secret_key_public(n->consensus_key, &self);
        n->is_validator = false;
        for (size_t i = 0; i < n->validators->count; i++) {
            if (public_key_equal(&n->validators->nodes[i].consensus_key, &self)) {
                n->is_validator = true;
            }
        }
        /* consensus starts once sync has caught up (node/sync.h); an observer never votes */
        rc = sync_new(n, !n->is_validator, node_consensus_start, &n->sync);
    }
    return rc;
}

void
node_fatal(struct node *n, enum err rc)
{
    n->fatal = rc;
    event_base_loopbreak(n->base);
}

enum err
node_run(const char *home)
{
    ASSERT(home != NULL);
    signal(SIGPIPE, SIG_IGN); /* OpenSSL and evhttp write to sockets with write(2) */
    struct node *n = mem_calloc(1, sizeof *n);
    n->lock_fd = -1;
    snprintf(n->home, sizeof n->home, "%s", home);
    enum err rc = strlen(home) < sizeof n->home ? node_open(n) : ERR_TOO_LARGE;
    if (rc == ERR_OK) {
        log_notice(LOG_NODE,
                   "node ready name=%s chain=%s height=%llu validator=%s api=http://%s/ "
                   "p2p=%s",
                   n->config.name, n->genesis.chain_name,
                   (unsigned long long)ledger_committed_height(n->ledger),
                   n->is_validator ? "yes" : "no", n->config.api_listen, n->config.p2p_listen);
        if (event_base_dispatch(n->base) < 0) {
            rc = ERR_IO;
        }
        if (rc == ERR_OK && n->fatal != ERR_OK) {
            rc = n->fatal;
        }
    }
    node_close(n);
    if (rc == ERR_OK) {
        log_notice(LOG_NODE, "node stopped cleanly");
    }
    log_flush();
    mem_free(n);
    return rc;
}
