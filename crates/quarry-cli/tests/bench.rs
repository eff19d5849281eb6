//! `quarry synth` and `quarry bench`: determinism, output shape, result files, bad input.

mod common;
use common::*;

use serde_json::Value;
use std::path::{Path, PathBuf};

fn synth(dir: &Path, base: &str, queries: &str, seed: &str) -> (PathBuf, PathBuf) {
    let (b, q) = (dir.join(base), dir.join(queries));
    ok(&quarry(&[
        "synth",
        "--out",
        s(&b),
        "--n",
        "3000",
        "--dim",
        "24",
        "--clusters",
        "10",
        "--queries",
        "50",
        "--queries-out",
        s(&q),
        "--seed",
        seed,
        "--spread",
        "0.08",
    ]));
    (b, q)
}

fn header(bytes: &[u8]) -> (u32, u32) {
    let n = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    let d = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
    (n, d)
}

#[test]
fn synth_is_deterministic_and_has_the_asked_shape() {
    let t = tmp();
    let (b1, q1) = synth(t.path(), "a.u8bin", "qa.u8bin", "7");
    let (b2, q2) = synth(t.path(), "b.u8bin", "qb.u8bin", "7");
    let (b3, _) = synth(t.path(), "c.u8bin", "qc.u8bin", "8");
    let (base, queries) = (std::fs::read(&b1).unwrap(), std::fs::read(&q1).unwrap());
    assert_eq!(
        base,
        std::fs::read(&b2).unwrap(),
        "same seed, different base"
    );
    assert_eq!(
        queries,
        std::fs::read(&q2).unwrap(),
        "same seed, different queries"
    );
    assert_ne!(base, std::fs::read(&b3).unwrap(), "seed ignored");
    assert_eq!(header(&base), (3000, 24));
    assert_eq!(base.len(), 8 + 3000 * 24);
    assert_eq!(header(&queries), (50, 24));
    assert_eq!(queries.len(), 8 + 50 * 24);
    // Queries are fresh draws, not copies of base rows.
    let rows: std::collections::HashSet<&[u8]> = base[8..].chunks(24).collect();
    assert!(queries[8..].chunks(24).all(|q| !rows.contains(q)));
    // Values use the byte range rather than collapsing to a constant.
    let (lo, hi) = (base[8..].iter().min(), base[8..].iter().max());
    assert!(hi.unwrap() - lo.unwrap() > 100, "{lo:?}..{hi:?}");

    // f32 output: readable, same shape, clustered (per-coordinate spread near --spread).
    let (fb, fq) = synth(t.path(), "f.fbin", "qf.fbin", "7");
    let v = quarry_formats::read_queries(&fb).unwrap();
    assert_eq!((v.n, v.dim), (3000, 24));
    assert_eq!(quarry_formats::read_queries(&fq).unwrap().n, 50);
    assert!(v.data.iter().all(|x| (-1.0..2.0).contains(x)));
}

#[test]
fn bench_on_siftsmall_writes_jsonl_csv_and_a_table() {
    let t = tmp();
    let idx = t.path().join("idx");
    ok(&quarry(&[
        "build",
        "--base",
        s(&fixture("siftsmall_base.bvecs")),
        "--out",
        s(&idx),
        "--partitions",
        "8",
    ]));
    let out_dir = t.path().join("results");
    let run = |label: &str| {
        quarry(&[
            "bench",
            "--index",
            s(&idx),
            "--queries",
            s(&fixture("siftsmall_query.fvecs")),
            "--gt",
            s(&fixture("siftsmall_groundtruth.ivecs")),
            "--k",
            "10",
            "--nprobe",
            "1,8",
            "--batch-sizes",
            "25,100",
            "--single-limit",
            "20",
            "--label",
            label,
            "--out-dir",
            s(&out_dir),
        ])
    };
    let o = run("first");
    ok(&o);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.lines().next().unwrap().contains("R@10"), "{table}");
    assert_eq!(table.lines().count(), 1 + 4, "{table}");

    let lines: Vec<Value> = std::fs::read_to_string(out_dir.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    for v in &lines {
        for f in [
            "label",
            "k",
            "recall_at_1",
            "recall_at_10",
            "recall_at_100",
            "qps",
            "latency_ms_mean",
            "latency_ms_p50",
            "latency_ms_p99",
            "vectors_per_query",
            "bytes_per_query",
            "partitions_per_query",
            "io_mode",
            "threads",
            "batch_size",
            "rss_mb",
        ] {
            assert!(v.get(f).is_some(), "missing {f} in {v}");
        }
        let c = &v["config"];
        for f in ["nprobe", "router", "partitions", "index"] {
            assert!(c.get(f).is_some(), "missing config.{f} in {v}");
        }
        assert_eq!(c["partitions"], 8);
        assert_eq!(c["router"], "fixed");
        assert_eq!(v["label"], "first");
        assert_eq!(v["k"], 10);
        assert_eq!(v["io_mode"], "direct");
        assert!(v["recall_at_100"].is_null(), "k=10 has no recall@100: {v}");
        assert!(v["qps"].as_f64().unwrap() > 0.0);
        let (p50, p99) = (
            v["latency_ms_p50"].as_f64().unwrap(),
            v["latency_ms_p99"].as_f64().unwrap(),
        );
        assert!(p50 > 0.0 && p50 <= p99, "{v}");
        let r1 = v["recall_at_1"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&r1));
    }
    let at = |np: u64, b: u64| {
        lines
            .iter()
            .find(|v| v["config"]["nprobe"] == np && v["batch_size"] == b)
            .unwrap_or_else(|| panic!("no point nprobe {np} batch {b}"))
    };
    for b in [25, 100] {
        // Probing every partition is exact search.
        assert_eq!(at(8, b)["recall_at_10"].as_f64(), Some(1.0));
        assert_eq!(at(8, b)["recall_at_1"].as_f64(), Some(1.0));
        assert_eq!(at(8, b)["partitions_per_query"].as_f64(), Some(8.0));
        assert_eq!(at(1, b)["partitions_per_query"].as_f64(), Some(1.0));
        assert!(at(1, b)["recall_at_10"].as_f64() < Some(1.0));
    }
    // Results do not depend on the batch size.
    assert_eq!(at(1, 25)["recall_at_10"], at(1, 100)["recall_at_10"]);

    // A second run appends; the csv is rewritten from the whole jsonl.
    ok(&run("second"));
    let jsonl = std::fs::read_to_string(out_dir.join("results.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 8);
    let csv = std::fs::read_to_string(out_dir.join("results.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 1 + 8, "{csv}");
    let head: Vec<&str> = rows[0].split(',').collect();
    for f in [
        "label",
        "nprobe",
        "router",
        "partitions",
        "index",
        "recall_at_10",
        "recall_at_100",
        "qps",
        "latency_ms_p99",
    ] {
        assert!(head.contains(&f), "csv header lacks {f}: {}", rows[0]);
    }
    let col = |name: &str| head.iter().position(|h| *h == name).unwrap();
    for r in &rows[1..] {
        let cells: Vec<&str> = r.split(',').collect();
        assert_eq!(cells.len(), head.len(), "{r}");
        assert_eq!(cells[col("recall_at_100")], "", "{r}");
    }
    assert!(rows[1].starts_with("first,") && rows[8].starts_with("second,"));

    // The results plot: three figures, PNG and SVG each, one line per label.
    let plots = t.path().join("plots");
    let jsonl = out_dir.join("results.jsonl");
    ok(&quarry(&[
        "plot",
        "--input",
        s(&jsonl),
        "--out-dir",
        s(&plots),
        "--title",
        "SIFT10K",
    ]));
    for f in ["recall_vs_qps", "recall_vs_bytes", "recall1_vs_vectors"] {
        let png = std::fs::read(plots.join(format!("{f}.png"))).unwrap();
        assert_eq!(&png[1..4], b"PNG", "{f}.png");
        let svg = std::fs::read_to_string(plots.join(format!("{f}.svg"))).unwrap();
        assert!(
            svg.contains("<svg") && svg.contains("first") && svg.contains("second"),
            "{f}.svg"
        );
    }
    let junk = t.path().join("junk.jsonl");
    std::fs::write(&junk, "not json\n").unwrap();
    fails_with(
        &quarry(&["plot", "--input", s(&junk), "--out-dir", s(&plots)]),
        "junk.jsonl:1: not a JSON object",
    );
    fails_with(
        &quarry(&[
            "plot",
            "--input",
            s(&jsonl),
            "--out-dir",
            s(&plots),
            "--k",
            "5",
        ]),
        "--k 5",
    );
}

#[test]
fn bench_rejects_bad_sweeps_with_one_line() {
    let t = tmp();
    let base = [
        "bench",
        "--index",
        "does-not-matter",
        "--queries",
        "q.fvecs",
        "--gt",
        "gt.ivecs",
        "--out-dir",
    ];
    let out = t.path().join("out");
    let with = |extra: &[&str]| {
        let mut args: Vec<&str> = base.to_vec();
        args.push(s(&out));
        args.extend_from_slice(extra);
        quarry(&args)
    };
    fails_with(&with(&["--nprobe", ""]), "--nprobe is empty");
    fails_with(&with(&["--nprobe", " , "]), "--nprobe is empty");
    fails_with(&with(&["--nprobe", "1,0,4"]), "0 is not allowed");
    fails_with(&with(&["--nprobe", "4,x"]), "'x' is not a positive integer");
    fails_with(&with(&["--batch-sizes", "0"]), "0 is not allowed");
    // Nothing was written for a rejected sweep.
    assert!(!out.exists());
}

#[test]
fn bench_rejects_nprobe_beyond_the_partitions() {
    let t = tmp();
    let (b, q) = synth(t.path(), "b.u8bin", "q.u8bin", "1");
    let (idx, gt) = (t.path().join("idx"), t.path().join("gt.ibin"));
    ok(&quarry(&[
        "build",
        "--base",
        s(&b),
        "--out",
        s(&idx),
        "--partitions",
        "4",
    ]));
    ok(&quarry(&[
        "gt",
        "--base",
        s(&b),
        "--queries",
        s(&q),
        "--k",
        "100",
        "--out",
        s(&gt),
    ]));
    let o = quarry(&[
        "bench",
        "--index",
        s(&idx),
        "--queries",
        s(&q),
        "--gt",
        s(&gt),
        "--nprobe",
        "2,16",
        "--out-dir",
        s(&t.path().join("out")),
    ]);
    fails_with(&o, "exceeds the 4 partitions");
    // k = 100 against top-100 ground truth: recall@100 is reported.
    let out = t.path().join("out2");
    ok(&quarry(&[
        "bench",
        "--index",
        s(&idx),
        "--queries",
        s(&q),
        "--gt",
        s(&gt),
        "--k",
        "100",
        "--nprobe",
        "4",
        "--single-limit",
        "5",
        "--io",
        "buffered",
        "--out-dir",
        s(&out),
    ]));
    let line = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    let v: Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["recall_at_100"].as_f64(), Some(1.0), "{v}");
    assert_eq!(v["io_mode"], "buffered");
    assert_eq!(v["label"], "idx");
}

/// `--shape mixture`: the same bytes whatever the thread count (chunks have their
/// own random streams), and its clusters really differ in size.
#[test]
fn mixture_synth_is_deterministic_across_threads_and_uneven() {
    let t = tmp();
    let run = |name: &str, threads: &str| {
        let (b, q) = (
            t.path().join(format!("{name}.fbin")),
            t.path().join(format!("{name}q.fbin")),
        );
        ok(&quarry(&[
            "--threads",
            threads,
            "synth",
            "--shape",
            "mixture",
            "--out",
            s(&b),
            "--n",
            "40000",
            "--dim",
            "8",
            "--clusters",
            "20",
            "--queries",
            "30",
            "--queries-out",
            s(&q),
            "--spread",
            "0.01",
        ]));
        (std::fs::read(&b).unwrap(), std::fs::read(&q).unwrap())
    };
    let (b1, q1) = run("one", "1");
    let (b2, q2) = run("two", "2");
    assert_eq!(b1, b2, "base differs between 1 and 2 threads");
    assert_eq!(q1, q2, "queries differ between 1 and 2 threads");
    assert_eq!(header(&b1), (40000, 8));
    // Cluster sizes: vectors bucketed by their coordinates rounded to 0.1 (a
    // cluster's spread is ~0.01-0.03); log-normal weights make the fullest bucket
    // hold several times the mean.
    let v: Vec<f32> = b1[8..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let mut buckets = std::collections::HashMap::new();
    for row in v.chunks_exact(8) {
        let key: Vec<i32> = row.iter().map(|x| (x * 10.0).round() as i32).collect();
        *buckets.entry(key).or_insert(0usize) += 1;
    }
    let max = *buckets.values().max().unwrap() as f64;
    let mean = 40000.0 / buckets.len() as f64;
    assert!(
        max > 3.0 * mean,
        "max bucket {max} vs mean {mean}: sizes look even"
    );
}
