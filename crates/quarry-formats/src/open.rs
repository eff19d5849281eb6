//! Format detection by extension, and whole-file query loading.

use crate::{bin, npy, vecs, FormatError, VectorSource};
use quarry_kernels::DType;
use std::path::Path;

pub(crate) const SUPPORTED_VECTORS: &str =
    ".fvecs (f32), .bvecs (u8), .fbin (f32), .u8bin (u8), .i8bin (i8), .npy (<f4, |u1, |i1)";

/// Lower-cased extension, so `BASE.FVECS` works too.
pub(crate) fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Opens a vector file, choosing the format from its extension. Only headers (and for
/// vecs the first record's dimension) are read here; data is read by `read_range`.
pub fn open_vectors(path: &Path) -> Result<Box<dyn VectorSource>, FormatError> {
    Ok(match extension(path).as_str() {
        "fvecs" => Box::new(vecs::VecsSource::open(path, DType::F32)?),
        "bvecs" => Box::new(vecs::VecsSource::open(path, DType::U8)?),
        "fbin" => Box::new(bin::open(path, DType::F32)?),
        "u8bin" => Box::new(bin::open(path, DType::U8)?),
        "i8bin" => Box::new(bin::open(path, DType::I8)?),
        "npy" => Box::new(npy::open(path)?),
        _ => {
            return Err(FormatError::UnsupportedExtension {
                path: path.to_path_buf(),
                supported: SUPPORTED_VECTORS,
            })
        }
    })
}

/// Query vectors, loaded whole and converted to f32.
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySet {
    pub n: usize,
    pub dim: usize,
    /// `n * dim` values, row-major.
    pub data: Vec<f32>,
}

impl QuerySet {
    /// Query `i` (panics if `i >= n`, like slice indexing).
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// Reads a whole query file of any supported vector format as f32. A file without
/// vectors is an error: searching zero queries is never what was meant.
pub fn read_queries(path: &Path) -> Result<QuerySet, FormatError> {
    let src = open_vectors(path)?;
    let n = src.len();
    if n == 0 {
        return Err(FormatError::NoVectors {
            path: path.to_path_buf(),
        });
    }
    let data = src.read_range(0, n)?.to_f32();
    Ok(QuerySet {
        n,
        dim: src.dim(),
        data,
    })
}
