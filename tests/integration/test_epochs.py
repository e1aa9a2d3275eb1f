"""Epoch change end to end on 4 validators run as separate `lianmeng node` processes.

node3 is stopped (SIGKILL); the founding institutions of node0, node1 and node2 (3 of 4, more
than 2/3) propose and approve a new validator set through the system module (make_tx
propose_vs / approve_vs): the same 4 validators with node0's power raised to 2. Every running
node moves to epoch 2 and blocks keep being finalized; /v1/validators?epoch=1 and ?epoch=2
answer the old and the new set. A document notarized after the change has a proof bundle that
carries the epoch change proof and verifies offline against the genesis file alone
(`lianmeng verify --genesis`). Then node3 comes back: it was offline across the change, syncs
the blocks of both epochs (each range checked against the set of its epoch), joins consensus
in epoch 2 and holds the same chain; it answers both epochs' sets too. Last, epoch 3 leaves
node3 out: the other three go on without it (node3 finalizes nothing more) and the first document's bundle, fetched again,
carries both epoch changes and still verifies.
usage: test_epochs.py LIANMENG MAKE_TX"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from lmtest import (Procs, check, fail, final_height, finish, free_port_range, http,
                    read_text, same_chains, start_node, status_of, wait_for, wait_slow)

BIN = sys.argv[1]
MAKE_TX = sys.argv[2]
NODES = 4
POWERS = "2,1,1,1"


def epoch_of(url):
    st = status_of(url)
    return st["epoch"] if st is not None else -1


def system_tx(home, nonce, kind, epoch, powers_):
    """A propose_vs or approve_vs tx for the set of `epoch` with powers_ (one per genesis
    validator, 0: left out), from the node's admin account."""
    return subprocess.run([MAKE_TX, os.path.join(home, "genesis.json"),
                           os.path.join(home, "keys", "account.key"),
                           os.path.join(home, "passphrase"), str(nonce), kind, str(epoch),
                           powers_],
                          capture_output=True, timeout=30, check=True).stdout.decode().strip()


def change_set(api, homes, signers, epoch, powers_):
    """Proposes (first signer) and approves (the others) a set; each tx final in turn."""
    for k, (i, nonce) in enumerate(signers):
        kind = "propose_vs" if k == 0 else "approve_vs"
        code, body = http("POST", api + "/v1/txs?wait=final&timeout_ms=10000",
                          {"tx": system_tx(homes[i], nonce, kind, epoch, powers_)}, timeout=30)
        check(code == 200 and body["status"] == "final" and body["receipt"]["status"] == 0,
              "%s for epoch %d from node%d: %d %r" % (kind, epoch, i, code, body))


def powers(url, epoch):
    code, body = http("GET", "%s/v1/validators?epoch=%d" % (url, epoch))
    check(code == 200 and body["epoch"] == epoch, "%s validators?epoch=%d: %d %r" %
          (url, epoch, code, body))
    return [v["power"] for v in body["validators"]]


def check_sets(url):
    check(powers(url, 1) == [1, 1, 1, 1], "%s: epoch 1 set %r" % (url, powers(url, 1)))
    check(powers(url, 2) == [2, 1, 1, 1], "%s: epoch 2 set %r" % (url, powers(url, 2)))
    code, body = http("GET", url + "/v1/validators?epoch=3")
    check(code == 404, "%s: validators?epoch=3 answered %d %r" % (url, code, body))


def cli(args, expect, what):
    p = subprocess.run([BIN] + args, capture_output=True, timeout=60)
    check(p.returncode == expect, "%s: exit %d, want %d; stderr %r" %
          (what, p.returncode, expect, p.stderr.decode()[-400:]))
    return p.stdout.decode()


def main():
    procs = Procs()
    tmp = tempfile.mkdtemp(prefix="lm_it_epochs_")
    try:
        base = free_port_range(NODES, 1000)
        net = os.path.join(tmp, "net")
        subprocess.run([BIN, "devnet", "--nodes", str(NODES), "--dir", net, "--base-port",
                        str(base), "--init-only"], check=True, capture_output=True, timeout=120)
        homes = [os.path.join(net, "node%d" % i) for i in range(NODES)]
        apis = ["http://127.0.0.1:%d" % (base + i) for i in range(NODES)]
        started = [start_node(procs, BIN, h) for h in homes]
        wait_slow("height 3 on all", lambda: min(final_height(u) for u in apis) >= 3, 90)

        # node3 goes away before the change and stays away across it.
        started[3].kill()
        started[3].wait()
        t0 = time.monotonic()
        change_set(apis[0], homes, ((0, 0), (1, 0), (2, 0)), 2, POWERS)
        for u in apis[:3]:
            wait_slow(u + " in epoch 2", lambda: epoch_of(u) == 2, 60)
        change_s = time.monotonic() - t0
        top = max(final_height(u) for u in apis[:3])
        wait_slow("5 more final blocks in epoch 2",
                  lambda: min(final_height(u) for u in apis[:3]) >= top + 5, 60)
        code, blk = http("GET", "%s/v1/blocks/%d" % (apis[0], top + 5))
        check(code == 200 and blk["epoch"] == 2, "block %d: %d %r" % (top + 5, code, blk))
        for u in apis[:3]:
            check_sets(u)
        for i in range(3):
            check(re.search(r"epoch kept epoch=2 ending_height=\d+",
                            read_text(os.path.join(homes[i], "node.log"))),
                  "node%d did not keep epoch 2" % i)

        # A document notarized in epoch 2: its bundle carries the epoch change proof and
        # verifies against the genesis file alone.
        doc = os.path.join(tmp, "after.txt")
        with open(doc, "w") as f:
            f.write("anchored after the validator-set change\n")
        proof = os.path.join(tmp, "after.lmproof")
        genesis = os.path.join(homes[1], "genesis.json")
        sign = ["--key", "account", "--dir", os.path.join(homes[1], "keys"),
                "--passphrase-file", os.path.join(homes[1], "passphrase")]
        got = json.loads(cli(["notarize", doc, "--out", proof, "--output", "json", "--node",
                              apis[1]] + sign, 0, "notarize in epoch 2"))
        got_v = json.loads(cli(["verify", proof, "--genesis", genesis, "--file", doc,
                                "--output", "json"], 0, "verify of an epoch-2 bundle"))
        check(got_v["valid"] and got_v["height"] == got["height"], "verify %r" % got_v)
        with open(proof, "rb") as f:
            good = f.read()
        code, anchors = http("GET", apis[2] + "/v1/notary/" + got["document"])
        check(code == 200 and len(anchors["anchors"]) == 1, "notary %d %r" % (code, anchors))
        later = os.path.join(tmp, "later.lmproof")
        with open(later, "wb") as f:
            f.write(bytes.fromhex(anchors["anchors"][0]["bundle"]))
        cli(["verify", later, "--genesis", genesis], 0, "verify of a bundle from node2")
        bad = bytearray(good)  # a flipped byte in the epoch change or later must not verify
        bad[len(bad) // 2] ^= 0x01
        with open(later, "wb") as f:
            f.write(bytes(bad))
        p = subprocess.run([BIN, "verify", later, "--genesis", genesis], capture_output=True,
                           timeout=30)
        check(p.returncode != 0, "a tampered epoch-2 bundle verified")

        # node3 returns: it syncs across the change and joins consensus in epoch 2.
        os.rename(os.path.join(homes[3], "node.log"), os.path.join(homes[3], "node.log.1"))
        t1 = time.monotonic()
        node3 = start_node(procs, BIN, homes[3])
        log3 = os.path.join(homes[3], "node.log")
        wait_slow("node3: sync done", lambda: re.search(r"sync done height=(\d+)", read_text(log3)),
                  90, node3)
        wait_slow("node3 in epoch 2", lambda: epoch_of(apis[3]) == 2, 60)
        check(re.search(r"epoch kept epoch=2", read_text(log3)), "node3 did not keep epoch 2")
        top = max(final_height(u) for u in apis[:3])
        wait_slow("node3 to reach height %d" % (top + 5),
                  lambda: final_height(apis[3]) >= top + 5, 90)
        rejoin_s = time.monotonic() - t1
        check_sets(apis[3])
        upto = min(final_height(u) for u in apis)
        same_chains(apis, upto)

        # Epoch 3 leaves node3 out (node3 itself approves): the other three go on without it;
        # the epoch-2 document's bundle now
        # carries two epoch changes and still verifies.
        t2 = time.monotonic()
        change_set(apis[0], homes, ((3, 0), (0, 1), (2, 1)), 3, "2,1,1,0")
        for u in apis[:3]:
            wait_slow(u + " in epoch 3", lambda: epoch_of(u) == 3, 60)
        remove_s = time.monotonic() - t2
        top = max(final_height(u) for u in apis[:3])
        wait_slow("5 more final blocks in epoch 3 without node3",
                  lambda: min(final_height(u) for u in apis[:3]) >= top + 5, 60)
        code, body = http("GET", apis[1] + "/v1/validators?epoch=3")
        check(code == 200 and [v["power"] for v in body["validators"]] == [2, 1, 1],
              "epoch 3 set %d %r" % (code, body))
        for u in apis[:3]:
            check(powers(u, 1) == [1, 1, 1, 1] and powers(u, 2) == [2, 1, 1, 1],
                  u + ": past sets after epoch 3")
        # node3 may or may not have seen the epoch-ending commit before the others dropped its
        # links (validators admit only the current set's transport keys); either way it
        # finalizes nothing past the end of epoch 2 and does not validate in epoch 3.
        st3 = status_of(apis[3])
        check(st3 is not None and st3["final"]["height"] <= top and
              (st3["epoch"] == 2 or not st3["validator"]), "node3 after its removal: %r" % st3)
        code, anchors = http("GET", apis[0] + "/v1/notary/" + got["document"])
        check(code == 200 and len(anchors["anchors"]) == 1, "notary %d %r" % (code, anchors))
        with open(later, "wb") as f:
            f.write(bytes.fromhex(anchors["anchors"][0]["bundle"]))
        got_v = json.loads(cli(["verify", later, "--genesis", genesis, "--file", doc,
                                "--output", "json"], 0, "verify of a bundle from epoch 3"))
        check(got_v["valid"] and got_v["final_height"] > top, "verify in epoch 3 %r" % got_v)

        # node1 restarts in epoch 3: it reloads the two epoch ends it saw (so it can still hand
        # EpochChangeProofs to peers left behind) and goes on with the others.
        started[1].kill()
        started[1].wait()
        with open(os.path.join(homes[1], "node.log"), "a") as f:
            f.write("--- restart ---\n")
        started[1] = start_node(procs, BIN, homes[1])
        wait_slow("node1 restarted with its epoch ends", lambda: re.search(
            r"--- restart ---[\s\S]*consensus started epoch=3 .*epoch_ends=2",
            read_text(os.path.join(homes[1], "node.log"))), 60, started[1])
        top = max(final_height(u) for u in apis[:3])
        wait_slow("node1 final again after its restart",
                  lambda: final_height(apis[1]) is not None and final_height(apis[1]) >= top + 3,
                  60)
        print("ok: epoch 2 on 3 running validators %.1f s after the proposal; epoch-2 "
              "notary bundle verifies offline; node3 synced across the change and rejoined "
              "in %.1f s; %d identical blocks on 4 nodes; epoch 3 without node3 %.1f s after "
              "its proposal, bundle with 2 epoch changes verifies" %
              (change_s, rejoin_s, upto, remove_s), flush=True)
    finally:
        finish(procs, tmp)


main()
