#!/usr/bin/env python3
"""The Python package's acceptance figures, against the Rust engine on the same index.

    python python/bench/bench.py --index IDX --queries Q.fbin [--gt GT.ibin] \
        --k 10 --nprobe 16 --cli target/release/quarry [--io direct] [--out r.json]

Measures, on one open index and the same parameters:
  1. batch QPS (batches of --batch queries, input order) from Python vs
     `quarry search --batch-size B --order input --json` (the engine, same process
     kind of loop in Rust); median of --reps runs each, interleaved;
  2. single-query overhead: per-call time of `index.search(q[i], k)` from Python
     against `Index::search` on the same queries in a Rust loop (same process,
     alternating blocks of 100), plus `quarry search --batch-size 1` for reference;
  3. threads: QPS of --threads Python threads searching the index at once (single
     queries, and batches of --thread-batch) against one thread doing the same.
Run it on a quiet machine: the figures are timings.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

import numpy as np

import quarry


def cli_search(cli, index, queries, k, nprobe, batch, io, limit=None):
    cmd = [cli, "--quiet", "search", "--index", index, "--queries", queries, "--k", str(k),
           "--nprobe", str(nprobe), "--batch-size", str(batch), "--order", "input",
           "--io", io, "--json"]
    if limit:
        cmd += ["--limit", str(limit)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def py_batches(index, q, k, nprobe, batch):
    t = time.perf_counter()
    for s in range(0, len(q), batch):
        index.search(q[s:s + batch], k, nprobe=nprobe)
    return len(q) / (time.perf_counter() - t)


def py_single(index, q, k, nprobe):
    """Per-call seconds and the engine's wall seconds of each call."""
    calls, engine = [], []
    for row in q:
        t = time.perf_counter()
        index.search(row, k, nprobe=nprobe)
        calls.append(time.perf_counter() - t)
        engine.append(index.last_search.batch["wall_secs"])
    return np.array(calls), np.array(engine)


def threaded_qps(index, q, k, nprobe, threads, batch, seconds, call_threads=None):
    """Queries per second of `threads` threads searching for `seconds`."""
    counts = [0] * threads
    stop = threading.Event()
    start = threading.Barrier(threads + 1)

    def work(t):
        rng = np.random.default_rng(t)
        start.wait()
        while not stop.is_set():
            s = int(rng.integers(0, max(1, len(q) - batch)))
            index.search(q[s:s + batch] if batch > 1 else q[s], k, nprobe=nprobe,
                         threads=call_threads)
            counts[t] += batch

    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in ts:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--gt")
    ap.add_argument("--cli", default="target/release/quarry")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--nprobe", type=int, default=16)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--io", default="direct")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--single", type=int, default=2000, help="queries of the single-query runs")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--thread-batch", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--out")
    a = ap.parse_args()

    q = quarry.read_vectors(a.queries).astype(np.float32)
    index = quarry.Index.open(a.index, io=a.io)
    r = {"index": a.index, "queries": len(q), "k": a.k, "nprobe": a.nprobe, "batch": a.batch,
         "io": a.io, "kernels": quarry.kernels()[0], "cpu": cpu(), "load_before": os.getloadavg()}
    if a.gt:
        gt = quarry.read_ground_truth(a.gt)[:, :a.k]
        _, I = index.search(q, a.k, nprobe=a.nprobe)
        r["recall_at_k"] = float(np.mean([len(set(x) & set(y)) / a.k for x, y in zip(I, gt)]))

    def note(msg):
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    note("batch QPS")
    # 1. Batch QPS, Python and Rust interleaved (a warm-up of each first).
    py_batches(index, q, a.k, a.nprobe, a.batch)
    cli_search(a.cli, a.index, a.queries, a.k, a.nprobe, a.batch, a.io)
    py_qps, rust_qps = [], []
    for _ in range(a.reps):
        py_qps.append(py_batches(index, q, a.k, a.nprobe, a.batch))
        rust_qps.append(cli_search(a.cli, a.index, a.queries, a.k, a.nprobe, a.batch, a.io)["qps"])
    r["batch_qps_python"] = statistics.median(py_qps)
    r["batch_qps_rust"] = statistics.median(rust_qps)
    r["batch_qps_ratio"] = r["batch_qps_python"] / r["batch_qps_rust"]
    r["batch_qps_python_runs"], r["batch_qps_rust_runs"] = py_qps, rust_qps

    note("single queries")
    # 2. Single queries: blocks of 100 queries searched one at a time from Python,
    # then the same 100 by `Index::search` in a Rust loop (same process, same
    # moment), alternating; and `quarry search --batch-size 1` for reference.
    n = min(a.single, len(q))
    py_single(index, q[:200], a.k, a.nprobe)
    calls, engine, rust = [], [], []
    for s in range(0, n, 100):
        c, e = py_single(index, q[s:s + 100], a.k, a.nprobe)
        calls.append(c)
        engine.append(e)
        rust.append(index._engine_single_query_secs(q[s:s + 100], a.k, a.nprobe))
    calls, engine, rust = np.concatenate(calls), np.concatenate(engine), np.concatenate(rust)
    cli = cli_search(a.cli, a.index, a.queries, a.k, a.nprobe, 1, a.io, limit=n)
    r["single_call_us_mean"] = calls.mean() * 1e6
    r["single_call_us_median"] = float(np.median(calls)) * 1e6
    r["single_rust_call_us_mean"] = rust.mean() * 1e6
    r["single_rust_call_us_median"] = float(np.median(rust)) * 1e6
    r["single_overhead_us_mean"] = r["single_call_us_mean"] - r["single_rust_call_us_mean"]
    r["single_overhead_us_median"] = r["single_call_us_median"] - r["single_rust_call_us_median"]
    # What the call spends outside the engine's own timed search (conversions,
    # GIL release and reacquire, result arrays, statistics, parameter checks).
    r["single_outside_engine_wall_us_median"] = float(np.median(calls - engine)) * 1e6
    r["single_cli_latency_us_mean"] = cli["latency_ms_mean"] * 1e3

    # 3. Threads.
    for batch in (1, a.thread_batch):
        note(f"threads, {batch} queries per call")
        one = threaded_qps(index, q, a.k, a.nprobe, 1, batch, a.seconds)
        many = threaded_qps(index, q, a.k, a.nprobe, a.threads, batch, a.seconds)
        r[f"threads_batch{batch}_qps_1"] = one
        r[f"threads_batch{batch}_qps_{a.threads}"] = many
        r[f"threads_batch{batch}_speedup"] = many / one
        # Each call on one core (search(threads=1)): threads then use a core each.
        one = threaded_qps(index, q, a.k, a.nprobe, 1, batch, a.seconds, call_threads=1)
        many = threaded_qps(index, q, a.k, a.nprobe, a.threads, batch, a.seconds, call_threads=1)
        r[f"threads1_batch{batch}_qps_1"] = one
        r[f"threads1_batch{batch}_qps_{a.threads}"] = many
        r[f"threads1_batch{batch}_speedup"] = many / one
    r["load_after"] = os.getloadavg()
    index.close()
    text = json.dumps(r, indent=2)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


def cpu():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = [l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name")]
        return f"{model[0] if model else '?'}, {os.cpu_count()} cores"
    except OSError:
        return f"{os.cpu_count()} cores"


if __name__ == "__main__":
    main()
