//! What every handler shares: the open index (once it is ready), the limits,
//! the metrics, the admission semaphore and the batcher's queue.

use crate::batcher::Job;
use crate::config::Config;
use crate::error::ApiError;
use crate::metrics::Metrics;
use quarry_engine::{EngineError, Index};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

/// The open index. Searches, upserts, deletes and flushes all run on it at once:
/// the engine orders writes itself, and a flush swaps in its new files between
/// batches (searches never wait for it; writes do).
pub struct Loaded {
    pub index: Index,
    pub dim: usize,
    /// `Err(why)`: opened as a reader, writes answer 409 with `why`.
    pub writable: Result<(), String>,
    /// Deletes check that every id exists, then delete, under this lock.
    pub delete_lock: std::sync::Mutex<()>,
}

impl Loaded {
    pub fn read(&self) -> &Index {
        &self.index
    }
    pub fn check_writable(&self) -> Result<(), ApiError> {
        self.writable
            .as_ref()
            .map_err(|why| ApiError::new(axum::http::StatusCode::CONFLICT, why.clone()))
            .copied()
    }
}

/// Where the server is in its life.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Opening the index and replaying its log.
    Starting,
    Ready,
    /// The index could not be opened.
    Failed(String),
    /// SIGTERM (or a shutdown): in-flight requests finish, then a flush.
    Draining,
}

pub struct Shared {
    pub cfg: Config,
    pub loaded: OnceLock<Arc<Loaded>>,
    pub phase: watch::Sender<Phase>,
    pub metrics: Metrics,
    /// Requests admitted at once (queued or running).
    pub admission: Arc<Semaphore>,
    /// Search batches running at once.
    pub compute: Arc<Semaphore>,
    pub jobs: mpsc::UnboundedSender<Job>,
}

impl Shared {
    pub fn ready(&self) -> Result<Arc<Loaded>, ApiError> {
        match self.loaded.get() {
            Some(l) => Ok(l.clone()),
            None => match &*self.phase.borrow() {
                Phase::Failed(e) => Err(ApiError::unavailable(
                    format!("the index could not be opened: {e}"),
                    60,
                )),
                _ => Err(ApiError::starting()),
            },
        }
    }

    /// A place in the queue, or 503 + Retry-After.
    pub fn admit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.admission.clone().try_acquire_owned().map_err(|_| {
            self.metrics.rejected();
            ApiError::overloaded(self.cfg.queue)
        })
    }

    pub fn queue_depth(&self) -> usize {
        self.cfg.queue - self.admission.available_permits()
    }
}

/// Opens the index as its writer (replaying the log), or as a reader when asked
/// to or when the index does not take writes.
pub fn open(cfg: &Config) -> Result<Loaded, String> {
    let reader = |why: String| -> Result<Loaded, String> {
        let index = Index::open(&cfg.index, cfg.open).map_err(|e| e.to_string())?;
        Ok(Loaded {
            dim: index.dim(),
            index,
            writable: Err(why),
            delete_lock: Default::default(),
        })
    };
    if cfg.read_only {
        return reader(format!(
            "the server opened {} read-only (--read-only); it takes no writes",
            cfg.index.display()
        ));
    }
    match Index::open_writer(&cfg.index, cfg.open, cfg.write) {
        Ok(index) => Ok(Loaded {
            dim: index.dim(),
            index,
            writable: Ok(()),
            delete_lock: Default::default(),
        }),
        Err(e @ EngineError::NotWritable { .. }) => reader(e.to_string()),
        Err(e) => Err(format!(
            "cannot open {} for writing: {e}",
            cfg.index.display()
        )),
    }
}
