//! Bounded inputs (issue 14, defect 5 / scope 4): sizes that drive allocations or
//! thread counts are checked with a typed error before anything is allocated.

mod common;
use common::tmp;
use quarry_engine::{
    build_index, BuildConfig, EngineError, HnswParams, Index, Metric, NoProgress, OpenOptions,
    SearchParams, Strategy,
};
use quarry_storage::StorageError;

const DIM: usize = 8;

fn index(t: &tempfile::TempDir) -> std::path::PathBuf {
    let base = t.path().join("base.fbin");
    common::write_uniform_fbin(&base, 800, DIM, 11);
    let dir = t.path().join("idx");
    build_index(&base, &dir, &BuildConfig::new(8, Metric::L2), &NoProgress).unwrap();
    dir
}

fn out_of_range(e: &EngineError, what: &str, max: u64) -> bool {
    matches!(e, EngineError::OutOfRange { what: w, max: m, .. } if *w == what && *m == max)
        && e.to_string().contains(&format!("use 1..={max}"))
}

#[test]
fn open_rejects_thread_and_read_ahead_counts_beyond_their_bounds() {
    let t = tmp();
    let dir = index(&t);
    let open = |io_threads, read_ahead| {
        Index::open(
            &dir,
            OpenOptions {
                io_threads,
                read_ahead,
                ..Default::default()
            },
        )
    };
    // `--io-threads 10000` panicked spawning threads; 0 silently became 1.
    for n in [0, 257, 10_000] {
        let e = open(n, 8).err().unwrap();
        assert!(out_of_range(&e, "io_threads", 256), "{e}");
    }
    // A huge read-ahead allocated its channel slots up front.
    let e = open(8, 1 << 40).err().unwrap();
    assert!(out_of_range(&e, "read_ahead", 4096), "{e}");
    let idx = open(256, 4096).unwrap();
    let q = vec![0.5f32; DIM];
    idx.search(&q, &quarry_engine::SearchParams::new(5).nprobe(8))
        .unwrap();
    // The storage layer refuses too, for callers that build pools themselves.
    assert!(matches!(
        quarry_storage::IoPool::new(10_000).err().unwrap(),
        StorageError::OutOfRange { .. }
    ));
}

#[test]
fn ef_and_nprobe_are_bounded() {
    let t = tmp();
    let dir = index(&t);
    let mut idx = Index::open(&dir, OpenOptions::default()).unwrap();
    idx.build_graphs(
        HnswParams {
            m: 8,
            ef_construction: 16,
            seed: 1,
        },
        &NoProgress,
    )
    .unwrap();
    // `--ef 100000000000` aborted allocating 800 GB.
    for s in [Strategy::Graph, Strategy::Partial] {
        let q = vec![0.5f32; 2 * DIM];
        let p = SearchParams::new(5).nprobe(2).strategy(s);
        let e = idx
            .search_batch(&q, &p.clone().ef(100_000_000_000))
            .unwrap_err();
        assert!(out_of_range(&e, "ef", 65_536), "{e}");
        let r = idx.search_batch(&q, &p.ef(65_536));
        assert!(r.unwrap().neighbors.iter().all(|l| l.len() == 5));
    }
    // A router asking for more partitions than exist (nprobe = usize::MAX) probes
    // them all; the batch-memory estimate used to overflow on it.
    let q = vec![0.5f32; 2 * DIM];
    let all = idx
        .search_batch(&q, &SearchParams::new(5).nprobe(usize::MAX))
        .unwrap();
    let eight = idx
        .search_batch(&q, &SearchParams::new(5).nprobe(8))
        .unwrap();
    assert_eq!(all.neighbors, eight.neighbors);
    // Centroid-graph breadth and graph-build breadth are bounded the same way.
    let e = idx
        .build_centroid_graph(HnswParams::default(), 100_000_000_000, &NoProgress)
        .unwrap_err();
    assert!(out_of_range(&e, "centroid ef", 65_536), "{e}");
    let e = idx
        .build_graphs(
            HnswParams {
                m: 8,
                ef_construction: 100_000_000_000,
                seed: 1,
            },
            &NoProgress,
        )
        .unwrap_err();
    assert!(e.to_string().contains("exceeds 65536"), "{e}");
}
