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
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod portable;

use crate::dtype::{native, Native};
use crate::isa::Isa;
use crate::Element;

/// Stored vectors per panel: two 16-lane (four 8-lane) registers.
pub(crate) const NR: usize = 32;
/// Queries per register tile: MR x 2 accumulators + 2 panel registers fit in 32 zmm
/// (AVX2 runs a tile as two 6-query halves in its 16 ymm).
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
pub(crate) fn pack<T: Element>(isa: Isa, src: &[T], nvec: usize, dim: usize, panels: &mut [f32]) {
    assert!(src.len() >= nvec * dim && panels.len() >= panels_len(nvec, dim));
    for p in 0..nvec.div_ceil(NR) {
        let rows = (nvec - p * NR).min(NR);
        let (src, panel) = (&src[p * NR * dim..], &mut panels[p * NR * dim..]);
        #[cfg(target_arch = "x86_64")]
        {
            let out = panel.as_mut_ptr();
            match isa {
                Isa::Avx512 => {
                    // SAFETY: the path is supported (callers pass `active()` or a
                    // checked path); `src` holds `rows * dim` elements and `panel` at
                    // least `NR * dim` (asserted above).
                    unsafe {
                        match native(src) {
                            Native::F32(s) => avx512::pack(s.as_ptr(), rows, dim, out),
                            Native::U8(s) => avx512::pack(s.as_ptr(), rows, dim, out),
                            Native::I8(s) => avx512::pack(s.as_ptr(), rows, dim, out),
                        }
                    }
                    continue;
                }
                Isa::Avx2 => {
                    // SAFETY: as for AVX-512: supported path, buffers asserted above.
                    unsafe {
                        match native(src) {
                            Native::F32(s) => avx2::pack(s.as_ptr(), rows, dim, out),
                            Native::U8(s) => avx2::pack(s.as_ptr(), rows, dim, out),
                            Native::I8(s) => avx2::pack(s.as_ptr(), rows, dim, out),
                        }
                    }
                    continue;
                }
                Isa::Portable => {}
            }
        }
        portable::pack(src, rows, dim, panel);
    }
}

/// `norms[j]` = squared norm of packed vector j, for `j < nvec`.
pub(crate) fn norms(isa: Isa, panels: &[f32], nvec: usize, dim: usize, norms: &mut [f32]) {
    assert!(panels.len() >= panels_len(nvec, dim) && norms.len() >= nvec);
    #[cfg(target_arch = "x86_64")]
    match isa {
        Isa::Avx512 => {
            // SAFETY: the path is supported; buffers checked above (with slack).
            return unsafe { avx512::norms(panels.as_ptr(), nvec, dim, norms.as_mut_ptr()) };
        }
        // SAFETY: as for AVX-512: supported path, buffers checked above.
        Isa::Avx2 => return unsafe { avx2::norms(panels.as_ptr(), nvec, dim, norms.as_mut_ptr()) },
        Isa::Portable => {}
    }
    let _ = isa;
    portable::norms(panels, nvec, dim, norms);
}

/// `out[i * ldo + j] = dot(q_i, packed vector j)` for `i < mr <= MR`, `j < nvec`,
/// with the `mr` queries row-major in `q`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn dots(
    isa: Isa,
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
    {
        let (qp, pp, op) = (q.as_ptr(), panels.as_ptr(), out.as_mut_ptr());
        match isa {
            // SAFETY: the path is supported; bounds checked above (with slack).
            Isa::Avx512 => return unsafe { avx512::dots(qp, mr, dim, pp, nvec, op, ldo) },
            // SAFETY: as for AVX-512: supported path, bounds checked above.
            Isa::Avx2 => return unsafe { avx2::dots(qp, mr, dim, pp, nvec, op, ldo) },
            Isa::Portable => {}
        }
    }
    let _ = isa;
    portable::dots(q, mr, dim, panels, nvec, out, ldo);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::PORTABLE_FUSES;

    /// Every path's pack / norms / dots against the specification: one fused chain
    /// over k per output (`f32::mul_add`, exact everywhere). Bit for bit on the
    /// fusing paths; within rounding on an x86-64 portable build.
    #[test]
    fn every_path_meets_the_spec() {
        let mut s = 5u64;
        let mut next = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        for dim in [1usize, 5, 8, 9, 16, 17, 33, 50, 128] {
            for nvec in [1usize, 7, 8, 9, 15, 16, 17, 32, 33, 70, 129] {
                let xf: Vec<f32> = (0..nvec * dim).map(|_| next()).collect();
                let xu: Vec<u8> = xf.iter().map(|v| ((v + 1.0) * 127.5) as u8).collect();
                let xi: Vec<i8> = xf.iter().map(|v| (v * 127.0) as i8).collect();
                let q: Vec<f32> = (0..MR * dim).map(|_| next() * 10.0).collect();
                for isa in Isa::available() {
                    check(isa, &q, dim, &xf, nvec);
                    check(isa, &q, dim, &xu, nvec);
                    check(isa, &q, dim, &xi, nvec);
                }
            }
        }
    }

    /// `scale`: sum of the magnitudes of the terms, the scale of an unfused error.
    fn same(isa: Isa, got: f32, want: f32, scale: f32) -> bool {
        if isa != Isa::Portable || PORTABLE_FUSES {
            got.to_bits() == want.to_bits()
        } else {
            (got - want).abs() <= 1e-5 * scale.max(want.abs()).max(1.0)
        }
    }

    fn check<T: Element>(isa: Isa, q: &[f32], dim: usize, x: &[T], nvec: usize) {
        let len = panels_len(nvec, dim);
        let mut pa = vec![0.0f32; len];
        pack(isa, x, nvec, dim, &mut pa);
        for j in 0..nvec {
            let at = (j / NR) * NR * dim + j % NR;
            for k in 0..dim {
                let want = x[j * dim + k].to_f32();
                assert_eq!(
                    pa[at + k * NR].to_bits(),
                    want.to_bits(),
                    "{isa} panel {j} {k}"
                );
            }
        }
        let mut na = vec![0.0f32; nvec];
        norms(isa, &pa, nvec, dim, &mut na);
        for j in 0..nvec {
            let row = &x[j * dim..(j + 1) * dim];
            let want = row
                .iter()
                .fold(0.0f32, |a, v| v.to_f32().mul_add(v.to_f32(), a));
            assert!(
                same(isa, na[j], want, 0.0),
                "{isa} norm {j}: {} vs {want}",
                na[j]
            );
        }
        let ldo = nvec + 3;
        for mr in 1..=MR {
            let mut oa = vec![7.0f32; mr * ldo];
            dots(isa, q, mr, dim, &pa, nvec, &mut oa, ldo);
            for i in 0..mr {
                for j in 0..nvec {
                    let want = (0..dim).fold(0.0f32, |a, k| {
                        q[i * dim + k].mul_add(x[j * dim + k].to_f32(), a)
                    });
                    let scale: f32 = (0..dim)
                        .map(|k| (q[i * dim + k] * x[j * dim + k].to_f32()).abs())
                        .sum();
                    let got = oa[i * ldo + j];
                    assert!(
                        same(isa, got, want, scale),
                        "{isa} dots mr {mr} nvec {nvec} dim {dim}: {got} vs {want}"
                    );
                }
                // Padding between rows must be untouched.
                assert!(oa[i * ldo + nvec..(i + 1) * ldo].iter().all(|&v| v == 7.0));
            }
        }
    }
}
