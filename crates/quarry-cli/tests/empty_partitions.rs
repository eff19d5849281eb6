//! Empty partitions end to end (issue 14, defect 3): 3,000 identical vectors in 16
//! partitions leave one empty; every command that reads, searches, trains or reports
//! on that index succeeds (the scan used to panic: "chunk size must be non-zero").

mod common;
use common::*;

#[test]
fn an_index_with_an_empty_partition_works_in_every_command() {
    let t = tmp();
    let base = t.path().join("same.fbin");
    quarry_formats::write_fbin(&base, 8, &vec![0.5f32; 3000 * 8]).unwrap();
    let learn = t.path().join("learn.fbin");
    let mut state = 1u64;
    let near: Vec<f32> = (0..300 * 8)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            0.5 + ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1
        })
        .collect();
    quarry_formats::write_fbin(&learn, 8, &near).unwrap();
    let idx = t.path().join("idx");
    ok(&quarry(&[
        "build",
        "--base",
        s(&base),
        "--out",
        s(&idx),
        "--partitions",
        "16",
    ]));
    let info = quarry(&["info", "--index", s(&idx), "--json", "--read-test"]);
    ok(&info);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(text.contains("\"min\":0"), "no empty partition: {text}");

    let search = |extra: &[&str]| {
        let mut args = vec![
            "search",
            "--index",
            s(&idx),
            "--queries",
            s(&learn),
            "--k",
            "10",
            "--nprobe",
            "16",
            "--json",
        ];
        args.extend_from_slice(extra);
        let o = quarry(&args);
        ok(&o);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["vectors_per_query"].as_f64().map(|x| x > 0.0), Some(true));
        v["partitions_per_query"].as_f64().unwrap()
    };
    let search_all = |extra: &[&str]| assert_eq!(search(extra), 16.0, "{extra:?}");
    search_all(&[]);
    search_all(&["--batch-size", "1"]);
    search_all(&["--io", "buffered"]);
    search_all(&["--spann-eps", "100"]);
    ok(&quarry(&[
        "graph-build",
        "--index",
        s(&idx),
        "--m",
        "8",
        "--ef-construction",
        "16",
    ]));
    for mode in ["graph", "auto", "partial"] {
        search_all(&["--mode", mode]);
    }
    ok(&quarry(&[
        "train-pruning",
        "--index",
        s(&idx),
        "--base",
        s(&base),
        "--learn",
        s(&learn),
        "--train-queries",
        "300",
        "--rounds",
        "10",
        "--label-k",
        "10",
        "--max-nprobe",
        "16",
        "--features-k",
        "4",
    ]));
    // The learned router may probe fewer; it must still answer.
    assert!(search(&["--router", "gbdt", "--target-recall", "0.9"]) >= 1.0);
    ok(&quarry(&[
        "mlp-train",
        "--index",
        s(&idx),
        "--base",
        s(&base),
        "--train",
        s(&learn),
        "--train-queries",
        "300",
        "--epochs",
        "2",
        "--hidden",
        "16",
        "--dup-every",
        "0",
    ]));
    let o = quarry(&[
        "search",
        "--index",
        s(&idx),
        "--queries",
        s(&learn),
        "--router",
        "mlp",
        "--nprobe",
        "16",
    ]);
    ok(&o);
}
