/* genesis.json <-> struct genesis (ledger/genesis.h). The ledger loads the struct; this file
 * is the only place that knows the JSON form (ARCHITECTURE.md "Genesis").
 *
 *   {
 *     "chain_name": "lianmeng-devnet",
 *     "hash_alg": "sha256" | "sm3",
 *     "timestamp_us": 1700000000000000,
 *     "params": { "tx_size_bytes_max": 65536, ... },        optional, every field optional
 *     "institutions": [ { "id": 1, "name": "...", "founding": true }, ... ],
 *     "accounts": [ { "institution": 1, "admin": true, "keys": ["ed25519:<hex>", ...] } ],
 *     "validators": [ { "institution": 1, "consensus_key": "sm2:<hex>",
 *                       "transport_key": "ed25519:<hex>", "power": 1 } ],
 *     "nodes": [ { "institution": 2, "transport_key": "ed25519:<hex>",  optional: registered
 *                  "address": "127.0.0.1:9005" } ],                      non-validator nodes,
 *                                                                        address optional
 *     "modules": { "<name>": "<base64 data>", ... }           optional
 *   }
 * Parsing is strict: unknown or duplicate keys, wrong types, negative or oversized numbers,
 * bad keys and anything genesis_check refuses are ERR_MALFORMED (ERR_TOO_LARGE past
 * GENESIS_JSON_SIZE_MAX). Institutions, nodes and modules are sorted by the parser, so the JSON may
 * list them in any order; the genesis hash does not depend on that order. */
#ifndef LM_NODE_GENESIS_JSON_H
#define LM_NODE_GENESIS_JSON_H

#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"
#include "ledger/genesis.h"

#define GENESIS_JSON_SIZE_MAX (16u << 20)

/* Parses text into *out (initialised here; release with genesis_release, also on error). */
MUST_USE enum err genesis_json_decode(const char *text, size_t size, struct genesis *out);
/* Reads and parses the file at path. ERR_IO if it cannot be read. */
MUST_USE enum err genesis_json_load(const char *path, struct genesis *out);
/* Appends the JSON form of a valid genesis (what genesis_json_decode reads back). */
MUST_USE enum err genesis_json_encode(const struct genesis *g, struct buf *out);

#endif
