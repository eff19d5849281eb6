//! Learned routing with a small MLP (the NN-augmented on-storage ANN paper).
//!
//! A 3-layer MLP maps a query to a probability per partition: the chance that the
//! partition holds the query's exact nearest neighbour. It is trained on queries drawn
//! from the learn/base vectors (never the evaluation queries), labelled with the
//! partition holding their exact nearest neighbour, with Gaussian noise as
//! augmentation. Every `dup_every` epochs the training pairs whose top-1 prediction
//! misses are collected, and the most confidently mispredicted 20% have their
//! neighbour duplicated into the predicted partition (`rewrite_with_copies` then writes
//! an index holding those copies). At search time the router probes partitions in
//! probability order, a fixed count or until a cumulative probability is reached.
//!
//! Candle runs single-threaded (see `threads`): its pools spin, and on a 2-core machine
//! rayon's query/partition parallelism is the better use of the cores.

mod data;
mod model;
mod router;
mod store;
mod threads;
mod train;

pub use data::{training_set, TrainingSet};
pub use model::{Mlp, MlpConfig, MAX_HIDDEN};
pub use router::{MlpOrder, MlpRouter, ProbeRule};
pub use store::{load_router, save_router, CONFIG_FILE, ROUTER_KIND, WEIGHTS_FILE};
pub use threads::single_threaded_candle;
pub use train::{train, DupRound, EpochLog, TrainConfig, Trained};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum MlpError {
    #[error(transparent)]
    Engine(#[from] quarry_engine::EngineError),
    #[error(transparent)]
    Format(#[from] quarry_formats::FormatError),
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("MLP model file is invalid: {0}")]
    BadModel(String),
    #[error("this index has no MLP router ({0} missing); train one with `quarry mlp-train`")]
    NoModel(&'static str),
    #[error("invalid MLP setting: {0}")]
    BadConfig(String),
}
