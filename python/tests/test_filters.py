"""Filtered search: labels and attributes given at build, filter expressions, plans,
per-query filters, and the errors."""

import numpy as np
import pytest

import quarry
from conftest import brute_force, clustered, recall

N, DIM = 3000, 16


@pytest.fixture(scope="module")
def meta_index(tmp_path_factory):
    x = clustered(N, DIM, seed=8)
    rng = np.random.default_rng(9)
    labels = [sorted(set(rng.integers(0, 10, rng.integers(0, 4)).tolist())) for _ in range(N)]
    price = rng.uniform(0, 100, N)
    year = rng.integers(2000, 2025, N)
    path = tmp_path_factory.mktemp("meta") / "idx"
    index = quarry.build(x, path, partitions=12, labels=labels,
                         attrs={"price": price, "year": year})
    return index, x, labels, price, year


def _allowed(labels, price, year, pred):
    return np.array([pred(set(l), p, y) for l, p, y in zip(labels, price, year)])


@pytest.mark.parametrize("expr,pred", [
    ("label = 3", lambda l, p, y: 3 in l),
    ("label in [1, 7]", lambda l, p, y: 1 in l or 7 in l),
    ("not label = 2", lambda l, p, y: 2 not in l),
    ("price < 20.0", lambda l, p, y: p < 20.0),
    ("year >= 2020 and (label = 3 or label = 7)",
     lambda l, p, y: y >= 2020 and (3 in l or 7 in l)),
])
def test_exact_plan_is_the_filtered_brute_force(meta_index, expr, pred):
    index, x, labels, price, year = meta_index
    ok = _allowed(labels, price, year, pred)
    q = x[:40] + 0.5
    D, I = index.search(q, 10, filter=expr, filter_plan="exact")
    ids = np.flatnonzero(ok)
    Dn, In = brute_force(x[ids], q, 10)
    want = ids[In]
    assert np.all(ok[I[I >= 0]])
    assert recall(I, want, 10) >= 0.99
    s = index.last_search.batch["filter"]
    assert s["plan"] == "exact" and s["matches"] == ok.sum() and s["filter"] == expr


def test_routed_and_auto_plans_return_only_matches(meta_index):
    index, x, labels, price, year = meta_index
    ok = _allowed(labels, price, year, lambda l, p, y: 5 in l)
    for plan in ("routed", "auto"):
        D, I = index.search(x[:30], 10, nprobe=2, filter="label = 5", filter_plan=plan)
        assert np.all(ok[I[I >= 0]])
        assert (I >= 0).sum() == 300   # enough matches in the partitions taken


def test_per_query_filters(meta_index):
    index, x, labels, price, year = meta_index
    exprs = ["label = 1", None, "price > 50.0", "label = 1"]
    D, I = index.search(x[:4], 5, filter=exprs, filter_plan="exact", nprobe=12)
    for i, e in enumerate(exprs):
        d1, i1 = index.search(x[i], 5, filter=e, filter_plan="exact", nprobe=12)
        assert np.array_equal(i1[0], I[i])
    assert np.all([1 in labels[j] for j in I[0]])
    assert np.all(price[I[2]] > 50.0)


def test_labels_as_csr_and_file(tmp_path, meta_index):
    index, x, labels, price, year = meta_index
    indptr = np.cumsum([0] + [len(l) for l in labels])
    indices = np.concatenate([np.array(l, dtype=np.int64) for l in labels])
    a = quarry.build(x, tmp_path / "a", partitions=12, labels=(indptr, indices))

    class Csr:  # what scipy.sparse.csr_matrix offers
        pass
    c = Csr()
    c.indptr, c.indices = indptr, indices
    b = quarry.build(x, tmp_path / "b", partitions=12, labels=c)
    # The .spmat format (big-ann-benchmarks' CSR).
    with open(tmp_path / "l.spmat", "wb") as f:
        np.array([N, 10, len(indices)], dtype=np.int64).tofile(f)
        indptr.astype(np.int64).tofile(f)
        indices.astype(np.int32).tofile(f)
        np.ones(len(indices), dtype=np.float32).tofile(f)
    s = quarry.build(x, tmp_path / "s", partitions=12, labels=str(tmp_path / "l.spmat"))
    want = index.search(x[:20], 10, filter="label = 4", filter_plan="exact")[1]
    for other in (a, b, s):
        got = other.search(x[:20], 10, filter="label = 4", filter_plan="exact")[1]
        assert np.array_equal(got, want)


def test_filter_errors(meta_index, sift_index):
    index, x, *_ = meta_index
    with pytest.raises(ValueError, match="position"):
        index.search(x[:2], 5, filter="label = = 3")
    with pytest.raises(ValueError, match="unknown attribute 'colour'"):
        index.search(x[:2], 5, filter="colour < 3")
    with pytest.raises(ValueError, match="2 queries"):
        index.search(x[:2], 5, filter=["label = 1"])
    with pytest.raises(ValueError):
        index.search(x[:2], 5, filter=[3, 4])
    with pytest.raises(ValueError, match="filter_plan|plan"):
        index.search(x[:2], 5, filter="label = 1", filter_plan="fast")
    # An index without metadata: not a bad argument, a QuarryError naming the fix.
    with pytest.raises(quarry.QuarryError, match="no labels or attributes") as e:
        sift_index.search(np.zeros(128, np.float32), 5, filter="label = 1")
    assert not isinstance(e.value, ValueError)


def test_bad_metadata_at_build(tmp_path):
    x = clustered(100, 4, seed=10)
    with pytest.raises(ValueError, match="99 rows of labels for 100"):
        quarry.build(x, tmp_path / "a", partitions=2, labels=[[1]] * 99)
    with pytest.raises(ValueError, match="negative|0..=4294967295"):
        quarry.build(x, tmp_path / "b", partitions=2, labels=[[-1]] * 100)
    with pytest.raises(ValueError, match="price"):
        quarry.build(x, tmp_path / "c", partitions=2, attrs={"price": np.ones(99)})
    with pytest.raises(ValueError, match="finite"):
        quarry.build(x, tmp_path / "d", partitions=2, attrs={"price": np.full(100, np.nan)})
    with pytest.raises(ValueError, match="attribute name"):
        quarry.build(x, tmp_path / "e", partitions=2, attrs={"and": np.ones(100)})
    for d in "abcde":
        assert not (tmp_path / d).exists()


def test_upserts_carry_labels_and_attributes(tmp_path):
    x = clustered(600, DIM, seed=21)
    path = tmp_path / "idx"
    index = quarry.build(x, path, partitions=6, labels=[[i % 3] for i in range(600)],
                         attrs={"year": np.full(600, 2000, np.int64)})
    assert index.writable
    new = x[:5] + 0.01
    ids = np.arange(10_000, 10_005)
    # Every attribute is needed; a label list per row.
    with pytest.raises(ValueError, match="year"):
        index.upsert(ids, new, labels=[[7]] * 5)
    index.upsert(ids, new, labels=[[7]] * 5, attrs={"year": np.full(5, 2024)})
    for when in ("before flush", "after flush"):
        D, I = index.search(new, 1, nprobe=6, filter="label = 7 and year = 2024")
        assert I[:, 0].tolist() == ids.tolist(), when
        index.flush()
    # Replacing an id without the label drops it from the matches.
    index.upsert([10_000], new[:1], attrs={"year": [2024]})
    D, I = index.search(new[:1], 4, nprobe=6, filter="label = 7")
    assert 10_000 not in I[0].tolist() and set(I[0].tolist()) <= set(ids.tolist())
    index.close()
    with quarry.Index.open(path) as r:
        D, I = r.search(new[1:2], 1, nprobe=6, filter="year >= 2024")
        assert I[0, 0] == 10_001
