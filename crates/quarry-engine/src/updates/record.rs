//! Write-ahead log payloads of the engine's writes.
//!
//! ```text
//! upsert (kind 1): u32 n | u32 dim | u8 dtype | n x u64 id | n x u32 partition | n x dim x dtype values
//! delete (kind 2): u32 n | n x u64 id
//! ```
//!
//! The partition of each upserted vector is logged with it, so replay places it
//! where the acknowledged write did, whatever the centroids become later.

use quarry_kernels::DType;

pub const UPSERT: u8 = 1;
pub const DELETE: u8 = 2;

/// One logged write, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Upsert {
        ids: Vec<u64>,
        parts: Vec<u32>,
        /// Row-major vectors in the index's stored dtype.
        data: Vec<u8>,
    },
    Delete {
        ids: Vec<u64>,
    },
}

pub fn encode_upsert(ids: &[u64], parts: &[u32], dim: usize, dtype: DType, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + ids.len() * 12 + data.len());
    out.extend_from_slice(&(ids.len() as u32).to_le_bytes());
    out.extend_from_slice(&(dim as u32).to_le_bytes());
    out.push(dtype_code(dtype));
    ids.iter()
        .for_each(|i| out.extend_from_slice(&i.to_le_bytes()));
    parts
        .iter()
        .for_each(|p| out.extend_from_slice(&p.to_le_bytes()));
    out.extend_from_slice(data);
    out
}

pub fn encode_delete(ids: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + ids.len() * 8);
    out.extend_from_slice(&(ids.len() as u32).to_le_bytes());
    ids.iter()
        .for_each(|i| out.extend_from_slice(&i.to_le_bytes()));
    out
}

fn dtype_code(d: DType) -> u8 {
    match d {
        DType::F32 => 0,
        DType::U8 => 1,
        DType::I8 => 2,
    }
}

/// Decodes a record of `kind` for an index of `dim` x `dtype` with `partitions`
/// partitions. A record that does not fit is an error naming what is wrong (the
/// log's checksum passed, so this is a record of another index or a bug).
pub fn decode(
    kind: u8,
    p: &[u8],
    dim: usize,
    dtype: DType,
    partitions: usize,
) -> Result<Write, String> {
    let u32_at = |o: usize| -> Result<u32, String> {
        p.get(o..o + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4")))
            .ok_or_else(|| "record too short".to_string())
    };
    let ids_at = |o: usize, n: usize| -> Result<Vec<u64>, String> {
        let b = p
            .get(
                o..o.checked_add(n.checked_mul(8).ok_or("length overflow")?)
                    .ok_or("length overflow")?,
            )
            .ok_or("record too short")?;
        Ok(b.chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8")))
            .collect())
    };
    match kind {
        UPSERT => {
            let n = u32_at(0)? as usize;
            let d = u32_at(4)? as usize;
            let code = *p.get(8).ok_or("record too short")?;
            if d != dim || code != dtype_code(dtype) {
                return Err(format!(
                    "upsert record of {d} dimensions (dtype code {code}); the index holds {dim} x {dtype}"
                ));
            }
            let ids = ids_at(9, n)?;
            let po = 9 + n * 8;
            let parts: Vec<u32> = (0..n)
                .map(|i| u32_at(po + 4 * i))
                .collect::<Result<_, _>>()?;
            if let Some(&bad) = parts.iter().find(|&&q| q as usize >= partitions) {
                return Err(format!(
                    "upsert record names partition {bad}; the index has {partitions}"
                ));
            }
            let vo = po + n * 4;
            let want = n * dim * dtype.size();
            if p.len() != vo + want {
                return Err(format!(
                    "upsert record of {} bytes, expected {}",
                    p.len(),
                    vo + want
                ));
            }
            Ok(Write::Upsert {
                ids,
                parts,
                data: p[vo..].to_vec(),
            })
        }
        DELETE => {
            let n = u32_at(0)? as usize;
            if p.len() != 4 + n * 8 {
                return Err(format!(
                    "delete record of {} bytes, expected {}",
                    p.len(),
                    4 + n * 8
                ));
            }
            Ok(Write::Delete { ids: ids_at(4, n)? })
        }
        k => Err(format!("unknown record kind {k}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_mismatch() {
        let data: Vec<u8> = (0..2 * 3).collect();
        let b = encode_upsert(&[7, 9], &[1, 0], 3, DType::U8, &data);
        assert_eq!(
            decode(UPSERT, &b, 3, DType::U8, 2).unwrap(),
            Write::Upsert {
                ids: vec![7, 9],
                parts: vec![1, 0],
                data
            }
        );
        assert!(decode(UPSERT, &b, 4, DType::U8, 2).is_err());
        assert!(decode(UPSERT, &b, 3, DType::U8, 1).is_err());
        for cut in 0..b.len() {
            assert!(decode(UPSERT, &b[..cut], 3, DType::U8, 2).is_err());
        }
        let d = encode_delete(&[1, 2, 3]);
        assert_eq!(
            decode(DELETE, &d, 3, DType::U8, 2).unwrap(),
            Write::Delete { ids: vec![1, 2, 3] }
        );
        assert!(decode(DELETE, &d[..10], 3, DType::U8, 2).is_err());
        assert!(decode(9, &d, 3, DType::U8, 2).is_err());
    }
}
