"""Block sync and admission on a 4-validator chain run as separate `lianmeng node` processes:
the validators grow the chain with empty blocks back to back
([consensus] idle_block_interval_ms = 0) to BLOCKS heights; then the 4th is killed, loses
its data directory and joins again, late, as a new node: it fetches the blocks with their finality proofs by block sync ("sync
done" in its log, blocks/s printed), starts consensus and holds the same chain (block ids
compared at every height on all 4 nodes). The nodes keep 16 state versions
([storage] state_retain_versions = 16): each has pruned older ones (/v1/status "state") and
still answers an account query with a state proof. A node whose transport key is not registered on the
chain dials the validators: they refuse it (logged) and keep finalizing.
usage: test_sync.py LIANMENG MAKE_TX [BLOCKS]"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from lmtest import (Procs, check, fail, final_height, finish, free_port_range, http,
                    read_text, same_chains, start_node, status_of, wait_for, wait_slow)

BIN = sys.argv[1]
BLOCKS = int(sys.argv[3]) if len(sys.argv) > 3 else 200
NODES = 4
RETAIN = 16
PRUNE_STEP = 32  # STATE_PRUNE_INTERVAL_DEFAULT


def init_devnet(dir_, nodes, base):
    subprocess.run([BIN, "devnet", "--nodes", str(nodes), "--dir", dir_, "--base-port", str(base),
                    "--init-only"], check=True, capture_output=True, timeout=120)


def check_pruned(apis, home):
    """Each node keeps RETAIN..RETAIN+PRUNE_STEP-1 state versions, and proofs still work."""
    p = subprocess.run([BIN, "keys", "show", "account", "--dir", os.path.join(home, "keys"),
                        "--output", "json"], capture_output=True, timeout=30)
    check(p.returncode == 0, "keys show: %r" % p.stderr[-300:])
    addr = json.loads(p.stdout)["address"]
    for i, u in enumerate(apis):
        st = status_of(u)["state"]
        check(st["retain_versions"] == RETAIN and
              st["version"] - RETAIN - PRUNE_STEP < st["oldest_version"] <= st["version"] - RETAIN + 1,
              "node%d did not prune its state versions: %r" % (i, st))
        code, acct = http("GET", u + "/v1/accounts/" + addr)
        check(code == 200 and acct["address"] == addr and len(acct["proof"]["state_proof"]) > 0 and
              acct["proof"]["height"] + 1 >= st["oldest_version"],
              "node%d: account query after pruning: %d %r" % (i, code, acct))


def main():
    procs = Procs()
    tmp = tempfile.mkdtemp(prefix="lm_it_sync_")
    try:
        base = free_port_range(NODES + 1, 1000)
        net = os.path.join(tmp, "net")
        init_devnet(net, NODES, base)
        homes = [os.path.join(net, "node%d" % i) for i in range(NODES)]
        apis = ["http://127.0.0.1:%d" % (base + i) for i in range(NODES)]
        for h in homes:
            with open(os.path.join(h, "config.ini"), "a") as f:
                f.write("[consensus]\nidle_block_interval_ms = 0\n[storage]\n"
                        "state_retain_versions = %d\n" % RETAIN)
        t0 = time.monotonic()
        started = [start_node(procs, BIN, h) for h in homes]
        wait_slow("height %d" % BLOCKS, lambda: min(final_height(u) for u in apis) >= BLOCKS, 240)
        grow_s = time.monotonic() - t0
        print("grew %d blocks in %.1f s" % (BLOCKS, grow_s), flush=True)

        # The 4th validator loses its data and comes back: it joins as a new node would.
        started[3].kill()
        started[3].wait()
        shutil.rmtree(os.path.join(homes[3], "data"))
        os.rename(os.path.join(homes[3], "node.log"), os.path.join(homes[3], "node.log.1"))
        node3 = start_node(procs, BIN, homes[3])
        log3 = os.path.join(homes[3], "node.log")
        done = wait_slow("node3: sync done", lambda: re.search(
            r"sync done height=(\d+) applied=(\d+) ms=(\d+)", read_text(log3)), 120, node3)
        height, applied, ms = (int(x) for x in done.groups())
        check(applied >= BLOCKS - 16 and height >= BLOCKS - 8,
              "node3 synced only %d blocks to height %d" % (applied, height))
        check("sync progress height=" in read_text(log3), "no progress line in node3's log")
        rate = applied * 1000.0 / max(ms, 1)
        top = max(final_height(u) for u in apis[:3])
        wait_slow("node3 to reach height %d by consensus" % (top + 5),
                 lambda: final_height(apis[3]) >= top + 5, 60)
        upto = min(final_height(u) for u in apis)
        same_chains(apis, upto)
        check_pruned(apis, homes[0])

        # A node with keys of another chain's devnet (its transport key is not registered
        # here) but this chain's genesis and peers dials the validators and is refused.
        other = os.path.join(tmp, "other")
        init_devnet(other, 1, base + NODES)
        ihome = os.path.join(other, "node0")
        shutil.copy(os.path.join(homes[0], "genesis.json"), os.path.join(ihome, "genesis.json"))
        peers = set()
        for h in homes:
            peers.update(l for l in read_text(os.path.join(h, "config.ini")).splitlines()
                         if l.startswith("peer = "))
        with open(os.path.join(ihome, "config.ini"), "w") as f:
            f.write("[node]\nname = intruder\n[keys]\npassphrase_file = passphrase\n[p2p]\n"
                    "listen = 127.0.0.1:%d\n%s\n[api]\nlisten = 127.0.0.1:%d\n"
                    % (base + NODES + 1000, "\n".join(sorted(peers)), base + NODES))
        before = min(final_height(u) for u in apis)
        intruder = start_node(procs, BIN, ihome)
        for i, h in enumerate(homes):
            # an intruder that cannot start (its ports taken meanwhile) fails here, not later
            wait_for("node%d to refuse the intruder" % i, lambda: re.search(
                r"refused peer key=\w+ .*not a registered", read_text(os.path.join(h, "node.log")))
                or (intruder.poll() is not None and fail("the intruder exited: " + read_text(
                    os.path.join(ihome, "node.log"))[-400:])), 90)  # slow under load
        ist = wait_for("intruder status", lambda: status_of("http://127.0.0.1:%d" % (base + NODES)), 30)
        check(not ist["validator"] and ist["final"]["height"] == 0,
              "the intruder got somewhere: %r" % ist)
        check("observer: following the chain" in read_text(os.path.join(ihome, "node.log")),
              "the intruder did not start as an observer")
        wait_slow("progress with the intruder around",
                 lambda: min(final_height(u) for u in apis) >= before + 10, 60)
        print("ok: 4 validators grew %d blocks in %.1f s; a late validator synced %d blocks in "
              "%d ms (%.0f blocks/s) and holds the same %d blocks; an unregistered key is "
              "refused by all 4" % (BLOCKS, grow_s, applied, ms, rate, upto))
    finally:
        finish(procs, tmp)


main()
