//! Training the learned-pruning model of an index (BAM-ANN section on pruning).
//!
//! 1. Training queries: base vectors (default) or a separate learn file, never the
//!    evaluation queries. A base vector is its own nearest neighbour and trivially
//!    sits in a partition near it, so base-drawn queries are taken leave-one-out:
//!    their ground truth is the exact top-k of the base *without the vector itself*,
//!    which is what a fresh query from the same distribution sees. Optional Gaussian
//!    noise (`noise_sigma`, absolute, per component) perturbs them further.
//! 2. Exact top-k by brute force (`exact_knn`), positions of the neighbours in the
//!    query's centroid order (`labels`), label = partitions for ceil(f k) of them.
//! 3. A GBDT on ln(label) from the centroid-distance features, single-threaded.
//! 4. Calibration on the held-out slice: mean recall@{1,10,100} for a grid of
//!    margins, stored in the model for `--target-recall`.
//! 5. The model is attached to the index as `pruning.model` (checksummed).

use super::holdout::{holdout_points, HoldoutPoint};
use super::{coverage_positions, label_from_positions, recall_at_count, PartitionMap};
use crate::LearnError;
use quarry_engine::{exact_knn, Index};
use quarry_formats::VectorSource;
use quarry_partition::sample::normal_clamped;
use quarry_partition::Progress;
use quarry_routing::pruning::{
    fit_booster, probe_count, Allocation, Calibration, FeatureSet, GbdtParams, ModelMeta,
    PruningModel, PRUNING_FILE, PRUNING_ROUTER,
};
use quarry_routing::RankedPartitions;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PruningConfig {
    /// k of the labels (exact top-k per training query).
    pub label_k: usize,
    /// Label = partitions holding this fraction of the top-k (1.0: all of it).
    pub label_fraction: f32,
    /// Training queries drawn (from the base, or the first ones of a learn file).
    pub queries: usize,
    /// Fraction of them held out for calibration (never used to fit trees).
    pub holdout: f32,
    /// Gaussian noise added to base-drawn training queries (absolute, per component).
    pub noise_sigma: f32,
    /// Probe cap of the router (and of the calibration).
    pub max_nprobe: usize,
    pub features: FeatureSet,
    pub gbdt: GbdtParams,
    /// Difficulty bins of the target-recall allocation.
    pub bins: usize,
    pub seed: u64,
}

impl Default for PruningConfig {
    fn default() -> Self {
        PruningConfig {
            label_k: 100,
            label_fraction: 0.9,
            queries: 50_000,
            holdout: 0.2,
            noise_sigma: 0.0,
            max_nprobe: 128,
            features: FeatureSet::default(),
            gbdt: GbdtParams::default(),
            bins: 16,
            seed: 42,
        }
    }
}

/// Where training queries come from.
pub enum TrainQueries<'a> {
    /// Sampled from the base, leave-one-out (see the module notes).
    FromBase,
    /// A separate file of vectors disjoint from the base and from evaluation queries.
    Learn(&'a dyn VectorSource),
}

#[derive(Debug, Clone, Serialize)]
pub struct PruningReport {
    pub config: PruningConfig,
    pub source: &'static str,
    pub train_queries: usize,
    pub calibration_queries: usize,
    pub feature_names: Vec<String>,
    pub label_mean: f64,
    pub label_p50: u32,
    pub label_p90: u32,
    pub label_p99: u32,
    pub gt_secs: f64,
    pub label_secs: f64,
    pub train_secs: f64,
    pub calibrate_secs: f64,
    pub model_bytes: usize,
    /// Held-out RMSE of ln(label).
    pub holdout_rmse_ln: f64,
    pub holdout: Vec<HoldoutPoint>,
}

/// Margins of the calibration grid: ln-count offsets from -3 to +3 (x0.05 .. x20).
fn margin_grid() -> Vec<f32> {
    (-300..=300).map(|i| i as f32 * 0.01).collect()
}

/// Trains the model, attaches it to `index` and returns it with a report. Holds the
/// index's writer lock from the start (a second writer fails before the training).
pub fn train_pruning(
    index: &mut Index,
    base: &dyn VectorSource,
    source: TrainQueries<'_>,
    cfg: &PruningConfig,
    progress: &dyn Progress,
) -> Result<(PruningModel, PruningReport), LearnError> {
    index.with_writer(|index| train_locked(index, base, source, cfg, progress))
}

fn train_locked(
    index: &mut Index,
    base: &dyn VectorSource,
    source: TrainQueries<'_>,
    cfg: &PruningConfig,
    progress: &dyn Progress,
) -> Result<(PruningModel, PruningReport), LearnError> {
    let bad = |m: String| LearnError::BadConfig(m);
    index.check_base(base)?;
    if cfg.label_k == 0 || cfg.label_k as u64 >= index.len() {
        return Err(bad(format!(
            "label_k must be in 1..{}, got {}",
            index.len(),
            cfg.label_k
        )));
    }
    if !(cfg.label_fraction > 0.0 && cfg.label_fraction <= 1.0) {
        return Err(bad(format!(
            "label_fraction must be in (0, 1], got {}",
            cfg.label_fraction
        )));
    }
    if !(cfg.holdout > 0.0 && cfg.holdout < 1.0) {
        return Err(bad(format!(
            "holdout must be in (0, 1), got {}",
            cfg.holdout
        )));
    }
    if !(cfg.noise_sigma >= 0.0 && cfg.noise_sigma.is_finite()) {
        return Err(bad(format!(
            "noise_sigma must be >= 0, got {}",
            cfg.noise_sigma
        )));
    }
    if cfg.max_nprobe == 0 || cfg.features.k < 2 {
        return Err(bad(
            "max_nprobe must be >= 1 and features.k >= 2".to_string()
        ));
    }
    let dim = index.dim();
    let metric = index.metric();
    let np = index.num_partitions();
    let k = cfg.label_k;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);

    // 1. Training queries (row-major f32) and, for base-drawn ones, their own ids.
    let (queries, self_ids, source_name) = match source {
        TrainQueries::FromBase => {
            let n = cfg.queries.min(base.len());
            let ids: Vec<usize> = rand::seq::index::sample(&mut rng, base.len(), n).into_vec();
            progress.stage("training queries", n as u64);
            let mut q = Vec::with_capacity(n * dim);
            for &id in &ids {
                q.extend(base.read_range(id, 1)?.to_f32());
                progress.advance(1);
            }
            if cfg.noise_sigma > 0.0 {
                for v in q.iter_mut() {
                    *v += cfg.noise_sigma * normal_clamped(&mut rng);
                }
            }
            (q, Some(ids), "base (leave-one-out)")
        }
        TrainQueries::Learn(src) => {
            if src.dim() != dim {
                return Err(bad(format!(
                    "learn file {} has {} dimensions, the index {}",
                    src.path().display(),
                    src.dim(),
                    dim
                )));
            }
            let n = cfg.queries.min(src.len());
            if n == 0 {
                return Err(bad(format!("learn file {} is empty", src.path().display())));
            }
            (src.read_range(0, n)?.to_f32(), None, "learn file")
        }
    };
    let nq = queries.len() / dim;
    if nq < 10 {
        return Err(bad(format!(
            "{nq} training queries are too few; use at least 10 (training queries)"
        )));
    }

    // 2. Exact ground truth (one extra neighbour for the leave-one-out drop).
    let t = Instant::now();
    let extra = self_ids.is_some() as usize;
    let mut gt = exact_knn(base, &queries, metric, k + extra, 1 << 16, progress)?;
    if let Some(ids) = &self_ids {
        for (row, &own) in gt.iter_mut().zip(ids) {
            match row.iter().position(|n| n.id == own as u64) {
                Some(p) => {
                    row.remove(p);
                }
                None => {
                    row.pop();
                }
            }
        }
    }
    let gt_secs = t.elapsed().as_secs_f64();

    // 3. Positions of each query's neighbours in its centroid order; features.
    let t = Instant::now();
    progress.stage("partition map", 1);
    let map = PartitionMap::of_index(index)?;
    progress.advance(1);
    progress.stage("labels", nq as u64);
    let fs = cfg.features;
    let mut positions: Vec<Vec<u32>> = Vec::with_capacity(nq);
    let mut top_ranked = RankedPartitions::default();
    const BLOCK: usize = 1024;
    for start in (0..nq).step_by(BLOCK) {
        let end = (start + BLOCK).min(nq);
        let ranked = index
            .centroids()
            .rank(&queries[start * dim..end * dim], np)?;
        let block: Vec<Vec<u32>> = ranked
            .per_query
            .par_iter()
            .zip(&gt[start..end])
            .map_init(Vec::new, |scratch, (r, nb)| {
                let order: Vec<u32> = r.iter().map(|p| p.0).collect();
                coverage_positions(&order, nb, &map, scratch)
            })
            .collect();
        positions.extend(block);
        top_ranked
            .per_query
            .extend(ranked.per_query.into_iter().map(|mut r| {
                r.truncate(fs.k);
                r
            }));
        progress.advance((end - start) as u64);
    }
    drop(gt);
    let features = fs.compute(&queries, dim, &top_ranked);
    let labels: Vec<u32> = positions
        .iter()
        .map(|p| label_from_positions(p, cfg.label_fraction).min(np as u32))
        .collect();
    let label_secs = t.elapsed().as_secs_f64();

    // 4. Split (random: the base sample is already random, a learn file may not be).
    let mut order: Vec<usize> = (0..nq).collect();
    for i in (1..nq).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let n_cal = ((nq as f64 * cfg.holdout as f64).round() as usize).clamp(1, nq - 1);
    let (cal_rows, fit_rows) = order.split_at(n_cal);
    let w = fs.width();
    let take = |rows: &[usize]| -> Vec<f64> {
        let mut out = Vec::with_capacity(rows.len() * w);
        for c in 0..w {
            out.extend(rows.iter().map(|&r| features[c * nq + r]));
        }
        out
    };
    let fit_x = take(fit_rows);
    let fit_y: Vec<f64> = fit_rows.iter().map(|&r| (labels[r] as f64).ln()).collect();
    progress.stage("train gbdt", 1);
    let t = Instant::now();
    let booster = fit_booster(&fit_x, fit_rows.len(), w, &fit_y, &cfg.gbdt)?;
    let train_secs = t.elapsed().as_secs_f64();
    progress.advance(1);

    // 5. Calibrate on the held-out slice.
    let t = Instant::now();
    let mut meta = ModelMeta {
        features: fs,
        params: cfg.gbdt,
        label_k: k,
        label_fraction: cfg.label_fraction,
        max_nprobe: cfg.max_nprobe.min(np),
        partitions: np,
        train_queries: fit_rows.len(),
        calibration: Calibration {
            queries: n_cal,
            margins: Vec::new(),
            ks: Vec::new(),
            recall: Vec::new(),
            partitions: Vec::new(),
        },
        allocation: Allocation {
            edges: Vec::new(),
            ks: Vec::new(),
            curves: Vec::new(),
            bin_queries: Vec::new(),
        },
    };
    let mut model = PruningModel::new(meta.clone(), booster);
    let cal_x = take(cal_rows);
    let pred = model.predict(&cal_x, n_cal);
    let cal_pos: Vec<&[u32]> = cal_rows.iter().map(|&r| positions[r].as_slice()).collect();
    let holdout_rmse_ln = (cal_rows
        .iter()
        .zip(&pred)
        .map(|(&r, p)| ((labels[r] as f64).ln() - p).powi(2))
        .sum::<f64>()
        / n_cal as f64)
        .sqrt();
    let ks: Vec<usize> = [1, 10, 100, k]
        .into_iter()
        .filter(|&c| c <= k)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let margins = margin_grid();
    let cap = meta.max_nprobe;
    let per_margin: Vec<(Vec<f32>, f32)> = margins
        .par_iter()
        .map(|&m| {
            let mut rec = vec![0f64; ks.len()];
            let mut parts = 0f64;
            for (p, pos) in pred.iter().zip(&cal_pos) {
                let c = probe_count(*p, m, cap);
                parts += c as f64;
                for (acc, &kk) in rec.iter_mut().zip(&ks) {
                    *acc += recall_at_count(pos, kk, c);
                }
            }
            (
                rec.iter().map(|r| (r / n_cal as f64) as f32).collect(),
                (parts / n_cal as f64) as f32,
            )
        })
        .collect();
    meta.calibration = Calibration {
        queries: n_cal,
        recall: (0..ks.len())
            .map(|i| per_margin.iter().map(|(r, _)| r[i]).collect())
            .collect(),
        partitions: per_margin.iter().map(|(_, p)| *p).collect(),
        margins,
        ks: ks.clone(),
    };
    meta.allocation = Allocation::fit(&pred, &ks, cap, cfg.bins, |q, ki, c| {
        recall_at_count(cal_pos[q], ks[ki], c)
    });
    let holdout = holdout_points(&meta.calibration, &meta.allocation, &cal_pos, cap);
    model.meta = meta;
    let calibrate_secs = t.elapsed().as_secs_f64();

    let bytes = model.to_bytes()?;
    index.attach_file(PRUNING_FILE, &bytes, Some(PRUNING_ROUTER))?;

    let mut sorted = labels.clone();
    sorted.sort_unstable();
    let pct = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
    let report = PruningReport {
        config: *cfg,
        source: source_name,
        train_queries: fit_rows.len(),
        calibration_queries: n_cal,
        feature_names: fs.names(),
        label_mean: labels.iter().map(|&l| l as f64).sum::<f64>() / nq as f64,
        label_p50: pct(0.5),
        label_p90: pct(0.9),
        label_p99: pct(0.99),
        gt_secs,
        label_secs,
        train_secs,
        calibrate_secs,
        model_bytes: bytes.len(),
        holdout_rmse_ln,
        holdout,
    };
    Ok((model, report))
}
