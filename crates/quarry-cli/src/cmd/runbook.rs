//! `quarry bench --runbook FILE`: a streaming benchmark in the shape of
//! big-ann-benchmarks' NeurIPS'23 streaming track. The runbook is a JSON list of
//! steps over the rows of `--vectors` (row i has id i):
//!
//! ```json
//! [{"operation": "insert", "start": 0, "end": 200000},
//!  {"operation": "search"},
//!  {"operation": "delete", "start": 0, "end": 60000},
//!  {"operation": "insert", "start": 200000, "end": 260000},
//!  {"operation": "search"}]
//! ```
//!
//! (big-ann's YAML runbooks carry the same fields per numbered step.) The first
//! step must insert rows from 0: it builds the index (`--partitions`, `--metric`);
//! later inserts are upserts in batches of `--batch`, and a flush follows every
//! `--flush-every` batches and ends each write step. Every search step computes the
//! exact ground truth of the live rows for its queries (the first `--gt-queries`
//! of `--queries`) and reports recall@k, QPS, bytes per query and the partition
//! count; write steps report their throughput. One JSON line per step on stdout.

use crate::progress::Ui;
use anyhow::{bail, Context, Result};
use quarry_engine::Progress;
use quarry_engine::{
    build_index_from, exact_knn_filtered, BuildConfig, Index, MemorySource, Metric, NoProgress,
    OpenOptions, SearchParams, WriteOptions,
};
use quarry_formats::{open_vectors, read_queries, ChunkData};
use roaring::RoaringTreemap;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Clone)]
pub struct RunbookArgs {
    /// The runbook (see `quarry bench --help`'s description of the format).
    #[arg(long)]
    pub runbook: Option<PathBuf>,
    /// The dataset rows the runbook's steps name (row i has id i).
    #[arg(long)]
    pub vectors: Option<PathBuf>,
    /// Partitions of the index the first insert builds.
    #[arg(long, default_value_t = 256)]
    pub partitions: usize,
    #[arg(long, default_value = "l2")]
    pub metric: Metric,
    /// Queries per search step (the first of --queries), each with exact ground truth.
    #[arg(long, default_value_t = 1000)]
    pub gt_queries: usize,
    /// Flush every N upsert/delete batches (each write step also ends with a flush).
    #[arg(long, default_value_t = 10)]
    pub flush_every: u64,
    /// Ids per write.
    #[arg(long, default_value_t = 1000, value_parser = crate::bounds::batch_size)]
    pub batch: usize,
    /// At every search step, also build a fresh index of the live rows at the
    /// same partition count (beside --index, removed after) and report its recall
    /// at the same nprobe: what the writes cost against rebuilding.
    #[arg(long)]
    pub compare_fresh: bool,
}

#[derive(Deserialize, Debug)]
#[serde(tag = "operation", rename_all = "lowercase", deny_unknown_fields)]
enum Step {
    Insert { start: u64, end: u64 },
    Delete { start: u64, end: u64 },
    Search,
}

pub fn run(
    r: &RunbookArgs,
    index: &std::path::Path,
    queries: &std::path::Path,
    k: usize,
    nprobe: usize,
    ui: &Ui,
) -> Result<()> {
    let file = r.runbook.as_ref().expect("runbook mode");
    let Some(vectors) = &r.vectors else {
        bail!("--runbook needs --vectors: the dataset the steps' row ranges name");
    };
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let steps: Vec<Step> = serde_json::from_str(&text)
        .with_context(|| format!("{}: a JSON list of steps", file.display()))?;
    let src = open_vectors(vectors)?;
    let n = src.len() as u64;
    for (i, s) in steps.iter().enumerate() {
        let (Step::Insert { start, end } | Step::Delete { start, end }) = s else {
            continue;
        };
        if start >= end || *end > n {
            bail!(
                "step {i}: rows {start}..{end} are not within the {n} rows of {}",
                vectors.display()
            );
        }
    }
    let first_ok = matches!(steps.first(), Some(Step::Insert { start: 0, .. }));
    if !first_ok {
        bail!("the first step must insert rows from 0 (it builds the index)");
    }
    if index.exists() {
        bail!(
            "{} exists; the runbook builds a new index there",
            index.display()
        );
    }
    let q = read_queries(queries)?;
    if q.dim != src.dim() {
        bail!(
            "queries have {} dimensions, the vectors {}",
            q.dim,
            src.dim()
        );
    }
    let nq = r.gt_queries.clamp(1, q.n);
    let qs = &q.data[..nq * q.dim];
    let mut live = RoaringTreemap::new();
    let mut writer: Option<Index> = None;
    for (i, step) in steps.iter().enumerate() {
        let t = Instant::now();
        let line = match step {
            Step::Insert { start, end } if writer.is_none() => {
                let rows = src.read_range(*start as usize, (*end - *start) as usize)?;
                let mem = memory_source(&rows, src.dim())?;
                build_index_from(
                    &mem,
                    index,
                    &BuildConfig::new(r.partitions, r.metric),
                    &NoProgress,
                )?;
                live.insert_range(*start..*end);
                writer = Some(Index::open_writer(
                    index,
                    OpenOptions::default(),
                    WriteOptions::default(),
                )?);
                serde_json::json!({"step": i, "operation": "build", "rows": end - start,
                    "secs": t.elapsed().as_secs_f64()})
            }
            Step::Insert { start, end } | Step::Delete { start, end } => {
                let w = writer.as_mut().expect("built by the first step");
                let insert = matches!(step, Step::Insert { .. });
                let mut batches = 0u64;
                ui.stage(if insert { "insert" } else { "delete" }, end - start);
                for s in (*start..*end).step_by(r.batch) {
                    let e = (s + r.batch as u64).min(*end);
                    let ids: Vec<u64> = (s..e).collect();
                    if insert {
                        let v = src.read_range(s as usize, (e - s) as usize)?.to_f32();
                        w.upsert(&ids, &v)?;
                        live.insert_range(s..e);
                    } else {
                        w.delete(&ids)?;
                        live.remove_range(s..e);
                    }
                    batches += 1;
                    if batches.is_multiple_of(r.flush_every.max(1)) {
                        w.flush()?;
                    }
                    ui.advance(e - s);
                }
                let f = w.flush()?;
                ui.done();
                let secs = t.elapsed().as_secs_f64();
                serde_json::json!({"step": i, "operation": if insert { "insert" } else { "delete" },
                    "rows": end - start, "secs": secs, "rows_per_s": (end - start) as f64 / secs,
                    "partitions": w.num_partitions(), "live": w.len(), "last_flush": f})
            }
            Step::Search => {
                let w = writer.as_ref().expect("built by the first step");
                let gt = exact_knn_filtered(
                    src.as_ref(),
                    qs,
                    w.metric(),
                    k,
                    1 << 16,
                    Some(&live),
                    &NoProgress,
                )?;
                let params = SearchParams::new(k).nprobe(nprobe.min(w.num_partitions()));
                let ts = Instant::now();
                let res = w.search_batch(qs, &params)?;
                let secs = ts.elapsed().as_secs_f64();
                let mut hits = 0usize;
                for (got, want) in res.neighbors.iter().zip(&gt) {
                    hits += got
                        .iter()
                        .filter(|g| want.iter().any(|x| x.id == g.id))
                        .count();
                }
                let fresh = if r.compare_fresh {
                    Some(fresh_recall(
                        src.as_ref(),
                        &live,
                        w,
                        index,
                        qs,
                        &gt,
                        k,
                        nprobe,
                    )?)
                } else {
                    None
                };
                serde_json::json!({"step": i, "operation": "search", "queries": nq, "k": k,
                    "nprobe": nprobe, "recall_at_k": hits as f64 / (nq * k) as f64,
                    "fresh_recall_at_k": fresh,
                    "qps": nq as f64 / secs, "bytes_per_query": res.stats.bytes_read as f64 / nq as f64,
                    "partitions": w.num_partitions(), "live": w.len(),
                    "gt_secs": (ts - t).as_secs_f64()})
            }
        };
        println!("{line}");
    }
    Ok(())
}

/// Recall of a fresh build of the live rows at `w`'s partition count.
#[allow(clippy::too_many_arguments)]
fn fresh_recall(
    src: &dyn quarry_formats::VectorSource,
    live: &RoaringTreemap,
    w: &Index,
    index: &std::path::Path,
    qs: &[f32],
    gt: &[Vec<quarry_engine::Neighbor>],
    k: usize,
    nprobe: usize,
) -> Result<f64> {
    let rows: Vec<u64> = live.iter().collect();
    let mut data = Vec::with_capacity(rows.len() * src.dim());
    let mut i = 0;
    while i < rows.len() {
        // Consecutive ids are read as one range.
        let mut j = i + 1;
        while j < rows.len() && rows[j] == rows[j - 1] + 1 {
            j += 1;
        }
        data.extend(src.read_range(rows[i] as usize, j - i)?.to_f32());
        i = j;
    }
    let dir = index.with_extension("fresh");
    let _ = std::fs::remove_dir_all(&dir);
    let mem = MemorySource::f32(&data, src.dim())?;
    build_index_from(
        &mem,
        &dir,
        &BuildConfig::new(w.num_partitions(), w.metric()),
        &NoProgress,
    )?;
    let f = Index::open(&dir, OpenOptions::default())?;
    let res = f.search_batch(
        qs,
        &SearchParams::new(k).nprobe(nprobe.min(f.num_partitions())),
    )?;
    let mut hits = 0usize;
    for (got, want) in res.neighbors.iter().zip(gt) {
        // Fresh id j is live row rows[j].
        hits += got
            .iter()
            .filter(|g| want.iter().any(|x| x.id == rows[g.id as usize]))
            .count();
    }
    drop(f);
    std::fs::remove_dir_all(&dir)?;
    Ok(hits as f64 / (gt.len() * k) as f64)
}

fn memory_source(rows: &ChunkData, dim: usize) -> Result<MemorySource<'_>> {
    Ok(match rows {
        ChunkData::F32(v) => MemorySource::f32(v, dim)?,
        ChunkData::U8(v) => MemorySource::u8(v, dim)?,
        ChunkData::I8(v) => MemorySource::i8(v, dim)?,
    })
}
