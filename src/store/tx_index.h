/* store/tx_index.h - the block store's tx hash -> (height, index) index, built so that its
 * cost per transaction is a sequential append, not a random B-tree page (issue 13).
 *
 * Derived data: every entry can be rebuilt from the block records, through the read_tx_hashes
 * callback (the block store keeps each block's tx hashes in its record). Layout:
 *   - an in-memory hash table (the memtable) of the newest blocks, heights lo..tip;
 *   - when it holds `memtable_entries` entries it is frozen and a worker thread writes it as
 *     an immutable sorted run file DIR/txi-<lo>-<hi>.run (heights lo..hi, 20 digits each):
 *       header 64 B: magic "LMTX" u32 | version u32 | lo u64 | hi u64 | count u64 |
 *                    body crc32c u32 | level u32 | zero[20] | header crc32c u32 (0..59)
 *       entries: count x (tx hash 32 | height u64 | index u32), sorted by hash, no duplicates
 *       fanout: 65,536 x u32, fanout[p] = number of entries whose first two bytes are <= p
 *     (little-endian; the body crc covers entries and fanout), written to a .tmp name, synced,
 *     renamed, directory synced;
 *   - the worker merges `merge_fanin` adjacent runs of one level into one run of the next
 *     level (same protocol; a base-fanin counter: at most fanin - 1 runs per level), so a
 *     lookup reads a few runs: memtable, frozen memtable, then runs newest first, each one
 *     fanout read and a binary search of its bucket (mmap). Each entry is rewritten once per
 *     level: log_fanin(entries / memtable_entries) times. The list holds TX_INDEX_RUNS_MAX
 *     runs; from 3/4 of that on, merging goes first (the frozen memtable waits, and at open
 *     the rebuild merges as it goes), so it never fills, however far merges fell behind.
 * Nothing about the index is in LMDB. Crash safety comes from the run files themselves: at
 * open every run is verified in full (header, both checksums, name, range within the
 * blocks); a bad one is removed and never trusted, runs contained in a bigger one (merge
 * inputs left by a crash) are removed, every height range not covered by a good run is
 * rebuilt from the blocks, and the memtable is refilled from the blocks above the last run.
 * A killed process therefore loses at most work, never an entry of a committed block.
 *
 * Duplicates: a hash added again (a later block) wins over the earlier entry, as an LMDB put
 * would. Threads: one writer calls add/reserve; find may run on any thread; a worker thread
 * owned by the index writes and merges runs. `lock` guards the memtables and the run list.
 * Ownership: the index owns its run files (only txi-* names in dir) and its worker. */
#ifndef LM_STORE_TX_INDEX_H
#define LM_STORE_TX_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "crypto/hash.h"

#define TX_INDEX_MEMTABLE_DFLT (1u << 18)
#define TX_INDEX_MEMTABLE_MIN  16u
#define TX_INDEX_FANIN_DFLT    4u
#define TX_INDEX_RUNS_MAX      512u
#define TX_INDEX_RUN_HEADER    64u
#define TX_INDEX_ENTRY_SIZE    44u
#define TX_INDEX_FANOUT        65536u

struct tx_index;

#define TX_INDEX_BLOCK_TXS_MAX 100000u /* = BLOCK_STORE_TXS_MAX */

/* Where the index is rebuilt from: the blocks first..tip (none if !has_blocks); read appends
 * the tx hashes of the committed block at height to out (HASH_SIZE bytes each, in block
 * order), after verifying the record. */
struct tx_index_source {
    bool has_blocks;
    uint64_t first;
    uint64_t tip;
    enum err (*read)(void *ctx, uint64_t height, struct buf *out);
    void *ctx;
};

struct tx_index_options {
    uint32_t memtable_entries; /* freeze and write a run at this many entries (0: 2^18) */
    uint32_t merge_fanin;      /* merge this many runs of a size class (0: 4; min 2) */
    bool no_sync;              /* tests and benchmarks only */
};

struct tx_index_stats {
    uint64_t runs_written;   /* by flushes, since open */
    uint64_t runs_merged;    /* merges done since open */
    uint64_t bytes_written;  /* run bytes written since open */
    uint64_t rebuilt_blocks; /* blocks read at open to rebuild runs or the memtable */
    uint64_t sorts_compared; /* flushes whose crowded hash prefixes needed a comparison sort */
    uint32_t runs;           /* run files now */
    uint32_t memtable;       /* entries in memory (active + frozen) */
};

/* Opens the index of src's blocks in dir, repairing and rebuilding as described above, then
 * starts the worker. src->read is called during this call only. */
MUST_USE enum err tx_index_open(const char *dir, const struct tx_index_options *options,
                                const struct tx_index_source *src, struct tx_index **out);
/* Stops the worker (abandoning a merge in progress) and frees everything; entries not yet in
 * a run are rebuilt at the next open. */
void tx_index_close(struct tx_index *ix);

/* Writer, before staging a block of tx_count hashes: waits while the memtable is at its hard
 * limit (twice memtable_entries) and a frozen one is still being written. Returns the
 * worker's error if it cannot write runs (e.g. ERR_NO_SPACE). */
MUST_USE enum err tx_index_reserve(struct tx_index *ix, size_t tx_count);
/* Writer, after the block at height (the next one) committed. Cannot fail. */
void tx_index_add(struct tx_index *ix, uint64_t height, const struct hash *hashes, size_t count);

/* ERR_NOT_FOUND if the hash is in no block added so far. */
MUST_USE enum err tx_index_find(struct tx_index *ix, const struct hash *tx_hash,
                                uint64_t *out_height, uint32_t *out_index);

/* Waits until no frozen memtable and no merge is pending (tests, benchmarks, shutdown). */
MUST_USE enum err tx_index_settle(struct tx_index *ix);
void tx_index_stats(struct tx_index *ix, struct tx_index_stats *out);

#endif
