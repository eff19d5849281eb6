//! Layer 9: the `quarry` Python package's native module, `quarry._quarry`.
//!
//! A thin skin over the engine's public API (`quarry-engine`, `quarry-learn`): it
//! converts numpy arrays and keywords into engine calls and results back, releases
//! the GIL around every engine call, and turns errors and panics into Python
//! exceptions. It holds no engine logic.

mod build;
mod convert;
mod data;
mod errors;
mod index;
mod json;
mod source;
mod train;

use pyo3::prelude::*;

#[pymodule]
fn _quarry(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<index::PyIndex>()?;
    m.add_class::<index::SearchStats>()?;
    m.add_function(wrap_pyfunction!(build::build, m)?)?;
    m.add_function(wrap_pyfunction!(data::read_vectors, m)?)?;
    m.add_function(wrap_pyfunction!(data::read_ground_truth, m)?)?;
    m.add_function(wrap_pyfunction!(data::sift10k, m)?)?;
    m.add_function(wrap_pyfunction!(data::exact_search, m)?)?;
    m.add_function(wrap_pyfunction!(data::verify, m)?)?;
    m.add_function(wrap_pyfunction!(kernels, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// The kernel path this CPU runs (avx512, avx2 or portable) and the ones it supports.
#[pyfunction]
fn kernels() -> (String, Vec<String>) {
    (
        quarry_kernels::isa::active().name().to_string(),
        quarry_kernels::Isa::available()
            .iter()
            .map(|i| i.name().to_string())
            .collect(),
    )
}
