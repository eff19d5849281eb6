//! Graph-guided partial reads (DiskANN's trade): instead of the whole partition, read
//! only the 4 KiB pages holding the vectors a graph search visits. Each hop asks for
//! all its unvisited neighbours at once; their missing pages are read in aligned runs
//! of consecutive pages (one I/O per run, direct I/O like every other read) and each
//! page is verified against the index's page checksums before use. Pages stay cached
//! for the rest of the batch, so the queries a batch routes to one partition share
//! them. Ids sit apart from vectors in an extent (all ids first), so the ids of the
//! final top-k are fetched the same way.

use super::{Answers, PartitionJob, PartitionSearcher};
use crate::EngineError;
use quarry_graph::{Graph, GraphError, SearchScratch, VectorAccess};
use quarry_kernels::{pair_distance, simd, with_element, DType, Element, Metric, Neighbor};
use quarry_storage::{AlignedBuf, PartitionEntry, PartitionStore, StorageError, ALIGN};
use std::path::Path;

/// What a partition's partial reads cost.
#[derive(Debug, Default, Clone, Copy)]
struct PartialCost {
    pub bytes: u64,
    pub ios: u64,
    pub pages: u64,
    /// Distinct vectors whose distances were evaluated.
    pub vectors: u64,
}

/// A partition seen through page reads.
struct PageReader<'a> {
    store: &'a dyn PartitionStore,
    data_path: &'a Path,
    pid: u32,
    entry: PartitionEntry,
    dim: usize,
    dtype: DType,
    metric: Metric,
    norms: Option<&'a [f32]>,
    /// crc32c of every page of data.bin.
    page_crcs: &'a [u32],
    /// Extent page -> slot in `pages` (u32::MAX: not read yet).
    slot_of: Vec<u32>,
    pages: Vec<u8>,
    io_buf: AlignedBuf,
    /// One vector's bytes, 8-byte aligned (f32 rows may straddle two cached pages).
    row: Vec<u64>,
    want: Vec<u32>,
    seen: Vec<bool>,
    pub cost: PartialCost,
}

impl<'a> PageReader<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: &'a dyn PartitionStore,
        data_path: &'a Path,
        pid: u32,
        dim: usize,
        dtype: DType,
        metric: Metric,
        norms: Option<&'a [f32]>,
        page_crcs: &'a [u32],
    ) -> Result<Self, EngineError> {
        let entry = *store.entry(pid).ok_or(StorageError::NoSuchPartition {
            pid,
            count: store.num_partitions(),
        })?;
        let pages = (entry.length / ALIGN as u64) as usize;
        Ok(PageReader {
            store,
            data_path,
            pid,
            entry,
            dim,
            dtype,
            metric,
            norms,
            page_crcs,
            slot_of: vec![u32::MAX; pages],
            pages: Vec::new(),
            io_buf: AlignedBuf::new(),
            row: vec![0; (dim * dtype.size()).div_ceil(8)],
            want: Vec::new(),
            seen: vec![false; entry.count as usize],
            cost: PartialCost::default(),
        })
    }

    fn row_bytes(&self) -> usize {
        self.dim * self.dtype.size()
    }

    /// Byte range of local vector `i` inside the extent.
    fn vector_span(&self, i: u32) -> (usize, usize) {
        let start = self.entry.count as usize * 8 + i as usize * self.row_bytes();
        (start, start + self.row_bytes())
    }

    /// Makes sure every page overlapping the byte ranges `spans` is cached.
    fn fetch(&mut self, spans: impl Iterator<Item = (usize, usize)>) -> Result<(), StorageError> {
        self.want.clear();
        for (a, b) in spans {
            for p in a / ALIGN..=(b - 1) / ALIGN {
                if self.slot_of[p] == u32::MAX {
                    self.want.push(p as u32);
                }
            }
        }
        self.want.sort_unstable();
        self.want.dedup();
        let want = std::mem::take(&mut self.want);
        let mut i = 0;
        while i < want.len() {
            let mut j = i + 1;
            while j < want.len() && want[j] == want[j - 1] + 1 {
                j += 1;
            }
            let (first, count) = (want[i] as usize, j - i);
            let mut buf = std::mem::take(&mut self.io_buf);
            self.store
                .read_span(self.pid, (first * ALIGN) as u64, count * ALIGN, &mut buf)?;
            self.cost.ios += 1;
            self.cost.bytes += (count * ALIGN) as u64;
            self.cost.pages += count as u64;
            for (k, page) in buf.as_slice().chunks_exact(ALIGN).enumerate() {
                let p = first + k;
                let global = (self.entry.offset / ALIGN as u64) as usize + p;
                let want_crc = self.page_crcs[global];
                let got = crc32c::crc32c(page);
                if got != want_crc {
                    return Err(StorageError::Corrupt {
                        file: self.data_path.to_path_buf(),
                        what: format!(
                            "page {p} of partition {} (byte {}) fails its page checksum \
                             (crc32c {got:08x}, expected {want_crc:08x})",
                            self.pid,
                            self.entry.offset + (p * ALIGN) as u64
                        ),
                    });
                }
                self.slot_of[p] = (self.pages.len() / ALIGN) as u32;
                self.pages.extend_from_slice(page);
            }
            self.io_buf = buf;
            i = j;
        }
        self.want = want;
        Ok(())
    }

    /// Copies extent bytes `a..b` (already cached) into `out`.
    fn copy(&self, a: usize, b: usize, out: &mut [u8]) {
        let mut at = a;
        while at < b {
            let p = at / ALIGN;
            let in_page = at % ALIGN;
            let n = (ALIGN - in_page).min(b - at);
            let slot = self.slot_of[p] as usize * ALIGN;
            out[at - a..at - a + n]
                .copy_from_slice(&self.pages[slot + in_page..slot + in_page + n]);
            at += n;
        }
    }

    /// Global ids of local vectors `locals` (reads their id pages).
    pub fn ids(&mut self, locals: &[u32]) -> Result<Vec<u64>, StorageError> {
        self.fetch(locals.iter().map(|&i| (i as usize * 8, i as usize * 8 + 8)))?;
        Ok(locals
            .iter()
            .map(|&i| {
                let mut b = [0u8; 8];
                self.copy(i as usize * 8, i as usize * 8 + 8, &mut b);
                u64::from_le_bytes(b)
            })
            .collect())
    }

    fn distance_typed<T: Element>(&mut self, q: &[f32], q_norm: f32, i: u32) -> f32 {
        let (a, b) = self.vector_span(i);
        let len = b - a;
        let mut row = std::mem::take(&mut self.row);
        let bytes = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut row)[..len];
        self.copy(a, b, bytes);
        let x: &[T] = T::cast_slice(bytes).expect("8-byte aligned row");
        let x_norm = self.norms.map_or(0.0, |n| n[i as usize]);
        let d = pair_distance(self.metric, q, q_norm, x, x_norm);
        self.row = row;
        d
    }
}

impl VectorAccess for PageReader<'_> {
    fn len(&self) -> usize {
        self.entry.count as usize
    }
    fn distances(&mut self, q: &[f32], ids: &[u32], out: &mut Vec<f32>) -> Result<(), GraphError> {
        let spans: Vec<(usize, usize)> = ids.iter().map(|&i| self.vector_span(i)).collect();
        self.fetch(spans.into_iter())
            .map_err(|e| GraphError::Access(e.to_string()))?;
        let q_norm = if self.metric == Metric::Cosine {
            simd::norm_sq(q)
        } else {
            0.0
        };
        for &i in ids {
            if !std::mem::replace(&mut self.seen[i as usize], true) {
                self.cost.vectors += 1;
            }
            let d = with_element!(self.dtype, T => self.distance_typed::<T>(q, q_norm, i));
            out.push(d);
        }
        Ok(())
    }
}

/// Graph search reading only the pages it visits, each verified against its page
/// checksum.
#[derive(Clone, Copy)]
pub struct PartialSearcher<'a> {
    store: &'a dyn PartitionStore,
    data_path: &'a Path,
    graphs: &'a [Graph],
    page_crcs: &'a [u32],
    ef: usize,
}

impl<'a> PartialSearcher<'a> {
    /// `page_crcs`: crc32c of every 4 KiB page of `data_path` (`data.bin`).
    pub fn new(
        store: &'a dyn PartitionStore,
        data_path: &'a Path,
        graphs: &'a [Graph],
        page_crcs: &'a [u32],
        ef: usize,
    ) -> Self {
        PartialSearcher {
            store,
            data_path,
            graphs,
            page_crcs,
            ef,
        }
    }
}

impl PartitionSearcher for PartialSearcher<'_> {
    fn name(&self) -> &'static str {
        "partial"
    }
    fn needs_extent(&self) -> bool {
        false
    }
    fn search(
        &self,
        job: &PartitionJob<'_>,
        _extent: Option<&[u8]>,
    ) -> Result<Answers, EngineError> {
        let g = &self.graphs[job.pid as usize];
        let mut reader = PageReader::new(
            self.store,
            self.data_path,
            job.pid,
            job.dim,
            job.dtype,
            job.metric,
            g.norms(),
            self.page_crcs,
        )?;
        let (lists, distances) = search_partial(&mut reader, g, job, self.ef)?;
        Ok(Answers {
            lists,
            distances,
            bytes: reader.cost.bytes,
            io_requests: reader.cost.ios,
            vectors_read: reader.cost.vectors,
            graph: true,
        })
    }
}

/// Graph search of the routed queries through page reads.
fn search_partial(
    reader: &mut PageReader<'_>,
    graph: &Graph,
    job: &PartitionJob<'_>,
    ef: usize,
) -> Result<(Vec<Vec<Neighbor>>, Vec<u64>), EngineError> {
    let mut s = SearchScratch::default();
    let mut lists = Vec::with_capacity(job.routed.len());
    let mut dists = Vec::with_capacity(job.routed.len());
    for &qi in job.routed {
        let q = job.query(qi);
        let before = s.stats.distances;
        let found = graph.search(reader, q, job.k, ef, &mut s)?;
        dists.push(s.stats.distances - before);
        let locals: Vec<u32> = found.iter().map(|f| f.1).collect();
        let ids = reader.ids(&locals)?;
        lists.push(
            found
                .iter()
                .zip(ids)
                .map(|(f, id)| Neighbor { id, dist: f.0 })
                .collect(),
        );
    }
    Ok((lists, dists))
}
