//! Plain-Rust pack, norms and dots. Same chains as the intrinsic paths (one
//! multiply-add per k per output, in k order); vectorised by LLVM across the
//! outputs: each tile keeps `[f32; L]` accumulators per query and applies one
//! lane-wise step per k, which becomes SSE2 on x86-64 and NEON on aarch64.

use super::NR;
use crate::isa::fmadd;
use crate::Element;

pub(super) fn pack<T: Element>(src: &[T], rows: usize, dim: usize, panel: &mut [f32]) {
    // Panel rows (one k, NR vectors) are written whole and in order, reading 8
    // columns of every vector at a time: element-wise scatter stores 128 bytes
    // apart aliased with the source reads and ran 3-4x slower on f32 rows.
    const B: usize = 8;
    let src = &src[..rows * dim];
    for kb in (0..dim).step_by(B) {
        let kw = (dim - kb).min(B);
        let mut block = [[0.0f32; NR]; B];
        for r in 0..rows {
            for (t, col) in block.iter_mut().enumerate().take(kw) {
                col[r] = src[r * dim + kb + t].to_f32();
            }
        }
        for (t, col) in block.iter().enumerate().take(kw) {
            panel[(kb + t) * NR..(kb + t) * NR + rows].copy_from_slice(&col[..rows]);
        }
    }
}

pub(super) fn norms(panels: &[f32], nvec: usize, dim: usize, norms: &mut [f32]) {
    if dim == 0 {
        norms[..nvec].fill(0.0);
        return;
    }
    for (p, panel) in panels
        .chunks_exact(NR * dim)
        .take(nvec.div_ceil(NR))
        .enumerate()
    {
        let mut acc = [0.0f32; NR];
        for x in panel.chunks_exact(NR) {
            let x: &[f32; NR] = x.try_into().expect("panel row");
            for l in 0..NR {
                acc[l] = fmadd(x[l], x[l], acc[l]);
            }
        }
        let valid = (nvec - p * NR).min(NR);
        norms[p * NR..p * NR + valid].copy_from_slice(&acc[..valid]);
    }
}

/// Lanes per tile: 16 f32 = four SSE / NEON registers per query.
const L: usize = 16;
/// Queries per tile: M x 4 accumulator registers + 4 panel registers <= 16.
const M: usize = 2;

/// `M2` queries (<= M) against lanes `lane0..lane0 + L` of one panel.
#[inline(always)]
fn tile<const M2: usize>(q: &[f32], dim: usize, panel: &[f32], lane0: usize) -> [[f32; L]; M2] {
    let mut acc = [[0.0f32; L]; M2];
    for (k, x) in panel.chunks_exact(NR).take(dim).enumerate() {
        let x: &[f32; L] = x[lane0..lane0 + L].try_into().expect("lanes");
        for (i, a) in acc.iter_mut().enumerate() {
            let qv = q[i * dim + k];
            for l in 0..L {
                a[l] = fmadd(qv, x[l], a[l]);
            }
        }
    }
    acc
}

pub(super) fn dots(
    q: &[f32],
    mr: usize,
    dim: usize,
    panels: &[f32],
    nvec: usize,
    out: &mut [f32],
    ldo: usize,
) {
    if dim == 0 {
        for i in 0..mr {
            out[i * ldo..i * ldo + nvec].fill(0.0);
        }
        return;
    }
    for (p, panel) in panels
        .chunks_exact(NR * dim)
        .take(nvec.div_ceil(NR))
        .enumerate()
    {
        for lane0 in (0..NR).step_by(L) {
            let j0 = p * NR + lane0;
            if j0 >= nvec {
                break;
            }
            let valid = (nvec - j0).min(L);
            let mut i = 0;
            while i < mr {
                let qi = &q[i * dim..];
                if mr - i >= M {
                    let acc = tile::<M>(qi, dim, panel, lane0);
                    for (r, a) in acc.iter().enumerate() {
                        out[(i + r) * ldo + j0..][..valid].copy_from_slice(&a[..valid]);
                    }
                    i += M;
                } else {
                    let acc = tile::<1>(qi, dim, panel, lane0);
                    out[i * ldo + j0..][..valid].copy_from_slice(&acc[0][..valid]);
                    i += 1;
                }
            }
        }
    }
}
