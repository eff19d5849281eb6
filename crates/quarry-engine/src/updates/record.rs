//! Write-ahead log payloads of the engine's writes.
//!
//! ```text
//! upsert (kind 1): u32 n | u32 dim | u8 dtype | n x u64 id | n x u32 partition | n x dim x dtype values
//! delete (kind 2): u32 n | n x u64 id
//! upsert with labels/attributes (kind 3): an upsert, then
//!     n x (u32 count | count x u32 label)
//!     u32 a | a x (u32 len | name) | n x a x f64 (row-major, in that name order)
//! ```
//!
//! The partition of each upserted vector is logged with it, so replay places it
//! where the acknowledged write did, whatever the centroids become later.

use quarry_filter::RowMeta;
use quarry_kernels::DType;

pub const UPSERT: u8 = 1;
pub const DELETE: u8 = 2;
pub const UPSERT_META: u8 = 3;

/// One logged write, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Upsert {
        ids: Vec<u64>,
        parts: Vec<u32>,
        /// Row-major vectors in the index's stored dtype.
        data: Vec<u8>,
        /// Labels and attributes, one per id (`None`: none given).
        meta: Option<Vec<RowMeta>>,
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

/// The meta section of an `UPSERT_META` record; every row names the same
/// attributes (in any order), as `Metadata::check_row` ensured.
pub fn encode_meta(out: &mut Vec<u8>, meta: &[RowMeta]) {
    for r in meta {
        out.extend_from_slice(&(r.labels.len() as u32).to_le_bytes());
        r.labels
            .iter()
            .for_each(|l| out.extend_from_slice(&l.to_le_bytes()));
    }
    let mut names: Vec<&str> = meta.first().map_or(Vec::new(), |r| {
        r.attrs.iter().map(|a| a.0.as_str()).collect()
    });
    names.sort_unstable();
    out.extend_from_slice(&(names.len() as u32).to_le_bytes());
    for n in &names {
        out.extend_from_slice(&(n.len() as u32).to_le_bytes());
        out.extend_from_slice(n.as_bytes());
    }
    for r in meta {
        for n in &names {
            let v = r.attrs.iter().find(|a| a.0 == *n).map_or(f64::NAN, |a| a.1);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
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
        UPSERT | UPSERT_META => {
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
            let end = n
                .checked_mul(dim * dtype.size())
                .and_then(|w| w.checked_add(vo))
                .ok_or("length overflow")?;
            let meta = if kind == UPSERT_META {
                Some(decode_meta(p.get(end..).ok_or("record too short")?, n)?)
            } else if p.len() != end {
                return Err(format!(
                    "upsert record of {} bytes, expected {end}",
                    p.len()
                ));
            } else {
                None
            };
            Ok(Write::Upsert {
                ids,
                parts,
                data: p.get(vo..end).ok_or("record too short")?.to_vec(),
                meta,
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

/// The meta section of `n` rows (see the module docs); it must end the record.
fn decode_meta(p: &[u8], n: usize) -> Result<Vec<RowMeta>, String> {
    let mut at = 0usize;
    let mut take = |len: usize| -> Result<&[u8], String> {
        let b = at
            .checked_add(len)
            .and_then(|e| p.get(at..e))
            .ok_or("meta section too short")?;
        at += len;
        Ok(b)
    };
    let u32_of = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4"));
    let mut rows = Vec::with_capacity(n.min(p.len() / 4));
    for _ in 0..n {
        let c = u32_of(take(4)?) as usize;
        let b = take(c.checked_mul(4).ok_or("length overflow")?)?;
        rows.push(RowMeta {
            labels: b.chunks_exact(4).map(u32_of).collect(),
            attrs: Vec::new(),
        });
    }
    let a = u32_of(take(4)?) as usize;
    let mut names = Vec::with_capacity(a.min(p.len() / 4));
    for _ in 0..a {
        let len = u32_of(take(4)?) as usize;
        let name = std::str::from_utf8(take(len)?).map_err(|_| "attribute name not UTF-8")?;
        names.push(name.to_string());
    }
    for r in &mut rows {
        for name in &names {
            let v = f64::from_le_bytes(take(8)?.try_into().expect("8"));
            r.attrs.push((name.clone(), v));
        }
    }
    if at != p.len() {
        return Err(format!("{} bytes after the meta section", p.len() - at));
    }
    Ok(rows)
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
                data: data.clone(),
                meta: None,
            }
        );
        let meta = vec![
            RowMeta {
                labels: vec![3, 1],
                attrs: vec![("y".into(), 2.0), ("x".into(), -1.5)],
            },
            RowMeta {
                labels: vec![],
                attrs: vec![("x".into(), 4.0), ("y".into(), 0.0)],
            },
        ];
        let mut m = b.clone();
        encode_meta(&mut m, &meta);
        let Write::Upsert {
            meta: Some(got), ..
        } = decode(UPSERT_META, &m, 3, DType::U8, 2).unwrap()
        else {
            panic!("not an upsert with meta")
        };
        // Attributes come back in name order.
        assert_eq!(got[0].labels, [3, 1]);
        assert_eq!(
            got[0].attrs,
            [("x".to_string(), -1.5), ("y".to_string(), 2.0)]
        );
        assert_eq!(
            got[1].attrs,
            [("x".to_string(), 4.0), ("y".to_string(), 0.0)]
        );
        for cut in b.len()..m.len() {
            assert!(decode(UPSERT_META, &m[..cut], 3, DType::U8, 2).is_err());
        }
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
