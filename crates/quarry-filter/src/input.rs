//! Readers and writers for metadata files in big-ann-benchmarks formats:
//! CSR label matrices (`.spmat`, NeurIPS'23 filter track) and one-column
//! attribute files (`.ibin`, `.fbin`, `.i64bin`, `.f64bin`).
//!
//! Readers check the header against the file length before reading the
//! body, so allocations never exceed what the file's size justifies, and
//! stream the body through a fixed buffer.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use crate::error::FilterError;
use crate::metadata::Column;

const SPMAT_HEADER: u64 = 24;
const BIN_HEADER: u64 = 8;
const CHUNK: usize = 1 << 20;

fn io_err(path: &Path, source: std::io::Error) -> FilterError {
    FilterError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn input_err(path: &Path, offset: u64, reason: impl Into<String>) -> FilterError {
    FilterError::Input {
        path: path.to_path_buf(),
        offset,
        reason: reason.into(),
    }
}

fn open(path: &Path) -> Result<(BufReader<File>, u64), FilterError> {
    let f = File::open(path).map_err(|e| io_err(path, e))?;
    let len = f.metadata().map_err(|e| io_err(path, e))?.len();
    Ok((BufReader::with_capacity(CHUNK, f), len))
}

/// Reads `count` little-endian values of `W` bytes each, calling `each`
/// with (index, bytes). The caller has checked the file holds them.
fn read_values<const W: usize>(
    path: &Path,
    r: &mut impl Read,
    count: u64,
    mut each: impl FnMut(u64, [u8; W]) -> Result<(), FilterError>,
) -> Result<(), FilterError> {
    let mut buf = vec![0u8; CHUNK - CHUNK % W];
    let mut done = 0u64;
    while done < count {
        let k = ((count - done) as usize).min(buf.len() / W);
        r.read_exact(&mut buf[..k * W])
            .map_err(|e| io_err(path, e))?;
        for c in buf[..k * W].chunks_exact(W) {
            let mut a = [0u8; W];
            a.copy_from_slice(c);
            each(done, a)?;
            done += 1;
        }
    }
    Ok(())
}

/// Reads a CSR label matrix: `i64 nrow, i64 ncol, i64 nnz, i64
/// indptr[nrow+1], i32 indices[nnz], f32 data[nnz]` (data ignored). Returns
/// `(nrow, indptr, indices)` ready for `Metadata::set_labels_csr`.
pub fn read_spmat(path: &Path) -> Result<(u64, Vec<u64>, Vec<u32>), FilterError> {
    let (mut r, len) = open(path)?;
    if len < SPMAT_HEADER {
        return Err(input_err(
            path,
            len,
            format!("file is {len} bytes, shorter than the {SPMAT_HEADER}-byte header"),
        ));
    }
    let mut header = [0u8; 24];
    r.read_exact(&mut header).map_err(|e| io_err(path, e))?;
    let field = |i: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&header[i * 8..i * 8 + 8]);
        i64::from_le_bytes(a)
    };
    let (nrow, ncol, nnz) = (field(0), field(1), field(2));
    for (i, (name, v)) in [("nrow", nrow), ("ncol", ncol), ("nnz", nnz)]
        .into_iter()
        .enumerate()
    {
        if v < 0 {
            return Err(input_err(
                path,
                8 * i as u64,
                format!("{name} is negative ({v})"),
            ));
        }
    }
    if ncol > u32::MAX as i64 {
        return Err(input_err(
            path,
            8,
            format!("ncol {ncol} exceeds {}", u32::MAX),
        ));
    }
    let (nrow, ncol, nnz) = (nrow as u64, ncol as u64, nnz as u64);
    // u128: with i64 header fields this cannot overflow.
    let expected = SPMAT_HEADER as u128 + 8 * (nrow as u128 + 1) + 8 * nnz as u128;
    if expected != len as u128 {
        return Err(input_err(
            path,
            (len as u128).min(expected) as u64,
            format!(
                "nrow = {nrow} and nnz = {nnz} need a file of {expected} bytes, but it is {len} bytes ({})",
                if (len as u128) < expected { "truncated" } else { "trailing bytes" }
            ),
        ));
    }
    // Both sizes are now backed by the file's length.
    let mut indptr = Vec::with_capacity(nrow as usize + 1);
    read_values::<8>(path, &mut r, nrow + 1, |i, b| {
        let v = i64::from_le_bytes(b);
        let offset = SPMAT_HEADER + 8 * i;
        let prev = indptr.last().copied().unwrap_or(0);
        if i == 0 && v != 0 {
            return Err(input_err(path, offset, format!("indptr[0] is {v}, not 0")));
        }
        if v < 0 || (v as u64) < prev || v as u64 > nnz {
            return Err(input_err(
                path,
                offset,
                format!("indptr[{i}] = {v} is outside {prev}..={nnz} (must be non-decreasing up to nnz)"),
            ));
        }
        indptr.push(v as u64);
        Ok(())
    })?;
    let last = indptr.last().copied().unwrap_or(0);
    if last != nnz {
        return Err(input_err(
            path,
            SPMAT_HEADER + 8 * nrow,
            format!("indptr ends at {last}, not at nnz = {nnz}"),
        ));
    }
    let base = SPMAT_HEADER + 8 * (nrow + 1);
    let mut indices = Vec::with_capacity(nnz as usize);
    read_values::<4>(path, &mut r, nnz, |j, b| {
        let v = i32::from_le_bytes(b);
        if v < 0 || v as u64 >= ncol {
            return Err(input_err(
                path,
                base + 4 * j,
                format!("indices[{j}] = {v} is outside 0..{ncol}"),
            ));
        }
        indices.push(v as u32);
        Ok(())
    })?;
    Ok((nrow, indptr, indices))
}

/// Writes rows of labels as a CSR matrix readable by `read_spmat`, with
/// every data value 1.0. Labels must be below `ncol` and fit in i32.
pub fn write_spmat(path: &Path, ncol: u32, rows: &[Vec<u32>]) -> Result<(), FilterError> {
    let nnz: u64 = rows.iter().map(|r| r.len() as u64).sum();
    for (i, row) in rows.iter().enumerate() {
        if let Some(&l) = row.iter().find(|&&l| l >= ncol || l > i32::MAX as u32) {
            return Err(FilterError::Invalid(format!(
                "row {i} has label {l}, outside 0..{} for ncol = {ncol}",
                ncol.min(i32::MAX as u32 + 1)
            )));
        }
    }
    let f = File::create(path).map_err(|e| io_err(path, e))?;
    let mut w = BufWriter::with_capacity(CHUNK, f);
    let mut write = |bytes: &[u8]| w.write_all(bytes);
    let mut body = || -> std::io::Result<()> {
        write(&(rows.len() as i64).to_le_bytes())?;
        write(&(ncol as i64).to_le_bytes())?;
        write(&(nnz as i64).to_le_bytes())?;
        let mut at = 0i64;
        write(&at.to_le_bytes())?;
        for row in rows {
            at += row.len() as i64;
            write(&at.to_le_bytes())?;
        }
        for &l in rows.iter().flatten() {
            write(&(l as i32).to_le_bytes())?;
        }
        for _ in 0..nnz {
            write(&1.0f32.to_le_bytes())?;
        }
        Ok(())
    };
    body().map_err(|e| io_err(path, e))?;
    w.flush().map_err(|e| io_err(path, e))
}

#[derive(Clone, Copy)]
enum Kind {
    I32,
    F32,
    I64,
    F64,
}

impl Kind {
    fn of(path: &Path) -> Result<Kind, FilterError> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("ibin") => Ok(Kind::I32),
            Some("fbin") => Ok(Kind::F32),
            Some("i64bin") => Ok(Kind::I64),
            Some("f64bin") => Ok(Kind::F64),
            other => Err(input_err(
                path,
                0,
                format!(
                    "unknown attribute file extension {:?}: use .ibin (i32), .fbin (f32), .i64bin (i64) or .f64bin (f64)",
                    other.unwrap_or("")
                ),
            )),
        }
    }

    fn width(self) -> u64 {
        match self {
            Kind::I32 | Kind::F32 => 4,
            Kind::I64 | Kind::F64 => 8,
        }
    }
}

/// Reads a one-column attribute file: u32 n, u32 d (must be 1), then n
/// values whose type comes from the extension: `.ibin` i32 and `.i64bin`
/// i64 give `Column::I64`, `.fbin` f32 and `.f64bin` f64 give
/// `Column::F64`. Floats must be finite.
pub fn read_attribute(path: &Path) -> Result<Column, FilterError> {
    let kind = Kind::of(path)?;
    let (mut r, len) = open(path)?;
    if len < BIN_HEADER {
        return Err(input_err(
            path,
            len,
            format!("file is {len} bytes, shorter than the {BIN_HEADER}-byte header"),
        ));
    }
    let mut header = [0u8; 8];
    r.read_exact(&mut header).map_err(|e| io_err(path, e))?;
    let n = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as u64;
    let d = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if d != 1 {
        return Err(input_err(
            path,
            4,
            format!("d is {d}; an attribute file has one value per row (d = 1)"),
        ));
    }
    let expected = BIN_HEADER + n * kind.width();
    if expected != len {
        return Err(input_err(
            path,
            len.min(expected),
            format!(
                "n = {n} needs a file of {expected} bytes, but it is {len} bytes ({})",
                if len < expected {
                    "truncated"
                } else {
                    "trailing bytes"
                }
            ),
        ));
    }
    let finite = |row: u64, v: f64| {
        if v.is_finite() {
            Ok(v)
        } else {
            Err(input_err(
                path,
                BIN_HEADER + row * kind.width(),
                format!("row {row} is {v}; values must be finite"),
            ))
        }
    };
    // n is backed by the file's length.
    let n_us = n as usize;
    Ok(match kind {
        Kind::I32 => {
            let mut v = Vec::with_capacity(n_us);
            read_values::<4>(path, &mut r, n, |_, b| {
                v.push(i32::from_le_bytes(b) as i64);
                Ok(())
            })?;
            Column::I64(v)
        }
        Kind::I64 => {
            let mut v = Vec::with_capacity(n_us);
            read_values::<8>(path, &mut r, n, |_, b| {
                v.push(i64::from_le_bytes(b));
                Ok(())
            })?;
            Column::I64(v)
        }
        Kind::F32 => {
            let mut v = Vec::with_capacity(n_us);
            read_values::<4>(path, &mut r, n, |i, b| {
                v.push(finite(i, f32::from_le_bytes(b) as f64)?);
                Ok(())
            })?;
            Column::F64(v)
        }
        Kind::F64 => {
            let mut v = Vec::with_capacity(n_us);
            read_values::<8>(path, &mut r, n, |i, b| {
                v.push(finite(i, f64::from_le_bytes(b))?);
                Ok(())
            })?;
            Column::F64(v)
        }
    })
}

/// Writes a column in the format its extension names (see
/// `read_attribute`). `.ibin` needs an I64 column within i32; `.fbin`
/// needs an F64 column and rounds each value to f32 (an error if that
/// overflows); at most u32::MAX rows.
pub fn write_attribute(path: &Path, col: &Column) -> Result<(), FilterError> {
    let kind = Kind::of(path)?;
    let n = u32::try_from(col.len())
        .map_err(|_| FilterError::Invalid(format!("{} rows do not fit a u32 header", col.len())))?;
    let mut out = Vec::with_capacity(8 + col.len() * kind.width() as usize);
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    let bad = |msg: String| FilterError::Invalid(format!("{}: {msg}", path.display()));
    match (kind, col) {
        (Kind::I64, Column::I64(v)) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        (Kind::F64, Column::F64(v)) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        (Kind::I32, Column::I64(v)) => {
            for (row, &x) in v.iter().enumerate() {
                let x = i32::try_from(x)
                    .map_err(|_| bad(format!("row {row} value {x} does not fit i32")))?;
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        (Kind::F32, Column::F64(v)) => {
            for (row, &x) in v.iter().enumerate() {
                let y = x as f32;
                if !y.is_finite() {
                    return Err(bad(format!("row {row} value {x} is not a finite f32")));
                }
                out.extend_from_slice(&y.to_le_bytes());
            }
        }
        (_, Column::I64(_)) => return Err(bad("an i64 column needs .ibin or .i64bin".into())),
        (_, Column::F64(_)) => return Err(bad("an f64 column needs .fbin or .f64bin".into())),
    }
    std::fs::write(path, out).map_err(|e| io_err(path, e))
}
