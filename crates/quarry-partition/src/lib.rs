//! Layer 3 of Quarry: balanced partitioning.
//!
//! BAM-ANN's iterative balanced clustering, made concrete (choices the paper leaves
//! open are marked CHOICE):
//! 1. Random seeded sample of up to `sample_per_centroid * k` vectors (bounded by the
//!    memory budget); CHOICE: random initial centroids from the sample (as FAISS does)
//!    refined by Lloyd iterations on the sample, each with capacity-bounded assignment.
//! 2. Mini-batch epochs over the whole file in chunks that fit the memory budget: each
//!    chunk is assigned with the same capacity bound and moves centroids by the running
//!    mean of everything they have absorbed (Sculley's per-centre learning rate).
//! 3. Final assignment, streamed: every vector to its nearest centroid, then each
//!    partition over capacity `ceil((1+eps) n / k)` keeps its nearest members and the
//!    overflow moves to the next-nearest centroid with room.
//!
//! Everything is seeded and sequential where order matters, so equal input and seed
//! give equal centroids and assignment bit for bit.

mod assign;
mod hierarchy;
mod kmeans;
mod replicate;
mod rows;
pub mod sample;
mod stats;

pub use assign::{assign_balanced, capacity, Assignment};
pub use hierarchy::{assign_hierarchy, train_hierarchy, Hierarchy, HierarchyConfig};
pub use kmeans::{train_centroids, KMeansConfig};
pub use replicate::closure_replicas;
pub use rows::{normalize, to_f32, Rows};
pub use stats::SizeStats;

use quarry_formats::FormatError;

#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("cannot make {k} partitions of {n} vectors: use between 1 and {n} partitions")]
    BadK { k: usize, n: usize },
    #[error("balance slack eps must be finite and >= 0, got {0}")]
    BadEps(f32),
    #[error("replication needs at least 1 copy per vector (max copies 0 given)")]
    BadCopies,
}

/// Progress reporting without tying the library to a terminal UI.
pub trait Progress: Sync {
    fn stage(&self, _name: &str, _total: u64) {}
    fn advance(&self, _n: u64) {}
}

/// A progress sink that reports nothing.
pub struct NoProgress;
impl Progress for NoProgress {}
