//! Plain-Rust kernels in the documented order (see `simd`). They are the fallback
//! on CPUs without AVX-512 and the bit-exact specification the intrinsics follow.

use crate::isa::fmadd;
use crate::Element;

const W: usize = 16;

/// Runs `step(a_i, b_i, acc)` over both slices in the fixed order and folds the
/// accumulators. Padding lanes see `step(0, 0, acc)`, as the masked SIMD loads do.
#[inline(always)]
fn fold<A: Element, B: Element>(a: &[A], b: &[B], step: impl Fn(f32, f32, f32) -> f32) -> f32 {
    let n = a.len();
    let mut acc = [[0.0f32; W]; 4];
    let mut i = 0;
    while i + 4 * W <= n {
        for (j, lanes) in acc.iter_mut().enumerate() {
            for (l, s) in lanes.iter_mut().enumerate() {
                let k = i + j * W + l;
                *s = step(a[k].to_f32(), b[k].to_f32(), *s);
            }
        }
        i += 4 * W;
    }
    let mut j = 0;
    while i < n {
        for (l, s) in acc[j].iter_mut().enumerate() {
            let (x, y) = if i + l < n {
                (a[i + l].to_f32(), b[i + l].to_f32())
            } else {
                (0.0, 0.0)
            };
            *s = step(x, y, *s);
        }
        i += W;
        j += 1;
    }
    let mut s = [0.0f32; W];
    for l in 0..W {
        s[l] = (acc[0][l] + acc[1][l]) + (acc[2][l] + acc[3][l]);
    }
    let mut width = W / 2;
    while width > 0 {
        for l in 0..width {
            s[l] += s[l + width];
        }
        width /= 2;
    }
    s[0]
}

pub fn dot<T: Element>(q: &[f32], x: &[T]) -> f32 {
    fold(q, x, fmadd)
}

pub fn l2_sq<T: Element>(q: &[f32], x: &[T]) -> f32 {
    fold(q, x, |a, b, acc| {
        let d = a - b;
        fmadd(d, d, acc)
    })
}

pub fn norm_sq<T: Element>(x: &[T]) -> f32 {
    fold(x, x, fmadd)
}
