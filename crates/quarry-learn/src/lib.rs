//! Layer 7b of Quarry: training the learned routers of an index.
//!
//! Both models are trained after the partitions exist (their labels come from the
//! index), on training queries drawn from the base or a learn file, never the
//! evaluation queries, and attached to the index as checksummed files. Inference
//! (the routers that read them) lives in `quarry-routing`; the engine loads them
//! through `Index::router`.
//!
//! - `pruning`: the GBDT that predicts how many partitions a query needs (BAM-ANN).
//! - `mlp`: the MLP that ranks partitions, with learned duplication (NN-augmented
//!   on-storage ANN).

mod error;
pub mod mlp;
mod partition_map;
pub mod pruning;

pub use error::LearnError;
pub use partition_map::PartitionMap;
