use crate::executor::{self, Sources};
use crate::filtered::{Filter, FilterIndex, Resolved};
use crate::graphs::{self, GraphMemory, Graphs};
use crate::search::{
    Auto, CostModel, GraphSearcher, PartialSearcher, PartitionSearcher, Scan, Strategy,
    COST_MODEL_FILE,
};
use crate::snapshot::Snapshot;
use crate::{BatchResult, EngineError, QueryStats, SearchParams};
use quarry_kernels::{DType, Metric, Neighbor};
use quarry_routing::{CentroidIndex, Router};
use quarry_storage::{
    open_store, Attached, IndexFiles, IoMode, IoPool, Manifest, PartitionEntry, WriterLock,
    MAX_IO_THREADS, MAX_READ_AHEAD,
};
use serde::Serialize;
use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

#[derive(Debug, Clone, Copy)]
pub struct OpenOptions {
    pub io: IoMode,
    /// Threads issuing blocking reads: the device queue depth the executor reaches.
    pub io_threads: usize,
    /// Finished reads allowed to wait for the scanners (bounds read-ahead memory).
    pub read_ahead: usize,
    /// Memory a batch's per-query candidate lists may take; a larger batch is
    /// processed in slices that fit (each slice reads its partitions once).
    pub max_batch_bytes: usize,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            io: IoMode::Direct,
            io_threads: 8,
            read_ahead: 8,
            max_batch_bytes: 256 << 20,
        }
    }
}

/// An opened index: in memory, the centroids and the partition table; on storage,
/// the partition extents.
pub struct Index {
    pub(crate) dir: std::path::PathBuf,
    dim: usize,
    dtype: DType,
    metric: Metric,
    pub(crate) pool: IoPool,
    pub(crate) opts: OpenOptions,
    /// Threads that run graph-guided partial reads (created on first use).
    pub(crate) partial_pool: std::sync::OnceLock<rayon::ThreadPool>,
    /// The index's writer lock while this handle changes the index (see
    /// [`Index::lock_writer`]); `None` for a reader.
    pub(crate) writer: Option<WriterLock>,
    /// The files' snapshot and the acknowledged writes past it, swapped together.
    pub(crate) state: RwLock<State>,
    /// The write-ahead log, for the writer handle (`Index::open_writer`); held by a
    /// write and by a whole flush, so writes wait for a flush and searches do not.
    #[allow(clippy::type_complexity)]
    pub(crate) wal:
        std::sync::Mutex<Option<(quarry_storage::wal::Wal, crate::updates::WriteOptions)>>,
}

/// What a search reads: the files' snapshot and the writes not yet in them.
pub(crate) struct State {
    pub files: Arc<Snapshot>,
    /// Acknowledged writes not yet in the files (`None`: none, and not a writer).
    pub live: Option<crate::updates::live::LiveState>,
}

/// RAM an open index holds, by part.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryReport {
    pub centroids_bytes: u64,
    pub partition_table_bytes: u64,
    /// Upper bound of partition buffers in flight during a search.
    pub read_buffers_max_bytes: u64,
    /// Per-partition graphs and page checksums (0 without graphs).
    pub graphs_bytes: u64,
    /// Labels, attributes and partition members (0 without metadata).
    pub filters_bytes: u64,
    /// Acknowledged writes held in memory (delta rows, tombstones, the stored-id
    /// map); 0 for an index without writes.
    pub writes_bytes: u64,
    pub total_bytes: u64,
}

impl Index {
    pub fn open(dir: &Path, opts: OpenOptions) -> Result<Index, EngineError> {
        // Checked before anything is allocated or spawned from them.
        crate::error::check_range("io_threads", opts.io_threads, 1, MAX_IO_THREADS)?;
        crate::error::check_range("read_ahead", opts.read_ahead, 1, MAX_READ_AHEAD)?;
        let files = IndexFiles::open(dir)?;
        let store = open_store(&files, opts.io)?;
        let graphs = graphs::load(&files)?.map(Arc::new);
        let centroid_graph = graphs::load_centroid_graph(&files)?;
        let cost_model = if files.manifest.files.contains_key(COST_MODEL_FILE) {
            CostModel::from_json(&files.read_file(COST_MODEL_FILE)?).map_err(|e| {
                quarry_storage::StorageError::Corrupt {
                    file: files.dir.join(COST_MODEL_FILE),
                    what: format!("not a cost model: {e}"),
                }
            })?
        } else {
            CostModel::default()
        };
        let (members, filters) = crate::filtered::load(&files)?;
        let IndexFiles {
            dir,
            manifest,
            centroids,
            table,
            attached,
        } = files;
        let mut centroids = CentroidIndex::new(centroids, manifest.dim, manifest.metric);
        if let Some(g) = centroid_graph {
            centroids.set_graph(Some(Arc::new(g)))?;
        }
        let snapshot = Snapshot {
            data_path: dir.join(quarry_storage::files::DATA),
            manifest,
            table,
            centroids: Arc::new(centroids),
            store,
            graphs,
            cost_model,
            attached,
            filters,
            members,
        };
        let index = Index {
            dir,
            dim: snapshot.manifest.dim,
            dtype: snapshot.manifest.dtype,
            metric: snapshot.manifest.metric,
            pool: IoPool::new(opts.io_threads)?,
            opts,
            partial_pool: Default::default(),
            writer: None,
            state: RwLock::new(State {
                files: Arc::new(snapshot),
                live: None,
            }),
            wal: Default::default(),
        };
        index.replay_for_reader()?;
        Ok(index)
    }

    /// The files' state this handle searches now (a flush swaps in the next).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.state().files.clone()
    }

    pub(crate) fn state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn state_mut(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The snapshot to change in place, for changes made with exclusive access
    /// (copied first only if some caller still holds it).
    pub(crate) fn files_mut(&mut self) -> &mut Snapshot {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        Arc::make_mut(&mut state.files)
    }

    /// The partial-read threads, started on first use (an error, not a panic, when
    /// the system refuses them).
    pub(crate) fn partial_pool(&self) -> Result<&rayon::ThreadPool, EngineError> {
        if let Some(pool) = self.partial_pool.get() {
            return Ok(pool);
        }
        let threads = self.opts.io_threads;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("quarry-partial-{i}"))
            .build()
            .map_err(|source| EngineError::Threads {
                what: "partial-read",
                threads,
                source,
            })?;
        // Two searches may race to start it: the loser's pool is dropped.
        Ok(self.partial_pool.get_or_init(|| pool))
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the manifest lists `name` (an attached router model, a graph file).
    pub fn has_file(&self, name: &str) -> bool {
        self.snapshot().manifest.files.contains_key(name)
    }

    /// Reads an attached file the manifest lists, verified against its checksum
    /// (through the handle opened with this manifest, whatever a writer did since).
    pub fn read_file(&self, name: &str) -> Result<Vec<u8>, EngineError> {
        Ok(self.snapshot().attached.read(name)?)
    }

    /// Makes this handle the index's one writer until it is dropped or
    /// [`Index::unlock_writer`] is called: a command that changes the index takes the
    /// lock before its expensive work, so a second writer fails at once with
    /// "index is being changed by another process (pid N)" instead of both racing.
    /// Holding it already is fine. Searches need no lock.
    pub fn lock_writer(&mut self) -> Result<(), EngineError> {
        if self.writer.is_none() {
            self.writer = Some(WriterLock::acquire(&self.dir)?);
        }
        Ok(())
    }

    /// Releases the writer lock taken by [`Index::lock_writer`] (a no-op without one).
    pub fn unlock_writer(&mut self) {
        self.writer = None;
    }

    /// Whether this handle holds the index's writer lock.
    pub fn holds_writer_lock(&self) -> bool {
        self.writer.is_some()
    }

    /// Runs `f` holding the writer lock: the lock already held stays held, otherwise
    /// it is taken for `f` alone (and released whatever `f` returns).
    pub fn with_writer<R, E: From<EngineError>>(
        &mut self,
        f: impl FnOnce(&mut Index) -> Result<R, E>,
    ) -> Result<R, E> {
        if self.writer.is_some() {
            return f(self);
        }
        self.lock_writer().map_err(E::from)?;
        let r = f(self);
        self.writer = None;
        r
    }

    /// Adds `bytes` as file `name` to this index on disk (see
    /// [`quarry_storage::attach_file`]) and to this handle's manifest, under the
    /// writer lock (taken for this call if the handle does not hold it).
    pub fn attach_file(
        &mut self,
        name: &str,
        bytes: &[u8],
        router: Option<&str>,
    ) -> Result<(), EngineError> {
        self.attach_files(&[(name, bytes)], router.as_slice())
    }

    /// Adds or replaces several files in one commit (see
    /// [`quarry_storage::attach_files`]): a crash leaves all of them or none.
    pub fn attach_files(
        &mut self,
        files: &[(&str, &[u8])],
        routers: &[&str],
    ) -> Result<(), EngineError> {
        self.with_writer(|index| {
            let lock = index.writer.as_ref().expect("held by with_writer");
            let manifest = quarry_storage::attach_files(lock, files, routers)?;
            let attached = Attached::open(&index.dir, &manifest)?;
            let f = index.files_mut();
            f.attached = attached;
            f.manifest = manifest;
            Ok(())
        })
    }

    /// The manifest of the files this handle searches now.
    pub fn manifest(&self) -> Manifest {
        self.snapshot().manifest.clone()
    }

    /// Checks that `base` holds the vectors this index was built from (shape, type and
    /// the sampled fingerprint the build recorded), before a command spends time on
    /// it. An index with copies counts each id once.
    pub fn check_base(&self, base: &dyn quarry_formats::VectorSource) -> Result<(), EngineError> {
        let info = self.build_info()?;
        let what = format!(
            "{} ({} x {} {})",
            base.path().display(),
            base.len(),
            base.dim(),
            base.dtype()
        );
        let mismatch = |why: String| {
            Err(EngineError::WrongBase {
                base: what.clone(),
                index: self.dir.clone(),
                why,
            })
        };
        if base.dim() != self.dim()
            || base.len() as u64 != self.files_len()
            || base.dtype() != self.dtype()
        {
            return mismatch(format!(
                "the index holds {} x {} {}",
                self.files_len(),
                self.dim(),
                self.dtype()
            ));
        }
        // After flushed writes the files no longer hold the build's input, so its
        // fingerprint says nothing: the shape is checked, and `export_vectors`
        // gives the base that matches.
        let written = self.snapshot().manifest.applied_seq > 0;
        if let Some(fp) = info.input.filter(|_| !written) {
            let got = crate::build::InputFingerprint::of(base)?;
            if got != fp {
                return mismatch(
                    "the same shape, but other vectors (the sampled checksum differs)".into(),
                );
            }
        }
        Ok(())
    }

    /// How the index was built (typed; the manifest's `build` record).
    pub fn build_info(&self) -> Result<crate::BuildInfo, EngineError> {
        serde_json::from_value(self.snapshot().manifest.build.clone()).map_err(|e| {
            quarry_storage::StorageError::Corrupt {
                file: self.dir.join(quarry_storage::files::MANIFEST),
                what: format!("build record: {e}"),
            }
            .into()
        })
    }
    pub fn dim(&self) -> usize {
        self.dim
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn metric(&self) -> Metric {
        self.metric
    }
    /// Live vectors (ids) in the index, acknowledged writes included; copies of
    /// replicated vectors count once.
    pub fn len(&self) -> u64 {
        let state = self.state();
        match &state.live {
            Some(l) => l.live_count(),
            None => files_len(&state.files.manifest),
        }
    }

    /// Distinct vectors in the files (as built or last flushed).
    pub fn files_len(&self) -> u64 {
        files_len(&self.snapshot().manifest)
    }
    /// Stored vectors, copies included (what a full scan reads).
    pub fn stored_vectors(&self) -> u64 {
        self.snapshot().manifest.num_vectors
    }
    pub fn is_empty(&self) -> bool {
        self.stored_vectors() == 0
    }
    pub fn num_partitions(&self) -> usize {
        self.snapshot().table.len()
    }
    pub fn partition_sizes(&self) -> Vec<u64> {
        self.snapshot().partition_sizes()
    }
    pub fn io_mode(&self) -> IoMode {
        self.opts.io
    }
    /// The centroids this handle routes with now (a splitting flush replaces them).
    pub fn centroids(&self) -> Arc<CentroidIndex> {
        self.snapshot().centroids.clone()
    }

    /// The partition a new vector belongs to (its nearest centroid): the kept
    /// clustering model, so later inserts land where search will look for them.
    pub fn assign(&self, vector: &[f32]) -> Result<u32, EngineError> {
        if vector.len() != self.dim() {
            return Err(EngineError::QueryDim {
                got: vector.len(),
                want: self.dim(),
            });
        }
        let ranked = self.snapshot().centroids.rank(vector, 1)?;
        Ok(ranked.per_query[0][0].0)
    }

    /// BAM-ANN's batch-aware query organisation: splits a stream of queries into
    /// batches of `batch_size` whose members share their nearest centroid as far as
    /// possible (ordered by nearest partition, then input order), so each batch reads
    /// fewer distinct partitions. Returns query indices per batch.
    pub fn group_queries(
        &self,
        queries: &[f32],
        batch_size: usize,
    ) -> Result<Vec<Vec<u32>>, EngineError> {
        if !queries.len().is_multiple_of(self.dim()) {
            return Err(EngineError::BatchShape {
                len: queries.len(),
                dim: self.dim(),
            });
        }
        let ranked = self.snapshot().centroids.rank(queries, 1)?;
        let mut order: Vec<(u32, u32)> = ranked
            .per_query
            .iter()
            .enumerate()
            .map(|(i, r)| (r.first().map_or(0, |p| p.0), i as u32))
            .collect();
        order.sort_unstable();
        Ok(order
            .chunks(batch_size.max(1))
            .map(|c| c.iter().map(|p| p.1).collect())
            .collect())
    }

    /// Reads (and verifies) every partition once through the search path's I/O pool
    /// without scanning: the read throughput the executor can reach on this device.
    /// Returns (bytes read, seconds).
    pub fn read_all_partitions(&self) -> Result<(u64, f64), EngineError> {
        let snap = self.snapshot();
        let pids: Vec<u32> = (0..snap.num_partitions() as u32).collect();
        let t = std::time::Instant::now();
        let mut bytes = 0;
        for p in self
            .pool
            .stream(snap.store.clone(), &pids, self.opts.read_ahead)
        {
            bytes += p?.bytes;
        }
        Ok((bytes, t.elapsed().as_secs_f64()))
    }

    /// The cost model `Strategy::Auto` uses: the attached one, or the default.
    pub fn cost_model(&self) -> CostModel {
        self.snapshot().cost_model
    }

    /// Search breadth of the centroid graph, if the index has one.
    pub fn set_centroid_ef(&mut self, ef: usize) -> Result<(), EngineError> {
        let dir = self.dir.clone();
        let centroids = Arc::make_mut(&mut self.files_mut().centroids);
        let Some(g) = centroids.graph() else {
            return Err(EngineError::BadSearch(format!(
                "{} has no centroid graph",
                dir.display()
            )));
        };
        crate::error::check_range("centroid ef", ef, 1, quarry_graph::MAX_EF)?;
        let mut g = g.clone();
        g.set_ef(ef);
        centroids.set_graph(Some(Arc::new(g)))?;
        Ok(())
    }

    /// Whether this index has per-partition graphs.
    pub fn has_graphs(&self) -> bool {
        self.snapshot().graphs.is_some()
    }

    /// RAM of the graphs, if any.
    pub fn graph_memory(&self) -> Option<GraphMemory> {
        let snap = self.snapshot();
        snap.graphs
            .as_ref()
            .map(|g| graphs::memory(g, &snap.partition_sizes()))
    }

    /// The graphs of `snap`, or the error a strategy that needs them reports.
    pub(crate) fn require_graphs<'s>(
        &self,
        snap: &'s Snapshot,
        strategy: &'static str,
    ) -> Result<&'s Graphs, EngineError> {
        snap.graphs.as_deref().ok_or_else(|| EngineError::NoGraphs {
            mode: strategy,
            dir: self.dir.clone(),
        })
    }

    pub fn memory(&self) -> MemoryReport {
        let state = self.state();
        let snap = &state.files;
        let largest = snap.table.iter().map(|e| e.length).max().unwrap_or(0);
        let c = snap.centroids.memory_bytes() as u64;
        let t = (snap.table.len() * std::mem::size_of::<PartitionEntry>()) as u64;
        let r = largest
            * (self.opts.io_threads + self.opts.read_ahead + rayon::current_num_threads()) as u64;
        let g = snap
            .graphs
            .as_ref()
            .map(|g| graphs::memory(g, &snap.partition_sizes()))
            .map_or(0, |m| m.total_bytes + m.page_crc_bytes);
        let f = snap.filters.as_ref().map_or(0, FilterIndex::memory_bytes)
            + snap
                .members
                .as_deref()
                .map_or(0, |m| crate::filtered::members::memory_bytes(m));
        let w = state.live.as_ref().map_or(0, |l| l.memory_bytes());
        MemoryReport {
            centroids_bytes: c,
            partition_table_bytes: t,
            read_buffers_max_bytes: r,
            graphs_bytes: g,
            filters_bytes: f,
            writes_bytes: w,
            total_bytes: c + t + r + g + f + w,
        }
    }

    /// Searches one query (a batch of one: every partition it probes is read for
    /// it alone) and returns its neighbours, nearest first, and what it cost.
    pub fn search(&self, query: &[f32], params: &SearchParams) -> Result<QueryResult, EngineError> {
        if query.len() != self.dim() {
            return Err(EngineError::QueryDim {
                got: query.len(),
                want: self.dim(),
            });
        }
        let mut r = self.search_batch(query, params)?;
        Ok(QueryResult {
            neighbors: r.neighbors.pop().unwrap_or_default(),
            stats: r.per_query.pop().unwrap_or_default(),
            wall: r.stats.wall,
        })
    }

    /// Searches a row-major batch of queries, reading each needed partition once.
    /// Learned routers load their model on every call: to run many batches with one,
    /// [`Index::prepare`] once.
    pub fn search_batch(
        &self,
        queries: &[f32],
        params: &SearchParams,
    ) -> Result<BatchResult, EngineError> {
        self.prepare(params)?.search_batch(queries)
    }

    /// Checks `params` against the index and builds its router (loading learned
    /// models), for any number of batches.
    pub fn prepare(&self, params: &SearchParams) -> Result<PreparedSearch<'_>, EngineError> {
        let router = self.router(&params.router, params.k)?;
        self.prepare_with(params, router)
    }

    /// Same, with a router of the caller's (`params.router` is not used).
    pub fn prepare_with(
        &self,
        params: &SearchParams,
        router: Box<dyn Router>,
    ) -> Result<PreparedSearch<'_>, EngineError> {
        if params.k == 0 {
            return Err(EngineError::ZeroK);
        }
        if params.k as u64 > self.len() {
            return Err(EngineError::KTooLarge {
                k: params.k,
                n: self.len(),
            });
        }
        crate::error::check_range("ef", params.ef, 1, quarry_graph::MAX_EF)?;
        // A filtered search compares only matching vectors, which the scan gathers;
        // the graph strategies walk every vector's edges, so they are not used.
        let strategy = if params.filter.is_some() {
            Strategy::Scan
        } else {
            params.strategy
        };
        // Built now so a strategy the index cannot run fails here, not per batch.
        let needs_extent = self
            .searcher(&self.snapshot(), strategy, params.ef)?
            .needs_extent();
        let filter = match &params.filter {
            Some(f) => Some(self.resolve_filter(f, params)?),
            None => None,
        };
        let partial_pool = if needs_extent {
            None
        } else {
            Some(self.partial_pool()?)
        };
        Ok(PreparedSearch {
            index: self,
            k: params.k,
            router,
            strategy,
            partial_pool,
            filter,
            params: params.clone(),
        })
    }

    /// Evaluates `filter` on this index and picks its plan (against the files'
    /// snapshot and the writes of one moment, which the search then uses).
    fn resolve_filter(
        &self,
        filter: &Filter,
        params: &SearchParams,
    ) -> Result<Resolved, EngineError> {
        let start = std::time::Instant::now();
        let state = self.state();
        let snap = &state.files;
        let live = state.live.as_ref();
        let no_metadata = || EngineError::NoMetadata {
            dir: self.dir.clone(),
        };
        let members = snap.members.as_ref().ok_or_else(no_metadata)?;
        // An index built without metadata has some once a write carries labels.
        let implicit;
        let base = match &snap.filters {
            Some(f) => &f.meta,
            None if live.is_some_and(|l| l.meta.any_labels) => {
                let mut ids = roaring::RoaringTreemap::new();
                members.iter().for_each(|m| ids |= m);
                implicit = crate::Metadata::with_ids(ids);
                &implicit
            }
            None => return Err(no_metadata()),
        };
        crate::filtered::resolve(
            snap.clone(),
            base,
            members,
            live,
            filter,
            params.filter_plan,
            params.exact_max_matches,
            self.dim(),
            start,
        )
    }

    /// Whether this handle holds writes' state (a writer, or a reader that
    /// replayed the log): filters are then resolved per batch.
    pub(crate) fn has_live(&self) -> bool {
        self.state().live.is_some()
    }

    /// The searcher a strategy stands for on `snap`.
    fn searcher<'s>(
        &self,
        snap: &'s Snapshot,
        strategy: Strategy,
        ef: usize,
    ) -> Result<Box<dyn PartitionSearcher + 's>, EngineError> {
        if strategy == Strategy::Scan {
            return Ok(Box::new(Scan));
        }
        let graphs = self.require_graphs(snap, strategy.name())?;
        let graph = GraphSearcher::new(&graphs.set.graphs, ef);
        Ok(match strategy {
            Strategy::Scan | Strategy::Graph => Box::new(graph),
            Strategy::Auto => Box::new(Auto::new(graph, ef, &snap.cost_model)),
            Strategy::Partial => {
                let crcs = graphs.page_crcs.as_deref().ok_or(EngineError::NoGraphs {
                    mode: "partial (page checksums missing)",
                    dir: self.dir.clone(),
                })?;
                Box::new(PartialSearcher::new(
                    snap.store.as_ref(),
                    &snap.data_path,
                    &graphs.set.graphs,
                    crcs,
                    ef,
                ))
            }
        })
    }

    fn validate(&self, queries: &[f32], k: usize) -> Result<(), EngineError> {
        let dim = self.dim();
        crate::error::check_query_block(queries, dim, k)?;
        if k as u64 > self.len() {
            return Err(EngineError::KTooLarge { k, n: self.len() });
        }
        if let Some(p) = queries.iter().position(|v| !v.is_finite()) {
            return Err(EngineError::NonFinite {
                query: p / dim,
                component: p % dim,
            });
        }
        Ok(())
    }
}

/// Distinct vectors in the files `m` describes.
fn files_len(m: &Manifest) -> u64 {
    m.distinct_vectors.unwrap_or(m.num_vectors)
}

/// One query's answer.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// Nearest first; fewer than k only when the probed partitions hold fewer.
    pub neighbors: Vec<Neighbor>,
    pub stats: QueryStats,
    pub wall: std::time::Duration,
}

/// A search's parameters checked against an index, with its router built: run it
/// on any number of batches (concurrently too: it is `Sync`). Each batch searches
/// the files' snapshot of its start, with the writes acknowledged by then.
pub struct PreparedSearch<'a> {
    index: &'a Index,
    k: usize,
    router: Box<dyn Router>,
    strategy: Strategy,
    partial_pool: Option<&'a rayon::ThreadPool>,
    /// The batch filter, resolved once.
    filter: Option<Resolved>,
    params: SearchParams,
}

/// Times a batch starts again on the next snapshot when flushes keep replacing
/// the one it started on (each retry needs another whole flush to fail).
const SNAPSHOT_RETRIES: usize = 64;

impl PreparedSearch<'_> {
    pub fn router(&self) -> &dyn Router {
        self.router.as_ref()
    }

    pub fn k(&self) -> usize {
        self.k
    }

    /// Searches a row-major batch of queries, reading each needed partition once.
    /// A batch whose candidate lists would exceed `OpenOptions::max_batch_bytes`
    /// is run in slices that fit.
    pub fn search_batch(&self, queries: &[f32]) -> Result<BatchResult, EngineError> {
        let fresh = self.fresh_filter()?;
        self.search_batch_with(queries, fresh.as_ref().or(self.filter.as_ref()))
    }

    /// The prepared filter resolved again, when writes may have changed its
    /// matches since `prepare`.
    fn fresh_filter(&self) -> Result<Option<Resolved>, EngineError> {
        match &self.params.filter {
            Some(f) if self.index.has_live() => {
                Ok(Some(self.index.resolve_filter(f, &self.params)?))
            }
            _ => Ok(None),
        }
    }

    /// Searches a batch whose queries carry filters of their own (`filters[i]` for
    /// query i; `None`: the prepared search's filter, if any). Queries sharing a
    /// filter run as one batch; results come back in query order.
    pub fn search_batch_filtered(
        &self,
        queries: &[f32],
        filters: &[Option<Filter>],
    ) -> Result<BatchResult, EngineError> {
        let dim = self.index.dim();
        self.index.validate(queries, self.k)?;
        let nq = queries.len() / dim;
        if filters.len() != nq {
            return Err(EngineError::BadSearch(format!(
                "{} filters for {nq} queries; give one per query",
                filters.len()
            )));
        }
        let mut groups: std::collections::BTreeMap<Option<&str>, Vec<usize>> = Default::default();
        for (i, f) in filters.iter().enumerate() {
            groups
                .entry(f.as_ref().map(Filter::text))
                .or_default()
                .push(i);
        }
        let mut out = BatchResult {
            neighbors: vec![Vec::new(); nq],
            per_query: vec![QueryStats::default(); nq],
            stats: Default::default(),
        };
        for members in groups.values() {
            let resolved = match &filters[members[0]] {
                Some(f) => Some(self.index.resolve_filter(f, &self.params)?),
                None => self.fresh_filter()?,
            };
            let mut block = Vec::with_capacity(members.len() * dim);
            for &i in members {
                block.extend_from_slice(&queries[i * dim..(i + 1) * dim]);
            }
            let r = self.search_batch_with(&block, resolved.as_ref().or(self.filter.as_ref()))?;
            for ((&i, n), s) in members.iter().zip(r.neighbors).zip(r.per_query) {
                out.neighbors[i] = n;
                out.per_query[i] = s;
            }
            out.stats.add(&r.stats);
        }
        Ok(out)
    }

    fn search_batch_with(
        &self,
        queries: &[f32],
        filter: Option<&Resolved>,
    ) -> Result<BatchResult, EngineError> {
        self.index.validate(queries, self.k)?;
        let mut tries = 0;
        loop {
            match self.search_snapshot(queries, filter) {
                Err(EngineError::SnapshotMoved) if tries < SNAPSHOT_RETRIES => tries += 1,
                r => return r,
            }
        }
    }

    /// One attempt of a batch on the current snapshot (a filter's own, if given).
    fn search_snapshot(
        &self,
        queries: &[f32],
        filter: Option<&Resolved>,
    ) -> Result<BatchResult, EngineError> {
        let index = self.index;
        let k = self.k;
        let dim = index.dim();
        // Writes since the files: the scan applies tombstones and searches the
        // delta; the graph strategies know neither, so the scan answers.
        let (snap, dirty) = match filter {
            Some(f) => (f.snapshot.clone(), f.live.is_some()),
            None => {
                let state = index.state();
                let dirty = state.live.as_ref().is_some_and(|l| !l.is_clean());
                (state.files.clone(), dirty)
            }
        };
        // A flush replaces the extents the graphs describe: scan until rebuilt.
        let strategy = if dirty || snap.graphs.is_none() {
            Strategy::Scan
        } else {
            self.strategy
        };
        let searcher = index.searcher(&snap, strategy, self.params.ef)?;
        let src = Sources {
            centroids: &snap.centroids,
            table: &snap.table,
            store: &snap.store,
            pool: &index.pool,
            read_ahead: index.opts.read_ahead,
            partial_pool: self.partial_pool,
            dim,
            dtype: index.dtype(),
            metric: index.metric(),
            dedup: files_len(&snap.manifest) != snap.manifest.num_vectors,
            live: dirty.then_some((&index.state, &snap)),
        };
        let run = |part: &[f32]| {
            executor::run(
                &src,
                part,
                k,
                self.router.as_ref(),
                searcher.as_ref(),
                filter,
            )
        };
        // Before the merge a query holds up to k neighbours per probed partition (a
        // router may ask for more partitions than exist: at most all of them).
        let probed = match filter {
            // The exact plan merges per group of partitions, not per partition.
            Some(f) if f.plan(self.router.max_probes()) == crate::PlanTaken::Exact => 1,
            // Widening adds partitions only while fewer than k matches are seen,
            // each holding at least one: at most k more.
            Some(_) => self.router.max_probes().saturating_add(k),
            None => self.router.max_probes(),
        }
        .clamp(1, snap.table.len().max(1));
        let per_query = probed
            .saturating_mul(k)
            .saturating_mul(std::mem::size_of::<Neighbor>())
            .saturating_add(dim * 4);
        let slice = (index.opts.max_batch_bytes / per_query).max(1);
        if queries.len() / dim <= slice {
            return run(queries);
        }
        let nq = queries.len() / dim;
        let mut out = BatchResult {
            neighbors: Vec::with_capacity(nq),
            per_query: Vec::with_capacity(nq),
            stats: Default::default(),
        };
        for part in queries.chunks(slice * dim) {
            let r = run(part)?;
            out.neighbors.extend(r.neighbors);
            out.per_query.extend(r.per_query);
            out.stats.add(&r.stats);
        }
        Ok(out)
    }
}
