"""`lianmeng devnet --nodes 4`: starts 4 node processes, writes devnet.json, the nodes link up
over TLS p2p (each sees 3 peers), a SIGKILLed node is restarted with a log line, and SIGTERM
stops the supervisor and every node."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from lmtest import (Procs, check, fail, finish, free_port_range, http, pid_alive, read_devnet,
                    status_of, wait_for)

BIN = sys.argv[1]
MAKE_TX = sys.argv[2]
NODES = 4


def main():
    procs = Procs()
    tmp = tempfile.mkdtemp(prefix="lm_it_devnet_")
    devnet_dir = os.path.join(tmp, "net")
    out_path = os.path.join(tmp, "devnet.out")
    try:
        base = free_port_range(NODES, 1000)
        with open(out_path, "w") as out:
            sup = procs.start([BIN, "devnet", "--nodes", str(NODES), "--dir", devnet_dir,
                               "--base-port", str(base)], stdout=out, stderr=subprocess.STDOUT)
        json_path = os.path.join(devnet_dir, "devnet.json")
        info = wait_for("devnet.json", lambda: read_devnet(json_path), 60)
        nodes = info["nodes"]
        check(len(nodes) == NODES, "devnet.json lists %d nodes" % len(nodes))
        for i, n in enumerate(nodes):
            procs.adopt(n["pid"])
            check(n["name"] == "node%d" % i, "name %r" % n)
            check(n["api"] == "http://127.0.0.1:%d" % (base + i), "api %r" % n)
            check(n["p2p"] == "127.0.0.1:%d" % (base + 1000 + i), "p2p %r" % n)
            check(os.path.isfile(os.path.join(n["home"], "config.ini")), "home %r" % n)
            check(pid_alive(n["pid"]), "node %d pid %d not running" % (i, n["pid"]))
        for n in nodes:
            st = wait_for(n["name"] + " status", lambda: status_of(n["api"]), 60)
            check(st["node_name"] == n["name"], "status of %s: %r" % (n["name"], st))
        genesis = {status_of(n["api"])["genesis_hash"] for n in nodes}
        check(len(genesis) == 1, "nodes disagree on the genesis: %r" % genesis)
        # Mutual TLS with the allow-set from the genesis validator set: full mesh.
        for n in nodes:
            wait_for(n["name"] + " to see 3 peers",
                     lambda: (status_of(n["api"]) or {}).get("peers") == NODES - 1, 60)
        with open(out_path) as f:
            text = f.read()
        for i in range(NODES):
            check("http://127.0.0.1:%d/" % (base + i) in text, "URL of node%d not printed" % i)

        # A signed tx posted to node0 is admitted and gossiped to every node's mempool.
        home0 = nodes[0]["home"]
        tx_hex = subprocess.run([MAKE_TX, os.path.join(home0, "genesis.json"),
                                 os.path.join(home0, "keys", "account.key"),
                                 os.path.join(home0, "passphrase"), "0"],
                                capture_output=True, timeout=30, check=True).stdout.decode().strip()
        code, body = http("POST", nodes[0]["api"] + "/v1/txs", {"tx": tx_hex})
        check(code == 200 and body["status"] == "pending", "tx answered %d %r" % (code, body))
        tx_hash = body["hash"]
        # With consensus running the tx may already be final when a node is asked.
        def tx_known(url):
            code, body = http("GET", url + "/v1/txs/" + tx_hash)
            return code == 200 and body["status"] in ("pending", "final")

        for n in nodes:
            wait_for(n["name"] + " to hold the gossiped tx", lambda: tx_known(n["api"]), 30)
        # Validators do not relay a tx that came from a validator (the origin sent it to all):
        # each other node refuses at most one copy (the gossip, if the block came first).
        time.sleep(1)
        for n in nodes[1:]:
            code, st = http("GET", n["api"] + "/v1/status")
            check(code == 200 and st["mempool"]["rejected"] <= 1,
                  "%s refused %r copies of one tx" % (n["name"], st["mempool"].get("rejected")))
        code, body = http("POST", nodes[2]["api"] + "/v1/txs", {"tx": tx_hex})
        # Refused: still pending ("exists") or already final (its nonce is used).
        check(code != 200 and "error" in body, "duplicate: %d %r" % (code, body))

        # A SIGKILLed node is restarted.
        victim = nodes[1]
        os.kill(victim["pid"], signal.SIGKILL)

        def restarted():
            d = read_devnet(json_path)
            if d is None:
                return None
            n = d["nodes"][1]
            return n if n["pid"] != victim["pid"] and n["restarts"] >= 1 else None

        again = wait_for("node1 restarted", restarted, 60)
        procs.adopt(again["pid"])
        wait_for("node1 status after restart", lambda: status_of(victim["api"]), 60)
        with open(out_path) as f:
            text = f.read()
        check("node1 (pid %d) killed by signal 9" % victim["pid"] in text,
              "no restart log line:\n" + text[-2000:])

        # SIGTERM stops everything.
        final = read_devnet(json_path)
        sup.send_signal(signal.SIGTERM)
        try:
            rc = sup.wait(timeout=60)
        except subprocess.TimeoutExpired:
            fail("devnet did not stop within 60 s of SIGTERM")
        check(rc == 0, "devnet exited with %d" % rc)
        for n in final["nodes"]:
            check(not pid_alive(n["pid"]), "%s (pid %d) still running" % (n["name"], n["pid"]))
            with open(os.path.join(n["home"], "node.log")) as f:
                check("node stopped cleanly" in f.read(), n["name"] + " did not stop cleanly")
        for n in final["nodes"]:
            check(status_of(n["api"]) is None, n["name"] + " API still answers")
        stopped = read_devnet(json_path)
        check(all(n["pid"] == 0 for n in stopped["nodes"]), "devnet.json after stop: %r" % stopped)
        print("ok: devnet of %d nodes: devnet.json, full p2p mesh, restart after SIGKILL, "
              "clean stop" % NODES)
    finally:
        finish(procs, tmp)


main()
