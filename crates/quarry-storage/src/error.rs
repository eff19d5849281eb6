use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a Quarry index: {reason}")]
    NotAnIndex { path: PathBuf, reason: String },
    #[error("{path}: index format version {found} is not supported by this Quarry (reads version {supported}); rebuild the index with this version")]
    Version {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("index is corrupt: {file} {what}; the file was damaged after it was written: rebuild the index or restore it from a backup")]
    Corrupt { file: PathBuf, what: String },
    #[error("{path} already exists; remove it or choose another output directory")]
    Exists { path: PathBuf },
    #[error("partition {pid} does not exist (the index has {count} partitions)")]
    NoSuchPartition { pid: u32, count: usize },
    #[error(
        "{path}: the file system does not support direct I/O (O_DIRECT); open it with buffered I/O"
    )]
    DirectUnsupported { path: PathBuf },
    #[error("invalid partition payload: {0}")]
    Payload(String),
    #[error("{what} = {got} is out of range: use {min}..={max}")]
    OutOfRange {
        what: &'static str,
        got: u64,
        min: u64,
        max: u64,
    },
    #[error("cannot start {what} {index} of {threads}: {source}; use fewer threads")]
    Spawn {
        what: &'static str,
        index: usize,
        threads: usize,
        source: std::io::Error,
    },
    #[error("{dir}: index is being changed by another process ({holder}); wait for it to finish, or stop it, and run this command again")]
    Locked { dir: PathBuf, holder: String },
}

impl StorageError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Io {
            path: path.into(),
            source,
        }
    }
}
