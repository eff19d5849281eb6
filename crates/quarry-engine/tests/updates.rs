//! Online writes against an exact in-memory model. A proptest state machine
//! interleaves upserts (new and existing ids), deletes (present and absent ids),
//! searches, flushes (new extents, the log emptied, partitions past 16 vectors
//! split in two, partitions under 4 merged away), writer restarts (the log replayed) and read-only opens by
//! another handle; searching every partition must return exactly the model's top-k, by
//! (distance, id), every time. The index has labels and an attribute, upserts carry
//! their own, and filtered searches (exact and routed plans) must return exactly the
//! model's top-k among its matching vectors. Plus the write errors.

use proptest::prelude::*;
use quarry_engine::RowMeta;
use quarry_engine::{
    build_index_from, build_index_with, BuildConfig, EngineError, Filter, FilterPlan, Index,
    MemorySource, Metadata, Metric, NoProgress, OpenOptions, SearchParams, WriteOptions,
};
use quarry_filter::Column;
use quarry_kernels::pair_distance;
use std::collections::BTreeMap;

const DIM: usize = 4;
const PARTS: usize = 6;

#[derive(Debug, Clone)]
enum Op {
    /// id, vector, labels (a subset of 0..3), year.
    Upsert(Vec<(u64, [f32; DIM], Vec<u32>, i64)>),
    Delete(Vec<u64>),
    Search([f32; DIM], usize),
    /// query, k, filter number (see FILTERS), routed plan
    FilteredSearch([f32; DIM], usize, usize, bool),
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
        4 => prop::collection::vec(
            (0u64..90, vector(), prop::collection::btree_set(0u32..3, 0..3), 0i64..5)
                .prop_map(|(i, v, l, y)| (i, v, l.into_iter().collect::<Vec<u32>>(), y)),
            1..12,
        )
        .prop_map(|mut v| {
            v.sort_by_key(|x| x.0);
            v.dedup_by_key(|x| x.0);
            Op::Upsert(v)
        }),
        2 => prop::collection::btree_set(0u64..90, 1..8).prop_map(|s| Op::Delete(s.into_iter().collect())),
        4 => (vector(), 1usize..8).prop_map(|(q, k)| Op::Search(q, k)),
        3 => (vector(), 1usize..8, 0..FILTERS.len(), any::<bool>())
            .prop_map(|(q, k, f, routed)| Op::FilteredSearch(q, k, f, routed)),
        1 => Just(Op::RestartWriter),
        1 => vector().prop_map(Op::ReadOnlyCheck),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
    ]
}

/// A live vector of the model: its vector, labels and year.
type Row = ([f32; DIM], Vec<u32>, i64);

const FILTERS: &[&str] = &[
    "label = 1",
    "not label = 0",
    "year < 2",
    "label = 2 or year = 4",
];

fn model_matches(f: usize, r: &Row) -> bool {
    match f {
        0 => r.1.contains(&1),
        1 => !r.1.contains(&0),
        2 => r.2 < 2,
        _ => r.1.contains(&2) || r.2 == 4,
    }
}

fn model_topk(model: &BTreeMap<u64, Row>, q: &[f32], k: usize) -> Vec<(u64, f32)> {
    model_topk_where(model, q, k, |_| true)
}

fn model_topk_where(
    model: &BTreeMap<u64, Row>,
    q: &[f32],
    k: usize,
    keep: impl Fn(&Row) -> bool,
) -> Vec<(u64, f32)> {
    let mut all: Vec<(u64, f32)> = model
        .iter()
        .filter(|(_, r)| keep(r))
        .map(|(&id, r)| (id, pair_distance::<f32>(Metric::L2, q, 0.0, &r.0, 0.0)))
        .collect();
    all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

fn filtered(
    index: &Index,
    q: &[f32],
    k: usize,
    f: usize,
    routed: bool,
) -> Result<Vec<(u64, f32)>, EngineError> {
    let plan = if routed {
        FilterPlan::Routed
    } else {
        FilterPlan::Exact
    };
    let p = SearchParams::new(k)
        .nprobe(index.num_partitions())
        .filter(Some(Filter::parse(FILTERS[f]).unwrap()))
        .filter_plan(plan);
    let r = index.search(q, &p)?;
    Ok(r.neighbors.iter().map(|n| (n.id, n.dist)).collect())
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
        // Stored vector i has label i % 3 and year i % 5.
        let mut meta = Metadata::new(60);
        let indptr: Vec<u64> = (0..=60).collect();
        let labels: Vec<u32> = (0..60).map(|i| i % 3).collect();
        meta.set_labels_csr(&indptr, &labels).unwrap();
        meta.add_attribute("year", Column::I64((0..60).map(|i| i % 5).collect())).unwrap();
        build_index_with(&MemorySource::f32(&base, DIM).unwrap(), Some(&meta), &path, &BuildConfig::new(PARTS, Metric::L2), &NoProgress).unwrap();
        let mut model: BTreeMap<u64, Row> = base
            .chunks(DIM)
            .enumerate()
            .map(|(i, v)| (i as u64, (v.try_into().unwrap(), vec![i as u32 % 3], i as i64 % 5)))
            .collect();
        // Small partitions split at flushes (60 stored vectors over 6 partitions).
        let wopts = WriteOptions { split_above: Some(16), merge_below: Some(4), ..WriteOptions::default() };
        let mut index = Some(Index::open_writer(&path, OpenOptions::default(), wopts).unwrap());
        for op in ops {
            let w = index.as_ref().unwrap();
            match op {
                Op::Upsert(rows) => {
                    let ids: Vec<u64> = rows.iter().map(|r| r.0).collect();
                    let v: Vec<f32> = rows.iter().flat_map(|r| r.1).collect();
                    let m: Vec<RowMeta> = rows
                        .iter()
                        .map(|r| RowMeta { labels: r.2.clone(), attrs: vec![("year".into(), r.3 as f64)] })
                        .collect();
                    let existed = rows.iter().filter(|r| model.contains_key(&r.0)).count() as u64;
                    let rec = w.upsert_with(&ids, &v, &m).unwrap();
                    prop_assert_eq!(rec.existed, existed);
                    for (id, x, l, y) in rows {
                        model.insert(id, (x, l, y));
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
                Op::FilteredSearch(q, k, f, routed) => {
                    let want = model_topk_where(&model, &q, k, |r| model_matches(f, r));
                    if k as u64 > w.len() {
                        continue;
                    }
                    prop_assert_eq!(filtered(w, &q, k, f, routed).unwrap(), want, "{}", FILTERS[f]);
                }
                Op::Flush => {
                    let before = index.as_ref().unwrap().num_partitions();
                    let r = index.as_mut().unwrap().flush().unwrap();
                    prop_assert_eq!(index.as_ref().unwrap().num_partitions(), before + r.splits - r.merges);
                    prop_assert_eq!(index.as_ref().unwrap().len(), model.len() as u64);
                    prop_assert!(r.vectors as usize <= model.len());
                    prop_assert!(quarry_engine::verify(&path).unwrap().is_ok());
                }
                Op::Compact => {
                    let w = index.as_mut().unwrap();
                    let first = w.compact().unwrap();
                    prop_assert_eq!(w.len(), model.len() as u64);
                    // No segment is left less than half in use: compacting again
                    // moves nothing. (A merge hands a freed number to the last
                    // partition, whose extent stays in its segment unrewritten,
                    // so after merges a second compaction may still move it.)
                    let again = w.compact().unwrap();
                    if first.merges == 0 {
                        prop_assert_eq!((again.partitions, again.reclaimed_bytes), (0, 0));
                    }
                    prop_assert_eq!(w.len(), model.len() as u64);
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
                        let want = model_topk_where(&model, &q, k, |r| model_matches(0, r));
                        prop_assert_eq!(filtered(&r, &q, k, 0, false).unwrap(), want);
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
    // An id given twice to a delete is deleted once.
    drop(w);
    let w = Index::open_writer(&path, OpenOptions::default(), WriteOptions::default()).unwrap();
    assert_eq!(w.delete(&[3, 3]).unwrap().existed, 1);
    assert_eq!(w.len(), 200);
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
    // No splits here (they would rewrite neighbours too).
    let no_split = WriteOptions {
        split_above: Some(u64::MAX),
        ..Default::default()
    };
    let w = Index::open_writer(&path, OpenOptions::default(), no_split).unwrap();
    // New vectors at 5 of the 8 centroids: the flush rewrites those 5 partitions,
    // leaving data.bin with 3 of its 8 extents in use.
    let v: Vec<f32> = w.centroids().centroids()[..5 * DIM].to_vec();
    w.upsert(&[10_000, 10_001, 10_002, 10_003, 10_004], &v)
        .unwrap();
    let f = w.flush().unwrap();
    assert_eq!(f.partitions, 5, "{f:?}");
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

#[test]
fn labels_on_writes() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("idx");
    let base: Vec<f32> = (0..300 * DIM).map(|i| ((i * 31) % 97) as f32).collect();
    build_index_from(
        &MemorySource::f32(&base, DIM).unwrap(),
        &path,
        &BuildConfig::new(4, Metric::L2),
        &NoProgress,
    )
    .unwrap();
    let label = |l: u32| RowMeta {
        labels: vec![l],
        attrs: vec![],
    };
    let w = Index::open_writer(&path, OpenOptions::default(), WriteOptions::default()).unwrap();
    let f = SearchParams::new(2)
        .nprobe(4)
        .filter(Some(Filter::parse("label = 7").unwrap()));
    // No labels anywhere yet: filtering is an error that says so.
    assert!(matches!(
        w.search(&[0.0; DIM], &f),
        Err(EngineError::NoMetadata { .. })
    ));
    let e = w
        .upsert_with(&[1000], &[1.0; DIM], &[label(7), label(7)])
        .unwrap_err();
    assert!(e.to_string().contains("one per id"), "{e}");
    let e = w
        .upsert_with(
            &[1000],
            &[1.0; DIM],
            &[RowMeta {
                labels: vec![7],
                attrs: vec![("year".into(), 1.0)],
            }],
        )
        .unwrap_err();
    assert!(e.to_string().contains("unknown attribute 'year'"), "{e}");
    // An index built without labels takes them on writes.
    w.upsert_with(&[1000, 5], &[1.0; 2 * DIM], &[label(7), label(7)])
        .unwrap();
    let ids = |r: quarry_engine::QueryResult| r.neighbors.iter().map(|n| n.id).collect::<Vec<_>>();
    assert_eq!(ids(w.search(&[1.0; DIM], &f).unwrap()), [5, 1000]);
    // The new version of id 5 has no label: it no longer matches.
    w.upsert(&[5], &[1.0; DIM]).unwrap();
    let one = SearchParams::new(1)
        .nprobe(4)
        .filter(Some(Filter::parse("label = 7").unwrap()));
    assert_eq!(ids(w.search(&[1.0; DIM], &one).unwrap()), [1000]);
    w.flush().unwrap();
    drop(w);
    let r = Index::open(&path, OpenOptions::default()).unwrap();
    assert!(r.has_file("filters.bin"));
    assert_eq!(ids(r.search(&[1.0; DIM], &one).unwrap()), [1000]);
    assert_eq!(r.snapshot().metadata().unwrap().len(), 301);
    assert!(quarry_engine::verify(&path).unwrap().is_ok());

    // An index with an attribute needs its value on every upsert.
    let path = dir.path().join("attr");
    let mut meta = Metadata::new(300);
    meta.add_attribute("year", Column::I64(vec![2020; 300]))
        .unwrap();
    build_index_with(
        &MemorySource::f32(&base, DIM).unwrap(),
        Some(&meta),
        &path,
        &BuildConfig::new(4, Metric::L2),
        &NoProgress,
    )
    .unwrap();
    let w = Index::open_writer(&path, OpenOptions::default(), WriteOptions::default()).unwrap();
    let e = w.upsert(&[1], &[1.0; DIM]).unwrap_err();
    assert!(e.to_string().contains("attributes year"), "{e}");
    let year = |y: f64| RowMeta {
        labels: vec![],
        attrs: vec![("year".into(), y)],
    };
    let e = w.upsert_with(&[1], &[1.0; DIM], &[year(2.5)]).unwrap_err();
    assert!(e.to_string().contains("i64"), "{e}");
    let e = w
        .upsert_with(&[1], &[1.0; DIM], &[year(f64::NAN)])
        .unwrap_err();
    assert!(e.to_string().contains("finite"), "{e}");
    w.upsert_with(&[1], &[1.0; DIM], &[year(1999.0)]).unwrap();
    let old = SearchParams::new(1)
        .nprobe(4)
        .filter(Some(Filter::parse("year < 2000").unwrap()));
    assert_eq!(ids(w.search(&[0.0; DIM], &old).unwrap()), [1]);
    assert_eq!(w.len(), 300);
}

/// Several merges in one flush: partitions emptied by deletes give their vectors
/// to their nearest others while the last partitions take their numbers. Every
/// live vector must stay findable, exactly once, under every numbering.
#[test]
fn many_merges_in_one_flush_keep_every_vector() {
    for seed in 0..6u64 {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let path = dir.path().join("idx");
        // 12 clusters of 40 points on a line (2-d), far apart.
        let mut s = seed + 1;
        let mut jitter = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 40) as f32 / (1u64 << 24) as f32
        };
        let base: Vec<f32> = (0..480)
            .flat_map(|i| [(i / 40) as f32 * 100.0 + jitter(), jitter()])
            .collect();
        build_index_from(
            &MemorySource::f32(&base, 2).unwrap(),
            &path,
            &BuildConfig::new(12, Metric::L2),
            &NoProgress,
        )
        .unwrap();
        let w = WriteOptions {
            merge_below: Some(10),
            ..Default::default()
        };
        let index = Index::open_writer(&path, OpenOptions::default(), w).unwrap();
        // Empty all but 3 points of clusters chosen by the seed (4 of 12).
        let gone: Vec<u64> = (0..480u64)
            .filter(|i| {
                let c = i / 40;
                (c + seed) % 3 == 0 && i % 40 >= 3
            })
            .collect();
        index.delete(&gone).unwrap();
        let r = index.flush().unwrap();
        assert!(r.merges >= 2, "{r:?}");
        assert_eq!(index.num_partitions(), 12 - r.merges);
        let live: Vec<u64> = (0..480u64).filter(|i| !gone.contains(i)).collect();
        assert_eq!(index.len(), live.len() as u64);
        assert!(quarry_engine::verify(&path).unwrap().is_ok());
        // Each live point's nearest neighbour over all partitions is itself.
        for &id in &live {
            let q = &base[id as usize * 2..id as usize * 2 + 2];
            let got = index
                .search(q, &SearchParams::new(1).nprobe(index.num_partitions()))
                .unwrap();
            assert_eq!(got.neighbors[0].id, id, "seed {seed}");
        }
    }
}
