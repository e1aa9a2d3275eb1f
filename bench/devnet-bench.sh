#!/usr/bin/env bash
# One load run on a fresh 4-validator devnet, one summary line: finalized tx/s, latency, blocks,
# node CPU per finalized tx and by thread (what A/B comparisons of a change want).
#
# Usage: bench/devnet-bench.sh [--rate TX_PER_S (0: as fast as accepted)] [--duration S]
#                              [--alg ed25519|sm2] [--hash sha256|sm3] [--local INI_TEXT]
#                              [--window N (txs out and not final at full load)]
# --local writes INI_TEXT as every node's config.local.ini (e.g. $'[storage]\n
# state_retain_versions = 256', or $'[verify]\nthreads = 2': it overrides the devnet's tuning
# defaults). Environment: LIANMENG (default build/release/lianmeng), PORT
# (API base port, default 18680), OUT (folder for the report, default a temp dir). Deletes the
# nodes' data when done. For A/B pairs, alternate the builds and drop the page cache before each
# run (as root: sync; echo 3 > /proc/sys/vm/drop_caches): bench/README.md, session 5, "Method".
set -euo pipefail

RATE=0
DUR=20
ALG=ed25519
HASH=sha256
LOCAL=
WINDOW=
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE=$2; shift 2 ;;
    --duration) DUR=$2; shift 2 ;;
    --alg) ALG=$2; shift 2 ;;
    --hash) HASH=$2; shift 2 ;;
    --local) LOCAL=$2; shift 2 ;;
    --window) WINDOW=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "devnet-bench.sh: bad argument $1" >&2; exit 1 ;;
  esac
done
REPO=$(cd "$(dirname "$0")/.." && pwd)
LIANMENG=${LIANMENG:-$REPO/build/release/lianmeng}
PORT=${PORT:-18680}
OUT=${OUT:-$(mktemp -d /tmp/devnet-bench.XXXXXX)}
[ -x "$LIANMENG" ] || { echo "build first: $LIANMENG missing" >&2; exit 1; }
NET="$OUT/devnet"
rm -rf "$NET"
"$LIANMENG" devnet --nodes 4 --dir "$NET" --base-port "$PORT" --load-accounts 4000 \
  --load-alg "$ALG" --hash "$HASH" --init-only >"$OUT/init.log" 2>&1 ||
  { cat "$OUT/init.log" >&2; exit 1; }
if [ -n "$LOCAL" ]; then
  for h in "$NET"/node*; do printf '%s\n' "$LOCAL" >"$h/config.local.ini"; done
fi
"$LIANMENG" devnet --nodes 4 --dir "$NET" --base-port "$PORT" --load-accounts 4000 \
  --load-alg "$ALG" --hash "$HASH" >"$OUT/devnet.log" 2>&1 &
DEVNET_PID=$!
cleanup() {
  if kill -0 "$DEVNET_PID" 2>/dev/null; then
    kill -TERM "$DEVNET_PID" 2>/dev/null || true
    for _ in $(seq 1 80); do kill -0 "$DEVNET_PID" 2>/dev/null || break; sleep 0.25; done
  fi
  rm -rf "$NET"/node*/data
}
trap cleanup EXIT INT TERM
READY=0
for _ in $(seq 1 120); do
  if curl -sf "http://127.0.0.1:$PORT/v1/status" 2>/dev/null | grep -q '"height":[1-9]'; then READY=1; break; fi
  sleep 0.5
done
[ "$READY" = 1 ] || { echo "devnet-bench.sh: the devnet made no block in 60 s; its log ends:" >&2;
                      tail -n 8 "$OUT/devnet.log" "$NET/node0/node.log" >&2; exit 1; }
ARGS=(--devnet "$NET" --alg "$ALG" --rate "$RATE" --duration "$DUR" --accounts 2000
      --report "$OUT/report.json")
# Pre-signed txs for full load: 25,000 per second (12,000 capped fast runs), at most the
# 2,000,000 lianmeng bench takes.
MAX_TXS=$((DUR * 25000 < 2000000 ? DUR * 25000 : 2000000))
[ "$RATE" = 0 ] && ARGS+=(--max-txs "$MAX_TXS")
[ -n "$WINDOW" ] && ARGS+=(--window "$WINDOW")
"$LIANMENG" bench "${ARGS[@]}" >"$OUT/bench.log" 2>&1
python3 - "$OUT/report.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); l = d["latency_ms"]
th = {}
for n in d["nodes"]:
    for k, v in n.get("threads_cpu_s", {}).items():
        th[k] = th.get(k, 0) + v
print("finalized %.0f tx/s  p50 %.0f p90 %.0f p99 %.0f ms  blocks/s %.1f txs/block %.0f  "
      "cpu/tx/node %.1f us  sys %.1f s  threads(s): %s" % (
          d["finalized_per_s"], l["p50"], l["p90"], l["p99"], d["blocks"] / d["elapsed_s"],
          d["block_txs"] / max(1, d["blocks"]), d.get("cpu_us_per_tx_node", 0),
          sum(n.get("cpu_sys_s", 0) for n in d["nodes"]),
          " ".join("%s %.1f" % kv for kv in sorted(th.items()))))
PY
echo "report in $OUT"
