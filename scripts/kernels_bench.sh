#!/usr/bin/env bash
# Issue [kernels]: Quarry on each kernel path against FAISS IVF-Flat, same machine,
# same run. Writes bench/results/kernels/:
#   machine.txt          CPU (lscpu), kernel paths, the disk's sequential O_DIRECT figure
#   kernels.txt          `cargo bench -p quarry-kernels` output (GFLOP/s per path, faer beside)
#   build.jsonl          1M x 128 u8, 1024 partitions, 2 threads: Quarry per path vs FAISS
#   <dataset>/all.jsonl  recall/QPS/latency sweeps (Quarry buffered warm + direct, FAISS in RAM)
#   <dataset>/*.png|svg  plots;  summary.md  the tables quoted in the README
# PATHS="avx2 avx512" chooses Quarry's paths (default: avx2 and the CPU's best);
# FAISS runs with FAISS_OPT_LEVEL=avx2 beside the avx2 rows (its own best beside the others).
# Needs: scripts/fetch_glove.sh, `quarry synth` data in data/synth-1m (made here if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
Q="${QUARRY:-$ROOT/target/release/quarry}"
DATA="${QUARRY_DATA:-$ROOT/data}"
OUT=bench/results/kernels
P=bench/peers/.venv/bin/python
mkdir -p "$OUT"
start=$(date +%s)
stamp() { echo "[$(( $(date +%s) - start ))s] $*" >&2; }

cargo build --release --locked -p quarry-cli
bash bench/peers/setup.sh >/dev/null
bash scripts/fetch_glove.sh >/dev/null
S="$DATA/synth-1m"
if [ ! -f "$S/gt100.ibin" ]; then
  mkdir -p "$S"
  "$Q" --quiet synth --out "$S/base.u8bin" --n 1000000 --dim 128 --queries 10000 --queries-out "$S/queries.u8bin"
  "$Q" --quiet gt --base "$S/base.u8bin" --queries "$S/queries.u8bin" --k 100 --out "$S/gt100.ibin"
fi
best=$("$Q" --version | sed -n 's/.*kernels: \([a-z0-9]*\) .*/\1/p')
PATHS="${PATHS:-avx2 $best}"
PATHS=$(echo "$PATHS" | tr ' ' '\n' | awk '!seen[$0]++' | tr '\n' ' ')

{
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores)"
  echo "flags: $(grep -o -w -E 'avx2|fma|avx512f|avx512bw|avx512vl' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  echo "quarry: $("$Q" --version)"
  echo "disk (sequential O_DIRECT, 1 MiB blocks): $(bash scripts/measure_disk.sh "$DATA/disk-probe.bin" 2048)"
  echo "date: $(date -u +%F)"
} > "$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

# SKIP_KERNELS=1 / SKIP_BUILDS=1 keep those results from an earlier run.
if [ "${SKIP_KERNELS:-0}" != 1 ]; then
stamp "kernel benchmarks"
cargo bench --locked -p quarry-kernels --bench kernels -- --warm-up-time 1 --measurement-time 2 \
  'batch/|pair/' > "$OUT/kernels.txt" 2>&1
fi

faiss_level() { [ "$1" = avx2 ] && echo avx2 || echo ""; }

if [ "${SKIP_BUILDS:-0}" != 1 ]; then
stamp "builds: 1M x 128 u8, 1024 partitions, 2 threads"
rm -f "$OUT/build.jsonl"
for path in $PATHS; do
  idx="$S/quarry-1024-$path"
  rm -rf "$idx"
  QUARRY_KERNELS=$path "$Q" --quiet --threads 2 build --base "$S/base.u8bin" --out "$idx" --partitions 1024 --json \
    | python3 -c "import json,sys; d=json.load(sys.stdin); d['engine']='quarry'; d['path']='$path'; print(json.dumps(d))" >> "$OUT/build.jsonl"
  lvl=$(faiss_level "$path")
  FAISS_OPT_LEVEL=$lvl $P bench/peers/run_peers.py --dataset synth-1m --engines faiss-ivf --partitions 1024 \
    --faiss-niter 10 --build-threads 2 --phase build --engine faiss-ivf --rebuild --out /dev/null \
    --work-dir "$DATA/peers-tmp" 2>&1 | tail -1 >&2
  python3 -c "import json,glob; d=json.load(open(glob.glob('$DATA/peers-tmp/synth-1m/faiss-ivf-nlist1024-seed42-niter10/build.json')[0])); d['path']='${lvl:-best}'; print(json.dumps(d))" >> "$OUT/build.jsonl"
done
# Byte-identical indexes across paths (fused paths share every rounding).
set -- $PATHS
if [ $# -ge 2 ]; then
  if cmp -s "$S/quarry-1024-$1/data.bin" "$S/quarry-1024-$2/data.bin" && cmp -s "$S/quarry-1024-$1/centroids.bin" "$S/quarry-1024-$2/centroids.bin"; then
    echo "identical index bytes: $1 and $2" >> "$OUT/machine.txt"
  else
    echo "index bytes DIFFER: $1 and $2" >> "$OUT/machine.txt"
  fi
fi
fi

sweep() {  # dataset ext metric nprobes
  local ds=$1 ext=$2 metric=$3 nprobes=$4
  local d="$DATA/$ds" out="$OUT/$ds"
  mkdir -p "$out"
  rm -f "$out/results.jsonl" "$out/results.csv" "$out/peers.jsonl" "$out/all.jsonl"
  local idx="$d/quarry-1024-kernels"
  [ -d "$idx" ] || "$Q" --quiet build --base "$d/base.$ext" --out "$idx" --partitions 1024 --metric "$metric"
  for path in $PATHS; do
    # Warm the page cache for the buffered rows (FAISS searches from RAM).
    QUARRY_KERNELS=$path "$Q" --quiet search --index "$idx" --queries "$d/queries.$ext" --nprobe 64 --io buffered >/dev/null
    threads="2"; [ "$path" = avx2 ] && threads="2 1"
    for t in $threads; do
      stamp "$ds: quarry $path, $t thread(s), buffered"
      QUARRY_KERNELS=$path "$Q" --quiet --threads $t bench --index "$idx" --queries "$d/queries.$ext" --gt "$d/gt100.ibin" \
        --k 10 --nprobe "$nprobes" --batch-sizes 1000 --single-limit 1000 --io buffered \
        --label "quarry-$path-${t}t-buffered" --out-dir "$out" >/dev/null
    done
    stamp "$ds: quarry $path, 2 threads, direct"
    QUARRY_KERNELS=$path "$Q" --quiet --threads 2 bench --index "$idx" --queries "$d/queries.$ext" --gt "$d/gt100.ibin" \
      --k 10 --nprobe "$nprobes" --batch-sizes 1000 --single-limit 1000 --io direct \
      --label "quarry-$path-2t-direct" --out-dir "$out" >/dev/null
    local lvl; lvl=$(faiss_level "$path")
    stamp "$ds: faiss ivf-flat (FAISS_OPT_LEVEL=${lvl:-default})"
    FAISS_OPT_LEVEL=$lvl $P bench/peers/run_peers.py --dataset "$ds" --engines faiss-ivf --partitions 1024 \
      --faiss-niter 10 --sweep "faiss-ivf=$nprobes" --out "$out/peers-$path.jsonl" --work-dir "$DATA/peers-tmp" 2>/dev/null
    python3 - "$out/peers-$path.jsonl" "$path" >> "$out/peers.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    r["label"] = f"faiss-ivf-flat-{sys.argv[2]}"
    print(json.dumps(r))
PY
    rm -f "$out/peers-$path.jsonl"
  done
  cat "$out/results.jsonl" "$out/peers.jsonl" > "$out/all.jsonl"
  "$Q" --quiet plot --input "$out/all.jsonl" --out-dir "$out" --k 10 --title "$ds ($(lscpu | sed -n 's/^Model name: *//p'))"
}

sweep glove-50 fbin cosine 16,24,32,48
sweep synth-1m u8bin l2 6,8,10,12,16
python3 scripts/kernels_summary.py "$OUT" > "$OUT/summary.md"
cat "$OUT/summary.md"
stamp done
