//! Layer 1 of Quarry: distance kernels. Depends on nothing else in the project.
//!
//! Convention: every distance is "smaller is closer". Inner product is returned
//! negated and cosine as `1 - cos`, so one heap order serves all metrics.

pub mod dtype;
pub mod metric;
pub mod scalar;
pub mod simd;
pub mod batch;
pub mod topk;

pub use batch::{batch_distances, batch_distances_with, BatchScratch};
pub use dtype::{DType, Element};
pub use metric::Metric;
pub use topk::{Neighbor, TopK};

/// Distance between an f32 query and a stored vector, through the fast kernels.
#[inline]
pub fn distance<T: Element>(metric: Metric, q: &[f32], x: &[T]) -> f32 {
    match metric {
        Metric::L2 => simd::l2_sq(q, x),
        Metric::InnerProduct => -simd::dot(q, x),
        Metric::Cosine => metric::cosine_from_parts(
            simd::dot(q, x),
            simd::norm_sq(q),
            simd::norm_sq(x),
        ),
    }
}
