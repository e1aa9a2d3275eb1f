/* Unit tests of node/config: defaults, every kind of value, strict errors naming key and
 * line, limits, file loading. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/mem.h"
#include "node/config.h"
#include "unit.h"

#define KEY_HEX "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"

static enum err
decode(const char *text, struct config *out, char *error)
{
    return config_decode("config.ini", text, strlen(text), out, error);
}

static void
expect_error(const char *text, const char *fragment)
{
    struct config c;
    config_default(&c);
    snprintf(c.name, sizeof c.name, "untouched");
    char error[CONFIG_ERROR_MAX];
    enum err rc = decode(text, &c, error);
    if (rc != ERR_CONFIG || strstr(error, fragment) == NULL) {
        fail_msg("input:\n%s\nrc=%d error='%s', expected '%s'", text, rc, error, fragment);
    }
    assert_string_equal(c.name, "untouched"); /* out written only on success */
}

static void
test_defaults(void **state)
{
    (void)state;
    struct config c;
    char error[CONFIG_ERROR_MAX];
    assert_int_equal(decode("[keys]\npassphrase_env = LM_PASS\n", &c, error), ERR_OK);
    assert_string_equal(c.name, "node");
    assert_int_equal(c.log_level, LOG_LEVEL_INFO);
    assert_string_equal(c.genesis_path, "genesis.json");
    assert_string_equal(c.data_dir, "data");
    assert_string_equal(c.consensus_key_path, "keys/consensus.key");
    assert_string_equal(c.api_listen, "127.0.0.1:8080");
    assert_string_equal(c.p2p_listen, "127.0.0.1:9000");
    assert_string_equal(c.passphrase_env, "LM_PASS");
    assert_int_equal(c.peer_count, 0);
    assert_int_equal(c.api_connections_max, 256);
    assert_int_equal(c.verify_threads, 2);
    assert_int_equal(c.state_retain_versions, CONFIG_STATE_RETAIN_DEFAULT);
    assert_int_equal(c.min_block_interval_ms, CONFIG_MIN_BLOCK_INTERVAL_DEFAULT);
    assert_int_equal(c.db_size_max_mib, CONFIG_DB_SIZE_DEFAULT_MIB);
}

static void
test_full(void **state)
{
    (void)state;
    const char *text =
        "; a comment\n"
        "[node]\n"
        "name = bank-a\n"
        "log_level = debug\n"
        "genesis = /etc/lm/genesis.json\n"
        "data_dir = d\n"
        "[keys]\n"
        "consensus_key = k/c.key\n"
        "transport_key = k/t.key\n"
        "passphrase_file = pass.txt\n"
        "[p2p]\n"
        "listen = 0.0.0.0:7000\n"
        "peer = ed25519:" KEY_HEX "@127.0.0.1:7001\n"
        "peer = "
        "ed25519:3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c@[::1]:7002\n"
        "peer = "
        "ed25519:fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025@node3.bank-c."
        "example:7003\n"
        "peers_max = 16\n"
        "frame_size_max = 6291456\n"
        "queue_bytes_max = 8388608\n"
        "[api]\n"
        "listen = [::1]:8081\n"
        "connections_max = 10\n"
        "body_size_max = 2048\n"
        "request_timeout_ms = 500\n"
        "[mempool]\n"
        "txs_max = 5\n"
        "bytes_max = 1048576\n"
        "[verify]\n"
        "threads = 3\n"
        "[consensus]\n"
        "min_block_interval_ms = 25\n"
        "[storage]\n"
        "state_retain_versions = 100\n"
        "db_size_max_mib = 2048\n";
    struct config c;
    char error[CONFIG_ERROR_MAX];
    assert_int_equal(decode(text, &c, error), ERR_OK);
    assert_string_equal(c.name, "bank-a");
    assert_int_equal(c.log_level, LOG_LEVEL_DEBUG);
    assert_string_equal(c.genesis_path, "/etc/lm/genesis.json");
    assert_string_equal(c.passphrase_file, "pass.txt");
    assert_int_equal(c.peer_count, 3);
    assert_string_equal(c.peers[2].address, "node3.bank-c.example:7003");
    assert_int_equal(c.peers[0].key.alg, SIG_ED25519);
    assert_int_equal(c.peers[0].key.size, 32);
    assert_int_equal(c.peers[0].key.bytes[0], 0xd7);
    assert_string_equal(c.peers[0].address, "127.0.0.1:7001");
    assert_string_equal(c.peers[1].address, "[::1]:7002");
    assert_int_equal(c.peers_max, 16);
    assert_int_equal(c.queue_bytes_max, 8388608);
    assert_string_equal(c.api_listen, "[::1]:8081");
    assert_int_equal(c.api_body_size_max, 2048);
    assert_int_equal(c.mempool_bytes_max, 1048576);
    assert_int_equal(c.verify_threads, 3);
    assert_int_equal(c.state_retain_versions, 100);
    assert_int_equal(c.min_block_interval_ms, 25);
    assert_int_equal(c.db_size_max_mib, 2048);
    assert_int_equal(
        decode("[keys]\npassphrase_env = X\n[storage]\nstate_retain_versions = 0\n", &c, error),
        ERR_OK);
    assert_int_equal(c.state_retain_versions, 0); /* an archive node */
}

static void
test_errors(void **state)
{
    (void)state;
    expect_error("[keys]\npassphrase_env = X\n[node]\nnmae = x\n",
                 "config.ini:4: [node] nmae: unknown key");
    expect_error("[keys]\npassphrase_env = X\n[nodes]\nname = x\n",
                 ":4: [nodes] name: unknown section");
    expect_error("[keys]\npassphrase_env = X\n[node]\nname = a\nname = b\n",
                 ":5: [node] name: set twice");
    expect_error("[keys]\npassphrase_env = X\n[node]\nname =\n", ":4: [node] name: empty value");
    expect_error("[keys]\npassphrase_env = X\n[node]\nlog_level = loud\n", "unknown level 'loud'");
    expect_error("[keys]\npassphrase_env = X\n[storage]\ndb_size_max_mib = 0\n",
                 "[storage] db_size_max_mib: 0 out of range 1..67108864");
    expect_error("[keys]\npassphrase_env = X\n[consensus]\nmin_block_interval_ms = 334\n",
                 "[consensus] min_block_interval_ms: 334 out of range 0..333");
    expect_error("[keys]\npassphrase_env = X\n[consensus]\nidle_block_interval_ms = 1000\n",
                 "[consensus] idle_block_interval_ms: 1000 out of range 0..333");
    expect_error("[keys]\npassphrase_env = X\n[storage]\nstate_retain_versions = 15\n",
                 "[storage] state_retain_versions: 0 (keep all) or at least 16");
    expect_error("[keys]\npassphrase_env = X\n[storage]\nstate_retain_versions = 1099511627777\n",
                 "[storage] state_retain_versions: 1099511627777 out of range");
    expect_error("[keys]\npassphrase_env = X\n[api]\nconnections_max = 0\n",
                 ":4: [api] connections_max: 0 out of range 1..65536");
    expect_error("[keys]\npassphrase_env = X\n[api]\nconnections_max = 99999999999999999999999\n",
                 "not a decimal number");
    expect_error("[keys]\npassphrase_env = X\n[api]\nconnections_max = 12x\n",
                 "not a decimal number: '12x'");
    expect_error("[keys]\npassphrase_env = X\n[api]\nconnections_max = -1\n",
                 "not a decimal number");
    expect_error("[keys]\npassphrase_env = X\n[api]\nlisten = localhost:80\n",
                 ":4: [api] listen: bad address");
    expect_error("[keys]\npassphrase_env = X\n[api]\nlisten = 127.0.0.1:65536\n", "bad address");
    expect_error("[keys]\npassphrase_env = X\n[api]\nlisten = 127.0.0.1\n", "bad address");
    expect_error("[keys]\npassphrase_env = X\n[p2p]\npeer = 127.0.0.1:1\n",
                 ":4: [p2p] peer: expected");
    expect_error("[keys]\npassphrase_env = X\n[p2p]\npeer = ed25519:abcd@127.0.0.1:1\n",
                 "bad public key");
    expect_error("[keys]\npassphrase_env = X\n[p2p]\npeer = rsa:" KEY_HEX "@127.0.0.1:1\n",
                 "bad public key");
    expect_error("[keys]\npassphrase_env = X\n[p2p]\npeer = ed25519:" KEY_HEX "@host_1:1\n",
                 "bad address");
    expect_error("[keys]\npassphrase_env = X\n[p2p]\npeer = ed25519:" KEY_HEX "@host:0\n",
                 "bad address");
    expect_error("[keys]\npassphrase_env = X\n[p2p]\npeer = ed25519:" KEY_HEX "@127.0.0.1:1\n"
                 "peer = ed25519:" KEY_HEX "@127.0.0.1:2\n",
                 ":5: [p2p] peer: peer key listed twice");
    expect_error("[node]\nname = x\n", "[keys] passphrase_file / passphrase_env: set exactly one");
    expect_error("[keys]\npassphrase_env = X\npassphrase_file = f\n", "set exactly one");
    expect_error(
        "[keys]\npassphrase_env = X\n[p2p]\nframe_size_max = 8388608\nqueue_bytes_max = 8388608\n",
        "[p2p] queue_bytes_max: must be at least");
    /* a frame must hold the largest consensus message (and a sync response of one such block) */
    expect_error("[keys]\npassphrase_env = X\n[p2p]\nframe_size_max = 4194304\n", "out of range");
    expect_error("[keys]\npassphrase_env = X\n[p2p]\nlisten = 127.0.0.1:8080\n", "same address");
    expect_error("[keys]\npassphrase_env = X\njust words\n", "config.ini:3: expected [section]");
    expect_error("name = x\n[keys]\npassphrase_env = X\n",
                 "config.ini:1: [] name: unknown section");
    char long_line[400];
    memset(long_line, 'a', sizeof long_line);
    memcpy(long_line, "[node]\nname = ", 14);
    long_line[sizeof long_line - 2] = '\n';
    long_line[sizeof long_line - 1] = '\0';
    expect_error(long_line, ":2: line longer than");
    char name_long[128];
    snprintf(name_long, sizeof name_long, "[keys]\npassphrase_env = X\n[node]\nname = %070d\n", 1);
    expect_error(name_long, "[node] name: value too long");
}

static void
test_limits_and_nul(void **state)
{
    (void)state;
    struct config c;
    char error[CONFIG_ERROR_MAX];
    char *big = mem_calloc(1, CONFIG_FILE_SIZE_MAX + 2);
    memset(big, '\n', CONFIG_FILE_SIZE_MAX + 1);
    assert_int_equal(config_decode("x", big, CONFIG_FILE_SIZE_MAX + 1, &c, error), ERR_TOO_LARGE);
    assert_int_equal(config_decode("x", big, CONFIG_FILE_SIZE_MAX, &c, error), ERR_CONFIG);
    mem_free(big);
    const char with_nul[] = "[keys]\npassphrase_env = X\0\n";
    assert_int_equal(config_decode("x", with_nul, sizeof with_nul - 1, &c, error), ERR_CONFIG);
    assert_non_null(strstr(error, "NUL"));
}

static void
test_load_and_path(void **state)
{
    (void)state;
    char dir[] = "/tmp/lm_config_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/config.ini", dir);
    struct config c;
    char error[CONFIG_ERROR_MAX];
    assert_int_equal(config_load(path, &c, error), ERR_NOT_FOUND);
    assert_non_null(strstr(error, path));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("[keys]\npassphrase_env = X\n[api]\nlisten = 1.2.3.4:5\n", f);
    fclose(f);
    assert_int_equal(config_load(path, &c, error), ERR_OK);
    assert_string_equal(c.api_listen, "1.2.3.4:5");
    f = fopen(path, "w");
    fputs("[keys]\npassphrase_env = X\n[api]\nlisten = nope\n", f);
    fclose(f);
    assert_int_equal(config_load(path, &c, error), ERR_CONFIG);
    assert_non_null(strstr(error, "config.ini:4: [api] listen"));
    unlink(path);
    rmdir(dir);

    char out[32];
    assert_int_equal(config_path("/home/n", "data", out, sizeof out), ERR_OK);
    assert_string_equal(out, "/home/n/data");
    assert_int_equal(config_path("/home/n", "/abs/x", out, sizeof out), ERR_OK);
    assert_string_equal(out, "/abs/x");
    snprintf(out, sizeof out, "kept");
    assert_int_equal(config_path("/home/n", "a-very-long-relative-path-here", out, sizeof out),
                     ERR_TOO_LARGE);
    assert_string_equal(out, "kept");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),      cmocka_unit_test(test_full),
        cmocka_unit_test(test_errors),        cmocka_unit_test(test_limits_and_nul),
        cmocka_unit_test(test_load_and_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
