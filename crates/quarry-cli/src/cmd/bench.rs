//! `quarry bench`: an nprobe sweep through `search::execute`, recorded as JSON lines + CSV.
//!
//! For every nprobe: one run over all queries per batch size (recall, QPS, bytes and
//! vectors per query) and one single-query run (batch size 1) over the first
//! `--single-limit` queries (latency). Each (nprobe, batch size) point becomes one line
//! of `OUT/results.jsonl` (appended, so several labels or configurations can share a
//! directory); `OUT/results.csv` is rewritten from the whole jsonl after every run.

use crate::cmd::search::{self, BatchOrder, SearchReport};
use crate::progress::Ui;
use anyhow::{bail, Context, Result};
use quarry_engine::{Index, IoMode, OpenOptions, SearchMode};
use serde::Serialize;
use serde_json::{Map, Value};
use std::fs::OpenOptions as FileOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub index: PathBuf,
    #[arg(long)]
    pub queries: PathBuf,
    /// Ground truth (.ivecs/.ibin) holding at least top-k per query.
    #[arg(long)]
    pub gt: PathBuf,
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Comma-separated nprobe values to sweep.
    #[arg(long, default_value = "1,2,4,8,16,32")]
    pub nprobe: String,
    /// Use SPANN's rule with this eps; each nprobe value is then the cap.
    #[arg(long)]
    pub spann_eps: Option<f32>,
    /// Comma-separated batch sizes of the throughput runs (over all queries).
    #[arg(long, default_value = "1000")]
    pub batch_sizes: String,
    /// Queries of the single-query latency run per nprobe (0 skips it).
    #[arg(long, default_value_t = 1000)]
    pub single_limit: usize,
    /// direct (page cache bypassed) or buffered.
    #[arg(long, default_value = "direct")]
    pub io: IoMode,
    /// Threads issuing reads (device queue depth).
    #[arg(long, default_value_t = 8)]
    pub io_threads: usize,
    /// How queries are cut into batches: centroid or input (file order).
    #[arg(long, default_value = "centroid")]
    pub order: BatchOrder,
    /// How read partitions answer their queries: scan, graph, auto or partial (see `search --mode`).
    #[arg(long, default_value = "scan")]
    pub mode: SearchMode,
    /// Comma-separated graph search breadths to sweep (graph modes; each nprobe x ef is a point).
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
    spann_eps: Option<f32>,
    partitions: usize,
    io_threads: usize,
    order: BatchOrder,
    mode: SearchMode,
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
    /// Share of (partition, batch) pairs answered by graph search.
    graph_share: f64,
}

/// CSV columns in this order first; any other keys found in the jsonl follow, sorted.
const CSV_COLUMNS: &[&str] = &[
    "label",
    "index",
    "router",
    "nprobe",
    "spann_eps",
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
    let nprobes = parse_list("--nprobe", &a.nprobe)?;
    let efs = if a.mode == SearchMode::Scan {
        vec![parse_list("--ef", &a.ef)?[0]]
    } else {
        parse_list("--ef", &a.ef)?
    };
    let batch_sizes = parse_list("--batch-sizes", &a.batch_sizes)?;
    if a.k == 0 {
        bail!("--k must be at least 1");
    }
    let partitions = {
        let index = Index::open(
            &a.index,
            OpenOptions {
                io: a.io,
                ..Default::default()
            },
        )?;
        index.num_partitions()
    };
    if let Some(&np) = nprobes.iter().find(|&&np| np > partitions) {
        bail!(
            "--nprobe {np} exceeds the {partitions} partitions of {}; sweep values up to {partitions}",
            a.index.display()
        );
    }
    let label = a.label.clone().unwrap_or_else(|| {
        a.index
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| a.index.display().to_string())
    });
    std::fs::create_dir_all(&a.out_dir)
        .with_context(|| format!("cannot create output directory {}", a.out_dir.display()))?;
    let jsonl = a.out_dir.join("results.jsonl");
    let csv = a.out_dir.join("results.csv");

    print_header();
    for &nprobe in &nprobes {
        for &ef in &efs {
            let single = if a.single_limit > 0 {
                Some(search::execute(
                    &search_args(&a, nprobe, ef, 1, Some(a.single_limit)),
                    ui,
                )?)
            } else {
                None
            };
            for &batch_size in &batch_sizes {
                let r = search::execute(&search_args(&a, nprobe, ef, batch_size, None), ui)?;
                let p = point(&a, &label, partitions, nprobe, &r, single.as_ref());
                append_line(&jsonl, &serde_json::to_string(&p)?)?;
                print_row(&p);
            }
        }
    }
    let rows = write_csv(&jsonl, &csv)?;
    eprintln!(
        "bench: {} points appended to {}; {} rows in {}",
        nprobes.len() * efs.len() * batch_sizes.len(),
        jsonl.display(),
        rows,
        csv.display()
    );
    Ok(())
}

/// Parses a comma-separated list of positive integers.
fn parse_list(flag: &str, s: &str) -> Result<Vec<usize>> {
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
            Ok(v) => Ok(v),
            Err(_) => bail!("{flag}: '{t}' is not a positive integer; give comma-separated values such as 1,2,4,8"),
        })
        .collect()
}

fn search_args(
    a: &Args,
    nprobe: usize,
    ef: usize,
    batch_size: usize,
    limit: Option<usize>,
) -> search::Args {
    search::Args {
        index: a.index.clone(),
        queries: a.queries.clone(),
        gt: Some(a.gt.clone()),
        k: a.k,
        nprobe,
        spann_eps: a.spann_eps,
        batch_size,
        io: a.io,
        io_threads: a.io_threads,
        order: a.order,
        limit,
        json: false,
        mode: a.mode,
        ef,
    }
}

fn point(
    a: &Args,
    label: &str,
    partitions: usize,
    nprobe: usize,
    r: &SearchReport,
    single: Option<&SearchReport>,
) -> Point {
    Point {
        label: label.to_string(),
        config: Config {
            index: a.index.display().to_string(),
            router: if a.spann_eps.is_some() {
                "spann"
            } else {
                "fixed"
            },
            nprobe,
            spann_eps: a.spann_eps,
            partitions,
            io_threads: a.io_threads,
            order: a.order,
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
        p.config.nprobe,
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
