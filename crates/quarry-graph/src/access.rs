//! How a graph reaches vectors: by local id, in batches (one hop's neighbours at a time,
//! so a reader over storage can fetch all their pages together).

use crate::GraphError;
use quarry_kernels::{pair_distance, simd, Element, Metric};

pub trait VectorAccess {
    /// Number of vectors (local ids are `0..len`).
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Distances ("smaller is closer") from `q` to each of `ids`, appended to `out`
    /// in the same order.
    fn distances(&mut self, q: &[f32], ids: &[u32], out: &mut Vec<f32>) -> Result<(), GraphError>;
}

/// Vectors in memory (a partition buffer, the centroid table), in their stored dtype.
/// For cosine, `norms` holds the squared norm of every row so a distance costs one
/// dot product; the values must be `quarry_kernels::squared_norms` of the rows, which
/// makes graph distances bit-identical to the scan's exact re-score.
pub struct SliceVectors<'a, T: Element> {
    pub data: &'a [T],
    pub dim: usize,
    pub metric: Metric,
    pub norms: Option<&'a [f32]>,
}

impl<T: Element> SliceVectors<'_, T> {
    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

impl<T: Element> VectorAccess for SliceVectors<'_, T> {
    fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }
    fn distances(&mut self, q: &[f32], ids: &[u32], out: &mut Vec<f32>) -> Result<(), GraphError> {
        let q_norm = if self.metric == Metric::Cosine {
            simd::norm_sq(q)
        } else {
            0.0
        };
        prefetch_rows(self.data, self.dim, ids);
        for &i in ids {
            let i = i as usize;
            let x_norm = match (self.metric, self.norms) {
                (Metric::Cosine, Some(n)) => n[i],
                (Metric::Cosine, None) => simd::norm_sq(self.row(i)),
                _ => 0.0,
            };
            out.push(pair_distance(self.metric, q, q_norm, self.row(i), x_norm));
        }
        Ok(())
    }
}

/// Asks the CPU to start loading every row of `ids` before the distances are computed:
/// graph hops touch rows scattered over the whole buffer, so without this each
/// distance waits for its own cache misses (large graphs are memory-bound).
#[inline]
fn prefetch_rows<T: Element>(data: &[T], dim: usize, ids: &[u32]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let row_bytes = dim * std::mem::size_of::<T>();
        for &i in ids {
            let start = i as usize * dim;
            if start + dim > data.len() {
                continue;
            }
            let p = data[start..].as_ptr() as *const i8;
            let mut off = 0;
            while off < row_bytes {
                // SAFETY: prefetch is a hint; the address lies inside `data`.
                unsafe { _mm_prefetch(p.add(off), _MM_HINT_T0) };
                off += 64;
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, dim, ids);
}
