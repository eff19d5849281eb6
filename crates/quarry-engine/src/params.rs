use quarry_routing::{FixedNprobe, Router, RoutingError, SpannRule};
use serde::{Deserialize, Serialize};

/// Which built-in router a search uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "router", rename_all = "lowercase")]
pub enum RouterSpec {
    /// The `nprobe` nearest partitions.
    Fixed { nprobe: usize },
    /// SPANN's rule: partitions within (1 + eps) of the nearest centroid's distance,
    /// at most `max_nprobe`.
    Spann { eps: f32, max_nprobe: usize },
}

impl RouterSpec {
    pub fn router(&self) -> Result<Box<dyn Router>, RoutingError> {
        Ok(match *self {
            RouterSpec::Fixed { nprobe } => Box::new(FixedNprobe::new(nprobe)?),
            RouterSpec::Spann { eps, max_nprobe } => Box::new(SpannRule::new(eps, max_nprobe)?),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SearchParams {
    pub k: usize,
    pub router: RouterSpec,
}

impl SearchParams {
    pub fn nprobe(k: usize, nprobe: usize) -> Self {
        SearchParams {
            k,
            router: RouterSpec::Fixed { nprobe },
        }
    }
}
