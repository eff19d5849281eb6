//! The router that probes a predicted number of partitions per query.

use super::{probe_count, PruningModel};
use crate::{RankedPartitions, RouteInput, Router, RoutingError};
use std::sync::Arc;

/// Probes ceil(exp(prediction + margin)) partitions, at most `max_nprobe` (margin
/// mode), or the count its difficulty bin gets in a target-recall plan.
#[derive(Debug)]
pub struct GbdtRouter {
    model: Arc<PruningModel>,
    margin: f32,
    /// Target-recall mode: probes per difficulty bin.
    bin_counts: Option<Vec<usize>>,
    max_nprobe: usize,
    label: String,
}

impl GbdtRouter {
    /// A fixed margin on the predicted ln count (0 = the prediction itself).
    pub fn with_margin(
        model: Arc<PruningModel>,
        margin: f32,
        max_nprobe: usize,
    ) -> Result<Self, RoutingError> {
        if max_nprobe == 0 {
            return Err(RoutingError::ZeroProbe);
        }
        if !margin.is_finite() {
            return Err(RoutingError::BadMargin(margin));
        }
        Ok(GbdtRouter {
            label: format!("gbdt margin={margin} max_nprobe={max_nprobe}"),
            model,
            margin,
            bin_counts: None,
            max_nprobe,
        })
    }

    /// Target-recall mode: the cheapest per-bin plan whose calibrated mean recall@k
    /// reaches `target` (see `Allocation`), with the model's own probe cap.
    pub fn for_target(
        model: Arc<PruningModel>,
        target: f32,
        k: usize,
    ) -> Result<Self, RoutingError> {
        let cap = model.meta.max_nprobe;
        let plan = model.meta.allocation.plan(target, k, cap)?;
        // No query probes more than the plan's largest count: capping there selects
        // exactly the same partitions and keeps `max_probes()` (which bounds the
        // executor's per-query memory, hence its batch slicing) as small as it can be.
        let largest = plan.counts.iter().copied().max().unwrap_or(1).clamp(1, cap);
        let mut r = Self::with_margin(model, 0.0, largest)?;
        r.label = format!(
            "gbdt target_recall@{}={target} (calibrated {:.4} at {:.2} partitions/query, at most {largest})",
            plan.k, plan.recall, plan.partitions
        );
        r.bin_counts = Some(plan.counts);
        Ok(r)
    }

    /// The calibrated plan's probes per bin, in target-recall mode.
    pub fn bin_counts(&self) -> Option<&[usize]> {
        self.bin_counts.as_deref()
    }

    pub fn margin(&self) -> f32 {
        self.margin
    }

    pub fn max_nprobe(&self) -> usize {
        self.max_nprobe
    }

    /// Probe counts of a batch (exposed for tests and reports).
    pub fn counts(&self, queries: &[f32], ranked: &RankedPartitions) -> Vec<usize> {
        let fs = &self.model.meta.features;
        let nq = ranked.per_query.len();
        let dim = queries.len().checked_div(nq).unwrap_or(1).max(1);
        let feats = fs.compute(queries, dim, ranked);
        let pred = self.model.predict(&feats, nq);
        match &self.bin_counts {
            Some(bc) => pred
                .into_iter()
                .map(|p| bc[self.model.meta.allocation.bin(p)].min(self.max_nprobe))
                .collect(),
            None => pred
                .into_iter()
                .map(|p| probe_count(p, self.margin, self.max_nprobe))
                .collect(),
        }
    }
}

impl Router for GbdtRouter {
    fn describe(&self) -> String {
        self.label.clone()
    }
    fn ranking_depth(&self) -> Option<usize> {
        // The features read the nearest `features.k` distances.
        Some(self.max_nprobe.max(self.model.meta.features.k))
    }
    fn max_probes(&self) -> usize {
        self.max_nprobe
    }
    fn select(&self, input: &RouteInput<'_>) -> Result<Vec<Vec<u32>>, RoutingError> {
        let ranked = input.ranked("gbdt")?;
        let counts = self.counts(input.queries, ranked);
        let out = ranked
            .per_query
            .iter()
            .zip(counts)
            .map(|(r, c)| r.iter().take(c).map(|p| p.0).collect())
            .collect();
        Ok(out)
    }
}
