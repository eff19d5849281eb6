use crate::{RouteInput, Router, RoutingError};

/// Probe the `nprobe` nearest partitions (classic IVF).
#[derive(Debug, Clone, Copy)]
pub struct FixedNprobe {
    nprobe: usize,
}

impl FixedNprobe {
    pub fn new(nprobe: usize) -> Result<Self, RoutingError> {
        if nprobe == 0 {
            return Err(RoutingError::ZeroProbe);
        }
        Ok(FixedNprobe { nprobe })
    }
}

impl Router for FixedNprobe {
    fn describe(&self) -> String {
        format!("nprobe={}", self.nprobe)
    }
    fn ranking_depth(&self) -> Option<usize> {
        Some(self.nprobe)
    }
    fn max_probes(&self) -> usize {
        self.nprobe
    }
    fn select(&self, input: &RouteInput<'_>) -> Result<Vec<Vec<u32>>, RoutingError> {
        Ok(input
            .ranked("nprobe")?
            .per_query
            .iter()
            .map(|r| r.iter().take(self.nprobe).map(|p| p.0).collect())
            .collect())
    }
}
