//! Gaussian samples by Box-Muller, from any seeded `rand::Rng`.
//!
//! Each function pins its exact draws and arithmetic: seeded data sets and trained
//! models depend on the bits, so the variants are kept apart rather than unified.

use rand::Rng;

/// Two independent N(0, `std_dev`^2) samples from one Box-Muller draw, in f64.
///
/// Draws `u1 = 1 - U[0, 1)` (in (0, 1], so `ln(u1)` is finite), then `u2 = U[0, 1)`;
/// returns `r cos(t)` and `r sin(t)` with `r = sqrt(-2 ln u1) * std_dev` and
/// `t = 2 pi u2`. `std_dev` scales `r` before the product, so pass it here rather than
/// multiplying afterwards when the bits matter.
#[inline]
pub fn normal_pair<R: Rng + ?Sized>(rng: &mut R, std_dev: f64) -> (f64, f64) {
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    let r = (-2.0 * u1.ln()).sqrt() * std_dev;
    let theta = std::f64::consts::TAU * u2;
    (r * theta.cos(), r * theta.sin())
}

/// One N(0, 1) sample as f32: the first of `normal_pair(rng, 1.0)`, rounded (the
/// second is dropped; the same two draws are consumed).
#[inline]
pub fn normal<R: Rng + ?Sized>(rng: &mut R) -> f32 {
    normal_pair(rng, 1.0).0 as f32
}

/// One N(0, 1) sample as f32 with `u1 = max(U[0, 1), f64::MIN_POSITIVE)` (the
/// pruning model's training noise; otherwise as `normal`).
#[inline]
pub fn normal_clamped<R: Rng + ?Sized>(rng: &mut R) -> f32 {
    let u1 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// One N(0, 1) sample computed in f32 throughout, with `u1 = U[f32::EPSILON, 1)`
/// from `random_range` (the MLP's training noise).
#[inline]
pub fn normal_f32<R: Rng + ?Sized>(rng: &mut R) -> f32 {
    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    //! Each sampler against a verbatim copy of the code it replaces, on seeded streams.
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn streams() -> impl Iterator<Item = (ChaCha8Rng, ChaCha8Rng)> {
        (0..8u64).map(|s| (ChaCha8Rng::seed_from_u64(s), ChaCha8Rng::seed_from_u64(s)))
    }

    #[test]
    fn normal_pair_is_synths_box_muller() {
        for (mut a, mut b) in streams() {
            for spread in [0.1f32, 1.0, 0.37] {
                for _ in 0..500 {
                    let (x, y) = normal_pair(&mut a, f64::from(spread));
                    let u1 = 1.0 - b.random::<f64>();
                    let u2 = b.random::<f64>();
                    let r = (-2.0 * u1.ln()).sqrt() * f64::from(spread);
                    let theta = std::f64::consts::TAU * u2;
                    assert_eq!((x as f32).to_bits(), ((r * theta.cos()) as f32).to_bits());
                    assert_eq!((y as f32).to_bits(), ((r * theta.sin()) as f32).to_bits());
                }
            }
        }
    }

    #[test]
    fn normal_is_centroid_benchs() {
        for (mut a, mut b) in streams() {
            for _ in 0..2000 {
                let u1: f64 = 1.0 - b.random::<f64>();
                let u2: f64 = b.random::<f64>();
                let want =
                    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32;
                assert_eq!(normal(&mut a).to_bits(), want.to_bits());
            }
        }
    }

    #[test]
    fn normal_clamped_is_the_pruning_trainers() {
        for (mut a, mut b) in streams() {
            for _ in 0..2000 {
                let u1: f64 = b.random::<f64>().max(f64::MIN_POSITIVE);
                let u2: f64 = b.random();
                let want =
                    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32;
                assert_eq!(normal_clamped(&mut a).to_bits(), want.to_bits());
            }
        }
    }

    #[test]
    fn normal_f32_is_the_mlp_trainers() {
        for (mut a, mut b) in streams() {
            for _ in 0..2000 {
                let u1: f32 = b.random_range(f32::EPSILON..1.0);
                let u2: f32 = b.random();
                let want = (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos();
                assert_eq!(normal_f32(&mut a).to_bits(), want.to_bits());
            }
        }
    }

    #[test]
    fn moments_are_standard() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let xs: Vec<f64> = (0..20_000)
            .flat_map(|_| {
                let (a, b) = normal_pair(&mut rng, 1.0);
                [a, b]
            })
            .collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.03,
            "{mean} {var}"
        );
    }
}
