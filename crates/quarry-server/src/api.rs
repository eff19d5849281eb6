//! Request and response bodies, and the checks a request passes before it is
//! queued (so one caller's bad input never fails a batch shared with others).

use crate::config::{Config, MAX_COMPONENT};
use crate::error::ApiError;
use quarry_engine::{
    Filter, FilterPlan, GbdtRule, ProbeRule, QueryStats, RouterSpec, SearchParams, Strategy,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /search`: one query (`vector`) or a batch (`vectors`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    pub vector: Option<Vec<f32>>,
    pub vectors: Option<Vec<Vec<f32>>>,
    /// Neighbours per query (default 10).
    pub k: Option<usize>,
    /// The fixed router's partition count (default: the server's --nprobe).
    pub nprobe: Option<usize>,
    pub router: Option<RouterRequest>,
    pub strategy: Option<Strategy>,
    pub ef: Option<usize>,
    /// A filter expression (`label = 3 and price < 50`).
    pub filter: Option<String>,
    pub filter_plan: Option<FilterPlan>,
}

/// Which router: `{"kind": "fixed", "nprobe": 16}`, `{"kind": "spann", "eps":
/// 0.1, "max_nprobe": 64}`, `{"kind": "gbdt", "target_recall": 0.9}` or
/// `{"kind": "gbdt", "margin": 0.5}`, `{"kind": "mlp", "count": 8}` or
/// `{"kind": "mlp", "mass": 0.9, "max": 64}`.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum RouterRequest {
    Fixed {
        nprobe: usize,
    },
    Spann {
        eps: f32,
        max_nprobe: usize,
    },
    Gbdt {
        target_recall: Option<f32>,
        margin: Option<f32>,
        max_nprobe: Option<usize>,
    },
    Mlp {
        count: Option<usize>,
        mass: Option<f32>,
        max: Option<usize>,
    },
}

/// Largest partition count a request may name.
pub const MAX_NPROBE: usize = u32::MAX as usize;
/// Largest graph search breadth.
pub const MAX_EF: usize = 65_536;

fn check_count(what: &str, v: usize, max: usize) -> Result<usize, ApiError> {
    if v == 0 || v > max {
        return Err(ApiError::bad_request(format!(
            "{what} = {v} is out of range: use 1..={max}"
        )));
    }
    Ok(v)
}

impl RouterRequest {
    fn spec(&self) -> Result<RouterSpec, ApiError> {
        Ok(match *self {
            RouterRequest::Fixed { nprobe } => RouterSpec::Fixed {
                nprobe: check_count("nprobe", nprobe, MAX_NPROBE)?,
            },
            RouterRequest::Spann { eps, max_nprobe } => {
                if !(eps.is_finite() && eps >= 0.0) {
                    return Err(ApiError::bad_request(format!(
                        "eps = {eps}: use a finite number >= 0"
                    )));
                }
                RouterSpec::Spann {
                    eps,
                    max_nprobe: check_count("max_nprobe", max_nprobe, MAX_NPROBE)?,
                }
            }
            RouterRequest::Gbdt {
                target_recall,
                margin,
                max_nprobe,
            } => {
                let rule = match (target_recall, margin) {
                    (Some(t), None) => {
                        if !(t > 0.0 && t <= 1.0) {
                            return Err(ApiError::bad_request(format!(
                                "target_recall = {t}: use a number in (0, 1]"
                            )));
                        }
                        if max_nprobe.is_some() {
                            return Err(ApiError::bad_request(
                                "max_nprobe goes with margin, not target_recall",
                            ));
                        }
                        GbdtRule::TargetRecall(t)
                    }
                    (None, Some(m)) => {
                        if !m.is_finite() {
                            return Err(ApiError::bad_request("margin must be a finite number"));
                        }
                        let max_nprobe = max_nprobe
                            .map(|n| check_count("max_nprobe", n, MAX_NPROBE))
                            .transpose()?;
                        GbdtRule::Margin {
                            margin: m,
                            max_nprobe,
                        }
                    }
                    _ => {
                        return Err(ApiError::bad_request(
                            "a gbdt router takes exactly one of target_recall and margin",
                        ))
                    }
                };
                RouterSpec::Gbdt { rule }
            }
            RouterRequest::Mlp { count, mass, max } => {
                let rule = match (count, mass, max) {
                    (Some(n), None, None) => ProbeRule::Count(check_count("count", n, MAX_NPROBE)?),
                    (None, Some(m), Some(max)) => {
                        if !(m > 0.0 && m <= 1.0) {
                            return Err(ApiError::bad_request(format!(
                                "mass = {m}: use a number in (0, 1]"
                            )));
                        }
                        ProbeRule::Mass {
                            mass: m,
                            max: check_count("max", max, MAX_NPROBE)?,
                        }
                    }
                    _ => {
                        return Err(ApiError::bad_request(
                            "an mlp router takes either count, or mass and max",
                        ))
                    }
                };
                RouterSpec::Mlp { rule }
            }
        })
    }
}

/// Checks a vector: `dim` values, each finite and at most [`MAX_COMPONENT`] in
/// magnitude. `what` names it in the message ("vector", "vectors[3]").
pub fn check_vector(v: &[f32], dim: usize, what: &dyn Fn() -> String) -> Result<(), ApiError> {
    if v.len() != dim {
        return Err(ApiError::bad_request(format!(
            "{} has {} dimensions; the index has {dim}",
            what(),
            v.len()
        )));
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(ApiError::bad_request(format!(
            "{} has a non-finite value at component {i} (a number beyond the f32 range?)",
            what()
        )));
    }
    if let Some(i) = v.iter().position(|x| x.abs() > MAX_COMPONENT) {
        return Err(ApiError::bad_request(format!(
            "{} has {} at component {i}; components must be within +-{MAX_COMPONENT:e} so \
             distances stay finite",
            what(),
            v[i]
        )));
    }
    Ok(())
}

/// A search request checked against the index and the limits.
pub struct CheckedSearch {
    pub params: SearchParams,
    /// Row-major queries.
    pub queries: Vec<f32>,
    pub n: usize,
    /// The request used `vector` (answer one result, not a list).
    pub single: bool,
}

impl SearchRequest {
    pub fn check(self, dim: usize, cfg: &Config) -> Result<CheckedSearch, ApiError> {
        let (rows, single) = match (self.vector, self.vectors) {
            (Some(v), None) => (vec![v], true),
            (None, Some(vs)) => (vs, false),
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_request(
                    "give either vector (one query) or vectors (a batch), not both",
                ))
            }
            (None, None) => {
                return Err(ApiError::bad_request(
                    "missing query: give vector (one query) or vectors (a batch)",
                ))
            }
        };
        if rows.is_empty() {
            return Err(ApiError::bad_request(
                "empty batch: vectors must hold at least one query",
            ));
        }
        if rows.len() > cfg.max_queries {
            return Err(ApiError::bad_request(format!(
                "{} queries in one request; at most {} (--max-queries)",
                rows.len(),
                cfg.max_queries
            )));
        }
        let mut queries = Vec::with_capacity(rows.len() * dim);
        for (i, r) in rows.iter().enumerate() {
            let what = || {
                if single {
                    "vector".to_string()
                } else {
                    format!("vectors[{i}]")
                }
            };
            check_vector(r, dim, &what)?;
            queries.extend_from_slice(r);
        }
        let k = self.k.unwrap_or(10);
        if k == 0 || k > cfg.max_k {
            return Err(ApiError::bad_request(format!(
                "k = {k} is out of range: use 1..={} (--max-k)",
                cfg.max_k
            )));
        }
        let router = match (self.nprobe, &self.router) {
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_request(
                    "give nprobe or router, not both (router {\"kind\": \"fixed\", \"nprobe\": N} is nprobe)",
                ))
            }
            (Some(n), None) => RouterSpec::Fixed {
                nprobe: check_count("nprobe", n, MAX_NPROBE)?,
            },
            (None, Some(r)) => r.spec()?,
            (None, None) => RouterSpec::Fixed {
                nprobe: cfg.default_nprobe,
            },
        };
        let mut params = SearchParams::new(k).router(router);
        if let Some(s) = self.strategy {
            params = params.strategy(s);
        }
        if let Some(ef) = self.ef {
            params = params.ef(check_count("ef", ef, MAX_EF)?);
        }
        if let Some(f) = &self.filter {
            let f = Filter::parse(f).map_err(|e| ApiError::bad_request(e.to_string()))?;
            params = params.filter(Some(f));
        }
        if let Some(p) = self.filter_plan {
            params = params.filter_plan(p);
        }
        Ok(CheckedSearch {
            params,
            n: rows.len(),
            queries,
            single,
        })
    }
}

#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct Hit {
    pub ids: Vec<u64>,
    pub distances: Vec<f32>,
    pub stats: HitStats,
}

/// What one query cost.
#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct HitStats {
    /// Partitions it probed.
    pub partitions: u32,
    /// Distance computations for it.
    pub vectors: u64,
    /// Its share of the bytes read (a partition shared by the batch divided among
    /// its queries).
    pub bytes: f64,
}

impl From<QueryStats> for HitStats {
    fn from(s: QueryStats) -> Self {
        HitStats {
            partitions: s.partitions,
            vectors: s.vectors,
            bytes: s.bytes,
        }
    }
}

/// The engine batch a request ran in (shared with the other requests gathered
/// into it).
#[derive(Debug, Serialize, Deserialize, Clone, Default)]
pub struct BatchInfo {
    /// Queries in the batch.
    pub queries: usize,
    /// Requests gathered into it.
    pub requests: usize,
    pub partitions_read: u64,
    pub bytes_read: u64,
    /// The batch's search time.
    pub search_ms: f64,
    /// Time this request waited before its batch started.
    pub queue_ms: f64,
}

/// `POST /search` with `vector`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SearchOne {
    #[serde(flatten)]
    pub hit: Hit,
    pub batch: BatchInfo,
}

/// `POST /search` with `vectors`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SearchMany {
    pub results: Vec<Hit>,
    pub batch: BatchInfo,
}

/// `PUT /points`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpsertRequest {
    pub points: Vec<Point>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Point {
    pub id: u64,
    pub vector: Vec<f32>,
    /// Labels (filtered search: `label = 3`).
    pub labels: Option<Vec<u32>>,
    /// Numeric attributes (filtered search: `price < 50`).
    pub attrs: Option<BTreeMap<String, f64>>,
}

/// `POST /points/delete`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteRequest {
    pub ids: Vec<u64>,
}

/// Checks the id count of a write.
pub fn check_write_count(n: usize, cfg: &Config, what: &str) -> Result<(), ApiError> {
    if n == 0 {
        return Err(ApiError::bad_request(format!(
            "empty {what}: give at least one"
        )));
    }
    if n > cfg.max_points {
        return Err(ApiError::bad_request(format!(
            "{n} {what} in one request; at most {} (--max-points)",
            cfg.max_points
        )));
    }
    Ok(())
}
