//! Files and data: the built-in SIFT10K set, vector and ground-truth readers, exact
//! search, and `verify`.

use crate::convert;
use crate::errors::{detached, Error, Result};
use crate::json::to_py;
use crate::source::Source;
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2};
use pyo3::prelude::*;
use quarry_engine::{Metric, NoProgress};
use quarry_formats::{open_vectors, read_ground_truth as read_gt, ChunkData};
use std::path::{Path, PathBuf};

// TEXMEX SIFT10K ("siftsmall"), the set `quarry demo` ships too.
const BASE: &[u8] = include_bytes!("../../tests/fixtures/siftsmall/siftsmall_base.bvecs");
const QUERIES: &[u8] = include_bytes!("../../tests/fixtures/siftsmall/siftsmall_query.fvecs");
const GT: &[u8] = include_bytes!("../../tests/fixtures/siftsmall/siftsmall_groundtruth.ivecs");

/// A whole vector file in its native dtype.
fn read_all(path: &Path) -> Result<(ChunkData, usize, usize)> {
    let src = open_vectors(path)?;
    let (n, dim) = (src.len(), src.dim());
    Ok((src.read_range(0, n)?, n, dim))
}

fn chunk_to_py(py: Python<'_>, c: ChunkData, n: usize, dim: usize) -> Bound<'_, PyAny> {
    match c {
        ChunkData::F32(v) => Array2::from_shape_vec((n, dim), v)
            .expect("n x dim")
            .into_pyarray(py)
            .into_any(),
        ChunkData::U8(v) => Array2::from_shape_vec((n, dim), v)
            .expect("n x dim")
            .into_pyarray(py)
            .into_any(),
        ChunkData::I8(v) => Array2::from_shape_vec((n, dim), v)
            .expect("n x dim")
            .into_pyarray(py)
            .into_any(),
    }
}

fn gt_array(ids: Vec<u32>, n: usize, k: usize) -> Array2<i64> {
    Array2::from_shape_vec((n, k), ids.into_iter().map(i64::from).collect()).expect("n x k")
}

/// Reads a whole vector file (.fvecs .bvecs .fbin .u8bin .i8bin .npy) as a 2-D array
/// of its stored dtype.
#[pyfunction]
pub fn read_vectors(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyAny>> {
    let (c, n, dim) = detached(py, || read_all(&path))?;
    Ok(chunk_to_py(py, c, n, dim))
}

/// Reads a ground-truth file (.ivecs, .ibin) as an int64 (n, k) array.
#[pyfunction]
pub fn read_ground_truth(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyArray2<i64>>> {
    let gt = detached(py, || Ok(read_gt(&path)?))?;
    Ok(gt_array(gt.ids, gt.n, gt.k).into_pyarray(py))
}

/// TEXMEX SIFT10K, compiled into the package: (base uint8 (10000, 128), queries
/// float32 (100, 128), exact top-100 ground truth int64 (100, 100), L2).
#[pyfunction]
pub fn sift10k(py: Python<'_>) -> PyResult<Bound<'_, pyo3::types::PyTuple>> {
    let (b, q, g) = detached(py, || {
        let dir = tempfile::tempdir().map_err(|e| Error::quarry(format!("temp dir: {e}")))?;
        let mut paths = Vec::new();
        for (name, bytes) in [
            ("base.bvecs", BASE),
            ("query.fvecs", QUERIES),
            ("gt.ivecs", GT),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes)
                .map_err(|e| Error::quarry(format!("writing {}: {e}", p.display())))?;
            paths.push(p);
        }
        Ok((
            read_all(&paths[0])?,
            read_all(&paths[1])?,
            read_gt(&paths[2])?,
        ))
    })?;
    let base = chunk_to_py(py, b.0, b.1, b.2);
    let queries = chunk_to_py(py, q.0, q.1, q.2);
    let gt = gt_array(g.ids, g.n, g.k).into_pyarray(py).into_any();
    pyo3::types::PyTuple::new(py, [base, queries, gt])
}

/// Exact k nearest neighbours of `queries` in `base` (brute force, the engine's
/// kernels): (D, I) like `Index.search`.
#[pyfunction]
#[pyo3(signature = (base, queries, k, metric="l2"))]
#[allow(clippy::type_complexity)]
pub fn exact_search<'py>(
    py: Python<'py>,
    base: &Bound<'py, PyAny>,
    queries: &Bound<'py, PyAny>,
    k: i64,
    metric: &str,
) -> PyResult<(Bound<'py, PyArray2<f32>>, Bound<'py, PyArray2<i64>>)> {
    let metric: Metric = metric.parse().map_err(Error::value)?;
    let k = crate::index::count("k", k, 1)?;
    let src = Source::from_py(base, "base")?;
    let view = src.view()?;
    let vs = view.open()?;
    let (rows, _) = convert::queries(queries, vs.dim())?;
    let q = rows.as_slice();
    let (nq, d, i) = detached(py, || {
        let n = vs.len() as u64;
        if k as u64 > n {
            return Err(quarry_engine::EngineError::KTooLargeForBase { k, n }.into());
        }
        let r = quarry_engine::exact_knn(vs.as_ref(), q, metric, k, 65_536, &NoProgress)?;
        let nq = r.len();
        let mut d = vec![f32::INFINITY; nq * k];
        let mut i = vec![-1i64; nq * k];
        for (qi, ns) in r.iter().enumerate() {
            for (j, nb) in ns.iter().take(k).enumerate() {
                d[qi * k + j] = nb.dist;
                i[qi * k + j] = nb.id as i64;
            }
        }
        Ok((nq, d, i))
    })?;
    drop(rows);
    Ok((
        Array2::from_shape_vec((nq, k), d)
            .expect("nq x k")
            .into_pyarray(py),
        Array2::from_shape_vec((nq, k), i)
            .expect("nq x k")
            .into_pyarray(py),
    ))
}

/// Checks every checksum and invariant of the index at `path` (as `quarry verify`):
/// a dict with `problems` (empty when sound), `leftovers` and what was checked.
#[pyfunction]
pub fn verify(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyAny>> {
    let r = detached(py, || Ok(quarry_engine::verify(&path)?))?;
    to_py(py, &serde_json::to_value(r).expect("serializable"))
}
