#!/usr/bin/env bash
# Lianmeng vs etcd, side by side in one run on this machine.
#
# 1. A fresh 4-validator devnet (`lianmeng devnet --load-accounts 4000`) under
#    `lianmeng bench`: full load (--rate 0) from load accounts 0..1999, then half of the
#    measured finalized rate from the same accounts, at the nonces the chain has for them
#    (--nonces chain), for latency. HALF_ACCOUNTS=fresh uses accounts 2000..3999 instead,
#    as sessions 5-11 did: then the first seconds of the half run also pay for 2,000
#    accounts whose state no earlier tx touched (bench/README.md, session 11).
# 2. A 3-member etcd cluster ($PEERS_ETCD_DIR/start.sh, load.sh, stop.sh) under closed-loop
#    puts whose value size is the mean signed tx size of the bench's load (its report's
#    tx_bytes_mean: the mixed workload of notary anchors and account operations).
# Prints both figures and the ratio finalized tx/s / etcd puts/s.
#
# Usage: bench/vs-etcd.sh [--alg ed25519|sm2] [--hash sha256|sm3] [--duration S]
#                         [--rate TX_PER_S (0: as fast as accepted)] [--etcd-conc N]
# Environment: LIANMENG (default build/release/lianmeng), PEERS_ETCD_DIR (default
# ../shared/peers/etcd relative to the repository), OUT (report folder, default a temp dir),
# KEEP_DATA=1 keeps the devnet's data directories (~2 GB after a 20 s full-load run; by
# default they are deleted when the devnet stops: left behind, each run's files fill the page
# cache, and the next runs' writes pay for reclaiming it, up to 3x the nodes' system time).
# Installs etcd-server, etcd-client, golang-go and golang-etcd-server-dev if missing
# (apt-get, through sudo when not root). Everything it starts it stops, by PID.
set -euo pipefail

ALG=ed25519
HASH=sha256
DUR=20
RATE=0
ETCD_CONC=512
while [ $# -gt 0 ]; do
  case "$1" in
    --alg) ALG=$2; shift 2 ;;
    --hash) HASH=$2; shift 2 ;;
    --duration) DUR=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --etcd-conc) ETCD_CONC=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "vs-etcd.sh: bad argument $1" >&2; exit 1 ;;
  esac
done
case "$ALG" in ed25519|sm2) ;; *) echo "--alg ed25519|sm2" >&2; exit 1 ;; esac
case "$HASH" in sha256|sm3) ;; *) echo "--hash sha256|sm3" >&2; exit 1 ;; esac

REPO=$(cd "$(dirname "$0")/.." && pwd)
LIANMENG=${LIANMENG:-$REPO/build/release/lianmeng}
PEERS_ETCD_DIR=${PEERS_ETCD_DIR:-$REPO/../shared/peers/etcd}
OUT=${OUT:-$(mktemp -d /tmp/vs-etcd.XXXXXX)}
mkdir -p "$OUT"
[ -x "$LIANMENG" ] || { echo "build first: $LIANMENG missing" >&2; exit 1; }
[ -x "$PEERS_ETCD_DIR/start.sh" ] || { echo "no etcd scripts in $PEERS_ETCD_DIR" >&2; exit 1; }

# --- packages for the etcd side ---
missing=()
for p in etcd-server etcd-client golang-go golang-etcd-server-dev; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >"$OUT/apt.log" 2>&1 ||
    { echo "apt-get install failed, see $OUT/apt.log" >&2; exit 1; }
fi

DEVNET_DIR="$OUT/devnet"
DEVNET_PID=
export PEERS_DIR="$OUT/peers"
ETCD_STARTED=0
cleanup() {
  if [ -n "$DEVNET_PID" ] && kill -0 "$DEVNET_PID" 2>/dev/null; then
    kill -TERM "$DEVNET_PID" 2>/dev/null || true
    for _ in $(seq 1 80); do kill -0 "$DEVNET_PID" 2>/dev/null || break; sleep 0.25; done
  fi
  DEVNET_PID=
  if [ "${KEEP_DATA:-0}" != 1 ] && [ -d "$DEVNET_DIR" ]; then
    rm -rf "$DEVNET_DIR"/node*/data
  fi
  if [ "$ETCD_STARTED" = 1 ]; then "$PEERS_ETCD_DIR/stop.sh" 3 >/dev/null 2>&1 || true; ETCD_STARTED=0; fi
}
trap cleanup EXIT INT TERM

json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }

echo "# $(date -u +%FT%TZ)  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(awk '/MemAvailable/ {a=$2} /^MemFree/ {f=$2} END {printf "memory free %.1f GiB of %.1f available", f/1048576, a/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# lianmeng: 4 validators, $ALG keys, $HASH chain, ${DUR}s per run, mixed workload (anchors + account ops)"

# --- Lianmeng ---
rm -rf "$DEVNET_DIR"
"$LIANMENG" devnet --nodes 4 --dir "$DEVNET_DIR" --base-port 18580 --load-accounts 4000 \
  --load-alg "$ALG" --hash "$HASH" >"$OUT/devnet.log" 2>&1 &
DEVNET_PID=$!
READY=0
for _ in $(seq 1 120); do
  if [ -f "$DEVNET_DIR/devnet.json" ] &&
     curl -sf http://127.0.0.1:18580/v1/status 2>/dev/null | grep -q '"height":[1-9]'; then READY=1; break; fi
  sleep 0.5
done
[ "$READY" = 1 ] || { echo "vs-etcd.sh: the devnet made no block in 60 s; its log ends:" >&2;
                      tail -n 8 "$OUT/devnet.log" "$DEVNET_DIR/node0/node.log" >&2; exit 1; }
FULL_ARGS=(--devnet "$DEVNET_DIR" --alg "$ALG" --rate "$RATE" --duration "$DUR" --accounts 2000
           --first-account 0 --report "$OUT/full.json")
# Pre-signed txs for full load: 25,000 per second (12,000 capped fast runs), at most the
# 2,000,000 lianmeng bench takes.
MAX_TXS=$((DUR * 25000 < 2000000 ? DUR * 25000 : 2000000))
[ "$RATE" = 0 ] && FULL_ARGS+=(--max-txs "$MAX_TXS")
echo "\$ lianmeng bench ${FULL_ARGS[*]}"
"$LIANMENG" bench "${FULL_ARGS[@]}"
FULL=$(json "$OUT/full.json" 'round(d["finalized_per_s"])')
HALF_RATE=$(( FULL / 2 > 0 ? FULL / 2 : 1 ))
HALF_ARGS=(--devnet "$DEVNET_DIR" --alg "$ALG" --rate "$HALF_RATE" --duration "$DUR" --accounts 2000
           --report "$OUT/half.json")
if [ "${HALF_ACCOUNTS:-same}" = fresh ]; then
  HALF_ARGS+=(--first-account 2000)
else
  HALF_ARGS+=(--first-account 0 --nonces chain)
fi
echo "\$ lianmeng bench ${HALF_ARGS[*]}"
"$LIANMENG" bench "${HALF_ARGS[@]}"
cleanup

# --- etcd ---
"$PEERS_ETCD_DIR/start.sh" 3 $((DUR * 4 + 120))
ETCD_STARTED=1
VALUE_BYTES=$(json "$OUT/full.json" 'd["tx_bytes_mean"]')
echo "\$ VALUE_BYTES=$VALUE_BYTES $PEERS_ETCD_DIR/load.sh 3 $DUR $ETCD_CONC leader"
VALUE_BYTES=$VALUE_BYTES "$PEERS_ETCD_DIR/load.sh" 3 "$DUR" "$ETCD_CONC" leader | tee "$OUT/etcd.txt"
ETCD=$(awk -v c="$ETCD_CONC" '$1 == c { print $3 }' "$OUT/etcd.txt")
cleanup

python3 - "$OUT/full.json" "$OUT/half.json" "$ETCD" "$ALG" "$HASH" <<'EOF'
import json, sys
full = json.load(open(sys.argv[1])); half = json.load(open(sys.argv[2])); etcd = float(sys.argv[3] or 0)
f = full["finalized_per_s"]
print("== summary (%s keys, %s chain) ==" % (sys.argv[4], sys.argv[5]))
print("lianmeng full load: finalized %.0f tx/s (submitted %.0f, admitted %.0f, rejected %d %s)"
      % (f, full["submitted_per_s"], full["admitted_per_s"], full["rejected"], full["rejections"]))
print("lianmeng half load (%.0f tx/s): finalized %.0f tx/s, latency p50 %.0f ms p99 %.0f ms"
      % (half["options"]["rate"], half["finalized_per_s"], half["latency_ms"]["p50"],
         half["latency_ms"]["p99"]))
print("lianmeng node CPU per finalized tx at full load: %.1f us each node (by thread, s: %s)"
      % (full.get("cpu_us_per_tx_node", 0),
         ", ".join("%s %.1f" % (k, sum(n["threads_cpu_s"].get(k, 0) for n in full["nodes"]))
                   for k in sorted(full["nodes"][0].get("threads_cpu_s", {})))))
print("etcd 3 members: %.0f puts/s" % etcd)
print("ratio lianmeng/etcd: %.2f" % (f / etcd if etcd > 0 else float("nan")))
EOF
echo "reports in $OUT"
