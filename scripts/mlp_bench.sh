#!/usr/bin/env bash
# Issue 6: recall@1 vs vectors fetched per query for k-means probing, SPANN-style
# closure replication, the MLP router and MLP + learned duplication, on GloVe-6B-50d
# (1024 partitions, cosine; MLP trained on learn.fbin) and Fashion-MNIST (256
# partitions, L2; trained on base vectors, leave-one-out). Writes
# bench/results/mlp/<dataset>/{results.jsonl,results.csv,recall1_vs_vectors.png,...}
# and the training reports beside them. Indexes go to data/mlp-<dataset>/.
# SPANN_EPS overrides the build's replication eps; EPOCHS / DUP_EVERY / NOISE the
# training (the README figures: EPOCHS=45 DUP_EVERY=15, measured under load).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
Q="${QUARRY:-$ROOT/target/release/quarry}"
DATA="${QUARRY_DATA:-$ROOT/data}"
EPOCHS="${EPOCHS:-150}"
DUP_EVERY="${DUP_EVERY:-50}"
NOISE="${NOISE:-1.0}"
SPANN_EPS="${SPANN_EPS:-0.1}"
cargo build --release --locked -p quarry-cli

run_dataset() {
  local ds=$1 parts=$2 ext=$3 metric=$4 train=$5 nprobes=$6 qeps=$7
  local dir="$DATA/mlp-$ds" out="bench/results/mlp/$ds"
  mkdir -p "$dir" "$out"
  rm -f "$out/results.jsonl" "$out/results.csv"
  local base="$DATA/$ds/base.$ext" queries="$DATA/$ds/queries.$ext" gt="$DATA/$ds/gt100.ibin"
  [ -d "$dir/kmeans-$parts" ] || "$Q" --quiet build --base "$base" --out "$dir/kmeans-$parts" --partitions "$parts" --metric "$metric"
  [ -d "$dir/spann-$parts" ] || "$Q" --quiet build --base "$base" --out "$dir/spann-$parts" --partitions "$parts" --metric "$metric" \
    --replicate-eps "$SPANN_EPS" --replicate-max 8
  # Two models: one without duplication (searched on the plain index), one with
  # (searched on the index holding its duplicates). Each trains on its own copy.
  for v in mlp mlpsrc; do [ -d "$dir/$v-$parts" ] || cp -r "$dir/kmeans-$parts" "$dir/$v-$parts"; done
  local tr=()
  [ -n "$train" ] && tr=(--train "$train")
  [ -d "$dir/mlpdup-$parts" ] || "$Q" --quiet mlp-train --index "$dir/mlpsrc-$parts" --base "$base" "${tr[@]}" \
    --epochs "$EPOCHS" --dup-every "$DUP_EVERY" --noise "$NOISE" --dup-out "$dir/mlpdup-$parts" --report "$out/train-dup.json" > /dev/null
  grep -q '"mlp"' "$dir/mlp-$parts/manifest.json" || "$Q" --quiet mlp-train --index "$dir/mlp-$parts" --base "$base" "${tr[@]}" \
    --epochs "$EPOCHS" --noise "$NOISE" --dup-every 0 --report "$out/train-nodup.json" > /dev/null
  local common=(--queries "$queries" --gt "$gt" --k 10 --batch-sizes 1000 --single-limit 0 --out-dir "$out")
  "$Q" --quiet bench --index "$dir/kmeans-$parts" --nprobe "$nprobes" --label kmeans "${common[@]}"
  # SPANN's query rule, several query-side eps (100 = no pruning, just the cap).
  for e in $qeps; do
    "$Q" --quiet bench --index "$dir/spann-$parts" --nprobe "$nprobes" --spann-eps "$e" --label "spann-q$e" "${common[@]}"
  done
  "$Q" --quiet bench --index "$dir/mlp-$parts" --nprobe "$nprobes" --router mlp --label mlp "${common[@]}"
  "$Q" --quiet bench --index "$dir/mlpdup-$parts" --nprobe "$nprobes" --router mlp --label mlp+dup "${common[@]}"
  "$Q" --quiet bench --index "$dir/mlpdup-$parts" --nprobe 64 --router mlp --mlp-mass 0.5,0.7,0.8,0.9,0.95,0.98,0.99,0.995,0.999 \
    --label mlp+dup-mass "${common[@]}"
  "$Q" plot --input "$out/results.jsonl" --out-dir "$out" --title "$ds" --k 10
}

run_dataset glove-50 1024 fbin cosine "$DATA/glove-50/learn.fbin" 1,2,3,4,6,8,12,16,24,32,48,64 "0.3 0.6 100"
run_dataset fashion-mnist 256 u8bin l2 "" 1,2,3,4,6,8,12,16,24,32 "0.1 0.3 100"
python3 scripts/mlp_summary.py
