/* The genesis of a chain as a plain struct: what node/genesis_json.c parses from
 * genesis.json and what the ledger loads into state at height 0.
 *
 * The genesis hash H(genesis_encode(g)) identifies the chain: it is the chain_id that every
 * signature binds (txs, proposals, votes). The encoding is canonical because genesis_check
 * demands a canonical order: institutions by strictly increasing id, modules by strictly
 * increasing name; account addresses (derived from each account's first key) distinct.
 *
 *   u8 version (1), text chain_name, u8 hash_alg, u64 timestamp_us, params (params.h),
 *   vector institutions { u32 id, text name, bool founding },
 *   vector accounts { u32 institution, bool admin, vector keys { public_key } },
 *   validator_set validators (codec/validator_set.h; epoch GENESIS_EPOCH),
 *   vector nodes { public_key transport_key, u32 institution, text address },
 *   vector modules { text name, bytes data }
 *
 * Nodes are the registered non-validator (observer) nodes: an Ed25519 transport key bound
 * to an institution, with an optional p2p address; p2p admits a TLS peer whose key is a
 * validator's transport key or a registered node key of a current member (ARCHITECTURE.md
 * "Node transport keys"). The system module keeps them in state and adds or removes them
 * (system.h); genesis_check demands them sorted by key (registered_node_compare), unique,
 * not a validator's transport key, of existing institutions, with a valid address.
 *
 * Ownership: the struct owns its arrays and module data (genesis_release frees them). */
#ifndef LM_LEDGER_GENESIS_H
#define LM_LEDGER_GENESIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/reader.h"
#include "codec/tx.h"
#include "codec/validator_set.h"
#include "crypto/hash.h"
#include "crypto/sign.h"
#include "ledger/params.h"

#define GENESIS_VERSION          1
#define GENESIS_EPOCH            1
#define GENESIS_NAME_SIZE_MAX    64
#define GENESIS_INSTITUTIONS_MAX 256
#define GENESIS_ACCOUNTS_MAX     4096
#define GENESIS_MODULES_MAX      32
#define GENESIS_MODULE_DATA_MAX  (1u << 20)
#define GENESIS_ENCODED_SIZE_MAX (8u << 20)
#define ACCOUNT_KEYS_MAX         8
#define REGISTERED_NODES_MAX     256
#define NODE_ADDRESS_SIZE_MAX    63 /* "host:port" or "[v6]:port"; empty: none */

struct genesis_institution {
    uint32_t id; /* >= 1 */
    char name[GENESIS_NAME_SIZE_MAX + 1];
    bool founding;
};

struct genesis_account {
    uint32_t institution; /* 0: none, else an institution's id */
    bool admin;           /* may act for its institution (create accounts, approve sets) */
    size_t key_count;     /* 1..ACCOUNT_KEYS_MAX; the address derives from keys[0] */
    struct public_key keys[ACCOUNT_KEYS_MAX];
};

/* A registered (non-validator) node: in the genesis and in the system module's state. */
struct registered_node {
    struct public_key transport_key; /* Ed25519 */
    uint32_t institution;
    char address[NODE_ADDRESS_SIZE_MAX + 1]; /* NUL-terminated; "" if none */
};

struct genesis_module {
    char name[TX_NAME_SIZE_MAX + 1];
    uint8_t *data; /* owned; the module's genesis loader decodes it */
    size_t data_size;
};

struct genesis {
    char chain_name[GENESIS_NAME_SIZE_MAX + 1];
    enum hash_alg hash_alg;
    uint64_t timestamp_us;
    struct chain_params params;
    size_t institution_count;
    struct genesis_institution *institutions;
    size_t account_count;
    struct genesis_account *accounts;
    struct validator_set *validators; /* owned */
    size_t node_count;
    struct registered_node *nodes;
    size_t module_count;
    struct genesis_module *modules;
};

/* Empty genesis with default params and SHA-256, ready to be filled. */
void genesis_init(struct genesis *g);
/* Frees the arrays; accepts a released or zeroed struct. */
void genesis_release(struct genesis *g);
/* Appends one element (growing the arrays); ERR_FULL past the maxima. The module data is
 * copied. */
MUST_USE enum err genesis_add_institution(struct genesis *g, uint32_t id, const char *name,
                                          bool founding);
MUST_USE enum err genesis_add_account(struct genesis *g, const struct genesis_account *account);
MUST_USE enum err genesis_add_node(struct genesis *g, const struct registered_node *node);
MUST_USE enum err genesis_add_module(struct genesis *g, const char *name, const uint8_t *data,
                                     size_t data_size);

/* ERR_OK if the genesis is complete and canonical: names valid, institutions sorted and
 * unique, founding institutions >= 1, accounts' institutions exist, keys allowed by params
 * and well-formed, addresses unique, validators valid with epoch GENESIS_EPOCH and existing
 * institutions, modules sorted and unique. ERR_MALFORMED otherwise. */
MUST_USE enum err genesis_check(const struct genesis *g);
MUST_USE enum err genesis_encode(const struct genesis *g, struct buf *out);
/* The chain id. Requires a genesis that passes genesis_check. */
MUST_USE enum err genesis_hash(const struct genesis *g, struct hash *out);
/* Order of registered nodes: by transport key (alg, size, bytes). */
int registered_node_compare(const struct registered_node *a, const struct registered_node *b);
/* True if address is "" or 1..NODE_ADDRESS_SIZE_MAX of [0-9A-Za-z.:[]-] (no NUL). */
bool registered_node_address_ok(const char *address, size_t size);
/* Encoding of one node (the genesis and system state layout above). */
MUST_USE enum err registered_node_put(struct buf *b, const struct registered_node *node);
/* Strict decoding of one node (key Ed25519-sized, address valid). */
MUST_USE enum err registered_node_get(struct reader *r, struct registered_node *out);

/* Address of account i (from its first key). */
void genesis_account_address(const struct genesis *g, size_t index, struct address *out);

#endif
