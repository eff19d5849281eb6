//! SIGTERM (issue 14, scope 3): a build or a graph-build terminated at seeded random
//! moments exits 143 (or finished first), leaves the old or the new state, and
//! leaves no scratch directory, temp file or uncommitted generation behind.

mod common;
use common::*;

use quarry_engine::{Index, OpenOptions};
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TRIALS: usize = 12;

fn run_and_term(args: &[&str], delay: Duration) -> Option<i32> {
    let child = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .arg("--quiet")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    // SAFETY: kill(2) with a pid we spawned and have not reaped; no memory involved.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    if let Some(code) = out.status.code() {
        if code == 143 {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("interrupted by SIGTERM"), "{err}");
        }
    }
    out.status.code()
}

fn names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn timed(args: &[&str]) -> Duration {
    let t = Instant::now();
    ok(&quarry(args));
    t.elapsed()
}

#[test]
fn sigterm_removes_scratch_and_leaves_old_or_new() {
    let t = tmp();
    let base = fixture("siftsmall_base.bvecs");
    let out = t.path().join("idx");
    let build = [
        "build",
        "--base",
        s(&base),
        "--out",
        s(&out),
        "--partitions",
        "16",
    ];
    let full = timed(&build);
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let (mut termed, mut finished) = (0, 0);
    for _ in 0..TRIALS {
        std::fs::remove_dir_all(&out).unwrap_or(());
        let code = run_and_term(&build, full.mul_f64(rng.random_range(0.05..1.1)));
        match code {
            Some(143) => termed += 1,
            Some(0) => finished += 1,
            other => panic!("build ended with {other:?}"),
        }
        let left: Vec<String> = names(t.path())
            .into_iter()
            .filter(|n| n.contains("quarry-partial"))
            .collect();
        assert!(left.is_empty(), "scratch left after SIGTERM: {left:?}");
        if out.exists() {
            Index::open(&out, OpenOptions::default()).unwrap();
        }
    }
    std::fs::remove_dir_all(&out).unwrap_or(());
    ok(&quarry(&build));
    let gb = [
        "graph-build",
        "--index",
        s(&out),
        "--m",
        "8",
        "--ef-construction",
        "16",
    ];
    let pristine = t.path().join("pristine");
    copy_dir(&out, &pristine);
    let full = timed(&gb);
    for _ in 0..TRIALS {
        copy_dir(&pristine, &out);
        match run_and_term(&gb, full.mul_f64(rng.random_range(0.05..1.1))) {
            Some(143) => termed += 1,
            Some(0) => finished += 1,
            other => panic!("graph-build ended with {other:?}"),
        }
        let idx = Index::open(&out, OpenOptions::default()).unwrap();
        assert_eq!(idx.has_file("graphs.bin"), idx.has_file("pages.crc32c"));
        let v = quarry_engine::verify(&out).unwrap();
        assert!(v.is_ok() && v.leftovers.is_empty(), "{v:?}");
    }
    eprintln!("{termed} terminated, {finished} finished first");
    assert!(termed > 0, "no trial was terminated mid-run");
}
