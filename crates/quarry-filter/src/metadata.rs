//! Per-vector metadata: label bitmaps and numeric attribute columns.
//!
//! Every mutating method validates all of its input before changing
//! anything, so a refused update leaves the metadata as it was.

use std::collections::BTreeMap;

use roaring::RoaringTreemap;

use crate::error::FilterError;
use crate::parse::is_attribute_name;

/// One numeric attribute, one value per vector.
#[derive(Clone, Debug, PartialEq)]
pub enum Column {
    I64(Vec<i64>),
    /// Always finite: NaN would make comparisons meaningless.
    F64(Vec<f64>),
}

impl Column {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Column::I64(v) => v.len(),
            Column::F64(v) => v.len(),
        }
    }

    /// Whether the column has no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Labels and attributes of `n` vectors: ids 0..n (built from rows), or any
/// set of `n` ids (after writes; see [`Metadata::rebuild`]).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Metadata {
    pub(crate) n: u64,
    /// The ids when they are not exactly 0..n; column row i belongs to the
    /// i-th smallest of them. Kept `None` for 0..n, so equal metadata is equal.
    pub(crate) sparse: Option<RoaringTreemap>,
    /// label -> ids carrying it. Never holds an empty bitmap, so equal
    /// metadata has equal maps and encodes to equal bytes.
    pub(crate) labels: BTreeMap<u32, RoaringTreemap>,
    pub(crate) attrs: BTreeMap<String, Column>,
}

pub(crate) fn invalid(msg: impl Into<String>) -> FilterError {
    FilterError::Invalid(msg.into())
}

/// Checks a name for `add_attribute` and the decoder.
pub(crate) fn check_attribute_name(name: &str) -> Result<(), String> {
    if is_attribute_name(name) {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not an attribute name: use [A-Za-z_][A-Za-z0-9_]*, not one of and, or, not, in, label"
        ))
    }
}

/// Index of the first non-finite value, if any.
pub(crate) fn first_non_finite(values: &[f64]) -> Option<usize> {
    values.iter().position(|v| !v.is_finite())
}

impl Metadata {
    /// Metadata for `n` vectors with no labels and no attributes.
    pub fn new(n: u64) -> Self {
        Metadata {
            n,
            ..Default::default()
        }
    }

    /// Metadata of the vectors `ids` with no labels and no attributes.
    pub fn with_ids(ids: RoaringTreemap) -> Self {
        let n = ids.len();
        let dense = n == 0 || (ids.min() == Some(0) && ids.max() == Some(n - 1));
        Metadata {
            n,
            sparse: (!dense).then_some(ids),
            ..Default::default()
        }
    }

    /// Number of vectors.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Whether there are no vectors.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The ids described (0..n unless rebuilt after writes).
    pub fn ids(&self) -> RoaringTreemap {
        match &self.sparse {
            Some(u) => u.clone(),
            None => {
                let mut all = RoaringTreemap::new();
                all.insert_range(0..self.n);
                all
            }
        }
    }

    /// Whether `id` is described.
    pub fn contains(&self, id: u64) -> bool {
        match &self.sparse {
            Some(u) => u.contains(id),
            None => id < self.n,
        }
    }

    /// Column row of `id`, when described.
    pub(crate) fn row_of(&self, id: u64) -> Option<usize> {
        match &self.sparse {
            Some(u) => u.contains(id).then(|| (u.rank(id) - 1) as usize),
            None => (id < self.n).then_some(id as usize),
        }
    }

    /// Empty metadata (no vectors) with the same attributes, names and kinds:
    /// what writes' rows are collected in.
    pub fn schema(&self) -> Metadata {
        Metadata {
            attrs: self
                .attrs
                .iter()
                .map(|(k, c)| {
                    let empty = match c {
                        Column::I64(_) => Column::I64(Vec::new()),
                        Column::F64(_) => Column::F64(Vec::new()),
                    };
                    (k.clone(), empty)
                })
                .collect(),
            ..Default::default()
        }
    }

    /// Replaces all labels from CSR rows: row i's labels are
    /// `indices[indptr[i]..indptr[i+1]]`. Repeats within a row are allowed.
    pub fn set_labels_csr(&mut self, indptr: &[u64], indices: &[u32]) -> Result<(), FilterError> {
        if indptr.len() as u64 != self.n.saturating_add(1) {
            return Err(invalid(format!(
                "indptr has {} entries; {} vectors need {}",
                indptr.len(),
                self.n,
                self.n as u128 + 1
            )));
        }
        if indptr[0] != 0 {
            return Err(invalid(format!("indptr[0] is {}, not 0", indptr[0])));
        }
        if let Some(i) = indptr.windows(2).position(|w| w[0] > w[1]) {
            return Err(invalid(format!(
                "indptr decreases at row {i}: {} then {}",
                indptr[i],
                indptr[i + 1]
            )));
        }
        let last = indptr[indptr.len() - 1];
        if last != indices.len() as u64 {
            return Err(invalid(format!(
                "indptr ends at {last} but there are {} indices",
                indices.len()
            )));
        }
        let mut labels: BTreeMap<u32, RoaringTreemap> = BTreeMap::new();
        for (row, w) in indptr.windows(2).enumerate() {
            // In range: monotone from 0 and ending at indices.len().
            for &l in &indices[w[0] as usize..w[1] as usize] {
                // Rows come in order, so this appends; it fails only for a
                // label repeated within the row, which is already there.
                let _ = labels.entry(l).or_default().try_push(row as u64);
            }
        }
        self.labels = labels;
        Ok(())
    }

    /// Adds a numeric attribute with one value per vector.
    pub fn add_attribute(&mut self, name: &str, col: Column) -> Result<(), FilterError> {
        check_attribute_name(name).map_err(invalid)?;
        if self.attrs.contains_key(name) {
            return Err(invalid(format!("attribute '{name}' already exists")));
        }
        if col.len() as u64 != self.n {
            return Err(invalid(format!(
                "attribute '{name}' has {} values; the metadata holds {} vectors",
                col.len(),
                self.n
            )));
        }
        if let Column::F64(v) = &col {
            if let Some(row) = first_non_finite(v) {
                return Err(invalid(format!(
                    "attribute '{name}' row {row} is {}; values must be finite",
                    v[row]
                )));
            }
        }
        self.attrs.insert(name.to_string(), col);
        Ok(())
    }

    /// `(label, number of vectors carrying it)`, by ascending label.
    pub fn labels(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.labels.iter().map(|(&l, ids)| (l, ids.len()))
    }

    /// The ids carrying `label`, if any vector does.
    pub fn label_ids(&self, label: u32) -> Option<&RoaringTreemap> {
        self.labels.get(&label)
    }

    /// Attribute names, sorted.
    pub fn attribute_names(&self) -> Vec<&str> {
        self.attrs.keys().map(String::as_str).collect()
    }

    /// One attribute's column.
    pub fn attribute(&self, name: &str) -> Option<&Column> {
        self.attrs.get(name)
    }

    /// Approximate RAM held: bitmaps at their serialized size plus 8 bytes
    /// per column value.
    pub fn memory_bytes(&self) -> u64 {
        let labels: u64 = self
            .labels
            .values()
            .map(|b| 4 + b.serialized_size() as u64)
            .sum();
        let attrs: u64 = self
            .attrs
            .iter()
            .map(|(name, col)| name.len() as u64 + 8 * col.len() as u64)
            .sum();
        labels + attrs
    }

    /// Appends one vector (id = current `len()`) and returns its id. Every
    /// attribute must be given exactly once; i64 attributes need whole
    /// values in i64 range, and all values must be finite.
    pub fn push(&mut self, labels: &[u32], attrs: &[(&str, f64)]) -> Result<u64, FilterError> {
        let id = match &self.sparse {
            Some(u) => u.max().map_or(Some(0), |m| m.checked_add(1)),
            None => (self.n < u64::MAX).then_some(self.n),
        }
        .ok_or_else(|| invalid("metadata is full"))?;
        self.check_row(id, attrs)?;
        for &(name, v) in attrs {
            match self.attrs.get_mut(name) {
                Some(Column::I64(col)) => col.push(v as i64),
                Some(Column::F64(col)) => col.push(v),
                None => {}
            }
        }
        for &l in labels {
            self.labels.entry(l).or_default().insert(id);
        }
        if let Some(u) = &mut self.sparse {
            u.insert(id);
        }
        self.n += 1;
        Ok(id)
    }

    /// Checks one vector's attribute values as `push` would take them (`id`
    /// names the vector in messages): every attribute given exactly once, i64
    /// attributes whole and in range, all values finite.
    pub fn check_row(&self, id: u64, attrs: &[(&str, f64)]) -> Result<(), FilterError> {
        for (i, (name, _)) in attrs.iter().enumerate() {
            if !self.attrs.contains_key(*name) {
                return Err(FilterError::UnknownAttribute {
                    name: name.to_string(),
                    known: self.attrs.keys().cloned().collect(),
                });
            }
            if attrs[..i].iter().any(|(other, _)| other == name) {
                return Err(invalid(format!("attribute '{name}' given twice")));
            }
        }
        // Names are known and distinct, so equal counts means all given.
        if attrs.len() != self.attrs.len() {
            let missing: Vec<&str> = self
                .attrs
                .keys()
                .map(String::as_str)
                .filter(|k| !attrs.iter().any(|(n, _)| n == k))
                .collect();
            return Err(invalid(format!(
                "vector {id} lacks attribute(s): {}",
                missing.join(", ")
            )));
        }
        for &(name, v) in attrs {
            if !v.is_finite() {
                return Err(invalid(format!(
                    "attribute '{name}' of vector {id} is {v}; values must be finite"
                )));
            }
            // i64::MAX as f64 is 2^63, the first f64 past i64; -2^63 fits.
            let fits_i64 = v.fract() == 0.0 && (i64::MIN as f64..i64::MAX as f64).contains(&v);
            if matches!(self.attrs[name], Column::I64(_)) && !fits_i64 {
                return Err(invalid(format!(
                    "attribute '{name}' is i64 but vector {id} gives {v}"
                )));
            }
        }
        Ok(())
    }
}
