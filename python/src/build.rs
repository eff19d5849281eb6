//! `quarry.build`: what `quarry build` does, from a numpy array or a file.

use crate::convert;
use crate::errors::{detached, Error, Result};
use crate::index::{count, open_index, parse_io, OpenArgs, PyIndex};
use crate::source::Source;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use quarry_engine::{build_index_with, BuildConfig, Metadata, Metric, NoProgress, SyncMode};
use quarry_filter::Column;
use std::path::{Path, PathBuf};

/// Labels as given: CSR arrays already converted, or a `.spmat` file to read.
enum Labels {
    Csr(Vec<u64>, Vec<u32>),
    File(PathBuf),
}

/// An attribute as given: a column, or a one-column big-ann file to read.
enum Attr {
    Column(Column),
    File(PathBuf),
}

fn metadata(
    n: u64,
    labels: Option<Labels>,
    attrs: Vec<(String, Attr)>,
) -> Result<Option<Metadata>> {
    if labels.is_none() && attrs.is_empty() {
        return Ok(None);
    }
    let mut meta = Metadata::new(n);
    match labels {
        Some(Labels::Csr(indptr, indices)) => meta.set_labels_csr(&indptr, &indices)?,
        Some(Labels::File(p)) => {
            let (rows, indptr, indices) = quarry_filter::read_spmat(&p)?;
            if rows != n {
                return Err(Error::value(format!(
                    "labels {}: {rows} rows for {n} vectors; give one row per vector",
                    p.display()
                )));
            }
            meta.set_labels_csr(&indptr, &indices)?;
        }
        None => {}
    }
    for (name, a) in attrs {
        let col = match a {
            Attr::Column(c) => c,
            Attr::File(p) => quarry_filter::read_attribute(&p)?,
        };
        meta.add_attribute(&name, col)?;
    }
    Ok(Some(meta))
}

/// Removes a staging directory unless the build published it.
struct Staged(Option<PathBuf>);
impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(d) = &self.0 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn is_path(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(obj.is_instance_of::<PyString>() || obj.hasattr("__fspath__")?)
}

/// Builds an index at `path` and returns it open.
#[pyfunction]
#[pyo3(signature = (data, path, *, partitions, metric="l2", seed=42, mem_budget_mb=1024, balance_eps=0.1, iters=10, epochs=1, sample_per_partition=256, replicate_eps=None, replicate_max=8, labels=None, attrs=None, graphs=false, routers=None, learn=None, io="direct", writable=None, overwrite=false))]
#[allow(clippy::too_many_arguments)]
pub fn build(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    path: PathBuf,
    partitions: i64,
    metric: &str,
    seed: u64,
    mem_budget_mb: i64,
    balance_eps: f32,
    iters: i64,
    epochs: i64,
    sample_per_partition: i64,
    replicate_eps: Option<f32>,
    replicate_max: i64,
    labels: Option<&Bound<'_, PyAny>>,
    attrs: Option<&Bound<'_, PyDict>>,
    graphs: bool,
    routers: Option<Vec<String>>,
    learn: Option<&Bound<'_, PyAny>>,
    io: &str,
    writable: Option<bool>,
    overwrite: bool,
) -> PyResult<PyIndex> {
    let metric: Metric = metric.parse().map_err(Error::value)?;
    let mut cfg = BuildConfig::new(count("partitions", partitions, 1)?, metric);
    cfg.seed = seed;
    cfg.mem_budget_mb = count("mem_budget_mb", mem_budget_mb, 1)?;
    cfg.balance_eps = balance_eps;
    cfg.sample_iters = count("iters", iters, 1)?;
    cfg.epochs = count("epochs", epochs, 1)?;
    cfg.sample_per_centroid = count("sample_per_partition", sample_per_partition, 1)?;
    cfg.replicate = match replicate_eps {
        Some(eps) => Some((eps, count("replicate_max", replicate_max, 1)?)),
        None => None,
    };
    let routers = routers.unwrap_or_default();
    let (mut gbdt, mut mlp) = (false, false);
    for r in &routers {
        match r.as_str() {
            "gbdt" => gbdt = true,
            "mlp" => mlp = true,
            o => {
                return Err(Error::value(format!(
                    "unknown router '{o}' to train: use 'gbdt' and/or 'mlp'"
                ))
                .into())
            }
        }
    }
    let io = parse_io(io)?;
    let src = Source::from_py(data, "data")?;
    let view = src.view()?;
    // Opened now (a file: its header only) for the row count the metadata needs.
    let vs = view.open()?;
    let n = vs.len();
    let labels = match labels.filter(|l| !l.is_none()) {
        None => None,
        Some(l) if is_path(l)? => Some(Labels::File(l.extract()?)),
        Some(l) => {
            let (indptr, indices) = convert::labels_csr(l, n)?;
            Some(Labels::Csr(indptr, indices))
        }
    };
    let mut attr_list = Vec::new();
    if let Some(a) = attrs {
        for (k, v) in a.iter() {
            let name: String = k
                .extract()
                .map_err(|_| PyErr::from(Error::value("attrs: keys are attribute names (str)")))?;
            let col = if is_path(&v)? {
                Attr::File(v.extract()?)
            } else {
                Attr::Column(convert::column(&v, &name, n)?)
            };
            attr_list.push((name, col));
        }
    }
    let learn = learn
        .filter(|l| !l.is_none())
        .map(|l| Source::from_py(l, "learn"))
        .transpose()?;
    let learn_view = learn.as_ref().map(|l| l.view()).transpose()?;
    if learn_view.is_some() && !gbdt {
        return Err(Error::value(
            "learn= gives the GBDT router's training queries: pass routers=['gbdt']",
        )
        .into());
    }
    // An index storing copies takes no writes.
    let writable = writable.unwrap_or(cfg.replicate.is_none());
    let out = path.clone();
    let index = detached(py, move || {
        if overwrite && out.exists() {
            remove_index(&out)?;
        }
        let meta = metadata(n as u64, labels, attr_list)?;
        let extras = graphs || gbdt || mlp;
        let target = if extras {
            quarry_storage::staging_dir(&out)?
        } else {
            out.clone()
        };
        let staged = Staged(extras.then(|| target.clone()));
        build_index_with(vs.as_ref(), meta.as_ref(), &target, &cfg, &NoProgress)?;
        if extras {
            let mut idx = quarry_engine::Index::open(
                &target,
                quarry_engine::OpenOptions {
                    io,
                    ..Default::default()
                },
            )?;
            if gbdt {
                let g = crate::train::GbdtArgs {
                    seed,
                    ..Default::default()
                };
                crate::train::gbdt(&mut idx, view, learn_view, &crate::train::gbdt_config(g))?;
            }
            if mlp {
                let c = quarry_learn::mlp::TrainConfig {
                    seed,
                    dup_every: 0,
                    ..Default::default()
                };
                crate::train::mlp(&mut idx, view, 50_000, &c)?;
            }
            if graphs {
                crate::train::graphs(&mut idx, quarry_engine::HnswParams::default())?;
            }
            drop(idx);
            quarry_storage::publish_staged(&target, &out)?;
            std::mem::forget(staged);
        }
        open_index(
            &out,
            &OpenArgs {
                io,
                writable,
                sync: SyncMode::Always,
                delta_budget_mb: 1024,
                split_above: None,
                io_threads: 8,
            },
        )
    })?;
    PyIndex::wrap(py, index, path, writable)
}

/// Removes an existing index directory (`overwrite=True`): only a directory that
/// holds a Quarry manifest, never another directory or file.
fn remove_index(dir: &Path) -> Result<()> {
    if !dir.join("manifest.json").is_file() {
        return Err(Error::value(format!(
            "{} exists and is not a Quarry index; overwrite=True removes only an index directory",
            dir.display()
        )));
    }
    std::fs::remove_dir_all(dir)
        .map_err(|e| Error::quarry(format!("removing {}: {e}", dir.display())))
}
