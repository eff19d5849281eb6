//! Measuring this machine's scan and graph-search costs and keeping the fitted
//! cost model with the index.

use crate::search::{
    CostModel, CostPoint, GraphSearcher, PartitionJob, PartitionSearcher, Scan, COST_MODEL_FILE,
};
use crate::{EngineError, Index};
use quarry_kernels::cpu_time::thread_cpu_secs;
use quarry_storage::AlignedBuf;

impl Index {
    /// Times scan and graph search of partition `pid` for the first `q` of `queries`
    /// (the measurement a cost model is fitted to).
    pub fn measure_partition_costs(
        &self,
        pid: u32,
        queries: &[f32],
        q: usize,
        ef: usize,
        k: usize,
    ) -> Result<CostPoint, EngineError> {
        let snap = self.snapshot();
        let graphs = self.require_graphs(&snap, "graph")?;
        crate::error::check_range("ef", ef, 1, quarry_graph::MAX_EF)?;
        let (dim, dtype) = (self.dim(), self.dtype());
        crate::error::check_query_block(queries, dim, k)?;
        let q = q.clamp(1, queries.len() / dim);
        let routed: Vec<u32> = (0..q as u32).collect();
        let entry = snap
            .table
            .get(pid as usize)
            .ok_or(EngineError::BadSearch(format!(
                "partition {pid} does not exist (the index has {})",
                self.num_partitions()
            )))?;
        let mut buf = AlignedBuf::new();
        snap.store.read_into(pid, &mut buf)?;
        let job = PartitionJob {
            pid,
            count: entry.count as usize,
            dim,
            dtype,
            metric: self.metric(),
            queries,
            routed: &routed,
            filter: None,
            exclude: None,
            delta: None,
            k,
        };
        let t = thread_cpu_secs();
        Scan.search(&job, Some(buf.as_slice()))?;
        let scan_secs = thread_cpu_secs() - t;
        let t = thread_cpu_secs();
        let g = GraphSearcher::new(&graphs.set.graphs, ef).search(&job, Some(buf.as_slice()))?;
        let graph_secs = thread_cpu_secs() - t;
        Ok(CostPoint {
            pid,
            n: job.count,
            q,
            dim,
            dtype,
            ef,
            scan_secs,
            graph_secs,
            graph_distances: g.distances.iter().sum(),
            model_prefers_graph: snap.cost_model.prefer_graph(job.count, q, dim, ef, dtype),
        })
    }

    /// Attaches `model` as this index's cost model (used from now on, and by every
    /// later open).
    pub fn save_cost_model(&mut self, model: CostModel) -> Result<(), EngineError> {
        self.attach_file(COST_MODEL_FILE, &model.to_json(), None)?;
        self.files_mut().cost_model = model;
        Ok(())
    }
}
