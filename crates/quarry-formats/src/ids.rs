//! Id files for writes: one id per row, as `.ivecs` / `.ibin` (one i32 column; a
//! negative id is an error) or `.npy` (1-D, or n x 1, of `<i8` or `<u8`; a negative
//! int64 is an error).

use crate::{read_ground_truth, FormatError};
use std::path::Path;

pub fn read_ids(path: &Path) -> Result<Vec<u64>, FormatError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    let invalid = |reason: String| FormatError::BadIds {
        path: path.to_path_buf(),
        reason,
    };
    match ext.as_str() {
        "ivecs" | "ibin" => {
            let gt = read_ground_truth(path)?;
            if gt.k != 1 {
                return Err(invalid(format!("has {} columns; an id file has one", gt.k)));
            }
            gt.ids
                .iter()
                .enumerate()
                .map(|(row, &i)| {
                    if i > i32::MAX as u32 {
                        Err(invalid(format!(
                            "row {row} holds the negative id {}",
                            i as i32
                        )))
                    } else {
                        Ok(i as u64)
                    }
                })
                .collect()
        }
        "npy" => read_npy_ids(path),
        _ => Err(FormatError::UnsupportedExtension {
            path: path.to_path_buf(),
            supported: ".ivecs, .ibin or .npy (int64 / uint64)",
        }),
    }
}

fn read_npy_ids(path: &Path) -> Result<Vec<u64>, FormatError> {
    let bytes = std::fs::read(path).map_err(|e| FormatError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let header = |reason: &str| FormatError::NpyHeader {
        path: path.to_path_buf(),
        offset: 0,
        reason: reason.to_string(),
    };
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(header(
            "missing the magic string \\x93NUMPY, not a .npy file",
        ));
    }
    let (start, len) = match bytes[6] {
        1 => (10usize, u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        2 | 3 if bytes.len() >= 12 => (
            12usize,
            u32::from_le_bytes(bytes[8..12].try_into().expect("4")) as usize,
        ),
        _ => return Err(header("unsupported .npy version")),
    };
    let text = bytes
        .get(start..start.saturating_add(len))
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| header("header runs past the end of the file"))?;
    let field = |key: &str| -> Option<&str> {
        let at = text.find(&format!("'{key}'"))? + key.len() + 2;
        let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
        Some(rest)
    };
    let descr = field("descr")
        .and_then(|r| r.strip_prefix('\''))
        .and_then(|r| r.split('\'').next())
        .ok_or_else(|| header("no 'descr' in the header"))?;
    let signed = match descr {
        "<i8" => true,
        "<u8" => false,
        d => {
            return Err(FormatError::NpyDtype {
                path: path.to_path_buf(),
                descr: format!("{d} (id files take <i8 or <u8)"),
            })
        }
    };
    if field("fortran_order").is_some_and(|r| r.starts_with("True")) {
        // One column: Fortran and C order are the same bytes, but say so plainly.
        let shape = field("shape").unwrap_or("");
        if !shape.starts_with('(') {
            return Err(header("no 'shape' in the header"));
        }
    }
    let shape = field("shape")
        .and_then(|r| r.strip_prefix('('))
        .and_then(|r| r.split(')').next())
        .ok_or_else(|| header("no 'shape' in the header"))?;
    let dims: Vec<&str> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let n: usize = match dims.as_slice() {
        [n] | [n, "1"] => n.parse().map_err(|_| header("bad shape"))?,
        _ => {
            return Err(FormatError::NpyShape {
                path: path.to_path_buf(),
                shape: format!("({shape}): id files are 1-D or n x 1"),
            })
        }
    };
    let body = &bytes[start + len..];
    if body.len() != n * 8 {
        return Err(FormatError::BadIds {
            path: path.to_path_buf(),
            reason: format!("holds {} bytes of data for {n} ids of 8 bytes", body.len()),
        });
    }
    body.chunks_exact(8)
        .enumerate()
        .map(|(row, c)| {
            let v = u64::from_le_bytes(c.try_into().expect("8"));
            if signed && (v as i64) < 0 {
                Err(FormatError::BadIds {
                    path: path.to_path_buf(),
                    reason: format!("row {row} holds the negative id {}", v as i64),
                })
            } else {
                Ok(v)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, body: &[u8]) -> Vec<u8> {
        let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(h.len() as u16).to_le_bytes());
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn reads_npy_and_ibin_ids() {
        let dir = tempfile::tempdir().unwrap();
        let body: Vec<u8> = [5u64, 1, 1 << 40]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let p = dir.path().join("a.npy");
        std::fs::write(&p, npy("<u8", "(3,)", &body)).unwrap();
        assert_eq!(read_ids(&p).unwrap(), vec![5, 1, 1 << 40]);
        std::fs::write(&p, npy("<i8", "(3, 1)", &body)).unwrap();
        assert_eq!(read_ids(&p).unwrap(), vec![5, 1, 1 << 40]);
        let neg: Vec<u8> = [-3i64].iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&p, npy("<i8", "(1,)", &neg)).unwrap();
        assert!(read_ids(&p).unwrap_err().to_string().contains("negative"));
        std::fs::write(&p, npy("<f4", "(3,)", &body)).unwrap();
        assert!(read_ids(&p).is_err());
        std::fs::write(&p, npy("<u8", "(4,)", &body)).unwrap();
        assert!(read_ids(&p).is_err());
        std::fs::write(&p, npy("<u8", "(3, 2)", &body)).unwrap();
        assert!(read_ids(&p).is_err());
        let q = dir.path().join("b.ibin");
        crate::write_ibin(&q, 1, &[4, 2, 9], None).unwrap();
        assert_eq!(read_ids(&q).unwrap(), vec![4, 2, 9]);
        crate::write_ibin(&q, 2, &[4, 2], None).unwrap();
        assert!(read_ids(&q).is_err());
    }
}
