/* The validator set of an epoch, as kept in the ledger's authenticated state (system module),
 * named by hash in BlockInfo.next_epoch_vs_hash and carried whole in EpochChangeProofs
 * (CONSENSUS.md 1, 2, 9). A node's index is its position in the set.
 *
 * Canonical layout (codec.h rules):
 *   u64 epoch
 *   vector nodes (1..VS_NODES_MAX):
 *     u32 institution, public_key consensus_key (Ed25519 or SM2),
 *     public_key transport_key (Ed25519, the node's TLS key), u64 power
 * A valid set has powers >= 1 summing to at most VS_POWER_TOTAL_MAX (so 3 * P fits a u64),
 * an Ed25519 transport key per node, and no consensus or transport key used twice. The
 * decoder accepts valid sets only. validator_set_hash = H(encoding). Pure, thread-safe. */
#ifndef LM_CODEC_VALIDATOR_SET_H
#define LM_CODEC_VALIDATOR_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/reader.h"
#include "crypto/hash.h"
#include "crypto/sign.h"

#define VS_NODES_MAX       256
#define VS_POWER_TOTAL_MAX (1ull << 60)
/* Upper bound of an encoded set: 8 + 3 + 256 * (4 + 66 + 33 + 8). */
#define VS_ENCODED_SIZE_MAX (8 + 3 + VS_NODES_MAX * (4 + 1 + PUBLIC_KEY_SIZE_MAX + 33 + 8))

struct vs_node {
    uint32_t institution;
    struct public_key consensus_key;
    struct public_key transport_key;
    uint64_t power;
};

struct validator_set {
    uint64_t epoch;
    size_t count;
    struct vs_node nodes[VS_NODES_MAX];
};

/* ERR_OK if the set is valid (see above); ERR_MALFORMED otherwise. Does not check that keys
 * are points on their curves (public_key_check does; the system module calls it). */
MUST_USE enum err validator_set_check(const struct validator_set *vs);
/* Sum of the powers of a valid set. */
uint64_t validator_set_power(const struct validator_set *vs);
/* Appends the encoding; ERR_MALFORMED if the set is invalid. */
MUST_USE enum err validator_set_encode(const struct validator_set *vs, struct buf *out);
/* Strict decoding of a valid set from the reader (a set embedded in a larger message); out is
 * written only on success. */
MUST_USE enum err validator_set_read(struct reader *r, struct validator_set *out);
/* Strict decoding of a valid set filling all of data. */
MUST_USE enum err validator_set_decode(const uint8_t *data, size_t size, struct validator_set *out);
/* H(encoding) of a valid set. */
void validator_set_hash(enum hash_alg alg, const struct validator_set *vs, struct hash *out);

/* Helpers for consensus (CONSENSUS.md 1): all take a valid set. */
/* Index of the node with this consensus key, or -1. */
int validator_set_find(const struct validator_set *vs, const struct public_key *consensus_key);
/* Index of the node with this transport key, or -1. */
int validator_set_find_transport(const struct validator_set *vs,
                                 const struct public_key *transport_key);
/* Quorum: 3 * power > 2 * P; weak quorum (at least one honest): 3 * power > P, where P is
 * validator_set_power(vs) and power <= P. */
bool validator_set_is_quorum(const struct validator_set *vs, uint64_t power);
bool validator_set_is_weak_quorum(const struct validator_set *vs, uint64_t power);

#endif
