//! Two-level balanced k-means, for indexes of 10^4-10^6 partitions.
//!
//! Flat k-means over K centroids costs O(n K d) per pass: at 100M vectors and
//! 100K partitions one assignment pass is ~2.6e15 flops, days on two cores. So
//! (CHOICE, as FAISS's IVF "two-level" training and SPANN's hierarchical
//! clustering do):
//! 1. a seeded sample of `sample_per_centroid * K` rows (bounded by bytes, held in
//!    the source's own type: u8 rows stay 1 byte per value);
//! 2. `coarse` centroids (default round(sqrt K)) by flat balanced k-means on a
//!    subset of the sample;
//! 3. every sample row to its nearest coarse centroid; coarse cluster c receives
//!    `K * n_c / s` fine centroids (largest remainder, so they sum to K), trained by
//!    flat balanced k-means on its own rows, clusters in parallel;
//! 4. assignment of the whole input: each vector's `probe` nearest coarse
//!    centroids, then its nearest fine centroid among their children (GEMM on
//!    both levels, ~K^(1/2) (1 + probe) distances per vector instead of K); the
//!    size bound is kept as in the flat build: a partition over capacity keeps
//!    its nearest members, the overflow moves to the nearest fine centroid with
//!    room among the same candidates (widening to all coarse clusters if none has).
//!
//! Deterministic: same input, config and seed give the same centroids and
//! assignment bit for bit.

use crate::assign::{capacity, keep_within_cap, nearest};
use crate::{Assignment, KMeansConfig, PartitionError, Progress, Rows};
use quarry_formats::{ChunkData, MemorySource};
use quarry_kernels::{
    argmin, batch_distances_with, select_smallest, BatchScratch, Metric, Selection,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Rows per parallel block of the assignment (bounds each thread's coarse
/// distance block to `BLOCK x coarse` floats).
const BLOCK: usize = 8192;

#[derive(Debug, Clone, PartialEq)]
pub struct HierarchyConfig {
    /// Partitions (fine centroids) in all.
    pub k: usize,
    /// Coarse centroids; 0 chooses round(sqrt(k)).
    pub coarse: usize,
    /// Coarse clusters whose children each vector is compared with at assignment.
    pub probe: usize,
    pub seed: u64,
    pub balance_eps: f32,
    /// Training rows per fine centroid (FAISS warns under 39).
    pub sample_per_centroid: usize,
    pub sample_iters: usize,
    pub chunk_rows: usize,
    /// Most bytes the training sample may hold (in the source's type).
    pub max_sample_bytes: usize,
}

impl HierarchyConfig {
    pub fn new(k: usize, seed: u64) -> Self {
        HierarchyConfig {
            k,
            coarse: 0,
            probe: 3,
            seed,
            balance_eps: 0.1,
            sample_per_centroid: 64,
            sample_iters: 10,
            chunk_rows: 65536,
            max_sample_bytes: 1 << 30,
        }
    }

    /// The coarse centroid count this config trains (before dropping empty ones).
    pub fn coarse_count(&self) -> usize {
        if self.coarse == 0 {
            ((self.k as f64).sqrt().round() as usize).max(1)
        } else {
            self.coarse
        }
        .clamp(1, self.k.max(1))
    }
}

/// Coarse centroids and their children: fine centroid `first[c]..first[c+1]` of
/// `fine` belong to coarse centroid c. The fine centroids are the partitions.
#[derive(Debug, Clone, PartialEq)]
pub struct Hierarchy {
    pub dim: usize,
    pub coarse: Vec<f32>,
    pub fine: Vec<f32>,
    pub first: Vec<u32>,
}

impl Hierarchy {
    pub fn partitions(&self) -> usize {
        self.fine.len() / self.dim
    }
    pub fn coarse_count(&self) -> usize {
        self.coarse.len() / self.dim
    }
    fn children(&self, c: usize) -> (usize, &[f32]) {
        let (a, b) = (self.first[c] as usize, self.first[c + 1] as usize);
        (a, &self.fine[a * self.dim..b * self.dim])
    }

    /// Nearest fine centroid (partition, squared L2 by GEMM) of each row of `pts`
    /// among the children of its `probe` nearest coarse centroids.
    fn nearest_block(&self, pts: &[f32], probe: usize) -> Vec<(u32, f32)> {
        let mut best = vec![(u32::MAX, f32::INFINITY); pts.len() / self.dim];
        self.for_candidates(pts, probe, |r, base, row| {
            let (a, v) = argmin(row);
            let cand = ((base + a) as u32, v);
            let b = &mut best[r];
            if v < b.1 || (v == b.1 && cand.0 < b.0) || b.0 == u32::MAX {
                *b = cand;
            }
        });
        best
    }

    /// Calls `f(row, first child, distances to the children)` for every row of
    /// `pts` and each of its `probe` nearest coarse centroids: rows are grouped by
    /// coarse centroid so each group is one GEMM against that centroid's children.
    fn for_candidates(&self, pts: &[f32], probe: usize, mut f: impl FnMut(usize, usize, &[f32])) {
        let (dim, k1) = (self.dim, self.coarse_count());
        let m = pts.len() / dim;
        let probe = probe.clamp(1, k1);
        let mut scratch = BatchScratch::default();
        let mut d = vec![0.0f32; m * k1];
        batch_distances_with(
            Metric::L2,
            pts,
            m,
            &self.coarse,
            k1,
            dim,
            &mut d,
            &mut scratch,
        );
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); k1];
        let mut sel = Selection::default();
        for (r, row) in d.chunks_exact(k1).enumerate() {
            select_smallest(row, probe, &mut sel);
            for &(_, c) in &sel.sel {
                members[c as usize].push(r as u32);
            }
        }
        drop(d);
        let (mut q, mut dd) = (Vec::new(), Vec::new());
        for (c, rows) in members.iter().enumerate() {
            let (base, kids) = self.children(c);
            let kc = kids.len() / dim;
            if rows.is_empty() || kc == 0 {
                continue;
            }
            q.clear();
            for &r in rows {
                q.extend_from_slice(&pts[r as usize * dim..(r as usize + 1) * dim]);
            }
            dd.resize(rows.len() * kc, 0.0);
            batch_distances_with(
                Metric::L2,
                &q,
                rows.len(),
                kids,
                kc,
                dim,
                &mut dd,
                &mut scratch,
            );
            for (&r, row) in rows.iter().zip(dd.chunks_exact(kc)) {
                f(r as usize, base, row);
            }
        }
    }
}

/// Trains the hierarchy (see the module comment) on a sample of `rows`.
pub fn train_hierarchy(
    rows: &Rows<'_>,
    cfg: &HierarchyConfig,
    progress: &dyn Progress,
) -> Result<Hierarchy, PartitionError> {
    let (n, dim, k) = (rows.len(), rows.dim(), cfg.k);
    if k == 0 || k > n {
        return Err(PartitionError::BadK { k, n });
    }
    if !cfg.balance_eps.is_finite() || cfg.balance_eps < 0.0 {
        return Err(PartitionError::BadEps(cfg.balance_eps));
    }
    let k1 = cfg.coarse_count();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let row_bytes = dim * rows.src.dtype().size();
    let want = k
        .saturating_mul(cfg.sample_per_centroid.max(1))
        .min(cfg.max_sample_bytes / row_bytes.max(1))
        .max(k)
        .min(n);
    let mut idx = rand::seq::index::sample(&mut rng, n, want).into_vec();
    idx.sort_unstable();
    progress.stage("sample", want as u64);
    let sample = read_sample(rows, &idx, cfg.chunk_rows, progress)?;
    drop(idx);
    let s = sample.len;

    // Coarse level: flat balanced k-means on a random subset of the sample.
    progress.stage("coarse k-means", 1);
    let sub = {
        let mut v = rand::seq::index::sample(&mut rng, s, s.min(k1 * 256)).into_vec();
        v.sort_unstable();
        v
    };
    let coarse = flat(&sample.rows(&sub), dim, k1, cfg, cfg.seed)?;
    progress.advance(1);

    // Every sample row to its nearest coarse centroid.
    progress.stage("coarse groups", s as u64);
    let mut groups: Vec<Vec<u32>> = vec![Vec::new(); k1];
    for start in (0..s).step_by(BLOCK * 8) {
        let ids: Vec<usize> = (start..(start + BLOCK * 8).min(s)).collect();
        for (i, (c, _)) in nearest(&sample.rows(&ids), dim, &coarse)
            .into_iter()
            .enumerate()
        {
            groups[c as usize].push((start + i) as u32);
        }
        progress.advance(ids.len() as u64);
    }
    let counts = fine_counts(&groups.iter().map(|g| g.len()).collect::<Vec<_>>(), k);

    // Fine level: each coarse cluster's own balanced k-means, clusters in parallel.
    progress.stage("fine k-means", k1 as u64);
    let fine: Vec<Vec<f32>> = (0..k1)
        .into_par_iter()
        .map(|c| {
            let kc = counts[c];
            let out = if kc == 0 {
                Ok(Vec::new())
            } else {
                let ids: Vec<usize> = groups[c].iter().map(|&i| i as usize).collect();
                let seed = cfg.seed ^ (c as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                flat(&sample.rows(&ids), dim, kc, cfg, seed)
            };
            progress.advance(1);
            out
        })
        .collect::<Result<_, _>>()?;
    let mut h = Hierarchy {
        dim,
        coarse: Vec::new(),
        fine: Vec::with_capacity(k * dim),
        first: vec![0],
    };
    // Coarse centroids left without children are dropped: no vector can go there.
    for (c, f) in fine.into_iter().enumerate() {
        if f.is_empty() {
            continue;
        }
        h.coarse.extend_from_slice(&coarse[c * dim..(c + 1) * dim]);
        h.fine.extend_from_slice(&f);
        h.first.push((h.fine.len() / dim) as u32);
    }
    Ok(h)
}

/// Fine centroids per coarse cluster: proportional to its sample rows, summing to
/// `k` (largest remainder, ties to the lower cluster), never more than its rows.
fn fine_counts(sizes: &[usize], k: usize) -> Vec<usize> {
    let s: usize = sizes.iter().sum();
    let mut counts: Vec<usize> = sizes.iter().map(|&n| k * n / s.max(1)).collect();
    let mut rest: Vec<(usize, usize)> = sizes
        .iter()
        .enumerate()
        .map(|(c, &n)| ((k * n) % s.max(1), c))
        .collect();
    rest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut left = k - counts.iter().sum::<usize>();
    for &(_, c) in &rest {
        if left == 0 {
            break;
        }
        if counts[c] < sizes[c] {
            counts[c] += 1;
            left -= 1;
        }
    }
    counts
}

/// Flat balanced k-means of in-memory rows (all of them are the sample).
fn flat(
    pts: &[f32],
    dim: usize,
    k: usize,
    cfg: &HierarchyConfig,
    seed: u64,
) -> Result<Vec<f32>, PartitionError> {
    let m = pts.len() / dim;
    let src = MemorySource::f32(pts, dim)?;
    // Rows are already normalised for a spherical build; re-normalising a unit
    // vector is the identity up to rounding, so the inner runs are plain L2.
    let rows = Rows {
        src: &src,
        spherical: false,
    };
    let km = KMeansConfig {
        k,
        seed,
        balance_eps: cfg.balance_eps,
        sample_per_centroid: m.div_ceil(k),
        sample_iters: cfg.sample_iters,
        epochs: 0,
        chunk_rows: m,
        max_sample_rows: m,
    };
    crate::train_centroids(&rows, &km, &crate::NoProgress)
}

/// The training sample, in the source's own type.
struct Sample<'a> {
    rows: &'a Rows<'a>,
    data: ChunkData,
    len: usize,
}

impl Sample<'_> {
    /// Rows `ids` as f32, normalised for a spherical build.
    fn rows(&self, ids: &[usize]) -> Vec<f32> {
        let dim = self.rows.dim();
        let mut out = Vec::with_capacity(ids.len() * dim);
        for &i in ids {
            let r = i * dim..(i + 1) * dim;
            match &self.data {
                ChunkData::F32(v) => out.extend_from_slice(&v[r]),
                ChunkData::U8(v) => out.extend(v[r].iter().map(|&x| x as f32)),
                ChunkData::I8(v) => out.extend(v[r].iter().map(|&x| x as f32)),
            }
            if self.rows.spherical {
                let at = out.len() - dim;
                crate::normalize(&mut out[at..]);
            }
        }
        out
    }
}

/// Reads the sorted rows `idx` in the source's type (see `for_each_read`).
fn read_sample<'a>(
    rows: &'a Rows<'a>,
    idx: &[usize],
    chunk_rows: usize,
    progress: &dyn Progress,
) -> Result<Sample<'a>, PartitionError> {
    let dim = rows.dim();
    let mut data = match rows.src.dtype() {
        quarry_kernels::DType::F32 => ChunkData::F32(Vec::with_capacity(idx.len() * dim)),
        quarry_kernels::DType::U8 => ChunkData::U8(Vec::with_capacity(idx.len() * dim)),
        quarry_kernels::DType::I8 => ChunkData::I8(Vec::with_capacity(idx.len() * dim)),
    };
    crate::kmeans::for_each_read(idx, chunk_rows, progress, |start, cnt, picks| {
        let chunk = rows.src.read_range(start, cnt)?;
        for &r in picks {
            let at = (r - start) * dim..(r - start + 1) * dim;
            match (&mut data, &chunk) {
                (ChunkData::F32(o), ChunkData::F32(v)) => o.extend_from_slice(&v[at]),
                (ChunkData::U8(o), ChunkData::U8(v)) => o.extend_from_slice(&v[at]),
                (ChunkData::I8(o), ChunkData::I8(v)) => o.extend_from_slice(&v[at]),
                _ => unreachable!("a source reads chunks of its own type"),
            }
        }
        Ok(())
    })?;
    Ok(Sample {
        rows,
        data,
        len: idx.len(),
    })
}

/// Assigns every vector of `rows` to a fine centroid of `h`, sizes bounded by
/// `capacity(n, K, eps)` (see the module comment).
pub fn assign_hierarchy(
    rows: &Rows<'_>,
    h: &Hierarchy,
    eps: f32,
    probe: usize,
    chunk_rows: usize,
    progress: &dyn Progress,
) -> Result<Assignment, PartitionError> {
    let (n, dim, k) = (rows.len(), rows.dim(), h.partitions());
    if k == 0 || k > n {
        return Err(PartitionError::BadK { k, n });
    }
    if !eps.is_finite() || eps < 0.0 {
        return Err(PartitionError::BadEps(eps));
    }
    let cap = capacity(n, k, eps);
    let chunk_rows = chunk_rows.max(1);
    progress.stage("assign", n as u64);
    let mut near: Vec<(u32, f32)> = Vec::with_capacity(n);
    for start in (0..n).step_by(chunk_rows) {
        let cnt = chunk_rows.min(n - start);
        let pts = rows.read(start, cnt)?;
        let parts: Vec<Vec<(u32, f32)>> = pts
            .par_chunks(BLOCK * dim)
            .map(|b| h.nearest_block(b, probe))
            .collect();
        parts.into_iter().for_each(|p| near.extend(p));
        progress.advance(cnt as u64);
    }
    let (mut partition_of, mut sizes, overflow) = keep_within_cap(near, k, cap);
    let moved = overflow.len() as u64;
    progress.stage("rebalance", moved);
    // Overflow rows, chunk by chunk, in row order: each to its nearest candidate
    // with room (the greedy order is sequential, the distances parallel).
    let mut at = 0;
    while at < overflow.len() {
        let first = overflow[at] as usize;
        let start = first - first % chunk_rows;
        let end = (start + chunk_rows).min(n);
        let mut stop = at;
        while stop < overflow.len() && (overflow[stop] as usize) < end {
            stop += 1;
        }
        let pts = rows.read(start, end - start)?;
        for grp in overflow[at..stop].chunks(BLOCK) {
            let mut q = Vec::with_capacity(grp.len() * dim);
            for &i in grp {
                let r = i as usize - start;
                q.extend_from_slice(&pts[r * dim..(r + 1) * dim]);
            }
            let ranked: Vec<Vec<(f32, u32)>> = q
                .par_chunks(1024 * dim)
                .flat_map_iter(|b| {
                    let mut lists = vec![Vec::new(); b.len() / dim];
                    h.for_candidates(b, probe, |r, base, row| {
                        lists[r]
                            .extend(row.iter().enumerate().map(|(j, &v)| (v, (base + j) as u32)));
                    });
                    lists.into_iter().map(|mut l| {
                        l.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                        l
                    })
                })
                .collect();
            for (j, (&i, list)) in grp.iter().zip(&ranked).enumerate() {
                let p = match list.iter().find(|&&(_, p)| sizes[p as usize] < cap) {
                    Some(&(_, p)) => p,
                    None => widest_with_room(h, &q[j * dim..(j + 1) * dim], &sizes, cap),
                };
                sizes[p as usize] += 1;
                partition_of[i as usize] = p;
            }
        }
        progress.advance((stop - at) as u64);
        at = stop;
    }
    Ok(Assignment {
        partition_of,
        sizes,
        moved,
        capacity: cap,
    })
}

/// Nearest partition with room over every coarse cluster (in coarse distance
/// order): the rare row whose `probe` nearest clusters are all full. Total
/// capacity is at least n, so some partition has room.
fn widest_with_room(h: &Hierarchy, x: &[f32], sizes: &[u64], cap: u64) -> u32 {
    let k1 = h.coarse_count();
    let mut order: Vec<(f32, usize)> = (0..k1)
        .map(|c| {
            let cen = &h.coarse[c * h.dim..(c + 1) * h.dim];
            (quarry_kernels::simd::l2_sq(x, cen), c)
        })
        .collect();
    order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    for (_, c) in order {
        let (base, kids) = h.children(c);
        let mut best: Option<(f32, u32)> = None;
        for (j, cen) in kids.chunks_exact(h.dim).enumerate() {
            let p = (base + j) as u32;
            if sizes[p as usize] >= cap {
                continue;
            }
            let v = quarry_kernels::simd::l2_sq(x, cen);
            if best.is_none_or(|b| v < b.0) {
                best = Some((v, p));
            }
        }
        if let Some((_, p)) = best {
            return p;
        }
    }
    unreachable!("total capacity covers every vector")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fine_counts_sum_to_k_and_fit_their_rows() {
        for (sizes, k) in [
            (vec![10usize, 0, 5, 1], 7usize),
            (vec![3, 3, 3], 9),
            (vec![100, 1, 1, 1], 4),
            (vec![1; 10], 10),
        ] {
            let c = fine_counts(&sizes, k);
            assert_eq!(c.iter().sum::<usize>(), k, "{sizes:?} {k}");
            assert!(c.iter().zip(&sizes).all(|(c, s)| c <= s), "{c:?} {sizes:?}");
        }
    }
}
