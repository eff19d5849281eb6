//! One writer per index (issue 14, scope 2), across processes: while another process
//! holds an index's writer lock, every writing command fails at once with exit 1 and
//! "index is being changed by another process (pid N)", and leaves the index as it was.

mod common;
use common::*;
use quarry_storage::WriterLock;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn writing_commands_fail_at_once_while_another_process_writes() {
    let t = tmp();
    let base = t.path().join("base.fbin");
    let mut state = 3u64;
    let data: Vec<f32> = (0..2000 * 16)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect();
    quarry_formats::write_fbin(&base, 16, &data).unwrap();
    let idx = t.path().join("idx");
    ok(&quarry(&[
        "build",
        "--base",
        s(&base),
        "--out",
        s(&idx),
        "--partitions",
        "8",
    ]));
    let manifest = std::fs::read(idx.join("manifest.json")).unwrap();

    // This test process is the other writer.
    let held = WriterLock::acquire(&idx).unwrap();
    let want = format!(
        "index is being changed by another process (pid {})",
        std::process::id()
    );
    for args in [
        vec!["graph-build", "--index", s(&idx)],
        vec!["train-pruning", "--index", s(&idx), "--base", s(&base)],
        vec!["mlp-train", "--index", s(&idx), "--base", s(&base)],
    ] {
        let start = Instant::now();
        let o = quarry(&args);
        fails_with(&o, &want);
        // At once: before any training (which takes far longer than this).
        assert!(start.elapsed().as_secs() < 20, "{args:?} waited");
        assert_eq!(
            std::fs::read(idx.join("manifest.json")).unwrap(),
            manifest,
            "{args:?} changed the index"
        );
    }
    // Searching needs no lock.
    ok(&quarry(&[
        "search",
        "--index",
        s(&idx),
        "--queries",
        s(&base),
        "--limit",
        "5",
        "--nprobe",
        "2",
    ]));

    // Once the other writer is gone, the command runs, and leaves no temp file.
    drop(held);
    ok(&quarry(&[
        "graph-build",
        "--index",
        s(&idx),
        "--m",
        "8",
        "--ef-construction",
        "16",
    ]));
    let names: Vec<String> = std::fs::read_dir(&idx)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("graphs.bin.g")),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains("quarry-tmp")), "{names:?}");
}

/// Two real writer processes: a `graph-build` is caught holding the lock (frozen by
/// SIGSTOP so the overlap is certain, not a matter of timing), and a second
/// `graph-build`, `train-pruning` and `mlp-train` each get the lock error naming its
/// pid; the first then finishes and the index opens with its graphs.
#[test]
fn two_writer_processes_one_gets_the_lock_error() {
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
        "4",
    ]));
    let lock_file = idx.join(quarry_storage::LOCK_FILE);
    let mut caught = false;
    for _attempt in 0..5 {
        let mut first = Command::new(env!("CARGO_BIN_EXE_quarry"))
            .args([
                "--quiet",
                "graph-build",
                "--index",
                s(&idx),
                "--m",
                "16",
                "--ef-construction",
                "400",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = first.id();
        // Wait until it has taken the lock (it writes its pid after locking).
        let start = Instant::now();
        while std::fs::read_to_string(&lock_file).map_or(true, |p| p.trim() != pid.to_string())
            && start.elapsed() < Duration::from_secs(60)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
        if first.try_wait().unwrap().is_some() {
            // Finished before it could be frozen: the overlap was missed, try again.
            continue;
        }
        let want = format!("index is being changed by another process (pid {pid})");
        for args in [
            vec!["graph-build", "--index", s(&idx)],
            vec!["train-pruning", "--index", s(&idx), "--base", s(&base)],
            vec!["mlp-train", "--index", s(&idx), "--base", s(&base)],
        ] {
            fails_with(&quarry(&args), &want);
        }
        // SAFETY: as above.
        unsafe { libc::kill(pid as i32, libc::SIGCONT) };
        let out = first.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        caught = true;
        break;
    }
    assert!(caught, "graph-build never overlapped a second writer");
    let names: Vec<String> = std::fs::read_dir(&idx)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("quarry-tmp")), "{names:?}");
    let index = quarry_engine::Index::open(&idx, quarry_engine::OpenOptions::default()).unwrap();
    assert!(index.has_graphs());
}
