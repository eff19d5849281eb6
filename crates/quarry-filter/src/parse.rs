//! Lexer and recursive-descent parser for filter text.
//!
//! `and`/`or` chains are parsed with loops, so the parser recurses only for
//! `not` and parentheses, capped at `MAX_NESTING` levels. The tree it builds
//! is capped at `MAX_TREE_DEPTH` too: a chain `a or b or ...` is a left-deep
//! tree as deep as it has terms, and the derived `Clone`, `PartialEq`,
//! `Debug` and `Drop` of `Expr` recurse once per level. With the cap they
//! need well under 512 KiB of stack even in debug builds, so hostile input
//! cannot overflow a thread's stack.

use crate::error::FilterError;
use crate::expr::{CmpOp, Expr, Number};

/// Longest accepted filter text, in bytes.
pub const MAX_FILTER_LEN: usize = 64 * 1024;
/// Deepest accepted nesting of parentheses and `not`.
pub const MAX_NESTING: usize = 64;
/// Most `and`/`or`/`not` operators on any path from the root of the parsed
/// tree, i.e. the longest accepted `a or b or ...` chain (use
/// `label in [...]` for long label lists).
pub const MAX_TREE_DEPTH: usize = 1024;

/// Reserved words: never attribute names.
pub const KEYWORDS: [&str; 5] = ["and", "or", "not", "in", "label"];

/// Whether `name` can name an attribute: `[A-Za-z_][A-Za-z0-9_]*` and not
/// a keyword.
pub fn is_attribute_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&name)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok<'a> {
    Ident(&'a str),
    Number(&'a str),
    Op(CmpOp),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    End,
}

#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    tok: Tok<'a>,
    pos: usize,
}

fn err(text: &str, pos: usize, message: impl Into<String>) -> FilterError {
    FilterError::Syntax {
        pos,
        message: message.into(),
        text: text.to_string(),
    }
}

fn describe(tok: Tok<'_>) -> String {
    match tok {
        Tok::Ident(s) | Tok::Number(s) => format!("'{s}'"),
        Tok::Op(op) => format!("'{op}'"),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::LBracket => "'['".into(),
        Tok::RBracket => "']'".into(),
        Tok::Comma => "','".into(),
        Tok::End => "end of expression".into(),
    }
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

// Characters that form operator runs; a run that is not one of the six
// operators is reported whole (`==`, `=>`, `&&`) rather than piecemeal.
fn is_op_char(b: u8) -> bool {
    matches!(b, b'<' | b'>' | b'=' | b'!' | b'&' | b'|' | b'~')
}

fn lex(text: &str) -> Result<Vec<Token<'_>>, FilterError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        if b.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let tok = match b {
            b'(' => Tok::LParen,
            b')' => Tok::RParen,
            b'[' => Tok::LBracket,
            b']' => Tok::RBracket,
            b',' => Tok::Comma,
            b'0'..=b'9' | b'+' | b'-' | b'.' => {
                i = lex_number(text, start)?;
                tokens.push(Token {
                    tok: Tok::Number(&text[start..i]),
                    pos: start,
                });
                continue;
            }
            _ if b.is_ascii_alphabetic() || b == b'_' => {
                while i < bytes.len() && is_ident_char(bytes[i]) {
                    i += 1;
                }
                tokens.push(Token {
                    tok: Tok::Ident(&text[start..i]),
                    pos: start,
                });
                continue;
            }
            _ if is_op_char(b) => {
                while i < bytes.len() && is_op_char(bytes[i]) {
                    i += 1;
                }
                let op = match &text[start..i] {
                    "<" => CmpOp::Lt,
                    "<=" => CmpOp::Le,
                    ">" => CmpOp::Gt,
                    ">=" => CmpOp::Ge,
                    "=" => CmpOp::Eq,
                    "!=" => CmpOp::Ne,
                    other => {
                        let hint = match other {
                            "&&" | "&" => " (write 'and')",
                            "||" | "|" => " (write 'or')",
                            "!" | "~" => " (write 'not')",
                            _ => "",
                        };
                        return Err(err(
                            text,
                            start,
                            format!(
                                "unknown operator '{other}'{hint}; expected one of <, <=, >, >=, =, !="
                            ),
                        ));
                    }
                };
                tokens.push(Token {
                    tok: Tok::Op(op),
                    pos: start,
                });
                continue;
            }
            _ => {
                let c = text[start..].chars().next().unwrap_or('?');
                return Err(err(text, start, format!("unexpected character '{c}'")));
            }
        };
        tokens.push(Token { tok, pos: start });
        i += 1;
    }
    tokens.push(Token {
        tok: Tok::End,
        pos: text.len(),
    });
    Ok(tokens)
}

/// Scans `[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?` from `start`, returning
/// its end. A number running straight into a letter, digit or '.' (`3x`,
/// `1.2.3`, `1e`) is malformed rather than two tokens.
fn lex_number(text: &str, start: usize) -> Result<usize, FilterError> {
    let bytes = text.as_bytes();
    let digits = |mut i: usize| {
        let from = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        (i, i > from)
    };
    let malformed = || err(text, start, "malformed number");
    let mut i = start;
    if matches!(bytes[i], b'+' | b'-') {
        i += 1;
    }
    let (end, any) = digits(i);
    if !any {
        return Err(malformed());
    }
    i = end;
    if i < bytes.len() && bytes[i] == b'.' {
        let (end, any) = digits(i + 1);
        if !any {
            return Err(malformed());
        }
        i = end;
    }
    if i < bytes.len() && matches!(bytes[i], b'e' | b'E') {
        let mut j = i + 1;
        if j < bytes.len() && matches!(bytes[j], b'+' | b'-') {
            j += 1;
        }
        let (end, any) = digits(j);
        if !any {
            return Err(malformed());
        }
        i = end;
    }
    if i < bytes.len() && (is_ident_char(bytes[i]) || bytes[i] == b'.') {
        return Err(malformed());
    }
    Ok(i)
}

/// Parses filter text into an `Expr`.
pub fn parse(text: &str) -> Result<Expr, FilterError> {
    if text.len() > MAX_FILTER_LEN {
        // Keep only the start of the text: the error must not carry an
        // arbitrarily large copy of hostile input.
        let mut cut = MAX_FILTER_LEN;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        return Err(FilterError::Syntax {
            pos: cut,
            message: format!(
                "filter is {} bytes long; the limit is {MAX_FILTER_LEN}",
                text.len()
            ),
            text: text[..cut].to_string(),
        });
    }
    let tokens = lex(text)?;
    if tokens.len() == 1 {
        return Err(err(text, text.len(), "empty filter expression"));
    }
    let mut p = Parser {
        text,
        tokens,
        at: 0,
        depth: 0,
    };
    let (e, _) = p.or_expr()?;
    let t = p.peek();
    match t.tok {
        Tok::End => Ok(e),
        Tok::RParen => Err(p.error(t.pos, "unmatched ')'")),
        other => Err(p.error(
            t.pos,
            format!(
                "expected 'and', 'or' or end of expression, found {}",
                describe(other)
            ),
        )),
    }
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token<'a>>,
    at: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Token<'a> {
        self.tokens[self.at]
    }

    fn next(&mut self) -> Token<'a> {
        let t = self.tokens[self.at];
        // End is never consumed, so `at` stays in range.
        if t.tok != Tok::End {
            self.at += 1;
        }
        t
    }

    fn error(&self, pos: usize, message: impl Into<String>) -> FilterError {
        err(self.text, pos, message)
    }

    fn is_keyword(&self, word: &str) -> bool {
        self.peek().tok == Tok::Ident(word)
    }

    /// Each parse function returns the expression and its tree depth.
    fn or_expr(&mut self) -> Result<(Expr, usize), FilterError> {
        let (mut lhs, mut depth) = self.and_expr()?;
        while self.is_keyword("or") {
            let op = self.next();
            let (rhs, dr) = self.and_expr()?;
            depth = self.deeper(depth.max(dr), op.pos)?;
            lhs = Expr::Or(Box::new(lhs), Box::new(rhs));
        }
        Ok((lhs, depth))
    }

    fn and_expr(&mut self) -> Result<(Expr, usize), FilterError> {
        let (mut lhs, mut depth) = self.unary()?;
        while self.is_keyword("and") {
            let op = self.next();
            let (rhs, dr) = self.unary()?;
            depth = self.deeper(depth.max(dr), op.pos)?;
            lhs = Expr::And(Box::new(lhs), Box::new(rhs));
        }
        Ok((lhs, depth))
    }

    /// The depth of an operator node over children `depth` deep.
    fn deeper(&self, depth: usize, pos: usize) -> Result<usize, FilterError> {
        if depth >= MAX_TREE_DEPTH {
            return Err(self.error(
                pos,
                format!(
                    "filter has more than {MAX_TREE_DEPTH} and/or/not operators in a row \
                     (for long label lists use 'label in [...]')"
                ),
            ));
        }
        Ok(depth + 1)
    }

    fn enter(&mut self, pos: usize) -> Result<(), FilterError> {
        if self.depth >= MAX_NESTING {
            return Err(self.error(
                pos,
                format!("filter nests deeper than {MAX_NESTING} levels of parentheses and 'not'"),
            ));
        }
        self.depth += 1;
        Ok(())
    }

    fn unary(&mut self) -> Result<(Expr, usize), FilterError> {
        let t = self.peek();
        match t.tok {
            Tok::Ident("not") => {
                self.enter(t.pos)?;
                self.next();
                let (inner, depth) = self.unary()?;
                self.depth -= 1;
                Ok((Expr::Not(Box::new(inner)), self.deeper(depth, t.pos)?))
            }
            Tok::LParen => {
                self.enter(t.pos)?;
                self.next();
                let inner = self.or_expr()?;
                let close = self.next();
                if close.tok != Tok::RParen {
                    return Err(self.error(
                        close.pos,
                        format!(
                            "expected ')' to close the '(' at position {}, found {}",
                            t.pos + 1,
                            describe(close.tok)
                        ),
                    ));
                }
                self.depth -= 1;
                Ok(inner)
            }
            Tok::Ident("label") => {
                self.next();
                let e = self.label_atom()?;
                let depth = usize::from(matches!(e, Expr::Not(_)));
                Ok((e, depth))
            }
            Tok::Ident(word) if crate::parse::KEYWORDS.contains(&word) => Err(self.error(
                t.pos,
                format!("expected a condition, found the keyword '{word}'"),
            )),
            Tok::Ident(name) => {
                self.next();
                Ok((self.cmp_atom(name)?, 0))
            }
            Tok::End => {
                Err(self.error(t.pos, "unexpected end of expression; expected a condition"))
            }
            other => Err(self.error(
                t.pos,
                format!(
                    "expected a condition ('label ...', 'NAME OP NUMBER', 'not' or '('), found {}",
                    describe(other)
                ),
            )),
        }
    }

    fn cmp_atom(&mut self, name: &str) -> Result<Expr, FilterError> {
        let t = self.next();
        let op = match t.tok {
            Tok::Op(op) => op,
            Tok::Ident("in") => {
                return Err(self.error(t.pos, "'in' works only with 'label'"));
            }
            other => {
                return Err(self.error(
                    t.pos,
                    format!(
                        "expected a comparison operator (<, <=, >, >=, =, !=) after '{name}', found {}",
                        describe(other)
                    ),
                ));
            }
        };
        let n = self.next();
        let Tok::Number(s) = n.tok else {
            return Err(self.error(n.pos, format!("expected a number after '{op}'")));
        };
        Ok(Expr::Cmp {
            attr: name.to_string(),
            op,
            value: self.number(s, n.pos)?,
        })
    }

    fn number(&self, s: &str, pos: usize) -> Result<Number, FilterError> {
        if !s.contains(['.', 'e', 'E']) {
            if let Ok(v) = s.parse::<i64>() {
                return Ok(Number::Int(v));
            }
        }
        // Integers beyond i64 fall through to f64, like any decimal.
        match s.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Number::Float(v)),
            _ => Err(self.error(pos, format!("number {s} is out of range"))),
        }
    }

    fn label_atom(&mut self) -> Result<Expr, FilterError> {
        let t = self.next();
        match t.tok {
            Tok::Op(CmpOp::Eq) => Ok(Expr::Label(self.label_value("'='")?)),
            Tok::Op(CmpOp::Ne) => Ok(Expr::Not(Box::new(Expr::Label(self.label_value("'!='")?)))),
            Tok::Op(op) => Err(self.error(
                t.pos,
                format!("'label' supports only =, != and in, not '{op}'"),
            )),
            Tok::Ident("in") => {
                let open = self.next();
                if open.tok != Tok::LBracket {
                    return Err(self.error(
                        open.pos,
                        format!("expected '[' after 'in', found {}", describe(open.tok)),
                    ));
                }
                if self.peek().tok == Tok::RBracket {
                    return Err(
                        self.error(self.peek().pos, "'label in [...]' needs at least one label")
                    );
                }
                let mut labels = vec![self.label_value("'['")?];
                loop {
                    let t = self.next();
                    match t.tok {
                        Tok::RBracket => return Ok(Expr::LabelIn(labels)),
                        Tok::Comma => labels.push(self.label_value("','")?),
                        other => {
                            return Err(self.error(
                                t.pos,
                                format!(
                                    "expected ',' or ']' in the label list, found {}",
                                    describe(other)
                                ),
                            ))
                        }
                    }
                }
            }
            other => Err(self.error(
                t.pos,
                format!(
                    "expected '=', '!=' or 'in' after 'label', found {}",
                    describe(other)
                ),
            )),
        }
    }

    /// A label value: a whole number in 0..=u32::MAX.
    fn label_value(&mut self, after: &str) -> Result<u32, FilterError> {
        let t = self.next();
        let Tok::Number(s) = t.tok else {
            return Err(self.error(t.pos, format!("expected a number after {after}")));
        };
        if s.starts_with('-') {
            return Err(self.error(
                t.pos,
                format!("label {s} is negative; labels are 0..=4294967295"),
            ));
        }
        if s.contains(['.', 'e', 'E']) {
            return Err(self.error(
                t.pos,
                format!("label {s} is not a whole number; labels are 0..=4294967295"),
            ));
        }
        s.parse::<u32>().map_err(|_| {
            self.error(
                t.pos,
                format!("label {s} is too large; labels are 0..=4294967295"),
            )
        })
    }
}
