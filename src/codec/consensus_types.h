/*
 * codec/consensus_types.h - the wire types of the BFT protocol (CONSENSUS.md section 2) with
 * strict canonical encoders and decoders, their hashes, signing digests and verification.
 *
 * Encoding rules are those of codec/codec.h; structures nest by concatenation (no length
 * prefix around a nested value), so a stored encoded QC can be spliced into a message as is.
 * Optional values are a u8 tag (0 absent, 1 present). Every count has a maximum checked before
 * anything is read; the decoders never allocate.
 *
 * Large values (QC 16 KB, proposal 90 KB at the maximum validator count) are decoded into
 * caller-owned scratch: on failure the scratch holds an unspecified partial value and must not
 * be used. Byte strings inside decoded values (transactions, retrieved blocks, proof entries)
 * borrow the input bytes and live as long as them.
 *
 * The block header carries tx_count beside payload_root (ARCHITECTURE.md "Block header and
 * roots" plus the count), so the id binds the tree size of tx inclusion proofs.
 *
 * Signatures (CONSENSUS.md section 1) cover sign_digest_tagged(alg, tag, chain_id, bytes):
 *   proposal  "LM1/proposal"  block id (32 bytes)
 *   vote      "LM1/vote"      epoch u64 || H(ledger_info)
 *   timeout   "LM1/timeout"   epoch u64 || round u64 || hqc_round u64
 * The tags differ, so no signature of one kind verifies as another.
 *
 * Verification here checks structure, membership, voting power and signatures; protocol rules
 * (rounds, epochs, safety) belong to consensus/. Signature checks go through a
 * cons_verify_fn so callers can put a cache or a worker pool behind it.
 * Threads: pure functions, thread-safe.
 */
#ifndef LM_CODEC_CONSENSUS_TYPES_H
#define LM_CODEC_CONSENSUS_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/reader.h"
#include "codec/validator_set.h"
#include "crypto/hash.h"
#include "crypto/merkle.h"
#include "crypto/sign.h"

#define CONS_VALIDATORS_MAX       256
#define CONS_BITMAP_SIZE_MAX      (CONS_VALIDATORS_MAX / 8)
#define CONS_FAILED_AUTHORS_MAX   32
#define CONS_TX_SIZE_MAX          ((size_t)64 << 10)
#define CONS_BLOCK_TXS_MAX        10000u
#define CONS_BLOCK_BYTES_MAX      ((size_t)4 << 20)
#define CONS_RETRIEVAL_BLOCKS_MAX 16
#define CONS_EPOCH_PROOF_MAX      4
#define FINALITY_HEADERS_MAX      256
#define CONS_MSG_SIZE_MAX         (CONS_BLOCK_BYTES_MAX + ((size_t)512 << 10))
#define CONS_POWER_TOTAL_MAX      (UINT64_C(1) << 60)

#define CONS_TAG_PROPOSAL "LM1/proposal"
#define CONS_TAG_VOTE     "LM1/vote"
#define CONS_TAG_TIMEOUT  "LM1/timeout"

/* ---- Validator set ---- */

/* The validator set is the ledger's (codec/validator_set.h): consensus names a validator by
 * its index in the set, checks signatures against nodes[i].consensus_key and weighs votes
 * by nodes[i].power. */
_Static_assert(CONS_VALIDATORS_MAX == VS_NODES_MAX, "one bound on the validator count");
_Static_assert(CONS_POWER_TOTAL_MAX == VS_POWER_TOTAL_MAX, "one bound on the total power");

/* ---- BlockInfo, VoteData, LedgerInfo ---- */

struct block_info {
    uint64_t epoch;
    uint64_t round;
    struct hash id;
    uint64_t height;
    struct hash exec_root;
    struct hash receipts_root;
    uint64_t timestamp_us;
    struct hash next_epoch_vs_hash; /* zero unless epoch-ending */
};

struct vote_data {
    struct block_info proposed;
    struct block_info parent;
};

struct ledger_info {
    bool has_commit; /* commit_info EMPTY when false (and then all zero) */
    struct block_info commit_info;
    struct hash vote_data_hash;
};

MUST_USE enum err block_info_encode(struct buf *b, const struct block_info *bi);
MUST_USE enum err block_info_read(struct reader *r, struct block_info *out);
bool block_info_equal(const struct block_info *a, const struct block_info *b);
MUST_USE enum err vote_data_encode(struct buf *b, const struct vote_data *vd);
void vote_data_hash(enum hash_alg alg, const struct vote_data *vd, struct hash *out);
MUST_USE enum err ledger_info_encode(struct buf *b, const struct ledger_info *li);
void ledger_info_hash(enum hash_alg alg, const struct ledger_info *li, struct hash *out);

/* ---- Quorum and timeout certificates ---- */

/* signer_bitmap bit i (byte i / 8, bit i % 8) marks validator i; sigs in bitmap order. A QC
 * with no signatures is the synthetic epoch QC (round 0), trusted only if it equals the one
 * derived locally (qc_epoch_genesis). */
struct qc {
    struct vote_data vote_data;
    struct ledger_info ledger_info;
    uint16_t bitmap_size;
    uint8_t bitmap[CONS_BITMAP_SIZE_MAX];
    uint16_t sig_count;
    struct signature sigs[CONS_VALIDATORS_MAX];
};

struct tc {
    uint64_t epoch;
    uint64_t round;
    struct qc hqc; /* the highest QC among the signers' */
    uint16_t bitmap_size;
    uint8_t bitmap[CONS_BITMAP_SIZE_MAX];
    uint16_t sig_count;
    uint64_t hqc_rounds[CONS_VALIDATORS_MAX]; /* per signer, bitmap order */
    struct signature sigs[CONS_VALIDATORS_MAX];
};

MUST_USE enum err qc_encode(struct buf *b, const struct qc *qc);
MUST_USE enum err qc_read(struct reader *r, struct qc *out);
MUST_USE enum err qc_decode(const uint8_t *data, size_t size, struct qc *out);
/* H(encoding), the key of the verified-certificate cache. */
void qc_hash(enum hash_alg alg, const struct qc *qc, struct hash *out);
static inline uint64_t
qc_round(const struct qc *qc)
{
    return qc->vote_data.proposed.round;
}
static inline const struct hash *
qc_block_id(const struct qc *qc)
{
    return &qc->vote_data.proposed.id;
}
/* The signature-less QC of an epoch's root block: proposed = parent = commit_info = root. */
void qc_epoch_genesis(enum hash_alg alg, const struct block_info *root, struct qc *out);
bool qc_equal(const struct qc *a, const struct qc *b);

MUST_USE enum err tc_encode(struct buf *b, const struct tc *tc);
MUST_USE enum err tc_read(struct reader *r, struct tc *out);
void tc_hash(enum hash_alg alg, const struct tc *tc, struct hash *out);

bool bitmap_get(const uint8_t *bitmap, uint16_t bitmap_size, uint16_t i);
void bitmap_set(uint8_t *bitmap, uint16_t i);

/* ---- Signed messages ---- */

struct vote {
    struct vote_data vote_data;
    struct ledger_info ledger_info;
    uint16_t author;
    struct signature sig;
};

struct timeout {
    uint64_t epoch;
    uint64_t round;
    struct qc hqc;
    uint16_t author;
    struct signature sig;
};

struct sync_info {
    struct qc highest_qc;
    struct qc highest_commit_cert;
    bool has_tc;
    struct tc highest_tc;
};

MUST_USE enum err vote_encode(struct buf *b, const struct vote *v);
MUST_USE enum err vote_read(struct reader *r, struct vote *out);
MUST_USE enum err vote_decode(const uint8_t *data, size_t size, struct vote *out);
MUST_USE enum err timeout_encode(struct buf *b, const struct timeout *t);
MUST_USE enum err timeout_read(struct reader *r, struct timeout *out);
MUST_USE enum err sync_info_encode(struct buf *b, const struct sync_info *si);
MUST_USE enum err sync_info_read(struct reader *r, struct sync_info *out);

/* ---- Blocks ---- */

struct failed_author {
    uint64_t round;
    uint16_t author;
};

struct block_header {
    uint64_t epoch;
    uint64_t round;
    uint64_t height;
    struct hash parent_id;
    struct qc qc; /* certifies the parent */
    uint16_t author;
    uint64_t timestamp_us;
    uint16_t failed_count;
    struct failed_author failed[CONS_FAILED_AUTHORS_MAX]; /* ascending rounds */
    uint32_t tx_count;        /* the payload's (0 for EMPTY), <= CONS_BLOCK_TXS_MAX */
    struct hash payload_root; /* so a tx inclusion proof's tree size is bound by the id */
    struct hash parent_exec_root;
    struct hash parent_receipts_root;
};

enum payload_kind {
    PAYLOAD_EMPTY = 0,
    PAYLOAD_INLINE = 1,
};

/* INLINE: tx_count >= 1 transactions, each a byte string of at most CONS_TX_SIZE_MAX;
 * txs/txs_size borrow their encoding (count varint excluded): iterate with payload_next_tx. */
struct block_payload {
    uint8_t kind; /* enum payload_kind */
    uint32_t tx_count;
    const uint8_t *txs;
    size_t txs_size;
};

struct block {
    struct block_header header;
    struct block_payload payload;
};

MUST_USE enum err block_header_encode(struct buf *b, const struct block_header *h);
MUST_USE enum err block_header_read(struct reader *r, struct block_header *out);
/* id = H(header encoding). */
void block_header_id(enum hash_alg alg, const struct block_header *h, struct hash *out);
MUST_USE enum err block_payload_encode(struct buf *b, const struct block_payload *p);
MUST_USE enum err block_payload_read(struct reader *r, struct block_payload *out);
/* Walks the transactions: *pos starts at 0; ERR_NOT_FOUND after the last one. */
MUST_USE enum err payload_next_tx(const struct block_payload *p, size_t *pos,
                                  const uint8_t **out_tx, size_t *out_size);
/* Merkle root (RFC 6962) over H(tx) of every transaction; the empty tree for EMPTY. */
void block_payload_root(enum hash_alg alg, const struct block_payload *p, struct hash *out);
/* Sets h->tx_count and h->payload_root from the payload (block builders). */
void block_header_set_payload(enum hash_alg alg, struct block_header *h,
                              const struct block_payload *p);
/* ERR_OK if the header's tx_count and payload_root are the payload's, ERR_MALFORMED otherwise:
 * every check of a received block (consensus, block sync). */
MUST_USE enum err block_check_payload(enum hash_alg alg, const struct block *blk);
/* A tx inclusion proof against a block header: the header (its encoding) binds payload_root and
 * tx_count, so the proof must be for index < tx_count in a tree of exactly tx_count leaves.
 * ERR_OK if it holds; ERR_MALFORMED (header) or ERR_BAD_SIGNATURE (proof) otherwise. */
MUST_USE enum err tx_inclusion_verify(enum hash_alg alg, const uint8_t *header, size_t header_size,
                                      const struct hash *leaf, const struct merkle_proof *proof);
MUST_USE enum err block_encode(struct buf *b, const struct block *blk);
MUST_USE enum err block_read(struct reader *r, struct block *out);
MUST_USE enum err block_decode(const uint8_t *data, size_t size, struct block *out);

/* ---- Protocol messages ---- */

enum cons_msg_type {
    CONS_MSG_PROPOSAL = 1,
    CONS_MSG_VOTE = 2,
    CONS_MSG_TIMEOUT = 3,
    CONS_MSG_SYNC_INFO = 4,
    CONS_MSG_BLOCK_REQUEST = 5,
    CONS_MSG_BLOCK_RESPONSE = 6,
    CONS_MSG_EPOCH_REQUEST = 7,
    CONS_MSG_EPOCH_PROOF = 8,
    CONS_MSG_EVIDENCE = 9,
    CONS_MSG_LEDGER_REQUEST = 10,
};
#define CONS_MSG_TYPE_MAX 10

struct proposal_msg {
    struct block block;
    struct signature sig; /* by block.header.author over the block id */
    struct sync_info sync;
};

struct vote_msg {
    struct vote vote;
    struct sync_info sync;
};

struct timeout_msg {
    struct timeout timeout;
    struct sync_info sync;
};

struct block_request {
    struct hash block_id;
    uint16_t num_blocks; /* 1..CONS_RETRIEVAL_BLOCKS_MAX */
    struct hash stop_at; /* the requester's committed root: not sent */
};

/* Committed blocks after `after_id` (at `after_height`), ascending: how a node that fell far
 * behind catches up in bounded steps. Answered with a BLOCK_RESPONSE, blocks bottom-up. */
struct ledger_request {
    struct hash after_id;
    uint64_t after_height;
    uint16_t num_blocks; /* 1..CONS_RETRIEVAL_BLOCKS_MAX */
};

enum block_response_status {
    BLOCK_RESPONSE_OK = 0,
    BLOCK_RESPONSE_NOT_FOUND = 1,
};

struct byte_span {
    const uint8_t *data;
    size_t size;
};

/* Blocks top-down: blocks[0] is the requested block, each next one its parent. Each span is
 * one complete block encoding (checked to decode when the response is decoded). */
struct block_response {
    uint8_t status;
    uint16_t count;
    struct byte_span blocks[CONS_RETRIEVAL_BLOCKS_MAX];
};

struct epoch_request {
    uint64_t epoch; /* the requester's current epoch */
};

/* Entry i: the commit cert ending epoch `first_epoch + i` and the full next validator set, both
 * as encodings (checked to decode). */
struct epoch_change_proof {
    uint16_t count;
    struct byte_span certs[CONS_EPOCH_PROOF_MAX];
    struct byte_span sets[CONS_EPOCH_PROOF_MAX];
};

enum evidence_kind {
    EVIDENCE_DOUBLE_VOTE = 1,
    EVIDENCE_DOUBLE_PROPOSAL = 2,
};

/* DOUBLE_VOTE: a and b are vote encodings. DOUBLE_PROPOSAL: a and b are a block header
 * encoding followed by the proposal signature. */
struct evidence {
    uint8_t kind;
    struct byte_span a;
    struct byte_span b;
};

struct cons_msg {
    uint8_t type; /* enum cons_msg_type */
    union {
        struct proposal_msg proposal;
        struct vote_msg vote;
        struct timeout_msg timeout;
        struct sync_info sync;
        struct block_request block_request;
        struct ledger_request ledger_request;
        struct block_response block_response;
        struct epoch_request epoch_request;
        struct epoch_change_proof epoch_proof;
        struct evidence evidence;
    } u;
};

/* Decodes one message: type byte, body, nothing after. ERR_TOO_LARGE above
 * CONS_MSG_SIZE_MAX (checked first). `out` is scratch (see the top of this file). */
MUST_USE enum err cons_msg_decode(const uint8_t *data, size_t size, struct cons_msg *out);
MUST_USE enum err cons_msg_encode(struct buf *b, const struct cons_msg *m);
MUST_USE enum err evidence_encode(struct buf *b, const struct evidence *e);
MUST_USE enum err evidence_read(struct reader *r, struct evidence *out);

/* ---- Signing digests ---- */

struct cons_chain {
    enum hash_alg alg;
    struct hash chain_id;
};

void proposal_digest(const struct cons_chain *chain, const struct hash *block_id, struct hash *out);
void vote_digest(const struct cons_chain *chain, uint64_t epoch, const struct ledger_info *li,
                 struct hash *out);
void timeout_digest(const struct cons_chain *chain, uint64_t epoch, uint64_t round,
                    uint64_t hqc_round, struct hash *out);

/* ---- Verification ---- */

/* Checks one signature over a 32-byte digest: ERR_OK or ERR_BAD_SIGNATURE. May consult a
 * cache of earlier results. */
typedef enum err cons_verify_fn(void *ctx, const struct public_key *key, const struct hash *digest,
                                const struct signature *sig);

/* One signature check of a certificate. */
struct cons_verify_item {
    const struct public_key *key;
    struct hash digest;
    const struct signature *sig;
};

/* Checks all items (e.g. spread over a worker pool, waiting for all): ERR_OK only if every
 * signature is valid, ERR_BAD_SIGNATURE otherwise. Items are borrowed for the call. */
typedef enum err cons_verify_batch_fn(void *ctx, const struct cons_verify_item *items,
                                      size_t count);

struct cons_verifier {
    const struct cons_chain *chain;
    cons_verify_fn *verify; /* NULL: verify_message directly */
    void *ctx;
    cons_verify_batch_fn *verify_batch; /* optional: a certificate's signatures at once */
};

MUST_USE enum err cons_verify_sig(const struct cons_verifier *v, const struct public_key *key,
                                  const struct hash *digest, const struct signature *sig);

/* A QC with signatures, against vs (its epoch must be vs's, else ERR_MALFORMED): vote_data_hash
 * matches, the bitmap has exactly ceil(n/8) bytes and no bits past n, one signature per signer,
 * quorum power, every signature valid. A signature-less QC is rejected here (ERR_BAD_SIGNATURE):
 * the caller compares it with its derived epoch QC. */
MUST_USE enum err qc_verify(const struct cons_verifier *v, const struct validator_set *vs,
                            const struct qc *qc);
/* A TC: as a QC, each signature over its own (epoch, round, hqc_rounds[i]),
 * hqc.round == max(hqc_rounds), hqc_rounds[i] < round, and the hqc verifies (or equals
 * epoch_qc when it is signature-less). */
MUST_USE enum err tc_verify(const struct cons_verifier *v, const struct validator_set *vs,
                            const struct tc *tc, const struct qc *epoch_qc);

/* Finality proof (CONSENSUS.md section 2): a commit cert naming C, and the headers from C
 * down to (not including) B, each header's parent_id the id of the next and the last one's
 * parent_id B's id. */
struct finality_proof {
    struct qc cert;
    uint16_t header_count;
    struct byte_span headers[FINALITY_HEADERS_MAX];
};

MUST_USE enum err finality_proof_encode(struct buf *b, const struct qc *cert,
                                        const struct byte_span *headers, uint16_t count);
MUST_USE enum err finality_proof_decode(const uint8_t *data, size_t size,
                                        struct finality_proof *out);
/* ERR_OK if `proof` shows that block `block_id` is final under vs (the set of the cert's
 * epoch). `scratch` holds one decoded header. */
MUST_USE enum err finality_proof_verify(const struct cons_verifier *v,
                                        const struct validator_set *vs,
                                        const struct finality_proof *proof,
                                        const struct hash *block_id, struct block_header *scratch);

#endif
