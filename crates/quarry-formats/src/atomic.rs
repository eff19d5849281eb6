//! Write-to-temporary-then-rename, so a crash never leaves a half-written file under
//! the final name.

use crate::FormatError;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub struct AtomicFile {
    final_path: PathBuf,
    tmp_path: PathBuf,
    out: Option<BufWriter<File>>,
}

/// `<path>.<pid>.quarry-tmp`, next to the target so the rename stays on one
/// filesystem, and named by the process so two writers never share one (and a
/// terminated writer's are found and removed: see the CLI's `terminate`).
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{}.quarry-tmp", std::process::id()));
    PathBuf::from(s)
}

/// Removes `<path>.<pid>.quarry-tmp` files of writers that are gone (killed before
/// they could clean up); a running writer's stay.
fn remove_stale_tmps(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let f = e.file_name().to_string_lossy().into_owned();
        let dead = f
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(".quarry-tmp"))
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
        if dead {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<Self, FormatError> {
        if crate::refusing_new_files() {
            return Err(FormatError::invalid(path, "the process is shutting down"));
        }
        remove_stale_tmps(path);
        let tmp = tmp_path(path);
        let file = File::create(&tmp).map_err(|e| FormatError::io(&tmp, e))?;
        Ok(AtomicFile {
            final_path: path.to_path_buf(),
            tmp_path: tmp,
            out: Some(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), FormatError> {
        let tmp = &self.tmp_path;
        match self.out.as_mut() {
            Some(out) => out.write_all(bytes).map_err(|e| FormatError::io(tmp, e)),
            None => Err(FormatError::invalid(
                &self.final_path,
                "file already finished",
            )),
        }
    }

    /// Flushes, optionally overwrites `patch.1` at byte offset `patch.0` (a header
    /// field only known at the end), syncs and renames into place.
    pub fn commit(mut self, patch: Option<(u64, &[u8])>) -> Result<(), FormatError> {
        let tmp = self.tmp_path.clone();
        let Some(out) = self.out.take() else {
            return Err(FormatError::invalid(
                &self.final_path,
                "file already finished",
            ));
        };
        let file = out
            .into_inner()
            .map_err(|e| FormatError::io(&tmp, e.into_error()))?;
        if let Some((offset, bytes)) = patch {
            file.write_all_at(bytes, offset)
                .map_err(|e| FormatError::io(&tmp, e))?;
        }
        file.sync_all().map_err(|e| FormatError::io(&tmp, e))?;
        drop(file);
        std::fs::rename(&tmp, &self.final_path)
            .map_err(|e| FormatError::io(&self.final_path, e))?;
        // Best effort: make the rename itself durable.
        if let Some(dir) = self
            .final_path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // Not committed (error or early return): do not leave the temporary behind.
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp_path);
        }
    }
}
