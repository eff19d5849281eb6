use quarry_kernels::{DType, Metric};
use quarry_storage::{
    files, open_store, AlignedBuf, IndexFiles, IndexWriter, IoMode, IoPool, PartitionPayload,
    PartitionView, StorageError, WriterLock,
};
use std::path::Path;

fn tmp() -> tempfile::TempDir {
    // Under target/: /tmp may be a tmpfs without O_DIRECT.
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

/// Three partitions of f32 vectors, dim 5; partition p holds ids p*100 + i.
fn write_index(dir: &Path) -> Vec<Vec<(u64, Vec<f32>)>> {
    let dim = 5;
    let mut w = IndexWriter::create(dir, dim, DType::F32, Metric::L2).unwrap();
    w.write_centroids(&vec![0.5f32; 3 * dim]).unwrap();
    let mut parts = Vec::new();
    for (p, count) in [3usize, 0, 1000].into_iter().enumerate() {
        let rows: Vec<(u64, Vec<f32>)> = (0..count)
            .map(|i| {
                (
                    (p * 100 + i) as u64,
                    (0..dim).map(|j| (i * dim + j) as f32 * 0.25).collect(),
                )
            })
            .collect();
        let ids: Vec<u64> = rows.iter().map(|r| r.0).collect();
        let bytes: Vec<u8> = rows
            .iter()
            .flat_map(|r| r.1.iter().flat_map(|v| v.to_le_bytes()))
            .collect();
        w.append_partition(PartitionPayload {
            ids: &ids,
            vectors: &bytes,
        })
        .unwrap();
        parts.push(rows);
    }
    w.finish(serde_json::json!({"seed": 1}), vec![]).unwrap();
    parts
}

#[test]
fn written_partitions_read_back_through_both_backends() {
    let t = tmp();
    let dir = t.path().join("idx");
    let parts = write_index(&dir);
    let files = IndexFiles::open(&dir).unwrap();
    assert_eq!(files.manifest.num_vectors, 1003);
    assert_eq!(files.table.len(), 3);
    for mode in [IoMode::Direct, IoMode::Buffered] {
        let store = open_store(&files, mode).unwrap();
        for (p, rows) in parts.iter().enumerate() {
            let mut buf = AlignedBuf::new();
            store.read_into(p as u32, &mut buf).unwrap();
            assert_eq!(buf.len() % 4096, 0);
            let v = PartitionView::parse(buf.as_slice(), rows.len(), 5, DType::F32).unwrap();
            let vecs: &[f32] = v.vectors();
            for (i, (id, x)) in rows.iter().enumerate() {
                assert_eq!(v.id(i), *id);
                assert_eq!(&vecs[i * 5..i * 5 + 5], &x[..]);
            }
        }
        // The pool returns every requested partition once.
        let pool = IoPool::new(4).unwrap();
        let mut got: Vec<u32> = pool
            .stream(store.clone(), &[2, 0, 1], 2)
            .map(|r| r.unwrap().pid)
            .collect();
        got.sort();
        assert_eq!(got, vec![0, 1, 2]);
    }
}

#[test]
fn same_input_gives_identical_bytes() {
    let t = tmp();
    write_index(&t.path().join("a"));
    write_index(&t.path().join("b"));
    for f in [files::MANIFEST, files::CENTROIDS, files::TABLE, files::DATA] {
        assert_eq!(
            std::fs::read(t.path().join("a").join(f)).unwrap(),
            std::fs::read(t.path().join("b").join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn a_flipped_byte_in_an_extent_is_reported_as_corruption() {
    let t = tmp();
    let dir = t.path().join("idx");
    write_index(&dir);
    let data = dir.join(files::DATA);
    let mut bytes = std::fs::read(&data).unwrap();
    let files0 = IndexFiles::open(&dir).unwrap();
    let e = files0.table[2];
    // Flip one byte inside partition 2's padding-free payload and one in its padding.
    for off in [e.offset + 17, e.offset + e.length - 1] {
        bytes[off as usize] ^= 0x40;
        std::fs::write(&data, &bytes).unwrap();
        let files = IndexFiles::open(&dir).unwrap();
        for mode in [IoMode::Direct, IoMode::Buffered] {
            let store = open_store(&files, mode).unwrap();
            let mut buf = AlignedBuf::new();
            let err = store.read_into(2, &mut buf).unwrap_err();
            assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
            assert!(err.to_string().contains("partition 2"), "{err}");
            store.read_into(0, &mut buf).unwrap();
        }
        bytes[off as usize] ^= 0x40;
    }
}

#[test]
fn damaged_small_files_and_missing_files_fail_at_open() {
    let t = tmp();
    let dir = t.path().join("idx");
    write_index(&dir);
    for f in [files::CENTROIDS, files::TABLE] {
        let p = dir.join(f);
        let orig = std::fs::read(&p).unwrap();
        let mut b = orig.clone();
        b[3] ^= 1;
        std::fs::write(&p, &b).unwrap();
        let err = IndexFiles::open(&dir).unwrap_err();
        assert!(matches!(err, StorageError::Corrupt { .. }), "{f}: {err}");
        std::fs::write(&p, &orig).unwrap();
    }
    std::fs::remove_file(dir.join(files::TABLE)).unwrap();
    let err = IndexFiles::open(&dir).unwrap_err();
    assert!(matches!(err, StorageError::NotAnIndex { .. }), "{err}");
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn other_versions_and_non_indexes_are_refused() {
    let t = tmp();
    let dir = t.path().join("idx");
    write_index(&dir);
    let m = dir.join(files::MANIFEST);
    let text = std::fs::read_to_string(&m).unwrap();
    std::fs::write(
        &m,
        text.replace("\"format_version\": 1", "\"format_version\": 99"),
    )
    .unwrap();
    let err = IndexFiles::open(&dir).unwrap_err();
    assert!(
        matches!(err, StorageError::Version { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("rebuild"), "{err}");
    let err = IndexFiles::open(t.path()).unwrap_err();
    assert!(matches!(err, StorageError::NotAnIndex { .. }), "{err}");
    let err = IndexFiles::open(&m).unwrap_err();
    assert!(matches!(err, StorageError::NotAnIndex { .. }), "{err}");
}

#[test]
fn an_existing_destination_is_not_overwritten() {
    let t = tmp();
    let dir = t.path().join("idx");
    write_index(&dir);
    let err = IndexWriter::create(&dir, 5, DType::F32, Metric::L2)
        .err()
        .unwrap();
    assert!(matches!(err, StorageError::Exists { .. }));
}

#[test]
fn attached_files_are_listed_checksummed_and_verified() {
    let t = tmp();
    let dir = t.path().join("idx");
    write_index(&dir);
    let lock = WriterLock::acquire(&dir).unwrap();
    let m = quarry_storage::attach_file(&lock, "router.model", b"weights", Some("gbdt")).unwrap();
    assert_eq!(m.routers, vec!["gbdt".to_string()]);
    let files = IndexFiles::open(&dir).unwrap();
    assert_eq!(files.read_file("router.model").unwrap(), b"weights");
    // Re-attaching replaces the file and does not repeat the router kind.
    let m = quarry_storage::attach_file(&lock, "router.model", b"weights2", Some("gbdt")).unwrap();
    assert_eq!(m.routers.len(), 1);
    assert_eq!(
        IndexFiles::open(&dir)
            .unwrap()
            .read_file("router.model")
            .unwrap(),
        b"weights2"
    );
    // A damaged attached file is reported when read.
    let p = quarry_storage::Manifest::load(&dir)
        .unwrap()
        .path_of(&dir, "router.model")
        .unwrap();
    let mut b = std::fs::read(&p).unwrap();
    b[0] ^= 1;
    std::fs::write(&p, b).unwrap();
    let err = IndexFiles::open(&dir)
        .unwrap()
        .read_file("router.model")
        .unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
    // Core files and odd names are refused.
    for bad in [files::DATA, files::MANIFEST, "../x", "", ".hidden"] {
        assert!(
            quarry_storage::attach_file(&lock, bad, b"x", None).is_err(),
            "{bad}"
        );
    }
}

/// Issue 14 defect 1: files a manifest names are never overwritten, several files
/// commit in one manifest change, a reader keeps the files of the manifest it opened,
/// and a crash before the commit leaves the old index plus leftovers that the next
/// writer removes.
#[test]
fn attached_files_commit_by_generation_and_never_overwrite() {
    let t = tmp();
    let dir = t.path().join("idx");
    write_index(&dir);
    let names = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let lock = WriterLock::acquire(&dir).unwrap();
    let m1 = quarry_storage::attach_files(&lock, &[("w.bin", b"w1"), ("c.json", b"c1")], &["mlp"])
        .unwrap();
    assert_eq!(m1.generation, 1);
    let w1 = m1.path_of(&dir, "w.bin").unwrap();
    assert!(w1.ends_with("w.bin.g1"), "{w1:?}");
    // A reader opened now keeps generation 1 whatever a writer does next.
    let reader = IndexFiles::open(&dir).unwrap();
    let m2 = quarry_storage::attach_files(&lock, &[("w.bin", b"w2"), ("c.json", b"c2")], &["mlp"])
        .unwrap();
    assert_eq!(m2.generation, 2);
    assert!(
        !w1.exists(),
        "the replaced generation is removed after the commit"
    );
    assert_eq!(reader.read_file("w.bin").unwrap(), b"w1");
    assert_eq!(reader.read_file("c.json").unwrap(), b"c1");
    let now = IndexFiles::open(&dir).unwrap();
    assert_eq!(now.read_file("w.bin").unwrap(), b"w2");
    assert_eq!(now.read_file("c.json").unwrap(), b"c2");
    // A writer killed before its manifest rename leaves complete or temp files that
    // no manifest names: the index is the old one, and the next writer sweeps them.
    std::fs::write(dir.join("w.bin.g3"), b"w3").unwrap();
    std::fs::write(dir.join("c.json.g3.4242.quarry-tmp"), b"c").unwrap();
    std::fs::write(dir.join("manifest.json.4242.quarry-tmp"), b"{").unwrap();
    let crashed = IndexFiles::open(&dir).unwrap();
    assert_eq!(crashed.manifest.generation, 2);
    assert_eq!(crashed.read_file("w.bin").unwrap(), b"w2");
    let before = names(&dir);
    let m3 = quarry_storage::attach_files(&lock, &[("w.bin", b"w3b")], &[]).unwrap();
    let after = names(&dir);
    assert!(!after.iter().any(|n| n.contains("quarry-tmp")), "{after:?}");
    assert_eq!(m3.path_of(&dir, "w.bin").unwrap(), dir.join("w.bin.g3"));
    assert_eq!(
        IndexFiles::open(&dir).unwrap().read_file("w.bin").unwrap(),
        b"w3b"
    );
    assert!(before.iter().any(|n| n == "c.json.g3.4242.quarry-tmp"));
    // What the sweep keeps: the core files, the lock, and exactly the named files.
    let want: Vec<String> = {
        let mut v = vec![
            "c.json.g2".to_string(),
            "w.bin.g3".to_string(),
            quarry_storage::LOCK_FILE.to_string(),
        ];
        v.extend(
            [files::CENTROIDS, files::DATA, files::MANIFEST, files::TABLE]
                .iter()
                .map(|s| s.to_string()),
        );
        v.sort();
        v
    };
    assert_eq!(after, want);
}

#[test]
fn one_writer_at_a_time_and_no_shared_temp_names() {
    let t = tmp();
    let dir = t.path().join("idx");
    write_index(&dir);
    let first = WriterLock::acquire(&dir).unwrap();
    // A second writer (another open file: what another process holds) fails at once,
    // naming the holder.
    let err = WriterLock::acquire(&dir).unwrap_err();
    assert!(matches!(err, StorageError::Locked { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("index is being changed by another process")
            && msg.contains(&format!("(pid {})", std::process::id())),
        "{msg}"
    );
    quarry_storage::attach_file(&first, "a.bin", b"one", None).unwrap();
    // No temp file is left, and none would collide with another process's.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("quarry-tmp")), "{names:?}");
    // The lock file is not part of the index, and the index still opens.
    assert!(names.iter().any(|n| n == quarry_storage::LOCK_FILE));
    assert_eq!(
        IndexFiles::open(&dir).unwrap().read_file("a.bin").unwrap(),
        b"one"
    );
    // Released on drop (and by the kernel when a holder dies).
    drop(first);
    let again = WriterLock::acquire(&dir).unwrap();
    assert_eq!(again.dir(), dir.as_path());
    // Not an index directory: a clear error, no lock file created.
    let missing = t.path().join("missing");
    assert!(matches!(
        WriterLock::acquire(&missing).unwrap_err(),
        StorageError::NotAnIndex { .. }
    ));
}

#[test]
fn io_thread_counts_are_bounded() {
    // Issue 14 defect 5: `--io-threads 10000` panicked spawning threads (pool.rs:42).
    for bad in [0, quarry_storage::MAX_IO_THREADS + 1, 10_000] {
        let e = IoPool::new(bad).err().expect("out of range");
        assert!(
            matches!(e, StorageError::OutOfRange { got, max: 256, .. } if got == bad as u64),
            "{e:?}"
        );
        assert!(e.to_string().contains("use 1..=256"), "{e}");
    }
    assert_eq!(
        IoPool::new(quarry_storage::MAX_IO_THREADS)
            .unwrap()
            .threads(),
        256
    );
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn scratch_directories_are_per_process_and_cleaned_up() {
    let t = tmp();
    let dest = t.path().join("idx");
    let me = std::process::id();
    // Left by a killed build (its process is gone), by this process, and by the
    // pid-less name of earlier versions: removed. A running build's (pid 1 always
    // exists) and another destination's: kept.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    for name in [
        format!(".idx.{dead}.quarry-partial"),
        format!(".idx.{me}.quarry-partial"),
        ".idx.quarry-partial".to_string(),
        ".idx.1.quarry-partial".to_string(),
        ".idx2.77.quarry-partial".to_string(),
    ] {
        std::fs::create_dir(t.path().join(&name)).unwrap();
        std::fs::write(t.path().join(&name).join("data.bin"), b"old").unwrap();
    }
    let w = IndexWriter::create(&dest, 5, DType::F32, Metric::L2).unwrap();
    assert_eq!(
        entries(t.path()),
        vec![
            ".idx.1.quarry-partial".to_string(),
            format!(".idx.{me}.quarry-partial"),
            ".idx2.77.quarry-partial".to_string(),
        ]
    );
    assert_eq!(
        entries(&t.path().join(format!(".idx.{me}.quarry-partial"))),
        vec!["data.bin"],
        "this build's scratch directory is a fresh one"
    );
    // A writer that ends without finishing (an error) leaves nothing.
    drop(w);
    assert!(!t.path().join(format!(".idx.{me}.quarry-partial")).exists());
    // Another build (another process) finishing first wins; this one gets Exists
    // and leaves nothing. The other build's rename is simulated.
    let mut w = IndexWriter::create(&dest, 5, DType::F32, Metric::L2).unwrap();
    w.write_centroids(&[0.0; 5]).unwrap();
    let elsewhere = t.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    write_index(&elsewhere.join("idx"));
    std::fs::rename(elsewhere.join("idx"), &dest).unwrap();
    let before = entries(&dest);
    let err = w.finish(serde_json::json!({}), Vec::new()).unwrap_err();
    assert!(matches!(err, StorageError::Exists { .. }), "{err:?}");
    assert_eq!(entries(&dest), before);
    assert!(!t.path().join(format!(".idx.{me}.quarry-partial")).exists());
    IndexFiles::open(&dest).unwrap();
}

/// Found by review: a manifest naming a stored file outside the index (`../x`, an
/// absolute path) is corruption at load, so open never reads it and no writer ever
/// deletes it.
#[test]
fn stored_names_outside_the_index_are_refused() {
    let t = tmp();
    let dir = t.path().join("idx");
    write_index(&dir);
    let lock = WriterLock::acquire(&dir).unwrap();
    quarry_storage::attach_file(&lock, "router.model", b"w", None).unwrap();
    let good = quarry_storage::Manifest::load(&dir).unwrap();
    for evil in ["../outside", "/etc/passwd", ".hidden", "a/b"] {
        let mut m = good.clone();
        m.files.get_mut("router.model").unwrap().stored_as = Some(evil.into());
        std::fs::write(dir.join(files::MANIFEST), m.to_bytes()).unwrap();
        let e = quarry_storage::Manifest::load(&dir).unwrap_err();
        assert!(
            e.to_string().contains("not a plain file name"),
            "{evil}: {e}"
        );
    }
}
