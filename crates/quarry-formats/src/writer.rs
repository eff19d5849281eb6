//! Writers for `*bin` vectors and ground truth. They validate like the readers do, so
//! every file they produce can be read back.

use crate::atomic::AtomicFile;
use crate::bin::HEADER_LEN;
use crate::validate::{check_finite, MAX_DIM};
use crate::FormatError;
use quarry_kernels::DType;
use std::path::{Path, PathBuf};

/// Streams a `.fbin` / `.u8bin` / `.i8bin` file chunk by chunk. The row count is
/// patched into the header by `finish`; until then the data lives in `<path>.tmp`.
pub struct BinWriter {
    file: AtomicFile,
    path: PathBuf,
    dtype: DType,
    dim: usize,
    rows: u64,
}

impl BinWriter {
    pub fn create(path: &Path, dtype: DType, dim: usize) -> Result<Self, FormatError> {
        check_width(path, "dimension", dim)?;
        let mut file = AtomicFile::create(path)?;
        let mut header = [0u8; 8];
        header[4..].copy_from_slice(&(dim as u32).to_le_bytes());
        file.write_all(&header)?;
        Ok(BinWriter {
            file,
            path: path.to_path_buf(),
            dtype,
            dim,
            rows: 0,
        })
    }

    /// Rows appended so far.
    pub fn rows(&self) -> usize {
        self.rows as usize
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Appends whole rows of f32 (the writer must have been created with `DType::F32`).
    pub fn append_f32(&mut self, data: &[f32]) -> Result<(), FormatError> {
        let new_rows = self.check_append(DType::F32, data.len())?;
        let first_row = self.rows as usize;
        let dim = self.dim;
        check_finite(&self.path, data, first_row, dim, |r, c| {
            HEADER_LEN + (((first_row + r) * dim + c) as u64) * 4
        })?;
        write_f32s(&mut self.file, data)?;
        self.rows += new_rows;
        Ok(())
    }

    /// Appends whole rows of u8 (writer created with `DType::U8`). Also accepted by an
    /// `I8` writer as raw two's-complement bytes, since callers often hold i8 rows as bytes.
    pub fn append_u8(&mut self, data: &[u8]) -> Result<(), FormatError> {
        let as_dtype = if self.dtype == DType::I8 {
            DType::I8
        } else {
            DType::U8
        };
        let new_rows = self.check_append(as_dtype, data.len())?;
        self.file.write_all(data)?;
        self.rows += new_rows;
        Ok(())
    }

    /// Appends whole rows of i8 (the writer must have been created with `DType::I8`).
    pub fn append_i8(&mut self, data: &[i8]) -> Result<(), FormatError> {
        let new_rows = self.check_append(DType::I8, data.len())?;
        let bytes: Vec<u8> = data.iter().map(|&x| x as u8).collect();
        self.file.write_all(&bytes)?;
        self.rows += new_rows;
        Ok(())
    }

    /// Writes the final row count into the header and renames the file into place.
    pub fn finish(self) -> Result<(), FormatError> {
        // check_append keeps rows within u32.
        let count = (self.rows as u32).to_le_bytes();
        self.file.commit(Some((0, &count)))
    }

    fn check_append(&self, dtype: DType, elems: usize) -> Result<u64, FormatError> {
        if dtype != self.dtype {
            return Err(FormatError::invalid(
                &self.path,
                format!("appending {dtype} data to a {} file", self.dtype),
            ));
        }
        if !elems.is_multiple_of(self.dim) {
            return Err(FormatError::invalid(
                &self.path,
                format!(
                    "{elems} values is not a whole number of rows of dimension {}",
                    self.dim
                ),
            ));
        }
        let new_rows = (elems / self.dim) as u64;
        if self.rows + new_rows > u64::from(u32::MAX) {
            return Err(FormatError::invalid(
                &self.path,
                "more than 4294967295 rows do not fit the u32 count of a *bin header",
            ));
        }
        Ok(new_rows)
    }
}

/// Writes `data` (n rows of `dim`) as `.fbin`.
pub fn write_fbin(path: &Path, dim: usize, data: &[f32]) -> Result<(), FormatError> {
    let mut w = BinWriter::create(path, DType::F32, dim)?;
    w.append_f32(data)?;
    w.finish()
}

/// Writes `data` (n rows of `dim`) as `.u8bin`.
pub fn write_u8bin(path: &Path, dim: usize, data: &[u8]) -> Result<(), FormatError> {
    let mut w = BinWriter::create(path, DType::U8, dim)?;
    w.append_u8(data)?;
    w.finish()
}

/// Writes `data` (n rows of `dim`) as `.i8bin`.
pub fn write_i8bin(path: &Path, dim: usize, data: &[i8]) -> Result<(), FormatError> {
    let mut w = BinWriter::create(path, DType::I8, dim)?;
    w.append_i8(data)?;
    w.finish()
}

/// Writes ground truth (`ids`: n rows of `k`, row-major) as TEXMEX `.ivecs`.
pub fn write_ivecs(path: &Path, k: usize, ids: &[u32]) -> Result<(), FormatError> {
    check_ids(path, k, ids)?;
    let mut file = AtomicFile::create(path)?;
    let mut buf = Vec::with_capacity(4 + 4 * k);
    for row in ids.chunks_exact(k) {
        buf.clear();
        buf.extend_from_slice(&(k as i32).to_le_bytes());
        buf.extend(row.iter().flat_map(|id| id.to_le_bytes()));
        file.write_all(&buf)?;
    }
    file.commit(None)
}

/// Writes ground truth as big-ann-benchmarks `.ibin`: u32 n, u32 k, n*k int32 ids and,
/// when given, n*k f32 distances.
pub fn write_ibin(
    path: &Path,
    k: usize,
    ids: &[u32],
    dists: Option<&[f32]>,
) -> Result<(), FormatError> {
    check_ids(path, k, ids)?;
    let n = ids.len() / k;
    let n32 = u32::try_from(n).map_err(|_| {
        FormatError::invalid(
            path,
            format!("{n} rows do not fit the u32 count of an .ibin header"),
        )
    })?;
    if let Some(d) = dists {
        if d.len() != ids.len() {
            return Err(FormatError::invalid(
                path,
                format!(
                    "{} distances for {} ids; pass one distance per id",
                    d.len(),
                    ids.len()
                ),
            ));
        }
        let start = HEADER_LEN + (ids.len() as u64) * 4;
        check_finite(path, d, 0, k, |r, c| start + ((r * k + c) as u64) * 4)?;
    }
    let mut file = AtomicFile::create(path)?;
    let mut header = [0u8; 8];
    header[..4].copy_from_slice(&n32.to_le_bytes());
    header[4..].copy_from_slice(&(k as u32).to_le_bytes());
    file.write_all(&header)?;
    for block in ids.chunks(1 << 16) {
        let bytes: Vec<u8> = block.iter().flat_map(|id| id.to_le_bytes()).collect();
        file.write_all(&bytes)?;
    }
    if let Some(d) = dists {
        write_f32s(&mut file, d)?;
    }
    file.commit(None)
}

fn write_f32s(file: &mut AtomicFile, data: &[f32]) -> Result<(), FormatError> {
    for block in data.chunks(1 << 16) {
        let bytes: Vec<u8> = block.iter().flat_map(|x| x.to_le_bytes()).collect();
        file.write_all(&bytes)?;
    }
    Ok(())
}

fn check_width(path: &Path, what: &str, w: usize) -> Result<(), FormatError> {
    if w == 0 || w > MAX_DIM {
        return Err(FormatError::invalid(
            path,
            format!("{what} {w} is out of range; it must be between 1 and {MAX_DIM}"),
        ));
    }
    Ok(())
}

/// Ids are stored as int32 and the readers reject empty files, so check both here.
fn check_ids(path: &Path, k: usize, ids: &[u32]) -> Result<(), FormatError> {
    check_width(path, "k", k)?;
    if ids.is_empty() || !ids.len().is_multiple_of(k) {
        return Err(FormatError::invalid(
            path,
            format!(
                "{} ids is not a positive whole number of rows of k = {k}",
                ids.len()
            ),
        ));
    }
    if let Some(i) = ids.iter().position(|&id| id > i32::MAX as u32) {
        return Err(FormatError::invalid(
            path,
            format!(
                "id {} (query {}, rank {}) exceeds the int32 range of the format",
                ids[i],
                i / k,
                i % k
            ),
        ));
    }
    Ok(())
}
