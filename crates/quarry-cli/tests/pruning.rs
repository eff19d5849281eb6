//! `quarry build --train-pruning`, `train-pruning`, and the gbdt router in search and
//! bench, on the SIFT10K fixture (small settings: this is about the plumbing).

mod common;
use common::{fails_with, fixture, ok, quarry, s, tmp};

#[test]
fn build_trains_the_model_and_search_and_bench_use_it() {
    let t = tmp();
    let idx = t.path().join("idx");
    let base = fixture("siftsmall_base.bvecs");
    let queries = fixture("siftsmall_query.fvecs");
    let gt = fixture("siftsmall_groundtruth.ivecs");
    let out = quarry(&[
        "build",
        "--base",
        s(&base),
        "--out",
        s(&idx),
        "--partitions",
        "16",
        "--train-pruning",
        "--train-queries",
        "800",
        "--rounds",
        "40",
        "--label-k",
        "10",
        "--max-nprobe",
        "16",
        "--features-k",
        "8",
        "--json",
    ]);
    ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["pruning"]["model_bytes"].as_u64().unwrap() > 0);
    assert!(v["pruning"]["train_secs"].as_f64().is_some());
    assert!(quarry_storage::Manifest::load(&idx)
        .unwrap()
        .path_of(&idx, "pruning.model")
        .is_some_and(|p| p.exists()));

    let out = quarry(&[
        "search",
        "--index",
        s(&idx),
        "--queries",
        s(&queries),
        "--gt",
        s(&gt),
        "--k",
        "10",
        "--router",
        "gbdt",
        "--target-recall",
        "0.9",
        "--json",
    ]);
    ok(&out);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(r["recall_at_k"].as_f64().unwrap() > 0.5);
    assert!(r["router_select_us_per_query"].as_f64().unwrap() > 0.0);
    assert!(r["router_desc"].as_str().unwrap().contains("target_recall"));

    let dir = t.path().join("bench");
    ok(&quarry(&[
        "bench",
        "--index",
        s(&idx),
        "--queries",
        s(&queries),
        "--gt",
        s(&gt),
        "--k",
        "10",
        "--router",
        "gbdt",
        "--margins",
        "-0.5,0",
        "--targets",
        "0.9",
        "--single-limit",
        "0",
        "--out-dir",
        s(&dir),
    ]));
    let rows = std::fs::read_to_string(dir.join("results.jsonl")).unwrap();
    assert_eq!(rows.lines().count(), 3);
    assert!(rows.contains("\"router\":\"gbdt\""));
    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    assert!(csv.lines().next().unwrap().contains("target_recall"));

    // Bad inputs: one-line errors that say what to do.
    let search = |extra: &[&str]| {
        let mut a = vec![
            "search",
            "--index",
            s(&idx),
            "--queries",
            s(&queries),
            "--router",
            "gbdt",
        ];
        a.extend_from_slice(extra);
        quarry(&a)
    };
    fails_with(
        &search(&["--k", "10", "--target-recall", "1.5"]),
        "target recall must be in (0, 1]",
    );
    fails_with(
        &search(&["--k", "10", "--target-recall", "0"]),
        "target recall must be in (0, 1]",
    );
    fails_with(
        &search(&["--target-recall", "0.9", "--k", "100"]),
        "--label-k",
    );

    // GBDT counts in MLP order: needs the MLP, then reads the counts' partitions.
    fails_with(&search(&["--k", "10", "--mlp-order"]), "quarry mlp-train");
    ok(&quarry(&[
        "mlp-train",
        "--index",
        s(&idx),
        "--base",
        s(&base),
        "--train-queries",
        "500",
        "--epochs",
        "2",
        "--hidden",
        "16",
        "--dup-every",
        "0",
        "--quiet",
    ]));
    let out = search(&["--k", "10", "--gt", s(&gt), "--mlp-order", "--json"]);
    ok(&out);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(r["recall_at_k"].as_f64().unwrap() > 0.5);
    assert!(r["router_desc"]
        .as_str()
        .unwrap()
        .contains("in the order of mlp"));
    let mut a = vec!["search", "--index", s(&idx), "--queries", s(&queries)];
    a.push("--mlp-order");
    fails_with(&quarry(&a), "--mlp-order needs --router gbdt");
}

#[test]
fn gbdt_router_without_a_model_says_how_to_train_one() {
    let t = tmp();
    let idx = t.path().join("idx");
    let base = fixture("siftsmall_base.bvecs");
    ok(&quarry(&[
        "build",
        "--base",
        s(&base),
        "--out",
        s(&idx),
        "--partitions",
        "8",
    ]));
    let q = fixture("siftsmall_query.fvecs");
    fails_with(
        &quarry(&[
            "search",
            "--index",
            s(&idx),
            "--queries",
            s(&q),
            "--router",
            "gbdt",
        ]),
        "quarry train-pruning",
    );
    fails_with(
        &quarry(&[
            "search",
            "--index",
            s(&idx),
            "--queries",
            s(&q),
            "--target-recall",
            "0.9",
        ]),
        "--router gbdt",
    );
    fails_with(
        &quarry(&[
            "train-pruning",
            "--index",
            s(&idx),
            "--base",
            s(&base),
            "--label-fraction",
            "2",
        ]),
        "label_fraction must be in (0, 1]",
    );
}
