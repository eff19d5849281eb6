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

impl ChunkData {
    /// Number of elements (rows * dim).
    pub fn len_elems(&self) -> usize {
        match self {
            ChunkData::F32(v) => v.len(),
            ChunkData::U8(v) => v.len(),
            ChunkData::I8(v) => v.len(),
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            ChunkData::F32(_) => DType::F32,
            ChunkData::U8(_) => DType::U8,
            ChunkData::I8(_) => DType::I8,
        }
    }

    /// The values as f32 (exact for u8 and i8).
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            ChunkData::F32(v) => v.clone(),
            ChunkData::U8(v) => v.iter().map(|&x| f32::from(x)).collect(),
            ChunkData::I8(v) => v.iter().map(|&x| f32::from(x)).collect(),
        }
    }
}

/// A file of `len()` vectors of `dim()` elements that can be read by row range.
pub trait VectorSource: Send + Sync {
    fn path(&self) -> &Path;
    fn dim(&self) -> usize;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn dtype(&self) -> DType;
    fn read_range(&self, start: usize, rows: usize) -> Result<ChunkData, FormatError>;
}

/// Streams `src` in chunks of up to `rows_per_chunk` rows (at least 1), yielding each
/// chunk's first row index with its data. Stops after the first error.
pub fn chunks(
    src: &dyn VectorSource,
    rows_per_chunk: usize,
) -> impl Iterator<Item = Result<(usize, ChunkData), FormatError>> + '_ {
    let step = rows_per_chunk.max(1);
    let len = src.len();
    let mut next = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || next >= len {
            return None;
        }
        let start = next;
        let rows = step.min(len - start);
        next = start + rows;
        let item = src.read_range(start, rows).map(|d| (start, d));
        failed = item.is_err();
        Some(item)
    })
}
