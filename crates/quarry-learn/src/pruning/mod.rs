//! Training the GBDT probe-count model (BAM-ANN's learned pruning).

mod holdout;
mod labels;
mod train;

pub use holdout::HoldoutPoint;
pub use labels::{coverage_positions, label_from_positions, recall_at_count};
pub use train::{train_pruning, PruningConfig, PruningReport, TrainQueries};

use crate::PartitionMap;
