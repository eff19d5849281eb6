//! Layer 6 of Quarry: routers decide which partitions each query reads.
//!
//! Every router starts from the same thing: each query's distances to all centroids,
//! computed for the whole batch in one GEMM (`CentroidIndex`). Routers differ only
//! in how many and which of the ranked partitions they keep, behind one `Router`
//! trait that the learned routers (GBDT probe counts, MLP ranking) implement too.

mod centroid_graph;
mod centroids;
mod fixed;
pub mod pruning;
mod spann;

pub use centroid_graph::{CentroidGraph, CENTROID_GRAPH_FILE, CENTROID_GRAPH_THRESHOLD};
pub use centroids::{CentroidIndex, RankedPartitions};
pub use fixed::FixedNprobe;
pub use pruning::{GbdtRouter, PruningModel};
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
    #[error("target recall must be in (0, 1], got {0}; pass e.g. --target-recall 0.9")]
    BadTarget(f32),
    #[error("pruning margin must be a finite number, got {0}")]
    BadMargin(f32),
    #[error("pruning model: {0}")]
    ModelFile(String),
    #[error("training the pruning model failed: {0}")]
    Training(String),
    #[error("the pruning model is calibrated for recall@k with k <= {largest}, not k = {k}; retrain with a larger --label-k")]
    NotCalibrated { k: usize, largest: usize },
    #[error("target recall@{k} {target} is above what the pruning model reached on its calibration queries ({best:.4}) with max_nprobe {max_nprobe}; lower the target or retrain with a larger --max-nprobe")]
    TargetUnreachable {
        target: f32,
        k: usize,
        best: f32,
        max_nprobe: usize,
    },
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
