//! `quarry dev write-bench`: search throughput while upserts stream in, against
//! the same searches idle, on one open writer handle (the way a service holds an
//! index). Phase 1 runs search batches alone for `--secs`; phase 2 runs the same
//! searches while a second thread upserts batches of `--batch` vectors (fresh ids,
//! cycling through `--vectors`) at `--write-rate` vectors/s (0: as fast as the log
//! commits them); phase 3 runs the searches alone again, on the grown index. The
//! ratio compares phase 2 with the mean of phases 1 and 3 (the index grows during
//! phase 2, so that mean is idle QPS at about its mean size). Also reports the
//! sustained upsert rate and resident memory against the delta.

use crate::progress::Ui;
use anyhow::{bail, Result};
use quarry_engine::{Index, OpenOptions, SearchParams, SyncMode, WriteOptions};
use quarry_formats::{open_vectors, read_queries};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub index: PathBuf,
    /// Vectors to upsert (cycled, each pass under new ids).
    #[arg(long)]
    pub vectors: PathBuf,
    #[arg(long)]
    pub queries: PathBuf,
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    #[arg(long, default_value_t = 16)]
    pub nprobe: usize,
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Queries per search batch.
    #[arg(long, default_value_t = 1000)]
    pub search_batch: usize,
    /// Seconds per phase.
    #[arg(long, default_value_t = 10.0)]
    pub secs: f64,
    /// fdatasync per upsert batch (always) or not (os).
    #[arg(long, default_value = "always")]
    pub sync: String,
    /// Delta budget in MiB.
    #[arg(long, default_value_t = 1024)]
    pub delta_budget_mb: u64,
    /// Upserted vectors per second in phase 2 (0: unpaced).
    #[arg(long, default_value_t = 0.0)]
    pub write_rate: f64,
}

pub fn run(a: Args, _ui: &Ui) -> Result<()> {
    let sync = match a.sync.as_str() {
        "always" => SyncMode::Always,
        "os" => SyncMode::Os,
        o => bail!("--sync {o}: use always or os"),
    };
    let w = WriteOptions {
        sync,
        delta_budget_bytes: a.delta_budget_mb << 20,
        split_above: None,
        ..Default::default()
    };
    let index = Index::open_writer(&a.index, OpenOptions::default(), w)?;
    let q = read_queries(&a.queries)?;
    let src = open_vectors(&a.vectors)?;
    if q.dim != index.dim() || src.dim() != index.dim() {
        bail!(
            "queries and vectors must have the index's {} dimensions",
            index.dim()
        );
    }
    let nb = a.search_batch.min(q.n).max(1);
    let params = SearchParams::new(a.k).nprobe(a.nprobe);
    let prepared = index.prepare(&params)?;
    let searches = |stop: &AtomicBool, deadline: Instant| -> Result<(u64, f64)> {
        let (mut done, t) = (0u64, Instant::now());
        let mut at = 0;
        while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
            let rows = nb.min(q.n - at);
            prepared.search_batch(&q.data[at * q.dim..(at + rows) * q.dim])?;
            done += rows as u64;
            at = (at + rows) % q.n;
        }
        Ok((done, t.elapsed().as_secs_f64()))
    };
    let rss0 = crate::rss::rss_bytes().unwrap_or(0);
    let stop = AtomicBool::new(false);
    let secs = Duration::from_secs_f64(a.secs);
    let (idle_q, idle_s) = searches(&stop, Instant::now() + secs)?;
    let idle_qps = idle_q as f64 / idle_s;
    // Searching's own working memory is in place after phase 1: growth from here
    // on is the writes'.
    let rss_idle = crate::rss::rss_bytes().unwrap_or(0);
    let first_id = index.max_id()?.map_or(0, |m| m + 1);
    let written = AtomicU64::new(0);
    let write_secs = AtomicU64::new(0);
    let (busy_q, busy_s) = std::thread::scope(|s| -> Result<(u64, f64)> {
        let writer = s.spawn(|| -> Result<()> {
            let t = Instant::now();
            let n = src.len();
            let mut next = first_id;
            let mut row = 0;
            while !stop.load(Ordering::Relaxed) {
                if a.write_rate > 0.0 {
                    let due = Duration::from_secs_f64((next - first_id) as f64 / a.write_rate);
                    if let Some(wait) = due.checked_sub(t.elapsed()) {
                        std::thread::sleep(wait.min(Duration::from_millis(50)));
                        continue;
                    }
                }
                let cnt = a.batch.min(n - row);
                let v = src.read_range(row, cnt)?.to_f32();
                let ids: Vec<u64> = (next..next + cnt as u64).collect();
                index.upsert(&ids, &v)?;
                next += cnt as u64;
                row = (row + cnt) % n;
                written.fetch_add(cnt as u64, Ordering::Relaxed);
            }
            write_secs.store(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
            Ok(())
        });
        let r = searches(&AtomicBool::new(false), Instant::now() + secs);
        stop.store(true, Ordering::Relaxed);
        writer.join().expect("writer thread")?;
        r
    })?;
    let busy_qps = busy_q as f64 / busy_s;
    let (after_q, after_s) = searches(&AtomicBool::new(false), Instant::now() + secs)?;
    let after_qps = after_q as f64 / after_s;
    let idle_mean = (idle_qps + after_qps) / 2.0;
    let ups =
        written.load(Ordering::Relaxed) as f64 / (write_secs.load(Ordering::Relaxed) as f64 / 1e9);
    let live = index.live_stats();
    let rss1 = crate::rss::rss_bytes().unwrap_or(0);
    println!(
        "{}",
        serde_json::json!({
            "index": a.index, "nprobe": a.nprobe, "k": a.k, "search_batch": nb, "upsert_batch": a.batch,
            "sync": a.sync, "threads": rayon::current_num_threads(),
            "write_rate": a.write_rate,
            "idle_qps": idle_qps, "writing_qps": busy_qps, "idle_after_qps": after_qps,
            "qps_ratio": busy_qps / idle_mean, "qps_ratio_vs_start": busy_qps / idle_qps,
            "upserts": written.load(Ordering::Relaxed), "upserts_per_s": ups,
            "live": live, "rss_start_mb": rss0 as f64 / 1048576.0, "rss_end_mb": rss1 as f64 / 1048576.0,
            "rss_growth_mb": (rss1 as f64 - rss0 as f64) / 1048576.0,
            "rss_after_idle_mb": rss_idle as f64 / 1048576.0,
            "rss_growth_while_writing_mb": (rss1 as f64 - rss_idle as f64) / 1048576.0,
            "writes_memory_mb": index.memory().writes_bytes as f64 / 1048576.0,
            "delta_mb": live.map_or(0.0, |l| l.delta_bytes as f64 / 1048576.0),
            "peak_rss_mb": crate::rss::peak_rss_mb(),
        })
    );
    Ok(())
}
