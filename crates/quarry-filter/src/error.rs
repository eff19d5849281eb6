//! The one error type of the crate.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong parsing a filter, building or evaluating
/// metadata, decoding it, or reading metadata files.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// The filter text does not parse. `pos` is the byte offset of the
    /// offending token in `text`; Display shows it 1-based with a caret line.
    #[error("{}", SyntaxDisplay { pos: *pos, message, text })]
    Syntax {
        pos: usize,
        message: String,
        text: String,
    },

    /// The filter names an attribute the metadata does not have.
    #[error("unknown attribute '{name}' in filter; {}", known_list(known))]
    UnknownAttribute { name: String, known: Vec<String> },

    /// A metadata update was refused (bad CSR, wrong column length, bad
    /// name, non-finite value, ...). Nothing was changed.
    #[error("invalid metadata: {0}")]
    Invalid(String),

    /// `matches` was asked about an id the metadata does not describe.
    #[error("id {id} is not described: the metadata holds {n} vectors")]
    IdOutOfRange { id: u64, n: u64 },

    /// Encoded metadata is damaged or truncated.
    #[error("corrupt filter metadata: {0}")]
    Corrupt(String),

    /// Encoded metadata has a version this build cannot read.
    #[error(
        "unsupported filter metadata version {found} (this build reads versions 1 to {supported})"
    )]
    UnsupportedVersion { found: u32, supported: u32 },

    /// A metadata input file is malformed at `offset`.
    #[error("{}: at byte {offset}: {reason}", path.display())]
    Input {
        path: PathBuf,
        offset: u64,
        reason: String,
    },

    /// Opening, reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        "the metadata has no attributes".to_string()
    } else {
        format!("known attributes: {}", known.join(", "))
    }
}

/// Longest stretch of the expression echoed in a syntax error, in chars, so
/// a 64 KiB expression does not produce a 64 KiB message.
const ECHO_CHARS: usize = 120;

struct SyntaxDisplay<'a> {
    pos: usize,
    message: &'a str,
    text: &'a str,
}

impl fmt::Display for SyntaxDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Control characters (newlines, tabs) would break the caret's
        // alignment, so each becomes one space: one char stays one column.
        let chars: Vec<char> = self
            .text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let pos = self.pos.min(self.text.len());
        let caret = self
            .text
            .char_indices()
            .take_while(|&(i, _)| i < pos)
            .count();
        let (start, end) = if chars.len() <= ECHO_CHARS {
            (0, chars.len())
        } else {
            let start = caret.saturating_sub(ECHO_CHARS / 2);
            let end = (start + ECHO_CHARS).min(chars.len());
            (end.saturating_sub(ECHO_CHARS), end)
        };
        let prefix = if start > 0 { "..." } else { "" };
        let suffix = if end < chars.len() { "..." } else { "" };
        let shown: String = chars[start..end].iter().collect();
        write!(
            f,
            "bad filter at position {}: {}\n  {prefix}{shown}{suffix}\n  {}^",
            self.pos + 1,
            self.message,
            " ".repeat(prefix.len() + caret - start)
        )
    }
}
