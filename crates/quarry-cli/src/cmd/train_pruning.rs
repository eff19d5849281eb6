//! `quarry train-pruning` (and `quarry build --train-pruning`): learned pruning for
//! an index. Labels from exact search of training queries, a GBDT on the centroid
//! distance features, calibration for `--target-recall`; the model is attached to
//! the index as `pruning.model`.

use crate::progress::Ui;
use anyhow::{Context, Result};
use quarry_engine::{Index, OpenOptions};
use quarry_formats::open_vectors;
use quarry_learn::pruning::{train_pruning, PruningConfig, PruningReport, TrainQueries};
use quarry_routing::pruning::{FeatureSet, GbdtParams};
use std::path::{Path, PathBuf};

/// Options of the pruning model (shared by `build --train-pruning`).
#[derive(clap::Args, Clone)]
pub struct PruningArgs {
    /// Training queries from this file (disjoint from base and evaluation queries)
    /// instead of leave-one-out samples of the base.
    #[arg(long)]
    pub learn: Option<PathBuf>,
    /// Number of training queries (a fifth of them held out for calibration).
    #[arg(long, default_value_t = 50_000)]
    pub train_queries: usize,
    /// Fraction of training queries held out for calibration.
    #[arg(long, default_value_t = 0.2)]
    pub holdout: f32,
    /// k of the labels (exact top-k per training query).
    #[arg(long, default_value_t = 100, value_parser = crate::bounds::k)]
    pub label_k: usize,
    /// Label = partitions holding this fraction of the top-k (0.9 ranked queries
    /// better than 1.0 on GloVe and Fashion-MNIST; see README).
    #[arg(long, default_value_t = 0.9)]
    pub label_fraction: f32,
    /// Gaussian noise (absolute, per component) added to base-drawn training queries.
    #[arg(long, default_value_t = 0.0)]
    pub noise_sigma: f32,
    /// Probe cap of the learned router.
    #[arg(long, default_value_t = 128, value_parser = crate::bounds::nprobe)]
    pub max_nprobe: usize,
    /// K: features are D_2/D_1 .. D_K/D_1.
    #[arg(long, default_value_t = 64)]
    pub features_k: usize,
    /// Leave out the D_1 feature.
    #[arg(long)]
    pub no_d1: bool,
    /// Leave out the query-norm feature.
    #[arg(long)]
    pub no_norm: bool,
    /// Boosting rounds.
    #[arg(long, default_value_t = 500)]
    pub rounds: usize,
    #[arg(long, default_value_t = 0.05)]
    pub learning_rate: f32,
    #[arg(long, default_value_t = 5)]
    pub max_depth: usize,
    /// Difficulty bins of the target-recall allocation.
    #[arg(long, default_value_t = 16)]
    pub bins: usize,
}

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub index: PathBuf,
    /// The base file the index was built from (exact ground truth of training queries).
    #[arg(long)]
    pub base: PathBuf,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[command(flatten)]
    pub pruning: PruningArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args, ui: &Ui) -> Result<()> {
    let report = train(&a.index, &a.base, a.seed, &a.pruning, ui)?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

pub fn config(p: &PruningArgs, seed: u64) -> PruningConfig {
    PruningConfig {
        label_k: p.label_k,
        label_fraction: p.label_fraction,
        queries: p.train_queries,
        holdout: p.holdout,
        noise_sigma: p.noise_sigma,
        max_nprobe: p.max_nprobe,
        features: FeatureSet {
            k: p.features_k,
            d1: !p.no_d1,
            norm: !p.no_norm,
        },
        gbdt: GbdtParams {
            rounds: p.rounds,
            learning_rate: p.learning_rate,
            max_depth: p.max_depth,
            seed,
        },
        bins: p.bins,
        seed,
    }
}

pub fn train(
    index: &Path,
    base: &Path,
    seed: u64,
    p: &PruningArgs,
    ui: &Ui,
) -> Result<PruningReport> {
    let mut idx = Index::open(index, OpenOptions::default())?;
    // One writer: fail now, not after the training, if another holds the index.
    idx.lock_writer()?;
    let base_src = open_vectors(base)?;
    let learn = match &p.learn {
        Some(l) => Some(open_vectors(l)?),
        None => None,
    };
    let source = match &learn {
        Some(l) => TrainQueries::Learn(l.as_ref()),
        None => TrainQueries::FromBase,
    };
    let (_, report) = train_pruning(&mut idx, base_src.as_ref(), source, &config(p, seed), ui)
        .with_context(|| format!("training the pruning model of {}", index.display()))?;
    ui.done();
    Ok(report)
}

pub fn print_report(r: &PruningReport) {
    println!(
        "pruning model: {} training + {} calibration queries from {}; features {}",
        r.train_queries,
        r.calibration_queries,
        r.source,
        r.feature_names.join(" ")
    );
    println!(
        "labels (partitions for {:.0}% of top-{}): mean {:.2}, p50 {}, p90 {}, p99 {}",
        r.config.label_fraction * 100.0,
        r.config.label_k,
        r.label_mean,
        r.label_p50,
        r.label_p90,
        r.label_p99
    );
    println!(
        "ground truth {:.2}s, labels {:.2}s, train {:.2}s, calibrate {:.2}s; model {} bytes; held-out RMSE of ln(label) {:.3}",
        r.gt_secs, r.label_secs, r.train_secs, r.calibrate_secs, r.model_bytes, r.holdout_rmse_ln
    );
    println!("held-out partitions/query at equal mean recall (learned vs fixed nprobe):");
    for h in &r.holdout {
        let f = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.2}"));
        println!(
            "  recall@{:<3} >= {:.2}: allocated {} (recall {}), margin {} (recall {}), fixed nprobe {} (recall {}, interpolated {}), oracle {}",
            h.k,
            h.target,
            f(h.allocated_partitions),
            f(h.allocated_recall),
            f(h.learned_partitions),
            f(h.learned_recall),
            h.fixed_nprobe.map_or("-".into(), |n| n.to_string()),
            f(h.fixed_recall),
            f(h.fixed_interpolated),
            f(h.oracle_partitions)
        );
    }
}
