//! `verify`: every file, every checksum and every invariant of an index, with a
//! list of exactly what is wrong; `repair` removes only what a crashed writer
//! leaves (temp files, generations no manifest names), never data.

use crate::{EngineError, Index, OpenOptions};
use quarry_storage::{files, AlignedBuf, IoMode, Manifest, WriterLock, LOCK_FILE};
use serde::Serialize;
use std::path::Path;

/// What `verify` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Partitions whose extents were read and checked.
    pub partitions_checked: usize,
    pub bytes_checked: u64,
    /// Attached files read and checked (graphs, router models, ...).
    pub files_checked: Vec<String>,
    /// Everything wrong, one line each; empty when the index is sound.
    pub problems: Vec<String>,
    /// Files a writer left (temp files, unreferenced generations): harmless, removed
    /// by the next writer or `repair`.
    pub leftovers: Vec<String>,
    /// Files in the directory that are neither the index's nor a writer's.
    pub unknown_files: Vec<String>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the index at `dir`. An error only when it cannot be checked at all (no
/// such directory); everything wrong with an index is in the report.
pub fn verify(dir: &Path) -> Result<VerifyReport, EngineError> {
    let mut r = VerifyReport::default();
    let manifest = match Manifest::load(dir) {
        Ok(m) => m,
        Err(e @ quarry_storage::StorageError::NotAnIndex { .. }) => return Err(e.into()),
        Err(e) => {
            r.problems.push(e.to_string());
            return Ok(r);
        }
    };
    classify_directory(dir, &manifest, &mut r);
    // Opening checks the table, the centroids, data.bin's size, and loads (and so
    // checks) the graphs, the page checksums and the cost model.
    let index = match Index::open(
        dir,
        OpenOptions {
            io: IoMode::Buffered,
            ..Default::default()
        },
    ) {
        Ok(i) => i,
        Err(e) => {
            r.problems.push(e.to_string());
            return Ok(r);
        }
    };
    // Every extent, each against its own checksum (all of them, not the first bad).
    // With filters, each partition's ids are exactly its member bitmap.
    let mut buf = AlignedBuf::new();
    let snap = index.snapshot();
    for pid in 0..snap.num_partitions() as u32 {
        match snap.store.read_into(pid, &mut buf) {
            Ok(()) => {
                r.partitions_checked += 1;
                r.bytes_checked += buf.len() as u64;
                if let Some(members) = &snap.members {
                    let e = &snap.table[pid as usize];
                    let ids = quarry_storage::PartitionView::parse(
                        buf.as_slice(),
                        e.count as usize,
                        index.dim(),
                        index.dtype(),
                    )
                    .map(|v| v.ids().collect::<roaring::RoaringTreemap>());
                    match ids {
                        Ok(ids) if ids == members[pid as usize] => {}
                        Ok(_) => r.problems.push(format!(
                            "partition {pid}: its ids differ from members.bin's list"
                        )),
                        Err(e) => r.problems.push(format!("partition {pid}: {e}")),
                    }
                }
            }
            Err(e) => r.problems.push(format!("partition {pid}: {e}")),
        }
    }
    // Labels and attributes describe exactly the vectors the partitions hold.
    if let (Some(f), Some(members)) = (&snap.filters, &snap.members) {
        let mut all = roaring::RoaringTreemap::new();
        members.iter().for_each(|m| all |= m);
        if f.meta.ids() != all {
            r.problems.push(format!(
                "filters.bin describes {} vectors that are not exactly the {} the partitions hold",
                f.meta.len(),
                all.len()
            ));
        }
    }
    for name in manifest.files.keys() {
        if [files::CENTROIDS, files::TABLE, files::DATA].contains(&name.as_str()) {
            continue;
        }
        match index.read_file(name) {
            Ok(_) => r.files_checked.push(name.clone()),
            Err(e) => r.problems.push(e.to_string()),
        }
    }
    // Models decode and fit the index.
    if manifest
        .routers
        .iter()
        .any(|k| k == quarry_routing::pruning::PRUNING_ROUTER)
    {
        if let Err(e) = index.pruning_model() {
            r.problems.push(format!("gbdt router: {e}"));
        }
    }
    if manifest
        .routers
        .iter()
        .any(|k| k == quarry_routing::mlp::ROUTER_KIND)
    {
        // A model older than splits is stale, not damaged (see `stale_routers`).
        let stale = matches!(index.stale_routers(), Ok(s) if s.iter().any(|x| x.0 == "mlp"));
        if !stale {
            if let Err(e) = index.mlp_model() {
                r.problems.push(format!("mlp router: {e}"));
            }
        }
    }
    if let Err(e) = index.build_info() {
        r.problems.push(e.to_string());
    }
    Ok(r)
}

/// Removes a crashed writer's leftovers (under the writer lock); returns them.
pub fn repair(dir: &Path) -> Result<Vec<String>, EngineError> {
    let lock = WriterLock::acquire(dir)?;
    let manifest = Manifest::load(lock.dir())?;
    Ok(quarry_storage::sweep(lock.dir(), &manifest))
}

fn classify_directory(dir: &Path, m: &Manifest, r: &mut VerifyReport) {
    let named: Vec<String> = m
        .files
        .iter()
        .map(|(n, e)| e.stored_name(n).to_string())
        .collect();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == files::MANIFEST
            || name == LOCK_FILE
            || name == quarry_storage::wal::WAL_FILE
            || named.contains(&name)
        {
            continue;
        }
        if quarry_storage::is_writer_leftover(&name) {
            r.leftovers.push(name);
        } else {
            r.unknown_files.push(name);
        }
    }
    for (n, e) in &m.files {
        if !dir.join(e.stored_name(n)).exists() {
            r.problems.push(format!(
                "{} is listed in the manifest but missing",
                e.stored_name(n)
            ));
        }
    }
    r.leftovers.sort();
    r.unknown_files.sort();
}
