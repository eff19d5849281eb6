//! Learned pruning (BAM-ANN): a GBDT predicts, per query, how many partitions it
//! must read, from the ratios of its centroid distances.

mod allocation;
mod features;
mod model;
mod router;

pub use allocation::{Allocation, Plan};
pub use features::FeatureSet;
pub use model::{
    check_target, fit_booster, probe_count, Calibration, GbdtParams, ModelMeta, PruningModel,
};
pub use router::GbdtRouter;

/// File name of the model inside the index, and the router kind in the manifest.
pub const PRUNING_FILE: &str = "pruning.model";
pub const PRUNING_ROUTER: &str = "gbdt";
