/* store/block_store.h - append-only store of committed blocks, keyed by height.
 *
 * Each block's payload (opaque to the store: the ledger's encoded block and its commit
 * certificate) is appended as one record to the current segment file of DIR:
 *
 *   record = magic u32 "LMBK" | crc32c u32 | payload size u32 | tx count u32 | height u64 |
 *            payload | tx hashes (tx count x HASH_SIZE, in block order)
 *
 * all little-endian; the CRC-32C covers the header bytes after it, the payload and the hashes.
 * Segments (seg-NNNNNNNNNN.blk) roll over at a configurable size. The block index lives in
 * tables of the shared LMDB environment (store/db.h): height -> location and block id, block
 * id -> height, and the committed tip. The tx hash -> (height, index in block) index is
 * store/tx_index.h, in run files of DIR: derived from the hashes in the records, written
 * sequentially off the commit path, rebuilt from the records at open where it is missing.
 *
 * Commit protocol (crash atomicity): block_store_append writes the record and fdatasyncs it
 * BEFORE the caller's write txn, which holds the index entries (and the ledger's state of the
 * same height), commits. After a crash at any instant the index names height h, and every
 * record up to h is on disk; bytes past record h are a torn or uncommitted tail that
 * block_store_open cuts (with a NOTICE log line). A record inside the indexed range whose
 * checksum fails is ERR_CORRUPT: fatal to the caller.
 *
 * Invariants: heights are dense (first..tip; the first block may have any height, usually 0);
 * a record is written once, never rewritten; every read verifies the checksum.
 * Threads: one writer (the commit path) calls append/committed/rollback/commit/tip; the
 * read functions take any txn of the db (or NULL for their own read txn) and may run on any
 * thread (block_store_tx_find takes the tx index's lock). The tx index has a worker thread.
 * Ownership: the store owns its files; it borrows db, which must outlive it. */
#ifndef LM_STORE_BLOCK_STORE_H
#define LM_STORE_BLOCK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "crypto/hash.h"
#include "store/db.h"
#include "store/tx_index.h"

#define BLOCK_STORE_PAYLOAD_SIZE_MAX  (64u << 20) /* one block + certificate */
#define BLOCK_STORE_TXS_MAX           100000u     /* tx hashes indexed per block */
#define BLOCK_STORE_RECORD_HEADER     24u
#define BLOCK_STORE_SEGMENT_SIZE_MIN  (64u << 10)
#define BLOCK_STORE_SEGMENT_SIZE_DFLT (256u << 20)

struct block_store;

struct block_store_options {
    uint64_t segment_size_bytes;  /* roll to a new segment past this (0: 256 MiB; min 64 KiB) */
    bool no_sync;                 /* tests and benchmarks only: skip fdatasync */
    uint32_t tx_memtable_entries; /* tx index: entries in memory before a run (0: 2^18) */
    uint32_t tx_merge_fanin;      /* tx index: runs merged at once (0: 4) */
};

/* A block to append. The payload and tx hashes are borrowed for the call. */
struct block_store_block {
    uint64_t height;
    struct hash id;
    const uint8_t *payload;
    size_t payload_size;
    const struct hash *tx_hashes; /* in block order; index i is the tx's position */
    size_t tx_count;
};

/* Where a block's record is, from the index. */
struct block_store_info {
    uint64_t height;
    struct hash id;
    uint32_t segment;
    uint64_t offset; /* of the record header in the segment file */
    uint32_t payload_size;
    uint32_t tx_count; /* tx hashes in the record */
};

struct block_store_tx_location {
    uint64_t height;
    uint32_t index; /* position in the block */
};

/* Opens the store: creates dir if needed, opens its tables in db (call at start-up, before
 * other transactions), cuts any torn or uncommitted tail and verifies the tip's record.
 * ERR_CORRUPT if the index and the files disagree. The caller owns *out (block_store_close). */
MUST_USE enum err block_store_open(struct db *db, const char *dir,
                                   const struct block_store_options *options,
                                   struct block_store **out);
/* Closes the files; a staged append that was neither committed nor rolled back is cut. */
void block_store_close(struct block_store *s);

/* The committed tip as the writer sees it; false while the store is empty. */
bool block_store_tip(const struct block_store *s, uint64_t *out_height);

/* Stages block->height (tip + 1, or any height in an empty store): appends and fdatasyncs
 * the record, then puts the index entries and the new tip into txn (a write txn of the same
 * db). Then the caller commits txn and calls block_store_committed, or, if the txn is aborted
 * or its commit fails, block_store_rollback. On error nothing is staged, the segment is cut
 * back to its previous size (nothing committed is lost), and the caller must abort txn.
 * ERR_NO_SPACE when the disk is full; ERR_TOO_LARGE past the payload or tx maximums. */
MUST_USE enum err block_store_append(struct block_store *s, struct db_txn *txn,
                                     const struct block_store_block *block);
/* The txn holding the staged block committed: the block is now the tip. */
void block_store_committed(struct block_store *s);
/* The txn holding the staged block was aborted or failed to commit: cut its record. */
void block_store_rollback(struct block_store *s);
/* Convenience for a caller with nothing else to do at commit: db_txn_commit(txn), then
 * block_store_committed or block_store_rollback. Returns the commit's result. */
MUST_USE enum err block_store_commit(struct block_store *s, struct db_txn *txn);

/* Reads (txn: any txn of the db, or NULL to use a fresh read txn; with NULL the calling
 * thread must not hold another read txn of the db, LMDB's rule). ERR_NOT_FOUND if absent. */

/* The committed tip as recorded in txn's snapshot. */
MUST_USE enum err block_store_tip_read(struct block_store *s, struct db_txn *txn,
                                       uint64_t *out_height);
MUST_USE enum err block_store_info(struct block_store *s, struct db_txn *txn, uint64_t height,
                                   struct block_store_info *out);
/* Appends block height's payload to out, after verifying its checksum (ERR_CORRUPT if it
 * fails, or if the record is missing or does not match the index). ERR_TOO_LARGE if out's
 * maximum is too small. */
MUST_USE enum err block_store_read(struct block_store *s, struct db_txn *txn, uint64_t height,
                                   struct buf *out);
/* Like block_store_read, for the block with this id; *out_height gets its height. */
MUST_USE enum err block_store_read_by_id(struct block_store *s, struct db_txn *txn,
                                         const struct hash *id, uint64_t *out_height,
                                         struct buf *out);
MUST_USE enum err block_store_height_of(struct block_store *s, struct db_txn *txn,
                                        const struct hash *id, uint64_t *out_height);
/* Where the tx with this hash is, among the blocks committed in txn's snapshot (a hash in
 * more than one block: the latest). */
MUST_USE enum err block_store_tx_find(struct block_store *s, struct db_txn *txn,
                                      const struct hash *tx_hash,
                                      struct block_store_tx_location *out);

/* The tx index (tests, benchmarks, metrics): waits until its worker has written every full
 * memtable and done every due merge; its counters. */
MUST_USE enum err block_store_tx_index_settle(struct block_store *s);
void block_store_tx_index_stats(struct block_store *s, struct tx_index_stats *out);

#endif
