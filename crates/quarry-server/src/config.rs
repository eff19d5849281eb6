//! What a server is started with: the index, the address, the batching window,
//! the limits and the key.

use quarry_engine::{OpenOptions, WriteOptions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Largest component magnitude a vector may have: squared norms then stay far
/// below `f32::MAX` for any dimension up to 10^6, so no distance overflows.
pub const MAX_COMPONENT: f32 = 1e15;

#[derive(Debug, Clone)]
pub struct Config {
    pub index: PathBuf,
    pub addr: SocketAddr,
    /// `Authorization: Bearer KEY` required on every route but `/healthz`.
    pub api_key: Option<String>,
    /// Bind a non-loopback address without a key anyway.
    pub allow_unauthenticated: bool,
    /// How long concurrent searches are gathered into one batch (0: off, each
    /// request is searched on its own).
    pub batch_window: Duration,
    /// Queries in one gathered batch at most (a request is never split).
    pub max_batch: usize,
    /// Requests admitted at once (queued or running); beyond: 503 + Retry-After.
    pub queue: usize,
    /// Search batches running at once on the blocking threads.
    pub compute_slots: usize,
    pub max_k: usize,
    /// Queries in one search request at most.
    pub max_queries: usize,
    /// Points in one upsert (ids in one delete) at most.
    pub max_points: usize,
    /// Request body size at most (413 beyond).
    pub max_body_bytes: usize,
    /// A request not answered within it gets 504.
    pub timeout: Duration,
    /// nprobe of a search that names no router.
    pub default_nprobe: usize,
    pub open: OpenOptions,
    pub write: WriteOptions,
    /// Open the index as a reader (write routes answer 409).
    pub read_only: bool,
}

impl Config {
    /// Defaults for an index at `index`, listening on 127.0.0.1:7700.
    pub fn new(index: PathBuf) -> Config {
        Config {
            index,
            addr: SocketAddr::from(([127, 0, 0, 1], 7700)),
            api_key: None,
            allow_unauthenticated: false,
            batch_window: Duration::from_millis(2),
            max_batch: 1024,
            queue: 1024,
            compute_slots: 2,
            max_k: 1000,
            max_queries: 1024,
            max_points: 10_000,
            max_body_bytes: 64 << 20,
            timeout: Duration::from_secs(30),
            default_nprobe: 16,
            open: OpenOptions::default(),
            write: WriteOptions::default(),
            read_only: false,
        }
    }

    /// Refuses settings that cannot work, before anything is bound or opened.
    pub fn check(&self) -> Result<(), String> {
        if !self.addr.ip().is_loopback() && self.api_key.is_none() && !self.allow_unauthenticated {
            return Err(format!(
                "refusing to listen on {} (not a loopback address) without an API key: anyone \
                 who can reach it could read and change the index; pass --api-key-file FILE \
                 (clients then send `Authorization: Bearer KEY`), or --allow-unauthenticated \
                 to allow it anyway",
                self.addr
            ));
        }
        if let Some(k) = &self.api_key {
            if k.is_empty() {
                return Err(
                    "the API key is empty; put at least one character in the key file".into(),
                );
            }
        }
        let positive = [
            ("max_batch", self.max_batch),
            ("queue", self.queue),
            ("compute_slots", self.compute_slots),
            ("max_k", self.max_k),
            ("max_queries", self.max_queries),
            ("max_points", self.max_points),
            ("max_body_bytes", self.max_body_bytes),
            ("default_nprobe", self.default_nprobe),
        ];
        for (what, v) in positive {
            if v == 0 {
                return Err(format!("{what} must be at least 1"));
            }
        }
        if self.timeout.is_zero() {
            return Err("the request timeout must be above 0".into());
        }
        Ok(())
    }
}
