#!/usr/bin/env python3
"""Feature ablation of the learned-pruning model (offline, load-independent).

usage: pruning_features.py DATASET PARTITIONS [TRAIN_QUERIES] > features.md
Trains one model per feature set into a scratch copy of data/DATASET/gbdt-PARTITIONS
(data/DATASET/gbdt-PARTITIONS-ablation) and reports, on the held-out calibration
slice, the partitions per query each policy needs for mean recall@100 / recall@10 of
0.9 and 0.95 against fixed nprobe (interpolated) and the oracle bound. Recall there
is computed from the exact neighbours' partition positions, which equals what a
search probing those partitions returns.
"""
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUARRY = os.environ.get("QUARRY", os.path.join(ROOT, "target/release/quarry"))

VARIANTS = [
    ("D2..D16 / D1 (paper, K=16)", ["--features-k", "16", "--no-d1", "--no-norm"]),
    ("D2..D64 / D1 (K=64)", ["--features-k", "64", "--no-d1", "--no-norm"]),
    ("K=64 + D1", ["--features-k", "64", "--no-norm"]),
    ("K=64 + D1 + norm(q) (default)", ["--features-k", "64"]),
    ("K=64 + D1 + norm(q), label = all of top-100", ["--features-k", "64", "--label-fraction", "1.0"]),
]


def main():
    ds, parts = sys.argv[1], int(sys.argv[2])
    nq = sys.argv[3] if len(sys.argv) > 3 else "20000"
    data = os.path.join(os.environ.get("QUARRY_DATA", os.path.join(ROOT, "data")), ds)
    base = next(os.path.join(data, f) for f in ("base.fbin", "base.u8bin") if os.path.exists(os.path.join(data, f)))
    src = os.path.join(data, f"quarry-{parts}-balanced")
    scratch = os.path.join(data, f"gbdt-{parts}-ablation")
    if not os.path.exists(scratch):
        shutil.copytree(src, scratch)
    cap = str(min(256, parts // 4))
    print(f"# Learned-pruning features on {ds} ({parts} partitions, {nq} training queries, 20% held out)\n")
    print("Partitions per query on the held-out slice at equal mean recall: target-recall allocation "
          "(margin policy in brackets); fixed nprobe interpolated; oracle = best per-query counts knowing the answers.\n")
    print("| features | RMSE ln(label) | train s | R@100 0.9 | R@100 0.95 | R@10 0.9 | R@10 0.95 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    fixed = oracle = None
    for name, extra in VARIANTS:
        r = subprocess.run([QUARRY, "--quiet", "train-pruning", "--index", scratch, "--base", base,
                            "--train-queries", nq, "--max-nprobe", cap, "--json"] + extra,
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"train-pruning failed: {r.stderr.strip()}")
        rep = json.loads(r.stdout)
        pts = {(h["k"], h["target"]): h for h in rep["holdout"]}
        cells = []
        for key in ((100, 0.9), (100, 0.95), (10, 0.9), (10, 0.95)):
            h = pts.get(key)
            if not h or h["allocated_partitions"] is None:
                cells.append("-")
                continue
            cells.append(f"{h['allocated_partitions']:.2f} ({h['learned_partitions']:.2f})")
        fixed = [pts.get(k) for k in ((100, 0.9), (100, 0.95), (10, 0.9), (10, 0.95))]
        print(f"| {name} | {rep['holdout_rmse_ln']:.3f} | {rep['train_secs']:.1f} | " + " | ".join(cells) + " |")
    fmt = lambda h, f: f"{h[f]:.2f}" if h and h[f] is not None else "-"
    print("| fixed nprobe | | | " + " | ".join(fmt(h, "fixed_interpolated") for h in fixed) + " |")
    print("| oracle | | | " + " | ".join(fmt(h, "oracle_partitions") for h in fixed) + " |")


if __name__ == "__main__":
    main()
