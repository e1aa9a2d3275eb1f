"""The front door on a 1-validator devnet: every read endpoint and the `status` / `query`
CLI commands with good and bad input; hostile requests (malformed body, bad signature,
replayed tx, oversized body, huge header, many idle connections) are refused with the
documented error and the node keeps serving. A final tx's Merkle inclusion proof is checked
here independently (RFC 6962 over SHA-256) against the header whose hash is the block id."""
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

from lmtest import Procs, finish, check, fail, free_port_range, http, status_of, wait_for

BIN = sys.argv[1]
MAKE_TX = sys.argv[2]


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def is_error(body, code=None):
    ok = isinstance(body, dict) and isinstance(body.get("error"), dict) and \
        isinstance(body["error"].get("code"), str) and \
        isinstance(body["error"].get("message"), str)
    return ok and (code is None or body["error"]["code"] == code)


def sha256(data):
    return hashlib.sha256(data).digest()


def merkle_verify(leaf_hex, index, size, path_hex, root_hex):
    """RFC 9162 2.1.3.2 inclusion proof verification."""
    if index >= size:
        return False
    fn, sn = index, size - 1
    r = sha256(b"\x00" + bytes.fromhex(leaf_hex))
    for p_hex in path_hex:
        p = bytes.fromhex(p_hex)
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = sha256(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r.hex() == root_hex


def raw_request(port, data, timeout=5):
    """Sends raw bytes, returns the status code of the answer (0 if none)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        answer = b""
        while b"\r\n" not in answer:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
        parts = answer.split(b" ", 2)
        return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0
    except (OSError, socket.timeout):
        return 0
    finally:
        s.close()


def cli(args, expect, what):
    p = subprocess.run([BIN] + args, capture_output=True, timeout=30)
    check(p.returncode == expect, "%s: exit %d, want %d; stderr %r" %
          (what, p.returncode, expect, p.stderr.decode()[-400:]))
    return p.stdout.decode()


def main():
    procs = Procs()
    tmp = tempfile.mkdtemp(prefix="lm_it_frontdoor_")
    devnet_dir = os.path.join(tmp, "net")
    idle = []
    try:
        base = free_port_range(1, 1000)
        with open(os.path.join(tmp, "devnet.out"), "w") as out:
            procs.start([BIN, "devnet", "--nodes", "1", "--dir", devnet_dir, "--base-port",
                         str(base)], stdout=out, stderr=subprocess.STDOUT)
        nodes = wait_for("devnet.json", lambda: read_json(os.path.join(devnet_dir, "devnet.json")),
                         60)["nodes"]
        node = nodes[0]
        procs.adopt(node["pid"])
        api = node["api"]
        home = node["home"]
        st = wait_for("status", lambda: status_of(api), 60)
        port = int(api.rsplit(":", 1)[1])
        node_opt = ["--node", api]

        def make_tx(nonce):
            return subprocess.run([MAKE_TX, os.path.join(home, "genesis.json"),
                                   os.path.join(home, "keys", "account.key"),
                                   os.path.join(home, "passphrase"), str(nonce)],
                                  capture_output=True, timeout=30,
                                  check=True).stdout.decode().strip()

        # status, over HTTP and the CLI.
        check(st["chain_id"] and len(st["genesis_hash"]) == 64, "status %r" % st)
        got = json.loads(cli(["status", "--output", "json"] + node_opt, 0, "status --output json"))
        check(got["genesis_hash"] == st["genesis_hash"], "CLI status %r" % got)
        check("final:" in cli(["status"] + node_opt, 0, "status"), "status text output")
        cli(["status", "--node", "127.0.0.1:1"], 3, "status of an unreachable node")
        cli(["status", "--bogus"], 1, "status with an unknown option")

        # A tx final with ?wait=final, then GET /v1/txs/{hash} with its inclusion proof.
        tx0 = make_tx(0)
        code, body = http("POST", api + "/v1/txs?wait=final&timeout_ms=10000", {"tx": tx0},
                          timeout=15)
        check(code == 200 and body["status"] == "final", "wait=final: %d %r" % (code, body))
        tx_hash = body["hash"]
        code, tx = http("GET", api + "/v1/txs/" + tx_hash)
        check(code == 200 and tx["status"] == "final" and tx["height"] >= 1, "tx %r" % tx)
        inc = tx["inclusion"]
        check(inc["leaf"] == tx_hash, "inclusion leaf %r" % inc)
        check(merkle_verify(inc["leaf"], inc["index"], inc["tree_size"], inc["path"],
                            inc["payload_root"]), "inclusion proof does not verify: %r" % inc)
        header = bytes.fromhex(inc["header"])
        check(sha256(header).hex() == tx["block_id"], "header hash is not the block id")
        # The header ends with u32 tx_count, payload_root, parent_exec_root,
        # parent_receipts_root: the proof's tree size is the count the block id binds.
        check(header[-96:-64].hex() == inc["payload_root"], "payload_root not in the header")
        check(int.from_bytes(header[-100:-96], "little") == inc["tx_count"] == inc["tree_size"],
              "tree size not bound by the header: %r" % inc)
        bad_root = ("0" if inc["payload_root"][0] != "0" else "1") + inc["payload_root"][1:]
        check(not merkle_verify(inc["leaf"], inc["index"], inc["tree_size"], inc["path"],
                                bad_root), "a wrong root verifies")
        got = json.loads(cli(["query", "tx", tx_hash, "--output", "json"] + node_opt, 0,
                             "query tx"))
        check(got["status"] == "final", "query tx %r" % got)
        # `lianmeng verify` checks the saved answer: header -> block id, path -> payload_root
        # for the tree size the header's tx_count binds; another size is refused.
        tx_proof = os.path.join(tmp, "tx.json")
        with open(tx_proof, "w") as f:
            json.dump(got, f)
        genesis0 = os.path.join(home, "genesis.json")
        got_v = json.loads(cli(["verify", tx_proof, "--genesis", genesis0, "--output", "json"],
                               0, "verify of a tx inclusion proof"))
        check(got_v["valid"] and got_v["tx"] == tx_hash and
              got_v["tx_count"] == inc["tx_count"], "verify tx %r" % got_v)
        got["inclusion"]["tree_size"] += 1
        with open(tx_proof, "w") as f:
            json.dump(got, f)
        cli(["verify", tx_proof, "--genesis", genesis0], 2, "verify with another tree size")
        code, body = http("GET", api + "/v1/txs/" + "ab" * 32)
        check(code == 404 and body["status"] == "unknown" and is_error(body, "not_found"),
              "unknown tx: %d %r" % (code, body))
        cli(["query", "tx", "ab" * 32] + node_opt, 2, "query of an unknown tx")
        cli(["query", "tx", "xyz"] + node_opt, 1, "query tx with a bad hash")
        code, body = http("GET", api + "/v1/txs/zz")
        check(code == 400 and is_error(body), "bad tx hash: %d %r" % (code, body))

        # Replayed, badly signed and malformed transactions are refused.
        code, body = http("POST", api + "/v1/txs", {"tx": tx0})
        check(400 <= code < 500 and is_error(body), "replay: %d %r" % (code, body))
        tx1 = make_tx(1)
        forged = tx1[:-2] + ("00" if tx1[-2:] != "00" else "01")
        code, body = http("POST", api + "/v1/txs", {"tx": forged})
        check(400 <= code < 500 and is_error(body), "bad signature: %d %r" % (code, body))
        code, body = http("POST", api + "/v1/txs", b"{not json")
        check(code == 400 and is_error(body), "malformed body: %d %r" % (code, body))
        code, body = http("POST", api + "/v1/txs", {"tx": "00ff"})
        check(400 <= code < 500 and is_error(body), "garbage tx: %d %r" % (code, body))
        code, body = http("POST", api + "/v1/txs", {"tx": "a" * (2 * 1024 * 1024)}, timeout=15)
        check(code in (413, 0), "oversized body: %d %r" % (code, body))
        check(raw_request(port, b"GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: " +
                          b"a" * 65536 + b"\r\n\r\n") in (431, 400, 0),
              "huge header was served")

        # Accounts: the devnet's account key, with a state proof; unknown and bad addresses.
        key = json.loads(cli(["keys", "show", "account", "--dir", os.path.join(home, "keys"),
                              "--output", "json"], 0, "keys show"))
        addr = key["address"]
        code, acct = http("GET", api + "/v1/accounts/" + addr)
        check(code == 200 and acct["address"] == addr and acct["nonce"] >= 1 and
              acct["keys"][0]["public_key"] == key["public_key"], "account %d %r" % (code, acct))
        proof = acct["proof"]
        check(len(proof["root"]) == 64 and proof["height"] >= tx["height"] and
              len(proof["state_proof"]) > 0 and len(proof["value"]) > 0, "proof %r" % proof)
        code, blk = http("GET", "%s/v1/blocks/%d" % (api, proof["height"]))
        check(code == 200 and blk["finality"]["commits_height"] == proof["height"] and
              len(proof["finality_proof"]) > 0,
              "the account proof's block is not the one its commit cert names: %r %r" %
              (blk.get("finality"), proof["height"]))
        got = json.loads(cli(["query", "account", addr, "--output", "json"] + node_opt, 0,
                             "query account"))
        check(got["nonce"] == acct["nonce"], "query account %r" % got)
        code, body = http("GET", api + "/v1/accounts/" + "00" * 20)
        check(code == 404 and is_error(body, "not_found"), "unknown account %d %r" % (code, body))
        code, body = http("GET", api + "/v1/accounts/abc")
        check(code == 400 and is_error(body), "bad address %d %r" % (code, body))
        cli(["query", "account", "00" * 20] + node_opt, 2, "query of an unknown account")
        cli(["query", "account", "nothex"] + node_opt, 1, "query account with a bad address")

        # Validators and blocks.
        code, vs = http("GET", api + "/v1/validators")
        check(code == 200 and vs["epoch"] == st["epoch"] and len(vs["validators"]) == 1,
              "validators %d %r" % (code, vs))
        code, vs2 = http("GET", "%s/v1/validators?epoch=%d" % (api, vs["epoch"]))
        check(code == 200 and vs2 == vs, "validators of the epoch %d" % code)
        code, body = http("GET", api + "/v1/validators?epoch=999")
        check(code == 404 and is_error(body), "validators of an unknown epoch %d" % code)
        code, body = http("GET", api + "/v1/validators?epoch=x")
        check(code == 400 and is_error(body), "validators?epoch=x %d" % code)
        cli(["query", "validators"] + node_opt, 0, "query validators")
        cli(["query", "validators", "--epoch", "x"] + node_opt, 1, "query validators --epoch x")
        got = json.loads(cli(["query", "block", str(tx["height"]), "--output", "json"] +
                             node_opt, 0, "query block"))
        check(got["id"] == tx["block_id"], "query block %r" % got.get("id"))
        got = json.loads(cli(["query", "block", tx["block_id"], "--output", "json"] + node_opt,
                             0, "query block by id"))
        check(got["height"] == tx["height"], "query block by id")
        cli(["query", "block", "99999999"] + node_opt, 2, "query of a future block")
        code, blk = http("GET", "%s/v1/blocks/%d" % (api, tx["height"]))
        check(code == 200 and tx_hash in blk["tx_hashes"] and "txs" not in blk and
              len(blk["tx_hashes"]) == blk["tx_count"], "block without ?txs: %r" % blk)
        code, full = http("GET", "%s/v1/blocks/%d?txs=1" % (api, tx["height"]))
        check(code == 200 and [sha256(bytes.fromhex(t)).hex() for t in full["txs"]] ==
              blk["tx_hashes"], "?txs=1: the txs do not hash to tx_hashes")

        # The binary batch form: u32 LE length + canonical bytes, answered per tx.
        batch_txs = [bytes.fromhex(make_tx(n)) for n in (2, 3)]
        batch = b"".join(len(t).to_bytes(4, "little") + t for t in batch_txs)
        code, body = http("POST", api + "/v1/txs", batch,
                          content_type="application/vnd.lianmeng.txs")
        check(code == 200 and body["accepted"] == 2 and
              [r["hash"] for r in body["results"]] == [sha256(t).hex() for t in batch_txs],
              "binary batch: %d %r" % (code, body))
        code, body = http("POST", api + "/v1/txs", batch[:-1],
                          content_type="application/vnd.lianmeng.txs")
        check(code == 400 and is_error(body, "malformed"), "truncated binary batch %d" % code)
        cli(["query", "nothing"] + node_opt, 1, "query of an unknown kind")
        code, body = http("GET", api + "/v1/nowhere")
        check(code == 404 and is_error(body, "not_found"), "unknown route %d" % code)
        code, body = http("POST", api + "/v1/accounts/" + addr, {"x": 1})
        check(code == 405 and is_error(body), "POST to a GET route %d" % code)

        # Many idle connections: the node still answers.
        for _ in range(300):  # past the API's 256-connection cap
            try:
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError:
                break
        time.sleep(0.5)
        for s in idle:
            s.close()
        idle = []
        wait_for("status after idle connections", lambda: status_of(api), 15)

        # Still serving and still finalizing: tx 1 (the honest one) becomes final.
        code, body = http("POST", api + "/v1/txs?wait=final&timeout_ms=10000", {"tx": tx1},
                          timeout=15)
        check(code == 200 and body["status"] == "final", "tx 1 after the abuse: %d %r" %
              (code, body))

        # notarize -> verify offline against the genesis file; tampering is detected.
        doc = os.path.join(tmp, "contract.txt")
        with open(doc, "w") as f:
            f.write("the parties agree\n")
        proof_path = os.path.join(tmp, "contract.lmproof")
        genesis = os.path.join(home, "genesis.json")
        sign = ["--key", "account", "--dir", os.path.join(home, "keys"), "--passphrase-file",
                os.path.join(home, "passphrase")]
        got = json.loads(cli(["notarize", doc, "--kind", "contract", "--note", "v1", "--out",
                              proof_path, "--output", "json"] + sign + node_opt, 0, "notarize"))
        check(got["height"] >= 1 and got["account"] == addr, "notarize %r" % got)
        got_v = json.loads(cli(["verify", proof_path, "--genesis", genesis, "--file", doc,
                                "--output", "json"], 0, "verify"))
        check(got_v["valid"] and got_v["document"] == got["document"] and
              got_v["height"] == got["height"] and got_v["kind"] == "contract" and
              got_v["note"] == "v1", "verify %r" % got_v)
        code, anchors = http("GET", api + "/v1/notary/" + got["document"])
        check(code == 200 and len(anchors["anchors"]) == 1 and
              anchors["anchors"][0]["account"] == addr, "notary %d %r" % (code, anchors))
        later = os.path.join(tmp, "later.lmproof")
        with open(later, "wb") as f:
            f.write(bytes.fromhex(anchors["anchors"][0]["bundle"]))
        cli(["verify", later, "--genesis", genesis], 0, "verify of a bundle fetched later")
        cli(["query", "notary", got["document"]] + node_opt, 0, "query notary")
        with open(proof_path, "rb") as f:
            good = f.read()
        step = max(1, len(good) // 25)
        for pos in range(0, len(good), step):
            bad = bytearray(good)
            bad[pos] ^= 0x01
            with open(later, "wb") as f:
                f.write(bad)
            cli(["verify", later, "--genesis", genesis], 2, "verify of a proof with byte %d "
                "flipped" % pos)
        with open(later, "wb") as f:
            f.write(good[:len(good) // 2])
        cli(["verify", later, "--genesis", genesis], 2, "verify of a truncated proof")
        other = os.path.join(tmp, "other.txt")
        with open(other, "w") as f:
            f.write("something else\n")
        cli(["verify", proof_path, "--genesis", genesis, "--file", other], 2,
            "verify against another document")
        other_net = os.path.join(tmp, "othernet")
        cli(["devnet", "--nodes", "1", "--dir", other_net, "--init-only"], 0,
            "devnet --init-only of another chain")
        cli(["verify", proof_path, "--genesis", os.path.join(other_net, "node0", "genesis.json")],
            2, "verify against another chain's genesis")
        cli(["verify", proof_path], 1, "verify without --genesis")
        cli(["verify", os.path.join(tmp, "missing"), "--genesis", genesis], 4,
            "verify of a missing file")
        cli(["notarize", doc] + sign + node_opt, 2, "a second anchor of the same document")
        cli(["notarize", doc] + sign + ["--node", "127.0.0.1:1"], 3, "notarize, node down")
        cli(["notarize", doc] + node_opt, 1, "notarize without --key")
        cli(["notarize", doc, "--kind", "Bad Kind"] + sign + node_opt, 1, "notarize, bad kind")
        code, body = http("GET", api + "/v1/notary/" + "ab" * 32)
        check(code == 404 and is_error(body, "not_found"), "unknown document %d" % code)
        code, body = http("GET", api + "/v1/notary/zz")
        check(code == 400 and is_error(body), "bad document hash %d" % code)
        wait_for("status at the end", lambda: status_of(api), 15)
        print("ok: status/txs/accounts/validators/blocks/notary endpoints and CLI, inclusion "
              "proof verified, hostile requests refused, node still finalizing, notarize -> "
              "verify offline, %d tampered proofs refused" % len(range(0, len(good), step)))
    finally:
        for s in idle:
            s.close()
        finish(procs, tmp)


try:
    main()
except subprocess.TimeoutExpired as e:
    fail("command timed out: %r" % e.cmd)
