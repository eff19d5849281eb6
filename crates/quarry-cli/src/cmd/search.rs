//! `quarry search`: a query file against an index, with recall, cost and (with
//! `--out`) the answers. `bench` and `demo` run the same code (`run_point`) on one
//! open index with queries and ground truth loaded once.

use crate::progress::Ui;
use crate::rss::peak_rss_mb;
use anyhow::{bail, Context, Result};
use quarry_engine::{
    BatchStats, GbdtRule, Index, IoMode, OpenOptions, ProbeRule, Progress, RouterSpec,
    SearchParams, Strategy,
};
use quarry_formats::{read_ground_truth, read_queries, GroundTruth, QuerySet};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Flags shared by `search` and `bench`: what to open and how to route and search.
#[derive(clap::Args, Clone)]
pub struct SearchOpts {
    #[arg(long)]
    pub index: PathBuf,
    #[arg(long)]
    pub queries: PathBuf,
    #[arg(long, default_value_t = 10, value_parser = crate::bounds::k)]
    pub k: usize,
    /// Use SPANN's rule: probe partitions within (1 + eps) of the nearest
    /// centroid's distance (--nprobe is the cap).
    #[arg(long)]
    pub spann_eps: Option<f32>,
    /// Router: fixed (the nprobe nearest centroids, or SPANN's rule with --spann-eps;
    /// alias `centroid`), gbdt (the index's learned pruning model; see `quarry
    /// train-pruning`) or mlp (the MLP attached by `quarry mlp-train`, partitions in
    /// probability order; --nprobe is the count or, with --mlp-mass, the cap).
    #[arg(long, default_value = "fixed")]
    pub router: RouterKind,
    /// gbdt margin mode: probe cap (default: the model's).
    #[arg(long, value_parser = crate::bounds::nprobe)]
    pub max_nprobe: Option<usize>,
    /// With --router gbdt: the GBDT model picks how many partitions, the index's MLP
    /// router which ones (its most probable).
    #[arg(long)]
    pub mlp_order: bool,
    /// direct (page cache bypassed) or buffered.
    #[arg(long, default_value = "direct")]
    pub io: IoMode,
    /// Threads issuing reads (device queue depth).
    #[arg(long, default_value_t = 8, value_parser = crate::bounds::io_threads)]
    pub io_threads: usize,
    /// How a query stream is cut into batches: `centroid` groups queries that share
    /// their nearest partition (BAM-ANN's batch-aware organisation), `input` keeps file order.
    #[arg(long, default_value = "centroid")]
    pub order: BatchOrder,
    /// How a read partition answers its queries: scan (GEMM over all its vectors),
    /// graph (HNSW search of its graph), auto (per partition, by the cost model) or
    /// partial (graph search reading only the 4 KiB pages it visits). Graph
    /// strategies need `quarry graph-build` first.
    #[arg(long, default_value = "scan")]
    pub mode: Strategy,
    #[command(flatten)]
    pub filter: crate::cmd::meta::FilterArgs,
}

impl SearchOpts {
    /// `params` with this command line's filter settings.
    pub fn with_filter(&self, params: SearchParams) -> SearchParams {
        params
            .filter(self.filter.filter.clone())
            .filter_plan(self.filter.filter_plan)
            .exact_max_matches(self.filter.exact_max_matches)
    }
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub opts: SearchOpts,
    /// Ground truth (.ivecs/.ibin) to report recall@k against.
    #[arg(long)]
    pub gt: Option<PathBuf>,
    /// Partitions probed per query (the cap, with --spann-eps or --mlp-mass).
    #[arg(long, default_value_t = 8, value_parser = crate::bounds::nprobe)]
    pub nprobe: usize,
    /// gbdt: margin added to the predicted ln(partitions): probes = ceil(exp(pred + margin)).
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub margin: f32,
    /// gbdt: pick per-query probe counts so that mean recall@k meets this target
    /// (calibrated on held-out training queries); overrides --margin.
    #[arg(long)]
    pub target_recall: Option<f32>,
    /// With --router mlp: probe until the probabilities sum to this; --nprobe is the cap.
    #[arg(long)]
    pub mlp_mass: Option<f32>,
    /// Queries per batch; 1 runs the single-query path.
    #[arg(long, default_value_t = 1000, value_parser = crate::bounds::batch_size)]
    pub batch_size: usize,
    /// Use only the first N queries.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Graph search breadth (candidates kept at the base level).
    #[arg(long, default_value_t = 64, value_parser = crate::bounds::ef)]
    pub ef: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write each query's neighbour ids here, in query order (.ivecs or .ibin by
    /// extension; -1 where a query has fewer than k).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write each query's neighbour distances here (.fvecs or .fbin; +inf where
    /// a query has fewer than k).
    #[arg(long)]
    pub out_distances: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouterKind {
    #[value(alias = "centroid")]
    Fixed,
    Gbdt,
    Mlp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchOrder {
    Centroid,
    Input,
}

/// The per-point router settings a sweep varies.
#[derive(Debug, Clone, Copy, Default)]
pub struct RouterPoint {
    pub nprobe: usize,
    pub margin: f32,
    pub target_recall: Option<f32>,
    pub mlp_mass: Option<f32>,
}

impl SearchOpts {
    /// The router the flags describe, with one sweep point's values.
    pub fn router_spec(&self, p: &RouterPoint) -> Result<RouterSpec> {
        if p.target_recall.is_some() && self.router != RouterKind::Gbdt {
            bail!("--target-recall needs --router gbdt");
        }
        if p.mlp_mass.is_some() && self.router != RouterKind::Mlp {
            bail!("--mlp-mass needs --router mlp");
        }
        if self.mlp_order && self.router != RouterKind::Gbdt {
            bail!("--mlp-order needs --router gbdt (the GBDT picks the counts)");
        }
        if self.spann_eps.is_some() && self.router != RouterKind::Fixed {
            bail!(
                "--spann-eps and --router {} exclude each other",
                if self.router == RouterKind::Gbdt {
                    "gbdt"
                } else {
                    "mlp"
                }
            );
        }
        if p.target_recall.is_some() && self.max_nprobe.is_some() {
            bail!(
                "--max-nprobe applies to the margin mode; target-recall mode uses the cap \
                 its calibration was measured with (retrain with --max-nprobe to change it)"
            );
        }
        Ok(match self.router {
            RouterKind::Fixed => match self.spann_eps {
                Some(eps) => RouterSpec::Spann {
                    eps,
                    max_nprobe: p.nprobe,
                },
                None => RouterSpec::Fixed { nprobe: p.nprobe },
            },
            RouterKind::Mlp => RouterSpec::Mlp {
                rule: match p.mlp_mass {
                    Some(mass) => ProbeRule::Mass {
                        mass,
                        max: p.nprobe,
                    },
                    None => ProbeRule::Count(p.nprobe),
                },
            },
            RouterKind::Gbdt => {
                let gbdt = RouterSpec::Gbdt {
                    rule: match p.target_recall {
                        Some(t) => GbdtRule::TargetRecall(t),
                        None => GbdtRule::Margin {
                            margin: p.margin,
                            max_nprobe: self.max_nprobe,
                        },
                    },
                };
                if self.mlp_order {
                    RouterSpec::Composed {
                        count_from: Box::new(gbdt),
                        // Raised to the GBDT's cap by `Index::router`.
                        order_from: Box::new(RouterSpec::Mlp {
                            rule: ProbeRule::Count(1),
                        }),
                    }
                } else {
                    gbdt
                }
            }
        })
    }

    pub fn open(&self) -> Result<Index> {
        Ok(Index::open(
            &self.index,
            OpenOptions {
                io: self.io,
                io_threads: self.io_threads,
                ..Default::default()
            },
        )?)
    }
}

/// An open index with its queries (and ground truth) loaded once, for any number
/// of search runs.
pub struct Workload {
    pub index: Index,
    pub queries: QuerySet,
    pub gt: Option<GroundTruth>,
}

impl Workload {
    pub fn load(opts: &SearchOpts, gt: Option<&Path>, limit: Option<usize>) -> Result<Workload> {
        let index = opts.open()?;
        let mut q = read_queries(&opts.queries)?;
        if q.dim != index.dim() {
            bail!(
                "queries have {} dimensions, index expects {}",
                q.dim,
                index.dim()
            );
        }
        if let Some(l) = limit {
            q.n = q.n.min(l.max(1));
            q.data.truncate(q.n * q.dim);
        }
        let gt = match gt {
            Some(p) => Some(load_gt(p, q.n, opts.k)?),
            None => None,
        };
        Ok(Workload {
            index,
            queries: q,
            gt,
        })
    }
}

/// One search run over a workload's queries.
pub struct Point<'a> {
    pub opts: &'a SearchOpts,
    pub params: SearchParams,
    pub batch_size: usize,
    /// Use only the first N queries.
    pub limit: Option<usize>,
    /// Keep every query's answers (for --out).
    pub keep_results: bool,
}

/// A run's report and, when kept, its answers (ids and distances, k per query).
pub struct Outcome {
    pub report: SearchReport,
    pub ids: Vec<Option<u64>>,
    pub dists: Vec<Option<f32>>,
}

pub fn run(a: Args, ui: &Ui) -> Result<()> {
    if a.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    // Output names are checked before any work, so a typo costs nothing.
    let ext = |p: &Path| {
        p.extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
    };
    if let Some(p) = &a.out {
        if !matches!(ext(p).as_deref(), Some("ivecs" | "ibin")) {
            bail!(
                "--out {}: use a .ivecs or .ibin file for result ids",
                p.display()
            );
        }
    }
    if let Some(p) = &a.out_distances {
        if !matches!(ext(p).as_deref(), Some("fvecs" | "fbin")) {
            bail!(
                "--out-distances {}: use a .fvecs or .fbin file for result distances",
                p.display()
            );
        }
    }
    let router = a.opts.router_spec(&RouterPoint {
        nprobe: a.nprobe,
        margin: a.margin,
        target_recall: a.target_recall,
        mlp_mass: a.mlp_mass,
    })?;
    let w = Workload::load(&a.opts, a.gt.as_deref(), a.limit)?;
    let params = a.opts.with_filter(
        SearchParams::new(a.opts.k)
            .router(router)
            .strategy(a.opts.mode)
            .ef(a.ef),
    );
    let out = run_point(
        &w,
        &Point {
            opts: &a.opts,
            params,
            batch_size: a.batch_size,
            limit: None,
            keep_results: a.out.is_some() || a.out_distances.is_some(),
        },
        ui,
    )?;
    if let Some(p) = &a.out {
        quarry_formats::write_result_ids(p, a.opts.k, &out.ids)
            .with_context(|| format!("writing --out {}", p.display()))?;
    }
    if let Some(p) = &a.out_distances {
        quarry_formats::write_result_distances(p, a.opts.k, &out.dists)
            .with_context(|| format!("writing --out-distances {}", p.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&out.report)?);
    } else {
        print_table(&out.report);
    }
    Ok(())
}

/// Runs one search over the workload's queries (the first `limit`), in batches.
pub fn run_point(w: &Workload, p: &Point<'_>, ui: &Ui) -> Result<Outcome> {
    let (index, q) = (&w.index, &w.queries);
    let k = p.params.k;
    let nq = p.limit.map_or(q.n, |l| l.clamp(1, q.n));
    let prepared = index.prepare(&p.params)?;
    let router = prepared.router();
    let learned = p.opts.router != RouterKind::Fixed;
    let gbdt = (p.opts.router == RouterKind::Gbdt)
        .then(|| match &p.params.router {
            RouterSpec::Gbdt { rule } => Some(*rule),
            RouterSpec::Composed { count_from, .. } => match count_from.as_ref() {
                RouterSpec::Gbdt { rule } => Some(*rule),
                _ => None,
            },
            _ => None,
        })
        .flatten();
    let router_json = match p.opts.router {
        RouterKind::Fixed => serde_json::to_value(&p.params.router)?,
        _ => router.describe().into(),
    };
    ui.stage("search", nq as u64);
    let mut total = BatchStats::default();
    let mut lat = Vec::new();
    let mut hits = 0usize;
    let mut ids: Vec<Option<u64>> = vec![None; if p.keep_results { nq * k } else { 0 }];
    let mut dists: Vec<Option<f32>> = vec![None; ids.len()];
    let mut hits_at = [0usize; RECALL_CUTOFFS.len()];
    // True neighbours per cut-off: fewer than r when a filter matches fewer
    // (ground truth rows padded with -1).
    let mut truth_at = [0usize; RECALL_CUTOFFS.len()];
    let mut truths = 0usize;
    let mut vectors = 0u64;
    let mut partitions = 0u64;
    let data = &q.data[..nq * q.dim];
    let t = Instant::now();
    let batches: Vec<Vec<u32>> = if p.opts.order == BatchOrder::Centroid && p.batch_size > 1 {
        index.group_queries(data, p.batch_size)?
    } else {
        (0..nq as u32)
            .collect::<Vec<_>>()
            .chunks(p.batch_size)
            .map(|c| c.to_vec())
            .collect()
    };
    let mut buf = Vec::with_capacity(p.batch_size.min(nq) * q.dim);
    for members in &batches {
        buf.clear();
        members
            .iter()
            .for_each(|&i| buf.extend_from_slice(q.row(i as usize)));
        let s = Instant::now();
        let res = prepared.search_batch(&buf)?;
        lat.push(s.elapsed().as_secs_f64() * 1e3);
        total.add(&res.stats);
        for ((nb, st), &qi) in res.neighbors.iter().zip(&res.per_query).zip(members) {
            if p.keep_results {
                let row = qi as usize * k;
                for (r, n) in nb.iter().take(k).enumerate() {
                    ids[row + r] = Some(n.id);
                    dists[row + r] = Some(n.dist);
                }
            }
            vectors += st.vectors;
            partitions += st.partitions as u64;
            if let Some(gt) = &w.gt {
                let truth = &gt.row(qi as usize)[..k];
                let valid = |t: &[u32]| t.iter().filter(|&&i| i != u32::MAX).count();
                truths += valid(truth);
                hits += nb.iter().filter(|n| truth.contains(&(n.id as u32))).count();
                for ((h, &r), tr) in hits_at.iter_mut().zip(&RECALL_CUTOFFS).zip(&mut truth_at) {
                    if r <= k {
                        let truth = &truth[..r];
                        *tr += valid(truth);
                        *h += nb
                            .iter()
                            .take(r)
                            .filter(|n| truth.contains(&(n.id as u32)))
                            .count();
                    }
                }
            }
        }
        ui.advance(res.neighbors.len() as u64);
    }
    let wall = t.elapsed().as_secs_f64();
    ui.done();
    let n = nq as f64;
    let mut sorted = lat.clone();
    sorted.sort_by(f64::total_cmp);
    let recall_at = |i: usize| {
        let r = RECALL_CUTOFFS[i];
        w.gt.as_ref()
            .filter(|_| r <= k)
            .map(|_| hits_at[i] as f64 / truth_at[i].max(1) as f64)
    };
    let pct = |x: f64| sorted[((sorted.len() - 1) as f64 * x).round() as usize];
    let (margin, max_nprobe) = match gbdt {
        Some(GbdtRule::Margin { margin, .. }) => (Some(margin), Some(router.max_probes())),
        Some(GbdtRule::TargetRecall(_)) => (None, Some(router.max_probes())),
        None => (None, None),
    };
    let target_recall = match gbdt {
        Some(GbdtRule::TargetRecall(t)) => Some(t),
        _ => None,
    };
    let nprobe = match &p.params.router {
        RouterSpec::Fixed { nprobe } => *nprobe,
        _ => router.max_probes(),
    };
    let report = SearchReport {
        config: serde_json::json!({
            "index": p.opts.index, "router": router_json, "nprobe": nprobe, "io_threads": p.opts.io_threads, "order": p.opts.order,
            "router_kind": p.opts.router, "margin": margin,
            "target_recall": target_recall, "max_nprobe": max_nprobe,
            "mlp_order": p.opts.mlp_order, "mode": p.params.strategy, "ef": p.params.ef,
            "filter": p.params.filter.as_ref().map(|f| f.text()), "filter_plan": p.params.filter_plan,
        }),
        filter: total.filter.as_ref().map(|f| FilterReport {
            expr: f.filter.clone(),
            plan: f.plan.name(),
            matches: f.matches,
            selectivity: f.matches as f64 / w.index.len().max(1) as f64,
            partitions_with_matches: f.partitions_with_matches,
        }),
        margin,
        max_nprobe,
        k,
        queries: nq,
        recall_at_k: w.gt.as_ref().map(|_| hits as f64 / truths.max(1) as f64),
        recall_at_1: recall_at(0),
        recall_at_10: recall_at(1),
        recall_at_100: recall_at(2),
        qps: n / wall,
        latency_ms_mean: lat.iter().sum::<f64>() / lat.len() as f64,
        latency_ms_p50: pct(0.5),
        latency_ms_p99: pct(0.99),
        vectors_per_query: vectors as f64 / n,
        vectors_read_per_query: total.vectors_read as f64 / n,
        bytes_per_query: total.bytes_read as f64 / n,
        partitions_per_query: partitions as f64 / n,
        partitions_read_per_query: total.partitions_read as f64 / n,
        io_requests_per_query: total.io_requests as f64 / n,
        io_mode: p.opts.io.name().to_string(),
        batch_size: p.batch_size,
        threads: rayon::current_num_threads(),
        read_mib_per_s: total.bytes_read as f64 / (1 << 20) as f64 / wall,
        time_ms: serde_json::json!({
            "wall": wall * 1e3,
            "route": total.route.as_secs_f64() * 1e3,
            "io_wait": total.io_wait.as_secs_f64() * 1e3,
            "compute": total.compute.as_secs_f64() * 1e3,
            "merge": total.merge.as_secs_f64() * 1e3,
        }),
        router_select_us_per_query: learned.then(|| total.select.as_secs_f64() * 1e6 / n),
        router_select_cpu_us_per_query: learned.then(|| total.select_cpu.as_secs_f64() * 1e6 / n),
        route_us_per_query: total.route.as_secs_f64() * 1e6 / n,
        router_desc: router.describe(),
        rss_mb: peak_rss_mb(),
        mode: p.params.strategy,
        ef: p.params.ef,
        graph_share: total.graph_searches as f64 / total.partitions_read.max(1) as f64,
    };
    Ok(Outcome { report, ids, dists })
}

#[derive(Serialize)]
pub struct SearchReport {
    pub config: serde_json::Value,
    /// The GBDT's margin and probe cap as used (margin mode), for sweeps.
    pub margin: Option<f32>,
    pub max_nprobe: Option<usize>,
    pub k: usize,
    pub queries: usize,
    pub recall_at_k: Option<f64>,
    /// Recall@r for r = 1, 10, 100: the first r results against the first r true
    /// neighbours; null without ground truth or when r > k.
    pub recall_at_1: Option<f64>,
    pub recall_at_10: Option<f64>,
    pub recall_at_100: Option<f64>,
    pub qps: f64,
    /// Mean / p50 / p99 wall time of one search call (one batch; one query when batch_size = 1).
    pub latency_ms_mean: f64,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    /// Vectors in the partitions each query probed (its distance computations).
    pub vectors_per_query: f64,
    /// Vectors read from storage per query (shared reads divided among the batch).
    pub vectors_read_per_query: f64,
    pub bytes_per_query: f64,
    pub partitions_per_query: f64,
    pub partitions_read_per_query: f64,
    pub io_requests_per_query: f64,
    pub io_mode: String,
    pub batch_size: usize,
    pub threads: usize,
    pub read_mib_per_s: f64,
    pub time_ms: serde_json::Value,
    /// Learned routers: time of the router's select (model inference) per query,
    /// batch-amortised; the centroid ranking (GEMM) every router pays is apart.
    pub router_select_us_per_query: Option<f64>,
    /// The same in process CPU time (robust to a loaded machine; both cores' work).
    pub router_select_cpu_us_per_query: Option<f64>,
    /// Whole routing step per query (centroid GEMM + select).
    pub route_us_per_query: f64,
    /// The router as it described itself (margin chosen for a target, cap).
    pub router_desc: String,
    pub rss_mb: f64,
    pub mode: Strategy,
    pub ef: usize,
    /// Share of (partition, batch) pairs answered by graph search.
    pub graph_share: f64,
    /// Filtered searches: the filter, the plan taken and its matches.
    pub filter: Option<FilterReport>,
}

#[derive(Serialize)]
pub struct FilterReport {
    pub expr: String,
    pub plan: &'static str,
    pub matches: u64,
    /// matches / vectors in the index.
    pub selectivity: f64,
    pub partitions_with_matches: u64,
}

/// The cut-offs r of the `recall_at_r` fields.
const RECALL_CUTOFFS: [usize; 3] = [1, 10, 100];

fn load_gt(path: &std::path::Path, nq: usize, k: usize) -> Result<GroundTruth> {
    let gt = read_ground_truth(path)?;
    if gt.n < nq {
        bail!(
            "{}: ground truth has {} rows but there are {nq} queries",
            path.display(),
            gt.n
        );
    }
    if gt.k < k {
        bail!("{}: ground truth holds top-{} but recall@{k} was asked; compute it with `quarry gt --k {k}`", path.display(), gt.k);
    }
    Ok(gt)
}

fn print_table(r: &SearchReport) {
    println!(
        "{} queries, k={}, batch {}, {} I/O, {} threads",
        r.queries, r.k, r.batch_size, r.io_mode, r.threads
    );
    println!("router               {}", r.router_desc);
    if let Some(f) = &r.filter {
        println!(
            "filter               {} : {} matches ({:.3}%) in {} partitions, {} plan",
            f.expr,
            f.matches,
            f.selectivity * 100.0,
            f.partitions_with_matches,
            f.plan
        );
    }
    if let Some(rec) = r.recall_at_k {
        println!("recall@{:<3}           {rec:.4}", r.k);
    }
    println!("QPS                  {:.1}", r.qps);
    println!(
        "latency ms           mean {:.3}  p50 {:.3}  p99 {:.3}",
        r.latency_ms_mean, r.latency_ms_p50, r.latency_ms_p99
    );
    println!(
        "partitions / query   {:.2} probed, {:.3} read",
        r.partitions_per_query, r.partitions_read_per_query
    );
    println!(
        "vectors / query      {:.1} distance computations, {:.1} read",
        r.vectors_per_query, r.vectors_read_per_query
    );
    if r.mode != Strategy::Scan {
        println!(
            "mode                 {} (ef {}), {:.1}% of partition searches by graph",
            r.mode.name(),
            r.ef,
            100.0 * r.graph_share
        );
    }
    println!(
        "bytes / query        {:.0}  ({:.1} MiB/s read)",
        r.bytes_per_query, r.read_mib_per_s
    );
    if let Some(us) = r.router_select_us_per_query {
        println!(
            "routing us / query   {us:.2} model (batch-amortised; CPU {:.2}), {:.2} total with the centroid GEMM",
            r.router_select_cpu_us_per_query.unwrap_or(0.0),
            r.route_us_per_query
        );
    }
}
