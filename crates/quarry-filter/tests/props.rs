//! Property tests: printing and parsing agree, bitmap evaluation agrees with
//! per-vector evaluation and with an independent model, and the binary
//! encoding round-trips and rejects damage.

use proptest::prelude::*;
use quarry_filter::{CmpOp, Column, Expr, Filter, Metadata, Number};

/// Per-vector data, kept apart from `Metadata` so the model below does not
/// share its representation.
#[derive(Clone, Debug)]
struct Data {
    rows: Vec<Vec<u32>>,
    years: Vec<i64>,
    prices: Vec<f64>,
}

impl Data {
    fn metadata(&self) -> Metadata {
        let mut indptr = vec![0u64];
        let mut indices = Vec::new();
        for r in &self.rows {
            indices.extend_from_slice(r);
            indptr.push(indices.len() as u64);
        }
        let mut m = Metadata::new(self.rows.len() as u64);
        m.set_labels_csr(&indptr, &indices).unwrap();
        m.add_attribute("year", Column::I64(self.years.clone()))
            .unwrap();
        m.add_attribute("price", Column::F64(self.prices.clone()))
            .unwrap();
        m
    }

    fn metadata_by_push(&self) -> Metadata {
        let mut m = Metadata::new(0);
        m.add_attribute("year", Column::I64(vec![])).unwrap();
        m.add_attribute("price", Column::F64(vec![])).unwrap();
        for i in 0..self.rows.len() {
            let attrs = [("price", self.prices[i]), ("year", self.years[i] as f64)];
            assert_eq!(m.push(&self.rows[i], &attrs).unwrap(), i as u64);
        }
        m
    }

    /// The model: values are small, so comparing through f64 is exact.
    fn model(&self, e: &Expr, i: usize) -> bool {
        match e {
            Expr::Label(l) => self.rows[i].contains(l),
            Expr::LabelIn(ls) => ls.iter().any(|l| self.rows[i].contains(l)),
            Expr::Cmp { attr, op, value } => {
                let x = match attr.as_str() {
                    "year" => self.years[i] as f64,
                    "price" => self.prices[i],
                    other => panic!("unexpected attribute {other}"),
                };
                let v = value.as_f64();
                match op {
                    CmpOp::Lt => x < v,
                    CmpOp::Le => x <= v,
                    CmpOp::Gt => x > v,
                    CmpOp::Ge => x >= v,
                    CmpOp::Eq => x == v,
                    CmpOp::Ne => x != v,
                }
            }
            Expr::Not(x) => !self.model(x, i),
            Expr::And(a, b) => self.model(a, i) && self.model(b, i),
            Expr::Or(a, b) => self.model(a, i) || self.model(b, i),
        }
    }
}

fn data(max_n: usize) -> impl Strategy<Value = Data> {
    (0..=max_n).prop_flat_map(|n| {
        (
            prop::collection::vec(prop::collection::vec(0u32..12, 0..=8), n),
            prop::collection::vec(-3i64..35, n),
            prop::collection::vec((-20i32..160).prop_map(|k| k as f64 / 4.0), n),
        )
            .prop_map(|(rows, years, prices)| Data {
                rows,
                years,
                prices,
            })
    })
}

fn op() -> impl Strategy<Value = CmpOp> {
    prop_oneof![
        Just(CmpOp::Lt),
        Just(CmpOp::Le),
        Just(CmpOp::Gt),
        Just(CmpOp::Ge),
        Just(CmpOp::Eq),
        Just(CmpOp::Ne),
    ]
}

/// Literals near the data, so comparisons split the vectors.
fn near_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        (-5i64..40).prop_map(Number::Int),
        (-24i32..170).prop_map(|k| Number::Float(k as f64 / 4.0)),
        (-5i32..40).prop_map(|k| Number::Float(k as f64 + 0.5)),
    ]
}

/// Any literal the grammar can express.
fn any_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::Int),
        prop::num::f64::NORMAL.prop_map(Number::Float),
        prop::num::f64::SUBNORMAL.prop_map(Number::Float),
        prop::num::f64::ZERO.prop_map(Number::Float),
        near_number(),
    ]
}

fn expr(
    labels: impl Strategy<Value = u32> + Clone + 'static,
    attrs: &'static [&'static str],
    number: impl Strategy<Value = Number> + 'static,
) -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        labels.clone().prop_map(Expr::Label),
        prop::collection::vec(labels, 1..4).prop_map(Expr::LabelIn),
        (prop::sample::select(attrs), op(), number).prop_map(|(a, op, value)| Expr::Cmp {
            attr: a.to_string(),
            op,
            value,
        }),
    ];
    leaf.prop_recursive(5, 40, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|x| Expr::Not(Box::new(x))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Expr::Or(Box::new(a), Box::new(b))),
        ]
    })
}

fn eval_expr() -> impl Strategy<Value = Expr> {
    expr(0u32..14, &["year", "price"], near_number())
}

fn any_expr() -> impl Strategy<Value = Expr> {
    let labels = prop_oneof![0u32..20, any::<u32>()];
    expr(
        labels,
        &["year", "price", "_x9", "AND", "Label"],
        any_number(),
    )
}

/// A second printer, independent of `Expr`'s Display: every operand that
/// is not an atom gets parentheses, `not label = N` may come out as
/// `label != N`, and spacing is either tight or loose.
fn print_parenthesized(e: &Expr, tight: bool, out: &mut String) {
    let sp = if tight { "" } else { " " };
    let operand = |x: &Expr, out: &mut String| match x {
        Expr::Not(_) | Expr::And(..) | Expr::Or(..) => {
            out.push('(');
            print_parenthesized(x, tight, out);
            out.push(')');
        }
        _ => print_parenthesized(x, tight, out),
    };
    match e {
        Expr::Label(l) => out.push_str(&format!("label{sp}={sp}{l}")),
        Expr::LabelIn(ls) => {
            let list: Vec<String> = ls.iter().map(|l| l.to_string()).collect();
            out.push_str(&format!("label in{sp}[{}]", list.join(&format!(",{sp}"))));
        }
        Expr::Cmp { attr, op, value } => {
            let v = match value {
                Number::Int(i) => i.to_string(),
                // Exponent form exercises the number lexer.
                Number::Float(f) => format!("{f:e}"),
            };
            out.push_str(&format!("{attr}{sp}{}{sp}{v}", op.as_str()));
        }
        Expr::Not(x) => match x.as_ref() {
            Expr::Label(l) if tight => out.push_str(&format!("label!={l}")),
            _ => {
                out.push_str("not ");
                operand(x, out);
            }
        },
        Expr::And(a, b) | Expr::Or(a, b) => {
            operand(a, out);
            out.push_str(if matches!(e, Expr::And(..)) {
                " and "
            } else {
                " or "
            });
            operand(b, out);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_inverts_print(e in any_expr()) {
        let canonical = e.to_string();
        let f = Filter::parse(&canonical).map_err(|err| TestCaseError::fail(err.to_string()))?;
        prop_assert_eq!(f.expr(), &e, "canonical text {}", canonical);
        for tight in [false, true] {
            let mut text = String::new();
            print_parenthesized(&e, tight, &mut text);
            let f = Filter::parse(&text).map_err(|err| TestCaseError::fail(format!("{text}: {err}")))?;
            prop_assert_eq!(f.expr(), &e, "parenthesized text {}", text);
        }
    }

    #[test]
    fn evaluate_agrees_with_matches_and_model(d in data(300), e in eval_expr()) {
        let m = d.metadata();
        let f = Filter::parse(&e.to_string()).unwrap();
        let got: Vec<u64> = m.evaluate(&f).unwrap().iter().collect();
        let per_id: Vec<u64> = (0..m.len()).filter(|&i| m.matches(&f, i).unwrap()).collect();
        let model: Vec<u64> = (0..d.rows.len()).filter(|&i| d.model(&e, i)).map(|i| i as u64).collect();
        prop_assert_eq!(&got, &per_id, "evaluate vs matches for {}", f);
        prop_assert_eq!(&got, &model, "evaluate vs model for {}", f);
    }

    #[test]
    fn push_builds_the_same_metadata(d in data(60)) {
        let m = d.metadata();
        prop_assert_eq!(&d.metadata_by_push(), &m);
        let counts: Vec<(u32, u64)> = m.labels().collect();
        for (l, c) in counts {
            let want = d.rows.iter().filter(|r| r.contains(&l)).count() as u64;
            prop_assert_eq!(c, want);
        }
    }

    #[test]
    fn bytes_round_trip(d in data(300)) {
        let m = d.metadata();
        let b = m.to_bytes();
        let back = Metadata::from_bytes(&b).unwrap();
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(back.to_bytes(), b, "encoding is deterministic");
    }

    #[test]
    fn damaged_bytes_are_rejected(
        d in data(40),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        let m = d.metadata();
        let mut b = m.to_bytes();
        for (at, x) in &flips {
            let i = at.index(b.len());
            b[i] ^= x;
        }
        // A flip that cancels out (the same byte twice) may decode.
        if let Ok(back) = Metadata::from_bytes(&b) {
            prop_assert_eq!(back, m);
        }
    }

    #[test]
    fn truncated_bytes_are_rejected(d in data(12)) {
        let b = d.metadata().to_bytes();
        for cut in 0..b.len() {
            prop_assert!(Metadata::from_bytes(&b[..cut]).is_err(), "cut at {}", cut);
        }
    }
}
