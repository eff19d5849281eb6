"""The same index from both front ends: built by the `quarry` command and opened
from Python, built from Python and searched, verified and written by the command."""

import json
import subprocess

import numpy as np
import pytest

import quarry
from conftest import clustered


def run(cli, *args):
    p = subprocess.run([cli, *map(str, args)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_cli_built_index_opened_from_python(cli, tmp_path):
    x = clustered(3000, 24, seed=30)
    np.save(tmp_path / "x.npy", x)
    run(cli, "build", "--base", tmp_path / "x.npy", "--out", tmp_path / "cli", "--partitions", 12)
    py = quarry.build(x, tmp_path / "py", partitions=12, writable=False)
    # Same input, parameters and seed: byte-identical files ...
    for name in ("centroids.bin", "partitions.bin", "data.bin"):
        assert (tmp_path / "cli" / name).read_bytes() == (tmp_path / "py" / name).read_bytes()
    # ... and the same answers.
    with quarry.Index.open(tmp_path / "cli") as cli_index:
        q = x[:100] + 0.25
        for a, b in zip(cli_index.search(q, 10, nprobe=3), py.search(q, 10, nprobe=3)):
            assert np.array_equal(a, b)
        assert cli_index.info()["build"] == py.info()["build"]


def test_python_built_index_searched_by_the_cli(cli, tmp_path):
    base, q = clustered(3000, 24, seed=31), clustered(200, 24, seed=32)
    index = quarry.build(base, tmp_path / "idx", partitions=12, writable=False)
    D, I = index.search(q, 10, nprobe=4)
    index.close()
    np.save(tmp_path / "q.npy", q)
    out = run(cli, "search", "--index", tmp_path / "idx", "--queries", tmp_path / "q.npy",
              "--k", 10, "--nprobe", 4, "--out", tmp_path / "ids.ivecs",
              "--out-distances", tmp_path / "d.fvecs", "--json")
    assert json.loads(out)["partitions_per_query"] == 4
    assert np.array_equal(quarry.read_ground_truth(tmp_path / "ids.ivecs"), I)
    np.testing.assert_array_equal(quarry.read_vectors(tmp_path / "d.fvecs"), D)
    run(cli, "verify", "--index", tmp_path / "idx")


def test_writes_cross_over(cli, tmp_path):
    base = clustered(2000, 16, seed=33)
    index = quarry.build(base, tmp_path / "idx", partitions=8)
    new = clustered(100, 16, seed=34) + 50
    index.upsert(np.arange(10_000, 10_100), new)
    index.delete(np.arange(0, 10))
    index.flush()
    index.close()
    info = json.loads(run(cli, "info", "--index", tmp_path / "idx", "--json"))
    assert info["num_vectors"] == 2090
    run(cli, "verify", "--index", tmp_path / "idx")
    # The command writes; Python sees it (the log is replayed on open).
    more = clustered(5, 16, seed=35) - 80
    np.save(tmp_path / "more.npy", more)
    np.save(tmp_path / "more_ids.npy", np.arange(20_000, 20_005, dtype=np.int64))
    run(cli, "upsert", "--index", tmp_path / "idx", "--vectors", tmp_path / "more.npy",
        "--ids", tmp_path / "more_ids.npy")
    with quarry.Index.open(tmp_path / "idx") as again:
        assert len(again) == 2095
        assert np.array_equal(again.search(more, 1, nprobe=8)[1][:, 0], np.arange(20_000, 20_005))
        assert np.array_equal(again.search(new[:3], 1, nprobe=8)[1][:, 0], [10_000, 10_001, 10_002])


def test_writer_lock_is_shared_with_the_cli(cli, tmp_path):
    base = clustered(500, 8, seed=36)
    index = quarry.build(base, tmp_path / "idx", partitions=4)   # Python holds the lock
    np.save(tmp_path / "ids.npy", np.arange(3, dtype=np.int64))
    p = subprocess.run([cli, "delete", "--index", str(tmp_path / "idx"), "--ids",
                        str(tmp_path / "ids.npy")], capture_output=True, text=True)
    assert p.returncode == 1 and "being changed by another process" in p.stderr
    index.close()
    run(cli, "delete", "--index", tmp_path / "idx", "--ids", tmp_path / "ids.npy")


def test_cli_labels_and_python_filters(cli, tmp_path):
    x = clustered(1500, 8, seed=37)
    rng = np.random.default_rng(38)
    labels = [[int(v)] for v in rng.integers(0, 5, len(x))]
    indptr = np.arange(len(x) + 1, dtype=np.int64)
    indices = np.array([l[0] for l in labels], dtype=np.int32)
    with open(tmp_path / "l.spmat", "wb") as f:
        np.array([len(x), 5, len(x)], dtype=np.int64).tofile(f)
        indptr.tofile(f)
        indices.tofile(f)
        np.ones(len(x), dtype=np.float32).tofile(f)
    np.save(tmp_path / "x.npy", x)
    run(cli, "build", "--base", tmp_path / "x.npy", "--out", tmp_path / "cli",
        "--partitions", 6, "--labels", tmp_path / "l.spmat")
    py = quarry.build(x, tmp_path / "py", partitions=6, labels=labels)
    with quarry.Index.open(tmp_path / "cli") as c:
        a = c.search(x[:20], 5, filter="label = 2", filter_plan="exact")
        b = py.search(x[:20], 5, filter="label = 2", filter_plan="exact")
        assert np.array_equal(a[1], b[1])
        assert np.all(indices[a[1][a[1] >= 0]] == 2)
