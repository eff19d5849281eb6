//! Layer 4 of Quarry: the on-disk index format and the partition stores that read it.
//!
//! An index is a directory: `manifest.json` (written last, holds a checksum of every
//! other file), `centroids.bin`, `partitions.bin` (the partition table) and `data.bin`
//! (4 KiB-aligned partition extents). Every extent read is verified against the
//! crc32c in the table, so a damaged index reports corruption instead of results.

mod aligned;
mod attach;
mod backend;
pub mod commit;
mod error;
mod layout;
mod lock;
mod manifest;
mod pool;
mod reader;
mod table;
pub mod wal;
mod writer;

pub use aligned::AlignedBuf;
pub use attach::{attach_file, attach_files, is_writer_leftover, sweep};
pub use backend::{open_store, FileStore, IoMode};
pub use error::StorageError;
pub use layout::{encode_extent, padded};
pub use layout::{PartitionView, ALIGN};
pub use lock::{WriterLock, LOCK_FILE};
pub use manifest::{FileEntry, Manifest, FORMAT_NAME, FORMAT_VERSION};
pub use pool::{IoPool, LoadedPartition, PartitionStream, MAX_IO_THREADS, MAX_READ_AHEAD};
pub use reader::{Attached, IndexFiles};
pub use table::{encode as encode_table, segment_name, segment_of_name, PartitionEntry};
pub use writer::{publish_staged, staging_dir, IndexWriter, PartitionPayload};

/// Names of the files in an index directory.
pub mod files {
    pub const MANIFEST: &str = "manifest.json";
    pub const CENTROIDS: &str = "centroids.bin";
    pub const TABLE: &str = "partitions.bin";
    pub const DATA: &str = "data.bin";
    /// Optional: crc32c of every 4 KiB page of `data.bin` (verifies partial reads).
    pub const PAGE_CRCS: &str = "pages.crc32c";
}

/// Reads partitions of one index. Implementations differ only in how bytes reach
/// memory (direct I/O, page cache); the engine never knows which it runs on.
/// A verified extent inside a shared read-only mapping of the data file.
#[derive(Clone)]
pub struct MappedExtent {
    pub map: std::sync::Arc<memmap2::Mmap>,
    pub start: usize,
    pub len: usize,
}

impl MappedExtent {
    pub fn as_slice(&self) -> &[u8] {
        &self.map[self.start..self.start + self.len]
    }
}

pub trait PartitionStore: Send + Sync {
    /// Reads partition `pid`'s whole extent into `buf` (resized as needed) and
    /// verifies its checksum.
    fn read_into(&self, pid: u32, buf: &mut AlignedBuf) -> Result<(), StorageError>;
    /// Partition `pid`'s whole extent as a verified view of a read-only memory map,
    /// when the store maps its file (buffered mode): no copy out of the page cache.
    /// `None` when the store does not map (direct I/O reads into buffers).
    fn map_extent(&self, _pid: u32) -> Option<Result<MappedExtent, StorageError>> {
        None
    }
    /// Whether `map_extent` serves extents (then a reader needs no I/O threads).
    fn maps_extents(&self) -> bool {
        false
    }
    fn entry(&self, pid: u32) -> Option<&PartitionEntry>;
    fn num_partitions(&self) -> usize;
    fn io_mode(&self) -> IoMode;
    /// Reads `len` bytes starting `offset` bytes into partition `pid`'s extent (both
    /// multiples of [`ALIGN`], inside the extent) into `buf`, unverified: the extent
    /// crc covers whole extents only, so callers verify pages themselves (graph-guided
    /// partial reads check each 4 KiB page against the index's page checksums).
    fn read_span(
        &self,
        pid: u32,
        _offset: u64,
        _len: usize,
        _buf: &mut AlignedBuf,
    ) -> Result<(), StorageError> {
        Err(StorageError::Payload(format!(
            "this partition store cannot read part of partition {pid}"
        )))
    }
}

/// Set when the process is being terminated: from then on no new file is created
/// (a create fails with an error), so the terminating thread can remove every
/// temp file knowing no new one appears behind it.
static REFUSING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Refuses every later file creation by this crate (process shutdown).
pub fn refuse_new_files() {
    REFUSING.store(true, std::sync::atomic::Ordering::SeqCst);
}

pub(crate) fn refusing_new_files() -> bool {
    REFUSING.load(std::sync::atomic::Ordering::SeqCst)
}
