"""Upserts, deletes, flush and compaction from Python, and their errors."""

import numpy as np
import pytest

import quarry
from conftest import clustered


@pytest.fixture
def writer(tmp_path):
    x = clustered(2000, 16, seed=11)
    index = quarry.build(x, tmp_path / "idx", partitions=8)
    yield index, x, tmp_path / "idx"
    index.close()


def _ids_of(index, q, k=1):
    return index.search(q, k, nprobe=index.num_partitions)[1]


def test_build_returns_a_writer(writer):
    index, _, _ = writer
    assert index.writable and not index.closed


def test_upsert_new_and_replace_then_delete(writer):
    index, x, path = writer
    rng = np.random.default_rng(12)
    new = rng.normal(0, 10, (50, 16)).astype(np.float32)
    ids = np.arange(10_000, 10_050)
    r = index.upsert(ids, new)
    assert r == {"seq": r["seq"], "ids": 50, "existed": 0}
    assert len(index) == 2050
    assert np.array_equal(_ids_of(index, new)[:, 0], ids)
    # Replace id 0 with a far-away vector: its old vector no longer returns id 0.
    far = np.full(16, 500.0, np.float32)
    assert index.upsert([0], far)["existed"] == 1
    assert _ids_of(index, far)[0, 0] == 0
    assert 0 not in _ids_of(index, x[0], k=5)[0]
    assert len(index) == 2050
    # Delete: never returned again; absent ids are not counted.
    r = index.delete(np.array([10_000, 10_001, 999_999], dtype=np.uint64))
    assert r["ids"] == 3 and r["existed"] == 2
    got = _ids_of(index, new[:2], k=10)
    assert 10_000 not in got and 10_001 not in got
    st = index.stats()
    assert st["live"] == 2048 and st["delta"] == 49 and st["log_bytes"] > 0


def test_flush_compact_reopen(writer):
    index, x, path = writer
    new = clustered(300, 16, seed=13) + 3
    index.upsert(np.arange(5000, 5300), new)
    index.delete(np.arange(0, 100))
    f = index.flush()
    assert f["partitions"] > 0 and f["removed"] == 100
    assert index.stats()["delta"] == 0
    c = index.compact()
    assert "reclaimed_bytes" in c
    want = index.search(new[:20], 5, nprobe=8)
    index.close()
    assert index.closed
    with quarry.Index.open(path) as again:
        assert len(again) == 2200
        got = again.search(new[:20], 5, nprobe=8)
        assert np.array_equal(got[1], want[1])
        assert not np.isin(np.arange(100), again.search(x[:100], 1, nprobe=8)[1]).any()
    assert quarry.verify(path)["problems"] == []


def test_unflushed_writes_survive_a_reopen(writer):
    index, x, path = writer
    index.upsert([7777], np.ones(16, np.float32) * 42)
    index.close()   # no flush: the log is replayed
    with quarry.Index.open(path) as again:
        assert _ids_of(again, np.ones(16, np.float32) * 42)[0, 0] == 7777


def test_u8_index_upserts(tmp_path):
    x = np.random.default_rng(14).integers(0, 256, (500, 8), dtype=np.uint8)
    index = quarry.build(x, tmp_path / "idx", partitions=4)
    index.upsert([900], np.full((1, 8), 7, np.uint8))
    assert _ids_of(index, np.full(8, 7.0))[0, 0] == 900
    with pytest.raises(ValueError):
        index.upsert([901], np.full(8, 7.5))       # a u8 index cannot hold 7.5
    with pytest.raises(ValueError):
        index.upsert([901], np.full(8, 300.0))


def test_write_errors(writer, tmp_path):
    index, x, path = writer
    with pytest.raises(ValueError, match="dimensions"):
        index.upsert([1], np.ones(15, np.float32))
    with pytest.raises(ValueError, match="one id per row"):
        index.upsert([1, 2], np.ones((3, 16), np.float32))
    with pytest.raises(ValueError, match="non-finite"):
        index.upsert([1], np.full(16, np.nan, np.float32))
    with pytest.raises(ValueError, match="negative"):
        index.upsert([-1], np.ones(16, np.float32))
    with pytest.raises(ValueError, match="integer"):
        index.delete([1.5])
    with pytest.raises(ValueError, match="empty"):
        index.delete(np.array([], dtype=np.int64))
    with pytest.raises(ValueError, match="1-D"):
        index.delete(np.ones((2, 2), dtype=np.int64))
    # A second writer, in this process or another, fails at once.
    with pytest.raises(quarry.QuarryError, match="another process"):
        quarry.Index.open(path, writable=True)
    # A reader cannot write, and is told how to get a writer.
    with quarry.Index.open(path) as reader:
        with pytest.raises(quarry.QuarryError, match="writable=True"):
            reader.upsert([1], np.ones(16, np.float32))
        with pytest.raises(quarry.QuarryError, match="opened for reading"):
            reader.delete([1])
        with pytest.raises(quarry.QuarryError):
            reader.flush()


def test_delta_budget(tmp_path):
    x = clustered(500, 16, seed=15)
    quarry.build(x, tmp_path / "idx", partitions=4, writable=False)
    with quarry.Index.open(tmp_path / "idx", writable=True, delta_budget_mb=1, sync="os") as w:
        big = np.ones((20_000, 16), np.float32)
        with pytest.raises(quarry.QuarryError, match="flush before writing more"):
            w.upsert(np.arange(10**6, 10**6 + 20_000), big)
    with pytest.raises(ValueError, match="sync"):
        quarry.Index.open(tmp_path / "idx", writable=True, sync="sometimes")


def test_replicated_index_is_read_only_by_default(tmp_path):
    x = clustered(800, 8, seed=16)
    index = quarry.build(x, tmp_path / "idx", partitions=8, replicate_eps=0.2)
    assert not index.writable
    with pytest.raises(quarry.QuarryError, match="copies"):
        quarry.Index.open(tmp_path / "idx", writable=True)
