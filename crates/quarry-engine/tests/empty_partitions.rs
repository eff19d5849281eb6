//! Empty partitions are legal everywhere (issue 14, defect 3): 3,000 identical vectors
//! in 16 partitions leave a partition empty (the balance bound fills the others), and
//! build, scan, graph, auto and partial search, every router and the stats handle it.

mod common;
use common::tmp;
use quarry_engine::{
    build_index, BuildConfig, HnswParams, Index, IoMode, Metric, NoProgress, OpenOptions,
    RouterSpec, SearchParams, Strategy,
};
use std::path::{Path, PathBuf};

const N: usize = 3000;
const DIM: usize = 8;
const PARTS: usize = 16;

/// Builds the index of identical vectors; returns (tempdir, index dir, base file).
fn identical() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let t = tmp();
    let base = t.path().join("same.fbin");
    quarry_formats::write_fbin(&base, DIM, &vec![0.5f32; N * DIM]).unwrap();
    let dir = t.path().join("same.quarry");
    build_index(
        &base,
        &dir,
        &BuildConfig::new(PARTS, Metric::L2),
        &NoProgress,
    )
    .unwrap();
    (t, dir, base)
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

/// Every query finds k neighbours at distance 0 (all vectors equal the query).
fn assert_full(idx: &Index, params: &SearchParams, what: &str) {
    let q = vec![0.5f32; 3 * DIM];
    let r = idx.search_batch(&q, params).unwrap();
    for (qi, list) in r.neighbors.iter().enumerate() {
        assert_eq!(list.len(), params.k, "{what}: query {qi}");
        assert!(list.iter().all(|n| n.dist == 0.0), "{what}: query {qi}");
    }
    assert_eq!(r.per_query.len(), 3);
}

#[test]
fn build_leaves_an_empty_partition_and_every_search_mode_handles_it() {
    let (_t, dir, _) = identical();
    let mut idx = open(&dir, IoMode::Direct);
    let sizes = idx.partition_sizes();
    assert_eq!(sizes.iter().sum::<u64>(), N as u64);
    assert!(sizes.contains(&0), "no empty partition to test: {sizes:?}");
    // Info and memory figures stay finite.
    let mem = idx.memory();
    assert!(mem.total_bytes > 0);

    let all = SearchParams::new(10).nprobe(PARTS);
    assert_full(&idx, &all, "scan, direct");
    assert_full(&open(&dir, IoMode::Buffered), &all, "scan, buffered");
    let spann = SearchParams::new(10).router(RouterSpec::Spann {
        eps: 10.0,
        max_nprobe: PARTS,
    });
    assert_full(&idx, &spann, "spann router");
    // The empty partition alone: probed, read, contributes nothing, no error.
    let empty = sizes.iter().position(|&s| s == 0).unwrap() as u32;
    let (bytes, _) = idx.read_all_partitions().unwrap();
    assert!(bytes > 0);

    idx.build_graphs(
        HnswParams {
            m: 8,
            ef_construction: 32,
            seed: 1,
        },
        &NoProgress,
    )
    .unwrap();
    let gm = idx.graph_memory().unwrap();
    assert!(gm.bytes_per_vector.is_finite());
    for s in [Strategy::Graph, Strategy::Auto, Strategy::Partial] {
        assert_full(&idx, &all.clone().strategy(s).ef(16), s.name());
    }
    // Reopened with graphs (the load checks graph sizes against the table).
    let again = open(&dir, IoMode::Direct);
    assert_full(
        &again,
        &all.clone().strategy(Strategy::Partial).ef(16),
        "partial after reopen",
    );
    // The cost measurement on the empty partition itself.
    let q = vec![0.5f32; DIM];
    let cost = again.measure_partition_costs(empty, &q, 1, 16, 10).unwrap();
    assert_eq!((cost.n, cost.graph_distances), (0, 0));
}
