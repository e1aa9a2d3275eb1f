"""Load on a 4-validator devnet: 10,000 txs (2,500 from each node's admin account, submitted in
batch POSTs of up to 64 per account, the mempool's per-account pending limit, to all four
nodes in turn, each wave once the last is final on every node) all become final, and the four nodes hold identical chains (block ids compared
at every height, and the tx count of the blocks adds up to 10,000 on each node).
usage: test_load.py LIANMENG MAKE_TX [TXS]"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from lmtest import (Procs, check, fail, final_height, finish, free_port_range, http, read_devnet,
                    status_of, wait_for)

BIN = sys.argv[1]
MAKE_TX = sys.argv[2]
TXS = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
NODES = 4
WAVE = 64


def block_of(url, height):
    for _ in range(5):
        code, body = http("GET", "%s/v1/blocks/%d" % (url, height))
        if code == 200:
            return body
        time.sleep(0.2)
    return None


def tx_final(url, tx_hash):
    code, body = http("GET", url + "/v1/txs/" + tx_hash)
    return code == 200 and body["status"] == "final"


def main():
    procs = Procs()
    tmp = tempfile.mkdtemp(prefix="lm_it_load_")
    try:
        base = free_port_range(NODES, 1000)
        net = os.path.join(tmp, "net")
        with open(os.path.join(tmp, "devnet.out"), "w") as out:
            sup = procs.start([BIN, "devnet", "--nodes", str(NODES), "--dir", net,
                               "--base-port", str(base)], stdout=out, stderr=subprocess.STDOUT)
        nodes = wait_for("devnet.json", lambda: read_devnet(os.path.join(net, "devnet.json")),
                         60)["nodes"]
        for n in nodes:
            procs.adopt(n["pid"])
        for n in nodes:
            wait_for(n["name"] + " status", lambda: status_of(n["api"]), 60)
        per = TXS // NODES
        txs = []
        for n in nodes:
            h = n["home"]
            out = subprocess.run([MAKE_TX, os.path.join(h, "genesis.json"),
                                  os.path.join(h, "keys", "account.key"),
                                  os.path.join(h, "passphrase"), "0", str(per)],
                                 capture_output=True, timeout=120, check=True).stdout.decode()
            txs.append(out.split())
        t0 = time.monotonic()
        posted = {n["api"]: [0, 0] for n in nodes}  # api -> [requests, txs]
        for start in range(0, per, WAVE):
            last = []
            for i, n in enumerate(nodes):
                batch = txs[i][start:start + WAVE]
                target = nodes[(i + start // WAVE) % NODES]["api"]
                code, body = http("POST", target + "/v1/txs", {"txs": batch}, timeout=30)
                check(code == 200, "batch at %d answered %d %r" % (start, code, body))
                res = body["results"] if isinstance(body, dict) and "results" in body else body
                hashes = [r.get("hash") for r in res]
                check(None not in hashes and len(hashes) == len(batch),
                      "batch at %d: %r" % (start, res[:2]))
                last.append((target, hashes[-1]))
                posted[target][0] += 1
                posted[target][1] += len(batch)
            # Nodes commit at different instants: the next wave goes to other nodes, so each
            # must have committed this one (else its mempool still counts it against the
            # account's pending limit of 64).
            for _, hsh in last:
                for n in nodes:
                    wait_for("tx %s final" % hsh[:8], lambda: tx_final(n["api"], hsh), 60)
        elapsed = time.monotonic() - t0
        # The chain never stops (empty blocks after the idle interval) and the next leader
        # commits one block before the others learn its QC, so the nodes are rarely at one
        # height at one instant: compare every node's chain up to a height all have reached.
        top = max(final_height(n["api"]) for n in nodes)
        wait_for("all nodes at height %d" % top,
                 lambda: all(final_height(n["api"]) >= top for n in nodes), 30)
        counts = []
        for n in nodes:
            total = 0
            for h in range(1, top + 1):
                b = block_of(n["api"], h)
                check(b is not None, "%s: no block %d" % (n["name"], h))
                total += b["tx_count"]
            counts.append(total)
        check(counts == [per * NODES] * NODES, "tx counts per node: %r" % counts)
        for h in range(1, top + 1):
            ids = {block_of(n["api"], h)["id"] for n in nodes}
            check(len(ids) == 1, "block ids differ at height %d: %r" % (h, ids))
        # Each node gossiped exactly the txs its clients sent it, in one FRAME_TXS per request.
        for n in nodes:
            code, st = http("GET", n["api"] + "/v1/status")
            requests, sent = posted[n["api"]]
            g = st["gossip"]
            check(code == 200 and g["txs"] == sent and 1 <= g["frames"] <= requests,
                  "%s gossip %r after %d requests of %d txs" % (n["name"], g, requests, sent))
        sup.send_signal(signal.SIGTERM)
        sup.wait(timeout=60)
        print("ok: %d txs final in %.1f s (%.0f tx/s) in %d blocks; identical chains on %d nodes"
              % (per * NODES, elapsed, per * NODES / elapsed, top, NODES))
    finally:
        finish(procs, tmp)


main()
