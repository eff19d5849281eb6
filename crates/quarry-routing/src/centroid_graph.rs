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
        let graph =
            build_graph(&vecs, params, on_inserted).map_err(|e| RoutingError::Graph(e.to_string()))?;
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
        if queries.len() % dim != 0 {
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
