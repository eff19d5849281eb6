"""Every error path: the exception class, the engine's message, and no crash."""

import os
import shutil

import numpy as np
import pytest

import quarry
from conftest import clustered


def test_exception_hierarchy():
    assert issubclass(quarry.QuarryValueError, quarry.QuarryError)
    assert issubclass(quarry.QuarryValueError, ValueError)
    assert issubclass(quarry.CorruptIndexError, quarry.QuarryError)
    assert not issubclass(quarry.CorruptIndexError, ValueError)


@pytest.mark.parametrize("kwargs,match", [
    (dict(k=0), "k must be at least 1"),
    (dict(k=-3), "k must be at least 1"),
    (dict(k=10_001), "exceeds the 10000 vectors"),
    (dict(nprobe=0), "nprobe must be at least 1"),
    (dict(router="best"), "unknown router 'best'"),
    (dict(strategy="magic"), "unknown strategy 'magic'"),
    (dict(target_recall=0.9), "target_recall needs router='gbdt'"),
    (dict(mlp_mass=0.9), "mlp_mass needs router='mlp'"),
    (dict(spann_eps=-1.0), "eps"),
    (dict(ef=0), "ef must be at least 1"),
])
def test_bad_search_arguments(sift, sift_index, kwargs, match):
    _, q, _ = sift
    with pytest.raises(quarry.QuarryValueError, match=match):
        sift_index.search(q[:3], **kwargs)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")
def test_bad_queries(sift_index):
    with pytest.raises(ValueError, match="query has 127 dimensions, index expects 128"):
        sift_index.search(np.zeros(127, np.float32), 5)
    with pytest.raises(ValueError, match="queries have 64 dimensions, index expects 128"):
        sift_index.search(np.zeros((3, 64), np.float32), 5)
    with pytest.raises(ValueError, match="empty batch"):
        sift_index.search(np.zeros((0, 128), np.float32), 5)
    q = np.zeros((4, 128), np.float32)
    q[2, 7] = np.nan
    with pytest.raises(ValueError, match="query 2 has a non-finite value at component 7"):
        sift_index.search(q, 5)
    q[2, 7] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        sift_index.search(q, 5)
    with pytest.raises(ValueError, match="non-finite"):     # overflows float32
        sift_index.search(np.full(128, 1e300), 5)


def test_missing_models_and_graphs(sift, sift_index):
    _, q, _ = sift
    for kwargs, match in [
        (dict(router="gbdt", target_recall=0.9), "no gbdt router model|no pruning"),
        (dict(router="mlp"), "no mlp router model"),
        (dict(strategy="graph"), "needs per-partition graphs"),
    ]:
        with pytest.raises(quarry.QuarryError, match=match) as e:
            sift_index.search(q[:2], 5, **kwargs)
        assert not isinstance(e.value, ValueError)


def test_open_errors(tmp_path):
    with pytest.raises(quarry.QuarryError, match="nope"):
        quarry.Index.open(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(quarry.QuarryError, match="not a Quarry index"):
        quarry.Index.open(tmp_path / "empty")
    with pytest.raises(ValueError, match="unknown I/O mode"):
        quarry.Index.open(tmp_path / "empty", io="mmap")
    with pytest.raises(ValueError, match="io_threads"):
        quarry.Index.open(tmp_path / "empty", io_threads=0)
    with pytest.raises(ValueError, match="io_threads"):
        quarry.Index.open(tmp_path / "empty", io_threads=100_000)


def test_build_errors(tmp_path):
    x = clustered(100, 4, seed=21)
    with pytest.raises(ValueError, match="partitions 101 for 100 vectors"):
        quarry.build(x, tmp_path / "a", partitions=101)
    with pytest.raises(ValueError, match="partitions must be at least 1"):
        quarry.build(x, tmp_path / "a", partitions=0)
    with pytest.raises(ValueError, match="unknown metric 'hamming'"):
        quarry.build(x, tmp_path / "a", partitions=2, metric="hamming")
    bad = x.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        quarry.build(bad, tmp_path / "a", partitions=2)
    with pytest.raises(ValueError, match="unknown router 'knn'"):
        quarry.build(x, tmp_path / "a", partitions=2, routers=["knn"])
    with pytest.raises(quarry.QuarryError, match="unsupported file extension"):
        quarry.build(str(tmp_path / "x.csv"), tmp_path / "a", partitions=2)
    with pytest.raises(quarry.QuarryError, match="No such file|not found|x.npy"):
        quarry.build(str(tmp_path / "x.npy"), tmp_path / "a", partitions=2)
    assert not (tmp_path / "a").exists()
    quarry.build(x, tmp_path / "a", partitions=2).close()
    with pytest.raises(quarry.QuarryError, match="already exists"):
        quarry.build(x, tmp_path / "a", partitions=2)
    # overwrite replaces an index, never anything else.
    quarry.build(x * 2, tmp_path / "a", partitions=2, overwrite=True).close()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a Quarry index"):
        quarry.build(x, tmp_path / "notes", partitions=2, overwrite=True)
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"


def _copy_index(src, dst):
    shutil.copytree(src, dst)
    for lock in dst.glob(".quarry-writer.lock"):
        lock.unlink()
    return dst


def test_corrupt_partition_is_a_corrupt_index_error(tmp_path, sift):
    base, q, _ = sift
    quarry.build(base, tmp_path / "idx", partitions=8, writable=False).close()
    data = tmp_path / "idx" / "data.bin"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    with quarry.Index.open(tmp_path / "idx") as index:    # small files still check out
        with pytest.raises(quarry.CorruptIndexError, match="checksum|corrupt"):
            index.search(q, 10, nprobe=8)
    r = quarry.verify(tmp_path / "idx")
    assert len(r["problems"]) >= 1 and "checksum" in r["problems"][0]


def test_corrupt_manifest_and_centroids(tmp_path):
    x = clustered(500, 8, seed=22)
    quarry.build(x, tmp_path / "idx", partitions=4, writable=False).close()
    a = _copy_index(tmp_path / "idx", tmp_path / "a")
    c = (a / "centroids.bin").read_bytes()
    (a / "centroids.bin").write_bytes(c[:-4] + bytes([c[-4] ^ 1]) + c[-3:])
    with pytest.raises(quarry.CorruptIndexError):
        quarry.Index.open(a)
    b = _copy_index(tmp_path / "idx", tmp_path / "b")
    m = (b / "manifest.json").read_text()
    (b / "manifest.json").write_text(m.replace('"dim": 8', '"dim": 9'))
    with pytest.raises(quarry.QuarryError) as e:
        quarry.Index.open(b)
    assert "crc32c" in str(e.value) or "corrupt" in str(e.value)


def test_closed_index(tmp_path):
    x = clustered(100, 4, seed=23)
    index = quarry.build(x, tmp_path / "idx", partitions=2)
    with index:
        pass
    assert index.closed
    for call in (lambda: index.search(x[:1], 1), lambda: len(index), index.flush,
                 index.stats, index.info, lambda: index.upsert([1], x[:1]),
                 lambda: index.delete([1])):
        with pytest.raises(quarry.QuarryError, match="closed"):
            call()
    assert "closed" in repr(index)
    # The writer lock went with it.
    quarry.Index.open(tmp_path / "idx", writable=True).close()


WEIRD = [None, "", "x", b"\x00", -1, 0, 2**70, 1e308, float("nan"), [], [[]], {},
         object(), np.array([]), np.zeros((0, 0)), np.zeros((1, 4), dtype=object)]


def test_weird_arguments_raise_exceptions_not_crashes(tmp_path):
    """Every public call with nonsense in every position: an ordinary exception (or
    success), never a crash or a BaseException such as pyo3's PanicException."""
    x = clustered(200, 4, seed=24)
    index = quarry.build(x, tmp_path / "idx", partitions=2)
    calls = [
        lambda a: index.search(a, 1),
        lambda a: index.search(x[:1], a),
        lambda a: index.search(x[:1], 1, nprobe=a),
        lambda a: index.search(x[:1], 1, filter=a),
        lambda a: index.search(x[:1], 1, router=a),
        lambda a: index.upsert(a, x[:1]),
        lambda a: index.upsert([5], a),
        lambda a: index.delete(a),
        lambda a: quarry.build(a, tmp_path / "w", partitions=2),
        # (str paths would be relative to the working directory: not those.)
        lambda a: None if isinstance(a, (str, bytes)) else quarry.build(x, a, partitions=2),
        lambda a: quarry.build(x, tmp_path / "w2", partitions=a),
        lambda a: quarry.build(x, tmp_path / "w3", partitions=2, labels=a),
        lambda a: quarry.Index.open(a),
        lambda a: quarry.read_vectors(a),
        lambda a: quarry.exact_search(x, a, 1),
        lambda a: quarry.verify(a),
    ]
    for call in calls:
        for a in WEIRD:
            try:
                r = call(a)
                if isinstance(r, quarry.Index) and r is not index:
                    r.close()
            except Exception:
                pass
            for p in ("w", "w2", "w3"):
                shutil.rmtree(tmp_path / p, ignore_errors=True)
    D, I = index.search(x[:2], 1, nprobe=2)    # still healthy
    assert np.array_equal(I[:, 0], [0, 1])
