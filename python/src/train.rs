//! Router training and graph building: the library calls `quarry train-pruning`,
//! `quarry mlp-train` and `quarry graph-build` make, with the same defaults.

use crate::errors::Result;
use crate::source::View;
use quarry_engine::{HnswParams, Index, NoProgress};
use quarry_learn::pruning::{train_pruning, PruningConfig, TrainQueries};
use quarry_routing::pruning::{FeatureSet, GbdtParams};

pub struct GbdtArgs {
    pub queries: usize,
    pub label_k: usize,
    pub label_fraction: f32,
    pub holdout: f32,
    pub noise_sigma: f32,
    pub max_nprobe: usize,
    pub features_k: usize,
    pub rounds: usize,
    pub learning_rate: f32,
    pub max_depth: usize,
    pub bins: usize,
    pub seed: u64,
}

impl Default for GbdtArgs {
    /// `quarry train-pruning`'s defaults.
    fn default() -> Self {
        let c = PruningConfig::default();
        GbdtArgs {
            queries: c.queries,
            label_k: c.label_k,
            label_fraction: c.label_fraction,
            holdout: c.holdout,
            noise_sigma: c.noise_sigma,
            max_nprobe: c.max_nprobe,
            features_k: FeatureSet::default().k,
            rounds: GbdtParams::default().rounds,
            learning_rate: GbdtParams::default().learning_rate,
            max_depth: GbdtParams::default().max_depth,
            bins: c.bins,
            seed: c.seed,
        }
    }
}

pub fn gbdt_config(a: GbdtArgs) -> PruningConfig {
    PruningConfig {
        label_k: a.label_k,
        label_fraction: a.label_fraction,
        queries: a.queries,
        holdout: a.holdout,
        noise_sigma: a.noise_sigma,
        max_nprobe: a.max_nprobe,
        features: FeatureSet {
            k: a.features_k,
            ..FeatureSet::default()
        },
        gbdt: GbdtParams {
            rounds: a.rounds,
            learning_rate: a.learning_rate,
            max_depth: a.max_depth,
            seed: a.seed,
        },
        bins: a.bins,
        seed: a.seed,
    }
}

/// Trains and attaches the GBDT probe-count model; returns its report.
pub fn gbdt(
    index: &mut Index,
    base: View<'_>,
    learn: Option<View<'_>>,
    cfg: &PruningConfig,
) -> Result<serde_json::Value> {
    let base = base.open()?;
    let learn = learn.map(View::open).transpose()?;
    let source = match &learn {
        Some(l) => TrainQueries::Learn(l.as_ref()),
        None => TrainQueries::FromBase,
    };
    let (_, report) = train_pruning(index, base.as_ref(), source, cfg, &NoProgress)?;
    Ok(serde_json::to_value(report).expect("serializable"))
}

/// Trains and attaches the MLP router; returns a summary of the training.
pub fn mlp(
    index: &mut Index,
    base: View<'_>,
    queries: usize,
    cfg: &quarry_learn::mlp::TrainConfig,
) -> Result<serde_json::Value> {
    let base = base.open()?;
    let t = quarry_learn::mlp::train_router(index, base.as_ref(), queries, cfg, &NoProgress)?;
    Ok(serde_json::json!({
        "config": cfg,
        "params": t.model.num_params(),
        "epochs": t.epochs.len(),
        "final_loss": t.epochs.last().map(|e| e.loss),
        "holdout_top1": t.holdout_top1,
        "holdout_centroid_top1": t.holdout_centroid_top1,
        "holdout_chance": t.holdout_chance,
        "holdout_queries": t.holdout_queries,
        "train_secs": t.secs,
    }))
}

/// Builds and attaches per-partition graphs (and the centroid graph when the index
/// has as many partitions as `quarry graph-build` builds one for).
pub fn graphs(index: &mut Index, p: HnswParams) -> Result<serde_json::Value> {
    // One writer lock over both steps (a handle that holds it keeps it).
    index.with_writer(|index| {
        let r = index.build_graphs(p, &NoProgress)?;
        let mut v = serde_json::to_value(&r).expect("serializable");
        if index.num_partitions() >= quarry_routing::CENTROID_GRAPH_THRESHOLD {
            let secs =
                index.build_centroid_graph(p, quarry_engine::CENTROID_EF_DEFAULT, &NoProgress)?;
            v["centroid_graph_secs"] = secs.into();
        }
        Ok(v)
    })
}
