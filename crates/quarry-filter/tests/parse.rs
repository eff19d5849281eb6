//! Grammar: every form of the issue, precedence, and each error with its
//! exact position.

use quarry_filter::{CmpOp, Expr, Filter, FilterError, Number};

fn parse(s: &str) -> Expr {
    Filter::parse(s)
        .unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
        .expr()
        .clone()
}

fn label(n: u32) -> Expr {
    Expr::Label(n)
}
fn not(e: Expr) -> Expr {
    Expr::Not(Box::new(e))
}
fn and(a: Expr, b: Expr) -> Expr {
    Expr::And(Box::new(a), Box::new(b))
}
fn or(a: Expr, b: Expr) -> Expr {
    Expr::Or(Box::new(a), Box::new(b))
}
fn cmp(attr: &str, op: CmpOp, value: Number) -> Expr {
    Expr::Cmp {
        attr: attr.into(),
        op,
        value,
    }
}

/// (pos, message) of a syntax error.
fn syntax(s: &str) -> (usize, String) {
    match Filter::parse(s) {
        Err(FilterError::Syntax { pos, message, text }) => {
            assert!(
                s.starts_with(&text),
                "error text {text:?} is not from {s:?}"
            );
            (pos, message)
        }
        other => panic!("{s:?} should be a syntax error, got {other:?}"),
    }
}

fn assert_err(s: &str, want_pos: usize, want_msg: &str) {
    let (pos, msg) = syntax(s);
    assert_eq!(pos, want_pos, "{s:?}: {msg}");
    assert!(
        msg.contains(want_msg),
        "{s:?}: message {msg:?} lacks {want_msg:?}"
    );
}

#[test]
fn issue_forms() {
    assert_eq!(parse("label = 3"), label(3));
    assert_eq!(parse("label in [3, 7]"), Expr::LabelIn(vec![3, 7]));
    assert_eq!(parse("not label = 9"), not(label(9)));
    assert_eq!(
        parse("price < 50.0"),
        cmp("price", CmpOp::Lt, Number::Float(50.0))
    );
    assert_eq!(
        parse("year >= 2020 and (label = 3 or label = 7)"),
        and(
            cmp("year", CmpOp::Ge, Number::Int(2020)),
            or(label(3), label(7))
        )
    );
}

#[test]
fn atoms() {
    assert_eq!(parse("label != 4"), not(label(4)));
    assert_eq!(parse("label in [5]"), Expr::LabelIn(vec![5]));
    assert_eq!(parse("label in [9,1,9]"), Expr::LabelIn(vec![9, 1, 9]));
    assert_eq!(parse("label = 4294967295"), label(u32::MAX));
    assert_eq!(parse("label = +0"), label(0));
    for (s, op) in [
        ("<", CmpOp::Lt),
        ("<=", CmpOp::Le),
        (">", CmpOp::Gt),
        (">=", CmpOp::Ge),
        ("=", CmpOp::Eq),
        ("!=", CmpOp::Ne),
    ] {
        assert_eq!(parse(&format!("x {s} 1")), cmp("x", op, Number::Int(1)));
        assert_eq!(parse(&format!("x{s}1")), cmp("x", op, Number::Int(1)));
    }
    assert_eq!(parse("_a9 = -3"), cmp("_a9", CmpOp::Eq, Number::Int(-3)));
    assert_eq!(
        parse("x = 2.5e3"),
        cmp("x", CmpOp::Eq, Number::Float(2500.0))
    );
    assert_eq!(parse("x = 1E-2"), cmp("x", CmpOp::Eq, Number::Float(0.01)));
    assert_eq!(parse("x = +7"), cmp("x", CmpOp::Eq, Number::Int(7)));
    assert_eq!(parse("x = -0.5"), cmp("x", CmpOp::Eq, Number::Float(-0.5)));
    assert_eq!(
        parse("x = -9223372036854775808"),
        cmp("x", CmpOp::Eq, Number::Int(i64::MIN))
    );
    // Past i64: kept as a float rather than refused.
    assert_eq!(
        parse("x < 9223372036854775808"),
        cmp("x", CmpOp::Lt, Number::Float(9223372036854775808.0))
    );
    // Keywords are lowercase only: these are attribute names.
    assert_eq!(parse("AND = 1"), cmp("AND", CmpOp::Eq, Number::Int(1)));
    assert_eq!(parse("Label = 1"), cmp("Label", CmpOp::Eq, Number::Int(1)));
    assert_eq!(
        parse("labels = 1"),
        cmp("labels", CmpOp::Eq, Number::Int(1))
    );
    // Free-form whitespace.
    assert_eq!(
        parse("\n\tlabel\tin[ 3 ,7 ]  and(not x<=1)\r\n"),
        and(
            Expr::LabelIn(vec![3, 7]),
            not(cmp("x", CmpOp::Le, Number::Int(1)))
        )
    );
}

#[test]
fn precedence_and_associativity() {
    let (a, b, c) = (label(1), label(2), label(3));
    // not > and > or.
    assert_eq!(
        parse("not label = 1 and label = 2 or label = 3"),
        or(and(not(a.clone()), b.clone()), c.clone())
    );
    assert_eq!(
        parse("label = 1 or label = 2 and label = 3"),
        or(a.clone(), and(b.clone(), c.clone()))
    );
    assert_eq!(
        parse("label = 1 or label = 2 or label = 3"),
        or(or(a.clone(), b.clone()), c.clone())
    );
    assert_eq!(
        parse("label = 1 and label = 2 and label = 3"),
        and(and(a.clone(), b.clone()), c.clone())
    );
    assert_eq!(
        parse("label = 1 and (label = 2 and label = 3)"),
        and(a.clone(), and(b.clone(), c.clone()))
    );
    assert_eq!(
        parse("not (label = 1 or label = 2)"),
        not(or(a.clone(), b.clone()))
    );
    assert_eq!(parse("not not label = 1"), not(not(a.clone())));
    assert_eq!(parse("((label = 1))"), a.clone());
    assert_eq!(parse("not label != 1"), not(not(a)));
}

#[test]
fn filter_api() {
    let text = "  year >= 2020 and (price < 5 or year = 1 or label = 3)";
    let f: Filter = text.parse().unwrap();
    assert_eq!(f.text(), text);
    assert_eq!(f.to_string(), text);
    assert_eq!(f.attributes(), ["price", "year"]);
    assert_eq!(f.clone(), f);
    assert_ne!(
        Filter::parse("label = 3").unwrap(),
        Filter::parse("label=3").unwrap()
    );
    assert_eq!(
        Filter::parse("label = 3").unwrap().expr(),
        Filter::parse("label=3").unwrap().expr()
    );
}

#[test]
fn printer_is_canonical() {
    for (src, want) in [
        ("label=3", "label = 3"),
        ("label!=3", "not label = 3"),
        ("label in[1,2]", "label in [1, 2]"),
        ("x<50.0", "x < 50.0"),
        ("x<5e1", "x < 50.0"),
        ("x<-1e-7", "x < -1e-7"),
        (
            "(label=1 or label=2) and label=3",
            "(label = 1 or label = 2) and label = 3",
        ),
        (
            "label=1 and (label=2 and label=3)",
            "label = 1 and (label = 2 and label = 3)",
        ),
        (
            "label=1 or (label=2 or label=3)",
            "label = 1 or (label = 2 or label = 3)",
        ),
        (
            "((label=1 or label=2)) or label=3",
            "label = 1 or label = 2 or label = 3",
        ),
        ("not (not label=1)", "not not label = 1"),
        ("not (x=1 and y=2)", "not (x = 1 and y = 2)"),
    ] {
        assert_eq!(parse(src).to_string(), want, "{src}");
    }
}

#[test]
fn display_of_error_has_caret() {
    let e = Filter::parse("label = x").unwrap_err();
    assert_eq!(
        e.to_string(),
        "bad filter at position 9: expected a number after '='\n  label = x\n          ^"
    );
    // Control characters are shown as spaces, keeping the caret aligned.
    let e = Filter::parse("label = 3\nand ?").unwrap_err();
    assert_eq!(
        e.to_string(),
        "bad filter at position 15: unexpected character '?'\n  label = 3 and ?\n                ^"
    );
    // The caret counts chars, not bytes.
    let e = Filter::parse("é = 1").unwrap_err();
    assert!(e.to_string().ends_with("\n  é = 1\n  ^"), "{e}");
    // At the end of the text the caret sits just past it.
    let e = Filter::parse("label =").unwrap_err();
    assert!(e.to_string().ends_with("\n  label =\n         ^"), "{e}");
}

#[test]
fn long_expressions_echo_a_window() {
    let mut s = "label = 1 or ".repeat(100);
    s.push_str("label = oops");
    let e = Filter::parse(&s).unwrap_err();
    let shown = e.to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[1].len() < 140, "{}", lines[1]);
    let caret = lines[2].find('^').unwrap();
    assert_eq!(&lines[1][caret..caret + 4], "oops");
}

#[test]
fn errors_with_positions() {
    assert_err("", 0, "empty filter expression");
    assert_err("   ", 3, "empty filter expression");
    assert_err("label = x", 8, "expected a number after '='");
    assert_err("label = 3 and", 13, "unexpected end of expression");
    // Unbalanced parentheses.
    assert_err(
        "(label = 3",
        10,
        "expected ')' to close the '(' at position 1",
    );
    assert_err("((label = 3)", 12, "expected ')'");
    assert_err("label = 3)", 9, "unmatched ')'");
    assert_err("()", 1, "expected a condition");
    assert_err(")", 0, "expected a condition");
    // Trailing garbage.
    assert_err(
        "label = 3 label = 4",
        10,
        "expected 'and', 'or' or end of expression",
    );
    assert_err("label = 3 AND label = 4", 10, "found 'AND'");
    assert_err("x = 1 2", 6, "expected 'and', 'or'");
    // Unknown operators, reported whole.
    assert_err("x == 1", 2, "unknown operator '=='");
    assert_err("x => 1", 2, "unknown operator '=>'");
    assert_err("x <> 1", 2, "unknown operator '<>'");
    assert_err(
        "label = 1 && label = 2",
        10,
        "unknown operator '&&' (write 'and')",
    );
    assert_err("! label = 1", 0, "unknown operator '!'");
    assert_err("x ? 1", 2, "unexpected character '?'");
    assert_err("x 1", 2, "expected a comparison operator");
    assert_err("x", 1, "expected a comparison operator");
    assert_err("price in [1]", 6, "'in' works only with 'label'");
    // Keywords are reserved.
    assert_err("and = 1", 0, "keyword 'and'");
    assert_err("label = 1 or in = 2", 13, "keyword 'in'");
    assert_err("not = 1", 4, "expected a condition");
    // Label forms.
    assert_err("label < 3", 6, "'label' supports only =, != and in");
    assert_err("label 3", 6, "expected '=', '!=' or 'in' after 'label'");
    assert_err("label in 3", 9, "expected '[' after 'in'");
    assert_err("label in []", 10, "at least one label");
    assert_err("label in [3,]", 12, "expected a number after ','");
    assert_err("label in [3 7]", 12, "expected ',' or ']'");
    assert_err("label in [3", 11, "expected ',' or ']'");
    assert_err("label = -1", 8, "negative");
    assert_err("label = 1.5", 8, "not a whole number");
    assert_err("label = 1e3", 8, "not a whole number");
    assert_err("label = 4294967296", 8, "too large");
    // Numbers.
    assert_err("x = 1e999", 4, "out of range");
    assert_err("x = 3x", 4, "malformed number");
    assert_err("x = 1.2.3", 4, "malformed number");
    assert_err("x = 1.", 4, "malformed number");
    assert_err("x = .5", 4, "malformed number");
    assert_err("x = 1e", 4, "malformed number");
    assert_err("x = - 1", 4, "malformed number");
    assert_err("label = 1 or x = 1or", 17, "malformed number");
}

#[test]
fn nesting_is_capped() {
    let ok = format!("{}label = 1{}", "(".repeat(64), ")".repeat(64));
    assert_eq!(parse(&ok), label(1));
    let deep = format!("{}label = 1{}", "(".repeat(65), ")".repeat(65));
    assert_err(&deep, 64, "deeper than 64");
    assert!(Filter::parse(&format!("{}label = 1", "not ".repeat(64))).is_ok());
    assert_err(
        &format!("{}label = 1", "not ".repeat(65)),
        256,
        "deeper than 64",
    );
    // Mixed: 40 '(' then 30 'not': the 25th 'not' is level 65.
    let mixed = format!("{}{}label = 1", "(".repeat(40), "not ".repeat(30));
    assert_err(&mixed, 40 + 4 * 24, "deeper than 64");
    // Hostile input far past the cap fails cleanly.
    assert_err(&"(".repeat(60_000), 64, "deeper than 64");
    assert_err(&"not ".repeat(16_000), 256, "deeper than 64");
}

#[test]
fn tree_depth_is_capped() {
    // A chain of 1025 terms has 1024 operators on its left spine: accepted.
    let chain = |terms: usize, op: &str| {
        let mut s = format!("label = 1 {op} ").repeat(terms - 1);
        s.push_str("label = 1");
        s
    };
    for op in ["or", "and"] {
        let f = Filter::parse(&chain(1025, op)).unwrap();
        assert_eq!(
            Filter::parse(&f.expr().to_string()).unwrap().expr(),
            f.expr()
        );
        // One more term is refused at the 1025th operator.
        let s = chain(1026, op);
        let pos =
            "label = 1 or ".len() * 1024 + "label = 1 ".len() + if op == "and" { 1024 } else { 0 };
        assert_err(&s, pos, "more than 1024 and/or/not operators");
    }
    // Nesting and chains add up: 60 'not' over a 965-term chain is 1024.
    let s = format!("{}({})", "not ".repeat(60), chain(965, "or"));
    assert!(Filter::parse(&s).is_ok());
    let s = format!("{}({})", "not ".repeat(60), chain(966, "or"));
    let (_, msg) = syntax(&s);
    assert!(msg.contains("more than 1024"), "{msg}");
    // `label != 1` is a `not` too.
    let s = format!("{}label != 1", "not ".repeat(64));
    assert!(Filter::parse(&s).is_ok());
}

#[test]
fn length_is_capped() {
    let mut s = "label in [1".to_string();
    while s.len() < 64 * 1024 - 10 {
        s.push_str(", 1");
    }
    s.push(']');
    let f = Filter::parse(&s).unwrap();
    assert!(matches!(f.expr(), Expr::LabelIn(v) if v.len() > 20_000));

    let long = "x".repeat(64 * 1024 + 1);
    let (pos, msg) = syntax(&long);
    assert_eq!(pos, 64 * 1024);
    assert!(msg.contains("limit is 65536"), "{msg}");
    // The error does not copy the whole input.
    let e = Filter::parse(&"x".repeat(10 << 20)).unwrap_err();
    if let FilterError::Syntax { text, .. } = &e {
        assert!(text.len() <= 64 * 1024);
    }
    assert!(e.to_string().len() < 400);
}

#[test]
fn non_ascii_is_an_error_not_a_panic() {
    assert_err("prïce = 1", 2, "unexpected character 'ï'");
    assert_err("label = 1 or ✓", 13, "unexpected character '✓'");
    // Cut inside a multibyte char at the length cap.
    let mut s = "x".repeat(64 * 1024 - 1);
    s.push('é');
    let (pos, _) = syntax(&s);
    assert_eq!(pos, 64 * 1024 - 1);
}
