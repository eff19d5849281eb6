//! The many-rows kernels (`dot_rows`, `l2_rows`, `dot_norm_rows`) fold 8 or 16
//! rows' lanes together; each output must still be the pair kernel's, bit for
//! bit, on every path this CPU runs, for any row order, repeats and group tails.

use proptest::prelude::*;
use quarry_kernels::{distance, simd, Element, Isa, Metric};

fn paths() -> Vec<Isa> {
    [Isa::Portable, Isa::Avx2, Isa::Avx512]
        .into_iter()
        .filter(|p| p.supported())
        .collect()
}

fn check<T: Element>(q: &[f32], data: &[T], dim: usize, rows: &[u32]) {
    for isa in paths() {
        let mut dots = vec![0.0; rows.len()];
        let mut l2 = vec![0.0; rows.len()];
        let (mut d2, mut n2) = (vec![0.0; rows.len()], vec![0.0; rows.len()]);
        simd::rows_on_path(isa, false, q, data, dim, rows, &mut dots);
        simd::rows_on_path(isa, true, q, data, dim, rows, &mut l2);
        simd::dot_norm_rows_on(isa, q, data, dim, rows, &mut d2, &mut n2);
        for (i, &r) in rows.iter().enumerate() {
            let x = &data[r as usize * dim..(r as usize + 1) * dim];
            let (d, n) = simd::dot_norm_on(isa, q, x);
            let want = [simd::dot_on(isa, q, x), simd::l2_sq_on(isa, q, x), d, n];
            let got = [dots[i], l2[i], d2[i], n2[i]];
            if isa == quarry_kernels::isa::active() {
                for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
                    let mut dist = vec![0.0; rows.len()];
                    simd::distance_rows(metric, q, simd::norm_sq(q), data, dim, rows, &mut dist);
                    let want = distance(metric, q, x);
                    assert_eq!(
                        dist[i].to_bits(),
                        want.to_bits(),
                        "{metric:?} dim {dim} row {r}"
                    );
                }
            }
            assert_eq!(
                got.map(f32::to_bits),
                want.map(f32::to_bits),
                "{isa} dim {dim} row {r} (output {i}): {got:?} vs {want:?}"
            );
        }
    }
}

fn case<T: Element + Arbitrary>() -> impl Strategy<Value = (Vec<f32>, Vec<T>, usize, Vec<u32>)> {
    (
        prop_oneof![
            prop::sample::select(vec![1usize, 15, 16, 17, 50, 64, 65, 128]),
            1usize..200
        ],
        1usize..40,
    )
        .prop_flat_map(|(dim, n)| {
            (
                prop::collection::vec(-100.0f32..100.0, dim),
                prop::collection::vec(any::<T>(), n * dim),
                Just(dim),
                prop::collection::vec(0..n as u32, 0..60),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn f32_rows_equal_pairs((q, data, dim, rows) in (
        prop_oneof![prop::sample::select(vec![1usize, 15, 16, 17, 50, 64, 65, 128]), 1usize..200],
        1usize..40,
    ).prop_flat_map(|(dim, n)| (
        prop::collection::vec(-100.0f32..100.0, dim),
        prop::collection::vec(-300.0f32..300.0, n * dim),
        Just(dim),
        prop::collection::vec(0..n as u32, 0..60),
    ))) {
        check(&q, &data, dim, &rows);
    }

    #[test]
    fn u8_rows_equal_pairs((q, data, dim, rows) in case::<u8>()) {
        check(&q, &data, dim, &rows);
    }

    #[test]
    fn i8_rows_equal_pairs((q, data, dim, rows) in case::<i8>()) {
        check(&q, &data, dim, &rows);
    }
}

#[test]
#[should_panic(expected = "one output per row")]
fn outputs_must_match_rows() {
    let mut out = vec![0.0; 1];
    simd::dot_rows(&[1.0, 2.0], &[1.0f32, 2.0, 3.0, 4.0], 2, &[0, 1], &mut out);
}
