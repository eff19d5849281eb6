use crate::progress::Ui;
use crate::rss::peak_rss_mb;
use anyhow::{bail, Context, Result};
use quarry_engine::learn::pruning_router;
use quarry_engine::{
    BatchStats, GraphSearch, Index, IoMode, OpenOptions, Progress, RouterSpec, SearchMode,
    SearchParams,
};
use quarry_formats::{read_ground_truth, read_queries, GroundTruth};
use quarry_mlp::{load_router, MlpOrder, MlpRouter, ProbeRule};
use quarry_routing::{GbdtRouter, Router};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub index: PathBuf,
    #[arg(long)]
    pub queries: PathBuf,
    /// Ground truth (.ivecs/.ibin) to report recall@k against.
    #[arg(long)]
    pub gt: Option<PathBuf>,
    #[arg(long, default_value_t = 10, value_parser = crate::bounds::k)]
    pub k: usize,
    /// Partitions probed per query (the cap, with --spann-eps).
    #[arg(long, default_value_t = 8, value_parser = crate::bounds::nprobe)]
    pub nprobe: usize,
    /// Use SPANN's rule: probe partitions within (1 + eps) of the nearest centroid's distance.
    #[arg(long)]
    pub spann_eps: Option<f32>,
    /// Router: fixed (the nprobe nearest centroids, or SPANN's rule with --spann-eps;
    /// alias `centroid`), gbdt (the index's learned pruning model; see `quarry
    /// train-pruning`) or mlp (the MLP attached by `quarry mlp-train`, partitions in
    /// probability order; --nprobe is the count or, with --mlp-mass, the cap).
    #[arg(long, default_value = "fixed")]
    pub router: RouterKind,
    /// gbdt: margin added to the predicted ln(partitions): probes = ceil(exp(pred + margin)).
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub margin: f32,
    /// gbdt: pick per-query probe counts so that mean recall@k meets this target
    /// (calibrated on held-out training queries); overrides --margin.
    #[arg(long)]
    pub target_recall: Option<f32>,
    /// gbdt margin mode: probe cap (default: the model's).
    #[arg(long, value_parser = crate::bounds::nprobe)]
    pub max_nprobe: Option<usize>,
    /// Queries per batch; 1 runs the single-query path.
    #[arg(long, default_value_t = 1000, value_parser = crate::bounds::batch_size)]
    pub batch_size: usize,
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
    /// Use only the first N queries.
    #[arg(long)]
    pub limit: Option<usize>,
    /// How a read partition answers its queries: scan (GEMM over all its vectors),
    /// graph (HNSW search of its graph), auto (per partition, by the cost model) or
    /// partial (graph search reading only the 4 KiB pages it visits). Graph modes
    /// need `quarry graph-build` first.
    #[arg(long, default_value = "scan")]
    pub mode: SearchMode,
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
    /// With --router mlp: probe until the probabilities sum to this; --nprobe is the cap.
    #[arg(long)]
    pub mlp_mass: Option<f32>,
    /// With --router gbdt: the GBDT model picks how many partitions, the index's MLP
    /// router which ones (its most probable).
    #[arg(long)]
    pub mlp_order: bool,
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

#[derive(Serialize)]
pub struct SearchReport {
    pub config: serde_json::Value,
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
    /// gbdt: time of the router's select (features + batch prediction) per query,
    /// batch-amortised; the centroid ranking (GEMM) every router pays is apart.
    pub router_select_us_per_query: Option<f64>,
    /// The same in process CPU time (robust to a loaded machine; both cores' work).
    pub router_select_cpu_us_per_query: Option<f64>,
    /// Whole routing step per query (centroid GEMM + select).
    pub route_us_per_query: f64,
    /// The router as it described itself (margin chosen for a target, cap).
    pub router_desc: String,
    pub rss_mb: f64,
    pub mode: SearchMode,
    pub ef: usize,
    /// Share of (partition, batch) pairs answered by graph search.
    pub graph_share: f64,
}

pub fn run(a: Args, ui: &Ui) -> Result<()> {
    let report = execute(&a, ui)?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

pub fn execute(a: &Args, ui: &Ui) -> Result<SearchReport> {
    if a.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    // Output names are checked before any work, so a typo costs nothing.
    let ext = |p: &std::path::Path| {
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
    let mut index = Index::open(
        &a.index,
        OpenOptions {
            io: a.io,
            io_threads: a.io_threads,
            ..Default::default()
        },
    )?;
    index.set_graph_search(GraphSearch {
        mode: a.mode,
        ef: a.ef,
    })?;
    let mut q = read_queries(&a.queries)?;
    if q.dim != index.dim() {
        bail!(
            "queries have {} dimensions, index expects {}",
            q.dim,
            index.dim()
        );
    }
    if let Some(l) = a.limit {
        q.n = q.n.min(l.max(1));
        q.data.truncate(q.n * q.dim);
    }
    let gt = match &a.gt {
        Some(p) => Some(load_gt(p, q.n, a.k)?),
        None => None,
    };
    let router = match a.spann_eps {
        Some(eps) => RouterSpec::Spann {
            eps,
            max_nprobe: a.nprobe,
        },
        None => RouterSpec::Fixed { nprobe: a.nprobe },
    };
    let params = SearchParams { k: a.k, router };
    if a.target_recall.is_some() && a.router != RouterKind::Gbdt {
        bail!("--target-recall needs --router gbdt");
    }
    if a.mlp_mass.is_some() && a.router != RouterKind::Mlp {
        bail!("--mlp-mass needs --router mlp");
    }
    if a.mlp_order && a.router != RouterKind::Gbdt {
        bail!("--mlp-order needs --router gbdt (the GBDT picks the counts)");
    }
    if a.spann_eps.is_some() && a.router != RouterKind::Fixed {
        bail!(
            "--spann-eps and --router {} exclude each other",
            if a.router == RouterKind::Gbdt {
                "gbdt"
            } else {
                "mlp"
            }
        );
    }
    let gbdt: Option<GbdtRouter> = match a.router {
        RouterKind::Gbdt => Some(pruning_router(
            &index,
            a.k,
            a.margin,
            a.target_recall,
            a.max_nprobe,
        )?),
        _ => None,
    };
    let mlp: Option<MlpRouter> = match a.router {
        RouterKind::Mlp => {
            let rule = match a.mlp_mass {
                Some(mass) => ProbeRule::Mass {
                    mass,
                    max: a.nprobe,
                },
                None => ProbeRule::Count(a.nprobe),
            };
            Some(MlpRouter::new(load_router(&index)?, rule)?)
        }
        RouterKind::Gbdt if a.mlp_order => {
            let model = load_router(&index)?;
            let cap = gbdt
                .as_ref()
                .map_or(a.nprobe, |g| g.candidates())
                .min(model.cfg.partitions);
            Some(MlpRouter::new(model, ProbeRule::Count(cap))?)
        }
        _ => None,
    };
    let fixed = params.router.router()?;
    let ordered = match (&gbdt, &mlp) {
        (Some(g), Some(m)) => Some(MlpOrder::new(m, g)?),
        _ => None,
    };
    let router: &dyn Router = match (&ordered, &gbdt, &mlp) {
        (Some(o), _, _) => o,
        (_, Some(g), _) => g,
        (_, _, Some(m)) => m,
        _ => fixed.as_ref(),
    };

    let router_json = match a.router {
        RouterKind::Fixed => serde_json::to_value(params.router)?,
        _ => router.describe().into(),
    };
    ui.stage("search", q.n as u64);
    let mut total = BatchStats::default();
    let mut lat = Vec::new();
    let mut hits = 0usize;
    let keep_results = a.out.is_some() || a.out_distances.is_some();
    let mut result_ids: Vec<Option<u64>> = vec![None; if keep_results { q.n * a.k } else { 0 }];
    let mut result_dists: Vec<Option<f32>> = vec![None; result_ids.len()];
    let mut hits_at = [0usize; RECALL_CUTOFFS.len()];
    let mut vectors = 0u64;
    let mut partitions = 0u64;
    let t = Instant::now();
    let batches: Vec<Vec<u32>> = if a.order == BatchOrder::Centroid && a.batch_size > 1 {
        index.group_queries(&q.data, a.batch_size)?
    } else {
        (0..q.n as u32)
            .collect::<Vec<_>>()
            .chunks(a.batch_size)
            .map(|c| c.to_vec())
            .collect()
    };
    let mut buf = Vec::with_capacity(a.batch_size.min(q.n) * q.dim);
    for members in &batches {
        buf.clear();
        members
            .iter()
            .for_each(|&i| buf.extend_from_slice(q.row(i as usize)));
        let s = Instant::now();
        let res = index.search_batch_with(&buf, a.k, router)?;
        lat.push(s.elapsed().as_secs_f64() * 1e3);
        total.add(&res.stats);
        for ((nb, st), &qi) in res.neighbors.iter().zip(&res.per_query).zip(members) {
            if keep_results {
                let row = qi as usize * a.k;
                for (r, n) in nb.iter().take(a.k).enumerate() {
                    result_ids[row + r] = Some(n.id);
                    result_dists[row + r] = Some(n.dist);
                }
            }
            vectors += st.vectors;
            partitions += st.partitions as u64;
            if let Some(gt) = &gt {
                let truth = &gt.row(qi as usize)[..a.k];
                hits += nb.iter().filter(|n| truth.contains(&(n.id as u32))).count();
                for (h, &r) in hits_at.iter_mut().zip(&RECALL_CUTOFFS) {
                    if r <= a.k {
                        let truth = &truth[..r];
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
    if let Some(p) = &a.out {
        quarry_formats::write_result_ids(p, a.k, &result_ids)
            .with_context(|| format!("writing --out {}", p.display()))?;
    }
    if let Some(p) = &a.out_distances {
        quarry_formats::write_result_distances(p, a.k, &result_dists)
            .with_context(|| format!("writing --out-distances {}", p.display()))?;
    }
    let n = q.n as f64;
    let mut sorted = lat.clone();
    sorted.sort_by(f64::total_cmp);
    let recall_at = |i: usize| {
        let r = RECALL_CUTOFFS[i];
        gt.as_ref()
            .filter(|_| r <= a.k)
            .map(|_| hits_at[i] as f64 / (n * r as f64))
    };
    let pct = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
    Ok(SearchReport {
        config: serde_json::json!({
            "index": a.index, "router": router_json, "nprobe": a.nprobe, "io_threads": a.io_threads, "order": a.order,
            "router_kind": a.router, "margin": gbdt.as_ref().filter(|_| a.target_recall.is_none()).map(|g| g.margin()),
            "target_recall": a.target_recall, "max_nprobe": gbdt.as_ref().map(|g| g.max_nprobe()),
            "mlp_mass": a.mlp_mass, "mlp_order": a.mlp_order, "mode": a.mode, "ef": a.ef,
        }),
        k: a.k,
        queries: q.n,
        recall_at_k: gt.as_ref().map(|_| hits as f64 / (n * a.k as f64)),
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
        io_mode: a.io.name().to_string(),
        batch_size: a.batch_size,
        threads: rayon::current_num_threads(),
        read_mib_per_s: total.bytes_read as f64 / (1 << 20) as f64 / wall,
        time_ms: serde_json::json!({
            "wall": wall * 1e3,
            "route": total.route.as_secs_f64() * 1e3,
            "io_wait": total.io_wait.as_secs_f64() * 1e3,
            "compute": total.compute.as_secs_f64() * 1e3,
            "merge": total.merge.as_secs_f64() * 1e3,
        }),
        router_select_us_per_query: gbdt.as_ref().map(|g| {
            let (secs, nq) = g.timing().get();
            secs * 1e6 / nq.max(1) as f64
        }),
        router_select_cpu_us_per_query: gbdt.as_ref().map(|g| {
            let (_, nq) = g.timing().get();
            g.timing().cpu_secs() * 1e6 / nq.max(1) as f64
        }),
        route_us_per_query: total.route.as_secs_f64() * 1e6 / n,
        router_desc: router.describe(),
        rss_mb: peak_rss_mb(),
        mode: a.mode,
        ef: a.ef,
        graph_share: total.graph_searches as f64 / total.partitions_read.max(1) as f64,
    })
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
    if r.mode != SearchMode::Scan {
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
