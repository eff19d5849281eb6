//! Positional reads with errors that carry the path and offset.

use crate::FormatError;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// An open file and its size at open time. `pread` needs only `&self`, so one
/// `RawFile` serves many threads without locking.
#[derive(Debug)]
pub(crate) struct RawFile {
    pub path: PathBuf,
    pub file: File,
    pub size: u64,
}

impl RawFile {
    pub fn open(path: &Path) -> Result<Self, FormatError> {
        let file = File::open(path).map_err(|e| FormatError::io(path, e))?;
        let meta = file.metadata().map_err(|e| FormatError::io(path, e))?;
        if meta.is_dir() {
            return Err(FormatError::io(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "is a directory, expected a file",
                ),
            ));
        }
        Ok(RawFile {
            path: path.to_path_buf(),
            file,
            size: meta.len(),
        })
    }

    /// Fails with `TooShort` unless the file has at least `needed` bytes.
    pub fn require(&self, needed: u64, what: &'static str) -> Result<(), FormatError> {
        if self.size == 0 {
            return Err(FormatError::EmptyFile {
                path: self.path.clone(),
            });
        }
        if self.size < needed {
            return Err(FormatError::TooShort {
                path: self.path.clone(),
                size: self.size,
                needed,
                what,
            });
        }
        Ok(())
    }

    pub fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), FormatError> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|source| FormatError::ReadAt {
                path: self.path.clone(),
                offset,
                len: buf.len(),
                source,
            })
    }

    pub fn read_vec(&self, offset: u64, len: usize) -> Result<Vec<u8>, FormatError> {
        let mut buf = vec![0u8; len];
        self.read_exact_at(offset, &mut buf)?;
        Ok(buf)
    }

    pub fn read_u32_at(&self, offset: u64) -> Result<u32, FormatError> {
        let mut b = [0u8; 4];
        self.read_exact_at(offset, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Reads `count` little-endian f32 straight into their destination (no staging copy).
    pub fn read_f32s(&self, offset: u64, count: usize) -> Result<Vec<f32>, FormatError> {
        let mut out = vec![0f32; count];
        self.read_exact_at(offset, f32_bytes_mut(&mut out))?;
        from_le_in_place(&mut out);
        Ok(out)
    }
}

/// Views floats as their bytes so `pread` can fill them directly.
fn f32_bytes_mut(v: &mut [f32]) -> &mut [u8] {
    bytemuck::cast_slice_mut(v)
}

/// Files are little-endian; a no-op on little-endian hosts.
fn from_le_in_place(v: &mut [f32]) {
    if cfg!(target_endian = "big") {
        for x in v {
            *x = f32::from_bits(u32::from_le(x.to_bits()));
        }
    }
}

pub(crate) fn f32_from_le(bytes: &[u8]) -> impl Iterator<Item = f32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

pub(crate) fn i32_from_le(bytes: &[u8]) -> impl Iterator<Item = i32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

pub(crate) fn u8_to_i8(v: Vec<u8>) -> Vec<i8> {
    // Same layout, so std reuses the allocation.
    v.into_iter().map(|b| b as i8).collect()
}
