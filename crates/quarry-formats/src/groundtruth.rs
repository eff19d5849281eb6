//! Ground-truth neighbor lists: TEXMEX `.ivecs` and big-ann-benchmarks `.ibin`
//! (optionally followed by the matching f32 distances).

use crate::bin::{self, HEADER_LEN};
use crate::io::{f32_from_le, i32_from_le, RawFile};
use crate::open::extension;
use crate::validate::{check_finite, mul3, to_usize};
use crate::vecs::VecsFile;
use crate::FormatError;
use std::path::Path;

/// `k` neighbor ids for each of `n` queries, nearest first.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruth {
    pub n: usize,
    pub k: usize,
    /// `n * k` ids, row-major.
    pub ids: Vec<u32>,
    /// `n * k` distances matching `ids`, when the file has them.
    pub dists: Option<Vec<f32>>,
}

impl GroundTruth {
    /// Neighbor ids of query `i` (panics if `i >= n`, like slice indexing).
    pub fn row(&self, i: usize) -> &[u32] {
        &self.ids[i * self.k..(i + 1) * self.k]
    }

    /// Distances of query `i`'s neighbors, if the file had them.
    pub fn dist_row(&self, i: usize) -> Option<&[f32]> {
        self.dists
            .as_ref()
            .map(|d| &d[i * self.k..(i + 1) * self.k])
    }
}

pub(crate) const SUPPORTED_GT: &str =
    ".ivecs (int32 rows), .ibin (u32 n, u32 k, int32 ids[, f32 dists])";

/// Reads a whole ground-truth file; ids must be non-negative.
pub fn read_ground_truth(path: &Path) -> Result<GroundTruth, FormatError> {
    match extension(path).as_str() {
        "ivecs" => read_ivecs(path),
        "ibin" => read_ibin(path),
        _ => Err(FormatError::UnsupportedExtension {
            path: path.to_path_buf(),
            supported: SUPPORTED_GT,
        }),
    }
}

fn read_ivecs(path: &Path) -> Result<GroundTruth, FormatError> {
    let file = VecsFile::open(path, 4)?;
    let bytes = file.read_payload(0, file.n)?;
    let ids = to_ids(path, &bytes, file.dim, |q, r| file.elem_offset(q, r))?;
    Ok(GroundTruth {
        n: file.n,
        k: file.dim,
        ids,
        dists: None,
    })
}

fn read_ibin(path: &Path) -> Result<GroundTruth, FormatError> {
    let raw = RawFile::open(path)?;
    let (n, k) = bin::read_header(&raw)?;
    if n == 0 {
        return Err(FormatError::NoVectors {
            path: path.to_path_buf(),
        });
    }
    // Sizes are compared before anything is allocated, so a lying header is harmless.
    let ids_only = mul3(n, k as u64, 4).and_then(|b| b.checked_add(HEADER_LEN));
    let with_dists = mul3(n, k as u64, 8).and_then(|b| b.checked_add(HEADER_LEN));
    let has_dists = match (ids_only, with_dists) {
        (Some(a), _) if raw.size == a => false,
        (_, Some(b)) if raw.size == b => true,
        (Some(a), b) if raw.size > a => {
            // Between or beyond the two valid layouts: report against the nearer one below.
            let expected = match b {
                Some(b) if raw.size > b => b,
                _ => a,
            };
            return Err(FormatError::TrailingData {
                path: path.to_path_buf(),
                n,
                dim: k as u64,
                expected,
                actual: raw.size,
            });
        }
        _ => {
            return Err(FormatError::HeaderExceedsFile {
                path: path.to_path_buf(),
                n,
                dim: k as u64,
                expected: ids_only.unwrap_or(u64::MAX),
                actual: raw.size,
            })
        }
    };
    let n = to_usize(path, n)?;
    let ids_len = n * k * 4;
    let bytes = raw.read_vec(HEADER_LEN, ids_len)?;
    let ids = to_ids(path, &bytes, k, |q, r| {
        HEADER_LEN + ((q * k + r) as u64) * 4
    })?;
    let dists = if has_dists {
        let dist_start = HEADER_LEN + ids_len as u64;
        let bytes = raw.read_vec(dist_start, ids_len)?;
        let d: Vec<f32> = f32_from_le(&bytes).collect();
        check_finite(path, &d, 0, k, |q, r| dist_start + ((q * k + r) as u64) * 4)?;
        Some(d)
    } else {
        None
    };
    Ok(GroundTruth { n, k, ids, dists })
}

/// int32 ids to u32, rejecting negatives (often -1 padding for "no neighbor").
fn to_ids(
    path: &Path,
    bytes: &[u8],
    k: usize,
    offset_of: impl Fn(usize, usize) -> u64,
) -> Result<Vec<u32>, FormatError> {
    i32_from_le(bytes)
        .enumerate()
        .map(|(i, id)| {
            u32::try_from(id).map_err(|_| FormatError::NegativeId {
                path: path.to_path_buf(),
                offset: offset_of(i / k, i % k),
                query: i / k,
                rank: i % k,
                id,
            })
        })
        .collect()
}
