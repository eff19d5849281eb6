//! TEXMEX `*vecs` files: each record is an int32 little-endian dimension d followed by
//! d elements. The record size comes from the first record; every record's dimension
//! field is re-checked when it is read.

use crate::io::{f32_from_le, u8_to_i8, RawFile};
use crate::validate::{check_dim, check_finite, check_range, to_usize};
use crate::{ChunkData, FormatError, VectorSource};
use quarry_kernels::DType;
use std::path::Path;

/// Record layout of a vecs file with elements of `elem` bytes.
#[derive(Debug)]
pub(crate) struct VecsFile {
    pub raw: RawFile,
    pub dim: usize,
    pub n: usize,
    elem: usize,
}

impl VecsFile {
    pub fn open(path: &Path, elem: usize) -> Result<Self, FormatError> {
        let raw = RawFile::open(path)?;
        raw.require(4, "4-byte dimension field of the first record")?;
        let mut b = [0u8; 4];
        raw.read_exact_at(0, &mut b)?;
        let dim = check_dim(&raw.path, 0, i64::from(i32::from_le_bytes(b)))?;
        let record_size = 4 + (dim as u64) * (elem as u64);
        let complete = raw.size / record_size;
        let trailing = raw.size % record_size;
        if trailing != 0 {
            return Err(FormatError::Truncated {
                path: raw.path.clone(),
                size: raw.size,
                dim,
                record_size,
                complete,
                trailing,
                offset: complete * record_size,
            });
        }
        let n = to_usize(&raw.path, complete)?;
        Ok(VecsFile { raw, dim, n, elem })
    }

    fn record_size(&self) -> u64 {
        4 + (self.dim as u64) * (self.elem as u64)
    }

    /// Byte offset of element `component` of row `row`.
    pub fn elem_offset(&self, row: usize, component: usize) -> u64 {
        (row as u64) * self.record_size() + 4 + (component as u64) * (self.elem as u64)
    }

    /// Reads rows `start..start+rows` and returns their elements packed row-major
    /// (dimension fields stripped), failing on any record whose dimension differs.
    pub fn read_payload(&self, start: usize, rows: usize) -> Result<Vec<u8>, FormatError> {
        check_range(&self.raw.path, start, rows, self.n)?;
        // In range, so these sizes are bounded by the file size checked at open.
        let rs = self.record_size() as usize;
        let base = (start as u64) * self.record_size();
        let buf = self.raw.read_vec(base, rows * rs)?;
        let row_bytes = self.dim * self.elem;
        let mut out = Vec::with_capacity(rows * row_bytes);
        for (i, rec) in buf.chunks_exact(rs).enumerate() {
            let (head, payload) = rec.split_at(4);
            let found = i32::from_le_bytes([head[0], head[1], head[2], head[3]]);
            if i64::from(found) != self.dim as i64 {
                return Err(FormatError::DimensionChanged {
                    path: self.raw.path.clone(),
                    offset: base + (i * rs) as u64,
                    vector: start + i,
                    expected: self.dim,
                    found: i64::from(found),
                });
            }
            out.extend_from_slice(payload);
        }
        Ok(out)
    }
}

/// `.fvecs` (f32) or `.bvecs` (u8) as a `VectorSource`.
#[derive(Debug)]
pub(crate) struct VecsSource {
    file: VecsFile,
    dtype: DType,
}

impl VecsSource {
    pub fn open(path: &Path, dtype: DType) -> Result<Self, FormatError> {
        Ok(VecsSource {
            file: VecsFile::open(path, dtype.size())?,
            dtype,
        })
    }
}

impl VectorSource for VecsSource {
    fn path(&self) -> &Path {
        &self.file.raw.path
    }
    fn dim(&self) -> usize {
        self.file.dim
    }
    fn len(&self) -> usize {
        self.file.n
    }
    fn dtype(&self) -> DType {
        self.dtype
    }

    fn read_range(&self, start: usize, rows: usize) -> Result<ChunkData, FormatError> {
        let bytes = self.file.read_payload(start, rows)?;
        Ok(match self.dtype {
            DType::F32 => {
                let data: Vec<f32> = f32_from_le(&bytes).collect();
                check_finite(&self.file.raw.path, &data, start, self.file.dim, |r, c| {
                    self.file.elem_offset(start + r, c)
                })?;
                ChunkData::F32(data)
            }
            DType::U8 => ChunkData::U8(bytes),
            DType::I8 => ChunkData::I8(u8_to_i8(bytes)),
        })
    }
}
