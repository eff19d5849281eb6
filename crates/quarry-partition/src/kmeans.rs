//! Seeded balanced mini-batch k-means over a streamed source.

use crate::assign::{balanced, capacity};
use crate::rows::normalize;
use crate::{PartitionError, Progress, Rows};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Rows copied at a time when assigning data already in memory (keeps copies small).
const IN_MEMORY_ROWS: usize = 8192;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KMeansConfig {
    pub k: usize,
    pub seed: u64,
    /// Partition sizes are bounded by ceil((1 + balance_eps) * n / k).
    pub balance_eps: f32,
    /// Training sample size per centroid (FAISS uses 256).
    pub sample_per_centroid: usize,
    /// Lloyd iterations on the in-memory sample.
    pub sample_iters: usize,
    /// Mini-batch passes over the full file after the sample phase.
    pub epochs: usize,
    /// Rows per streamed chunk (set from the memory budget).
    pub chunk_rows: usize,
    /// Most rows the training sample may hold (set from the memory budget).
    pub max_sample_rows: usize,
}

impl KMeansConfig {
    pub fn new(k: usize, seed: u64) -> Self {
        KMeansConfig {
            k,
            seed,
            balance_eps: 0.1,
            sample_per_centroid: 256,
            sample_iters: 10,
            epochs: 1,
            chunk_rows: 65536,
            max_sample_rows: 1 << 20,
        }
    }
}

/// Trains `k` centroids (row-major k x dim). With `rows.spherical`, centroids are
/// unit vectors.
pub fn train_centroids(
    rows: &Rows<'_>,
    cfg: &KMeansConfig,
    progress: &dyn Progress,
) -> Result<Vec<f32>, PartitionError> {
    let (n, dim, k) = (rows.len(), rows.dim(), cfg.k);
    if k == 0 || k > n {
        return Err(PartitionError::BadK { k, n });
    }
    if !cfg.balance_eps.is_finite() || cfg.balance_eps < 0.0 {
        return Err(PartitionError::BadEps(cfg.balance_eps));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let want = (k * cfg.sample_per_centroid)
        .min(cfg.max_sample_rows.max(k))
        .min(n);
    let mut idx = rand::seq::index::sample(&mut rng, n, want).into_vec();
    idx.sort_unstable();

    progress.stage("sample", want as u64);
    let sample = read_rows(rows, &idx, cfg.chunk_rows, progress)?;
    let s = idx.len();

    // CHOICE: random initial centroids among the sample (k distinct rows).
    let init = rand::seq::index::sample(&mut rng, s, k).into_vec();
    let mut cent: Vec<f32> = init
        .iter()
        .flat_map(|&i| sample[i * dim..(i + 1) * dim].iter().copied())
        .collect();

    progress.stage("lloyd", cfg.sample_iters as u64);
    let cap = capacity(s, k, cfg.balance_eps);
    let mut counts = vec![0u64; k];
    for _ in 0..cfg.sample_iters {
        let a = balanced(
            s,
            dim,
            |st, c| Ok(sample[st * dim..(st + c) * dim].to_vec()),
            &cent,
            cap,
            IN_MEMORY_ROWS,
            &crate::NoProgress,
        )?;
        let (sums, cnt) = accumulate(&sample, dim, &a.partition_of, k);
        update_full(
            &mut cent,
            &sums,
            &cnt,
            dim,
            rows.spherical,
            &sample,
            &mut rng,
        );
        counts = cnt;
        progress.advance(1);
    }
    drop(sample);

    // Mini-batch epochs over the whole file: each chunk moves centroids by the running
    // mean of all the points they have absorbed so far.
    for _ in 0..cfg.epochs {
        progress.stage("mini-batch", n as u64);
        for start in (0..n).step_by(cfg.chunk_rows.max(1)) {
            let cnt = cfg.chunk_rows.min(n - start);
            let pts = rows.read(start, cnt)?;
            let cap = capacity(cnt, k, cfg.balance_eps);
            let a = balanced(
                cnt,
                dim,
                |st, c| Ok(pts[st * dim..(st + c) * dim].to_vec()),
                &cent,
                cap,
                IN_MEMORY_ROWS,
                &crate::NoProgress,
            )?;
            let (sums, cs) = accumulate(&pts, dim, &a.partition_of, k);
            for c in 0..k {
                if cs[c] == 0 {
                    continue;
                }
                let total = counts[c] + cs[c];
                let row = &mut cent[c * dim..(c + 1) * dim];
                for (j, v) in row.iter_mut().enumerate() {
                    let old = *v as f64 * counts[c] as f64;
                    *v = ((old + sums[c * dim + j]) / total as f64) as f32;
                }
                counts[c] = total;
                if rows.spherical {
                    normalize(row);
                }
            }
            progress.advance(cnt as u64);
        }
    }
    Ok(cent)
}

/// Reads the given sorted row ids, reading contiguous runs within a chunk at once.
fn read_rows(
    rows: &Rows<'_>,
    idx: &[usize],
    chunk_rows: usize,
    progress: &dyn Progress,
) -> Result<Vec<f32>, PartitionError> {
    let dim = rows.dim();
    let mut out = Vec::with_capacity(idx.len() * dim);
    for_each_read(idx, chunk_rows, progress, |start, cnt, picks| {
        let span = rows.read(start, cnt)?;
        for &r in picks {
            out.extend_from_slice(&span[(r - start) * dim..(r - start + 1) * dim]);
        }
        Ok(())
    })?;
    Ok(out)
}

/// The reads that fetch the sorted rows `idx`: rows within `chunk_rows` of a
/// group's first are read as one span when dense, one by one when sparse (fewer
/// than one row in 8 wanted: the span would waste I/O). Calls `f(start, count,
/// the wanted rows in start..start+count)` in row order.
pub(crate) fn for_each_read(
    idx: &[usize],
    chunk_rows: usize,
    progress: &dyn Progress,
    mut f: impl FnMut(usize, usize, &[usize]) -> Result<(), PartitionError>,
) -> Result<(), PartitionError> {
    let mut i = 0;
    while i < idx.len() {
        let first = idx[i];
        let limit = first + chunk_rows.max(1);
        let mut j = i;
        while j < idx.len() && idx[j] < limit {
            j += 1;
        }
        let last = idx[j - 1];
        if (j - i) * 8 < last + 1 - first {
            for k in i..j {
                f(idx[k], 1, &idx[k..k + 1])?;
            }
        } else {
            f(first, last + 1 - first, &idx[i..j])?;
        }
        progress.advance((j - i) as u64);
        i = j;
    }
    Ok(())
}

fn accumulate(pts: &[f32], dim: usize, part: &[u32], k: usize) -> (Vec<f64>, Vec<u64>) {
    let mut sums = vec![0f64; k * dim];
    let mut cnt = vec![0u64; k];
    for (i, &c) in part.iter().enumerate() {
        let c = c as usize;
        cnt[c] += 1;
        let dst = &mut sums[c * dim..(c + 1) * dim];
        for (d, &v) in dst.iter_mut().zip(&pts[i * dim..(i + 1) * dim]) {
            *d += v as f64;
        }
    }
    (sums, cnt)
}

/// Lloyd update. An empty cluster restarts at a random sample point (seeded), as
/// FAISS does, so no centroid is wasted.
fn update_full(
    cent: &mut [f32],
    sums: &[f64],
    cnt: &[u64],
    dim: usize,
    spherical: bool,
    sample: &[f32],
    rng: &mut ChaCha8Rng,
) {
    use rand::Rng;
    let s = sample.len() / dim;
    for (c, &n) in cnt.iter().enumerate() {
        let row = &mut cent[c * dim..(c + 1) * dim];
        if n == 0 {
            let r = rng.random_range(0..s);
            row.copy_from_slice(&sample[r * dim..(r + 1) * dim]);
            continue;
        }
        for (j, v) in row.iter_mut().enumerate() {
            *v = (sums[c * dim + j] / n as f64) as f32;
        }
        if spherical {
            normalize(row);
        }
    }
}
