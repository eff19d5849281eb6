//! Kill matrix of the commands that change an existing index (issue 14, scope 7):
//! every one is SIGKILLed at each rename and each fsync it performs (counted on an
//! uninterrupted run, then injected one at a time with `strace --inject`) and at 20
//! seeded random moments. After every kill the index opens and is the old index or
//! the new one (the command's files all there and valid, or none of them); a rerun
//! then succeeds; and after the rerun no temp file and no file the manifest does not
//! name is left. Needs strace (scripts/setup.sh installs it).

mod common;
use common::*;

use quarry_engine::{Index, OpenOptions, SearchParams, Strategy};
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const RANDOM_KILLS: usize = 20;
const CORE: [&str; 6] = [
    "manifest.json",
    "centroids.bin",
    "partitions.bin",
    "data.bin",
    "members.bin",
    ".quarry-writer.lock",
];

struct Writer {
    name: &'static str,
    /// Arguments after `quarry --quiet`, for the index at the given path.
    args: fn(&Path) -> Vec<String>,
    /// Files the command attaches (all or none after a kill).
    files: &'static [&'static str],
    /// The command needs per-partition graphs in its starting index.
    needs_graphs: bool,
    /// Checks the command's files are usable in an index where they are present.
    usable: fn(&Index),
}

fn writers() -> Vec<Writer> {
    vec![
        Writer {
            name: "graph-build",
            args: |d| {
                argv(&[
                    "graph-build",
                    "--index",
                    s(d),
                    "--m",
                    "8",
                    "--ef-construction",
                    "16",
                ])
            },
            files: &["graphs.bin", "pages.crc32c"],
            needs_graphs: false,
            usable: |idx| {
                let q = vec![10.0f32; 128];
                for st in [Strategy::Graph, Strategy::Partial] {
                    let p = SearchParams::new(5).nprobe(4).strategy(st);
                    assert_eq!(idx.search(&q, &p).unwrap().neighbors.len(), 5);
                }
            },
        },
        Writer {
            name: "train-pruning",
            args: |d| {
                let mut a = argv(&["train-pruning", "--index", s(d), "--base"]);
                a.push(s(&fixture("siftsmall_base.bvecs")).to_string());
                a.extend(argv(&[
                    "--train-queries",
                    "600",
                    "--label-k",
                    "10",
                    "--max-nprobe",
                    "16",
                    "--rounds",
                    "20",
                ]));
                a
            },
            files: &["pruning.model"],
            needs_graphs: false,
            usable: |idx| {
                idx.pruning_model().unwrap();
            },
        },
        Writer {
            name: "mlp-train",
            args: |d| {
                let mut a = argv(&["mlp-train", "--index", s(d), "--base"]);
                a.push(s(&fixture("siftsmall_base.bvecs")).to_string());
                a.extend(argv(&[
                    "--epochs",
                    "2",
                    "--train-queries",
                    "600",
                    "--hidden",
                    "16",
                    "--dup-every",
                    "0",
                ]));
                a
            },
            files: &["router.mlp.safetensors", "router.mlp.json"],
            needs_graphs: false,
            usable: |idx| {
                idx.mlp_model().unwrap();
            },
        },
        Writer {
            name: "dev graph-calibrate --save",
            args: |d| {
                let mut a = argv(&["dev", "graph-calibrate", "--index", s(d), "--queries"]);
                a.push(s(&fixture("siftsmall_query.fvecs")).to_string());
                a.extend(argv(&[
                    "--q",
                    "1,8",
                    "--partitions",
                    "2",
                    "--repeat",
                    "1",
                    "--save",
                ]));
                a
            },
            files: &["cost_model.json"],
            needs_graphs: true,
            usable: |idx| {
                assert!(idx.has_file("cost_model.json"));
                let _ = idx.cost_model();
            },
        },
    ]
}

fn argv(a: &[&str]) -> Vec<String> {
    a.iter().map(|x| x.to_string()).collect()
}

fn quarry_cmd(args: &[String]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_quarry"));
    c.arg("--quiet")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// Renames and fsyncs `args` performs, counted on one full run (strace log at `log`).
fn count_syscalls(args: &[String], log: &Path) -> (usize, usize) {
    let out = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=rename,fsync", "-o", s(log), "--"])
        .arg(env!("CARGO_BIN_EXE_quarry"))
        .arg("--quiet")
        .args(args)
        .stdout(Stdio::null())
        .output()
        .expect("strace is needed by this test: install it (scripts/setup.sh does)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(log).unwrap();
    let count = |call: &str| {
        text.lines()
            .filter(|l| !l.contains("resumed>"))
            .filter(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|w| w.starts_with(&format!("{call}(")))
            })
            .count()
    };
    (count("rename"), count("fsync"))
}

/// Runs `args` with SIGKILL injected at its `when`-th `call` (rename or fsync); true
/// when the kill happened (the command did not succeed).
fn killed_at(args: &[String], call: &str, when: usize) -> bool {
    !Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            &format!("trace={call}"),
        ])
        .arg("-e")
        .arg(format!("inject={call}:signal=SIGKILL:when={when}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_quarry"))
        .arg("--quiet")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// The index at `dir` is the old one or the new one for writer `w`.
fn old_or_new(w: &Writer, dir: &Path, what: &str) -> bool {
    let idx = Index::open(dir, OpenOptions::default())
        .unwrap_or_else(|e| panic!("{}: {what}: index does not open: {e}", w.name));
    let present: Vec<bool> = w.files.iter().map(|f| idx.has_file(f)).collect();
    assert!(
        present.iter().all(|&p| p) || present.iter().all(|&p| !p),
        "{}: {what}: some of {:?} committed: {present:?}",
        w.name,
        w.files
    );
    if present[0] {
        for f in w.files {
            idx.read_file(f)
                .unwrap_or_else(|e| panic!("{}: {what}: {f}: {e}", w.name));
        }
        (w.usable)(&idx);
    }
    present[0]
}

/// After a clean run: the command's files are there, and nothing else is left.
fn clean_after_rerun(w: &Writer, dir: &Path, what: &str) {
    let out = quarry_cmd(&(w.args)(dir)).output().unwrap();
    assert!(
        out.status.success(),
        "{}: {what}: rerun failed: {}",
        w.name,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        old_or_new(w, dir, what),
        "{}: {what}: rerun left no files",
        w.name
    );
    let m = quarry_storage::Manifest::load(dir).unwrap();
    let named: Vec<PathBuf> = m.files.keys().filter_map(|f| m.path_of(dir, f)).collect();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            CORE.contains(&n.as_str()) || named.contains(&p),
            "{}: {what}: leftover {n} after the rerun",
            w.name
        );
    }
}

#[test]
fn every_writer_killed_anywhere_leaves_the_old_or_the_new_index() {
    let t = tmp();
    let plain = t.path().join("plain");
    ok(&quarry(&[
        "build",
        "--base",
        s(&fixture("siftsmall_base.bvecs")),
        "--out",
        s(&plain),
        "--partitions",
        "16",
    ]));
    let with_graphs = t.path().join("with-graphs");
    copy_dir(&plain, &with_graphs);
    ok(&quarry(&[
        "graph-build",
        "--index",
        s(&with_graphs),
        "--m",
        "8",
        "--ef-construction",
        "16",
    ]));
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    let mut report = Vec::new();
    for w in writers() {
        let pristine = if w.needs_graphs { &with_graphs } else { &plain };
        let dir = t.path().join("work");
        let args = (w.args)(&dir);
        // Uninterrupted: count the syscalls and time the run.
        copy_dir(pristine, &dir);
        let (renames, fsyncs) = count_syscalls(&args, &dir.with_extension("strace"));
        assert!(
            renames >= 1 && fsyncs >= 1,
            "{}: {renames} renames, {fsyncs} fsyncs",
            w.name
        );
        copy_dir(pristine, &dir);
        let t0 = Instant::now();
        ok(&quarry_cmd(&args).output().unwrap());
        let full = t0.elapsed();
        let (mut old, mut new) = (0, 0);
        // A kill at each rename and each fsync.
        for (call, n) in [("rename", renames), ("fsync", fsyncs)] {
            for when in 1..=n {
                copy_dir(pristine, &dir);
                assert!(
                    killed_at(&args, call, when),
                    "{}: not killed at {call} #{when}",
                    w.name
                );
                let what = format!("killed at {call} #{when}");
                if old_or_new(&w, &dir, &what) {
                    new += 1;
                } else {
                    old += 1;
                }
                clean_after_rerun(&w, &dir, &what);
            }
        }
        // And at random moments over the run.
        for i in 0..RANDOM_KILLS {
            copy_dir(pristine, &dir);
            let delay = full.mul_f64(rng.random_range(0.0..1.2));
            let mut child = quarry_cmd(&args).spawn().unwrap();
            std::thread::sleep(delay);
            let _ = child.kill();
            let _ = child.wait();
            let what = format!("random kill {i} after {delay:?}");
            if old_or_new(&w, &dir, &what) {
                new += 1;
            } else {
                old += 1;
            }
            clean_after_rerun(&w, &dir, &what);
        }
        report.push(format!(
            "{}: {renames} renames, {fsyncs} fsyncs, {} random kills: {old} old, {new} new ({full:?} per run)",
            w.name, RANDOM_KILLS
        ));
        // The matrix must have seen both outcomes to mean anything.
        assert!(old > 0 && new > 0, "{}", report.last().unwrap());
    }
    eprintln!("{}", report.join("\n"));
}

/// `build` and `split` create new files rather than change an index: killed at each
/// rename and fsync and at 20 random moments, every output is absent or complete, a
/// rerun succeeds, and it leaves no scratch directory or temp file.
#[test]
fn build_and_split_killed_anywhere_leave_nothing_half_made() {
    let t = tmp();
    let base = fixture("siftsmall_base.bvecs");
    let work = t.path().join("work");
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    let mut report = Vec::new();
    for cmd in ["build", "split"] {
        let out = work.join("out");
        let args: Vec<String> = match cmd {
            "build" => argv(&[
                "build",
                "--base",
                s(&base),
                "--out",
                s(&out),
                "--partitions",
                "8",
            ]),
            _ => argv(&[
                "split",
                "--input",
                s(&base),
                "--holdout",
                "100",
                "--learn",
                "500",
                "--queries-out",
                s(&work.join("q.u8bin")),
                "--base-out",
                s(&work.join("b.u8bin")),
                "--learn-out",
                s(&work.join("l.u8bin")),
            ]),
        };
        let fresh = || {
            let _ = std::fs::remove_dir_all(&work);
            std::fs::create_dir_all(&work).unwrap();
        };
        // Outputs complete, or absent; how many are complete.
        let check = |what: &str| -> usize {
            match cmd {
                "build" => {
                    if out.exists() {
                        Index::open(&out, OpenOptions::default())
                            .unwrap_or_else(|e| panic!("build, {what}: {e}"));
                        1
                    } else {
                        0
                    }
                }
                _ => [("q.u8bin", 100), ("b.u8bin", 9900), ("l.u8bin", 500)]
                    .iter()
                    .filter(|(f, rows)| {
                        let p = work.join(f);
                        p.exists() && {
                            let v = quarry_formats::open_vectors(&p)
                                .unwrap_or_else(|e| panic!("split, {what}: {f}: {e}"));
                            assert_eq!(v.len(), *rows, "split, {what}: {f}");
                            true
                        }
                    })
                    .count(),
            }
        };
        let scratch = || -> Vec<String> {
            std::fs::read_dir(&work)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("quarry-partial") || n.contains("quarry-tmp"))
                .collect()
        };
        let rerun = |what: &str| {
            if cmd == "build" && out.exists() {
                return; // complete: a rerun would rightly refuse the existing index
            }
            let o = quarry_cmd(&args).output().unwrap();
            assert!(
                o.status.success(),
                "{cmd}, {what}: rerun: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert_eq!(
                scratch(),
                Vec::<String>::new(),
                "{cmd}, {what}: left after the rerun"
            );
        };
        fresh();
        let log = t.path().join(format!("{cmd}.strace"));
        let (renames, fsyncs) = count_syscalls(&args, &log);
        fresh();
        let t0 = Instant::now();
        ok(&quarry_cmd(&args).output().unwrap());
        let full = t0.elapsed();
        let mut kills = 0;
        for (call, n) in [("rename", renames), ("fsync", fsyncs)] {
            for when in 1..=n {
                fresh();
                assert!(
                    killed_at(&args, call, when),
                    "{cmd}: not killed at {call} #{when}"
                );
                let what = format!("killed at {call} #{when}");
                check(&what);
                rerun(&what);
                kills += 1;
            }
        }
        for i in 0..RANDOM_KILLS {
            fresh();
            let delay = full.mul_f64(rng.random_range(0.0..1.2));
            let mut child = quarry_cmd(&args).spawn().unwrap();
            std::thread::sleep(delay);
            let _ = child.kill();
            let _ = child.wait();
            let what = format!("random kill {i} after {delay:?}");
            check(&what);
            rerun(&what);
            kills += 1;
        }
        report.push(format!(
            "{cmd}: {renames} renames, {fsyncs} fsyncs, {kills} kills, all clean"
        ));
    }
    eprintln!("{}", report.join("\n"));
}
