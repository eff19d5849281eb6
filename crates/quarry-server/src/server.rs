//! Start, readiness, drain and shutdown.
//!
//! `Server::start` checks the settings, binds, and answers at once (`/healthz`:
//! 503 "starting") while the index is opened and its write-ahead log replayed on
//! a blocking thread; then `/healthz` answers 200. `Server::run` serves until its
//! stop future (SIGTERM/SIGINT in `quarry serve`) completes, then drains: no new
//! connections, in-flight requests finish, and a flush moves the acknowledged
//! writes into the index files. A crash instead loses no acknowledged write:
//! each was in the log before it was answered, and the next start replays it.

use crate::config::Config;
use crate::metrics::Metrics;
use crate::state::{self, Phase, Shared};
use quarry_engine::FlushReport;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinHandle;

pub struct Server {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    serve: JoinHandle<std::io::Result<()>>,
    batcher: JoinHandle<()>,
}

/// What a shutdown did.
#[derive(Debug, Default)]
pub struct Shutdown {
    /// The flush of acknowledged writes (None: nothing to flush, or a reader).
    pub flush: Option<FlushReport>,
}

impl Server {
    /// Checks `cfg`, binds its address and starts opening the index.
    pub async fn start(cfg: Config) -> Result<Server, String> {
        cfg.check()?;
        let listener = tokio::net::TcpListener::bind(cfg.addr)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", cfg.addr))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on {}: {e}", cfg.addr))?;
        let (jobs, rx) = mpsc::unbounded_channel();
        let (phase, _) = watch::channel(Phase::Starting);
        let shared = Arc::new(Shared {
            admission: Arc::new(Semaphore::new(cfg.queue)),
            compute: Arc::new(Semaphore::new(cfg.compute_slots)),
            cfg,
            loaded: Default::default(),
            phase,
            metrics: Metrics::default(),
            jobs,
        });
        let batcher = tokio::spawn(crate::batcher::run(shared.clone(), rx));
        let sh = shared.clone();
        tokio::spawn(async move {
            let s2 = sh.clone();
            let opened = tokio::task::spawn_blocking(move || state::open(&s2.cfg)).await;
            match opened {
                Ok(Ok(loaded)) => {
                    let n = loaded.read().len();
                    let _ = sh.loaded.set(Arc::new(loaded));
                    tracing::info!(vectors = n, "ready");
                    sh.phase.send_replace(Phase::Ready);
                }
                Ok(Err(e)) => {
                    sh.phase.send_replace(Phase::Failed(e));
                }
                Err(e) => {
                    sh.phase
                        .send_replace(Phase::Failed(format!("opening the index failed: {e}")));
                }
            }
        });
        let (stop, stop_rx) = oneshot::channel::<()>();
        let app = crate::routes::router(shared.clone());
        let serve = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await
        });
        Ok(Server {
            shared,
            addr,
            stop: Some(stop),
            serve,
            batcher,
        })
    }

    /// The bound address (an ephemeral port resolved).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Waits until the index is open (Ok) or failed to open (Err).
    pub async fn ready(&self) -> Result<(), String> {
        let mut rx = self.shared.phase.subscribe();
        loop {
            match &*rx.borrow_and_update() {
                Phase::Ready => return Ok(()),
                Phase::Failed(e) => return Err(e.clone()),
                Phase::Draining => return Err("shutting down".into()),
                Phase::Starting => {}
            }
            if rx.changed().await.is_err() {
                return Err("shutting down".into());
            }
        }
    }

    /// Serves until `stop` completes (or the index fails to open), then shuts
    /// down (drain, flush).
    pub async fn run(self, stop: impl Future<Output = ()>) -> Result<Shutdown, String> {
        let mut rx = self.shared.phase.subscribe();
        let failed = async move {
            loop {
                if let Phase::Failed(e) = &*rx.borrow_and_update() {
                    return e.clone();
                }
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            _ = stop => self.shutdown().await,
            e = failed => {
                let _ = self.shutdown().await;
                Err(e)
            }
        }
    }

    /// Stops accepting, lets in-flight requests finish, then flushes the
    /// acknowledged writes.
    pub async fn shutdown(mut self) -> Result<Shutdown, String> {
        self.shared.phase.send_if_modified(|p| {
            if matches!(p, Phase::Ready | Phase::Starting) {
                *p = Phase::Draining;
                true
            } else {
                false
            }
        });
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match (&mut self.serve).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("server error: {e}")),
            Err(e) => return Err(format!("server task failed: {e}")),
        }
        self.batcher.abort();
        let _ = (&mut self.batcher).await;
        let flush = self.final_flush().await;
        self.release().await;
        flush
    }

    async fn final_flush(&self) -> Result<Shutdown, String> {
        let Some(loaded) = self.shared.loaded.get().cloned() else {
            return Ok(Shutdown::default());
        };
        if loaded.writable.is_err() {
            return Ok(Shutdown::default());
        }
        let flush = tokio::task::spawn_blocking(move || {
            let index = loaded.read();
            let dirty = index
                .live_stats()
                .is_some_and(|l| l.log_bytes > 0 || l.delta > 0 || l.deleted > 0);
            if dirty {
                index.flush().map(Some)
            } else {
                Ok(None)
            }
        })
        .await
        .map_err(|e| format!("the final flush failed: {e}"))?
        .map_err(|e| {
            format!("the final flush failed: {e}; the acknowledged writes stay in the log")
        })?;
        Ok(Shutdown { flush })
    }

    /// Waits until nothing but this server holds the index, so that when the
    /// server is dropped the index (and its writer lock) closes at once: a
    /// caller may reopen the directory as soon as `shutdown` returns. Batches
    /// already handed to blocking threads finish first (bounded by the request
    /// timeout, after which nobody waits for their answers).
    async fn release(&self) {
        let limit = tokio::time::Instant::now() + self.shared.cfg.timeout + Duration::from_secs(5);
        while Arc::strong_count(&self.shared) > 1
            || self
                .shared
                .loaded
                .get()
                .is_some_and(|l| Arc::strong_count(l) > 1)
        {
            if tokio::time::Instant::now() > limit {
                tracing::warn!("a search batch still holds the index after shutdown");
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}
