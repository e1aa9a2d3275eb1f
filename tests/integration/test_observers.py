"""Observer nodes on a 4-validator chain run as separate `lianmeng node` processes
(`lianmeng devnet --nodes 4 --observers 2 --init-only`; observer transport keys are registered
in the genesis "nodes"):
 (a) the validators grow BLOCKS heights of empty blocks back to back
     ([consensus] idle_block_interval_ms = 0); then observer0 starts, late: the validators
     admit its registered key, it fetches the blocks with their finality proofs by block sync,
     follows new blocks, reports validator:false, holds the validators' chain (block ids
     compared at every height), and a tx submitted to it is gossiped to the validators and
     comes back final through sync;
 (b) observer1 runs with a transport key that is not registered (keys of another devnet): all
     4 validators refuse it (logged) and keep finalizing;
 (c) institution 1's admin removes observer0 with a system.remove_node tx: every validator
     closes its link ("no longer registered"), observer0's peer count drops to 0 and it
     stops receiving blocks while the validators go on.
usage: test_observers.py LIANMENG MAKE_TX [BLOCKS]"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from lmtest import (Procs, block_id, check, fail, final_height, finish, free_port_range, http,
                    read_text, start_node, status_of, wait_for, wait_slow)

BIN = sys.argv[1]
MAKE_TX = sys.argv[2]
BLOCKS = int(sys.argv[3]) if len(sys.argv) > 3 else 200
NODES = 4
OBSERVERS = 2


def signed_tx(home0, nonce, op, args_hex, expiry):
    """A tx from node0's admin account (institution 1), as hex."""
    return subprocess.run([MAKE_TX, os.path.join(home0, "genesis.json"),
                           os.path.join(home0, "keys", "account.key"),
                           os.path.join(home0, "passphrase"), str(nonce), "1", op, args_hex,
                           str(expiry)],
                          capture_output=True, timeout=30, check=True).stdout.decode().strip()


def main():
    procs = Procs()
    tmp = tempfile.mkdtemp(prefix="lm_it_observers_")
    try:
        total = NODES + OBSERVERS
        base = free_port_range(total, 1000)
        net = os.path.join(tmp, "net")
        subprocess.run([BIN, "devnet", "--nodes", str(NODES), "--observers", str(OBSERVERS),
                        "--dir", net, "--base-port", str(base), "--init-only"],
                       check=True, capture_output=True, timeout=120)
        homes = [os.path.join(net, "node%d" % i) for i in range(NODES)]
        ohomes = [os.path.join(net, "observer%d" % j) for j in range(OBSERVERS)]
        apis = ["http://127.0.0.1:%d" % (base + i) for i in range(NODES)]
        oapis = ["http://127.0.0.1:%d" % (base + NODES + j) for j in range(OBSERVERS)]
        genesis = json.loads(read_text(os.path.join(homes[0], "genesis.json")))
        check(len(genesis.get("nodes", [])) == OBSERVERS, "genesis nodes: %r" % genesis.get("nodes"))
        for line in read_text(os.path.join(ohomes[0], "config.ini")).splitlines():
            check(not line.startswith("peer = ") or "127.0.0.1:%d" % (base + 1000 + NODES)
                  not in line, "observer0 lists itself as a peer")
        for h in homes:
            with open(os.path.join(h, "config.ini"), "a") as f:
                f.write("[consensus]\nidle_block_interval_ms = 0\n")

        # (a) the validators grow the chain; observer0 joins late.
        t0 = time.monotonic()
        started = [start_node(procs, BIN, h) for h in homes]
        for i, u in enumerate(apis):
            # a node that cannot bind its ports (taken since free_port_range) exits: fail fast
            wait_for("node%d to answer" % i, lambda: status_of(u) or (
                started[i].poll() is not None and fail("node%d exited: %s" % (
                    i, read_text(os.path.join(homes[i], "node.log"))[-300:]))), 30)
        wait_slow("height %d" % BLOCKS, lambda: min(final_height(u) for u in apis) >= BLOCKS, 240)
        print("grew %d blocks in %.1f s" % (BLOCKS, time.monotonic() - t0), flush=True)
        target = min(final_height(u) for u in apis)
        t1 = time.monotonic()
        observer0 = start_node(procs, BIN, ohomes[0])
        wait_slow("observer0 to sync to %d" % target,
                  lambda: final_height(oapis[0]) >= target, 180, observer0)
        sync_s = time.monotonic() - t1
        log_o0 = os.path.join(ohomes[0], "node.log")
        check("observer: following the chain" in read_text(log_o0), "observer0 did not start as one")
        wait_for("a progress line in observer0's log",
                 lambda: "sync progress height=" in read_text(log_o0), 10)
        st = status_of(oapis[0])
        check(st is not None and st["validator"] is False and st["peers"] >= 3,
              "observer0 status: %r" % st)
        top = max(final_height(u) for u in apis)
        wait_slow("observer0 to follow to %d" % (top + 20),
                  lambda: final_height(oapis[0]) >= top + 20, 60)
        upto = final_height(oapis[0])
        for h in range(1, upto + 1):
            a = block_id(oapis[0], h)
            b = block_id(apis[h % NODES], h)
            check(a is not None and a == b, "observer0 differs at height %d: %r %r" % (h, a, b))
        print("observer0 synced %d blocks in %.1f s (%.0f blocks/s) and follows (height %d)"
              % (target, sync_s, target / max(sync_s, 0.001), upto), flush=True)

        # A tx submitted to the observer reaches the validators and comes back final.
        height = final_height(apis[0])
        tx = signed_tx(homes[0], 0, "account.add_key", "01020304", height + 5000)
        code, body = http("POST", oapis[0] + "/v1/txs?wait=final&timeout_ms=10000", {"tx": tx},
                          timeout=15)
        check(code == 200 and body["status"] == "final", "tx via observer0: %d %r" % (code, body))

        # (b) observer1 with a key that is not registered is refused by every validator.
        other = os.path.join(tmp, "other")
        subprocess.run([BIN, "devnet", "--nodes", "1", "--dir", other, "--base-port",
                        str(base + total), "--init-only"], check=True, capture_output=True,
                       timeout=120)
        shutil.rmtree(os.path.join(ohomes[1], "keys"))
        shutil.copytree(os.path.join(other, "node0", "keys"), os.path.join(ohomes[1], "keys"))
        shutil.copy(os.path.join(other, "node0", "passphrase"), os.path.join(ohomes[1], "passphrase"))
        before = min(final_height(u) for u in apis)
        start_node(procs, BIN, ohomes[1])
        for i, h in enumerate(homes):
            wait_for("node%d to refuse observer1" % i, lambda: re.search(
                r"refused peer key=\w+ .*not a registered", read_text(os.path.join(h, "node.log"))), 30)
        st1 = wait_for("observer1 status", lambda: status_of(oapis[1]), 30)
        check(not st1["validator"] and st1["final"]["height"] == 0 and st1["peers"] == 0,
              "the unregistered observer got somewhere: %r" % st1)
        wait_slow("progress with observer1 around",
                  lambda: min(final_height(u) for u in apis) >= before + 10, 60)

        # (c) removing observer0 on chain closes its links.
        obs0_key = next(n["transport_key"] for n in genesis["nodes"] if n["institution"] == 1)
        check(obs0_key.startswith("ed25519:"), "observer0 key %r" % obs0_key)
        args = "01" + obs0_key.split(":", 1)[1]  # public_key: alg byte (Ed25519 = 1), key
        height = final_height(apis[0])
        tx = signed_tx(homes[0], 1, "system.remove_node", args, height + 5000)
        code, body = http("POST", apis[0] + "/v1/txs?wait=final&timeout_ms=10000", {"tx": tx},
                          timeout=15)
        check(code == 200 and body["status"] == "final", "remove_node: %d %r" % (code, body))
        check((body.get("receipt") or {}).get("status") == 0, "remove_node failed: %r" % body)
        removed_at = body["height"]
        for i, h in enumerate(homes):
            wait_for("node%d to close observer0's link" % i, lambda: re.search(
                r"closing link of a key no longer registered", read_text(os.path.join(h, "node.log"))),
                30)
        wait_for("observer0 to lose its peers",
                 lambda: (status_of(oapis[0]) or {}).get("peers", -1) == 0, 30)
        # Blocks of a response received before the link closed are still applied (one at a
        # time on its ledger thread): wait until its height holds still for a second.
        last = [final_height(oapis[0]), time.monotonic()]

        def settled():
            h = final_height(oapis[0])
            if h != last[0]:
                last[0], last[1] = h, time.monotonic()
            return time.monotonic() - last[1] >= 1.0

        wait_for("observer0 to apply what it had", settled, 60, poll_s=0.2)
        stuck = final_height(oapis[0])
        check(stuck <= removed_at + 2 * 128, "observer0 went on to %d" % stuck)
        v_before = min(final_height(u) for u in apis)
        wait_slow("validators to go on", lambda: min(final_height(u) for u in apis) >= v_before + 50,
                  60)
        time.sleep(1)
        check(final_height(oapis[0]) == stuck, "observer0 still receives blocks after removal: "
              "%d then %d" % (stuck, final_height(oapis[0])))
        st = status_of(oapis[0])
        check(st["peers"] == 0, "observer0 reconnected: %r" % st)
        print("ok: observer0 synced %d blocks late in %.1f s, follows, validator:false, same "
              "chain to %d; an unregistered observer is refused by all 4; after remove_node "
              "(height %d) observer0 has 0 peers and stays at %d while the validators go on"
              % (target, sync_s, upto, removed_at, stuck))
    finally:
        finish(procs, tmp)


main()
