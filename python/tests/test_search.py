"""Recall against numpy brute force on the built-in SIFT10K, result shapes and
conventions, the metrics, and the per-query statistics."""

import numpy as np
import pytest

import quarry
from conftest import brute_force, clustered, recall


def test_sift10k_is_the_texmex_set(sift):
    base, queries, gt = sift
    assert base.shape == (10000, 128) and base.dtype == np.uint8
    assert queries.shape == (100, 128) and queries.dtype == np.float32
    assert gt.shape == (100, 100) and gt.dtype == np.int64
    # The shipped ground truth is numpy's brute force (distance ties aside).
    D, I = brute_force(base, queries, 100)
    assert recall(I, gt, 100) > 0.999
    assert np.array_equal(I[:, 0], gt[:, 0])


def test_recall_against_brute_force(sift, sift_index):
    base, queries, _ = sift
    Dn, In = brute_force(base, queries, 10)
    # Every partition probed: the exact answer, distances included.
    D, I = sift_index.search(queries, 10, nprobe=32)
    assert D.shape == I.shape == (100, 10)
    assert D.dtype == np.float32 and I.dtype == np.int64
    assert recall(I, In, 10) == 1.0
    np.testing.assert_allclose(D, Dn, rtol=1e-6)
    # Fewer partitions: high recall that grows with nprobe.
    r = [recall(sift_index.search(queries, 10, nprobe=p)[1], In, 10) for p in (1, 4, 8, 16)]
    assert r == sorted(r), r
    assert r[0] < 1.0 and r[2] >= 0.9, r


def test_distances_are_those_of_the_returned_ids(sift, sift_index):
    base, queries, _ = sift
    D, I = sift_index.search(queries, 5, nprobe=4)
    x = base.astype(np.float64)
    want = ((x[I] - queries[:, None, :].astype(np.float64)) ** 2).sum(-1)
    np.testing.assert_allclose(D, want, rtol=1e-6)
    assert np.all(np.diff(D, axis=1) >= 0)


def test_one_query_equals_its_batch_row(sift, sift_index):
    _, queries, _ = sift
    D, I = sift_index.search(queries, 10, nprobe=8)
    for i in (0, 17, 99):
        d1, i1 = sift_index.search(queries[i], 10, nprobe=8)
        assert d1.shape == (1, 10)
        assert np.array_equal(i1[0], I[i]) and np.array_equal(d1[0], D[i])


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_metrics_exact_with_every_partition(tmp_path, metric):
    x = clustered(3000, 24, seed=1)
    q = clustered(50, 24, seed=2)
    index = quarry.build(x, tmp_path / "idx", partitions=16, metric=metric)
    assert index.metric == metric
    D, I = index.search(q, 10, nprobe=16)
    Dn, In = brute_force(x, q, 10, metric)
    assert recall(I, In, 10) >= 0.99
    np.testing.assert_allclose(D, Dn, rtol=1e-4, atol=1e-4)
    De, Ie = quarry.exact_search(x, q, 10, metric=metric)
    assert recall(Ie, In, 10) >= 0.99
    np.testing.assert_allclose(De, Dn, rtol=1e-4, atol=1e-4)


def test_padding_when_fewer_than_k(tmp_path):
    # 1 probed partition of a 40-vector, 8-partition index holds fewer than k=20.
    x = clustered(40, 8, clusters=8, seed=3)
    index = quarry.build(x, tmp_path / "idx", partitions=8)
    D, I = index.search(x[:3], 20, nprobe=1)
    assert D.shape == (3, 20)
    short = I == -1
    assert short.any()
    assert np.all(np.isinf(D[short])) and np.all(np.isfinite(D[~short]))
    # Padding only at the end of a row.
    for row in short:
        assert not np.any(row[:-1] & ~row[1:])


def test_search_stats(sift, sift_index):
    _, queries, _ = sift
    assert isinstance(sift_index.last_search, (quarry.SearchStats, type(None)))
    sift_index.search(queries, 10, nprobe=4)
    s = sift_index.last_search
    assert len(s) == 100
    assert s.partitions.dtype == np.uint32 and np.all(s.partitions == 4)
    assert s.vectors.dtype == np.uint64 and np.all(s.vectors > 0)
    assert s.bytes.dtype == np.float64 and np.all(s.bytes > 0)
    b = s.batch
    assert b["queries"] == 100 and 4 <= b["partitions_read"] <= 32
    # The batch reads each partition once: per-query shares add up to the bytes read.
    assert abs(s.bytes.sum() - b["bytes_read"]) <= 1e-6 * b["bytes_read"]
    assert b["filter"] is None and b["wall_secs"] > 0
    # One query alone pays for every partition it reads.
    sift_index.search(queries[0], 10, nprobe=4)
    assert len(sift_index.last_search) == 1
    assert sift_index.last_search.partitions[0] == 4


def test_info_and_stats(sift_index):
    info = sift_index.info()
    assert info["dim"] == 128 and info["dtype"] == "u8" and info["metric"] == "l2"
    assert info["num_vectors"] == 10000 and info["num_partitions"] == 32
    assert info["sizes"]["min"] > 0 and info["memory"]["total_bytes"] > 0
    assert sift_index.dtype == "uint8" and sift_index.dim == 128
    assert sift_index.num_partitions == 32 and len(sift_index) == 10000
    st = sift_index.stats()
    assert st["live"] == 10000 and st["deleted"] == 0 and st["delta"] == 0
    assert "uint8" in repr(sift_index)


def test_verify_clean(sift_index):
    r = quarry.verify(sift_index.path)
    assert r["problems"] == [] and r["partitions_checked"] == 32


def test_engine_baseline_helper(sift, sift_index):
    # bench.py's in-process baseline: Index::search per row, timed in Rust.
    _, q, _ = sift
    secs = sift_index._engine_single_query_secs(q[:5], 10, 4)
    assert secs.shape == (5,) and np.all(secs > 0) and np.all(secs < 10)
    with pytest.raises(ValueError, match="dimensions"):
        sift_index._engine_single_query_secs(q[:, :5], 10, 4)
