//! How a partition answers the queries routed to it: the `PartitionSearcher`
//! strategies (GEMM scan, graph search over the read extent, graph-guided partial
//! reads) and the `Auto` chooser between scan and graph. The executor picks one per
//! search from [`SearchParams`](crate::SearchParams) and calls it per partition; a
//! searcher knows nothing of routing, batching or merging.

mod auto;
mod cost;
mod graph;
mod partial;
pub(crate) mod scan;

pub use auto::Auto;
pub use cost::{CostModel, CostPoint, COST_MODEL_FILE};
pub use graph::GraphSearcher;
pub use partial::PartialSearcher;
pub use scan::Scan;

use crate::EngineError;
use quarry_kernels::{DType, Metric, Neighbor};
use serde::{Deserialize, Serialize};

/// Which searcher answers a partition's queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// GEMM over every vector of the partition (exact within the partition).
    #[default]
    Scan,
    /// HNSW search of the partition's graph over the whole partition just read.
    Graph,
    /// Per partition, scan or graph, whichever the cost model predicts is cheaper.
    Auto,
    /// Graph search that reads only the 4 KiB pages holding the vectors it visits
    /// (DiskANN's trade), instead of whole partitions.
    Partial,
}

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Scan => "scan",
            Strategy::Graph => "graph",
            Strategy::Auto => "auto",
            Strategy::Partial => "partial",
        }
    }
    pub fn needs_graphs(self) -> bool {
        self != Strategy::Scan
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "scan" => Strategy::Scan,
            "graph" => Strategy::Graph,
            "auto" => Strategy::Auto,
            "partial" => Strategy::Partial,
            o => {
                return Err(format!(
                    "unknown strategy '{o}': use scan, graph, auto or partial"
                ))
            }
        })
    }
}

/// One partition's share of a batch.
#[derive(Debug, Clone, Copy)]
pub struct PartitionJob<'a> {
    pub pid: u32,
    /// Vectors in the partition.
    pub count: usize,
    pub dim: usize,
    pub dtype: DType,
    pub metric: Metric,
    /// The whole batch, row-major.
    pub queries: &'a [f32],
    /// The batch rows routed to this partition.
    pub routed: &'a [u32],
    pub k: usize,
    /// Only these ids may be compared (a filter's matches); `None`: every vector.
    pub filter: Option<&'a roaring::RoaringTreemap>,
    /// Stored ids superseded or deleted since the files were written (skipped).
    pub exclude: Option<&'a roaring::RoaringTreemap>,
    /// The partition's vectors written since (searched with the extent).
    pub delta: Option<&'a crate::updates::live::DeltaPart>,
}

impl PartitionJob<'_> {
    pub fn query(&self, qi: u32) -> &[f32] {
        &self.queries[qi as usize * self.dim..(qi as usize + 1) * self.dim]
    }
}

/// A partition's answers: per routed query its top-k (global ids, exact distances),
/// and what producing them cost.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    pub lists: Vec<Vec<Neighbor>>,
    /// Distance evaluations per routed query.
    pub distances: Vec<u64>,
    /// Bytes and requests the searcher read itself (0 when it was handed the extent).
    pub bytes: u64,
    pub io_requests: u64,
    /// Distinct vectors read from storage.
    pub vectors_read: u64,
    /// Answered by graph search rather than a scan.
    pub graph: bool,
}

/// Answers the queries a batch routed to one partition.
pub trait PartitionSearcher: Send + Sync {
    fn name(&self) -> &'static str;
    /// True when the executor must read the partition's whole extent and pass it
    /// in; false when the searcher reads only what it needs itself.
    fn needs_extent(&self) -> bool;
    /// `extent` is the verified extent bytes when `needs_extent()`, else `None`.
    fn search(&self, job: &PartitionJob<'_>, extent: Option<&[u8]>)
        -> Result<Answers, EngineError>;
}

/// The extent a searcher that needs one was handed (a bug otherwise, not user input).
fn extent_of<'a>(extent: Option<&'a [u8]>, who: &str) -> Result<&'a [u8], EngineError> {
    extent.ok_or_else(|| EngineError::BadSearch(format!("{who} searcher was given no extent")))
}
