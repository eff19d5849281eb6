//! Scan or graph search per partition, whichever the cost model predicts cheaper.

use super::{Answers, CostModel, GraphSearcher, PartitionJob, PartitionSearcher, Scan};
use crate::EngineError;

/// Chooses per partition between a GEMM scan and graph search (both over the extent
/// just read) by the predicted thread-CPU cost.
#[derive(Clone, Copy)]
pub struct Auto<'a> {
    graph: GraphSearcher<'a>,
    ef: usize,
    model: &'a CostModel,
}

impl<'a> Auto<'a> {
    pub fn new(graph: GraphSearcher<'a>, ef: usize, model: &'a CostModel) -> Self {
        Auto { graph, ef, model }
    }
}

impl PartitionSearcher for Auto<'_> {
    fn name(&self) -> &'static str {
        "auto"
    }
    fn needs_extent(&self) -> bool {
        true
    }
    fn search(
        &self,
        job: &PartitionJob<'_>,
        extent: Option<&[u8]>,
    ) -> Result<Answers, EngineError> {
        if self
            .model
            .prefer_graph(job.count, job.routed.len(), job.dim, self.ef, job.dtype)
        {
            self.graph.search(job, extent)
        } else {
            Scan.search(job, extent)
        }
    }
}
