/* Test helper: prints the hex of a signed tx (account.add_key with dummy args, or the op
 * MODULE.OP with the hex ARGS) from a devnet node's account key, for the integration tests'
 * admission, gossip and node-registration checks.
 * usage: make_tx GENESIS_JSON KEY_FILE PASSPHRASE_FILE NONCE [COUNT [MODULE.OP ARGS_HEX [EXPIRY]]]
 * (COUNT txs, expiring at height EXPIRY (default 1000), nonces NONCE .. NONCE + COUNT - 1, one hex
 * line each). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/text.h"
#include "codec/tx.h"
#include "crypto/keystore.h"
#include "ledger/genesis.h"
#include "node/genesis_json.h"

int
main(int argc, char **argv)
{
    if (argc != 5 && argc != 6 && argc != 8 && argc != 9) {
        fprintf(stderr, "usage: make_tx GENESIS_JSON KEY_FILE PASSPHRASE_FILE NONCE "
                        "[COUNT [MODULE.OP ARGS_HEX [EXPIRY]]]\n");
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
    uint64_t count = argc >= 6 ? strtoull(argv[5], NULL, 10) : 1;
    tx.expiry_height = argc == 9 ? strtoull(argv[8], NULL, 10) : 1000;
    tx.op_count = 1;
    static const uint8_t args[4] = { 1, 2, 3, 4 };
    tx.ops[0] = (struct tx_op){ "account", 7, "add_key", 7, args, sizeof args };
    if (argc >= 8) {
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
    buf_release(&out);
    secret_key_free(key);
    genesis_release(&g);
    return 0;
}
