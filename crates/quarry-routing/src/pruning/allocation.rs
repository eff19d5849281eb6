//! Target-recall allocation: from a predicted difficulty to a probe count that spends
//! partitions where they buy the most recall.
//!
//! Scaling every query's count by one margin (`exp(pred + margin)`) spends the most on
//! the hardest queries, whose last neighbours sit dozens of partitions away and cost
//! far more than they add to a *mean* recall. Here the held-out calibration queries
//! are cut into bins by predicted difficulty (quantiles of the prediction); each bin
//! keeps its mean recall curve R_b(c) for c = 1..max_nprobe. For a multiplier lambda
//! each bin probes argmax_c R_b(c) - lambda c (the smallest such c), i.e. partitions
//! go where the marginal recall per partition is highest; lambda is bisected so the
//! calibrated mean recall meets the target. Higher targets give smaller lambda and
//! never fewer probes in any bin (monotone). The prediction is used only to rank
//! queries, so a weak model degrades to fixed nprobe rather than below it.

use crate::RoutingError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Allocation {
    /// Ascending bin edges on the prediction (bins = edges + 1).
    pub edges: Vec<f64>,
    /// Recall cut-offs, ascending.
    pub ks: Vec<usize>,
    /// `curves[i][b][c - 1]`: mean recall@`ks[i]` of bin b's queries probing c partitions.
    pub curves: Vec<Vec<Vec<f32>>>,
    /// Calibration queries per bin.
    pub bin_queries: Vec<usize>,
}

/// Per-bin probe counts for one operating point, with its calibrated figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub counts: Vec<usize>,
    pub recall: f64,
    pub partitions: f64,
    pub k: usize,
}

impl Allocation {
    /// Builds bins and curves from calibration predictions and per-query recall
    /// curves (`recall_at(query, ki, c)`).
    pub fn fit(
        pred: &[f64],
        ks: &[usize],
        max_nprobe: usize,
        bins: usize,
        recall_at: impl Fn(usize, usize, usize) -> f64,
    ) -> Self {
        let n = pred.len();
        let bins = bins.clamp(1, n.max(1));
        let mut sorted: Vec<f64> = pred.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mut edges: Vec<f64> = (1..bins).map(|b| sorted[b * n / bins]).collect();
        edges.dedup();
        let nb = edges.len() + 1;
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); nb];
        for (q, &p) in pred.iter().enumerate() {
            members[bin_of(&edges, p)].push(q);
        }
        let curves = (0..ks.len())
            .map(|ki| {
                members
                    .iter()
                    .map(|m| {
                        (1..=max_nprobe)
                            .map(|c| {
                                if m.is_empty() {
                                    return 1.0;
                                }
                                (m.iter().map(|&q| recall_at(q, ki, c)).sum::<f64>()
                                    / m.len() as f64) as f32
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        Allocation {
            edges,
            ks: ks.to_vec(),
            curves,
            bin_queries: members.iter().map(Vec::len).collect(),
        }
    }

    pub fn bin(&self, pred: f64) -> usize {
        bin_of(&self.edges, pred)
    }

    fn cutoff(&self, k: usize) -> Result<usize, RoutingError> {
        self.ks
            .iter()
            .position(|&c| c >= k)
            .ok_or(RoutingError::NotCalibrated {
                k,
                largest: self.ks.last().copied().unwrap_or(0),
            })
    }

    fn at_lambda(&self, ki: usize, lambda: f64) -> Plan {
        let total: usize = self.bin_queries.iter().sum::<usize>().max(1);
        let (mut rec, mut parts) = (0.0, 0.0);
        let counts = self.curves[ki]
            .iter()
            .zip(&self.bin_queries)
            .map(|(curve, &nq)| {
                let mut best = (f64::NEG_INFINITY, 1usize);
                for (i, &r) in curve.iter().enumerate() {
                    let v = r as f64 - lambda * (i + 1) as f64;
                    if v > best.0 + 1e-12 {
                        best = (v, i + 1);
                    }
                }
                let c = best.1;
                rec += curve[c - 1] as f64 * nq as f64;
                parts += c as f64 * nq as f64;
                c
            })
            .collect();
        Plan {
            counts,
            recall: rec / total as f64,
            partitions: parts / total as f64,
            k: self.ks[ki],
        }
    }

    /// The cheapest plan whose calibrated mean recall@k reaches `target` (using the
    /// smallest calibrated cut-off >= k).
    pub fn plan(&self, target: f32, k: usize, max_nprobe: usize) -> Result<Plan, RoutingError> {
        super::check_target(target)?;
        let ki = self.cutoff(k)?;
        let t = target as f64;
        let best = self.at_lambda(ki, 0.0);
        if best.recall < t - 1e-9 {
            return Err(RoutingError::TargetUnreachable {
                target,
                k: self.ks[ki],
                best: best.recall as f32,
                max_nprobe,
            });
        }
        // Largest lambda still meeting the target: recall falls as lambda rises.
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if self.at_lambda(ki, mid).recall >= t {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(self.at_lambda(ki, lo))
    }
}

fn bin_of(edges: &[f64], p: f64) -> usize {
    edges.partition_point(|&e| e <= p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_queries_get_probes_only_while_they_buy_recall() {
        // Easy half: recall 1 at 1 probe. Hard half: a concave curve 1 - 0.8^c.
        let pred: Vec<f64> = (0..100).map(|i| if i < 50 { 0.0 } else { 5.0 }).collect();
        let a = Allocation::fit(&pred, &[10], 20, 2, |q, _, c| {
            if q < 50 {
                1.0
            } else {
                1.0 - 0.8f64.powi(c as i32)
            }
        });
        assert_eq!(a.bin_queries, vec![50, 50]);
        let mut prev = vec![0, 0];
        for t in [0.6f32, 0.75, 0.8, 0.9, 0.95] {
            let p = a.plan(t, 10, 20).unwrap();
            assert!(p.recall >= t as f64 - 1e-6, "{t}: {p:?}");
            assert_eq!(p.counts[0], 1, "easy queries need one probe");
            assert!(p.counts.iter().zip(&prev).all(|(a, b)| a >= b));
            prev = p.counts;
        }
        // 1 - 0.8^c >= 0.8 needs c = 8: the cheapest plan for a mean of 0.9.
        assert_eq!(a.plan(0.9, 10, 20).unwrap().counts, vec![1, 8]);
        assert!(matches!(
            a.plan(0.999, 10, 20),
            Err(RoutingError::TargetUnreachable { .. })
        ));
        assert!(matches!(
            a.plan(0.9, 11, 20),
            Err(RoutingError::NotCalibrated { .. })
        ));
        assert!(matches!(
            a.plan(1.5, 10, 20),
            Err(RoutingError::BadTarget(_))
        ));
    }
}
