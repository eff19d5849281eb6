//! Training the MLP router with learned duplication (NN-augmented on-storage ANN).
//!
//! Trained on queries drawn from the learn/base vectors (never the evaluation
//! queries), labelled with the partition holding their exact nearest neighbour, with
//! Gaussian noise as augmentation. Every `dup_every` epochs the training pairs whose
//! top-1 prediction misses are collected, and the most confidently mispredicted 20%
//! have their neighbour duplicated into the predicted partition
//! (`quarry_engine::rewrite_with_copies` then writes an index holding those copies).

mod data;
mod store;
mod train;

pub use data::{training_set, TrainingSet};
pub use store::{save_router, train_router};
pub use train::{train, DupRound, EpochLog, TrainConfig, Trained, MAX_CANDLE_THREADS};
