//! One writer per index (issue 14, scope 2): every engine operation that changes an
//! index holds its writer lock, and a second writer fails at once with a clear error
//! instead of racing on the manifest.

mod common;
use common::tmp;
use quarry_engine::{
    build_index, BuildConfig, EngineError, HnswParams, Index, Metric, NoProgress, OpenOptions,
};
use quarry_storage::{StorageError, WriterLock};

const DIM: usize = 8;

fn small_index(t: &tempfile::TempDir) -> (std::path::PathBuf, std::path::PathBuf) {
    let base = t.path().join("base.fbin");
    common::write_uniform_fbin(&base, 600, DIM, 5);
    let dir = t.path().join("idx");
    build_index(&base, &dir, &BuildConfig::new(4, Metric::L2), &NoProgress).unwrap();
    (dir, base)
}

fn is_locked(e: &EngineError) -> bool {
    let msg = e.to_string();
    matches!(e, EngineError::Storage(StorageError::Locked { .. }))
        && msg.contains("index is being changed by another process")
        && msg.contains(&format!("(pid {})", std::process::id()))
}

fn params() -> HnswParams {
    HnswParams {
        m: 8,
        ef_construction: 16,
        seed: 1,
    }
}

#[test]
fn a_second_writer_gets_the_lock_error_at_once() {
    let t = tmp();
    let (dir, base) = small_index(&t);
    let mut first = Index::open(&dir, OpenOptions::default()).unwrap();
    first.lock_writer().unwrap();
    assert!(first.holds_writer_lock());
    // Taking it again from the same handle is fine.
    first.lock_writer().unwrap();

    let mut second = Index::open(&dir, OpenOptions::default()).unwrap();
    let e = second.build_graphs(params(), &NoProgress).unwrap_err();
    assert!(is_locked(&e), "{e}");
    let e = second.attach_file("x.bin", b"x", None).unwrap_err();
    assert!(is_locked(&e), "{e}");
    // (Training a router takes the same lock: see quarry-learn's writer_lock test.)
    let _ = &base;
    let e = second.lock_writer().unwrap_err();
    assert!(is_locked(&e), "{e}");
    assert!(!second.has_file("x.bin") && !second.has_graphs());
    // Readers need no lock: searching while a writer holds it works.
    let q = vec![0.5f32; DIM];
    second
        .search(&q, &quarry_engine::SearchParams::new(3).nprobe(2))
        .unwrap();

    // The holder writes; once it lets go, the other writer proceeds.
    first.build_graphs(params(), &NoProgress).unwrap();
    assert!(
        first.holds_writer_lock(),
        "an explicit lock outlives the call"
    );
    first.unlock_writer();
    second.build_graphs(params(), &NoProgress).unwrap();
    // An operation that took the lock for itself releases it afterwards.
    assert!(!second.holds_writer_lock());
    let _held = WriterLock::acquire(&dir).unwrap();
    drop(_held);
    // No temp file is left behind.
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.contains("quarry-tmp"), "{name}");
    }
    Index::open(&dir, OpenOptions::default()).unwrap();
}
