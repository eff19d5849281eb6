//! Vector normalisation helpers (cosine indexes store unit vectors).

use crate::{simd, Element};

/// Scales `v` to unit L2 norm in place. A zero vector (or one whose norm is not
/// finite) is left unchanged rather than turned into NaNs.
pub fn normalize(v: &mut [f32]) {
    let norm = simd::norm_sq(v).sqrt();
    if norm > 0.0 && norm.is_finite() {
        // Divide rather than multiply by the reciprocal: one rounding per element.
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Squared L2 norm of each `dim`-wide row of `data` (same values as `simd::norm_sq`).
/// With `dim == 0` the row count is undefined and the result is empty.
pub fn squared_norms<T: Element>(data: &[T], dim: usize) -> Vec<f32> {
    if dim == 0 {
        return Vec::new();
    }
    assert_eq!(
        data.len() % dim,
        0,
        "data length {} is not a multiple of dim {dim}",
        data.len()
    );
    data.chunks_exact(dim).map(simd::norm_sq).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_gives_unit_norm_and_keeps_zero() {
        let mut v = vec![3.0f32, 4.0, 0.0];
        normalize(&mut v);
        assert_eq!(v, vec![0.6, 0.8, 0.0]);
        let mut z = vec![0.0f32; 17];
        normalize(&mut z);
        assert!(z.iter().all(|&x| x == 0.0));
        let mut e: Vec<f32> = Vec::new();
        normalize(&mut e);
        let mut w: Vec<f32> = (0..130).map(|i| (i as f32 - 60.0) * 0.37).collect();
        normalize(&mut w);
        assert!((crate::scalar::norm_sq(&w) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn squared_norms_per_row() {
        let data: Vec<u8> = vec![1, 2, 3, 4, 0, 0];
        assert_eq!(squared_norms(&data, 2), vec![5.0, 25.0, 0.0]);
        assert!(squared_norms::<f32>(&[], 4).is_empty());
        assert!(squared_norms::<f32>(&[], 0).is_empty());
    }
}
