//! NumPy `.npy` files (format versions 1.0, 2.0 and 3.0). The header is a small Python
//! dict literal, parsed here by a tiny recursive-descent parser rather than pulling in
//! a dependency. Only 2-D, C-order arrays of `<f4`, `|u1` or `|i1` are accepted.

use crate::dense::DenseSource;
use crate::io::RawFile;
use crate::validate::check_dim;
use crate::FormatError;
use quarry_kernels::DType;
use std::path::Path;

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Real headers are a few hundred bytes; a huge length means a corrupt file, and
/// capping it keeps a lying length field from causing a large allocation.
const MAX_HEADER_LEN: u64 = 1 << 20;
/// Brackets a header may nest. The parser recurses once per level (and so do the
/// value's `repr` and drop), so without a bound a header of `[[[[...` 40,000 deep
/// overflows the stack; real headers nest at most a few levels (structured dtypes).
pub(crate) const MAX_NESTING: usize = 32;

pub(crate) fn open(path: &Path) -> Result<DenseSource, FormatError> {
    let raw = RawFile::open(path)?;
    raw.require(10, ".npy preamble (magic, version, header length)")?;
    let mut pre = [0u8; 10];
    raw.read_exact_at(0, &mut pre)?;
    let err = |offset: u64, reason: String| FormatError::NpyHeader {
        path: raw.path.clone(),
        offset,
        reason,
    };
    if &pre[..6] != MAGIC {
        return Err(err(
            0,
            "missing the magic string \\x93NUMPY, not a .npy file".into(),
        ));
    }
    let (major, minor) = (pre[6], pre[7]);
    let (header_start, header_len) = match major {
        1 => (10u64, u64::from(u16::from_le_bytes([pre[8], pre[9]]))),
        2 | 3 => {
            raw.require(12, ".npy preamble (magic, version, header length)")?;
            (12u64, u64::from(raw.read_u32_at(8)?))
        }
        _ => {
            return Err(err(
                6,
                format!("unsupported format version {major}.{minor}"),
            ))
        }
    };
    if header_len > MAX_HEADER_LEN {
        return Err(err(
            8,
            format!("header length {header_len} is implausibly large"),
        ));
    }
    raw.require(header_start + header_len, ".npy header")?;
    let bytes = raw.read_vec(header_start, header_len as usize)?;
    // v1/v2 headers are latin-1, v3 UTF-8; both agree on the ASCII the dict uses, and
    // non-ASCII can only appear inside strings, which we compare bytewise.
    if major == 3 && std::str::from_utf8(&bytes).is_err() {
        return Err(err(
            header_start,
            "version 3 header is not valid UTF-8".into(),
        ));
    }
    let header = parse_header(&bytes).map_err(|(pos, reason)| err(header_start + pos, reason))?;

    let dtype = match header.descr.as_deref() {
        Some("<f4") => DType::F32,
        Some("|u1" | "<u1" | ">u1" | "=u1" | "u1") => DType::U8,
        Some("|i1" | "<i1" | ">i1" | "=i1" | "i1") => DType::I8,
        _ => {
            return Err(FormatError::NpyDtype {
                path: raw.path.clone(),
                descr: header.descr_repr,
            })
        }
    };
    let [n, d] = header.shape[..] else {
        return Err(FormatError::NpyShape {
            path: raw.path.clone(),
            shape: shape_repr(&header.shape),
        });
    };
    let d = check_dim(
        &raw.path,
        header_start,
        i64::try_from(d).unwrap_or(i64::MAX),
    )?;
    let src = DenseSource::new(raw, header_start + header_len, n, d, dtype)?;
    Ok(if header.fortran_order {
        src.column_major()
    } else {
        src
    })
}

/// The three keys a `.npy` header must have.
#[derive(Debug, PartialEq)]
struct Header {
    /// `None` when descr is not a plain string (e.g. a structured dtype).
    descr: Option<String>,
    /// How descr looked, for error messages.
    descr_repr: String,
    fortran_order: bool,
    shape: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Int(u64),
    Bool(bool),
    None,
    Seq(Vec<Value>, char),
}

fn repr(v: &Value) -> String {
    match v {
        Value::Str(s) => format!("'{s}'"),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        Value::None => "None".to_string(),
        Value::Seq(items, open) => {
            let close = if *open == '(' { ')' } else { ']' };
            let inner: Vec<String> = items.iter().map(repr).collect();
            let trail = if *open == '(' && items.len() == 1 {
                ","
            } else {
                ""
            };
            format!("{open}{}{trail}{close}", inner.join(", "))
        }
    }
}

fn shape_repr(shape: &[u64]) -> String {
    repr(&Value::Seq(
        shape.iter().map(|&x| Value::Int(x)).collect(),
        '(',
    ))
}

type ParseResult<T> = Result<T, (u64, String)>;

fn parse_header(bytes: &[u8]) -> ParseResult<Header> {
    let mut p = Parser {
        s: bytes,
        pos: 0,
        depth: 0,
    };
    let entries = p.dict()?;
    p.ws();
    if p.pos < bytes.len() {
        return Err(p.fail("unexpected text after the header dict"));
    }
    let get = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .ok_or_else(|| (0u64, format!("missing key '{key}'")))
    };
    let descr_v = get("descr")?;
    let fortran_order = match get("fortran_order")? {
        Value::Bool(b) => *b,
        other => {
            return Err((
                0,
                format!("'fortran_order' must be True or False, got {}", repr(other)),
            ))
        }
    };
    let shape = match get("shape")? {
        Value::Seq(items, '(') => items
            .iter()
            .map(|v| match v {
                Value::Int(i) => Ok(*i),
                other => Err((
                    0,
                    format!("shape entries must be integers, got {}", repr(other)),
                )),
            })
            .collect::<ParseResult<Vec<u64>>>()?,
        other => return Err((0, format!("'shape' must be a tuple, got {}", repr(other)))),
    };
    Ok(Header {
        descr: match descr_v {
            Value::Str(s) => Some(s.clone()),
            _ => None,
        },
        descr_repr: match descr_v {
            Value::Str(s) => s.clone(),
            other => repr(other),
        },
        fortran_order,
        shape,
    })
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    /// Brackets open at `pos` (bounded by [`MAX_NESTING`]).
    depth: usize,
}

impl Parser<'_> {
    fn fail(&self, what: &str) -> (u64, String) {
        (self.pos as u64, what.to_string())
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8) -> ParseResult<()> {
        self.ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.fail(&format!("expected '{}'", c as char)))
        }
    }

    /// Consumes `c` if it is next (after whitespace).
    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn dict(&mut self) -> ParseResult<Vec<(String, Value)>> {
        self.expect(b'{')?;
        let mut entries = Vec::new();
        loop {
            if self.eat(b'}') {
                return Ok(entries);
            }
            self.ws();
            let key = match self.value()? {
                Value::Str(k) => k,
                _ => return Err(self.fail("dict keys must be strings")),
            };
            self.expect(b':')?;
            let value = self.value()?;
            entries.push((key, value));
            if !self.eat(b',') {
                self.expect(b'}')?;
                return Ok(entries);
            }
        }
    }

    fn seq(&mut self, open: u8, close: u8) -> ParseResult<Value> {
        if self.depth == MAX_NESTING {
            return Err(self.fail(&format!(
                "brackets nested more than {MAX_NESTING} deep (a numpy header nests a few)"
            )));
        }
        self.depth += 1;
        self.pos += 1; // the opening bracket, already peeked
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                break;
            }
            items.push(self.value()?);
            if !self.eat(b',') {
                self.expect(close)?;
                break;
            }
        }
        self.depth -= 1;
        Ok(Value::Seq(items, open as char))
    }

    fn value(&mut self) -> ParseResult<Value> {
        self.ws();
        match self.peek() {
            Some(q @ (b'\'' | b'"')) => {
                let start = self.pos + 1;
                let len = self.s[start..].iter().position(|&c| c == q);
                let Some(len) = len else {
                    return Err(self.fail("unterminated string"));
                };
                self.pos = start + len + 1;
                // Latin-1 and UTF-8 agree on ASCII; anything else is kept lossily and
                // will simply not match a supported dtype.
                Ok(Value::Str(
                    String::from_utf8_lossy(&self.s[start..start + len]).into_owned(),
                ))
            }
            Some(b'(') => self.seq(b'(', b')'),
            Some(b'[') => self.seq(b'[', b']'),
            Some(c) if c.is_ascii_digit() => {
                let mut v: u64 = 0;
                while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
                    v = v
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(u64::from(c - b'0')))
                        .ok_or_else(|| self.fail("integer too large"))?;
                    self.pos += 1;
                }
                // Python 2 era files write longs as `128L`.
                if self.peek() == Some(b'L') {
                    self.pos += 1;
                }
                Ok(Value::Int(v))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.pos += 1;
                }
                match &self.s[start..self.pos] {
                    b"True" => Ok(Value::Bool(true)),
                    b"False" => Ok(Value::Bool(false)),
                    b"None" => Ok(Value::None),
                    _ => {
                        self.pos = start;
                        Err(self.fail("unknown identifier"))
                    }
                }
            }
            Some(_) => Err(self.fail("unexpected character")),
            None => Err(self.fail("unexpected end of header")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ParseResult<Header> {
        parse_header(s.as_bytes())
    }

    #[test]
    fn parses_numpy_style_header() {
        let h = parse("{'descr': '<f4', 'fortran_order': False, 'shape': (10000, 128), }   \n")
            .unwrap();
        assert_eq!(h.descr.as_deref(), Some("<f4"));
        assert!(!h.fortran_order);
        assert_eq!(h.shape, vec![10000, 128]);
    }

    #[test]
    fn parses_variants_double_quotes_longs_key_order() {
        let h = parse(r#"{"shape": (3L, 4L), "fortran_order": True, "descr": "|u1"}"#).unwrap();
        assert_eq!(h.descr.as_deref(), Some("|u1"));
        assert!(h.fortran_order);
        assert_eq!(h.shape, vec![3, 4]);
        let h = parse("{'descr': '<f8', 'fortran_order': False, 'shape': (7,), }").unwrap();
        assert_eq!(h.shape, vec![7]);
        assert_eq!(shape_repr(&h.shape), "(7,)");
        assert_eq!(shape_repr(&[]), "()");
        assert_eq!(shape_repr(&[1, 2, 3]), "(1, 2, 3)");
    }

    #[test]
    fn structured_descr_is_kept_for_the_message() {
        let h = parse(
            "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (2, 2)}",
        )
        .unwrap();
        assert_eq!(h.descr, None);
        assert_eq!(h.descr_repr, "[('a', '<f4'), ('b', '<i4')]");
    }

    #[test]
    fn rejects_malformed_headers_with_position() {
        for (text, needle) in [
            ("", "expected '{'"),
            ("{'descr': '<f4'", "expected '}'"),
            ("{'descr' '<f4'}", "expected ':'"),
            (
                "{'descr': 'x', 'fortran_order': Maybe, 'shape': (1, 2)}",
                "unknown identifier",
            ),
            (
                "{'descr': 'x', 'fortran_order': False}",
                "missing key 'shape'",
            ),
            (
                "{'descr': 'x', 'fortran_order': 1, 'shape': (1, 2)}",
                "must be True or False",
            ),
            (
                "{'descr': 'x', 'fortran_order': False, 'shape': [1, 2]}",
                "must be a tuple",
            ),
            (
                "{'descr': 'x', 'fortran_order': False, 'shape': (99999999999999999999, 2)}",
                "too large",
            ),
            (
                "{'descr': 'x', 'fortran_order': False, 'shape': (1, 2)} junk",
                "after the header",
            ),
            ("{1: 2}", "keys must be strings"),
        ] {
            let (_, reason) = parse(text).unwrap_err();
            assert!(reason.contains(needle), "{text:?}: {reason}");
        }
        let (pos, _) = parse("{'descr' ; }").unwrap_err();
        assert_eq!(pos, 9);
    }

    #[test]
    fn nesting_is_bounded_not_a_stack_overflow() {
        // 40,000 deep used to recurse 40,000 frames and abort the process.
        let deep = format!(
            "{{'descr': {}{}, 'fortran_order': False, 'shape': (1, 2)}}",
            "[".repeat(40_000),
            "]".repeat(40_000)
        );
        let (pos, reason) = parse(&deep).unwrap_err();
        assert!(reason.contains("nested more than 32 deep"), "{reason}");
        assert_eq!(pos, 10 + MAX_NESTING as u64, "the first bracket too deep");
        // Unterminated, in a tuple: the same error, not a crash.
        let (_, reason) = parse(&format!("{{'shape': {}", "(".repeat(100_000))).unwrap_err();
        assert!(reason.contains("nested more than"), "{reason}");
        // The limit itself still parses (a deeply structured but legal descr).
        let ok = format!(
            "{{'descr': {}{}, 'fortran_order': False, 'shape': (1, 2)}}",
            "[".repeat(MAX_NESTING),
            "]".repeat(MAX_NESTING)
        );
        assert_eq!(parse(&ok).unwrap().descr, None);
    }
}
