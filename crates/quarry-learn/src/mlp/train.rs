//! Training with learned duplication.

use super::TrainingSet;
use crate::LearnError;
use candle_core::{Device, Tensor};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use quarry_engine::{Holders, Metric, Progress};
use quarry_partition::sample::normal_f32;
use quarry_routing::mlp::{check_config, with_candle_threads, Mlp, MlpConfig, MAX_HIDDEN};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct TrainConfig {
    pub hidden: usize,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    /// Noise norm relative to the median nearest-neighbour distance: each component
    /// gets N(0, sigma^2) with sigma = noise * median_gap / sqrt(dim).
    pub noise: f32,
    pub seed: u64,
    /// Duplication round every this many epochs (0: never).
    pub dup_every: usize,
    /// Share of a round's misses duplicated (the most confident ones).
    pub dup_share: f32,
    /// Cap on all duplicates, as a share of the vector count.
    pub dup_cap: f32,
    /// Share of the training queries held out to report generalisation.
    pub holdout: f32,
    /// Add the learned centroid-distance prior to the logits (see `MlpConfig`).
    pub centroid_prior: bool,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Keep the weights of the epoch with the best held-out top-1 hit rate (per
    /// duplication phase) instead of the last epoch's: early stopping without
    /// stopping, because later epochs can still win after a plateau.
    pub keep_best: bool,
    /// Threads candle's kernels may use (1 is faster on two shared cores; see
    /// `quarry_routing::mlp::with_candle_threads`).
    pub threads: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            hidden: 256,
            epochs: 150,
            batch: 1024,
            lr: 1e-3,
            noise: 1.0,
            seed: 42,
            dup_every: 50,
            dup_share: 0.2,
            dup_cap: 0.1,
            holdout: 0.05,
            centroid_prior: true,
            weight_decay: 0.0,
            keep_best: true,
            threads: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub loss: f64,
    /// Top-1 hit rate on the held-out training queries after this epoch.
    pub holdout_top1: f64,
    pub secs: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DupRound {
    pub epoch: usize,
    /// Training pairs whose top-1 partition did not hold the neighbour.
    pub misses: usize,
    pub top1_hit_rate: f64,
    pub added: usize,
    pub total_copies: usize,
}

pub struct Trained {
    pub model: Mlp,
    /// New (vector id, partition) copies, sorted.
    pub copies: Vec<(u64, u32)>,
    pub epochs: Vec<EpochLog>,
    pub rounds: Vec<DupRound>,
    /// Per-component noise sigma in the standardised input space.
    pub sigma: f32,
    /// Top-1 hit rate on the held-out training queries (holders after duplication)
    /// and what picking a partition at random would score.
    pub holdout_top1: f64,
    /// The nearest centroid's top-1 hit rate on the same held-out queries, with the
    /// index's original placement and with the duplicates added: the baseline the MLP
    /// must beat, and what duplication alone buys.
    pub holdout_centroid_top1: f64,
    pub holdout_centroid_top1_dup: f64,
    pub holdout_chance: f64,
    pub holdout_queries: usize,
    pub secs: f64,
}

/// Most threads candle may be given (far beyond any gain on these machines).
pub const MAX_CANDLE_THREADS: usize = 64;

/// Trains a router for an index whose vectors are stored as `holders` says;
/// `centroids` are the index's (partitions x dim), used by the centroid prior.
#[allow(clippy::too_many_arguments)]
pub fn train(
    set: &TrainingSet,
    holders: &Holders,
    partitions: usize,
    metric: Metric,
    centroids: &[f32],
    cfg: &TrainConfig,
    progress: &dyn Progress,
    on_epoch: &mut (dyn FnMut(&EpochLog) + Send),
) -> Result<Trained, LearnError> {
    // Checked before a pool of that size is started.
    if !(1..=MAX_CANDLE_THREADS).contains(&cfg.threads) {
        return Err(LearnError::BadConfig(format!(
            "candle threads = {} is out of range: use 1..={MAX_CANDLE_THREADS}",
            cfg.threads
        )));
    }
    with_candle_threads(cfg.threads, || {
        train_on_this_thread(
            set, holders, partitions, metric, centroids, cfg, progress, on_epoch,
        )
    })
}

#[allow(clippy::too_many_arguments)]
fn train_on_this_thread(
    set: &TrainingSet,
    holders: &Holders,
    partitions: usize,
    metric: Metric,
    centroids: &[f32],
    cfg: &TrainConfig,
    progress: &dyn Progress,
    on_epoch: &mut (dyn FnMut(&EpochLog) + Send),
) -> Result<Trained, LearnError> {
    let start = Instant::now();
    let dim = set.dim;
    check_settings(cfg)?;
    if set.is_empty() {
        return Err(LearnError::BadConfig("no training queries".into()));
    }
    if let Some(&id) = set
        .nn
        .iter()
        .find(|&&id| holders.get(id as usize).is_none_or(|h| h.is_empty()))
    {
        return Err(LearnError::BadConfig(format!(
            "neighbour {id} is not stored in the index: train against the index's own base file"
        )));
    }
    let mcfg = MlpConfig {
        dim,
        hidden: cfg.hidden,
        partitions,
        metric,
        centroid_prior: cfg.centroid_prior,
    };
    check_config(&mcfg)?;
    if centroids.len() != partitions * dim {
        return Err(LearnError::BadConfig(format!(
            "{} centroid values given, the index has {partitions} x {dim}",
            centroids.len()
        )));
    }

    // Standardisation from the training queries.
    let (mean, scale) = standardisation(&set.queries, dim, metric);
    let mut model = Mlp::new(mcfg, mean, scale, cfg.seed, centroids, 1.0)?;
    let x_all = model.prepare(&set.queries);
    if cfg.centroid_prior {
        // Initial sharpness: 1 / median gap between a query's two nearest centroids,
        // so the prior alone starts as a soft k-means ranking.
        let beta0 = prior_sharpness(&model, &x_all, dim)?;
        model = Mlp::new(
            model.cfg.clone(),
            model.mean().to_vec(),
            scale,
            cfg.seed,
            centroids,
            beta0,
        )?;
    }
    let mut gaps = set.nn_gap.clone();
    gaps.sort_by(f32::total_cmp);
    let median_gap = gaps[gaps.len() / 2];
    let sigma = cfg.noise * median_gap / scale / (dim as f32).sqrt();

    // Seeded split into training and held-out queries.
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = (0..set.len()).collect();
    order.shuffle(&mut rng);
    let n_hold = ((set.len() as f64 * cfg.holdout as f64) as usize).min(set.len() - 1);
    let (held, fit) = order.split_at(n_hold);
    let mut fit = fit.to_vec();
    fit.sort_unstable();
    let held = held.to_vec();

    let nearest = nearest_centroids(&model, set, &held, centroids)?;
    let centroid_hits = |h: &Holders| {
        held.iter()
            .zip(&nearest)
            .filter(|(&i, &c)| h[set.nn[i] as usize].contains(&c))
            .count() as f64
            / held.len().max(1) as f64
    };
    let holdout_centroid_top1 = centroid_hits(holders);
    let mut holders = holders.clone();
    let mut labels: Vec<u32> = set.nn.iter().map(|&id| holders[id as usize][0]).collect();
    let n_vectors = holders.len();
    let cap = (cfg.dup_cap as f64 * n_vectors as f64) as usize;
    let mut copies: Vec<(u64, u32)> = Vec::new();

    let params = ParamsAdamW {
        lr: cfg.lr,
        weight_decay: cfg.weight_decay,
        ..Default::default()
    };
    let mut opt = AdamW::new(model.vars().to_vec(), params)?;
    let mut logs = Vec::new();
    let mut rounds = Vec::new();
    progress.stage("train mlp", cfg.epochs as u64);
    let mut batch_x = Vec::with_capacity(cfg.batch * dim);
    let mut batch_y = Vec::with_capacity(cfg.batch);
    // Best held-out top-1 of the current duplication phase and its weights.
    let mut best: Option<(f64, Vec<Tensor>)> = None;
    for epoch in 1..=cfg.epochs {
        let t = Instant::now();
        fit.shuffle(&mut rng);
        let mut loss_sum = 0.0f64;
        let mut seen = 0usize;
        for b in fit.chunks(cfg.batch) {
            batch_x.clear();
            batch_y.clear();
            for &i in b {
                batch_x.extend(
                    x_all[i * dim..(i + 1) * dim]
                        .iter()
                        .map(|&v| v + sigma * normal_f32(&mut rng)),
                );
                batch_y.push(labels[i]);
            }
            let x = Tensor::from_slice(&batch_x, (b.len(), dim), &Device::Cpu)?;
            let y = Tensor::from_slice(&batch_y, b.len(), &Device::Cpu)?;
            let loss = candle_nn::loss::cross_entropy(&model.logits(&x)?, &y)?;
            opt.backward_step(&loss)?;
            loss_sum += loss.to_scalar::<f32>()? as f64 * b.len() as f64;
            seen += b.len();
        }
        let (held_hits, _) = top1_hits(&model, set, &held, &holders)?;
        let held_top1 = held_hits as f64 / held.len().max(1) as f64;
        if cfg.keep_best && !held.is_empty() && best.as_ref().is_none_or(|(b, _)| held_top1 > *b) {
            best = Some((held_top1, snapshot(&model)?));
        }
        let log = EpochLog {
            epoch,
            loss: loss_sum / seen as f64,
            holdout_top1: held_top1,
            secs: t.elapsed().as_secs_f64(),
        };
        on_epoch(&log);
        logs.push(log);
        progress.advance(1);
        if cfg.dup_every > 0 && epoch % cfg.dup_every == 0 {
            // Duplicate where the best model of this phase misses; the next phase's
            // best is judged against the new holders.
            if let Some((_, w)) = best.take() {
                restore(&model, &w)?;
            }
            let round = duplicate(
                &model,
                set,
                &fit,
                &mut holders,
                &mut labels,
                &mut copies,
                cap,
                cfg.dup_share,
                epoch,
            )?;
            rounds.push(round);
        }
    }
    if let Some((_, w)) = best.take() {
        restore(&model, &w)?;
    }
    let (hits, _) = top1_hits(&model, set, &held, &holders)?;
    copies.sort_unstable();
    Ok(Trained {
        holdout_top1: hits as f64 / held.len().max(1) as f64,
        holdout_centroid_top1,
        holdout_centroid_top1_dup: centroid_hits(&holders),
        holdout_chance: 1.0 / partitions as f64,
        holdout_queries: held.len(),
        model,
        copies,
        epochs: logs,
        rounds,
        sigma,
        secs: start.elapsed().as_secs_f64(),
    })
}

/// Each listed query's nearest centroid, ranked as the index ranks them (rows and
/// centroids prepared alike: normalised for cosine, then a shift and one scale).
fn nearest_centroids(
    model: &Mlp,
    set: &TrainingSet,
    which: &[usize],
    centroids: &[f32],
) -> Result<Vec<u32>, LearnError> {
    let dim = set.dim;
    let c = model.prepare(centroids);
    let mut out = Vec::with_capacity(which.len());
    for &i in which {
        let q = model.prepare(&set.queries[i * dim..(i + 1) * dim]);
        let (best, _) = argmax(c.chunks_exact(dim).map(|r| {
            -r.iter()
                .zip(&q)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f32>()
        }));
        out.push(best as u32);
    }
    Ok(out)
}

fn snapshot(model: &Mlp) -> Result<Vec<Tensor>, LearnError> {
    Ok(model
        .vars()
        .iter()
        .map(|v| v.as_tensor().copy())
        .collect::<Result<_, _>>()?)
}

fn restore(model: &Mlp, weights: &[Tensor]) -> Result<(), LearnError> {
    for (v, w) in model.vars().iter().zip(weights) {
        v.set(w)?;
    }
    Ok(())
}

fn check_settings(cfg: &TrainConfig) -> Result<(), LearnError> {
    let bad = |m: String| Err(LearnError::BadConfig(m));
    if cfg.epochs == 0 || cfg.batch == 0 || cfg.hidden == 0 {
        return bad("epochs, batch and hidden must be at least 1".into());
    }
    if cfg.hidden > MAX_HIDDEN {
        return bad(format!(
            "hidden {} exceeds {} (256 is typical)",
            cfg.hidden, MAX_HIDDEN
        ));
    }
    if !(cfg.lr.is_finite() && cfg.lr > 0.0) {
        return bad(format!("lr must be a positive number, got {}", cfg.lr));
    }
    if !(cfg.weight_decay.is_finite() && cfg.weight_decay >= 0.0) {
        return bad(format!(
            "weight_decay must be >= 0, got {}",
            cfg.weight_decay
        ));
    }
    if !(cfg.noise.is_finite() && cfg.noise >= 0.0) {
        return bad(format!("noise must be >= 0, got {}", cfg.noise));
    }
    for (name, v) in [("dup_share", cfg.dup_share), ("dup_cap", cfg.dup_cap)] {
        if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
            return bad(format!("{name} must be between 0 and 1, got {v}"));
        }
    }
    if !(cfg.holdout.is_finite() && (0.0..0.5).contains(&cfg.holdout)) {
        return bad(format!(
            "holdout share must be in [0, 0.5), got {}",
            cfg.holdout
        ));
    }
    Ok(())
}

/// Per-dimension mean and one global scale (RMS deviation per component).
fn standardisation(queries: &[f32], dim: usize, metric: Metric) -> (Vec<f32>, f32) {
    let n = queries.len() / dim;
    let mut rows = queries.to_vec();
    if metric == Metric::Cosine {
        rows.chunks_exact_mut(dim)
            .for_each(quarry_partition::normalize);
    }
    let mut mean = vec![0f64; dim];
    for r in rows.chunks_exact(dim) {
        mean.iter_mut().zip(r).for_each(|(m, &v)| *m += v as f64);
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut ss = 0f64;
    for r in rows.chunks_exact(dim) {
        ss += r
            .iter()
            .zip(&mean)
            .map(|(&v, &m)| (v as f64 - m).powi(2))
            .sum::<f64>();
    }
    let scale = (ss / (n * dim) as f64).sqrt();
    let scale = if scale > 0.0 { scale as f32 } else { 1.0 };
    (mean.into_iter().map(|m| m as f32).collect(), scale)
}

fn prior_sharpness(model: &Mlp, x_all: &[f32], dim: usize) -> Result<f32, LearnError> {
    let n = (x_all.len() / dim).min(2048);
    let x = Tensor::from_slice(&x_all[..n * dim], (n, dim), &Device::Cpu)?;
    let Some(d) = model.centroid_distances(&x)? else {
        return Ok(1.0);
    };
    let mut gaps: Vec<f32> = d
        .to_vec2::<f32>()?
        .into_iter()
        .map(|mut row| {
            row.sort_by(f32::total_cmp);
            row[1] - row[0]
        })
        .collect();
    gaps.sort_by(f32::total_cmp);
    let g = gaps[gaps.len() / 2];
    Ok(if g > 0.0 { 1.0 / g } else { 1.0 })
}

/// Per query: (top-1 partition, its probability, the neighbour's most probable holder).
type Prediction = (u32, f32, u32);

/// For the given queries: how many have their neighbour in the top-1 partition, and
/// each one's `Prediction`.
fn top1_hits(
    model: &Mlp,
    set: &TrainingSet,
    which: &[usize],
    holders: &Holders,
) -> Result<(usize, Vec<Prediction>), LearnError> {
    let dim = set.dim;
    let p = model.cfg.partitions;
    let mut hits = 0;
    let mut out = Vec::with_capacity(which.len());
    for chunk in which.chunks(1024) {
        let mut q = Vec::with_capacity(chunk.len() * dim);
        chunk
            .iter()
            .for_each(|&i| q.extend_from_slice(&set.queries[i * dim..(i + 1) * dim]));
        let probs = model.probabilities(&q)?;
        for (row, &i) in probs.chunks_exact(p).zip(chunk) {
            let (top, tp) = argmax(row.iter().copied());
            let h = &holders[set.nn[i] as usize];
            let (bi, _) = argmax(h.iter().map(|&c| row[c as usize]));
            if h.contains(&(top as u32)) {
                hits += 1;
            }
            out.push((top as u32, tp, h[bi]));
        }
    }
    Ok((hits, out))
}

fn argmax(it: impl Iterator<Item = f32>) -> (usize, f32) {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, v) in it.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best
}

/// One duplication round: the misses ranked by the probability of the (wrong) top-1
/// partition, most confident first; the top `share` of them get their neighbour
/// copied there (while under `cap`). Labels then move to the most probable holder.
#[allow(clippy::too_many_arguments)]
fn duplicate(
    model: &Mlp,
    set: &TrainingSet,
    fit: &[usize],
    holders: &mut Holders,
    labels: &mut [u32],
    copies: &mut Vec<(u64, u32)>,
    cap: usize,
    share: f32,
    epoch: usize,
) -> Result<DupRound, LearnError> {
    let (hits, preds) = top1_hits(model, set, fit, holders)?;
    let mut misses: Vec<(f32, usize, u32)> = fit
        .iter()
        .zip(&preds)
        .filter(|(&i, &(top, _, _))| !holders[set.nn[i] as usize].contains(&top))
        .map(|(&i, &(top, prob, _))| (prob, i, top))
        .collect();
    let n_miss = misses.len();
    misses.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let take = (n_miss as f64 * share as f64).ceil() as usize;
    let mut added = 0;
    for &(_, i, top) in misses.iter().take(take) {
        if copies.len() >= cap {
            break;
        }
        let id = set.nn[i];
        let h = &mut holders[id as usize];
        if let Err(at) = h.binary_search(&top) {
            h.insert(at, top);
            copies.push((id, top));
            added += 1;
        }
    }
    // Relabel every training query to its neighbour's most probable holder.
    let (_, preds) = top1_hits(model, set, fit, holders)?;
    for (&i, &(_, _, best)) in fit.iter().zip(&preds) {
        labels[i] = best;
    }
    Ok(DupRound {
        epoch,
        misses: n_miss,
        top1_hit_rate: hits as f64 / fit.len().max(1) as f64,
        added,
        total_copies: copies.len(),
    })
}
