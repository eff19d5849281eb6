//! Binary encoding of `Metadata`.
//!
//! Layout, all little-endian:
//! ```text
//! b"QFLT"  u32 version (1 or 2)  u64 n
//! version 2 only: n varints, the ids (first id, then gap-1), ascending
//! u64 label_count, then per label (ascending):
//!     u32 label  u64 id_count (>= 1)  id_count varints: first id, then gap-1
//! u64 attribute_count, then per attribute (ascending by name):
//!     u32 name_len  name (UTF-8)  u8 kind (0 = i64, 1 = f64)  n x 8 bytes
//! u32 CRC-32C of every byte before it
//! ```
//! Version 1 describes ids 0..n (metadata built from rows; it is still what
//! such metadata encodes to), version 2 any n ids (after writes).
//! Ids are written as LEB128 gaps rather than roaring's own format so the
//! bytes depend only on the contents (not on container choices) and every
//! count can be checked against the bytes left before anything is
//! allocated. The checksum makes a flipped byte an error rather than
//! silently different metadata.

use std::collections::BTreeMap;

use roaring::RoaringTreemap;

use crate::error::FilterError;
use crate::metadata::{check_attribute_name, first_non_finite, Column, Metadata};

const MAGIC: &[u8; 4] = b"QFLT";
/// The newest encoding version, which this build writes for metadata of
/// ids other than 0..n; it reads every version up to it.
pub const FORMAT_VERSION: u32 = 2;

const KIND_I64: u8 = 0;
const KIND_F64: u8 = 1;

/// CRC-32C (Castagnoli) lookup table, built at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

pub(crate) fn crc32c(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c = CRC_TABLE[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

/// Ascending ids as varints: the first, then each gap minus one.
fn put_gaps(out: &mut Vec<u8>, ids: &RoaringTreemap) {
    let mut prev: Option<u64> = None;
    for id in ids {
        put_varint(out, prev.map_or(id, |p| id - p - 1));
        prev = Some(id);
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl Metadata {
    /// Encodes the metadata; equal metadata gives equal bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        let version: u32 = if self.sparse.is_some() { 2 } else { 1 };
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&self.n.to_le_bytes());
        if let Some(u) = &self.sparse {
            put_gaps(&mut out, u);
        }
        out.extend_from_slice(&(self.labels.len() as u64).to_le_bytes());
        for (&label, ids) in &self.labels {
            out.extend_from_slice(&label.to_le_bytes());
            out.extend_from_slice(&ids.len().to_le_bytes());
            put_gaps(&mut out, ids);
        }
        out.extend_from_slice(&(self.attrs.len() as u64).to_le_bytes());
        for (name, col) in &self.attrs {
            out.extend_from_slice(&(name.len() as u32).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            match col {
                Column::I64(v) => {
                    out.push(KIND_I64);
                    v.iter()
                        .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
                }
                Column::F64(v) => {
                    out.push(KIND_F64);
                    v.iter()
                        .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
                }
            }
        }
        let crc = crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes `to_bytes` output. Damaged or truncated input is an error,
    /// never a panic, and nothing is allocated beyond what the input's size
    /// can back.
    pub fn from_bytes(b: &[u8]) -> Result<Metadata, FilterError> {
        if b.len() < 4 || &b[..4] != MAGIC {
            return Err(corrupt(format!(
                "not quarry-filter metadata: expected magic \"QFLT\", found {:?}",
                &b[..b.len().min(4)]
            )));
        }
        if b.len() < 8 {
            return Err(corrupt(format!("truncated: {} bytes, no version", b.len())));
        }
        let version = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        if version == 0 || version > FORMAT_VERSION {
            return Err(FilterError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if b.len() < 12 {
            return Err(corrupt(format!(
                "truncated: {} bytes, no checksum",
                b.len()
            )));
        }
        let (body, tail) = b.split_at(b.len() - 4);
        let stored = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
        let actual = crc32c(body);
        if stored != actual {
            return Err(corrupt(format!(
                "checksum mismatch (stored {stored:#010x}, computed {actual:#010x}): damaged or truncated"
            )));
        }
        let mut r = Reader { b: body, pos: 8 };
        decode_body(&mut r, version)
    }
}

fn corrupt(msg: impl Into<String>) -> FilterError {
    FilterError::Corrupt(msg.into())
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.b.len() - self.pos
    }

    fn take(&mut self, k: usize, what: &str) -> Result<&'a [u8], FilterError> {
        if k > self.left() {
            return Err(corrupt(format!(
                "truncated at byte {}: {what} needs {k} bytes, {} left",
                self.pos,
                self.left()
            )));
        }
        let s = &self.b[self.pos..self.pos + k];
        self.pos += k;
        Ok(s)
    }

    fn u8(&mut self, what: &str) -> Result<u8, FilterError> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32, FilterError> {
        let s = self.take(4, what)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn u64(&mut self, what: &str) -> Result<u64, FilterError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_le_bytes(a))
    }

    fn varint(&mut self) -> Result<u64, FilterError> {
        let start = self.pos;
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8("an id")?;
            let bits = (byte & 0x7F) as u64;
            if shift == 63 && bits > 1 {
                break;
            }
            v |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(corrupt(format!("id varint at byte {start} overflows u64")))
    }

    /// A count of items each taking at least `min_bytes`, checked against
    /// the bytes left so it can size an allocation.
    fn count(&mut self, what: &str, min_bytes: usize) -> Result<usize, FilterError> {
        let at = self.pos;
        let c = self.u64(what)?;
        if c > (self.left() / min_bytes) as u64 {
            return Err(corrupt(format!(
                "{what} at byte {at} is {c}, more than the {} bytes left can hold",
                self.left()
            )));
        }
        Ok(c as usize)
    }
}

fn decode_body(r: &mut Reader<'_>, version: u32) -> Result<Metadata, FilterError> {
    let at = r.pos;
    let n = r.u64("the vector count")?;
    let sparse = if version >= 2 {
        // One varint byte at least per id.
        if n > r.left() as u64 {
            return Err(corrupt(format!(
                "the vector count at byte {at} is {n}, more than the {} bytes left can hold",
                r.left()
            )));
        }
        let mut u = RoaringTreemap::new();
        let mut next_min = 0u64;
        for _ in 0..n {
            let at = r.pos;
            let id = next_min
                .checked_add(r.varint()?)
                .ok_or_else(|| corrupt(format!("id at byte {at} overflows u64")))?;
            // Only an id after u64::MAX can fail to ascend.
            u.try_push(id)
                .map_err(|_| corrupt(format!("id at byte {at} overflows u64")))?;
            next_min = id.saturating_add(1);
        }
        Some(u)
    } else {
        None
    };
    let described = |id: u64| match &sparse {
        Some(u) => u.contains(id),
        None => id < n,
    };

    let mut labels = BTreeMap::new();
    // Smallest label entry: u32 label, u64 count, one 1-byte varint.
    let label_count = r.count("the label count", 13)?;
    let mut prev_label: Option<u32> = None;
    for _ in 0..label_count {
        let at = r.pos;
        let label = r.u32("a label")?;
        if prev_label.is_some_and(|p| label <= p) {
            return Err(corrupt(format!(
                "label {label} at byte {at} is out of order"
            )));
        }
        prev_label = Some(label);
        let ids_count = r.count("an id count", 1)?;
        if ids_count == 0 {
            return Err(corrupt(format!("label {label} at byte {at} has no ids")));
        }
        let mut ids = RoaringTreemap::new();
        let mut next_min = 0u64;
        for _ in 0..ids_count {
            let at = r.pos;
            let id = next_min
                .checked_add(r.varint()?)
                .filter(|&id| described(id))
                .ok_or_else(|| {
                    corrupt(format!(
                        "id at byte {at} of label {label} is not one of the {n} ids described"
                    ))
                })?;
            // Strictly ascending by construction, so the push succeeds.
            let pushed = ids.try_push(id);
            debug_assert!(pushed.is_ok());
            next_min = id + 1;
        }
        labels.insert(label, ids);
    }

    let mut attrs = BTreeMap::new();
    // Smallest attribute entry: u32 length, 1-byte name, kind byte.
    let attr_count = r.count("the attribute count", 6)?;
    let mut prev_name: Option<String> = None;
    for _ in 0..attr_count {
        let at = r.pos;
        let len = r.u32("an attribute name length")? as usize;
        let name = std::str::from_utf8(r.take(len, "an attribute name")?)
            .map_err(|_| corrupt(format!("attribute name at byte {at} is not UTF-8")))?
            .to_string();
        check_attribute_name(&name).map_err(|m| corrupt(format!("at byte {at}: {m}")))?;
        if prev_name.as_ref().is_some_and(|p| name <= *p) {
            return Err(corrupt(format!(
                "attribute '{name}' at byte {at} is out of order"
            )));
        }
        let kind = r.u8("an attribute kind")?;
        let bytes = n
            .checked_mul(8)
            .filter(|&k| k <= r.left() as u64)
            .ok_or_else(|| {
                corrupt(format!(
                    "attribute '{name}' needs {n} values, more than the bytes left"
                ))
            })?;
        let raw = r.take(bytes as usize, "attribute values")?;
        let words = raw.chunks_exact(8).map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            a
        });
        let col = match kind {
            KIND_I64 => Column::I64(words.map(i64::from_le_bytes).collect()),
            KIND_F64 => {
                let v: Vec<f64> = words.map(f64::from_le_bytes).collect();
                if let Some(row) = first_non_finite(&v) {
                    return Err(corrupt(format!(
                        "attribute '{name}' row {row} is not finite"
                    )));
                }
                Column::F64(v)
            }
            k => return Err(corrupt(format!("attribute '{name}' has unknown kind {k}"))),
        };
        attrs.insert(name.clone(), col);
        prev_name = Some(name);
    }
    if r.left() != 0 {
        return Err(corrupt(format!(
            "{} unexpected bytes at byte {}",
            r.left(),
            r.pos
        )));
    }
    // A version-2 universe of exactly 0..n is kept as version 1 holds it, so
    // decoded metadata equals the metadata that was encoded.
    let sparse =
        sparse.filter(|u| !(u.min().is_none_or(|m| m == 0) && u.max().is_none_or(|m| m + 1 == n)));
    Ok(Metadata {
        n,
        sparse,
        labels,
        attrs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
        // The standard check value of CRC-32C.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    fn sample() -> Metadata {
        let mut m = Metadata::new(5);
        m.set_labels_csr(&[0, 2, 2, 3, 5, 6], &[1, 7, 7, 1, 300, 7])
            .unwrap();
        m.add_attribute("year", Column::I64(vec![2019, 2020, -4, 0, i64::MAX]))
            .unwrap();
        m.add_attribute("price", Column::F64(vec![0.5, -1.0, 1e300, 0.0, 3.25]))
            .unwrap();
        m
    }

    /// With the checksum recomputed, damage reaches the structural checks:
    /// they must reject it or decode something valid, never panic.
    #[test]
    fn damage_behind_a_valid_checksum_never_panics() {
        let good = sample().to_bytes();
        let body_len = good.len() - 4;
        for pos in 8..body_len {
            for val in [0u8, 1, 0x7F, 0x80, 0xFF] {
                let mut b = good[..body_len].to_vec();
                b[pos] = val;
                let crc = crc32c(&b);
                b.extend_from_slice(&crc.to_le_bytes());
                if let Ok(m) = Metadata::from_bytes(&b) {
                    // Anything accepted must be self-consistent.
                    assert_eq!(Metadata::from_bytes(&m.to_bytes()).unwrap(), m);
                }
            }
        }
        // Every truncation of the body, re-checksummed.
        for cut in 8..body_len {
            let mut b = good[..cut].to_vec();
            let crc = crc32c(&b);
            b.extend_from_slice(&crc.to_le_bytes());
            assert!(Metadata::from_bytes(&b).is_err(), "cut at {cut} accepted");
        }
    }

    #[test]
    fn huge_counts_are_rejected_without_allocating() {
        let mut b = Vec::new();
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&1u32.to_le_bytes()); // version 1: ids 0..n
        b.extend_from_slice(&u64::MAX.to_le_bytes()); // n
        b.extend_from_slice(&0u64.to_le_bytes()); // no labels
        b.extend_from_slice(&1u64.to_le_bytes()); // one attribute
        b.extend_from_slice(&1u32.to_le_bytes());
        b.push(b'x');
        b.push(KIND_F64);
        let crc = crc32c(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        let e = Metadata::from_bytes(&b).unwrap_err();
        assert!(e.to_string().contains("more than the bytes left"), "{e}");
    }
}
