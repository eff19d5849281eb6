//! One writer per index (issue 14, scope 2), across processes: while another process
//! holds an index's writer lock, every writing command fails at once with exit 1 and
//! "index is being changed by another process (pid N)", and leaves the index as it was.

mod common;
use common::*;
use quarry_storage::WriterLock;
use std::time::Instant;

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
    assert!(names.iter().any(|n| n == "graphs.bin"), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("quarry-tmp")), "{names:?}");
}
