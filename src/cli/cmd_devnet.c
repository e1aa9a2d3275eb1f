#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "cli/cli.h"
#include "crypto/hash.h"
#include "crypto/sign.h"
#include "node/devnet.h"

static void
devnet_usage(FILE *out)
{
    fprintf(out,
            "usage: lianmeng devnet [--nodes N] [--observers M] [--dir DIR] [--base-port P]\n"
            "                       [--p2p-base-port Q]\n"
            "                       [--init-only] [--load-accounts N] [--load-alg ed25519|sm2]\n"
            "                       [--hash sha256|sm3]\n\n"
            "Creates (or reuses) a local alliance of N nodes under DIR (default 4 nodes in\n"
            "./devnet): keys, a demo genesis and a config per node; then starts the nodes as\n"
            "separate processes, restarts any that exits, writes DIR/devnet.json, and stops them\n"
            "all on Ctrl-C or SIGTERM. Node i serves its API and portal on 127.0.0.1:(P + i)\n"
            "(P = %d) and p2p on 127.0.0.1:(Q + i) (Q = P + %d). --observers M (default 0)\n"
            "adds M observer nodes (DIR/observer<j>, ports P + N + j and Q + N + j): they are\n"
            "registered in the genesis, dial the validators and follow the chain without\n"
            "voting. --init-only writes the files\n"
            "and exits. --load-accounts N (devnet only, for `lianmeng bench`) adds N demo\n"
            "accounts whose keys anyone can derive (--load-alg, default ed25519) and the test\n"
            "module to the genesis; --hash picks the chain hash (default sha256).\n",
            DEVNET_DEFAULT_API, DEVNET_P2P_PORT_OFFSET);
}

static int
parse_uint(const char *text, unsigned long max, unsigned long *out)
{
    if (text == NULL || text[0] < '0' || text[0] > '9') {
        return -1;
    }
    errno = 0;
    char *end = NULL;
    unsigned long v = strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

int
cli_cmd_devnet(int argc, char **argv)
{
    unsigned long nodes = 4;
    unsigned long observers = 0;
    unsigned long base = DEVNET_DEFAULT_API;
    unsigned long p2p = 0;
    const char *dir = "devnet";
    int init_only = 0;
    unsigned long load_accounts = 0;
    unsigned load_alg = SIG_ED25519;
    unsigned hash_alg = HASH_SHA256;
    for (int i = 1; i < argc && argv[i] != NULL; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            devnet_usage(stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(a, "--nodes") == 0) {
            bad = parse_uint(v, DEVNET_NODES_MAX, &nodes) != 0 || nodes == 0;
            i++;
        } else if (strcmp(a, "--observers") == 0) {
            bad = parse_uint(v, DEVNET_OBSERVERS_MAX, &observers) != 0;
            i++;
        } else if (strcmp(a, "--base-port") == 0) {
            bad = parse_uint(v, 65535, &base) != 0 || base == 0;
            i++;
        } else if (strcmp(a, "--p2p-base-port") == 0) {
            bad = parse_uint(v, 65535, &p2p) != 0 || p2p == 0;
            i++;
        } else if (strcmp(a, "--dir") == 0 && v != NULL) {
            dir = v;
            i++;
        } else if (strcmp(a, "--load-accounts") == 0) {
            bad = parse_uint(v, DEVNET_LOAD_ACCOUNTS_MAX, &load_accounts) != 0;
            i++;
        } else if (strcmp(a, "--load-alg") == 0 && v != NULL) {
            load_alg = strcmp(v, "sm2") == 0 ? SIG_SM2 : SIG_ED25519;
            bad = strcmp(v, "sm2") != 0 && strcmp(v, "ed25519") != 0;
            i++;
        } else if (strcmp(a, "--hash") == 0 && v != NULL) {
            hash_alg = strcmp(v, "sm3") == 0 ? HASH_SM3 : HASH_SHA256;
            bad = strcmp(v, "sm3") != 0 && strcmp(v, "sha256") != 0;
            i++;
        } else if (strcmp(a, "--init-only") == 0) {
            init_only = 1;
        } else {
            bad = 1;
        }
        if (bad) {
            fprintf(stderr, "lianmeng devnet: bad argument '%s'\n", a);
            devnet_usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (p2p == 0) {
        p2p = base + DEVNET_P2P_PORT_OFFSET;
    }
    if (base + nodes + observers > 65536 || p2p + nodes + observers > 65536) {
        fprintf(stderr, "lianmeng devnet: ports past 65535\n");
        return CLI_EXIT_USAGE;
    }
    static char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        fprintf(stderr, "lianmeng devnet: cannot find its own executable\n");
        return CLI_EXIT_FAILURE;
    }
    self[n] = '\0';
    struct devnet_options o = { .nodes = (unsigned)nodes,
                                .observers = (unsigned)observers,
                                .dir = dir,
                                .base_port = (uint16_t)base,
                                .p2p_base_port = (uint16_t)p2p,
                                .binary = self,
                                .load_accounts = (unsigned)load_accounts,
                                .load_alg = load_alg,
                                .hash_alg = hash_alg };
    enum err rc = init_only ? devnet_init(&o) : devnet_run(&o);
    if (rc != ERR_OK) {
        fprintf(stderr, "lianmeng devnet: %s\n", err_str(rc));
        return rc == ERR_INVALID_ARG ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}
