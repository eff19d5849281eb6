#!/usr/bin/env bash
# Learned pruning (GBDT) vs fixed nprobe, k = 100, direct I/O, batches of 1,000.
#
# usage: scripts/pruning_bench.sh DATASET PARTITIONS   (glove-50 1024 | fashion-mnist 256)
# Copies data/DATASET/quarry-PARTITIONS-balanced (built by scripts/bench_all.sh, or
# built here) to data/DATASET/gbdt-PARTITIONS, trains the pruning model into the copy
# (leave-one-out base queries, never the evaluation queries), then sweeps fixed nprobe,
# GBDT margins and GBDT target recalls in one `quarry bench` output directory, and
# plots recall@100 vs partitions/query and vs QPS -> bench/results/DATASET/pruning/.
set -euo pipefail
ds=$1
parts=$2
cd "$(dirname "$0")/.."
Q=${QUARRY:-target/release/quarry}
data=${QUARRY_DATA:-data}/$ds
out=bench/results/$ds/pruning
first() { for f in "$@"; do [ -e "$f" ] && { echo "$f"; return; }; done; echo "no $1" >&2; exit 1; }
base=$(first "$data"/base.fbin "$data"/base.u8bin)
queries=$(first "$data"/queries.fbin "$data"/queries.u8bin)
metric=l2
case $ds in glove*) metric=cosine ;; esac
src=$data/quarry-$parts-balanced
idx=$data/gbdt-$parts
if [ ! -d "$src" ]; then
  $Q build --base "$base" --out "$src" --partitions "$parts" --metric "$metric"
fi
cap=$((parts / 4)); [ $cap -gt 256 ] && cap=256
if [ ! -f "$idx/pruning.model" ]; then
  rm -rf "$idx"; cp -r "$src" "$idx"
  $Q train-pruning --index "$idx" --base "$base" --max-nprobe "$cap" --json > "$idx.train.json"
fi
mkdir -p "$out"
rm -f "$out/results.jsonl"
common=(--index "$idx" --queries "$queries" --gt "$data/gt100.ibin" --k 100 --single-limit 0 --out-dir "$out")
case $ds in
  glove*) nprobes=8,16,24,32,40,48,56,64,80,96,128; margins=-1.5,-1,-0.5,0,0.5; targets=0.8,0.85,0.9,0.925,0.95 ;;
  *) nprobes=1,2,3,4,5,6,7,8,10,12,16; margins=-1,-0.5,0,0.5,1; targets=0.8,0.85,0.9,0.925,0.95,0.97 ;;
esac
$Q --quiet bench "${common[@]}" --nprobe "$nprobes" --label fixed-nprobe
# Margin points capped at 128 probes: the executor sizes its per-query buffers by the
# router's cap, and 256 x k=100 candidates would cut a batch of 1,000 in two slices.
$Q --quiet bench "${common[@]}" --router gbdt --margins="$margins" --max-nprobe $((cap < 128 ? cap : 128)) --label gbdt-margin
$Q --quiet bench "${common[@]}" --router gbdt --targets "$targets" --label gbdt-target
$Q plot --input "$out/results.jsonl" --out-dir "$out" --k 100 --title "$ds learned pruning"
# Target-recall mode at k = 10: mean recall@10 on the evaluation queries vs the target.
mkdir -p "$out/target-k10"
rm -f "$out/target-k10/results.jsonl"
$Q --quiet bench --index "$idx" --queries "$queries" --gt "$data/gt100.ibin" --k 10 --single-limit 0 \
  --out-dir "$out/target-k10" --router gbdt --targets 0.8,0.9,0.95 --label gbdt-target-k10
