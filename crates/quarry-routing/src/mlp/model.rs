//! The MLP: input (normalised as the metric requires, then standardised) -> hidden ->
//! hidden -> one logit per partition, ReLU between layers.

use super::MlpError;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{Linear, Module};
use quarry_kernels::Metric;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Shape and input handling of a model (stored beside the weights as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    pub dim: usize,
    pub hidden: usize,
    pub partitions: usize,
    pub metric: Metric,
    /// Centroid prior: logits get `- beta * d(x, c_p)` added, d the squared distance
    /// to partition p's centroid in the network's input space and beta learned, so
    /// the network learns a correction of the k-means ranking (see README).
    #[serde(default)]
    pub centroid_prior: bool,
}

/// Weights and input standardisation. `mean` and `scale` are fixed from the training
/// queries: x' = (x - mean) / scale after L2 normalisation for cosine indexes.
pub struct Mlp {
    pub cfg: MlpConfig,
    pub(super) mean: Vec<f32>,
    pub(super) scale: f32,
    pub(super) vars: Vec<Var>,
    /// With `centroid_prior`: prepared centroids (partitions x dim) and their squared norms.
    pub(super) prior: Option<(Tensor, Tensor)>,
}

/// Queries per forward block at inference (bounds the nq x partitions matrix).
const INFER_BLOCK: usize = 1024;

impl Mlp {
    /// He-initialised weights from `seed` (our own RNG: candle's random init is not
    /// seedable, and a seed must give the same model).
    /// `centroids` (partitions x dim, raw) are required with `centroid_prior`;
    /// `beta0` is the prior's initial sharpness.
    pub fn new(
        cfg: MlpConfig,
        mean: Vec<f32>,
        scale: f32,
        seed: u64,
        centroids: &[f32],
        beta0: f32,
    ) -> Result<Self, MlpError> {
        check_config(&cfg)?;
        if mean.len() != cfg.dim || !(scale.is_finite() && scale > 0.0) {
            return Err(MlpError::BadConfig(format!(
                "input standardisation needs {} means and a positive scale (got {} and {scale})",
                cfg.dim,
                mean.len()
            )));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let dims = [cfg.dim, cfg.hidden, cfg.hidden, cfg.partitions];
        let mut vars = Vec::new();
        for l in 0..3 {
            let (fan_in, fan_out) = (dims[l], dims[l + 1]);
            // Uniform with the variance of He init: 2 / fan_in.
            let mut a = (6.0 / fan_in as f64).sqrt() as f32;
            if l == 2 && cfg.centroid_prior {
                // Start close to the prior's ranking; the network learns the correction.
                a *= 0.1;
            }
            let w: Vec<f32> = (0..fan_in * fan_out)
                .map(|_| rng.random_range(-a..a))
                .collect();
            vars.push(Var::from_vec(w, (fan_out, fan_in), &Device::Cpu)?);
            vars.push(Var::from_vec(vec![0f32; fan_out], fan_out, &Device::Cpu)?);
        }
        let mut m = Mlp {
            cfg,
            mean,
            scale,
            vars,
            prior: None,
        };
        if m.cfg.centroid_prior {
            m.set_prior(centroids)?;
            m.vars
                .push(Var::from_vec(vec![beta0.max(1e-12).ln()], 1, &Device::Cpu)?);
        }
        Ok(m)
    }

    /// Prepares the centroids as queries are prepared (normalised for cosine, then
    /// standardised), so distances in the input space rank partitions as the index does.
    pub fn set_prior(&mut self, centroids: &[f32]) -> Result<(), MlpError> {
        let (p, dim) = (self.cfg.partitions, self.cfg.dim);
        if centroids.len() != p * dim {
            return Err(MlpError::BadConfig(format!(
                "centroid prior needs {p} x {dim} centroids, got {} values",
                centroids.len()
            )));
        }
        self.prior = Some(prior_tensors(self.prepare(centroids), p, dim)?);
        Ok(())
    }

    /// Squared distances of prepared rows to the prepared centroids (n x partitions).
    pub fn centroid_distances(&self, x: &Tensor) -> Result<Option<Tensor>, MlpError> {
        let Some((c, cn)) = &self.prior else {
            return Ok(None);
        };
        let xc = x.matmul(&c.t()?)?;
        let xn = x.sqr()?.sum_keepdim(1)?;
        Ok(Some(xn.broadcast_add(cn)?.sub(&(xc * 2.0)?)?))
    }

    /// Per-component input mean (standardisation).
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// Input scale (standardisation).
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// Trainable parameters (w1, b1, w2, b2, w3, b3[, log beta]).
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    /// Parameters, for the cost figures.
    pub fn num_params(&self) -> usize {
        self.vars.iter().map(|v| v.elem_count()).sum()
    }

    /// Multiply-adds of one query's forward pass.
    pub fn flops_per_query(&self) -> usize {
        let c = &self.cfg;
        let prior = if c.centroid_prior {
            c.dim * c.partitions
        } else {
            0
        };
        2 * (c.dim * c.hidden + c.hidden * c.hidden + c.hidden * c.partitions + prior)
    }

    /// Rows of raw queries as the network sees them.
    pub fn prepare(&self, queries: &[f32]) -> Vec<f32> {
        let mut x = queries.to_vec();
        for row in x.chunks_exact_mut(self.cfg.dim) {
            if self.cfg.metric == Metric::Cosine {
                quarry_kernels::normalize(row);
            }
            for (v, m) in row.iter_mut().zip(&self.mean) {
                *v = (*v - m) / self.scale;
            }
        }
        x
    }

    /// Logits of prepared rows (`x` is n x dim).
    pub fn logits(&self, x: &Tensor) -> Result<Tensor, MlpError> {
        let layer = |i: usize| {
            Linear::new(
                self.vars[2 * i].as_tensor().clone(),
                Some(self.vars[2 * i + 1].as_tensor().clone()),
            )
        };
        let h = layer(0).forward(x)?.relu()?;
        let h = layer(1).forward(&h)?.relu()?;
        let out = layer(2).forward(&h)?;
        match self.centroid_distances(x)? {
            Some(d) => {
                let beta = self.vars[6].as_tensor().exp()?;
                Ok(out.sub(&d.broadcast_mul(&beta)?)?)
            }
            None => Ok(out),
        }
    }

    /// Partition probabilities of raw queries, row-major nq x partitions.
    pub fn probabilities(&self, queries: &[f32]) -> Result<Vec<f32>, MlpError> {
        let dim = self.cfg.dim;
        if !queries.len().is_multiple_of(dim) {
            return Err(MlpError::BadConfig(format!(
                "query block of {} values is not a multiple of the model's {dim} dimensions",
                queries.len()
            )));
        }
        super::threads::with_candle_threads(1, || -> Result<Vec<f32>, MlpError> {
            let mut out = Vec::with_capacity(queries.len() / dim * self.cfg.partitions);
            for block in queries.chunks(INFER_BLOCK * dim) {
                let n = block.len() / dim;
                let x = Tensor::from_vec(self.prepare(block), (n, dim), &Device::Cpu)?;
                let p = candle_nn::ops::softmax_last_dim(&self.logits(&x)?)?;
                out.extend(p.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?);
            }
            Ok(out)
        })
    }
}

/// Prepared centroids and their squared norms (one host summation order, so a model
/// built in training and one loaded from disk compute identical logits).
pub(super) fn prior_tensors(
    c: Vec<f32>,
    p: usize,
    dim: usize,
) -> Result<(Tensor, Tensor), MlpError> {
    let norms: Vec<f32> = c
        .chunks_exact(dim)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect();
    Ok((
        Tensor::from_vec(c, (p, dim), &Device::Cpu)?,
        Tensor::from_vec(norms, (1, p), &Device::Cpu)?,
    ))
}

/// Widest hidden layer: its hidden x hidden weights (and Adam's two moments) are
/// allocated from this number, which comes from a flag or a model file; 8192 is
/// 256 MiB per copy, far beyond the few hundred the router needs.
pub const MAX_HIDDEN: usize = 8192;

pub fn check_config(cfg: &MlpConfig) -> Result<(), MlpError> {
    if cfg.dim == 0 || cfg.hidden == 0 || cfg.partitions < 2 {
        return Err(MlpError::BadConfig(format!(
            "dim {}, hidden {}, partitions {}: all must be positive and partitions at least 2",
            cfg.dim, cfg.hidden, cfg.partitions
        )));
    }
    if cfg.hidden > MAX_HIDDEN {
        return Err(MlpError::BadConfig(format!(
            "hidden {} exceeds {MAX_HIDDEN} (256 is typical)",
            cfg.hidden
        )));
    }
    Ok(())
}
