//! `Metadata::rebuild` (metadata after writes) against a per-id model: any
//! interleaving of upserts and deletes over built rows gives metadata whose
//! every filter matches exactly the model's live ids, and that round-trips
//! through its encoding.

use std::collections::BTreeMap;

use proptest::prelude::*;
use quarry_filter::{Column, Filter, Metadata, RoaringTreemap};

#[derive(Clone, Debug)]
enum Op {
    Upsert(u64, Vec<u32>, i64, f64),
    Delete(u64),
}

fn op(max_id: u64) -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..max_id, proptest::collection::vec(0u32..4, 0..3), -5i64..5, 0u8..4)
            .prop_map(|(id, l, y, p)| Op::Upsert(id, l, y, p as f64 / 2.0)),
        1 => (0..max_id).prop_map(Op::Delete),
    ]
}

const FILTERS: &[&str] = &[
    "label = 1",
    "not label = 2",
    "year < 0",
    "price >= 1 or label in [0, 3]",
    "not (year = 2 and label != 1)",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn rebuild_matches_model(
        n in 0u64..20,
        ops in proptest::collection::vec(op(40), 0..40),
        twice in any::<bool>(),
    ) {
        // Built rows: id i has label i % 4, year i % 7 - 3, price i % 3.
        let mut model: BTreeMap<u64, (Vec<u32>, i64, f64)> = (0..n)
            .map(|i| (i, (vec![(i % 4) as u32], (i % 7) as i64 - 3, (i % 3) as f64)))
            .collect();
        let mut base = Metadata::new(n);
        let indptr: Vec<u64> = (0..=n).collect();
        let indices: Vec<u32> = (0..n).map(|i| (i % 4) as u32).collect();
        base.set_labels_csr(&indptr, &indices).unwrap();
        base.add_attribute("year", Column::I64((0..n).map(|i| (i % 7) as i64 - 3).collect())).unwrap();
        base.add_attribute("price", Column::F64((0..n).map(|i| (i % 3) as f64).collect())).unwrap();

        // Applied in two rounds when `twice`: the second rebuilds a rebuilt
        // (possibly sparse) metadata.
        let rounds: Vec<&[Op]> = if twice { let h = ops.len() / 2; vec![&ops[..h], &ops[h..]] } else { vec![&ops[..]] };
        for round in rounds {
            let mut removed = RoaringTreemap::new();
            let mut added = base.schema();
            let mut slot_of: BTreeMap<u64, u64> = BTreeMap::new();
            for o in round {
                match o {
                    Op::Upsert(id, l, y, p) => {
                        if base.contains(*id) { removed.insert(*id); }
                        let slot = added.len();
                        added.push(l, &[("year", *y as f64), ("price", *p)]).unwrap();
                        slot_of.insert(*id, slot);
                        model.insert(*id, (l.clone(), *y, *p));
                    }
                    Op::Delete(id) => {
                        if base.contains(*id) { removed.insert(*id); }
                        slot_of.remove(id);
                        model.remove(id);
                    }
                }
            }
            let rows: Vec<(u64, u64)> = slot_of.into_iter().collect();
            base = base.rebuild(&removed, &added, &rows).unwrap();
        }
        prop_assert_eq!(base.len(), model.len() as u64);
        prop_assert_eq!(base.ids().iter().collect::<Vec<_>>(), model.keys().copied().collect::<Vec<_>>());
        let decoded = Metadata::from_bytes(&base.to_bytes()).unwrap();
        prop_assert_eq!(&decoded, &base);
        for text in FILTERS {
            let f = Filter::parse(text).unwrap();
            let want: Vec<u64> = model
                .iter()
                .filter(|(_, (l, y, p))| match *text {
                    "label = 1" => l.contains(&1),
                    "not label = 2" => !l.contains(&2),
                    "year < 0" => *y < 0,
                    "price >= 1 or label in [0, 3]" => *p >= 1.0 || l.contains(&0) || l.contains(&3),
                    _ => *y != 2 || l.contains(&1),
                })
                .map(|(&id, _)| id)
                .collect();
            let got: Vec<u64> = base.evaluate(&f).unwrap().iter().collect();
            prop_assert_eq!(&got, &want, "{}", text);
            for &id in model.keys() {
                prop_assert_eq!(base.matches(&f, id).unwrap(), want.contains(&id));
            }
        }
    }
}

#[test]
fn rebuild_refuses_bad_rows() {
    let base = Metadata::new(3);
    let mut added = base.schema();
    added.push(&[1], &[]).unwrap();
    let none = RoaringTreemap::new();
    // An id kept and written at once, a slot never written, ids out of order.
    assert!(base.rebuild(&none, &added, &[(1, 0)]).is_err());
    assert!(base.rebuild(&none, &added, &[(5, 1)]).is_err());
    assert!(base.rebuild(&none, &added, &[(6, 0), (5, 0)]).is_err());
    let other = {
        let mut m = Metadata::new(0);
        m.add_attribute("x", Column::I64(vec![])).unwrap();
        m
    };
    assert!(base.rebuild(&none, &other, &[]).is_err());
    let m = base.rebuild(&none, &added, &[(7, 0)]).unwrap();
    assert_eq!(m.ids().iter().collect::<Vec<_>>(), [0, 1, 2, 7]);
    assert!(m.matches(&Filter::parse("label = 1").unwrap(), 7).unwrap());
    assert!(m.matches(&Filter::parse("label = 1").unwrap(), 3).is_err());
}
