#!/usr/bin/env bash
# Interleaved A/B of fixed nprobe vs the GBDT router at (about) equal recall@100, so
# both see the same machine load: REPS rounds of (fixed, gbdt), k = 100, batches of
# 1,000, direct I/O. Prints one JSON line per run (label, recall, partitions, QPS,
# model time per query wall and CPU).
# usage: [PRUNING_INDEX=dir] scripts/pruning_ab.sh DATASET PARTITIONS NPROBE TARGET [REPS]
set -euo pipefail
ds=$1; parts=$2; nprobe=$3; target=$4; reps=${5:-3}
cd "$(dirname "$0")/.."
Q=${QUARRY:-target/release/quarry}
data=${QUARRY_DATA:-data}/$ds
first() { for f in "$@"; do [ -e "$f" ] && { echo "$f"; return; }; done; echo "no $1" >&2; exit 1; }
queries=$(first "$data"/queries.fbin "$data"/queries.u8bin)
common=(search --index "${PRUNING_INDEX:-$data/gbdt-$parts}" --queries "$queries" --gt "$data/gt100.ibin" --k 100 --json)
show='import json,sys; r=json.load(sys.stdin); print(json.dumps({"label": sys.argv[1], "recall_at_100": r["recall_at_100"], "partitions_per_query": r["partitions_per_query"], "qps": round(r["qps"],1), "bytes_per_query": round(r["bytes_per_query"]), "route_us_per_query": round(r["route_us_per_query"],2), "model_us_per_query": r["router_select_us_per_query"], "model_cpu_us_per_query": r["router_select_cpu_us_per_query"]}))'
for _ in $(seq "$reps"); do
  $Q --quiet "${common[@]}" --nprobe "$nprobe" | python3 -c "$show" "fixed nprobe=$nprobe"
  $Q --quiet "${common[@]}" --router gbdt --target-recall "$target" | python3 -c "$show" "gbdt target=$target"
done
