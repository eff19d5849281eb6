//! Adding a file (a router model) to a finished index.
//!
//! Learned routers are trained after the partitions exist (their labels come from
//! searching the index), so they join an index that is already complete. The file is
//! written and synced under its final name first, then a new manifest listing it
//! replaces the old one by rename: a crash at any point leaves either the old index
//! (plus an unlisted file that open ignores) or the new one, never a manifest that
//! names a missing or partial file.

use crate::manifest::{FileEntry, Manifest};
use crate::{files, StorageError, WriterLock};
use std::fs::File;
use std::io::Write;
use std::path::Path;

/// Writes `bytes` as `name` in the index `lock` guards, lists it in the manifest with
/// its crc32c and, when `router` is given, records that router kind in
/// `manifest.routers`. Replacing a file attached before is allowed; the core index
/// files are not. Only the holder of the index's [`WriterLock`] may call this, so
/// two writers never interleave their manifest changes.
pub fn attach_file(
    lock: &WriterLock,
    name: &str,
    bytes: &[u8],
    router: Option<&str>,
) -> Result<Manifest, StorageError> {
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
    let dir = lock.dir();
    let mut manifest = Manifest::load(dir)?;
    write_synced(&dir.join(name), bytes)?;
    manifest.files.insert(
        name.to_string(),
        FileEntry {
            bytes: bytes.len() as u64,
            crc32c: Some(crc32c::crc32c(bytes)),
        },
    );
    if let Some(kind) = router {
        if !manifest.routers.iter().any(|r| r == kind) {
            manifest.routers.push(kind.to_string());
        }
    }
    write_synced(&dir.join(files::MANIFEST), &manifest.to_bytes())?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(manifest)
}

/// Temporary sibling (named by this process's pid, so no two processes ever share
/// one), synced, then renamed over `path`.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.quarry-tmp", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
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
