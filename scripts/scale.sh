#!/usr/bin/env bash
# Issue [scale]: the growth runs. For each size N (vectors of 128 u8):
#   synth (--shape mixture, N/10^4 clusters) -> exact top-100 of 1,000 queries (quarry gt)
#   -> build (N/1000 partitions; two-level clustering from 8192 partitions) under a
#   cgroup v1 memory limit (4 GiB: page cache included, a process over it is killed)
#   -> centroid graph -> info -> bench with direct I/O (nprobe sweep, batch 1000,
#   200 single queries), the index opened under the same limit.
# With KILL=1 the build is SIGKILLed once its assignment is checkpointed (in the
# write phase) and run again: the rerun must resume train and assign.
# One JSON object per size is appended to bench/results/scale/scale.jsonl.
#   SIZES="1000000 10000000" bash scripts/scale.sh
#   SIZES=100000000 KILL=1 bash scripts/scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
Q="$PWD/target/release/quarry"
D="${SCALE_DATA:-data/scale}"
OUT=bench/results/scale
SIZES="${SIZES:-1000000 10000000}"
LIMIT="${LIMIT_BYTES:-4294967296}"
BUDGET="${MEM_BUDGET_MB:-3072}"
NPROBE="${NPROBE:-4,8,16,32,64}"
KILL="${KILL:-0}"
cargo build --release --locked -p quarry-cli
mkdir -p "$D" "$OUT"

source scripts/cgroup_limit.sh
# Between runs: the cgroup's page cache is dropped (force_empty, no task is in it)
# so each peak is the run's own.
cg_reset() {
  if [ "$LIMITED" = 1 ]; then
    echo 0 > "$CG/memory.force_empty" || true
    echo 0 > "$CG/memory.max_usage_in_bytes"
  fi
}
cg_peak() { [ "$LIMITED" = 1 ] && cat "$CG/memory.max_usage_in_bytes" || echo null; }
cg_failcnt() { [ "$LIMITED" = 1 ] && cat "$CG/memory.failcnt" || echo null; }
oom_kills() { [ "$LIMITED" = 1 ] && awk '/oom_kill /{print $2}' "$CG/memory.oom_control" || echo null; }
now() { date +%s.%N; }
secs() { python3 -c "print(round($2 - $1, 2))"; }

DISK=$(bash scripts/measure_disk.sh 2>&1 | tail -1 || true)
CPU=$(lscpu | awk -F: '/Model name/{gsub(/^ +/,"",$2); print $2; exit}')

for N in $SIZES; do
  P=$((N / 1000)); C=$((N / 10000)); [ "$C" -lt 1 ] && C=1
  tag="$((N / 1000000))m"
  base="$D/mix-$tag.u8bin"; qs="$D/mix-$tag-q.u8bin"; gt="$D/mix-$tag-gt.ibin"; idx="$D/idx-$tag"
  echo "== $N vectors, $P partitions, $C clusters ==" >&2
  t=$(now)
  [ -f "$base" ] || "$Q" --quiet synth --shape mixture --n "$N" --dim 128 --clusters "$C" --spread 0.08 \
      --queries 1000 --out "$base" --queries-out "$qs"
  synth_s=$(secs "$t" "$(now)")
  t=$(now)
  [ -f "$gt" ] || "$Q" --quiet gt --base "$base" --queries "$qs" --k 100 --out "$gt" >&2
  gt_s=$(secs "$t" "$(now)")

  rm -rf "$idx"
  cg_reset
  killed_s=null
  if [ "$KILL" = 1 ]; then
    ck="$D/.idx-$tag.quarry-checkpoint/assign.ckpt"
    rm -rf "$D/.idx-$tag.quarry-checkpoint"
    t=$(now)
    # The subshell execs (through the cgroup's sh) into quarry, so $! is quarry's
    # own pid and the SIGKILL below reaches it (a backgrounded function would be a
    # parent shell that dies alone).
    (
      if [ "$LIMITED" = 1 ]; then
        exec sh -c 'echo $$ > '"$CG"'/cgroup.procs && exec "$@"' sh "$Q" --quiet build --base "$base" --out "$idx" \
            --partitions "$P" --mem-budget-mb "$BUDGET" --sample-per-partition 64 --json
      else
        exec "$Q" --quiet build --base "$base" --out "$idx" --partitions "$P" --mem-budget-mb "$BUDGET" \
            --sample-per-partition 64 --json
      fi
    ) > "$OUT/build-$tag-killed.json" 2> "$OUT/build-$tag-killed.err" &
    pid=$!
    while [ ! -f "$ck" ] && kill -0 "$pid" 2>/dev/null; do sleep 1; done
    sleep 15  # well into the write phase
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    # Phase times of the killed run, from its checkpoints' times.
    ck_dir="$D/.idx-$tag.quarry-checkpoint"
    killed_train_s=$(python3 -c "import os; print(round(os.path.getmtime('$ck_dir/train.ckpt') - $t, 1))")
    killed_assign_s=$(python3 -c "import os; print(round(os.path.getmtime('$ck_dir/assign.ckpt') - os.path.getmtime('$ck_dir/train.ckpt'), 1))")
    echo "killed run: train ${killed_train_s}s, assign ${killed_assign_s}s (checkpoint times)" >&2
    killed_s=$(secs "$t" "$(now)")
    echo "build SIGKILLed after ${killed_s}s (index present: $([ -d "$idx" ] && echo yes || echo no))" >&2
  fi
  t=$(now)
  limited /usr/bin/time -v -o "$OUT/build-$tag.time" "$Q" --quiet build --base "$base" --out "$idx" \
      --partitions "$P" --mem-budget-mb "$BUDGET" --sample-per-partition 64 --json > "$OUT/build-$tag.json"
  build_s=$(secs "$t" "$(now)")
  build_cg_peak=$(cg_peak); build_oom=$(oom_kills)
  t=$(now)
  if [ "$P" -ge 8192 ]; then
    limited "$Q" --quiet graph-build --index "$idx" --centroids-only >&2
  fi
  graph_s=$(secs "$t" "$(now)")
  "$Q" info --index "$idx" --json > "$OUT/info-$tag.json"

  cg_reset
  rm -rf "$OUT/bench-$tag"
  limited "$Q" --quiet bench --index "$idx" --queries "$qs" --gt "$gt" --k 10 --nprobe "$NPROBE" \
      --batch-sizes 1000 --single-limit 200 --io direct --label "scale-$tag" --out-dir "$OUT/bench-$tag" >&2
  bench_cg_peak=$(cg_peak); bench_oom=$(oom_kills)

  python3 - "$OUT" "$tag" "$N" "$P" "$synth_s" "$gt_s" "$build_s" "$graph_s" "$killed_s" \
      "$build_cg_peak" "$bench_cg_peak" "$build_oom" "$LIMITED" "$LIMIT" "$CPU" "$DISK" "$idx" >> "$OUT/scale.jsonl" <<'PY'
import json, os, sys
(out, tag, n, p, synth_s, gt_s, build_s, graph_s, killed_s, bpeak, qpeak, oom, limited, limit,
 cpu, disk, idx) = sys.argv[1:]
b = json.load(open(f"{out}/build-{tag}.json"))
info = json.load(open(f"{out}/info-{tag}.json"))
hwm = None
for line in open(f"{out}/build-{tag}.time"):
    if "Maximum resident set size" in line:
        hwm = int(line.split(":")[1]) / 1024
bench = [json.loads(l) for l in open(f"{out}/bench-{tag}/results.jsonl")]
size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(idx) for f in fs)
num = lambda s: None if s == "null" else float(s)
print(json.dumps({
    "vectors": int(n), "partitions": int(p), "cpu": cpu, "disk": disk,
    "memory_limit_bytes": int(limit) if limited == "1" else None,
    "synth_s": num(synth_s), "gt_s": num(gt_s), "build_wall_s": num(build_s),
    "killed_run_s": num(killed_s), "resumed": b.get("resumed"),
    "train_s": b["train_secs"], "assign_s": b["assign_secs"], "write_s": b["write_secs"],
    "build_peak_rss_mb": hwm, "build_cgroup_peak_mb": None if bpeak == "null" else int(bpeak) / 2**20,
    "oom_kills": None if oom == "null" else int(oom),
    "centroid_graph_s": num(graph_s), "index_bytes": size,
    "open_index_ram_bytes": info["memory"]["total_bytes"],
    "bench_cgroup_peak_mb": None if qpeak == "null" else int(qpeak) / 2**20,
    "points": [{k: r.get(k) for k in ("router_desc", "recall_at_10", "qps", "single_qps",
        "latency_ms_p50", "latency_ms_p99", "bytes_per_query", "single_bytes_per_query", "vectors_per_query",
        "read_mib_per_s", "rss_mb", "route_us_per_query")} for r in bench],
}))
PY
  tail -1 "$OUT/scale.jsonl" | python3 -c "import json,sys; r=json.load(sys.stdin); print({k: v for k, v in r.items() if k != 'points'}); [print(p) for p in r['points']]" >&2
done
