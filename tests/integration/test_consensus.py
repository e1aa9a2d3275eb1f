"""Consensus on a 4-node devnet: submitted transactions become final on every node and the
nodes hold identical chains (block ids compared height by height over the API); a SIGKILLed
validator is restarted by the supervisor and catches up; with 2 of 4 validators stopped
(SIGSTOP) no block is finalized, and with one of them resumed (SIGCONT) progress resumes."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from lmtest import (Procs, finish, check, fail, final_height, free_port_range, http, read_devnet,
                    same_chains, status_of, wait_for)

BIN = sys.argv[1]
MAKE_TX = sys.argv[2]
NODES = 4
TXS = 5


def tx_final(url, tx_hash):
    code, body = http("GET", url + "/v1/txs/" + tx_hash)
    return body if code == 200 and body["status"] == "final" else None


def main():
    procs = Procs()
    tmp = tempfile.mkdtemp(prefix="lm_it_consensus_")
    devnet_dir = os.path.join(tmp, "net")
    stopped = []
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
            wait_for(n["name"] + " status", lambda: status_of(n["api"]), 60)

        # Transactions submitted to node0 become final on every node.
        home0 = nodes[0]["home"]

        def make_tx(nonce):
            return subprocess.run([MAKE_TX, os.path.join(home0, "genesis.json"),
                                   os.path.join(home0, "keys", "account.key"),
                                   os.path.join(home0, "passphrase"), str(nonce)],
                                  capture_output=True, timeout=30, check=True).stdout.decode().strip()

        hashes = []
        for nonce in range(TXS):
            code, body = http("POST", nodes[0]["api"] + "/v1/txs", {"tx": make_tx(nonce)})
            check(code == 200, "tx %d answered %d %r" % (nonce, code, body))
            hashes.append(body["hash"])
        for n in nodes:
            for h in hashes:
                st = wait_for("%s: tx %s final" % (n["name"], h[:8]),
                              lambda: tx_final(n["api"], h), 60)
                check(st["height"] >= 1, "final tx without a height: %r" % st)
        top = min(final_height(n["api"]) for n in nodes)
        check(top >= 1, "no block finalized")
        st0 = status_of(nodes[0]["api"])
        check(st0["round"] >= top and st0["validator"], "status of node0: %r" % st0)
        same_chains([n["api"] for n in nodes], top)
        # The block API decodes the header and the finality proof (a quorum signed it).
        code, blk = http("GET", "%s/v1/blocks/%d" % (nodes[0]["api"], top))
        check(code == 200 and blk["height"] == top and blk["epoch"] == 1 and blk["round"] >= 1,
              "block %d: %d %r" % (top, code, blk))
        fin = blk.get("finality") or {}
        check(fin.get("signers", 0) >= 3 and fin.get("commits_height", 0) >= top,
              "finality of block %d: %r" % (top, fin))
        with_txs = sum(http("GET", "%s/v1/blocks/%d" % (nodes[0]["api"], h))[1]["tx_count"]
                       for h in range(1, top + 1))
        check(with_txs >= TXS, "blocks 1..%d hold %d txs, want %d" % (top, with_txs, TXS))

        # ?wait=final answers once the committed block notifies the waiter.
        code, body = http("POST", nodes[2]["api"] + "/v1/txs?wait=final&timeout_ms=10000",
                          {"tx": make_tx(TXS)}, timeout=15)
        check(code == 200 and body["status"] == "final" and body["height"] > top,
              "wait=final answered %d %r" % (code, body))

        # A SIGKILLed validator is restarted and catches up.
        victim = nodes[1]
        os.kill(victim["pid"], signal.SIGKILL)

        def restarted():
            d = read_devnet(json_path)
            n = d["nodes"][1] if d is not None else None
            return n if n is not None and n["pid"] != victim["pid"] and n["restarts"] >= 1 else None

        again = wait_for("node1 restarted", restarted, 60)
        procs.adopt(again["pid"])
        nodes[1] = again
        target = max(final_height(n["api"]) for n in nodes) + 3
        wait_for("node1 to catch up to height %d" % target,
                 lambda: final_height(victim["api"]) >= target, 90)
        same_chains([n["api"] for n in nodes], min(final_height(n["api"]) for n in nodes))

        # 2 of 4 stopped: no quorum, nothing is finalized.
        for n in nodes[2:]:
            os.kill(n["pid"], signal.SIGSTOP)
            stopped.append(n["pid"])
        time.sleep(3)  # let in-flight messages settle
        before = [final_height(n["api"]) for n in nodes[:2]]
        time.sleep(6)
        after = [final_height(n["api"]) for n in nodes[:2]]
        check(before == after, "blocks finalized without a quorum: %r -> %r" % (before, after))

        # One restored: 3 of 4 is a quorum again.
        os.kill(nodes[2]["pid"], signal.SIGCONT)
        stopped.remove(nodes[2]["pid"])
        goal = max(after) + 2
        for n in nodes[:3]:
            wait_for("%s to pass height %d" % (n["name"], goal),
                     lambda: final_height(n["api"]) >= goal, 90)
        os.kill(nodes[3]["pid"], signal.SIGCONT)
        stopped.remove(nodes[3]["pid"])
        wait_for("node3 to catch up", lambda: final_height(nodes[3]["api"]) >= goal, 90)
        same_chains([n["api"] for n in nodes], min(final_height(n["api"]) for n in nodes))

        sup.send_signal(signal.SIGTERM)
        try:
            rc = sup.wait(timeout=60)
        except subprocess.TimeoutExpired:
            fail("devnet did not stop within 60 s of SIGTERM")
        check(rc == 0, "devnet exited with %d" % rc)
        print("ok: 4 validators finalize %d txs with identical chains; a killed validator "
              "catches up; no progress with 2 of 4 stopped, progress with 3" % TXS)
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        finish(procs, tmp)


main()
