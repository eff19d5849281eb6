#!/usr/bin/env python3
"""Run peer ANN engines on Quarry's datasets; write JSON lines like `quarry bench`.

    bench/peers/.venv/bin/python bench/peers/run_peers.py --dataset glove-50 \
        --out bench/results/glove-50/peers.jsonl [--engines faiss-ivf,faiss-hnsw,diskann,lancedb] \
        [--partitions 1024] [--quick]

Every engine runs in two child processes of this script: one builds the index into
`<data>/peers-tmp/<dataset>/<engine>-<params>/` (kept and reused by later runs with the
same parameters unless --rebuild; the build's wall time and peak RSS are stored beside
it in build.json), one opens it and sweeps the search knob. So `rss_mb` is the peak RSS
of a process that only opened and searched the index (as Quarry's `search` reports
it) and `build_secs` / `config.build_peak_rss_mb` are those of the build process.

Per sweep point: one batch call over all queries (QPS, recall, counters), then the
first 1000 queries one call each (latency). One JSON object per point is appended to
--out. Everything runs on one thread (OpenMP, BLAS, Lance and DiskANN pools set to 1).
See README.md for the fields.
"""

import os

# Thread pools: one thread everywhere (2-core machine shared with other measurements).
# Must be set before numpy / faiss / lance load their runtimes.
for _k, _v in {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "LANCE_CPU_THREADS": "1",
    "RAYON_NUM_THREADS": "1",
    "RUST_LOG": "error",  # DiskANN logs INFO lines
    "LANCEDB_LOG": "error",  # Lance logs a deprecation warning per query
}.items():
    os.environ.setdefault(_k, _v)

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def data_root() -> Path:
    return Path(os.environ.get("QUARRY_DATA") or (REPO / "data"))


DATASETS = {
    "glove-50": {
        "dir": "glove-50",
        "base": "base.fbin",
        "queries": "queries.fbin",
        "gt": "gt100.ibin",
        "dtype": np.float32,
        "metric": "cosine",
    },
    "synth-1m": {
        "dir": "synth-1m",
        "base": "base.u8bin",
        "queries": "queries.u8bin",
        "gt": "gt100.ibin",
        "dtype": np.uint8,
        "metric": "l2",
    },
    "fashion-mnist": {
        "dir": "fashion-mnist",
        "base": "base.u8bin",
        "queries": "queries.u8bin",
        "gt": "gt100.ibin",
        "dtype": np.uint8,
        "metric": "l2",
    },
}

ENGINES = ["faiss-ivf", "faiss-hnsw", "diskann", "lancedb"]

SWEEPS = {
    "faiss-ivf": ([1, 2, 4, 8, 16, 32, 64, 128], [1, 4, 16, 64]),
    "faiss-hnsw": ([10, 16, 32, 64, 128, 256, 512], [16, 64, 256]),
    "diskann": ([10, 20, 30, 50, 75, 100, 150, 200, 300], [10, 30, 100]),
    "lancedb": ([1, 2, 4, 8, 16, 32, 64, 128], [1, 4, 16, 64]),
}

LATENCY_QUERIES = 1000
QUICK_QUERIES = 2000


def log(msg: str) -> None:
    print(f"[peers {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


# ---------------------------------------------------------------------------- data


def read_bin(path: Path, dtype, limit=None) -> np.ndarray:
    """big-ann-benchmarks .fbin/.u8bin: u32 n, u32 d, then n*d row-major values."""
    with open(path, "rb") as f:
        header = np.fromfile(f, dtype="<u4", count=2)
    if header.size != 2:
        raise SystemExit(f"error: {path}: shorter than the 8-byte header")
    n, d = int(header[0]), int(header[1])
    itemsize = np.dtype(dtype).itemsize
    need = 8 + n * d * itemsize
    have = path.stat().st_size
    if have < need:
        raise SystemExit(f"error: {path}: header says {n} x {d} ({need} bytes) but file has {have}")
    rows = n if limit is None else min(n, limit)
    return np.fromfile(path, dtype=dtype, count=rows * d, offset=8).reshape(rows, d)


def read_gt(path: Path, limit=None) -> np.ndarray:
    """.ibin ground truth: u32 n, u32 k, n*k int32 ids, then n*k float32 distances."""
    with open(path, "rb") as f:
        n, k = (int(x) for x in np.fromfile(f, dtype="<u4", count=2))
    rows = n if limit is None else min(n, limit)
    return np.fromfile(path, dtype="<i4", count=rows * k, offset=8).reshape(rows, k)


def dataset_paths(name: str):
    spec = DATASETS[name]
    root = data_root() / spec["dir"]
    paths = {key: root / spec[key] for key in ("base", "queries", "gt")}
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        raise SystemExit(
            f"error: dataset {name}: missing {', '.join(missing)} "
            f"(fetch it with scripts/fetch_*.sh, or set QUARRY_DATA)"
        )
    return spec, paths


def normalise(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return x / norms


def prepare(x: np.ndarray, metric: str, keep_u8: bool = False) -> np.ndarray:
    """Vectors as the engine gets them: cosine -> unit-norm f32 (engines use inner
    product / L2 on unit vectors, which rank as cosine); l2 -> f32 (or u8 kept)."""
    if metric == "cosine":
        return normalise(x)
    if keep_u8 and x.dtype == np.uint8:
        return np.ascontiguousarray(x)
    return np.ascontiguousarray(x, dtype=np.float32)


def recall(ids: np.ndarray, gt: np.ndarray, r: int):
    """|first r results ∩ first r gt ids| / r, averaged over queries."""
    if ids.shape[1] < r or gt.shape[1] < r:
        return None
    a = ids[:, :r].astype(np.int64)
    g = gt[:, :r].astype(np.int64)
    hits = 0
    for s in range(0, a.shape[0], 1000):  # bounded memory for r = 100
        hits += int((a[s:s + 1000, :, None] == g[s:s + 1000, None, :]).any(axis=2).sum())
    return hits / (a.shape[0] * r)


# ---------------------------------------------------------------------------- engines


class Engine:
    """One peer engine: build into a directory, open it, sweep a knob."""

    name = ""
    label = ""
    engine = ""
    knob = ""
    io_mode = "memory"
    cache = "warm"

    def __init__(self, args, spec):
        self.args = args
        self.spec = spec
        self.metric = spec["metric"]
        self.stats = {}

    # parameters that identify a build (also go into every line's config)
    def build_params(self) -> dict:
        raise NotImplementedError

    def prepare(self, x: np.ndarray) -> np.ndarray:
        return prepare(x, self.metric)

    def dir_name(self) -> str:
        p = self.build_params()
        return self.name + "-" + "-".join(f"{k}{v}" for k, v in p.items())

    def build(self, base: np.ndarray, out: Path) -> None:
        raise NotImplementedError

    def open(self, path: Path, dim: int) -> None:
        raise NotImplementedError

    def set_knob(self, value: int) -> None:
        raise NotImplementedError

    def warmup(self, q: np.ndarray, k: int, sweep) -> None:
        self.set_knob(sweep[0])
        self.search_batch(q[: min(100, len(q))], k)

    def search_batch(self, q: np.ndarray, k: int) -> np.ndarray:
        raise NotImplementedError

    def search_one(self, q: np.ndarray, k: int) -> np.ndarray:
        raise NotImplementedError

    def reset_counters(self) -> None:
        pass

    def vectors_per_query(self, nq: int, q: np.ndarray, k: int):
        return None

    def bytes_per_query(self, vpq):
        return None

    def partitions_per_query(self, value: int):
        return None


class FaissBase(Engine):
    engine = "faiss"

    def __init__(self, args, spec):
        super().__init__(args, spec)
        import faiss

        self.faiss = faiss
        faiss.omp_set_num_threads(1)
        self.faiss_metric = faiss.METRIC_INNER_PRODUCT if self.metric == "cosine" else faiss.METRIC_L2

    def open(self, path, dim):
        self.index = self.faiss.read_index(str(path / "index.faiss"))
        self.code_size = int(self.index.code_size) if hasattr(self.index, "code_size") else dim * 4

    def search_batch(self, q, k):
        _, ids = self.index.search(q, k)
        return ids

    def search_one(self, q, k):
        _, ids = self.index.search(q.reshape(1, -1), k)
        return ids[0]

    def bytes_per_query(self, vpq):
        # In-memory equivalent: full vectors touched x bytes FAISS stores per vector (f32).
        return None if vpq is None else vpq * self.code_size


class FaissIVF(FaissBase):
    name = "faiss-ivf"
    label = "faiss-ivf-flat"
    knob = "nprobe"

    def build_params(self):
        p = {"nlist": self.args.partitions, "seed": self.args.seed}
        if self.args.faiss_niter != 25:  # keeps the directory names of earlier runs
            p["niter"] = self.args.faiss_niter
        return p

    def config_extra(self):
        # k-means iterations (25 = FAISS's Clustering default; IndexIVF's own is 10)
        # and training sample cap, recorded.
        return {"niter": self.args.faiss_niter, "max_points_per_centroid": 256}

    def build(self, base, out):
        faiss = self.faiss
        faiss.omp_set_num_threads(self.args.build_threads)
        x = self.prepare(base)
        d = x.shape[1]
        quantizer = faiss.IndexFlatIP(d) if self.metric == "cosine" else faiss.IndexFlatL2(d)
        index = faiss.IndexIVFFlat(quantizer, d, self.args.partitions, self.faiss_metric)
        index.cp.seed = self.args.seed
        index.cp.niter = self.args.faiss_niter
        index.cp.max_points_per_centroid = 256
        index.cp.spherical = self.metric == "cosine"  # FAISS's IP default too
        index.train(x)
        index.add(x)
        faiss.write_index(index, str(out / "index.faiss"))
        sizes = np.array([index.invlists.list_size(i) for i in range(index.nlist)])
        return {"list_size_min": int(sizes.min()), "list_size_max": int(sizes.max()),
                "list_size_mean": float(sizes.mean()), "list_size_std": float(sizes.std())}

    def set_knob(self, v):
        self.index.nprobe = v

    def reset_counters(self):
        self.faiss.cvar.indexIVF_stats.reset()

    def vectors_per_query(self, nq, q, k):
        return self.faiss.cvar.indexIVF_stats.ndis / nq

    def partitions_per_query(self, v):
        return v


class FaissHNSW(FaissBase):
    name = "faiss-hnsw"
    label = "faiss-hnsw-flat"
    knob = "efSearch"

    def build_params(self):
        return {"M": self.args.hnsw_m, "efConstruction": self.args.hnsw_ef_construction}

    def build(self, base, out):
        faiss = self.faiss
        faiss.omp_set_num_threads(self.args.build_threads)
        x = self.prepare(base)
        index = faiss.IndexHNSWFlat(x.shape[1], self.args.hnsw_m, self.faiss_metric)
        index.hnsw.efConstruction = self.args.hnsw_ef_construction
        index.add(x)
        faiss.write_index(index, str(out / "index.faiss"))
        return {}

    def set_knob(self, v):
        self.index.hnsw.efSearch = v

    def reset_counters(self):
        self.faiss.cvar.hnsw_stats.reset()

    def vectors_per_query(self, nq, q, k):
        return self.faiss.cvar.hnsw_stats.ndis / nq


class DiskANN(Engine):
    """Microsoft DiskANN (Rust rewrite, `diskannpy-rust`): Vamana graph + full vectors
    in 4 KiB sectors on disk (read with O_DIRECT through io_uring), PQ codes in RAM."""

    name = "diskann"
    label = "diskann"
    engine = "diskann"
    knob = "L"
    io_mode = "direct"  # verified with strace: ann_disk.index opened O_DIRECT, io_uring reads
    cache = "cold"  # no page cache involved and num_nodes_to_cache = 0

    SECTOR = 4096

    def __init__(self, args, spec):
        super().__init__(args, spec)
        import diskannpy

        self.dap = diskannpy

    def pq_bytes(self, dim):
        return self.args.diskann_pq_bytes or min(64, max(1, dim // 2))

    def build_params(self):
        return {"R": self.args.diskann_r, "L_build": self.args.diskann_l_build, "pq": self.args.diskann_pq_bytes or "auto"}

    def prepare(self, x):
        # cosine: unit vectors + L2 (StaticDiskIndex does not support the cosine metric)
        return prepare(x, self.metric, keep_u8=True)

    def build(self, base, out):
        x = self.prepare(base)
        pq = self.pq_bytes(x.shape[1])
        self.dap.build_disk_index(
            data=x,
            distance_metric="l2",
            index_directory=str(out),
            complexity=self.args.diskann_l_build,
            graph_degree=self.args.diskann_r,
            build_memory_maximum=self.args.diskann_build_mem_gb,
            num_threads=self.args.build_threads,
            alpha=1.2,
            num_of_pq_chunks=pq,
        )
        # The search never reads the copy of the input the builder wrote.
        (out / "ann_vectors.bin").unlink(missing_ok=True)
        return {"pq_bytes": pq, "alpha": 1.2, "dtype": str(x.dtype)}

    def open(self, path, dim):
        self.ix = self.dap.StaticDiskIndex(
            str(path), num_threads=1, beam_width=self.args.diskann_beam_width, num_nodes_to_cache=0
        )
        self.dtype = np.uint8 if self.spec["dtype"] == np.uint8 and self.metric == "l2" else np.float32
        itemsize = np.dtype(self.dtype).itemsize
        node = dim * itemsize + 4 + 4 * self.args.diskann_r  # vector, degree, neighbour ids
        self.sectors_per_node = max(1, -(-node // self.SECTOR))

    def set_knob(self, v):
        self.L = v

    def search_batch(self, q, k):
        r = self.ix.batch_search(q, k, max(self.L, k), 1)
        self.stats = r.search_stats
        return np.asarray(r.identifiers, dtype=np.int64)

    def search_one(self, q, k):
        return self.ix.search(q, k, max(self.L, k)).identifiers

    def vectors_per_query(self, nq, q, k):
        # distance computations per query (PQ-approximate, in RAM)
        return float(self.stats.get("mean_comps")) if "mean_comps" in self.stats else None

    def bytes_per_query(self, vpq):
        ios = self.stats.get("mean_ios")
        return None if ios is None else float(ios) * self.sectors_per_node * self.SECTOR


class LanceDB(Engine):
    """LanceDB IVF_FLAT: table + index files on local disk, read through the page
    cache; Lance keeps loaded partitions in its in-process index cache."""

    name = "lancedb"
    label = "lancedb-ivf-flat"
    engine = "lancedb"
    knob = "nprobes"
    io_mode = "buffered"
    cache = "warm"

    def __init__(self, args, spec):
        super().__init__(args, spec)
        import lancedb

        self.lancedb = lancedb
        self.distance = "cosine" if self.metric == "cosine" else "l2"

    def build_params(self):
        return {"partitions": self.args.partitions}

    def config_extra(self):
        return {"distance_type": self.distance, "max_iterations": 50, "sample_rate": 256}

    def build(self, base, out):
        import pyarrow as pa
        from lancedb.index import IvfFlat

        x = prepare(base, self.metric)
        n, d = x.shape
        table = pa.table({
            "id": pa.array(np.arange(n, dtype=np.int64)),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), d),
        })
        db = self.lancedb.connect(str(out))
        tbl = db.create_table("base", table)
        del table
        tbl.create_index("vector", config=IvfFlat(
            distance_type=self.distance, num_partitions=self.args.partitions,
            max_iterations=50, sample_rate=256))
        return {}

    def open(self, path, dim):
        self.db = self.lancedb.connect(str(path))
        self.tbl = self.db.open_table("base")

    def set_knob(self, v):
        self.nprobes = v

    def _query(self, q, k):
        return (self.tbl.search(q, vector_column_name="vector").distance_type(self.distance)
                .nprobes(self.nprobes).limit(k).select(["id"]))

    def warmup(self, q, k, sweep):
        # Load every partition into Lance's cache and the files into the page cache:
        # all queries at the widest setting.
        self.set_knob(max(sweep))
        self.search_batch(q, k)

    def search_batch(self, q, k):
        t = self._query(q, k).to_arrow()
        qi = t.column("query_index").to_numpy()
        ids = t.column("id").to_numpy()
        dist = t.column("_distance").to_numpy()
        order = np.lexsort((dist, qi))
        qi, ids = qi[order], ids[order]
        out = np.full((len(q), k), -1, dtype=np.int64)
        starts = np.searchsorted(qi, np.arange(len(q)))
        rank = np.arange(len(qi)) - starts[qi]
        keep = rank < k
        out[qi[keep], rank[keep]] = ids[keep]
        return out

    def search_one(self, q, k):
        return self._query(q, k).to_arrow().column("id").to_numpy()

    _METRIC = re.compile(r"index_comparisons=([0-9.]+)\s*([KMBT]?)\b")

    def vectors_per_query(self, nq, q, k):
        # Lance reports distance computations in its query plan metrics (3 significant
        # digits); counted on the first <= 1000 queries in one batch.
        m = min(nq, 1000)
        plan = self._query(q[:m], k).analyze_plan()
        scale = {"": 1, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
        total = sum(float(v) * scale[s] for v, s in self._METRIC.findall(plan))
        return total / m if total > 0 else None

    def bytes_per_query(self, vpq):
        # In-memory equivalent (f32 vectors compared); warm runs read ~0 bytes from disk.
        return None if vpq is None else vpq * 4 * self.dim

    def partitions_per_query(self, v):
        return v


ENGINE_CLASSES = {c.name: c for c in (FaissIVF, FaissHNSW, DiskANN, LanceDB)}


# ---------------------------------------------------------------------------- phases


def index_dir(args, eng) -> Path:
    return Path(args.work_dir) / args.dataset / eng.dir_name()


def phase_build(args) -> None:
    spec, paths = dataset_paths(args.dataset)
    eng = ENGINE_CLASSES[args.engine](args, spec)
    out = index_dir(args, eng)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    base = read_bin(paths["base"], spec["dtype"])
    log(f"{eng.name}: building on {base.shape[0]} x {base.shape[1]} {base.dtype} -> {out}")
    t0 = time.perf_counter()
    info = eng.build(base, partial) or {}
    secs = time.perf_counter() - t0
    meta = {
        "engine": eng.name,
        "dataset": args.dataset,
        "params": eng.build_params(),
        "build_secs": secs,
        "build_peak_rss_mb": peak_rss_mb(),
        "build_threads": args.build_threads,
        "num_vectors": int(base.shape[0]),
        "dim": int(base.shape[1]),
        "info": info,
    }
    (partial / "build.json").write_text(json.dumps(meta, indent=1) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    log(f"{eng.name}: built in {secs:.1f} s, peak RSS {meta['build_peak_rss_mb']:.0f} MB")


def phase_search(args) -> None:
    spec, paths = dataset_paths(args.dataset)
    eng = ENGINE_CLASSES[args.engine](args, spec)
    path = index_dir(args, eng)
    meta = json.loads((path / "build.json").read_text())
    nq = QUICK_QUERIES if args.quick else None
    if args.queries:
        nq = args.queries
    queries = read_bin(paths["queries"], spec["dtype"], nq)
    gt = read_gt(paths["gt"], nq)
    nq = queries.shape[0]
    dim = queries.shape[1]
    q = eng.prepare(queries)
    eng.dim = dim
    eng.open(path, dim)
    k = args.k
    sweep = sweep_for(args, eng.name)
    eng.warmup(q, k, sweep)
    n_lat = min(LATENCY_QUERIES, nq)
    base_cfg = dict(eng.build_params())
    if hasattr(eng, "config_extra"):
        base_cfg.update(eng.config_extra())
    base_cfg.update({"build_threads": meta["build_threads"],
                     "build_peak_rss_mb": round(meta["build_peak_rss_mb"], 1)})
    if eng.name == "diskann":
        base_cfg.update({"beam_width": args.diskann_beam_width, "num_nodes_to_cache": 0,
                         "pq_bytes": meta["info"].get("pq_bytes"), "alpha": meta["info"].get("alpha")})
        base_cfg.pop("pq", None)
    with open(args.out, "a") as out:
        for v in sweep:
            eng.set_knob(v)
            eng.reset_counters()
            t0 = time.perf_counter()
            ids = eng.search_batch(q, k)
            batch_secs = time.perf_counter() - t0
            vpq = eng.vectors_per_query(nq, q, k)
            lat = np.empty(n_lat)
            for i in range(n_lat):
                t1 = time.perf_counter()
                eng.search_one(q[i], k)
                lat[i] = time.perf_counter() - t1
            lat *= 1000.0
            cfg = {eng.knob: v}
            cfg.update(base_cfg)
            point = {
                "label": eng.label,
                "engine": eng.engine,
                "dataset": args.dataset,
                "config": cfg,
                "k": k,
                "recall_at_1": recall(ids, gt, 1),
                "recall_at_10": recall(ids, gt, 10),
                "recall_at_100": recall(ids, gt, 100),
                "qps": nq / batch_secs,
                "latency_ms_mean": float(lat.mean()),
                "latency_ms_p50": float(np.percentile(lat, 50)),
                "latency_ms_p99": float(np.percentile(lat, 99)),
                "vectors_per_query": vpq,
                "bytes_per_query": eng.bytes_per_query(vpq),
                "partitions_per_query": eng.partitions_per_query(v),
                "io_mode": eng.io_mode,
                "cache": eng.cache,
                "threads": 1,
                "batch_size": nq,
                "rss_mb": peak_rss_mb(),
                "build_secs": meta["build_secs"],
            }
            out.write(json.dumps(point) + "\n")
            out.flush()
            r10 = point["recall_at_10"]
            log(f"{eng.label} {eng.knob}={v}: recall@10 {r10:.4f}  qps {point['qps']:.0f}  "
                f"p50 {point['latency_ms_p50']:.3f} ms  vectors/q "
                f"{'-' if vpq is None else f'{vpq:.0f}'}")


def sweep_for(args, name):
    for item in args.sweep or []:
        eng, _, values = item.partition("=")
        if eng == name:
            return [int(x) for x in values.split(",") if x]
    full, quick = SWEEPS[name]
    return quick if args.quick else full


def child(args, phase, engine) -> None:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", phase, "--engine", engine]
    cmd += args.passthrough
    subprocess.run(cmd, check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    ap.add_argument("--out", help="JSON-lines file to append to (required unless --phase build)")
    ap.add_argument("--engines", default=",".join(ENGINES),
                    help=f"comma-separated subset of {','.join(ENGINES)} (default: all)")
    ap.add_argument("--partitions", type=int, default=1024, help="IVF lists (FAISS IVF, LanceDB)")
    ap.add_argument("--quick", action="store_true",
                    help=f"fewer sweep points and the first {QUICK_QUERIES} queries")
    ap.add_argument("--queries", type=int, help="use only the first N queries")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=42, help="FAISS k-means seed")
    ap.add_argument("--sweep", action="append", metavar="ENGINE=V1,V2,...",
                    help="override an engine's sweep, e.g. faiss-ivf=1,8,64 (repeatable)")
    ap.add_argument("--build-threads", type=int, default=1)
    ap.add_argument("--faiss-niter", type=int, default=25,
                    help="FAISS IVF k-means iterations (IndexIVF's own default is 10)")
    ap.add_argument("--hnsw-m", type=int, default=32)
    ap.add_argument("--hnsw-ef-construction", type=int, default=200)
    ap.add_argument("--diskann-r", type=int, default=64, help="graph degree R")
    ap.add_argument("--diskann-l-build", type=int, default=100, help="build list size")
    ap.add_argument("--diskann-pq-bytes", type=int, default=0,
                    help="PQ bytes per vector held in RAM (0: min(64, dim/2))")
    ap.add_argument("--diskann-beam-width", type=int, default=4)
    ap.add_argument("--diskann-build-mem-gb", type=float, default=4.0)
    ap.add_argument("--work-dir", default=None,
                    help="where indexes are built and kept (default: <data>/peers-tmp)")
    ap.add_argument("--rebuild", action="store_true", help="rebuild even if a built index exists")
    ap.add_argument("--clean", action="store_true", help="delete each index after its sweep")
    ap.add_argument("--phase", choices=["build", "search"], help=argparse.SUPPRESS)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    argv = sys.argv[1:]
    args = ap.parse_args(argv)
    if args.work_dir is None:
        args.work_dir = str(data_root() / "peers-tmp")
    if args.k < 1:
        ap.error("--k must be at least 1")

    if args.phase == "build":
        return phase_build(args)
    if args.phase == "search":
        return phase_search(args)

    if not args.out:
        ap.error("--out is required")
    engines = [e for e in args.engines.split(",") if e]
    bad = [e for e in engines if e not in ENGINE_CLASSES]
    if bad:
        ap.error(f"unknown engine(s) {','.join(bad)}; choose from {','.join(ENGINES)}")
    dataset_paths(args.dataset)  # fail early on missing files
    args.out = str(Path(args.out).resolve())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    # Children get the same options (minus --engines), with --out made absolute.
    passthrough, skip = [], False
    for i, a in enumerate(argv):
        if skip:
            skip = False
            continue
        if a in ("--engines", "--out"):
            skip = True
            continue
        if a.startswith("--engines=") or a.startswith("--out="):
            continue
        passthrough.append(a)
    args.passthrough = passthrough + ["--out", args.out, "--work-dir", args.work_dir]

    failed = []
    for name in engines:
        spec = DATASETS[args.dataset]
        try:
            eng = ENGINE_CLASSES[name](args, spec)
        except ImportError as e:
            log(f"{name}: not installed ({e}); skipped (run bench/peers/setup.sh)")
            failed.append(name)
            continue
        path = index_dir(args, eng)
        try:
            if args.rebuild or not (path / "build.json").exists():
                child(args, "build", name)
            else:
                log(f"{name}: reusing {path} (--rebuild to build again)")
            child(args, "search", name)
        except subprocess.CalledProcessError as e:
            log(f"{name}: failed ({e})")
            failed.append(name)
        if args.clean:
            shutil.rmtree(path, ignore_errors=True)
    if failed:
        log(f"failed: {','.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
