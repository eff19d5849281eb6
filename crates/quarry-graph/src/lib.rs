//! Layer 5 of Quarry: HNSW graphs (one per partition, and one over the centroids when
//! they are many), with the adjacency kept apart from the vectors.
//!
//! Why our own HNSW rather than a crate: hnswlib-rs 0.9+ needs a nightly compiler and
//! 0.8 owns its search loop, so it could not count distance evaluations, batch a hop's
//! distance requests into one set of page reads (graph-guided partial reads), nor
//! store a graph as compact `u32` lists with a byte-exact, seeded file format. A graph
//! here is only ids: vectors come through [`VectorAccess`] (the partition buffer just
//! read, or a reader that fetches the 4 KiB pages a search touches).

mod access;
mod build;
mod file;
mod hnsw;

pub use access::{SliceVectors, VectorAccess};
pub use build::{build_graph, HnswParams};
pub use file::{decode_graphs, encode_graphs, GraphSet};
pub use hnsw::{Graph, SearchScratch, SearchStats};

/// Largest search breadth (`ef`, `ef_construction`) a caller may ask for: beyond it a
/// search explores a partition exhaustively anyway, and a scan is cheaper. Front ends
/// check their flags against it; searches size their buffers by the graph, not `ef`.
pub const MAX_EF: usize = 1 << 16;

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("graph file is corrupt: {0}; rebuild it with `quarry graph-build`")]
    Corrupt(String),
    #[error("invalid graph parameter: {0}")]
    BadParam(String),
    #[error("reading vectors for the graph search failed: {0}")]
    Access(String),
}
