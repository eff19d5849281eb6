//! A flush's commit: new partition table and members, a new data segment, files
//! dropped, manifest fields changed, all in one manifest rename. The same
//! protocol as `attach_files` (new files under generation names, synced, then the
//! manifest, then the replaced files removed), so a crash at any instruction
//! leaves the old index or the new one, and readers holding the old files'
//! handles finish on them.

use crate::attach::{stored_names, sync_dir, write_synced};
use crate::manifest::{FileEntry, Manifest};
use crate::{files, StorageError, WriterLock};
use std::path::PathBuf;

/// What one commit changes.
#[derive(Default)]
pub struct Change<'a> {
    /// Files to add or replace (the partition table included), written here as the
    /// next generation.
    pub files: Vec<(&'a str, &'a [u8])>,
    /// A data segment the caller wrote and synced at `dir/<stored name>` (a name
    /// ending in `.g<generation>`, so a crashed writer's is swept): (manifest name,
    /// stored name, bytes).
    pub segment: Option<(String, String, u64)>,
    /// Files the new manifest no longer lists.
    pub drop: Vec<String>,
}

/// The generation the next commit of the index at `lock` gets (its segment's
/// stored name carries it).
pub fn next_generation(lock: &WriterLock) -> Result<u64, StorageError> {
    Ok(Manifest::load(lock.dir())?.generation + 1)
}

/// A path for a segment of the next generation (see [`Change::segment`]).
pub fn segment_path(lock: &WriterLock, name: &str, generation: u64) -> (String, PathBuf) {
    let stored = format!("{name}.g{generation}");
    let path = lock.dir().join(&stored);
    (stored, path)
}

/// Commits `change` and `edit` (applied to the new manifest) in one rename.
pub fn commit_change(
    lock: &WriterLock,
    change: Change<'_>,
    edit: impl FnOnce(&mut Manifest),
) -> Result<Manifest, StorageError> {
    let dir = lock.dir();
    let old = Manifest::load(dir)?;
    for (name, _) in &change.files {
        if [files::MANIFEST, files::DATA].contains(name) {
            return Err(StorageError::Payload(format!(
                "a commit cannot replace {name}"
            )));
        }
    }
    let mut manifest = old.clone();
    manifest.generation = old.generation + 1;
    let keep_segment = change.segment.as_ref().map(|s| s.1.clone());
    // Leftovers of a writer that crashed (not the segment just written).
    for name in sweep_names(dir, &old) {
        if Some(&name) != keep_segment.as_ref() {
            let _ = std::fs::remove_file(dir.join(&name));
        }
    }
    let mut written = Vec::new();
    let staged = (|| {
        for (name, bytes) in &change.files {
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
        if let Some((name, stored, bytes)) = &change.segment {
            manifest.files.insert(
                name.clone(),
                FileEntry {
                    bytes: *bytes,
                    crc32c: None,
                    stored_as: Some(stored.clone()),
                },
            );
        }
        for name in &change.drop {
            manifest.files.remove(name);
        }
        edit(&mut manifest);
        sync_dir(dir)?;
        write_synced(&dir.join(files::MANIFEST), &manifest.to_bytes())?;
        sync_dir(dir)
    })();
    if let Err(e) = staged {
        for f in written.iter().chain(keep_segment.iter()) {
            let _ = std::fs::remove_file(dir.join(f));
        }
        return Err(e);
    }
    let keep = stored_names(&manifest);
    for name in stored_names(&old).difference(&keep) {
        let _ = std::fs::remove_file(dir.join(name));
    }
    Ok(manifest)
}

/// What `attach::sweep` would remove (same rule), without removing it.
fn sweep_names(dir: &std::path::Path, m: &Manifest) -> Vec<String> {
    let keep = stored_names(m);
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| crate::attach::is_writer_leftover(n) && !keep.contains(n))
                .collect()
        })
        .unwrap_or_default()
}
