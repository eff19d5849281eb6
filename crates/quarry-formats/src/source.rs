use crate::FormatError;
use quarry_kernels::DType;
use std::path::Path;

/// Rows of a vector file in their native element type, row-major.
#[derive(Debug, Clone, PartialEq)]
pub enum ChunkData {
    F32(Vec<f32>),
    U8(Vec<u8>),
    I8(Vec<i8>),
}

/// A file of `len()` vectors of `dim()` elements that can be read by row range.
pub trait VectorSource: Send + Sync {
    fn path(&self) -> &Path;
    fn dim(&self) -> usize;
    fn len(&self) -> usize;
    fn dtype(&self) -> DType;
    fn read_range(&self, start: usize, rows: usize) -> Result<ChunkData, FormatError>;
}
