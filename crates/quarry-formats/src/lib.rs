//! Layer 2 of Quarry: vector and ground-truth file formats.
//!
//! Readers are random-access by row range (`pread`), so callers stream a file of any
//! size in chunks and several threads may read one source at once. Every read is
//! validated: sizes against headers, per-record dimensions, non-finite floats.

mod error;
mod source;

pub use error::FormatError;
pub use source::{ChunkData, VectorSource};

use quarry_kernels::DType;
