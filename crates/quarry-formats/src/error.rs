use std::path::PathBuf;

/// Errors name the file, the byte offset where it went wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}
