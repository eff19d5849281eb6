//! Metadata building, validation and evaluation semantics.

use quarry_filter::{Column, Filter, FilterError, Metadata};

fn ids(m: &Metadata, f: &str) -> Vec<u64> {
    let f = Filter::parse(f).unwrap();
    let got: Vec<u64> = m.evaluate(&f).unwrap().iter().collect();
    let per_id: Vec<u64> = (0..m.len())
        .filter(|&i| m.matches(&f, i).unwrap())
        .collect();
    assert_eq!(got, per_id, "evaluate and matches disagree on {f}");
    got
}

/// 6 vectors: labels {3,7}, {}, {7}, {3}, {3,7,9}, {1000000}.
fn sample() -> Metadata {
    let mut m = Metadata::new(6);
    m.set_labels_csr(&[0, 2, 2, 3, 4, 7, 8], &[3, 7, 7, 3, 9, 3, 7, 1_000_000])
        .unwrap();
    m.add_attribute(
        "year",
        Column::I64(vec![2019, 2020, 2021, 50, 51, i64::MIN]),
    )
    .unwrap();
    m.add_attribute(
        "price",
        Column::F64(vec![10.0, 50.0, 49.99, -0.0, 1e300, 50.5]),
    )
    .unwrap();
    m
}

#[test]
fn label_semantics() {
    let m = sample();
    assert_eq!(ids(&m, "label = 3"), [0, 3, 4]);
    assert_eq!(ids(&m, "label in [3, 7]"), [0, 2, 3, 4]);
    assert_eq!(ids(&m, "label in [9, 9, 1000000]"), [4, 5]);
    assert_eq!(ids(&m, "not label = 9"), [0, 1, 2, 3, 5]);
    assert_eq!(ids(&m, "label != 7"), [1, 3, 5]);
    // A label nobody carries matches nothing; its complement everything.
    assert_eq!(ids(&m, "label = 12345"), [] as [u64; 0]);
    assert_eq!(ids(&m, "not label = 12345"), [0, 1, 2, 3, 4, 5]);
    assert_eq!(ids(&m, "label = 3 and label = 7"), [0, 4]);
    assert_eq!(ids(&m, "label = 3 and not label = 7"), [3]);
    assert_eq!(ids(&m, "not label = 3 and label = 7"), [2]);
    assert_eq!(
        ids(&m, "not label = 1 or label = 2 and label = 3"),
        [0, 1, 2, 3, 4, 5]
    );
    assert_eq!(ids(&m, "not (label = 3 or label = 7)"), [1, 5]);
    assert_eq!(
        m.labels().collect::<Vec<_>>(),
        [(3, 3), (7, 3), (9, 1), (1_000_000, 1)]
    );
}

#[test]
fn comparisons_are_exact() {
    let m = sample();
    assert_eq!(ids(&m, "year < 50.5"), [3, 5]);
    assert_eq!(ids(&m, "year <= 50"), [3, 5]);
    assert_eq!(ids(&m, "year > 50.5"), [0, 1, 2, 4]);
    assert_eq!(ids(&m, "year >= 51.0"), [0, 1, 2, 4]);
    assert_eq!(ids(&m, "year = 51.0"), [4]);
    assert_eq!(ids(&m, "year = 50.5"), [] as [u64; 0]);
    assert_eq!(ids(&m, "year != 50.5"), [0, 1, 2, 3, 4, 5]);
    assert_eq!(ids(&m, "year = -9223372036854775808"), [5]);
    assert_eq!(ids(&m, "year < -9.3e18"), [] as [u64; 0]);
    assert_eq!(ids(&m, "year > -1e300"), [0, 1, 2, 3, 4, 5]);
    assert_eq!(ids(&m, "year >= 2020 and (label = 3 or label = 7)"), [2]);
    assert_eq!(ids(&m, "price < 50.0"), [0, 2, 3]);
    assert_eq!(ids(&m, "price <= 50"), [0, 1, 2, 3]);
    assert_eq!(ids(&m, "price = 0"), [3]);
    assert_eq!(ids(&m, "price = -0.0"), [3]);
    assert_eq!(ids(&m, "price = 49.99"), [2]);
    assert_eq!(ids(&m, "price > 1e299"), [4]);
}

#[test]
fn exact_for_large_integers() {
    // 2^53 + 1 rounds to 2^53 as f64; an exact comparison tells them apart.
    let big = (1i64 << 53) + 1;
    let mut m = Metadata::new(2);
    m.add_attribute("x", Column::I64(vec![big, big - 1]))
        .unwrap();
    assert_eq!(ids(&m, &format!("x = {big}")), [0]);
    assert_eq!(ids(&m, &format!("x > {}", big - 1)), [0]);
    assert_eq!(ids(&m, "x = 9007199254740992.0"), [1]);
    assert_eq!(ids(&m, "x > 9007199254740992.0"), [0]);
    let mut m = Metadata::new(1);
    m.add_attribute("p", Column::F64(vec![9007199254740992.0]))
        .unwrap();
    assert_eq!(ids(&m, &format!("p < {big}")), [0]);
    assert_eq!(ids(&m, &format!("p = {big}")), [] as [u64; 0]);
}

#[test]
fn unknown_attribute() {
    let m = sample();
    let f = Filter::parse("label = 3 or colour = 2").unwrap();
    for e in [m.evaluate(&f).unwrap_err(), m.matches(&f, 0).unwrap_err()] {
        match &e {
            FilterError::UnknownAttribute { name, known } => {
                assert_eq!(name, "colour");
                assert_eq!(known, &["price", "year"]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            e.to_string(),
            "unknown attribute 'colour' in filter; known attributes: price, year"
        );
    }
    assert!(matches!(
        m.matches(&Filter::parse("label = 3").unwrap(), 6),
        Err(FilterError::IdOutOfRange { id: 6, n: 6 })
    ));
}

#[test]
fn empty_metadata() {
    let m = Metadata::new(0);
    assert!(m.is_empty());
    assert_eq!(ids(&m, "not label = 1"), [] as [u64; 0]);
    let m = Metadata::new(3);
    assert!(!m.is_empty());
    assert_eq!(m.labels().count(), 0);
    assert_eq!(ids(&m, "not label = 1"), [0, 1, 2]);
    assert_eq!(m.memory_bytes(), 0);
    assert!(sample().memory_bytes() >= 6 * 8 * 2);
}

#[test]
fn csr_validation() {
    let mut m = Metadata::new(2);
    let bad: [(&[u64], &[u32], &str); 5] = [
        (&[0, 1], &[5], "indptr has 2 entries"),
        (&[1, 1, 1], &[5], "indptr[0] is 1"),
        (&[0, 2, 1], &[5, 6], "decreases at row 1"),
        (&[0, 1, 1], &[5, 6], "ends at 1 but there are 2"),
        (&[0, 1, 3], &[5, 6], "ends at 3 but there are 2"),
    ];
    for (indptr, indices, want) in bad {
        let e = m.set_labels_csr(indptr, indices).unwrap_err();
        assert!(e.to_string().contains(want), "{e}");
    }
    assert_eq!(m.labels().count(), 0, "a refused update changed nothing");
    m.set_labels_csr(&[0, 3, 4], &[5, 5, 6, 5]).unwrap();
    assert_eq!(m.labels().collect::<Vec<_>>(), [(5, 2), (6, 1)]);
    // Replacing drops the old labels.
    m.set_labels_csr(&[0, 0, 1], &[8]).unwrap();
    assert_eq!(m.labels().collect::<Vec<_>>(), [(8, 1)]);
}

#[test]
fn attribute_validation() {
    let mut m = Metadata::new(3);
    let cases = [
        ("label", Column::I64(vec![1, 2, 3]), "not an attribute name"),
        ("and", Column::I64(vec![1, 2, 3]), "not an attribute name"),
        ("9x", Column::I64(vec![1, 2, 3]), "not an attribute name"),
        ("a-b", Column::I64(vec![1, 2, 3]), "not an attribute name"),
        ("", Column::I64(vec![1, 2, 3]), "not an attribute name"),
        (
            "x",
            Column::I64(vec![1, 2]),
            "has 2 values; the metadata holds 3",
        ),
        ("x", Column::F64(vec![1.0, f64::NAN, 2.0]), "row 1 is NaN"),
        (
            "x",
            Column::F64(vec![1.0, 2.0, f64::NEG_INFINITY]),
            "row 2 is -inf",
        ),
    ];
    for (name, col, want) in cases {
        let e = m.add_attribute(name, col).unwrap_err();
        assert!(e.to_string().contains(want), "{name}: {e}");
    }
    assert!(m.attribute_names().is_empty());
    m.add_attribute("x", Column::I64(vec![1, 2, 3])).unwrap();
    m.add_attribute("AND", Column::F64(vec![1.0, 2.0, 3.0]))
        .unwrap();
    let e = m
        .add_attribute("x", Column::I64(vec![1, 2, 3]))
        .unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    assert_eq!(m.attribute_names(), ["AND", "x"]);
    assert_eq!(m.attribute("x"), Some(&Column::I64(vec![1, 2, 3])));
}

#[test]
fn push_appends_one_vector() {
    let mut m = Metadata::new(0);
    m.add_attribute("year", Column::I64(vec![])).unwrap();
    m.add_attribute("price", Column::F64(vec![])).unwrap();
    assert_eq!(
        m.push(&[3, 7], &[("year", 2020.0), ("price", 9.5)])
            .unwrap(),
        0
    );
    assert_eq!(m.push(&[], &[("price", 1.0), ("year", -5.0)]).unwrap(), 1);
    assert_eq!(
        m.push(&[7, 7], &[("year", 1.0), ("price", 0.0)]).unwrap(),
        2
    );
    assert_eq!(m.len(), 3);
    assert_eq!(ids(&m, "label = 7"), [0, 2]);
    assert_eq!(ids(&m, "year < 0"), [1]);
    assert_eq!(
        m.attribute("price"),
        Some(&Column::F64(vec![9.5, 1.0, 0.0]))
    );

    let before = m.clone();
    let bad: [(&[(&str, f64)], &str); 6] = [
        (&[("year", 1.0)], "lacks attribute(s): price"),
        (
            &[("year", 1.5), ("price", 1.0)],
            "is i64 but vector 3 gives 1.5",
        ),
        (&[("year", 1e19), ("price", 1.0)], "is i64"),
        (&[("year", 1.0), ("price", f64::INFINITY)], "must be finite"),
        (&[("year", 1.0), ("year", 1.0)], "given twice"),
        (
            &[("year", 1.0), ("colour", 1.0)],
            "unknown attribute 'colour'",
        ),
    ];
    for (attrs, want) in bad {
        let e = m.push(&[1], attrs).unwrap_err();
        assert!(e.to_string().contains(want), "{e}");
    }
    assert_eq!(m, before, "refused pushes changed nothing");

    // Pushing onto metadata built in bulk matches building it in one go.
    let mut bulk = Metadata::new(3);
    bulk.set_labels_csr(&[0, 2, 2, 4], &[3, 7, 7, 7]).unwrap();
    bulk.add_attribute("year", Column::I64(vec![2020, -5, 1]))
        .unwrap();
    bulk.add_attribute("price", Column::F64(vec![9.5, 1.0, 0.0]))
        .unwrap();
    assert_eq!(bulk, m);
    assert_eq!(bulk.to_bytes(), m.to_bytes());
}

/// The longest accepted left-deep `or` chain, evaluated on a thread with a
/// small stack.
#[test]
fn longest_chain_on_a_small_stack() {
    let mut text = "x=1 or ".repeat(1024);
    text.push_str("x=2");
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            let mut m = Metadata::new(3);
            m.add_attribute("x", Column::I64(vec![2, 1, 0])).unwrap();
            let f = Filter::parse(&text).unwrap();
            assert_eq!(m.evaluate(&f).unwrap().iter().collect::<Vec<_>>(), [0, 1]);
            assert!(m.matches(&f, 1).unwrap());
            assert_eq!(f.expr().to_string().len(), text.len() + 2 * 1025);
            assert_eq!(f.attributes(), ["x"]);
            let g = f.clone();
            assert_eq!(f, g);
        })
        .unwrap()
        .join()
        .unwrap();
}
