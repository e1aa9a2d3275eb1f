/* `lianmeng devnet`: a complete local alliance in one directory, its nodes supervised as
 * separate processes.
 *
 * devnet_init creates, unless DIR already holds a devnet of the same size:
 *   DIR/node<i>/keys/{consensus,transport,account}.key  (Ed25519 keystores, mode 0600, light
 *                                                        Argon2id parameters: a demo, not a
 *                                                        vault)
 *   DIR/node<i>/passphrase                              (random, mode 0600)
 *   DIR/node<i>/genesis.json                            (the same demo genesis for every node:
 *                                                        founding institutions, one admin
 *                                                        account each, one validator each)
 *   DIR/node<i>/config.ini                              (API on 127.0.0.1:base_port+i, p2p on
 *                                                        127.0.0.1:p2p_base_port+i, every other
 *                                                        validator as a peer)
 *   DIR/observer<j>/...                                 (the same files for observer j: not a
 *                                                        validator, its transport key registered
 *                                                        in the genesis "nodes" to institution
 *                                                        j % nodes + 1; it dials the validators
 *                                                        and follows by block sync; its ports
 *                                                        come after the validators': index
 *                                                        nodes + j)
 * devnet_run then starts `<binary> node --home DIR/node<i>` for each node (stdout and stderr
 * appended to DIR/node<i>/node.log; the same for each observer), writes DIR/devnet.json (name,
 * role "validator" or "observer", API URL, p2p address, home, pid and restart count of each node;
 * rewritten at every (re)start, and with pid 0 once everything stopped), restarts a node that exits
 * (with a log line and a back-off), and on SIGINT or SIGTERM sends SIGTERM to every node, waits for
 * them (SIGKILL after DEVNET_STOP_TIMEOUT_S) and returns.
 *
 * Threads: devnet_run blocks SIGINT, SIGTERM and SIGCHLD in the calling thread and waits for
 * them with sigtimedwait; call it from a single-threaded process (the CLI). */
#ifndef LM_NODE_DEVNET_H
#define LM_NODE_DEVNET_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "crypto/hash.h"
#include "crypto/sign.h"

#define DEVNET_NODES_MAX       32
#define DEVNET_OBSERVERS_MAX   16
#define DEVNET_STOP_TIMEOUT_S  15
#define DEVNET_DEFAULT_API     8080
#define DEVNET_P2P_PORT_OFFSET 1000 /* p2p ports are the API ports + this by default */
/* A node home's own settings, appended to the config.ini that every start writes anew. */
#define DEVNET_LOCAL_CONFIG "config.local.ini"

struct devnet_options {
    unsigned nodes;         /* validators, 1..DEVNET_NODES_MAX */
    unsigned observers;     /* 0..DEVNET_OBSERVERS_MAX, ports after the validators' */
    const char *dir;        /* created if missing */
    uint16_t base_port;     /* API of node i: base_port + i */
    uint16_t p2p_base_port; /* p2p of node i: p2p_base_port + i */
    const char *binary;     /* the lianmeng executable to start nodes with */
    /* Devnet-only demo load accounts (for `lianmeng bench`): this many extra accounts (account i
     * belongs to founding institution i % nodes + 1), each with the key devnet_load_key(load_alg,
     * i), and the "test" module in the genesis (so nodes register it). 0: none. The keys are public
     * knowledge: never use this outside a local devnet. */
    unsigned load_accounts;
    unsigned load_alg; /* enum sig_alg of the load accounts' keys */
    unsigned hash_alg; /* enum hash_alg of the chain; 0: SHA-256 */
};

#define DEVNET_LOAD_ACCOUNTS_MAX 4000 /* GENESIS_ACCOUNTS_MAX less room for the admins */

#define DEVNET_LOAD_KEY_MAX   64   /* TEST_KEY_SIZE_MAX */
#define DEVNET_LOAD_VALUE_MAX 4096 /* TEST_VALUE_SIZE_MAX */

/* The chain of the devnet in DIR (from DIR/node0/genesis.json): its hash algorithm and chain
 * id. ERR_NOT_FOUND/ERR_MALFORMED as genesis_json_load. */
MUST_USE enum err devnet_chain(const char *dir, enum hash_alg *out_alg, struct hash *out_chain_id);

/* One load tx: test.set(key, value) from the account of `secret`. */
struct devnet_load_tx {
    enum hash_alg alg;
    struct hash chain_id;
    const struct secret_key *secret;
    uint64_t nonce;
    uint64_t expiry_height;
    const uint8_t *key; /* put: <= DEVNET_LOAD_KEY_MAX bytes */
    size_t key_size;
    const uint8_t *value; /* put: <= DEVNET_LOAD_VALUE_MAX bytes; anchor: the note (UTF-8) */
    size_t value_size;
    struct hash document;                 /* anchor: the document hash (not all zero) */
    const struct public_key *account_key; /* add_key / remove_key: the key */
};

/* Appends a signed load tx to out: test.set(key, value) ... */
MUST_USE enum err devnet_load_put(const struct devnet_load_tx *t, struct buf *out);
/* ... notary.anchor(document, kind "bench", note = value) ... */
MUST_USE enum err devnet_load_anchor(const struct devnet_load_tx *t, struct buf *out);
/* ... account.add_key(account_key) or account.remove_key(account_key). */
MUST_USE enum err devnet_load_key_op(const struct devnet_load_tx *t, bool add, struct buf *out);

/* The deterministic secret key of demo load account i: the scalar/seed is
 * H_sha256("lianmeng/devnet-load/" || alg || i as u32 LE). Devnet-only. */
MUST_USE enum err devnet_load_key(unsigned alg, uint32_t i, struct secret_key **out);

/* Creates the files above. ERR_EXISTS if DIR holds a devnet with another node count;
 * ERR_INVALID_ARG for options out of range (ports overlapping or past 65535). */
MUST_USE enum err devnet_init(const struct devnet_options *options);

/* devnet_init, then starts and supervises the nodes until SIGINT or SIGTERM. */
MUST_USE enum err devnet_run(const struct devnet_options *options);

#endif
