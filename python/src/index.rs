//! `quarry.Index`: an open index. Searches, upserts and deletes share it (the read
//! side of a lock); flush, compact, training and close take it whole (the write
//! side). Every engine call runs with the GIL released.

use crate::convert;
use crate::errors::{detached, Error, Result};
use crate::json::to_py;
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use quarry_engine::{
    BatchResult, BatchStats, EngineError, Filter, FilterPlan, GbdtRule, HnswParams, Index, IoMode,
    OpenOptions, ProbeRule, QueryStats, RouterSpec, SearchParams, Strategy, SyncMode, WriteOptions,
};
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

#[pyclass(frozen, module = "quarry", name = "Index")]
pub struct PyIndex {
    inner: RwLock<Option<Index>>,
    path: PathBuf,
    writable: bool,
    dim: usize,
    /// A `threading.local()`: each Python thread's last search statistics.
    local: Py<PyAny>,
}

/// How an index is opened.
pub struct OpenArgs {
    pub io: IoMode,
    pub writable: bool,
    pub sync: SyncMode,
    pub delta_budget_mb: u64,
    pub split_above: Option<u64>,
    pub io_threads: usize,
}

pub fn parse_io(io: &str) -> Result<IoMode> {
    io.parse::<IoMode>().map_err(Error::value)
}

pub fn parse_sync(s: &str) -> Result<SyncMode> {
    match s {
        "always" => Ok(SyncMode::Always),
        "os" => Ok(SyncMode::Os),
        o => Err(Error::value(format!(
            "unknown sync mode '{o}': use always (fdatasync per write) or os"
        ))),
    }
}

/// Opens the index at `path` (no GIL needed).
pub fn open_index(path: &Path, a: &OpenArgs) -> Result<Index> {
    let opts = OpenOptions {
        io: a.io,
        io_threads: a.io_threads,
        ..Default::default()
    };
    Ok(if a.writable {
        let w = WriteOptions {
            sync: a.sync,
            delta_budget_bytes: a.delta_budget_mb.saturating_mul(1 << 20),
            split_above: a.split_above,
            ..Default::default()
        };
        Index::open_writer(path, opts, w)?
    } else {
        Index::open(path, opts)?
    })
}

impl PyIndex {
    pub fn wrap(py: Python<'_>, index: Index, path: PathBuf, writable: bool) -> PyResult<Self> {
        let local = py.import("threading")?.call_method0("local")?.unbind();
        Ok(PyIndex {
            dim: index.dim(),
            inner: RwLock::new(Some(index)),
            path,
            writable,
            local,
        })
    }

    fn closed_error(&self) -> Error {
        Error::quarry(format!(
            "index {} is closed; open it again with quarry.Index.open",
            self.path.display()
        ))
    }

    fn read(&self) -> Result<Guard<'_>> {
        let g = self.inner.read().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            return Err(self.closed_error());
        }
        Ok(Guard(g))
    }

    fn write(&self) -> Result<GuardMut<'_>> {
        let g = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            return Err(self.closed_error());
        }
        Ok(GuardMut(g))
    }

    /// The engine's message, plus how to get a writer from Python.
    fn write_error(e: EngineError) -> Error {
        let not_writer = matches!(e, EngineError::NotWriter { .. });
        let mut err = Error::from(e);
        if not_writer {
            err.msg
                .push_str(" (in Python: quarry.Index.open(path, writable=True))");
        }
        err
    }
}

struct Guard<'a>(RwLockReadGuard<'a, Option<Index>>);
impl std::ops::Deref for Guard<'_> {
    type Target = Index;
    fn deref(&self) -> &Index {
        self.0.as_ref().expect("checked open")
    }
}
struct GuardMut<'a>(RwLockWriteGuard<'a, Option<Index>>);
impl std::ops::Deref for GuardMut<'_> {
    type Target = Index;
    fn deref(&self) -> &Index {
        self.0.as_ref().expect("checked open")
    }
}
impl std::ops::DerefMut for GuardMut<'_> {
    fn deref_mut(&mut self) -> &mut Index {
        self.0.as_mut().expect("checked open")
    }
}

/// A count argument: an int >= `min` (a negative one is a ValueError, not an
/// OverflowError).
pub fn count(what: &str, v: i64, min: i64) -> Result<usize> {
    if v < min {
        return Err(Error::value(format!(
            "{what} must be at least {min}, got {v}"
        )));
    }
    usize::try_from(v).map_err(|_| Error::value(format!("{what} = {v} is too large")))
}

/// The router the keywords describe (the same rules as `quarry search`'s flags).
#[allow(clippy::too_many_arguments)]
fn router_spec(
    router: &str,
    nprobe: usize,
    target_recall: Option<f32>,
    margin: Option<f32>,
    max_nprobe: Option<usize>,
    spann_eps: Option<f32>,
    mlp_mass: Option<f32>,
    mlp_order: bool,
) -> Result<RouterSpec> {
    let router = match router {
        "fixed" | "centroid" => "fixed",
        "gbdt" => "gbdt",
        "mlp" => "mlp",
        o => {
            return Err(Error::value(format!(
                "unknown router '{o}': use fixed, gbdt or mlp"
            )))
        }
    };
    let need = |cond: bool, what: &str| -> Result<()> {
        if cond {
            Err(Error::value(what.to_string()))
        } else {
            Ok(())
        }
    };
    need(
        target_recall.is_some() && router != "gbdt",
        "target_recall needs router='gbdt'",
    )?;
    need(
        margin.is_some() && router != "gbdt",
        "margin needs router='gbdt'",
    )?;
    need(
        mlp_mass.is_some() && router != "mlp",
        "mlp_mass needs router='mlp'",
    )?;
    need(
        mlp_order && router != "gbdt",
        "mlp_order needs router='gbdt' (the GBDT picks the counts, the MLP the partitions)",
    )?;
    need(
        spann_eps.is_some() && router != "fixed",
        "spann_eps applies to the fixed router only",
    )?;
    need(
        target_recall.is_some() && (max_nprobe.is_some() || margin.is_some()),
        "target_recall excludes margin and max_nprobe: target-recall mode uses the cap its calibration was measured with",
    )?;
    need(
        max_nprobe.is_some() && router != "gbdt",
        "max_nprobe applies to router='gbdt' (margin mode); use nprobe for the others",
    )?;
    Ok(match router {
        "fixed" => match spann_eps {
            Some(eps) => RouterSpec::Spann {
                eps,
                max_nprobe: nprobe,
            },
            None => RouterSpec::Fixed { nprobe },
        },
        "mlp" => RouterSpec::Mlp {
            rule: match mlp_mass {
                Some(mass) => ProbeRule::Mass { mass, max: nprobe },
                None => ProbeRule::Count(nprobe),
            },
        },
        _ => {
            let gbdt = RouterSpec::Gbdt {
                rule: match target_recall {
                    Some(t) => GbdtRule::TargetRecall(t),
                    None => GbdtRule::Margin {
                        margin: margin.unwrap_or(0.0),
                        max_nprobe,
                    },
                },
            };
            if mlp_order {
                RouterSpec::Composed {
                    count_from: Box::new(gbdt),
                    order_from: Box::new(RouterSpec::Mlp {
                        rule: ProbeRule::Count(1),
                    }),
                }
            } else {
                gbdt
            }
        }
    })
}

fn parse_filter(text: &str) -> Result<Filter> {
    Ok(Filter::parse(text)?)
}

/// `filter=`: one expression for the whole batch, or one per query (None: no filter).
enum Filters {
    None,
    One(Filter),
    PerQuery(Vec<Option<Filter>>),
}

fn filters(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Filters> {
    let Some(obj) = obj else {
        return Ok(Filters::None);
    };
    if obj.is_none() {
        return Ok(Filters::None);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Filters::One(parse_filter(&s.to_cow()?)?));
    }
    let mut out = Vec::new();
    let it = obj.try_iter().map_err(|_| {
        PyErr::from(Error::value(
            "filter: pass an expression (str), or a list with one expression (or None) per query",
        ))
    })?;
    for item in it {
        let item = item?;
        if item.is_none() {
            out.push(None);
        } else if let Ok(s) = item.cast::<PyString>() {
            out.push(Some(parse_filter(&s.to_cow()?)?));
        } else {
            return Err(Error::value(format!(
                "filter: each entry of a per-query list is a str or None, got {}",
                item.get_type().name()?
            ))
            .into());
        }
    }
    Ok(Filters::PerQuery(out))
}

/// One search's output before it becomes numpy arrays.
struct Answer {
    nq: usize,
    k: usize,
    dist: Vec<f32>,
    ids: Vec<i64>,
    per_query: Vec<QueryStats>,
    batch: BatchStats,
}

fn answer(r: BatchResult, k: usize) -> Answer {
    let nq = r.neighbors.len();
    let mut dist = vec![f32::INFINITY; nq * k];
    let mut ids = vec![-1i64; nq * k];
    for (q, ns) in r.neighbors.iter().enumerate() {
        for (j, n) in ns.iter().take(k).enumerate() {
            dist[q * k + j] = n.dist;
            ids[q * k + j] = n.id as i64;
        }
    }
    Answer {
        nq,
        k,
        dist,
        ids,
        per_query: r.per_query,
        batch: r.stats,
    }
}

/// What a search cost, per query and for the whole call (`Index.last_search`).
#[pyclass(frozen, module = "quarry", name = "SearchStats")]
pub struct SearchStats {
    per_query: Vec<QueryStats>,
    batch: BatchStats,
}

#[pymethods]
impl SearchStats {
    /// Partitions each query probed (uint32, shape (nq,)).
    #[getter]
    fn partitions<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u32>> {
        self.per_query
            .iter()
            .map(|s| s.partitions)
            .collect::<Vec<_>>()
            .into_pyarray(py)
    }
    /// Distance computations of each query: the vectors it was compared with (uint64).
    #[getter]
    fn vectors<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u64>> {
        self.per_query
            .iter()
            .map(|s| s.vectors)
            .collect::<Vec<_>>()
            .into_pyarray(py)
    }
    /// Each query's share of the bytes read (float64; a partition read once for a
    /// batch is divided among the queries that probed it).
    #[getter]
    fn bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.per_query
            .iter()
            .map(|s| s.bytes)
            .collect::<Vec<_>>()
            .into_pyarray(py)
    }
    /// The whole call: partitions/bytes/vectors read once, I/O requests, times in
    /// seconds, and the filter plan taken (filtered searches).
    #[getter]
    fn batch<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let b = &self.batch;
        let v = serde_json::json!({
            "queries": b.queries,
            "partitions_read": b.partitions_read,
            "io_requests": b.io_requests,
            "bytes_read": b.bytes_read,
            "vectors_read": b.vectors_read,
            "distance_computations": b.distance_computations,
            "graph_searches": b.graph_searches,
            "route_secs": b.route.as_secs_f64(),
            "io_wait_secs": b.io_wait.as_secs_f64(),
            "compute_secs": b.compute.as_secs_f64(),
            "merge_secs": b.merge.as_secs_f64(),
            "wall_secs": b.wall.as_secs_f64(),
            "filter": b.filter.as_ref().map(|f| serde_json::json!({
                "filter": f.filter,
                "plan": f.plan.name(),
                "matches": f.matches,
                "partitions_with_matches": f.partitions_with_matches,
            })),
        });
        to_py(py, &v)
    }
    fn __len__(&self) -> usize {
        self.per_query.len()
    }
    fn __repr__(&self) -> String {
        let n = self.per_query.len().max(1) as f64;
        format!(
            "SearchStats(queries={}, partitions_per_query={:.2}, vectors_per_query={:.1}, bytes_per_query={:.0}, wall_ms={:.3})",
            self.per_query.len(),
            self.per_query.iter().map(|s| s.partitions as f64).sum::<f64>() / n,
            self.per_query.iter().map(|s| s.vectors as f64).sum::<f64>() / n,
            self.per_query.iter().map(|s| s.bytes).sum::<f64>() / n,
            self.batch.wall.as_secs_f64() * 1e3
        )
    }
}

type SearchOut<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray2<i64>>);

#[pymethods]
impl PyIndex {
    /// Opens an index directory.
    #[staticmethod]
    #[pyo3(signature = (path, io="direct", *, writable=false, sync="always", delta_budget_mb=1024, split_above=None, io_threads=8))]
    #[allow(clippy::too_many_arguments)]
    fn open(
        py: Python<'_>,
        path: PathBuf,
        io: &str,
        writable: bool,
        sync: &str,
        delta_budget_mb: i64,
        split_above: Option<i64>,
        io_threads: i64,
    ) -> PyResult<Self> {
        let args = OpenArgs {
            io: parse_io(io)?,
            writable,
            sync: parse_sync(sync)?,
            delta_budget_mb: count("delta_budget_mb", delta_budget_mb, 1)? as u64,
            split_above: split_above
                .map(|s| count("split_above", s, 1).map(|v| v as u64))
                .transpose()?,
            io_threads: count("io_threads", io_threads, 1)?,
        };
        let p = path.clone();
        let index = detached(py, move || open_index(&p, &args))?;
        PyIndex::wrap(py, index, path, writable)
    }

    /// Searches one query (1-D) or a batch (2-D): returns (D, I), float32 and int64
    /// arrays of shape (nq, k), nearest first, padded with inf / -1.
    #[pyo3(signature = (xq, k=10, *, nprobe=8, router="fixed", target_recall=None, margin=None, max_nprobe=None, spann_eps=None, mlp_mass=None, mlp_order=false, strategy="scan", ef=64, filter=None, filter_plan="auto", exact_max_matches=None, threads=None))]
    #[allow(clippy::too_many_arguments)]
    fn search<'py>(
        &self,
        py: Python<'py>,
        xq: &Bound<'py, PyAny>,
        k: i64,
        nprobe: i64,
        router: &str,
        target_recall: Option<f32>,
        margin: Option<f32>,
        max_nprobe: Option<i64>,
        spann_eps: Option<f32>,
        mlp_mass: Option<f32>,
        mlp_order: bool,
        strategy: &str,
        ef: i64,
        filter: Option<&Bound<'py, PyAny>>,
        filter_plan: &str,
        exact_max_matches: Option<i64>,
        threads: Option<i64>,
    ) -> PyResult<SearchOut<'py>> {
        let k = count("k", k, 1)?;
        let threads = threads
            .map(|t| count("threads", t, 1))
            .transpose()?
            .map(|t| t.min(MAX_CALL_THREADS));
        let spec = router_spec(
            router,
            count("nprobe", nprobe, 1)?,
            target_recall,
            margin,
            max_nprobe.map(|m| count("max_nprobe", m, 1)).transpose()?,
            spann_eps,
            mlp_mass,
            mlp_order,
        )?;
        let strategy: Strategy = strategy.parse().map_err(Error::value)?;
        let plan: FilterPlan = filter_plan.parse().map_err(Error::value)?;
        let mut params = SearchParams::new(k)
            .router(spec)
            .strategy(strategy)
            .ef(count("ef", ef, 1)?)
            .filter_plan(plan)
            .exact_max_matches(
                exact_max_matches
                    .map(|m| count("exact_max_matches", m, 0).map(|v| v as u64))
                    .transpose()?,
            );
        let filters = filters(filter)?;
        let (rows, _) = convert::queries(xq, self.dim)?;
        let q = rows.as_slice();
        let per_query = match filters {
            Filters::None => None,
            Filters::One(f) => {
                params = params.filter(Some(f));
                None
            }
            Filters::PerQuery(v) => {
                let nq = q.len() / self.dim.max(1);
                if v.len() != nq {
                    return Err(Error::value(format!(
                        "filter: {} filters for {nq} queries; give one per query (or one str for all)",
                        v.len()
                    ))
                    .into());
                }
                Some(v)
            }
        };
        let a = detached(py, || {
            let index = self.read()?;
            let run = || -> Result<_> {
                Ok(match &per_query {
                    None => index.search_batch(q, &params)?,
                    Some(f) => index.prepare(&params)?.search_batch_filtered(q, f)?,
                })
            };
            let r = match threads {
                None => run()?,
                Some(t) => call_pool(t)?.install(run)?,
            };
            Ok(answer(r, k))
        })?;
        drop(rows);
        let stats = Py::new(
            py,
            SearchStats {
                per_query: a.per_query,
                batch: a.batch,
            },
        )?;
        self.local.bind(py).setattr("last", stats)?;
        let d = Array2::from_shape_vec((a.nq, a.k), a.dist).expect("nq x k values");
        let i = Array2::from_shape_vec((a.nq, a.k), a.ids).expect("nq x k values");
        Ok((d.into_pyarray(py), i.into_pyarray(py)))
    }

    /// Benchmark baseline (python/bench/bench.py): searches each row of `xq` alone
    /// with `Index::search` in a Rust loop and returns each call's seconds, so the
    /// cost of a call from Python can be compared with the engine's own in the same
    /// process and conditions. Not part of the API.
    #[pyo3(signature = (xq, k, nprobe))]
    fn _engine_single_query_secs<'py>(
        &self,
        py: Python<'py>,
        xq: &Bound<'py, PyAny>,
        k: i64,
        nprobe: i64,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let params = SearchParams::new(count("k", k, 1)?).nprobe(count("nprobe", nprobe, 1)?);
        let (rows, _) = convert::queries(xq, self.dim)?;
        let q = rows.as_slice();
        let dim = self.dim;
        let secs = detached(py, || {
            let index = self.read()?;
            let mut out = Vec::with_capacity(q.len() / dim);
            for row in q.chunks_exact(dim) {
                let t = std::time::Instant::now();
                let r = index.search(row, &params)?;
                out.push(t.elapsed().as_secs_f64());
                std::hint::black_box(r);
            }
            Ok(out)
        })?;
        drop(rows);
        Ok(secs.into_pyarray(py))
    }

    /// The statistics of the last search this thread ran on this index (None before
    /// the first).
    #[getter]
    fn last_search(&self, py: Python<'_>) -> PyResult<Option<Py<SearchStats>>> {
        match self.local.bind(py).getattr("last") {
            Ok(v) => Ok(Some(v.cast_into::<SearchStats>()?.unbind())),
            Err(_) => Ok(None),
        }
    }

    /// Inserts or replaces vectors by id; durable when it returns and visible to the
    /// next search.
    #[pyo3(signature = (ids, vectors, labels=None, attrs=None))]
    fn upsert<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
        vectors: &Bound<'py, PyAny>,
        labels: Option<&Bound<'py, PyAny>>,
        attrs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let ids = convert::ids(ids)?;
        let rows = convert::upsert_rows(vectors, self.dim)?;
        let v = rows.as_slice();
        if v.len() != ids.len() * self.dim {
            return Err(Error::value(format!(
                "{} ids for {} vectors; give one id per row",
                ids.len(),
                v.len() / self.dim.max(1)
            ))
            .into());
        }
        // Labels (CSR-convertible, one row per id) and attribute columns become
        // one RowMeta per id; none given: a plain upsert.
        let labels = labels.filter(|l| !l.is_none());
        let mut meta: Vec<quarry_engine::RowMeta> = Vec::new();
        if labels.is_some() || attrs.is_some_and(|a| !a.is_empty()) {
            meta = vec![quarry_engine::RowMeta::default(); ids.len()];
            if let Some(l) = labels {
                let (indptr, indices) = convert::labels_csr(l, ids.len())?;
                for (i, m) in meta.iter_mut().enumerate() {
                    m.labels = indices[indptr[i] as usize..indptr[i + 1] as usize].to_vec();
                }
            }
            if let Some(a) = attrs {
                for (name, col) in a.iter() {
                    let name: String = name.extract()?;
                    let values = convert::attr_values(&col, &name, ids.len())?;
                    for (m, v) in meta.iter_mut().zip(values) {
                        m.attrs.push((name.clone(), v));
                    }
                }
            }
        }
        let receipt = detached(py, || {
            let index = self.read()?;
            index
                .upsert_with(&ids, v, &meta)
                .map_err(PyIndex::write_error)
        })?;
        drop(rows);
        to_py(py, &serde_json::to_value(receipt).expect("serializable"))
    }

    /// Deletes ids (absent ones are ignored).
    fn delete<'py>(&self, py: Python<'py>, ids: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let ids = convert::ids(ids)?;
        let receipt = detached(py, || {
            let index = self.read()?;
            index.delete(&ids).map_err(PyIndex::write_error)
        })?;
        to_py(py, &serde_json::to_value(receipt).expect("serializable"))
    }

    /// Moves acknowledged writes into new index files.
    fn flush<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let r = detached(py, || {
            let index = self.read()?;
            index.flush().map_err(PyIndex::write_error)
        })?;
        to_py(py, &serde_json::to_value(r).expect("serializable"))
    }

    /// A flush that also rewrites sparsely used data segments and removes them.
    fn compact<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let r = detached(py, || {
            let index = self.read()?;
            index.compact().map_err(PyIndex::write_error)
        })?;
        to_py(py, &serde_json::to_value(r).expect("serializable"))
    }

    /// Trains the GBDT probe-count model and attaches it (router="gbdt").
    #[pyo3(signature = (base, *, learn=None, queries=50000, label_k=100, label_fraction=0.9, holdout=0.2, noise_sigma=0.0, max_nprobe=128, features_k=64, rounds=500, learning_rate=0.05, max_depth=5, bins=16, seed=42))]
    #[allow(clippy::too_many_arguments)]
    fn train_gbdt<'py>(
        &self,
        py: Python<'py>,
        base: &Bound<'py, PyAny>,
        learn: Option<&Bound<'py, PyAny>>,
        queries: i64,
        label_k: i64,
        label_fraction: f32,
        holdout: f32,
        noise_sigma: f32,
        max_nprobe: i64,
        features_k: i64,
        rounds: i64,
        learning_rate: f32,
        max_depth: i64,
        bins: i64,
        seed: u64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cfg = crate::train::gbdt_config(crate::train::GbdtArgs {
            queries: count("queries", queries, 1)?,
            label_k: count("label_k", label_k, 1)?,
            label_fraction,
            holdout,
            noise_sigma,
            max_nprobe: count("max_nprobe", max_nprobe, 1)?,
            features_k: count("features_k", features_k, 1)?,
            rounds: count("rounds", rounds, 1)?,
            learning_rate,
            max_depth: count("max_depth", max_depth, 1)?,
            bins: count("bins", bins, 1)?,
            seed,
        });
        let base = crate::source::Source::from_py(base, "base")?;
        let learn = learn
            .filter(|l| !l.is_none())
            .map(|l| crate::source::Source::from_py(l, "learn"))
            .transpose()?;
        let (bv, lv) = (base.view()?, learn.as_ref().map(|l| l.view()).transpose()?);
        let report = detached(py, || {
            let mut index = self.write()?;
            crate::train::gbdt(&mut index, bv, lv, &cfg)
        })?;
        to_py(py, &report)
    }

    /// Trains the MLP router and attaches it (router="mlp").
    #[pyo3(signature = (base, *, queries=50000, epochs=150, hidden=256, batch=1024, lr=1e-3, noise=1.0, seed=42, weight_decay=0.0, centroid_prior=true, threads=1))]
    #[allow(clippy::too_many_arguments)]
    fn train_mlp<'py>(
        &self,
        py: Python<'py>,
        base: &Bound<'py, PyAny>,
        queries: i64,
        epochs: i64,
        hidden: i64,
        batch: i64,
        lr: f64,
        noise: f32,
        seed: u64,
        weight_decay: f64,
        centroid_prior: bool,
        threads: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cfg = quarry_learn::mlp::TrainConfig {
            hidden: count("hidden", hidden, 1)?,
            epochs: count("epochs", epochs, 1)?,
            batch: count("batch", batch, 1)?,
            lr,
            noise,
            seed,
            // Learned copies take effect only in a rewritten index (`quarry
            // mlp-train --dup-out`); here the router alone is trained.
            dup_every: 0,
            weight_decay,
            centroid_prior,
            threads: count("threads", threads, 1)?,
            ..Default::default()
        };
        let queries = count("queries", queries, 1)?;
        let base = crate::source::Source::from_py(base, "base")?;
        let bv = base.view()?;
        let report = detached(py, || {
            let mut index = self.write()?;
            crate::train::mlp(&mut index, bv, queries, &cfg)
        })?;
        to_py(py, &report)
    }

    /// Builds per-partition HNSW graphs (strategy="graph" / "auto" / "partial").
    #[pyo3(signature = (*, m=16, ef_construction=100, seed=42))]
    fn build_graphs<'py>(
        &self,
        py: Python<'py>,
        m: i64,
        ef_construction: i64,
        seed: u64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let p = HnswParams {
            m: count("m", m, 1)?,
            ef_construction: count("ef_construction", ef_construction, 1)?,
            seed,
        };
        let r = detached(py, || {
            let mut index = self.write()?;
            crate::train::graphs(&mut index, p)
        })?;
        to_py(py, &r)
    }

    /// Counts of the live index: live, deleted and delta vectors, log bytes, and the
    /// memory it holds.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = detached(py, || {
            let index = self.read()?;
            let live = index.live_stats();
            Ok(serde_json::json!({
                "num_vectors": index.len(),
                "live": live.map_or(index.len(), |l| l.live),
                "deleted": live.map_or(0, |l| l.deleted),
                "delta": live.map_or(0, |l| l.delta),
                "delta_bytes": live.map_or(0, |l| l.delta_bytes),
                "log_bytes": live.map_or(0, |l| l.log_bytes),
                "memory": crate::json::memory(&index.memory()),
            }))
        })?;
        to_py(py, &v)
    }

    /// What `quarry info --json` prints: shape, metric, partitions, files, build,
    /// routers, graphs, filters, writes, memory.
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = detached(py, || {
            let index = self.read()?;
            Ok(crate::json::info(&index, &self.path))
        })?;
        to_py(py, &v)
    }

    /// Closes the index (waits for running calls; releases the writer lock).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        detached(py, || {
            let mut g = self.inner.write().unwrap_or_else(|p| p.into_inner());
            drop(g.take());
            Ok(())
        })
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    /// Live vectors (acknowledged writes included).
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        detached(py, || Ok(self.read()?.len() as usize))
    }

    #[getter]
    fn dim(&self) -> usize {
        self.dim
    }
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }
    #[getter]
    fn writable(&self) -> bool {
        self.writable
    }
    #[getter]
    fn closed(&self) -> bool {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }
    #[getter]
    fn metric(&self, py: Python<'_>) -> PyResult<String> {
        detached(py, || Ok(self.read()?.metric().name().to_string()))
    }
    #[getter]
    fn dtype(&self, py: Python<'_>) -> PyResult<String> {
        detached(py, || {
            Ok(crate::json::dtype_name(self.read()?.dtype()).to_string())
        })
    }
    #[getter]
    fn num_partitions(&self, py: Python<'_>) -> PyResult<usize> {
        detached(py, || Ok(self.read()?.num_partitions()))
    }
    /// Router models attached to the index ("pruning", "mlp", ...).
    #[getter]
    fn routers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let r = detached(py, || Ok(self.read()?.manifest().routers.clone()))?;
        PyList::new(py, r)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let g = self.inner.read().unwrap_or_else(|p| p.into_inner());
        match g.as_ref() {
            None => format!("<quarry.Index {} (closed)>", self.path.display()),
            Some(i) => {
                let _ = py;
                format!(
                    "<quarry.Index {}: {} vectors x {} {} ({}), {} partitions{}>",
                    self.path.display(),
                    i.len(),
                    i.dim(),
                    crate::json::dtype_name(i.dtype()),
                    i.metric().name(),
                    i.num_partitions(),
                    if self.writable { ", writable" } else { "" }
                )
            }
        }
    }
}

/// Most threads one call's `threads=` may ask for.
const MAX_CALL_THREADS: usize = 256;

thread_local! {
    /// This OS thread's pools for `search(threads=n)`, one per n, kept for reuse:
    /// several Python threads each searching with threads=1 then use one core
    /// each, instead of every call spreading over all cores.
    static CALL_POOLS: std::cell::RefCell<std::collections::HashMap<usize, std::sync::Arc<rayon::ThreadPool>>> =
        Default::default();
}

fn call_pool(n: usize) -> Result<std::sync::Arc<rayon::ThreadPool>> {
    CALL_POOLS.with(|p| {
        if let Some(pool) = p.borrow().get(&n) {
            return Ok(pool.clone());
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map(std::sync::Arc::new)
            .map_err(|e| Error::value(format!("threads={n}: {e}")))?;
        p.borrow_mut().insert(n, pool.clone());
        Ok(pool)
    })
}
