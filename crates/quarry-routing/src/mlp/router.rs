//! Search with the MLP: partitions in model-probability order.

use super::{Mlp, MlpError};
use crate::{RouteInput, Router, RoutingError};

/// When to stop probing.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
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
        let max = self.max_probes();
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
    fn ranking_depth(&self) -> Option<usize> {
        // Its own probabilities order the partitions: no centroid ranking.
        None
    }
    fn max_probes(&self) -> usize {
        match self.rule {
            ProbeRule::Count(n) | ProbeRule::Mass { max: n, .. } => n,
        }
    }
    fn select(&self, input: &RouteInput<'_>) -> Result<Vec<Vec<u32>>, RoutingError> {
        Ok(self.route(input.queries)?)
    }
}
