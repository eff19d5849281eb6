import os
import pathlib
import shutil

import numpy as np
import pytest

import quarry

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent


def pytest_configure(config):
    # Indexes are opened with direct I/O (O_DIRECT), which tmpfs lacks: keep the
    # temporary directories beside the package, on the repository's file system.
    if not config.option.basetemp:
        config.option.basetemp = str(HERE.parent / ".pytest-tmp")


@pytest.fixture(scope="session")
def sift():
    """SIFT10K: base (10000, 128) uint8, queries (100, 128) float32, gt (100, 100)."""
    return quarry.sift10k()


@pytest.fixture(scope="session")
def sift_index(sift, tmp_path_factory):
    """A read-only SIFT10K index, 32 partitions (shared by tests that only search)."""
    base, _, _ = sift
    path = tmp_path_factory.mktemp("sift") / "idx"
    index = quarry.build(base, path, partitions=32, writable=False)
    yield index
    index.close()


def brute_force(base, queries, k, metric="l2"):
    """Exact top-k by numpy, float64: (D, I)."""
    x = base.astype(np.float64)
    q = np.atleast_2d(queries).astype(np.float64)
    if metric == "l2":
        d = (q * q).sum(1)[:, None] - 2 * q @ x.T + (x * x).sum(1)[None, :]
    elif metric == "ip":
        d = -(q @ x.T)
    elif metric == "cosine":
        xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
        qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-30)
        d = 1 - qn @ xn.T
    else:
        raise ValueError(metric)
    i = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, i, axis=1), i


def recall(I, gt, k):
    """Mean |I[:, :k] & gt[:, :k]| / k."""
    return float(np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in zip(I, gt)]))


@pytest.fixture(scope="session")
def cli():
    """The `quarry` command: $QUARRY_CLI, else target/{debug,release}/quarry."""
    env = os.environ.get("QUARRY_CLI")
    cands = [env] if env else [str(REPO / "target" / p / "quarry") for p in ("debug", "release")]
    for c in cands:
        if c and os.access(c, os.X_OK):
            return c
    found = shutil.which("quarry")
    if found:
        return found
    pytest.skip("the quarry command is not built (cargo build -p quarry-cli, or set QUARRY_CLI)")


def clustered(n, dim, clusters=16, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 10, (clusters, dim))
    x = centers[rng.integers(0, clusters, n)] + rng.normal(0, 1, (n, dim))
    return x.astype(dtype)
