//! The load generator behind `quarry-load`: drives a search / upsert mix against
//! a server on loopback at a fixed concurrency (closed loop) or a fixed rate
//! with at most `concurrency` requests in flight (open loop), for a bounded time
//! or request count, and reports QPS, p50/p99 latency, status counts, recall
//! (with ground truth) and a per-second timeline. `check-acked` verifies that
//! every acknowledged upsert is searchable (the durability trials).

use crate::client::Client;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The vector an upsert writes for `id`: `dim` values in [-1, 1) from a hash of
/// the id and the seed, so a checker can rebuild it from the id alone.
pub fn synth_vector(id: u64, seed: u64, dim: usize) -> Vec<f32> {
    let mut s = id
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(seed.wrapping_mul(0xD1B5_4A32_D192_ED03))
        | 1;
    (0..dim)
        .map(|_| {
            // xorshift64*
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            let x = s.wrapping_mul(0x2545_F491_4F6C_DD1D);
            ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Reads a big-ann `.fbin` (u32 n, u32 dim, f32 rows) or `.ibin` (i32 rows):
/// (rows, dim, values as raw u32 bits).
pub fn read_bin(path: &Path) -> Result<(usize, usize, Vec<u32>), String> {
    let b = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if b.len() < 8 {
        return Err(format!(
            "{}: too short for a .fbin/.ibin header",
            path.display()
        ));
    }
    let n = u32::from_le_bytes(b[0..4].try_into().expect("4 bytes")) as usize;
    let d = u32::from_le_bytes(b[4..8].try_into().expect("4 bytes")) as usize;
    // A ground-truth file may hold the distances after the ids.
    if b.len() != 8 + n * d * 4 && b.len() != 8 + n * d * 8 {
        return Err(format!(
            "{}: header says {n} x {d}, the file holds {} bytes",
            path.display(),
            b.len()
        ));
    }
    let v = b[8..8 + n * d * 4]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect();
    Ok((n, d, v))
}

#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub addr: SocketAddr,
    pub key: Option<String>,
    /// Query vectors (`.fbin`); synthetic when absent.
    pub queries: Option<PathBuf>,
    /// Ground truth (`.ibin`, ids per query, at least k columns) for recall.
    pub gt: Option<PathBuf>,
    pub k: usize,
    /// Extra search fields (`"nprobe": 16`, `"router": {...}`) as a JSON object.
    pub search_fields: serde_json::Map<String, Value>,
    pub concurrency: usize,
    /// Requests per second (open loop); None: closed loop.
    pub rate: Option<f64>,
    pub duration: Duration,
    pub max_requests: Option<u64>,
    /// Of the requests, this fraction are upserts.
    pub upsert_fraction: f64,
    pub upsert_batch: usize,
    /// Upserted ids start here and count up.
    pub first_id: u64,
    pub seed: u64,
    /// Append each acknowledged upsert's ids here (one per line, flushed at once).
    pub acked_out: Option<PathBuf>,
    /// Stop after this many failed connections (a killed server).
    pub max_errors: u64,
    /// Per-second counts as JSON lines.
    pub timeline: Option<PathBuf>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Second {
    pub t: u64,
    pub ok: u64,
    pub busy: u64,
    pub other: u64,
    pub errors: u64,
    pub p99_ms: f64,
}

#[derive(Debug, Default)]
struct Tally {
    search_ms: Vec<f64>,
    upsert_ms: Vec<f64>,
    statuses: BTreeMap<String, u64>,
    errors: u64,
    first_error: Option<String>,
    recall_hits: u64,
    recall_total: u64,
    seconds: Vec<(Second, Vec<f64>)>,
    acked: u64,
    dropped: u64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub seconds: f64,
    pub requests: u64,
    pub concurrency: usize,
    pub rate: Option<f64>,
    /// 200 answers per second (searches and upserts).
    pub qps: f64,
    pub search_qps: f64,
    pub upsert_qps: f64,
    pub search_p50_ms: f64,
    pub search_p99_ms: f64,
    pub upsert_p50_ms: f64,
    pub upsert_p99_ms: f64,
    pub statuses: BTreeMap<String, u64>,
    pub connection_errors: u64,
    pub first_error: Option<String>,
    /// Open loop: requests not sent because `concurrency` were in flight.
    pub client_dropped: u64,
    pub recall_at_k: Option<f64>,
    pub acked_upserts: u64,
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

struct Plan {
    client: Client,
    bodies: Vec<hyper::body::Bytes>,
    gt: Option<(usize, Vec<u32>)>,
    k: usize,
    dim: usize,
    cfg: LoadConfig,
    next_id: std::sync::atomic::AtomicU64,
    sent: std::sync::atomic::AtomicU64,
    tally: Mutex<Tally>,
    acked: Option<Mutex<std::fs::File>>,
    start: Instant,
}

impl Plan {
    /// Sends request number `i`; false when the run should stop.
    async fn one(&self, i: u64) {
        let upsert = self.cfg.upsert_fraction > 0.0
            && ((i as f64 * self.cfg.upsert_fraction).floor()
                != (((i + 1) as f64) * self.cfg.upsert_fraction).floor());
        let t = Instant::now();
        let (res, ids, q) = if upsert {
            let first = self.next_id.fetch_add(
                self.cfg.upsert_batch as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            let ids: Vec<u64> = (first..first + self.cfg.upsert_batch as u64).collect();
            let points: Vec<Value> = ids
                .iter()
                .map(|&id| json!({"id": id, "vector": synth_vector(id, self.cfg.seed, self.dim)}))
                .collect();
            let body = serde_json::to_vec(&json!({ "points": points })).unwrap_or_default();
            (
                self.client.send("PUT", "/points", Some(body), &[]).await,
                ids,
                None,
            )
        } else {
            let q = (i as usize) % self.bodies.len();
            let body = self.bodies[q].to_vec();
            (
                self.client.send("POST", "/search", Some(body), &[]).await,
                vec![],
                Some(q),
            )
        };
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let sec = self.start.elapsed().as_secs();
        let mut recall = None;
        if let (Ok(a), Some(q), Some((cols, gt))) = (&res, q, &self.gt) {
            if a.status == 200 {
                let v = a.json();
                let got: Vec<u64> = v["ids"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_u64).collect())
                    .unwrap_or_default();
                let truth = &gt[q * cols..q * cols + self.k.min(*cols)];
                let hits = truth.iter().filter(|&&t| got.contains(&(t as u64))).count();
                recall = Some((hits as u64, truth.len() as u64));
            }
        }
        if let (Ok(a), Some(f)) = (&res, &self.acked) {
            if upsert && a.status == 200 {
                let mut f = f.lock().expect("acked lock");
                let lines: String = ids.iter().map(|id| format!("{id}\n")).collect();
                let _ = f.write_all(lines.as_bytes());
                let _ = f.flush();
            }
        }
        let mut t = self.tally.lock().expect("tally lock");
        while t.seconds.len() <= sec as usize {
            let n = t.seconds.len() as u64;
            t.seconds.push((
                Second {
                    t: n,
                    ..Default::default()
                },
                vec![],
            ));
        }
        match res {
            Ok(a) => {
                *t.statuses.entry(a.status.to_string()).or_default() += 1;
                let s = &mut t.seconds[sec as usize];
                match a.status {
                    200 => {
                        s.0.ok += 1;
                        s.1.push(ms);
                    }
                    503 => s.0.busy += 1,
                    _ => s.0.other += 1,
                }
                if a.status == 200 {
                    if upsert {
                        t.upsert_ms.push(ms);
                        t.acked += ids.len() as u64;
                    } else {
                        t.search_ms.push(ms);
                    }
                }
                if let Some((h, n)) = recall {
                    t.recall_hits += h;
                    t.recall_total += n;
                }
            }
            Err(e) => {
                t.errors += 1;
                t.seconds[sec as usize].0.errors += 1;
                if t.first_error.is_none() {
                    t.first_error = Some(e);
                }
            }
        }
    }

    fn should_stop(&self) -> bool {
        let sent = self.sent.load(std::sync::atomic::Ordering::Relaxed);
        self.start.elapsed() >= self.cfg.duration
            || self.cfg.max_requests.is_some_and(|m| sent >= m)
            || self.tally.lock().expect("tally lock").errors >= self.cfg.max_errors
    }

    fn take(&self) -> u64 {
        self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}

/// Runs the load and returns its report.
pub async fn run(cfg: LoadConfig) -> Result<Report, String> {
    let client = Client::new(cfg.addr).with_key(cfg.key.clone());
    let info = client.get("/info").await?;
    if info.status != 200 {
        return Err(format!(
            "GET /info answered {}: {}",
            info.status,
            info.text()
        ));
    }
    let dim = info.json()["dim"].as_u64().ok_or("GET /info has no dim")? as usize;
    let queries: Vec<Vec<f32>> = match &cfg.queries {
        Some(p) => {
            let (n, d, v) = read_bin(p)?;
            if d != dim {
                return Err(format!(
                    "{} has {d} dimensions, the index {dim}",
                    p.display()
                ));
            }
            (0..n)
                .map(|i| {
                    v[i * d..(i + 1) * d]
                        .iter()
                        .map(|&b| f32::from_bits(b))
                        .collect()
                })
                .collect()
        }
        None => (0..1000u64)
            .map(|i| synth_vector(i, cfg.seed ^ 0xABCD, dim))
            .collect(),
    };
    let gt = match &cfg.gt {
        Some(p) => {
            let (n, d, v) = read_bin(p)?;
            if n < queries.len() {
                return Err(format!(
                    "{} has {n} rows for {} queries",
                    p.display(),
                    queries.len()
                ));
            }
            Some((d, v))
        }
        None => None,
    };
    let bodies = queries
        .iter()
        .map(|q| {
            let mut m = cfg.search_fields.clone();
            m.insert("vector".into(), json!(q));
            m.insert("k".into(), json!(cfg.k));
            hyper::body::Bytes::from(serde_json::to_vec(&Value::Object(m)).unwrap_or_default())
        })
        .collect();
    let acked = match &cfg.acked_out {
        Some(p) => Some(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("{}: {e}", p.display()))?,
        )),
        None => None,
    };
    let plan = Arc::new(Plan {
        client,
        bodies,
        gt,
        k: cfg.k,
        dim,
        next_id: cfg.first_id.into(),
        sent: 0.into(),
        tally: Default::default(),
        acked,
        start: Instant::now(),
        cfg: cfg.clone(),
    });
    match cfg.rate {
        None => {
            let mut workers = Vec::new();
            for _ in 0..cfg.concurrency {
                let p = plan.clone();
                workers.push(tokio::spawn(async move {
                    while !p.should_stop() {
                        let i = p.take();
                        p.one(i).await;
                    }
                }));
            }
            for w in workers {
                let _ = w.await;
            }
        }
        Some(rate) => {
            let slots = Arc::new(tokio::sync::Semaphore::new(cfg.concurrency));
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            let mut due = 0u64;
            while !plan.should_stop() {
                tick.tick().await;
                let want = (plan.start.elapsed().as_secs_f64() * rate) as u64;
                while due < want {
                    due += 1;
                    match slots.clone().try_acquire_owned() {
                        Ok(permit) => {
                            let p = plan.clone();
                            let i = p.take();
                            tokio::spawn(async move {
                                p.one(i).await;
                                drop(permit);
                            });
                        }
                        Err(_) => plan.tally.lock().expect("tally lock").dropped += 1,
                    }
                }
            }
            // Let the requests in flight finish.
            let _ = slots.acquire_many(cfg.concurrency as u32).await;
        }
    }
    let secs = plan.start.elapsed().as_secs_f64();
    let mut t = std::mem::take(&mut *plan.tally.lock().expect("tally lock"));
    if let Some(p) = &cfg.timeline {
        let mut out = String::new();
        for (s, lat) in &mut t.seconds {
            s.p99_ms = pct(lat, 0.99);
            out.push_str(&serde_json::to_string(s).unwrap_or_default());
            out.push('\n');
        }
        std::fs::write(p, out).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    let ns = t.search_ms.len() as f64;
    let nu = t.upsert_ms.len() as f64;
    Ok(Report {
        seconds: secs,
        requests: plan.sent.load(std::sync::atomic::Ordering::Relaxed),
        concurrency: cfg.concurrency,
        rate: cfg.rate,
        qps: (ns + nu) / secs,
        search_qps: ns / secs,
        upsert_qps: nu / secs,
        search_p50_ms: pct(&mut t.search_ms, 0.50),
        search_p99_ms: pct(&mut t.search_ms, 0.99),
        upsert_p50_ms: pct(&mut t.upsert_ms, 0.50),
        upsert_p99_ms: pct(&mut t.upsert_ms, 0.99),
        statuses: t.statuses,
        connection_errors: t.errors,
        first_error: t.first_error,
        client_dropped: t.dropped,
        recall_at_k: (t.recall_total > 0).then(|| t.recall_hits as f64 / t.recall_total as f64),
        acked_upserts: t.acked,
    })
}

/// What `check_acked` found.
#[derive(Debug, Serialize)]
pub struct AckedCheck {
    pub acked: usize,
    pub present: usize,
    pub missing: Vec<u64>,
}

/// Searches every acknowledged id's vector over all partitions (exact) and
/// checks that the id itself comes back first.
pub async fn check_acked(
    addr: SocketAddr,
    key: Option<String>,
    ids: &[u64],
    seed: u64,
) -> Result<AckedCheck, String> {
    let client = Client::new(addr).with_key(key);
    let info = client.get("/info").await?;
    if info.status != 200 {
        return Err(format!(
            "GET /info answered {}: {}",
            info.status,
            info.text()
        ));
    }
    let info = info.json();
    let dim = info["dim"].as_u64().ok_or("GET /info has no dim")? as usize;
    let parts = info["partitions"]
        .as_u64()
        .ok_or("GET /info has no partitions")?;
    let mut missing = Vec::new();
    for chunk in ids.chunks(256) {
        let vs: Vec<Vec<f32>> = chunk
            .iter()
            .map(|&id| synth_vector(id, seed, dim))
            .collect();
        let a = client
            .post_json(
                "POST",
                "/search",
                &json!({"vectors": vs, "k": 1, "nprobe": parts}),
            )
            .await?;
        if a.status != 200 {
            return Err(format!("search answered {}: {}", a.status, a.text()));
        }
        let v = a.json();
        for (id, r) in chunk
            .iter()
            .zip(v["results"].as_array().into_iter().flatten())
        {
            if r["ids"][0].as_u64() != Some(*id) {
                missing.push(*id);
            }
        }
    }
    Ok(AckedCheck {
        acked: ids.len(),
        present: ids.len() - missing.len(),
        missing,
    })
}
