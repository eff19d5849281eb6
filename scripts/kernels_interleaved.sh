#!/usr/bin/env bash
# Issue [kernels]: on a shared machine one run of each engine can land in a slow or
# a fast moment (consecutive identical Quarry runs measured 19.0K-24.2K QPS here).
# This alternates FAISS IVF-Flat and Quarry on GloVe (nprobe 32, both at recall@10
# ~0.92) ROUNDS times per kernel path and reports each round's ratio and the
# medians, so each ratio compares runs seconds apart. Each round also runs Quarry's
# learned router (GBDT target-recall 0.92, trained on base vectors, leave-one-out,
# never on the evaluation queries): the same recall from fewer partitions.
#   ROUNDS=5 PATHS="avx2 avx512" bash scripts/kernels_interleaved.sh
set -euo pipefail
cd "$(dirname "$0")/.."
Q="${QUARRY:-target/release/quarry}"
D="${QUARRY_DATA:-data}/glove-50"
P=bench/peers/.venv/bin/python
OUT=bench/results/kernels/glove-50/interleaved.jsonl
ROUNDS="${ROUNDS:-5}"
PATHS="${PATHS:-avx2 avx512}"
# A fresh machine: the release binary, FAISS's venv, GloVe and its Quarry index.
cargo build --release --locked -p quarry-cli
bash bench/peers/setup.sh >/dev/null
bash scripts/fetch_glove.sh >/dev/null
[ -d "$D/quarry-1024-kernels" ] || "$Q" --quiet build --base "$D/base.fbin" --out "$D/quarry-1024-kernels" --partitions 1024 --metric cosine
# The learned router (seeded: the same model on every run); 30 s here.
grep -q '"gbdt"' "$D/quarry-1024-kernels/manifest.json" ||
  "$Q" --quiet train-pruning --index "$D/quarry-1024-kernels" --base "$D/base.fbin" >/dev/null
TARGET="${TARGET:-0.92}"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
: > "$OUT"
for path in $PATHS; do
  lvl=""; [ "$path" = avx2 ] && lvl=avx2
  for r in $(seq 1 "$ROUNDS"); do
    rm -f "$TMP/f.jsonl"  # run_peers appends
    FAISS_OPT_LEVEL=$lvl $P bench/peers/run_peers.py --dataset glove-50 --engines faiss-ivf --partitions 1024 \
      --faiss-niter 10 --sweep "faiss-ivf=32" --out "$TMP/f.jsonl" --work-dir "${QUARRY_DATA:-data}/peers-tmp" >/dev/null 2>&1
    rm -rf "$TMP/q"
    QUARRY_KERNELS=$path "$Q" --quiet --threads 2 bench --index "$D/quarry-1024-kernels" --queries "$D/queries.fbin" \
      --gt "$D/gt100.ibin" --k 10 --nprobe 32 --batch-sizes 1000 --single-limit 1000 --io buffered \
      --label q --out-dir "$TMP/q" >/dev/null
    rm -rf "$TMP/g"
    QUARRY_KERNELS=$path "$Q" --quiet --threads 2 bench --index "$D/quarry-1024-kernels" --queries "$D/queries.fbin" \
      --gt "$D/gt100.ibin" --k 10 --router gbdt --targets "$TARGET" --batch-sizes 1000 --single-limit 1000 --io buffered \
      --label g --out-dir "$TMP/g" >/dev/null
    python3 - "$TMP/f.jsonl" "$TMP/q/results.jsonl" "$TMP/g/results.jsonl" "$path" "$r" >> "$OUT" <<'PY'
import json, sys
f = json.loads(open(sys.argv[1]).readline())
q = json.loads(open(sys.argv[2]).readline())
g = json.loads(open(sys.argv[3]).readline())
print(json.dumps({"path": sys.argv[4], "round": int(sys.argv[5]),
  "faiss_qps": f["qps"], "faiss_recall10": f["recall_at_10"], "faiss_p50_ms": f["latency_ms_p50"],
  "faiss_vectors_per_query": f["vectors_per_query"],
  "quarry_qps": q["qps"], "quarry_recall10": q["recall_at_10"], "quarry_p50_ms": q["latency_ms_p50"],
  "quarry_vectors_per_query": q["vectors_per_query"],
  "qps_ratio": q["qps"] / f["qps"], "p50_ratio": q["latency_ms_p50"] / f["latency_ms_p50"],
  "gbdt_target": g["config"]["target_recall"], "gbdt_qps": g["qps"], "gbdt_recall10": g["recall_at_10"],
  "gbdt_p50_ms": g["latency_ms_p50"], "gbdt_partitions_per_query": g["partitions_per_query"],
  "gbdt_vectors_per_query": g["vectors_per_query"],
  "gbdt_qps_ratio": g["qps"] / f["qps"], "gbdt_p50_ratio": g["latency_ms_p50"] / f["latency_ms_p50"]}))
PY
    tail -1 "$OUT"
  done
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for path in dict.fromkeys(r["path"] for r in rows):
    rs = [r for r in rows if r["path"] == path]
    med = lambda k: statistics.median(r[k] for r in rs)
    print(f"{path}: {len(rs)} rounds; median QPS FAISS {med('faiss_qps'):.0f} Quarry {med('quarry_qps'):.0f}; "
          f"median ratio {med('qps_ratio'):.2f}x (range {min(r['qps_ratio'] for r in rs):.2f}-{max(r['qps_ratio'] for r in rs):.2f}); "
          f"single p50 FAISS {med('faiss_p50_ms'):.3f} ms Quarry {med('quarry_p50_ms'):.3f} ms, median ratio {med('p50_ratio'):.2f} "
          f"(range {min(r['p50_ratio'] for r in rs):.2f}-{max(r['p50_ratio'] for r in rs):.2f})")
    print(f"{path} GBDT target {rs[0]['gbdt_target']}: recall@10 {med('gbdt_recall10'):.4f} (FAISS {med('faiss_recall10'):.4f}), "
          f"{med('gbdt_partitions_per_query'):.1f} partitions, {med('gbdt_vectors_per_query'):.0f} vectors/q (FAISS {med('faiss_vectors_per_query'):.0f}); "
          f"QPS {med('gbdt_qps'):.0f}, median ratio {med('gbdt_qps_ratio'):.2f}x; single p50 {med('gbdt_p50_ms'):.3f} ms, "
          f"median ratio {med('gbdt_p50_ratio'):.2f} (range {min(r['gbdt_p50_ratio'] for r in rs):.2f}-{max(r['gbdt_p50_ratio'] for r in rs):.2f})")
PY
