#!/usr/bin/env bash
# Issue [kernels]: on a shared machine one run of each engine can land in a slow or
# a fast moment (consecutive identical Quarry runs measured 19.0K-24.2K QPS here).
# This alternates FAISS IVF-Flat and Quarry on GloVe (nprobe 32, both at recall@10
# ~0.92) ROUNDS times per kernel path and reports each round's ratio and the
# medians, so each ratio compares runs seconds apart.
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
    python3 - "$TMP/f.jsonl" "$TMP/q/results.jsonl" "$path" "$r" >> "$OUT" <<'PY'
import json, sys
f = json.loads(open(sys.argv[1]).readline())
q = json.loads(open(sys.argv[2]).readline())
print(json.dumps({"path": sys.argv[3], "round": int(sys.argv[4]),
  "faiss_qps": f["qps"], "faiss_recall10": f["recall_at_10"], "faiss_p50_ms": f["latency_ms_p50"],
  "quarry_qps": q["qps"], "quarry_recall10": q["recall_at_10"], "quarry_p50_ms": q["latency_ms_p50"],
  "qps_ratio": q["qps"] / f["qps"], "p50_ratio": q["latency_ms_p50"] / f["latency_ms_p50"]}))
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
PY
