//! Bounded numeric flags (issue 14, defect 5 / scope 4): out-of-range values are
//! usage errors (exit 2) naming the flag and its range, before any work: no 800 GB
//! allocation for `--ef 100000000000`, no 100,000 threads for `--threads 100000`,
//! no panic for `--io-threads 10000`.

mod common;
use common::*;
use std::process::Output;

fn usage_error(o: &Output, flag: &str, range: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{flag}: {err}");
    assert!(err.contains(flag), "{flag}: {err}");
    assert!(
        err.contains(&format!("is out of range: use {range}")),
        "{flag}: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn out_of_range_flags_are_usage_errors_with_the_range() {
    let t = tmp();
    let q = fixture("siftsmall_query.fvecs");
    let idx = t.path().join("missing-index");
    let search = |extra: &[&str]| {
        let mut args = vec!["search", "--index", s(&idx), "--queries", s(&q)];
        args.extend_from_slice(extra);
        quarry(&args)
    };
    usage_error(&search(&["--ef", "100000000000"]), "--ef", "1..=65536");
    usage_error(
        &search(&["--io-threads", "10000"]),
        "--io-threads",
        "1..=256",
    );
    usage_error(&search(&["--io-threads", "0"]), "--io-threads", "1..=256");
    usage_error(&search(&["--k", "0"]), "--k", "1..=100000");
    usage_error(&search(&["--k", "100000000"]), "--k", "1..=100000");
    usage_error(&search(&["--nprobe", "0"]), "--nprobe", "1..=4294967295");
    usage_error(
        &search(&["--batch-size", "0"]),
        "--batch-size",
        "1..=1048576",
    );
    usage_error(
        &search(&["--batch-size", "100000000000"]),
        "--batch-size",
        "1..=1048576",
    );
    // --threads is global: a few times the cores at most.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let max = (4 * cores).min(1024);
    let o = quarry(&["--threads", "100000", "info", "--index", s(&idx)]);
    usage_error(&o, "--threads", &format!("1..={max}"));
    let o = quarry(&["info", "--index", s(&idx), "--threads", "0"]);
    usage_error(&o, "--threads", &format!("1..={max}"));
    let o = quarry(&["info", "--index", s(&idx), "--io-threads", "10000"]);
    usage_error(&o, "--io-threads", "1..=256");
    let o = quarry(&[
        "graph-build",
        "--index",
        s(&idx),
        "--ef-construction",
        "100000000000",
    ]);
    usage_error(&o, "--ef-construction", "1..=65536");
    let o = quarry(&[
        "mlp-train",
        "--index",
        s(&idx),
        "--base",
        s(&q),
        "--hidden",
        "100000",
    ]);
    usage_error(&o, "--hidden", "1..=8192");
    // In range, the command runs and fails only on the missing index.
    let o = quarry(&["--threads", &max.to_string(), "info", "--index", s(&idx)]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    // Lists in bench are checked the same way (a one-line error, exit 1).
    let gt = fixture("siftsmall_groundtruth.ivecs");
    let bench = |extra: &[&str]| {
        let mut args = vec![
            "bench",
            "--index",
            s(&idx),
            "--queries",
            s(&q),
            "--gt",
            s(&gt),
            "--out-dir",
            s(t.path()),
        ];
        args.extend_from_slice(extra);
        quarry(&args)
    };
    fails_with(
        &bench(&["--mode", "graph", "--ef", "64,100000000000"]),
        "--ef: 100000000000 is out of range: use 1..=65536",
    );
    fails_with(
        &bench(&["--batch-sizes", "1,100000000000"]),
        "--batch-sizes: 100000000000 is out of range",
    );
}
