//! TopK must return exactly the first k of all candidates sorted by (dist, id),
//! whatever order they arrive in.

use proptest::prelude::*;
use quarry_kernels::{Neighbor, TopK};

fn reference(cands: &[(u64, f32)], k: usize) -> Vec<Neighbor> {
    let mut all: Vec<Neighbor> = cands
        .iter()
        .map(|&(id, dist)| Neighbor { id, dist })
        .collect();
    all.sort_by(|a, b| a.dist.total_cmp(&b.dist).then(a.id.cmp(&b.id)));
    all.truncate(k);
    all
}

fn run(cands: &[(u64, f32)], k: usize) -> Vec<Neighbor> {
    let mut t = TopK::new(k);
    for &(id, d) in cands {
        t.push(id, d);
    }
    assert!(t.len() <= k);
    t.into_sorted()
}

/// Distances drawn from a handful of values so ties are common; ids unique.
fn candidates() -> impl Strategy<Value = Vec<(u64, f32)>> {
    prop::collection::vec(
        prop_oneof![
            prop::sample::select(vec![0.0f32, 0.5, 1.0, 2.0, 1e30]),
            -10.0f32..10.0
        ],
        0..200,
    )
    .prop_flat_map(|ds| {
        let n = ds.len();
        (
            Just(ds),
            Just((0..n as u64).map(|i| i * 7 + 3).collect::<Vec<_>>()).prop_shuffle(),
        )
    })
    .prop_map(|(ds, ids)| ids.into_iter().zip(ds).collect())
}

proptest! {
    #[test]
    fn matches_full_sort(cands in candidates(), k in 0usize..250) {
        prop_assert_eq!(run(&cands, k), reference(&cands, k));
    }

    #[test]
    fn arrival_order_does_not_matter(cands in candidates(), k in 1usize..20) {
        let mut rev = cands.clone();
        rev.reverse();
        prop_assert_eq!(run(&cands, k), run(&rev, k));
    }
}

#[test]
fn ties_break_by_smaller_id() {
    let cands: Vec<(u64, f32)> = [9u64, 4, 7, 1, 8].iter().map(|&id| (id, 1.0)).collect();
    let ids: Vec<u64> = run(&cands, 3).iter().map(|n| n.id).collect();
    assert_eq!(ids, vec![1, 4, 7]);
}

#[test]
fn k_zero_keeps_nothing() {
    let mut t = TopK::new(0);
    t.push(1, 0.0);
    assert!(t.is_empty());
    assert_eq!(t.threshold(), f32::INFINITY);
    assert!(t.into_sorted().is_empty());
}

#[test]
fn k_larger_than_candidates_returns_all_sorted() {
    let cands = [(5u64, 3.0f32), (2, 1.0), (9, 2.0)];
    let got = run(&cands, 10);
    assert_eq!(got.iter().map(|n| n.id).collect::<Vec<_>>(), vec![2, 9, 5]);
}

#[test]
fn threshold_is_worst_kept_once_full() {
    let mut t = TopK::new(2);
    t.push(1, 5.0);
    assert_eq!(t.threshold(), f32::INFINITY);
    t.push(2, 3.0);
    assert_eq!(t.threshold(), 5.0);
    t.push(3, 1.0);
    assert_eq!(t.threshold(), 3.0);
}
