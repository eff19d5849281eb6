//! The filter AST, the parsed `Filter`, and a canonical printer.
//!
//! Every walk over an `Expr` here uses an explicit stack: a long
//! `a or b or c ...` chain parses to a left-deep tree as deep as it has
//! terms (thousands in a 64 KiB expression), too deep to recurse on safely.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::error::FilterError;
use crate::parse;

/// A numeric literal as written. Integers stay integers so comparing an
/// i64 column is exact for every i64, not only up to 2^53.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// A literal without '.' or exponent that fits in i64.
    Int(i64),
    /// Any other literal; always finite.
    Float(f64),
}

impl Number {
    /// The value as f64 (rounded for integers beyond 2^53).
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(v) => v as f64,
            Number::Float(v) => v,
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(v) => write!(f, "{v}"),
            // Debug prints the shortest text that reads back to the same
            // f64 and always has a '.' or an exponent, so it reparses as a
            // Float, never as an Int.
            Number::Float(v) => write!(f, "{v:?}"),
        }
    }
}

/// A comparison operator of `NAME OP NUMBER`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl CmpOp {
    /// The operator as written in a filter.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
        }
    }

    /// Whether `ord` (stored value compared to the literal) satisfies the
    /// operator.
    pub fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Lt => ord == Less,
            CmpOp::Le => ord != Greater,
            CmpOp::Gt => ord == Greater,
            CmpOp::Ge => ord != Less,
            CmpOp::Eq => ord == Equal,
            CmpOp::Ne => ord != Equal,
        }
    }
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A filter expression. `label != N` parses to `Not(Label(N))`.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `label = N`: the vector carries label N.
    Label(u32),
    /// `label in [A, B, ...]`: the vector carries at least one of them.
    /// Kept as written (order, duplicates) so printing reproduces it.
    LabelIn(Vec<u32>),
    /// `NAME OP NUMBER` on a numeric attribute.
    Cmp {
        attr: String,
        op: CmpOp,
        value: Number,
    },
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

// Binding strength, loosest first; atoms and `not` bind tightest.
const PREC_OR: u8 = 1;
const PREC_AND: u8 = 2;
const PREC_UNARY: u8 = 3;

impl Expr {
    fn prec(&self) -> u8 {
        match self {
            Expr::Or(..) => PREC_OR,
            Expr::And(..) => PREC_AND,
            _ => PREC_UNARY,
        }
    }

    /// Attribute names used, sorted and without repeats.
    pub fn attributes(&self) -> Vec<&str> {
        let mut names = BTreeSet::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            match e {
                Expr::Label(_) | Expr::LabelIn(_) => {}
                Expr::Cmp { attr, .. } => {
                    names.insert(attr.as_str());
                }
                Expr::Not(x) => stack.push(x),
                Expr::And(l, r) | Expr::Or(l, r) => {
                    stack.push(l);
                    stack.push(r);
                }
            }
        }
        names.into_iter().collect()
    }
}

/// Prints canonical filter text that parses back to an equal `Expr`, with
/// parentheses only where precedence or left-associativity needs them.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        enum Item<'a> {
            Text(&'static str),
            // An expression printed where binding strength >= the u8 is
            // needed; anything looser gets parentheses.
            Expr(&'a Expr, u8),
        }
        let mut stack = vec![Item::Expr(self, PREC_OR)];
        while let Some(item) = stack.pop() {
            let (e, min) = match item {
                Item::Text(t) => {
                    f.write_str(t)?;
                    continue;
                }
                Item::Expr(e, min) => (e, min),
            };
            if e.prec() < min {
                stack.push(Item::Text(")"));
                stack.push(Item::Expr(e, PREC_OR));
                stack.push(Item::Text("("));
                continue;
            }
            // Pushed in reverse: the stack pops left to right.
            match e {
                Expr::Label(l) => write!(f, "label = {l}")?,
                Expr::LabelIn(ls) => {
                    f.write_str("label in [")?;
                    for (i, l) in ls.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{l}")?;
                    }
                    f.write_str("]")?;
                }
                Expr::Cmp { attr, op, value } => write!(f, "{attr} {op} {value}")?,
                Expr::Not(x) => {
                    stack.push(Item::Expr(x, PREC_UNARY));
                    stack.push(Item::Text("not "));
                }
                // Left-associative: the left operand may be the same
                // operator unparenthesized, the right one must bind tighter.
                Expr::And(l, r) => {
                    stack.push(Item::Expr(r, PREC_AND + 1));
                    stack.push(Item::Text(" and "));
                    stack.push(Item::Expr(l, PREC_AND));
                }
                Expr::Or(l, r) => {
                    stack.push(Item::Expr(r, PREC_OR + 1));
                    stack.push(Item::Text(" or "));
                    stack.push(Item::Expr(l, PREC_OR));
                }
            }
        }
        Ok(())
    }
}

/// A parsed filter: the expression and the text it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    expr: Expr,
    text: String,
}

impl Filter {
    /// Parses filter text; see the crate docs for the grammar.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let expr = parse::parse(text)?;
        Ok(Filter {
            expr,
            text: text.to_string(),
        })
    }

    /// The text the filter was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The parsed expression.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Attribute names the filter uses, sorted and without repeats.
    pub fn attributes(&self) -> Vec<&str> {
        self.expr.attributes()
    }
}

impl FromStr for Filter {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Filter::parse(s)
    }
}

/// Shows the original text, as given to `parse`.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
