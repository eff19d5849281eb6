//! `partitions.bin`: one fixed 32-byte little-endian record per partition:
//! offset, length, count (u64 each), crc32c, segment (u32 each). The segment names
//! the data file holding the extent: 0 is `data.bin` (every extent of a fresh
//! build), s >= 1 is `data.<s>.bin`, written by the flush of generation s. Files
//! written before segments existed have 0 there (the field was reserved zero).

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
    /// Data file of the extent (see the module docs).
    pub segment: u32,
}

pub fn encode(entries: &[PartitionEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * RECORD);
    for e in entries {
        out.extend_from_slice(&e.offset.to_le_bytes());
        out.extend_from_slice(&e.length.to_le_bytes());
        out.extend_from_slice(&e.count.to_le_bytes());
        out.extend_from_slice(&e.crc32c.to_le_bytes());
        out.extend_from_slice(&e.segment.to_le_bytes());
    }
    out
}

/// The manifest name of data segment `s`.
pub fn segment_name(s: u32) -> String {
    if s == 0 {
        crate::files::DATA.to_string()
    } else {
        format!("data.{s}.bin")
    }
}

/// The segment number of a manifest file name (`data.bin`: 0, `data.<s>.bin`: s).
pub fn segment_of_name(name: &str) -> Option<u32> {
    if name == crate::files::DATA {
        return Some(0);
    }
    name.strip_prefix("data.")?
        .strip_suffix(".bin")?
        .parse()
        .ok()
        .filter(|&s| s > 0)
}

/// Decodes and sanity-checks the table against the sizes of the data files
/// (`segment_len(s)`: the length of segment s, `None` when the index has none).
pub fn decode(
    bytes: &[u8],
    expected: usize,
    segment_len: &dyn Fn(u32) -> Option<u64>,
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
            segment: u32::from_le_bytes(r[28..32].try_into().expect("4 bytes")),
        };
        let Some(data_len) = segment_len(e.segment) else {
            return Err(corrupt(format!(
                "partition {i} lives in data segment {}, which the manifest does not list",
                e.segment
            )));
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
