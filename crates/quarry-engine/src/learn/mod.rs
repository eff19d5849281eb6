//! Models trained after the partitions exist (their labels come from the index).

mod holdout;
mod labels;
mod partition_map;
mod pruning;

pub use holdout::HoldoutPoint;
pub use labels::{coverage_positions, label_from_positions, recall_at_count};
pub use partition_map::PartitionMap;
pub use pruning::{
    load_pruning_model, pruning_router, train_pruning, PruningConfig, PruningReport, TrainQueries,
    PRUNING_FILE, PRUNING_ROUTER,
};
