//! Per-query features of learned pruning, computed from the centroid ranking every
//! router already has (no extra distance computations).
//!
//! BAM-ANN's features are the ratios D_i / D_1 of a query's distances to its nearest
//! centroids. Quarry's distances are "smaller is closer" but not always positive:
//! negated inner product is <= 0 for aligned vectors, and `1 - cos` may be ~0. So the
//! ratio is written as the relative gap `(D_i - D_1) / (|D_1| + tiny)`, which equals
//! `D_i / D_1 - 1` whenever D_1 > 0 (L2, cosine: a monotone transform, and trees are
//! invariant to those) and stays finite and ordered for inner product.

use crate::RankedPartitions;
use serde::{Deserialize, Serialize};

/// Keeps the gap finite when D_1 is exactly 0 (a query equal to a centroid).
const TINY: f32 = 1e-12;

/// Which features the model reads. Recorded in the model file, so search computes
/// exactly what training did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureSet {
    /// Number of nearest centroids K: the features use D_2..D_K relative to D_1.
    pub k: usize,
    /// Add D_1 itself (how far the query is from any partition).
    pub d1: bool,
    /// Add the query's L2 norm (cosine/IP queries of small norm are less stable).
    pub norm: bool,
}

impl Default for FeatureSet {
    fn default() -> Self {
        FeatureSet {
            k: 64,
            d1: true,
            norm: true,
        }
    }
}

impl FeatureSet {
    /// Number of feature columns.
    pub fn width(&self) -> usize {
        self.k.saturating_sub(1) + self.d1 as usize + self.norm as usize
    }

    /// Column names, for reports.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = (2..=self.k).map(|i| format!("D{i}/D1")).collect();
        if self.d1 {
            v.push("D1".into());
        }
        if self.norm {
            v.push("|q|".into());
        }
        v
    }

    /// Features of every query, column-major (`width()` columns of `nq` rows), the
    /// layout the GBDT library reads. `ranked` must hold at least `k` partitions per
    /// query unless the index has fewer; missing ones repeat the last distance.
    pub fn compute(&self, queries: &[f32], dim: usize, ranked: &RankedPartitions) -> Vec<f64> {
        let nq = ranked.per_query.len();
        let w = self.width();
        let mut out = vec![0f64; nq * w];
        for (qi, r) in ranked.per_query.iter().enumerate() {
            let d1 = r.first().map_or(0.0, |p| p.1);
            let denom = d1.abs() + TINY;
            let mut col = 0;
            for i in 1..self.k {
                let di = r.get(i).or(r.last()).map_or(d1, |p| p.1);
                out[col * nq + qi] = ((di - d1) / denom) as f64;
                col += 1;
            }
            if self.d1 {
                out[col * nq + qi] = d1 as f64;
                col += 1;
            }
            if self.norm {
                let q = queries.get(qi * dim..(qi + 1) * dim).unwrap_or(&[]);
                out[col * nq + qi] = q.iter().map(|x| x * x).sum::<f32>().sqrt() as f64;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_ratios_minus_one_and_finite_for_negative_distances() {
        let fs = FeatureSet {
            k: 3,
            d1: true,
            norm: true,
        };
        let ranked = RankedPartitions {
            per_query: vec![
                vec![(0, 2.0), (1, 3.0), (2, 8.0)],
                vec![(5, -4.0), (1, -2.0), (3, -1.0)],
            ],
        };
        let q = [3.0, 4.0, 0.0, 1.0];
        let f = fs.compute(&q, 2, &ranked);
        assert_eq!(fs.width(), 4);
        // column-major: col0 = D2/D1 - 1
        assert_eq!(&f[0..2], &[0.5, 0.5]);
        assert_eq!(&f[2..4], &[3.0, 0.75]);
        assert_eq!(&f[4..6], &[2.0, -4.0]);
        assert_eq!(&f[6..8], &[5.0, 1.0]);
        assert!(f.iter().all(|v| v.is_finite()));
    }
}
