use crate::progress::Ui;
use anyhow::{bail, Result};
use quarry_engine::{exact_knn_filtered, Metric};
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
    /// With --filter: the labels and attributes of the base vectors.
    #[command(flatten)]
    pub meta: crate::cmd::meta::MetaArgs,
    /// Ground truth among the vectors matching EXPR only (rows padded with -1
    /// when fewer than k match).
    #[arg(long, value_name = "EXPR", value_parser = |s: &str| quarry_engine::Filter::parse(s).map_err(|e| e.to_string()))]
    pub filter: Option<quarry_engine::Filter>,
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
    let allowed = match &a.filter {
        Some(f) => {
            let Some(meta) = a.meta.load(base.len() as u64)? else {
                bail!("--filter needs the base's --labels and/or --attr files");
            };
            let m = meta.evaluate(f)?;
            eprintln!("filter '{f}': {} of {} vectors match", m.len(), base.len());
            Some(m)
        }
        None => None,
    };
    let t = std::time::Instant::now();
    let res = exact_knn_filtered(
        base.as_ref(),
        &q.data,
        a.metric,
        a.k,
        a.chunk_rows,
        allowed.as_ref(),
        ui,
    )?;
    ui.done();
    // Rows with fewer than k matches are padded: id -1, distance +inf.
    let pad = |r: &Vec<quarry_engine::Neighbor>| (r.len()..a.k).map(|_| (u32::MAX, f32::INFINITY));
    let ids: Vec<u32> = res
        .iter()
        .flat_map(|r| r.iter().map(|n| n.id as u32).chain(pad(r).map(|p| p.0)))
        .collect();
    let dists: Vec<f32> = res
        .iter()
        .flat_map(|r| r.iter().map(|n| n.dist).chain(pad(r).map(|p| p.1)))
        .collect();
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
