//! `quarry bench`: an nprobe sweep through `search::execute`, recorded as JSON lines + CSV.
//!
//! For every nprobe: one run over all queries per batch size (recall, QPS, bytes and
//! vectors per query) and one single-query run (batch size 1) over the first
//! `--single-limit` queries (latency). Each (nprobe, batch size) point becomes one line
//! of `OUT/results.jsonl` (appended, so several labels or configurations can share a
//! directory); `OUT/results.csv` is rewritten from the whole jsonl after every run.

use crate::bounds::{MAX_BATCH, MAX_NPROBE};
use crate::cmd::search::{
    run_point, BatchOrder, Point as Run, RouterKind, RouterPoint, SearchOpts, SearchReport,
    Workload,
};
use crate::progress::Ui;
use anyhow::{bail, Context, Result};
use quarry_engine::{SearchParams, Strategy};
use quarry_graph::MAX_EF;
use serde::Serialize;
use serde_json::{Map, Value};
use std::fs::OpenOptions as FileOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub opts: SearchOpts,
    /// Ground truth (.ivecs/.ibin) holding at least top-k per query (not with
    /// --runbook, which computes it per search step).
    #[arg(long, required_unless_present = "runbook")]
    pub gt: Option<PathBuf>,
    /// Streaming mode: run the steps of a runbook (see `cmd/runbook.rs`; the README
    /// shows the format); --index is created, the first --nprobe is used.
    #[command(flatten)]
    pub runbook: super::runbook::RunbookArgs,
    /// Comma-separated nprobe values to sweep (fixed and mlp routers; with
    /// --spann-eps or --mlp-mass each is the cap).
    #[arg(long, default_value = "1,2,4,8,16,32")]
    pub nprobe: String,
    /// gbdt: comma-separated margins on the predicted ln(partitions).
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    pub margins: String,
    /// gbdt: comma-separated target recalls (target-recall mode, recall@k).
    #[arg(long, default_value = "")]
    pub targets: String,
    /// With --router mlp: comma-separated probability masses to sweep instead of fixed
    /// counts (each probes until its partitions' probabilities reach the mass; the
    /// largest --nprobe value is the cap).
    #[arg(long)]
    pub mlp_mass: Option<String>,
    /// Comma-separated batch sizes of the throughput runs (over all queries).
    #[arg(long, default_value = "1000")]
    pub batch_sizes: String,
    /// Queries of the single-query latency run per nprobe (0 skips it).
    #[arg(long, default_value_t = 1000)]
    pub single_limit: usize,
    /// Comma-separated graph search breadths to sweep (graph strategies; each nprobe x ef is a point).
    #[arg(long, default_value = "64")]
    pub ef: String,
    /// Name of this configuration in the results (default: the index directory's name).
    #[arg(long)]
    pub label: Option<String>,
    /// Directory for results.jsonl (appended) and results.csv (rewritten).
    #[arg(long)]
    pub out_dir: PathBuf,
}

#[derive(Serialize)]
struct Config {
    index: String,
    router: &'static str,
    nprobe: usize,
    margin: Option<f32>,
    target_recall: Option<f32>,
    spann_eps: Option<f32>,
    mlp_mass: Option<f32>,
    partitions: usize,
    io_threads: usize,
    order: BatchOrder,
    mode: Strategy,
    ef: usize,
}

/// One line of results.jsonl.
#[derive(Serialize)]
struct Point {
    label: String,
    config: Config,
    k: usize,
    queries: usize,
    recall_at_1: Option<f64>,
    recall_at_10: Option<f64>,
    recall_at_100: Option<f64>,
    recall_at_k: Option<f64>,
    qps: f64,
    /// From the single-query run (null when `--single-limit 0`).
    latency_ms_mean: Option<f64>,
    latency_ms_p50: Option<f64>,
    latency_ms_p99: Option<f64>,
    latency_queries: usize,
    /// QPS and bytes read per query of the single-query run (each query alone).
    single_qps: Option<f64>,
    single_bytes_per_query: Option<f64>,
    vectors_per_query: f64,
    vectors_read_per_query: f64,
    bytes_per_query: f64,
    partitions_per_query: f64,
    partitions_read_per_query: f64,
    io_requests_per_query: f64,
    read_mib_per_s: f64,
    io_mode: String,
    threads: usize,
    batch_size: usize,
    rss_mb: f64,
    /// gbdt: model inference per query (batch-amortised) and the whole routing step.
    router_select_us_per_query: Option<f64>,
    router_select_cpu_us_per_query: Option<f64>,
    route_us_per_query: f64,
    router_desc: String,
    /// Share of (partition, batch) pairs answered by graph search.
    graph_share: f64,
}

/// One point of a sweep.
#[derive(Clone, Copy)]
enum Sweep {
    Nprobe(usize),
    Margin(f32),
    Target(f32),
    /// MLP: probe until the probabilities reach the mass, at most `cap` partitions.
    Mass {
        mass: f32,
        cap: usize,
    },
}

/// CSV columns in this order first; any other keys found in the jsonl follow, sorted.
const CSV_COLUMNS: &[&str] = &[
    "label",
    "index",
    "router",
    "nprobe",
    "spann_eps",
    "margin",
    "target_recall",
    "mlp_mass",
    "partitions",
    "io_threads",
    "order",
    "k",
    "queries",
    "recall_at_1",
    "recall_at_10",
    "recall_at_100",
    "recall_at_k",
    "qps",
    "latency_ms_mean",
    "latency_ms_p50",
    "latency_ms_p99",
    "latency_queries",
    "single_qps",
    "single_bytes_per_query",
    "vectors_per_query",
    "vectors_read_per_query",
    "bytes_per_query",
    "partitions_per_query",
    "partitions_read_per_query",
    "io_requests_per_query",
    "read_mib_per_s",
    "io_mode",
    "threads",
    "batch_size",
    "rss_mb",
    "mode",
    "ef",
    "graph_share",
];

pub fn run(a: Args, ui: &Ui) -> Result<()> {
    if a.runbook.runbook.is_some() {
        let nprobe = parse_list("--nprobe", &a.nprobe, MAX_NPROBE)?[0];
        return super::runbook::run(
            &a.runbook,
            &a.opts.index,
            &a.opts.queries,
            a.opts.k,
            nprobe,
            ui,
        );
    }
    if a.mlp_mass.is_some() && a.opts.router != RouterKind::Mlp {
        bail!("--mlp-mass needs --router mlp");
    }
    let sweep: Vec<Sweep> = match a.opts.router {
        RouterKind::Fixed => parse_list("--nprobe", &a.nprobe, MAX_NPROBE)?
            .into_iter()
            .map(Sweep::Nprobe)
            .collect(),
        RouterKind::Mlp => {
            let counts = parse_list("--nprobe", &a.nprobe, MAX_NPROBE)?;
            match &a.mlp_mass {
                Some(list) => {
                    let cap = counts.iter().copied().max().unwrap_or(1);
                    parse_masses(list)?
                        .into_iter()
                        .map(|mass| Sweep::Mass { mass, cap })
                        .collect()
                }
                None => counts.into_iter().map(Sweep::Nprobe).collect(),
            }
        }
        RouterKind::Gbdt => {
            let mut v: Vec<Sweep> = parse_floats("--margins", &a.margins)?
                .into_iter()
                .map(Sweep::Margin)
                .collect();
            v.extend(
                parse_floats("--targets", &a.targets)?
                    .into_iter()
                    .map(Sweep::Target),
            );
            if v.is_empty() {
                bail!("--router gbdt sweeps --margins and/or --targets; give e.g. --margins -1,-0.5,0 --targets 0.9,0.95");
            }
            v
        }
    };
    let nprobes: Vec<usize> = sweep
        .iter()
        .filter_map(|s| match s {
            Sweep::Nprobe(n) | Sweep::Mass { cap: n, .. } => Some(*n),
            _ => None,
        })
        .collect();
    let efs = if a.opts.mode == Strategy::Scan {
        vec![parse_list("--ef", &a.ef, MAX_EF)?[0]]
    } else {
        parse_list("--ef", &a.ef, MAX_EF)?
    };
    let batch_sizes = parse_list("--batch-sizes", &a.batch_sizes, MAX_BATCH)?;
    // One open index, queries and ground truth read once, for every point.
    let w = Workload::load(&a.opts, a.gt.as_deref(), None)?;
    let partitions = w.index.num_partitions();
    if let Some(&np) = nprobes.iter().find(|&&np| np > partitions) {
        bail!(
            "--nprobe {np} exceeds the {partitions} partitions of {}; sweep values up to {partitions}",
            a.opts.index.display()
        );
    }
    let label = a.label.clone().unwrap_or_else(|| {
        a.opts
            .index
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| a.opts.index.display().to_string())
    });
    std::fs::create_dir_all(&a.out_dir)
        .with_context(|| format!("cannot create output directory {}", a.out_dir.display()))?;
    let jsonl = a.out_dir.join("results.jsonl");
    let csv = a.out_dir.join("results.csv");

    print_header();
    for &s in &sweep {
        for &ef in &efs {
            let params = params_of(&a, s, ef)?;
            let single = if a.single_limit > 0 {
                Some(run_point(&w, &run_of(&a, &params, 1, Some(a.single_limit)), ui)?.report)
            } else {
                None
            };
            for &batch_size in &batch_sizes {
                let r = run_point(&w, &run_of(&a, &params, batch_size, None), ui)?.report;
                let p = point(&a, &label, partitions, s, &r, single.as_ref());
                append_line(&jsonl, &serde_json::to_string(&p)?)?;
                print_row(&p);
            }
        }
    }
    let rows = write_csv(&jsonl, &csv)?;
    eprintln!(
        "bench: {} points appended to {}; {} rows in {}",
        sweep.len() * efs.len() * batch_sizes.len(),
        jsonl.display(),
        rows,
        csv.display()
    );
    Ok(())
}

/// Parses a comma-separated list of integers in `1..=max`.
fn parse_list(flag: &str, s: &str, max: usize) -> Result<Vec<usize>> {
    let items: Vec<&str> = s
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if items.is_empty() {
        bail!("{flag} is empty; give comma-separated values such as 1,2,4,8");
    }
    items
        .iter()
        .map(|t| match t.parse::<usize>() {
            Ok(0) => bail!("{flag}: 0 is not allowed; every value must be at least 1"),
            Ok(v) if v > max => bail!("{flag}: {v} is out of range: use 1..={max}"),
            Ok(v) => Ok(v),
            Err(_) => bail!("{flag}: '{t}' is not a positive integer; give comma-separated values such as 1,2,4,8"),
        })
        .collect()
}

/// Parses a comma-separated list of numbers (empty: none).
fn parse_floats(flag: &str, s: &str) -> Result<Vec<f32>> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| match t.parse::<f32>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => {
                bail!("{flag}: '{t}' is not a number; give comma-separated values such as 0.8,0.9")
            }
        })
        .collect()
}

/// Parses a comma-separated list of probability masses in (0, 1].
fn parse_masses(s: &str) -> Result<Vec<f32>> {
    let masses = parse_floats("--mlp-mass", s)?;
    if masses.is_empty() {
        bail!("--mlp-mass is empty; give comma-separated values such as 0.5,0.9,0.99");
    }
    if let Some(m) = masses.iter().find(|&&m| !(m > 0.0 && m <= 1.0)) {
        bail!("--mlp-mass: {m} is not a probability in (0, 1]; give values such as 0.5,0.9,0.99");
    }
    Ok(masses)
}

/// The search parameters of one sweep point.
fn params_of(a: &Args, s: Sweep, ef: usize) -> Result<SearchParams> {
    let p = match s {
        Sweep::Nprobe(n) => RouterPoint {
            nprobe: n,
            ..Default::default()
        },
        Sweep::Margin(m) => RouterPoint {
            margin: m,
            ..Default::default()
        },
        // Target-recall mode keeps the cap it was calibrated with.
        Sweep::Target(t) => RouterPoint {
            target_recall: Some(t),
            ..Default::default()
        },
        Sweep::Mass { mass, cap } => RouterPoint {
            nprobe: cap,
            mlp_mass: Some(mass),
            ..Default::default()
        },
    };
    Ok(a.opts.with_filter(
        SearchParams::new(a.opts.k)
            .router(a.opts.router_spec(&p)?)
            .strategy(a.opts.mode)
            .ef(ef),
    ))
}

fn run_of<'a>(
    a: &'a Args,
    params: &SearchParams,
    batch_size: usize,
    limit: Option<usize>,
) -> Run<'a> {
    Run {
        opts: &a.opts,
        params: params.clone(),
        batch_size,
        limit,
        keep_results: false,
    }
}

fn point(
    a: &Args,
    label: &str,
    partitions: usize,
    s: Sweep,
    r: &SearchReport,
    single: Option<&SearchReport>,
) -> Point {
    let (nprobe, margin, target_recall, mass) = match s {
        Sweep::Nprobe(n) => (n, None, None, None),
        Sweep::Mass { mass, cap } => (cap, None, None, Some(mass)),
        Sweep::Margin(m) => (r.max_nprobe.unwrap_or(0), Some(m), None, None),
        Sweep::Target(t) => (r.max_nprobe.unwrap_or(0), r.margin, Some(t), None),
    };
    Point {
        label: label.to_string(),
        config: Config {
            index: a.opts.index.display().to_string(),
            router: if a.opts.router == RouterKind::Gbdt && a.opts.mlp_order {
                "gbdt+mlp-order"
            } else if a.opts.router == RouterKind::Gbdt {
                "gbdt"
            } else if a.opts.router == RouterKind::Mlp {
                "mlp"
            } else if a.opts.spann_eps.is_some() {
                "spann"
            } else {
                "fixed"
            },
            nprobe,
            margin,
            target_recall,
            spann_eps: a.opts.spann_eps,
            mlp_mass: mass,
            partitions,
            io_threads: a.opts.io_threads,
            order: a.opts.order,
            mode: r.mode,
            ef: r.ef,
        },
        k: r.k,
        queries: r.queries,
        recall_at_1: r.recall_at_1,
        recall_at_10: r.recall_at_10,
        recall_at_100: r.recall_at_100,
        recall_at_k: r.recall_at_k,
        qps: r.qps,
        latency_ms_mean: single.map(|s| s.latency_ms_mean),
        latency_ms_p50: single.map(|s| s.latency_ms_p50),
        latency_ms_p99: single.map(|s| s.latency_ms_p99),
        latency_queries: single.map_or(0, |s| s.queries),
        single_qps: single.map(|s| s.qps),
        single_bytes_per_query: single.map(|s| s.bytes_per_query),
        vectors_per_query: r.vectors_per_query,
        vectors_read_per_query: r.vectors_read_per_query,
        bytes_per_query: r.bytes_per_query,
        partitions_per_query: r.partitions_per_query,
        partitions_read_per_query: r.partitions_read_per_query,
        io_requests_per_query: r.io_requests_per_query,
        read_mib_per_s: r.read_mib_per_s,
        io_mode: r.io_mode.clone(),
        threads: r.threads,
        batch_size: r.batch_size,
        rss_mb: single.map_or(r.rss_mb, |s| s.rss_mb.max(r.rss_mb)),
        router_select_us_per_query: r.router_select_us_per_query,
        router_select_cpu_us_per_query: r.router_select_cpu_us_per_query,
        route_us_per_query: r.route_us_per_query,
        router_desc: r.router_desc.clone(),
        graph_share: r.graph_share,
    }
}

fn append_line(path: &Path, line: &str) -> Result<()> {
    let mut f = FileOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {} for appending", path.display()))?;
    writeln!(f, "{line}").with_context(|| format!("cannot write to {}", path.display()))?;
    Ok(())
}

/// Rewrites `csv` from every line of `jsonl` (config flattened); returns the row count.
fn write_csv(jsonl: &Path, csv: &Path) -> Result<usize> {
    let text = std::fs::read_to_string(jsonl)
        .with_context(|| format!("cannot read {}", jsonl.display()))?;
    let mut rows: Vec<Map<String, Value>> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).with_context(|| {
            format!(
                "{}: line {} is not JSON; remove it or use another --out-dir",
                jsonl.display(),
                i + 1
            )
        })?;
        let Value::Object(obj) = v else {
            bail!(
                "{}: line {} is not a JSON object; remove it or use another --out-dir",
                jsonl.display(),
                i + 1
            );
        };
        rows.push(flatten(obj));
    }
    let mut columns: Vec<String> = CSV_COLUMNS.iter().map(|c| c.to_string()).collect();
    let mut extra: Vec<String> = rows
        .iter()
        .flat_map(|r| r.keys())
        .filter(|k| !CSV_COLUMNS.contains(&k.as_str()))
        .cloned()
        .collect();
    extra.sort();
    extra.dedup();
    columns.extend(extra);

    let mut out = String::new();
    out.push_str(
        &columns
            .iter()
            .map(|c| csv_cell(c))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push('\n');
    for r in &rows {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| match r.get(c) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => csv_cell(s),
                Some(v) => csv_cell(&v.to_string()),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    let tmp = csv.with_extension("csv.tmp");
    std::fs::write(&tmp, out).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, csv)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), csv.display()))?;
    Ok(rows.len())
}

/// Moves the members of nested objects up a level (`config.nprobe` -> `nprobe`; a
/// member whose name is taken keeps the `parent.` prefix).
fn flatten(obj: Map<String, Value>) -> Map<String, Value> {
    let mut flat = Map::new();
    let mut nested = Vec::new();
    for (k, v) in obj {
        match v {
            Value::Object(inner) => nested.push((k, inner)),
            v => {
                flat.insert(k, v);
            }
        }
    }
    for (parent, inner) in nested {
        for (k, v) in inner {
            let key = if flat.contains_key(&k) {
                format!("{parent}.{k}")
            } else {
                k
            };
            flat.insert(key, v);
        }
    }
    flat
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn print_header() {
    println!(
        "{:<16} {:>6} {:>6} {:>7} {:>7} {:>7} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10} {:>7} {:>7} {:>5} {:>6}",
        "label",
        "nprobe",
        "batch",
        "R@1",
        "R@10",
        "R@100",
        "QPS",
        "lat mean",
        "lat p50",
        "lat p99",
        "vectors/q",
        "KiB/q",
        "parts/q",
        "mode",
        "ef",
        "graph%"
    );
}

fn print_row(p: &Point) {
    let opt = |v: Option<f64>, prec: usize| match v {
        Some(x) => format!("{x:.prec$}"),
        None => "-".to_string(),
    };
    println!(
        "{:<16} {:>6} {:>6} {:>7} {:>7} {:>7} {:>10.1} {:>9} {:>9} {:>9} {:>10.1} {:>10.1} {:>7.2} {:>7} {:>5} {:>6.1}",
        p.label,
        match (p.config.target_recall, p.config.margin) {
            (Some(t), _) => format!("t{t}"),
            (None, Some(m)) => format!("m{m}"),
            _ => p.config.nprobe.to_string(),
        },
        p.batch_size,
        opt(p.recall_at_1, 4),
        opt(p.recall_at_10, 4),
        opt(p.recall_at_100, 4),
        p.qps,
        opt(p.latency_ms_mean, 3),
        opt(p.latency_ms_p50, 3),
        opt(p.latency_ms_p99, 3),
        p.vectors_per_query,
        p.bytes_per_query / 1024.0,
        p.partitions_per_query,
        p.config.mode.name(),
        p.config.ef,
        100.0 * p.graph_share
    );
    // A sweep can be long: show each point as soon as it is measured.
    let _ = std::io::stdout().flush();
}

#[cfg(test)]
mod tests {
    use super::{parse_floats, parse_masses};

    #[test]
    fn lists_of_numbers_and_masses() {
        assert_eq!(
            parse_floats("--margins", "-1, 0.5,").unwrap(),
            vec![-1.0, 0.5]
        );
        assert!(parse_floats("--margins", "x").is_err());
        assert!(parse_floats("--margins", "inf").is_err());
        assert_eq!(parse_masses("0.5,1").unwrap(), vec![0.5, 1.0]);
        for bad in ["", "0", "1.5", "-0.2", "nan", "a"] {
            assert!(parse_masses(bad).is_err(), "{bad}");
        }
    }
}
