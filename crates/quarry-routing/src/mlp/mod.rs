//! Learned routing with a small MLP (the NN-augmented on-storage ANN paper): the
//! model, its file format and its router. Training lives in `quarry-learn`.
//!
//! A 3-layer MLP maps a query to a probability per partition: the chance that the
//! partition holds the query's exact nearest neighbour. At search time the router
//! probes partitions in probability order, a fixed count or until a cumulative
//! probability is reached. Candle runs on one thread (see `threads`).

mod codec;
mod model;
mod router;
mod threads;

pub use codec::{CONFIG_FILE, ROUTER_KIND, WEIGHTS_FILE};
pub use model::{check_config, Mlp, MlpConfig, MAX_HIDDEN};
pub use router::{MlpRouter, ProbeRule};
pub use threads::with_candle_threads;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum MlpError {
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("MLP model file is invalid: {0}")]
    BadModel(String),
    #[error("invalid MLP setting: {0}")]
    BadConfig(String),
}
