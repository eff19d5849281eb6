//! Acceptance tests on the real SIFT10K fixture (10,000 x 128 u8, 100 queries, exact
//! top-100 ground truth shipped with the data).

mod common;
use common::{fixture, tmp};
use quarry_engine::{
    build_index, exact_knn, BuildConfig, EngineError, Index, IoMode, Metric, NoProgress,
    OpenOptions, SearchParams,
};
use quarry_formats::{open_vectors, read_ground_truth, read_queries};
use quarry_storage::{files, IndexFiles, StorageError};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const PARTS: usize = 16;

/// One index shared by the read-only tests.
fn shared_index() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let t = tmp();
        let dir = t.path().join("sift.quarry");
        build_index(
            &fixture("siftsmall_base.bvecs"),
            &dir,
            &BuildConfig::new(PARTS, Metric::L2),
            &NoProgress,
        )
        .unwrap();
        (t, dir)
    })
    .1
}

fn open(dir: &Path, io: IoMode) -> Index {
    Index::open(
        dir,
        OpenOptions {
            io,
            ..Default::default()
        },
    )
    .unwrap()
}

fn queries() -> (Vec<f32>, usize) {
    let q = read_queries(&fixture("siftsmall_query.fvecs")).unwrap();
    (q.data, q.n)
}

#[test]
fn exact_search_reproduces_the_shipped_ground_truth() {
    let base = open_vectors(&fixture("siftsmall_base.bvecs")).unwrap();
    let (q, nq) = queries();
    let gt = read_ground_truth(&fixture("siftsmall_groundtruth.ivecs")).unwrap();
    let res = exact_knn(base.as_ref(), &q, Metric::L2, 100, 3000, &NoProgress).unwrap();
    let mut same = 0;
    assert_eq!(res.len(), nq);
    for (i, row) in res.iter().enumerate() {
        let mut ours: Vec<u32> = row.iter().map(|n| n.id as u32).collect();
        let mut theirs = gt.row(i).to_vec();
        ours.sort();
        theirs.sort();
        same += (ours == theirs) as usize;
    }
    assert_eq!(same, 100, "top-100 sets equal for {same}/100 queries");
}

#[test]
fn probing_every_partition_is_exact() {
    let idx = open(shared_index(), IoMode::Direct);
    let (q, nq) = queries();
    let gt = read_ground_truth(&fixture("siftsmall_groundtruth.ivecs")).unwrap();
    let res = idx
        .search_batch(&q, &SearchParams::new(10).nprobe(PARTS))
        .unwrap();
    let mut hits = 0;
    for i in 0..nq {
        let truth = &gt.row(i)[..10];
        hits += res.neighbors[i]
            .iter()
            .filter(|n| truth.contains(&(n.id as u32)))
            .count();
    }
    assert_eq!(
        hits,
        10 * nq,
        "recall@10 = {}",
        hits as f64 / (10 * nq) as f64
    );
    assert_eq!(res.stats.partitions_read, PARTS as u64);
    assert_eq!(res.stats.vectors_read, 10_000);
}

#[test]
fn single_query_and_batch_paths_agree_exactly() {
    let idx = open(shared_index(), IoMode::Direct);
    let (q, nq) = queries();
    for nprobe in [1, 3, 8] {
        let p = SearchParams::new(10).nprobe(nprobe);
        let batch = idx.search_batch(&q, &p).unwrap();
        for i in 0..nq {
            let single = idx.search(&q[i * 128..(i + 1) * 128], &p).unwrap();
            assert_eq!(
                single.neighbors, batch.neighbors[i],
                "query {i} nprobe {nprobe}"
            );
            let (a, b) = (single.stats, batch.per_query[i]);
            assert_eq!((a.partitions, a.vectors), (b.partitions, b.vectors));
            // Alone, a query pays for whole partitions; in a batch it shares them.
            assert!(b.bytes <= a.bytes && a.bytes > 0.0);
        }
        // Batch-aware execution reads each partition once for all its queries.
        assert!(batch.stats.partitions_read <= PARTS as u64);
        let shared: f64 = batch.per_query.iter().map(|q| q.bytes).sum();
        assert!(
            (shared - batch.stats.bytes_read as f64).abs() < 1.0,
            "shares add up to the bytes read"
        );
    }
}

#[test]
fn buffered_and_direct_io_and_a_reopened_index_give_identical_results() {
    let (q, _) = queries();
    let p = SearchParams::new(20).nprobe(4);
    let a = open(shared_index(), IoMode::Direct)
        .search_batch(&q, &p)
        .unwrap();
    let b = open(shared_index(), IoMode::Buffered)
        .search_batch(&q, &p)
        .unwrap();
    let c = open(shared_index(), IoMode::Direct)
        .search_batch(&q, &p)
        .unwrap();
    assert_eq!(a.neighbors, b.neighbors);
    assert_eq!(a.neighbors, c.neighbors);
    assert_eq!(a.stats.bytes_read, b.stats.bytes_read);
}

#[test]
fn a_batch_larger_than_its_memory_bound_runs_in_slices_with_the_same_results() {
    let (q, nq) = queries();
    let p = SearchParams::new(10).nprobe(4);
    let whole = open(shared_index(), IoMode::Buffered)
        .search_batch(&q, &p)
        .unwrap();
    // Room for ~7 queries' candidate lists: 100 queries run as 15 slices.
    let per_query = 4 * 10 * 16 + 128 * 4;
    let opts = OpenOptions {
        io: IoMode::Buffered,
        max_batch_bytes: 7 * per_query,
        ..Default::default()
    };
    let sliced = Index::open(shared_index(), opts)
        .unwrap()
        .search_batch(&q, &p)
        .unwrap();
    assert_eq!(sliced.neighbors, whole.neighbors);
    assert_eq!(sliced.neighbors.len(), nq);
    assert_eq!(sliced.stats.queries, nq);
    // Each slice reads its own partitions: more reads than one whole batch.
    assert!(sliced.stats.partitions_read > whole.stats.partitions_read);
}

#[test]
fn the_same_seed_gives_identical_index_bytes() {
    let t = tmp();
    let mut cfg = BuildConfig::new(8, Metric::L2);
    cfg.mem_budget_mb = 2; // several chunks and write passes
    let base = fixture("siftsmall_base.bvecs");
    for name in ["a", "b"] {
        build_index(&base, &t.path().join(name), &cfg, &NoProgress).unwrap();
    }
    for f in [files::MANIFEST, files::CENTROIDS, files::TABLE, files::DATA] {
        let a = std::fs::read(t.path().join("a").join(f)).unwrap();
        let b = std::fs::read(t.path().join("b").join(f)).unwrap();
        assert!(a == b, "{f} differs between two builds with the same seed");
    }
    cfg.seed += 1;
    build_index(&base, &t.path().join("c"), &cfg, &NoProgress).unwrap();
    assert_ne!(
        std::fs::read(t.path().join("a").join(files::CENTROIDS)).unwrap(),
        std::fs::read(t.path().join("c").join(files::CENTROIDS)).unwrap()
    );
}

#[test]
fn partitions_are_balanced_and_hold_every_vector_once() {
    let files = IndexFiles::open(shared_index()).unwrap();
    let cap = ((1.1f64 * 10_000.0) / PARTS as f64).ceil() as u64;
    assert!(files.table.iter().all(|e| e.count <= cap));
    let idx = open(shared_index(), IoMode::Buffered);
    // Probing everything with k = n returns each id exactly once.
    let (q, _) = queries();
    let res = idx
        .search(&q[..128], &SearchParams::new(10_000).nprobe(PARTS))
        .unwrap();
    let mut ids: Vec<u64> = res.neighbors.iter().map(|n| n.id).collect();
    ids.sort();
    assert_eq!(ids, (0..10_000).collect::<Vec<u64>>());
    // The kept clustering model assigns a centroid to its own partition.
    for (p, c) in files.centroids.chunks_exact(128).enumerate() {
        assert_eq!(idx.assign(c).unwrap(), p as u32);
    }
    assert!(idx.assign(&[0.0; 3]).is_err());
}

#[test]
fn a_flipped_byte_in_a_partition_extent_is_a_corruption_error() {
    let t = tmp();
    let dir = t.path().join("idx");
    build_index(
        &fixture("siftsmall_base.bvecs"),
        &dir,
        &BuildConfig::new(4, Metric::L2),
        &NoProgress,
    )
    .unwrap();
    let files = IndexFiles::open(&dir).unwrap();
    let e = files.table[2];
    let data = dir.join(files::DATA);
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[(e.offset + e.length / 2) as usize] ^= 0x01;
    std::fs::write(&data, &bytes).unwrap();
    let idx = open(&dir, IoMode::Direct);
    let (q, _) = queries();
    let err = idx
        .search_batch(&q, &SearchParams::new(10).nprobe(4))
        .unwrap_err();
    assert!(
        matches!(err, EngineError::Storage(StorageError::Corrupt { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("partition 2"), "{err}");
}

#[test]
fn bad_queries_and_parameters_are_clear_errors() {
    let idx = open(shared_index(), IoMode::Buffered);
    let (q, _) = queries();
    let p = SearchParams::new(10).nprobe(2);
    let e = idx.search(&q[..96], &p).unwrap_err();
    assert_eq!(e.to_string(), "query has 96 dimensions, index expects 128");
    let e = idx.search_batch(&q[..200], &p).unwrap_err();
    assert!(
        matches!(e, EngineError::BatchShape { len: 200, dim: 128 }),
        "{e}"
    );
    let e = idx.search_batch(&[], &p).unwrap_err();
    assert!(matches!(e, EngineError::EmptyBatch), "{e}");
    let mut bad = q[..256].to_vec();
    bad[128 + 5] = f32::NAN;
    let e = idx.search_batch(&bad, &p).unwrap_err();
    assert!(
        matches!(
            e,
            EngineError::NonFinite {
                query: 1,
                component: 5
            }
        ),
        "{e}"
    );
    bad[128 + 5] = f32::INFINITY;
    assert!(idx.search_batch(&bad, &p).is_err());
    let e = idx
        .search(&q[..128], &SearchParams::new(0).nprobe(2))
        .unwrap_err();
    assert!(matches!(e, EngineError::ZeroK), "{e}");
    let e = idx
        .search(&q[..128], &SearchParams::new(10_001).nprobe(2))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "k = 10001 exceeds the 10000 vectors in the index; use k <= 10000"
    );
    let e = idx
        .search(&q[..128], &SearchParams::new(10).nprobe(0))
        .unwrap_err();
    assert!(e.to_string().contains("nprobe must be at least 1"), "{e}");
}

#[test]
fn bad_build_parameters_are_errors_and_leave_nothing_behind() {
    let t = tmp();
    let base = fixture("siftsmall_base.bvecs");
    for parts in [0, 10_001] {
        let dir = t.path().join(format!("p{parts}"));
        let e = build_index(
            &base,
            &dir,
            &BuildConfig::new(parts, Metric::L2),
            &NoProgress,
        )
        .unwrap_err();
        assert!(matches!(e, EngineError::BadBuild(_)), "{e}");
        assert!(!dir.exists());
    }
    let e = build_index(
        &t.path().join("missing.fvecs"),
        &t.path().join("x"),
        &BuildConfig::new(4, Metric::L2),
        &NoProgress,
    )
    .unwrap_err();
    assert!(e.to_string().contains("missing.fvecs"), "{e}");
}

#[test]
fn cosine_and_inner_product_indexes_are_exact_when_probing_everything() {
    let base_path = fixture("siftsmall_base.bvecs");
    let base = open_vectors(&base_path).unwrap();
    let (q, _) = queries();
    let q = &q[..20 * 128];
    let t = tmp();
    for metric in [Metric::Cosine, Metric::InnerProduct] {
        let dir = t.path().join(metric.name());
        build_index(&base_path, &dir, &BuildConfig::new(8, metric), &NoProgress).unwrap();
        let idx = open(&dir, IoMode::Direct);
        let got = idx
            .search_batch(q, &SearchParams::new(10).nprobe(8))
            .unwrap();
        let want = exact_knn(base.as_ref(), q, metric, 10, 4096, &NoProgress).unwrap();
        assert_eq!(got.neighbors, want, "{metric}");
    }
}
