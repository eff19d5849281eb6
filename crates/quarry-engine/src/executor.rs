//! The batch-aware executor.

use crate::graphs::{prefer_graph, SearchMode};
use crate::partial::{search_partial, PageReader};
use crate::stats::{BatchResult, BatchStats, QueryStats};
use crate::{EngineError, Index};
use quarry_kernels::metric::cosine_from_parts;
use quarry_kernels::{
    batch_distances_with, simd, squared_norms, BatchScratch, DType, Element, Metric, Neighbor, TopK,
};
use quarry_routing::Router;
use quarry_storage::{LoadedPartition, PartitionView, StorageError};
use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Candidates kept per (query, partition) from GEMM distances before the exact
/// re-score: GEMM's ||q||^2 - 2q.x + ||x||^2 rounds differently from a direct
/// difference, and depends on block shapes; re-scoring the best `k + RESCORE_SLACK`
/// with the fixed-order kernel makes results exact and identical whether a query
/// is searched alone or inside any batch.
const RESCORE_SLACK: usize = 16;

/// Queries per GEMM block inside one partition (bounds the distance matrix).
const QUERY_BLOCK: usize = 256;

pub(crate) fn run(
    index: &Index,
    queries: &[f32],
    k: usize,
    router: &dyn Router,
) -> Result<BatchResult, EngineError> {
    let wall = Instant::now();
    let dim = index.dim();
    let nq = queries.len() / dim;

    // 1. Route: one GEMM against the centroids for the whole batch.
    let t = Instant::now();
    let ranked = index.centroids.rank(queries, router.candidates())?;
    let selected = router.select(queries, &ranked);
    let route = t.elapsed();

    // 2. Invert query -> partitions into partition -> queries, in disk order.
    let np = index.num_partitions();
    let mut queries_of: Vec<Vec<u32>> = vec![Vec::new(); np];
    let mut per_query = vec![QueryStats::default(); nq];
    for (qi, parts) in selected.iter().enumerate() {
        for &p in parts {
            queries_of[p as usize].push(qi as u32);
            per_query[qi].partitions += 1;
        }
    }
    let pids: Vec<u32> = (0..np as u32)
        .filter(|&p| !queries_of[p as usize].is_empty())
        .collect();

    // 3. Read each partition once; answer its queries as reads complete, by GEMM scan
    //    or graph search (per partition, as the search mode and cost model decide).
    let io_wait_ns = AtomicU64::new(0);
    let gs = index.graph_search;
    let scanned: Vec<Result<Scanned, EngineError>> = if gs.mode == SearchMode::Partial {
        partial_stage(index, &pids, &queries_of, queries, k, gs.ef)
    } else if index.store.maps_extents() {
        // A mapped file (buffered mode): "reading" is verifying the extent's pages
        // in place, done by the worker that scans it; no I/O-thread hand-off.
        pids.par_iter()
            .map(|&pid| {
                let t = Instant::now();
                let m = index
                    .store
                    .map_extent(pid)
                    .expect("a store that maps extents maps every extent")?;
                let loaded = LoadedPartition::from_mapped(pid, m, t.elapsed());
                answer_loaded(index, loaded, &queries_of, queries, k)
            })
            .collect()
    } else {
        let stream = index
            .pool
            .stream(index.store.clone(), &pids, index.opts.read_ahead);
        let timed = TimedStream {
            inner: stream,
            wait_ns: &io_wait_ns,
        };
        timed
            .par_bridge()
            .map(|loaded| answer_loaded(index, loaded?, &queries_of, queries, k))
            .collect()
    };

    // 4. Merge per-query lists (ids de-duplicated: replicated vectors count once).
    let t = Instant::now();
    let mut stats = BatchStats {
        queries: nq,
        route,
        ..Default::default()
    };
    let mut candidates: Vec<Vec<Neighbor>> = vec![Vec::new(); nq];
    for s in scanned {
        let s = s?;
        stats.partitions_read += 1;
        stats.io_requests += s.io_requests;
        stats.bytes_read += s.bytes;
        stats.vectors_read += s.vectors_read;
        stats.graph_searches += s.graph as u64;
        stats.compute += s.compute;
        let sharers = &queries_of[s.pid as usize];
        let share = s.bytes as f64 / sharers.len() as f64;
        for ((qi, list), d) in sharers.iter().zip(s.lists).zip(s.dists) {
            candidates[*qi as usize].extend(list);
            per_query[*qi as usize].bytes += share;
            per_query[*qi as usize].vectors += d;
        }
    }
    // Ids repeat across partitions only when the index stores copies.
    let dedup = index.len() != index.stored_vectors();
    let neighbors: Vec<Vec<Neighbor>> = candidates
        .into_par_iter()
        .map(|c| merge(c, k, dedup))
        .collect();
    stats.merge = t.elapsed();
    stats.distance_computations = per_query.iter().map(|q| q.vectors).sum();
    stats.io_wait = Duration::from_nanos(io_wait_ns.load(Ordering::Relaxed));
    stats.wall = wall.elapsed();
    Ok(BatchResult {
        neighbors,
        per_query,
        stats,
    })
}

struct Scanned {
    pid: u32,
    bytes: u64,
    io_requests: u64,
    vectors_read: u64,
    lists: Vec<Vec<Neighbor>>,
    /// Distance evaluations per query of `lists`.
    dists: Vec<u64>,
    /// Answered by graph search rather than a scan.
    graph: bool,
    compute: Duration,
}

/// Answers the queries routed to a partition that was read whole.
fn answer_loaded(
    index: &Index,
    loaded: LoadedPartition,
    queries_of: &[Vec<u32>],
    queries: &[f32],
    k: usize,
) -> Result<Scanned, EngineError> {
    let t = Instant::now();
    let (dim, dtype, metric) = (index.dim(), index.dtype(), index.metric());
    let qs = &queries_of[loaded.pid as usize];
    let count = index.table[loaded.pid as usize].count as usize;
    let gs = index.graph_search;
    let graph = match (gs.mode, index.graphs.as_deref()) {
        (SearchMode::Graph, Some(g)) => Some(&g.set.graphs[loaded.pid as usize]),
        (SearchMode::Auto, Some(g)) if prefer_graph(count, qs.len(), dim, gs.ef, dtype) => {
            Some(&g.set.graphs[loaded.pid as usize])
        }
        _ => None,
    };
    let (lists, dists) = match graph {
        Some(g) => crate::graphs::search_loaded(
            loaded.bytes(),
            count,
            dim,
            dtype,
            metric,
            g,
            queries,
            qs,
            k,
            gs.ef,
        )?,
        None => (
            scan(&loaded, count, dim, dtype, metric, queries, qs, k)?,
            vec![count as u64; qs.len()],
        ),
    };
    Ok(Scanned {
        pid: loaded.pid,
        bytes: loaded.bytes,
        io_requests: 1,
        vectors_read: count as u64,
        lists,
        dists,
        graph: graph.is_some(),
        compute: t.elapsed(),
    })
}

/// Graph-guided partial reads: every routed partition searched through its graph,
/// reading only the pages the search visits. Runs on the index's partial-read pool
/// (as many threads as I/O threads: the reads block, so this is the queue depth).
fn partial_stage(
    index: &Index,
    pids: &[u32],
    queries_of: &[Vec<u32>],
    queries: &[f32],
    k: usize,
    ef: usize,
) -> Vec<Result<Scanned, EngineError>> {
    let Some(graphs) = index.graphs.as_deref() else {
        return vec![Err(EngineError::NoGraphs {
            mode: "partial",
            dir: index.dir.clone(),
        })];
    };
    let Some(crcs) = graphs.page_crcs.as_deref() else {
        return vec![Err(EngineError::NoGraphs {
            mode: "partial (page checksums missing)",
            dir: index.dir.clone(),
        })];
    };
    let data_path = index.dir.join(quarry_storage::files::DATA);
    let (dim, dtype, metric) = (index.dim(), index.dtype(), index.metric());
    let run = |pid: u32| -> Result<Scanned, EngineError> {
        let t = Instant::now();
        let g = &graphs.set.graphs[pid as usize];
        let mut reader = PageReader::new(
            index.store.as_ref(),
            &data_path,
            pid,
            dim,
            dtype,
            metric,
            g.norms(),
            crcs,
        )?;
        let qs = &queries_of[pid as usize];
        let (lists, dists) = search_partial(&mut reader, g, queries, qs, dim, k, ef)?;
        Ok(Scanned {
            pid,
            bytes: reader.cost.bytes,
            io_requests: reader.cost.ios,
            vectors_read: reader.cost.vectors,
            lists,
            dists,
            graph: true,
            compute: t.elapsed(),
        })
    };
    match index.partial_pool() {
        Ok(pool) => pool.install(|| pids.par_iter().map(|&p| run(p)).collect()),
        Err(e) => vec![Err(e)],
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

#[allow(clippy::too_many_arguments)]
pub(crate) fn scan(
    loaded: &LoadedPartition,
    count: usize,
    dim: usize,
    dtype: DType,
    metric: Metric,
    queries: &[f32],
    qs: &[u32],
    k: usize,
) -> Result<Vec<Vec<Neighbor>>, StorageError> {
    let view = PartitionView::parse(loaded.bytes(), count, dim, dtype)?;
    Ok(match dtype {
        DType::F32 => scan_typed::<f32>(&view, metric, queries, qs, k),
        DType::U8 => scan_typed::<u8>(&view, metric, queries, qs, k),
        DType::I8 => scan_typed::<i8>(&view, metric, queries, qs, k),
    })
}

fn scan_typed<T: Element>(
    view: &PartitionView<'_>,
    metric: Metric,
    queries: &[f32],
    qs: &[u32],
    k: usize,
) -> Vec<Vec<Neighbor>> {
    let (n, dim) = (view.count, view.dim);
    if n == 0 {
        // An empty partition (legal: duplicates or a tight balance bound can leave
        // one) holds no candidates; the GEMM below needs at least one row.
        return vec![Vec::new(); qs.len()];
    }
    let data: &[T] = view.vectors();
    let keep = (k + RESCORE_SLACK).min(n);
    // The answer of every path: the k smallest (exact distance, id), the exact
    // distance being the fixed-order pair kernel's.
    // (The norm of a stored vector is `norm_sq`, here fused into the dot's pass.)
    let exact = |q: &[f32], q_norm: f32, i: usize| -> f32 {
        let x = &data[i * dim..(i + 1) * dim];
        match metric {
            Metric::L2 => simd::l2_sq(q, x),
            Metric::InnerProduct => -simd::dot(q, x),
            Metric::Cosine => {
                let (d, xn) = simd::dot_norm(q, x);
                cosine_from_parts(d, q_norm, xn)
            }
        }
    };
    let q_norm_of = |q: &[f32]| {
        if metric == Metric::Cosine {
            simd::norm_sq(q)
        } else {
            0.0
        }
    };
    // Exact distances of vectors i0..i0 + out.len(). Cosine gathers the dot
    // products and norms of a block first, so the square roots and divisions run
    // lane-wise (the same IEEE operations per element, so the same bits).
    let exact_block = |q: &[f32], q_norm: f32, i0: usize, out: &mut [f32]| {
        if metric == Metric::Cosine {
            let (mut dots, mut norms) = ([0.0f32; BLOCK], [0.0f32; BLOCK]);
            for (j, (d, xn)) in dots
                .iter_mut()
                .zip(norms.iter_mut())
                .enumerate()
                .take(out.len())
            {
                let i = i0 + j;
                (*d, *xn) = simd::dot_norm(q, &data[i * dim..(i + 1) * dim]);
            }
            for ((o, &d), &xn) in out.iter_mut().zip(&dots).zip(&norms) {
                *o = cosine_from_parts(d, q_norm, xn);
            }
        } else {
            for (j, o) in out.iter_mut().enumerate() {
                *o = exact(q, q_norm, i0 + j);
            }
        }
    };
    let all_exact = |q: &[f32]| -> Vec<Neighbor> {
        let q_norm = q_norm_of(q);
        let mut top = TopK::new(k);
        let mut d = [0.0f32; BLOCK];
        for i0 in (0..n).step_by(BLOCK) {
            let m = (n - i0).min(BLOCK);
            exact_block(q, q_norm, i0, &mut d[..m]);
            for (j, &dist) in d[..m].iter().enumerate() {
                // Most vectors fail the threshold; only the rest need their id read.
                if dist <= top.threshold() {
                    top.push(view.id(i0 + j), dist);
                }
            }
        }
        top.into_sorted()
    };
    // Few queries: packing the partition for a GEMM costs more than the pair kernel
    // over every vector (which is exact, so needs no re-score).
    if qs.len() <= PAIR_MAX_QUERIES {
        return qs
            .iter()
            .map(|&qi| all_exact(&queries[qi as usize * dim..(qi as usize + 1) * dim]))
            .collect();
    }
    let mut x_norm_max: Option<f32> = None;
    let mut out = Vec::with_capacity(qs.len());
    let mut scratch = BatchScratch::default();
    let mut block = Vec::new();
    let mut dists = Vec::new();
    let mut sel: Vec<(f32, u32)> = Vec::with_capacity(2 * keep);
    for qb in qs.chunks(QUERY_BLOCK) {
        block.clear();
        for &qi in qb {
            block.extend_from_slice(&queries[qi as usize * dim..(qi as usize + 1) * dim]);
        }
        dists.resize(qb.len() * n, 0.0);
        batch_distances_with(
            metric,
            &block,
            qb.len(),
            data,
            n,
            dim,
            &mut dists,
            &mut scratch,
        );
        for (j, row) in dists.chunks_exact(n).enumerate() {
            select_best(row, keep, &mut sel);
            // Exact re-score with the fixed-order kernel (one pass per candidate).
            let q = &block[j * dim..(j + 1) * dim];
            let q_norm = q_norm_of(q);
            let mut found: Vec<Neighbor> = sel
                .iter()
                .map(|&(_, i)| Neighbor {
                    id: view.id(i as usize),
                    dist: exact(q, q_norm, i as usize),
                })
                .collect();
            found.sort_unstable_by(|a, b| a.dist.total_cmp(&b.dist).then(a.id.cmp(&b.id)));
            found.truncate(k);
            if keep < n {
                // Certify that no vector left out by the GEMM filter could enter:
                // its GEMM distance is at least the largest one kept, and the
                // rounding of both kernels is bounded. Rarely it cannot be
                // certified (near-ties across the cut): then every vector is scored
                // exactly, so the answer never depends on GEMM rounding, i.e. on
                // the batch a query is in.
                let cut = sel.iter().fold(f32::NEG_INFINITY, |m, s| m.max(s.0));
                let kth = found.last().map_or(f32::INFINITY, |n| n.dist);
                let qn = if metric == Metric::Cosine {
                    q_norm
                } else {
                    simd::norm_sq(q)
                };
                let xmax = if metric == Metric::InnerProduct {
                    *x_norm_max.get_or_insert_with(|| {
                        squared_norms(data, dim).into_iter().fold(0.0f32, f32::max)
                    })
                } else {
                    0.0
                };
                if found.len() < k || !filtered_out_cannot_enter(metric, dim, cut, kth, qn, xmax) {
                    found = all_exact(q);
                }
            }
            out.push(found);
        }
    }
    out
}

/// Vectors per block of the exact scan.
const BLOCK: usize = 16;

/// Partitions with at most this many queries in a batch are scanned with the pair
/// kernel instead of the GEMM (pack + norms cost more than they save there).
const PAIR_MAX_QUERIES: usize = 2;

/// True when every vector whose GEMM distance is at least `cut` has an exact
/// distance strictly above `kth`. Bounds (u = 2^-24, one fused chain of `dim`
/// steps per dot or norm): each computed quantity is within `g (|q|^2 + |x|^2)` of
/// its true value, `g = 4 (dim + 8) u` (a generous multiple of the classic
/// `dim u` bound). L2: |x|^2 <= 2|q|^2 + 2 d, so the bound is in terms of the query
/// and the distance. Inner product: the partition's largest |x|^2 (`xmax`).
/// Cosine: values are normalised, so the error is absolute.
fn filtered_out_cannot_enter(
    metric: Metric,
    dim: usize,
    cut: f32,
    kth: f32,
    qn: f32,
    xmax: f32,
) -> bool {
    let g = 4.0 * (dim as f64 + 8.0) * f64::powi(2.0, -24);
    let (cut, kth, qn, xmax) = (cut as f64, kth as f64, qn as f64, xmax as f64);
    if !cut.is_finite() || !kth.is_finite() {
        return false;
    }
    let lowest = match metric {
        // true >= (gemm - 3 g qn) / (1 + 2 g); computed exact >= true (1 - g).
        Metric::L2 => (cut - 3.0 * g * qn) / (1.0 + 2.0 * g) * (1.0 - g),
        // |dot error| <= g (qn + xmax) / 2 in each kernel.
        Metric::InnerProduct => cut - g * (qn + xmax),
        Metric::Cosine => cut - 8.0 * g,
    };
    lowest > kth
}

/// The `keep` smallest (distance, index) pairs of `row`, in no particular order.
///
/// A threshold first: the `keep`-th smallest of the minima of disjoint groups
/// bounds the `keep`-th smallest distance from above (those minima are `keep`
/// distinct entries). Then one pass collects everything at or under it, rejecting whole
/// 16-distance chunks with one lane-wise compare (vectorised), and one selection
/// cuts to exactly the `keep` smallest by (distance, index). Short rows skip the
/// bound. NaN never enters (`<=` is false), as before.
fn select_best(row: &[f32], keep: usize, sel: &mut Vec<(f32, u32)>) {
    let cmp = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    sel.clear();
    if keep == 0 {
        return;
    }
    // Minima of `g` interleaved groups (entry i in group i mod g): a lane-wise
    // minimum over consecutive g-wide chunks, which vectorises; g >= 2 keep so the
    // bound is tight, and rows shorter than 2 g skip it.
    let g = (2 * keep).next_power_of_two();
    let tau = if row.len() >= 2 * g {
        let mut mins = vec![f32::INFINITY; g];
        for chunk in row.chunks(g) {
            for (m, &d) in mins.iter_mut().zip(chunk) {
                *m = if d < *m { d } else { *m };
            }
        }
        *mins
            .select_nth_unstable_by(keep - 1, |a, b| a.total_cmp(b))
            .1
    } else {
        f32::INFINITY
    };
    // Branch-free compaction inside chunks that hold a candidate: every entry is
    // written, the length advances only past those under the bound (hits are
    // spread too evenly for a branch per entry to predict).
    const L: usize = 16;
    sel.resize(row.len(), (0.0, 0));
    let mut len = 0;
    let mut base = 0;
    for chunk in row.chunks(L) {
        if chunk.iter().fold(false, |hit, &d| hit | (d <= tau)) {
            for (j, &d) in chunk.iter().enumerate() {
                sel[len] = (d, (base + j) as u32);
                len += (d <= tau) as usize;
            }
        }
        base += chunk.len();
    }
    sel.truncate(len);
    if sel.len() > keep {
        sel.select_nth_unstable_by(keep - 1, cmp);
        sel.truncate(keep);
    }
}

fn merge(mut c: Vec<Neighbor>, k: usize, dedup: bool) -> Vec<Neighbor> {
    if dedup {
        c.sort_unstable_by(|a, b| a.id.cmp(&b.id).then(a.dist.total_cmp(&b.dist)));
        c.dedup_by_key(|n| n.id);
    }
    let mut top = TopK::new(k);
    top.extend(c);
    top.into_sorted()
}

#[cfg(test)]
mod tests {
    use super::select_best;

    #[test]
    fn selection_equals_sorting_with_ties() {
        let mut state = 7u64;
        for n in [1usize, 5, 33, 400, 1000, 5000] {
            // Few distinct values, so ties are common.
            let row: Vec<f32> = (0..n)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((state >> 33) % 13) as f32
                })
                .collect();
            for keep in [1usize, 3, 26, n] {
                let mut all: Vec<(f32, u32)> = row
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| (d, i as u32))
                    .collect();
                all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                all.truncate(keep);
                let mut sel = Vec::new();
                select_best(&row, keep, &mut sel);
                sel.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                assert_eq!(sel, all, "n {n} keep {keep}");
            }
        }
    }
}
