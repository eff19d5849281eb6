//! Online writes against an exact in-memory model. A proptest state machine
//! interleaves upserts (new and existing ids), deletes (present and absent ids),
//! searches, flushes (new extents, the log emptied, partitions past 16 vectors
//! split in two), writer restarts (the log replayed) and read-only opens by
//! another handle; searching every partition must return exactly the model's top-k, by
//! (distance, id), every time. Plus the write errors.

use proptest::prelude::*;
use quarry_engine::{
    build_index_from, BuildConfig, EngineError, Index, MemorySource, Metric, NoProgress,
    OpenOptions, SearchParams, WriteOptions,
};
use quarry_kernels::pair_distance;
use std::collections::BTreeMap;

const DIM: usize = 4;
const PARTS: usize = 6;

#[derive(Debug, Clone)]
enum Op {
    Upsert(Vec<(u64, [f32; DIM])>),
    Delete(Vec<u64>),
    Search([f32; DIM], usize),
    RestartWriter,
    ReadOnlyCheck([f32; DIM]),
    Flush,
    Compact,
}

fn vector() -> impl Strategy<Value = [f32; DIM]> {
    prop::array::uniform4(-10.0f32..10.0)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec((0u64..90, vector()), 1..12).prop_map(|mut v| {
            v.sort_by_key(|x| x.0);
            v.dedup_by_key(|x| x.0);
            Op::Upsert(v)
        }),
        2 => prop::collection::btree_set(0u64..90, 1..8).prop_map(|s| Op::Delete(s.into_iter().collect())),
        4 => (vector(), 1usize..8).prop_map(|(q, k)| Op::Search(q, k)),
        1 => Just(Op::RestartWriter),
        1 => vector().prop_map(Op::ReadOnlyCheck),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
    ]
}

fn model_topk(model: &BTreeMap<u64, [f32; DIM]>, q: &[f32], k: usize) -> Vec<(u64, f32)> {
    let mut all: Vec<(u64, f32)> = model
        .iter()
        .map(|(&id, v)| (id, pair_distance::<f32>(Metric::L2, q, 0.0, v, 0.0)))
        .collect();
    all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

fn search(index: &Index, q: &[f32], k: usize) -> Result<Vec<(u64, f32)>, EngineError> {
    // Every partition, splits included.
    let r = index.search(q, &SearchParams::new(k).nprobe(index.num_partitions()))?;
    Ok(r.neighbors.iter().map(|n| (n.id, n.dist)).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn writes_match_an_exact_model(seed in 0u64..1000, ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let path = dir.path().join("idx");
        // 60 stored vectors, ids 0..60.
        let mut s = seed;
        let mut next = move || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 20.0 - 10.0
        };
        let base: Vec<f32> = (0..60 * DIM).map(|_| next()).collect();
        build_index_from(&MemorySource::f32(&base, DIM).unwrap(), &path, &BuildConfig::new(PARTS, Metric::L2), &NoProgress).unwrap();
        let mut model: BTreeMap<u64, [f32; DIM]> = base
            .chunks(DIM)
            .enumerate()
            .map(|(i, v)| (i as u64, v.try_into().unwrap()))
            .collect();
        // Small partitions split at flushes (60 stored vectors over 6 partitions).
        let wopts = WriteOptions { split_above: Some(16), ..WriteOptions::default() };
        let mut index = Some(Index::open_writer(&path, OpenOptions::default(), wopts).unwrap());
        for op in ops {
            let w = index.as_ref().unwrap();
            match op {
                Op::Upsert(rows) => {
                    let ids: Vec<u64> = rows.iter().map(|r| r.0).collect();
                    let v: Vec<f32> = rows.iter().flat_map(|r| r.1).collect();
                    let existed = rows.iter().filter(|r| model.contains_key(&r.0)).count() as u64;
                    let rec = w.upsert(&ids, &v).unwrap();
                    prop_assert_eq!(rec.existed, existed);
                    for (id, x) in rows {
                        model.insert(id, x);
                    }
                }
                Op::Delete(ids) => {
                    let existed = ids.iter().filter(|i| model.contains_key(i)).count() as u64;
                    prop_assert_eq!(w.delete(&ids).unwrap().existed, existed);
                    for i in ids {
                        model.remove(&i);
                    }
                }
                Op::Search(q, k) => {
                    prop_assert_eq!(w.len(), model.len() as u64);
                    for id in 0..100u64 {
                        prop_assert_eq!(w.contains(id), model.contains_key(&id), "contains({})", id);
                    }
                    if k as u64 > w.len() {
                        let too_large = matches!(search(w, &q, k), Err(EngineError::KTooLarge { .. }));
                        prop_assert!(too_large, "k {} over {} live", k, w.len());
                    } else {
                        prop_assert_eq!(search(w, &q, k).unwrap(), model_topk(&model, &q, k));
                    }
                }
                Op::Flush => {
                    let before = index.as_ref().unwrap().num_partitions();
                    let r = index.as_mut().unwrap().flush().unwrap();
                    prop_assert_eq!(index.as_ref().unwrap().num_partitions(), before + r.splits);
                    prop_assert_eq!(index.as_ref().unwrap().len(), model.len() as u64);
                    prop_assert!(r.vectors as usize <= model.len());
                    prop_assert!(quarry_engine::verify(&path).unwrap().is_ok());
                }
                Op::Compact => {
                    let w = index.as_mut().unwrap();
                    w.compact().unwrap();
                    prop_assert_eq!(w.len(), model.len() as u64);
                    // No segment is left less than half in use: compacting again
                    // moves nothing.
                    let again = w.compact().unwrap();
                    prop_assert_eq!((again.partitions, again.reclaimed_bytes), (0, 0));
                    prop_assert!(quarry_engine::verify(&path).unwrap().is_ok());
                }
                Op::RestartWriter => {
                    drop(index.take());
                    index = Some(Index::open_writer(&path, OpenOptions::default(), wopts).unwrap());
                }
                Op::ReadOnlyCheck(q) => {
                    // Another handle (as another process would) sees every acknowledged write.
                    let r = Index::open(&path, OpenOptions::default()).unwrap();
                    prop_assert_eq!(r.len(), model.len() as u64);
                    for id in 0..100u64 {
                        prop_assert_eq!(r.contains(id), model.contains_key(&id), "reader contains({})", id);
                    }
                    let k = 3.min(model.len());
                    if k > 0 {
                        prop_assert_eq!(search(&r, &q, k).unwrap(), model_topk(&model, &q, k));
                    }
                }
            }
        }
    }
}

#[test]
fn write_errors_are_clear_and_change_nothing() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("idx");
    let base: Vec<u8> = (0..200 * DIM).map(|i| (i * 7 % 251) as u8).collect();
    build_index_from(
        &MemorySource::u8(&base, DIM).unwrap(),
        &path,
        &BuildConfig::new(4, Metric::L2),
        &NoProgress,
    )
    .unwrap();
    // A reader cannot write.
    let r = Index::open(&path, OpenOptions::default()).unwrap();
    assert!(matches!(
        r.upsert(&[1], &[0.0; DIM]),
        Err(EngineError::NotWriter { .. })
    ));
    let w = Index::open_writer(&path, OpenOptions::default(), WriteOptions::default()).unwrap();
    // A second writer is refused while the first lives.
    let e = Index::open_writer(&path, OpenOptions::default(), WriteOptions::default())
        .err()
        .expect("a second writer is refused");
    assert!(e.to_string().contains("another"), "{e}");
    let bad = |e: EngineError, want: &str| assert!(e.to_string().contains(want), "{e}");
    bad(w.upsert(&[], &[]).unwrap_err(), "empty batch");
    bad(
        w.upsert(&[1, 2], &[0.0; DIM]).unwrap_err(),
        "one row per id",
    );
    bad(
        w.upsert(&[1, 1], &[0.0; 2 * DIM]).unwrap_err(),
        "appears twice",
    );
    bad(
        w.upsert(&[1], &[f32::NAN, 0.0, 0.0, 0.0]).unwrap_err(),
        "non-finite",
    );
    bad(
        w.upsert(&[1], &[1.5, 0.0, 0.0, 0.0]).unwrap_err(),
        "0..=255",
    );
    bad(
        w.upsert(&[1], &[300.0, 0.0, 0.0, 0.0]).unwrap_err(),
        "0..=255",
    );
    bad(w.delete(&[]).unwrap_err(), "empty batch");
    assert_eq!(w.len(), 200);
    assert_eq!(w.live_stats().unwrap().log_bytes, 16, "only the log header");
    // A budget too small for the write refuses it before logging. The budget
    // covers all the writes' memory; the stored-id map is there from the start.
    let baseline = w.memory().writes_bytes;
    assert!(baseline > 0);
    drop(w);
    let tight = WriteOptions {
        delta_budget_bytes: baseline + 100,
        ..Default::default()
    };
    let w = Index::open_writer(&path, OpenOptions::default(), tight).unwrap();
    w.upsert(&[500], &[1.0; DIM]).unwrap();
    assert!(matches!(
        w.upsert(&[501, 502], &[1.0; 2 * DIM]),
        Err(EngineError::DeltaFull { .. })
    ));
    assert_eq!(w.len(), 201);
}

#[test]
fn compaction_reclaims_sparse_segments() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("idx");
    let base: Vec<f32> = (0..800 * DIM)
        .map(|i| ((i * 7919) % 1009) as f32 / 100.0)
        .collect();
    build_index_from(
        &MemorySource::f32(&base, DIM).unwrap(),
        &path,
        &BuildConfig::new(8, Metric::L2),
        &NoProgress,
    )
    .unwrap();
    let mut w = Index::open_writer(&path, OpenOptions::default(), WriteOptions::default()).unwrap();
    // New vectors at 5 of the 8 centroids: the flush rewrites those 5 partitions,
    // leaving data.bin with 3 of its 8 extents in use.
    let v: Vec<f32> = w.centroids().centroids()[..5 * DIM].to_vec();
    w.upsert(&[10_000, 10_001, 10_002, 10_003, 10_004], &v)
        .unwrap();
    let f = w.flush().unwrap();
    assert_eq!(f.partitions, 5);
    let before = w.segment_bytes();
    let r = w.compact().unwrap();
    assert_eq!(r.partitions, 3, "the 3 partitions left in data.bin move");
    assert!(r.reclaimed_bytes > 0 && w.segment_bytes() < before, "{r:?}");
    assert_eq!(w.len(), 805);
    assert!(quarry_engine::verify(&path).unwrap().is_ok());
    assert!(
        !path.join("data.bin").exists(),
        "the sparse segment is removed"
    );
}
