//! The newcomer's first command: a real dataset (TEXMEX SIFT10K, shipped inside the
//! binary) built into an on-disk index and searched, with recall against the
//! shipped exact ground truth.

use crate::cmd::search::{
    run_point, BatchOrder, Point, RouterKind, SearchOpts, SearchReport, Workload,
};
use crate::progress::Ui;
use anyhow::{Context, Result};
use quarry_engine::{build_index, BuildConfig, IoMode, Metric, SearchParams, Strategy};
use std::path::Path;

const BASE: &[u8] = include_bytes!("../../../../tests/fixtures/siftsmall/siftsmall_base.bvecs");
const QUERIES: &[u8] = include_bytes!("../../../../tests/fixtures/siftsmall/siftsmall_query.fvecs");
const GT: &[u8] =
    include_bytes!("../../../../tests/fixtures/siftsmall/siftsmall_groundtruth.ivecs");

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 32)]
    pub partitions: usize,
    #[arg(long, default_value = "direct")]
    pub io: IoMode,
    /// Keep the demo files in this directory instead of a temporary one.
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
}

pub fn run(a: Args, ui: &Ui) -> Result<()> {
    let tmp;
    let dir: &Path = match &a.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d
        }
        None => {
            // Under the working directory rather than /tmp: tmpfs has no O_DIRECT.
            tmp = tempfile::Builder::new()
                .prefix(".quarry-demo-")
                .tempdir_in(".")
                .context("creating a demo directory")?;
            tmp.path()
        }
    };
    let base = dir.join("siftsmall_base.bvecs");
    let queries = dir.join("siftsmall_query.fvecs");
    let gt = dir.join("siftsmall_groundtruth.ivecs");
    for (p, bytes) in [(&base, BASE), (&queries, QUERIES), (&gt, GT)] {
        std::fs::write(p, bytes).with_context(|| format!("writing {}", p.display()))?;
    }
    let index = dir.join("siftsmall.quarry");
    if index.exists() {
        std::fs::remove_dir_all(&index)
            .with_context(|| format!("removing old {}", index.display()))?;
    }
    println!(
        "SIFT10K (10,000 x 128 u8, L2, 100 queries): building {} balanced partitions ...",
        a.partitions
    );
    let report = build_index(
        &base,
        &index,
        &BuildConfig::new(a.partitions, Metric::L2),
        ui,
    )?;
    ui.done();
    println!("  {} in {:.2}s", report.sizes, report.total_secs);
    println!();
    println!(
        "{:>6} {:>6} {:>10} {:>10} {:>12} {:>14} {:>12}",
        "nprobe", "batch", "recall@10", "QPS", "vectors/q", "bytes/q", "parts read/q"
    );
    let opts = SearchOpts {
        index: index.clone(),
        queries: queries.clone(),
        k: 10,
        spann_eps: None,
        router: RouterKind::Fixed,
        max_nprobe: None,
        mlp_order: false,
        io: a.io,
        io_threads: 8,
        order: BatchOrder::Centroid,
        mode: Strategy::Scan,
        filter: crate::cmd::meta::FilterArgs {
            filter: None,
            filter_plan: Default::default(),
            exact_max_matches: None,
        },
    };
    // One open index; queries and ground truth read once.
    let w = Workload::load(&opts, Some(&gt), None)?;
    for nprobe in [1, 2, 4, 8, a.partitions] {
        for batch in [1, 100] {
            let r: SearchReport = run_point(
                &w,
                &Point {
                    opts: &opts,
                    params: SearchParams::new(10).nprobe(nprobe),
                    batch_size: batch,
                    limit: None,
                    keep_results: false,
                },
                &Ui::new(false),
            )?
            .report;
            println!(
                "{:>6} {:>6} {:>10.4} {:>10.0} {:>12.1} {:>14.0} {:>12.2}",
                nprobe,
                batch,
                r.recall_at_k.unwrap_or(f64::NAN),
                r.qps,
                r.vectors_per_query,
                r.bytes_per_query,
                r.partitions_read_per_query
            );
        }
    }
    println!();
    println!(
        "I/O: {} (page cache bypassed for direct). A batch reads each partition once for all",
        a.io.name()
    );
    println!("its queries, so bytes per query fall with batch size at equal recall.");
    Ok(())
}
