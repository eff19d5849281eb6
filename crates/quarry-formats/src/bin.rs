//! big-ann-benchmarks `*bin` files: u32 n, u32 d (little-endian), then n*d elements.

use crate::dense::DenseSource;
use crate::io::RawFile;
use crate::validate::check_dim;
use crate::FormatError;
use quarry_kernels::DType;
use std::path::Path;

pub(crate) const HEADER_LEN: u64 = 8;

/// Reads and checks the `(n, d)` header; `d` must be a sane dimension.
pub(crate) fn read_header(raw: &RawFile) -> Result<(u64, usize), FormatError> {
    raw.require(HEADER_LEN, "8-byte header (u32 count, u32 dimension)")?;
    let n = raw.read_u32_at(0)?;
    let d = raw.read_u32_at(4)?;
    let d = check_dim(&raw.path, 4, i64::from(d))?;
    Ok((u64::from(n), d))
}

pub(crate) fn open(path: &Path, dtype: DType) -> Result<DenseSource, FormatError> {
    let raw = RawFile::open(path)?;
    let (n, d) = read_header(&raw)?;
    DenseSource::new(raw, HEADER_LEN, n, d, dtype)
}
