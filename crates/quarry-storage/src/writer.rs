//! Writes an index into a temporary sibling directory and renames it into place
//! only after every file is written and synced: a crash leaves no index or a whole one.
//!
//! The scratch directory is `.NAME.PID.quarry-partial`: named by the writing process,
//! so two builds to one destination never write into (or delete) each other's; the
//! loser of the final rename gets `Exists`. A writer that fails removes its scratch
//! directory; one that was killed leaves it, and the next build of the same
//! destination removes every scratch directory whose process is gone (and one of its
//! own process: a process builds one destination at a time).

use crate::layout::{encode_extent, payload_bytes};
use crate::manifest::{FileEntry, Manifest, FORMAT_NAME, FORMAT_VERSION};
use crate::table::{self, PartitionEntry};
use crate::{files, StorageError};
use quarry_kernels::{DType, Metric};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The contents of one partition: ids and the vectors as raw little-endian bytes in
/// the index dtype (`ids.len() * dim * dtype.size()` bytes).
pub struct PartitionPayload<'a> {
    pub ids: &'a [u64],
    pub vectors: &'a [u8],
}

pub struct IndexWriter {
    final_dir: PathBuf,
    tmp_dir: PathBuf,
    dim: usize,
    dtype: DType,
    metric: Metric,
    data: BufWriter<File>,
    data_len: u64,
    table: Vec<PartitionEntry>,
    files: BTreeMap<String, FileEntry>,
    extent: Vec<u8>,
    distinct_vectors: Option<u64>,
    /// Renamed into place: nothing to clean up on drop.
    finished: bool,
}

const PARTIAL_SUFFIX: &str = "quarry-partial";

/// `.NAME.PID.quarry-partial`: the scratch directory of process `pid` building `name`.
fn partial_name(name: &str, pid: u32) -> String {
    format!(".{name}.{pid}.{PARTIAL_SUFFIX}")
}

/// Whether process `pid` exists (signal 0 checks without sending anything).
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 has no effect beyond the existence/permission check.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Removes the scratch directories of `name` in `parent` left by builds that are no
/// longer running (and the pid-less name earlier versions used); those of running
/// builds stay.
fn remove_stale_partials(parent: &Path, name: &str) -> Result<(), StorageError> {
    let legacy = format!(".{name}.{PARTIAL_SUFFIX}");
    let prefix = format!(".{name}.");
    let suffix = format!(".{PARTIAL_SUFFIX}");
    let entries = std::fs::read_dir(parent).map_err(|e| StorageError::io(parent, e))?;
    for e in entries {
        let e = e.map_err(|e| StorageError::io(parent, e))?;
        let file_name = e.file_name();
        let Some(f) = file_name.to_str() else {
            continue;
        };
        let stale = f == legacy
            || f.strip_prefix(&prefix)
                .and_then(|r| r.strip_suffix(&suffix))
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| pid == std::process::id() || !process_alive(pid));
        if stale {
            let p = e.path();
            std::fs::remove_dir_all(&p).map_err(|e| StorageError::io(&p, e))?;
        }
    }
    Ok(())
}

/// A scratch path beside `out` for building an index and then adding parts to it
/// (graphs, router models) before anyone can open it: `.NAME.PID.quarry-partial`,
/// so a killed command's staging is removed by the next build of `out`, like a
/// build's own scratch directory. Stale ones are removed now.
pub fn staging_dir(out: &Path) -> Result<PathBuf, StorageError> {
    if out.exists() {
        return Err(StorageError::Exists {
            path: out.to_path_buf(),
        });
    }
    let name =
        out.file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| StorageError::NotAnIndex {
                path: out.to_path_buf(),
                reason: "the output path has no file name".into(),
            })?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    remove_stale_partials(&parent, name)?;
    Ok(parent.join(partial_name(name, std::process::id())))
}

/// Moves a finished staging directory to `out` (one rename; `Exists` if `out`
/// appeared meanwhile) and syncs the parent directory.
pub fn publish_staged(staging: &Path, out: &Path) -> Result<(), StorageError> {
    if out.exists() {
        return Err(StorageError::Exists {
            path: out.to_path_buf(),
        });
    }
    std::fs::rename(staging, out).map_err(|e| StorageError::io(out, e))?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Ok(d) = File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

impl Drop for IndexWriter {
    fn drop(&mut self) {
        if !self.finished {
            // An error (a full disk, a refused input) ended this build: leave nothing.
            let _ = std::fs::remove_dir_all(&self.tmp_dir);
        }
    }
}

impl IndexWriter {
    pub fn create(
        dir: &Path,
        dim: usize,
        dtype: DType,
        metric: Metric,
    ) -> Result<Self, StorageError> {
        if dir.exists() {
            return Err(StorageError::Exists {
                path: dir.to_path_buf(),
            });
        }
        if crate::refusing_new_files() {
            return Err(StorageError::Payload("the process is shutting down".into()));
        }
        let name = dir.file_name().ok_or_else(|| StorageError::NotAnIndex {
            path: dir.to_path_buf(),
            reason: "output path has no directory name".into(),
        })?;
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| StorageError::io(&parent, e))?;
        let name = name.to_string_lossy();
        // Left by interrupted builds of this same destination: never an index.
        remove_stale_partials(&parent, &name)?;
        let tmp_dir = parent.join(partial_name(&name, std::process::id()));
        std::fs::create_dir(&tmp_dir).map_err(|e| StorageError::io(&tmp_dir, e))?;
        let data_path = tmp_dir.join(files::DATA);
        let data = File::create(&data_path).map_err(|e| StorageError::io(&data_path, e))?;
        Ok(IndexWriter {
            final_dir: dir.to_path_buf(),
            tmp_dir,
            dim,
            dtype,
            metric,
            data: BufWriter::with_capacity(1 << 20, data),
            data_len: 0,
            table: Vec::new(),
            files: BTreeMap::new(),
            extent: Vec::new(),
            distinct_vectors: None,
            finished: false,
        })
    }

    /// A path for the build's own scratch files inside the partial directory (they
    /// must be removed before `finish`: the manifest lists every file it keeps).
    pub fn scratch_path(&self, name: &str) -> PathBuf {
        self.tmp_dir.join(name)
    }

    /// Writes a small checksummed file (centroids, router models, ...).
    pub fn write_file(&mut self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        if crate::refusing_new_files() {
            return Err(StorageError::Payload("the process is shutting down".into()));
        }
        let path = self.tmp_dir.join(name);
        let mut f = File::create(&path).map_err(|e| StorageError::io(&path, e))?;
        f.write_all(bytes).map_err(|e| StorageError::io(&path, e))?;
        f.sync_all().map_err(|e| StorageError::io(&path, e))?;
        self.files.insert(
            name.to_string(),
            FileEntry {
                bytes: bytes.len() as u64,
                crc32c: Some(crc32c::crc32c(bytes)),
                stored_as: None,
            },
        );
        Ok(())
    }

    pub fn write_centroids(&mut self, centroids: &[f32]) -> Result<(), StorageError> {
        let bytes: Vec<u8> = centroids.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.write_file(files::CENTROIDS, &bytes)
    }

    /// Appends the next partition (partitions are written in id order).
    pub fn append_partition(&mut self, payload: PartitionPayload<'_>) -> Result<(), StorageError> {
        let count = payload.ids.len() as u64;
        let want = payload_bytes(count, self.dim, self.dtype);
        if want != (payload.ids.len() * 8 + payload.vectors.len()) as u64 {
            return Err(StorageError::Payload(format!(
                "{} vector bytes for {count} vectors of {} x {}",
                payload.vectors.len(),
                self.dim,
                self.dtype
            )));
        }
        encode_extent(payload.ids, payload.vectors, &mut self.extent);
        let path = self.tmp_dir.join(files::DATA);
        self.data
            .write_all(&self.extent)
            .map_err(|e| StorageError::io(&path, e))?;
        self.table.push(PartitionEntry {
            offset: self.data_len,
            length: self.extent.len() as u64,
            count,
            crc32c: crc32c::crc32c(&self.extent),
            segment: 0,
        });
        self.data_len += self.extent.len() as u64;
        Ok(())
    }

    pub fn partitions_written(&self) -> usize {
        self.table.len()
    }

    /// Writes the table and the manifest, syncs, and renames the directory into place.
    /// Records how many distinct ids the partitions hold, for indexes that store
    /// copies (`Manifest::distinct_vectors`).
    pub fn set_distinct_vectors(&mut self, n: u64) {
        self.distinct_vectors = Some(n);
    }

    pub fn finish(
        mut self,
        build: serde_json::Value,
        routers: Vec<String>,
    ) -> Result<PathBuf, StorageError> {
        let data_path = self.tmp_dir.join(files::DATA);
        self.data
            .flush()
            .map_err(|e| StorageError::io(&data_path, e))?;
        self.data
            .get_ref()
            .sync_all()
            .map_err(|e| StorageError::io(&data_path, e))?;
        self.files.insert(
            files::DATA.to_string(),
            FileEntry {
                bytes: self.data_len,
                crc32c: None,
                stored_as: None,
            },
        );
        let table_bytes = table::encode(&self.table);
        self.write_file(files::TABLE, &table_bytes)?;
        let stored: u64 = self.table.iter().map(|e| e.count).sum();
        let manifest = Manifest {
            format: FORMAT_NAME.to_string(),
            format_version: FORMAT_VERSION,
            dim: self.dim,
            dtype: self.dtype,
            metric: self.metric,
            num_vectors: stored,
            distinct_vectors: self.distinct_vectors.filter(|&d| d != stored),
            num_partitions: self.table.len(),
            build,
            routers,
            files: std::mem::take(&mut self.files),
            generation: 0,
            applied_seq: 0,
        };
        let mpath = self.tmp_dir.join(files::MANIFEST);
        let mut f = File::create(&mpath).map_err(|e| StorageError::io(&mpath, e))?;
        f.write_all(&manifest.to_bytes())
            .map_err(|e| StorageError::io(&mpath, e))?;
        f.sync_all().map_err(|e| StorageError::io(&mpath, e))?;
        if self.final_dir.exists() {
            return Err(StorageError::Exists {
                path: self.final_dir.clone(),
            });
        }
        // Another build to the same destination may finish between the check and the
        // rename: renaming onto its (non-empty) directory then fails, never replaces it.
        if let Err(e) = std::fs::rename(&self.tmp_dir, &self.final_dir) {
            return Err(
                if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) {
                    StorageError::Exists {
                        path: self.final_dir.clone(),
                    }
                } else {
                    StorageError::io(&self.final_dir, e)
                },
            );
        }
        self.finished = true;
        if let Some(parent) = self.final_dir.parent() {
            // Persist the rename itself.
            if let Ok(d) = File::open(if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            }) {
                let _ = d.sync_all();
            }
        }
        Ok(self.final_dir.clone())
    }
}
