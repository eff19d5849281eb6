//! Layer 6 of Quarry: routers decide which partitions each query reads.
//!
//! Every router starts from the same thing: each query's distances to all centroids,
//! computed for the whole batch in one GEMM (`CentroidIndex`). Routers differ only
//! in how many and which of the ranked partitions they keep, behind one `Router`
//! trait that the learned routers (GBDT probe counts, MLP ranking) implement too.

mod centroid_graph;
mod centroids;
mod fixed;
mod spann;

pub use centroid_graph::{CentroidGraph, CENTROID_GRAPH_FILE, CENTROID_GRAPH_THRESHOLD};
pub use centroids::{CentroidIndex, RankedPartitions};
pub use fixed::FixedNprobe;
pub use spann::SpannRule;

use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum RoutingError {
    #[error("nprobe must be at least 1")]
    ZeroProbe,
    #[error("query block has {got} values, not a multiple of the index's {dim} dimensions")]
    Shape { got: usize, dim: usize },
    #[error("SPANN ratio eps must be finite and >= 0, got {0}")]
    BadEps(f32),
    #[error("centroid graph: {0}")]
    Graph(String),
}

/// Chooses, for every query of a batch, the partitions to probe, nearest first.
pub trait Router: Send + Sync {
    /// A short label for reports ("nprobe=8", "spann eps=0.1 max=16", ...).
    fn describe(&self) -> String;
    /// The largest number of centroids this router looks at per query.
    fn candidates(&self) -> usize;
    /// `queries` is the row-major batch (`ranked.per_query.len()` rows); `ranked` holds
    /// each query's nearest `candidates()` partitions (or all of them when there are
    /// fewer). Returns the partitions each query must read, in probe order. Routers
    /// that rank by a model of their own (the MLP) read `queries`; the centroid-based
    /// ones only `ranked`.
    fn select(&self, queries: &[f32], ranked: &RankedPartitions) -> Vec<Vec<u32>>;
}
