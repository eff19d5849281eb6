//! Layer 7 of Quarry: the index (build, open, search) and the batch-aware executor.
//!
//! Search of a batch: rank centroids for all queries in one GEMM, let the router pick
//! partitions per query, invert that into partition -> queries, read each partition
//! once (many reads in flight on the I/O pool, in disk order), scan it for all of its
//! queries with GEMM while the next reads land, and merge per-query top-k lists.

mod build;
mod calibrate;
mod error;
mod executor;
mod graphs;
mod groundtruth;
mod index;
mod params;
mod placement;
mod routers;
pub mod search;
mod stats;

pub use build::{build_index, BuildConfig, BuildReport};
pub use error::EngineError;
pub use graphs::{GraphBuildReport, GraphMemory, CENTROID_EF_DEFAULT, GRAPHS_FILE};
pub use groundtruth::exact_knn;
pub use index::{Index, MemoryReport, OpenOptions, PreparedSearch, QueryResult};
pub use params::{GbdtRule, ProbeRule, RouterSpec, SearchParams, EF_DEFAULT};
pub use placement::{rewrite_with_copies, Holders, RewriteReport};
pub use quarry_graph::HnswParams;
pub use quarry_kernels::{Metric, Neighbor};
pub use quarry_partition::{NoProgress, Progress};
pub use quarry_routing::Router;
pub use quarry_storage::IoMode;
pub use search::{CostModel, CostPoint, Strategy};
pub use stats::{BatchResult, BatchStats, QueryStats};
