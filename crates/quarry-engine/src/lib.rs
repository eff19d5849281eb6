//! Layer 7 of Quarry: the index (build, open, search) and the batch-aware executor.
//!
//! Search of a batch: rank centroids for all queries in one GEMM, let the router pick
//! partitions per query, invert that into partition -> queries, read each partition
//! once (many reads in flight on the I/O pool, in disk order), scan it for all of its
//! queries with GEMM while the next reads land, and merge per-query top-k lists.
//!
//! ```
//! use quarry_engine::*;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (n, dim) = (2000, 8);
//! let data: Vec<f32> = (0..n * dim).map(|j| (j * 7919 % 1009) as f32 / 1009.0).collect();
//! let dir = tempfile::tempdir_in(".")?;
//! let base = MemorySource::f32(&data, dim)?;
//! build_index_from(&base, &dir.path().join("idx"), &BuildConfig::new(8, Metric::L2), &NoProgress)?;
//! let index = Index::open(&dir.path().join("idx"), OpenOptions::default())?;
//! // One query: its neighbours, nearest first, and what it cost.
//! let one = index.search(&data[..dim], &SearchParams::new(5).nprobe(8))?;
//! assert_eq!(one.neighbors[0].id, 0);
//! assert!(one.stats.partitions == 8 && one.stats.bytes > 0.0);
//! // A batch reads each partition once for all of its queries.
//! let batch = index.search_batch(&data[..10 * dim], &SearchParams::new(5).nprobe(2))?;
//! assert_eq!(batch.neighbors.len(), 10);
//! assert!(batch.stats.partitions_read <= 8);
//! # Ok(()) }
//! ```

mod build;
mod checkpoint;
pub use checkpoint::checkpoint_dir;
mod calibrate;
mod error;
mod executor;
pub mod filtered;
mod graphs;
mod groundtruth;
mod index;
mod params;
mod placement;
mod routers;
pub mod search;
mod snapshot;
mod stats;
pub mod updates;
mod verify;

pub use build::{
    build_index, build_index_from, build_index_with, BuildConfig, BuildInfo, BuildReport,
    Clustering, InputFingerprint, ReplicationInfo, CHECKPOINT_FROM_VECTORS, MEMBERS_MAX_VECTORS,
};
pub use error::EngineError;
pub use filtered::{Filter, FilterPlan, FilterStats, Metadata, PlanTaken};
pub use graphs::{GraphBuildReport, GraphMemory, CENTROID_EF_DEFAULT, GRAPHS_FILE};
pub use groundtruth::{exact_knn, exact_knn_filtered};
pub use index::{Index, MemoryReport, OpenOptions, PreparedSearch, QueryResult};
pub use params::{GbdtRule, ProbeRule, RouterSpec, SearchParams, EF_DEFAULT};
pub use placement::{rewrite_with_copies, Holders, RewriteReport};
pub use quarry_filter::RowMeta;
pub use quarry_formats::{MemorySource, VectorSource};
pub use quarry_graph::HnswParams;
pub use quarry_kernels::{Metric, Neighbor};
pub use quarry_partition::{NoProgress, Progress};
pub use quarry_routing::Router;
pub use quarry_storage::wal::SyncMode;
pub use quarry_storage::IoMode;
pub use search::{CostModel, CostPoint, Strategy};
pub use snapshot::Snapshot;
pub use stats::{BatchResult, BatchStats, QueryStats};
pub use updates::{FlushReport, LiveStats, WriteOptions, WriteReceipt};
pub use verify::{repair, verify, VerifyReport};
