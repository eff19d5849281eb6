//! Vectors already in memory as a `VectorSource`: what a library caller (or the
//! Python package, with a numpy array) builds an index from without writing a file.

use crate::validate::{check_finite, MAX_DIM};
use crate::{ChunkData, FormatError, VectorSource};
use quarry_kernels::DType;
use std::path::Path;

#[derive(Debug, Clone, Copy)]
enum Rows<'a> {
    F32(&'a [f32]),
    U8(&'a [u8]),
    I8(&'a [i8]),
}

/// Row-major vectors borrowed from the caller, checked like a file's: a whole
/// number of rows of a valid dimension, and every f32 finite.
#[derive(Debug, Clone, Copy)]
pub struct MemorySource<'a> {
    rows: Rows<'a>,
    dim: usize,
}

const NAME: &str = "<memory>";

impl<'a> MemorySource<'a> {
    pub fn f32(data: &'a [f32], dim: usize) -> Result<Self, FormatError> {
        let s = Self::shaped(Rows::F32(data), data.len(), dim)?;
        check_finite(Path::new(NAME), data, 0, dim, |r, c| {
            ((r * dim + c) * 4) as u64
        })?;
        Ok(s)
    }
    pub fn u8(data: &'a [u8], dim: usize) -> Result<Self, FormatError> {
        Self::shaped(Rows::U8(data), data.len(), dim)
    }
    pub fn i8(data: &'a [i8], dim: usize) -> Result<Self, FormatError> {
        Self::shaped(Rows::I8(data), data.len(), dim)
    }

    fn shaped(rows: Rows<'a>, len: usize, dim: usize) -> Result<Self, FormatError> {
        if dim == 0 || dim > MAX_DIM || len == 0 || !len.is_multiple_of(dim) {
            return Err(FormatError::BadShape {
                len,
                dim,
                max: MAX_DIM,
            });
        }
        Ok(MemorySource { rows, dim })
    }
}

impl VectorSource for MemorySource<'_> {
    fn path(&self) -> &Path {
        Path::new(NAME)
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn len(&self) -> usize {
        match self.rows {
            Rows::F32(v) => v.len() / self.dim,
            Rows::U8(v) => v.len() / self.dim,
            Rows::I8(v) => v.len() / self.dim,
        }
    }
    fn dtype(&self) -> DType {
        match self.rows {
            Rows::F32(_) => DType::F32,
            Rows::U8(_) => DType::U8,
            Rows::I8(_) => DType::I8,
        }
    }
    fn read_range(&self, start: usize, rows: usize) -> Result<ChunkData, FormatError> {
        let (a, b) = (start.min(self.len()), (start + rows).min(self.len()));
        let (a, b) = (a * self.dim, b * self.dim);
        Ok(match self.rows {
            Rows::F32(v) => ChunkData::F32(v[a..b].to_vec()),
            Rows::U8(v) => ChunkData::U8(v[a..b].to_vec()),
            Rows::I8(v) => ChunkData::I8(v[a..b].to_vec()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_and_rejects_bad_input() {
        let data = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let s = MemorySource::f32(&data, 2).unwrap();
        assert_eq!((s.len(), s.dim(), s.dtype()), (3, 2, DType::F32));
        assert_eq!(
            s.read_range(1, 5).unwrap(),
            ChunkData::F32(vec![3.0, 4.0, 5.0, 6.0])
        );
        assert!(matches!(
            MemorySource::f32(&data, 4),
            Err(FormatError::BadShape { len: 6, dim: 4, .. })
        ));
        assert!(MemorySource::u8(&[], 2).is_err());
        assert!(MemorySource::i8(&[1, 2], 0).is_err());
        let nan = [1.0f32, f32::NAN];
        let e = MemorySource::f32(&nan, 2).unwrap_err();
        assert!(e.to_string().contains("non-finite"), "{e}");
        assert_eq!(MemorySource::u8(&[7, 8], 1).unwrap().len(), 2);
    }
}
