//! Building the per-partition graphs and the centroid graph, and attaching them.

use super::{memory, GraphBuildReport, Graphs, GRAPHS_FILE};
use crate::{EngineError, Index};
use quarry_graph::{build_graph, encode_graphs, GraphSet, HnswParams, SliceVectors};
use quarry_kernels::{with_element, Element, Metric};
use quarry_partition::Progress;
use quarry_routing::{CentroidGraph, CENTROID_GRAPH_FILE};
use quarry_storage::{files, AlignedBuf, PartitionView, ALIGN};
use rayon::prelude::*;
use std::time::Instant;

impl Index {
    /// Builds one HNSW graph per partition (reading each partition back, verified),
    /// in parallel across partitions, single-threaded and seeded within each, and
    /// attaches them (`graphs.bin`) with the page checksums partial reads verify
    /// against (`pages.crc32c`). Replaces graphs built before. Holds the writer lock
    /// from the start (a second writer fails before any graph is built).
    pub fn build_graphs(
        &mut self,
        params: HnswParams,
        progress: &dyn Progress,
    ) -> Result<GraphBuildReport, EngineError> {
        params.validate()?;
        self.with_writer(|index| index.build_graphs_locked(params, progress))
    }

    fn build_graphs_locked(
        &mut self,
        params: HnswParams,
        progress: &dyn Progress,
    ) -> Result<GraphBuildReport, EngineError> {
        let t = Instant::now();
        let snap = self.snapshot();
        let total: u64 = snap.table.iter().map(|e| e.count).sum();
        progress.stage("graphs", total);
        let (dim, dtype, metric) = (self.dim(), self.dtype(), self.metric());
        let built: Vec<Result<(quarry_graph::Graph, Vec<u32>), EngineError>> = (0..self
            .num_partitions()
            as u32)
            .into_par_iter()
            .map(|pid| {
                let mut buf = AlignedBuf::new();
                snap.store.read_into(pid, &mut buf)?;
                let count = snap.table[pid as usize].count as usize;
                let view = PartitionView::parse(buf.as_slice(), count, dim, dtype)?;
                let g =
                    with_element!(dtype, T => build_one::<T>(&view, metric, &params, progress)?);
                let crcs = buf
                    .as_slice()
                    .chunks(ALIGN)
                    .map(crc32c_of)
                    .collect::<Vec<u32>>();
                Ok((g, crcs))
            })
            .collect();
        let pages = snap
            .table
            .iter()
            .map(|e| (e.offset + e.length) / ALIGN as u64)
            .max()
            .unwrap_or(0) as usize;
        let mut page_crcs = vec![0u32; pages];
        let mut graphs = Vec::with_capacity(built.len());
        for (pid, r) in built.into_iter().enumerate() {
            let (g, crcs) = r?;
            let first = (snap.table[pid].offset / ALIGN as u64) as usize;
            page_crcs[first..first + crcs.len()].copy_from_slice(&crcs);
            graphs.push(g);
        }
        let set = GraphSet { params, graphs };
        let bytes = encode_graphs(&set);
        let crc_bytes: Vec<u8> = page_crcs.iter().flat_map(|c| c.to_le_bytes()).collect();
        // One commit: graphs never appear without the page checksums partial reads
        // verify against, nor beside checksums of other graphs.
        self.attach_files(
            &[(files::PAGE_CRCS, &crc_bytes), (GRAPHS_FILE, &bytes)],
            &[],
        )?;
        let g = Graphs {
            set,
            page_crcs: Some(page_crcs),
        };
        let memory = memory(&g, &self.partition_sizes());
        drop(snap);
        self.files_mut().graphs = Some(std::sync::Arc::new(g));
        Ok(GraphBuildReport {
            partitions: self.num_partitions(),
            vectors: total,
            file_bytes: bytes.len() as u64,
            memory,
            seconds: t.elapsed().as_secs_f64(),
        })
    }

    /// Builds an HNSW over the centroids (for indexes with very many partitions,
    /// where ranking every centroid per query would dominate), attaches it and routes
    /// with it from now on. `ef` is the search breadth (at least nprobe is used).
    pub fn build_centroid_graph(
        &mut self,
        params: HnswParams,
        ef: usize,
        progress: &dyn Progress,
    ) -> Result<f64, EngineError> {
        crate::error::check_range("centroid ef", ef, 1, quarry_graph::MAX_EF)?;
        self.with_writer(|index| index.build_centroid_graph_locked(params, ef, progress))
    }

    fn build_centroid_graph_locked(
        &mut self,
        params: HnswParams,
        ef: usize,
        progress: &dyn Progress,
    ) -> Result<f64, EngineError> {
        let t = Instant::now();
        progress.stage("centroid graph", self.num_partitions() as u64);
        let last = std::sync::atomic::AtomicUsize::new(0);
        let g = CentroidGraph::build(
            self.snapshot().centroids.centroids(),
            self.dim(),
            self.metric(),
            &params,
            ef,
            &|done| {
                let before = last.swap(done, std::sync::atomic::Ordering::Relaxed);
                progress.advance(done.saturating_sub(before) as u64);
            },
        )?;
        let set = GraphSet {
            params,
            graphs: vec![g.graph().clone()],
        };
        self.attach_file(CENTROID_GRAPH_FILE, &encode_graphs(&set), None)?;
        std::sync::Arc::make_mut(&mut self.files_mut().centroids)
            .set_graph(Some(std::sync::Arc::new(g)))?;
        Ok(t.elapsed().as_secs_f64())
    }
}

fn crc32c_of(page: &[u8]) -> u32 {
    crc32c::crc32c(page)
}

fn build_one<T: Element>(
    view: &PartitionView<'_>,
    metric: Metric,
    params: &HnswParams,
    progress: &dyn Progress,
) -> Result<quarry_graph::Graph, EngineError> {
    let vecs = SliceVectors {
        data: view.vectors::<T>(),
        dim: view.dim,
        metric,
        norms: None,
    };
    let last = std::sync::atomic::AtomicUsize::new(0);
    let g = build_graph(&vecs, params, &|done| {
        let before = last.swap(done, std::sync::atomic::Ordering::Relaxed);
        progress.advance(done.saturating_sub(before) as u64);
    })?;
    Ok(g)
}
