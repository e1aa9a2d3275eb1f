/* The chain parameters the ledger enforces (no fees: a consortium chain bounds work with
 * limits and per-institution quotas). Kept in authenticated state by the system module
 * (key "system/params"), loaded at the start of every block, so governance can later change
 * them through state.
 *
 * Resource units (deterministic, integer): every tx costs LEDGER_RES_TX_BASE + its size in
 * bytes + LEDGER_RES_OP per op; every state read LEDGER_RES_READ + key and value bytes;
 * every state write LEDGER_RES_WRITE + 2 * (key + value bytes); modules may charge more
 * (exec_ctx_charge). Canonical encoding: u8 version (1), then the fields in order as
 * u32/u64 as declared. */
#ifndef LM_LEDGER_PARAMS_H
#define LM_LEDGER_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define PARAMS_VERSION       1
#define PARAMS_ENCODED_SIZE  (1 + 4 + 4 + 8 + 8 + 8 + 4 + 8 + 4)
#define LEDGER_RES_TX_BASE   1000u
#define LEDGER_RES_OP        100u
#define LEDGER_RES_READ      50u
#define LEDGER_RES_WRITE     100u
#define LEDGER_BLOCK_TXS_MAX 100000u /* hard cap of block_txs_max */

struct chain_params {
    uint32_t tx_size_bytes_max;              /* <= TX_SIZE_MAX */
    uint32_t tx_ops_max;                     /* 1..TX_OPS_MAX */
    uint64_t tx_resource_max;                /* per tx */
    uint64_t block_resource_max;             /* per block, all txs */
    uint64_t institution_block_resource_max; /* per block, txs of one institution's accounts */
    uint32_t block_txs_max;                  /* 1..LEDGER_BLOCK_TXS_MAX */
    uint64_t tx_expiry_window_max;           /* expiry_height - height must be <= this */
    uint32_t sig_algs_allowed;               /* bit (1 << enum sig_alg) per allowed algorithm */
};

/* Sensible defaults: 64 KiB txs, 16 ops, Ed25519 and SM2 allowed, 10,000 txs per block. */
void chain_params_default(struct chain_params *out);
/* ERR_OK if every field is in range (see the comments above); ERR_MALFORMED otherwise. */
MUST_USE enum err chain_params_check(const struct chain_params *p);
MUST_USE enum err chain_params_encode(const struct chain_params *p, struct buf *out);
/* Strict; rejects values that fail chain_params_check. */
MUST_USE enum err chain_params_decode(const uint8_t *data, size_t size, struct chain_params *out);
bool chain_params_sig_alg_allowed(const struct chain_params *p, unsigned alg);

#endif
