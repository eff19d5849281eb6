//! Turning a [`RouterSpec`] into a router, loading the learned models the index holds.

use crate::{EngineError, GbdtRule, Index, RouterSpec};
use quarry_routing::mlp::{Mlp, MlpRouter, ProbeRule, CONFIG_FILE, WEIGHTS_FILE};
use quarry_routing::pruning::{check_target, PruningModel, PRUNING_FILE};
use quarry_routing::{Composed, FixedNprobe, GbdtRouter, Router, RoutingError, SpannRule};
use std::sync::Arc;

impl Index {
    /// The router `spec` describes, for searches asking `k` neighbours (a
    /// target-recall GBDT is calibrated per k). Learned routers load and verify
    /// their model from the index (each call reads it: keep the router to reuse it).
    pub fn router(&self, spec: &RouterSpec, k: usize) -> Result<Box<dyn Router>, EngineError> {
        Ok(match spec {
            RouterSpec::Fixed { nprobe } => Box::new(FixedNprobe::new(*nprobe)?),
            RouterSpec::Spann { eps, max_nprobe } => Box::new(SpannRule::new(*eps, *max_nprobe)?),
            RouterSpec::Gbdt { rule } => Box::new(self.gbdt_router(*rule, k)?),
            RouterSpec::Mlp { rule } => match self.stale_mlp()? {
                Some(_) => Box::new(FixedNprobe::new(rule_count(rule))?),
                None => {
                    Box::new(MlpRouter::new(self.mlp_model()?, *rule).map_err(RoutingError::from)?)
                }
            },
            RouterSpec::Composed {
                count_from,
                order_from,
            } => {
                let counts = self.router(count_from, k)?;
                let order: Box<dyn Router> = match order_from.as_ref() {
                    RouterSpec::Mlp {
                        rule: ProbeRule::Count(n),
                    } if self.stale_mlp()?.is_none() => {
                        let model = self.mlp_model()?;
                        let n = (*n).max(counts.max_probes()).min(model.cfg.partitions);
                        Box::new(
                            MlpRouter::new(model, ProbeRule::Count(n))
                                .map_err(RoutingError::from)?,
                        )
                    }
                    other => self.router(other, k)?,
                };
                Box::new(Composed::new(counts, order)?)
            }
        })
    }

    /// The GBDT pruning model attached to the index, verified.
    pub fn pruning_model(&self) -> Result<Arc<PruningModel>, EngineError> {
        if !self.has_file(PRUNING_FILE) {
            return Err(EngineError::NoModel {
                router: "gbdt",
                dir: self.dir.clone(),
            });
        }
        let model = PruningModel::from_bytes(&self.read_file(PRUNING_FILE)?)?;
        // Splits add partitions after training: the model still predicts a
        // probe count from the query and its centroid distances (see `stale_routers`).
        if model.meta.partitions > self.num_partitions() {
            return Err(RoutingError::ModelFile(format!(
                "model was trained for {} partitions, the index has {}; retrain it",
                model.meta.partitions,
                self.num_partitions()
            ))
            .into());
        }
        Ok(Arc::new(model))
    }

    fn gbdt_router(&self, rule: GbdtRule, k: usize) -> Result<GbdtRouter, EngineError> {
        if let GbdtRule::TargetRecall(t) = rule {
            check_target(t)?;
        }
        let model = self.pruning_model()?;
        Ok(match rule {
            GbdtRule::TargetRecall(t) => GbdtRouter::for_target(model, t, k)?,
            GbdtRule::Margin { margin, max_nprobe } => {
                let cap = max_nprobe.unwrap_or(model.meta.max_nprobe);
                GbdtRouter::with_margin(model, margin, cap.min(self.num_partitions()))?
            }
        })
    }

    /// The learned routers trained before splits added partitions, as
    /// `(router, partitions trained for)`. The policy: the GBDT count model keeps
    /// predicting probe counts (from the query and its centroid distances, which
    /// any partition count gives); the MLP scores only the partitions it was
    /// trained for, so `--router mlp` ranks by centroid order instead, with the
    /// same count, until `quarry retrain` trains both again.
    pub fn stale_routers(&self) -> Result<Vec<(&'static str, usize)>, EngineError> {
        let mut out = Vec::new();
        if self.has_file(PRUNING_FILE) {
            let m = self.pruning_model()?;
            if m.meta.partitions != self.num_partitions() {
                out.push(("gbdt", m.meta.partitions));
            }
        }
        if let Some(p) = self.stale_mlp()? {
            out.push(("mlp", p));
        }
        Ok(out)
    }

    /// `Some(partitions it was trained for)` when the MLP predates splits.
    fn stale_mlp(&self) -> Result<Option<usize>, EngineError> {
        if !self.has_file(CONFIG_FILE) || !self.has_file(WEIGHTS_FILE) {
            return Ok(None);
        }
        let m = Mlp::from_bytes(
            &self.read_file(WEIGHTS_FILE)?,
            &self.read_file(CONFIG_FILE)?,
        )
        .map_err(RoutingError::from)?;
        Ok((m.cfg.partitions < self.num_partitions()).then_some(m.cfg.partitions))
    }

    /// The MLP attached to the index, verified against it.
    pub fn mlp_model(&self) -> Result<Mlp, EngineError> {
        for f in [WEIGHTS_FILE, CONFIG_FILE] {
            if !self.has_file(f) {
                return Err(EngineError::NoModel {
                    router: "mlp",
                    dir: self.dir.clone(),
                });
            }
        }
        let model = Mlp::from_bytes(
            &self.read_file(WEIGHTS_FILE)?,
            &self.read_file(CONFIG_FILE)?,
        )
        .map_err(RoutingError::from)?;
        if model.cfg.dim != self.dim() || model.cfg.partitions != self.num_partitions() {
            return Err(RoutingError::ModelFile(format!(
                "the MLP is for {} dimensions x {} partitions, the index has {} x {}",
                model.cfg.dim,
                model.cfg.partitions,
                self.dim(),
                self.num_partitions()
            ))
            .into());
        }
        Ok(model)
    }
}

/// The partitions an MLP rule probes, as a count (its cap for a mass rule).
fn rule_count(rule: &ProbeRule) -> usize {
    match *rule {
        ProbeRule::Count(n) => n,
        ProbeRule::Mass { max, .. } => max,
    }
}
