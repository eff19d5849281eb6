//! The server on an ephemeral 127.0.0.1 port over a small index: routes, live
//! batching (each caller gets what a direct engine search gives), every error
//! path, keys, limits, writes, shutdown and the OpenAPI document.

use quarry_engine::{
    build_index_from, BuildConfig, Index, MemorySource, Metric, NoProgress, OpenOptions,
    SearchParams,
};
use quarry_server::client::{Answer, Client};
use quarry_server::{Config, Server};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

const DIM: usize = 8;
const N: usize = 2000;

fn data() -> Vec<f32> {
    let mut s = 12345u64;
    (0..N * DIM)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn index() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("idx");
    build_index_from(
        &MemorySource::f32(&data(), DIM).unwrap(),
        &path,
        &BuildConfig::new(8, Metric::L2),
        &NoProgress,
    )
    .unwrap();
    (dir, path)
}

fn config(path: &Path) -> Config {
    let mut c = Config::new(path.to_path_buf());
    c.addr = "127.0.0.1:0".parse().unwrap();
    c
}

async fn start(cfg: Config) -> (Server, Client) {
    let s = Server::start(cfg).await.unwrap();
    s.ready().await.unwrap();
    let c = Client::new(s.addr());
    (s, c)
}

async fn post(c: &Client, path: &str, v: Value) -> Answer {
    c.post_json("POST", path, &v).await.unwrap()
}

fn query(i: usize) -> Vec<f32> {
    let d = data();
    d[i * DIM..(i + 1) * DIM].iter().map(|x| x + 0.01).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batching_gives_each_caller_its_own_results() {
    let (_d, path) = index();
    let mut cfg = config(&path);
    cfg.batch_window = Duration::from_millis(50);
    let (server, client) = start(cfg).await;
    // 40 single-query requests and 8 batch requests at once.
    let mut tasks = Vec::new();
    for i in 0..48usize {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            let body = if i < 40 {
                json!({"vector": query(i), "k": 5, "nprobe": 3})
            } else {
                json!({"vectors": [query(i), query(i + 100), query(i + 200)], "k": 5, "nprobe": 3})
            };
            (i, c.post_json("POST", "/search", &body).await.unwrap())
        }));
    }
    let reader = Index::open(&path, OpenOptions::default()).unwrap();
    let params = SearchParams::new(5).nprobe(3);
    let mut gathered = 0;
    for t in tasks {
        let (i, a) = t.await.unwrap();
        assert_eq!(a.status, 200, "{}", a.text());
        let v = a.json();
        let qs: Vec<Vec<f32>> = if i < 40 {
            vec![query(i)]
        } else {
            vec![query(i), query(i + 100), query(i + 200)]
        };
        let flat: Vec<f32> = qs.concat();
        let want = reader.search_batch(&flat, &params).unwrap();
        let results: Vec<&Value> = if i < 40 {
            vec![&v]
        } else {
            v["results"].as_array().unwrap().iter().collect()
        };
        assert_eq!(results.len(), qs.len());
        for (r, w) in results.iter().zip(&want.neighbors) {
            let ids: Vec<u64> = r["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
                .collect();
            let dists: Vec<f32> = r["distances"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(
                ids,
                w.iter().map(|n| n.id).collect::<Vec<_>>(),
                "request {i}"
            );
            assert_eq!(
                dists,
                w.iter().map(|n| n.dist).collect::<Vec<_>>(),
                "request {i}"
            );
        }
        if v["batch"]["requests"].as_u64().unwrap() > 1 {
            gathered += 1;
        }
    }
    assert!(gathered > 0, "no request shared a batch");
    // Different parameters never share a batch, and still get their own answers.
    let a = post(&client, "/search", json!({"vector": query(1), "k": 3})).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["ids"].as_array().unwrap().len(), 3);
    let m = client.get("/metrics").await.unwrap().text();
    assert!(m.contains("quarry_search_batch_requests_bucket"), "{m}");
    assert!(
        m.contains("quarry_http_requests_total{route=\"/search\",method=\"POST\",status=\"200\"}"),
        "{m}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_zero_searches_alone() {
    let (_d, path) = index();
    let mut cfg = config(&path);
    cfg.batch_window = Duration::ZERO;
    let (server, client) = start(cfg).await;
    let mut tasks = Vec::new();
    for i in 0..16usize {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            c.post_json("POST", "/search", &json!({"vector": query(i), "k": 4}))
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        let a = t.await.unwrap();
        assert_eq!(a.status, 200);
        assert_eq!(a.json()["batch"]["requests"], 1);
    }
    server.shutdown().await.unwrap();
}

/// The status and the error message of an answer.
fn err(a: &Answer) -> (u16, String) {
    let v = a.json();
    assert_eq!(v["status"].as_u64(), Some(a.status as u64), "{}", a.text());
    (a.status, v["error"].as_str().unwrap_or("").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_gets_a_4xx_with_a_clear_message() {
    let (_d, path) = index();
    let mut cfg = config(&path);
    cfg.max_body_bytes = 64 << 10;
    cfg.max_queries = 4;
    cfg.max_points = 3;
    cfg.max_k = 5000;
    let (server, c) = start(cfg).await;
    let raw = |body: &str| c.send("POST", "/search", Some(body.as_bytes().to_vec()), &[]);
    let cases: Vec<(Answer, u16, &str)> = vec![
        (raw("{\"vector\": [1, 2").await.unwrap(), 400, "JSON"),
        (raw("{\"vector\": [NaN, 0, 0, 0, 0, 0, 0, 0]}").await.unwrap(), 400, "JSON"),
        (raw("[1, 2]").await.unwrap(), 400, "invalid type"),
        (post(&c, "/search", json!({"vector": [1.0, 2.0]})).await, 400, "has 2 dimensions; the index has 8"),
        (post(&c, "/search", json!({"vectors": (vec![vec![0.0f32; 8], vec![1.0f32; 7]])})).await, 400, "vectors[1] has 7 dimensions"),
        (raw("{\"vector\": [1e39, 0, 0, 0, 0, 0, 0, 0]}").await.unwrap(), 400, "vector[0]: number out of range"),
        (post(&c, "/search", json!({"vector": [1e20, 0, 0, 0, 0, 0, 0, 0]})).await, 400, "components must be within"),
        (post(&c, "/search", json!({"vector": (vec![0.0f32; 8]), "k": 1000000})).await, 400, "k = 1000000 is out of range"),
        (post(&c, "/search", json!({"vector": (vec![0.0f32; 8]), "k": 0})).await, 400, "k = 0"),
        (post(&c, "/search", json!({"vector": (vec![0.0f32; 8]), "k": -1})).await, 400, "invalid value"),
        (post(&c, "/search", json!({"vectors": []})).await, 400, "empty batch"),
        (post(&c, "/search", json!({"vectors": (vec![vec![0.0f32; 8]; 5])})).await, 400, "5 queries in one request; at most 4"),
        (post(&c, "/search", json!({})).await, 400, "missing query"),
        (post(&c, "/search", json!({"vector": (vec![0.0f32; 8]), "vectors": (vec![vec![0.0f32; 8]])})).await, 400, "not both"),
        (post(&c, "/search", json!({"vector": (vec![0.0f32; 8]), "nprob": 3})).await, 400, "unknown field `nprob`"),
        (post(&c, "/search", json!({"vector": (vec![0.0f32; 8]), "nprobe": 0})).await, 400, "nprobe = 0"),
        (post(&c, "/search", json!({"vector": (vec![0.0f32; 8]), "nprobe": 2, "router": {"kind": "fixed", "nprobe": 2}})).await, 400, "not both"),
        (post(&c, "/search", json!({"vector": (vec![0.0f32; 8]), "router": {"kind": "gbdt", "target_recall": 0.9}})).await, 400, "no gbdt router model"),
        (post(&c, "/search", json!({"vector": (vec![0.0f32; 8]), "router": {"kind": "warp"}})).await, 400, "unknown variant `warp`"),
        (post(&c, "/search", json!({"vector": (vec![0.0f32; 8]), "filter": "label = "})).await, 400, "bad filter"),
        (post(&c, "/search", json!({"vector": (vec![0.0f32; 8]), "filter": "label = 3"})).await, 400, "no labels or attributes"),
        (post(&c, "/search", json!({"vector": (vec![0.0f32; 8]), "strategy": "graph"})).await, 400, "needs per-partition graphs"),
        (c.send("POST", "/search", Some(vec![b' '; 100 << 10]), &[]).await.unwrap(), 413, "too large"),
        (c.send("POST", "/search", None, &[]).await.unwrap(), 415, "application/json"),
        (post(&c, "/points/delete", json!({"ids": [5, 999999, 888888]})).await, 404, "2 of the 3 ids are not in the index (999999, 888888); nothing was deleted"),
        (post(&c, "/points/delete", json!({"ids": []})).await, 400, "empty ids"),
        (post(&c, "/points/delete", json!({"ids": [1, 2, 3, 4]})).await, 400, "4 ids in one request; at most 3"),
        (post(&c, "/points/delete", json!({"ids": [-4]})).await, 400, "invalid value"),
        (c.post_json("PUT", "/points", &json!({"points": []})).await.unwrap(), 400, "empty points"),
        (c.post_json("PUT", "/points", &json!({"points": [{"id": 1, "vector": (vec![0.0f32; 3])}]})).await.unwrap(), 400, "points[0].vector has 3 dimensions"),
        (c.post_json("PUT", "/points", &json!({"points": [{"id": 1}]})).await.unwrap(), 400, "missing field `vector`"),
        (c.get("/nope").await.unwrap(), 404, "no route /nope"),
        (c.get("/search").await.unwrap(), 405, "GET is not allowed on /search"),
        (c.send("POST", "/flush?compact=maybe", None, &[]).await.unwrap(), 400, "compact"),
    ];
    for (i, (a, status, msg)) in cases.iter().enumerate() {
        let (s, m) = err(a);
        assert_eq!(s, *status, "case {i}: {m}");
        assert!(m.contains(msg), "case {i}: '{m}' does not say '{msg}'");
    }
    // k beyond the live vectors.
    let a = post(
        &c,
        "/search",
        json!({"vector": (vec![0.0f32; 8]), "k": 3000}),
    )
    .await;
    let (s, m) = err(&a);
    assert_eq!(s, 400);
    assert!(m.contains("k = 3000 exceeds the 2000 vectors"), "{m}");
    // The 404 delete deleted nothing.
    let info = c.get("/info").await.unwrap().json();
    assert_eq!(info["vectors"], N as u64);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_guard_every_route_but_healthz() {
    let (_d, path) = index();
    let mut cfg = config(&path);
    cfg.api_key = Some("s3cret-key".into());
    let (server, c) = start(cfg).await;
    let routes = quarry_server::routes::served_routes();
    for (m, p) in &routes {
        let m = m.to_uppercase();
        let body = (m != "GET").then(|| b"{}".to_vec());
        for key in [
            None,
            Some("Bearer wrong"),
            Some("Bearer s3cret-ke"),
            Some("s3cret-key"),
            Some("Bearer s3cret-keyy"),
        ] {
            let h: Vec<(&str, &str)> = key.map(|k| ("authorization", k)).into_iter().collect();
            let a = c.send(&m, p, body.clone(), &h).await.unwrap();
            if p == "/healthz" {
                assert_eq!(a.status, 200);
            } else {
                assert_eq!(a.status, 401, "{m} {p} with {key:?}");
                assert!(a.headers.contains_key("www-authenticate"));
                let msg = err(&a).1;
                assert!(msg.contains("API key"), "{msg}");
            }
        }
        let a = c
            .send(
                &m,
                p,
                body.clone(),
                &[("authorization", "Bearer s3cret-key")],
            )
            .await
            .unwrap();
        assert_ne!(a.status, 401, "{m} {p}");
    }
    let keyed = c.clone().with_key(Some("s3cret-key".into()));
    let a = keyed
        .post_json("POST", "/search", &json!({"vector": (vec![0.0f32; 8])}))
        .await
        .unwrap();
    assert_eq!(a.status, 200);
    server.shutdown().await.unwrap();

    // A non-loopback address needs a key (or the explicit flag).
    let mut open = config(&path);
    open.addr = "0.0.0.0:0".parse().unwrap();
    let e = Server::start(open.clone()).await.err().unwrap();
    assert!(
        e.contains("--api-key-file") && e.contains("--allow-unauthenticated"),
        "{e}"
    );
    assert_eq!(Config::new(path.clone()).addr.ip().to_string(), "127.0.0.1");
    assert!(quarry_server::routes::constant_time_eq(b"abc", b"abc"));
    assert!(!quarry_server::routes::constant_time_eq(b"abc", b"abd"));
    assert!(!quarry_server::routes::constant_time_eq(b"abc", b"abcd"));
    assert!(!quarry_server::routes::constant_time_eq(b"", b"a"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_describes_exactly_the_routes_served() {
    let (_d, path) = index();
    let (server, c) = start(config(&path)).await;
    let doc = c.get("/openapi.json").await.unwrap().json();
    assert_eq!(doc["openapi"], "3.0.3");
    let documented: BTreeSet<(String, String)> = quarry_server::openapi::documented_routes(&doc)
        .into_iter()
        .collect();
    let served: BTreeSet<(String, String)> =
        quarry_server::routes::served_routes().into_iter().collect();
    assert_eq!(documented, served);
    // Each documented operation is routed (not 404/405), and answers with a
    // status it documents.
    for (m, p) in &documented {
        let body = (m != "get").then(|| b"{}".to_vec());
        let a = c.send(&m.to_uppercase(), p, body, &[]).await.unwrap();
        let codes = doc["paths"][p][m]["responses"].as_object().unwrap();
        assert!(
            codes.contains_key(&a.status.to_string()),
            "{m} {p}: {} not documented",
            a.status
        );
    }
    // The schema carries this index's dimension.
    assert_eq!(doc["components"]["schemas"]["Vector"]["minItems"], DIM);
    // Every $ref resolves.
    let text = doc.to_string();
    for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &r[..r.find('"').unwrap()];
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling $ref {name}"
        );
    }
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_searchable_durable_and_flushed_at_shutdown() {
    let (_d, path) = index();
    let (server, c) = start(config(&path)).await;
    let far = |i: usize| vec![50.0 + i as f32; DIM];
    let points: Vec<Value> = (0..3)
        .map(|i| json!({"id": 10_000 + i, "vector": far(i)}))
        .collect();
    let a = c
        .post_json("PUT", "/points", &json!({"points": points}))
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["upserted"], 3);
    let a = post(
        &c,
        "/search",
        json!({"vector": far(1), "k": 1, "nprobe": 8}),
    )
    .await;
    assert_eq!(a.json()["ids"][0], 10_001);
    // Points may carry labels; filtered searches see them at once.
    let a = c
        .post_json(
            "PUT",
            "/points",
            &json!({"points": [{"id": 10_005, "vector": far(5), "labels": [42]}]}),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.text());
    let a = post(
        &c,
        "/search",
        json!({"vector": far(1), "k": 1, "nprobe": 8, "filter": "label = 42"}),
    )
    .await;
    assert_eq!(a.json()["ids"][0], 10_005, "{}", a.text());
    // An attribute the index does not have is a 400 that names it.
    let a = c
        .post_json(
            "PUT",
            "/points",
            &json!({"points": [{"id": 10_006, "vector": far(6), "attrs": {"price": 1.0}}]}),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 400, "{}", a.text());
    assert!(a.text().contains("price"), "{}", a.text());
    let a = post(&c, "/points/delete", json!({"ids": [10_005]})).await;
    assert_eq!(a.status, 200);
    // Replace one of the originals, delete another.
    let a = c
        .post_json(
            "PUT",
            "/points",
            &json!({"points": [{"id": 7, "vector": far(9)}]}),
        )
        .await
        .unwrap();
    assert_eq!(a.json()["replaced"], 1);
    let a = post(&c, "/points/delete", json!({"ids": [10_002]})).await;
    assert_eq!((a.status, a.json()["deleted"].clone()), (200, json!(1)));
    let a = post(&c, "/points/delete", json!({"ids": [10_002]})).await;
    assert_eq!(a.status, 404);
    let info = c.get("/info").await.unwrap().json();
    assert_eq!(info["vectors"], (N + 2) as u64);
    assert_eq!(info["live"]["delta"], 3);
    // Shutdown drains and flushes; a new server sees everything.
    let done = server.shutdown().await.unwrap();
    assert!(done.flush.is_some());
    let (server, c) = start(config(&path)).await;
    let info = c.get("/info").await.unwrap().json();
    assert_eq!(info["vectors"], (N + 2) as u64);
    let a = post(
        &c,
        "/search",
        json!({"vector": far(9), "k": 1, "nprobe": 8}),
    )
    .await;
    assert_eq!(a.json()["ids"][0], 7);
    let a = c.send("POST", "/flush", None, &[]).await.unwrap();
    assert_eq!(a.status, 200, "{}", a.text());
    // Without a shutdown (a crash), acknowledged writes come back from the log.
    let a = c
        .post_json(
            "PUT",
            "/points",
            &json!({"points": [{"id": 20_000, "vector": far(20)}]}),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 200);
    drop(server); // no drain, no flush: the runtime's tasks end with the test
    let reader = Index::open(&path, OpenOptions::default()).unwrap();
    let r = reader
        .search(&far(20), &SearchParams::new(1).nprobe(8))
        .unwrap();
    assert_eq!(r.neighbors[0].id, 20_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_and_full_delta_refuse_writes() {
    let (_d, path) = index();
    let mut cfg = config(&path);
    cfg.read_only = true;
    let (server, c) = start(cfg).await;
    let a = c
        .post_json(
            "PUT",
            "/points",
            &json!({"points": [{"id": 1, "vector": (vec![0.0f32; 8])}]}),
        )
        .await
        .unwrap();
    let (s, m) = err(&a);
    assert_eq!(s, 409);
    assert!(m.contains("read-only"), "{m}");
    assert_eq!(
        c.send("POST", "/flush", None, &[]).await.unwrap().status,
        409
    );
    server.shutdown().await.unwrap();

    let mut cfg = config(&path);
    cfg.write.delta_budget_bytes = 16;
    let (server, c) = start(cfg).await;
    let a = c
        .post_json(
            "PUT",
            "/points",
            &json!({"points": [{"id": 1, "vector": (vec![0.0f32; 8])}]}),
        )
        .await
        .unwrap();
    let (s, m) = err(&a);
    assert_eq!(s, 503);
    assert!(m.contains("flush before writing more"), "{m}");
    assert!(a.headers.contains_key("retry-after"));
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_503_and_slow_requests_504() {
    let (_d, path) = index();
    let mut cfg = config(&path);
    cfg.queue = 2;
    cfg.batch_window = Duration::from_millis(300);
    let (server, c) = start(cfg).await;
    let mut tasks = Vec::new();
    for i in 0..12usize {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.post_json("POST", "/search", &json!({"vector": query(i)}))
                .await
                .unwrap()
        }));
    }
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    for t in tasks {
        let a = t.await.unwrap();
        if a.status == 503 {
            assert_eq!(a.headers.get("retry-after").unwrap(), "1");
            assert!(err(&a).1.contains("server busy"));
        }
        *by_status.entry(a.status).or_default() += 1;
    }
    assert_eq!(by_status.get(&200), Some(&2), "{by_status:?}");
    assert_eq!(by_status.get(&503), Some(&10), "{by_status:?}");
    let m = c.get("/metrics").await.unwrap().text();
    assert!(m.contains("quarry_rejected_total 10"), "{m}");
    server.shutdown().await.unwrap();

    let mut cfg = config(&path);
    cfg.timeout = Duration::from_millis(50);
    cfg.batch_window = Duration::from_millis(500);
    let (server, c) = start(cfg).await;
    let a = post(&c, "/search", json!({"vector": query(0)})).await;
    let (s, m) = err(&a);
    assert_eq!(s, 504);
    assert!(m.contains("not answered within 50 ms"), "{m}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_that_cannot_open_is_reported_on_healthz() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let s = Server::start(config(&dir.path().join("missing")))
        .await
        .unwrap();
    let e = s.ready().await.unwrap_err();
    assert!(e.contains("missing"), "{e}");
    let c = Client::new(s.addr());
    let a = c.get("/healthz").await.unwrap();
    assert_eq!(a.status, 503);
    assert_eq!(a.json()["status"], "failed");
    let a = post(&c, "/search", json!({"vector": [0.0]})).await;
    let (status, m) = err(&a);
    assert_eq!(status, 503);
    assert!(
        m.contains("the index could not be opened") && m.contains("missing"),
        "{m}"
    );
    // run() ends with the error.
    let e = s.run(std::future::pending()).await.unwrap_err();
    assert!(e.contains("missing"), "{e}");
}
