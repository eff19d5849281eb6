//! Which vector ids each partition holds, as one roaring bitmap per partition
//! (`members.bin`). Filtered search counts a filter's matches per partition with
//! it; the file is checksummed by the manifest like every attached file.
//!
//! Layout: magic `QMEM`, u32 version 1, u64 partitions, then per partition a u64
//! byte length and the bitmap in roaring's portable serialization.

use roaring::RoaringTreemap;

const MAGIC: &[u8; 4] = b"QMEM";
const VERSION: u32 = 1;

/// Member bitmaps from each vector's partition (`part_of[id]`) and further
/// (id, partition) placements (copies).
pub fn from_assignment(
    partitions: usize,
    part_of: &[u32],
    extras: &[(u64, u32)],
) -> Vec<RoaringTreemap> {
    let mut ids: Vec<Vec<u64>> = vec![Vec::new(); partitions];
    for (id, &p) in part_of.iter().enumerate() {
        ids[p as usize].push(id as u64);
    }
    for &(id, p) in extras {
        ids[p as usize].push(id);
    }
    ids.into_iter()
        .map(|mut v| {
            v.sort_unstable();
            RoaringTreemap::from_sorted_iter(v).expect("sorted")
        })
        .collect()
}

pub fn to_bytes(members: &[RoaringTreemap]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(members.len() as u64).to_le_bytes());
    let mut buf = Vec::new();
    for m in members {
        buf.clear();
        m.serialize_into(&mut buf).expect("writing to a Vec");
        out.extend_from_slice(&(buf.len() as u64).to_le_bytes());
        out.extend_from_slice(&buf);
    }
    out
}

/// Parses `to_bytes`' output; `partitions` is the index's partition count. A
/// damaged input is an error naming what is wrong, never a panic.
pub fn from_bytes(b: &[u8], partitions: usize) -> Result<Vec<RoaringTreemap>, String> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let s = b
            .get(at..at.checked_add(n).ok_or("length overflow")?)
            .ok_or_else(|| format!("truncated at byte {at}"))?;
        at += n;
        Ok(s)
    };
    if take(4)? != MAGIC {
        return Err("not a members file (bad magic)".into());
    }
    let version = u32::from_le_bytes(take(4)?.try_into().expect("4"));
    if version != VERSION {
        return Err(format!(
            "members format version {version}; this build reads {VERSION}"
        ));
    }
    let count = u64::from_le_bytes(take(8)?.try_into().expect("8"));
    if count != partitions as u64 {
        return Err(format!("{count} partitions; the index has {partitions}"));
    }
    let mut out = Vec::with_capacity(partitions);
    for p in 0..partitions {
        let len = u64::from_le_bytes(take(8)?.try_into().expect("8"));
        let len = usize::try_from(len).map_err(|_| format!("partition {p}: length {len}"))?;
        let bytes = take(len)?;
        let m =
            RoaringTreemap::deserialize_from(bytes).map_err(|e| format!("partition {p}: {e}"))?;
        out.push(m);
    }
    if at != b.len() {
        return Err(format!("{} trailing bytes", b.len() - at));
    }
    Ok(out)
}

/// RAM of the bitmaps (their serialized size, a close estimate).
pub fn memory_bytes(members: &[RoaringTreemap]) -> u64 {
    members.iter().map(|m| m.serialized_size() as u64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let m = from_assignment(3, &[0, 2, 2, 1, 0], &[(1, 0), (4, 1)]);
        assert_eq!(m[0].iter().collect::<Vec<_>>(), vec![0, 1, 4]);
        assert_eq!(m[1].iter().collect::<Vec<_>>(), vec![3, 4]);
        let b = to_bytes(&m);
        assert_eq!(from_bytes(&b, 3).unwrap(), m);
        assert!(from_bytes(&b, 4).is_err());
        for cut in 0..b.len() {
            assert!(from_bytes(&b[..cut], 3).is_err(), "cut {cut}");
        }
    }
}
