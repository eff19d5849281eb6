//! Held-out evaluation of a pruning model: partitions per query at equal mean recall
//! for the learned policies, fixed nprobe and an oracle, all computed from the exact
//! neighbours' partition positions (what a search probing those partitions returns).

use super::recall_at_count;
use quarry_routing::pruning::{Allocation, Calibration};
use serde::Serialize;

/// Offline comparison on the held-out slice: partitions per query needed for a mean
/// recall, learned router vs fixed nprobe (computed from neighbour positions, which
/// is exactly what a search with those probes would return).
#[derive(Debug, Clone, Serialize)]
pub struct HoldoutPoint {
    pub k: usize,
    pub target: f32,
    /// Margin policy (ceil(exp(pred + margin))).
    pub learned_partitions: Option<f64>,
    pub learned_recall: Option<f64>,
    /// Target-recall policy (per-bin allocation; in-sample on this slice).
    pub allocated_partitions: Option<f64>,
    pub allocated_recall: Option<f64>,
    pub fixed_nprobe: Option<usize>,
    pub fixed_recall: Option<f64>,
    /// Fixed nprobe interpolated linearly between the integers around the target.
    pub fixed_interpolated: Option<f64>,
    /// An oracle that knows every query's neighbour positions and spends probes where
    /// they buy the most recall (Lagrangian allocation over the queries' recall curves):
    /// no per-query probe count does better, up to one query's step (~cap / queries).
    pub oracle_partitions: Option<f64>,
}

/// For recall targets 0.8 / 0.9 / 0.95 at each calibrated k: the learned router's
/// partitions per query (smallest calibrated margin reaching it) and the fixed
/// nprobe reaching it, both on the held-out slice.
pub(crate) fn holdout_points(
    cal: &Calibration,
    alloc: &Allocation,
    pos: &[&[u32]],
    cap: usize,
) -> Vec<HoldoutPoint> {
    let n = pos.len() as f64;
    let mut out = Vec::new();
    for (ki, &k) in cal.ks.iter().enumerate() {
        for target in [0.8f32, 0.9, 0.95, 0.98, 0.99] {
            let j = cal.recall[ki].iter().position(|&r| r >= target);
            let mean_at = |c: usize| pos.iter().map(|p| recall_at_count(p, k, c)).sum::<f64>() / n;
            let fixed = (1..=cap).find_map(|c| {
                let r = mean_at(c);
                (r >= target as f64).then_some((c, r))
            });
            let fixed_interpolated = fixed.map(|(c, r)| {
                let below = if c > 1 { mean_at(c - 1) } else { 0.0 };
                let t = target as f64;
                (c - 1) as f64 + ((t - below) / (r - below).max(1e-12)).clamp(0.0, 1.0)
            });
            let plan = alloc.plan(target, k, cap).ok();
            out.push(HoldoutPoint {
                k,
                target,
                allocated_partitions: plan.as_ref().map(|p| p.partitions),
                allocated_recall: plan.as_ref().map(|p| p.recall),
                learned_partitions: j.map(|j| cal.partitions[j] as f64),
                learned_recall: j.map(|j| cal.recall[ki][j] as f64),
                fixed_nprobe: fixed.map(|f| f.0),
                fixed_recall: fixed.map(|f| f.1),
                fixed_interpolated,
                oracle_partitions: oracle(pos, k, target as f64, cap),
            });
        }
    }
    out
}

/// Mean partitions per query of the best per-query allocation reaching mean
/// recall@k >= target: each query takes the count maximising recall - lambda * count,
/// lambda bisected. Only counts at which a neighbour is reached are worth taking.
fn oracle(pos: &[&[u32]], k: usize, target: f64, cap: usize) -> Option<f64> {
    let sorted: Vec<Vec<u32>> = pos
        .iter()
        .map(|p| {
            let mut s: Vec<u32> = p[..k.min(p.len())].to_vec();
            s.sort_unstable();
            s
        })
        .collect();
    let n = pos.len() as f64;
    let eval = |lambda: f64| -> (f64, f64) {
        let (mut rec, mut parts) = (0.0, 0.0);
        for s in &sorted {
            let kk = s.len().max(1) as f64;
            let (mut best, mut bc, mut br) = (-lambda, 1.0, 0.0);
            for (j, &p) in s.iter().enumerate() {
                if p as usize > cap {
                    break;
                }
                let c = p.max(1) as f64;
                let r = (j + 1) as f64 / kk;
                let v = r - lambda * c;
                if v > best {
                    (best, bc, br) = (v, c, r);
                }
            }
            // Count 1 reaches every neighbour at position 1.
            let r1 = s.iter().filter(|&&p| p <= 1).count() as f64 / kk;
            if r1 - lambda >= best {
                (bc, br) = (1.0, r1);
            }
            rec += br;
            parts += bc;
        }
        (rec / n, parts / n)
    };
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    if eval(lo).0 < target {
        return None;
    }
    for _ in 0..50 {
        let mid = 0.5 * (lo + hi);
        if eval(mid).0 >= target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(eval(lo).1)
}
