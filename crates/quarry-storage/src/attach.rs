//! Adding files (router models, graphs, a cost model) to a finished index.
//!
//! Files a manifest names are never overwritten. A change writes each new file under
//! a new name carrying the next generation number (`graphs.bin.g3`), syncs it and
//! the directory, then commits one new manifest naming all of them by rename (and
//! syncs the directory again). Only then are the files the old manifest named and
//! the new one does not removed. A crash at any instruction therefore leaves the old
//! index or the new one: before the manifest rename the old manifest names only old,
//! untouched files; after it the new one names only complete, synced files. What a
//! crash leaves behind (temp files, new files no manifest names) is removed by the
//! next writer. Readers hold open handles of the files of the manifest they opened
//! (`reader::Attached`), so removing a replaced file never breaks a running search.

use crate::manifest::{FileEntry, Manifest};
use crate::{files, StorageError, WriterLock};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::path::Path;

/// Suffix of a file being written (followed by nothing else; see `write_synced`).
const TMP_SUFFIX: &str = ".quarry-tmp";

/// Attaches one file (see [`attach_files`]).
pub fn attach_file(
    lock: &WriterLock,
    name: &str,
    bytes: &[u8],
    router: Option<&str>,
) -> Result<Manifest, StorageError> {
    attach_files(lock, &[(name, bytes)], router.as_slice())
}

/// Adds or replaces the files `files` (name, bytes) of the index `lock` guards in
/// one commit, lists each in the manifest with its crc32c and records the router
/// kinds `routers` in `manifest.routers`. The core index files cannot be replaced.
/// Only the holder of the index's [`WriterLock`] may call this, so two writers
/// never interleave their changes.
pub fn attach_files(
    lock: &WriterLock,
    new_files: &[(&str, &[u8])],
    routers: &[&str],
) -> Result<Manifest, StorageError> {
    for (name, _) in new_files {
        check_name(name)?;
    }
    let dir = lock.dir();
    let old = Manifest::load(dir)?;
    // Leftovers of a writer that crashed: ours to remove, we hold the lock.
    sweep(dir, &old);
    let mut manifest = old.clone();
    manifest.generation = old.generation + 1;
    let mut written = Vec::new();
    let staged = (|| {
        for (name, bytes) in new_files {
            let stored = format!("{name}.g{}", manifest.generation);
            write_synced(&dir.join(&stored), bytes)?;
            written.push(stored.clone());
            manifest.files.insert(
                name.to_string(),
                FileEntry {
                    bytes: bytes.len() as u64,
                    crc32c: Some(crc32c::crc32c(bytes)),
                    stored_as: Some(stored),
                },
            );
        }
        // The new files' names are durable before a manifest names them.
        sync_dir(dir)?;
        for kind in routers {
            if !manifest.routers.iter().any(|r| r == kind) {
                manifest.routers.push(kind.to_string());
            }
        }
        write_synced(&dir.join(files::MANIFEST), &manifest.to_bytes())?;
        sync_dir(dir)
    })();
    if let Err(e) = staged {
        // Full disk, I/O error: the old manifest stands; leave nothing of ours.
        for f in &written {
            let _ = std::fs::remove_file(dir.join(f));
        }
        return Err(e);
    }
    // Committed. The replaced files are no longer named by any manifest.
    let keep = stored_names(&manifest);
    for name in stored_names(&old).difference(&keep) {
        let _ = std::fs::remove_file(dir.join(name));
    }
    Ok(manifest)
}

fn check_name(name: &str) -> Result<(), StorageError> {
    let reserved = [files::MANIFEST, files::CENTROIDS, files::TABLE, files::DATA];
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if reserved.contains(&name) || !plain {
        return Err(StorageError::Payload(format!(
            "cannot attach a file named {name:?}: names are plain file names other than \
             the core index files"
        )));
    }
    Ok(())
}

/// The on-disk names of every file `m` lists.
pub(crate) fn stored_names(m: &Manifest) -> BTreeSet<String> {
    m.files
        .iter()
        .map(|(name, e)| e.stored_name(name).to_string())
        .collect()
}

/// Whether `name` looks like a file this module writes: a temp file, or a
/// generation-numbered one (`<name>.g<digits>`).
pub fn is_writer_leftover(name: &str) -> bool {
    ours(name)
}

fn ours(name: &str) -> bool {
    if name.ends_with(TMP_SUFFIX) {
        return true;
    }
    match name.rsplit_once(".g") {
        Some((stem, gen)) => {
            !stem.is_empty() && !gen.is_empty() && gen.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// Removes temp files and generation files `m` does not name (a crashed writer's
/// leftovers). Returns what it removed. Call only while holding the writer lock.
pub fn sweep(dir: &Path, m: &Manifest) -> Vec<String> {
    let keep = stored_names(m);
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return removed;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if ours(&name) && !keep.contains(&name) && std::fs::remove_file(e.path()).is_ok() {
            removed.push(name);
        }
    }
    removed.sort();
    removed
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::io(dir, e))
}

/// Temporary sibling (named by this process's pid, so no two processes ever share
/// one), synced, then renamed over `path`.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}{TMP_SUFFIX}", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    if crate::refusing_new_files() {
        return Err(StorageError::Payload("the process is shutting down".into()));
    }
    let written = File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .map_err(|e| StorageError::io(&tmp, e))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| StorageError::io(path, e)));
    if written.is_err() {
        // Full disk, I/O error: leave nothing behind.
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::ours;

    #[test]
    fn recognises_only_its_own_names() {
        for n in ["graphs.bin.g3", "a.g12", "manifest.json.77.quarry-tmp"] {
            assert!(ours(n), "{n}");
        }
        for n in [
            "graphs.bin",
            "data.bin",
            ".g3",
            "a.g",
            "a.gx1",
            "pruning.model",
            "x.gz",
        ] {
            assert!(!ours(n), "{n}");
        }
    }
}
