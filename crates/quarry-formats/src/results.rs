//! Search results as files: neighbour ids (`.ivecs` / `.ibin`) and distances
//! (`.fvecs` / `.fbin`), one row of k per query, chosen by the file extension.
//! Rows with fewer than k neighbours are padded with id -1 and distance +inf, as
//! FAISS pads them (so these files are outputs: the input readers refuse +inf).

use crate::atomic::AtomicFile;
use crate::FormatError;
use std::path::Path;

fn ext(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn check_rows(path: &Path, k: usize, len: usize) -> Result<usize, FormatError> {
    if k == 0 || !len.is_multiple_of(k) {
        return Err(FormatError::invalid(
            path,
            format!("{len} values are not whole rows of k = {k}"),
        ));
    }
    Ok(len / k)
}

/// Writes rows of `k` i32 values (`.ivecs`: each row led by k; `.ibin`: one
/// header of n and k); `bytes` holds each value little-endian.
fn write_rows(
    path: &Path,
    k: usize,
    n: usize,
    vecs: bool,
    bytes: &[[u8; 4]],
) -> Result<(), FormatError> {
    let mut file = AtomicFile::create(path)?;
    if !vecs {
        let n32 = u32::try_from(n)
            .map_err(|_| FormatError::invalid(path, format!("{n} rows do not fit a u32 header")))?;
        let mut header = [0u8; 8];
        header[..4].copy_from_slice(&n32.to_le_bytes());
        header[4..].copy_from_slice(&(k as u32).to_le_bytes());
        file.write_all(&header)?;
    }
    let mut buf = Vec::with_capacity(4 * (k + 1));
    for row in bytes.chunks_exact(k) {
        buf.clear();
        if vecs {
            buf.extend_from_slice(&(k as i32).to_le_bytes());
        }
        row.iter().for_each(|b| buf.extend_from_slice(b));
        file.write_all(&buf)?;
    }
    file.commit(None)
}

/// Neighbour ids, `-1` where a query has fewer than k. Ids must fit int32.
pub fn write_result_ids(path: &Path, k: usize, ids: &[Option<u64>]) -> Result<(), FormatError> {
    let n = check_rows(path, k, ids.len())?;
    let vecs = match ext(path).as_str() {
        "ivecs" => true,
        "ibin" => false,
        other => {
            return Err(FormatError::invalid(
                path,
                format!("unknown extension {other:?} for result ids: use .ivecs or .ibin"),
            ))
        }
    };
    let mut bytes = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let v = match id {
            None => -1i32,
            Some(id) => i32::try_from(*id).map_err(|_| {
                FormatError::invalid(
                    path,
                    format!(
                        "id {id} (query {}, rank {}) exceeds the int32 range of the format",
                        i / k,
                        i % k
                    ),
                )
            })?,
        };
        bytes.push(v.to_le_bytes());
    }
    write_rows(path, k, n, vecs, &bytes)
}

/// Neighbour distances, `+inf` where a query has fewer than k.
pub fn write_result_distances(
    path: &Path,
    k: usize,
    dists: &[Option<f32>],
) -> Result<(), FormatError> {
    let n = check_rows(path, k, dists.len())?;
    let vecs = match ext(path).as_str() {
        "fvecs" => true,
        "fbin" => false,
        other => {
            return Err(FormatError::invalid(
                path,
                format!("unknown extension {other:?} for result distances: use .fvecs or .fbin"),
            ))
        }
    };
    let bytes: Vec<[u8; 4]> = dists
        .iter()
        .map(|d| d.unwrap_or(f32::INFINITY).to_le_bytes())
        .collect();
    write_rows(path, k, n, vecs, &bytes)
}
