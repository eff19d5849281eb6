//! The cost model behind `Auto`: predicted thread-CPU time of answering `q` routed
//! queries over a partition of `n` vectors by GEMM scan and by graph search.
//!
//! Both costs are linear in `q`; the scan also pays a per-partition term (norms,
//! panel packing, u8 -> f32 conversion) that a graph search does not:
//! - scan: `q n (scan_vq + scan_vq_dim dim) + n dim scan_partition_{f32,int}`
//! - graph: `q D (graph_dist + graph_dist_dim dim)`, `D = min(n, dists_per_ef ef + dists_base)`
//!   distance evaluations per query.
//!
//! The coefficients are data: `CostModel::default()` holds the fit measured on the
//! machine the README names, and `quarry dev graph-calibrate --save` measures this
//! machine (`Index::measure_partition_costs`, in `crate::calibrate`), fits them by least squares
//! (`CostModel::fit`) and attaches them to the index (`cost_model.json`), which
//! `Index::open` loads.

use crate::EngineError;
use quarry_kernels::DType;
use serde::{Deserialize, Serialize};

/// The file a fitted model is attached as.
pub const COST_MODEL_FILE: &str = "cost_model.json";

/// Coefficients in thread-CPU nanoseconds (see the module notes).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CostModel {
    pub scan_vq: f64,
    pub scan_vq_dim: f64,
    pub scan_partition_f32: f64,
    pub scan_partition_int: f64,
    pub graph_dist: f64,
    pub graph_dist_dim: f64,
    pub dists_per_ef: f64,
    pub dists_base: f64,
}

impl Default for CostModel {
    /// Fitted to `graph-calibrate` on an AVX-512 machine (GloVe-50 f32 partitions of
    /// ~12K vectors, Fashion-MNIST u8-784 partitions of ~3.7K, q = 1..1024,
    /// ef = 16..128; table in the README's graphs section).
    fn default() -> Self {
        CostModel {
            scan_vq: 2.0,
            scan_vq_dim: 0.0145,
            scan_partition_f32: 0.37,
            scan_partition_int: 0.6,
            graph_dist: 38.0,
            graph_dist_dim: 0.085,
            dists_per_ef: 13.5,
            dists_base: 230.0,
        }
    }
}

impl CostModel {
    fn scan_partition(&self, dtype: DType) -> f64 {
        match dtype {
            DType::F32 => self.scan_partition_f32,
            DType::U8 | DType::I8 => self.scan_partition_int,
        }
    }

    /// Predicted scan nanoseconds.
    pub fn scan_ns(&self, n: usize, q: usize, dim: usize, dtype: DType) -> f64 {
        let (n, q, dim) = (n as f64, q as f64, dim as f64);
        q * n * (self.scan_vq + self.scan_vq_dim * dim) + n * dim * self.scan_partition(dtype)
    }

    /// Predicted graph-search nanoseconds.
    pub fn graph_ns(&self, n: usize, q: usize, dim: usize, ef: usize) -> f64 {
        let dists = (self.dists_per_ef * ef as f64 + self.dists_base).min(n as f64);
        q as f64 * dists * (self.graph_dist + self.graph_dist_dim * dim as f64)
    }

    /// Whether graph search is predicted cheaper than a scan.
    pub fn prefer_graph(&self, n: usize, q: usize, dim: usize, ef: usize, dtype: DType) -> bool {
        self.graph_ns(n, q, dim, ef) < self.scan_ns(n, q, dim, dtype)
    }

    /// Reads a model written by `to_json`.
    pub fn from_json(bytes: &[u8]) -> Result<CostModel, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("plain numbers serialise")
    }

    /// Least-squares fit to measured points. A coefficient the points cannot
    /// determine (one dimension only, one dtype only, ef never below the partition
    /// size) keeps `self`'s value; fitted values are clamped at 0.
    pub fn fit(&self, points: &[CostPoint]) -> Result<CostModel, EngineError> {
        if points.is_empty() {
            return Err(EngineError::BadSearch(
                "no cost measurements to fit a cost model to".into(),
            ));
        }
        let mut m = *self;
        let dims_vary = points.iter().any(|p| p.dim != points[0].dim);
        // Scan: ns = q n (a + b dim) + n dim c_dtype.
        let mut rows = Vec::new();
        let mut ys = Vec::new();
        let has = |f: fn(DType) -> bool| points.iter().any(|p| f(p.dtype));
        let (fit_f32, fit_int) = (has(|d| d == DType::F32), has(|d| d != DType::F32));
        for p in points {
            let (n, q, d) = (p.n as f64, p.q as f64, p.dim as f64);
            let mut y = p.scan_secs * 1e9;
            let mut row = vec![q * n];
            if dims_vary {
                row.push(q * n * d);
            } else {
                y -= q * n * d * m.scan_vq_dim;
            }
            let f32_row = p.dtype == DType::F32;
            if fit_f32 {
                row.push(if f32_row { n * d } else { 0.0 });
            } else {
                y -= n * d * m.scan_partition_f32 * f32_row as u8 as f64;
            }
            if fit_int {
                row.push(if f32_row { 0.0 } else { n * d });
            }
            rows.push(row);
            ys.push(y);
        }
        let c = least_squares(&rows, &ys);
        let mut it = c.into_iter();
        m.scan_vq = it.next().unwrap_or(m.scan_vq).max(0.0);
        if dims_vary {
            m.scan_vq_dim = it.next().unwrap_or(m.scan_vq_dim).max(0.0);
        }
        if fit_f32 {
            m.scan_partition_f32 = it.next().unwrap_or(m.scan_partition_f32).max(0.0);
        }
        if fit_int {
            m.scan_partition_int = it.next().unwrap_or(m.scan_partition_int).max(0.0);
        }
        // Graph: ns = dists (g0 + g1 dim), on the measured distance counts.
        let (mut rows, mut ys) = (Vec::new(), Vec::new());
        for p in points.iter().filter(|p| p.graph_distances > 0) {
            let (dists, d) = (p.graph_distances as f64, p.dim as f64);
            let mut y = p.graph_secs * 1e9;
            if dims_vary {
                rows.push(vec![dists, dists * d]);
            } else {
                y -= dists * d * m.graph_dist_dim;
                rows.push(vec![dists]);
            }
            ys.push(y);
        }
        let c = least_squares(&rows, &ys);
        if let Some(&g0) = c.first() {
            m.graph_dist = g0.max(0.0);
        }
        if let Some(&g1) = c.get(1) {
            m.graph_dist_dim = g1.max(0.0);
        }
        // Distances per query against ef, where the partition did not cap them.
        let (mut rows, mut ys) = (Vec::new(), Vec::new());
        for p in points.iter().filter(|p| p.q > 0) {
            let per_query = p.graph_distances as f64 / p.q as f64;
            if per_query < 0.9 * p.n as f64 {
                rows.push(vec![p.ef as f64, 1.0]);
                ys.push(per_query);
            }
        }
        let efs_vary = rows.iter().any(|r| r[0] != rows[0][0]);
        if efs_vary {
            let c = least_squares(&rows, &ys);
            m.dists_per_ef = c[0].max(0.0);
            m.dists_base = c[1].max(0.0);
        } else if !rows.is_empty() {
            let mean = ys.iter().sum::<f64>() / ys.len() as f64;
            m.dists_base = (mean - m.dists_per_ef * rows[0][0]).max(0.0);
        }
        Ok(m)
    }
}

/// Solves min |X c - y| by the normal equations (a handful of columns); an empty
/// or singular system gives no coefficients.
fn least_squares(rows: &[Vec<f64>], ys: &[f64]) -> Vec<f64> {
    let Some(w) = rows.first().map(Vec::len) else {
        return Vec::new();
    };
    // Columns scaled to unit norm so the elimination is well conditioned.
    let scale: Vec<f64> = (0..w)
        .map(|j| {
            rows.iter()
                .map(|r| r[j] * r[j])
                .sum::<f64>()
                .sqrt()
                .max(f64::MIN_POSITIVE)
        })
        .collect();
    let mut a = vec![vec![0.0; w + 1]; w];
    for (r, &y) in rows.iter().zip(ys) {
        for i in 0..w {
            for j in 0..w {
                a[i][j] += r[i] / scale[i] * r[j] / scale[j];
            }
            a[i][w] += r[i] / scale[i] * y;
        }
    }
    for col in 0..w {
        let piv = (col..w)
            .max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))
            .expect("non-empty");
        if a[piv][col].abs() < 1e-12 {
            return Vec::new();
        }
        a.swap(col, piv);
        let pivot_row = a[col].clone();
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                for (x, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                    *x -= f * p;
                }
            }
        }
    }
    (0..w).map(|i| a[i][w] / a[i][i] / scale[i]).collect()
}

/// One measurement: a partition of `n` vectors answering `q` queries by GEMM scan
/// and by graph search (same buffer, in memory, one thread; thread CPU seconds).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CostPoint {
    pub pid: u32,
    pub n: usize,
    pub q: usize,
    pub dim: usize,
    pub dtype: DType,
    pub ef: usize,
    pub scan_secs: f64,
    pub graph_secs: f64,
    pub graph_distances: u64,
    /// What the index's current cost model predicts for this (n, q, ef).
    pub model_prefers_graph: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(n: usize, q: usize, dim: usize, ef: usize, m: &CostModel) -> CostPoint {
        let dists = (m.dists_per_ef * ef as f64 + m.dists_base).min(n as f64);
        CostPoint {
            pid: 0,
            n,
            q,
            dim,
            dtype: DType::F32,
            ef,
            scan_secs: m.scan_ns(n, q, dim, DType::F32) * 1e-9,
            graph_secs: m.graph_ns(n, q, dim, ef) * 1e-9,
            graph_distances: (dists * q as f64) as u64,
            model_prefers_graph: false,
        }
    }

    #[test]
    fn fit_recovers_the_coefficients_it_was_measured_with() {
        let truth = CostModel {
            scan_vq: 3.0,
            scan_vq_dim: 0.02,
            scan_partition_f32: 0.5,
            scan_partition_int: 0.6,
            graph_dist: 30.0,
            graph_dist_dim: 0.1,
            dists_per_ef: 12.0,
            dists_base: 200.0,
        };
        let mut pts = Vec::new();
        for dim in [50, 784] {
            for n in [3000, 12000] {
                for q in [1, 16, 256] {
                    for ef in [16, 64, 128] {
                        pts.push(point(n, q, dim, ef, &truth));
                    }
                }
            }
        }
        let fitted = CostModel::default().fit(&pts).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() <= 0.02 * b.abs() + 1e-3;
        assert!(close(fitted.scan_vq, truth.scan_vq), "{fitted:?}");
        assert!(close(fitted.scan_vq_dim, truth.scan_vq_dim), "{fitted:?}");
        assert!(
            close(fitted.scan_partition_f32, truth.scan_partition_f32),
            "{fitted:?}"
        );
        assert!(close(fitted.graph_dist, truth.graph_dist), "{fitted:?}");
        assert!(
            close(fitted.graph_dist_dim, truth.graph_dist_dim),
            "{fitted:?}"
        );
        assert!(close(fitted.dists_per_ef, truth.dists_per_ef), "{fitted:?}");
        assert!(close(fitted.dists_base, truth.dists_base), "{fitted:?}");
        // Not measured (no u8 partitions): kept from the starting model.
        assert_eq!(
            fitted.scan_partition_int,
            CostModel::default().scan_partition_int
        );
        assert!(CostModel::default().fit(&[]).is_err());
    }
}
