//! `quarry synth --shape mixture`: data whose partitioning is not trivial, for the
//! scale runs (issue [scale]). Equal isotropic blobs (`--shape blobs`) put every
//! partition boundary between well separated clusters; real embeddings have
//! clusters of very different sizes and spreads, close to each other, each
//! stretched along a few directions. So (CHOICES, all seeded):
//! - centres: `clusters / 64` (at least 1) group centres uniform in the unit cube,
//!   each cluster's centre its group's plus N(0, (2 spread)^2) per coordinate, so
//!   clusters come in neighbourhoods that partitions must split;
//! - sizes: cluster weights log-normal (sigma 1): the largest clusters hold ~50x
//!   the vectors of the smallest;
//! - spreads: per cluster, `spread * exp(N(0, 0.5^2))` (about 0.4x-2.7x);
//! - local low rank: each cluster has `RANK` random unit directions along which
//!   vectors vary with standard deviation `STRETCH * its spread`, on top of the
//!   isotropic noise (about half the variance lies in those few directions);
//! - queries: fresh draws of the same mixture, never copies of base vectors.
//!
//! Rows are generated in parallel chunks, each from its own ChaCha stream of the
//! seed, so the output depends only on the arguments (not on the thread count).

use crate::progress::Ui;
use anyhow::{Context, Result};
use quarry_engine::Progress;
use quarry_formats::BinWriter;
use quarry_kernels::DType;
use quarry_partition::sample::normal_pair;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::path::Path;

/// Directions of stretch per cluster.
const RANK: usize = 4;
/// Standard deviation along each stretch direction, in units of the spread.
const STRETCH: f32 = 3.0;
/// Rows per generated chunk (its own random stream).
const CHUNK_ROWS: usize = 16384;

pub struct Mixture {
    dim: usize,
    centres: Vec<f32>,
    spreads: Vec<f32>,
    /// Per cluster, RANK unit directions of dim values.
    dirs: Vec<f32>,
    /// Cumulative weights (last = 1), for sampling a cluster.
    cdf: Vec<f64>,
    seed: u64,
}

fn stream(seed: u64, id: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(id);
    r
}

impl Mixture {
    /// Values held: centres and directions, `clusters * dim * (1 + RANK)`.
    pub fn values(clusters: usize, dim: usize) -> usize {
        clusters.saturating_mul(dim).saturating_mul(1 + RANK)
    }

    pub fn new(clusters: usize, dim: usize, spread: f32, seed: u64) -> Self {
        let mut rng = stream(seed, 10);
        let groups = (clusters / 64).max(1);
        let group_centres: Vec<f32> = (0..groups * dim).map(|_| rng.random::<f32>()).collect();
        let mut centres = Vec::with_capacity(clusters * dim);
        let mut spreads = Vec::with_capacity(clusters);
        let mut dirs = Vec::with_capacity(clusters * RANK * dim);
        let mut weights = Vec::with_capacity(clusters);
        for _ in 0..clusters {
            let g = rng.random_range(0..groups);
            for j in 0..dim {
                let (a, _) = normal_pair(&mut rng, f64::from(2.0 * spread));
                centres.push(group_centres[g * dim + j] + a as f32);
            }
            let (s, w) = normal_pair(&mut rng, 1.0);
            spreads.push(spread * (0.5 * s).exp() as f32);
            weights.push(w.exp());
            for _ in 0..RANK {
                let at = dirs.len();
                for _ in 0..dim {
                    dirs.push(normal_pair(&mut rng, 1.0).0 as f32);
                }
                let n = dirs[at..]
                    .iter()
                    .map(|x| x * x)
                    .sum::<f32>()
                    .sqrt()
                    .max(1e-12);
                dirs[at..].iter_mut().for_each(|x| *x /= n);
            }
        }
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cdf = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        Mixture {
            dim,
            centres,
            spreads,
            dirs,
            cdf,
            seed,
        }
    }

    fn sample(&self, rng: &mut ChaCha8Rng, out: &mut Vec<f32>) {
        let u: f64 = rng.random();
        let c = self.cdf.partition_point(|&p| p < u).min(self.cdf.len() - 1);
        let d = self.dim;
        let s = self.spreads[c];
        let at = out.len();
        out.extend_from_slice(&self.centres[c * d..(c + 1) * d]);
        let mut i = 0;
        while i < d {
            let (a, b) = normal_pair(rng, f64::from(s));
            out[at + i] += a as f32;
            if i + 1 < d {
                out[at + i + 1] += b as f32;
            }
            i += 2;
        }
        for r in 0..RANK {
            let g = normal_pair(rng, f64::from(STRETCH * s)).0 as f32;
            let dir = &self.dirs[(c * RANK + r) * d..(c * RANK + r + 1) * d];
            for (o, &v) in out[at..].iter_mut().zip(dir) {
                *o += g * v;
            }
        }
    }

    /// Streams `n` vectors to `path`: chunks generated in parallel (stream
    /// `stream_base + chunk`), written in order.
    pub fn write(
        &self,
        path: &Path,
        dtype: DType,
        n: usize,
        stream_base: u64,
        stage: &str,
        ui: &Ui,
    ) -> Result<()> {
        let mut w = BinWriter::create(path, dtype, self.dim)
            .with_context(|| format!("cannot create {}", path.display()))?;
        ui.stage(stage, n as u64);
        let chunks = n.div_ceil(CHUNK_ROWS);
        let wave = 4 * rayon::current_num_threads();
        for first in (0..chunks).step_by(wave) {
            let bufs: Vec<Vec<f32>> = (first..(first + wave).min(chunks))
                .into_par_iter()
                .map(|c| {
                    let rows = CHUNK_ROWS.min(n - c * CHUNK_ROWS);
                    let mut rng = stream(self.seed, stream_base + c as u64);
                    let mut buf = Vec::with_capacity(rows * self.dim);
                    for _ in 0..rows {
                        self.sample(&mut rng, &mut buf);
                    }
                    buf
                })
                .collect();
            for buf in bufs {
                match dtype {
                    DType::F32 => w.append_f32(&buf)?,
                    _ => {
                        let bytes: Vec<u8> = buf
                            .iter()
                            .map(|&x| (x * 255.0).round().clamp(0.0, 255.0) as u8)
                            .collect();
                        w.append_u8(&bytes)?;
                    }
                }
                ui.advance((buf.len() / self.dim) as u64);
            }
        }
        w.finish()?;
        Ok(())
    }
}
