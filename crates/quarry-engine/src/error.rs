use quarry_formats::FormatError;
use quarry_partition::PartitionError;
use quarry_routing::RoutingError;
use quarry_storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Partition(#[from] PartitionError),
    #[error(transparent)]
    Routing(#[from] RoutingError),
    #[error(transparent)]
    Filter(#[from] quarry_filter::FilterError),
    #[error("invalid write: {0}")]
    BadWrite(String),
    /// A write on an index opened for reading.
    #[error("index {} was opened for reading; open it as the writer to change it", dir.display())]
    NotWriter { dir: std::path::PathBuf },
    #[error("index {} does not take writes yet: {why}", dir.display())]
    NotWritable {
        dir: std::path::PathBuf,
        why: &'static str,
    },
    #[error("the in-memory delta holds {used} bytes of its {budget}-byte budget; flush before writing more")]
    DeltaFull { used: u64, budget: u64 },
    /// A filtered search on an index built without labels or attributes.
    #[error("index {} has no labels or attributes to filter on; build it with --labels/--attr", dir.display())]
    NoMetadata { dir: std::path::PathBuf },
    #[error("query has {got} dimensions, index expects {want}")]
    QueryDim { got: usize, want: usize },
    #[error("query batch of {len} values is not a whole number of {dim}-dimensional queries")]
    BatchShape { len: usize, dim: usize },
    #[error("query {query} has a non-finite value at component {component}; replace NaN/Inf before searching")]
    NonFinite { query: usize, component: usize },
    #[error("empty batch: pass at least one query")]
    EmptyBatch,
    #[error("k must be at least 1")]
    ZeroK,
    #[error("k = {k} exceeds the {n} vectors in the index; use k <= {n}")]
    KTooLarge { k: usize, n: u64 },
    #[error("k = {k} exceeds the {n} vectors in the base file; use k <= {n}")]
    KTooLargeForBase { k: usize, n: u64 },
    #[error("invalid build parameter: {0}")]
    BadBuild(String),
    /// A command was given a base file that is not the one the index was built from.
    #[error("{base} is not the base index {} was built from: {why}", index.display())]
    WrongBase {
        base: String,
        index: std::path::PathBuf,
        why: String,
    },
    /// A learned router was asked for and the index holds no model for it.
    #[error("index {} has no {router} router model", dir.display())]
    NoModel {
        router: &'static str,
        dir: std::path::PathBuf,
    },
    #[error(transparent)]
    Graph(#[from] quarry_graph::GraphError),
    #[error("the {mode} strategy needs per-partition graphs, and {} has none", dir.display())]
    NoGraphs {
        mode: &'static str,
        dir: std::path::PathBuf,
    },
    /// A flush replaced the files' snapshot while a batch was being planned on
    /// it; the batch starts again on the new one (seen by callers only after
    /// many flushes in a row).
    #[error(
        "the index files changed under the search (flushes kept replacing them); search again"
    )]
    SnapshotMoved,
    #[error("invalid search parameter: {0}")]
    BadSearch(String),
    #[error("cannot start {threads} {what} threads: {source}")]
    Threads {
        what: &'static str,
        threads: usize,
        source: rayon::ThreadPoolBuildError,
    },
    #[error("{what} = {got} is out of range: use {min}..={max}")]
    OutOfRange {
        what: &'static str,
        got: u64,
        min: u64,
        max: u64,
    },
}

/// `got` in `min..=max`, or [`EngineError::OutOfRange`] naming `what`.
pub(crate) fn check_range(
    what: &'static str,
    got: usize,
    min: usize,
    max: usize,
) -> Result<(), EngineError> {
    if (min..=max).contains(&got) {
        Ok(())
    } else {
        Err(EngineError::OutOfRange {
            what,
            got: got as u64,
            min: min as u64,
            max: max as u64,
        })
    }
}

/// Checks shared by every entry point that takes a row-major block of queries:
/// not empty, a whole number of `dim`-dimensional rows, and k >= 1.
pub(crate) fn check_query_block(queries: &[f32], dim: usize, k: usize) -> Result<(), EngineError> {
    if queries.is_empty() {
        return Err(EngineError::EmptyBatch);
    }
    if !queries.len().is_multiple_of(dim) {
        return Err(EngineError::BatchShape {
            len: queries.len(),
            dim,
        });
    }
    if k == 0 {
        return Err(EngineError::ZeroK);
    }
    Ok(())
}
