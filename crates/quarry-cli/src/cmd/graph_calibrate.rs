//! `quarry dev graph-calibrate`: measures scan vs graph search cost per partition
//! for growing numbers of routed queries, fits the auto strategy's cost model to the
//! points and (with --save) attaches it to the index.

use anyhow::{bail, Result};
use quarry_engine::{CostModel, Index, OpenOptions};
use quarry_formats::read_queries;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub index: PathBuf,
    #[arg(long)]
    pub queries: PathBuf,
    /// Comma-separated numbers of queries routed to the partition.
    #[arg(long, default_value = "1,4,16,64,256")]
    pub q: String,
    #[arg(long, default_value_t = 64, value_parser = crate::bounds::ef)]
    pub ef: usize,
    #[arg(long, default_value_t = 10, value_parser = crate::bounds::k)]
    pub k: usize,
    /// Partitions measured (the first N).
    #[arg(long, default_value_t = 3)]
    pub partitions: u32,
    /// Runs per point; the fastest counts (timings on a shared machine are noisy).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Attach the fitted cost model to the index (the auto strategy uses it from then on).
    #[arg(long)]
    pub save: bool,
}

pub fn run(a: Args) -> Result<()> {
    let mut index = Index::open(&a.index, OpenOptions::default())?;
    if a.save {
        // A writer: take the lock before measuring, not after.
        index.lock_writer()?;
    }
    let mut points = Vec::new();
    let q = read_queries(&a.queries)?;
    if q.dim != index.dim() {
        bail!(
            "queries have {} dimensions, index expects {}",
            q.dim,
            index.dim()
        );
    }
    let qs: Vec<usize> =
        a.q.split(',')
            .map(|t| {
                t.trim()
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--q: '{t}' is not a number"))
            })
            .collect::<Result<_>>()?;
    println!(
        "{:>4} {:>7} {:>5} {:>5} {:>11} {:>11} {:>10} {:>14} {:>14} {:>8} {:>6}",
        "pid",
        "n",
        "q",
        "ef",
        "scan us/q",
        "graph us/q",
        "dists/q",
        "scan ns/(v*d)",
        "graph ns/(D*d)",
        "winner",
        "model"
    );
    for pid in 0..a.partitions.min(index.num_partitions() as u32) {
        for &nq in &qs {
            let mut p = index.measure_partition_costs(pid, &q.data, nq, a.ef, a.k)?;
            for _ in 1..a.repeat {
                let r = index.measure_partition_costs(pid, &q.data, nq, a.ef, a.k)?;
                p.scan_secs = p.scan_secs.min(r.scan_secs);
                p.graph_secs = p.graph_secs.min(r.graph_secs);
            }
            let per = |s: f64| s * 1e6 / p.q as f64;
            let dq = p.graph_distances as f64 / p.q as f64;
            println!(
                "{:>4} {:>7} {:>5} {:>5} {:>11.1} {:>11.1} {:>10.0} {:>14.4} {:>14.4} {:>8} {:>6}",
                pid,
                p.n,
                p.q,
                p.ef,
                per(p.scan_secs),
                per(p.graph_secs),
                dq,
                p.scan_secs * 1e9 / (p.q * p.n * p.dim) as f64,
                p.graph_secs * 1e9 / (p.graph_distances as f64 * p.dim as f64),
                if p.graph_secs < p.scan_secs {
                    "graph"
                } else {
                    "scan"
                },
                if p.model_prefers_graph {
                    "graph"
                } else {
                    "scan"
                }
            );
            println!("{}", serde_json::to_string(&p)?);
            points.push(p);
        }
    }
    let fitted = index.cost_model().fit(&points)?;
    println!("fitted cost model: {}", serde_json::to_string(&fitted)?);
    if fitted == index.cost_model() {
        println!("(unchanged)");
    }
    if a.save {
        index.save_cost_model(fitted)?;
        println!("attached to {}", a.index.display());
    } else if fitted != CostModel::default() {
        println!("pass --save to attach it to the index");
    }
    Ok(())
}
