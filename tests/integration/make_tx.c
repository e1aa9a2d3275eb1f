/* Test helper: prints the hex of a signed tx (account.add_key with dummy args, or the op
 * MODULE.OP with the hex ARGS) from a devnet node's account key, for the integration tests'
 * admission, gossip, node-registration and epoch checks.
 * usage: make_tx GENESIS_JSON KEY_FILE PASSPHRASE_FILE NONCE [COUNT [MODULE.OP ARGS_HEX [EXPIRY]]]
 * (COUNT txs, expiring at height EXPIRY (default 1000), nonces NONCE .. NONCE + COUNT - 1, one
 * hex line each), or
 *        make_tx GENESIS_JSON KEY_FILE PASSPHRASE_FILE NONCE propose_vs|approve_vs EPOCH POWERS
 * (one system.propose_vs tx carrying, or one system.approve_vs tx naming the hash of, the
 * genesis validators with epoch EPOCH and powers POWERS, a comma-separated list with one power
 * per genesis validator, 0 leaving that validator out: the same arguments give the same set). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/text.h"
#include "codec/tx.h"
#include "codec/validator_set.h"
#include "crypto/keystore.h"
#include "ledger/genesis.h"
#include "node/genesis_json.h"

/* The genesis set with epoch and powers ("2,1,1,0"); its encoding into out_set, its hash
 * into out_hash. */
static int
vs_args(const struct genesis *g, const char *epoch, const char *powers, struct buf *out_set,
        struct hash *out_hash)
{
    struct validator_set *vs = mem_calloc(1, sizeof *vs);
    vs->epoch = strtoull(epoch, NULL, 10);
    const char *p = powers;
    for (size_t i = 0; i < g->validators->count; i++) {
        char *end = NULL;
        uint64_t power = strtoull(p, &end, 10);
        if (end == p || (*end != ',' && *end != '\0') ||
            (*end == '\0') != (i + 1 == g->validators->count)) {
            fprintf(stderr, "make_tx: POWERS needs %zu comma-separated numbers\n",
                    g->validators->count);
            mem_free(vs);
            return 1;
        }
        p = end + 1;
        if (power > 0) {
            vs->nodes[vs->count] = g->validators->nodes[i];
            vs->nodes[vs->count].power = power;
            vs->count++;
        }
    }
    int rc = validator_set_encode(vs, out_set) == ERR_OK ? 0 : 1;
    if (rc == 0) {
        validator_set_hash(g->hash_alg, vs, out_hash);
    } else {
        fprintf(stderr, "make_tx: invalid validator set\n");
    }
    mem_free(vs);
    return rc;
}

int
main(int argc, char **argv)
{
    bool vs_form =
        argc == 8 && (strcmp(argv[5], "propose_vs") == 0 || strcmp(argv[5], "approve_vs") == 0);
    if (argc != 5 && argc != 6 && argc != 8 && argc != 9) {
        fprintf(stderr, "usage: make_tx GENESIS_JSON KEY_FILE PASSPHRASE_FILE NONCE "
                        "[COUNT [MODULE.OP ARGS_HEX [EXPIRY]]]\n"
                        "       make_tx GENESIS_JSON KEY_FILE PASSPHRASE_FILE NONCE "
                        "propose_vs|approve_vs EPOCH POWERS\n");
        return 1;
    }
    struct genesis g;
    if (genesis_json_load(argv[1], &g) != ERR_OK) {
        fprintf(stderr, "make_tx: bad genesis %s\n", argv[1]);
        return 1;
    }
    struct hash chain_id;
    if (genesis_hash(&g, &chain_id) != ERR_OK) {
        return 1;
    }
    char pass[128] = { 0 };
    FILE *f = fopen(argv[3], "r");
    if (f == NULL || fgets(pass, sizeof pass, f) == NULL) {
        fprintf(stderr, "make_tx: cannot read %s\n", argv[3]);
        return 1;
    }
    fclose(f);
    pass[strcspn(pass, "\r\n")] = '\0';
    struct secret_key *key = NULL;
    if (keystore_read(argv[2], pass, strlen(pass), &key) != ERR_OK) {
        fprintf(stderr, "make_tx: cannot read key %s\n", argv[2]);
        return 1;
    }
    struct public_key pub;
    secret_key_public(key, &pub);
    struct tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = TX_TYPE_V1;
    tx.chain_id = chain_id;
    address_of(g.hash_alg, &pub, &tx.sender);
    tx.key = pub;
    uint64_t first = strtoull(argv[4], NULL, 10);
    uint64_t count = argc >= 6 && !vs_form ? strtoull(argv[5], NULL, 10) : 1;
    tx.expiry_height = argc == 9 ? strtoull(argv[8], NULL, 10) : 1000;
    tx.op_count = 1;
    static const uint8_t args[4] = { 1, 2, 3, 4 };
    tx.ops[0] = (struct tx_op){ "account", 7, "add_key", 7, args, sizeof args };
    struct buf set;
    buf_init(&set, VS_ENCODED_SIZE_MAX);
    struct hash set_hash;
    if (vs_form) {
        bool propose = strcmp(argv[5], "propose_vs") == 0;
        if (vs_args(&g, argv[6], argv[7], &set, &set_hash) != 0) {
            fprintf(stderr, "make_tx: propose_vs or approve_vs EPOCH POWERS\n");
            return 1;
        }
        tx.ops[0] =
            propose ? (struct tx_op){ "system", 6, "propose_vs", 10, set.data, set.size }
                    : (struct tx_op){ "system", 6, "approve_vs", 10, set_hash.bytes, HASH_SIZE };
    } else if (argc >= 8) {
        static uint8_t op_args[4096];
        const char *dot = strchr(argv[6], '.');
        size_t args_size = 0;
        if (dot == NULL ||
            hex_decode(argv[7], strlen(argv[7]), op_args, sizeof op_args, &args_size) != ERR_OK) {
            fprintf(stderr, "make_tx: bad op %s or args %s\n", argv[6], argv[7]);
            return 1;
        }
        tx.ops[0] =
            (struct tx_op){ argv[6],  (size_t)(dot - argv[6]), dot + 1, strlen(dot + 1), op_args,
                            args_size };
    }
    struct buf out;
    buf_init(&out, TX_SIZE_MAX);
    char *hex = mem_alloc(2 * TX_SIZE_MAX + 1);
    for (uint64_t i = 0; i < count; i++) {
        tx.nonce = first + i;
        buf_reset(&out);
        if (tx_sign(g.hash_alg, &tx, key, &out) != ERR_OK) {
            fprintf(stderr, "make_tx: cannot sign\n");
            return 1;
        }
        hex_encode(out.data, out.size, hex);
        printf("%s\n", hex);
    }
    mem_free(hex);
    buf_release(&set);
    buf_release(&out);
    secret_key_free(key);
    genesis_release(&g);
    return 0;
}
