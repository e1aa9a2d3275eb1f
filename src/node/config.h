/* The node's config.ini (inih) as a plain struct with defaults.
 *
 *   [node]     name, log_level (error|warn|notice|info|debug), genesis, data_dir
 *   [keys]     consensus_key, transport_key, passphrase_file | passphrase_env
 *   [p2p]      listen, peer (repeatable: "<alg>:<hex key>@<ip>:<port>"), peers_max,
 *              frame_size_max, queue_bytes_max
 *   [api]      listen, connections_max, body_size_max, request_timeout_ms
 *   [mempool]  txs_max, bytes_max
 *   [verify]   threads
 *   [consensus] idle_block_interval_ms (the pause before an empty block on an idle chain;
 *              0: empty blocks back to back, e.g. to grow a test chain fast),
 *              min_block_interval_ms (block pacing, below)
 *   [storage]  state_retain_versions, db_size_max_mib
 *
 * Parsing is strict: an unknown section or key, a repeated key (except peer), an empty
 * value, a number out of its range or with trailing characters, a bad address or peer key
 * are ERR_CONFIG with a message naming the key and the line ("config.ini:7: [api] listen:
 * ..."). Relative paths are relative to the node's home directory (config_path joins them).
 * Exactly one of passphrase_file and passphrase_env must be set.
 *
 * Threads: none; a plain value. */
#ifndef LM_NODE_CONFIG_H
#define LM_NODE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/log.h"
#include "codec/consensus_types.h"
#include "consensus/consensus.h"
#include "crypto/sign.h"

#define CONFIG_FILE_SIZE_MAX 65536u
#define CONFIG_NAME_MAX      64  /* node name, bytes without NUL */
#define CONFIG_PATH_MAX      512 /* a path as written, bytes without NUL */
#define CONFIG_ADDRESS_MAX   63  /* "ip:port" / "[v6]:port", bytes without NUL */
#define CONFIG_PEERS_MAX     256
#define CONFIG_ERROR_MAX     320 /* message buffer size, NUL included */
/* [consensus] idle_block_interval_ms and min_block_interval_ms: at most a third of the
 * consensus round timeout (consensus_config_check), so that a node refuses a longer one at its
 * config, not after start-up. min_block_interval_ms: a leader holds a block with txs (not a
 * full one) until this long after its parent (consensus.h). */
#define CONFIG_BLOCK_INTERVAL_MAX_MS CONS_BLOCK_INTERVAL_MAX_MS
/* 20 ms: at 1,000 tx/s a 4-node devnet made ~200 blocks/s of ~5 txs without it (each with
 * its fsyncs, certificate and header), with it ~50 of ~20, for 43 % less CPU per tx and
 * +34 ms of p50 latency (bench/README.md "Block pacing"); full load does not bind it. */
#define CONFIG_MIN_BLOCK_INTERVAL_DEFAULT 20u
/* [storage] state_retain_versions: 0 (archive) or MIN..MAX; MIN leaves room for readers of
 * the published version and for the speculative batches built on the committed one. The
 * default keeps every version: pruning cost ~10 % of full-load throughput in a 60 s devnet
 * run (bench/README.md, "State pruning"), and proofs are only asked of the latest state. */
#define CONFIG_STATE_RETAIN_DEFAULT 0u
#define CONFIG_STATE_RETAIN_MIN     16u
#define CONFIG_STATE_RETAIN_MAX     (1ull << 40)
/* [storage] db_size_max_mib: the LMDB map (blocks index, state, receipts), a bound on the
 * data file, not space taken (the file grows as written). A node that reaches it stops with
 * an error and resumes when restarted with a larger bound. 1 TiB; at most 64 TiB. */
#define CONFIG_DB_SIZE_DEFAULT_MIB (1ull << 20)
#define CONFIG_DB_SIZE_MAX_MIB     (1ull << 26)
/* The smallest p2p frame maximum: the largest consensus message, or a sync response carrying
 * the largest block with its certificate, must fit in one frame. */
#define CONFIG_FRAME_SIZE_MIN ((uint32_t)CONS_MSG_SIZE_MAX + (1u << 20))

struct config_peer {
    struct public_key key;                /* transport key */
    char address[CONFIG_ADDRESS_MAX + 1]; /* ip:port, [ipv6]:port or host name:port */
};

struct config {
    /* [node] */
    char name[CONFIG_NAME_MAX + 1];         /* "node" */
    enum log_level log_level;               /* info */
    char genesis_path[CONFIG_PATH_MAX + 1]; /* "genesis.json" */
    char data_dir[CONFIG_PATH_MAX + 1];     /* "data" */
    /* [keys] */
    char consensus_key_path[CONFIG_PATH_MAX + 1]; /* "keys/consensus.key" */
    char transport_key_path[CONFIG_PATH_MAX + 1]; /* "keys/transport.key" */
    char passphrase_file[CONFIG_PATH_MAX + 1];    /* "" */
    char passphrase_env[CONFIG_NAME_MAX + 1];     /* "" */
    /* [p2p] */
    char p2p_listen[CONFIG_ADDRESS_MAX + 1]; /* "127.0.0.1:9000" */
    size_t peer_count;
    struct config_peer peers[CONFIG_PEERS_MAX];
    uint32_t peers_max;       /* 256, 1..1024 */
    uint32_t frame_size_max;  /* 8 MiB, CONFIG_FRAME_SIZE_MIN..64 MiB */
    uint64_t queue_bytes_max; /* 16 MiB, >= frame_size_max + 64 KiB, <= 1 GiB */
    /* [api] */
    char api_listen[CONFIG_ADDRESS_MAX + 1]; /* "127.0.0.1:8080" */
    uint32_t api_connections_max;            /* 256, 1..65536 */
    uint64_t api_body_size_max;              /* 1 MiB, 1 KiB..64 MiB */
    uint32_t api_request_timeout_ms;         /* 10000, 100..600000 */
    /* [mempool] */
    uint32_t mempool_txs_max;   /* 10000, 1..1000000 */
    uint64_t mempool_bytes_max; /* 64 MiB, 1 MiB..4 GiB */
    /* [verify] */
    uint32_t verify_threads; /* 2, 1..64 */
    /* [consensus] */
    uint32_t idle_block_interval_ms; /* 250, 0..CONFIG_BLOCK_INTERVAL_MAX_MS */
    uint32_t min_block_interval_ms;  /* CONFIG_MIN_BLOCK_INTERVAL_DEFAULT, 0..the same */
    /* [storage] */
    /* Latest state versions (one per block) kept readable; older ones are pruned from the
     * state store. 0 keeps every version (an archive node). 0 (default), or 16..2^40. */
    uint64_t state_retain_versions;
    uint64_t db_size_max_mib; /* CONFIG_DB_SIZE_DEFAULT_MIB, 1..CONFIG_DB_SIZE_MAX_MIB */
};

/* The defaults listed above. */
void config_default(struct config *out);

/* Parses `text` (size bytes, need not be NUL-terminated) named `origin` in messages.
 * ERR_CONFIG with a message in error[CONFIG_ERROR_MAX]; ERR_TOO_LARGE past
 * CONFIG_FILE_SIZE_MAX. *out is written only on success. */
MUST_USE enum err config_decode(const char *origin, const char *text, size_t size,
                                struct config *out, char error[CONFIG_ERROR_MAX]);
/* Reads and parses the file. ERR_NOT_FOUND / ERR_IO if it cannot be read (message set). */
MUST_USE enum err config_load(const char *path, struct config *out, char error[CONFIG_ERROR_MAX]);

/* Joins home and a configured path (absolute paths are kept). ERR_TOO_LARGE if the result
 * does not fit out_size bytes with its NUL. */
MUST_USE enum err config_path(const char *home, const char *path, char *out, size_t out_size);

/* Parses "<alg>:<hex>" (e.g. "ed25519:ab12...") into a checked public key. ERR_MALFORMED. */
MUST_USE enum err config_key_parse(const char *text, size_t size, struct public_key *out);
/* Checks "a.b.c.d:port" or "[v6]:port" (numeric, port 0..65535). */
bool config_address_is_valid(const char *text);

#endif
