//! Crash safety of `quarry build`: SIGKILL at seeded random moments. After every kill
//! the destination holds no directory or a complete index (byte-identical to an
//! uninterrupted build with the same seed, opens, and a full search is exact); a
//! rerun of the same build to the same destination then succeeds, removing the stale
//! `.NAME.PID.quarry-partial` the kill left.
//!
//! Timing: a full build is measured first (wall time W, and the write phase w from
//! the `--json` report). The index directory exists only during the write phase, the
//! last few percent of W, so 40% of the kills are uniform over [0, W] and 60% uniform
//! over the write phase and its surroundings, [W - 2w - 4 ms, W + 1 ms]. The delays
//! are seeded; the number of trials is 50, or up to 100 while within 12 s.

mod common;
use common::*;

use quarry_engine::{Index, IoMode, OpenOptions, SearchParams};
use quarry_formats::{read_ground_truth, read_queries};
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// At least MIN_TRIALS kills; more, up to MAX_TRIALS, while the test is within
/// BUDGET (a loaded machine makes every build slower).
const MIN_TRIALS: usize = 50;
const MAX_TRIALS: usize = 100;
const BUDGET: Duration = Duration::from_secs(12);
const PARTS: usize = 16;
const INDEX_FILES: [&str; 5] = [
    "manifest.json",
    "centroids.bin",
    "partitions.bin",
    "data.bin",
    "members.bin",
];

/// The build under test: default training; 2 MiB of budget gives two write passes
/// (and a sample bounded by the budget).
fn build_cmd(out: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_quarry"));
    c.args([
        "--quiet",
        "build",
        "--base",
        s(&fixture("siftsmall_base.bvecs")),
        "--out",
        s(out),
        "--partitions",
        &PARTS.to_string(),
        "--mem-budget-mb",
        "2",
        "--json",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    c
}

fn read_index(dir: &Path) -> Vec<Vec<u8>> {
    INDEX_FILES
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect()
}

/// A complete index: the reference bytes, and a search probing everything is exact.
fn check_complete(dir: &Path, reference: &[Vec<u8>], queries: &[f32], truth: &[Vec<u32>]) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut want: Vec<String> = INDEX_FILES.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(names, want, "files of {}", dir.display());
    assert!(
        read_index(dir) == reference,
        "index differs from the reference build"
    );
    let idx = Index::open(
        dir,
        OpenOptions {
            io: IoMode::Direct,
            ..Default::default()
        },
    )
    .unwrap();
    let res = idx
        .search_batch(queries, &SearchParams::new(10).nprobe(PARTS))
        .unwrap();
    for (i, (got, want)) in res.neighbors.iter().zip(truth).enumerate() {
        let mut got: Vec<u32> = got.iter().map(|n| n.id as u32).collect();
        let mut want = want.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want, "query {i}");
    }
}

#[test]
fn sigkill_during_build_leaves_no_index_or_a_complete_one() {
    let t = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let parent = t.path().join("out");
    std::fs::create_dir(&parent).unwrap();
    let dest = parent.join("idx");
    // The writer's scratch directory: `.idx.PID.quarry-partial`, PID the build's.
    let is_partial = |p: &Path| {
        p.parent() == Some(parent.as_path())
            && p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix(".idx."))
                .and_then(|n| n.strip_suffix(".quarry-partial"))
                .is_some_and(|pid| pid.parse::<u32>().is_ok())
    };
    let partials = || {
        std::fs::read_dir(&parent)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| is_partial(p))
            .count()
    };
    let q = read_queries(&fixture("siftsmall_query.fvecs")).unwrap();
    let gt = read_ground_truth(&fixture("siftsmall_groundtruth.ivecs")).unwrap();
    let truth: Vec<Vec<u32>> = (0..q.n).map(|i| gt.row(i)[..10].to_vec()).collect();

    // Reference build, timed (the best of two, to dodge a cold start).
    let mut wall = Duration::MAX;
    let mut write = 0.0f64;
    for _ in 0..2 {
        let _ = std::fs::remove_dir_all(&dest);
        let start = Instant::now();
        let out = build_cmd(&dest).output().unwrap();
        let w = start.elapsed();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if w < wall {
            wall = w;
            write = report["write_secs"].as_f64().unwrap();
        }
    }
    let reference = read_index(&dest);
    check_complete(&dest, &reference, &q.data, &truth);
    std::fs::remove_dir_all(&dest).unwrap();
    let write = Duration::from_secs_f64(write);
    let window_lo = wall.saturating_sub(2 * write + Duration::from_millis(4));
    let window_hi = wall + Duration::from_millis(1);

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0xC0FFEE);
    let (mut none, mut stale, mut complete, mut reruns) = (0, 0, 0, 0);
    let t0 = Instant::now();
    let mut trials = 0;
    while trials < MIN_TRIALS || (trials < MAX_TRIALS && t0.elapsed() < BUDGET) {
        let trial = trials;
        trials += 1;
        let delay = if rng.random_bool(0.4) {
            rng.random_range(Duration::ZERO..=wall)
        } else {
            rng.random_range(window_lo..=window_hi)
        };
        let mut child = build_cmd(&dest).spawn().unwrap();
        std::thread::sleep(delay);
        // SIGKILL on unix; an error only means the build already exited.
        let _ = child.kill();
        let status = child.wait().unwrap();
        assert!(
            status.success() || status.code().is_none(),
            "trial {trial}: build failed on its own: {status}"
        );
        // Nothing but the destination and the writer's scratch directory may appear.
        for e in std::fs::read_dir(&parent).unwrap() {
            let p = e.unwrap().path();
            assert!(
                p == dest || is_partial(&p),
                "trial {trial}: stray {}",
                p.display()
            );
        }
        if dest.exists() {
            complete += 1;
            check_complete(&dest, &reference, &q.data, &truth);
            std::fs::remove_dir_all(&dest).unwrap();
        } else if partials() > 0 {
            // Killed while writing: the stale scratch directory must not stop a rerun.
            stale += 1;
            reruns += 1;
            let out = build_cmd(&dest).output().unwrap();
            assert!(
                out.status.success(),
                "trial {trial}: rerun failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                partials() == 0,
                "trial {trial}: rerun left the scratch directory"
            );
            check_complete(&dest, &reference, &q.data, &truth);
            std::fs::remove_dir_all(&dest).unwrap();
        } else {
            none += 1;
        }
    }
    // A final rerun after the last kill, whatever it left.
    let out = build_cmd(&dest).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_complete(&dest, &reference, &q.data, &truth);
    println!(
        "build wall {:.0} ms (write phase {:.1} ms); {trials} kills in {:.1} s: \
         {none} left nothing, {stale} left only the scratch directory (rerun ok), \
         {complete} left a complete index; {}/{trials} safe, {reruns} reruns",
        wall.as_secs_f64() * 1e3,
        write.as_secs_f64() * 1e3,
        t0.elapsed().as_secs_f64(),
        none + stale + complete
    );
    assert_eq!(none + stale + complete, trials);
    assert!(trials >= MIN_TRIALS);
}
