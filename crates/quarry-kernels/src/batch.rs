//! Batched distances through one GEMM: for L2, ||q - x||^2 = ||q||^2 - 2 q.x + ||x||^2,
//! so a block of queries against a block of vectors costs one matrix product plus
//! norms. faer runs single-threaded here (`Par::Seq`): parallelism is at partition
//! / query level with rayon, since spinning pools are slow on small machines.

use crate::{metric::cosine_from_parts, simd, Element, Metric};
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

/// Reusable buffers so the hot loop does not allocate per partition.
#[derive(Default)]
pub struct BatchScratch {
    xf: Vec<f32>,
    x_norms: Vec<f32>,
    q_norms: Vec<f32>,
}

/// Computes `out[i * n + j] = distance(queries[i], data[j])` for `nq` queries and
/// `n` vectors of dimension `dim`, all row-major.
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
    assert_eq!(queries.len(), nq * dim, "queries buffer does not match nq x dim");
    assert_eq!(data.len(), n * dim, "data buffer does not match n x dim");
    assert_eq!(out.len(), nq * n, "output buffer does not match nq x n");
    if nq == 0 || n == 0 {
        return;
    }
    if dim == 0 {
        out.fill(match metric {
            Metric::Cosine => 1.0,
            _ => 0.0,
        });
        return;
    }
    // u8 / i8 blocks are widened once per block; f32 is used in place.
    let xf: &[f32] = match as_f32_slice(data) {
        Some(s) => s,
        None => {
            scratch.xf.clear();
            scratch.xf.extend(data.iter().map(|v| v.to_f32()));
            &scratch.xf
        }
    };
    let q = MatRef::from_row_major_slice(queries, nq, dim);
    let x = MatRef::from_row_major_slice(xf, n, dim);
    {
        let dst = MatMut::from_row_major_slice_mut(out, nq, n);
        matmul(dst, Accum::Replace, q, x.transpose(), 1.0f32, Par::Seq);
    }
    match metric {
        Metric::InnerProduct => out.iter_mut().for_each(|v| *v = -*v),
        Metric::L2 | Metric::Cosine => {
            scratch.x_norms.clear();
            scratch.x_norms.extend(xf.chunks_exact(dim).map(simd::norm_sq::<f32>));
            scratch.q_norms.clear();
            scratch.q_norms.extend(queries.chunks_exact(dim).map(simd::norm_sq::<f32>));
            for (i, row) in out.chunks_exact_mut(n).enumerate() {
                let qn = scratch.q_norms[i];
                if metric == Metric::L2 {
                    for (v, xn) in row.iter_mut().zip(&scratch.x_norms) {
                        // Clamp: cancellation can make tiny distances slightly negative.
                        *v = (qn + xn - 2.0 * *v).max(0.0);
                    }
                } else {
                    for (v, xn) in row.iter_mut().zip(&scratch.x_norms) {
                        *v = cosine_from_parts(*v, qn, *xn);
                    }
                }
            }
        }
    }
}

fn as_f32_slice<T: Element>(data: &[T]) -> Option<&[f32]> {
    if T::DTYPE == crate::DType::F32 {
        // SAFETY: T is f32 when its DTYPE says so (the trait is implemented only for f32, u8, i8).
        Some(unsafe { std::slice::from_raw_parts(data.as_ptr() as *const f32, data.len()) })
    } else {
        None
    }
}
