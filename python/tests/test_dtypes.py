"""dtype and memory-layout conversions, and files of every format as input."""

import numpy as np
import pytest

import quarry
from conftest import clustered


def _search(index, q):
    return index.search(q, 10, nprobe=4)


def test_build_c_and_fortran_order_give_the_same_index(tmp_path):
    x = clustered(2000, 16, seed=4)
    a = quarry.build(x, tmp_path / "c", partitions=8)
    b = quarry.build(np.asfortranarray(x), tmp_path / "f", partitions=8)
    q = x[:50]
    for r1, r2 in zip(_search(a, q), _search(b, q)):
        assert np.array_equal(r1, r2)
    # The same input and seed give byte-identical files.
    for name in ("centroids.bin", "partitions.bin", "data.bin"):
        assert (tmp_path / "c" / name).read_bytes() == (tmp_path / "f" / name).read_bytes()


@pytest.mark.parametrize("dtype,stored", [
    (np.float32, "float32"), (np.uint8, "uint8"), (np.int8, "int8"),
    (np.float64, "float32"), (np.float16, "float32"),
])
def test_build_dtypes(tmp_path, dtype, stored):
    rng = np.random.default_rng(5)
    if np.dtype(dtype).kind == "f":
        x = rng.normal(0, 10, (1500, 12)).astype(dtype)
    else:
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max, (1500, 12), endpoint=True).astype(dtype)
    index = quarry.build(x, tmp_path / "idx", partitions=6)
    assert index.dtype == stored
    D, I = index.search(x[:20], 1, nprobe=6)
    # Every vector finds itself (or an identical one) at distance 0.
    assert np.all(D[:, 0] <= 1e-2 * max(1.0, float(np.abs(x.astype(np.float64)).max())))
    assert np.array_equal(x[I[:, 0]], x[:20])


def test_query_conversions_give_the_same_answers(sift, sift_index):
    _, q, _ = sift
    want = sift_index.search(q, 10, nprobe=4)
    variants = [
        q.astype(np.float64),
        np.asfortranarray(q),
        q.astype(np.int64),                     # SIFT queries are whole numbers
        q.astype(np.uint8),
        np.repeat(q, 2, axis=0)[::2],           # a strided view
        q.tolist(),                             # plain lists
    ]
    for v in variants:
        got = sift_index.search(v, 10, nprobe=4)
        assert np.array_equal(got[1], want[1])
        np.testing.assert_array_equal(got[0], want[0])


@pytest.mark.parametrize("bad", [
    np.zeros((2, 128), dtype=np.complex64),
    np.array([["a"] * 128]),
    np.zeros((2, 128), dtype=bool),
    np.zeros((2, 2, 128), dtype=np.float32),
    np.zeros((), dtype=np.float32),
    [[1.0, 2.0], [3.0]],                        # ragged
])
def test_bad_query_arrays_are_value_errors(sift_index, bad):
    with pytest.raises(ValueError):
        sift_index.search(bad, 10)


@pytest.mark.parametrize("bad", [
    np.zeros((10, 4), dtype=np.int32),
    np.zeros((10, 4), dtype=np.complex64),
    np.zeros(10, dtype=np.float32),
    np.zeros((2, 3, 4), dtype=np.float32),
])
def test_bad_build_arrays_are_value_errors(tmp_path, bad):
    with pytest.raises(ValueError):
        quarry.build(bad, tmp_path / "idx", partitions=2)
    assert not (tmp_path / "idx").exists()


def _fvecs(path, x):
    x = np.ascontiguousarray(x, dtype=np.float32)
    rows = np.hstack([np.full((len(x), 1), x.shape[1], np.int32).view(np.float32), x])
    rows.tofile(path)


def _bin(path, x):
    with open(path, "wb") as f:
        np.array(x.shape, dtype=np.uint32).tofile(f)
        np.ascontiguousarray(x).tofile(f)


def test_build_from_files_equals_build_from_the_array(tmp_path):
    x = clustered(1500, 16, seed=6)
    ref = quarry.build(x, tmp_path / "ref", partitions=8)
    want = _search(ref, x[:30])
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "xf.npy", np.asfortranarray(x))
    _fvecs(tmp_path / "x.fvecs", x)
    _bin(tmp_path / "x.fbin", x)
    for name in ("x.npy", "xf.npy", "x.fvecs", "x.fbin"):
        p = tmp_path / name
        np.testing.assert_array_equal(quarry.read_vectors(p), x)
        idx = quarry.build(str(p), tmp_path / (name + ".idx"), partitions=8)
        got = _search(idx, x[:30])
        assert np.array_equal(got[1], want[1]), name


def test_u8_files_stay_u8(tmp_path):
    x = np.random.default_rng(7).integers(0, 256, (800, 8), dtype=np.uint8)
    _bin(tmp_path / "x.u8bin", x)
    y = quarry.read_vectors(tmp_path / "x.u8bin")
    assert y.dtype == np.uint8 and np.array_equal(x, y)
    index = quarry.build(tmp_path / "x.u8bin", tmp_path / "idx", partitions=4)
    assert index.dtype == "uint8"


def test_read_ground_truth(tmp_path, sift):
    _, _, gt = sift
    rows = np.hstack([np.full((len(gt), 1), gt.shape[1]), gt]).astype(np.int32)
    rows.tofile(tmp_path / "gt.ivecs")
    assert np.array_equal(quarry.read_ground_truth(tmp_path / "gt.ivecs"), gt)
