//! The routes, their handlers and the middleware (metrics, timeout, key).

use crate::api::{
    check_vector, check_write_count, DeleteRequest, Hit, SearchMany, SearchOne, SearchRequest,
    UpsertRequest,
};
use crate::batcher::{Job, JobOut};
use crate::error::ApiError;
use crate::metrics::{rss_bytes, Gauges};
use crate::state::{Phase, Shared};
use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Query, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put, MethodRouter};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

type S = Arc<Shared>;

/// Every route: method, path, handler. The router is built from this table and
/// the OpenAPI test compares it with `/openapi.json`.
fn table() -> Vec<(Method, &'static str, MethodRouter<S>)> {
    vec![
        (Method::POST, "/search", post(search)),
        (Method::PUT, "/points", put(upsert)),
        (Method::POST, "/points/delete", post(delete)),
        (Method::POST, "/flush", post(flush)),
        (Method::GET, "/info", get(info)),
        (Method::GET, "/healthz", get(healthz)),
        (Method::GET, "/metrics", get(metrics)),
        (Method::GET, "/openapi.json", get(openapi)),
    ]
}

/// (method, path) of every route served.
pub fn served_routes() -> Vec<(String, String)> {
    table()
        .into_iter()
        .map(|(m, p, _)| (m.as_str().to_lowercase(), p.to_string()))
        .collect()
}

pub fn router(shared: S) -> Router {
    let mut r = Router::new();
    for (_, path, h) in table() {
        r = r.route(path, h);
    }
    r.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(shared.clone(), auth))
        .layer(middleware::from_fn_with_state(shared.clone(), timeout))
        .layer(DefaultBodyLimit::max(shared.cfg.max_body_bytes))
        .layer(middleware::from_fn_with_state(shared.clone(), record))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::internal("the server failed while answering (see its log)").into_response()
        }))
        .with_state(shared)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no route {}; GET /openapi.json lists them", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{method} is not allowed on {}; GET /openapi.json lists the routes",
            uri.path()
        ),
    )
}

/// Request counts and latency by route, method and status.
async fn record(State(s): State<S>, req: Request, next: Next) -> Response {
    let t = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_string();
    let method = req.method().as_str().to_string();
    let resp = next.run(req).await;
    s.metrics.request(
        &route,
        &method,
        resp.status().as_u16(),
        t.elapsed().as_secs_f64(),
    );
    resp
}

/// 504 for a request not answered within `--timeout-ms`. A write that timed out
/// may still complete (its outcome is unknown to the caller; upserts and
/// deletes can be retried).
async fn timeout(State(s): State<S>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(s.cfg.timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            s.metrics.timeout();
            ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "not answered within {} ms (--timeout-ms); a write may still complete",
                    s.cfg.timeout.as_millis()
                ),
            )
            .into_response()
        }
    }
}

/// Byte strings equal, in time that depends on their lengths only.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= (x ^ y) as u64;
    }
    std::hint::black_box(diff) == 0
}

/// `Authorization: Bearer KEY` on every route but `/healthz` when a key is set.
async fn auth(State(s): State<S>, req: Request, next: Next) -> Response {
    let Some(key) = &s.cfg.api_key else {
        return next.run(req).await;
    };
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .and_then(|v| v.strip_prefix(b"Bearer "));
    match given {
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing API key: send the header `Authorization: Bearer KEY`",
        )
        .into_response(),
        Some(g) if !constant_time_eq(g, key.as_bytes()) => {
            ApiError::new(StatusCode::UNAUTHORIZED, "wrong API key").into_response()
        }
        Some(_) => next.run(req).await,
    }
}

/// `Json` with the errors as JSON bodies (415, 400, 413, 422 -> 400).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, St: Send + Sync> FromRequest<St> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &St) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rej) => {
                let status = match rej.status() {
                    StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
                    s => s,
                };
                let msg = match status {
                    StatusCode::PAYLOAD_TOO_LARGE => {
                        "request body too large: see --max-body-mb".to_string()
                    }
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                        "send a JSON body with `Content-Type: application/json`".to_string()
                    }
                    _ => rej.body_text(),
                };
                Err(ApiError::new(status, msg))
            }
        }
    }
}

fn hits(out: JobOut) -> (Vec<Hit>, crate::api::BatchInfo) {
    let hits = out
        .neighbors
        .into_iter()
        .zip(out.stats)
        .map(|(n, s)| Hit {
            ids: n.iter().map(|x| x.id).collect(),
            distances: n.iter().map(|x| x.dist).collect(),
            stats: s.into(),
        })
        .collect();
    (hits, out.batch)
}

async fn search(
    State(s): State<S>,
    ApiJson(req): ApiJson<SearchRequest>,
) -> Result<Response, ApiError> {
    let loaded = s.ready()?;
    let c = req.check(loaded.dim, &s.cfg)?;
    let _place = s.admit()?;
    let (tx, rx) = oneshot::channel();
    let key = serde_json::to_string(&c.params).unwrap_or_default();
    s.jobs
        .send(Job {
            key,
            params: c.params,
            queries: c.queries,
            n: c.n,
            enqueued: Instant::now(),
            reply: tx,
        })
        .map_err(|_| ApiError::unavailable("shutting down", 1))?;
    let out = rx
        .await
        .map_err(|_| ApiError::internal("the search failed unexpectedly (see the server log)"))??;
    let (mut hits, batch) = hits(out);
    Ok(if c.single {
        let hit = hits.pop().unwrap_or(Hit {
            ids: vec![],
            distances: vec![],
            stats: quarry_engine::QueryStats::default().into(),
        });
        Json(SearchOne { hit, batch }).into_response()
    } else {
        Json(SearchMany {
            results: hits,
            batch,
        })
        .into_response()
    })
}

/// Runs `f` on a blocking thread (engine calls never run on the async workers).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::internal("the operation failed unexpectedly (see the server log)"))?
}

async fn upsert(
    State(s): State<S>,
    ApiJson(req): ApiJson<UpsertRequest>,
) -> Result<Json<Value>, ApiError> {
    let loaded = s.ready()?;
    loaded.check_writable()?;
    let n = req.points.len();
    check_write_count(n, &s.cfg, "points")?;
    let dim = loaded.dim;
    let mut ids = Vec::with_capacity(n);
    let mut vectors = Vec::with_capacity(n * dim);
    for (i, p) in req.points.iter().enumerate() {
        check_vector(&p.vector, dim, &|| format!("points[{i}].vector"))?;
        ids.push(p.id);
        vectors.extend_from_slice(&p.vector);
    }
    // Labels and attributes, when any point has them: one row per point (the
    // engine checks them against the index's attributes).
    let meta: Vec<quarry_engine::RowMeta> = if req
        .points
        .iter()
        .any(|p| p.labels.is_some() || p.attrs.is_some())
    {
        req.points
            .iter()
            .map(|p| quarry_engine::RowMeta {
                labels: p.labels.clone().unwrap_or_default(),
                attrs: p
                    .attrs
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), *v))
                    .collect(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let _place = s.admit()?;
    let r = blocking(move || Ok(loaded.read().upsert_with(&ids, &vectors, &meta)?)).await?;
    s.metrics.upserted(r.ids);
    Ok(Json(
        json!({ "upserted": r.ids, "replaced": r.existed, "seq": r.seq }),
    ))
}

/// Unknown ids shown in a 404 at most.
const SHOW_UNKNOWN: usize = 10;

async fn delete(
    State(s): State<S>,
    ApiJson(req): ApiJson<DeleteRequest>,
) -> Result<Json<Value>, ApiError> {
    let loaded = s.ready()?;
    loaded.check_writable()?;
    check_write_count(req.ids.len(), &s.cfg, "ids")?;
    let _place = s.admit()?;
    let ids = req.ids;
    let r = blocking(move || {
        let _one = loaded.delete_lock.lock().unwrap_or_else(|e| e.into_inner());
        let index = loaded.read();
        let unknown: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|&id| !index.contains(id))
            .collect();
        if !unknown.is_empty() {
            let shown: Vec<String> = unknown
                .iter()
                .take(SHOW_UNKNOWN)
                .map(u64::to_string)
                .collect();
            let more = if unknown.len() > SHOW_UNKNOWN {
                ", ..."
            } else {
                ""
            };
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "{} of the {} ids are not in the index ({}{more}); nothing was deleted",
                    unknown.len(),
                    ids.len(),
                    shown.join(", ")
                ),
            ));
        }
        Ok(index.delete(&ids)?)
    })
    .await?;
    s.metrics.deleted(r.existed);
    Ok(Json(json!({ "deleted": r.existed, "seq": r.seq })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FlushQuery {
    compact: Option<bool>,
}

async fn flush(
    State(s): State<S>,
    q: Result<Query<FlushQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let loaded = s.ready()?;
    loaded.check_writable()?;
    let _place = s.admit()?;
    let compact = q.compact.unwrap_or(false);
    let r = blocking(move || {
        let index = loaded.read();
        Ok(if compact {
            index.compact()?
        } else {
            index.flush()?
        })
    })
    .await?;
    s.metrics.flushed();
    Ok(Json(serde_json::to_value(r).unwrap_or(Value::Null)))
}

async fn info(State(s): State<S>) -> Result<Json<Value>, ApiError> {
    let loaded = s.ready()?;
    let cfg = s.cfg.clone();
    blocking(move || {
        let index = loaded.read();
        let live = index.live_stats();
        Ok(Json(json!({
            "index": index.dir().display().to_string(),
            "dim": index.dim(),
            "metric": format!("{:?}", index.metric()).to_lowercase(),
            "vectors": index.len(),
            "partitions": index.num_partitions(),
            "writable": loaded.writable.is_ok(),
            "live": live,
            "memory": index.memory(),
            "limits": {
                "batch_window_ms": cfg.batch_window.as_secs_f64() * 1e3,
                "max_batch": cfg.max_batch,
                "queue": cfg.queue,
                "max_k": cfg.max_k,
                "max_queries": cfg.max_queries,
                "max_points": cfg.max_points,
                "max_body_bytes": cfg.max_body_bytes,
                "timeout_ms": cfg.timeout.as_millis() as u64,
                "default_nprobe": cfg.default_nprobe,
            },
        })))
    })
    .await
}

async fn healthz(State(s): State<S>) -> Response {
    let phase = s.phase.borrow().clone();
    let (status, body) = match phase {
        Phase::Ready => (StatusCode::OK, json!({"status": "ready"})),
        Phase::Starting => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "starting", "detail": "opening the index and replaying its write-ahead log"}),
        ),
        Phase::Draining => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "draining", "detail": "shutting down: finishing requests, then a flush"}),
        ),
        Phase::Failed(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "failed", "detail": e}),
        ),
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(s): State<S>) -> Response {
    let mut g = Gauges {
        queue_depth: s.queue_depth(),
        queue_capacity: s.cfg.queue,
        ready: s.loaded.get().is_some(),
        rss_bytes: rss_bytes(),
        ..Default::default()
    };
    // A flush holds the index's state only for its final swap.
    if let Some(l) = s.loaded.get() {
        let index = l.read();
        if let Some(live) = index.live_stats() {
            g.live_vectors = Some(live.live);
            g.delta_vectors = Some(live.delta);
            g.log_bytes = Some(live.log_bytes);
        } else {
            g.live_vectors = Some(index.len());
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(&g),
    )
        .into_response()
}

async fn openapi(State(s): State<S>) -> Result<Json<Value>, ApiError> {
    let loaded = s.ready()?;
    Ok(Json(crate::openapi::document(&s.cfg, loaded.dim)))
}
