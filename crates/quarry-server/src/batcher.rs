//! Live batching. Search requests are queued as jobs; the batcher gathers the
//! jobs that arrive within the window after the first (up to `max_batch`
//! queries), waits for a compute slot (jobs arriving meanwhile join too, so a
//! busy server forms larger batches), then runs each group of jobs with the same
//! search parameters as one `search_batch` on a blocking thread. Each job gets
//! its own rows back. With a window of 0 every job runs alone.

use crate::api::BatchInfo;
use crate::error::ApiError;
use crate::state::Shared;
use quarry_engine::{Neighbor, QueryStats, SearchParams};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};

pub struct Job {
    /// Jobs with equal keys share a batch (the parameters, serialized).
    pub key: String,
    pub params: SearchParams,
    /// Row-major queries.
    pub queries: Vec<f32>,
    pub n: usize,
    pub enqueued: Instant,
    pub reply: oneshot::Sender<Result<JobOut, ApiError>>,
}

pub struct JobOut {
    pub neighbors: Vec<Vec<Neighbor>>,
    pub stats: Vec<QueryStats>,
    pub batch: BatchInfo,
}

/// Runs until every sender is gone.
pub async fn run(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Job>) {
    let window = shared.cfg.batch_window;
    let max = shared.cfg.max_batch;
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        let permit;
        if window.is_zero() {
            permit = shared.compute.clone().acquire_owned().await;
        } else {
            let mut nq = jobs[0].n;
            let deadline = tokio::time::Instant::from_std(jobs[0].enqueued) + window;
            while nq < max {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(j)) => {
                        nq += j.n;
                        jobs.push(j);
                    }
                    _ => break,
                }
            }
            permit = shared.compute.clone().acquire_owned().await;
            while nq < max {
                match rx.try_recv() {
                    Ok(j) => {
                        nq += j.n;
                        jobs.push(j);
                    }
                    Err(_) => break,
                }
            }
        }
        let Ok(permit) = permit else { return };
        let sh = shared.clone();
        tokio::task::spawn_blocking(move || run_jobs(&sh, jobs, permit));
    }
}

/// Runs gathered jobs, one engine batch per parameter group.
fn run_jobs(shared: &Shared, jobs: Vec<Job>, _permit: OwnedSemaphorePermit) {
    let mut groups: Vec<(String, Vec<Job>)> = Vec::new();
    for j in jobs {
        if j.reply.is_closed() {
            continue; // timed out or the client went away
        }
        match groups.iter_mut().find(|g| g.0 == j.key) {
            Some(g) => g.1.push(j),
            None => groups.push((j.key.clone(), vec![j])),
        }
    }
    let Some(loaded) = shared.loaded.get() else {
        for (_, g) in groups {
            for j in g {
                let _ = j.reply.send(Err(ApiError::starting()));
            }
        }
        return;
    };
    for (_, group) in groups {
        let requests = group.len();
        let nq: usize = group.iter().map(|j| j.n).sum();
        let t0 = Instant::now();
        let result = {
            let index = loaded.read();
            let prepared = index.prepare(&group[0].params);
            prepared.and_then(|p| {
                if requests == 1 {
                    p.search_batch(&group[0].queries)
                } else {
                    let mut q = Vec::with_capacity(nq * loaded.dim);
                    for j in &group {
                        q.extend_from_slice(&j.queries);
                    }
                    p.search_batch(&q)
                }
            })
        };
        let search_ms = t0.elapsed().as_secs_f64() * 1e3;
        match result {
            Ok(r) => {
                shared.metrics.batch(
                    nq,
                    requests,
                    r.stats.bytes_read,
                    r.stats.partitions_read,
                    search_ms / 1e3,
                );
                let mut neighbors = r.neighbors.into_iter();
                let mut stats = r.per_query.into_iter();
                for j in group {
                    let out = JobOut {
                        neighbors: neighbors.by_ref().take(j.n).collect(),
                        stats: stats.by_ref().take(j.n).collect(),
                        batch: BatchInfo {
                            queries: nq,
                            requests,
                            partitions_read: r.stats.partitions_read,
                            bytes_read: r.stats.bytes_read,
                            search_ms,
                            queue_ms: t0.saturating_duration_since(j.enqueued).as_secs_f64() * 1e3,
                        },
                    };
                    let _ = j.reply.send(Ok(out));
                }
            }
            Err(e) => {
                let e = ApiError::from(e);
                for j in group {
                    let _ = j.reply.send(Err(e.clone()));
                }
            }
        }
    }
}
