#!/usr/bin/env bash
# `quarry serve` acceptance figures on GloVe-6B-50d (cosine, 1,024 partitions,
# nprobe 32: recall@10 ~0.915, checked against the exact ground truth per run;
# PARTITIONS=128 NPROBE=.. OUT=.. for larger partitions, which batches share more):
#   1. batching: closed loop at concurrency 64, batch window 0 (off) vs on;
#   2. overload: capacity (closed loop, window on), then 60 s open loop at 4x it,
#      RSS sampled every second, then closed loop again to see capacity return.
# Results (JSON + JSON lines + summary.md) go to $OUT (bench/results/serve).
#   QUARRY_DATA=/path/with/glove-50 bash scripts/serve_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
QUARRY="${QUARRY:-target/release/quarry}"
LOAD="${LOAD:-target/release/quarry-load}"
DATA="${QUARRY_DATA:-data}/glove-50"
OUT="${OUT:-bench/results/serve}"
WORK="${WORK:-target/serve-bench}"
NPROBE="${NPROBE:-32}"
PARTITIONS="${PARTITIONS:-1024}"
WINDOW_MS="${WINDOW_MS:-2}"
CONC="${CONC:-64}"
SECS="${SECS:-20}"
OVERLOAD_SECS="${OVERLOAD_SECS:-60}"
source scripts/serve_common.sh
[ -x "$QUARRY" ] && [ -x "$LOAD" ] || cargo build --release --quiet -p quarry-cli -p quarry-server
[ -f "$DATA/base.fbin" ] || bash scripts/fetch_glove.sh
mkdir -p "$OUT" "$WORK"
IDX="$WORK/glove-$PARTITIONS"
[ -d "$IDX" ] || "$QUARRY" --quiet build --base "$DATA/base.fbin" --out "$IDX" --partitions "$PARTITIONS" --metric cosine --seed 42
trap '[ -n "${SERVER_PID:-}" ] && kill -9 "$SERVER_PID" 2>/dev/null; true' EXIT
search="{\"nprobe\": $NPROBE}"
{ echo "date: $(date -u +%FT%TZ)"; lscpu | grep -E 'Model name|^CPU\(s\)'; echo "load before: $(cat /proc/loadavg)"; } > "$OUT/machine.txt"

run_load() { # NAME ARGS...: a load run -> $OUT/NAME.json
  local name=$1; shift
  "$LOAD" run --addr "$ADDR" --queries "$DATA/queries.fbin" --gt "$DATA/gt100.ibin" --k 10 \
    --search "$search" "$@" > "$OUT/$name.json"
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(sys.argv[2], 'qps %.0f p50 %.2f ms p99 %.2f ms recall %.4f statuses %s' % (r['qps'], r['search_p50_ms'], r['search_p99_ms'], r['recall_at_k'] or 0, r['statuses']))" "$OUT/$name.json" "$name"
}

# 1. Batching off vs on (read-only: nothing is written). Without batching, single
#    queries wait on reads, so more concurrent searches help: the baseline is the
#    best of several --compute-slots.
for run in "0 2" "0 16" "0 64" "$WINDOW_MS 2"; do
  set -- $run; w=$1; slots=$2; name="batching-window-$w-slots-$slots"
  start_server "$WORK/server.log" --index "$IDX" --read-only --batch-window-ms "$w" --compute-slots "$slots"
  run_load "warmup" --concurrency "$CONC" --duration 3 >/dev/null
  run_load "$name" --concurrency "$CONC" --duration "$SECS" --timeline "$OUT/$name.timeline.jsonl"
  curl -s "http://$ADDR/metrics" | grep -E '^quarry_search_batch_(queries|requests|seconds)_(sum|count)' > "$OUT/$name.metrics.txt"
  stop_server
done

# 2. Overload at 4x capacity, window on.
start_server "$WORK/server.log" --index "$IDX" --read-only --batch-window-ms "$WINDOW_MS"
run_load capacity --concurrency "$CONC" --duration "$SECS" >/dev/null
cap=$(python3 -c "import json; print(json.load(open('$OUT/capacity.json'))['qps'])")
rate=$(python3 -c "print(round(4 * $cap))")
echo "capacity ${cap} QPS -> overload at ${rate} requests/s for ${OVERLOAD_SECS} s"
: > "$OUT/overload-rss.txt"
( while kill -0 "$SERVER_PID" 2>/dev/null; do
    echo "$(date +%s.%N) $(awk '/^VmRSS/ {print $2}' /proc/$SERVER_PID/status)" >> "$OUT/overload-rss.txt"; sleep 1
  done ) &
SAMPLER=$!
run_load overload --rate "$rate" --concurrency 2048 --duration "$OVERLOAD_SECS" --timeline "$OUT/overload.timeline.jsonl"
run_load after-overload --concurrency "$CONC" --duration 10 --timeline "$OUT/after-overload.timeline.jsonl"
kill "$SAMPLER" 2>/dev/null || true
stop_server
SERVER_PID=""
echo "load after: $(cat /proc/loadavg)" >> "$OUT/machine.txt"
python3 - "$OUT" "$WINDOW_MS" "$PARTITIONS" "$NPROBE" <<'PY'
import json, sys
out, w, parts, nprobe = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
j = lambda n: json.load(open(f"{out}/{n}.json"))
runs = [(f"batching-window-0-slots-{n}", f"window 0 (off), {n} compute slots") for n in (2, 16, 64)] + [(f"batching-window-{w}-slots-2", f"window {w} ms, 2 compute slots")]
cap, ov, after = j("capacity"), j("overload"), j("after-overload")
off = max((j(n) for n, _ in runs[:3]), key=lambda r: r["qps"])
on = j(runs[3][0])
def mets(name):
    m = dict(l.split() for l in open(f"{out}/{name}.metrics.txt"))
    q, r, c = float(m["quarry_search_batch_queries_sum"]), float(m["quarry_search_batch_requests_sum"]), float(m["quarry_search_batch_queries_count"])
    return q / c, r / c, 1e3 * float(m["quarry_search_batch_seconds_sum"]) / c
rss = [int(l.split()[1]) / 1024 for l in open(f"{out}/overload-rss.txt") if len(l.split()) == 2]
tl = [json.loads(l) for l in open(f"{out}/after-overload.timeline.jsonl")]
first_ok = next((s["t"] for s in tl if s["ok"] >= 0.9 * cap["qps"]), None)
lines = [
  f"# quarry serve on GloVe-6B-50d (cosine, {parts:,} partitions, nprobe {nprobe}, k 10)", "",
  open(f"{out}/machine.txt").read().strip().replace("\n", "  \n"), "",
  "| run | QPS | p50 ms | p99 ms | recall@10 | mean queries / batch | mean batch ms | statuses |", "|---|---:|---:|---:|---:|---:|---:|---|",
]
for key, name in runs:
    r = j(key)
    qb, rb, bt = mets(key)
    lines.append(f"| {name}, concurrency {r['concurrency']} | {r['qps']:.0f} | {r['search_p50_ms']:.2f} | {r['search_p99_ms']:.2f} | {r['recall_at_k']:.4f} | {qb:.1f} | {bt:.2f} | {r['statuses']} |")
lines += ["", f"**Batching: {on['qps'] / off['qps']:.2f}x the QPS of the best run without it.** "
  f"p99 with it: {on['search_p99_ms']:.2f} ms against window + 2 x mean batch time = {float(w) + 2 * mets(runs[3][0])[2]:.2f} ms.", "",
  f"Overload: capacity {cap['qps']:.0f} QPS; {ov['seconds']:.0f} s at {ov['rate']:.0f} requests/s offered: statuses {ov['statuses']}, "
  f"connection errors {ov['connection_errors']}, client-side drops {ov['client_dropped']}; "
  f"server RSS max {max(rss):.0f} MiB (min {min(rss):.0f}); after it: {after['qps']:.0f} QPS over 10 s, "
  f"first second at >= 90% of capacity: t = {first_ok} s."]
open(f"{out}/summary.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
