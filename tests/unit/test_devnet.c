/* Unit tests of node/devnet's init: the files it writes load with the node's own readers
 * (config, genesis, keystore), agree with each other, are private where they hold secrets,
 * and a second init reuses the same chain; size mismatches and bad ports are refused;
 * observers are registered in the genesis and dial the validators only. */
#define _XOPEN_SOURCE 700 /* nftw */ // NOLINT(readability-identifier-naming)
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "crypto/keystore.h"
#include "ledger/genesis.h"
#include "node/config.h"
#include "node/devnet.h"
#include "node/genesis_json.h"
#include "unit.h"

#define NODES 3

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
remove_tree(const char *dir)
{
    assert_int_equal(nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static void
read_file(const char *path, char *out, size_t out_max)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(out, 1, out_max - 1, f);
    out[n] = '\0';
    fclose(f);
}

static mode_t
mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 0777;
}

/* A devnet of NODES validators and `observers` observers initialised in a new temporary
 * directory made from the template in dir (API ports from 18080, p2p from 19080). */
static struct devnet_options
temp_devnet(char *dir, unsigned observers)
{
    assert_non_null(mkdtemp(dir));
    struct devnet_options o = { .nodes = NODES,
                                .observers = observers,
                                .dir = dir,
                                .base_port = 18080,
                                .p2p_base_port = 19080,
                                .binary = "x" };
    assert_int_equal(devnet_init(&o), ERR_OK);
    return o;
}

static void
test_init(void **state)
{
    (void)state;
    char dir[] = "/tmp/lm_devnet_XXXXXX";
    struct devnet_options o = temp_devnet(dir, 0);

    struct genesis g;
    char path[512];
    snprintf(path, sizeof path, "%s/node0/genesis.json", dir);
    assert_int_equal(genesis_json_load(path, &g), ERR_OK);
    assert_int_equal(g.institution_count, NODES);
    assert_int_equal(g.account_count, NODES);
    assert_int_equal(g.validators->count, NODES);
    struct hash chain;
    assert_int_equal(genesis_hash(&g, &chain), ERR_OK);
    static char genesis_text[1 << 16];
    static char other_text[1 << 16];
    read_file(path, genesis_text, sizeof genesis_text);

    for (unsigned i = 0; i < NODES; i++) {
        char home[256];
        snprintf(home, sizeof home, "%s/node%u", dir, i);
        snprintf(path, sizeof path, "%s/genesis.json", home);
        read_file(path, other_text, sizeof other_text);
        assert_string_equal(genesis_text, other_text); /* one chain */
        struct config c;
        char error[CONFIG_ERROR_MAX];
        snprintf(path, sizeof path, "%s/config.ini", home);
        assert_int_equal(config_load(path, &c, error), ERR_OK);
        assert_int_equal(mode_of(path), 0600);
        char expect[64];
        snprintf(expect, sizeof expect, "127.0.0.1:%u", 18080 + i);
        assert_string_equal(c.api_listen, expect);
        snprintf(expect, sizeof expect, "127.0.0.1:%u", 19080 + i);
        assert_string_equal(c.p2p_listen, expect);
        assert_int_equal(c.peer_count, NODES - 1);
        /* Every peer is another node's registered transport key at its p2p address. */
        for (size_t p = 0; p < c.peer_count; p++) {
            long port = strtol(strrchr(c.peers[p].address, ':') + 1, NULL, 10);
            unsigned j = (unsigned)(port - 19080);
            assert_true(j < NODES && j != i);
            assert_true(public_key_equal(&c.peers[p].key, &g.validators->nodes[j].transport_key));
        }
        snprintf(path, sizeof path, "%s/passphrase", home);
        assert_int_equal(mode_of(path), 0600);
        char pass[64];
        read_file(path, pass, sizeof pass);
        pass[strcspn(pass, "\n")] = '\0';
        snprintf(path, sizeof path, "%s/keys/consensus.key", home);
        assert_int_equal(mode_of(path), 0600);
        struct secret_key *key = NULL;
        assert_int_equal(keystore_read(path, pass, strlen(pass), &key), ERR_OK);
        struct public_key pub;
        secret_key_public(key, &pub);
        assert_true(public_key_equal(&pub, &g.validators->nodes[i].consensus_key));
        secret_key_free(key);
    }

    /* A second init reuses keys and genesis; other sizes are refused. */
    o.base_port = 28080;
    assert_int_equal(devnet_init(&o), ERR_OK);
    snprintf(path, sizeof path, "%s/node2/genesis.json", dir);
    read_file(path, other_text, sizeof other_text);
    assert_string_equal(genesis_text, other_text);
    o.nodes = NODES - 1;
    assert_int_equal(devnet_init(&o), ERR_EXISTS);
    o.nodes = NODES + 1;
    assert_int_equal(devnet_init(&o), ERR_EXISTS);

    genesis_release(&g);
    remove_tree(dir);
}

/* Writes node1's config.local.ini (size bytes of text), runs devnet_init again and loads
 * node1's config.ini into *c; returns config_load's answer (its error text in error). */
static enum err
init_with_local(const char *dir, struct devnet_options *o, const char *text, size_t size,
                struct config *c, char error[CONFIG_ERROR_MAX])
{
    char path[512];
    snprintf(path, sizeof path, "%s/node1/" DEVNET_LOCAL_CONFIG, dir);
    FILE *local = fopen(path, "wb");
    assert_non_null(local);
    assert_int_equal(fwrite(text, 1, size, local), size);
    fclose(local);
    assert_int_equal(devnet_init(o), ERR_OK);
    snprintf(path, sizeof path, "%s/node1/config.ini", dir);
    return config_load(path, c, error);
}

#define INIT_WITH_LOCAL(lit) init_with_local(dir, &o, lit, sizeof(lit) - 1, &c, error)

/* Each init writes config.ini anew (new ports) and appends a node's config.local.ini, leaving
 * out the devnet's tuning defaults that file sets; another key that both set is the node's
 * config error. */
static void
test_local_config(void **state)
{
    (void)state;
    char dir[] = "/tmp/lm_devnet_XXXXXX";
    struct devnet_options o = temp_devnet(dir, 0);
    struct config c;
    char error[CONFIG_ERROR_MAX];
    o.base_port = 28080;
    /* no final newline */
    assert_int_equal(INIT_WITH_LOCAL("[storage]\nstate_retain_versions = 64"), ERR_OK);
    char path[512];
    for (unsigned i = 0; i < NODES; i++) {
        snprintf(path, sizeof path, "%s/node%u/config.ini", dir, i);
        assert_int_equal(config_load(path, &c, error), ERR_OK);
        assert_int_equal(c.state_retain_versions, i == 1 ? 64 : 0);
        char expect[64];
        snprintf(expect, sizeof expect, "127.0.0.1:%u", 28080 + i);
        assert_string_equal(c.api_listen, expect);
    }
    /* the devnet's tuning defaults give way to the local file (blanks and CRLF as people
     * write them - inih reads an indented line after a key as that key's continuation, so
     * only a section's first key is indented here); an unknown key is still the node's error */
    assert_int_equal(INIT_WITH_LOCAL("[node]\r\n  log_level=debug\r\n[mempool]\n txs_max = 5\n"
                                     "bytes_max = 9999999\n[storage]\nthreads_x = 1\n"),
                     ERR_CONFIG);
    if (strstr(error, "threads_x") == NULL) {
        fail_msg("%s", error);
    }
    assert_int_equal(INIT_WITH_LOCAL("[node]\r\n  log_level=debug\r\n[mempool]\n txs_max = 5\n"
                                     "; tuning\n\n[verify]\nthreads = 3\n"),
                     ERR_OK);
    assert_int_equal(c.mempool_txs_max, 5);
    assert_int_equal(c.verify_threads, 3);
    assert_int_equal(c.log_level, LOG_LEVEL_DEBUG);
    snprintf(path, sizeof path, "%s/node0/config.ini", dir);
    assert_int_equal(config_load(path, &c, error), ERR_OK);
    assert_int_equal(c.mempool_txs_max, 50000); /* the devnet's own */
    assert_int_equal(c.log_level, LOG_LEVEL_INFO);
    /* a key the devnet owns (addresses, names, peers) set in both is the node's error */
    assert_int_equal(INIT_WITH_LOCAL("[api]\nlisten = 127.0.0.1:1\n"), ERR_CONFIG);
    assert_non_null(strstr(error, "[api] listen: set twice"));
    /* a NUL byte reaches the node's parser, which refuses it (it was cut off before) */
    assert_int_equal(INIT_WITH_LOCAL("[storage]\nstate_retain_versions = 64\0junk\n"), ERR_CONFIG);
    assert_non_null(strstr(error, "NUL"));
    remove_tree(dir);
}

static void
test_observers(void **state)
{
    (void)state;
    char dir[] = "/tmp/lm_devnet_XXXXXX";
    struct devnet_options o = temp_devnet(dir, 2);
    struct genesis g;
    char path[512];
    snprintf(path, sizeof path, "%s/observer1/genesis.json", dir);
    assert_int_equal(genesis_json_load(path, &g), ERR_OK);
    assert_int_equal(g.validators->count, NODES);
    assert_int_equal(g.node_count, 2);
    for (unsigned j = 0; j < 2; j++) {
        char home[256];
        snprintf(home, sizeof home, "%s/observer%u", dir, j);
        snprintf(path, sizeof path, "%s/keys/transport.key", home);
        struct public_key transport;
        assert_int_equal(keystore_read_public(path, &transport), ERR_OK);
        size_t at = public_key_equal(&g.nodes[0].transport_key, &transport) ? 0 : 1;
        assert_true(public_key_equal(&g.nodes[at].transport_key, &transport));
        assert_int_equal(g.nodes[at].institution, j % NODES + 1);
        char expect[64];
        snprintf(expect, sizeof expect, "localhost:%u", 19080 + NODES + j); /* by name */
        assert_string_equal(g.nodes[at].address, expect);
        struct config c;
        char error[CONFIG_ERROR_MAX];
        snprintf(path, sizeof path, "%s/config.ini", home);
        assert_int_equal(config_load(path, &c, error), ERR_OK);
        snprintf(expect, sizeof expect, "127.0.0.1:%u", 18080 + NODES + j);
        assert_string_equal(c.api_listen, expect);
        assert_int_equal(c.peer_count, NODES); /* every validator */
        assert_int_equal(validator_set_find_transport(g.validators, &transport), -1);
    }
    struct config c;
    char error[CONFIG_ERROR_MAX];
    snprintf(path, sizeof path, "%s/node0/config.ini", dir);
    assert_int_equal(config_load(path, &c, error), ERR_OK);
    assert_int_equal(c.peer_count, NODES - 1); /* validators do not list observers */
    o.observers = 1;
    assert_int_equal(devnet_init(&o), ERR_EXISTS);
    o.observers = 3;
    assert_int_equal(devnet_init(&o), ERR_EXISTS);
    o.observers = 2;
    assert_int_equal(devnet_init(&o), ERR_OK);
    genesis_release(&g);
    remove_tree(dir);
}

static void
test_bad_options(void **state)
{
    (void)state;
    struct devnet_options o = {
        .nodes = 4, .dir = "/tmp/lm_never_made", .base_port = 8080, .p2p_base_port = 8082
    };
    assert_int_equal(devnet_init(&o), ERR_INVALID_ARG); /* overlapping ranges */
    o.p2p_base_port = 65534;
    assert_int_equal(devnet_init(&o), ERR_INVALID_ARG); /* past 65535 */
    o.p2p_base_port = 9080;
    o.nodes = 0;
    assert_int_equal(devnet_init(&o), ERR_INVALID_ARG);
    o.nodes = DEVNET_NODES_MAX + 1;
    assert_int_equal(devnet_init(&o), ERR_INVALID_ARG);
    o.nodes = 4;
    o.observers = DEVNET_OBSERVERS_MAX + 1;
    assert_int_equal(devnet_init(&o), ERR_INVALID_ARG);
    struct stat st;
    assert_int_not_equal(stat("/tmp/lm_never_made", &st), 0);
}

int
main(void)
{
    log_set_level(LOG_LEVEL_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_local_config),
        cmocka_unit_test(test_observers),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
