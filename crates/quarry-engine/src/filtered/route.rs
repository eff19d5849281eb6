//! The routed plan's partition choice: per query, the router's partition count,
//! taken in centroid order among the partitions holding matches only, widened
//! until the partitions taken hold at least k matches (or none are left).

use super::Resolved;
use crate::EngineError;
use quarry_routing::CentroidIndex;
use rayon::prelude::*;

/// Queries ranked together (bounds the distance matrix of one ranking call).
const RANK_CHUNK: usize = 256;

impl Resolved {
    /// Rewrites `selected` (the router's choice per query) as described above.
    pub(crate) fn route(
        &self,
        centroids: &CentroidIndex,
        queries: &[f32],
        k: usize,
        selected: &[Vec<u32>],
    ) -> Result<Vec<Vec<u32>>, EngineError> {
        let dim = centroids.dim();
        let with: Vec<u32> = (0..self.per_partition.len() as u32)
            .filter(|&p| self.per_partition[p as usize] > 0)
            .collect();
        if with.is_empty() {
            return Ok(vec![Vec::new(); selected.len()]);
        }
        // Rank only the partitions holding matches: a smaller GEMM, and every
        // ranked partition is a candidate.
        let mut sub = Vec::with_capacity(with.len() * dim);
        for &p in &with {
            sub.extend_from_slice(&centroids.centroids()[p as usize * dim..(p as usize + 1) * dim]);
        }
        let sub = CentroidIndex::new(sub, dim, centroids.metric());
        let want = selected.iter().map(Vec::len).max().unwrap_or(1).max(1);
        // Deep enough for the count plus widening in the usual case; a query that
        // needs more is ranked again in full.
        let depth = (2 * want + 16).min(with.len());
        let chunks: Vec<Result<Vec<Vec<u32>>, EngineError>> = queries
            .par_chunks(RANK_CHUNK * dim)
            .enumerate()
            .map(|(c, block)| {
                let ranked = sub.rank_exact(block, depth)?;
                let mut out = Vec::with_capacity(ranked.per_query.len());
                for (j, r) in ranked.per_query.iter().enumerate() {
                    let qi = c * RANK_CHUNK + j;
                    let count = selected[qi].len().max(1);
                    let mut taken = self.take(r.iter().map(|p| p.0), &with, count, k);
                    if taken.1 < k as u64 && depth < with.len() {
                        let q = &block[j * dim..(j + 1) * dim];
                        let full = sub.rank_exact(q, with.len())?;
                        taken = self.take(full.per_query[0].iter().map(|p| p.0), &with, count, k);
                    }
                    out.push(taken.0);
                }
                Ok(out)
            })
            .collect();
        let mut all = Vec::with_capacity(selected.len());
        for c in chunks {
            all.extend(c?);
        }
        Ok(all)
    }

    /// Partitions from `ranked` (indices into `with`) until `count` are taken and
    /// they hold at least `k` matches; returns them and the matches they hold.
    fn take(
        &self,
        ranked: impl Iterator<Item = u32>,
        with: &[u32],
        count: usize,
        k: usize,
    ) -> (Vec<u32>, u64) {
        let mut parts = Vec::with_capacity(count);
        let mut seen = 0u64;
        for i in ranked {
            if parts.len() >= count && seen >= k as u64 {
                break;
            }
            let p = with[i as usize];
            parts.push(p);
            seen += self.per_partition[p as usize];
        }
        (parts, seen)
    }
}
