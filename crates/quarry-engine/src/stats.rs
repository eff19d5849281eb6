use quarry_kernels::Neighbor;
use serde::Serialize;
use std::time::Duration;

/// What one query cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct QueryStats {
    pub partitions: u32,
    /// Distance computations for it: the vectors of every partition it scanned, plus
    /// the distances evaluated by graph searches (graph modes).
    pub vectors: u64,
    /// Its share of the bytes read: each partition's bytes divided among the queries
    /// of the batch that probed it (all of them when searched alone).
    pub bytes: f64,
}

/// What a batch cost. Bytes and I/O requests are counted once per batch: a partition
/// shared by many queries is read once, which is what batch-aware execution buys.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BatchStats {
    pub queries: usize,
    pub partitions_read: u64,
    pub io_requests: u64,
    pub bytes_read: u64,
    /// Vectors read from storage (each read partition's count, once).
    pub vectors_read: u64,
    pub distance_computations: u64,
    /// (partition, batch) pairs answered by graph search instead of a scan.
    pub graph_searches: u64,
    /// Routing: the centroid ranking plus the router's `select`.
    pub route: Duration,
    /// The router's `select` alone (a learned router's model inference), wall time
    /// and process CPU time (robust to a loaded machine).
    pub select: Duration,
    pub select_cpu: Duration,
    /// Time the compute side waited for a read to complete.
    pub io_wait: Duration,
    /// Scan time summed over worker threads.
    pub compute: Duration,
    pub merge: Duration,
    pub wall: Duration,
    /// What the filter resolved to and the plan taken (filtered searches only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<crate::filtered::FilterStats>,
}

impl BatchStats {
    pub fn add(&mut self, o: &BatchStats) {
        self.queries += o.queries;
        self.partitions_read += o.partitions_read;
        self.io_requests += o.io_requests;
        self.bytes_read += o.bytes_read;
        self.vectors_read += o.vectors_read;
        self.distance_computations += o.distance_computations;
        self.graph_searches += o.graph_searches;
        self.route += o.route;
        self.select += o.select;
        self.select_cpu += o.select_cpu;
        self.io_wait += o.io_wait;
        self.compute += o.compute;
        self.merge += o.merge;
        self.wall += o.wall;
        if self.filter.is_none() {
            self.filter.clone_from(&o.filter);
        }
    }
}

#[derive(Debug, Clone)]
pub struct BatchResult {
    /// Per query, nearest first.
    pub neighbors: Vec<Vec<Neighbor>>,
    pub per_query: Vec<QueryStats>,
    pub stats: BatchStats,
}
