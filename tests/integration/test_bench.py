"""`lianmeng bench` against a 4-node devnet with demo load accounts: 3 seconds at 100 tx/s of
the mixed workload (notary anchors and account add_key/remove_key from 10 accounts) produce a
JSON report with finalized > 0, every submitted tx admitted and final with a successful
receipt, no rejections, and a CPU/RSS sample of each node."""
import json
import os
import subprocess
import sys
import tempfile

from lmtest import Procs, finish, check, free_port_range, http, wait_for

BIN = sys.argv[1]
NODES = 4


def final_height(url):
    code, body = http("GET", url + "/v1/status")
    return body["final"]["height"] if code == 200 and body["final"]["height"] > 0 else None


def main():
    procs = Procs()
    tmp = tempfile.mkdtemp(prefix="lm_it_bench_")
    devnet_dir = os.path.join(tmp, "net")
    report = os.path.join(tmp, "report.json")
    try:
        base = free_port_range(NODES, 1000)
        with open(os.path.join(tmp, "devnet.out"), "w") as out:
            procs.start([BIN, "devnet", "--nodes", str(NODES), "--dir", devnet_dir,
                         "--base-port", str(base), "--load-accounts", "100"],
                        stdout=out, stderr=subprocess.STDOUT)
        json_path = os.path.join(devnet_dir, "devnet.json")
        wait_for("devnet.json", lambda: os.path.isfile(json_path) or None, 60)
        with open(json_path) as f:
            for n in json.load(f)["nodes"]:
                procs.adopt(n["pid"])
        wait_for("a final block", lambda: final_height("http://127.0.0.1:%d" % base), 60)
        run = subprocess.run([BIN, "bench", "--devnet", devnet_dir, "--rate", "100",
                              "--duration", "3", "--drain", "20", "--accounts", "10",
                              "--report", report],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=90)
        out = run.stdout.decode(errors="replace")
        check(run.returncode == 0, "bench exited %d: %s" % (run.returncode, out))
        with open(report) as f:
            rep = json.load(f)
        check(290 <= rep["submitted"] <= 300, "submitted %r" % rep["submitted"])
        check(rep["rejected"] == 0 and rep["rejections"] == {}, "rejections %r" % rep)
        check(rep["admitted"] == rep["submitted"], "admitted %r" % rep["admitted"])
        check(rep["finalized"] > 0, "nothing finalized: %r" % rep)
        check(rep["finalized"] == rep["admitted"],
              "finalized %r of %r after the drain" % (rep["finalized"], rep["admitted"]))
        check(rep["latency_ms"]["count"] == rep["finalized"], "latency %r" % rep["latency_ms"])
        check(0 < rep["latency_ms"]["p50"] <= rep["latency_ms"]["max"], "latency %r" % rep)
        check(len(rep["nodes"]) == NODES and all(n["rss_kib_max"] > 0 for n in rep["nodes"]),
              "nodes %r" % rep["nodes"])
        # CPU by thread name: the loop keeps the program's name, the ledger thread and the
        # verify workers name themselves; they add up to at most the process's CPU.
        for n in rep["nodes"]:
            th = n["threads_cpu_s"]
            check({"lianmeng", "lm-ledger", "lm-verify"} <= set(th) and th["lm-ledger"] > 0 and
                  sum(th.values()) <= n["cpu_s"] + 0.05 and 0 <= n["cpu_sys_s"] <= n["cpu_s"],
                  "thread CPU %r" % n)
        check(rep["cpu_us_per_tx_node"] > 0, "cpu per tx %r" % rep.get("cpu_us_per_tx_node"))
        check(rep["options"]["workload"] == "mixed", "workload %r" % rep["options"])
        # The mixed load's txs (notary anchors, account add_key/remove_key) all succeed.
        api = "http://127.0.0.1:%d" % base
        kinds = set()
        top = final_height(api)
        for h in range(1, top + 1):
            code, blk = http("GET", "%s/v1/blocks/%d?txs=1" % (api, h))
            check(code == 200, "block %d: %d" % (h, code))
            for th, raw in zip(blk["tx_hashes"], blk["txs"]):
                code, tx = http("GET", "%s/v1/txs/%s" % (api, th))
                check(code == 200 and tx["receipt"]["status"] == 0,
                      "tx %s failed: %r" % (th, tx.get("receipt")))
                for name in (b"anchor", b"add_key", b"remove_key"):
                    if name in bytes.fromhex(raw):
                        kinds.add(name)
        check(kinds == {b"anchor", b"add_key", b"remove_key"}, "op kinds seen %r" % kinds)
        # --nonces chain: the same accounts again, from the nonces the first run left.
        again = os.path.join(tmp, "again.json")
        run = subprocess.run([BIN, "bench", "--devnet", devnet_dir, "--rate", "100",
                              "--duration", "2", "--drain", "20", "--accounts", "10",
                              "--nonces", "chain", "--report", again],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=90)
        out = run.stdout.decode(errors="replace")
        check(run.returncode == 0, "bench --nonces chain exited %d: %s" % (run.returncode, out))
        with open(again) as f:
            rep2 = json.load(f)
        check(rep2["submitted"] > 0 and rep2["rejected"] == 0 and
              rep2["finalized"] == rep2["submitted"], "second run on the same accounts %r" % rep2)
        for args in (["--workload", "bogus"], ["--nonces", "bogus"]):
            bad = subprocess.run([BIN, "bench", "--devnet", devnet_dir] + args,
                                 capture_output=True, timeout=30)
            check(bad.returncode == 1, "bench %s exited %d" % (args, bad.returncode))
        print("ok: bench report finalized=%d p50=%.0f ms" % (rep["finalized"],
                                                             rep["latency_ms"]["p50"]))
    finally:
        finish(procs, tmp)


if __name__ == "__main__":
    main()
