//! The exact plan: read every partition holding a match once for the whole
//! batch, gather the matching vectors (before any distance), and compare every
//! query with all of them. The answer is the true top-k among the matches.
//! Partitions are taken in groups whose matching rows fit `GATHER_BYTES`, so a
//! forced exact plan over many matches still runs in bounded memory.

use super::Resolved;
use crate::executor::{for_each_extent, merge, Sources};
use crate::search::scan::{gather_matching, gather_where, scan_rows, Ids, Rows};
use crate::stats::{BatchResult, BatchStats, QueryStats};
use crate::EngineError;
use quarry_kernels::{with_element, Element, Neighbor};
use quarry_storage::PartitionView;
use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Matching rows gathered at once (bounds this plan's memory).
const GATHER_BYTES: u64 = 128 << 20;
/// Gathered rows compared with a block of queries at once (bounds the distance
/// matrix of one GEMM: 256 queries x this many f32).
const ROW_PIECE: usize = 16384;
/// Queries per parallel task.
const QUERY_CHUNK: usize = 64;

pub(crate) fn run(
    src: &Sources<'_>,
    queries: &[f32],
    k: usize,
    f: &Resolved,
) -> Result<BatchResult, EngineError> {
    with_element!(src.dtype, T => run_typed::<T>(src, queries, k, f))
}

fn run_typed<T: Element>(
    src: &Sources<'_>,
    queries: &[f32],
    k: usize,
    f: &Resolved,
) -> Result<BatchResult, EngineError> {
    let wall = Instant::now();
    let dim = src.dim;
    let nq = queries.len() / dim;
    let row_bytes = (dim * std::mem::size_of::<T>() + 8) as u64;
    let pids: Vec<u32> = (0..f.stored_per_partition.len() as u32)
        .filter(|&p| f.stored_per_partition[p as usize] > 0)
        .collect();
    let mut groups: Vec<&[u32]> = crate::build::runs_within(
        pids.len(),
        |i| f.stored_per_partition[pids[i] as usize] * row_bytes,
        GATHER_BYTES,
    )
    .into_iter()
    .map(|(a, b)| &pids[a..b])
    .collect();
    // Written vectors (the delta) come last, as one more group of no partitions.
    let delta = f
        .live
        .as_ref()
        .filter(|l| l.parts.iter().any(Option::is_some));
    if delta.is_some() {
        groups.push(&[]);
    }
    let io_wait_ns = AtomicU64::new(0);
    let mut stats = BatchStats {
        queries: nq,
        ..Default::default()
    };
    let mut candidates: Vec<Vec<Neighbor>> = vec![Vec::new(); nq];
    let mut compared = 0u64;
    let dedup = src.dedup;
    for group in groups {
        let t = Instant::now();
        let gathered = for_each_extent(src, group, &io_wait_ns, |pid, extent, bytes| {
            let count = src.table[pid as usize].count as usize;
            let view = PartitionView::parse(extent, count, dim, src.dtype)?;
            let dead = f
                .live
                .as_ref()
                .filter(|l| l.has_dead[pid as usize])
                .map(|l| l.dead.as_ref());
            let (ids, rows) = match dead {
                None => gather_matching::<T>(&view, view.vectors(), &f.matches),
                Some(d) => gather_where(view.ids(), view.vectors(), dim, |id| {
                    f.matches.contains(id) && !d.contains(id)
                }),
            };
            Ok((pid, ids, rows, bytes))
        });
        let mut parts = Vec::with_capacity(gathered.len());
        for g in gathered {
            parts.push(g?);
        }
        // Partition order, so the gathered matrix (and so every result) does not
        // depend on the order reads complete in.
        parts.sort_unstable_by_key(|p| p.0);
        let (mut ids, mut data) = (Vec::new(), Vec::new());
        for (pid, i, d, bytes) in parts {
            stats.partitions_read += 1;
            stats.io_requests += 1;
            stats.bytes_read += bytes;
            stats.vectors_read += src.table[pid as usize].count;
            ids.extend(i);
            data.extend(d);
        }
        if group.is_empty() {
            if let Some(l) = delta {
                let row = dim * std::mem::size_of::<T>();
                let mut bytes = Vec::new();
                for d in l.parts.iter().flatten() {
                    for (id, r) in d.live_rows(row) {
                        if f.matches.contains(id) {
                            ids.push(id);
                            bytes.extend_from_slice(r);
                        }
                    }
                }
                // Delta bytes carry no alignment for T: collected into a typed copy.
                data = bytemuck::pod_collect_to_vec(&bytes);
            }
        }
        compared += ids.len() as u64;
        stats.compute += t.elapsed();
        let t = Instant::now();
        let found: Vec<Vec<Neighbor>> = (0..nq as u32)
            .collect::<Vec<_>>()
            .par_chunks(QUERY_CHUNK)
            .flat_map_iter(|qs| {
                let mut best: Vec<Vec<Neighbor>> = vec![Vec::new(); qs.len()];
                for (piece_ids, piece) in ids.chunks(ROW_PIECE).zip(data.chunks(ROW_PIECE * dim)) {
                    let rows = Rows {
                        data: piece,
                        dim,
                        ids: Ids::Slice(piece_ids),
                    };
                    for (b, l) in best
                        .iter_mut()
                        .zip(scan_rows(&rows, src.metric, queries, qs, k))
                    {
                        b.extend(l);
                    }
                }
                best.into_iter().map(move |b| merge(b, k, dedup))
            })
            .collect();
        for (c, l) in candidates.iter_mut().zip(found) {
            c.extend(l);
        }
        stats.compute += t.elapsed();
    }
    let t = Instant::now();
    let neighbors: Vec<Vec<Neighbor>> = candidates
        .into_par_iter()
        .map(|c| merge(c, k, dedup))
        .collect();
    stats.merge = t.elapsed();
    let share = stats.bytes_read as f64 / nq.max(1) as f64;
    let per_query = vec![
        QueryStats {
            partitions: f.with_matches as u32,
            vectors: compared,
            bytes: share,
        };
        nq
    ];
    stats.distance_computations = compared * nq as u64;
    stats.io_wait = Duration::from_nanos(io_wait_ns.load(Ordering::Relaxed));
    stats.route = f.resolve;
    stats.wall = wall.elapsed();
    stats.filter = Some(f.stats(super::PlanTaken::Exact));
    Ok(BatchResult {
        neighbors,
        per_query,
        stats,
    })
}
