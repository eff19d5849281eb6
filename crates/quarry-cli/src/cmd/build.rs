use crate::progress::Ui;
use crate::rss::peak_rss_mb;
use anyhow::{Context, Result};
use quarry_engine::{build_index_with, BuildConfig, Clustering, Metric};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Vectors to index (.fvecs .bvecs .fbin .u8bin .i8bin .npy).
    #[arg(long)]
    pub base: PathBuf,
    /// Index directory to create (must not exist).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of partitions.
    #[arg(long)]
    pub partitions: usize,
    #[arg(long, default_value = "l2")]
    pub metric: Metric,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Memory for vector data held at once, in MiB.
    #[arg(long, default_value_t = 1024)]
    pub mem_budget_mb: usize,
    /// Partition sizes are bounded by (1 + eps) * n / partitions.
    #[arg(long, default_value_t = 0.1)]
    pub balance_eps: f32,
    /// Lloyd iterations on the training sample.
    #[arg(long, default_value_t = 10)]
    pub iters: usize,
    /// Mini-batch passes over the whole file.
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Training sample per partition.
    #[arg(long, default_value_t = 256)]
    pub sample_per_partition: usize,
    /// Also train the learned-pruning model (see `quarry train-pruning`).
    #[arg(long)]
    pub train_pruning: bool,
    #[command(flatten)]
    pub pruning: crate::cmd::train_pruning::PruningArgs,
    /// SPANN-style closure replication: also store each vector in the partitions whose
    /// centroid distance is within (1 + eps) of its nearest one's (at most --replicate-max copies).
    #[arg(long)]
    pub replicate_eps: Option<f32>,
    /// Most copies of a vector with --replicate-eps (its own partition included).
    #[arg(long, default_value_t = 8)]
    pub replicate_max: usize,
    /// Centroid training: `flat` (every vector against every centroid), `hierarchical`
    /// (two levels: coarse centroids, then balanced k-means inside each; for 10^4+
    /// partitions), or `auto` (hierarchical from 8192 partitions).
    #[arg(long, default_value = "auto")]
    pub clustering: ClusteringArg,
    /// Coarse centroids of a hierarchical build (0: round(sqrt(partitions))).
    #[arg(long, default_value_t = 0)]
    pub coarse: usize,
    /// Coarse clusters whose partitions each vector is compared with (hierarchical).
    #[arg(long, default_value_t = 3, value_parser = crate::bounds::coarse_probe)]
    pub coarse_probe: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also build per-partition HNSW graphs (as `quarry graph-build` with its defaults).
    #[arg(long)]
    pub graphs: bool,
    /// Labels and attributes per vector, for filtered search (`search --filter`).
    #[command(flatten)]
    pub meta: crate::cmd::meta::MetaArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ClusteringArg {
    Auto,
    Flat,
    Hierarchical,
}

pub fn run(a: Args, ui: &Ui) -> Result<()> {
    if a.coarse > a.partitions {
        anyhow::bail!(
            "--coarse {} is more than --partitions {}: each coarse centroid needs partitions of its own",
            a.coarse,
            a.partitions
        );
    }
    let mut cfg = BuildConfig::new(a.partitions, a.metric);
    cfg.clustering = match a.clustering {
        ClusteringArg::Auto => match Clustering::auto(a.partitions) {
            Clustering::Hierarchical { .. } => Clustering::Hierarchical {
                coarse: a.coarse,
                probe: a.coarse_probe,
            },
            flat => flat,
        },
        ClusteringArg::Flat => Clustering::Flat,
        ClusteringArg::Hierarchical => Clustering::Hierarchical {
            coarse: a.coarse,
            probe: a.coarse_probe,
        },
    };
    cfg.seed = a.seed;
    cfg.mem_budget_mb = a.mem_budget_mb;
    cfg.balance_eps = a.balance_eps;
    cfg.sample_iters = a.iters;
    cfg.epochs = a.epochs;
    cfg.sample_per_centroid = a.sample_per_partition;
    cfg.replicate = a.replicate_eps.map(|eps| (eps, a.replicate_max));
    // With extra parts (graphs, a pruning model) the index is built and completed in
    // a staging directory and appears at --out only whole: a kill or a failure in a
    // later step leaves no index for a rerun to refuse.
    let extras = a.graphs || a.train_pruning;
    let target = if extras {
        quarry_storage::staging_dir(&a.out)
            .with_context(|| format!("building {}", a.out.display()))?
    } else {
        a.out.clone()
    };
    let staged = Staged(extras.then(|| target.clone()));
    let src = quarry_formats::open_vectors(&a.base)?;
    // Metadata files are read and checked before any training.
    let meta = a.meta.load(src.len() as u64)?;
    let mut report = build_index_with(src.as_ref(), meta.as_ref(), &target, &cfg, ui)
        .with_context(|| format!("building {}", a.out.display()))?;
    ui.done();
    let pruning = if a.train_pruning {
        Some(crate::cmd::train_pruning::train(
            &target, &a.base, a.seed, &a.pruning, ui,
        )?)
    } else {
        None
    };
    if a.graphs {
        crate::cmd::graph_build::build(&target, quarry_engine::HnswParams::default(), ui, a.json)?;
    }
    if extras {
        quarry_storage::publish_staged(&target, &a.out)
            .with_context(|| format!("building {}", a.out.display()))?;
        std::mem::forget(staged);
        report.dir = a.out.clone();
    }
    let rss = peak_rss_mb();
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["peak_rss_mb"] = serde_json::json!(rss);
        v["pruning"] = serde_json::to_value(&pruning)?;
        println!("{v}");
    } else {
        println!(
            "built {} : {} vectors x {} ({}), {}",
            report.dir.display(),
            report.num_vectors,
            report.dim,
            report.dtype,
            report.sizes
        );
        // CPU utilisation of a phase: its CPU time over wall time x threads.
        let util = |cpu: f64, wall: f64| 100.0 * cpu / (wall * report.threads as f64).max(1e-9);
        println!(
            "moved by size bound: {} | replicas: {} | write passes: {} | train {:.2}s ({:.0}% of {} threads), assign {:.2}s ({:.0}%), write {:.2}s ({:.0}%), total {:.2}s | kernels {} | peak RSS {:.1} MiB",
            report.moved,
            report.replicas,
            report.write_passes,
            report.train_secs,
            util(report.train_cpu_secs, report.train_secs),
            report.threads,
            report.assign_secs,
            util(report.assign_cpu_secs, report.assign_secs),
            report.write_secs,
            util(report.write_cpu_secs, report.write_secs),
            report.total_secs,
            quarry_kernels::isa::active(),
            rss
        );
        if !report.resumed.is_empty() {
            println!(
                "resumed from checkpoints of an interrupted run: {}",
                report.resumed.join(", ")
            );
        }
        if let Some(p) = &pruning {
            crate::cmd::train_pruning::print_report(p);
        }
    }
    Ok(())
}

/// Removes a staging directory when the build fails after creating it.
struct Staged(Option<std::path::PathBuf>);

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(d) = &self.0 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
