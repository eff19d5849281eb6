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
//!
//! A whole program: build from memory, train both routers, search with each.
//!
//! ```
//! use quarry_engine::*;
//! use quarry_learn::{mlp, pruning};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // 4,000 vectors in 16 clusters (vector i in cluster i % 16).
//! let (n, dim) = (4000, 16);
//! let data: Vec<f32> = (0..n * dim).map(|j| ((j / dim % 16 == j % dim) as u8 as f32) * 10.0 + (j * 7919 % 101) as f32 / 100.0).collect();
//! let (dir, base) = (tempfile::tempdir_in(".")?, MemorySource::f32(&data, dim)?);
//! build_index_from(&base, &dir.path().join("idx"), &BuildConfig::new(16, Metric::L2), &NoProgress)?;
//! let mut index = Index::open(&dir.path().join("idx"), OpenOptions::default())?;
//! let gbdt = pruning::PruningConfig { label_k: 10, queries: 1000, max_nprobe: 16, ..Default::default() };
//! pruning::train_pruning(&mut index, &base, pruning::TrainQueries::FromBase, &gbdt, &NoProgress)?;
//! mlp::train_router(&mut index, &base, 1000, &mlp::TrainConfig { epochs: 5, hidden: 32, dup_every: 0, ..Default::default() }, &NoProgress)?;
//! for router in [RouterSpec::Fixed { nprobe: 4 }, RouterSpec::Gbdt { rule: GbdtRule::TargetRecall(0.9) }, RouterSpec::Mlp { rule: ProbeRule::Count(4) }] {
//!     let found = index.search(&data[..dim], &SearchParams::new(10).router(router))?;
//!     assert_eq!((found.neighbors[0].id, found.neighbors[0].dist), (0, 0.0));
//! }
//! # Ok(()) }
//! ```

mod error;
pub mod mlp;
mod partition_map;
pub mod pruning;

pub use error::LearnError;
pub use partition_map::PartitionMap;
