//! `quarry labels`: per-vector labels for filtered-search benchmarks, written as
//! big-ann-benchmarks `.spmat`, in two kinds:
//!
//! - `zipf`: independent of the vectors. Each vector draws `--per-vector` distinct
//!   labels from a Zipf(s) distribution over `--labels` labels, so label
//!   frequencies span several orders of magnitude (the frequent labels of a
//!   catalogue and its long tail).
//! - `clustered`: correlated with the vectors (the hard case for a partitioned
//!   index: a label's matches sit in a few regions of space, usually far from a
//!   query). For each level L of `--levels` (e.g. 2,10,100,1000), L centres are
//!   drawn from the base rows and each vector gets the label of its nearest
//!   centre at that level (labels of level i follow those of level i-1), like a
//!   category tree: a level-L label holds about 1/L of the vectors.
//!
//! `--kind zipf,clustered` writes both sets in one file, the second's labels
//! numbered after the first's (one index then serves both experiments).
//! The output depends only on the arguments (ChaCha8 stream of `--seed`). A JSON
//! summary with every label's count and each set's label range goes to `--counts-out`.

use crate::progress::Ui;
use anyhow::{bail, Context, Result};
use quarry_engine::{Metric, Progress};
use quarry_formats::open_vectors;
use quarry_routing::CentroidIndex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::path::PathBuf;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Zipf,
    Clustered,
}

#[derive(clap::Args)]
pub struct Args {
    /// The vectors to label (.fvecs .fbin .u8bin .npy ...).
    #[arg(long)]
    pub base: PathBuf,
    /// Output labels (.spmat).
    #[arg(long)]
    pub out: PathBuf,
    /// zipf, clustered, or both (comma-separated; label sets numbered in order).
    #[arg(long, value_enum, value_delimiter = ',', required = true)]
    pub kind: Vec<Kind>,
    /// zipf: number of distinct labels.
    #[arg(long, default_value_t = 1000)]
    pub labels: u32,
    /// zipf: labels per vector.
    #[arg(long, default_value_t = 3)]
    pub per_vector: u32,
    /// zipf: exponent s (P(label r) ~ 1 / (r + 1)^s).
    #[arg(long, default_value_t = 1.1)]
    pub zipf_s: f64,
    /// clustered: centres per level.
    #[arg(long, value_delimiter = ',', default_value = "2,10,100,1000")]
    pub levels: Vec<u32>,
    /// clustered: the distance used for the nearest centre.
    #[arg(long, default_value = "l2")]
    pub metric: Metric,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Writes {"labels": [[label, count], ...], "n": N} here.
    #[arg(long)]
    pub counts_out: Option<PathBuf>,
}

pub fn run(a: Args, ui: &Ui) -> Result<()> {
    let base = open_vectors(&a.base)?;
    let n = base.len();
    let mut rows: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut sets = Vec::new();
    let mut first = 0u32;
    for kind in &a.kind {
        let (set, width) = match kind {
            Kind::Zipf => (zipf(n, &a)?, a.labels),
            Kind::Clustered => (clustered(base.as_ref(), &a, ui)?, a.levels.iter().sum()),
        };
        for (r, s) in rows.iter_mut().zip(set) {
            r.extend(s.into_iter().map(|l| l + first));
        }
        sets.push(serde_json::json!({"kind": format!("{kind:?}").to_lowercase(), "first": first, "labels": width}));
        first += width;
    }
    let ncol = rows.iter().flatten().copied().max().map_or(0, |m| m + 1);
    quarry_filter::write_spmat(&a.out, ncol, &rows)
        .with_context(|| format!("writing {}", a.out.display()))?;
    let mut counts = vec![0u64; ncol as usize];
    for r in &rows {
        for &l in r {
            counts[l as usize] += 1;
        }
    }
    if let Some(p) = &a.counts_out {
        let labels: Vec<(usize, u64)> = counts.iter().copied().enumerate().collect();
        let summary = serde_json::json!({"n": n, "sets": sets, "labels": labels});
        std::fs::write(p, serde_json::to_string(&summary)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    eprintln!(
        "labels: {n} vectors, {ncol} labels, {} assignments -> {}",
        counts.iter().sum::<u64>(),
        a.out.display()
    );
    Ok(())
}

fn zipf(n: usize, a: &Args) -> Result<Vec<Vec<u32>>> {
    if a.labels == 0 || a.per_vector == 0 || a.per_vector > a.labels {
        bail!("--per-vector must be in 1..=--labels, and --labels at least 1");
    }
    if !(a.zipf_s.is_finite() && a.zipf_s >= 0.0) {
        bail!("--zipf-s must be a finite number >= 0");
    }
    let mut cdf = Vec::with_capacity(a.labels as usize);
    let mut acc = 0.0;
    for r in 0..a.labels {
        acc += 1.0 / ((r + 1) as f64).powf(a.zipf_s);
        cdf.push(acc);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let mut rows = Vec::with_capacity(n);
    for _ in 0..n {
        let mut row: Vec<u32> = Vec::with_capacity(a.per_vector as usize);
        while row.len() < a.per_vector as usize {
            let u = rng.random::<f64>() * acc;
            let l = cdf.partition_point(|&c| c < u).min(cdf.len() - 1) as u32;
            if !row.contains(&l) {
                row.push(l);
            }
        }
        row.sort_unstable();
        rows.push(row);
    }
    Ok(rows)
}

fn clustered(base: &dyn quarry_formats::VectorSource, a: &Args, ui: &Ui) -> Result<Vec<Vec<u32>>> {
    let (n, dim) = (base.len(), base.dim());
    if a.levels.is_empty() || a.levels.iter().any(|&l| l == 0 || l as usize > n) {
        bail!("--levels: each level needs 1..={n} centres");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let mut indexes = Vec::new();
    let mut offset = 0u32;
    for &l in &a.levels {
        let picks = rand::seq::index::sample(&mut rng, n, l as usize);
        let mut c = Vec::with_capacity(l as usize * dim);
        for i in picks.iter() {
            c.extend(base.read_range(i, 1)?.to_f32());
        }
        indexes.push((offset, CentroidIndex::new(c, dim, a.metric)));
        offset += l;
    }
    let mut rows: Vec<Vec<u32>> = vec![Vec::new(); n];
    const CHUNK: usize = 16384;
    ui.stage("nearest centres", n as u64);
    for s in (0..n).step_by(CHUNK) {
        let cnt = CHUNK.min(n - s);
        let data = base.read_range(s, cnt)?.to_f32();
        let labelled: Vec<Vec<u32>> = data
            .par_chunks(256 * dim)
            .map(|block| -> Result<Vec<Vec<u32>>> {
                let mut out = vec![Vec::with_capacity(indexes.len()); block.len() / dim];
                for (off, idx) in &indexes {
                    let r = idx.rank_exact(block, 1)?;
                    for (o, q) in out.iter_mut().zip(&r.per_query) {
                        o.push(off + q[0].0);
                    }
                }
                Ok(out)
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect();
        for (i, l) in labelled.into_iter().enumerate() {
            rows[s + i] = l;
        }
        ui.advance(cnt as u64);
    }
    ui.done();
    Ok(rows)
}
