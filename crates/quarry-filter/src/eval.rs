//! Filter evaluation: whole-set with bitmaps, and per-vector.
//!
//! Both walk the expression with an explicit stack (see expr.rs for why).
//!
//! Comparisons are exact: the stored value and the literal are compared as
//! the real numbers they denote, whatever the column and literal types. On
//! an i64 column, `x < 50.5` is `x <= 50`, and `x = 2.5` matches nothing.

use std::cmp::Ordering;

use roaring::RoaringTreemap;

use crate::error::FilterError;
use crate::expr::{CmpOp, Expr, Filter, Number};
use crate::metadata::{Column, Metadata};

/// Orders an i64 against a finite f64 exactly (no rounding of `i`).
pub(crate) fn cmp_i64_f64(i: i64, f: f64) -> Ordering {
    // Both bounds are exact in f64: -2^63 and 2^63.
    const LO: f64 = -9_223_372_036_854_775_808.0;
    const HI: f64 = 9_223_372_036_854_775_808.0;
    if f >= HI {
        return Ordering::Less;
    }
    if f < LO {
        return Ordering::Greater;
    }
    // In range, so the truncation is an exact i64.
    let t = f.trunc();
    match i.cmp(&(t as i64)) {
        Ordering::Equal => 0.0f64.partial_cmp(&(f - t)).unwrap_or(Ordering::Equal),
        ord => ord,
    }
}

/// Orders a stored i64 against a literal.
fn cmp_int(x: i64, lit: Number) -> Ordering {
    match lit {
        Number::Int(v) => x.cmp(&v),
        Number::Float(f) => cmp_i64_f64(x, f),
    }
}

/// Orders a stored f64 against a literal; `None` only for NaN, which
/// validated columns and parsed literals never hold.
fn cmp_float(x: f64, lit: Number) -> Option<Ordering> {
    match lit {
        Number::Int(v) if x.is_finite() => Some(cmp_i64_f64(v, x).reverse()),
        Number::Int(v) => x.partial_cmp(&(v as f64)),
        Number::Float(f) => x.partial_cmp(&f),
    }
}

fn cmp_holds(col: &Column, row: usize, op: CmpOp, lit: Number) -> bool {
    match col {
        Column::I64(v) => op.holds(cmp_int(v[row], lit)),
        Column::F64(v) => cmp_float(v[row], lit).is_some_and(|o| op.holds(o)),
    }
}

impl Metadata {
    fn check_attributes(&self, f: &Filter) -> Result<(), FilterError> {
        match f
            .attributes()
            .into_iter()
            .find(|a| !self.attrs.contains_key(*a))
        {
            Some(name) => Err(FilterError::UnknownAttribute {
                name: name.to_string(),
                known: self.attrs.keys().cloned().collect(),
            }),
            None => Ok(()),
        }
    }

    fn scan(&self, attr: &str, op: CmpOp, lit: Number) -> RoaringTreemap {
        let mut out = RoaringTreemap::new();
        let Some(col) = self.attrs.get(attr) else {
            return out;
        };
        // Ids ascend with rows, so every push succeeds.
        let mut keep = |row: usize, id: u64| {
            if cmp_holds(col, row, op, lit) {
                let pushed = out.try_push(id);
                debug_assert!(pushed.is_ok());
            }
        };
        match &self.sparse {
            Some(u) => u.iter().enumerate().for_each(|(row, id)| keep(row, id)),
            None => (0..col.len()).for_each(|row| keep(row, row as u64)),
        }
        out
    }

    fn all_ids(&self) -> RoaringTreemap {
        self.ids()
    }

    /// The ids that match `f`. `not` is the complement within the ids described;
    /// a label no vector carries matches nothing.
    pub fn evaluate(&self, f: &Filter) -> Result<RoaringTreemap, FilterError> {
        self.check_attributes(f)?;
        enum Step<'a> {
            Visit(&'a Expr),
            Not,
            And,
            AndNot,
            Or,
        }
        let mut todo = vec![Step::Visit(f.expr())];
        let mut values: Vec<RoaringTreemap> = Vec::new();
        // Operands were pushed left then right, so pop right first.
        let pop2 = |values: &mut Vec<RoaringTreemap>| {
            let r = values.pop().unwrap_or_default();
            let l = values.pop().unwrap_or_default();
            (l, r)
        };
        while let Some(step) = todo.pop() {
            match step {
                Step::Visit(e) => match e {
                    Expr::Label(l) => values.push(self.labels.get(l).cloned().unwrap_or_default()),
                    Expr::LabelIn(ls) => {
                        let mut u = RoaringTreemap::new();
                        for l in ls {
                            if let Some(b) = self.labels.get(l) {
                                u |= b;
                            }
                        }
                        values.push(u);
                    }
                    Expr::Cmp { attr, op, value } => values.push(self.scan(attr, *op, *value)),
                    Expr::Not(x) => {
                        todo.push(Step::Not);
                        todo.push(Step::Visit(x));
                    }
                    // `a and not b` is a difference: no need to build the
                    // complement of b over all n ids.
                    Expr::And(l, r) => match r.as_ref() {
                        Expr::Not(nr) => {
                            todo.push(Step::AndNot);
                            todo.push(Step::Visit(nr));
                            todo.push(Step::Visit(l));
                        }
                        _ => {
                            todo.push(Step::And);
                            todo.push(Step::Visit(r));
                            todo.push(Step::Visit(l));
                        }
                    },
                    Expr::Or(l, r) => {
                        todo.push(Step::Or);
                        todo.push(Step::Visit(r));
                        todo.push(Step::Visit(l));
                    }
                },
                Step::Not => {
                    let x = values.pop().unwrap_or_default();
                    values.push(self.all_ids() - x);
                }
                Step::And => {
                    let (l, r) = pop2(&mut values);
                    values.push(l & r);
                }
                Step::AndNot => {
                    let (l, r) = pop2(&mut values);
                    values.push(l - r);
                }
                Step::Or => {
                    let (l, r) = pop2(&mut values);
                    values.push(l | r);
                }
            }
        }
        Ok(values.pop().unwrap_or_default())
    }

    /// Whether vector `id` matches `f`, evaluated for that vector alone.
    pub fn matches(&self, f: &Filter, id: u64) -> Result<bool, FilterError> {
        let Some(row) = self.row_of(id) else {
            return Err(FilterError::IdOutOfRange { id, n: self.n });
        };
        self.check_attributes(f)?;
        let has = |l: &u32| self.labels.get(l).is_some_and(|b| b.contains(id));
        enum Step<'a> {
            Visit(&'a Expr),
            Not,
            And,
            Or,
        }
        let mut todo = vec![Step::Visit(f.expr())];
        let mut values: Vec<bool> = Vec::new();
        while let Some(step) = todo.pop() {
            match step {
                Step::Visit(e) => match e {
                    Expr::Label(l) => values.push(has(l)),
                    Expr::LabelIn(ls) => values.push(ls.iter().any(has)),
                    Expr::Cmp { attr, op, value } => values.push(
                        self.attrs
                            .get(attr)
                            .is_some_and(|col| cmp_holds(col, row, *op, *value)),
                    ),
                    Expr::Not(x) => {
                        todo.push(Step::Not);
                        todo.push(Step::Visit(x));
                    }
                    Expr::And(l, r) => {
                        todo.push(Step::And);
                        todo.push(Step::Visit(r));
                        todo.push(Step::Visit(l));
                    }
                    Expr::Or(l, r) => {
                        todo.push(Step::Or);
                        todo.push(Step::Visit(r));
                        todo.push(Step::Visit(l));
                    }
                },
                Step::Not => {
                    let x = values.pop().unwrap_or(false);
                    values.push(!x);
                }
                Step::And | Step::Or => {
                    let r = values.pop().unwrap_or(false);
                    let l = values.pop().unwrap_or(false);
                    values.push(if matches!(step, Step::And) {
                        l && r
                    } else {
                        l || r
                    });
                }
            }
        }
        Ok(values.pop().unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_i64_f64_order() {
        assert_eq!(cmp_i64_f64(50, 50.5), Ordering::Less);
        assert_eq!(cmp_i64_f64(51, 50.5), Ordering::Greater);
        assert_eq!(cmp_i64_f64(-3, -3.0), Ordering::Equal);
        assert_eq!(cmp_i64_f64(-3, -2.5), Ordering::Less);
        assert_eq!(cmp_i64_f64(-2, -2.5), Ordering::Greater);
        assert_eq!(cmp_i64_f64(i64::MAX, i64::MAX as f64), Ordering::Less);
        assert_eq!(cmp_i64_f64(i64::MIN, i64::MIN as f64), Ordering::Equal);
        assert_eq!(cmp_i64_f64(i64::MIN, -1e300), Ordering::Greater);
        // 2^53 + 1 is not an f64; rounding it would make these Equal.
        assert_eq!(
            cmp_i64_f64((1 << 53) + 1, 9007199254740992.0),
            Ordering::Greater
        );
        assert_eq!(
            cmp_float(9007199254740992.0, Number::Int((1 << 53) + 1)),
            Some(Ordering::Less)
        );
    }
}
