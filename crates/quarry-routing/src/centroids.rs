use crate::{CentroidGraph, RoutingError};
use quarry_kernels::{select_smallest, BatchScratch, Metric, PackedVectors, Selection};
use rayon::prelude::*;
use std::sync::Arc;

/// Centroids kept in memory, ranked for a batch of queries with one GEMM; or, when
/// an HNSW over them is set (hundreds of thousands of centroids), by graph search.
#[derive(Debug, Clone)]
pub struct CentroidIndex {
    centroids: Vec<f32>,
    /// The centroids packed once for the GEMM (a query would otherwise repack all
    /// of them: 2/3 of a single query's routing time at 1024 x 128).
    packed: Arc<PackedVectors>,
    dim: usize,
    metric: Metric,
    graph: Option<Arc<CentroidGraph>>,
}

/// Per query, (partition, distance) pairs nearest first.
#[derive(Debug, Clone, Default)]
pub struct RankedPartitions {
    pub per_query: Vec<Vec<(u32, f32)>>,
}

impl CentroidIndex {
    /// `metric` is the index metric: partitions are ranked by the same distance the
    /// results are, so the nearest centroid is the one most likely to hold neighbours.
    pub fn new(centroids: Vec<f32>, dim: usize, metric: Metric) -> Self {
        assert!(
            dim > 0 && centroids.len().is_multiple_of(dim),
            "centroid buffer is k x dim"
        );
        let packed = Arc::new(PackedVectors::new(&centroids, centroids.len() / dim, dim));
        CentroidIndex {
            centroids,
            packed,
            dim,
            metric,
            graph: None,
        }
    }

    /// Ranks with `graph` from now on (approximate, sub-linear); `None` returns to GEMM.
    pub fn set_graph(&mut self, graph: Option<Arc<CentroidGraph>>) -> Result<(), RoutingError> {
        if let Some(g) = &graph {
            if g.graph().len() != self.len() {
                return Err(RoutingError::Graph(format!(
                    "graph has {} nodes for {} centroids",
                    g.graph().len(),
                    self.len()
                )));
            }
        }
        self.graph = graph;
        Ok(())
    }

    pub fn graph(&self) -> Option<&CentroidGraph> {
        self.graph.as_deref()
    }

    pub fn metric(&self) -> Metric {
        self.metric
    }

    pub fn len(&self) -> usize {
        self.centroids.len() / self.dim
    }

    pub fn is_empty(&self) -> bool {
        self.centroids.is_empty()
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn centroids(&self) -> &[f32] {
        &self.centroids
    }

    pub fn memory_bytes(&self) -> usize {
        self.centroids.len() * 4
            + self.packed.memory_bytes()
            + self.graph.as_ref().map_or(0, |g| g.graph().memory_bytes())
    }

    /// The `top` nearest partitions of every query. Ties break by partition id so the
    /// ranking is deterministic.
    pub fn rank(&self, queries: &[f32], top: usize) -> Result<RankedPartitions, RoutingError> {
        if !queries.len().is_multiple_of(self.dim) {
            return Err(RoutingError::Shape {
                got: queries.len(),
                dim: self.dim,
            });
        }
        if let Some(g) = &self.graph {
            return g.rank(&self.centroids, self.dim, self.metric, queries, top);
        }
        self.rank_exact(queries, top)
    }

    /// The exact ranking by GEMM, whether or not a graph is set.
    pub fn rank_exact(
        &self,
        queries: &[f32],
        top: usize,
    ) -> Result<RankedPartitions, RoutingError> {
        if !queries.len().is_multiple_of(self.dim) {
            return Err(RoutingError::Shape {
                got: queries.len(),
                dim: self.dim,
            });
        }
        let nq = queries.len() / self.dim;
        let k = self.len();
        let top = top.min(k);
        // Blocks of queries bound the nq x k distance matrix; blocks run in
        // parallel (each query's ranking depends on its own row only).
        const BLOCK: usize = 64;
        let blocks: Vec<Vec<Vec<(u32, f32)>>> = (0..nq.div_ceil(BLOCK))
            .into_par_iter()
            .map_init(
                || (BatchScratch::default(), Selection::default(), Vec::new()),
                |(scratch, sel, dists), bi| {
                    let start = bi * BLOCK;
                    let b = BLOCK.min(nq - start);
                    dists.resize(b * k, 0.0);
                    let q = &queries[start * self.dim..(start + b) * self.dim];
                    self.packed.distances(self.metric, q, b, dists, scratch);
                    dists
                        .chunks_exact(k)
                        .map(|row| top_n(row, top, sel))
                        .collect()
                },
            )
            .collect();
        let per_query = blocks.into_iter().flatten().collect();
        Ok(RankedPartitions { per_query })
    }
}

/// The `n` smallest of `row` as (partition, distance), by distance then partition.
fn top_n(row: &[f32], n: usize, sel: &mut Selection) -> Vec<(u32, f32)> {
    select_smallest(row, n, sel);
    let mut top: Vec<(u32, f32)> = sel.sel.iter().map(|&(d, i)| (i, d)).collect();
    top.sort_unstable_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    top
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_match_brute_force_order() {
        let dim = 3;
        let cents: Vec<f32> = (0..10 * dim).map(|i| ((i * 7919) % 23) as f32).collect();
        let ci = CentroidIndex::new(cents.clone(), dim, Metric::L2);
        let q = vec![3.0, 5.0, 1.0, 10.0, 0.0, 2.0];
        let r = ci.rank(&q, 4).unwrap();
        for (qi, ranked) in r.per_query.iter().enumerate() {
            let qv = &q[qi * dim..qi * dim + dim];
            let mut all: Vec<(u32, f32)> = cents
                .chunks_exact(dim)
                .enumerate()
                .map(|(i, c)| (i as u32, quarry_kernels::scalar::l2_sq(qv, c)))
                .collect();
            all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            let want: Vec<u32> = all[..4].iter().map(|p| p.0).collect();
            let got: Vec<u32> = ranked.iter().map(|p| p.0).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn rejects_bad_shape() {
        let ci = CentroidIndex::new(vec![0.0; 8], 4, Metric::L2);
        assert!(matches!(
            ci.rank(&[1.0; 5], 1),
            Err(RoutingError::Shape { got: 5, dim: 4 })
        ));
    }
}
