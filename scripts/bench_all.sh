#!/usr/bin/env bash
# The whole comparison, from a fresh checkout: fetch GloVe-6B-50d and Fashion-MNIST,
# build Quarry, install the peers in their own venv, sweep everything, and write
# bench/results/<dataset>/{results,peers,all}.jsonl, results.csv, plots (PNG + SVG),
# summary.md and ablation.md. QUICK=1 runs a smaller sweep for a smoke test.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export QUARRY="${QUARRY:-$ROOT/target/release/quarry}"
DATA="${QUARRY_DATA:-$ROOT/data}"
QUICK="${QUICK:-0}"
start=$(date +%s)
stamp() { echo "[$(( $(date +%s) - start ))s] $*"; }

bash scripts/setup.sh
cargo build --release --locked -p quarry-cli
stamp "fetching data"
bash scripts/fetch_glove.sh >/dev/null
bash scripts/fetch_fashion_mnist.sh >/dev/null
stamp "installing peers"
bash bench/peers/setup.sh

run_dataset() {
  local ds=$1 parts=$2 ext=$3 metric=$4 abl_nprobe=$5
  local out="bench/results/$ds"
  mkdir -p "$out"
  rm -f "$out/results.jsonl" "$out/results.csv" "$out/peers.jsonl" "$out/all.jsonl"
  local nprobes="1,2,4,8,16,32,64,128" peer_quick=""
  [ "$QUICK" = 1 ] && nprobes="1,4,16,64" && peer_quick="--quick"
  # Two Quarry indexes: the default balanced one, and plain k-means (no size bound),
  # the same algorithm as FAISS IVF-Flat, for the pipeline consistency check.
  for variant in balanced:0.1 kmeans:1000000; do
    local name=${variant%%:*} eps=${variant##*:}
    local idx="$DATA/$ds/quarry-$parts-$name" label="quarry-ivf$parts"
    [ "$name" = kmeans ] && label="quarry-ivf$parts-kmeans"
    [ -d "$idx" ] || "$QUARRY" --quiet build --base "$DATA/$ds/base.$ext" --out "$idx" --partitions "$parts" \
      --metric "$metric" --balance-eps "$eps"
    stamp "$ds: quarry sweep ($name)"
    "$QUARRY" --quiet bench --index "$idx" --queries "$DATA/$ds/queries.$ext" --gt "$DATA/$ds/gt100.ibin" \
      --k 10 --nprobe "$nprobes" --batch-sizes 1000 --single-limit 1000 --io direct \
      --label "$label" --out-dir "$out"
  done
  stamp "$ds: peers"
  bench/peers/.venv/bin/python bench/peers/run_peers.py --dataset "$ds" --partitions "$parts" \
    --out "$out/peers.jsonl" $peer_quick
  cat "$out/results.jsonl" "$out/peers.jsonl" > "$out/all.jsonl"
  "$QUARRY" --quiet plot --input "$out/all.jsonl" --out-dir "$out" --k 10 --title "$ds"
  python3 scripts/summarize.py "$out/all.jsonl" "quarry-ivf$parts" "quarry-ivf$parts-kmeans" > "$out/summary.md"
  stamp "$ds: ablation"
  python3 scripts/ablation.py "$ds" "$parts" "$abl_nprobe" > "$out/ablation.md"
  cat "$out/summary.md"
}

run_dataset glove-50 1024 fbin cosine 64
run_dataset fashion-mnist 256 u8bin l2 8
stamp "done"
