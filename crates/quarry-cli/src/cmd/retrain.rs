//! `quarry retrain`: trains an index's learned routers again on the vectors it
//! holds now, after writes, splits and merges (see the README's policy: a GBDT
//! model trained before splits keeps predicting counts, a stale MLP falls back
//! to centroid order). The index's vectors are exported in id order to a
//! scratch file beside it (ids must be exactly 0..n) and used as the base of
//! `train-pruning` (with --learn when given) and `mlp-train`, with their
//! default settings; which routers are trained: those the index has (or had
//! before a merge dropped the MLP), or --routers.

use crate::progress::Ui;
use anyhow::{bail, Context, Result};
use clap::Parser;
use quarry_engine::{Index, OpenOptions};
use quarry_kernels::DType;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub index: PathBuf,
    /// Routers to train: gbdt, mlp (comma-separated; default: those the index has).
    #[arg(long)]
    pub routers: Option<String>,
    /// GBDT training queries (as train-pruning --learn).
    #[arg(long)]
    pub learn: Option<PathBuf>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Training queries of each router (as their --train-queries).
    #[arg(long, default_value_t = 50_000)]
    pub train_queries: usize,
}

/// Parses a subcommand's arguments the way its command line would.
#[derive(Parser)]
struct Wrap<T: clap::Args> {
    #[command(flatten)]
    a: T,
}

pub fn run(a: Args, ui: &Ui) -> Result<()> {
    let index = Index::open(&a.index, OpenOptions::default())
        .with_context(|| format!("opening {}", a.index.display()))?;
    let routers: Vec<String> = match &a.routers {
        Some(list) => list.split(',').map(|s| s.trim().to_string()).collect(),
        None => index.manifest().routers.clone(),
    };
    if routers.is_empty() {
        bail!(
            "{} has no learned router; name them with --routers gbdt,mlp",
            a.index.display()
        );
    }
    for r in &routers {
        if r != "gbdt" && r != "mlp" {
            bail!("--routers {r}: use gbdt and/or mlp");
        }
    }
    let bytes = index.export_vectors()?;
    let (dim, dtype) = (index.dim(), index.dtype());
    drop(index);
    let dir = tempfile::tempdir_in(a.index.parent().unwrap_or(std::path::Path::new(".")))?;
    let base = dir.path().join(match dtype {
        DType::F32 => "base.fbin",
        DType::U8 => "base.u8bin",
        DType::I8 => "base.i8bin",
    });
    match dtype {
        DType::F32 => quarry_formats::write_fbin(&base, dim, bytemuck::cast_slice(&bytes))?,
        DType::U8 => quarry_formats::write_u8bin(&base, dim, &bytes)?,
        DType::I8 => quarry_formats::write_i8bin(&base, dim, bytemuck::cast_slice(&bytes))?,
    }
    let (idx, b) = (
        a.index.to_string_lossy().to_string(),
        base.to_string_lossy().to_string(),
    );
    let seed = a.seed.to_string();
    let tq = a.train_queries.to_string();
    for r in &routers {
        eprintln!(
            "retraining the {r} router of {idx} on its {} vectors",
            bytes.len() / (dim * dtype.size())
        );
        // Both trainers take the same base, seed and query count.
        let mut args = vec![
            "x",
            "--index",
            &idx,
            "--base",
            &b,
            "--seed",
            &seed,
            "--train-queries",
            &tq,
        ];
        if r == "gbdt" {
            let learn = a.learn.as_ref().map(|l| l.to_string_lossy().to_string());
            if let Some(l) = &learn {
                args.extend(["--learn", l]);
            }
            super::train_pruning::run(
                Wrap::<super::train_pruning::Args>::try_parse_from(args)?.a,
                ui,
            )?;
        } else {
            super::mlp_train::run(Wrap::<super::mlp_train::Args>::try_parse_from(args)?.a, ui)?;
        }
    }
    Ok(())
}
