#!/usr/bin/env python3
"""Issue 6 summary: vectors fetched per query at recall@1 = 0.90 for every label of
bench/results/mlp/<dataset>/results.jsonl (linear interpolation between the two sweep
points around 0.90; '-' when a configuration never reaches it), and the reductions
of the best MLP + duplication row against k-means and the best SPANN-style row.
Usage: scripts/mlp_summary.py [results.jsonl ...] (default: both datasets)."""
import json
import sys

TARGET = 0.90


def at_target(points):
    points = sorted(points)
    if points and points[0][1] >= TARGET:
        return points[0][0]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if y0 < TARGET <= y1:
            return x0 + (TARGET - y0) / (y1 - y0) * (x1 - x0)
    return None


def summarise(path):
    series = {}
    for line in open(path):
        if line.strip():
            r = json.loads(line)
            if r.get("recall_at_1") is not None:
                series.setdefault(r["label"], []).append((r["vectors_per_query"], r["recall_at_1"]))
    best = {lab: at_target(pts) for lab, pts in series.items()}
    print(f"\n{path}\n\n| configuration | vectors/query at recall@1 = {TARGET:.2f} |\n|---|---:|")
    for lab, v in best.items():
        print(f"| {lab} | {'-' if v is None else f'{v:.0f}'} |")

    def pick(prefix, exclude=()):
        c = [v for lab, v in best.items() if lab.startswith(prefix) and v is not None
             and not any(e in lab for e in exclude)]
        return min(c) if c else None

    km, sp = best.get("kmeans"), pick("spann")
    dup = pick("mlp+dup", exclude=("plain",))
    if dup is not None:
        for name, ref in (("k-means", km), ("SPANN-style (best)", sp)):
            if ref:
                change = (f"{(1 - dup / ref) * 100:.1f}% fewer" if dup <= ref
                          else f"{(dup / ref - 1) * 100:.1f}% more")
                print(f"\nMLP + duplication vs {name}: {dup:.0f} vs {ref:.0f} vectors/query ({change})")


for p in sys.argv[1:] or ["bench/results/mlp/glove-50/results.jsonl",
                          "bench/results/mlp/fashion-mnist/results.jsonl"]:
    summarise(p)
