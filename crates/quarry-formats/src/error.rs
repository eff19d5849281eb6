use std::path::PathBuf;

/// Errors name the file, the byte offset where it went wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error(
        "in-memory vectors: {len} values are not a whole, non-empty number of rows of \
         dimension {dim} (dimension must be 1..={max})"
    )]
    BadShape { len: usize, dim: usize, max: usize },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "{path}: reading {len} bytes at byte offset {offset} failed: {source}; \
         check that the file was not truncated or replaced while in use"
    )]
    ReadAt {
        path: PathBuf,
        offset: u64,
        len: usize,
        source: std::io::Error,
    },

    #[error(
        "{path}: unsupported file extension; supported: {supported}; \
         rename the file to its real format or convert it"
    )]
    UnsupportedExtension {
        path: PathBuf,
        supported: &'static str,
    },

    #[error(
        "{path}: file is empty (0 bytes), it contains no vectors; \
         check the path or regenerate the file"
    )]
    EmptyFile { path: PathBuf },

    #[error(
        "{path}: file is {size} bytes, too short for the {what} ({needed} bytes); \
         the file is truncated or not in this format (check the extension)"
    )]
    TooShort {
        path: PathBuf,
        size: u64,
        needed: u64,
        what: &'static str,
    },

    #[error(
        "{path}: truncated file: {size} bytes is not a whole number of {record_size}-byte records \
         (dimension {dim} from the first record); {complete} complete records, then {trailing} stray \
         bytes at byte offset {offset}; re-download the file or cut it to {offset} bytes"
    )]
    Truncated {
        path: PathBuf,
        size: u64,
        dim: usize,
        record_size: u64,
        complete: u64,
        trailing: u64,
        offset: u64,
    },

    #[error(
        "{path}: invalid dimension {dim} at byte offset {offset}; it must be between 1 and {max}; \
         the file is corrupt or not in this format (check the extension)"
    )]
    BadDimension {
        path: PathBuf,
        offset: u64,
        dim: i64,
        max: usize,
    },

    #[error(
        "{path}: dimension changes mid-file: vector {vector} at byte offset {offset} has dimension \
         {found} but the first vector has {expected}; all vectors must have the same dimension, \
         the file is corrupt or a concatenation of different files"
    )]
    DimensionChanged {
        path: PathBuf,
        offset: u64,
        vector: usize,
        expected: usize,
        found: i64,
    },

    #[error(
        "{path}: header promises {n} vectors of dimension {dim} ({expected} bytes in all) but the \
         file is only {actual} bytes; the file is truncated or its header is corrupt, \
         re-download or regenerate it"
    )]
    HeaderExceedsFile {
        path: PathBuf,
        n: u64,
        dim: u64,
        expected: u64,
        actual: u64,
    },

    #[error(
        "{path}: header describes {n} vectors of dimension {dim} ({expected} bytes in all) but the \
         file is {actual} bytes, with unexpected bytes from byte offset {expected}; the header count \
         is wrong or the file has trailing garbage, regenerate it"
    )]
    TrailingData {
        path: PathBuf,
        n: u64,
        dim: u64,
        expected: u64,
        actual: u64,
    },

    #[error(
        "{path}: non-finite value ({kind}) at byte offset {offset} (vector {vector}, component \
         {component}); remove or replace non-finite values"
    )]
    NonFinite {
        path: PathBuf,
        offset: u64,
        vector: usize,
        component: usize,
        kind: &'static str,
    },

    #[error(
        "{path}: requested rows {start}..{end} but the file has only {len} vectors; \
         keep start + rows <= len()",
        end = .start.saturating_add(*.rows)
    )]
    OutOfRange {
        path: PathBuf,
        start: usize,
        rows: usize,
        len: usize,
    },

    #[error("{path}: contains no vectors; it needs at least one row, check the file")]
    NoVectors { path: PathBuf },

    #[error(
        "{path}: malformed .npy header at byte offset {offset}: {reason}; \
         re-save the array with numpy.save"
    )]
    NpyHeader {
        path: PathBuf,
        offset: u64,
        reason: String,
    },

    #[error(
        "{path}: unsupported .npy dtype '{descr}'; supported are '<f4' (float32), '|u1' (uint8) \
         and '|i1' (int8), convert with arr.astype(numpy.float32) and re-save"
    )]
    NpyDtype { path: PathBuf, descr: String },

    #[error(
        "{path}: .npy array has shape {shape}, expected a 2-D (n, d) array; \
         reshape it with arr.reshape(n, d) and re-save"
    )]
    NpyShape { path: PathBuf, shape: String },

    #[error(
        "{path}: negative neighbor id {id} at byte offset {offset} (query {query}, rank {rank}); \
         ground-truth ids must be non-negative row numbers, regenerate the ground truth"
    )]
    NegativeId {
        path: PathBuf,
        offset: u64,
        query: usize,
        rank: usize,
        id: i32,
    },

    #[error("{path}: cannot write: {reason}")]
    InvalidInput { path: PathBuf, reason: String },

    #[error("{path}: {reason}")]
    BadIds { path: PathBuf, reason: String },
}

impl FormatError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        FormatError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn invalid(path: &std::path::Path, reason: impl Into<String>) -> Self {
        FormatError::InvalidInput {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}
