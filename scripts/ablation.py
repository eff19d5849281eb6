#!/usr/bin/env python3
"""Ablation in the shape of BAM-ANN's Table II, k = 100, direct I/O.

usage: ablation.py DATASET PARTITIONS NPROBE > ablation.md   (data from scripts/fetch_*.sh)
Rows: full (balanced partitions, batch-aware execution: batches of 1,000 grouped by
nearest centroid); without balanced clustering (the same mini-batch k-means with no
size bound, --balance-eps 1e6); without batch-aware execution (each query alone);
without learned pruning (fixed nprobe NPROBE; "full" uses the GBDT router in
target-recall mode, asked for the recall@100 the fixed-nprobe row measured, so the two
rows compare partitions and QPS at equal recall). The GBDT model is trained into the
balanced index (quarry train-pruning, base-drawn leave-one-out training queries)
unless it has one; QUARRY_PRUNING_INDEX names another index directory holding one.
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUARRY = os.environ.get("QUARRY", os.path.join(ROOT, "target/release/quarry"))


def run(args):
    r = subprocess.run([QUARRY, "--quiet"] + args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"quarry {' '.join(args)} failed: {r.stderr.strip()}")
    return json.loads(r.stdout)


def main():
    ds, parts, nprobe = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    data = os.path.join(os.environ.get("QUARRY_DATA", os.path.join(ROOT, "data")), ds)
    base = next(os.path.join(data, f) for f in ("base.fbin", "base.u8bin") if os.path.exists(os.path.join(data, f)))
    metric = "cosine" if ds.startswith("glove") else "l2"
    idx = {}
    # Same index directories as scripts/bench_all.sh, so nothing is built twice.
    for name, eps in (("balanced", "0.1"), ("unbalanced", "1000000")):
        path = os.path.join(data, f"quarry-{parts}-{'balanced' if name == 'balanced' else 'kmeans'}")
        if not os.path.exists(path):
            run(["build", "--base", base, "--out", path, "--partitions", str(parts), "--metric", metric,
                 "--balance-eps", eps, "--json"])
        idx[name] = (path, run(["info", "--index", path, "--json"])["sizes"])
    common = ["--queries", f"{data}/queries.{os.path.basename(base).split('.')[1]}", "--gt", f"{data}/gt100.ibin",
              "--k", "100", "--nprobe", nprobe, "--io", "direct", "--json"]
    # The same 2,000 queries in every row (the query files keep the source's order,
    # so a prefix is not a random sample: compare rows with each other only).
    common += ["--limit", "2000"]
    fixed = run(["search", "--index", idx["balanced"][0], "--batch-size", "1000"] + common)
    pruned_idx = os.environ.get("QUARRY_PRUNING_INDEX", idx["balanced"][0])
    if not os.path.exists(os.path.join(pruned_idx, "pruning.model")):
        cap = str(min(256, parts // 4))
        run(["train-pruning", "--index", pruned_idx, "--base", base, "--max-nprobe", cap, "--json"])
    # Ask for the recall the fixed row reached, floored to 0.005, so both rows stand at (about) equal recall.
    target = max(0.5, int(fixed["recall_at_k"] * 200) / 200)
    full = run(["search", "--index", pruned_idx, "--batch-size", "1000", "--router", "gbdt",
                "--target-recall", f"{target}"] + common)
    unbal = run(["search", "--index", idx["unbalanced"][0], "--batch-size", "1000"] + common)
    single = run(["search", "--index", idx["balanced"][0], "--batch-size", "1"] + common)
    print(f"# Ablation on {ds}: {parts} partitions, nprobe {nprobe} (learned pruning: target recall@100 {target}), k = 100, direct I/O\n")
    print("| variant | recall@100 | latency ms / query | QPS | partitions / query | bytes / query | largest partition |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r, sizes in (("full", full, idx["balanced"][1]), ("w/o learned pruning", fixed, idx["balanced"][1]),
                           ("w/o balanced clustering", unbal, idx["unbalanced"][1]),
                           ("w/o batch-aware execution", single, idx["balanced"][1])):
        per_query_ms = 1000.0 / r["qps"]
        print(f"| {name} | {r['recall_at_k']:.4f} | {per_query_ms:.3f} | {r['qps']:.0f} | {r['partitions_per_query']:.2f} "
              f"| {r['bytes_per_query']:.0f} | {sizes['max']} (mean {sizes['mean']:.0f}) |")
    print("\nLatency per query is wall time / queries (batch rows amortise a batch; the single-query row is its mean latency). "
          "All rows: the first 2,000 queries; batch rows in 2 batches of 1,000 grouped by nearest centroid. "
          "The last two rows use fixed nprobe (learned pruning off) to isolate their own component.")


if __name__ == "__main__":
    main()
