//! Where every vector is stored, and rewriting an index with extra copies.
//!
//! Learned duplication (the MLP router) decides after the build that some vectors
//! should also live in other partitions. The rewrite keeps the centroids and every
//! existing placement, adds the new (id, partition) copies and writes a new index
//! through the same streamed partition writer the build uses.

use crate::build::write_partitions;
use crate::{EngineError, Index, Progress};
use quarry_formats::open_vectors;
use quarry_partition::SizeStats;
use quarry_storage::{IndexWriter, PartitionView};
use std::path::{Path, PathBuf};

/// The partitions holding each vector id, ascending (several with replication).
pub type Holders = Vec<Vec<u32>>;

impl Index {
    /// Reads every partition once through the search I/O pool (each extent verified)
    /// and calls `f(id, partition)` for every stored vector, in disk order of arrival.
    pub fn for_each_stored_id(
        &self,
        mut f: impl FnMut(u64, u32) -> Result<(), EngineError>,
    ) -> Result<(), EngineError> {
        let snap = self.snapshot();
        let pids: Vec<u32> = (0..snap.num_partitions() as u32).collect();
        for loaded in self
            .pool
            .stream(snap.store.clone(), &pids, self.opts.read_ahead)
        {
            let loaded = loaded?;
            let count = snap.table[loaded.pid as usize].count as usize;
            let view = PartitionView::parse(loaded.bytes(), count, self.dim(), self.dtype())?;
            for id in view.ids() {
                f(id, loaded.pid)?;
            }
        }
        Ok(())
    }

    /// Reads every partition once (verified) and lists, per vector id, the
    /// partitions that store it; the list ends at the largest id.
    pub fn holders(&self) -> Result<Holders, EngineError> {
        let n = self.files_len() as usize;
        let mut holders: Holders = Vec::new();
        self.for_each_stored_id(|id, pid| {
            if id as usize >= n {
                return Err(EngineError::BadBuild(format!(
                    "partition {pid} holds id {id} but the index stores {n} vectors"
                )));
            }
            if holders.len() <= id as usize {
                holders.resize(id as usize + 1, Vec::new());
            }
            holders[id as usize].push(pid);
            Ok(())
        })?;
        for h in &mut holders {
            h.sort_unstable();
        }
        Ok(holders)
    }
}

/// What a rewrite did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RewriteReport {
    pub dir: PathBuf,
    pub num_vectors: u64,
    /// Stored copies beyond one per vector, before and after the rewrite.
    pub copies_before: u64,
    pub copies_after: u64,
    pub sizes: SizeStats,
}

/// Writes `out`: the index `index` (built from `base`) with `extra` (id, partition)
/// copies added; copies already present are skipped. Centroids, metric and every
/// existing placement stay as they are. `note` is recorded in the manifest's build
/// section under "duplication".
pub fn rewrite_with_copies(
    index: &Index,
    base: &Path,
    out: &Path,
    extra: &[(u64, u32)],
    note: serde_json::Value,
    mem_budget_mb: usize,
    progress: &dyn Progress,
) -> Result<RewriteReport, EngineError> {
    let src = open_vectors(base)?;
    // Before reading every partition: the file must be the index's own base.
    index.check_base(src.as_ref())?;
    let mut holders = index.holders()?;
    let n = holders.len();
    let np = index.num_partitions() as u32;
    if let Some(&(id, p)) = extra.iter().find(|&&(id, p)| id as usize >= n || p >= np) {
        return Err(EngineError::BadBuild(format!(
            "copy of vector {id} into partition {p} is out of range ({n} vectors, {np} partitions)"
        )));
    }
    if let Some(id) = holders.iter().position(|h| h.is_empty()) {
        return Err(EngineError::BadBuild(format!(
            "vector {id} is stored in no partition; the index is incomplete"
        )));
    }
    let copies_before: u64 = holders.iter().map(|h| h.len() as u64 - 1).sum();
    for &(id, p) in extra {
        let h = &mut holders[id as usize];
        if let Err(at) = h.binary_search(&p) {
            h.insert(at, p);
        }
    }
    let primary: Vec<u32> = holders.iter().map(|h| h[0]).collect();
    let extras: Vec<(u64, u32)> = holders
        .iter()
        .enumerate()
        .flat_map(|(id, h)| h[1..].iter().map(move |&p| (id as u64, p)))
        .collect();
    let mut sizes = vec![0u64; np as usize];
    holders
        .iter()
        .flatten()
        .for_each(|&p| sizes[p as usize] += 1);
    drop(holders);

    let budget = mem_budget_mb.max(1) << 20;
    let row_bytes = src.dim() * (src.dtype().size() + 4);
    let chunk_rows = (budget / 4 / row_bytes).max(1);
    let mut writer = IndexWriter::create(out, index.dim(), index.dtype(), index.metric())?;
    let snap = index.snapshot();
    writer.write_centroids(snap.centroids.centroids())?;
    write_partitions(
        src.as_ref(),
        &primary,
        &extras,
        &sizes,
        budget,
        chunk_rows,
        &mut writer,
        progress,
        None,
    )?;
    let mut build = index.build_info()?;
    build.duplication = Some(note);
    build.copies = Some(extras.len() as u64);
    writer.set_distinct_vectors(n as u64);
    {
        // The metadata is per id, unchanged; the members follow the new copies.
        use crate::filtered::{members, FILTERS_FILE, MEMBERS_FILE};
        let mem = members::from_assignment(sizes.len(), &primary, &extras);
        writer.write_file(MEMBERS_FILE, &members::to_bytes(&mem))?;
        if let Some(f) = &snap.filters {
            writer.write_file(FILTERS_FILE, &f.meta.to_bytes())?;
        }
    }
    let dir = writer.finish(build.to_json(), Vec::new())?;
    Ok(RewriteReport {
        dir,
        num_vectors: n as u64,
        copies_before,
        copies_after: extras.len() as u64,
        sizes: SizeStats::of(&sizes),
    })
}
