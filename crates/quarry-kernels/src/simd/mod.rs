//! Fast pairwise kernels: one f32 query against one stored vector.
//!
//! Summation order (identical in every ISA path, so results are reproducible and
//! the AVX-512 path can be checked bit for bit against the portable one):
//! 1. whole 64-element blocks go to four 16-lane accumulators, lane `l` of
//!    accumulator `a` taking element `64 b + 16 a + l` by fused multiply-add;
//! 2. the remaining whole 16-element chunks go to accumulators 0, 1, 2 in turn;
//! 3. a last partial chunk, zero-padded, goes to the next accumulator;
//! 4. the four accumulators are added as `(a0 + a1) + (a2 + a3)` lane-wise, then
//!    the 16 lanes are folded in halves (`l + l+8`, `l + l+4`, `l + l+2`, `l + l+1`).
//!
//! Four independent accumulators hide FMA latency on long vectors; plain loops
//! with one accumulator were latency-bound at ~5 cycles per 16 elements.

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
mod portable;

use crate::dtype::{native, Native};
use crate::{isa, Element};

/// Inner product `q . x`.
#[inline]
pub fn dot<T: Element>(q: &[f32], x: &[T]) -> f32 {
    debug_assert_eq!(q.len(), x.len());
    let n = q.len().min(x.len());
    let q = &q[..n];
    #[cfg(target_arch = "x86_64")]
    if isa::avx512() {
        // SAFETY: AVX-512F/BW/VL are available; slices have equal length.
        return unsafe {
            match native(&x[..n]) {
                Native::F32(x) => avx512::dot(q, x),
                Native::U8(x) => avx512::dot(q, x),
                Native::I8(x) => avx512::dot(q, x),
            }
        };
    }
    portable::dot(q, &x[..n])
}

/// Squared Euclidean distance `|q - x|^2`, from the differences (no cancellation).
#[inline]
pub fn l2_sq<T: Element>(q: &[f32], x: &[T]) -> f32 {
    debug_assert_eq!(q.len(), x.len());
    let n = q.len().min(x.len());
    let q = &q[..n];
    #[cfg(target_arch = "x86_64")]
    if isa::avx512() {
        // SAFETY: AVX-512F/BW/VL are available; slices have equal length.
        return unsafe {
            match native(&x[..n]) {
                Native::F32(x) => avx512::l2_sq(q, x),
                Native::U8(x) => avx512::l2_sq(q, x),
                Native::I8(x) => avx512::l2_sq(q, x),
            }
        };
    }
    portable::l2_sq(q, &x[..n])
}

/// Squared norm `|x|^2`; equals `dot(x, x)` bit for bit for f32 `x`.
#[inline]
pub fn norm_sq<T: Element>(x: &[T]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if isa::avx512() {
        // SAFETY: AVX-512F/BW/VL are available.
        return unsafe {
            match native(x) {
                Native::F32(x) => avx512::norm_sq(x),
                Native::U8(x) => avx512::norm_sq(x),
                Native::I8(x) => avx512::norm_sq(x),
            }
        };
    }
    portable::norm_sq(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(seed: u64, n: usize) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// With hardware FMA the dispatched path must equal the portable one exactly:
    /// this pins the intrinsic code to the documented summation order.
    #[test]
    fn dispatched_equals_portable_bitwise() {
        if !cfg!(target_feature = "fma") {
            return;
        }
        for n in (0..200).chain([255, 256, 257, 784, 960]) {
            let q = vals(n as u64, n);
            let xf = vals(n as u64 + 1000, n);
            let xu: Vec<u8> = xf.iter().map(|v| ((v + 1.0) * 127.5) as u8).collect();
            let xi: Vec<i8> = xf.iter().map(|v| (v * 127.0) as i8).collect();
            assert_eq!(
                dot(&q, &xf).to_bits(),
                portable::dot(&q, &xf).to_bits(),
                "dot f32 {n}"
            );
            assert_eq!(
                dot(&q, &xu).to_bits(),
                portable::dot(&q, &xu).to_bits(),
                "dot u8 {n}"
            );
            assert_eq!(
                dot(&q, &xi).to_bits(),
                portable::dot(&q, &xi).to_bits(),
                "dot i8 {n}"
            );
            assert_eq!(
                l2_sq(&q, &xf).to_bits(),
                portable::l2_sq(&q, &xf).to_bits(),
                "l2 f32 {n}"
            );
            assert_eq!(
                l2_sq(&q, &xu).to_bits(),
                portable::l2_sq(&q, &xu).to_bits(),
                "l2 u8 {n}"
            );
            assert_eq!(
                l2_sq(&q, &xi).to_bits(),
                portable::l2_sq(&q, &xi).to_bits(),
                "l2 i8 {n}"
            );
            assert_eq!(
                norm_sq(&xu).to_bits(),
                portable::norm_sq(&xu).to_bits(),
                "norm u8 {n}"
            );
            assert_eq!(
                norm_sq(&xi).to_bits(),
                portable::norm_sq(&xi).to_bits(),
                "norm i8 {n}"
            );
            assert_eq!(
                norm_sq(&q).to_bits(),
                dot(&q, &q).to_bits(),
                "norm == self dot {n}"
            );
        }
    }
}
