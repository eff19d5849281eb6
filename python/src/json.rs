//! Reports as Python values: the engine's serde structs become dicts and lists.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use quarry_engine::{Index, MemoryReport};
use quarry_kernels::DType;
use serde_json::Value;
use std::path::Path;

/// A JSON value as the Python object `json.loads` would give.
pub fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(a) => {
            let l = PyList::empty(py);
            for x in a {
                l.append(to_py(py, x)?)?;
            }
            l.into_any()
        }
        Value::Object(o) => {
            let d = PyDict::new(py);
            for (k, x) in o {
                d.set_item(k, to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}

/// numpy's name of a stored dtype.
pub fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "float32",
        DType::U8 => "uint8",
        DType::I8 => "int8",
    }
}

pub fn memory(m: &MemoryReport) -> Value {
    serde_json::to_value(m).expect("serializable")
}

/// The fields of `quarry info --json` (without the read test).
pub fn info(idx: &Index, dir: &Path) -> Value {
    let m = idx.manifest();
    let mem = idx.memory();
    let snap = idx.snapshot();
    let filters = snap.metadata().map(|meta| {
        serde_json::json!({
            "labels": meta.labels().count(),
            "label_assignments": meta.labels().map(|l| l.1).sum::<u64>(),
            "attributes": meta.attribute_names(),
            "memory_bytes": mem.filters_bytes,
        })
    });
    serde_json::json!({
        "dir": dir, "format_version": m.format_version, "dim": m.dim, "dtype": m.dtype,
        "metric": m.metric, "num_vectors": idx.len(), "stored_vectors": idx.stored_vectors(),
        "num_partitions": idx.num_partitions(),
        "sizes": quarry_partition::SizeStats::of(&idx.partition_sizes()),
        "data_bytes": m.files.get("data.bin").map_or(0, |f| f.bytes),
        "memory": mem, "build": m.build, "routers": m.routers, "generation": m.generation,
        "graphs": idx.graph_memory(), "filters": filters, "writes": idx.live_stats(),
        "io": idx.io_mode(),
        "kernels": quarry_kernels::isa::active().name(),
        "kernels_supported": quarry_kernels::Isa::available().iter().map(|i| i.name()).collect::<Vec<_>>(),
    })
}
