//! `--labels` / `--attr` / `--filter`: per-vector metadata files and filter
//! expressions, shared by `build`, `gt` and the search commands.

use anyhow::{bail, Context, Result};
use quarry_engine::{Filter, Metadata};
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct MetaArgs {
    /// Labels per vector: big-ann-benchmarks' CSR `.spmat` (int64 nrow, ncol, nnz;
    /// int64 indptr[nrow+1]; int32 indices[nnz]; float32 data[nnz]); row i's
    /// column indices are vector i's labels.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// A numeric attribute per vector, NAME=FILE: a one-column big-ann file
    /// (u32 n, u32 1, then n values): .ibin (i32) or .i64bin (i64) for integers,
    /// .fbin (f32) or .f64bin (f64) for reals. Repeatable.
    #[arg(long = "attr", value_name = "NAME=FILE")]
    pub attrs: Vec<String>,
}

impl MetaArgs {
    pub fn is_empty(&self) -> bool {
        self.labels.is_none() && self.attrs.is_empty()
    }

    /// The metadata of `n` vectors, or `None` when no file was given.
    pub fn load(&self, n: u64) -> Result<Option<Metadata>> {
        if self.is_empty() {
            return Ok(None);
        }
        let mut meta = Metadata::new(n);
        if let Some(p) = &self.labels {
            let (rows, indptr, indices) = quarry_filter::read_spmat(p)?;
            if rows != n {
                bail!(
                    "--labels {}: {rows} rows for {n} vectors; give one row per vector",
                    p.display()
                );
            }
            meta.set_labels_csr(&indptr, &indices)
                .with_context(|| format!("--labels {}", p.display()))?;
        }
        for a in &self.attrs {
            let Some((name, file)) = a.split_once('=') else {
                bail!("--attr {a}: use NAME=FILE, e.g. --attr price=price.fbin");
            };
            let col = quarry_filter::read_attribute(std::path::Path::new(file))?;
            meta.add_attribute(name, col)
                .with_context(|| format!("--attr {a}"))?;
        }
        Ok(Some(meta))
    }
}

/// Labels and attribute values of rows read from `--labels` / `--attr`, handed
/// out per batch of rows as the engine's writes take them.
pub struct RowsMeta {
    indptr: Vec<u64>,
    indices: Vec<u32>,
    attrs: Vec<(String, quarry_filter::Column)>,
}

impl RowsMeta {
    /// Rows `start..start + count`.
    pub fn rows(&self, start: usize, count: usize) -> Vec<quarry_engine::RowMeta> {
        (start..start + count)
            .map(|i| quarry_engine::RowMeta {
                labels: if self.indptr.is_empty() {
                    Vec::new()
                } else {
                    self.indices[self.indptr[i] as usize..self.indptr[i + 1] as usize].to_vec()
                },
                attrs: self
                    .attrs
                    .iter()
                    .map(|(n, c)| {
                        let v = match c {
                            quarry_filter::Column::I64(v) => v[i] as f64,
                            quarry_filter::Column::F64(v) => v[i],
                        };
                        (n.clone(), v)
                    })
                    .collect(),
            })
            .collect()
    }
}

impl MetaArgs {
    /// Per-row labels and attributes of `n` written vectors, or `None` when no
    /// file was given. (Validity against the index is the engine's check.)
    pub fn load_rows(&self, n: u64) -> Result<Option<RowsMeta>> {
        if self.is_empty() {
            return Ok(None);
        }
        let (mut indptr, mut indices) = (Vec::new(), Vec::new());
        if let Some(p) = &self.labels {
            let (rows, ip, ix) = quarry_filter::read_spmat(p)?;
            if rows != n {
                bail!(
                    "--labels {}: {rows} rows for {n} vectors; give one row per vector",
                    p.display()
                );
            }
            (indptr, indices) = (ip, ix);
        }
        let mut attrs = Vec::new();
        for a in &self.attrs {
            let Some((name, file)) = a.split_once('=') else {
                bail!("--attr {a}: use NAME=FILE, e.g. --attr price=price.fbin");
            };
            let col = quarry_filter::read_attribute(std::path::Path::new(file))?;
            if col.len() as u64 != n {
                bail!("--attr {a}: {} values for {n} vectors", col.len());
            }
            attrs.push((name.to_string(), col));
        }
        Ok(Some(RowsMeta {
            indptr,
            indices,
            attrs,
        }))
    }
}

/// `--filter` and how a filtered search runs.
#[derive(clap::Args, Debug, Clone)]
pub struct FilterArgs {
    /// Only vectors matching EXPR: `label = 3`, `label in [3, 7]`, `not label = 9`,
    /// `price < 50.0`, `year >= 2020 and (label = 3 or label = 7)`. The index must
    /// have been built with --labels / --attr.
    #[arg(long, value_name = "EXPR", value_parser = parse_filter)]
    pub filter: Option<Filter>,
    /// auto (exact over the matches when they are few, else routed), exact, or
    /// routed (the router's partitions among those holding matches).
    #[arg(long, default_value = "auto")]
    pub filter_plan: quarry_engine::FilterPlan,
    /// Matches up to which the auto plan searches exactly (default: 2^21 / dim).
    #[arg(long)]
    pub exact_max_matches: Option<u64>,
}

fn parse_filter(s: &str) -> Result<Filter, String> {
    Filter::parse(s).map_err(|e| e.to_string())
}
