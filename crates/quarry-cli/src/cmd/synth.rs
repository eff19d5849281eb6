//! `quarry synth`: a synthetic clustered data set (Gaussian blobs), streamed to disk.
//!
//! Centres are drawn uniformly from the unit cube `[0, 1)^dim`; every vector (base or
//! query) picks a centre uniformly at random and adds independent N(0, spread^2) noise
//! to each coordinate. `.u8bin` output scales by 255, rounds and clamps to 0..=255.
//! Queries come from the same distribution (fresh draws, not copies of base vectors).
//! The output depends only on the arguments: the centres, the base vectors and the
//! queries each use their own ChaCha stream of `--seed`.

use crate::progress::Ui;
use anyhow::{bail, Context, Result};
use quarry_engine::Progress;
use quarry_formats::BinWriter;
use quarry_kernels::DType;
use quarry_partition::sample::normal_pair;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// Base vectors: .fbin (f32) or .u8bin (u8).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of base vectors.
    #[arg(long)]
    pub n: usize,
    #[arg(long)]
    pub dim: usize,
    /// Number of Gaussian blobs.
    #[arg(long, default_value_t = 100)]
    pub clusters: usize,
    /// Number of query vectors.
    #[arg(long)]
    pub queries: usize,
    /// Query vectors: .fbin or .u8bin.
    #[arg(long)]
    pub queries_out: PathBuf,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Standard deviation of each blob per coordinate (centres lie in the unit cube).
    #[arg(long, default_value_t = 0.1)]
    pub spread: f32,
    /// `blobs`: equal isotropic Gaussian blobs (above). `mixture`: clusters of
    /// log-normal sizes and spreads, in neighbourhoods, each stretched along a few
    /// directions (see `synth_mixture.rs`); made for the scale runs.
    #[arg(long, value_enum, default_value = "blobs")]
    pub shape: Shape,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    Blobs,
    Mixture,
}

/// Values generated per streamed chunk (about 4 MiB of f32).
const CHUNK_VALUES: usize = 1 << 20;
/// Largest centre table kept in memory (clusters x dim f32 values, 1 GiB).
const MAX_CENTRE_VALUES: usize = 1 << 28;

pub fn run(a: Args, ui: &Ui) -> Result<()> {
    if a.n == 0 || a.dim == 0 || a.clusters == 0 || a.queries == 0 {
        bail!("--n, --dim, --clusters and --queries must all be at least 1");
    }
    if !(a.spread.is_finite() && a.spread >= 0.0) {
        bail!(
            "--spread {} must be a finite number >= 0 (e.g. 0.1)",
            a.spread
        );
    }
    if a.clusters.saturating_mul(a.dim) > MAX_CENTRE_VALUES {
        bail!(
            "{} clusters x {} dimensions of centres do not fit in memory; use fewer --clusters",
            a.clusters,
            a.dim
        );
    }
    if a.n > u32::MAX as usize || a.queries > u32::MAX as usize {
        bail!("at most 4294967295 vectors fit a *bin file; lower --n / --queries");
    }
    if a.out == a.queries_out {
        bail!("--out and --queries-out are the same file; give the queries their own file");
    }
    let base_dtype = dtype_of(&a.out)?;
    let query_dtype = dtype_of(&a.queries_out)?;
    if a.shape == Shape::Mixture {
        use crate::cmd::synth_mixture::Mixture;
        if Mixture::values(a.clusters, a.dim) > MAX_CENTRE_VALUES {
            bail!(
                "{} clusters x {} dimensions of centres and directions do not fit in memory; use fewer --clusters",
                a.clusters,
                a.dim
            );
        }
        let t = std::time::Instant::now();
        let m = Mixture::new(a.clusters, a.dim, a.spread, a.seed);
        m.write(&a.out, base_dtype, a.n, 1 << 20, "synth base", ui)?;
        m.write(
            &a.queries_out,
            query_dtype,
            a.queries,
            1 << 40,
            "synth queries",
            ui,
        )?;
        ui.done();
        summary(&a, "mixture of ", t.elapsed().as_secs_f64());
        return Ok(());
    }

    let mut centre_rng = stream(a.seed, 0);
    let centres: Vec<f32> = (0..a.clusters * a.dim)
        .map(|_| centre_rng.random::<f32>())
        .collect();
    let blobs = Blobs {
        centres: &centres,
        dim: a.dim,
        spread: a.spread,
    };
    let t = std::time::Instant::now();
    blobs.write(&a.out, base_dtype, a.n, stream(a.seed, 1), "synth base", ui)?;
    blobs.write(
        &a.queries_out,
        query_dtype,
        a.queries,
        stream(a.seed, 2),
        "synth queries",
        ui,
    )?;
    ui.done();
    summary(&a, "", t.elapsed().as_secs_f64());
    Ok(())
}

fn summary(a: &Args, shape: &str, secs: f64) {
    eprintln!(
        "synth: {} x {} base -> {}, {} queries -> {} ({shape}{} clusters, spread {}, seed {}) in {secs:.2}s",
        a.n,
        a.dim,
        a.out.display(),
        a.queries,
        a.queries_out.display(),
        a.clusters,
        a.spread,
        a.seed,
    );
}

fn dtype_of(path: &Path) -> Result<DType> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("fbin") => Ok(DType::F32),
        Some("u8bin") => Ok(DType::U8),
        _ => bail!(
            "{}: synthetic output must end in .fbin (f32) or .u8bin (u8)",
            path.display()
        ),
    }
}

/// An independent ChaCha stream of the seed.
fn stream(seed: u64, id: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(id);
    r
}

struct Blobs<'a> {
    centres: &'a [f32],
    dim: usize,
    spread: f32,
}

impl Blobs<'_> {
    fn clusters(&self) -> usize {
        self.centres.len() / self.dim
    }

    /// Streams `n` vectors to `path`, one chunk in memory at a time.
    fn write(
        &self,
        path: &Path,
        dtype: DType,
        n: usize,
        mut rng: ChaCha8Rng,
        stage: &str,
        ui: &Ui,
    ) -> Result<()> {
        let mut w = BinWriter::create(path, dtype, self.dim)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let chunk_rows = (CHUNK_VALUES / self.dim).max(1);
        let mut buf = Vec::with_capacity(chunk_rows.min(n) * self.dim);
        let mut bytes = Vec::new();
        ui.stage(stage, n as u64);
        let mut done = 0;
        while done < n {
            let rows = chunk_rows.min(n - done);
            buf.clear();
            for _ in 0..rows {
                self.sample(&mut rng, &mut buf);
            }
            match dtype {
                DType::F32 => w.append_f32(&buf)?,
                _ => {
                    bytes.clear();
                    bytes.extend(
                        buf.iter()
                            .map(|&x| (x * 255.0).round().clamp(0.0, 255.0) as u8),
                    );
                    w.append_u8(&bytes)?;
                }
            }
            done += rows;
            ui.advance(rows as u64);
        }
        w.finish()?;
        Ok(())
    }

    /// Appends one vector: a random centre plus Gaussian noise (Box-Muller, both outputs used).
    fn sample(&self, rng: &mut ChaCha8Rng, out: &mut Vec<f32>) {
        let c = rng.random_range(0..self.clusters());
        let centre = &self.centres[c * self.dim..(c + 1) * self.dim];
        let mut i = 0;
        while i < self.dim {
            let (a, b) = normal_pair(rng, f64::from(self.spread));
            out.push(centre[i] + a as f32);
            if i + 1 < self.dim {
                out.push(centre[i + 1] + b as f32);
            }
            i += 2;
        }
    }
}
