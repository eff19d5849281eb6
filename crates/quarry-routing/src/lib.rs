//! Layer 6 of Quarry: routers decide which partitions each query reads.
//!
//! Every router starts from the same thing: each query's distances to all centroids,
//! computed for the whole batch in one GEMM (`CentroidIndex`). Routers differ only
//! in how many and which of the ranked partitions they keep, behind one `Router`
//! trait that the learned routers (GBDT probe counts, MLP ranking) implement too.

mod centroid_graph;
mod centroids;
mod composed;
mod fixed;
pub mod mlp;
pub mod pruning;
mod spann;

pub use centroid_graph::{CentroidGraph, CENTROID_GRAPH_FILE, CENTROID_GRAPH_THRESHOLD};
pub use centroids::{CentroidIndex, RankedPartitions};
pub use composed::Composed;
pub use fixed::FixedNprobe;
pub use mlp::{Mlp, MlpConfig, MlpRouter, ProbeRule};
pub use pruning::{GbdtRouter, PruningModel};
pub use spann::SpannRule;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum RoutingError {
    #[error("nprobe must be at least 1")]
    ZeroProbe,
    #[error("query block has {got} values, not a multiple of the index's {dim} dimensions")]
    Shape { got: usize, dim: usize },
    #[error("SPANN ratio eps must be finite and >= 0, got {0}")]
    BadEps(f32),
    #[error("target recall must be in (0, 1], got {0} (0.9 is typical)")]
    BadTarget(f32),
    #[error("pruning margin must be a finite number, got {0}")]
    BadMargin(f32),
    #[error("pruning model: {0}")]
    ModelFile(String),
    #[error("training the pruning model failed: {0}")]
    Training(String),
    #[error("the pruning model is calibrated for recall@k with k <= {largest}, not k = {k}; retrain it with a larger label k")]
    NotCalibrated { k: usize, largest: usize },
    #[error("target recall@{k} {target} is above what the pruning model reached on its calibration queries ({best:.4}) with max_nprobe {max_nprobe}; lower the target or retrain it with a larger max_nprobe")]
    TargetUnreachable {
        target: f32,
        k: usize,
        best: f32,
        max_nprobe: usize,
    },
    #[error("centroid graph: {0}")]
    Graph(String),
    #[error("router input: {0}")]
    Input(String),
    #[error(transparent)]
    Mlp(#[from] mlp::MlpError),
}

/// What a router sees of a batch.
#[derive(Debug, Clone, Copy)]
pub struct RouteInput<'a> {
    /// Row-major queries, `dim` values each (validated: right shape, finite).
    pub queries: &'a [f32],
    pub dim: usize,
    /// Neighbours asked per query (a router calibrated for recall@k reads it).
    pub k: usize,
    /// Each query's nearest `ranking_depth()` partitions, nearest first; `None`
    /// when the router asked for no ranking.
    pub ranked: Option<&'a RankedPartitions>,
}

impl RouteInput<'_> {
    pub fn num_queries(&self) -> usize {
        self.queries.len().checked_div(self.dim).unwrap_or(0)
    }

    /// The centroid ranking, or an error naming the router that needed it.
    pub fn ranked(&self, router: &str) -> Result<&RankedPartitions, RoutingError> {
        self.ranked
            .ok_or_else(|| RoutingError::Input(format!("{router} needs the centroid ranking")))
    }
}

/// Chooses, for every query of a batch, the partitions to probe, nearest first.
pub trait Router: Send + Sync {
    /// A short label for reports ("nprobe=8", "spann eps=0.1 max=16", ...).
    fn describe(&self) -> String;
    /// How many nearest centroids per query the router reads (`None`: it ranks
    /// partitions by a model of its own, and the executor skips the centroid GEMM).
    fn ranking_depth(&self) -> Option<usize>;
    /// The most partitions `select` returns for one query: bounds the executor's
    /// per-query candidate memory (hence how a large batch is sliced).
    fn max_probes(&self) -> usize;
    /// The partitions each query of the batch must read, in probe order.
    fn select(&self, input: &RouteInput<'_>) -> Result<Vec<Vec<u32>>, RoutingError>;
}
