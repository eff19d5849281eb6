//! Layer 1 of Quarry: distance kernels. Depends on nothing else in the project.
//!
//! Convention: every distance is "smaller is closer". Inner product is returned
//! negated and cosine as `1 - cos`, so one heap order serves all metrics.
//!
//! Reproducibility: every kernel sums in a fixed, documented order (see `simd` and
//! `batch`), so results are identical run to run, and a batch distance does not
//! depend on the batch shape. `distance` and `batch_distances` use different
//! orders (and L2 in the batch goes through norms), so they agree only to rounding.

mod argmin;
pub mod batch;
pub mod cpu_time;
pub mod dtype;
mod gemm;
pub mod isa;
pub mod metric;
mod norms;
pub mod scalar;
pub mod simd;
pub mod topk;

pub use argmin::argmin;
pub use batch::{
    batch_distances, batch_distances_on, batch_distances_with, BatchScratch, PackedVectors,
};
pub use dtype::{DType, Element};
pub use isa::{Isa, IsaError};
pub use metric::Metric;
pub use norms::{normalize, squared_norms};
pub use topk::{Neighbor, TopK};

/// Distance between an f32 query and a stored vector, through the fast kernels.
#[inline]
pub fn distance<T: Element>(metric: Metric, q: &[f32], x: &[T]) -> f32 {
    match metric {
        Metric::L2 => simd::l2_sq(q, x),
        Metric::InnerProduct => -simd::dot(q, x),
        Metric::Cosine => {
            metric::cosine_from_parts(simd::dot(q, x), simd::norm_sq(q), simd::norm_sq(x))
        }
    }
}
