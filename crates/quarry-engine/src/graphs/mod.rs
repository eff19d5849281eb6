//! Per-partition HNSW graphs (BAM-ANN's leaf tier) and the centroid graph: built
//! after the partitions exist (`build`), attached to the index, loaded at open and
//! kept in memory beside the centroids. The searchers that use them live in
//! `crate::search`.

mod build;

use crate::EngineError;
use quarry_graph::{decode_graphs, GraphSet};
use quarry_kernels::Metric;
use quarry_routing::{CentroidGraph, CENTROID_GRAPH_FILE};
use quarry_storage::files::PAGE_CRCS;
use quarry_storage::{IndexFiles, StorageError, ALIGN};
use serde::Serialize;

/// The graph file attached to an index.
pub const GRAPHS_FILE: &str = "graphs.bin";

/// Graphs and page checksums loaded at open.
pub(crate) struct Graphs {
    pub set: GraphSet,
    /// crc32c of every 4 KiB page of data.bin (partial reads verify each page).
    pub page_crcs: Option<Vec<u32>>,
}

/// RAM the graphs hold.
#[derive(Debug, Clone, Serialize)]
pub struct GraphMemory {
    pub total_bytes: u64,
    pub bytes_per_vector: f64,
    pub bytes_per_partition_mean: f64,
    pub bytes_per_partition_max: u64,
    pub edges_per_vector: f64,
    pub page_crc_bytes: u64,
    pub m: usize,
    pub ef_construction: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GraphBuildReport {
    pub partitions: usize,
    pub vectors: u64,
    pub file_bytes: u64,
    pub memory: GraphMemory,
    pub seconds: f64,
}

/// The centroid graph, if attached.
pub(crate) fn load_centroid_graph(
    files: &IndexFiles,
) -> Result<Option<CentroidGraph>, EngineError> {
    if !files.manifest.files.contains_key(CENTROID_GRAPH_FILE) {
        return Ok(None);
    }
    let bytes = files.read_file(CENTROID_GRAPH_FILE)?;
    let path = files.dir.join(CENTROID_GRAPH_FILE);
    let mut set = decode_graphs(&bytes, &path.display().to_string())?;
    let np = files.table.len();
    if set.graphs.len() != 1 || set.graphs[0].len() != np {
        return Err(StorageError::Corrupt {
            file: path,
            what: format!("does not hold one graph over the {np} centroids; rebuild the graphs"),
        }
        .into());
    }
    Ok(Some(CentroidGraph::from_graph(
        set.graphs.remove(0),
        CENTROID_EF_DEFAULT,
    )))
}

/// Centroid graph search breadth unless set otherwise (top-32 recall >= 0.99 on the
/// 1M-centroid benchmark needs about this; see the README).
pub const CENTROID_EF_DEFAULT: usize = 128;

/// The per-partition graphs and page checksums, if attached, checked against the
/// partition table.
pub(crate) fn load(files: &IndexFiles) -> Result<Option<Graphs>, EngineError> {
    if !files.manifest.files.contains_key(GRAPHS_FILE) {
        return Ok(None);
    }
    let bytes = files.read_file(GRAPHS_FILE)?;
    let path = files.dir.join(GRAPHS_FILE);
    let np = files.table.len();
    let set = decode_graphs(&bytes, &path.display().to_string())?;
    let corrupt = |what: String| StorageError::Corrupt {
        file: path.clone(),
        what,
    };
    if set.graphs.len() != np {
        return Err(corrupt(format!(
            "holds {} graphs for {np} partitions; rebuild the graphs",
            set.graphs.len(),
        ))
        .into());
    }
    for (pid, (g, e)) in set.graphs.iter().zip(&files.table).enumerate() {
        if g.len() as u64 != e.count {
            return Err(corrupt(format!(
                "graph {pid} has {} nodes, partition {pid} {} vectors",
                g.len(),
                e.count
            ))
            .into());
        }
        if (files.manifest.metric == Metric::Cosine) != g.norms().is_some() {
            return Err(corrupt(format!("graph {pid} norms do not match the metric")).into());
        }
    }
    let page_crcs = if files.manifest.files.contains_key(PAGE_CRCS) {
        let b = files.read_file(PAGE_CRCS)?;
        let crcs: Vec<u32> = b
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4")))
            .collect();
        let pages = files
            .table
            .iter()
            .map(|e| (e.offset + e.length) / ALIGN as u64)
            .max()
            .unwrap_or(0);
        if b.len() % 4 != 0 || (crcs.len() as u64) < pages {
            return Err(StorageError::Corrupt {
                file: files.dir.join(PAGE_CRCS),
                what: format!("covers {} pages, data.bin has {pages}", crcs.len()),
            }
            .into());
        }
        Some(crcs)
    } else {
        None
    };
    Ok(Some(Graphs { set, page_crcs }))
}

pub(crate) fn memory(g: &Graphs, table_counts: &[u64]) -> GraphMemory {
    let per: Vec<u64> = g
        .set
        .graphs
        .iter()
        .map(|g| g.memory_bytes() as u64)
        .collect();
    let total: u64 = per.iter().sum();
    let vectors: u64 = table_counts.iter().sum();
    let edges: usize = g.set.graphs.iter().map(|g| g.edges()).sum();
    GraphMemory {
        total_bytes: total,
        bytes_per_vector: total as f64 / vectors.max(1) as f64,
        bytes_per_partition_mean: total as f64 / per.len().max(1) as f64,
        bytes_per_partition_max: per.iter().copied().max().unwrap_or(0),
        edges_per_vector: edges as f64 / vectors.max(1) as f64,
        page_crc_bytes: g.page_crcs.as_ref().map_or(0, |c| 4 * c.len() as u64),
        m: g.set.params.m,
        ef_construction: g.set.params.ef_construction,
        seed: g.set.params.seed,
    }
}
