/* The core `account` module: accounts, their keys and nonces (authentication of txs).
 *
 * State: "account/" + address (20 bytes) -> u64 nonce, u32 institution, bool admin,
 * vector keys (1..ACCOUNT_KEYS_MAX public keys). The nonce is the next one expected.
 * Ops (args in canonical encoding):
 *   create      { public_key key, bool admin }: an institution admin creates an account of
 *               its institution at address_of(key); ERR_EXISTS if present.
 *   add_key     { public_key key }: adds a key to the sender's account (ERR_FULL at the max).
 *   remove_key  { public_key key }: removes one; the last key cannot go (ERR_DENIED).
 * Queries: get { address } -> the account's state value (ERR_NOT_FOUND if absent).
 * Genesis: the genesis struct's accounts. */
#ifndef LM_LEDGER_ACCOUNT_H
#define LM_LEDGER_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "crypto/sign.h"
#include "ledger/genesis.h"
#include "ledger/module.h"

#define ACCOUNT_MODULE         "account"
#define ACCOUNT_VALUE_SIZE_MAX (8 + 4 + 1 + 1 + ACCOUNT_KEYS_MAX * (1 + PUBLIC_KEY_SIZE_MAX))

struct account {
    struct address address;
    uint64_t nonce;
    uint32_t institution;
    bool admin;
    size_t key_count;
    struct public_key keys[ACCOUNT_KEYS_MAX];
};

extern const struct module_def account_module;

MUST_USE enum err account_encode(const struct account *a, struct buf *out);
/* Decodes a state value; out->address is set to address. */
MUST_USE enum err account_decode(const uint8_t *data, size_t size, const struct address *address,
                                 struct account *out);
/* Loads an account through any view (read access to the account namespace).
 * ERR_NOT_FOUND if absent. */
MUST_USE enum err account_load(struct state_view *v, const struct address *address,
                               struct account *out);
/* Stores an account; v must be a writable view of the account module. */
MUST_USE enum err account_store(struct state_view *v, const struct account *a);
bool account_has_key(const struct account *a, const struct public_key *key);

#endif
