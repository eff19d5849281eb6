//! Per-partition HNSW graphs (BAM-ANN's leaf tier): built after the partitions exist,
//! kept in memory beside the centroids, and used by the executor to answer a
//! partition's routed queries by graph search instead of a GEMM scan when the cost
//! model says it is cheaper.

use crate::{EngineError, Index};
use quarry_graph::{
    build_graph, decode_graphs, encode_graphs, GraphSet, HnswParams, SearchScratch, SliceVectors,
};
use quarry_kernels::{DType, Element, Metric, Neighbor};
use quarry_partition::Progress;
use quarry_storage::{files, AlignedBuf, PartitionView, StorageError, ALIGN};
use rayon::prelude::*;
use serde::Serialize;
use std::time::Instant;

/// The graph file attached to an index.
pub const GRAPHS_FILE: &str = "graphs.bin";

/// How the executor answers a partition's queries once it holds the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// GEMM over every vector of the partition (exact within the partition).
    Scan,
    /// HNSW search of the partition's graph over the whole partition just read.
    Graph,
    /// Per partition, scan or graph, whichever the cost model predicts is cheaper.
    Auto,
    /// Graph search that reads only the 4 KiB pages holding the vectors it visits
    /// (DiskANN's trade), instead of whole partitions.
    Partial,
}

impl SearchMode {
    pub fn name(self) -> &'static str {
        match self {
            SearchMode::Scan => "scan",
            SearchMode::Graph => "graph",
            SearchMode::Auto => "auto",
            SearchMode::Partial => "partial",
        }
    }
    pub fn needs_graphs(self) -> bool {
        self != SearchMode::Scan
    }
}

impl std::str::FromStr for SearchMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "scan" => SearchMode::Scan,
            "graph" => SearchMode::Graph,
            "auto" => SearchMode::Auto,
            "partial" => SearchMode::Partial,
            o => {
                return Err(format!(
                    "unknown search mode '{o}': use scan, graph, auto or partial"
                ))
            }
        })
    }
}

/// The search strategy of an open index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GraphSearch {
    pub mode: SearchMode,
    /// Candidates explored at the base level of a graph search (recall vs work).
    pub ef: usize,
}

impl Default for GraphSearch {
    fn default() -> Self {
        GraphSearch {
            mode: SearchMode::Scan,
            ef: 64,
        }
    }
}

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

pub(crate) fn load(index: &Index) -> Result<Option<Graphs>, EngineError> {
    if !index.has_file(GRAPHS_FILE) {
        return Ok(None);
    }
    let bytes = index.read_file(GRAPHS_FILE)?;
    let path = index.dir.join(GRAPHS_FILE);
    let set = decode_graphs(&bytes, &path.display().to_string())?;
    let corrupt = |what: String| StorageError::Corrupt {
        file: path.clone(),
        what,
    };
    if set.graphs.len() != index.num_partitions() {
        return Err(corrupt(format!(
            "holds {} graphs for {} partitions; rebuild with `quarry graph-build`",
            set.graphs.len(),
            index.num_partitions()
        ))
        .into());
    }
    for (pid, (g, e)) in set.graphs.iter().zip(&index.table).enumerate() {
        if g.len() as u64 != e.count {
            return Err(corrupt(format!(
                "graph {pid} has {} nodes, partition {pid} {} vectors",
                g.len(),
                e.count
            ))
            .into());
        }
        if (index.metric() == Metric::Cosine) != g.norms().is_some() {
            return Err(corrupt(format!("graph {pid} norms do not match the metric")).into());
        }
    }
    let page_crcs = if index.has_file(files::PAGE_CRCS) {
        let b = index.read_file(files::PAGE_CRCS)?;
        let crcs: Vec<u32> = b
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4")))
            .collect();
        let pages = index
            .table
            .iter()
            .map(|e| (e.offset + e.length) / ALIGN as u64)
            .max()
            .unwrap_or(0);
        if b.len() % 4 != 0 || (crcs.len() as u64) < pages {
            return Err(StorageError::Corrupt {
                file: index.dir.join(files::PAGE_CRCS),
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

impl Index {
    /// Builds one HNSW graph per partition (reading each partition back, verified),
    /// in parallel across partitions, single-threaded and seeded within each, and
    /// attaches them (`graphs.bin`) with the page checksums partial reads verify
    /// against (`pages.crc32c`). Replaces graphs built before.
    pub fn build_graphs(
        &mut self,
        params: HnswParams,
        progress: &dyn Progress,
    ) -> Result<GraphBuildReport, EngineError> {
        params.validate()?;
        let t = Instant::now();
        let total: u64 = self.table.iter().map(|e| e.count).sum();
        progress.stage("graphs", total);
        let (dim, dtype, metric) = (self.dim(), self.dtype(), self.metric());
        let built: Vec<Result<(quarry_graph::Graph, Vec<u32>), EngineError>> = (0..self
            .num_partitions()
            as u32)
            .into_par_iter()
            .map(|pid| {
                let mut buf = AlignedBuf::new();
                self.store.read_into(pid, &mut buf)?;
                let count = self.table[pid as usize].count as usize;
                let view = PartitionView::parse(buf.as_slice(), count, dim, dtype)?;
                let g = match dtype {
                    DType::F32 => build_one::<f32>(&view, metric, &params, progress)?,
                    DType::U8 => build_one::<u8>(&view, metric, &params, progress)?,
                    DType::I8 => build_one::<i8>(&view, metric, &params, progress)?,
                };
                let crcs = buf
                    .as_slice()
                    .chunks(ALIGN)
                    .map(crc32c_of)
                    .collect::<Vec<u32>>();
                Ok((g, crcs))
            })
            .collect();
        let pages = self
            .table
            .iter()
            .map(|e| (e.offset + e.length) / ALIGN as u64)
            .max()
            .unwrap_or(0) as usize;
        let mut page_crcs = vec![0u32; pages];
        let mut graphs = Vec::with_capacity(built.len());
        for (pid, r) in built.into_iter().enumerate() {
            let (g, crcs) = r?;
            let first = (self.table[pid].offset / ALIGN as u64) as usize;
            page_crcs[first..first + crcs.len()].copy_from_slice(&crcs);
            graphs.push(g);
        }
        let set = GraphSet { params, graphs };
        let bytes = encode_graphs(&set);
        let crc_bytes: Vec<u8> = page_crcs.iter().flat_map(|c| c.to_le_bytes()).collect();
        // Page checksums first: a crash between the two leaves graphs absent, not
        // graphs whose partial reads cannot be verified.
        self.attach_file(files::PAGE_CRCS, &crc_bytes, None)?;
        self.attach_file(GRAPHS_FILE, &bytes, None)?;
        let g = Graphs {
            set,
            page_crcs: Some(page_crcs),
        };
        let memory = memory(&g, &self.partition_sizes());
        self.graphs = Some(std::sync::Arc::new(g));
        Ok(GraphBuildReport {
            partitions: self.num_partitions(),
            vectors: total,
            file_bytes: bytes.len() as u64,
            memory,
            seconds: t.elapsed().as_secs_f64(),
        })
    }

    /// Whether this index has per-partition graphs.
    pub fn has_graphs(&self) -> bool {
        self.graphs.is_some()
    }

    /// RAM of the graphs, if any.
    pub fn graph_memory(&self) -> Option<GraphMemory> {
        self.graphs
            .as_ref()
            .map(|g| memory(g, &self.partition_sizes()))
    }

    /// Chooses how partitions are searched (scan, graph, auto, partial).
    pub fn set_graph_search(&mut self, s: GraphSearch) -> Result<(), EngineError> {
        if s.ef == 0 {
            return Err(EngineError::BadSearch(
                "ef must be at least 1 (64 is typical)".into(),
            ));
        }
        if s.mode.needs_graphs() && self.graphs.is_none() {
            return Err(EngineError::NoGraphs {
                mode: s.mode.name(),
                dir: self.dir.clone(),
            });
        }
        if s.mode == SearchMode::Partial {
            if self.graphs.as_ref().is_some_and(|g| g.page_crcs.is_none()) {
                return Err(EngineError::NoGraphs {
                    mode: "partial (page checksums missing)",
                    dir: self.dir.clone(),
                });
            }
        }
        self.graph_search = s;
        Ok(())
    }

    pub fn graph_search(&self) -> GraphSearch {
        self.graph_search
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

/// The executor's choice for one partition: graph search if the cost model predicts
/// it is cheaper than a GEMM scan for `q` routed queries over `n` vectors.
///
/// Costs in nanoseconds per query, measured on this machine (AVX-512, see the
/// README's "graphs" section for the sweep): a GEMM scan costs `SCAN_NS_PER_VECTOR_DIM`
/// per vector and dimension (the tiled kernel amortises loads over the query block)
/// plus a per-partition term for norms and selection; a graph search costs
/// `GRAPH_NS_PER_DIST_DIM` per distance evaluation and dimension (pair kernel plus
/// heap and visited-set work), and evaluates about `GRAPH_DISTS_PER_EF * ef +
/// GRAPH_DISTS_BASE` distances.
pub(crate) fn prefer_graph(n: usize, q: usize, dim: usize, ef: usize) -> bool {
    let (n, q, dim, ef) = (n as f64, q as f64, dim as f64, ef as f64);
    let scan = q * n * dim * SCAN_NS_PER_VECTOR_DIM + n * dim * SCAN_NS_PER_PARTITION_VECTOR_DIM;
    let dists = (GRAPH_DISTS_PER_EF * ef + GRAPH_DISTS_BASE).min(n);
    let graph = q * dists * dim * GRAPH_NS_PER_DIST_DIM;
    graph < scan
}

// Measured constants (see `prefer_graph`).
const SCAN_NS_PER_VECTOR_DIM: f64 = 0.02;
const SCAN_NS_PER_PARTITION_VECTOR_DIM: f64 = 0.02;
const GRAPH_NS_PER_DIST_DIM: f64 = 0.1;
const GRAPH_DISTS_PER_EF: f64 = 10.0;
const GRAPH_DISTS_BASE: f64 = 100.0;

/// Graph search of the queries `qs` over a partition buffer just read; returns each
/// query's top-k (global ids, exact distances) and its distance evaluations.
#[allow(clippy::too_many_arguments)]
pub(crate) fn search_loaded(
    buf: &[u8],
    count: usize,
    dim: usize,
    dtype: DType,
    metric: Metric,
    graph: &quarry_graph::Graph,
    queries: &[f32],
    qs: &[u32],
    k: usize,
    ef: usize,
) -> Result<(Vec<Vec<Neighbor>>, Vec<u64>), EngineError> {
    let view = PartitionView::parse(buf, count, dim, dtype)?;
    match dtype {
        DType::F32 => search_typed::<f32>(&view, metric, graph, queries, qs, k, ef),
        DType::U8 => search_typed::<u8>(&view, metric, graph, queries, qs, k, ef),
        DType::I8 => search_typed::<i8>(&view, metric, graph, queries, qs, k, ef),
    }
}

fn search_typed<T: Element>(
    view: &PartitionView<'_>,
    metric: Metric,
    graph: &quarry_graph::Graph,
    queries: &[f32],
    qs: &[u32],
    k: usize,
    ef: usize,
) -> Result<(Vec<Vec<Neighbor>>, Vec<u64>), EngineError> {
    let dim = view.dim;
    let mut access = SliceVectors {
        data: view.vectors::<T>(),
        dim,
        metric,
        norms: graph.norms(),
    };
    let mut s = SearchScratch::default();
    let mut lists = Vec::with_capacity(qs.len());
    let mut dists = Vec::with_capacity(qs.len());
    for &qi in qs {
        let q = &queries[qi as usize * dim..(qi as usize + 1) * dim];
        let before = s.stats.distances;
        let found = graph.search(&mut access, q, k, ef, &mut s)?;
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
