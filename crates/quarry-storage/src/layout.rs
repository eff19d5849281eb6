//! Layout of one partition extent in `data.bin`:
//! `count` little-endian u64 ids, then `count * dim` elements in the stored dtype,
//! then zero padding to the next 4 KiB boundary. The crc32c in the partition table
//! covers the whole extent, padding included, so no flipped bit goes unnoticed.

use crate::StorageError;
use quarry_kernels::{DType, Element};

/// Extent alignment: the direct-I/O block size and the page size.
pub const ALIGN: usize = 4096;

pub fn padded(len: u64) -> u64 {
    len.div_ceil(ALIGN as u64) * ALIGN as u64
}

pub fn payload_bytes(count: u64, dim: usize, dtype: DType) -> u64 {
    count * 8 + count * (dim * dtype.size()) as u64
}

/// A verified partition extent, borrowed from the buffer it was read into.
#[derive(Clone, Copy)]
pub struct PartitionView<'a> {
    pub count: usize,
    pub dim: usize,
    pub dtype: DType,
    ids: &'a [u8],
    vectors: &'a [u8],
}

impl<'a> PartitionView<'a> {
    pub fn parse(
        extent: &'a [u8],
        count: usize,
        dim: usize,
        dtype: DType,
    ) -> Result<Self, StorageError> {
        // Checked: `count` comes from the partition table, and a table whose checksum
        // matches can still be hostile; an overflow must be an error, not a panic or a
        // wrapped length that passes the size check.
        let ids_len = count.checked_mul(8);
        let vec_len = count
            .checked_mul(dim)
            .and_then(|e| e.checked_mul(dtype.size()));
        let (ids_len, vec_len) = match (ids_len, vec_len) {
            (Some(i), Some(v)) if i.checked_add(v).is_some_and(|t| t <= extent.len()) => (i, v),
            _ => {
                return Err(StorageError::Payload(format!(
                    "extent of {} bytes cannot hold {count} vectors of {dim} x {dtype}",
                    extent.len()
                )))
            }
        };
        Ok(PartitionView {
            count,
            dim,
            dtype,
            ids: &extent[..ids_len],
            vectors: &extent[ids_len..ids_len + vec_len],
        })
    }

    pub fn id(&self, i: usize) -> u64 {
        let b = &self.ids[i * 8..i * 8 + 8];
        u64::from_le_bytes(b.try_into().expect("8 bytes"))
    }

    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.ids
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    /// The vectors as a typed row-major slice. The extent starts 4 KiB-aligned and
    /// the ids before the vectors are a multiple of 8 bytes, so f32 is aligned.
    pub fn vectors<T: Element>(&self) -> &'a [T] {
        assert_eq!(T::DTYPE, self.dtype, "partition dtype mismatch");
        if self.vectors.is_empty() {
            return &[];
        }
        T::cast_slice(self.vectors).expect("extent vectors are aligned")
    }

    pub fn vector_bytes(&self) -> &'a [u8] {
        self.vectors
    }
}

/// Serialises a payload: ids then vectors (already in stored dtype, as raw LE bytes).
pub fn encode_extent(ids: &[u64], vector_bytes: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(padded((ids.len() * 8 + vector_bytes.len()) as u64) as usize);
    for id in ids {
        out.extend_from_slice(&id.to_le_bytes());
    }
    out.extend_from_slice(vector_bytes);
    let total = padded(out.len() as u64) as usize;
    out.resize(total, 0);
}
