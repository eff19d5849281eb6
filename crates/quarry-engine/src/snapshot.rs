//! The committed state of an index's files as one handle sees it: what a search
//! reads from. A flush builds the next snapshot beside the current one and swaps
//! it in whole (`Index::install`), so a search that took the old one finishes on
//! it (its open files stay readable after the flush removes them) and searches
//! never wait for a flush.

use crate::filtered::FilterIndex;
use crate::graphs::Graphs;
use crate::search::CostModel;
use quarry_routing::CentroidIndex;
use quarry_storage::{Attached, Manifest, PartitionEntry, PartitionStore};
use roaring::RoaringTreemap;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Clone)]
pub struct Snapshot {
    pub(crate) manifest: Manifest,
    pub(crate) table: Vec<PartitionEntry>,
    pub(crate) centroids: Arc<CentroidIndex>,
    pub(crate) store: Arc<dyn PartitionStore>,
    /// `data.bin`, named in the errors of searchers that read pages themselves.
    pub(crate) data_path: PathBuf,
    /// Per-partition graphs (when built, and no flush has replaced the extents).
    pub(crate) graphs: Option<Arc<Graphs>>,
    /// What `Strategy::Auto` predicts costs with (attached, or the default).
    pub(crate) cost_model: CostModel,
    /// Open handles of the attached files of `manifest`.
    pub(crate) attached: Attached,
    /// Labels, attributes and partition members (indexes built with metadata).
    pub(crate) filters: Option<FilterIndex>,
    /// Each partition's ids (`members.bin`; indexes built before it was written
    /// have none).
    pub(crate) members: Option<Arc<Vec<RoaringTreemap>>>,
}

impl Snapshot {
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    pub fn centroids(&self) -> &CentroidIndex {
        &self.centroids
    }
    /// The cost model `Strategy::Auto` uses: the attached one, or the default.
    pub fn cost_model(&self) -> &CostModel {
        &self.cost_model
    }
    /// The labels and attributes in the files, if the index has them.
    pub fn metadata(&self) -> Option<&crate::Metadata> {
        self.filters.as_ref().map(|f| &f.meta)
    }
    pub fn num_partitions(&self) -> usize {
        self.table.len()
    }
    pub fn partition_sizes(&self) -> Vec<u64> {
        self.table.iter().map(|e| e.count).collect()
    }
}
