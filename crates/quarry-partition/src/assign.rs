//! Capacity-bounded assignment of vectors to centroids.

use crate::{PartitionError, Progress, Rows};
use quarry_formats::FormatError;
use quarry_kernels::{argmin, batch_distances_with, BatchScratch, Metric};
use rayon::prelude::*;

/// Result of assigning every vector to a partition.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// Partition of vector i.
    pub partition_of: Vec<u32>,
    pub sizes: Vec<u64>,
    /// Vectors that went to another than their nearest centroid for lack of room.
    pub moved: u64,
    pub capacity: u64,
}

/// Largest allowed partition: ceil((1 + eps) * n / k), never below ceil(n / k) so
/// every vector has a place.
pub fn capacity(n: usize, k: usize, eps: f32) -> u64 {
    let even = (n as u64).div_ceil(k as u64);
    let slack = ((1.0 + eps as f64) * n as f64 / k as f64).ceil() as u64;
    slack.max(even)
}

/// Rows per GEMM block: bounds each thread's block x k distance matrix to ~4 MiB
/// (part of the build's fixed memory overhead).
pub(crate) fn block_rows(k: usize) -> usize {
    ((1 << 20) / k.max(1)).clamp(64, 8192)
}

/// Nearest centroid (index, squared L2 distance) of each row, ties to the lower index.
pub(crate) fn nearest(points: &[f32], dim: usize, centroids: &[f32]) -> Vec<(u32, f32)> {
    let k = centroids.len() / dim;
    let br = block_rows(k);
    points
        .par_chunks(br * dim)
        .flat_map_iter(|blk| {
            let m = blk.len() / dim;
            let mut d = vec![0.0f32; m * k];
            let mut s = BatchScratch::default();
            batch_distances_with(Metric::L2, blk, m, centroids, k, dim, &mut d, &mut s);
            d.chunks_exact(k)
                .map(|row| {
                    let (c, v) = argmin(row);
                    (c as u32, v)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Assigns rows [0, n) read through `read` in chunks, with partition sizes <= `cap`.
pub(crate) fn balanced<R>(
    n: usize,
    dim: usize,
    read: R,
    centroids: &[f32],
    cap: u64,
    chunk_rows: usize,
    progress: &dyn Progress,
) -> Result<Assignment, FormatError>
where
    R: Fn(usize, usize) -> Result<Vec<f32>, FormatError>,
{
    let k = centroids.len() / dim;
    let chunk_rows = chunk_rows.max(1);
    // Pass 1: nearest centroid of every vector (8 bytes per vector held).
    let mut near: Vec<(u32, f32)> = Vec::with_capacity(n);
    for start in (0..n).step_by(chunk_rows) {
        let cnt = chunk_rows.min(n - start);
        let pts = read(start, cnt)?;
        near.extend(nearest(&pts, dim, centroids));
        progress.advance(cnt as u64);
    }
    let (mut partition_of, mut sizes, overflow) = keep_within_cap(near, k, cap);
    // Pass 2: overflow, in id order, to the nearest centroid that still has room.
    let moved = overflow.len() as u64;
    // Distances for the overflow rows are computed in parallel, a bounded group of
    // blocks at a time; the greedy placement that follows is sequential (each row
    // sees the sizes left by the rows before it).
    let br = block_rows(k);
    let group_rows = br * 2 * rayon::current_num_threads();
    let mut idx = 0;
    while idx < overflow.len() {
        let first = overflow[idx] as usize;
        let chunk_start = first - first % chunk_rows;
        let chunk_end = (chunk_start + chunk_rows).min(n);
        let mut end = idx;
        while end < overflow.len() && (overflow[end] as usize) < chunk_end {
            end += 1;
        }
        let last = overflow[end - 1] as usize;
        let pts = read(first, last + 1 - first)?;
        let rows: Vec<f32> = overflow[idx..end]
            .iter()
            .flat_map(|&i| {
                pts[(i as usize - first) * dim..(i as usize - first + 1) * dim]
                    .iter()
                    .copied()
            })
            .collect();
        drop(pts);
        for (g, grp) in rows.chunks(group_rows * dim).enumerate() {
            let blocks: Vec<Vec<f32>> = grp
                .par_chunks(br * dim)
                .map(|blk| {
                    let m = blk.len() / dim;
                    let mut d = vec![0.0f32; m * k];
                    let mut s = BatchScratch::default();
                    batch_distances_with(Metric::L2, blk, m, centroids, k, dim, &mut d, &mut s);
                    d
                })
                .collect();
            for (j, row) in blocks.iter().flat_map(|d| d.chunks_exact(k)).enumerate() {
                let mut best = (usize::MAX, f32::INFINITY);
                for (c, &v) in row.iter().enumerate() {
                    if sizes[c] < cap && (v < best.1 || best.0 == usize::MAX) {
                        best = (c, v);
                    }
                }
                // Total capacity >= n, so some partition always has room.
                sizes[best.0] += 1;
                partition_of[overflow[idx + g * group_rows + j] as usize] = best.0 as u32;
            }
        }
        idx = end;
    }
    Ok(Assignment {
        partition_of,
        sizes,
        moved,
        capacity: cap,
    })
}

/// Each partition over capacity keeps its `cap` nearest members (by distance, then
/// row): the first placement of every row, the partition sizes, and the rows left
/// over (in row order) that must go elsewhere.
pub(crate) fn keep_within_cap(
    near: Vec<(u32, f32)>,
    k: usize,
    cap: u64,
) -> (Vec<u32>, Vec<u64>, Vec<u32>) {
    let n = near.len();
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.par_sort_unstable_by(|&a, &b| {
        let (ca, da) = near[a as usize];
        let (cb, db) = near[b as usize];
        ca.cmp(&cb).then(da.total_cmp(&db)).then(a.cmp(&b))
    });
    let mut sizes = vec![0u64; k];
    let mut overflow: Vec<u32> = Vec::new();
    for &i in &order {
        let c = near[i as usize].0 as usize;
        if sizes[c] < cap {
            sizes[c] += 1;
        } else {
            overflow.push(i);
        }
    }
    drop(order);
    let partition_of: Vec<u32> = near.iter().map(|p| p.0).collect();
    overflow.sort_unstable();
    (partition_of, sizes, overflow)
}

/// Streams the whole source and assigns every vector, sizes bounded by
/// `capacity(n, k, eps)`.
pub fn assign_balanced(
    rows: &Rows<'_>,
    centroids: &[f32],
    eps: f32,
    chunk_rows: usize,
    progress: &dyn Progress,
) -> Result<Assignment, PartitionError> {
    let dim = rows.dim();
    let k = centroids.len() / dim;
    let n = rows.len();
    if k == 0 || k > n {
        return Err(PartitionError::BadK { k, n });
    }
    if !eps.is_finite() || eps < 0.0 {
        return Err(PartitionError::BadEps(eps));
    }
    progress.stage("assign", n as u64);
    let cap = capacity(n, k, eps);
    Ok(balanced(
        n,
        dim,
        |s, c| rows.read(s, c),
        centroids,
        cap,
        chunk_rows,
        progress,
    )?)
}
