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
 *   vector modules { text name, bytes data }
 *
 * Ownership: the struct owns its arrays and module data (genesis_release frees them). */
#ifndef LM_LEDGER_GENESIS_H
#define LM_LEDGER_GENESIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
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
/* Address of account i (from its first key). */
void genesis_account_address(const struct genesis *g, size_t index, struct address *out);

#endif
