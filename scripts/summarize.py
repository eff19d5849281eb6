#!/usr/bin/env python3
"""Summary of one dataset's merged results (Quarry + peers, JSON lines).

usage: summarize.py ALL.jsonl QUARRY_LABEL [KMEANS_LABEL] > summary.md
Per label: best batch QPS at recall@10 >= 0.9 and fewest bytes per query at
recall@1 >= 0.9 (batch-amortised for Quarry, with its single-query figure beside it;
peers report per query); then Quarry vs FAISS IVF-Flat recall@10 at equal nprobe (same
algorithm family: the pipeline consistency check, |difference| <= 0.02).
Standard library only.
"""
import json
import sys


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def main():
    rows = load(sys.argv[1])
    quarry = sys.argv[2]
    # The consistency check compares the same algorithm: Quarry's plain k-means index
    # (no size bound) when given, else the default one.
    same = sys.argv[3] if len(sys.argv) > 3 else quarry
    labels = sorted({r["label"] for r in rows}, key=lambda l: (not l.startswith("quarry"), l))
    out = ["| engine | cache / I/O | best QPS at recall@10 >= 0.9 | at | bytes/query at recall@1 >= 0.9 | single-query bytes/query there | at |",
           "|---|---|---:|---|---:|---:|---|"]
    for label in labels:
        mine = [r for r in rows if r["label"] == label]
        io = f"{mine[0].get('cache', 'cold')} / {mine[0].get('io_mode')}"
        fast = [r for r in mine if (r.get("recall_at_10") or 0) >= 0.9 and r.get("qps")]
        best = max(fast, key=lambda r: r["qps"]) if fast else None
        lean = [r for r in mine if (r.get("recall_at_1") or 0) >= 0.9 and r.get("bytes_per_query") is not None]
        least = min(lean, key=lambda r: r["bytes_per_query"]) if lean else None
        cfg = lambda r: "-" if r is None else ", ".join(f"{k}={v}" for k, v in r["config"].items()
                                                        if k in ("nprobe", "efSearch", "L", "nprobes", "batch_size", "nlist", "M"))
        out.append(f"| {label} | {io} | {fmt(best and best['qps'], '.0f')} | {cfg(best)} (R@10 {fmt(best and best['recall_at_10'], '.3f')}) "
                   f"| {fmt(least and least['bytes_per_query'], '.0f')} "
                   f"| {fmt(least and least.get('single_bytes_per_query', least['bytes_per_query'] if least.get('batch_size') == 1 else None), '.0f')} "
                   f"| {cfg(least)} (R@1 {fmt(least and least['recall_at_1'], '.3f')}) |")
    ivf = {r["config"].get("nprobe"): r for r in rows if r["label"].startswith("faiss-ivf")}
    q = {r["config"].get("nprobe"): r for r in rows if r["label"] == same and r.get("batch_size", 1000) > 1}
    out += ["", f"Consistency: {same} vs FAISS IVF-Flat, recall@10 at equal nprobe (same partition count)", "",
            "| nprobe | quarry | faiss-ivf-flat | difference |", "|---:|---:|---:|---:|"]
    worst = 0.0
    for n in sorted(set(ivf) & set(q)):
        d = q[n]["recall_at_10"] - ivf[n]["recall_at_10"]
        worst = max(worst, abs(d))
        out.append(f"| {n} | {q[n]['recall_at_10']:.4f} | {ivf[n]['recall_at_10']:.4f} | {d:+.4f} |")
    if ivf and q:
        out.append(f"\nLargest |difference|: {worst:.4f} ({'within' if worst <= 0.02 else 'OUTSIDE'} 0.02).")
    print("\n".join(out))


if __name__ == "__main__":
    main()
