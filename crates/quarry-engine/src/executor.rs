//! The batch-aware executor: route -> plan (partition -> queries) -> fetch each
//! partition once -> let the searcher answer its queries -> merge per query. It
//! knows no strategy: the `PartitionSearcher` it is handed does the per-partition work.

use crate::filtered::{PlanTaken, Resolved};
use crate::search::{Answers, PartitionJob, PartitionSearcher};
use crate::stats::{BatchResult, BatchStats, QueryStats};
use crate::updates::live::LiveSlice;
use crate::EngineError;
use quarry_kernels::cpu_time::process_cpu_secs;
use quarry_kernels::{DType, Metric, Neighbor, TopK};
use quarry_routing::{CentroidIndex, RouteInput, Router};
use quarry_storage::{IoPool, LoadedPartition, PartitionEntry, PartitionStore};
use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the executor reads from: an open index's parts.
pub(crate) struct Sources<'a> {
    pub centroids: &'a CentroidIndex,
    pub table: &'a [PartitionEntry],
    pub store: &'a Arc<dyn PartitionStore>,
    pub pool: &'a IoPool,
    pub read_ahead: usize,
    /// Runs searchers that read for themselves (required for them).
    pub partial_pool: Option<&'a rayon::ThreadPool>,
    pub dim: usize,
    pub dtype: DType,
    pub metric: Metric,
    /// Ids may repeat across partitions (the index stores copies).
    pub dedup: bool,
    /// Acknowledged writes not yet in the files (`None`: none), with the snapshot
    /// the other fields come from: the writes are taken only while the index
    /// still searches that snapshot (else `EngineError::SnapshotMoved`).
    pub live: Option<(
        &'a std::sync::RwLock<crate::index::State>,
        &'a Arc<crate::snapshot::Snapshot>,
    )>,
}

/// One partition's answers with what reading and answering it cost.
struct Answered {
    pid: u32,
    answers: Answers,
    compute: Duration,
}

/// `QUARRY_FAILPOINT=search-slow-take` widens the window between a batch taking
/// its snapshot and taking the writes (2 ms), so a test can make flushes land in
/// it; read once per process.
fn slow_take_failpoint() {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var("QUARRY_FAILPOINT").as_deref() == Ok("search-slow-take")) {
        std::thread::sleep(Duration::from_millis(2));
    }
}

pub(crate) fn run(
    src: &Sources<'_>,
    queries: &[f32],
    k: usize,
    router: &dyn Router,
    searcher: &dyn PartitionSearcher,
    filter: Option<&Resolved>,
) -> Result<BatchResult, EngineError> {
    if let Some(f) = filter {
        if f.plan(router.max_probes()) == PlanTaken::Exact {
            return crate::filtered::exact::run(src, queries, k, f);
        }
    }
    let wall = Instant::now();
    let dim = src.dim;
    let nq = queries.len() / dim;

    // 1. Route: one GEMM against the centroids for the whole batch (unless the
    //    router ranks partitions by a model of its own).
    let t = Instant::now();
    let ranked = match router.ranking_depth() {
        Some(depth) => Some(src.centroids.rank(queries, depth)?),
        None => None,
    };
    let (ts, cpu) = (Instant::now(), process_cpu_secs());
    let selected = router.select(&RouteInput {
        queries,
        dim,
        k,
        ranked: ranked.as_ref(),
    })?;
    let select = ts.elapsed();
    let select_cpu = Duration::from_secs_f64((process_cpu_secs() - cpu).max(0.0));
    // A filter keeps the router's partition counts and walks the centroid order of
    // the partitions holding matches instead, widened until k matches are seen.
    let selected = match filter {
        Some(f) => f.route(src.centroids, queries, k, &selected)?,
        None => selected,
    };
    let route = t.elapsed();

    // 2. Invert query -> partitions into partition -> queries, in disk order.
    let np = src.table.len();
    if selected.len() != nq {
        return Err(EngineError::BadSearch(format!(
            "router {} answered {} of {nq} queries",
            router.describe(),
            selected.len()
        )));
    }
    let mut queries_of: Vec<Vec<u32>> = vec![Vec::new(); np];
    let mut per_query = vec![QueryStats::default(); nq];
    for (qi, parts) in selected.iter().enumerate() {
        for &p in parts {
            let Some(list) = queries_of.get_mut(p as usize) else {
                return Err(EngineError::BadSearch(format!(
                    "router {} chose partition {p}; the index has {np}",
                    router.describe()
                )));
            };
            list.push(qi as u32);
            per_query[qi].partitions += 1;
        }
    }
    let pids: Vec<u32> = (0..np as u32)
        .filter(|&p| !queries_of[p as usize].is_empty())
        .collect();
    // The writes this batch sees: copied out for the probed partitions, so the
    // lock is not held while partitions are read and scanned.
    // A filter was resolved against writes: the search uses those same writes.
    let taken = match filter {
        Some(_) => None,
        None => match src.live {
            Some((lock, snap)) => {
                slow_take_failpoint();
                let g = lock.read().unwrap_or_else(|e| e.into_inner());
                if !Arc::ptr_eq(&g.files, snap) {
                    return Err(EngineError::SnapshotMoved);
                }
                g.live
                    .as_ref()
                    .filter(|l| !l.is_clean())
                    .map(|l| LiveSlice::of(l, &pids))
            }
            None => None,
        },
    };
    let live = filter.map_or(taken.as_ref(), |f| f.live.as_ref());
    let job = |pid: u32| PartitionJob {
        pid,
        count: src.table[pid as usize].count as usize,
        dim,
        dtype: src.dtype,
        metric: src.metric,
        queries,
        routed: &queries_of[pid as usize],
        k,
        // Partitions whose every vector matches (stored, none written) need no mask.
        filter: filter
            .filter(|f| {
                f.stored_per_partition[pid as usize] < src.table[pid as usize].count
                    || live.is_some_and(|l| l.parts[pid as usize].is_some())
            })
            .map(|f| &f.matches),
        exclude: live
            .filter(|l| l.has_dead[pid as usize])
            .map(|l| l.dead.as_ref()),
        delta: live.and_then(|l| l.parts[pid as usize].as_ref()),
    };

    // 3. Fetch each partition once and answer its queries as reads complete.
    let io_wait_ns = AtomicU64::new(0);
    let answered: Vec<Result<Answered, EngineError>> = if !searcher.needs_extent() {
        // The searcher reads what it needs itself; its reads block, so it runs on
        // the partial-read pool (as many threads as I/O threads: the queue depth).
        let run = |pid: u32| -> Result<Answered, EngineError> {
            let t = Instant::now();
            let answers = searcher.search(&job(pid), None)?;
            Ok(Answered {
                pid,
                answers,
                compute: t.elapsed(),
            })
        };
        match src.partial_pool {
            Some(pool) => pool.install(|| pids.par_iter().map(|&p| run(p)).collect()),
            None => vec![Err(EngineError::BadSearch(format!(
                "the {} searcher needs the partial-read pool",
                searcher.name()
            )))],
        }
    } else {
        for_each_extent(src, &pids, &io_wait_ns, |pid, extent, bytes| {
            let t = Instant::now();
            let mut answers = searcher.search(&job(pid), Some(extent))?;
            answers.bytes = bytes;
            answers.io_requests = 1;
            answers.vectors_read = src.table[pid as usize].count;
            Ok(Answered {
                pid,
                answers,
                compute: t.elapsed(),
            })
        })
    };

    // 4. Merge per-query lists (ids de-duplicated: replicated vectors count once).
    let t = Instant::now();
    let mut stats = BatchStats {
        queries: nq,
        route,
        select,
        select_cpu,
        ..Default::default()
    };
    // Sized once: each probed partition adds at most k.
    let mut candidates: Vec<Vec<Neighbor>> = per_query
        .iter()
        .map(|q| Vec::with_capacity(q.partitions as usize * k))
        .collect();
    for a in answered {
        let Answered {
            pid,
            answers: s,
            compute,
        } = a?;
        stats.partitions_read += 1;
        stats.io_requests += s.io_requests;
        stats.bytes_read += s.bytes;
        stats.vectors_read += s.vectors_read;
        stats.graph_searches += s.graph as u64;
        stats.compute += compute;
        let sharers = &queries_of[pid as usize];
        let share = s.bytes as f64 / sharers.len() as f64;
        for ((qi, list), d) in sharers.iter().zip(s.lists).zip(s.distances) {
            candidates[*qi as usize].extend(list);
            per_query[*qi as usize].bytes += share;
            per_query[*qi as usize].vectors += d;
        }
    }
    // Ids repeat across partitions only when the index stores copies.
    let dedup = src.dedup;
    let neighbors: Vec<Vec<Neighbor>> = candidates
        .into_par_iter()
        .map(|c| merge(c, k, dedup))
        .collect();
    stats.merge = t.elapsed();
    stats.distance_computations = per_query.iter().map(|q| q.vectors).sum();
    stats.io_wait = Duration::from_nanos(io_wait_ns.load(Ordering::Relaxed));
    stats.wall = wall.elapsed();
    stats.filter = filter.map(|f| f.stats(PlanTaken::Routed));
    Ok(BatchResult {
        neighbors,
        per_query,
        stats,
    })
}

/// Reads each of `pids` once (in disk order, many reads in flight, or by mapping
/// in buffered mode) and calls `f(pid, extent, bytes read)` on the compute threads
/// as reads complete. `io_wait_ns` collects the time spent waiting for a read.
pub(crate) fn for_each_extent<R: Send>(
    src: &Sources<'_>,
    pids: &[u32],
    io_wait_ns: &AtomicU64,
    f: impl Fn(u32, &[u8], u64) -> Result<R, EngineError> + Sync + Send,
) -> Vec<Result<R, EngineError>> {
    if src.store.maps_extents() {
        // A mapped file (buffered mode): "reading" is verifying the extent's pages
        // in place, done by the worker that searches it; no I/O-thread hand-off.
        pids.par_iter()
            .map(|&pid| {
                let m = src.store.map_extent(pid).ok_or_else(|| {
                    EngineError::BadSearch("a store that maps extents mapped none".into())
                })??;
                let loaded = LoadedPartition::from_mapped(pid, m, Duration::ZERO);
                f(pid, loaded.bytes(), loaded.bytes)
            })
            .collect()
    } else {
        let stream = src.pool.stream(src.store.clone(), pids, src.read_ahead);
        let timed = TimedStream {
            inner: stream,
            wait_ns: io_wait_ns,
        };
        timed
            .par_bridge()
            .map(|loaded| {
                let loaded = loaded?;
                f(loaded.pid, loaded.bytes(), loaded.bytes)
            })
            .collect()
    }
}

/// Counts the time scanners spend waiting for the next completed read.
struct TimedStream<'a, I> {
    inner: I,
    wait_ns: &'a AtomicU64,
}

impl<I: Iterator> Iterator for TimedStream<'_, I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        let t = Instant::now();
        let item = self.inner.next();
        self.wait_ns
            .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        item
    }
}

pub(crate) fn merge(mut c: Vec<Neighbor>, k: usize, dedup: bool) -> Vec<Neighbor> {
    if dedup {
        c.sort_unstable_by(|a, b| a.id.cmp(&b.id).then(a.dist.total_cmp(&b.dist)));
        c.dedup_by_key(|n| n.id);
    }
    let mut top = TopK::new(k);
    top.extend(c);
    top.into_sorted()
}
