//! Exact k-nearest neighbours by brute force: the reference every recall figure is
//! measured against. Blocked GEMM over streamed chunks of the base file, queries in
//! parallel blocks, then an exact re-score of the survivors with the fixed-order
//! kernel so ties and rounding match the search path.

use crate::EngineError;
use quarry_formats::{ChunkData, VectorSource};
use quarry_kernels::{
    batch_distances_with, distance, BatchScratch, Element, Metric, Neighbor, TopK,
};
use quarry_partition::Progress;
use rayon::prelude::*;

const SLACK: usize = 16;
const QUERY_BLOCK: usize = 128;

/// The `k` nearest base vectors of each query (row-major `queries`), nearest first,
/// ties broken by smaller id.
pub fn exact_knn(
    base: &dyn VectorSource,
    queries: &[f32],
    metric: Metric,
    k: usize,
    chunk_rows: usize,
    progress: &dyn Progress,
) -> Result<Vec<Vec<Neighbor>>, EngineError> {
    exact_knn_filtered(base, queries, metric, k, chunk_rows, None, progress)
}

/// Same, over the rows in `allowed` only (a filter's matches): fewer than k
/// neighbours when fewer match.
pub fn exact_knn_filtered(
    base: &dyn VectorSource,
    queries: &[f32],
    metric: Metric,
    k: usize,
    chunk_rows: usize,
    allowed: Option<&roaring::RoaringTreemap>,
    progress: &dyn Progress,
) -> Result<Vec<Vec<Neighbor>>, EngineError> {
    let dim = base.dim();
    crate::error::check_query_block(queries, dim, k)?;
    let n = base.len();
    if k > n {
        return Err(EngineError::KTooLargeForBase { k, n: n as u64 });
    }
    let nq = queries.len() / dim;
    let keep = (k + SLACK).min(n);
    let mut heaps: Vec<TopK> = (0..nq).map(|_| TopK::new(keep)).collect();
    progress.stage("ground truth", n as u64);
    let chunk_rows = chunk_rows.max(1);
    for start in (0..n).step_by(chunk_rows) {
        let cnt = chunk_rows.min(n - start);
        let chunk = base.read_range(start, cnt)?;
        match &chunk {
            ChunkData::F32(v) => scan_chunk(v, start, dim, metric, queries, allowed, &mut heaps),
            ChunkData::U8(v) => scan_chunk(v, start, dim, metric, queries, allowed, &mut heaps),
            ChunkData::I8(v) => scan_chunk(v, start, dim, metric, queries, allowed, &mut heaps),
        }
        progress.advance(cnt as u64);
    }
    // Re-score survivors exactly; they are few (k + SLACK per query).
    let out = heaps
        .into_par_iter()
        .enumerate()
        .map(|(qi, h)| -> Result<Vec<Neighbor>, EngineError> {
            let q = &queries[qi * dim..(qi + 1) * dim];
            let mut exact = TopK::new(k);
            for c in h.into_sorted() {
                let row = base.read_range(c.id as usize, 1)?;
                let d = match &row {
                    ChunkData::F32(v) => distance(metric, q, v),
                    ChunkData::U8(v) => distance(metric, q, v),
                    ChunkData::I8(v) => distance(metric, q, v),
                };
                exact.push(c.id, d);
            }
            Ok(exact.into_sorted())
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(out)
}

fn scan_chunk<T: Element>(
    data: &[T],
    start: usize,
    dim: usize,
    metric: Metric,
    queries: &[f32],
    allowed: Option<&roaring::RoaringTreemap>,
    heaps: &mut [TopK],
) {
    let n = data.len() / dim;
    heaps
        .par_chunks_mut(QUERY_BLOCK)
        .enumerate()
        .for_each(|(b, hs)| {
            let q0 = b * QUERY_BLOCK;
            let qb = &queries[q0 * dim..(q0 + hs.len()) * dim];
            let mut scratch = BatchScratch::default();
            // Sub-block the base rows so the distance matrix stays small.
            let rows = 4096usize;
            let mut d = Vec::new();
            for s in (0..n).step_by(rows) {
                let m = rows.min(n - s);
                d.resize(hs.len() * m, 0.0);
                batch_distances_with(
                    metric,
                    qb,
                    hs.len(),
                    &data[s * dim..(s + m) * dim],
                    m,
                    dim,
                    &mut d,
                    &mut scratch,
                );
                for (h, row) in hs.iter_mut().zip(d.chunks_exact(m)) {
                    // Most 16-distance chunks hold nothing under the threshold: one
                    // lane-wise compare (vectorised) rejects them whole.
                    for (c, chunk) in row.chunks(16).enumerate() {
                        let t = h.threshold();
                        if !chunk.iter().fold(false, |hit, &v| hit | (v <= t)) {
                            continue;
                        }
                        for (i, &v) in chunk.iter().enumerate() {
                            let id = (start + s + c * 16 + i) as u64;
                            if v <= h.threshold() && allowed.is_none_or(|m| m.contains(id)) {
                                h.push(id, v);
                            }
                        }
                    }
                }
            }
        });
}
