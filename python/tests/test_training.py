"""Learned routers and graphs trained from Python, and used by search."""

import numpy as np
import pytest

import quarry
from conftest import brute_force, clustered, recall


@pytest.fixture(scope="module")
def trained(sift, tmp_path_factory):
    base, q, gt = sift
    path = tmp_path_factory.mktemp("trained") / "idx"
    index = quarry.build(base, path, partitions=32, writable=False)
    return index, path


def test_gbdt_router(sift, trained):
    base, q, gt = sift
    index, path = trained
    report = index.train_gbdt(base, queries=3000, label_k=10, rounds=60, max_nprobe=32)
    assert report["train_queries"] + report["calibration_queries"] == 3000
    assert "gbdt" in index.routers
    D, I = index.search(q, 10, router="gbdt", target_recall=0.9)
    parts = index.last_search.partitions
    assert recall(I, gt, 10) >= 0.8
    assert 1 <= parts.min() and parts.mean() < 32 and parts.max() > parts.min()
    D2, I2 = index.search(q, 10, router="gbdt", margin=1.0, max_nprobe=8)
    assert index.last_search.partitions.max() <= 8
    # The model is a file of the index: another handle finds it.
    with quarry.Index.open(path) as again:
        assert np.array_equal(again.search(q, 10, router="gbdt", target_recall=0.9)[1], I)
    with pytest.raises(ValueError, match="target recall"):
        index.search(q, 10, router="gbdt", target_recall=1.5)
    # The base is checked against the index's fingerprint.
    with pytest.raises(ValueError, match="is not the base index"):
        index.train_gbdt(base[::-1].copy(), queries=500, label_k=10)


def test_mlp_router(sift, trained):
    base, q, gt = sift
    index, _ = trained
    r = index.train_mlp(base, queries=2000, epochs=3, hidden=32, batch=256)
    assert r["epochs"] == 3 and r["params"] > 0
    assert "mlp" in index.routers
    D, I = index.search(q, 10, router="mlp", nprobe=8)
    assert np.all(index.last_search.partitions == 8)
    assert recall(I, gt, 10) >= 0.5
    D, I = index.search(q, 10, router="mlp", mlp_mass=0.9, nprobe=16)
    assert index.last_search.partitions.max() <= 16
    with pytest.raises(ValueError, match="hidden"):
        index.train_mlp(base, hidden=0)


def test_graphs(tmp_path):
    x = clustered(4000, 16, seed=40)
    q = clustered(50, 16, seed=41)
    index = quarry.build(x, tmp_path / "idx", partitions=8, graphs=True, writable=False)
    assert index.info()["graphs"] is not None
    _, In = brute_force(x, q, 10)
    for strategy in ("graph", "auto", "partial"):
        D, I = index.search(q, 10, nprobe=8, strategy=strategy, ef=64)
        assert recall(I, In, 10) >= 0.9, strategy
    index2 = quarry.build(x, tmp_path / "idx2", partitions=8, writable=False)
    r = index2.build_graphs(m=8, ef_construction=50)
    assert r["partitions"] == 8
    assert recall(index2.search(q, 10, nprobe=8, strategy="graph")[1], In, 10) >= 0.9


def test_build_with_routers_is_staged(tmp_path):
    x = clustered(3000, 16, seed=42)
    index = quarry.build(x, tmp_path / "idx", partitions=8, routers=["gbdt"], writable=False)
    assert "gbdt" in index.routers
    assert [p.name for p in tmp_path.iterdir()] == ["idx"]   # no staging left
    # A failure in a later step leaves nothing at the destination.
    with pytest.raises(ValueError):
        quarry.build(x, tmp_path / "bad", partitions=8, routers=["gbdt"], learn=x[:, :4])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]
