//! The GEMM scan: every vector of the partition against its routed queries.

use super::{extent_of, Answers, PartitionJob, PartitionSearcher};
use crate::EngineError;
use quarry_kernels::{
    batch_distances_with, select_smallest, simd, squared_norms, with_element, BatchScratch,
    Element, Metric, Neighbor, Selection, TopK,
};
use quarry_storage::{PartitionView, StorageError};

/// Candidates kept per (query, partition) from GEMM distances before the exact
/// re-score: GEMM's ||q||^2 - 2q.x + ||x||^2 rounds differently from a direct
/// difference, and depends on block shapes; re-scoring the best `k + RESCORE_SLACK`
/// with the fixed-order kernel makes results exact and identical whether a query
/// is searched alone or inside any batch. The slack only trades re-scoring
/// against the rare uncertifiable cut (then every vector is scored exactly): on
/// GloVe (cosine) and the 1M u8 set (L2, where integer distances tie), 4 cost
/// 10-15% less CPU per batch than 16, and 1 was 45% slower on the u8 set (ties).
const RESCORE_SLACK: usize = 4;

/// Queries per GEMM block inside one partition (bounds the distance matrix).
const QUERY_BLOCK: usize = 256;

/// Scans the whole extent (exact within the partition).
#[derive(Debug, Clone, Copy, Default)]
pub struct Scan;

impl PartitionSearcher for Scan {
    fn name(&self) -> &'static str {
        "scan"
    }
    fn needs_extent(&self) -> bool {
        true
    }
    fn search(
        &self,
        job: &PartitionJob<'_>,
        extent: Option<&[u8]>,
    ) -> Result<Answers, EngineError> {
        let (lists, scanned) = scan(extent_of(extent, "scan")?, job)?;
        Ok(Answers {
            lists,
            distances: vec![scanned as u64; job.routed.len()],
            ..Default::default()
        })
    }
}

/// Each routed query's top-k over the extent `bytes`; with a filter, over the
/// extent's matching vectors only (gathered before any distance is computed).
/// Also returns how many vectors each query was compared with.
pub(crate) fn scan(
    bytes: &[u8],
    job: &PartitionJob<'_>,
) -> Result<(Vec<Vec<Neighbor>>, usize), StorageError> {
    let view = PartitionView::parse(bytes, job.count, job.dim, job.dtype)?;
    let (metric, queries, qs, k) = (job.metric, job.queries, job.routed, job.k);
    Ok(with_element!(job.dtype, T => {
        let data: &[T] = view.vectors();
        let (mut lists, mut scanned) = match (job.filter, job.exclude) {
            (None, None) => {
                let rows = Rows { data, dim: job.dim, ids: Ids::View(&view) };
                (scan_rows::<T>(&rows, metric, queries, qs, k), view.count)
            }
            (filter, exclude) => {
                let keep = |id: u64| {
                    filter.is_none_or(|m| m.contains(id)) && !exclude.is_some_and(|d| d.contains(id))
                };
                let (ids, data) = gather_where(view.ids(), data, job.dim, keep);
                let rows = Rows { data: &data, dim: job.dim, ids: Ids::Slice(&ids) };
                (scan_rows::<T>(&rows, metric, queries, qs, k), ids.len())
            }
        };
        if let Some(d) = job.delta {
            // The partition's new vectors: its live rows (matching the filter).
            let row_bytes = job.dim * std::mem::size_of::<T>();
            let (mut ids, mut bytes) = (Vec::new(), Vec::new());
            for (id, r) in d.live_rows(row_bytes) {
                if job.filter.is_none_or(|m| m.contains(id)) {
                    ids.push(id);
                    bytes.extend_from_slice(r);
                }
            }
            // Delta bytes carry no alignment for T: collected into a typed copy.
            let data: Vec<T> = bytemuck::pod_collect_to_vec(&bytes);
            let rows = Rows { data: &data, dim: job.dim, ids: Ids::Slice(&ids) };
            for (l, extra) in lists.iter_mut().zip(scan_rows::<T>(&rows, metric, queries, qs, k)) {
                l.extend(extra);
                l.sort_unstable_by(|a, b| a.dist.total_cmp(&b.dist).then(a.id.cmp(&b.id)));
                l.truncate(k);
            }
            scanned += ids.len();
        }
        (lists, scanned)
    }))
}

/// The rows of `view` whose ids are in `matches`: their ids and vectors, in order.
pub(crate) fn gather_matching<T: Element>(
    view: &PartitionView<'_>,
    data: &[T],
    matches: &roaring::RoaringTreemap,
) -> (Vec<u64>, Vec<T>) {
    gather_where(view.ids(), data, view.dim, |id| matches.contains(id))
}

/// The rows (ids from `ids`, vectors from `data`, in order) whose id passes `keep`.
pub(crate) fn gather_where<T: Element>(
    ids: impl Iterator<Item = u64>,
    data: &[T],
    dim: usize,
    keep: impl Fn(u64) -> bool,
) -> (Vec<u64>, Vec<T>) {
    let mut out_ids = Vec::new();
    let mut rows = Vec::new();
    for (i, id) in ids.enumerate() {
        if keep(id) {
            out_ids.push(id);
            rows.extend_from_slice(&data[i * dim..(i + 1) * dim]);
        }
    }
    (out_ids, rows)
}

/// Vectors to scan: an extent's, or rows gathered from extents.
pub(crate) struct Rows<'a, T> {
    pub data: &'a [T],
    pub dim: usize,
    pub ids: Ids<'a>,
}

pub(crate) enum Ids<'a> {
    View(&'a PartitionView<'a>),
    Slice(&'a [u64]),
}

impl Ids<'_> {
    fn get(&self, i: usize) -> u64 {
        match self {
            Ids::View(v) => v.id(i),
            Ids::Slice(s) => s[i],
        }
    }
}

/// Each query's top-k over `rows` (exact, see `RESCORE_SLACK`).
pub(crate) fn scan_rows<T: Element>(
    rows: &Rows<'_, T>,
    metric: Metric,
    queries: &[f32],
    qs: &[u32],
    k: usize,
) -> Vec<Vec<Neighbor>> {
    let dim = rows.dim;
    let n = rows.data.len() / dim.max(1);
    let view = &rows.ids;
    if n == 0 {
        // An empty partition (legal: duplicates or a tight balance bound can leave
        // one) holds no candidates; the GEMM below needs at least one row.
        return vec![Vec::new(); qs.len()];
    }
    let data: &[T] = rows.data;
    let keep = (k + RESCORE_SLACK).min(n);
    // The answer of every path: the k smallest (exact distance, id), the exact
    // distance being the fixed-order pair kernel's, here computed for many rows at
    // once (`simd::*_rows`, bit for bit the pair kernel). The norm of a stored
    // vector is `norm_sq`, fused into the dot's pass.
    let q_norm_of = |q: &[f32]| {
        if metric == Metric::Cosine {
            simd::norm_sq(q)
        } else {
            0.0
        }
    };
    // Exact distances of rows `rows` into `out`.
    let exact_rows = |q: &[f32], q_norm: f32, rows: &[u32], out: &mut [f32]| {
        simd::distance_rows(metric, q, q_norm, data, dim, rows, out)
    };
    let all_exact = |q: &[f32]| -> Vec<Neighbor> {
        EXACT.with_borrow_mut(|e| {
            let q_norm = q_norm_of(q);
            if e.rows.len() < n {
                e.rows.extend(e.rows.len() as u32..n as u32);
            }
            e.dists.resize(n, 0.0);
            let d = &mut e.dists[..n];
            exact_rows(q, q_norm, &e.rows[..n], d);
            smallest_by_id(d, k, |i| view.get(i), &mut e.selection)
        })
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
    SCRATCH.with_borrow_mut(|s| {
        let ScanScratch {
            batch: scratch,
            block,
            dists,
            selection,
            cand,
            cand_d,
        } = s;
        for qb in qs.chunks(QUERY_BLOCK) {
            block.clear();
            for &qi in qb {
                block.extend_from_slice(&queries[qi as usize * dim..(qi as usize + 1) * dim]);
            }
            // Every entry is written by the GEMM: only growth needs a fill.
            if dists.len() < qb.len() * n {
                dists.resize(qb.len() * n, 0.0);
            }
            let dists = &mut dists[..qb.len() * n];
            batch_distances_with(metric, block, qb.len(), data, n, dim, dists, scratch);
            for (j, row) in dists.chunks_exact(n).enumerate() {
                select_smallest(row, keep, selection);
                let sel = &selection.sel;
                // Exact re-score with the fixed-order kernel (one pass per candidate).
                let q = &block[j * dim..(j + 1) * dim];
                let q_norm = q_norm_of(q);
                cand.clear();
                cand.extend(sel.iter().map(|&(_, i)| i));
                cand_d.resize(cand.len(), 0.0);
                exact_rows(q, q_norm, cand, cand_d);
                let mut found: Vec<Neighbor> = cand
                    .iter()
                    .zip(cand_d.iter())
                    .map(|(&i, &dist)| Neighbor {
                        id: view.get(i as usize),
                        dist,
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
                    if found.len() < k
                        || !filtered_out_cannot_enter(metric, dim, cut, kth, qn, xmax)
                    {
                        found = all_exact(q);
                    }
                }
                out.push(found);
            }
        }
    });
    out
}

/// Buffers of the GEMM scan, kept per thread so that scanning a partition
/// allocates (and zero-fills) nothing once the thread has scanned a larger one.
#[derive(Default)]
struct ScanScratch {
    batch: BatchScratch,
    block: Vec<f32>,
    dists: Vec<f32>,
    selection: Selection,
    cand: Vec<u32>,
    cand_d: Vec<f32>,
}

/// Buffers of the exact scan of a whole partition (its own cell: the GEMM scan
/// falls back to it while holding `SCRATCH`).
#[derive(Default)]
struct ExactScratch {
    /// 0, 1, 2, ...: the row numbers of a whole partition.
    rows: Vec<u32>,
    dists: Vec<f32>,
    selection: Selection,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<ScanScratch> = Default::default();
    static EXACT: std::cell::RefCell<ExactScratch> = Default::default();
}

/// The `k` smallest (distance, id) of `dists` (row i has id `id_of(i)`), nearest
/// first: `TopK`'s answer. `select_smallest` picks by (distance, row) with
/// vectorised compares instead of a heap push per candidate (the heap was a
/// quarter of a single query's CPU); rows tied with the k-th distance are then
/// all taken, so the id decides among them as it does in `TopK`.
fn smallest_by_id(
    dists: &[f32],
    k: usize,
    id_of: impl Fn(usize) -> u64,
    s: &mut Selection,
) -> Vec<Neighbor> {
    let keep = k.min(dists.len());
    select_smallest(dists, keep, s);
    let by_key = |a: &Neighbor, b: &Neighbor| a.dist.total_cmp(&b.dist).then(a.id.cmp(&b.id));
    if s.sel.len() < keep {
        // NaN distances (never selected): the total order of `TopK` decides.
        let mut top = TopK::new(k);
        for (i, &d) in dists.iter().enumerate() {
            top.push(id_of(i), d);
        }
        return top.into_sorted();
    }
    let cut = s.sel.iter().fold(f32::NEG_INFINITY, |m, c| m.max(c.0));
    let at_or_under = dists.iter().filter(|&&d| d <= cut).count();
    let mut found: Vec<Neighbor> = if at_or_under == s.sel.len() {
        s.sel
            .iter()
            .map(|&(dist, i)| Neighbor {
                id: id_of(i as usize),
                dist,
            })
            .collect()
    } else {
        dists
            .iter()
            .enumerate()
            .filter(|&(_, &d)| d <= cut)
            .map(|(i, &dist)| Neighbor { id: id_of(i), dist })
            .collect()
    };
    found.sort_unstable_by(by_key);
    found.truncate(k);
    found
}

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
