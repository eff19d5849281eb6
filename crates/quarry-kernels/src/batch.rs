//! Batched distances: for L2, ||q - x||^2 = ||q||^2 - 2 q.x + ||x||^2, so a block of
//! queries against a block of vectors costs one matrix of dot products plus norms.
//!
//! The dot products come from our own register-tiled kernel (`gemm`), not faer:
//! each output is one fixed fused multiply-add chain over k, so a query's distances
//! are bit-identical whether it is searched alone or inside a batch of any size,
//! against any number of vectors. (faer picks a different kernel and summation
//! order per shape; with it, 81-91% of the outputs of a 1000 x 500 block differed in
//! the last bits from the same queries run alone, for dims 50-784.)
//!
//! Single-threaded by design: parallelism is at partition / query level with rayon.

use crate::gemm::{self, MR, NR};
use crate::isa::{self, Isa};
use crate::{metric::cosine_from_parts, Element, Metric};

/// Stored vectors are packed a block at a time. With several query tiles, a block
/// should stay in L2 while every tile sweeps it; with one tile it is read once
/// right after packing, so a block that stays in L1 saves the L2 round trip.
/// (Block size changes speed only, never values.)
const BLOCK_BYTES: usize = 256 * 1024;
const BLOCK_BYTES_ONE_TILE: usize = 64 * 1024;

/// Reusable buffers so the hot loop does not allocate per partition.
#[derive(Default)]
pub struct BatchScratch {
    panels: Vec<f32>,
    x_norms: Vec<f32>,
    q_norms: Vec<f32>,
}

/// Computes `out[i * n + j] = distance(queries[i], data[j])` for `nq` queries and
/// `n` vectors of dimension `dim`, all row-major. `out[i * n + j]` depends only on
/// query i and vector j (bit for bit), never on `nq`, `n` or the other rows.
pub fn batch_distances<T: Element>(
    metric: Metric,
    queries: &[f32],
    nq: usize,
    data: &[T],
    n: usize,
    dim: usize,
    out: &mut [f32],
) {
    let mut scratch = BatchScratch::default();
    batch_distances_with(metric, queries, nq, data, n, dim, out, &mut scratch);
}

/// `batch_distances` with caller-owned scratch buffers.
#[allow(clippy::too_many_arguments)]
pub fn batch_distances_with<T: Element>(
    metric: Metric,
    queries: &[f32],
    nq: usize,
    data: &[T],
    n: usize,
    dim: usize,
    out: &mut [f32],
    scratch: &mut BatchScratch,
) {
    let isa = isa::active();
    batch_distances_on(isa, metric, queries, nq, data, n, dim, out, scratch);
}

/// `batch_distances_with` on an explicit kernel path (benchmarks, cross-path tests).
///
/// # Panics
/// If `isa` is not supported by this CPU, or the buffers do not match the shape.
#[allow(clippy::too_many_arguments)]
pub fn batch_distances_on<T: Element>(
    isa: Isa,
    metric: Metric,
    queries: &[f32],
    nq: usize,
    data: &[T],
    n: usize,
    dim: usize,
    out: &mut [f32],
    scratch: &mut BatchScratch,
) {
    assert_eq!(
        queries.len(),
        nq * dim,
        "queries buffer does not match nq x dim"
    );
    assert_eq!(data.len(), n * dim, "data buffer does not match n x dim");
    assert_eq!(out.len(), nq * n, "output buffer does not match nq x n");
    let isa = crate::simd::checked(isa);
    if degenerate(metric, nq, n, dim, out) {
        return;
    }
    let bytes = if nq <= MR {
        BLOCK_BYTES_ONE_TILE
    } else {
        BLOCK_BYTES
    };
    let per_block = (bytes / 4 / (NR * dim)).max(1) * NR;
    query_norms(isa, metric, queries, nq, dim, scratch);
    let BatchScratch {
        panels,
        x_norms,
        q_norms,
    } = scratch;
    grow(panels, gemm::panels_len(per_block.min(n), dim));
    grow(x_norms, per_block.min(n));

    let need_norms = metric != Metric::InnerProduct;
    for j0 in (0..n).step_by(per_block) {
        let nb = (n - j0).min(per_block);
        gemm::pack(isa, &data[j0 * dim..(j0 + nb) * dim], nb, dim, panels);
        if need_norms {
            gemm::norms(isa, panels, nb, dim, x_norms);
        }
        let block = Packed {
            panels,
            norms: &x_norms[..nb],
            nb,
        };
        tiles(
            isa,
            metric,
            queries,
            nq,
            dim,
            &block,
            q_norms,
            &mut out[j0..],
            n,
        );
    }
}

/// Empty shapes and `dim == 0` (every distance is the empty sum) need no kernel;
/// true when `out` is already final.
fn degenerate(metric: Metric, nq: usize, n: usize, dim: usize, out: &mut [f32]) -> bool {
    if nq == 0 || n == 0 {
        return true;
    }
    if dim == 0 {
        out.fill(match metric {
            Metric::Cosine => 1.0,
            _ => 0.0,
        });
        return true;
    }
    false
}

/// A block of packed vectors with their squared norms.
struct Packed<'a> {
    panels: &'a [f32],
    norms: &'a [f32],
    nb: usize,
}

/// Every query tile against one packed block: dots, then distances. `out` starts at
/// the block's first column; rows are `ldo` apart.
#[allow(clippy::too_many_arguments)]
fn tiles(
    isa: Isa,
    metric: Metric,
    queries: &[f32],
    nq: usize,
    dim: usize,
    block: &Packed<'_>,
    q_norms: &[f32],
    out: &mut [f32],
    ldo: usize,
) {
    let nb = block.nb;
    for i0 in (0..nq).step_by(MR) {
        let mr = (nq - i0).min(MR);
        let q = &queries[i0 * dim..(i0 + mr) * dim];
        gemm::dots(isa, q, mr, dim, block.panels, nb, &mut out[i0 * ldo..], ldo);
        for i in 0..mr {
            let row = &mut out[(i0 + i) * ldo..][..nb];
            let qn = if metric == Metric::InnerProduct {
                0.0
            } else {
                q_norms[i0 + i]
            };
            finish_on(isa, metric, row, qn, block.norms);
        }
    }
}

/// Grows (never shrinks) a scratch buffer; contents are scratch either way.
fn grow(v: &mut Vec<f32>, len: usize) {
    if v.len() < len {
        v.resize(len, 0.0);
    }
}

/// Squared query norms by the same chain as the stored vectors' norms and the dots,
/// so identical query and vector give an L2 distance of exactly 0.
fn query_norms(
    isa: Isa,
    metric: Metric,
    queries: &[f32],
    nq: usize,
    dim: usize,
    scratch: &mut BatchScratch,
) {
    scratch.q_norms.clear();
    if metric == Metric::InnerProduct {
        return;
    }
    scratch.q_norms.resize(nq, 0.0);
    // Through the same pack + norms as stored vectors, a bounded chunk at a time.
    let chunk = (BLOCK_BYTES / 4 / (NR * dim)).max(1) * NR;
    grow(&mut scratch.panels, gemm::panels_len(chunk.min(nq), dim));
    for i0 in (0..nq).step_by(chunk) {
        let m = (nq - i0).min(chunk);
        gemm::pack(
            isa,
            &queries[i0 * dim..(i0 + m) * dim],
            m,
            dim,
            &mut scratch.panels,
        );
        gemm::norms(isa, &scratch.panels, m, dim, &mut scratch.q_norms[i0..]);
    }
}

/// `finish` compiled for the path's vector width (sqrt and divide for cosine are
/// the costly part at small dims). Element-wise with no contraction, so every
/// instantiation gives the same bits.
#[inline]
pub(crate) fn finish_on(isa: Isa, metric: Metric, row: &mut [f32], qn: f32, xn: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    match isa {
        // SAFETY: the path is supported (checked by the caller's `checked`).
        Isa::Avx512 => return unsafe { finish_avx512(metric, row, qn, xn) },
        // SAFETY: as above.
        Isa::Avx2 => return unsafe { finish_avx2(metric, row, qn, xn) },
        Isa::Portable => {}
    }
    let _ = isa;
    finish(metric, row, qn, xn)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn finish_avx2(metric: Metric, row: &mut [f32], qn: f32, xn: &[f32]) {
    finish(metric, row, qn, xn)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn finish_avx512(metric: Metric, row: &mut [f32], qn: f32, xn: &[f32]) {
    finish(metric, row, qn, xn)
}

/// Turns raw dot products into distances, element by element (no reductions, so
/// vectorising this loop cannot change any bit).
#[inline(always)]
fn finish(metric: Metric, row: &mut [f32], qn: f32, xn: &[f32]) {
    match metric {
        Metric::InnerProduct => row.iter_mut().for_each(|v| *v = -*v),
        Metric::L2 => {
            for (v, &xn) in row.iter_mut().zip(xn) {
                // Clamp: cancellation can make tiny distances slightly negative.
                *v = (qn + xn - 2.0 * *v).max(0.0);
            }
        }
        Metric::Cosine => {
            for (v, &xn) in row.iter_mut().zip(xn) {
                *v = cosine_from_parts(*v, qn, xn);
            }
        }
    }
}

/// Stored vectors packed once for repeated batch distances: the centroids, which
/// every search ranks. A single query then costs the dot products alone, not a
/// repack of every centroid. Same chains as `batch_distances`, so the same bits.
pub struct PackedVectors {
    isa: Isa,
    panels: Vec<f32>,
    norms: Vec<f32>,
    n: usize,
    dim: usize,
}

impl std::fmt::Debug for PackedVectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackedVectors({} x {}, {})", self.n, self.dim, self.isa)
    }
}

impl PackedVectors {
    /// Packs `n` row-major vectors of `dim` for the active kernel path.
    pub fn new<T: Element>(data: &[T], n: usize, dim: usize) -> Self {
        assert_eq!(data.len(), n * dim, "data buffer does not match n x dim");
        let isa = isa::active();
        let mut panels = vec![0.0f32; gemm::panels_len(n, dim)];
        let mut norms = vec![0.0f32; n];
        if n > 0 && dim > 0 {
            gemm::pack(isa, data, n, dim, &mut panels);
            gemm::norms(isa, &panels, n, dim, &mut norms);
        }
        PackedVectors {
            isa,
            panels,
            norms,
            n,
            dim,
        }
    }

    /// Bytes held (panels and norms).
    pub fn memory_bytes(&self) -> usize {
        (self.panels.len() + self.norms.len()) * 4
    }

    /// `out[i * n + j] = distance(queries[i], vector j)`, bit for bit as
    /// `batch_distances` computes it.
    pub fn distances(
        &self,
        metric: Metric,
        queries: &[f32],
        nq: usize,
        out: &mut [f32],
        scratch: &mut BatchScratch,
    ) {
        let (n, dim, isa) = (self.n, self.dim, self.isa);
        assert_eq!(
            queries.len(),
            nq * dim,
            "queries buffer does not match nq x dim"
        );
        assert_eq!(out.len(), nq * n, "output buffer does not match nq x n");
        if degenerate(metric, nq, n, dim, out) {
            return;
        }
        query_norms(isa, metric, queries, nq, dim, scratch);
        let block = Packed {
            panels: &self.panels,
            norms: &self.norms,
            nb: n,
        };
        tiles(
            isa,
            metric,
            queries,
            nq,
            dim,
            &block,
            &scratch.q_norms,
            out,
            n,
        );
    }
}
