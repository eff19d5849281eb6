#!/usr/bin/env python3
"""Issue-2 acceptance measurements on GloVe-6B-50d (run scripts/fetch_glove.sh first).

Builds the index with a memory budget (peak RSS recorded), then runs `quarry search`
with direct I/O for a sweep of nprobe: all 10K queries in batches of 1,000 for the
recall table, and the first 1,000 queries both as one batch and one at a time for
the batch-versus-single comparison. Writes bench/results/glove-50/core.{jsonl,md}.
Standard library only.
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUARRY = os.environ.get("QUARRY", os.path.join(ROOT, "target/release/quarry"))
DATA = os.path.join(os.environ.get("QUARRY_DATA", os.path.join(ROOT, "data")), "glove-50")
OUT = os.path.join(ROOT, "bench/results/glove-50")
PARTITIONS = int(os.environ.get("PARTITIONS", "1024"))
BUDGET_MB = int(os.environ.get("BUDGET_MB", "64"))
NPROBES = [int(x) for x in os.environ.get("NPROBES", "1,2,4,8,16,32,64,128").split(",")]


def run(args):
    r = subprocess.run([QUARRY, "--quiet"] + args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"quarry {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


def search(index, nprobe, batch, limit=None):
    args = ["search", "--index", index, "--queries", f"{DATA}/queries.fbin", "--gt", f"{DATA}/gt100.ibin",
            "--k", "10", "--nprobe", str(nprobe), "--batch-size", str(batch), "--io", "direct", "--json"]
    if limit:
        args += ["--limit", str(limit)]
    return json.loads(run(args))


def main():
    os.makedirs(OUT, exist_ok=True)
    index = f"{DATA}/idx{PARTITIONS}-b{BUDGET_MB}"
    if os.path.exists(index):
        subprocess.run(["rm", "-rf", index], check=True)
    build = json.loads(run(["build", "--base", f"{DATA}/base.fbin", "--out", index, "--partitions", str(PARTITIONS),
                            "--metric", "cosine", "--mem-budget-mb", str(BUDGET_MB), "--json"]))
    rows = []
    for nprobe in NPROBES:
        full = search(index, nprobe, 1000)
        one_batch = search(index, nprobe, 1000, limit=1000)
        single = search(index, nprobe, 1, limit=1000)
        rows.append({"nprobe": nprobe, "batch_all": full, "batch_1000q": one_batch, "single_1000q": single})
        print(f"nprobe {nprobe:4d}: recall@10 {full['recall_at_k']:.4f}  batch QPS {full['qps']:.0f}  "
              f"single QPS {single['qps']:.0f}  bytes/q batch {one_batch['bytes_per_query']:.0f} "
              f"single {single['bytes_per_query']:.0f}", flush=True)
    # Read throughput of the search I/O path vs the device's plain sequential O_DIRECT rate.
    reads = [json.loads(run(["info", "--index", index, "--read-test", "--json"]))["direct_read_mib_per_s"] for _ in range(3)]
    dd = subprocess.run(["bash", os.path.join(ROOT, "scripts/measure_disk.sh")], capture_output=True, text=True, cwd=ROOT)
    dd_line = dd.stdout.strip().splitlines()[-1] if dd.returncode == 0 else f"dd failed: {dd.stderr.strip()}"
    with open(f"{OUT}/core.jsonl", "w") as f:
        f.write(json.dumps({"partition_read_mib_per_s": reads, "dd_sequential_direct": dd_line}) + "\n")
        f.write(json.dumps({"build": build}) + "\n")
        for r in rows:
            f.write(json.dumps(r) + "\n")
    mib = 1 << 20
    lines = [
        f"# GloVe-6B-50d core measurements ({PARTITIONS} partitions, cosine, direct I/O)",
        "",
        f"Build: {build['num_vectors']} x {build['dim']} in {build['total_secs']:.1f} s, "
        f"--mem-budget-mb {BUDGET_MB}, peak RSS {build['peak_rss_mb']:.1f} MiB, "
        f"sizes min {build['sizes']['min']} / max {build['sizes']['max']} (max/mean {build['sizes']['imbalance']:.3f}).",
        "",
        "recall@10, vectors/query, batch QPS and 'stream' bytes: all 10,000 held-out queries cut into batches of 1,000",
        "grouped by nearest centroid (BAM-ANN's batch organisation). 'one batch' bytes: the first 1,000 queries as a",
        "single batch in file order; single-query columns: the same 1,000 queries one at a time. Ratios are batch / single.",
        "",
        "| nprobe | recall@10 | vectors/query | batch QPS | single QPS | single p50 ms | single p99 ms | bytes/q single | bytes/q one batch | ratio | bytes/q stream | ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        b, o, s = r["batch_all"], r["batch_1000q"], r["single_1000q"]
        lines.append(
            f"| {r['nprobe']} | {b['recall_at_k']:.4f} | {b['vectors_per_query']:.0f} | {b['qps']:.0f} | {s['qps']:.0f} | "
            f"{s['latency_ms_p50']:.3f} | {s['latency_ms_p99']:.3f} | {s['bytes_per_query']:.0f} | {o['bytes_per_query']:.0f} | "
            f"{o['bytes_per_query'] / s['bytes_per_query']:.4f} | {b['bytes_per_query']:.0f} | {b['bytes_per_query'] / s['bytes_per_query']:.4f} |")
    lines += [
        "",
        f"Reading every partition once through the search I/O pool (`quarry info --read-test`, 8 reads in flight): "
        f"{', '.join(f'{r:.0f}' for r in reads)} MiB/s. Device, plain sequential O_DIRECT read of 2 GiB "
        f"(`scripts/measure_disk.sh`, dd 1 MiB blocks): {dd_line}",
    ]
    with open(f"{OUT}/core.md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
