//! The fast paths (`simd`, `distance`, `batch_distances`) must agree with the f64
//! reference kernels in `scalar` for every stored dtype, metric and dimension.

use proptest::prelude::*;
use quarry_kernels::{batch_distances, distance, scalar, simd, Element, Metric};

const METRICS: [Metric; 3] = [Metric::L2, Metric::InnerProduct, Metric::Cosine];

/// Dimensions that hit the SIMD edge cases (empty, one lane, around one and several
/// 16/64-wide blocks) plus arbitrary odd sizes.
fn dims() -> impl Strategy<Value = usize> {
    prop_oneof![
        prop::sample::select(vec![0usize, 1, 15, 16, 17, 31, 33, 50, 63, 65, 128, 784]),
        0usize..300,
    ]
}

/// f32 values spanning several magnitudes, including exact zeros, so vectors are
/// not all of one scale.
fn f32_val() -> impl Strategy<Value = f32> {
    prop_oneof![Just(0.0f32), -1.0f32..1.0, -300.0f32..300.0]
}

trait Gen: Element {
    fn strategy() -> BoxedStrategy<Self>;
}
impl Gen for f32 {
    fn strategy() -> BoxedStrategy<Self> {
        f32_val().boxed()
    }
}
impl Gen for u8 {
    fn strategy() -> BoxedStrategy<Self> {
        any::<u8>().boxed()
    }
}
impl Gen for i8 {
    fn strategy() -> BoxedStrategy<Self> {
        any::<i8>().boxed()
    }
}

fn vecs<T: Gen>(count: usize, dim: usize) -> impl Strategy<Value = Vec<T>> {
    prop::collection::vec(T::strategy(), count * dim)
}

/// Worst-case f32 rounding bound for a length-`dim` sum whose terms have absolute
/// sum `mag`: every term can pick up at most ~`dim` roundings, each of relative size
/// eps. Lane-split and pairwise sums do much better; the bound just avoids flakes.
fn sum_tol(dim: usize, mag: f64) -> f64 {
    2.0 * (dim as f64 + 2.0) * f32::EPSILON as f64 * mag + 1e-30
}

fn abs_dot<T: Element>(q: &[f32], x: &[T]) -> f64 {
    q.iter()
        .zip(x)
        .map(|(a, b)| (*a as f64 * b.to_f32() as f64).abs())
        .sum()
}

/// Tolerance for `metric` between `q` and `x`. `expanded` marks the GEMM form of L2
/// (||q||^2 + ||x||^2 - 2 q.x), whose error scales with the norms, not the distance.
fn tol<T: Element>(metric: Metric, q: &[f32], x: &[T], expanded: bool) -> f64 {
    let d = q.len();
    match metric {
        Metric::InnerProduct => sum_tol(d, abs_dot(q, x)),
        Metric::L2 if expanded => {
            let mag = scalar::norm_sq(q) as f64 + scalar::norm_sq(x) as f64 + 2.0 * abs_dot(q, x);
            sum_tol(d, mag) + 4.0 * f32::EPSILON as f64 * mag
        }
        Metric::L2 => sum_tol(d, scalar::l2_sq(q, x) as f64),
        // |q.x| <= |q||x|, so relative errors of the dot and the norms become absolute
        // errors on cos; sqrt and the division add a few more roundings.
        Metric::Cosine => sum_tol(d, 3.0) + 8.0 * f32::EPSILON as f64,
    }
}

fn close(fast: f32, reference: f32, tol: f64) -> bool {
    (fast as f64 - reference as f64).abs() <= tol
}

fn check_pair<T: Gen>(q: &[f32], x: &[T]) -> Result<(), TestCaseError> {
    let ip = sum_tol(q.len(), abs_dot(q, x));
    prop_assert!(
        close(simd::dot(q, x), scalar::dot(q, x), ip),
        "dot {} vs {}",
        simd::dot(q, x),
        scalar::dot(q, x)
    );
    let l2 = tol(Metric::L2, q, x, false);
    prop_assert!(close(simd::l2_sq(q, x), scalar::l2_sq(q, x), l2));
    prop_assert!(simd::l2_sq(q, x) >= 0.0);
    let nx = sum_tol(x.len(), scalar::norm_sq(x) as f64);
    prop_assert!(close(simd::norm_sq(x), scalar::norm_sq(x), nx));
    for m in METRICS {
        let (f, r) = (distance(m, q, x), scalar::distance(m, q, x));
        prop_assert!(close(f, r, tol(m, q, x, false)), "{m}: fast {f} ref {r}");
    }
    Ok(())
}

fn check_batch<T: Gen>(
    queries: &[f32],
    nq: usize,
    data: &[T],
    n: usize,
    dim: usize,
) -> Result<(), TestCaseError> {
    for m in METRICS {
        let mut out = vec![f32::NAN; nq * n];
        batch_distances(m, queries, nq, data, n, dim, &mut out);
        for i in 0..nq {
            let q = &queries[i * dim..(i + 1) * dim];
            for j in 0..n {
                let x = &data[j * dim..(j + 1) * dim];
                let (f, r) = (out[i * n + j], scalar::distance(m, q, x));
                prop_assert!(
                    close(f, r, tol(m, q, x, true)),
                    "{m} q{i} x{j} dim {dim}: batch {f} ref {r}"
                );
                if m == Metric::L2 {
                    prop_assert!(f >= 0.0);
                }
            }
        }
    }
    Ok(())
}

fn pair<T: Gen>() -> impl Strategy<Value = (Vec<f32>, Vec<T>)> {
    dims().prop_flat_map(|d| (vecs::<f32>(1, d), vecs::<T>(1, d)))
}

#[allow(clippy::type_complexity)]
fn block<T: Gen>() -> impl Strategy<Value = (usize, usize, usize, Vec<f32>, Vec<T>)> {
    (dims(), 1usize..6, 1usize..6).prop_flat_map(|(d, nq, n)| {
        (
            Just(d),
            Just(nq),
            Just(n),
            vecs::<f32>(nq, d),
            vecs::<T>(n, d),
        )
    })
}

proptest! {
    #[test]
    fn pair_f32((q, x) in pair::<f32>()) { check_pair(&q, &x)?; }
    #[test]
    fn pair_u8((q, x) in pair::<u8>()) { check_pair(&q, &x)?; }
    #[test]
    fn pair_i8((q, x) in pair::<i8>()) { check_pair(&q, &x)?; }

    #[test]
    fn batch_f32((d, nq, n, q, x) in block::<f32>()) { check_batch(&q, nq, &x, n, d)?; }
    #[test]
    fn batch_u8((d, nq, n, q, x) in block::<u8>()) { check_batch(&q, nq, &x, n, d)?; }
    #[test]
    fn batch_i8((d, nq, n, q, x) in block::<i8>()) { check_batch(&q, nq, &x, n, d)?; }
}

/// Degenerate inputs the random strategies rarely hit.
#[test]
fn zero_vectors_and_identical_vectors() {
    for dim in [0usize, 1, 16, 17, 128] {
        let z = vec![0.0f32; dim];
        let v: Vec<f32> = (0..dim).map(|i| i as f32 - 3.5).collect();
        assert_eq!(distance(Metric::Cosine, &z, &v), 1.0);
        assert_eq!(distance(Metric::Cosine, &v, &z), 1.0);
        assert_eq!(distance(Metric::L2, &v, &v), 0.0);
        let mut out = vec![0.0f32; 4];
        let data: Vec<f32> = z.iter().chain(&v).copied().collect();
        let queries = data.clone();
        batch_distances(Metric::Cosine, &queries, 2, &data, 2, dim, &mut out);
        assert_eq!(out[0], 1.0);
        assert_eq!(out[1], 1.0);
        assert_eq!(out[2], 1.0);
        batch_distances(Metric::L2, &queries, 2, &data, 2, dim, &mut out);
        assert_eq!(
            out[3], 0.0,
            "L2 of a vector to itself must clamp to exactly 0"
        );
    }
}

/// Some of the tiles use the sizes the random blocks do not reach (wide queries
/// or data blocks with ragged edges).
#[test]
fn larger_ragged_blocks_match_reference() {
    let mut s = 7u64;
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    for (nq, n, dim) in [
        (13usize, 37usize, 50usize),
        (9, 70, 17),
        (33, 5, 128),
        (5, 129, 784),
    ] {
        let queries: Vec<f32> = (0..nq * dim).map(|_| next() * 100.0).collect();
        let xf: Vec<f32> = (0..n * dim).map(|_| next()).collect();
        let xu: Vec<u8> = (0..n * dim)
            .map(|_| ((next() + 1.0) * 127.0) as u8)
            .collect();
        let xi: Vec<i8> = (0..n * dim).map(|_| (next() * 127.0) as i8).collect();
        check_batch(&queries, nq, &xf, n, dim).unwrap();
        check_batch(&queries, nq, &xu, n, dim).unwrap();
        check_batch(&queries, nq, &xi, n, dim).unwrap();
    }
}
