//! Metadata after writes: the vectors kept plus the rows written since.
//!
//! A writer collects written vectors' labels and values in a `schema()`-shaped
//! metadata, one row per write ("slot"); a flush folds the slots still live
//! into the stored metadata in one pass over each column, so the result has
//! one row per live id, in id order, whatever order the writes came in.

use std::collections::BTreeMap;

use roaring::RoaringTreemap;

use crate::error::FilterError;
use crate::metadata::{invalid, Column, Metadata};

/// One written vector's labels and attribute values (every attribute of the
/// index, by name; i64 attributes take whole values).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RowMeta {
    pub labels: Vec<u32>,
    pub attrs: Vec<(String, f64)>,
}

impl RowMeta {
    /// The attributes as `Metadata::push` and `check_row` take them.
    pub fn attr_refs(&self) -> Vec<(&str, f64)> {
        self.attrs.iter().map(|(n, v)| (n.as_str(), *v)).collect()
    }
}

impl Metadata {
    /// `self`'s vectors except `removed`, plus the rows of `added` named by
    /// `rows` as `(id, slot)`, ascending by id. `added` must have `self`'s
    /// attributes (see [`Metadata::schema`]); no id in `rows` may be one of
    /// `self`'s ids that stays.
    pub fn rebuild(
        &self,
        removed: &RoaringTreemap,
        added: &Metadata,
        rows: &[(u64, u64)],
    ) -> Result<Metadata, FilterError> {
        if added.schema() != self.schema() {
            return Err(invalid(format!(
                "written rows have attributes [{}]; the metadata has [{}]",
                added.attribute_names().join(", "),
                self.attribute_names().join(", ")
            )));
        }
        let mut universe = self.ids() - removed;
        for (i, &(id, slot)) in rows.iter().enumerate() {
            if i > 0 && rows[i - 1].0 >= id {
                return Err(invalid(format!("written ids not ascending at {id}")));
            }
            if slot >= added.n {
                return Err(invalid(format!(
                    "slot {slot} of id {id}: {} rows were written",
                    added.n
                )));
            }
            if !universe.insert(id) {
                return Err(invalid(format!(
                    "id {id} is both kept and written; remove it first"
                )));
            }
        }
        let mut slot_id: Vec<Option<u64>> = vec![None; added.n as usize];
        for &(id, slot) in rows {
            slot_id[slot as usize] = Some(id);
        }
        let mut labels: BTreeMap<u32, RoaringTreemap> = BTreeMap::new();
        for (&l, ids) in &self.labels {
            let kept = ids - removed;
            if !kept.is_empty() {
                labels.insert(l, kept);
            }
        }
        for (&l, slots) in &added.labels {
            for slot in slots {
                if let Some(id) = slot_id.get(slot as usize).copied().flatten() {
                    labels.entry(l).or_default().insert(id);
                }
            }
        }
        let mut attrs = BTreeMap::new();
        for (name, col) in &self.attrs {
            let merged = match (col, &added.attrs[name]) {
                (Column::I64(b), Column::I64(a)) => Column::I64(self.merge(b, removed, rows, a)),
                (Column::F64(b), Column::F64(a)) => Column::F64(self.merge(b, removed, rows, a)),
                _ => unreachable!("schemas compared equal above"),
            };
            attrs.insert(name.clone(), merged);
        }
        let n = universe.len();
        let dense = n == 0 || (universe.min() == Some(0) && universe.max() == Some(n - 1));
        Ok(Metadata {
            n,
            sparse: (!dense).then_some(universe),
            labels,
            attrs,
        })
    }

    /// One column after writes: kept rows and written slots merged by id.
    fn merge<T: Copy>(
        &self,
        base: &[T],
        removed: &RoaringTreemap,
        rows: &[(u64, u64)],
        added: &[T],
    ) -> Vec<T> {
        let mut out = Vec::with_capacity(base.len() + rows.len());
        let mut next = rows.iter().peekable();
        let mut take = |id: u64, row: usize, out: &mut Vec<T>| {
            while let Some(&&(wid, slot)) = next.peek() {
                if wid > id {
                    break;
                }
                out.push(added[slot as usize]);
                next.next();
            }
            if !removed.contains(id) {
                out.push(base[row]);
            }
        };
        match &self.sparse {
            Some(u) => u
                .iter()
                .enumerate()
                .for_each(|(row, id)| take(id, row, &mut out)),
            None => (0..self.n).for_each(|id| take(id, id as usize, &mut out)),
        }
        out.extend(next.map(|&(_, slot)| added[slot as usize]));
        out
    }
}
