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
use quarry_routing::{CentroidGraph, CENTROID_GRAPH_FILE};
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

/// Loads the centroid graph, if attached, into the index's centroid ranker.
pub(crate) fn load_centroid_graph(index: &mut Index) -> Result<(), EngineError> {
    if !index.has_file(CENTROID_GRAPH_FILE) {
        return Ok(());
    }
    let bytes = index.read_file(CENTROID_GRAPH_FILE)?;
    let path = index.dir.join(CENTROID_GRAPH_FILE);
    let mut set = decode_graphs(&bytes, &path.display().to_string())?;
    if set.graphs.len() != 1 || set.graphs[0].len() != index.num_partitions() {
        return Err(StorageError::Corrupt {
            file: path,
            what: format!(
                "does not hold one graph over the {} centroids; rebuild with `quarry graph-build`",
                index.num_partitions()
            ),
        }
        .into());
    }
    let g = CentroidGraph::from_graph(set.graphs.remove(0), CENTROID_EF_DEFAULT);
    index.centroids.set_graph(Some(std::sync::Arc::new(g)))?;
    Ok(())
}

/// Centroid graph search breadth unless set otherwise (top-32 recall >= 0.99 on the
/// 1M-centroid benchmark needs about this; see the README).
pub const CENTROID_EF_DEFAULT: usize = 128;

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
        let total: u64 = self.table.iter().map(|e| e.count).sum();
        progress.stage("graphs", total);
        let (dim, dtype, metric) = (self.dim(), self.dtype(), self.metric());
        let built: Vec<Result<(quarry_graph::Graph, Vec<u32>), EngineError>> =
            (0..self.num_partitions() as u32)
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
            self.centroids.centroids(),
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
        self.centroids.set_graph(Some(std::sync::Arc::new(g)))?;
        Ok(t.elapsed().as_secs_f64())
    }

    /// Search breadth of the centroid graph, if the index has one.
    pub fn set_centroid_ef(&mut self, ef: usize) -> Result<(), EngineError> {
        let Some(g) = self.centroids.graph() else {
            return Err(EngineError::BadSearch(format!(
                "{} has no centroid graph; build one with `quarry graph-build --centroid-graph-threshold 1`",
                self.dir.display()
            )));
        };
        crate::error::check_range("centroid ef", ef, 1, quarry_graph::MAX_EF)?;
        let mut g = g.clone();
        g.set_ef(ef);
        self.centroids.set_graph(Some(std::sync::Arc::new(g)))?;
        Ok(())
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
        crate::error::check_range("ef", s.ef, 1, quarry_graph::MAX_EF)?;
        if s.mode.needs_graphs() && self.graphs.is_none() {
            return Err(EngineError::NoGraphs {
                mode: s.mode.name(),
                dir: self.dir.clone(),
            });
        }
        if s.mode == SearchMode::Partial
            && self.graphs.as_ref().is_some_and(|g| g.page_crcs.is_none())
        {
            return Err(EngineError::NoGraphs {
                mode: "partial (page checksums missing)",
                dir: self.dir.clone(),
            });
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
/// Both costs are linear in `q`; the scan also pays a per-partition term (norms,
/// panel packing, u8 -> f32 conversion) that a graph search does not. Constants are
/// thread-CPU nanoseconds fitted to `quarry graph-calibrate` on this machine
/// (AVX-512; GloVe-50 f32 partitions of ~12K vectors, Fashion-MNIST u8-784 partitions
/// of ~3.7K, q = 1..1024, ef = 16..128; table in the README's graphs section):
/// - scan: `q * n * (2.0 + 0.0145 dim)` + `n * dim * {0.37 f32, 0.6 u8/i8}`
///   (measured 2.7 ns per vector-query at dim 50 and 13.3 at dim 784; per-partition
///   0.37-0.42 and ~0.6 ns per vector-dimension);
/// - graph: `q * D * (38 + 0.085 dim)` with `D = min(n, 13.5 ef + 230)` distance
///   evaluations per query (measured 45 ns per distance at dim 50, ~105 at dim 784;
///   D = 420 / 670 / 1140 / 1960 at ef 16 / 32 / 64 / 128 on GloVe, fewer on
///   Fashion-MNIST, so the model leans towards the scan there).
pub(crate) fn prefer_graph(n: usize, q: usize, dim: usize, ef: usize, dtype: DType) -> bool {
    let (n, q, dim, ef) = (n as f64, q as f64, dim as f64, ef as f64);
    let per_partition = match dtype {
        DType::F32 => SCAN_PARTITION_NS_PER_VECTOR_DIM_F32,
        DType::U8 | DType::I8 => SCAN_PARTITION_NS_PER_VECTOR_DIM_INT,
    };
    let scan = q * n * (SCAN_NS_PER_VECTOR_QUERY + SCAN_NS_PER_VECTOR_QUERY_DIM * dim)
        + n * dim * per_partition;
    let dists = (GRAPH_DISTS_PER_EF * ef + GRAPH_DISTS_BASE).min(n);
    let graph = q * dists * (GRAPH_NS_PER_DIST + GRAPH_NS_PER_DIST_DIM * dim);
    graph < scan
}

const SCAN_NS_PER_VECTOR_QUERY: f64 = 2.0;
const SCAN_NS_PER_VECTOR_QUERY_DIM: f64 = 0.0145;
const SCAN_PARTITION_NS_PER_VECTOR_DIM_F32: f64 = 0.37;
const SCAN_PARTITION_NS_PER_VECTOR_DIM_INT: f64 = 0.6;
const GRAPH_NS_PER_DIST: f64 = 38.0;
const GRAPH_NS_PER_DIST_DIM: f64 = 0.085;
const GRAPH_DISTS_PER_EF: f64 = 13.5;
const GRAPH_DISTS_BASE: f64 = 230.0;

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

/// CPU time of the calling thread: unlike wall time, not inflated when other
/// processes share the cores (the calibration runs on a busy machine).
fn thread_cpu_secs() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer; CLOCK_THREAD_CPUTIME_ID is supported on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// One measurement of the cost model: a partition of `n` vectors answering `q`
/// queries by GEMM scan and by graph search (same buffer, in memory, one thread;
/// times are thread CPU seconds).
#[derive(Debug, Clone, Serialize)]
pub struct CostPoint {
    pub pid: u32,
    pub n: usize,
    pub q: usize,
    pub dim: usize,
    pub ef: usize,
    pub scan_secs: f64,
    pub graph_secs: f64,
    pub graph_distances: u64,
    /// What `prefer_graph` (the constants in code) predicts for this (n, q, ef).
    pub model_prefers_graph: bool,
}

impl Index {
    /// Times scan and graph search of partition `pid` for the first `q` of `queries`
    /// (the measurement behind the cost model's constants; `quarry graph-calibrate`).
    pub fn measure_partition_costs(
        &self,
        pid: u32,
        queries: &[f32],
        q: usize,
        ef: usize,
        k: usize,
    ) -> Result<CostPoint, EngineError> {
        let graphs = self.graphs.as_deref().ok_or(EngineError::NoGraphs {
            mode: "graph",
            dir: self.dir.clone(),
        })?;
        let dim = self.dim();
        let q = q.min(queries.len() / dim);
        let qs: Vec<u32> = (0..q as u32).collect();
        let mut buf = AlignedBuf::new();
        self.store.read_into(pid, &mut buf)?;
        let loaded = quarry_storage::LoadedPartition::new(pid, buf, 0, Default::default());
        let n = self.table[pid as usize].count as usize;
        let t = thread_cpu_secs();
        crate::executor::scan(
            &loaded,
            n,
            dim,
            self.dtype(),
            self.metric(),
            queries,
            &qs,
            k,
        )?;
        let scan_secs = thread_cpu_secs() - t;
        let t = thread_cpu_secs();
        let (_, d) = search_loaded(
            loaded.bytes(),
            n,
            dim,
            self.dtype(),
            self.metric(),
            &graphs.set.graphs[pid as usize],
            queries,
            &qs,
            k,
            ef,
        )?;
        let graph_secs = thread_cpu_secs() - t;
        Ok(CostPoint {
            pid,
            n,
            q,
            dim,
            ef,
            scan_secs,
            graph_secs,
            graph_distances: d.iter().sum(),
            model_prefers_graph: prefer_graph(n, q, dim, ef, self.dtype()),
        })
    }
}
