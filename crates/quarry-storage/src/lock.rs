//! One writer per index: every command that changes an existing index holds an
//! exclusive lock on `.quarry-writer.lock` in the index directory for as long as it
//! writes. The lock is an advisory `flock` (std's `File::try_lock`), so the kernel
//! drops it when the holder exits, however it exits: a killed writer never leaves a
//! stale lock behind. A second writer fails at once, naming the holder's pid (which
//! the holder writes into the file after locking it). Readers take no lock.

use crate::StorageError;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Name of the lock file inside an index directory (never listed in a manifest).
pub const LOCK_FILE: &str = ".quarry-writer.lock";

/// The writer lock of one index directory, held until dropped.
#[derive(Debug)]
pub struct WriterLock {
    dir: PathBuf,
    /// The open, locked file: closing it releases the lock.
    _file: File,
}

impl WriterLock {
    /// Takes the writer lock of the index at `dir` without waiting.
    ///
    /// Fails with [`StorageError::Locked`] when another writer holds it (another
    /// process, or another handle of this one: flock locks belong to an open file).
    pub fn acquire(dir: &Path) -> Result<WriterLock, StorageError> {
        if !dir.is_dir() {
            return Err(StorageError::NotAnIndex {
                path: dir.to_path_buf(),
                reason: "no such directory".into(),
            });
        }
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StorageError::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let pid = file
                    .read_to_string(&mut text)
                    .ok()
                    .and_then(|_| text.trim().parse::<u32>().ok());
                return Err(StorageError::Locked {
                    dir: dir.to_path_buf(),
                    holder: match pid {
                        Some(p) => format!("pid {p}"),
                        None => "pid unknown".into(),
                    },
                });
            }
            Err(TryLockError::Error(e)) => return Err(StorageError::io(&path, e)),
        }
        // Ours now: record who holds it, for the message the next writer gets.
        let pid = format!("{}\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.write_all_at(pid.as_bytes(), 0))
            .map_err(|e| StorageError::io(&path, e))?;
        Ok(WriterLock {
            dir: dir.to_path_buf(),
            _file: file,
        })
    }

    /// The index directory this lock guards.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
