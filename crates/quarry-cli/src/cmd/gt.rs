use crate::progress::Ui;
use anyhow::{bail, Result};
use quarry_engine::{exact_knn, Metric};
use quarry_formats::{open_vectors, read_queries, write_ibin, write_ivecs};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub base: PathBuf,
    #[arg(long)]
    pub queries: PathBuf,
    #[arg(long, value_parser = crate::bounds::k)]
    pub k: usize,
    /// Output: .ivecs or .ibin (the latter with distances).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value = "l2")]
    pub metric: Metric,
    /// Base rows per streamed chunk.
    #[arg(long, default_value_t = 65536)]
    pub chunk_rows: usize,
}

pub fn run(a: Args, ui: &Ui) -> Result<()> {
    let base = open_vectors(&a.base)?;
    let q = read_queries(&a.queries)?;
    if q.dim != base.dim() {
        bail!(
            "queries have {} dimensions, base vectors have {}",
            q.dim,
            base.dim()
        );
    }
    let t = std::time::Instant::now();
    let res = exact_knn(base.as_ref(), &q.data, a.metric, a.k, a.chunk_rows, ui)?;
    ui.done();
    let ids: Vec<u32> = res
        .iter()
        .flat_map(|r| r.iter().map(|n| n.id as u32))
        .collect();
    let dists: Vec<f32> = res.iter().flat_map(|r| r.iter().map(|n| n.dist)).collect();
    match a.out.extension().and_then(|e| e.to_str()) {
        Some("ivecs") => write_ivecs(&a.out, a.k, &ids)?,
        Some("ibin") => write_ibin(&a.out, a.k, &ids, Some(&dists))?,
        _ => bail!(
            "{}: ground truth output must end in .ivecs or .ibin",
            a.out.display()
        ),
    }
    eprintln!(
        "ground truth: {} queries x top-{} over {} vectors in {:.2}s -> {}",
        q.n,
        a.k,
        base.len(),
        t.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}
