//! Checks shared by every reader (and by the writers, so they never produce a file
//! the readers would reject).

use crate::FormatError;
use std::path::Path;

/// Largest accepted vector dimension. Anything above is far more likely a corrupt or
/// misidentified header than a real dataset, and would make per-row buffers huge.
pub const MAX_DIM: usize = 1 << 20;

/// Validates a dimension read from a header (signed, since vecs stores it as int32).
pub(crate) fn check_dim(path: &Path, offset: u64, dim: i64) -> Result<usize, FormatError> {
    if dim < 1 || dim > MAX_DIM as i64 {
        return Err(FormatError::BadDimension {
            path: path.to_path_buf(),
            offset,
            dim,
            max: MAX_DIM,
        });
    }
    Ok(dim as usize)
}

/// Validates a requested row range against the number of rows in the file.
pub(crate) fn check_range(
    path: &Path,
    start: usize,
    rows: usize,
    len: usize,
) -> Result<(), FormatError> {
    match start.checked_add(rows) {
        Some(end) if end <= len => Ok(()),
        _ => Err(FormatError::OutOfRange {
            path: path.to_path_buf(),
            start,
            rows,
            len,
        }),
    }
}

/// Fails on the first NaN or infinity in `data` (rows of `dim` floats whose first row is
/// `first_row` of the file). `offset_of(row, component)` gives the value's byte offset
/// in the file, which differs between layouts.
pub(crate) fn check_finite(
    path: &Path,
    data: &[f32],
    first_row: usize,
    dim: usize,
    offset_of: impl Fn(usize, usize) -> u64,
) -> Result<(), FormatError> {
    // Branch-free scan that vectorises; locate the culprit only on failure.
    let any_bad = data.iter().fold(false, |acc, x| acc | !x.is_finite());
    if !any_bad {
        return Ok(());
    }
    let Some(i) = data.iter().position(|x| !x.is_finite()) else {
        return Ok(());
    };
    let (row, component) = (i / dim.max(1), i % dim.max(1));
    let x = data[i];
    let kind = if x.is_nan() {
        "NaN"
    } else if x > 0.0 {
        "+Inf"
    } else {
        "-Inf"
    };
    Err(FormatError::NonFinite {
        path: path.to_path_buf(),
        offset: offset_of(row, component),
        vector: first_row + row,
        component,
        kind,
    })
}

/// `a * b * c` in u64, or None when it does not fit (a header claiming absurd sizes).
pub(crate) fn mul3(a: u64, b: u64, c: u64) -> Option<u64> {
    a.checked_mul(b)?.checked_mul(c)
}

/// Byte count as usize for allocation; the value was already checked against the file size.
pub(crate) fn to_usize(path: &Path, bytes: u64) -> Result<usize, FormatError> {
    usize::try_from(bytes).map_err(|_| {
        let msg = format!("{bytes} bytes exceed the address space of this platform");
        FormatError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::OutOfMemory, msg),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finite_data_passes_and_each_kind_is_named() {
        let p = Path::new("x.fbin");
        assert!(check_finite(p, &[1.0, -2.0, 0.0], 0, 3, |_, _| 0).is_ok());
        for (v, kind) in [
            (f32::NAN, "NaN"),
            (f32::INFINITY, "+Inf"),
            (f32::NEG_INFINITY, "-Inf"),
        ] {
            let err = check_finite(p, &[1.0, 2.0, 3.0, v], 5, 2, |r, c| (r * 100 + c) as u64)
                .unwrap_err();
            match err {
                FormatError::NonFinite {
                    offset,
                    vector,
                    component,
                    kind: k,
                    ..
                } => {
                    assert_eq!((offset, vector, component, k), (101, 6, 1, kind));
                }
                other => panic!("unexpected {other}"),
            }
        }
    }

    #[test]
    fn dims_and_ranges() {
        let p = Path::new("x");
        assert_eq!(check_dim(p, 0, 1).unwrap(), 1);
        assert_eq!(check_dim(p, 0, MAX_DIM as i64).unwrap(), MAX_DIM);
        assert!(check_dim(p, 0, 0).is_err());
        assert!(check_dim(p, 0, -3).is_err());
        assert!(check_dim(p, 0, MAX_DIM as i64 + 1).is_err());
        assert!(check_range(p, 2, 3, 5).is_ok());
        assert!(check_range(p, 5, 0, 5).is_ok());
        assert!(check_range(p, 3, 3, 5).is_err());
        assert!(check_range(p, usize::MAX, 2, 5).is_err());
        assert_eq!(mul3(u64::MAX, 2, 1), None);
        assert_eq!(mul3(3, 4, 5), Some(60));
    }
}
