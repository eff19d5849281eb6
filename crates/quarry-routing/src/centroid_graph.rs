//! The centroid tier at scale: with 10^5-10^6 partitions (100M-1B vectors) ranking
//! every centroid per query is a GEMM over all of them; an HNSW over the centroids
//! keeps routing sub-linear. Few centroids stay on exact GEMM (`CentroidIndex`).

use crate::{RankedPartitions, RoutingError};
use quarry_graph::{build_graph, Graph, HnswParams, SearchScratch, SliceVectors};
use quarry_kernels::Metric;
use rayon::prelude::*;

/// Centroid counts from which `quarry graph-build` adds a centroid graph by default.
pub const CENTROID_GRAPH_THRESHOLD: usize = 100_000;

/// The centroid graph file attached to an index.
pub const CENTROID_GRAPH_FILE: &str = "centroid-graph.bin";

#[derive(Debug, Clone)]
pub struct CentroidGraph {
    graph: Graph,
    /// Candidates explored per query (at least the number of partitions asked for).
    ef: usize,
}

impl CentroidGraph {
    pub fn build(
        centroids: &[f32],
        dim: usize,
        metric: Metric,
        params: &HnswParams,
        ef: usize,
        on_inserted: &dyn Fn(usize),
    ) -> Result<CentroidGraph, RoutingError> {
        let vecs = SliceVectors {
            data: centroids,
            dim,
            metric,
            norms: None,
        };
        let graph = build_graph(&vecs, params, on_inserted)
            .map_err(|e| RoutingError::Graph(e.to_string()))?;
        Ok(CentroidGraph { graph, ef })
    }

    pub fn from_graph(graph: Graph, ef: usize) -> CentroidGraph {
        CentroidGraph { graph, ef }
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn ef(&self) -> usize {
        self.ef
    }

    pub fn set_ef(&mut self, ef: usize) {
        self.ef = ef.max(1);
    }

    /// The `top` nearest centroids of every query, nearest first (ties by id), by
    /// graph search with `max(ef, top)` candidates; queries run in parallel.
    pub fn rank(
        &self,
        centroids: &[f32],
        dim: usize,
        metric: Metric,
        queries: &[f32],
        top: usize,
    ) -> Result<RankedPartitions, RoutingError> {
        if !queries.len().is_multiple_of(dim) {
            return Err(RoutingError::Shape {
                got: queries.len(),
                dim,
            });
        }
        let norms = self.graph.norms();
        let per_query = queries
            .par_chunks_exact(dim)
            .map_init(SearchScratch::default, |s, q| {
                let mut access = SliceVectors {
                    data: centroids,
                    dim,
                    metric,
                    norms,
                };
                self.graph
                    .search(&mut access, q, top, self.ef.max(top), s)
                    .map(|r| r.into_iter().map(|(d, i)| (i, d)).collect::<Vec<_>>())
                    .map_err(|e| RoutingError::Graph(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RankedPartitions { per_query })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CentroidIndex;
    use std::sync::Arc;

    fn points(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n * dim)
            .map(|i| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // A few clusters plus noise.
                ((i / dim) % 7) as f32 + ((s >> 40) as f32 / (1u64 << 24) as f32)
            })
            .collect()
    }

    #[test]
    fn graph_ranking_agrees_with_exact_gemm() {
        let (n, dim, top) = (3000, 16, 8);
        let cents = points(n, dim, 1);
        let queries = points(50, dim, 2);
        let mut ci = CentroidIndex::new(cents.clone(), dim, Metric::L2);
        let exact = ci.rank(&queries, top).unwrap();
        let g = CentroidGraph::build(&cents, dim, Metric::L2, &HnswParams::default(), 64, &|_| {})
            .unwrap();
        ci.set_graph(Some(Arc::new(g))).unwrap();
        let approx = ci.rank(&queries, top).unwrap();
        let mut hits = 0;
        for (a, e) in approx.per_query.iter().zip(&exact.per_query) {
            assert_eq!(a.len(), top);
            hits += a.iter().filter(|p| e.iter().any(|x| x.0 == p.0)).count();
        }
        let recall = hits as f64 / (50 * top) as f64;
        assert!(recall >= 0.98, "recall {recall}");
        // rank_exact still gives the GEMM answer with a graph set.
        let again = ci.rank_exact(&queries, top).unwrap();
        assert_eq!(again.per_query, exact.per_query);
    }

    #[test]
    fn a_graph_over_other_centroids_is_refused() {
        let cents = points(100, 4, 3);
        let g = CentroidGraph::build(
            &cents[..200],
            4,
            Metric::L2,
            &HnswParams::default(),
            16,
            &|_| {},
        )
        .unwrap();
        let mut ci = CentroidIndex::new(cents, 4, Metric::L2);
        let e = ci.set_graph(Some(Arc::new(g))).unwrap_err();
        assert!(e.to_string().contains("50 nodes for 100 centroids"), "{e}");
    }
}
