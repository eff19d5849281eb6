//! The command-line contract: outputs scripts rely on, exit codes, one-line errors.

mod common;
use common::*;

use std::path::Path;

fn write_fvecs(path: &Path, dim: usize, rows: &[Vec<f32>]) {
    let mut b = Vec::new();
    for r in rows {
        b.extend_from_slice(&(dim as i32).to_le_bytes());
        r.iter().for_each(|v| b.extend_from_slice(&v.to_le_bytes()));
    }
    std::fs::write(path, b).unwrap();
}

#[test]
fn gt_reproduces_the_shipped_ground_truth_as_sets() {
    let t = tmp();
    let out = t.path().join("gt.ivecs");
    let o = quarry(&[
        "gt",
        "--base",
        s(&fixture("siftsmall_base.bvecs")),
        "--queries",
        s(&fixture("siftsmall_query.fvecs")),
        "--k",
        "100",
        "--out",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ours = quarry_formats::read_ground_truth(&out).unwrap();
    let theirs =
        quarry_formats::read_ground_truth(&fixture("siftsmall_groundtruth.ivecs")).unwrap();
    assert_eq!((ours.n, ours.k), (100, 100));
    for i in 0..100 {
        let (mut a, mut b) = (ours.row(i).to_vec(), theirs.row(i).to_vec());
        a.sort();
        b.sort();
        assert_eq!(a, b, "query {i}");
    }
}

#[test]
fn build_then_search_json_has_the_contract_fields() {
    let t = tmp();
    let idx = t.path().join("idx");
    let o = quarry(&[
        "build",
        "--base",
        s(&fixture("siftsmall_base.bvecs")),
        "--out",
        s(&idx),
        "--partitions",
        "16",
        "--seed",
        "3",
        "--mem-budget-mb",
        "16",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = quarry(&[
        "search",
        "--index",
        s(&idx),
        "--queries",
        s(&fixture("siftsmall_query.fvecs")),
        "--gt",
        s(&fixture("siftsmall_groundtruth.ivecs")),
        "--k",
        "10",
        "--nprobe",
        "16",
        "--batch-size",
        "25",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for f in [
        "recall_at_k",
        "qps",
        "latency_ms_mean",
        "vectors_per_query",
        "bytes_per_query",
        "partitions_per_query",
    ] {
        assert!(v[f].is_number(), "{f} missing in {v}");
    }
    assert_eq!(v["recall_at_k"].as_f64(), Some(1.0));
    assert_eq!(v["partitions_per_query"].as_f64(), Some(16.0));
    // Four batches of 25 each read all 16 partitions once.
    assert_eq!(v["partitions_read_per_query"].as_f64(), Some(64.0 / 100.0));
    assert_eq!(v["io_mode"], "direct");
    let o = quarry(&["info", "--index", s(&idx), "--json"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["num_vectors"], 10_000);
    assert!(v["direct_read_mib_per_s"].is_null());
    // The read test streams every partition through the search I/O pool, verified.
    let o = quarry(&[
        "info",
        "--index",
        s(&idx),
        "--json",
        "--read-test",
        "--io-threads",
        "4",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["direct_read_mib_per_s"].as_f64().unwrap() > 0.0);
    assert!(v["memory"]["total_bytes"].as_u64().unwrap() > 16 * 128 * 4);
}

#[test]
fn demo_runs_and_reports_recall() {
    let t = tmp();
    let o = quarry(&["demo", "--partitions", "16", "--dir", s(t.path())]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("recall@10") && out.contains("1.0000"), "{out}");
}

#[test]
fn errors_are_one_line_with_exit_code_one() {
    let t = tmp();
    let idx = t.path().join("idx");
    assert!(quarry(&[
        "build",
        "--base",
        s(&fixture("siftsmall_base.bvecs")),
        "--out",
        s(&idx),
        "--partitions",
        "4"
    ])
    .status
    .success());
    let q = fixture("siftsmall_query.fvecs");
    let search = |extra: &[&str]| {
        let mut a = vec!["search", "--index", s(&idx), "--queries", s(&q)];
        a.extend_from_slice(extra);
        quarry(&a)
    };
    fails_with(&search(&["--k", "10001"]), "exceeds the 10000 vectors");
    // Flags outside their range are usage errors (exit 2) naming the range.
    for (flag, range) in [
        ("--k", "1..=100000"),
        ("--nprobe", "1..=4294967295"),
        ("--batch-size", "1..=1048576"),
    ] {
        let o = search(&[flag, "0"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{flag}: {err}");
        assert!(
            err.contains(flag) && err.contains(&format!("0 is out of range: use {range}")),
            "{err}"
        );
    }
    fails_with(
        &search(&["--gt", s(&fixture("siftsmall_base.bvecs"))]),
        "siftsmall_base.bvecs",
    );

    // Queries of the wrong dimension.
    let q96 = t.path().join("q96.fvecs");
    write_fvecs(&q96, 96, &[vec![1.0; 96]]);
    fails_with(
        &quarry(&["search", "--index", s(&idx), "--queries", s(&q96)]),
        "queries have 96 dimensions, index expects 128",
    );
    // NaN in the query file: named by file and offset.
    let qnan = t.path().join("qnan.fvecs");
    let mut r = vec![1.0f32; 128];
    r[3] = f32::NAN;
    write_fvecs(&qnan, 128, &[vec![0.0; 128], r]);
    fails_with(
        &quarry(&["search", "--index", s(&idx), "--queries", s(&qnan)]),
        "qnan.fvecs",
    );
    // Truncated query file.
    let qtr = t.path().join("qtr.fvecs");
    let b = std::fs::read(&q).unwrap();
    std::fs::write(&qtr, &b[..b.len() - 7]).unwrap();
    fails_with(
        &quarry(&["search", "--index", s(&idx), "--queries", s(&qtr)]),
        "qtr.fvecs",
    );
    // Not an index; an index missing a file.
    fails_with(
        &quarry(&["search", "--index", s(t.path()), "--queries", s(&q)]),
        "is not a Quarry index",
    );
    std::fs::remove_file(idx.join("centroids.bin")).unwrap();
    fails_with(
        &quarry(&["search", "--index", s(&idx), "--queries", s(&q)]),
        "centroids.bin is missing",
    );
    // Building over an existing directory.
    fails_with(
        &quarry(&[
            "build",
            "--base",
            s(&fixture("siftsmall_base.bvecs")),
            "--out",
            s(&idx),
            "--partitions",
            "4",
        ]),
        "already exists",
    );
    // A bad metric name is a usage error (clap exits 2).
    let o = quarry(&[
        "build",
        "--base",
        "x",
        "--out",
        "y",
        "--partitions",
        "4",
        "--metric",
        "hamming",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

/// `search --out` / `--out-distances` hand the answers over: exact search (every
/// partition probed) writes the shipped ground truth's top-10; a partition too
/// small for k pads rows with -1 / +inf; a wrong extension fails before any work.
#[test]
fn search_writes_result_ids_and_distances() {
    let t = tmp();
    let idx = t.path().join("idx");
    ok(&quarry(&[
        "build",
        "--base",
        s(&fixture("siftsmall_base.bvecs")),
        "--out",
        s(&idx),
        "--partitions",
        "16",
    ]));
    let (ids, dists) = (t.path().join("r.ivecs"), t.path().join("d.fbin"));
    let q = fixture("siftsmall_query.fvecs");
    ok(&quarry(&[
        "search",
        "--index",
        s(&idx),
        "--queries",
        s(&q),
        "--k",
        "10",
        "--nprobe",
        "16",
        "--out",
        s(&ids),
        "--out-distances",
        s(&dists),
    ]));
    let bytes = std::fs::read(&ids).unwrap();
    assert_eq!(bytes.len(), 100 * 44);
    let truth = quarry_formats::read_ground_truth(&fixture("siftsmall_groundtruth.ivecs")).unwrap();
    let d = std::fs::read(&dists).unwrap();
    assert_eq!(&d[..8], &[100, 0, 0, 0, 10, 0, 0, 0]);
    for i in 0..100 {
        let row = &bytes[i * 44..(i + 1) * 44];
        assert_eq!(i32::from_le_bytes(row[..4].try_into().unwrap()), 10);
        let mut got: Vec<u32> = row[4..]
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes(b.try_into().unwrap()) as u32)
            .collect();
        let mut want = truth.row(i)[..10].to_vec();
        got.sort();
        want.sort();
        assert_eq!(got, want, "query {i}");
        let ds: Vec<f32> = d[8 + i * 40..8 + (i + 1) * 40]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert!(
            ds.windows(2).all(|w| w[0] <= w[1]),
            "query {i}: distances ascend"
        );
    }
    // One partition of ~625 vectors cannot fill k = 700: padded rows.
    let (ids2, d2) = (t.path().join("r.ibin"), t.path().join("d.fvecs"));
    ok(&quarry(&[
        "search",
        "--index",
        s(&idx),
        "--queries",
        s(&q),
        "--k",
        "700",
        "--nprobe",
        "1",
        "--out",
        s(&ids2),
        "--out-distances",
        s(&d2),
    ]));
    let b = std::fs::read(&ids2).unwrap();
    let last_id = i32::from_le_bytes(b[8 + 699 * 4..8 + 700 * 4].try_into().unwrap());
    assert_eq!(last_id, -1);
    let dv = std::fs::read(&d2).unwrap();
    let last_d = f32::from_le_bytes(dv[4 + 699 * 4..4 + 700 * 4].try_into().unwrap());
    assert_eq!(last_d, f32::INFINITY);
    let o = quarry(&[
        "search",
        "--index",
        s(&idx),
        "--queries",
        s(&q),
        "--out",
        s(&t.path().join("r.txt")),
    ]);
    fails_with(&o, "use a .ivecs or .ibin file");
}
