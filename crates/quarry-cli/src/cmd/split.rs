//! Deterministic dataset split: held-out queries, the remaining base, and a training
//! sample for learned routers drawn from the base (never from the queries).

use crate::progress::Ui;
use anyhow::{bail, Result};
use quarry_engine::Progress;
use quarry_formats::{open_vectors, BinWriter, ChunkData};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub input: PathBuf,
    /// Vectors to hold out as queries.
    #[arg(long)]
    pub holdout: usize,
    #[arg(long)]
    pub queries_out: PathBuf,
    #[arg(long)]
    pub base_out: PathBuf,
    /// Size of the training sample drawn from the base (0: none).
    #[arg(long, default_value_t = 0)]
    pub learn: usize,
    #[arg(long)]
    pub learn_out: Option<PathBuf>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// The same file named twice (or the input named as an output) would be written
/// over itself: refused before anything is read or written.
fn check_distinct(paths: &[(&str, &std::path::Path)]) -> Result<()> {
    let key = |p: &std::path::Path| -> PathBuf {
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        match (
            abs.parent().and_then(|d| d.canonicalize().ok()),
            abs.file_name(),
        ) {
            (Some(d), Some(f)) => d.join(f),
            _ => abs,
        }
    };
    for (i, (fa, pa)) in paths.iter().enumerate() {
        for (fb, pb) in &paths[i + 1..] {
            if key(pa) == key(pb) {
                bail!(
                    "{fa} and {fb} name the same file {}; give distinct paths",
                    pa.display()
                );
            }
        }
    }
    Ok(())
}

pub fn run(a: Args, ui: &Ui) -> Result<()> {
    let mut paths = vec![
        ("--input", a.input.as_path()),
        ("--queries-out", a.queries_out.as_path()),
        ("--base-out", a.base_out.as_path()),
    ];
    if let Some(l) = &a.learn_out {
        paths.push(("--learn-out", l.as_path()));
    }
    check_distinct(&paths)?;
    let src = open_vectors(&a.input)?;
    let n = src.len();
    if a.holdout == 0 || a.holdout >= n {
        bail!(
            "--holdout must be between 1 and {} (the file has {n} vectors)",
            n - 1
        );
    }
    if a.learn > 0 && a.learn_out.is_none() {
        bail!("--learn needs --learn-out");
    }
    if a.learn > n - a.holdout {
        bail!(
            "--learn {} exceeds the {} base vectors left after the holdout",
            a.learn,
            n - a.holdout
        );
    }
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed);
    let mut is_query = vec![false; n];
    for i in rand::seq::index::sample(&mut rng, n, a.holdout) {
        is_query[i] = true;
    }
    // Training rows are positions in the new base (rows that are not queries).
    let mut is_learn = vec![false; n - a.holdout];
    if a.learn > 0 {
        for i in rand::seq::index::sample(&mut rng, n - a.holdout, a.learn) {
            is_learn[i] = true;
        }
    }
    let (dim, dtype) = (src.dim(), src.dtype());
    let mut qw = BinWriter::create(&a.queries_out, dtype, dim)?;
    let mut bw = BinWriter::create(&a.base_out, dtype, dim)?;
    let mut lw = match &a.learn_out {
        Some(p) if a.learn > 0 => Some(BinWriter::create(p, dtype, dim)?),
        _ => None,
    };
    ui.stage("split", n as u64);
    let chunk = 65536;
    let mut base_row = 0usize;
    for s in (0..n).step_by(chunk) {
        let cnt = chunk.min(n - s);
        let data = src.read_range(s, cnt)?;
        for r in 0..cnt {
            let row = slice_row(&data, r, dim);
            if is_query[s + r] {
                append(&mut qw, &row)?;
            } else {
                append(&mut bw, &row)?;
                if is_learn[base_row] {
                    if let Some(w) = lw.as_mut() {
                        append(w, &row)?;
                    }
                }
                base_row += 1;
            }
        }
        ui.advance(cnt as u64);
    }
    ui.done();
    qw.finish()?;
    bw.finish()?;
    if let Some(w) = lw {
        w.finish()?;
    }
    eprintln!(
        "split {n} vectors: {} queries, {} base, {} training (seed {})",
        a.holdout,
        n - a.holdout,
        a.learn,
        a.seed
    );
    Ok(())
}

fn slice_row(c: &ChunkData, r: usize, dim: usize) -> ChunkData {
    match c {
        ChunkData::F32(v) => ChunkData::F32(v[r * dim..(r + 1) * dim].to_vec()),
        ChunkData::U8(v) => ChunkData::U8(v[r * dim..(r + 1) * dim].to_vec()),
        ChunkData::I8(v) => ChunkData::I8(v[r * dim..(r + 1) * dim].to_vec()),
    }
}

fn append(w: &mut BinWriter, row: &ChunkData) -> Result<()> {
    match row {
        ChunkData::F32(v) => w.append_f32(v)?,
        ChunkData::U8(v) => w.append_u8(v)?,
        ChunkData::I8(v) => w.append_u8(&v.iter().map(|&x| x as u8).collect::<Vec<_>>())?,
    }
    Ok(())
}
