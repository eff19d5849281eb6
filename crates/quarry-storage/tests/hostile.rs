//! Hostile inputs that pass every checksum (a crafted index, not a damaged one):
//! sizes and counts from the manifest and the partition table are checked with
//! overflow-safe arithmetic, so they are errors, never panics (debug builds) or
//! wrapped values that pass a check (release builds). Regression tests for the
//! crashes `scripts/fuzz.sh` found in the `extent` and `table` targets.

use quarry_kernels::{DType, Metric};
use quarry_storage::{
    files, AlignedBuf, FileEntry, IndexFiles, IndexWriter, Manifest, PartitionPayload,
    PartitionView, StorageError,
};
use std::path::Path;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

#[test]
fn extent_counts_that_overflow_are_payload_errors() {
    let mut buf = AlignedBuf::new();
    buf.resize(4096);
    for (count, dim, dtype) in [
        (usize::MAX, 1, DType::F32),
        (usize::MAX / 8 + 1, 1, DType::U8), // count * 8 wraps to 0
        (1 << 61, 0, DType::U8),            // ids alone wrap
        (2, usize::MAX / 2, DType::F32),    // count * dim * 4 overflows
        (1, usize::MAX - 7, DType::U8),     // ids + vectors overflows
        (1 << 60, 1 << 4, DType::I8),       // wraps to 0 without the check
    ] {
        let e = PartitionView::parse(buf.as_slice(), count, dim, dtype).err();
        assert!(
            matches!(e, Some(StorageError::Payload(_))),
            "count {count} dim {dim}: {e:?}"
        );
    }
    // The fuzzer's input (fuzz/corpus/extent/regress-overflow): count and dim of
    // repeated '!' bytes, a 49-byte extent.
    let e = PartitionView::parse(&[0u8; 49], 0x2121_2121_2121_2121, 0x2121_2121, DType::F32);
    assert!(matches!(e, Err(StorageError::Payload(_))));
    // Exact fits still parse.
    let v = PartitionView::parse(buf.as_slice(), 4, 1000, DType::U8).unwrap();
    assert_eq!(v.ids().count(), 4);
    assert_eq!(v.vectors::<u8>().len(), 4000);
}

/// A minimal valid index, then a manifest rewritten (and correctly sealed) with
/// other counts: what the `table` fuzz target builds.
fn index_with(dir: &Path, edit: impl FnOnce(&mut Manifest, &mut Vec<u8>)) -> StorageError {
    let mut w = IndexWriter::create(dir, 2, DType::U8, Metric::L2).unwrap();
    w.write_centroids(&[0.0; 4]).unwrap();
    for ids in [[0u64, 1], [2, 3]] {
        w.append_partition(PartitionPayload {
            ids: &ids,
            vectors: &[1, 2, 3, 4],
        })
        .unwrap();
    }
    w.finish(serde_json::json!({}), vec![]).unwrap();
    let mut m = IndexFiles::open(dir).unwrap().manifest;
    let mut table = std::fs::read(dir.join(files::TABLE)).unwrap();
    edit(&mut m, &mut table);
    std::fs::write(dir.join(files::TABLE), &table).unwrap();
    m.files.insert(
        files::TABLE.into(),
        FileEntry {
            bytes: table.len() as u64,
            crc32c: Some(crc32c::crc32c(&table)),
            stored_as: None,
        },
    );
    std::fs::write(dir.join(files::MANIFEST), m.to_bytes()).unwrap();
    IndexFiles::open(dir).unwrap_err()
}

#[test]
fn partition_counts_from_the_manifest_that_overflow_are_corruption() {
    let t = tmp();
    // num_partitions * 32 overflows (the fuzzer's crash in table decoding).
    let e = index_with(&t.path().join("a"), |m, _| {
        m.num_partitions = usize::MAX / 16
    });
    assert!(matches!(e, StorageError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("records of 32 bytes"), "{e}");
    // num_partitions * dim * 4 overflows, the table agreeing on the partition count.
    let e = index_with(&t.path().join("b"), |m, _| m.dim = usize::MAX / 4);
    assert!(matches!(e, StorageError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("centroids.bin"), "{e}");
}

#[test]
fn partition_counts_that_wrap_around_to_the_total_are_corruption() {
    let t = tmp();
    // Counts 2^64 - 1 and 5: the wrapped sum is 4, the manifest's vector count.
    let e = index_with(&t.path().join("a"), |_, table| {
        table[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        table[32 + 16..32 + 24].copy_from_slice(&5u64.to_le_bytes());
    });
    assert!(matches!(e, StorageError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("do not add up"), "{e}");
}
