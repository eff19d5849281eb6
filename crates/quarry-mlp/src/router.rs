//! Search with the MLP: partitions in model-probability order.

use crate::{Mlp, MlpError};
use quarry_routing::{RankedPartitions, Router};

/// When to stop probing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProbeRule {
    /// The `n` most probable partitions.
    Count(usize),
    /// The most probable partitions until their probabilities sum to `mass`, at most `max`.
    Mass { mass: f32, max: usize },
}

pub struct MlpRouter {
    model: Mlp,
    rule: ProbeRule,
}

impl MlpRouter {
    pub fn new(model: Mlp, rule: ProbeRule) -> Result<Self, MlpError> {
        let p = model.cfg.partitions;
        match rule {
            ProbeRule::Count(n) | ProbeRule::Mass { max: n, .. } if n == 0 || n > p => {
                return Err(MlpError::BadConfig(format!(
                    "probe count {n} must be between 1 and the model's {p} partitions"
                )))
            }
            ProbeRule::Mass { mass, .. } if !(mass > 0.0 && mass <= 1.0) => {
                return Err(MlpError::BadConfig(format!(
                    "probability mass must be in (0, 1], got {mass}"
                )))
            }
            _ => {}
        }
        Ok(MlpRouter { model, rule })
    }

    pub fn model(&self) -> &Mlp {
        &self.model
    }

    pub fn with_rule(self, rule: ProbeRule) -> Result<Self, MlpError> {
        MlpRouter::new(self.model, rule)
    }

    /// Probe lists of a batch (what `select` returns), or the model's error.
    pub fn route(&self, queries: &[f32]) -> Result<Vec<Vec<u32>>, MlpError> {
        let p = self.model.cfg.partitions;
        let probs = self.model.probabilities(queries)?;
        let max = self.candidates();
        Ok(probs
            .chunks_exact(p)
            .map(|row| {
                let mut idx: Vec<(f32, u32)> = row
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| (v, i as u32))
                    .collect();
                let cmp = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
                if max < p {
                    idx.select_nth_unstable_by(max - 1, cmp);
                    idx.truncate(max);
                }
                idx.sort_by(cmp);
                match self.rule {
                    ProbeRule::Count(_) => idx.iter().map(|x| x.1).collect(),
                    ProbeRule::Mass { mass, .. } => {
                        let mut sum = 0.0;
                        let mut out = Vec::new();
                        for &(v, i) in &idx {
                            out.push(i);
                            sum += v;
                            if sum >= mass {
                                break;
                            }
                        }
                        out
                    }
                }
            })
            .collect())
    }
}

impl Router for MlpRouter {
    fn describe(&self) -> String {
        match self.rule {
            ProbeRule::Count(n) => format!("mlp nprobe={n}"),
            ProbeRule::Mass { mass, max } => format!("mlp mass={mass} max={max}"),
        }
    }
    fn candidates(&self) -> usize {
        match self.rule {
            ProbeRule::Count(n) | ProbeRule::Mass { max: n, .. } => n,
        }
    }
    fn select(&self, queries: &[f32], _ranked: &RankedPartitions) -> Vec<Vec<u32>> {
        // The executor validated the block (shape, finite values) against the index,
        // whose dimension the model was checked against when it was loaded, so the
        // forward pass cannot fail on input; a candle failure here is a bug.
        self.route(queries)
            .unwrap_or_else(|e| panic!("MLP router forward pass failed: {e}"))
    }
}

/// Another router decides how many partitions each query reads (the GBDT probe-count
/// model), the MLP decides which: the `counts` router's list length per query, filled
/// with the MLP's most probable partitions.
pub struct MlpOrder<'a> {
    mlp: &'a MlpRouter,
    counts: &'a dyn Router,
}

impl<'a> MlpOrder<'a> {
    /// `mlp` must rank at least as many partitions as `counts` may ask for.
    pub fn new(mlp: &'a MlpRouter, counts: &'a dyn Router) -> Result<Self, MlpError> {
        let need = counts.candidates().min(mlp.model.cfg.partitions);
        if mlp.candidates() < need {
            return Err(MlpError::BadConfig(format!(
                "the MLP ranks {} partitions but the count router may ask for {need}",
                mlp.candidates()
            )));
        }
        Ok(MlpOrder { mlp, counts })
    }
}

impl Router for MlpOrder<'_> {
    fn describe(&self) -> String {
        format!("{} in mlp order", self.counts.describe())
    }
    fn candidates(&self) -> usize {
        // The count router reads the centroid ranking (its features).
        self.counts.candidates()
    }
    fn select(&self, queries: &[f32], ranked: &RankedPartitions) -> Vec<Vec<u32>> {
        let counts = self.counts.select(queries, ranked);
        let mut order = self.mlp.select(queries, ranked);
        for (o, c) in order.iter_mut().zip(&counts) {
            o.truncate(c.len());
        }
        order
    }
}
