//! numpy in, numpy out: queries, vectors, ids, labels and attributes as the engine
//! takes them. The fast path (a C-contiguous float32 array) is borrowed, not
//! copied; anything else goes through `numpy.ascontiguousarray` once.

use crate::errors::Error;
use numpy::{
    PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use quarry_filter::Column;

/// A row-major f32 block, borrowed from a numpy array.
pub enum Rows<'py> {
    D2(PyReadonlyArray2<'py, f32>),
    D1(PyReadonlyArray1<'py, f32>),
}

impl Rows<'_> {
    pub fn as_slice(&self) -> &[f32] {
        // Both are made C-contiguous before they are wrapped.
        match self {
            Rows::D2(a) => a.as_slice().expect("contiguous"),
            Rows::D1(a) => a.as_slice().expect("contiguous"),
        }
    }
}

/// The dtype kind of an array ('f', 'u', 'i', 'b', 'c', 'O', 'U', ...).
fn kind(arr: &Bound<'_, PyAny>) -> PyResult<char> {
    let k: String = arr.getattr("dtype")?.getattr("kind")?.extract()?;
    Ok(k.chars().next().unwrap_or('?'))
}

fn dtype_name(arr: &Bound<'_, PyAny>) -> String {
    arr.getattr("dtype")
        .and_then(|d| d.str())
        .map(|s| s.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// `numpy.asarray(obj)` (a ValueError naming `what` when numpy cannot make one).
fn asarray<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Bound<'py, PyAny>> {
    let np = obj.py().import("numpy")?;
    np.call_method1("asarray", (obj,)).map_err(|e| {
        Error::value(format!(
            "{what}: cannot be read as a numpy array ({})",
            e.value(obj.py())
        ))
        .into()
    })
}

fn contiguous<'py>(arr: &Bound<'py, PyAny>, dtype: &str) -> PyResult<Bound<'py, PyAny>> {
    let np = arr.py().import("numpy")?;
    let kw = PyDict::new(arr.py());
    kw.set_item("dtype", dtype)?;
    np.call_method("ascontiguousarray", (arr,), Some(&kw))
}

/// Queries: one (1-D, `dim` values) or a batch (2-D, n x `dim`), of any real dtype
/// and either memory order. Returns the rows and whether the input was 1-D.
pub fn queries<'py>(obj: &Bound<'py, PyAny>, dim: usize) -> PyResult<(Rows<'py>, bool)> {
    // The fast path: already what the engine reads.
    if let Ok(a) = obj.cast::<PyArray2<f32>>() {
        if a.is_c_contiguous() {
            check_dim(a.shape()[1], dim, "queries")?;
            return Ok((Rows::D2(a.readonly()), false));
        }
    }
    if let Ok(a) = obj.cast::<PyArray1<f32>>() {
        if a.is_c_contiguous() {
            check_dim(a.len(), dim, "query")?;
            return Ok((Rows::D1(a.readonly()), true));
        }
    }
    let arr = asarray(obj, "queries")?;
    let k = kind(&arr)?;
    if !matches!(k, 'f' | 'u' | 'i') {
        return Err(Error::value(format!(
            "queries: dtype {} is not a real number type; pass float32 (or any float / integer) values",
            dtype_name(&arr)
        ))
        .into());
    }
    let ndim: usize = arr.getattr("ndim")?.extract()?;
    let shape: Vec<usize> = arr.getattr("shape")?.extract()?;
    match ndim {
        1 => {
            check_dim(shape[0], dim, "query")?;
            let c = contiguous(&arr, "float32")?;
            let a = c.cast_into::<PyArray1<f32>>()?;
            Ok((Rows::D1(a.readonly()), true))
        }
        2 => {
            check_dim(shape[1], dim, "queries")?;
            let c = contiguous(&arr, "float32")?;
            let a = c.cast_into::<PyArray2<f32>>()?;
            Ok((Rows::D2(a.readonly()), false))
        }
        _ => Err(Error::value(format!(
            "queries: expected one query (1-D, {dim} values) or a batch (2-D, n x {dim}), got an array of shape {shape:?}"
        ))
        .into()),
    }
}

fn check_dim(got: usize, want: usize, what: &str) -> PyResult<()> {
    if got != want {
        let e = if what == "query" {
            quarry_engine::EngineError::QueryDim { got, want }.to_string()
        } else {
            format!("{what} have {got} dimensions, index expects {want}")
        };
        return Err(Error::value(e).into());
    }
    Ok(())
}

/// Vectors for a build: f32, u8 or i8 kept as they are (any other float becomes
/// f32), C or Fortran order; returned C-contiguous with its dtype name.
pub enum Vectors<'py> {
    F32(PyReadonlyArray2<'py, f32>),
    U8(PyReadonlyArray2<'py, u8>),
    I8(PyReadonlyArray2<'py, i8>),
}

pub fn vectors<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Vectors<'py>> {
    let arr = asarray(obj, what)?;
    let ndim: usize = arr.getattr("ndim")?.extract()?;
    if ndim != 2 {
        let shape: Vec<usize> = arr.getattr("shape")?.extract()?;
        return Err(Error::value(format!(
            "{what}: expected a 2-D (n, dim) array, got shape {shape:?}; reshape it with a.reshape(n, dim)"
        ))
        .into());
    }
    let name = dtype_name(&arr);
    let k = kind(&arr)?;
    Ok(match (k, name.as_str()) {
        (_, "uint8") => Vectors::U8(contiguous(&arr, "uint8")?.cast_into::<PyArray2<u8>>()?.readonly()),
        (_, "int8") => Vectors::I8(contiguous(&arr, "int8")?.cast_into::<PyArray2<i8>>()?.readonly()),
        ('f', _) => Vectors::F32(
            contiguous(&arr, "float32")?
                .cast_into::<PyArray2<f32>>()?
                .readonly(),
        ),
        _ => {
            return Err(Error::value(format!(
                "{what}: dtype {name} is not supported; use float32, uint8 or int8 (e.g. a.astype(numpy.float32))"
            ))
            .into())
        }
    })
}

/// Vectors to upsert: any real dtype, as f32 rows (the engine converts them to the
/// index's dtype and refuses values it cannot hold exactly).
pub fn upsert_rows<'py>(obj: &Bound<'py, PyAny>, dim: usize) -> PyResult<Rows<'py>> {
    let (rows, _) = queries(obj, dim).map_err(|e| {
        let msg = e
            .value(obj.py())
            .to_string()
            .replacen("queries", "vectors", 1)
            .replacen("query has", "vector has", 1);
        PyErr::from(Error::value(msg))
    })?;
    Ok(rows)
}

/// Ids: a 1-D sequence of non-negative integers.
pub fn ids(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u64>> {
    let arr = asarray(obj, "ids")?;
    let k = kind(&arr)?;
    let ndim: usize = arr.getattr("ndim")?.extract()?;
    if ndim != 1 {
        let shape: Vec<usize> = arr.getattr("shape")?.extract()?;
        return Err(Error::value(format!(
            "ids: expected a 1-D sequence of integers, got shape {shape:?}"
        ))
        .into());
    }
    match k {
        'u' => {
            let a = contiguous(&arr, "uint64")?.cast_into::<PyArray1<u64>>()?;
            Ok(a.readonly().as_slice()?.to_vec())
        }
        'i' => {
            let a = contiguous(&arr, "int64")?.cast_into::<PyArray1<i64>>()?;
            let r = a.readonly();
            let s = r.as_slice()?;
            if let Some(p) = s.iter().position(|&v| v < 0) {
                return Err(Error::value(format!(
                    "ids: id {} at position {p} is negative; ids are non-negative integers",
                    s[p]
                ))
                .into());
            }
            Ok(s.iter().map(|&v| v as u64).collect())
        }
        _ => Err(Error::value(format!(
            "ids: dtype {} is not an integer type",
            dtype_name(&arr)
        ))
        .into()),
    }
}

/// Per-row labels: a list (one entry per row) of iterables of non-negative ints,
/// or a CSR matrix (an object with `indptr` and `indices`, e.g. scipy.sparse),
/// or an `(indptr, indices)` pair. Returns the CSR arrays.
pub fn labels_csr(obj: &Bound<'_, PyAny>, rows: usize) -> PyResult<(Vec<u64>, Vec<u32>)> {
    let label = |v: i64, row: usize| -> PyResult<u32> {
        u32::try_from(v).map_err(|_| {
            Error::value(format!(
                "labels: row {row} has label {v}; labels are integers in 0..=4294967295"
            ))
            .into()
        })
    };
    if obj.hasattr("indptr")? && obj.hasattr("indices")? {
        let indptr = int_vec(&obj.getattr("indptr")?, "labels.indptr")?;
        let indices = int_vec(&obj.getattr("indices")?, "labels.indices")?;
        return csr_from(indptr, indices, rows, &label);
    }
    if let Ok(t) = obj.cast::<pyo3::types::PyTuple>() {
        if t.len() == 2 {
            let indptr = int_vec(&t.get_item(0)?, "labels indptr")?;
            let indices = int_vec(&t.get_item(1)?, "labels indices")?;
            return csr_from(indptr, indices, rows, &label);
        }
    }
    if obj.is_instance_of::<PyString>() {
        return Err(Error::value("labels: pass per-row label lists, a CSR matrix or (indptr, indices); a .spmat file path is taken by quarry.build only").into());
    }
    let n = obj.len().map_err(|_| {
        PyErr::from(Error::value(
            "labels: expected one list of labels per row, a CSR matrix, or (indptr, indices)",
        ))
    })?;
    if n != rows {
        return Err(Error::value(format!(
            "labels: {n} rows of labels for {rows} vectors; give one (possibly empty) list per vector"
        ))
        .into());
    }
    let mut indptr = Vec::with_capacity(rows + 1);
    let mut indices = Vec::new();
    indptr.push(0u64);
    for (row, item) in obj.try_iter()?.enumerate() {
        let item = item?;
        // A bare int is one label.
        if let Ok(v) = item.extract::<i64>() {
            indices.push(label(v, row)?);
        } else {
            for v in int_vec(&item, &format!("labels row {row}"))? {
                indices.push(label(v, row)?);
            }
        }
        indptr.push(indices.len() as u64);
    }
    Ok((indptr, indices))
}

fn csr_from(
    indptr: Vec<i64>,
    indices: Vec<i64>,
    rows: usize,
    label: &dyn Fn(i64, usize) -> PyResult<u32>,
) -> PyResult<(Vec<u64>, Vec<u32>)> {
    if indptr.len() != rows + 1 {
        return Err(Error::value(format!(
            "labels: indptr has {} entries; {rows} vectors need {}",
            indptr.len(),
            rows + 1
        ))
        .into());
    }
    if let Some(v) = indptr.iter().find(|&&v| v < 0) {
        return Err(Error::value(format!("labels: indptr holds the negative value {v}")).into());
    }
    let indptr: Vec<u64> = indptr.into_iter().map(|v| v as u64).collect();
    let indices = indices
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            // The row holding position i: the last row starting at or before it.
            let row = indptr.partition_point(|&p| p <= i as u64).saturating_sub(1);
            label(v, row)
        })
        .collect::<PyResult<Vec<u32>>>()?;
    Ok((indptr, indices))
}

/// Any 1-D integer sequence as i64 values.
fn int_vec(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<i64>> {
    let arr = asarray(obj, what)?;
    let ndim: usize = arr.getattr("ndim")?.extract()?;
    let k = kind(&arr)?;
    let size: usize = arr.getattr("size")?.extract()?;
    if ndim != 1 || !(matches!(k, 'i' | 'u') || size == 0) {
        return Err(Error::value(format!(
            "{what}: expected a 1-D sequence of integers, got dtype {} with {ndim} dimensions",
            dtype_name(&arr)
        ))
        .into());
    }
    let a = contiguous(&arr, "int64")?.cast_into::<PyArray1<i64>>()?;
    let v = a.readonly().as_slice()?.to_vec();
    Ok(v)
}

/// An attribute column: integers become an exact i64 column, floats an f64 one.
pub fn column(obj: &Bound<'_, PyAny>, name: &str, rows: usize) -> PyResult<Column> {
    let what = format!("attribute '{name}'");
    let arr = asarray(obj, &what)?;
    let ndim: usize = arr.getattr("ndim")?.extract()?;
    let len: usize = arr.getattr("size")?.extract()?;
    if ndim != 1 || len != rows {
        let shape: Vec<usize> = arr.getattr("shape")?.extract()?;
        return Err(Error::value(format!(
            "{what}: expected {rows} values (1-D), got shape {shape:?}"
        ))
        .into());
    }
    match kind(&arr)? {
        'i' | 'u' | 'b' => {
            let a = contiguous(&arr, "int64")?.cast_into::<PyArray1<i64>>()?;
            Ok(Column::I64(a.readonly().as_slice()?.to_vec()))
        }
        'f' => {
            let a = contiguous(&arr, "float64")?.cast_into::<PyArray1<f64>>()?;
            Ok(Column::F64(a.readonly().as_slice()?.to_vec()))
        }
        _ => Err(Error::value(format!("{what}: dtype {} is not numeric", dtype_name(&arr))).into()),
    }
}

/// Attribute values per row as f64, for upserts (`attrs[name][row]`).
pub fn attr_values(obj: &Bound<'_, PyAny>, name: &str, rows: usize) -> PyResult<Vec<f64>> {
    Ok(match column(obj, name, rows)? {
        Column::I64(v) => v.into_iter().map(|x| x as f64).collect(),
        Column::F64(v) => v,
    })
}
