//! Plain-Rust kernels in the documented order (see `simd`): the path for CPUs
//! without AVX2 (and for aarch64, where LLVM turns the 16-lane arrays into NEON).
//! Written over fixed-size arrays so every step is a lane-wise operation LLVM
//! vectorises; no bounds checks in the loops.

use crate::isa::fmadd;
use crate::Element;

const W: usize = 16;

#[inline(always)]
fn lanes<T: Element>(s: &[T]) -> [f32; W] {
    let s: &[T; W] = s.try_into().expect("16-element chunk");
    s.map(Element::to_f32)
}

#[inline(always)]
fn step_all(acc: &mut [f32; W], a: [f32; W], b: [f32; W], step: &impl Fn(f32, f32, f32) -> f32) {
    for l in 0..W {
        acc[l] = step(a[l], b[l], acc[l]);
    }
}

/// Runs `step(a_i, b_i, acc)` over both slices in the fixed order and folds the
/// accumulators. Padding lanes see `step(0, 0, acc)`, as the masked SIMD loads do.
#[inline(always)]
fn fold<A: Element, B: Element>(a: &[A], b: &[B], step: impl Fn(f32, f32, f32) -> f32) -> f32 {
    let n = a.len().min(b.len());
    let mut acc = [[0.0f32; W]; 4];
    let whole = n / (4 * W) * (4 * W);
    for (ca, cb) in a[..whole]
        .chunks_exact(4 * W)
        .zip(b[..whole].chunks_exact(4 * W))
    {
        for (j, s) in acc.iter_mut().enumerate() {
            let r = j * W..(j + 1) * W;
            step_all(s, lanes(&ca[r.clone()]), lanes(&cb[r]), &step);
        }
    }
    let mut i = whole;
    let mut j = 0;
    while i < n {
        let len = (n - i).min(W);
        let (mut x, mut y) = ([0.0f32; W], [0.0f32; W]);
        for l in 0..len {
            x[l] = a[i + l].to_f32();
            y[l] = b[i + l].to_f32();
        }
        step_all(&mut acc[j], x, y, &step);
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

pub fn dot<A: Element, T: Element>(q: &[A], x: &[T]) -> f32 {
    fold(q, x, fmadd)
}

pub fn l2_sq<A: Element, T: Element>(q: &[A], x: &[T]) -> f32 {
    fold(q, x, |a, b, acc| {
        let d = a - b;
        fmadd(d, d, acc)
    })
}
