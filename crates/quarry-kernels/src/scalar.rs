//! Reference kernels: the plainest possible loops, accumulated in f64. The fast
//! paths in `simd` are tested against these.

use crate::{metric::cosine_from_parts, Element, Metric};

pub fn dot<T: Element>(q: &[f32], x: &[T]) -> f32 {
    debug_assert_eq!(q.len(), x.len());
    q.iter()
        .zip(x)
        .map(|(a, b)| *a as f64 * b.to_f32() as f64)
        .sum::<f64>() as f32
}

pub fn l2_sq<T: Element>(q: &[f32], x: &[T]) -> f32 {
    debug_assert_eq!(q.len(), x.len());
    q.iter()
        .zip(x)
        .map(|(a, b)| {
            let d = *a as f64 - b.to_f32() as f64;
            d * d
        })
        .sum::<f64>() as f32
}

pub fn norm_sq<T: Element>(x: &[T]) -> f32 {
    x.iter().map(|v| (v.to_f32() as f64).powi(2)).sum::<f64>() as f32
}

pub fn distance<T: Element>(metric: Metric, q: &[f32], x: &[T]) -> f32 {
    match metric {
        Metric::L2 => l2_sq(q, x),
        Metric::InnerProduct => -dot(q, x),
        Metric::Cosine => cosine_from_parts(dot(q, x), norm_sq(q), norm_sq(x)),
    }
}
