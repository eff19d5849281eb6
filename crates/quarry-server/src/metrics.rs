//! Prometheus text exposition, kept by hand (a few counters and histograms):
//! requests and their latency by route, method and status; batch sizes; bytes
//! read; the queue.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Latency buckets, seconds.
const LATENCY: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Batch size buckets, queries.
const SIZES: [f64; 13] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0,
];

#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }
    fn observe(&mut self, v: f64) {
        for (b, c) in self.bounds.iter().zip(&mut self.counts) {
            if v <= *b {
                *c += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {c}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// (route, method, status)
type RequestKey = (String, String, u16);

pub struct Metrics {
    requests: Mutex<BTreeMap<RequestKey, Histogram>>,
    /// Queries per batch, requests per batch, batch search seconds.
    batches: Mutex<(Histogram, Histogram, Histogram)>,
    bytes_read: AtomicU64,
    partitions_read: AtomicU64,
    queries: AtomicU64,
    rejected: AtomicU64,
    timeouts: AtomicU64,
    upserted: AtomicU64,
    deleted: AtomicU64,
    flushes: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Default::default(),
            batches: Mutex::new((
                Histogram::new(&SIZES),
                Histogram::new(&SIZES),
                Histogram::new(&LATENCY),
            )),
            bytes_read: Default::default(),
            partitions_read: Default::default(),
            queries: Default::default(),
            rejected: Default::default(),
            timeouts: Default::default(),
            upserted: Default::default(),
            deleted: Default::default(),
            flushes: Default::default(),
        }
    }
}

/// Gauges read when `/metrics` is asked.
#[derive(Debug, Default)]
pub struct Gauges {
    pub queue_depth: usize,
    pub queue_capacity: usize,
    pub ready: bool,
    pub live_vectors: Option<u64>,
    pub delta_vectors: Option<u64>,
    pub log_bytes: Option<u64>,
    pub rss_bytes: Option<u64>,
}

impl Metrics {
    pub fn request(&self, route: &str, method: &str, status: u16, secs: f64) {
        let mut m = self.requests.lock().expect("metrics lock");
        m.entry((route.to_string(), method.to_string(), status))
            .or_insert_with(|| Histogram::new(&LATENCY))
            .observe(secs);
    }

    /// One engine batch: its queries, the requests gathered into it, what it read.
    pub fn batch(&self, queries: usize, requests: usize, bytes: u64, partitions: u64, secs: f64) {
        {
            let mut b = self.batches.lock().expect("metrics lock");
            b.0.observe(queries as f64);
            b.1.observe(requests as f64);
            b.2.observe(secs);
        }
        self.queries.fetch_add(queries as u64, Ordering::Relaxed);
        self.bytes_read.fetch_add(bytes, Ordering::Relaxed);
        self.partitions_read
            .fetch_add(partitions, Ordering::Relaxed);
    }

    pub fn rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }
    pub fn timeout(&self) {
        self.timeouts.fetch_add(1, Ordering::Relaxed);
    }
    pub fn upserted(&self, n: u64) {
        self.upserted.fetch_add(n, Ordering::Relaxed);
    }
    pub fn deleted(&self, n: u64) {
        self.deleted.fetch_add(n, Ordering::Relaxed);
    }
    pub fn flushed(&self) {
        self.flushes.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests answered so far (all routes and statuses).
    pub fn total_requests(&self) -> u64 {
        let m = self.requests.lock().expect("metrics lock");
        m.values().map(|h| h.count).sum()
    }

    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::with_capacity(16 << 10);
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        let gauge = |out: &mut String, name: &str, help: &str, v: f64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        {
            let m = self.requests.lock().expect("metrics lock");
            let _ = writeln!(
                out,
                "# HELP quarry_http_requests_total HTTP requests answered, by route, method and status.\n\
                 # TYPE quarry_http_requests_total counter"
            );
            for ((route, method, status), h) in m.iter() {
                let _ = writeln!(
                    out,
                    "quarry_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {}",
                    h.count
                );
            }
            let _ = writeln!(
                out,
                "# HELP quarry_http_request_duration_seconds Time from the request to the response, by route, method and status.\n\
                 # TYPE quarry_http_request_duration_seconds histogram"
            );
            for ((route, method, status), h) in m.iter() {
                let labels = format!("route=\"{route}\",method=\"{method}\",status=\"{status}\"");
                h.render(&mut out, "quarry_http_request_duration_seconds", &labels);
            }
        }
        {
            let b = self.batches.lock().expect("metrics lock");
            let _ = writeln!(
                out,
                "# HELP quarry_search_batch_queries Queries per engine search batch.\n# TYPE quarry_search_batch_queries histogram"
            );
            b.0.render(&mut out, "quarry_search_batch_queries", "");
            let _ = writeln!(
                out,
                "# HELP quarry_search_batch_requests Requests gathered into one engine search batch.\n# TYPE quarry_search_batch_requests histogram"
            );
            b.1.render(&mut out, "quarry_search_batch_requests", "");
            let _ = writeln!(
                out,
                "# HELP quarry_search_batch_seconds Search time of one engine batch.\n# TYPE quarry_search_batch_seconds histogram"
            );
            b.2.render(&mut out, "quarry_search_batch_seconds", "");
        }
        let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            &mut out,
            "quarry_search_queries_total",
            "Queries searched.",
            ld(&self.queries),
        );
        counter(
            &mut out,
            "quarry_search_bytes_read_total",
            "Bytes read from storage by searches.",
            ld(&self.bytes_read),
        );
        counter(
            &mut out,
            "quarry_search_partitions_read_total",
            "Partitions read by searches (once per batch).",
            ld(&self.partitions_read),
        );
        counter(
            &mut out,
            "quarry_rejected_total",
            "Requests refused with 503 because the queue was full.",
            ld(&self.rejected),
        );
        counter(
            &mut out,
            "quarry_timeouts_total",
            "Requests answered 504 after the request timeout.",
            ld(&self.timeouts),
        );
        counter(
            &mut out,
            "quarry_upserted_total",
            "Points upserted (acknowledged).",
            ld(&self.upserted),
        );
        counter(
            &mut out,
            "quarry_deleted_total",
            "Points deleted (acknowledged).",
            ld(&self.deleted),
        );
        counter(
            &mut out,
            "quarry_flushes_total",
            "Flushes completed.",
            ld(&self.flushes),
        );
        gauge(
            &mut out,
            "quarry_queue_depth",
            "Requests admitted and not yet answered (queued or running).",
            g.queue_depth as f64,
        );
        gauge(
            &mut out,
            "quarry_queue_capacity",
            "Requests admitted at once at most (--queue).",
            g.queue_capacity as f64,
        );
        gauge(
            &mut out,
            "quarry_ready",
            "1 once the index is open and its log replayed.",
            if g.ready { 1.0 } else { 0.0 },
        );
        if let Some(v) = g.live_vectors {
            gauge(
                &mut out,
                "quarry_index_live_vectors",
                "Live vectors in the index.",
                v as f64,
            );
        }
        if let Some(v) = g.delta_vectors {
            gauge(
                &mut out,
                "quarry_index_delta_vectors",
                "Vectors in the in-memory delta (not yet flushed).",
                v as f64,
            );
        }
        if let Some(v) = g.log_bytes {
            gauge(
                &mut out,
                "quarry_index_log_bytes",
                "Bytes of the write-ahead log.",
                v as f64,
            );
        }
        if let Some(v) = g.rss_bytes {
            gauge(
                &mut out,
                "quarry_process_resident_memory_bytes",
                "Resident memory of the server process.",
                v as f64,
            );
        }
        out
    }
}

/// This process's resident memory (Linux `/proc/self/statm`).
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * page.max(1) as u64)
}
