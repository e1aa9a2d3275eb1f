/* The notary proof bundle: everything needed to show, offline and against the genesis file
 * alone (`lianmeng verify --genesis FILE BUNDLE`), that an anchor record (notary_args.h) is
 * in the final state of the chain: the record, its state proof, and the finality proof of
 * the state root (ARCHITECTURE.md "Finality proofs", CONSENSUS.md 2).
 *
 * Layout (canonical, codec.h rules):
 *   u8     version = NOTARY_BUNDLE_VERSION
 *   hash   chain_id        must equal the genesis hash of the verifier's genesis file
 *   hash   document
 *   address account        the record's state key is "notary/" || notary_record_key(document,
 *                          account)
 *   bytes  record          (<= NOTARY_RECORD_SIZE_MAX) the record's value
 *   state_proof proof      (codec/state_proof.h) of the record under the root below
 *   u64    state_height    B: the block whose post-state holds the record
 *   vector epoch_changes   (<= NOTARY_BUNDLE_EPOCHS_MAX), one per epoch since genesis:
 *            bytes commit_cert (<= NOTARY_BUNDLE_CERT_SIZE_MAX) ending epoch e,
 *            bytes validator_set (<= VS_ENCODED_SIZE_MAX) V(e+1)
 *   bytes  commit_cert     (<= NOTARY_BUNDLE_CERT_SIZE_MAX) a QC whose ledger_info.commit_info
 *                          names block C, C >= B
 *   vector headers         (1..NOTARY_BUNDLE_HEADERS_MAX) of bytes (<= NOTARY_BUNDLE_HEADER_
 *                          SIZE_MAX): the header of C, then its ancestors down to B
 *                          (exactly one header, C's, when B == C: the usual case, since a node
 *                          proves at its latest committed block and stores that block's cert)
 * Commit certs, headers and validator sets are the canonical encodings of CONSENSUS.md 2
 * (codec/validator_set.h for sets); this codec carries them as opaque bytes.
 *
 * Verification (by the verifier, with the consensus types):
 *  1. chain_id == genesis hash; V := the genesis validator set; the hash algorithm is the
 *     genesis one.
 *  2. For each epoch change in order: its cert verifies under V (epoch, quorum power, every
 *     signature over H(ledger_info), vote_data_hash) and H(validator_set) equals its
 *     commit_info.next_epoch_vs_hash; then V := validator_set.
 *  3. commit_cert verifies under V, and its commit_info is not empty.
 *  4. H(headers[0]) == commit_info.id and headers[0].height == commit_info.height; for each
 *     i, H(headers[i+1]) == headers[i].parent_id and heights decrease by one; the last header
 *     is at state_height.
 *  5. root := commit_info.exec_root if there is one header, else headers[count - 2]
 *     .parent_exec_root (the header at state_height + 1 names B's post-state).
 *  6. state_proof_verify(alg, root, key, record, proof) == ERR_OK and the record decodes.
 *  The verifier then reports the record: anchoring account, institution, height, block time,
 *  kind, note, tx hash; and that state_height's state is final.
 *
 * A decoded bundle borrows the bytes it was decoded from (every byte field points into them).
 * Pure functions, thread-safe. */
#ifndef LM_CODEC_NOTARY_BUNDLE_H
#define LM_CODEC_NOTARY_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "codec/notary_args.h"
#include "codec/state_proof.h"
#include "codec/validator_set.h"
#include "crypto/hash.h"
#include "crypto/sign.h"

#define NOTARY_BUNDLE_VERSION         1
#define NOTARY_BUNDLE_EPOCHS_MAX      64
#define NOTARY_BUNDLE_HEADERS_MAX     256
#define NOTARY_BUNDLE_CERT_SIZE_MAX   (64u << 10)
#define NOTARY_BUNDLE_HEADER_SIZE_MAX (64u << 10)
#define NOTARY_BUNDLE_SIZE_MAX        (8u << 20) /* whole encoding, checked by the decoder */

struct notary_bundle_epoch {
    const uint8_t *commit_cert;
    size_t commit_cert_size;
    const uint8_t *validator_set;
    size_t validator_set_size;
};

struct notary_bundle_header {
    const uint8_t *data;
    size_t size;
};

/* A bundle; byte fields are borrowed. Large (~14 KiB): allocate it on the heap. */
struct notary_bundle {
    struct hash chain_id;
    struct hash document;
    struct address account;
    const uint8_t *record;
    size_t record_size;
    struct state_proof proof;
    uint64_t state_height;
    size_t epoch_count;
    struct notary_bundle_epoch epochs[NOTARY_BUNDLE_EPOCHS_MAX];
    const uint8_t *commit_cert;
    size_t commit_cert_size;
    size_t header_count;
    struct notary_bundle_header headers[NOTARY_BUNDLE_HEADERS_MAX];
};

/* Appends the bundle. ERR_MALFORMED for no header or counts past their maximum,
 * ERR_TOO_LARGE for a field past its maximum (or a full buffer). */
MUST_USE enum err notary_bundle_encode(const struct notary_bundle *bundle, struct buf *out);
/* Strict decoding of all of data (ERR_TOO_LARGE past NOTARY_BUNDLE_SIZE_MAX, ERR_UNSUPPORTED
 * for another version, the codec's errors otherwise). Checks the layout only: the record,
 * certs, sets and headers are checked by the verifier. On failure *out may be partly
 * written. */
MUST_USE enum err notary_bundle_decode(const uint8_t *data, size_t size, struct notary_bundle *out);
/* Step 6 of the verification: the bundle's record is in the state whose root is `root` (as
 * established by steps 1-5), decodes, belongs to the bundle's account and was anchored at or
 * before state_height. Fills *out_record. ERR_CORRUPT if the proof does not hold,
 * ERR_MALFORMED (or the decoder's error) for a record that does not fit. */
MUST_USE enum err notary_bundle_check_record(enum hash_alg alg, const struct notary_bundle *bundle,
                                             const struct hash *root,
                                             struct notary_record *out_record);

#endif
