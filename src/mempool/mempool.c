/* The mempool (mempool.h). Layout: three fixed pools (txs, accounts, institutions) with free
 * lists, each found through an open-addressing index (linear probing, backward-shift
 * deletion, at most half full); a min-heap of txs by expiry height; per account a list of its
 * txs sorted by nonce; per institution a ring of its accounts; a ring of the institutions.
 * Everything is allocated in mempool_new except the copies of admitted txs. */
#include "mempool/mempool.h"

#include <string.h>

#include "base/assert.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/reader.h"
#include "ledger/account.h"
#include "ledger/ledger.h"
#include "mempool/mempool_internal.h"

#define NIL UINT32_MAX

struct mp_tx {
    struct hash hash;
    uint8_t *data; /* NULL while free */
    uint32_t size;
    uint32_t account;  /* index in accounts */
    uint32_t next;     /* next tx of the account by nonce; free list link while free */
    uint32_t heap_pos; /* position in the expiry heap */
    uint32_t ops;
    uint32_t excluded_epoch; /* == pull_epoch: in an uncommitted ancestor for this pull */
    uint64_t nonce;
    uint64_t expiry;
};

struct mp_account {
    struct address address;
    uint64_t nonce;       /* the committed next nonce */
    uint32_t institution; /* index in insts */
    uint32_t count;       /* pending txs; 0 while free */
    uint32_t head;        /* first tx by nonce; free list link while free */
    uint32_t tail;        /* last tx by nonce (NIL while free): new nonces append here */
    uint32_t ring_next;   /* ring of the institution's accounts */
    uint32_t ring_prev;
    uint32_t touched_epoch; /* commit bookkeeping */
    /* pull state, valid for the current pull only */
    uint32_t pull_next;
    uint32_t pull_prev;
    uint32_t pull_tx; /* next candidate tx */
    uint64_t pull_nonce;
};

struct mp_inst {
    uint32_t id;
    uint32_t txs;      /* pending */
    uint32_t accounts; /* accounts with pending txs */
    size_t bytes;
    uint32_t head; /* an account of its ring; free list link while free */
    uint32_t ring_next;
    uint32_t ring_prev;
    /* pull state */
    uint32_t pull_next;
    uint32_t pull_prev;
    uint32_t pull_cursor; /* the account whose turn is next */
    uint64_t pull_resource;
};

/* Open addressing with linear probing in one array of 8-byte slots: (tag << 32) | (item + 1),
 * 0 when empty, where tag is the high half of the key's hash and also names the home slot
 * (tag & mask). A probe reads one slot (one cache line, where separate item and hash arrays
 * cost two misses) and an item's key only on a tag match; moves read no item. */
struct mp_index {
    uint64_t *slots;
    size_t mask;
};

#define SLOT_TAG(h)    ((uint64_t)(h) >> 32)
#define SLOT_ITEM(s)   ((uint32_t)((s)&0xffffffffu) - 1u)
#define SLOT_OF(h, it) ((SLOT_TAG(h) << 32) | ((uint64_t)(it) + 1u))

enum mp_kind { KIND_TX, KIND_ACCOUNT, KIND_INST };

struct mempool {
    struct mempool_config config;
    size_t inst_txs_cap;
    size_t inst_bytes_cap;

    struct mp_tx *txs;
    uint32_t tx_free;
    struct mp_account *accounts;
    uint32_t account_free;
    struct mp_inst *insts;
    uint32_t inst_free;
    uint32_t inst_head; /* an institution of the ring, or NIL */

    struct mp_index tx_index;
    struct mp_index account_index;
    struct mp_index inst_index;

    uint32_t *heap; /* tx indices, min expiry first */
    size_t heap_size;

    uint32_t pull_epoch;
    uint32_t commit_epoch;
    uint32_t *touched; /* accounts touched by one commit, txs_max */

    /* admission scratch, batch_max each */
    struct tx *dec;
    struct mempool_sender *senders;
    struct hash *digests;
    struct verify_item *items;
    enum err *verify_results;
    uint32_t *item_of; /* batch position -> item, or NIL */

    struct mempool_stats stats;
};

/* ---- Indexes ---------------------------------------------------------------------------- */

static const uint8_t *
key_of(const struct mempool *mp, enum mp_kind kind, uint32_t item, size_t *out_size)
{
    switch (kind) {
    case KIND_TX:
        *out_size = HASH_SIZE;
        return mp->txs[item].hash.bytes;
    case KIND_ACCOUNT:
        *out_size = ADDRESS_SIZE;
        return mp->accounts[item].address.bytes;
    case KIND_INST:
        *out_size = sizeof mp->insts[item].id;
        return (const uint8_t *)&mp->insts[item].id;
    }
    UNREACHABLE();
}

static uint64_t
mix(uint64_t seed, const uint8_t *key, size_t size)
{
    uint8_t head[16] = { 0 }; /* keys are hashes or hash-derived, or short */
    memcpy(head, key, size < sizeof head ? size : sizeof head);
    uint64_t h = seed ^ (uint64_t)size;
    h = (h ^ load_u64(head)) * UINT64_C(0x9E3779B97F4A7C15);
    h ^= h >> 29;
    h = (h ^ load_u64(head + 8)) * UINT64_C(0x9E3779B97F4A7C15);
    h ^= h >> 29;
    h *= UINT64_C(0xBF58476D1CE4E5B9);
    h ^= h >> 32;
    return h;
}

static uint64_t
hash_of(const struct mempool *mp, enum mp_kind kind, uint32_t item)
{
    size_t size = 0;
    const uint8_t *key = key_of(mp, kind, item, &size);
    return mix(mp->config.seed, key, size);
}

static void
index_init(struct mp_index *ix, size_t items_max)
{
    ASSERT(items_max < UINT32_MAX / 4); /* item + 1 and the slot count fit in 32 bits */
    size_t cap = 16;
    while (cap < 2 * items_max) {
        cap *= 2;
    }
    ix->slots = mem_calloc(cap, sizeof *ix->slots);
    ix->mask = cap - 1;
}

static void
index_release(struct mp_index *ix)
{
    mem_free(ix->slots);
}

static uint32_t
index_find(const struct mempool *mp, const struct mp_index *ix, enum mp_kind kind, const void *key,
           size_t key_size)
{
    uint64_t tag = SLOT_TAG(mix(mp->config.seed, key, key_size));
    size_t i = (size_t)tag & ix->mask;
    for (;;) {
        uint64_t slot = ix->slots[i];
        if (slot == 0) {
            return NIL;
        }
        if (SLOT_TAG(slot) == tag) {
            uint32_t item = SLOT_ITEM(slot);
            size_t size = 0;
            const uint8_t *k = key_of(mp, kind, item, &size);
            if (size == key_size && memcmp(k, key, size) == 0) {
                return item;
            }
        }
        i = (i + 1) & ix->mask;
    }
}

static void
index_insert(const struct mempool *mp, struct mp_index *ix, enum mp_kind kind, uint32_t item)
{
    uint64_t h = hash_of(mp, kind, item);
    size_t i = (size_t)SLOT_TAG(h) & ix->mask;
    while (ix->slots[i] != 0) {
        ASSERT(SLOT_ITEM(ix->slots[i]) != item);
        i = (i + 1) & ix->mask;
    }
    ix->slots[i] = SLOT_OF(h, item);
}

static void
index_remove(const struct mempool *mp, struct mp_index *ix, enum mp_kind kind, uint32_t item)
{
    uint64_t want = SLOT_OF(hash_of(mp, kind, item), item);
    size_t i = (size_t)SLOT_TAG(want) & ix->mask;
    while (ix->slots[i] != want) {
        ASSERT(ix->slots[i] != 0);
        i = (i + 1) & ix->mask;
    }
    size_t j = i;
    for (;;) {
        j = (j + 1) & ix->mask;
        uint64_t other = ix->slots[j];
        if (other == 0) {
            break;
        }
        size_t k = (size_t)SLOT_TAG(other) & ix->mask;
        /* other may move back to i if its home is not cyclically in (i, j] */
        bool stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            ix->slots[i] = other;
            i = j;
        }
    }
    ix->slots[i] = 0;
}

/* ---- Expiry heap ------------------------------------------------------------------------ */

static void
heap_set(struct mempool *mp, size_t pos, uint32_t tx)
{
    mp->heap[pos] = tx;
    mp->txs[tx].heap_pos = (uint32_t)pos;
}

static void
heap_sift_up(struct mempool *mp, size_t pos)
{
    uint32_t tx = mp->heap[pos];
    while (pos > 0) {
        size_t parent = (pos - 1) / 2;
        if (mp->txs[mp->heap[parent]].expiry <= mp->txs[tx].expiry) {
            break;
        }
        heap_set(mp, pos, mp->heap[parent]);
        pos = parent;
    }
    heap_set(mp, pos, tx);
}

static void
heap_sift_down(struct mempool *mp, size_t pos)
{
    uint32_t tx = mp->heap[pos];
    for (;;) {
        size_t child = 2 * pos + 1;
        if (child >= mp->heap_size) {
            break;
        }
        if (child + 1 < mp->heap_size &&
            mp->txs[mp->heap[child + 1]].expiry < mp->txs[mp->heap[child]].expiry) {
            child++;
        }
        if (mp->txs[tx].expiry <= mp->txs[mp->heap[child]].expiry) {
            break;
        }
        heap_set(mp, pos, mp->heap[child]);
        pos = child;
    }
    heap_set(mp, pos, tx);
}

static void
heap_push(struct mempool *mp, uint32_t tx)
{
    ASSERT(mp->heap_size < mp->config.txs_max);
    heap_set(mp, mp->heap_size, tx);
    mp->heap_size++;
    heap_sift_up(mp, mp->heap_size - 1);
}

static void
heap_remove(struct mempool *mp, uint32_t tx)
{
    size_t pos = mp->txs[tx].heap_pos;
    ASSERT(pos < mp->heap_size && mp->heap[pos] == tx);
    mp->heap_size--;
    if (pos == mp->heap_size) {
        return;
    }
    uint32_t moved = mp->heap[mp->heap_size];
    heap_set(mp, pos, moved);
    heap_sift_up(mp, pos);
    heap_sift_down(mp, mp->txs[moved].heap_pos);
}

/* ---- Lifecycle -------------------------------------------------------------------------- */

void
mempool_config_default(struct mempool_config *out)
{
    ASSERT(out != NULL);
    memset(out, 0, sizeof *out);
    out->txs_max = 100000;
    out->bytes_max = 256u << 20;
    out->account_txs_max = 64;
    out->nonce_window = 64;
    out->institution_share = 25;
    out->institutions_max = 4096;
    out->batch_max = 1024;
    out->hash_alg = HASH_SHA256;
    chain_params_default(&out->params);
}

static bool
config_ok(const struct mempool_config *c)
{
    return c->txs_max >= 1 && c->txs_max <= MEMPOOL_TXS_MAX && c->bytes_max >= TX_SIZE_MAX &&
           c->account_txs_max >= 1 && c->account_txs_max <= MEMPOOL_NONCE_WINDOW_MAX &&
           c->nonce_window >= 1 && c->nonce_window <= MEMPOOL_NONCE_WINDOW_MAX &&
           c->institution_share >= 1 && c->institution_share <= 100 && c->institutions_max >= 1 &&
           c->institutions_max <= MEMPOOL_INSTITUTIONS_MAX && c->batch_max >= 1 &&
           c->batch_max <= MEMPOOL_BATCH_MAX && c->pool != NULL && c->sender_fn != NULL &&
           chain_params_check(&c->params) == ERR_OK;
}

enum err
mempool_new(const struct mempool_config *config, struct mempool **out)
{
    ASSERT(config != NULL && out != NULL);
    if (!config_ok(config)) {
        return ERR_INVALID_ARG;
    }
    struct mempool *mp = mem_calloc(1, sizeof *mp);
    mp->config = *config;
    size_t n = config->txs_max;
    mp->inst_txs_cap = n * config->institution_share / 100;
    if (mp->inst_txs_cap == 0) {
        mp->inst_txs_cap = 1;
    }
    mp->inst_bytes_cap = config->bytes_max / 100 * config->institution_share;
    if (mp->inst_bytes_cap < TX_SIZE_MAX) {
        mp->inst_bytes_cap = TX_SIZE_MAX;
    }
    mp->txs = mem_calloc(n, sizeof *mp->txs);
    mp->accounts = mem_calloc(n, sizeof *mp->accounts);
    for (size_t i = 0; i < n; i++) {
        mp->txs[i].next = i + 1 < n ? (uint32_t)(i + 1) : NIL;
        mp->accounts[i].head = i + 1 < n ? (uint32_t)(i + 1) : NIL;
    }
    mp->tx_free = 0;
    mp->account_free = 0;
    size_t ni = config->institutions_max;
    mp->insts = mem_calloc(ni, sizeof *mp->insts);
    for (size_t i = 0; i < ni; i++) {
        mp->insts[i].head = i + 1 < ni ? (uint32_t)(i + 1) : NIL;
    }
    mp->inst_free = 0;
    mp->inst_head = NIL;
    index_init(&mp->tx_index, n);
    index_init(&mp->account_index, n);
    index_init(&mp->inst_index, ni);
    mp->heap = mem_calloc(n, sizeof *mp->heap);
    mp->touched = mem_calloc(n, sizeof *mp->touched);
    size_t b = config->batch_max;
    mp->dec = mem_calloc(b, sizeof *mp->dec);
    mp->senders = mem_calloc(b, sizeof *mp->senders);
    mp->digests = mem_calloc(b, sizeof *mp->digests);
    mp->items = mem_calloc(b, sizeof *mp->items);
    mp->verify_results = mem_calloc(b, sizeof *mp->verify_results);
    mp->item_of = mem_calloc(b, sizeof *mp->item_of);
    *out = mp;
    return ERR_OK;
}

void
mempool_free(struct mempool *mp)
{
    if (mp == NULL) {
        return;
    }
    for (size_t i = 0; i < mp->config.txs_max; i++) {
        mem_free(mp->txs[i].data);
    }
    mem_free(mp->txs);
    mem_free(mp->accounts);
    mem_free(mp->insts);
    index_release(&mp->tx_index);
    index_release(&mp->account_index);
    index_release(&mp->inst_index);
    mem_free(mp->heap);
    mem_free(mp->touched);
    mem_free(mp->dec);
    mem_free(mp->senders);
    mem_free(mp->digests);
    mem_free(mp->items);
    mem_free(mp->verify_results);
    mem_free(mp->item_of);
    mem_free(mp);
}

void
mempool_set_params(struct mempool *mp, const struct chain_params *params)
{
    ASSERT(mp != NULL && params != NULL);
    ASSERT(chain_params_check(params) == ERR_OK);
    mp->config.params = *params;
}

/* ---- Lookups ---------------------------------------------------------------------------- */

static uint32_t
find_tx(const struct mempool *mp, const struct hash *hash)
{
    return index_find(mp, &mp->tx_index, KIND_TX, hash->bytes, HASH_SIZE);
}

static uint32_t
find_account(const struct mempool *mp, const struct address *address)
{
    return index_find(mp, &mp->account_index, KIND_ACCOUNT, address->bytes, ADDRESS_SIZE);
}

static uint32_t
find_inst(const struct mempool *mp, uint32_t id)
{
    return index_find(mp, &mp->inst_index, KIND_INST, &id, sizeof id);
}

static void
fill_view(const struct mempool *mp, uint32_t t, struct mempool_tx_view *out)
{
    const struct mp_tx *tx = &mp->txs[t];
    const struct mp_account *a = &mp->accounts[tx->account];
    *out = (struct mempool_tx_view){ .data = tx->data,
                                     .size = tx->size,
                                     .hash = tx->hash,
                                     .sender = a->address,
                                     .nonce = tx->nonce,
                                     .expiry_height = tx->expiry,
                                     .institution = mp->insts[a->institution].id };
}

enum err
mempool_get(const struct mempool *mp, const struct hash *hash, struct mempool_tx_view *out)
{
    ASSERT(mp != NULL && hash != NULL && out != NULL);
    uint32_t t = find_tx(mp, hash);
    if (t == NIL) {
        return ERR_NOT_FOUND;
    }
    fill_view(mp, t, out);
    return ERR_OK;
}

bool
mempool_contains(const struct mempool *mp, const struct hash *hash)
{
    ASSERT(mp != NULL && hash != NULL);
    return find_tx(mp, hash) != NIL;
}

void
mempool_get_stats(const struct mempool *mp, struct mempool_stats *out)
{
    ASSERT(mp != NULL && out != NULL);
    *out = mp->stats;
}

/* ---- Removal ---------------------------------------------------------------------------- */

static void
inst_release(struct mempool *mp, uint32_t i)
{
    struct mp_inst *inst = &mp->insts[i];
    ASSERT(inst->txs == 0 && inst->accounts == 0 && inst->bytes == 0);
    index_remove(mp, &mp->inst_index, KIND_INST, i);
    if (inst->ring_next == i) {
        mp->inst_head = NIL;
    } else {
        mp->insts[inst->ring_prev].ring_next = inst->ring_next;
        mp->insts[inst->ring_next].ring_prev = inst->ring_prev;
        if (mp->inst_head == i) {
            mp->inst_head = inst->ring_next;
        }
    }
    inst->head = mp->inst_free;
    mp->inst_free = i;
    mp->stats.institutions--;
}

static void
account_release(struct mempool *mp, uint32_t a)
{
    struct mp_account *acc = &mp->accounts[a];
    ASSERT(acc->count == 0);
    uint32_t i = acc->institution;
    struct mp_inst *inst = &mp->insts[i];
    index_remove(mp, &mp->account_index, KIND_ACCOUNT, a);
    if (acc->ring_next == a) {
        inst->head = NIL;
    } else {
        mp->accounts[acc->ring_prev].ring_next = acc->ring_next;
        mp->accounts[acc->ring_next].ring_prev = acc->ring_prev;
        if (inst->head == a) {
            inst->head = acc->ring_next;
        }
    }
    inst->accounts--;
    acc->head = mp->account_free;
    mp->account_free = a;
    mp->stats.accounts--;
    if (inst->accounts == 0) {
        inst_release(mp, i);
    }
}

/* Removes pending tx t. Returns false if its account went with it. */
static bool
tx_remove(struct mempool *mp, uint32_t t)
{
    struct mp_tx *tx = &mp->txs[t];
    ASSERT(tx->data != NULL);
    uint32_t a = tx->account;
    struct mp_account *acc = &mp->accounts[a];
    struct mp_inst *inst = &mp->insts[acc->institution];
    uint32_t *link = &acc->head;
    uint32_t prev = NIL;
    while (*link != t) {
        ASSERT(*link != NIL);
        prev = *link;
        link = &mp->txs[*link].next;
    }
    *link = tx->next;
    if (acc->tail == t) {
        acc->tail = prev;
    }
    index_remove(mp, &mp->tx_index, KIND_TX, t);
    heap_remove(mp, t);
    acc->count--;
    inst->txs--;
    inst->bytes -= tx->size;
    mp->stats.txs--;
    mp->stats.bytes -= tx->size;
    mem_free(tx->data);
    tx->data = NULL;
    tx->next = mp->tx_free;
    mp->tx_free = t;
    if (acc->count == 0) {
        account_release(mp, a);
        return false;
    }
    return true;
}

/* Removes the account's txs below its committed nonce. */
static void
prune_stale(struct mempool *mp, uint32_t a)
{
    for (;;) {
        struct mp_account *acc = &mp->accounts[a];
        uint32_t head = acc->head;
        if (head == NIL || mp->txs[head].nonce >= acc->nonce) {
            return;
        }
        mp->stats.stale++;
        if (!tx_remove(mp, head)) {
            return;
        }
    }
}

/* ---- Admission -------------------------------------------------------------------------- */

static enum err
decode_checked(const struct mempool *mp, const uint8_t *data, size_t size, struct tx *out)
{
    const struct chain_params *p = &mp->config.params;
    if (size > p->tx_size_bytes_max) {
        return ERR_TOO_LARGE;
    }
    if (tx_decode(data, size, out) != ERR_OK) {
        return ERR_MALFORMED;
    }
    return ERR_OK;
}

static enum err
check_stateless(const struct mempool *mp, const struct tx *tx)
{
    const struct chain_params *p = &mp->config.params;
    if (!hash_equal(&tx->chain_id, &mp->config.chain_id)) {
        return ERR_WRONG_CHAIN;
    }
    if (!chain_params_sig_alg_allowed(p, tx->key.alg)) {
        return ERR_UNSUPPORTED;
    }
    if (tx->op_count > p->tx_ops_max) {
        return ERR_LIMIT;
    }
    uint64_t next = mp->config.committed_height + 1;
    if (tx->expiry_height < next || tx->expiry_height - next > p->tx_expiry_window_max) {
        return ERR_EXPIRED;
    }
    return ERR_OK;
}

static enum err
check_sender(const struct mempool *mp, const struct tx *tx, struct mempool_sender *out)
{
    struct mempool_sender s = { 0 };
    enum err rc = mp->config.sender_fn(mp->config.sender_ctx, &tx->sender, &tx->key, &s);
    if (rc == ERR_NOT_FOUND) {
        return ERR_UNKNOWN_SENDER;
    }
    if (rc != ERR_OK) {
        return rc;
    }
    if (!s.key_registered) {
        return ERR_DENIED;
    }
    if (tx->nonce < s.nonce) {
        return ERR_STALE_NONCE;
    }
    if (tx->nonce - s.nonce >= mp->config.nonce_window) {
        return ERR_LIMIT;
    }
    *out = s;
    return ERR_OK;
}

/* The capacity checks of inserting tx (size bytes) from sender; ERR_OK if it fits. */
static enum err
check_room(const struct mempool *mp, const struct tx *tx, size_t size,
           const struct mempool_sender *sender)
{
    uint32_t a = find_account(mp, &tx->sender);
    if (a != NIL) {
        const struct mp_account *acc = &mp->accounts[a];
        /* The usual case, the next nonce after the pending ones, skips the walk. */
        bool after_all = acc->tail != NIL && mp->txs[acc->tail].nonce < tx->nonce;
        for (uint32_t t = after_all ? NIL : acc->head; t != NIL; t = mp->txs[t].next) {
            if (mp->txs[t].nonce == tx->nonce) {
                return ERR_EXISTS; /* another tx with this nonce is pending */
            }
        }
        if (tx->nonce < acc->nonce) {
            return ERR_STALE_NONCE; /* a commit reported after the lookup's snapshot */
        }
        if (acc->count >= mp->config.account_txs_max) {
            return ERR_LIMIT;
        }
    }
    uint32_t i = find_inst(mp, sender->institution);
    if (i != NIL) {
        const struct mp_inst *inst = &mp->insts[i];
        if (inst->txs + 1 > mp->inst_txs_cap || inst->bytes + size > mp->inst_bytes_cap) {
            return ERR_LIMIT;
        }
    } else if (mp->inst_free == NIL) {
        return ERR_FULL;
    }
    if (mp->stats.txs >= mp->config.txs_max || mp->stats.bytes + size > mp->config.bytes_max) {
        return ERR_FULL;
    }
    return ERR_OK;
}

static uint32_t
inst_get(struct mempool *mp, uint32_t id)
{
    uint32_t i = find_inst(mp, id);
    if (i != NIL) {
        return i;
    }
    i = mp->inst_free;
    ASSERT(i != NIL);
    struct mp_inst *inst = &mp->insts[i];
    mp->inst_free = inst->head;
    memset(inst, 0, sizeof *inst);
    inst->id = id;
    inst->head = NIL;
    index_insert(mp, &mp->inst_index, KIND_INST, i);
    if (mp->inst_head == NIL) {
        inst->ring_next = i;
        inst->ring_prev = i;
        mp->inst_head = i;
    } else { /* joins the ring just before the head: last in the next rotation */
        uint32_t h = mp->inst_head;
        inst->ring_next = h;
        inst->ring_prev = mp->insts[h].ring_prev;
        mp->insts[inst->ring_prev].ring_next = i;
        mp->insts[h].ring_prev = i;
    }
    mp->stats.institutions++;
    return i;
}

static uint32_t
account_get(struct mempool *mp, const struct address *address, const struct mempool_sender *sender)
{
    uint32_t a = find_account(mp, address);
    if (a != NIL) {
        return a; /* its nonce moves at mempool_commit only */
    }
    uint32_t i = inst_get(mp, sender->institution);
    struct mp_inst *inst = &mp->insts[i];
    a = mp->account_free;
    ASSERT(a != NIL);
    struct mp_account *acc = &mp->accounts[a];
    mp->account_free = acc->head;
    memset(acc, 0, sizeof *acc);
    acc->address = *address;
    acc->nonce = sender->nonce;
    acc->institution = i;
    acc->head = NIL;
    acc->tail = NIL;
    index_insert(mp, &mp->account_index, KIND_ACCOUNT, a);
    if (inst->head == NIL) {
        acc->ring_next = a;
        acc->ring_prev = a;
        inst->head = a;
    } else {
        uint32_t h = inst->head;
        acc->ring_next = h;
        acc->ring_prev = mp->accounts[h].ring_prev;
        mp->accounts[acc->ring_prev].ring_next = a;
        mp->accounts[h].ring_prev = a;
    }
    inst->accounts++;
    mp->stats.accounts++;
    return a;
}

/* Inserts a checked tx; ERR_OK or the capacity error (nothing changes then). */
static enum err
tx_insert(struct mempool *mp, const struct mempool_raw *raw, const struct tx *tx,
          const struct hash *hash, const struct mempool_sender *sender)
{
    if (find_tx(mp, hash) != NIL) {
        return ERR_EXISTS; /* twice in one batch */
    }
    enum err rc = check_room(mp, tx, raw->size, sender);
    if (rc != ERR_OK) {
        return rc;
    }
    uint32_t a = account_get(mp, &tx->sender, sender);
    uint32_t t = mp->tx_free;
    ASSERT(t != NIL);
    struct mp_tx *e = &mp->txs[t];
    mp->tx_free = e->next;
    e->hash = *hash;
    e->data = mem_dup(raw->data, raw->size);
    e->size = (uint32_t)raw->size;
    e->account = a;
    e->ops = (uint32_t)tx->op_count;
    e->excluded_epoch = 0;
    e->nonce = tx->nonce;
    e->expiry = tx->expiry_height;
    struct mp_account *acc = &mp->accounts[a];
    uint32_t *link = &acc->head;
    if (acc->tail != NIL && mp->txs[acc->tail].nonce < tx->nonce) {
        link = &mp->txs[acc->tail].next;
    }
    while (*link != NIL && mp->txs[*link].nonce < tx->nonce) {
        link = &mp->txs[*link].next;
    }
    e->next = *link;
    *link = t;
    if (e->next == NIL) {
        acc->tail = t;
    }
    acc->count++;
    struct mp_inst *inst = &mp->insts[acc->institution];
    inst->txs++;
    inst->bytes += raw->size;
    index_insert(mp, &mp->tx_index, KIND_TX, t);
    heap_push(mp, t);
    mp->stats.txs++;
    mp->stats.bytes += raw->size;
    return ERR_OK;
}

/* The committed state the sender lookup read may be ahead of the commits this mempool was
 * told about (the node commits on its ledger thread, then calls mempool_commit on the loop):
 * the account's txs below the committed nonce are stale or committed, so they leave now and
 * do not count against the account's limit. */
static void
catch_up_account(struct mempool *mp, const struct address *sender, uint64_t nonce)
{
    uint32_t a = find_account(mp, sender);
    if (a != NIL && nonce > mp->accounts[a].nonce) {
        mp->accounts[a].nonce = nonce;
        prune_stale(mp, a);
    }
}

/* Phase 1 for tx k of a chunk: every check but the signature; queues the signature. */
static enum err
admit_check(struct mempool *mp, const struct mempool_raw *raw, size_t k, size_t *items,
            struct mempool_result *res)
{
    struct tx *tx = &mp->dec[k];
    enum err rc = decode_checked(mp, raw->data, raw->size, tx);
    if (rc != ERR_OK) {
        return rc;
    }
    tx_hash(mp->config.hash_alg, raw->data, raw->size, &res->hash);
    res->has_hash = true;
    rc = check_stateless(mp, tx);
    if (rc != ERR_OK) {
        return rc;
    }
    if (find_tx(mp, &res->hash) != NIL) {
        return ERR_EXISTS;
    }
    rc = check_sender(mp, tx, &mp->senders[k]);
    if (rc != ERR_OK) {
        return rc;
    }
    catch_up_account(mp, &tx->sender, mp->senders[k].nonce);
    rc = check_room(mp, tx, raw->size, &mp->senders[k]);
    if (rc != ERR_OK) {
        return rc;
    }
    size_t n = *items;
    tx_signing_digest(mp->config.hash_alg, &tx->chain_id, raw->data, tx->unsigned_size,
                      &mp->digests[n]);
    mp->items[n] = (struct verify_item){
        .key = &tx->key, .msg = mp->digests[n].bytes, .size = HASH_SIZE, .sig = &tx->sig
    };
    mp->item_of[k] = (uint32_t)n;
    *items = n + 1;
    return ERR_OK;
}

/* Phase 3 for tx k of a chunk: the signature's result, insertion, stats, gossip. */
static void
admit_finish(struct mempool *mp, const struct mempool_raw *raw, size_t k,
             struct mempool_result *res, bool gossip)
{
    if (res->rc == ERR_OK) {
        ASSERT(mp->item_of[k] != NIL);
        res->rc = mp->verify_results[mp->item_of[k]] == ERR_OK
                      ? tx_insert(mp, raw, &mp->dec[k], &res->hash, &mp->senders[k])
                      : ERR_BAD_SIGNATURE;
    }
    if (res->rc != ERR_OK) {
        mp->stats.rejected++;
        if (res->rc == ERR_FULL) {
            mp->stats.rejected_full++;
        }
        return;
    }
    mp->stats.admitted++;
    if (gossip && mp->config.admitted_fn != NULL) {
        mp->config.admitted_fn(mp->config.admitted_ctx, &res->hash, raw->data, raw->size);
    }
}

static void
admit_chunk(struct mempool *mp, const struct mempool_raw *txs, size_t count,
            struct mempool_result *results, bool gossip)
{
    ASSERT(count <= mp->config.batch_max);
    size_t items = 0;
    for (size_t k = 0; k < count; k++) {
        results[k] = (struct mempool_result){ .rc = ERR_OK };
        mp->item_of[k] = NIL;
        results[k].rc = admit_check(mp, &txs[k], k, &items, &results[k]);
    }
    verify_pool_batch(mp->config.pool, mp->items, items, mp->verify_results);
    for (size_t k = 0; k < count; k++) {
        admit_finish(mp, &txs[k], k, &results[k], gossip);
    }
}

static void
admit_all(struct mempool *mp, const struct mempool_raw *txs, size_t count,
          struct mempool_result *results, bool gossip)
{
    ASSERT(mp != NULL);
    ASSERT(count == 0 || (txs != NULL && results != NULL));
    for (size_t off = 0; off < count; off += mp->config.batch_max) {
        size_t n = count - off < mp->config.batch_max ? count - off : mp->config.batch_max;
        admit_chunk(mp, txs + off, n, results + off, gossip);
    }
}

void
mempool_admit(struct mempool *mp, const struct mempool_raw *txs, size_t count,
              struct mempool_result *results)
{
    admit_all(mp, txs, count, results, true);
}

void
mempool_readmit(struct mempool *mp, const struct mempool_raw *txs, size_t count,
                struct mempool_result *results)
{
    admit_all(mp, txs, count, results, false);
}

/* ---- Block validation ------------------------------------------------------------------- */

static void
verify_chunk(struct mempool *mp, const struct mempool_raw *txs, size_t count, enum err *results,
             struct hash *out_hashes)
{
    size_t items = 0;
    for (size_t k = 0; k < count; k++) {
        mp->item_of[k] = NIL;
        struct hash h;
        tx_hash(mp->config.hash_alg, txs[k].data, txs[k].size, &h);
        if (out_hashes != NULL) {
            out_hashes[k] = h;
        }
        if (find_tx(mp, &h) != NIL) {
            results[k] = ERR_OK; /* verified at admission; the hash covers the signature */
            mp->stats.verify_skipped++;
            continue;
        }
        struct tx *tx = &mp->dec[k];
        if (tx_decode(txs[k].data, txs[k].size, tx) != ERR_OK) {
            results[k] = ERR_MALFORMED;
            continue;
        }
        tx_signing_digest(mp->config.hash_alg, &tx->chain_id, txs[k].data, tx->unsigned_size,
                          &mp->digests[items]);
        mp->items[items] = (struct verify_item){
            .key = &tx->key, .msg = mp->digests[items].bytes, .size = HASH_SIZE, .sig = &tx->sig
        };
        mp->item_of[k] = (uint32_t)items;
        items++;
    }
    verify_pool_batch(mp->config.pool, mp->items, items, mp->verify_results);
    for (size_t k = 0; k < count; k++) {
        if (mp->item_of[k] != NIL) {
            results[k] = mp->verify_results[mp->item_of[k]] == ERR_OK ? ERR_OK : ERR_BAD_SIGNATURE;
        }
    }
}

void
mempool_verify_txs(struct mempool *mp, const struct mempool_raw *txs, size_t count,
                   enum err *results, struct hash *out_hashes)
{
    ASSERT(mp != NULL);
    ASSERT(count == 0 || (txs != NULL && results != NULL));
    for (size_t off = 0; off < count; off += mp->config.batch_max) {
        size_t n = count - off < mp->config.batch_max ? count - off : mp->config.batch_max;
        verify_chunk(mp, txs + off, n, results + off, out_hashes != NULL ? out_hashes + off : NULL);
    }
}

/* ---- Pull ------------------------------------------------------------------------------- */

static uint64_t
tx_resource(const struct mp_tx *tx)
{
    return LEDGER_RES_TX_BASE + tx->size + (uint64_t)LEDGER_RES_OP * tx->ops;
}

/* The account's next proposable tx in this pull (NIL if none): contiguous nonces from the
 * committed one, passing over txs in uncommitted ancestors. */
static uint32_t
next_proposable(struct mempool *mp, struct mp_account *acc)
{
    while (acc->pull_tx != NIL) {
        const struct mp_tx *tx = &mp->txs[acc->pull_tx];
        if (tx->nonce != acc->pull_nonce) {
            return NIL; /* a gap: n+1 waits for n */
        }
        if (tx->excluded_epoch != mp->pull_epoch) {
            return acc->pull_tx;
        }
        acc->pull_nonce++;
        acc->pull_tx = tx->next;
    }
    return NIL;
}

/* Links every institution and account into this pull's rings, rotating the start points. */
static uint32_t
pull_begin(struct mempool *mp, const struct mempool_pull_req *req)
{
    mp->pull_epoch++;
    if (mp->pull_epoch == 0) { /* wrapped: clear the marks */
        for (size_t t = 0; t < mp->config.txs_max; t++) {
            mp->txs[t].excluded_epoch = 0;
        }
        mp->pull_epoch = 1;
    }
    for (size_t k = 0; k < req->exclude_count; k++) {
        uint32_t t = find_tx(mp, &req->exclude[k]);
        if (t != NIL) {
            mp->txs[t].excluded_epoch = mp->pull_epoch;
        }
    }
    uint32_t first = mp->inst_head;
    if (first == NIL) {
        return NIL;
    }
    uint32_t i = first;
    do {
        struct mp_inst *inst = &mp->insts[i];
        inst->pull_next = inst->ring_next;
        inst->pull_prev = inst->ring_prev;
        inst->pull_cursor = inst->head;
        inst->pull_resource = 0;
        uint32_t a = inst->head;
        do {
            struct mp_account *acc = &mp->accounts[a];
            acc->pull_next = acc->ring_next;
            acc->pull_prev = acc->ring_prev;
            acc->pull_tx = acc->head;
            acc->pull_nonce = acc->nonce;
            a = acc->ring_next;
        } while (a != inst->head);
        inst->head = mp->accounts[inst->head].ring_next; /* next pull starts one further */
        i = inst->ring_next;
    } while (i != first);
    mp->inst_head = mp->insts[first].ring_next;
    return first;
}

/* Drops account a from institution i's pull ring; returns false if the ring is empty. */
static bool
pull_drop_account(struct mempool *mp, struct mp_inst *inst, uint32_t a)
{
    struct mp_account *acc = &mp->accounts[a];
    if (acc->pull_next == a) {
        return false;
    }
    mp->accounts[acc->pull_prev].pull_next = acc->pull_next;
    mp->accounts[acc->pull_next].pull_prev = acc->pull_prev;
    inst->pull_cursor = acc->pull_next;
    return true;
}

/* Drops institution i from the pull ring; returns the next one, or NIL if none is left. */
static uint32_t
pull_drop_inst(struct mempool *mp, uint32_t i)
{
    struct mp_inst *inst = &mp->insts[i];
    if (inst->pull_next == i) {
        return NIL;
    }
    mp->insts[inst->pull_prev].pull_next = inst->pull_next;
    mp->insts[inst->pull_next].pull_prev = inst->pull_prev;
    return inst->pull_next;
}

size_t
mempool_pull(struct mempool *mp, const struct mempool_pull_req *req)
{
    ASSERT(mp != NULL && req != NULL);
    ASSERT(req->txs_max == 0 || req->out != NULL);
    ASSERT(req->exclude_count == 0 || req->exclude != NULL);
    const struct chain_params *p = &mp->config.params;
    size_t limit = req->txs_max < p->block_txs_max ? req->txs_max : p->block_txs_max;
    size_t n = 0;
    size_t bytes = 0;
    uint64_t resource = 0;
    uint32_t i = pull_begin(mp, req);
    while (i != NIL && n < limit) {
        struct mp_inst *inst = &mp->insts[i];
        uint32_t a = inst->pull_cursor;
        struct mp_account *acc = &mp->accounts[a];
        uint32_t t = next_proposable(mp, acc);
        bool fits = false;
        if (t != NIL) {
            const struct mp_tx *tx = &mp->txs[t];
            uint64_t r = tx_resource(tx);
            fits = bytes + tx->size <= req->bytes_max && resource + r <= p->block_resource_max &&
                   inst->pull_resource + r <= p->institution_block_resource_max;
        }
        if (!fits) { /* this account is done for this pull */
            if (!pull_drop_account(mp, inst, a)) {
                i = pull_drop_inst(mp, i);
            }
            continue;
        }
        const struct mp_tx *tx = &mp->txs[t];
        fill_view(mp, t, &req->out[n]);
        n++;
        bytes += tx->size;
        resource += tx_resource(tx);
        inst->pull_resource += tx_resource(tx);
        acc->pull_nonce++;
        acc->pull_tx = tx->next;
        inst->pull_cursor = acc->pull_next;
        i = inst->pull_next;
    }
    return n;
}

/* ---- Commit ----------------------------------------------------------------------------- */

/* Refreshes the committed nonce of account a (touched by a commit) and prunes. */
static void
refresh_account(struct mempool *mp, uint32_t a)
{
    struct mp_account *acc = &mp->accounts[a];
    struct mempool_sender s = { 0 };
    enum err rc = mp->config.sender_fn(mp->config.sender_ctx, &acc->address, NULL, &s);
    if (rc != ERR_OK) {
        log_debug(LOG_MEMPOOL, "sender lookup failed at commit rc=%s", err_name(rc));
        return;
    }
    if (s.nonce > acc->nonce) {
        acc->nonce = s.nonce;
    }
    prune_stale(mp, a);
}

static void
commit_epoch_next(struct mempool *mp)
{
    mp->commit_epoch++;
    if (mp->commit_epoch == 0) { /* wrapped: clear the marks */
        for (size_t a = 0; a < mp->config.txs_max; a++) {
            mp->accounts[a].touched_epoch = 0;
        }
        mp->commit_epoch = 1;
    }
}

/* Pass 1 of a commit: the block's txs leave; their senders' accounts are noted in
 * mp->touched (each raw is read before anything it may borrow is freed). Returns how many. */
static size_t
commit_remove(struct mempool *mp, const struct mempool_raw *txs, size_t count)
{
    size_t touched = 0;
    struct tx tx;
    for (size_t k = 0; k < count; k++) {
        struct hash h;
        if (txs[k].hash != NULL) {
            h = *txs[k].hash;
        } else {
            tx_hash(mp->config.hash_alg, txs[k].data, txs[k].size, &h);
        }
        uint32_t t = find_tx(mp, &h);
        uint32_t a = NIL;
        if (t != NIL) {
            /* Held here: its account is known without decoding (and gone with its last tx). */
            a = mp->txs[t].account;
            if (mp->accounts[a].count == 1) {
                a = NIL;
            }
            mp->stats.committed++;
            (void)tx_remove(mp, t);
        } else if (tx_decode(txs[k].data, txs[k].size, &tx) == ERR_OK) {
            a = find_account(mp, &tx.sender);
        }
        if (a == NIL || mp->accounts[a].touched_epoch == mp->commit_epoch) {
            continue;
        }
        ASSERT(touched < mp->config.txs_max); /* once per live account */
        mp->accounts[a].touched_epoch = mp->commit_epoch;
        mp->touched[touched++] = a;
    }
    return touched;
}

enum err
mempool_commit(struct mempool *mp, uint64_t height, const struct mempool_raw *txs, size_t count)
{
    ASSERT(mp != NULL);
    ASSERT(count == 0 || txs != NULL);
    if (height != mp->config.committed_height + 1) {
        return ERR_INVALID_ARG;
    }
    mp->config.committed_height = height;
    commit_epoch_next(mp);
    size_t touched = commit_remove(mp, txs, count);
    /* pass 2: their nonces moved on; txs below them are stale (an account may have gone
     * since it was noted, and no account is created during a commit) */
    for (size_t k = 0; k < touched; k++) {
        if (mp->accounts[mp->touched[k]].count > 0) {
            refresh_account(mp, mp->touched[k]);
        }
    }
    /* expiry: a tx with expiry_height < height + 1 can no longer execute */
    while (mp->heap_size > 0 && mp->txs[mp->heap[0]].expiry <= height) {
        mp->stats.expired++;
        (void)tx_remove(mp, mp->heap[0]);
    }
    return ERR_OK;
}

/* ---- Ledger adapter --------------------------------------------------------------------- */

enum err
mempool_ledger_sender(void *ctx, const struct address *sender, const struct public_key *key,
                      struct mempool_sender *out)
{
    ASSERT(ctx != NULL && sender != NULL && out != NULL);
    struct account acc;
    enum err rc = ledger_account(ctx, NULL, sender, &acc);
    if (rc != ERR_OK) {
        return rc;
    }
    *out = (struct mempool_sender){ .nonce = acc.nonce,
                                    .institution = acc.institution,
                                    .key_registered = key != NULL && account_has_key(&acc, key) };
    return ERR_OK;
}

/* ---- Invariants (tests) ----------------------------------------------------------------- */

static bool
account_ok(const struct mempool *mp, uint32_t a, size_t *out_txs, size_t *out_bytes)
{
    const struct mp_account *acc = &mp->accounts[a];
    if (find_account(mp, &acc->address) != a) {
        return false;
    }
    uint32_t n = 0;
    uint64_t prev = 0;
    uint32_t last = NIL;
    for (uint32_t t = acc->head; t != NIL; t = mp->txs[t].next) {
        last = t;
        const struct mp_tx *tx = &mp->txs[t];
        bool sorted = n == 0 ? tx->nonce >= acc->nonce : tx->nonce > prev;
        if (tx->data == NULL || tx->account != a || !sorted || find_tx(mp, &tx->hash) != t ||
            mp->heap[tx->heap_pos] != t || n >= acc->count) {
            return false;
        }
        prev = tx->nonce;
        n++;
        *out_bytes += tx->size;
    }
    *out_txs += n;
    return n == acc->count && n > 0 && last == acc->tail;
}

static bool
inst_ok(const struct mempool *mp, uint32_t i, size_t *out_txs, size_t *out_bytes,
        size_t *out_accounts)
{
    const struct mp_inst *inst = &mp->insts[i];
    if (find_inst(mp, inst->id) != i || inst->head == NIL) {
        return false;
    }
    size_t txs = 0;
    size_t bytes = 0;
    uint32_t accounts = 0;
    uint32_t a = inst->head;
    do {
        const struct mp_account *acc = &mp->accounts[a];
        if (acc->institution != i || accounts >= inst->accounts ||
            mp->accounts[acc->ring_next].ring_prev != a || !account_ok(mp, a, &txs, &bytes)) {
            return false;
        }
        accounts++;
        a = acc->ring_next;
    } while (a != inst->head);
    *out_txs += txs;
    *out_bytes += bytes;
    *out_accounts += accounts;
    return accounts == inst->accounts && txs == inst->txs && bytes == inst->bytes;
}

static bool
heap_ok(const struct mempool *mp)
{
    for (size_t pos = 0; pos < mp->heap_size; pos++) {
        const struct mp_tx *tx = &mp->txs[mp->heap[pos]];
        if (tx->data == NULL || tx->heap_pos != pos) {
            return false;
        }
        if (pos > 0 && mp->txs[mp->heap[(pos - 1) / 2]].expiry > tx->expiry) {
            return false;
        }
    }
    return true;
}

bool
mempool_invariants_hold(const struct mempool *mp)
{
    ASSERT(mp != NULL);
    size_t txs = 0;
    size_t bytes = 0;
    size_t accounts = 0;
    size_t insts = 0;
    if (mp->inst_head != NIL) {
        uint32_t i = mp->inst_head;
        do {
            if (insts >= mp->stats.institutions ||
                mp->insts[mp->insts[i].ring_next].ring_prev != i ||
                !inst_ok(mp, i, &txs, &bytes, &accounts)) {
                return false;
            }
            insts++;
            i = mp->insts[i].ring_next;
        } while (i != mp->inst_head);
    }
    return insts == mp->stats.institutions && accounts == mp->stats.accounts &&
           txs == mp->stats.txs && bytes == mp->stats.bytes && mp->heap_size == txs && heap_ok(mp);
}
