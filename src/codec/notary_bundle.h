/* The notary proof bundle: everything needed to show, offline and against the genesis file
 * alone (`lianmeng verify --genesis FILE BUNDLE`), that an anchor record (notary_args.h) is
 * in the final state of the chain: the document's records (one state value: this anchor and
 * any other account's of the same document), their state proof, and the finality proof of
 * the state root (ARCHITECTURE.md "Finality proofs", CONSENSUS.md 2).
 *
 * Layout (canonical, codec.h rules):
 *   u8     version = NOTARY_BUNDLE_VERSION
 *   hash   chain_id        must equal the genesis hash of the verifier's genesis file
 *   hash   document
 *   address account        the anchoring account whose record the bundle proves
 *   bytes  records         (<= NOTARY_RECORDS_SIZE_MAX) the state value of
 *                          "notary/" || notary_document_key(document): the anchor records
 *   state_proof proof      (codec/state_proof.h) of that value under the root below
 *   u64    state_height    B: the block whose post-state holds the record
 *   vector epoch_changes   (<= NOTARY_BUNDLE_EPOCHS_MAX), one per epoch since genesis:
 *            bytes commit_cert (<= NOTARY_BUNDLE_CERT_SIZE_MAX, qc_encode) ending epoch e,
 *            bytes validator_set (<= VS_ENCODED_SIZE_MAX) V(e+1)
 *   bytes  finality        (<= NOTARY_BUNDLE_SIZE_MAX) a finality proof
 *                          (codec/consensus_types.h finality_proof_encode): a commit cert
 *                          naming block C >= B and the headers of C down to B's child (none
 *                          when B == C: the usual case, a node proving at its latest final
 *                          block; suffix blocks after an epoch-ending B share its height).
 *                          These are the bytes node/ stores as each committed block's cert
 *                          (ledger_read_block), so a node builds a bundle from ledger_prove
 *                          at its committed height h and the cert bytes of h.
 *
 * Verification (notary_bundle_verify), against the genesis file alone:
 *  1. chain_id == the genesis hash; V := the genesis validator set.
 *  2. For each epoch change in order: its cert has a commit_info of V's epoch that
 *     verifies under V (qc_verify: quorum power, every signature) and H(validator_set) ==
 *     commit_info.next_epoch_vs_hash; then V := validator_set (epoch + 1).
 *  3. The finality cert has a commit_info of V's epoch and verifies under V.
 *  4. With no header, commit_info.height == state_height and root := commit_info.exec_root.
 *     Otherwise H(headers[0]) == commit_info.id, H(headers[i+1]) == headers[i].parent_id,
 *     headers[0] is at commit_info.height, each header's QC certifies its parent (id =
 *     parent_id, exec_root = parent_exec_root, height one less, or equal for a
 *     reconfiguration suffix block after an epoch-ending block), the next header is at that
 *     parent height, the last one's parent is at state_height and root := its
 *     parent_exec_root (B's post-state).
 *  5. state_proof_verify(root, "notary/" || document key, records) holds, the records
 *     decode, one of them is the bundle's account's and it was anchored at or before
 *     state_height.
 *
 * A decoded bundle borrows the bytes it was decoded from (every byte field points into them).
 * Pure functions, thread-safe. */
#ifndef LM_CODEC_NOTARY_BUNDLE_H
#define LM_CODEC_NOTARY_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "codec/consensus_types.h"
#include "codec/notary_args.h"
#include "codec/state_proof.h"
#include "codec/validator_set.h"
#include "crypto/hash.h"
#include "crypto/sign.h"

#define NOTARY_BUNDLE_VERSION         2 /* 1: one record per (document, account) */
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

/* A bundle; byte fields are borrowed. Large (~10 KiB): allocate it on the heap. */
struct notary_bundle {
    struct hash chain_id;
    struct hash document;
    struct address account;
    const uint8_t *records;
    size_t records_size;
    struct state_proof proof;
    uint64_t state_height;
    size_t epoch_count;
    struct notary_bundle_epoch epochs[NOTARY_BUNDLE_EPOCHS_MAX];
    const uint8_t *finality;
    size_t finality_size;
};

/* Appends the bundle. ERR_MALFORMED for counts past their maximum,
 * ERR_TOO_LARGE for a field past its maximum (or a full buffer). */
MUST_USE enum err notary_bundle_encode(const struct notary_bundle *bundle, struct buf *out);
/* Strict decoding of all of data (ERR_TOO_LARGE past NOTARY_BUNDLE_SIZE_MAX, ERR_UNSUPPORTED
 * for another version, the codec's errors otherwise). Checks the layout only: the record,
 * certs, sets and headers are checked by the verifier. On failure *out may be partly
 * written. */
MUST_USE enum err notary_bundle_decode(const uint8_t *data, size_t size, struct notary_bundle *out);
/* Steps 1-5: ERR_OK and *out_record if the bundle proves its record final on the chain of
 * v->chain, whose genesis validator set is genesis_vs. ERR_WRONG_CHAIN for another chain,
 * ERR_BAD_SIGNATURE for a cert that does not verify or a broken header chain, ERR_CORRUPT
 * for a state proof that does not hold, ERR_NOT_FOUND if the proved records hold none of the
 * bundle's account, ERR_MALFORMED (or a decoder's error) otherwise. */
MUST_USE enum err notary_bundle_verify(const struct cons_verifier *v,
                                       const struct validator_set *genesis_vs,
                                       const struct notary_bundle *bundle,
                                       struct notary_record *out_record);
/* Step 5 of the verification: the bundle's records are in the state whose root is `root` (as
 * established by steps 1-4), decode, and hold a record of the bundle's account anchored at or
 * before state_height. Fills *out_record. ERR_CORRUPT if the proof does not hold,
 * ERR_NOT_FOUND if the records hold none of the account's, ERR_MALFORMED (or the decoder's
 * error) for records that do not fit. */
MUST_USE enum err notary_bundle_check_record(enum hash_alg alg, const struct notary_bundle *bundle,
                                             const struct hash *root,
                                             struct notary_record *out_record);

#endif
