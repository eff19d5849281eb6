//! Fast kernels. Plain loops over fixed-width lanes with independent accumulators:
//! LLVM turns them into AVX-512 (or whatever `target-cpu` offers) FMAs without
//! `unsafe` intrinsics, and the summation order is fixed so results are reproducible.

use crate::Element;

const LANES: usize = 16;

#[inline]
pub fn dot<T: Element>(q: &[f32], x: &[T]) -> f32 {
    debug_assert_eq!(q.len(), x.len());
    let n = q.len().min(x.len());
    let mut acc = [0.0f32; LANES];
    let chunks = n / LANES;
    for c in 0..chunks {
        let qa = &q[c * LANES..c * LANES + LANES];
        let xa = &x[c * LANES..c * LANES + LANES];
        for i in 0..LANES {
            acc[i] += qa[i] * xa[i].to_f32();
        }
    }
    let mut tail = 0.0f32;
    for i in chunks * LANES..n {
        tail += q[i] * x[i].to_f32();
    }
    acc.iter().sum::<f32>() + tail
}

#[inline]
pub fn l2_sq<T: Element>(q: &[f32], x: &[T]) -> f32 {
    debug_assert_eq!(q.len(), x.len());
    let n = q.len().min(x.len());
    let mut acc = [0.0f32; LANES];
    let chunks = n / LANES;
    for c in 0..chunks {
        let qa = &q[c * LANES..c * LANES + LANES];
        let xa = &x[c * LANES..c * LANES + LANES];
        for i in 0..LANES {
            let d = qa[i] - xa[i].to_f32();
            acc[i] += d * d;
        }
    }
    let mut tail = 0.0f32;
    for i in chunks * LANES..n {
        let d = q[i] - x[i].to_f32();
        tail += d * d;
    }
    acc.iter().sum::<f32>() + tail
}

#[inline]
pub fn norm_sq<T: Element>(x: &[T]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = x.len() / LANES;
    for c in 0..chunks {
        let xa = &x[c * LANES..c * LANES + LANES];
        for i in 0..LANES {
            let v = xa[i].to_f32();
            acc[i] += v * v;
        }
    }
    let mut tail = 0.0f32;
    for v in &x[chunks * LANES..] {
        let v = v.to_f32();
        tail += v * v;
    }
    acc.iter().sum::<f32>() + tail
}
