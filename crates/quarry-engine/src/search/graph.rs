//! Graph search over a partition's extent just read: HNSW from the partition's graph,
//! distances from the stored vectors.

use super::{extent_of, Answers, PartitionJob, PartitionSearcher};
use crate::EngineError;
use quarry_graph::{Graph, SearchScratch, SliceVectors};
use quarry_kernels::{with_element, Element, Neighbor};
use quarry_storage::PartitionView;

/// HNSW search of each partition's graph (one graph per partition, by pid).
#[derive(Clone, Copy)]
pub struct GraphSearcher<'a> {
    graphs: &'a [Graph],
    ef: usize,
}

impl<'a> GraphSearcher<'a> {
    /// `ef`: candidates kept at the base level (recall against work).
    pub fn new(graphs: &'a [Graph], ef: usize) -> Self {
        GraphSearcher { graphs, ef }
    }
}

impl PartitionSearcher for GraphSearcher<'_> {
    fn name(&self) -> &'static str {
        "graph"
    }
    fn needs_extent(&self) -> bool {
        true
    }
    fn search(
        &self,
        job: &PartitionJob<'_>,
        extent: Option<&[u8]>,
    ) -> Result<Answers, EngineError> {
        let view =
            PartitionView::parse(extent_of(extent, "graph")?, job.count, job.dim, job.dtype)?;
        let graph = &self.graphs[job.pid as usize];
        let (lists, distances) =
            with_element!(job.dtype, T => search_typed::<T>(&view, graph, job, self.ef)?);
        Ok(Answers {
            lists,
            distances,
            graph: true,
            ..Default::default()
        })
    }
}

type Lists = (Vec<Vec<Neighbor>>, Vec<u64>);

fn search_typed<T: Element>(
    view: &PartitionView<'_>,
    graph: &Graph,
    job: &PartitionJob<'_>,
    ef: usize,
) -> Result<Lists, EngineError> {
    let mut access = SliceVectors {
        data: view.vectors::<T>(),
        dim: view.dim,
        metric: job.metric,
        norms: graph.norms(),
    };
    let mut s = SearchScratch::default();
    let mut lists = Vec::with_capacity(job.routed.len());
    let mut dists = Vec::with_capacity(job.routed.len());
    for &qi in job.routed {
        let before = s.stats.distances;
        let found = graph.search(&mut access, job.query(qi), job.k, ef, &mut s)?;
        dists.push(s.stats.distances - before);
        lists.push(
            found
                .into_iter()
                .map(|(dist, i)| Neighbor {
                    id: view.id(i as usize),
                    dist,
                })
                .collect(),
        );
    }
    Ok((lists, dists))
}
