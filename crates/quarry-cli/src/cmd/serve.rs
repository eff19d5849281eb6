//! `quarry serve`: the HTTP service over one index (see the quarry-server crate).

use anyhow::{anyhow, Context, Result};
use quarry_engine::{IoMode, OpenOptions, SyncMode, WriteOptions};
use quarry_server::{Config, Server};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub index: PathBuf,
    /// Address to listen on (a non-loopback one needs --api-key-file).
    #[arg(long, default_value = "127.0.0.1:7700")]
    pub addr: SocketAddr,
    /// File holding the API key (surrounding whitespace ignored): clients send
    /// `Authorization: Bearer KEY` on every route but /healthz.
    #[arg(long)]
    pub api_key_file: Option<PathBuf>,
    /// Listen on a non-loopback address without a key anyway.
    #[arg(long)]
    pub allow_unauthenticated: bool,
    /// Gather concurrent searches for up to this long into one batch (0: off).
    #[arg(long, default_value_t = 2.0)]
    pub batch_window_ms: f64,
    /// Queries in one gathered batch at most.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub max_batch: u32,
    /// Requests admitted at once (queued or running); beyond, 503 + Retry-After.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub queue: u32,
    /// Search batches running at once (each uses every core through rayon; 2
    /// overlaps one batch's reads with another's compute).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub compute_slots: u32,
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_k: u32,
    /// Queries in one search request at most.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub max_queries: u32,
    /// Points in one upsert (ids in one delete) at most.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub max_points: u32,
    /// Request bodies larger than this are refused (413).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_body_mb: u32,
    /// Requests not answered within this get 504.
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub timeout_ms: u64,
    /// nprobe of searches that name no router.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub nprobe: u32,
    #[arg(long, value_enum, default_value = "always")]
    pub sync: crate::cmd::write::Sync,
    /// Memory the unflushed writes may hold, in MiB (beyond it, writes get 503).
    #[arg(long, default_value_t = 1024)]
    pub delta_budget_mb: u64,
    /// Open the index as a reader: searches only (writes answer 409).
    #[arg(long)]
    pub read_only: bool,
    /// Read partitions through the page cache instead of direct I/O.
    #[arg(long, default_value = "direct")]
    pub io: IoMode,
}

pub fn run(a: Args) -> Result<()> {
    if !(a.batch_window_ms.is_finite() && (0.0..=10_000.0).contains(&a.batch_window_ms)) {
        return Err(anyhow!("--batch-window-ms: use 0..=10000"));
    }
    let api_key = match &a.api_key_file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the API key file {}", p.display()))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    let mut cfg = Config::new(a.index.clone());
    cfg.addr = a.addr;
    cfg.api_key = api_key;
    cfg.allow_unauthenticated = a.allow_unauthenticated;
    cfg.batch_window = Duration::from_secs_f64(a.batch_window_ms / 1e3);
    cfg.max_batch = a.max_batch as usize;
    cfg.queue = a.queue as usize;
    cfg.compute_slots = a.compute_slots as usize;
    cfg.max_k = a.max_k as usize;
    cfg.max_queries = a.max_queries as usize;
    cfg.max_points = a.max_points as usize;
    cfg.max_body_bytes = (a.max_body_mb as usize) << 20;
    cfg.timeout = Duration::from_millis(a.timeout_ms);
    cfg.default_nprobe = a.nprobe as usize;
    cfg.read_only = a.read_only;
    cfg.open = OpenOptions {
        io: a.io,
        ..OpenOptions::default()
    };
    cfg.write = WriteOptions {
        sync: match a.sync {
            crate::cmd::write::Sync::Always => SyncMode::Always,
            crate::cmd::write::Sync::Os => SyncMode::Os,
        },
        delta_budget_bytes: a.delta_budget_mb << 20,
        ..WriteOptions::default()
    };
    cfg.check().map_err(|e| anyhow!(e))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("quarry-serve")
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let server = Server::start(cfg).await.map_err(|e| anyhow!(e))?;
        eprintln!(
            "quarry serve: listening on http://{} (index {}; /healthz answers 200 once the log is replayed)",
            server.addr(),
            a.index.display()
        );
        let stop = async {
            use tokio::signal::unix::{signal, SignalKind};
            match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
                (Ok(mut t), Ok(mut i)) => {
                    tokio::select! {
                        _ = t.recv() => eprintln!("quarry serve: SIGTERM: draining, then flushing"),
                        _ = i.recv() => eprintln!("quarry serve: SIGINT: draining, then flushing"),
                    }
                }
                _ => std::future::pending::<()>().await,
            }
        };
        let done = server.run(stop).await.map_err(|e| anyhow!(e))?;
        match done.flush {
            Some(f) => eprintln!(
                "quarry serve: stopped; flushed {} partition(s), {} vectors",
                f.partitions, f.vectors
            ),
            None => eprintln!("quarry serve: stopped; nothing to flush"),
        }
        Ok(())
    })
}
