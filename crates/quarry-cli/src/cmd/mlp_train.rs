//! `quarry mlp-train`: train the MLP router of an index (with learned duplication) and
//! attach it; with `--dup-out`, also write the index holding the duplicates.

use crate::progress::Ui;
use anyhow::{Context, Result};
use quarry_engine::{rewrite_with_copies, Index, OpenOptions};
use quarry_formats::open_vectors;
use quarry_learn::mlp::{save_router, train, training_set, TrainConfig};
use quarry_routing::mlp::Mlp;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Index to train for; the model is attached to it.
    #[arg(long)]
    pub index: PathBuf,
    /// The vectors the index was built from (labels are exact nearest neighbours in it).
    #[arg(long)]
    pub base: PathBuf,
    /// Vectors to draw training queries from (default: the base). Never the evaluation queries.
    #[arg(long)]
    pub train: Option<PathBuf>,
    /// Training queries drawn (seeded); a base/learn vector identical to a query is not its neighbour.
    #[arg(long, default_value_t = 50_000)]
    pub train_queries: usize,
    #[arg(long, default_value_t = 150)]
    pub epochs: usize,
    /// Width of both hidden layers.
    #[arg(long, default_value_t = 256, value_parser = crate::bounds::hidden)]
    pub hidden: usize,
    #[arg(long, default_value_t = 1024, value_parser = crate::bounds::batch_size)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Gaussian noise on training queries, relative to the median nearest-neighbour distance.
    #[arg(long, default_value_t = 1.0)]
    pub noise: f32,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Duplication round every N epochs (0: no duplication).
    #[arg(long, default_value_t = 50)]
    pub dup_every: usize,
    /// Share of a round's misses duplicated (most confident first).
    #[arg(long, default_value_t = 0.2)]
    pub dup_share: f32,
    /// Cap on duplicated vectors, as a share of the vector count.
    #[arg(long, default_value_t = 0.1)]
    pub dup_cap: f32,
    /// Plain MLP: no learned centroid-distance prior on the logits.
    #[arg(long)]
    pub no_centroid_prior: bool,
    /// AdamW weight decay (decoupled).
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Keep the last epoch's weights, not the best on the held-out training queries.
    #[arg(long)]
    pub last_epoch: bool,
    /// Write the index with the duplicates here (the model is attached to it too).
    #[arg(long)]
    pub dup_out: Option<PathBuf>,
    #[arg(long, default_value_t = 1024)]
    pub mem_budget_mb: usize,
    /// Write the training report (JSON) here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Threads candle's kernels use (1 measured faster on two shared cores).
    #[arg(long, default_value_t = 1, value_parser = crate::bounds::candle_threads)]
    pub candle_threads: usize,
}

pub fn run(a: Args, ui: &Ui) -> Result<()> {
    let total = Instant::now();
    let mut index = Index::open(&a.index, OpenOptions::default())
        .with_context(|| format!("opening {}", a.index.display()))?;
    // One writer: fail now, not after the training, if another holds the index; held
    // until the weights and the config are both attached.
    index.lock_writer()?;
    if a.dup_out.is_some() && a.dup_every == 0 {
        anyhow::bail!("--dup-out needs duplication rounds: give --dup-every >= 1");
    }
    // Refused now, not after the training (and before the router is replaced).
    if let Some(d) = a.dup_out.as_ref().filter(|d| d.exists()) {
        anyhow::bail!(
            "--dup-out {} already exists; choose another path",
            d.display()
        );
    }
    let base = open_vectors(&a.base)?;
    index.check_base(base.as_ref())?;
    let train_src = match &a.train {
        Some(p) => open_vectors(p)?,
        None => open_vectors(&a.base)?,
    };
    let t = Instant::now();
    let holders = index.holders()?;
    let set = training_set(
        train_src.as_ref(),
        base.as_ref(),
        index.metric(),
        a.train_queries,
        a.seed,
        ui,
    )?;
    ui.done();
    let label_secs = t.elapsed().as_secs_f64();
    ui.note(&format!(
        "labelled {} training queries (exact nearest neighbours) in {label_secs:.1}s",
        set.len()
    ));
    let cfg = TrainConfig {
        hidden: a.hidden,
        epochs: a.epochs,
        batch: a.batch,
        lr: a.lr,
        noise: a.noise,
        seed: a.seed,
        dup_every: a.dup_every,
        dup_share: a.dup_share,
        dup_cap: a.dup_cap,
        centroid_prior: !a.no_centroid_prior,
        weight_decay: a.weight_decay,
        keep_best: !a.last_epoch,
        threads: a.candle_threads,
        ..Default::default()
    };
    let trained = train(
        &set,
        &holders,
        index.num_partitions(),
        index.metric(),
        index.centroids().centroids(),
        &cfg,
        ui,
        &mut |e| {
            if e.epoch == 1 || e.epoch % 10 == 0 {
                ui.note(&format!(
                    "epoch {:>4}  loss {:.4}  held-out top-1 {:.4}  ({:.2}s/epoch)",
                    e.epoch, e.loss, e.holdout_top1, e.secs
                ));
            }
        },
    )?;
    ui.done();
    for r in &trained.rounds {
        ui.note(&format!(
            "duplication at epoch {}: top-1 hit rate {:.4}, {} misses, {} copies added ({} total)",
            r.epoch, r.top1_hit_rate, r.misses, r.added, r.total_copies
        ));
    }
    let (batch_us, single_us) = inference_cost(&trained.model, &set.queries, set.dim)?;
    let n = holders.len();
    let summary = serde_json::json!({
        "index": a.index,
        "training_queries": set.len(),
        "train_source": a.train.as_ref().unwrap_or(&a.base),
        "config": cfg,
        "noise_sigma_per_component": trained.sigma,
        "params": trained.model.num_params(),
        "flops_per_query": trained.model.flops_per_query(),
        "label_secs": label_secs,
        "train_secs": trained.secs,
        "final_loss": trained.epochs.last().map(|e| e.loss),
        "epochs": trained.epochs,
        "holdout_top1": trained.holdout_top1,
        "holdout_centroid_top1": trained.holdout_centroid_top1,
        "holdout_centroid_top1_dup": trained.holdout_centroid_top1_dup,
        "holdout_chance": trained.holdout_chance,
        "holdout_queries": trained.holdout_queries,
        "dup_rounds": trained.rounds,
        "copies": trained.copies.len(),
        "storage_overhead": trained.copies.len() as f64 / n as f64,
        "inference_us_per_query_batch1000": batch_us,
        "inference_us_per_query_single": single_us,
        "candle_threads": cfg.threads,
    });
    save_router(&mut index, &trained.model, summary.clone())?;
    let mut out = summary;
    if let Some(dup) = &a.dup_out {
        let t = Instant::now();
        let rep = rewrite_with_copies(
            &index,
            &a.base,
            dup,
            &trained.copies,
            serde_json::json!({"rule": "mlp learned duplication", "copies": trained.copies.len(), "dup_every": a.dup_every, "dup_share": a.dup_share, "dup_cap": a.dup_cap}),
            a.mem_budget_mb,
            ui,
        )
        .with_context(|| format!("writing {}", dup.display()))?;
        ui.done();
        let mut dup_index = Index::open(dup, OpenOptions::default())?;
        dup_index.lock_writer()?;
        save_router(&mut dup_index, &trained.model, out.clone())?;
        out["dup_index"] = serde_json::to_value(&rep)?;
        out["rewrite_secs"] = t.elapsed().as_secs_f64().into();
    }
    out["total_secs"] = total.elapsed().as_secs_f64().into();
    let text = serde_json::to_string_pretty(&out)?;
    if let Some(p) = &a.report {
        std::fs::write(p, &text).with_context(|| format!("writing {}", p.display()))?;
    }
    println!("{text}");
    Ok(())
}

/// Microseconds of router inference per query: in one batch of up to 1000, and one
/// query at a time (up to 200), on training queries (timing only).
fn inference_cost(model: &Mlp, queries: &[f32], dim: usize) -> Result<(f64, f64)> {
    let n = (queries.len() / dim).min(1000);
    let block = &queries[..n * dim];
    model.probabilities(block)?;
    let t = Instant::now();
    model.probabilities(block)?;
    let batch = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let m = n.min(200);
    let t = Instant::now();
    for q in block.chunks_exact(dim).take(m) {
        model.probabilities(q)?;
    }
    let single = t.elapsed().as_secs_f64() * 1e6 / m as f64;
    Ok((batch, single))
}
