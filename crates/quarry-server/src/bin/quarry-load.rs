//! `quarry-load`: a bounded load generator for `quarry serve` (loopback only).
//!
//! ```sh
//! quarry-load run --addr 127.0.0.1:7700 --queries q.fbin --gt gt.ibin --k 10 \
//!     --search '{"nprobe": 16}' --concurrency 64 --duration 20 [--rate 5000] [--upsert-fraction 0.1]
//! quarry-load check-acked --addr 127.0.0.1:7700 --acked acked.txt
//! ```

use clap::{Parser, Subcommand};
use quarry_server::load::{check_acked, run, LoadConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "quarry-load",
    about = "Load generator for `quarry serve` (loopback)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args)]
struct Common {
    /// The server (a loopback address).
    #[arg(long, default_value = "127.0.0.1:7700")]
    addr: SocketAddr,
    /// File holding the API key.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Seed of the upserted vectors (synth_vector(id, seed)).
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

#[derive(Subcommand)]
enum Cmd {
    /// Drive a search / upsert mix and report QPS, latency, statuses, recall.
    Run {
        #[command(flatten)]
        c: Common,
        #[arg(long)]
        queries: Option<PathBuf>,
        #[arg(long)]
        gt: Option<PathBuf>,
        #[arg(long, default_value_t = 10)]
        k: usize,
        /// Extra search fields, a JSON object: '{"nprobe": 16}' or '{"router": {...}}'.
        #[arg(long, default_value = "{}")]
        search: String,
        /// Requests in flight at most (closed loop: exactly).
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
        concurrency: u32,
        /// Requests per second (open loop); without it, closed loop.
        #[arg(long)]
        rate: Option<f64>,
        /// Seconds to run (at most 3600).
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        #[arg(long)]
        requests: Option<u64>,
        #[arg(long, default_value_t = 0.0)]
        upsert_fraction: f64,
        #[arg(long, default_value_t = 1)]
        upsert_batch: usize,
        #[arg(long, default_value_t = 1_000_000_000)]
        first_id: u64,
        /// Append acknowledged upsert ids here.
        #[arg(long)]
        acked_out: Option<PathBuf>,
        /// Stop after this many connection errors.
        #[arg(long, default_value_t = 1000)]
        max_errors: u64,
        /// Per-second counts (JSON lines).
        #[arg(long)]
        timeline: Option<PathBuf>,
    },
    /// Check that every id in --acked (one per line) is searchable with its vector.
    CheckAcked {
        #[command(flatten)]
        c: Common,
        #[arg(long)]
        acked: PathBuf,
    },
}

fn key(c: &Common) -> Result<Option<String>, String> {
    c.key_file
        .as_ref()
        .map(|p| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .map_err(|e| format!("{}: {e}", p.display()))
        })
        .transpose()
}

fn main() {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let res: Result<String, String> = rt.block_on(async {
        match cli.cmd {
            Cmd::Run {
                c,
                queries,
                gt,
                k,
                search,
                concurrency,
                rate,
                duration,
                requests,
                upsert_fraction,
                upsert_batch,
                first_id,
                acked_out,
                max_errors,
                timeline,
            } => {
                if !c.addr.ip().is_loopback() {
                    return Err(format!("{} is not a loopback address", c.addr));
                }
                if !(duration > 0.0 && duration <= 3600.0) {
                    return Err("--duration: use 0 < seconds <= 3600".into());
                }
                if !(0.0..=1.0).contains(&upsert_fraction) {
                    return Err("--upsert-fraction: use 0..=1".into());
                }
                let fields: serde_json::Value =
                    serde_json::from_str(&search).map_err(|e| format!("--search: {e}"))?;
                let search_fields = fields
                    .as_object()
                    .cloned()
                    .ok_or("--search: give a JSON object")?;
                let cfg = LoadConfig {
                    addr: c.addr,
                    key: key(&c)?,
                    queries,
                    gt,
                    k,
                    search_fields,
                    concurrency: concurrency as usize,
                    rate,
                    duration: Duration::from_secs_f64(duration),
                    max_requests: requests,
                    upsert_fraction,
                    upsert_batch: upsert_batch.max(1),
                    first_id,
                    seed: c.seed,
                    acked_out,
                    max_errors,
                    timeline,
                };
                let r = run(cfg).await?;
                Ok(serde_json::to_string_pretty(&r).unwrap_or_default())
            }
            Cmd::CheckAcked { c, acked } => {
                let text = std::fs::read_to_string(&acked)
                    .map_err(|e| format!("{}: {e}", acked.display()))?;
                let ids: Vec<u64> = text
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| l.trim().parse::<u64>().map_err(|e| format!("{l}: {e}")))
                    .collect::<Result<_, _>>()?;
                let r = check_acked(c.addr, key(&c)?, &ids, c.seed).await?;
                Ok(serde_json::to_string(&r).unwrap_or_default())
            }
        }
    });
    match res {
        Ok(s) => println!("{s}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
