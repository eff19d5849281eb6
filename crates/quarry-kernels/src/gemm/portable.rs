//! Plain-Rust pack, norms and dots: the fallback, and the bit-exact spec for the
//! intrinsic path (one fused chain over k per output).

use super::NR;
use crate::isa::fmadd;
use crate::Element;

pub(super) fn pack<T: Element>(src: &[T], rows: usize, dim: usize, panel: &mut [f32]) {
    for r in 0..rows {
        for (k, v) in src[r * dim..(r + 1) * dim].iter().enumerate() {
            panel[k * NR + r] = v.to_f32();
        }
    }
}

/// Element k of packed vector j.
#[inline(always)]
fn at(panels: &[f32], dim: usize, j: usize, k: usize) -> f32 {
    panels[(j / NR) * NR * dim + k * NR + j % NR]
}

pub(super) fn norms(panels: &[f32], nvec: usize, dim: usize, norms: &mut [f32]) {
    for (j, n) in norms.iter_mut().enumerate().take(nvec) {
        *n = (0..dim).fold(0.0f32, |acc, k| {
            let v = at(panels, dim, j, k);
            fmadd(v, v, acc)
        });
    }
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
    for i in 0..mr {
        let qi = &q[i * dim..(i + 1) * dim];
        for j in 0..nvec {
            out[i * ldo + j] = qi.iter().enumerate().fold(0.0f32, |acc, (k, &qv)| {
                fmadd(qv, at(panels, dim, j, k), acc)
            });
        }
    }
}
