"""Type stub of ``quarry._quarry``, the native module (re-exported by ``quarry``).

Conventions
-----------
* Vectors are numpy arrays of shape ``(n, dim)``. ``build`` keeps float32, uint8 and
  int8 as they are (other floats become float32), in C or Fortran order. Queries and
  upserted vectors may be of any real dtype and are converted to float32 (a uint8 or
  int8 index refuses an upserted value it cannot hold exactly).
* Search results are FAISS-shaped: ``D, I = index.search(xq, k)`` with ``D`` float32
  and ``I`` int64, both ``(nq, k)``, nearest first; a query with fewer than ``k``
  results is padded with ``inf`` / ``-1``. Distances are "smaller is closer":
  squared L2 (``l2``), negated inner product (``ip``), ``1 - cos`` (``cosine``).
* Ids are non-negative integers. A build numbers its rows ``0..n``; upserts bring
  their own ids.
* Every call that reads or computes releases the GIL, so several Python threads can
  search one index at once. Do not modify an array while a call that reads it runs.
* Errors: ``QuarryValueError`` (a ``ValueError``) for bad arguments, shapes, NaN/Inf,
  ``k`` too large, an empty batch or a malformed filter; ``CorruptIndexError`` when a
  checksum fails; ``QuarryError`` (the base of both) for everything else. Messages are
  the engine's, the same the ``quarry`` command prints.
"""

from os import PathLike
from pathlib import Path
from typing import Any, Literal, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

_Path = Union[str, PathLike[str]]
_Data = Union[npt.ArrayLike, _Path]
_Labels = Union[Sequence[Sequence[int]], Tuple[npt.ArrayLike, npt.ArrayLike], Any, _Path]
_Metric = Literal["l2", "ip", "cosine"]
_Router = Literal["fixed", "centroid", "gbdt", "mlp"]
_Strategy = Literal["scan", "graph", "auto", "partial"]

def build(
    data: _Data,
    path: _Path,
    *,
    partitions: int,
    metric: _Metric = "l2",
    seed: int = 42,
    mem_budget_mb: int = 1024,
    balance_eps: float = 0.1,
    iters: int = 10,
    epochs: int = 1,
    sample_per_partition: int = 256,
    replicate_eps: Optional[float] = None,
    replicate_max: int = 8,
    labels: Optional[_Labels] = None,
    attrs: Optional[Mapping[str, Union[npt.ArrayLike, _Path]]] = None,
    graphs: bool = False,
    routers: Optional[Sequence[Literal["gbdt", "mlp"]]] = None,
    learn: Optional[_Data] = None,
    io: Literal["direct", "buffered"] = "direct",
    writable: Optional[bool] = None,
    overwrite: bool = False,
) -> Index:
    """Build an index at ``path`` (a new directory) and return it open.

    ``data`` is a numpy array ``(n, dim)`` (float32, uint8 or int8; any other float is
    converted to float32; C or Fortran order) or the path of a vector file in any
    format the ``quarry`` command reads (.fvecs .bvecs .fbin .u8bin .i8bin .npy),
    streamed in chunks so it may be larger than memory. Row ``i`` gets id ``i``.

    Args:
        partitions: number of balanced partitions (like FAISS's ``nlist``; about
            ``sqrt(n)`` to ``n / 1000`` is typical).
        metric: ``"l2"`` (squared Euclidean), ``"ip"`` (inner product) or ``"cosine"``.
        seed: seeds k-means and training; the same input, parameters and seed give
            byte-identical files.
        mem_budget_mb: memory the build may hold for vector data.
        balance_eps: partition sizes are bounded by ``(1 + eps) * n / partitions``.
        iters, epochs, sample_per_partition: k-means settings (as ``quarry build``).
        replicate_eps, replicate_max: SPANN-style closure replication (an index
            storing copies takes no writes).
        labels: per-vector labels for filtered search: one list of ints per row, a
            CSR matrix (anything with ``indptr`` and ``indices``, e.g.
            ``scipy.sparse.csr_matrix``), an ``(indptr, indices)`` pair, or a
            ``.spmat`` file.
        attrs: numeric attributes for filtered search, ``{name: values}`` with one
            value per row (integers give an exact int64 column, floats a float64 one)
            or ``{name: path}`` of a one-column ``.ibin/.i64bin/.fbin/.f64bin`` file.
        graphs: also build per-partition HNSW graphs (``strategy="graph"/"auto"``).
        routers: also train learned routers, with ``quarry``'s default settings:
            ``"gbdt"`` (probe counts, ``router="gbdt"``) and/or ``"mlp"``. For other
            settings call ``Index.train_gbdt`` / ``Index.train_mlp``.
        learn: training queries for the GBDT (default: samples of the base).
        io: how the returned index reads partitions (see ``Index.open``).
        writable: open the returned index as the writer (default: yes, unless it
            stores copies or carries labels/attributes, which take no writes).
        overwrite: remove an existing index at ``path`` first (only a directory
            holding a Quarry manifest is ever removed).

    With ``graphs`` or ``routers`` the index is completed in a staging directory and
    appears at ``path`` only whole.

    Raises:
        QuarryValueError: bad shape, dtype, NaN/Inf, partitions > n, bad labels.
        QuarryError: ``path`` exists, unreadable file, I/O errors.
    """

class SearchStats:
    """What one search call cost, per query and in total (``Index.last_search``)."""

    @property
    def partitions(self) -> npt.NDArray[np.uint32]:
        """Partitions each query probed, shape ``(nq,)``."""
    @property
    def vectors(self) -> npt.NDArray[np.uint64]:
        """Vectors each query was compared with (its distance computations)."""
    @property
    def bytes(self) -> npt.NDArray[np.float64]:
        """Each query's share of the bytes read from storage: a partition read once
        for a batch is divided among the queries that probed it."""
    @property
    def batch(self) -> dict[str, Any]:
        """The whole call: ``queries``, ``partitions_read``, ``io_requests``,
        ``bytes_read``, ``vectors_read``, ``distance_computations``,
        ``graph_searches``, ``route_secs``, ``io_wait_secs``, ``compute_secs``,
        ``merge_secs``, ``wall_secs`` and ``filter`` (the filter, ``plan`` taken,
        ``matches``, ``partitions_with_matches``; ``None`` without a filter)."""
    def __len__(self) -> int: ...

class Index:
    """An open index. Use as a context manager or call ``close()``.

    Searches, upserts and deletes run concurrently from any number of threads;
    ``flush``, ``compact``, training and ``close`` wait for running calls and run
    alone.
    """

    @staticmethod
    def open(
        path: _Path,
        io: Literal["direct", "buffered"] = "direct",
        *,
        writable: bool = False,
        sync: Literal["always", "os"] = "always",
        delta_budget_mb: int = 1024,
        split_above: Optional[int] = None,
        io_threads: int = 8,
    ) -> Index:
        """Open the index directory ``path``.

        Args:
            io: ``"direct"`` reads partitions with O_DIRECT (the page cache is
                bypassed, so bytes read are real device reads); ``"buffered"`` reads
                through the page cache (needed on file systems without O_DIRECT,
                such as tmpfs).
            writable: open as the index's one writer (takes its writer lock; a second
                writer, in any process, fails at once). Needed for ``upsert``,
                ``delete``, ``flush`` and ``compact``.
            sync: ``"always"``: each write is fdatasync'ed before it returns (survives
                a power loss); ``"os"``: written to the OS (survives a crash of the
                process).
            delta_budget_mb: memory unflushed writes may hold; a write beyond it is
                refused ("flush before writing more").
            split_above: a flush splits a partition holding more vectors than this
                (default: the build's size bound).
            io_threads: reads in flight (device queue depth).

        Raises:
            QuarryError: not an index, missing, locked by another writer.
            CorruptIndexError: a checksum of the manifest or a small file fails.
        """
    def search(
        self,
        xq: npt.ArrayLike,
        k: int = 10,
        *,
        nprobe: int = 8,
        router: _Router = "fixed",
        target_recall: Optional[float] = None,
        margin: Optional[float] = None,
        max_nprobe: Optional[int] = None,
        spann_eps: Optional[float] = None,
        mlp_mass: Optional[float] = None,
        mlp_order: bool = False,
        strategy: _Strategy = "scan",
        ef: int = 64,
        filter: Union[None, str, Sequence[Optional[str]]] = None,
        filter_plan: Literal["auto", "exact", "routed"] = "auto",
        exact_max_matches: Optional[int] = None,
        threads: Optional[int] = None,
    ) -> Tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Search one query (1-D, ``dim`` values) or a batch (2-D, ``(nq, dim)``).

        Returns ``(D, I)``: float32 distances and int64 ids of shape ``(nq, k)``
        (``(1, k)`` for one query), nearest first, padded with ``inf`` / ``-1``.
        A batch reads each partition it needs once for all its queries, so large
        batches are much cheaper per query than single calls.

        Args:
            k: neighbours per query (1 ..= the number of vectors).
            nprobe: partitions per query (``router="fixed"``); with ``spann_eps`` or
                ``mlp_mass`` the cap.
            router: ``"fixed"`` (the ``nprobe`` nearest centroids), ``"gbdt"`` (the
                learned probe-count model: give ``target_recall`` or ``margin``) or
                ``"mlp"`` (the learned partition ranking).
            target_recall: gbdt: per-query counts whose calibrated mean recall@k
                reaches this (0, 1].
            margin: gbdt: ``ceil(exp(prediction + margin))`` partitions (default 0).
            max_nprobe: gbdt margin mode: probe cap (default: the model's).
            spann_eps: fixed: SPANN's rule, partitions within ``(1 + eps)`` of the
                nearest centroid's distance.
            mlp_mass: mlp: probe until the probabilities sum to this.
            mlp_order: gbdt: the GBDT picks how many partitions, the MLP which ones.
            strategy: how a read partition answers: ``"scan"`` (exact scan),
                ``"graph"``, ``"auto"``, ``"partial"`` (need graphs).
            ef: graph search breadth.
            threads: cores this call may use (default: all, through the engine's
                pool). ``threads=1`` keeps the call on one core, so several Python
                threads searching at once each use their own.
            filter: only vectors matching an expression, e.g.
                ``"label = 3"``, ``"price < 50.0 and (label in [3, 7])"``;
                one ``str`` for every query or a list with one (or ``None``) per query.
            filter_plan: ``"auto"``, ``"exact"`` (every match compared: the true
                filtered top-k) or ``"routed"``.
            exact_max_matches: matches up to which ``"auto"`` searches exactly.

        Raises:
            QuarryValueError: wrong dimension or shape, NaN/Inf, empty batch,
                k < 1 or k > len(index), unknown option, malformed filter.
            QuarryError: a router model or graphs the index lacks, a filter on an
                index without labels/attributes, I/O errors.
            CorruptIndexError: a partition read fails its checksum.
        """
    @property
    def last_search(self) -> Optional[SearchStats]:
        """Statistics of the last ``search`` this thread ran on this index (each
        thread sees its own); ``None`` before the first."""
    def upsert(
        self,
        ids: npt.ArrayLike,
        vectors: npt.ArrayLike,
        labels: Optional[Sequence[Sequence[int]]] = None,
        attrs: Optional[Mapping[str, npt.ArrayLike]] = None,
    ) -> dict[str, int]:
        """Insert or replace vectors by id (``vectors``: ``(len(ids), dim)``, or 1-D
        for one id). Durable in the write-ahead log when it returns and visible to
        the next search; an existing id is replaced. Needs ``writable=True``.

        ``labels`` (one list of ints per row) and ``attrs`` (``{name: values}``, one
        value per row) give the rows' metadata. An index with attributes needs every
        one of them on every upsert; any index takes labels. The new version of an
        id carries only what this call gives it.

        Returns ``{"seq": log sequence number, "ids": count, "existed": replaced}``.
        """
    def delete(self, ids: npt.ArrayLike) -> dict[str, int]:
        """Delete ids (absent ones are ignored). Needs ``writable=True``.
        Returns ``{"seq", "ids", "existed": deleted}``."""
    def flush(self) -> dict[str, Any]:
        """Move acknowledged writes into new index files (and split partitions grown
        past the bound). Searches from other threads go on meanwhile (each call
        searches the files of its start); writes wait for it. Returns the flush
        report."""
    def compact(self) -> dict[str, Any]:
        """A flush that also rewrites the partitions of data segments less than half
        in use and removes those segments (``reclaimed_bytes``)."""
    def train_gbdt(
        self,
        base: _Data,
        *,
        learn: Optional[_Data] = None,
        queries: int = 50000,
        label_k: int = 100,
        label_fraction: float = 0.9,
        holdout: float = 0.2,
        noise_sigma: float = 0.0,
        max_nprobe: int = 128,
        features_k: int = 64,
        rounds: int = 500,
        learning_rate: float = 0.05,
        max_depth: int = 5,
        bins: int = 16,
        seed: int = 42,
    ) -> dict[str, Any]:
        """Train the GBDT probe-count model (BAM-ANN) and attach it to the index
        (``router="gbdt"``). ``base`` is what the index was built from (an array or
        file; checked against the build's fingerprint); training queries are samples
        of it, or ``learn``. Same settings and defaults as ``quarry train-pruning``.
        Returns the training report (labels, held-out recall vs fixed nprobe, ...)."""
    def train_mlp(
        self,
        base: _Data,
        *,
        queries: int = 50000,
        epochs: int = 150,
        hidden: int = 256,
        batch: int = 1024,
        lr: float = 1e-3,
        noise: float = 1.0,
        seed: int = 42,
        weight_decay: float = 0.0,
        centroid_prior: bool = True,
        threads: int = 1,
    ) -> dict[str, Any]:
        """Train the MLP partition router and attach it (``router="mlp"``). Learned
        duplication needs a rewritten index: use ``quarry mlp-train --dup-out``."""
    def build_graphs(self, *, m: int = 16, ef_construction: int = 100, seed: int = 42) -> dict[str, Any]:
        """Build per-partition HNSW graphs (``strategy="graph"/"auto"/"partial"``)."""
    def stats(self) -> dict[str, Any]:
        """``num_vectors``, ``live``, ``deleted`` (since the files were written),
        ``delta`` (unflushed rows), ``delta_bytes``, ``log_bytes`` and ``memory``
        (bytes the open index holds, by part)."""
    def info(self) -> dict[str, Any]:
        """What ``quarry info --json`` reports: dim, dtype, metric, vectors,
        partitions and their sizes, bytes on disk, build parameters, routers, graphs,
        filters, writes, memory, kernels."""
    def close(self) -> None:
        """Close the index (waits for running calls; releases the writer lock).
        Further calls raise ``QuarryError``."""
    def __enter__(self) -> Index: ...
    def __exit__(self, *exc: object) -> bool: ...
    def __len__(self) -> int:
        """Live vectors, acknowledged writes included."""
    @property
    def dim(self) -> int: ...
    @property
    def path(self) -> Path:
        """The index directory."""
    @property
    def writable(self) -> bool: ...
    @property
    def closed(self) -> bool: ...
    @property
    def metric(self) -> str:
        """``"l2"``, ``"ip"`` or ``"cosine"``."""
    @property
    def dtype(self) -> str:
        """numpy name of the stored dtype: ``"float32"``, ``"uint8"`` or ``"int8"``."""
    @property
    def num_partitions(self) -> int: ...
    @property
    def routers(self) -> list[str]:
        """Router models attached to the index."""

def read_vectors(path: _Path) -> npt.NDArray[Any]:
    """Read a whole vector file (.fvecs .bvecs .fbin .u8bin .i8bin .npy) as an
    ``(n, dim)`` array of its stored dtype."""

def read_ground_truth(path: _Path) -> npt.NDArray[np.int64]:
    """Read a ground-truth file (.ivecs, .ibin) as an int64 ``(n, k)`` array."""

def sift10k() -> Tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """TEXMEX SIFT10K, compiled into the package (as in ``quarry demo``):
    ``(base, queries, gt)``: 10,000 x 128 uint8 base vectors, 100 float32 queries and
    their exact top-100 neighbours under L2."""

def exact_search(
    base: _Data, queries: npt.ArrayLike, k: int, metric: _Metric = "l2"
) -> Tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Exact (brute-force) k nearest neighbours with the engine's kernels: ``(D, I)``
    like ``Index.search``; ground truth for measuring recall."""

def verify(path: _Path) -> dict[str, Any]:
    """Check every checksum and invariant of an index (``quarry verify``): a dict with
    ``problems`` (empty when sound), ``leftovers``, ``partitions_checked``,
    ``bytes_checked`` and ``files_checked``."""

def kernels() -> Tuple[str, list[str]]:
    """The distance-kernel path this CPU runs and the ones it supports."""
