//! Layer 2 of Quarry: vector and ground-truth file formats.
//!
//! Readers are random-access by row range (`pread`), so callers stream a file of any
//! size in chunks and several threads may read one source at once. Every read is
//! validated: sizes against headers, per-record dimensions, non-finite floats.

mod atomic;
mod bin;
mod dense;
mod error;
mod groundtruth;
mod ids;
mod io;
mod memory;
mod npy;
mod open;
mod results;
mod source;
mod validate;
mod vecs;
mod writer;

pub use atomic::AtomicFile;
pub use error::FormatError;
pub use groundtruth::{read_ground_truth, GroundTruth};
pub use ids::read_ids;
pub use memory::MemorySource;
pub use open::{open_vectors, read_queries, QuerySet};
pub use results::{write_result_distances, write_result_ids};
pub use source::{chunks, ChunkData, VectorSource};
pub use validate::MAX_DIM;
pub use writer::{write_fbin, write_i8bin, write_ibin, write_ivecs, write_u8bin, BinWriter};

pub use quarry_kernels::DType;

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
