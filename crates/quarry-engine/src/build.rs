//! Index build: train balanced centroids, assign, write partitions, all streamed
//! within a memory budget.

use crate::checkpoint::{Checkpoints, Trained};
use crate::EngineError;
use quarry_formats::{open_vectors, ChunkData, VectorSource};
pub use quarry_kernels::cpu_time::process_cpu_secs;
use quarry_kernels::{DType, Metric};
use quarry_partition::{
    assign_balanced, assign_hierarchy, closure_replicas, train_centroids, train_hierarchy,
    Assignment, Hierarchy, HierarchyConfig, KMeansConfig, Progress, Rows, SizeStats,
};
use quarry_storage::{IndexWriter, PartitionPayload};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Largest build without metadata that writes `members.bin` (each partition's ids
/// as a roaring bitmap, loaded whole when the index opens). A build's ids are its
/// row numbers, so a partition's ~1,000 ids are scattered over the whole range:
/// ~60 bytes of RAM each as bitmaps (one container per id), 6 GB at 10^8. Larger
/// indexes go without it, as indexes older than the file do: the first writer to
/// open one reads the members from the extents (`Index::open_writer`); readers do
/// not need them. With labels or attributes the file is always written (filters
/// need it).
pub const MEMBERS_MAX_VECTORS: usize = 1 << 22;

/// Bytes of bookkeeping per vector during a build (see the memory plan).
const BOOKKEEPING: usize = 20;

#[derive(Debug, Clone)]
pub struct BuildConfig {
    pub partitions: usize,
    pub metric: Metric,
    pub seed: u64,
    pub balance_eps: f32,
    /// Memory for vector data held at once (chunks, samples, partition groups).
    pub mem_budget_mb: usize,
    pub sample_per_centroid: usize,
    pub sample_iters: usize,
    pub epochs: usize,
    /// SPANN-style closure replication: (eps, max copies per vector), see
    /// `quarry_partition::closure_replicas`. None stores each vector once.
    pub replicate: Option<(f32, usize)>,
    pub clustering: Clustering,
    /// Phase checkpoints (`checkpoint.rs`): None keeps them for builds of at least
    /// `CHECKPOINT_FROM_VECTORS` (smaller ones redo their phases in seconds, and
    /// leave nothing behind when they fail).
    pub checkpoints: Option<bool>,
}

/// Input size from which a build checkpoints its phases by default.
pub const CHECKPOINT_FROM_VECTORS: usize = 1 << 20;

/// How the partitions' centroids are trained and vectors assigned to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Clustering {
    /// One level of balanced k-means: every vector against every centroid.
    Flat,
    /// Two levels (`quarry_partition::train_hierarchy`): `coarse` centroids (0:
    /// round(sqrt(partitions))), each vector compared with the children of its
    /// `probe` nearest coarse centroids. For 10^4+ partitions.
    Hierarchical { coarse: usize, probe: usize },
}

impl Clustering {
    /// Partitions from which `auto` trains two levels: there flat k-means costs
    /// O(n partitions d) per pass, hours at 10^7 vectors on two cores.
    pub const AUTO_HIERARCHICAL_FROM: usize = 8192;

    /// Flat below `AUTO_HIERARCHICAL_FROM` partitions, else two levels with the
    /// default coarse count and probe 3.
    pub fn auto(partitions: usize) -> Self {
        if partitions >= Self::AUTO_HIERARCHICAL_FROM {
            Clustering::Hierarchical {
                coarse: 0,
                probe: 3,
            }
        } else {
            Clustering::Flat
        }
    }
}

impl BuildConfig {
    pub fn new(partitions: usize, metric: Metric) -> Self {
        BuildConfig {
            partitions,
            metric,
            seed: 42,
            balance_eps: 0.1,
            mem_budget_mb: 1024,
            sample_per_centroid: 256,
            sample_iters: 10,
            epochs: 1,
            replicate: None,
            clustering: Clustering::auto(partitions),
            checkpoints: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub dir: PathBuf,
    pub num_vectors: u64,
    pub dim: usize,
    pub dtype: DType,
    pub sizes: SizeStats,
    /// Vectors placed outside their nearest partition by the size bound.
    pub moved: u64,
    /// Extra copies stored by replication (0 without it).
    pub replicas: u64,
    pub write_passes: usize,
    pub train_secs: f64,
    pub assign_secs: f64,
    pub write_secs: f64,
    pub total_secs: f64,
    /// Process CPU seconds (all threads) spent in each phase: CPU utilisation of
    /// a phase is `cpu / (wall x threads)`.
    pub train_cpu_secs: f64,
    pub assign_cpu_secs: f64,
    pub write_cpu_secs: f64,
    /// Compute threads the build ran with (rayon's pool).
    pub threads: usize,
    /// Phases whose results came from a checkpoint of an earlier, interrupted run
    /// of the same build ("train", "assign").
    pub resumed: Vec<String>,
}

/// How an index was built, as its manifest records it (`Index::build_info`).
/// Fields an older index did not record read as their defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BuildInfo {
    pub partitions: usize,
    pub seed: u64,
    pub balance_eps: f32,
    /// Partition size bound of the balanced assignment.
    pub capacity: u64,
    pub mem_budget_mb: usize,
    pub chunk_rows: usize,
    pub sample_per_centroid: usize,
    pub sample_iters: usize,
    pub epochs: usize,
    /// Vectors placed outside their nearest partition by the size bound.
    pub moved_by_balance: u64,
    pub replicate: Option<ReplicationInfo>,
    /// Extra copies written by closure replication.
    pub replicas: u64,
    pub sizes: SizeStats,
    pub clustering: String,
    /// Set when `rewrite_with_copies` wrote this index: what placed the copies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplication: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copies: Option<u64>,
    /// What the index was built from (absent in indexes built before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<InputFingerprint>,
}

/// A cheap identity of a build's input: shape, type and a crc32c of 64 rows spread
/// over it. Commands that need the index's own vectors again (router training,
/// rewriting with copies) check the file they are given against it before working.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputFingerprint {
    pub rows: u64,
    pub dim: usize,
    pub dtype: DType,
    pub sampled_rows: usize,
    pub sampled_crc32c: u32,
}

/// Rows hashed by a fingerprint.
const FINGERPRINT_ROWS: usize = 64;

impl InputFingerprint {
    pub fn of(src: &dyn VectorSource) -> Result<Self, EngineError> {
        let n = src.len();
        let sampled = n.min(FINGERPRINT_ROWS);
        let mut crc = 0u32;
        for i in 0..sampled {
            let row = (i as u128 * n as u128 / sampled as u128) as usize;
            let bytes: Vec<u8> = match src.read_range(row, 1)? {
                ChunkData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                ChunkData::U8(v) => v,
                ChunkData::I8(v) => v.iter().map(|&x| x as u8).collect(),
            };
            crc = crc32c::crc32c_append(crc, &bytes);
        }
        Ok(InputFingerprint {
            rows: n as u64,
            dim: src.dim(),
            dtype: src.dtype(),
            sampled_rows: sampled,
            sampled_crc32c: crc,
        })
    }
}

/// SPANN-style closure replication settings of a build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicationInfo {
    pub rule: String,
    pub eps: f32,
    pub max_copies: usize,
}

impl BuildInfo {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain fields serialise")
    }
}

pub fn build_index(
    base: &Path,
    out: &Path,
    cfg: &BuildConfig,
    progress: &dyn Progress,
) -> Result<BuildReport, EngineError> {
    build_index_from(open_vectors(base)?.as_ref(), out, cfg, progress)
}

/// Builds an index at `out` from any vector source: a file (`open_vectors`), vectors
/// in memory (`quarry_formats::MemorySource`) or a caller's own reader.
pub fn build_index_from(
    src: &dyn VectorSource,
    out: &Path,
    cfg: &BuildConfig,
    progress: &dyn Progress,
) -> Result<BuildReport, EngineError> {
    build_index_with(src, None, out, cfg, progress)
}

/// Same, with per-vector labels and attributes (`meta`, one entry per input row)
/// stored for filtered search, with each partition's member ids.
pub fn build_index_with(
    src: &dyn VectorSource,
    meta: Option<&crate::Metadata>,
    out: &Path,
    cfg: &BuildConfig,
    progress: &dyn Progress,
) -> Result<BuildReport, EngineError> {
    let total = Instant::now();
    let (n, dim, dtype) = (src.len(), src.dim(), src.dtype());
    if let Some(m) = meta {
        if m.len() != n as u64 {
            return Err(EngineError::BadBuild(format!(
                "the labels/attributes describe {} vectors; the base has {n}",
                m.len()
            )));
        }
    }
    // Refused before any training, not after it.
    if out.exists() {
        return Err(quarry_storage::StorageError::Exists {
            path: out.to_path_buf(),
        }
        .into());
    }
    if cfg.partitions == 0 || cfg.partitions > n {
        return Err(EngineError::BadBuild(format!(
            "partitions {} for {n} vectors: use between 1 and {n}",
            cfg.partitions
        )));
    }
    if cfg.mem_budget_mb == 0 {
        return Err(EngineError::BadBuild(
            "mem_budget_mb must be at least 1".into(),
        ));
    }
    // Memory plan. Per-vector bookkeeping (nearest centroid + distance, sort order,
    // final partition: BOOKKEEPING bytes each) comes out of the budget first; a
    // quarter of the rest is the training sample, a quarter one streamed chunk (held
    // as read and as f32), half the partition groups being written. Not counted:
    // the fixed overhead of the process (binary, thread stacks, one 4 MiB distance
    // block per thread, centroids), stated in the README.
    let budget = cfg.mem_budget_mb << 20;
    let bookkeeping = n * BOOKKEEPING;
    let least = bookkeeping + (1 << 20);
    if least > budget {
        return Err(EngineError::BadBuild(format!(
            "mem_budget_mb {} is too small for {n} vectors ({BOOKKEEPING} bytes of bookkeeping each); use at least {} MiB",
            cfg.mem_budget_mb,
            least.div_ceil(1 << 20)
        )));
    }
    let data_budget = budget - bookkeeping;
    let row_bytes = dim * (dtype.size() + 4);
    let chunk_rows = (data_budget / 4 / row_bytes).max(1);
    let max_sample_rows = (data_budget / 4 / (dim * 4)).max(cfg.partitions);

    let km = KMeansConfig {
        k: cfg.partitions,
        seed: cfg.seed,
        balance_eps: cfg.balance_eps,
        sample_per_centroid: cfg.sample_per_centroid,
        sample_iters: cfg.sample_iters,
        epochs: cfg.epochs,
        chunk_rows,
        max_sample_rows,
    };
    let rows = Rows {
        src,
        spherical: cfg.metric == Metric::Cosine,
    };
    if cfg.replicate.is_some() && cfg.clustering != Clustering::Flat {
        return Err(EngineError::BadBuild(
            "replication compares every vector with every centroid: use it with flat clustering"
                .into(),
        ));
    }
    let ckpt = cfg
        .checkpoints
        .unwrap_or(n >= CHECKPOINT_FROM_VECTORS)
        .then(|| checkpoint_key(src, cfg, chunk_rows, max_sample_rows))
        .transpose()?
        .map(|key| Checkpoints::new(out, key));
    let ckpt = ckpt.as_ref();
    let mut resumed = Vec::new();
    let (t, c0) = (Instant::now(), process_cpu_secs());
    let trained = match ckpt.and_then(|c| c.load_trained()) {
        Some(t) if t.fine.len() == cfg.partitions * dim => {
            resumed.push("train".to_string());
            t
        }
        _ => {
            let t = match cfg.clustering {
                Clustering::Flat => Trained {
                    fine: train_centroids(&rows, &km, progress)?,
                    coarse: Vec::new(),
                    first: Vec::new(),
                },
                Clustering::Hierarchical { coarse, probe } => {
                    let hc = HierarchyConfig {
                        k: cfg.partitions,
                        coarse,
                        probe,
                        seed: cfg.seed,
                        balance_eps: cfg.balance_eps,
                        sample_per_centroid: cfg.sample_per_centroid,
                        sample_iters: cfg.sample_iters,
                        chunk_rows,
                        // Training holds no per-vector bookkeeping yet (that
                        // comes with the assignment): the sample may take half
                        // of the whole budget.
                        max_sample_bytes: budget / 2,
                    };
                    let h = train_hierarchy(&rows, &hc, progress)?;
                    Trained {
                        fine: h.fine,
                        coarse: h.coarse,
                        first: h.first,
                    }
                }
            };
            if let Some(c) = ckpt {
                c.save_trained(&t)?;
            }
            t
        }
    };
    let train_time = t.elapsed();
    let (t, c1) = (Instant::now(), process_cpu_secs());
    let assignment = match ckpt.and_then(|c| c.load_assignment(n, cfg.partitions)) {
        Some(a) => {
            resumed.push("assign".to_string());
            a
        }
        None => {
            let a: Assignment = match cfg.clustering {
                Clustering::Flat => {
                    assign_balanced(&rows, &trained.fine, cfg.balance_eps, chunk_rows, progress)?
                }
                Clustering::Hierarchical { probe, .. } => {
                    let h = Hierarchy {
                        dim,
                        coarse: trained.coarse.clone(),
                        fine: trained.fine.clone(),
                        first: trained.first.clone(),
                    };
                    assign_hierarchy(&rows, &h, cfg.balance_eps, probe, chunk_rows, progress)?
                }
            };
            if let Some(c) = ckpt {
                c.save_assignment(&a)?;
            }
            // Fault injection for the resume tests: as if killed right here.
            if std::env::var("QUARRY_FAILPOINT").as_deref() == Ok("build-after-assign") {
                return Err(EngineError::BadBuild(
                    "stopped at QUARRY_FAILPOINT=build-after-assign".into(),
                ));
            }
            a
        }
    };
    let centroids = trained.fine;
    let extras = match cfg.replicate {
        Some((eps, copies)) => closure_replicas(
            &rows,
            &centroids,
            &assignment.partition_of,
            eps,
            copies,
            chunk_rows,
            progress,
        )?,
        None => Vec::new(),
    };
    let assign_time = t.elapsed();
    let mut part_sizes = assignment.sizes.clone();
    for &(_, p) in &extras {
        part_sizes[p as usize] += 1;
    }
    let sizes = SizeStats::of(&part_sizes);

    let (t, c2) = (Instant::now(), process_cpu_secs());
    let mut writer = IndexWriter::create(out, dim, dtype, cfg.metric)?;
    writer.write_centroids(&centroids)?;
    let passes = write_partitions(
        src,
        &assignment.partition_of,
        &extras,
        &part_sizes,
        data_budget,
        chunk_rows,
        &mut writer,
        progress,
        None,
    )?;
    let write_time = t.elapsed();
    let c3 = process_cpu_secs();
    let build = BuildInfo {
        partitions: cfg.partitions,
        seed: cfg.seed,
        balance_eps: cfg.balance_eps,
        capacity: assignment.capacity,
        mem_budget_mb: cfg.mem_budget_mb,
        chunk_rows,
        sample_per_centroid: cfg.sample_per_centroid,
        sample_iters: cfg.sample_iters,
        epochs: cfg.epochs,
        moved_by_balance: assignment.moved,
        replicate: cfg.replicate.map(|(eps, max_copies)| ReplicationInfo {
            rule: "spann closure".into(),
            eps,
            max_copies,
        }),
        replicas: extras.len() as u64,
        sizes: sizes.clone(),
        clustering: clustering_name(cfg, trained.coarse.len() / dim.max(1)),
        duplication: None,
        copies: None,
        input: Some(InputFingerprint::of(src)?),
    };
    writer.set_distinct_vectors(n as u64);
    if meta.is_some() || n <= MEMBERS_MAX_VECTORS {
        // Members (writes and filters need them), metadata when given.
        use crate::filtered::{members, FILTERS_FILE, MEMBERS_FILE};
        let mem = members::from_assignment(cfg.partitions, &assignment.partition_of, &extras);
        writer.write_file(MEMBERS_FILE, &members::to_bytes(&mem))?;
        if let Some(m) = meta {
            writer.write_file(FILTERS_FILE, &m.to_bytes())?;
        }
    }
    let dir = writer.finish(build.to_json(), Vec::new())?;
    if let Some(c) = ckpt {
        c.remove();
    }
    Ok(BuildReport {
        dir,
        num_vectors: n as u64,
        dim,
        dtype,
        sizes,
        moved: assignment.moved,
        replicas: extras.len() as u64,
        write_passes: passes,
        train_secs: train_time.as_secs_f64(),
        assign_secs: assign_time.as_secs_f64(),
        write_secs: write_time.as_secs_f64(),
        total_secs: total.elapsed().as_secs_f64(),
        train_cpu_secs: c1 - c0,
        assign_cpu_secs: c2 - c1,
        write_cpu_secs: c3 - c2,
        threads: rayon::current_num_threads(),
        resumed,
    })
}

/// What the manifest records as the clustering.
fn clustering_name(cfg: &BuildConfig, coarse: usize) -> String {
    let base = if cfg.metric == Metric::Cosine {
        "spherical balanced k-means"
    } else {
        "balanced k-means (L2)"
    };
    match cfg.clustering {
        Clustering::Flat => base.into(),
        Clustering::Hierarchical { probe, .. } => {
            format!("two-level {base} ({coarse} coarse centroids, probe {probe})")
        }
    }
}

/// Everything that decides the train and assign phases' results: a checkpoint
/// made under another key is not used.
fn checkpoint_key(
    src: &dyn VectorSource,
    cfg: &BuildConfig,
    chunk_rows: usize,
    max_sample_rows: usize,
) -> Result<String, EngineError> {
    Ok(format!(
        "input={:?} metric={:?} partitions={} seed={} eps={} sample={} iters={} epochs={} clustering={:?} chunk_rows={chunk_rows} max_sample_rows={max_sample_rows} budget={}",
        InputFingerprint::of(src)?,
        cfg.metric,
        cfg.partitions,
        cfg.seed,
        cfg.balance_eps,
        cfg.sample_per_centroid,
        cfg.sample_iters,
        cfg.epochs,
        cfg.clustering,
        cfg.mem_budget_mb,
    ))
}

/// Groups from which `write_partitions` spills instead of reading the input once
/// per group (two groups cost about the same either way).
const SPILL_FROM_GROUPS: usize = 3;

fn runs_of(src: &dyn VectorSource, sizes: &[u64], budget: usize) -> Vec<(usize, usize)> {
    let row_bytes = (src.dim() * src.dtype().size() + 8) as u64;
    let group_budget = ((budget as u64) / 2).max(row_bytes);
    runs_within(sizes.len(), |p| sizes[p] * row_bytes, group_budget)
}

/// Calls `f(id, partition, row r of chunk)` for every placement of the source's
/// rows, in id order (a row, then its extra copies), chunk by chunk.
fn for_each_placement(
    src: &dyn VectorSource,
    part_of: &[u32],
    extras: &[(u64, u32)],
    chunk_rows: usize,
    progress: &dyn Progress,
    mut f: impl FnMut(u64, usize, &ChunkData, usize) -> Result<(), EngineError>,
) -> Result<(), EngineError> {
    let n = src.len();
    let mut next_extra = 0;
    for s in (0..n).step_by(chunk_rows.max(1)) {
        let cnt = chunk_rows.max(1).min(n - s);
        let chunk = src.read_range(s, cnt)?;
        for r in 0..cnt {
            let id = (s + r) as u64;
            f(id, part_of[s + r] as usize, &chunk, r)?;
            while next_extra < extras.len() && extras[next_extra].0 == id {
                f(id, extras[next_extra].1 as usize, &chunk, r)?;
                next_extra += 1;
            }
        }
        progress.advance(cnt as u64);
    }
    Ok(())
}

/// Groups vectors by partition and writes partitions in id order. Partitions are
/// gathered in groups whose payload fits the budget, so memory stays bounded
/// whatever the collection size. With few groups each is one pass over the
/// source; from `SPILL_FROM_GROUPS` groups the source is read once and every row
/// appended to its group's spill file, then each group is gathered from its own
/// file: passes over the input grew as n^2 / budget (23 reads of 12.8 GB at 100M
/// vectors, 230 of 128 GB at 1B), a spill costs one read and one write of the
/// input more, whatever n. Both give the same partitions, rows in id order.
/// `extras` are further (id, partition) placements sorted by id (replicas);
/// `sizes` counts them.
/// `spill`: None decides by the group count (tests force either way).
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_partitions(
    src: &dyn VectorSource,
    part_of: &[u32],
    extras: &[(u64, u32)],
    sizes: &[u64],
    budget: usize,
    chunk_rows: usize,
    writer: &mut IndexWriter,
    progress: &dyn Progress,
    spill: Option<bool>,
) -> Result<usize, EngineError> {
    let dim = src.dim();
    let vec_bytes = dim * src.dtype().size();
    let groups = runs_of(src, sizes, budget);
    let spill = spill.unwrap_or(groups.len() >= SPILL_FROM_GROUPS);
    let n = src.len();
    let new_group = |lo: usize, hi: usize| -> (Vec<Vec<u64>>, Vec<Vec<u8>>) {
        (
            (lo..hi)
                .map(|p| Vec::with_capacity(sizes[p] as usize))
                .collect(),
            (lo..hi)
                .map(|p| Vec::with_capacity(sizes[p] as usize * vec_bytes))
                .collect(),
        )
    };
    let emit = |writer: &mut IndexWriter,
                ids: Vec<Vec<u64>>,
                vecs: Vec<Vec<u8>>|
     -> Result<(), EngineError> {
        for (i, v) in ids.iter().zip(&vecs) {
            writer.append_partition(PartitionPayload { ids: i, vectors: v })?;
        }
        Ok(())
    };
    if !spill {
        progress.stage("write partitions", (n * groups.len()) as u64);
        for &(lo, hi) in &groups {
            let (mut ids, mut vecs) = new_group(lo, hi);
            for_each_placement(
                src,
                part_of,
                extras,
                chunk_rows,
                progress,
                |id, p, chunk, r| {
                    if p >= lo && p < hi {
                        ids[p - lo].push(id);
                        append_row(chunk, r, dim, &mut vecs[p - lo]);
                    }
                    Ok(())
                },
            )?;
            emit(writer, ids, vecs)?;
        }
        return Ok(groups.len());
    }
    // Spill: one pass writes each placement (partition u32, id u64, the row's
    // bytes) to its group's file; then each group is read back and written.
    use std::io::{BufReader, BufWriter, Read, Write};
    let mut group_of = vec![0u32; sizes.len()];
    for (g, &(lo, hi)) in groups.iter().enumerate() {
        group_of[lo..hi].iter_mut().for_each(|x| *x = g as u32);
    }
    let paths: Vec<PathBuf> = (0..groups.len())
        .map(|g| writer.scratch_path(&format!("spill-{g}.tmp")))
        .collect();
    let io = |p: &Path, e: std::io::Error| quarry_storage::StorageError::io(p, e);
    let mut files = paths
        .iter()
        .map(|p| {
            std::fs::File::create(p)
                .map(|f| BufWriter::with_capacity(1 << 20, f))
                .map_err(|e| io(p, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    progress.stage("spill partitions", n as u64);
    let mut row = Vec::with_capacity(vec_bytes);
    for_each_placement(
        src,
        part_of,
        extras,
        chunk_rows,
        progress,
        |id, p, chunk, r| {
            let g = group_of[p] as usize;
            row.clear();
            append_row(chunk, r, dim, &mut row);
            let f = &mut files[g];
            f.write_all(&(p as u32).to_le_bytes())
                .and_then(|_| f.write_all(&id.to_le_bytes()))
                .and_then(|_| f.write_all(&row))
                .map_err(|e| io(&paths[g], e))?;
            Ok(())
        },
    )?;
    for (f, p) in files.into_iter().zip(&paths) {
        f.into_inner()
            .map_err(|e| io(p, e.into_error()))?
            .sync_all()
            .map_err(|e| io(p, e))?;
    }
    progress.stage("write partitions", groups.len() as u64);
    let mut rec = vec![0u8; 12 + vec_bytes];
    for (&(lo, hi), path) in groups.iter().zip(&paths) {
        let (mut ids, mut vecs) = new_group(lo, hi);
        let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
        let mut rd = BufReader::with_capacity(1 << 20, file);
        let expected: u64 = sizes[lo..hi].iter().sum();
        for _ in 0..expected {
            rd.read_exact(&mut rec).map_err(|e| io(path, e))?;
            let p = u32::from_le_bytes(rec[..4].try_into().expect("4")) as usize;
            let id = u64::from_le_bytes(rec[4..12].try_into().expect("8"));
            if p < lo || p >= hi {
                return Err(quarry_storage::StorageError::Corrupt {
                    file: path.clone(),
                    what: format!("names partition {p} outside its group {lo}..{hi}"),
                }
                .into());
            }
            ids[p - lo].push(id);
            vecs[p - lo].extend_from_slice(&rec[12..]);
        }
        drop(rd);
        std::fs::remove_file(path).map_err(|e| io(path, e))?;
        emit(writer, ids, vecs)?;
        progress.advance(1);
    }
    Ok(groups.len())
}

fn append_row(chunk: &ChunkData, r: usize, dim: usize, out: &mut Vec<u8>) {
    match chunk {
        ChunkData::F32(v) => v[r * dim..(r + 1) * dim]
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        ChunkData::U8(v) => out.extend_from_slice(&v[r * dim..(r + 1) * dim]),
        ChunkData::I8(v) => out.extend(v[r * dim..(r + 1) * dim].iter().map(|&x| x as u8)),
    }
}

/// Consecutive runs `(start, end)` of items `0..n` whose summed `bytes` fit
/// `budget` (an item larger than the budget is a run of its own): the passes of
/// work that must hold a run's data at once.
pub(crate) fn runs_within(
    n: usize,
    bytes: impl Fn(usize) -> u64,
    budget: u64,
) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = 0;
    while start < n {
        let (mut end, mut sum) = (start, 0u64);
        while end < n && (end == start || sum + bytes(end) <= budget) {
            sum += bytes(end);
            end += 1;
        }
        runs.push((start, end));
        start = end;
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use quarry_formats::MemorySource;

    /// The spilled write and the one-pass-per-group write give the same bytes,
    /// with replicas, empty partitions and many groups; the spill files are gone.
    #[test]
    fn spilled_and_multi_pass_writes_are_identical() {
        let (n, dim, k) = (3000usize, 6usize, 40usize);
        let data: Vec<u8> = (0..n * dim).map(|i| (i * 7919 % 251) as u8).collect();
        let src = MemorySource::u8(&data, dim).unwrap();
        // Partition 5 stays empty; the rest are uneven.
        let part_of: Vec<u32> = (0..n)
            .map(|i| {
                let p = (i * i + 3 * i) % k;
                if p == 5 {
                    6
                } else {
                    p as u32
                }
            })
            .collect();
        let extras: Vec<(u64, u32)> = (0..n as u64)
            .step_by(7)
            .map(|i| (i, (i % 13) as u32))
            .collect();
        let mut sizes = vec![0u64; k];
        part_of.iter().for_each(|&p| sizes[p as usize] += 1);
        extras.iter().for_each(|&(_, p)| sizes[p as usize] += 1);
        // A budget of a few partitions per group: many groups.
        let budget = 4 * (n / k) * (dim + 8);
        assert!(runs_of(&src, &sizes, budget).len() >= 5);
        let t = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        for (name, spill) in [("a", false), ("b", true)] {
            let dir = t.path().join(name);
            let mut w = IndexWriter::create(&dir, dim, DType::U8, Metric::L2).unwrap();
            w.write_centroids(&vec![0.0; k * dim]).unwrap();
            let groups = write_partitions(
                &src,
                &part_of,
                &extras,
                &sizes,
                budget,
                256,
                &mut w,
                &quarry_partition::NoProgress,
                Some(spill),
            )
            .unwrap();
            assert!(groups >= 5);
            w.finish(serde_json::json!({}), Vec::new()).unwrap();
            let mut files: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            assert!(files.iter().all(|f| !f.starts_with("spill")), "{files:?}");
            out.push((
                files,
                std::fs::read(dir.join(quarry_storage::files::DATA)).unwrap(),
            ));
        }
        assert_eq!(out[0], out[1]);
    }
}
