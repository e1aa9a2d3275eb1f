"""`lianmeng node`: starts, serves /v1/status and /v1/blocks, refuses a world-readable key
file and a bad config (naming the key and line), stops cleanly on SIGTERM, and restarts on
its data."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

from lmtest import Procs, finish, check, fail, free_port_range, http, wait_for

BIN = sys.argv[1]


def run_node(procs, home, log):
    return procs.start([BIN, "node", "--home", home], stdout=log, stderr=subprocess.STDOUT)


def status_of(port):
    code, body = http("GET", "http://127.0.0.1:%d/v1/status" % port)
    return body if code == 200 else None


def stop(p, log_path, timeout_s=15):
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        fail("node did not stop within %d s of SIGTERM" % timeout_s)
    check(rc == 0, "node exited with %d after SIGTERM" % rc)
    with open(log_path) as f:
        text = f.read()
    check("node stopped cleanly" in text, "no clean-stop line in the log:\n" + text[-2000:])


def expect_refusal(procs, home, log_path, needle):
    with open(log_path, "w") as log:
        p = run_node(procs, home, log)
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            fail("node kept running although it should refuse to start (%s)" % needle)
    with open(log_path) as f:
        text = f.read()
    check(rc != 0, "node exited 0 although it should refuse (%s)" % needle)
    check(needle in text, "expected '%s' in the output:\n%s" % (needle, text))


def main():
    procs = Procs()
    tmp = tempfile.mkdtemp(prefix="lm_it_node_")
    try:
        port = free_port_range(1, 1000)
        out = subprocess.run([BIN, "devnet", "--nodes", "1", "--dir", tmp, "--base-port",
                              str(port), "--init-only"], capture_output=True, timeout=60)
        check(out.returncode == 0, "devnet --init-only failed: %r" % out.stderr)
        home = os.path.join(tmp, "node0")
        log_path = os.path.join(tmp, "node.log")

        # Starts and serves.
        with open(log_path, "w") as log:
            p = run_node(procs, home, log)
            st = wait_for("/v1/status", lambda: status_of(port), 30)
            check(st["chain_id"] == "lianmeng-devnet", "chain_id %r" % st)
            check(st["node_name"] == "node0", "node_name %r" % st)
            check(st["final"]["height"] == 0, "height %r" % st)
            check(st["final"]["id"] == st["genesis_hash"], "genesis id %r" % st)
            check(st["validator"] is True, "validator %r" % st)
            code, blk = http("GET", "http://127.0.0.1:%d/v1/blocks/0" % port)
            check(code == 200 and blk["id"] == st["genesis_hash"], "block 0: %d %r" % (code, blk))
            code, blk = http("GET", "http://127.0.0.1:%d/v1/blocks/by-id/%s" % (port, st["genesis_hash"]))
            check(code == 200 and blk["height"] == 0, "block by id: %d %r" % (code, blk))
            code, _ = http("GET", "http://127.0.0.1:%d/v1/blocks/7" % port)
            check(code == 404, "block 7 answered %d" % code)
            code, body = http("POST", "http://127.0.0.1:%d/v1/txs" % port, {"tx": "00ff"})
            check(code == 400 and body["error"]["code"] == "malformed",
                  "garbage tx answered %d %r" % (code, body))
            code, body = http("GET", "http://127.0.0.1:%d/v1/txs/%s" % (port, "ab" * 32))
            check(code == 404, "unknown tx answered %d %r" % (code, body))
            # A second process on the same home is refused before it touches the stores.
            second_log = os.path.join(tmp, "second.log")
            expect_refusal(procs, home, second_log, "data directory in use by another node")
            check(status_of(port) is not None, "the first node stopped answering")
            stop(p, log_path)
        check(status_of(port) is None, "API still answers after the node stopped")

        # Restarts on its data (genesis not committed twice).
        with open(log_path, "w") as log:
            p = run_node(procs, home, log)
            st2 = wait_for("/v1/status after restart", lambda: status_of(port), 30)
            check(st2["genesis_hash"] == st["genesis_hash"], "another chain after restart")
            stop(p, log_path)
        with open(log_path) as f:
            check("genesis committed" not in f.read(), "genesis committed again on restart")

        # SIGKILL loses nothing final: the node comes back on the same chain and height.
        with open(log_path, "w") as log:
            p = run_node(procs, home, log)
            wait_for("/v1/status before SIGKILL", lambda: status_of(port), 30)
            p.kill()
            p.wait(timeout=10)
        with open(log_path, "w") as log:
            p = run_node(procs, home, log)
            st3 = wait_for("/v1/status after SIGKILL", lambda: status_of(port), 30)
            check(st3["genesis_hash"] == st["genesis_hash"] and
                  st3["final"] == st["final"], "state changed across SIGKILL: %r" % st3)
            stop(p, log_path)

        # A passphrase file readable by others is refused.
        pass_path = os.path.join(home, "passphrase")
        os.chmod(pass_path, 0o640)
        expect_refusal(procs, home, log_path, "refusing passphrase file")
        os.chmod(pass_path, 0o600)

        # A key file readable by others is refused.
        key = os.path.join(home, "keys", "consensus.key")
        os.chmod(key, 0o644)
        expect_refusal(procs, home, log_path, "refusing key file")
        check(status_of(port) is None, "API answers although the node refused to start")
        os.chmod(key, 0o600)

        # A port another process holds: the node stops at once and says which setting.
        for taken, key in ((port + 1000, "[p2p] listen"), (port, "[api] listen")):
            holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAITs
            holder.bind(("127.0.0.1", taken))
            holder.listen(1)
            try:
                expect_refusal(procs, home, log_path, "change %s in config.ini" % key)
            finally:
                holder.close()

        # A config error names the key and the line.
        cfg = os.path.join(home, "config.ini")
        shutil.copy(cfg, cfg + ".good")
        with open(cfg, "a") as f:
            f.write("[api]\nconections_max = 5\n")
        expect_refusal(procs, home, log_path, "[api] conections_max: unknown key")
        shutil.copy(cfg + ".good", cfg)
        print("ok: node starts, serves, refuses bad keys and config, stops cleanly")
    finally:
        finish(procs, tmp)


main()
