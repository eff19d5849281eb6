#!/usr/bin/env python3
"""Tables for issue [kernels] from scripts/kernels_bench.sh's output directory.

usage: kernels_summary.py bench/results/kernels > summary.md
Standard library only.
"""
import json
import re
import sys
from pathlib import Path

UNITS = {"elem/s": 1e-9, "Kelem/s": 1e-6, "Melem/s": 1e-3, "Gelem/s": 1.0}


def kernel_rates(text):
    """name -> median throughput in G per second (criterion's middle estimate)."""
    rates = {}
    pat = re.compile(r"^(\S+)\s*(?:\n\s*)?time:\s*\[[^\]]*\]\s*\n\s*thrpt:\s*\[\S+ \S+ (\S+) (\S+)", re.M)
    for m in pat.finditer(text):
        rates[m.group(1)] = float(m.group(2)) * UNITS[m.group(3)]
    return rates


def kernels(out, d):
    text = (d / "kernels.txt").read_text()
    r = kernel_rates(text)
    paths = [p for p in ("portable", "avx2", "avx512") if any(f"/{p}/" in k for k in r)]
    out.append("### Batch dots (GFLOP/s, one thread, 64 queries x 2000 vectors, inner product)\n")
    out.append("| d | " + " | ".join(f"{p} f32" for p in paths) + " | " + " | ".join(f"{p} u8" for p in paths)
               + " | faer sgemm | avx2 / faer | portable / avx2 |")
    out.append("|---" * (2 * len(paths) + 4) + "|")
    for dim in (50, 128, 784):
        g = f"batch/64x2000/{dim}"
        f = [r.get(f"{g}/{p}/f32/ip") for p in paths]
        u = [r.get(f"{g}/{p}/u8/ip") for p in paths]
        faer = r.get(f"{g}/faer_sgemm")
        a2 = r.get(f"{g}/avx2/f32/ip")
        po = r.get(f"{g}/portable/f32/ip")
        cells = [fmt(x, ".1f") for x in f + u] + [fmt(faer, ".1f"),
                                                   fmt(a2 / faer if a2 and faer else None, ".2f"),
                                                   fmt(po / a2 if po and a2 else None, ".2f")]
        out.append(f"| {dim} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("### Pair kernels (G dimensions per second, one query x one vector)\n")
    out.append("| d | kernel | " + " | ".join(paths) + " |")
    out.append("|---|---" + "|---:" * len(paths) + "|")
    for dim in (50, 128, 784):
        for kern in ("dot_f32", "l2_f32", "dot_u8", "l2_u8"):
            cells = [fmt(r.get(f"pair/{dim}/{p}/{kern}"), ".1f") for p in paths]
            out.append(f"| {dim} | {kern} | " + " | ".join(cells) + " |")
    out.append("")


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def builds(out, d):
    rows = [json.loads(l) for l in (d / "build.jsonl").read_text().splitlines() if l.strip()]
    out.append("### Build: 1M x 128 u8 (`quarry synth`), 1024 partitions, 2 threads\n")
    out.append("| engine | kernels | train s (CPU use) | assign s (CPU use) | write s | total s | vs FAISS same run |")
    out.append("|---|---|---:|---:|---:|---:|---:|")
    faiss = {}
    for r in rows:
        if r.get("engine") == "faiss-ivf":
            faiss[r["path"]] = r["build_secs"]
    for r in rows:
        if r.get("engine") == "quarry":
            t = r["threads"]
            u = lambda c, w: f"{100 * c / max(w * t, 1e-9):.0f}%"
            fa = faiss.get("avx2" if r["path"] == "avx2" else "best")
            out.append(f"| Quarry | {r['path']} | {r['train_secs']:.1f} ({u(r['train_cpu_secs'], r['train_secs'])}) | "
                       f"{r['assign_secs']:.1f} ({u(r['assign_cpu_secs'], r['assign_secs'])}) | {r['write_secs']:.1f} | "
                       f"{r['total_secs']:.1f} | {fmt(r['total_secs'] / fa if fa else None, '.2f')}x |")
        else:
            out.append(f"| FAISS IVF-Flat train + add (niter 10) | {r['path']} | | | | {r['build_secs']:.1f} | |")
    out.append("")


def search(out, d, ds):
    f = d / ds / "all.jsonl"
    if not f.exists():
        return
    rows = [json.loads(l) for l in f.read_text().splitlines() if l.strip()]
    out.append(f"### {ds}: best batch QPS at recall@10 >= 0.9 (batch 1000 for Quarry, all queries for FAISS)\n")
    out.append("| engine | threads | I/O | QPS | at | recall@10 | single-query p50 / mean ms | read MiB/s | vs FAISS (same path) |")
    out.append("|---|---:|---|---:|---|---:|---:|---:|---:|")
    best = {}
    for label in sorted({r["label"] for r in rows}):
        mine = [r for r in rows if r["label"] == label and (r.get("recall_at_10") or 0) >= 0.9 and r.get("qps")]
        if mine:
            best[label] = max(mine, key=lambda r: r["qps"])
    for label, r in best.items():
        path = label.split("-")[1] if label.startswith("quarry") else label.rsplit("-", 1)[-1]
        fa = best.get(f"faiss-ivf-flat-{path}")
        knob = r["config"].get("nprobe")
        lat = r  # both harnesses time single queries (the first 1000) beside the batch run
        ratio = r["qps"] / fa["qps"] if fa and not label.startswith("faiss") else None
        out.append(f"| {label} | {r.get('threads', 1)} | {r.get('io_mode')} | {r['qps']:.0f} | nprobe={knob} | "
                   f"{r['recall_at_10']:.3f} | {fmt(lat.get('latency_ms_p50'), '.3f')} / {fmt(lat.get('latency_ms_mean'), '.3f')} | "
                   f"{fmt(r.get('read_mib_per_s'), '.0f')} | {fmt(ratio, '.2f')}{'x' if ratio else ''} |")
    out.append("")


def main():
    d = Path(sys.argv[1])
    out = ["## Kernel paths (issue [kernels])", ""]
    out += ["```"] + (d / "machine.txt").read_text().splitlines() + ["```", ""]
    kernels(out, d)
    builds(out, d)
    for ds in ("glove-50", "synth-1m"):
        search(out, d, ds)
    print("\n".join(out))


if __name__ == "__main__":
    main()
