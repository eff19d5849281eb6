//! A full disk (issue 14, defect 7): ENOSPC injected (strace --inject) into each
//! write of `build` and of `graph-build` in turn. Every time: exit 1 with the
//! system's message, the destination unchanged (no index for a build; the old index
//! for graph-build), and no scratch directory or temp file left to keep the disk full.

mod common;
use common::*;

use std::path::Path;
use std::process::Command;

/// Writes (to files, not stdout/stderr) a command performs, from one clean run.
fn file_writes(args: &[&str], log: &Path) -> usize {
    let o = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=write", "-o", s(log), "--"])
        .arg(env!("CARGO_BIN_EXE_quarry"))
        .arg("--quiet")
        .args(args)
        .output()
        .expect("strace is needed by this test: install it (scripts/setup.sh does)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|c| {
            c.starts_with("write(") && !c.starts_with("write(1,") && !c.starts_with("write(2,")
        })
        .count()
}

fn with_enospc_at(args: &[&str], when: usize) -> std::process::Output {
    Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=write", "-e"])
        .arg(format!("inject=write:error=ENOSPC:when={when}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_quarry"))
        .arg("--quiet")
        .args(args)
        .output()
        .unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_full_disk_at_any_write_leaves_nothing_behind() {
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
        "8",
    ];
    let n = file_writes(&build, &t.path().join("build.log"));
    std::fs::remove_dir_all(&out).unwrap();
    std::fs::remove_file(t.path().join("build.log")).unwrap();
    assert!(n >= 3, "{n} writes");
    // stdout and stderr writes come after the data: the first n writes are the files'.
    for when in 1..=n {
        let o = with_enospc_at(&build, when);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "write {when}: {err}");
        assert!(
            err.contains("No space left on device"),
            "write {when}: {err}"
        );
        assert_eq!(
            names(t.path()),
            Vec::<String>::new(),
            "write {when}: leftovers"
        );
    }
    ok(&quarry(&build));
    let before = names(&out);
    let manifest = std::fs::read(out.join("manifest.json")).unwrap();
    let gb = [
        "graph-build",
        "--index",
        s(&out),
        "--m",
        "8",
        "--ef-construction",
        "16",
    ];
    let copy = t.path().join("probe");
    copy_dir(&out, &copy);
    let probe = [
        "graph-build",
        "--index",
        s(&copy),
        "--m",
        "8",
        "--ef-construction",
        "16",
    ];
    let n = file_writes(&probe, &t.path().join("gb.log"));
    assert!(n >= 3, "{n} writes");
    for when in 1..=n {
        let o = with_enospc_at(&gb, when);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "write {when}: {err}");
        assert!(
            err.contains("No space left on device"),
            "write {when}: {err}"
        );
        let mut now = names(&out);
        now.retain(|n| n != ".quarry-writer.lock");
        let mut was = before.clone();
        was.retain(|n| n != ".quarry-writer.lock");
        assert_eq!(now, was, "write {when}: files changed or were left");
        assert_eq!(std::fs::read(out.join("manifest.json")).unwrap(), manifest);
    }
    ok(&quarry(&gb));
}
