//! Vectors to build or train from: a numpy array (borrowed, C-contiguous) or a file
//! path in any format the CLI reads (streamed by the engine).

use crate::convert::{self, Vectors};
use crate::errors::Result;
use numpy::PyUntypedArrayMethods;
use pyo3::prelude::*;
use quarry_engine::{MemorySource, VectorSource};
use std::path::{Path, PathBuf};

pub enum Source<'py> {
    Array(Vectors<'py>),
    File(PathBuf),
}

/// A `Source` as plain borrowed data: what crosses into a GIL-free call.
#[derive(Clone, Copy)]
pub enum View<'a> {
    F32(&'a [f32], usize),
    U8(&'a [u8], usize),
    I8(&'a [i8], usize),
    File(&'a Path),
}

impl<'py> Source<'py> {
    /// `str` / `os.PathLike`: a file; anything else: an array.
    pub fn from_py(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Self> {
        if obj.is_instance_of::<pyo3::types::PyString>() || obj.hasattr("__fspath__")? {
            return Ok(Source::File(obj.extract::<PathBuf>()?));
        }
        Ok(Source::Array(convert::vectors(obj, what)?))
    }

    pub fn view(&self) -> PyResult<View<'_>> {
        Ok(match self {
            Source::Array(Vectors::F32(a)) => View::F32(a.as_slice()?, a.shape()[1]),
            Source::Array(Vectors::U8(a)) => View::U8(a.as_slice()?, a.shape()[1]),
            Source::Array(Vectors::I8(a)) => View::I8(a.as_slice()?, a.shape()[1]),
            Source::File(p) => View::File(p),
        })
    }
}

impl<'a> View<'a> {
    /// The engine's `VectorSource` over it (a file is opened and streamed).
    pub fn open(self) -> Result<Box<dyn VectorSource + 'a>> {
        Ok(match self {
            View::F32(v, d) => Box::new(MemorySource::f32(v, d)?),
            View::U8(v, d) => Box::new(MemorySource::u8(v, d)?),
            View::I8(v, d) => Box::new(MemorySource::i8(v, d)?),
            View::File(p) => quarry_formats::open_vectors(p)?,
        })
    }
}
