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
mod select;
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
pub use select::{select_smallest, Selection};
pub use topk::{Neighbor, TopK};

/// Distance between an f32 query and a stored vector, through the fast kernels.
/// Computes the norms for cosine; see `pair_distance` to pass them in.
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

/// `distance` with the squared norms (`simd::norm_sq`, or `squared_norms` of stored
/// rows) given rather than computed: the exact pair distance of the scan's re-score
/// and of the graphs. The norms are read only for cosine (pass 0 otherwise).
#[inline]
pub fn pair_distance<T: Element>(
    metric: Metric,
    q: &[f32],
    q_norm_sq: f32,
    x: &[T],
    x_norm_sq: f32,
) -> f32 {
    match metric {
        Metric::L2 => simd::l2_sq(q, x),
        Metric::InnerProduct => -simd::dot(q, x),
        Metric::Cosine => metric::cosine_from_parts(simd::dot(q, x), q_norm_sq, x_norm_sq),
    }
}

/// Runs `$body` with the type name `$T` bound to the element type `$dtype` names,
/// the one dispatch from a run-time `DType` to generic code:
///
/// ```
/// use quarry_kernels::{with_element, DType, Element};
/// fn width<T: Element>() -> usize { std::mem::size_of::<T>() }
/// let dtype = DType::U8;
/// assert_eq!(with_element!(dtype, T => width::<T>()), 1);
/// ```
#[macro_export]
macro_rules! with_element {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::U8 => {
                type $T = u8;
                $body
            }
            $crate::DType::I8 => {
                type $T = i8;
                $body
            }
        }
    };
}
