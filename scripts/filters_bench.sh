#!/usr/bin/env bash
# Issue [filters]: filtered search on GloVe-6B-50d and a 1M synthetic set, labels
# (a) Zipf, independent of the vectors and (b) clustered (correlated with the
# vectors), one label per target selectivity 0.1% / 1% / 10% / 50%
# (scripts/filters_pick.py), exact filtered ground truth from `quarry gt --filter`.
# Per point, in the same run on the same machine, both single-threaded:
#   Quarry (auto plan, direct I/O, batch of all 10,000 queries): nprobe swept
#     8,16,...,1024 until recall@10 >= 0.95; then 200 single queries (p50).
#   FAISS IVF-Flat + IDSelectorBitmap, same nlist (1024): nprobe swept 1..1024
#     until recall@10 >= 0.95 (bench/peers/filtered_faiss.py).
# Writes bench/results/filters/{machine.txt,quarry.jsonl,faiss.jsonl,summary.md,filters.svg}.
# Needs scripts/fetch_glove.sh and data/synth-1m (see scripts/kernels_bench.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
Q="${QUARRY:-$ROOT/target/release/quarry}"
DATA="${QUARRY_DATA:-$ROOT/data}"
OUT=bench/results/filters
P=bench/peers/.venv/bin/python
TARGET=0.95
mkdir -p "$OUT"
start=$(date +%s)
stamp() { echo "[$(( $(date +%s) - start ))s] $*" >&2; }

cargo build --release --locked -p quarry-cli
bash bench/peers/setup.sh >/dev/null
bash scripts/fetch_glove.sh >/dev/null
{
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores)"
  echo "quarry: $("$Q" --version)"
  echo "disk (sequential O_DIRECT, 1 MiB blocks): $(bash scripts/measure_disk.sh "$DATA/disk-probe.bin" 2048)"
  echo "date: $(date -u +%F)"
} > "$OUT/machine.txt"
cat "$OUT/machine.txt" >&2
rm -f "$OUT/quarry.jsonl" "$OUT/faiss.jsonl"

for ds in glove-50 synth-1m; do
  case $ds in
    glove-50) base=base.fbin; queries=queries.fbin; metric=cosine ;;
    synth-1m) base=base.u8bin; queries=queries.u8bin; metric=l2 ;;
  esac
  D="$DATA/$ds"; W="$D/filters"; mkdir -p "$W"
  if [ ! -f "$W/counts.json" ]; then
    stamp "$ds: labels"
    "$Q" --quiet labels --base "$D/$base" --out "$W/labels.spmat" --kind zipf,clustered \
      --metric "$metric" --counts-out "$W/counts.json"
  fi
  if [ ! -d "$W/quarry-1024" ]; then
    stamp "$ds: build"
    "$Q" --quiet build --base "$D/$base" --out "$W/quarry-1024" --partitions 1024 \
      --metric "$metric" --labels "$W/labels.spmat"
  fi
  python3 scripts/filters_pick.py "$W/counts.json" | while read -r set target label count; do
    f="label = $label"
    gt="$W/gt-$label.ibin"
    if [ ! -f "$gt" ]; then
      stamp "$ds: ground truth for '$f'"
      "$Q" --quiet gt --base "$D/$base" --queries "$D/$queries" --k 10 --metric "$metric" \
        --labels "$W/labels.spmat" --filter "$f" --out "$gt"
    fi
    stamp "$ds $set $target: quarry '$f' ($count matches)"
    for nprobe in 8 16 32 64 128 256 512 1024; do
      line=$("$Q" --quiet --threads 1 search --index "$W/quarry-1024" --queries "$D/$queries" \
        --gt "$gt" --k 10 --nprobe "$nprobe" --batch-size 10000 --io direct --filter "$f" --json)
      single=$("$Q" --quiet --threads 1 search --index "$W/quarry-1024" --queries "$D/$queries" \
        --gt "$gt" --k 10 --nprobe "$nprobe" --batch-size 1 --limit 200 --io direct --filter "$f" --json)
      rec=$(python3 - "$line" "$single" "$ds" "$set" "$target" "$OUT/quarry.jsonl" <<'PY'
import json, sys
r, s = json.loads(sys.argv[1]), json.loads(sys.argv[2])
r.update(dataset=sys.argv[3], label_set=sys.argv[4], target_selectivity=float(sys.argv[5]),
         single_p50_ms=s["latency_ms_p50"], single_p99_ms=s["latency_ms_p99"],
         single_recall_at_10=s["recall_at_k"], single_plan=s["filter"]["plan"])
open(sys.argv[6], "a").write(json.dumps(r) + "\n")
print(r["recall_at_k"])
PY
)
      echo "  nprobe $nprobe: recall $rec" >&2
      python3 -c "import sys; sys.exit(0 if float('$rec') >= $TARGET else 1)" && break
    done
    stamp "$ds $set $target: faiss '$f'"
    $P bench/peers/filtered_faiss.py --dataset "$ds" --labels "$W/labels.spmat" --filter "$f" \
      --gt "$gt" --nprobe 1,2,4,8,16,32,64,128,256,512,1024 --stop-at-recall "$TARGET" \
      --label-set "$set" --out "$OUT/faiss.jsonl"
  done
done
python3 scripts/filters_summary.py "$OUT"
stamp done
