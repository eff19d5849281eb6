//! `build --graphs`, `graph-build`, `search --mode`, `info` and `centroid-bench` end to end.

mod common;
use common::*;

#[test]
fn graphs_build_search_info_and_errors() {
    let t = tmp();
    let idx = t.path().join("g");
    let base = fixture("siftsmall_base.bvecs");
    let q = fixture("siftsmall_query.fvecs");
    let gt = fixture("siftsmall_groundtruth.ivecs");
    // Without graphs, graph modes are a one-line error naming the fix.
    ok(&quarry(&[
        "build",
        "--base",
        s(&base),
        "--out",
        s(&idx),
        "--partitions",
        "4",
    ]));
    let o = quarry(&[
        "search",
        "--index",
        s(&idx),
        "--queries",
        s(&q),
        "--mode",
        "graph",
    ]);
    fails_with(&o, "quarry graph-build");
    let o = quarry(&[
        "search",
        "--index",
        s(&idx),
        "--queries",
        s(&q),
        "--mode",
        "fast",
    ]);
    assert_eq!(o.status.code(), Some(2));
    ok(&quarry(&[
        "graph-build",
        "--index",
        s(&idx),
        "--m",
        "8",
        "--ef-construction",
        "32",
    ]));
    let info = quarry(&["info", "--index", s(&idx)]);
    ok(&info);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(
        text.contains("graphs     HNSW m 8") && text.contains("B/vector"),
        "{text}"
    );
    for mode in ["scan", "graph", "auto", "partial"] {
        let o = quarry(&[
            "search",
            "--index",
            s(&idx),
            "--queries",
            s(&q),
            "--gt",
            s(&gt),
            "--nprobe",
            "2",
            "--mode",
            mode,
            "--ef",
            "48",
            "--json",
        ]);
        ok(&o);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let recall = v["recall_at_k"].as_f64().unwrap();
        assert!(recall > 0.8, "{mode}: recall {recall}");
        let dists = v["vectors_per_query"].as_f64().unwrap();
        if mode == "graph" || mode == "partial" {
            assert!(dists < 2500.0, "{mode}: {dists} distance computations");
        }
    }
    // `build --graphs` does both steps.
    let idx2 = t.path().join("g2");
    ok(&quarry(&[
        "build",
        "--base",
        s(&base),
        "--out",
        s(&idx2),
        "--partitions",
        "4",
        "--graphs",
    ]));
    let o = quarry(&[
        "search",
        "--index",
        s(&idx2),
        "--queries",
        s(&q),
        "--mode",
        "auto",
    ]);
    ok(&o);
}

#[test]
fn centroid_bench_runs_small() {
    let o = quarry(&[
        "dev",
        "centroid-bench",
        "--n",
        "3000",
        "--dim",
        "16",
        "--queries",
        "50",
        "--single-queries",
        "5",
        "--top",
        "8",
        "--ef",
        "32",
    ]);
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout);
    let row = text.lines().last().unwrap();
    let recall: f64 = row.split_whitespace().nth(3).unwrap().parse().unwrap();
    assert!(recall > 0.95, "{row}");
}
