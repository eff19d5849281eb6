#!/usr/bin/env bash
# Quality after growth (issue [updates]): build on the first half of a dataset,
# upsert the second half in batches of 1,000 with flushes (and so splits and
# reassignment) on the way, then compare recall@10 at a fixed nprobe with a fresh
# build of the whole set at the partition count the grown index ended with.
# Upserted ids continue after the first half's, so they equal the rows' ids in the
# full set and the dataset's ground truth applies to both indexes.
#
# usage: scripts/growth_bench.sh NAME BASE QUERIES GT METRIC PARTITIONS NPROBE FLUSH_EVERY [EXTRA WRITER FLAGS...]
#   e.g. scripts/growth_bench.sh glove-50 data/glove-50/base.fbin data/glove-50/queries.fbin \
#          data/glove-50/gt100.ibin cosine 512 32 10
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 base=$2 queries=$3 gt=$4 metric=$5 parts=$6 nprobe=$7 every=$8
shift 8
Q=target/release/quarry
out=bench/results/updates/growth
work=data/growth-$name
mkdir -p "$out" "$work"
rm -rf "$work"/grown "$work"/fresh
python3 - "$base" "$work" <<'PY'
# big-ann layout: u32 n, u32 d, then n rows.
import sys, struct, pathlib
src, work = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
raw = src.read_bytes()
n, d = struct.unpack("<II", raw[:8])
row = (len(raw) - 8) // n
h = n // 2
for part, (a, b) in (("first", (0, h)), ("second", (h, n))):
    (work / f"{part}{src.suffix}").write_bytes(struct.pack("<II", b - a, d) + raw[8 + a * row : 8 + b * row])
PY
ext="${base##*.}"
$Q build --base "$work/first.$ext" --out "$work/grown" --partitions "$parts" --metric "$metric" --quiet
$Q upsert --index "$work/grown" --vectors "$work/second.$ext" --batch 1000 --flush-every "$every" --flush --json --quiet "$@" \
  > "$out/$name-upsert.json"
$Q info --index "$work/grown" --json > "$out/$name-grown-info.json"
P=$(python3 -c "import json; print(json.load(open('$out/$name-grown-info.json'))['num_partitions'])")
$Q build --base "$base" --out "$work/fresh" --partitions "$P" --metric "$metric" --quiet
$Q info --index "$work/fresh" --json > "$out/$name-fresh-info.json"
for which in grown fresh; do
  $Q search --index "$work/$which" --queries "$queries" --gt "$gt" --k 10 --nprobe "$nprobe" \
    --batch-size 1000 --json > "$out/$name-$which-search.json"
done
python3 - "$out" "$name" "$nprobe" <<'PY'
import json, sys
out, name, nprobe = sys.argv[1:]
j = lambda s: json.load(open(f"{out}/{name}-{s}.json"))
up, gi, fi = j("upsert"), j("grown-info"), j("fresh-info")
g, f = j("grown-search"), j("fresh-search")
row = {
    "dataset": name, "nprobe": int(nprobe), "partitions": gi["num_partitions"],
    "upserts_per_s": up.get("ids_per_s"), "upsert_secs": up.get("secs"),
    "grown_recall_at_10": g["recall_at_k"], "fresh_recall_at_10": f["recall_at_k"],
    "recall_gap": round(f["recall_at_k"] - g["recall_at_k"], 4),
    "grown_max_over_mean": round(gi["sizes"]["max"] / gi["sizes"]["mean"], 3),
    "fresh_max_over_mean": round(fi["sizes"]["max"] / fi["sizes"]["mean"], 3),
    "grown_bytes_per_query": g.get("bytes_per_query"), "fresh_bytes_per_query": f.get("bytes_per_query"),
}
print(json.dumps(row))
json.dump(row, open(f"{out}/{name}-summary.json", "w"), indent=1)
PY
