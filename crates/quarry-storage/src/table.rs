//! `partitions.bin`: one fixed 32-byte little-endian record per partition.

use crate::StorageError;
use std::path::Path;

const RECORD: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionEntry {
    /// Byte offset of the extent in `data.bin` (4 KiB-aligned).
    pub offset: u64,
    /// Extent length in bytes, padding included (a multiple of 4 KiB).
    pub length: u64,
    /// Number of vectors in the partition.
    pub count: u64,
    /// crc32c of the whole extent.
    pub crc32c: u32,
}

pub fn encode(entries: &[PartitionEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * RECORD);
    for e in entries {
        out.extend_from_slice(&e.offset.to_le_bytes());
        out.extend_from_slice(&e.length.to_le_bytes());
        out.extend_from_slice(&e.count.to_le_bytes());
        out.extend_from_slice(&e.crc32c.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
    }
    out
}

/// Decodes and sanity-checks the table against the data file size.
pub fn decode(
    bytes: &[u8],
    expected: usize,
    data_len: u64,
    path: &Path,
) -> Result<Vec<PartitionEntry>, StorageError> {
    let corrupt = |what: String| StorageError::Corrupt {
        file: path.to_path_buf(),
        what,
    };
    // Checked: `expected` is the manifest's partition count, which may be anything.
    if expected.checked_mul(RECORD) != Some(bytes.len()) {
        return Err(corrupt(format!(
            "has {} bytes, expected {expected} records of {RECORD} bytes (one per partition)",
            bytes.len()
        )));
    }
    let u64_at = |r: &[u8], o: usize| u64::from_le_bytes(r[o..o + 8].try_into().expect("8 bytes"));
    let mut out = Vec::with_capacity(expected);
    for (i, r) in bytes.chunks_exact(RECORD).enumerate() {
        let e = PartitionEntry {
            offset: u64_at(r, 0),
            length: u64_at(r, 8),
            count: u64_at(r, 16),
            crc32c: u32::from_le_bytes(r[24..28].try_into().expect("4 bytes")),
        };
        let align = crate::ALIGN as u64;
        if !e.offset.is_multiple_of(align)
            || !e.length.is_multiple_of(align)
            || e.offset
                .checked_add(e.length)
                .is_none_or(|end| end > data_len)
        {
            return Err(corrupt(format!(
                "partition {i} has an invalid extent ({} + {} bytes)",
                e.offset, e.length
            )));
        }
        out.push(e);
    }
    Ok(out)
}
