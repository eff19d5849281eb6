//! Register-tiled dot-product matrix behind `batch`.
//!
//! Determinism: every dot product is ONE sequential chain of fused multiply-adds
//! over k = 0..dim starting from +0, and so is every squared norm. SIMD runs across
//! outputs only (16 stored vectors per register), never along k. So `out[i][j]`
//! depends only on (query i, vector j): not on nq, n, the tile it lands in, or the
//! ISA path (the portable path fuses too when the target has FMA). faer's matmul
//! does not have this property: its kernels (matvec, nano-gemm, blocked gemm) are
//! chosen by shape and sum in different orders.
//!
//! Layout: stored vectors are packed NR at a time into panels `[k][NR]` of f32
//! (transposed, u8/i8 widened); a tile of queries broadcasts `q[i][k]` against
//! panel rows. A sequential chain is latency-bound unless ~8 registers of chains
//! are in flight, so small query tiles span several panels (see `avx512::dots`).

#[cfg(target_arch = "x86_64")]
mod avx512;
mod portable;

use crate::dtype::{native, Native};
use crate::{isa, Element};

/// Stored vectors per panel: two 16-lane registers.
pub(crate) const NR: usize = 32;
/// Queries per register tile: MR x 2 accumulators + 2 panel registers fit in 32 zmm.
pub(crate) const MR: usize = 12;
/// Wide tiles may read up to this many panels past the last packed one (the lanes
/// are discarded), so panel buffers carry this much slack.
const SLACK_PANELS: usize = 3;

/// Length of a panel buffer able to hold `nvec` packed vectors.
pub(crate) fn panels_len(nvec: usize, dim: usize) -> usize {
    (nvec.div_ceil(NR) + SLACK_PANELS) * NR * dim
}

/// Packs `nvec` row-major vectors of `src` into panels: element k of vector
/// `p * NR + r` goes to `panels[p * NR * dim + k * NR + r]`. Lanes past `nvec` are
/// left unspecified: lanes never mix, and only valid ones are ever stored.
pub(crate) fn pack<T: Element>(src: &[T], nvec: usize, dim: usize, panels: &mut [f32]) {
    assert!(src.len() >= nvec * dim && panels.len() >= panels_len(nvec, dim));
    for p in 0..nvec.div_ceil(NR) {
        let rows = (nvec - p * NR).min(NR);
        let (src, panel) = (&src[p * NR * dim..], &mut panels[p * NR * dim..]);
        #[cfg(target_arch = "x86_64")]
        if isa::avx512() {
            let out = panel.as_mut_ptr();
            // SAFETY: AVX-512F/BW/VL available; `src` holds `rows * dim` elements and
            // `panel` at least `NR * dim` (asserted above).
            unsafe {
                match native(src) {
                    Native::F32(s) => avx512::pack(s.as_ptr(), rows, dim, out),
                    Native::U8(s) => avx512::pack(s.as_ptr(), rows, dim, out),
                    Native::I8(s) => avx512::pack(s.as_ptr(), rows, dim, out),
                }
            }
            continue;
        }
        portable::pack(src, rows, dim, panel);
    }
}

/// `norms[j]` = squared norm of packed vector j, for `j < nvec`.
pub(crate) fn norms(panels: &[f32], nvec: usize, dim: usize, norms: &mut [f32]) {
    assert!(panels.len() >= panels_len(nvec, dim) && norms.len() >= nvec);
    #[cfg(target_arch = "x86_64")]
    if isa::avx512() {
        // SAFETY: AVX-512F/BW/VL available; buffers checked above (with slack).
        unsafe { avx512::norms(panels.as_ptr(), nvec, dim, norms.as_mut_ptr()) };
        return;
    }
    portable::norms(panels, nvec, dim, norms);
}

/// `out[i * ldo + j] = dot(q_i, packed vector j)` for `i < mr <= MR`, `j < nvec`,
/// with the `mr` queries row-major in `q`.
pub(crate) fn dots(
    q: &[f32],
    mr: usize,
    dim: usize,
    panels: &[f32],
    nvec: usize,
    out: &mut [f32],
    ldo: usize,
) {
    assert!((1..=MR).contains(&mr) && nvec >= 1 && nvec <= ldo && q.len() >= mr * dim);
    assert!(panels.len() >= panels_len(nvec, dim) && out.len() >= (mr - 1) * ldo + nvec);
    #[cfg(target_arch = "x86_64")]
    if isa::avx512() {
        let (qp, pp, op) = (q.as_ptr(), panels.as_ptr(), out.as_mut_ptr());
        // SAFETY: AVX-512F/BW/VL available; bounds checked above (with slack).
        unsafe { avx512::dots(qp, mr, dim, pp, nvec, op, ldo) };
        return;
    }
    portable::dots(q, mr, dim, panels, nvec, out, ldo);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dispatched pack / norms / dots must equal the portable spec bit for bit.
    #[test]
    fn dispatched_equals_portable_bitwise() {
        if !cfg!(target_feature = "fma") {
            return;
        }
        let mut s = 5u64;
        let mut next = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        for dim in [1usize, 5, 16, 17, 33, 50, 128] {
            for nvec in [1usize, 15, 16, 17, 32, 33, 70, 129] {
                let xf: Vec<f32> = (0..nvec * dim).map(|_| next()).collect();
                let xu: Vec<u8> = xf.iter().map(|v| ((v + 1.0) * 127.5) as u8).collect();
                let q: Vec<f32> = (0..MR * dim).map(|_| next() * 10.0).collect();
                check(&q, dim, &xf, nvec);
                check(&q, dim, &xu, nvec);
            }
        }
    }

    fn check<T: Element>(q: &[f32], dim: usize, x: &[T], nvec: usize) {
        let len = panels_len(nvec, dim);
        let (mut pa, mut pb) = (vec![0.0f32; len], vec![0.0f32; len]);
        pack(x, nvec, dim, &mut pa);
        for p in 0..nvec.div_ceil(NR) {
            let rows = (nvec - p * NR).min(NR);
            portable::pack(&x[p * NR * dim..], rows, dim, &mut pb[p * NR * dim..]);
        }
        for j in 0..nvec {
            let at = (j / NR) * NR * dim + j % NR;
            for k in 0..dim {
                assert_eq!(
                    pa[at + k * NR].to_bits(),
                    pb[at + k * NR].to_bits(),
                    "panel {j} {k}"
                );
            }
        }
        let (mut na, mut nb) = (vec![0.0f32; nvec], vec![0.0f32; nvec]);
        norms(&pa, nvec, dim, &mut na);
        portable::norms(&pb, nvec, dim, &mut nb);
        assert_eq!(
            na.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            nb.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        let ldo = nvec + 3;
        for mr in 1..=MR {
            let (mut oa, mut ob) = (vec![7.0f32; mr * ldo], vec![7.0f32; mr * ldo]);
            dots(q, mr, dim, &pa, nvec, &mut oa, ldo);
            portable::dots(q, mr, dim, &pb, nvec, &mut ob, ldo);
            for (a, b) in oa.iter().zip(&ob) {
                assert_eq!(
                    a.to_bits(),
                    b.to_bits(),
                    "dots mr {mr} nvec {nvec} dim {dim}"
                );
            }
            // Padding between rows must be untouched.
            for i in 0..mr {
                assert!(oa[i * ldo + nvec..(i + 1) * ldo].iter().all(|&v| v == 7.0));
            }
        }
    }
}
