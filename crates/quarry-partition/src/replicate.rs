//! SPANN-style closure replication: besides its own partition, a vector is also
//! stored in the partitions whose centroid is almost as near as its nearest one.
//!
//! SPANN's rule: x goes to every partition j among its `max_copies` nearest with
//! d(x, c_j) <= (1 + eps) d(x, c_1). CHOICE: d is the distance the clustering uses
//! (squared L2, on normalised vectors for cosine indexes, where it is 2 (1 - cos)),
//! the same form as the query-side `SpannRule` uses, written d_j - d_1 <= eps d_1.

use crate::assign::block_rows;
use crate::{PartitionError, Progress, Rows};
use quarry_kernels::{batch_distances_with, BatchScratch, Metric};
use rayon::prelude::*;

/// Extra (vector id, partition) placements, sorted by id then partition; the vector's
/// own partition (`partition_of`) is never repeated.
pub fn closure_replicas(
    rows: &Rows<'_>,
    centroids: &[f32],
    partition_of: &[u32],
    eps: f32,
    max_copies: usize,
    chunk_rows: usize,
    progress: &dyn Progress,
) -> Result<Vec<(u64, u32)>, PartitionError> {
    let dim = rows.dim();
    let k = centroids.len() / dim;
    let n = rows.len();
    if !eps.is_finite() || eps < 0.0 {
        return Err(PartitionError::BadEps(eps));
    }
    if max_copies == 0 {
        return Err(PartitionError::BadCopies);
    }
    if partition_of.len() != n {
        return Err(PartitionError::BadK { k, n });
    }
    progress.stage("replicate", n as u64);
    let chunk_rows = chunk_rows.max(1);
    let br = block_rows(k);
    let mut out = Vec::new();
    for start in (0..n).step_by(chunk_rows) {
        let cnt = chunk_rows.min(n - start);
        let pts = rows.read(start, cnt)?;
        let extra: Vec<Vec<(u64, u32)>> = pts
            .par_chunks(br * dim)
            .enumerate()
            .map(|(b, blk)| {
                let m = blk.len() / dim;
                let mut d = vec![0.0f32; m * k];
                let mut s = BatchScratch::default();
                batch_distances_with(Metric::L2, blk, m, centroids, k, dim, &mut d, &mut s);
                let mut found = Vec::new();
                for (r, row) in d.chunks_exact(k).enumerate() {
                    let id = start + b * br + r;
                    let own = partition_of[id];
                    let mut near: Vec<(f32, u32)> = row
                        .iter()
                        .enumerate()
                        .map(|(c, &v)| (v, c as u32))
                        .collect();
                    let top = max_copies.min(k);
                    let cmp =
                        |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
                    if top < k {
                        near.select_nth_unstable_by(top - 1, cmp);
                        near.truncate(top);
                    }
                    near.sort_by(cmp);
                    let d1 = near[0].0;
                    let bound = d1 + eps * d1.abs();
                    // The own partition counts as one of the copies.
                    let mut copies = 1;
                    let mut mine: Vec<u32> = Vec::new();
                    for &(v, c) in &near {
                        if v > bound || copies >= max_copies {
                            break;
                        }
                        if c != own {
                            mine.push(c);
                            copies += 1;
                        }
                    }
                    mine.sort_unstable();
                    found.extend(mine.into_iter().map(|c| (id as u64, c)));
                }
                found
            })
            .collect();
        out.extend(extra.into_iter().flatten());
        progress.advance(cnt as u64);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoProgress;
    use quarry_formats::{ChunkData, DType, FormatError, VectorSource};
    use std::path::Path;

    struct Mem(Vec<f32>);
    impl VectorSource for Mem {
        fn path(&self) -> &Path {
            Path::new("mem")
        }
        fn dim(&self) -> usize {
            1
        }
        fn len(&self) -> usize {
            self.0.len()
        }
        fn dtype(&self) -> DType {
            DType::F32
        }
        fn read_range(&self, s: usize, r: usize) -> Result<ChunkData, FormatError> {
            Ok(ChunkData::F32(self.0[s..s + r].to_vec()))
        }
    }

    #[test]
    fn replicas_follow_the_ratio_rule() {
        // Centroids on a line at 0, 1, 2, 10; points between them.
        let centroids = vec![0.0f32, 1.0, 2.0, 10.0];
        let pts = vec![0.5f32, 0.1, 1.9, 6.0];
        let src = Mem(pts);
        let rows = Rows {
            src: &src,
            spherical: false,
        };
        let own = vec![0u32, 0, 2, 3];
        let r = closure_replicas(&rows, &centroids, &own, 0.1, 8, 2, &NoProgress).unwrap();
        // 0.5 is equally near 0 and 1; 0.1 only near 0; 1.9: 2 (0.01) vs 1 (0.81) no;
        // 6.0: 2 (16) vs 10 (16): tie -> the other one.
        assert_eq!(r, vec![(0, 1), (3, 2)]);
        let r = closure_replicas(&rows, &centroids, &own, 100.0, 2, 3, &NoProgress).unwrap();
        assert!(r.iter().filter(|p| p.0 == 0).count() == 1, "{r:?}");
        assert!(closure_replicas(&rows, &centroids, &own, -1.0, 8, 2, &NoProgress).is_err());
        assert!(closure_replicas(&rows, &centroids, &own, 0.1, 0, 2, &NoProgress).is_err());
    }
}
