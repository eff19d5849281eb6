#!/usr/bin/env bash
# Issue 6: recall@1 vs vectors fetched per query on GloVe-6B-50d (1024 partitions,
# cosine; MLP trained on learn.fbin) and Fashion-MNIST (256 partitions, L2; trained
# on base vectors, leave-one-out), all configurations of the same engine:
#   kmeans            centroid order, fixed nprobe
#   spann-q<eps>      SPANN-style closure replication (build eps SPANN_EPS, <= 8 copies), SPANN's query rule
#   mlp               MLP router (centroid prior), fixed count
#   mlp+dup           MLP + learned duplication (paper: 20% of misses per round, cap 10% of n)
#   mlp+dup-mass      the same, stopping at a cumulative probability
#   mlp+dup-wide      duplication of every miss, cap 50% of n (how far duplication goes)
#   kmeans-on-wide    centroid order on the mlp+dup-wide index (duplication without the MLP)
#   gbdt              GBDT probe counts (label: partitions until the nearest neighbour), centroid order
#   gbdt+mlp          the same counts, MLP order
#   gbdt(+mlp)-on-dup the same two on the mlp+dup index (GBDT trained on it)
# Writes bench/results/mlp/<dataset>/{results.jsonl,results.csv,recall1_vs_vectors.png,
# train-*.json}; indexes go to data/mlp-<dataset>/. EPOCHS / DUP_EVERY / NOISE /
# TRAIN_QUERIES set the training (README figures: EPOCHS=30 DUP_EVERY=10, because the
# held-out hit rate peaks within the first epochs of each phase; see README).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
Q="${QUARRY:-$ROOT/target/release/quarry}"
DATA="${QUARRY_DATA:-$ROOT/data}"
EPOCHS="${EPOCHS:-150}"
DUP_EVERY="${DUP_EVERY:-50}"
NOISE="${NOISE:-1.0}"
TRAIN_QUERIES="${TRAIN_QUERIES:-100000}"
SPANN_EPS="${SPANN_EPS:-0.1}"
cargo build --release --locked -p quarry-cli
export RAYON_NUM_THREADS=1

train() { # index out-report [extra mlp-train args...]
  local idx=$1 rep=$2; shift 2
  "$Q" --quiet --threads 1 mlp-train --index "$idx" --base "$BASE" "${TR[@]}" --train-queries "$TRAIN_QUERIES" \
    --epochs "$EPOCHS" --noise "$NOISE" --report "$rep" "$@" > /dev/null
}

run_dataset() {
  local ds=$1 parts=$2 ext=$3 metric=$4 train=$5 nprobes=$6 qeps=$7 margins=$8
  local dir="$DATA/mlp-$ds" out="bench/results/mlp/$ds"
  mkdir -p "$dir" "$out"
  rm -f "$out/results.jsonl" "$out/results.csv"
  BASE="$DATA/$ds/base.$ext"
  local queries="$DATA/$ds/queries.$ext" gt="$DATA/$ds/gt100.ibin"
  TR=()
  [ -n "$train" ] && TR=(--train "$train")
  [ -d "$dir/kmeans-$parts" ] || "$Q" --quiet build --base "$BASE" --out "$dir/kmeans-$parts" --partitions "$parts" --metric "$metric"
  [ -d "$dir/spann-$parts" ] || "$Q" --quiet build --base "$BASE" --out "$dir/spann-$parts" --partitions "$parts" --metric "$metric" \
    --replicate-eps "$SPANN_EPS" --replicate-max 8
  # Each model trains on its own copy of the k-means index; duplication writes a new one.
  for v in mlp src srcwide; do [ -d "$dir/$v-$parts" ] || cp -r "$dir/kmeans-$parts" "$dir/$v-$parts"; done
  grep -q '"mlp"' "$dir/mlp-$parts/manifest.json" || train "$dir/mlp-$parts" "$out/train-nodup.json" --dup-every 0
  [ -d "$dir/mlpdup-$parts" ] || train "$dir/src-$parts" "$out/train-dup.json" --dup-every "$DUP_EVERY" --dup-out "$dir/mlpdup-$parts"
  [ -d "$dir/mlpwide-$parts" ] || train "$dir/srcwide-$parts" "$out/train-dup-wide.json" --dup-every "$DUP_EVERY" \
    --dup-share 1.0 --dup-cap 0.5 --dup-out "$dir/mlpwide-$parts"
  # GBDT probe counts for recall@1: label = partitions (centroid order) until the neighbour.
  grep -q '"gbdt"' "$dir/mlp-$parts/manifest.json" || "$Q" --quiet train-pruning --index "$dir/mlp-$parts" --base "$BASE" \
    --label-k 1 --label-fraction 1.0 --features-k 16 --rounds 100 --learning-rate 0.25 --json > "$out/train-gbdt.json"
  grep -q '"gbdt"' "$dir/mlpdup-$parts/manifest.json" || "$Q" --quiet train-pruning --index "$dir/mlpdup-$parts" --base "$BASE" \
    --label-k 1 --label-fraction 1.0 --features-k 16 --rounds 100 --learning-rate 0.25 --json > "$out/train-gbdt-dup.json"
  local common=(--queries "$queries" --gt "$gt" --k 10 --batch-sizes 1000 --single-limit 0 --out-dir "$out")
  "$Q" --quiet bench --index "$dir/kmeans-$parts" --nprobe "$nprobes" --label kmeans "${common[@]}"
  for e in $qeps; do # SPANN's query rule; 100 = no pruning, just the cap
    "$Q" --quiet bench --index "$dir/spann-$parts" --nprobe "$nprobes" --spann-eps "$e" --label "spann-q$e" "${common[@]}"
  done
  "$Q" --quiet bench --index "$dir/mlp-$parts" --nprobe "$nprobes" --router mlp --label mlp "${common[@]}"
  "$Q" --quiet bench --index "$dir/mlpdup-$parts" --nprobe "$nprobes" --router mlp --label mlp+dup "${common[@]}"
  "$Q" --quiet bench --index "$dir/mlpdup-$parts" --nprobe 64 --router mlp --mlp-mass 0.5,0.7,0.8,0.9,0.95,0.98,0.99,0.995,0.999 \
    --label mlp+dup-mass "${common[@]}"
  "$Q" --quiet bench --index "$dir/mlpwide-$parts" --nprobe "$nprobes" --router mlp --label mlp+dup-wide "${common[@]}"
  "$Q" --quiet bench --index "$dir/mlpwide-$parts" --nprobe "$nprobes" --label kmeans-on-wide "${common[@]}"
  "$Q" --quiet bench --index "$dir/mlp-$parts" --router gbdt --margins "$margins" --label gbdt "${common[@]}"
  "$Q" --quiet bench --index "$dir/mlp-$parts" --router gbdt --mlp-order --margins "$margins" --label gbdt+mlp "${common[@]}"
  "$Q" --quiet bench --index "$dir/mlpdup-$parts" --router gbdt --margins "$margins" --label gbdt-on-dup "${common[@]}"
  "$Q" --quiet bench --index "$dir/mlpdup-$parts" --router gbdt --mlp-order --margins "$margins" --label gbdt+mlp-on-dup "${common[@]}"
  "$Q" plot --input "$out/results.jsonl" --out-dir "$out" --title "$ds" --k 10
}

case "${1:-all}" in
  glove-50|all) run_dataset glove-50 1024 fbin cosine "$DATA/glove-50/learn.fbin" 1,2,3,4,6,8,12,16,24,32,48,64 "0.3 0.6 100" \
    -1,-0.5,0,0.25,0.5,0.75,1,1.5,2 ;;&
  fashion-mnist|all) run_dataset fashion-mnist 256 u8bin l2 "" 1,2,3,4,6,8,12,16,24,32 "0.1 0.3 100" -1,-0.5,0,0.25,0.5,0.75,1,1.5 ;;
esac
python3 scripts/mlp_summary.py
