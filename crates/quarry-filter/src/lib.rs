//! Per-vector metadata and filter expressions for filtered vector search.
//!
//! Vectors have ids `0..n`. Each may carry labels (`u32`) and has one value
//! per numeric attribute (an i64 or f64 column). A [`Filter`] selects
//! vectors; [`Metadata::evaluate`] returns the matching ids as a bitmap.
//!
//! # Grammar
//!
//! ```text
//! expr  := and ('or' and)*               -- left-associative
//! and   := unary ('and' unary)*          -- left-associative
//! unary := 'not' unary | '(' expr ')' | atom
//! atom  := 'label' '=' LABEL | 'label' '!=' LABEL
//!        | 'label' 'in' '[' LABEL (',' LABEL)* ']'
//!        | NAME OP NUMBER                -- OP: < <= > >= = !=
//! ```
//! `label != N` means `not label = N`. LABEL is a whole number in
//! `0..=u32::MAX`; NUMBER is an integer or decimal with optional sign and
//! exponent (`-3`, `2.5e3`). Keywords (`and or not in label`) are lowercase
//! and reserved; attribute names are `[A-Za-z_][A-Za-z0-9_]*`. Filters are
//! at most 64 KiB, nest `not`/parentheses at most 64 deep, and have at most
//! 1024 `and`/`or`/`not` operators on any path of the parsed tree (so an
//! `a or b or ...` chain has at most 1025 terms); this keeps every walk over
//! a parsed `Expr`, including derived `Clone`/`Drop`, shallow on the stack.
//!
//! Comparisons are exact between the stored value and the literal as
//! written (integer literals are kept as [`Number::Int`]): on an i64
//! column `x < 50.5` is `x <= 50`, for every i64 value.
//!
//! # Example
//!
//! ```
//! use quarry_filter::{Column, Filter, Metadata};
//!
//! let mut meta = Metadata::new(4);
//! // Vector 0: labels 3, 7; vector 1: none; vector 2: 7; vector 3: 3.
//! meta.set_labels_csr(&[0, 2, 2, 3, 4], &[3, 7, 7, 3])?;
//! meta.add_attribute("year", Column::I64(vec![2019, 2021, 2022, 2020]))?;
//! meta.add_attribute("price", Column::F64(vec![10.0, 80.5, 49.9, 50.0]))?;
//!
//! let f: Filter = "year >= 2020 and (label = 3 or label = 7)".parse()?;
//! let ids: Vec<u64> = meta.evaluate(&f)?.iter().collect();
//! assert_eq!(ids, [2, 3]);
//!
//! let cheap = Filter::parse("price < 50.0 and not label = 3")?;
//! assert_eq!(meta.evaluate(&cheap)?.iter().collect::<Vec<_>>(), [2]);
//! assert!(meta.matches(&cheap, 2)?);
//! # Ok::<(), quarry_filter::FilterError>(())
//! ```

#![forbid(unsafe_code)]

mod codec;
mod error;
mod eval;
mod expr;
mod input;
mod metadata;
mod parse;
mod rebuild;

pub use codec::FORMAT_VERSION;
pub use error::FilterError;
pub use expr::{CmpOp, Expr, Filter, Number};
pub use input::{read_attribute, read_spmat, write_attribute, write_spmat};
pub use metadata::{Column, Metadata};
pub use parse::{is_attribute_name, KEYWORDS, MAX_FILTER_LEN, MAX_NESTING, MAX_TREE_DEPTH};
pub use rebuild::RowMeta;
/// Re-exported so callers use the same bitmap type `evaluate` returns.
pub use roaring::RoaringTreemap;
