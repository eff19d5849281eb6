//! Labels of learned pruning, from exact neighbours and the centroid ranking.
//!
//! For a query, each of its exact top-k neighbours is found once the search has read
//! a partition holding it; with partitions probed in centroid-distance order, that
//! happens at a fixed position. Those positions give every label at once: the
//! partitions needed for the whole top-k (the maximum), for a fraction r of it (the
//! ceil(r k)-th smallest), and the recall any probe count reaches.

use super::PartitionMap;
use quarry_kernels::Neighbor;

/// Position (1-based, in the query's centroid order `ranking`) at which each
/// neighbour is first reached; `u32::MAX` for a neighbour in no ranked partition.
/// `pos_of` is scratch of length >= number of partitions.
pub fn coverage_positions(
    ranking: &[u32],
    neighbors: &[Neighbor],
    map: &PartitionMap,
    pos_of: &mut Vec<u32>,
) -> Vec<u32> {
    let np = ranking.iter().map(|&p| p as usize + 1).max().unwrap_or(0);
    if pos_of.len() < np {
        pos_of.resize(np, u32::MAX);
    }
    for (i, &p) in ranking.iter().enumerate() {
        pos_of[p as usize] = i as u32 + 1;
    }
    let out = neighbors
        .iter()
        .map(|n| {
            let mut best = u32::MAX;
            map.for_each(n.id, |p| {
                if let Some(&v) = pos_of.get(p as usize) {
                    best = best.min(v);
                }
            });
            best
        })
        .collect();
    for &p in ranking {
        pos_of[p as usize] = u32::MAX;
    }
    out
}

/// Minimum partitions (in centroid order) whose union holds ceil(fraction * k) of
/// the k neighbours whose positions are given.
pub fn label_from_positions(positions: &[u32], fraction: f32) -> u32 {
    if positions.is_empty() {
        return 1;
    }
    let mut s = positions.to_vec();
    s.sort_unstable();
    let need = ((fraction as f64 * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[need - 1].max(1)
}

/// Recall@k (first k neighbours) reached by probing `count` partitions.
pub fn recall_at_count(positions: &[u32], k: usize, count: usize) -> f64 {
    let k = k.min(positions.len());
    if k == 0 {
        return 0.0;
    }
    let hit = positions[..k]
        .iter()
        .filter(|&&p| (p as usize) <= count)
        .count();
    hit as f64 / k as f64
}
