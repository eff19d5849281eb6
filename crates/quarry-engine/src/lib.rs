//! Layer 7 of Quarry: the index (build, open, search) and the batch-aware executor.
//!
//! Search of a batch: rank centroids for all queries in one GEMM, let the router pick
//! partitions per query, invert that into partition -> queries, read each partition
//! once (many reads in flight on the I/O pool, in disk order), scan it for all of its
//! queries with GEMM while the next reads land, and merge per-query top-k lists.

mod build;
mod error;
mod executor;
mod graphs;
mod groundtruth;
mod index;
pub mod learn;
mod params;
mod partial;
mod placement;
mod stats;

pub use build::{build_index, BuildConfig, BuildReport};
pub use error::EngineError;
pub use graphs::{
    CostPoint, GraphBuildReport, GraphMemory, GraphSearch, SearchMode, CENTROID_EF_DEFAULT,
    GRAPHS_FILE,
};
pub use groundtruth::exact_knn;
pub use index::{Index, MemoryReport, OpenOptions};
pub use params::{RouterSpec, SearchParams};
pub use placement::{rewrite_with_copies, Holders, RewriteReport};
pub use quarry_graph::HnswParams;
pub use quarry_kernels::{Metric, Neighbor};
pub use quarry_partition::{NoProgress, Progress};
pub use quarry_storage::IoMode;
pub use stats::{BatchResult, BatchStats, QueryStats};
