"""Consensus under repeated crashes: 40 transactions are submitted to node0 of a 4-node devnet
while validators 1, 2, 3, 1 are SIGKILLed in turn (the supervisor restarts each); afterwards
every transaction is final and every node holds the same block at every height."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from lmtest import (Procs, finish, check, fail, final_height, free_port_range, http, read_devnet,
                    same_chains, wait_for)

BIN = sys.argv[1]
MAKE_TX = sys.argv[2]
NODES = 4
TXS = 40


def main():
    procs = Procs()
    tmp = tempfile.mkdtemp(prefix="lm_it_kills_")
    devnet_dir = os.path.join(tmp, "net")
    try:
        base = free_port_range(NODES, 1000)
        with open(os.path.join(tmp, "devnet.out"), "w") as out:
            sup = procs.start([BIN, "devnet", "--nodes", str(NODES), "--dir", devnet_dir,
                               "--base-port", str(base)], stdout=out, stderr=subprocess.STDOUT)
        json_path = os.path.join(devnet_dir, "devnet.json")
        nodes = wait_for("devnet.json", lambda: read_devnet(json_path), 60)["nodes"]
        for n in nodes:
            procs.adopt(n["pid"])
        for n in nodes:
            wait_for(n["name"] + " status", lambda: final_height(n["api"]) >= 0, 60)
        home0 = nodes[0]["home"]
        hashes = []
        for nonce in range(TXS):
            tx_hex = subprocess.run([MAKE_TX, os.path.join(home0, "genesis.json"),
                                     os.path.join(home0, "keys", "account.key"),
                                     os.path.join(home0, "passphrase"), str(nonce)],
                                    capture_output=True, timeout=30,
                                    check=True).stdout.decode().strip()
            code, body = http("POST", nodes[0]["api"] + "/v1/txs", {"tx": tx_hex})
            check(code == 200, "tx %d answered %d %r" % (nonce, code, body))
            hashes.append(body["hash"])
            if nonce % 10 == 5:
                victim = 1 + (nonce // 10) % 3
                current = read_devnet(json_path)["nodes"][victim]
                os.kill(current["pid"], signal.SIGKILL)
                restarted = wait_for("node%d restarted" % victim,
                                     lambda: (lambda d: d is not None and
                                              d["nodes"][victim]["pid"] != current["pid"] and
                                              d["nodes"][victim]["pid"] > 0 and
                                              d["nodes"][victim])(read_devnet(json_path)), 60)
                procs.adopt(restarted["pid"])
            time.sleep(0.2)
        for h in hashes:
            wait_for("tx %s final" % h[:8],
                     lambda: http("GET", nodes[0]["api"] + "/v1/txs/" + h)[1]["status"] == "final",
                     60)
        goal = max(final_height(n["api"]) for n in nodes)
        for n in nodes:
            wait_for("%s at height %d" % (n["name"], goal),
                     lambda: final_height(n["api"]) >= goal, 90)
        same_chains([n["api"] for n in nodes], goal)
        sup.send_signal(signal.SIGTERM)
        try:
            rc = sup.wait(timeout=60)
        except subprocess.TimeoutExpired:
            fail("devnet did not stop within 60 s of SIGTERM")
        check(rc == 0, "devnet exited with %d" % rc)
        print("ok: %d txs final and identical chains up to height %d across 4 kills"
              % (TXS, goal))
    finally:
        finish(procs, tmp)


main()
