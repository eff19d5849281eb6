//! A contiguous row-major n x d matrix after a fixed header: the data layout shared
//! by big-ann-benchmarks `*bin` files and `.npy` files.

use crate::io::{f32_from_le, u8_to_i8, RawFile};
use crate::validate::{check_finite, check_range, mul3, to_usize};
use crate::{ChunkData, FormatError, VectorSource};
use quarry_kernels::DType;
use std::path::Path;

#[derive(Debug)]
pub(crate) struct DenseSource {
    raw: RawFile,
    data_offset: u64,
    n: usize,
    dim: usize,
    dtype: DType,
    /// Fortran (column-major) `.npy`: column j's n elements are contiguous. Rows are
    /// gathered with one read per column, so chunked reading still works.
    column_major: bool,
}

impl DenseSource {
    /// Checks that the file holds exactly the `n * dim` elements the header promises.
    /// Only sizes are compared, so a lying header never causes a large allocation.
    pub fn new(
        raw: RawFile,
        data_offset: u64,
        n: u64,
        dim: usize,
        dtype: DType,
    ) -> Result<Self, FormatError> {
        let expected =
            mul3(n, dim as u64, dtype.size() as u64).and_then(|b| b.checked_add(data_offset));
        match expected {
            Some(e) if e == raw.size => {}
            Some(e) if e < raw.size => {
                return Err(FormatError::TrailingData {
                    path: raw.path.clone(),
                    n,
                    dim: dim as u64,
                    expected: e,
                    actual: raw.size,
                })
            }
            _ => {
                return Err(FormatError::HeaderExceedsFile {
                    path: raw.path.clone(),
                    n,
                    dim: dim as u64,
                    expected: expected.unwrap_or(u64::MAX),
                    actual: raw.size,
                })
            }
        }
        let n = to_usize(&raw.path, n)?;
        Ok(DenseSource {
            raw,
            data_offset,
            n,
            dim,
            dtype,
            column_major: false,
        })
    }

    pub fn column_major(mut self) -> Self {
        self.column_major = true;
        self
    }

    /// Element (row, col) of the file, as a byte offset.
    fn elem_offset(&self, row: usize, col: usize) -> u64 {
        let idx = if self.column_major {
            col as u64 * self.n as u64 + row as u64
        } else {
            row as u64 * self.dim as u64 + col as u64
        };
        self.data_offset + idx * self.dtype.size() as u64
    }

    /// Rows [start, start + rows) as row-major bytes.
    fn read_bytes(&self, start: usize, rows: usize) -> Result<Vec<u8>, FormatError> {
        let es = self.dtype.size();
        if !self.column_major {
            return self
                .raw
                .read_vec(self.row_offset(start), rows * self.dim * es);
        }
        let mut out = vec![0u8; rows * self.dim * es];
        for c in 0..self.dim {
            let col = self.raw.read_vec(self.elem_offset(start, c), rows * es)?;
            for (r, e) in col.chunks_exact(es).enumerate() {
                let o = (r * self.dim + c) * es;
                out[o..o + es].copy_from_slice(e);
            }
        }
        Ok(out)
    }

    fn row_offset(&self, row: usize) -> u64 {
        self.data_offset + (row as u64) * (self.dim as u64) * (self.dtype.size() as u64)
    }
}

impl VectorSource for DenseSource {
    fn path(&self) -> &Path {
        &self.raw.path
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn len(&self) -> usize {
        self.n
    }
    fn dtype(&self) -> DType {
        self.dtype
    }

    fn read_range(&self, start: usize, rows: usize) -> Result<ChunkData, FormatError> {
        check_range(&self.raw.path, start, rows, self.n)?;
        // In range, so the size is bounded by the (validated) file size.
        Ok(match self.dtype {
            DType::F32 => {
                let data: Vec<f32> = if self.column_major {
                    f32_from_le(&self.read_bytes(start, rows)?).collect()
                } else {
                    self.raw
                        .read_f32s(self.row_offset(start), rows * self.dim)?
                };
                check_finite(&self.raw.path, &data, start, self.dim, |r, c| {
                    self.elem_offset(start + r, c)
                })?;
                ChunkData::F32(data)
            }
            DType::U8 => ChunkData::U8(self.read_bytes(start, rows)?),
            DType::I8 => ChunkData::I8(u8_to_i8(self.read_bytes(start, rows)?)),
        })
    }
}
