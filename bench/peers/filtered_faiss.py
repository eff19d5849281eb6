#!/usr/bin/env python3
"""FAISS IVF-Flat with an IDSelectorBitmap: the peer baseline for Quarry's filtered search.

    bench/peers/.venv/bin/python bench/peers/filtered_faiss.py --dataset glove-50 \
        --labels data/glove-50/labels-zipf.spmat --filter "label = 3" \
        --gt data/glove-50/gt-label3.ibin --nprobe 1,2,4,8,16,32,64,128,256,512,1024 \
        --out bench/results/glove-50/filtered-peers.jsonl [--queries N] [--k 10] \
        [--nlist 1024] [--label-set zipf] [--stop-at-recall 0.99]

What it measures. The base vectors' labels (`--labels`, big-ann-benchmarks CSR
`.spmat`) and a filter (`label = L` or `label in [A, B, ...]`) give the set of
matching ids; it becomes a packed bitmap (bit i & 7 of byte i >> 3) behind a
`faiss.IDSelectorBitmap`, passed with each nprobe in `faiss.SearchParametersIVF`.
FAISS then scans the nprobe nearest lists and skips non-matching ids, so at low
selectivity a query can return fewer than k results (padded with -1).

The index is the same IndexIVFFlat that `run_peers.py --engines faiss-ivf
--faiss-niter 10` builds (same quantizer, metric, seed, k-means iterations,
spherical k-means for cosine, 256 training points per centroid), read from
`<data>/peers-tmp/<dataset>/faiss-ivf-nlist<N>-seed42-niter10/index.faiss`; when
that file is missing, `run_peers.py --phase build` builds it there first (with
its build.json), in a child process so this process's peak RSS stays search-only.

Per nprobe: one warm-up batch, then one batch call over all queries (QPS,
recall@10 against the filtered ground truth `--gt`, mean results per query), then
the first 200 queries one call each (p50 latency). The sweep stops after the
first point with recall@10 >= --stop-at-recall. One JSON object per point is
appended to --out; everything runs on one thread.

recall@10 of a query = |first 10 results ∩ valid ids among the first 10 gt ids| /
(number of those valid gt ids); -1 (padding) never counts, on either side.
"""

import os

# One thread everywhere, as run_peers.py; must be set before numpy / faiss load.
for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_k, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run_peers as rp  # noqa: E402

LABEL = "faiss-ivf-flat-idselector"
SEED = 42  # run_peers.py's default --seed
NITER = 10  # run_peers.py --faiss-niter 10
LATENCY_QUERIES = 200
WARMUP_QUERIES = 100
RECALL_AT = 10


class Fail(Exception):
    """A user-facing error: printed as one line, exit status 1."""


def log(msg: str) -> None:
    print(f"[filtered-faiss {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def need_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise Fail(f"{what} {path}: no such file")
    return path


# ---------------------------------------------------------------------------- inputs


def read_spmat(path: Path):
    """big-ann-benchmarks CSR .spmat: i64 nrow, ncol, nnz; i64 indptr[nrow+1];
    i32 indices[nnz]; f32 data[nnz] (data is not needed and not read)."""
    need_file(path, "labels")
    size = path.stat().st_size
    if size < 24:
        raise Fail(f"labels {path}: shorter than the 24-byte header")
    nrow, ncol, nnz = (int(x) for x in np.fromfile(path, dtype="<i8", count=3))
    if min(nrow, ncol, nnz) < 0:
        raise Fail(f"labels {path}: negative size in header ({nrow}, {ncol}, {nnz})")
    want = 24 + 8 * (nrow + 1) + 8 * nnz
    if size != want:
        raise Fail(f"labels {path}: header says {nrow} rows, {nnz} labels ({want} bytes) "
                   f"but the file has {size}")
    indptr = np.fromfile(path, dtype="<i8", count=nrow + 1, offset=24)
    indices = np.fromfile(path, dtype="<i4", count=nnz, offset=24 + 8 * (nrow + 1))
    if indptr[0] != 0 or indptr[-1] != nnz or np.any(np.diff(indptr) < 0):
        raise Fail(f"labels {path}: indptr is not a non-decreasing 0..{nnz} sequence")
    return nrow, indptr, indices


_EQ = re.compile(r"^\s*label\s*=\s*(\d+)\s*$")
_IN = re.compile(r"^\s*label\s+in\s*\[\s*(\d+(?:\s*,\s*\d+)*)\s*\]\s*$")


def parse_filter(text: str) -> np.ndarray:
    """`label = L` or `label in [A, B, ...]` -> the wanted labels."""
    m = _EQ.match(text) or _IN.match(text)
    if not m:
        raise Fail(f"filter {text!r}: supported forms are 'label = L' and "
                   f"'label in [A, B, ...]' (non-negative integer labels)")
    return np.array([int(x) for x in m.group(1).split(",")], dtype=np.int64)


def match_mask(nrow: int, indptr: np.ndarray, indices: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Boolean mask over rows: True where a row holds any wanted label."""
    hit = np.isin(indices, wanted)
    rows = np.repeat(np.arange(nrow, dtype=np.int64), np.diff(indptr))
    mask = np.zeros(nrow, dtype=bool)
    mask[rows[hit]] = True
    return mask


def read_filtered_gt(path: Path, nq: int) -> np.ndarray:
    """Filtered ground truth (.ibin as written by `quarry gt --filter`): the first nq
    rows of ids; -1 pads rows with fewer than k matches."""
    need_file(path, "ground truth")
    if path.stat().st_size < 8:
        raise Fail(f"ground truth {path}: shorter than the 8-byte header")
    n, k = (int(x) for x in np.fromfile(path, dtype="<u4", count=2))
    if n < nq:
        raise Fail(f"ground truth {path}: {n} rows for {nq} queries")
    if k < RECALL_AT:
        raise Fail(f"ground truth {path}: k = {k}, recall@{RECALL_AT} needs at least {RECALL_AT}")
    if path.stat().st_size < 8 + 4 * n * k:
        raise Fail(f"ground truth {path}: header says {n} x {k} ids but the file is shorter")
    return rp.read_gt(path, nq)


def base_count(path: Path) -> int:
    with open(path, "rb") as f:
        return int(np.fromfile(f, dtype="<u4", count=1)[0])


# ---------------------------------------------------------------------------- index


def index_dir(dataset: str, nlist: int) -> Path:
    return rp.data_root() / "peers-tmp" / dataset / f"faiss-ivf-nlist{nlist}-seed{SEED}-niter{NITER}"


def build_index(dataset: str, nlist: int) -> None:
    """Build with run_peers.py's own build phase (child process, writes build.json)."""
    cmd = [sys.executable, str(HERE / "run_peers.py"), "--phase", "build", "--engine", "faiss-ivf",
           "--dataset", dataset, "--partitions", str(nlist), "--seed", str(SEED),
           "--faiss-niter", str(NITER), "--build-threads", "1",
           "--work-dir", str(rp.data_root() / "peers-tmp")]
    log(f"no cached index; building: {' '.join(cmd)}")
    if subprocess.run(cmd).returncode != 0:
        raise Fail(f"building the FAISS index for {dataset} failed")


def open_index(faiss, dataset: str, nlist: int, n: int):
    """Read (building first if needed) the IVF-Flat index; returns (index, build_secs)."""
    path = index_dir(dataset, nlist)
    if not (path / "index.faiss").is_file():
        build_index(dataset, nlist)
    index = faiss.read_index(str(path / "index.faiss"))
    if index.ntotal != n or getattr(index, "nlist", nlist) != nlist:
        raise Fail(f"{path}/index.faiss holds {index.ntotal} vectors in "
                   f"{getattr(index, 'nlist', '?')} lists, expected {n} in {nlist}")
    meta = path / "build.json"
    build_secs = json.loads(meta.read_text()).get("build_secs") if meta.is_file() else None
    return index, build_secs


def make_selector(faiss, mask: np.ndarray):
    """IDSelectorBitmap over the mask (bit i & 7 of byte i >> 3). FAISS's n is the
    bitmap's length in bytes; it does not copy the bitmap, so the caller keeps it."""
    bitmap = np.ascontiguousarray(np.packbits(mask, bitorder="little"))
    return faiss.IDSelectorBitmap(bitmap.size, faiss.swig_ptr(bitmap)), bitmap


# ---------------------------------------------------------------------------- measure


def recall_at(ids: np.ndarray, gt: np.ndarray, r: int = RECALL_AT):
    """Mean over queries of |first r results ∩ valid first-r gt ids| / #valid gt ids.
    -1 never matches; queries without any valid gt id are left out."""
    if ids.shape[1] < r:
        return None
    a = ids[:, :r].astype(np.int64)
    g = gt[:, :r].astype(np.int64)
    valid = g >= 0
    hits = ((a[:, :, None] == g[:, None, :]) & valid[:, None, :] & (a >= 0)[:, :, None]).any(axis=2).sum(axis=1)
    denom = valid.sum(axis=1)
    keep = denom > 0
    return float((hits[keep] / denom[keep]).mean()) if keep.any() else None


def measure(index, q: np.ndarray, k: int, params, gt: np.ndarray) -> dict:
    index.search(q[:WARMUP_QUERIES], k, params=params)
    t0 = time.perf_counter()
    _, ids = index.search(q, k, params=params)
    secs = time.perf_counter() - t0
    n_lat = min(LATENCY_QUERIES, len(q))
    lat = np.empty(n_lat)
    for i in range(n_lat):
        t1 = time.perf_counter()
        index.search(q[i:i + 1], k, params=params)
        lat[i] = time.perf_counter() - t1
    return {
        "recall_at_10": recall_at(ids, gt),
        "results_per_query": float((ids >= 0).sum(axis=1).mean()),
        "qps": len(q) / secs,
        "latency_ms_p50": float(np.percentile(lat * 1000.0, 50)),
    }


# ---------------------------------------------------------------------------- main


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True, choices=["glove-50", "synth-1m"])
    ap.add_argument("--labels", required=True, type=Path, help="base labels, CSR .spmat")
    ap.add_argument("--filter", required=True, help="'label = L' or 'label in [A, B, ...]'")
    ap.add_argument("--gt", required=True, type=Path, help="filtered ground truth .ibin")
    ap.add_argument("--nprobe", default="1,2,4,8,16,32,64,128,256,512,1024",
                    help="comma-separated nprobe values, swept in this order")
    ap.add_argument("--out", required=True, type=Path, help="JSON-lines file to append to")
    ap.add_argument("--queries", type=int, help="use only the first N queries (default: all)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--label-set", default=None, help="name recorded as label_set (zipf, clustered)")
    ap.add_argument("--stop-at-recall", type=float, default=0.99,
                    help="stop the sweep after the first point with recall@10 >= this")
    args = ap.parse_args(argv)
    try:
        args.nprobes = [int(x) for x in args.nprobe.split(",") if x.strip()]
    except ValueError:
        raise Fail(f"--nprobe {args.nprobe!r}: expected comma-separated integers")
    if not args.nprobes or min(args.nprobes) < 1:
        raise Fail(f"--nprobe {args.nprobe!r}: expected positive integers")
    if args.k < 1 or (args.queries is not None and args.queries < 1) or args.nlist < 1:
        raise Fail("--k, --queries and --nlist must be at least 1")
    return args


def run(args) -> None:
    spec, paths = rp.dataset_paths(args.dataset)
    wanted = parse_filter(args.filter)
    n = base_count(paths["base"])
    nrow, indptr, indices = read_spmat(args.labels)
    if nrow != n:
        raise Fail(f"labels {args.labels}: {nrow} rows but {args.dataset} has {n} vectors")
    mask = match_mask(nrow, indptr, indices, wanted)
    del indptr, indices
    matches = int(mask.sum())
    if matches == 0:
        raise Fail(f"filter {args.filter!r} matches no vector of {args.dataset}")

    q = rp.prepare(rp.read_bin(paths["queries"], spec["dtype"], args.queries), spec["metric"])
    nq = q.shape[0]
    gt = read_filtered_gt(args.gt, nq)

    import faiss

    faiss.omp_set_num_threads(1)
    index, build_secs = open_index(faiss, args.dataset, args.nlist, n)
    sel, bitmap = make_selector(faiss, mask)  # bitmap must outlive every search
    log(f"{args.dataset}: filter {args.filter!r} matches {matches} of {n} "
        f"({matches / n:.4%}); {nq} queries, k={args.k}, nlist={args.nlist}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a") as out:
        for nprobe in args.nprobes:
            params = faiss.SearchParametersIVF(sel=sel, nprobe=nprobe)
            m = measure(index, q, args.k, params, gt)
            point = {
                "label": LABEL,
                "engine": "faiss",
                "dataset": args.dataset,
                "label_set": args.label_set,
                "filter": args.filter,
                "matches": matches,
                "selectivity": matches / n,
                "nlist": args.nlist,
                "nprobe": nprobe,
                "k": args.k,
                "queries": nq,
                **m,
                "threads": 1,
                "build_secs": build_secs,
                "rss_mb": rp.peak_rss_mb(),
            }
            out.write(json.dumps(point) + "\n")
            out.flush()
            r10 = m["recall_at_10"]
            log(f"nprobe={nprobe}: recall@10 {'-' if r10 is None else f'{r10:.4f}'}  "
                f"results/q {m['results_per_query']:.2f}  qps {m['qps']:.0f}  "
                f"p50 {m['latency_ms_p50']:.3f} ms")
            if r10 is not None and r10 >= args.stop_at_recall:
                log(f"recall@10 {r10:.4f} >= {args.stop_at_recall} at nprobe={nprobe}; sweep stopped")
                break
    del bitmap


def main() -> None:
    try:
        run(parse_args(sys.argv[1:]))
    except Fail as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except OSError as e:
        print(f"error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
