//! Per-partition graphs on the SIFT10K fixture: search modes against exact ground
//! truth, distance counts, partial reads, determinism, checksums, reopen, bad input.

mod common;
use common::{fixture, tmp};
use quarry_engine::{
    build_index, BuildConfig, EngineError, HnswParams, Index, IoMode, Metric, NoProgress,
    OpenOptions, SearchParams, Strategy, GRAPHS_FILE,
};
use quarry_formats::{read_ground_truth, read_queries};
use quarry_storage::files;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const PARTS: usize = 4;
const NPROBE: usize = 2;

fn params() -> HnswParams {
    HnswParams {
        m: 12,
        ef_construction: 64,
        seed: 3,
    }
}

fn build_plain(dir: &Path) {
    build_index(
        &fixture("siftsmall_base.bvecs"),
        dir,
        &BuildConfig::new(PARTS, Metric::L2),
        &NoProgress,
    )
    .unwrap();
}

/// An index with graphs, shared by the read-only tests.
fn shared() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let t = tmp();
        let dir = t.path().join("sift.quarry");
        build_plain(&dir);
        let mut idx = Index::open(&dir, OpenOptions::default()).unwrap();
        idx.build_graphs(params(), &NoProgress).unwrap();
        (t, dir)
    })
    .1
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn queries() -> Vec<f32> {
    read_queries(&fixture("siftsmall_query.fvecs"))
        .unwrap()
        .data
}

struct Run {
    recall: f64,
    distances: u64,
    bytes: u64,
    ios: u64,
    graph_searches: u64,
    partitions_read: u64,
    ids: Vec<Vec<u64>>,
}

fn run(idx: &Index, mode: Strategy, ef: usize, batch: usize) -> Run {
    let params = SearchParams::new(10).nprobe(NPROBE).strategy(mode).ef(ef);
    let q = queries();
    let gt = read_ground_truth(&fixture("siftsmall_groundtruth.ivecs")).unwrap();
    let (mut hits, mut distances, mut bytes, mut ios, mut gs) = (0, 0, 0, 0, 0);
    let mut partitions_read = 0;
    let mut ids = Vec::new();
    for chunk in q.chunks(batch * 128) {
        let r = idx.search_batch(chunk, &params).unwrap();
        distances += r.stats.distance_computations;
        assert_eq!(
            r.stats.distance_computations,
            r.per_query.iter().map(|p| p.vectors).sum::<u64>()
        );
        bytes += r.stats.bytes_read;
        ios += r.stats.io_requests;
        gs += r.stats.graph_searches;
        partitions_read += r.stats.partitions_read;
        for nb in r.neighbors {
            let qi = ids.len();
            let truth = &gt.ids[qi * gt.k..qi * gt.k + 10];
            hits += nb.iter().filter(|n| truth.contains(&(n.id as u32))).count();
            ids.push(nb.iter().map(|n| n.id).collect());
        }
    }
    Run {
        recall: hits as f64 / (10 * ids.len()) as f64,
        distances,
        bytes,
        ios,
        graph_searches: gs,
        partitions_read,
        ids,
    }
}

#[test]
fn graph_modes_match_expectations() {
    let idx = Index::open(shared(), OpenOptions::default()).unwrap();
    assert!(idx.has_graphs());
    let scan = run(&idx, Strategy::Scan, 64, 100);
    let graph = run(&idx, Strategy::Graph, 64, 100);
    let auto = run(&idx, Strategy::Auto, 64, 100);
    let partial = run(&idx, Strategy::Partial, 64, 100);
    let narrow = run(&idx, Strategy::Graph, 10, 100);
    // A scan evaluates every vector of the probed partitions; a graph search far fewer.
    assert_eq!(scan.graph_searches, 0);
    assert!(scan.recall > 0.8, "scan recall {}", scan.recall);
    assert!(
        graph.recall >= scan.recall - 0.03,
        "graph {} scan {}",
        graph.recall,
        scan.recall
    );
    assert!(
        graph.distances * 3 < scan.distances,
        "{} vs {}",
        graph.distances,
        scan.distances
    );
    assert!(narrow.distances < graph.distances && narrow.recall <= graph.recall);
    // Auto answers each partition one way or the other: its results are the scan's or
    // the graph's, partition by partition, and so is its recall.
    let lo = scan.recall.min(graph.recall) - 1e-9;
    let hi = scan.recall.max(graph.recall) + 0.02;
    assert!(
        auto.recall >= lo && auto.recall <= hi,
        "auto {}",
        auto.recall
    );
    // Batches of 100 give every partition tens of queries: the cost model scans.
    // Batches of 8 give a partition 1..8 queries, across the model's crossover
    // (about 4 here): it picks each strategy for some partitions.
    assert_eq!(auto.graph_searches, 0);
    let mixed = run(&idx, Strategy::Auto, 64, 8);
    assert!(
        mixed.graph_searches > 0 && mixed.graph_searches < mixed.partitions_read,
        "auto chose graph for {} of {} partition searches",
        mixed.graph_searches,
        mixed.partitions_read
    );
    // Partial reads visit the same vectors through pages: identical answers.
    assert_eq!(partial.ids, graph.ids);
    assert_eq!(partial.distances, graph.distances);
    assert!(partial.ios > 0 && partial.bytes > 0 && partial.bytes.is_multiple_of(4096));
}

#[test]
fn single_query_partial_reads_read_less_than_whole_partitions() {
    let idx = Index::open(shared(), OpenOptions::default()).unwrap();
    let whole = run(&idx, Strategy::Graph, 16, 1);
    let partial = run(&idx, Strategy::Partial, 16, 1);
    assert_eq!(partial.ids, whole.ids);
    assert!(
        partial.bytes < whole.bytes,
        "{} vs {}",
        partial.bytes,
        whole.bytes
    );
}

#[test]
fn graphs_survive_reopen_and_are_deterministic() {
    let t = tmp();
    let a = t.path().join("a");
    build_plain(&a);
    let b = t.path().join("b");
    copy_dir(&a, &b);
    for d in [&a, &b] {
        Index::open(d, OpenOptions::default())
            .unwrap()
            .build_graphs(params(), &NoProgress)
            .unwrap();
    }
    let ga = std::fs::read(
        quarry_storage::Manifest::load(&a)
            .unwrap()
            .path_of(&a, GRAPHS_FILE)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        ga,
        std::fs::read(
            quarry_storage::Manifest::load(&b)
                .unwrap()
                .path_of(&b, GRAPHS_FILE)
                .unwrap()
        )
        .unwrap()
    );
    assert_eq!(
        std::fs::read(
            quarry_storage::Manifest::load(&a)
                .unwrap()
                .path_of(&a, files::PAGE_CRCS)
                .unwrap()
        )
        .unwrap(),
        std::fs::read(
            quarry_storage::Manifest::load(&b)
                .unwrap()
                .path_of(&b, files::PAGE_CRCS)
                .unwrap()
        )
        .unwrap()
    );
    // Equal to the shared index's too (same data, partitions, parameters).
    assert_eq!(
        ga,
        std::fs::read(
            quarry_storage::Manifest::load(shared())
                .unwrap()
                .path_of(shared(), GRAPHS_FILE)
                .unwrap()
        )
        .unwrap()
    );
    let reopened = Index::open(&a, OpenOptions::default()).unwrap();
    assert!(reopened.has_graphs());
    let mem = reopened.graph_memory().unwrap();
    assert!(mem.bytes_per_vector > 4.0 && mem.total_bytes > 0);
    let first = Index::open(shared(), OpenOptions::default()).unwrap();
    assert_eq!(
        run(&reopened, Strategy::Graph, 32, 100).ids,
        run(&first, Strategy::Graph, 32, 100).ids
    );
}

#[test]
fn damaged_graph_file_and_pages_are_detected() {
    let t = tmp();
    let d = t.path().join("x");
    copy_dir(shared(), &d);
    // A flipped bit in graphs.bin: open fails on the manifest checksum.
    let path = quarry_storage::Manifest::load(&d)
        .unwrap()
        .path_of(&d, GRAPHS_FILE)
        .unwrap();
    let mut g = std::fs::read(&path).unwrap();
    let mid = g.len() / 2;
    g[mid] ^= 4;
    std::fs::write(&path, &g).unwrap();
    let e = Index::open(&d, OpenOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains(GRAPHS_FILE), "{e}");
    g[mid] ^= 4;
    std::fs::write(&path, &g).unwrap();
    // Damaged data pages: partial reads report the page checksum.
    let data = d.join(files::DATA);
    let mut bytes = std::fs::read(&data).unwrap();
    for p in 0..bytes.len() / 4096 {
        bytes[p * 4096 + 2000] ^= 1;
    }
    std::fs::write(&data, &bytes).unwrap();
    let idx = Index::open(&d, OpenOptions::default()).unwrap();
    let partial = SearchParams::new(10)
        .nprobe(NPROBE)
        .strategy(Strategy::Partial)
        .ef(32);
    let e = idx
        .search_batch(&queries()[..128], &partial)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("page checksum"), "{e}");
}

#[test]
fn graph_modes_without_graphs_are_clear_errors() {
    let t = tmp();
    let d = t.path().join("plain");
    build_plain(&d);
    let mut idx = Index::open(&d, OpenOptions::default()).unwrap();
    assert!(!idx.has_graphs() && idx.graph_memory().is_none());
    for mode in [Strategy::Graph, Strategy::Auto, Strategy::Partial] {
        let e = idx
            .search_batch(&queries()[..128], &SearchParams::new(10).strategy(mode))
            .unwrap_err();
        assert!(matches!(e, EngineError::NoGraphs { .. }), "{e}");
        assert!(e.to_string().contains("needs per-partition graphs"), "{e}");
    }
    let g = Index::open(
        shared(),
        OpenOptions {
            io: IoMode::Buffered,
            ..Default::default()
        },
    )
    .unwrap();
    let e = g
        .search_batch(
            &queries()[..128],
            &SearchParams::new(10).strategy(Strategy::Graph).ef(0),
        )
        .unwrap_err();
    assert!(e.to_string().contains("ef = 0 is out of range"), "{e}");
    let e = idx
        .build_graphs(HnswParams { m: 0, ..params() }, &NoProgress)
        .unwrap_err();
    assert!(e.to_string().contains("m = 0"), "{e}");
}

#[test]
fn concurrent_searches_with_different_strategies_match_alone() {
    // Nothing about a search is state of the index: two threads share one `&Index`,
    // one scanning and one searching graphs, and each gets what it gets alone.
    let idx = Index::open(shared(), OpenOptions::default()).unwrap();
    let q = queries();
    let scan = SearchParams::new(10).nprobe(NPROBE);
    let graph = scan.clone().strategy(Strategy::Graph).ef(32);
    let alone_scan = idx.search_batch(&q, &scan).unwrap().neighbors;
    let alone_graph = idx.search_batch(&q, &graph).unwrap().neighbors;
    assert_ne!(alone_scan, alone_graph, "the strategies should differ here");
    let idx = &idx;
    std::thread::scope(|s| {
        let a = s.spawn(|| {
            (0..5)
                .map(|_| idx.search_batch(&q, &scan).unwrap().neighbors)
                .collect::<Vec<_>>()
        });
        let b = s.spawn(|| {
            (0..5)
                .map(|_| idx.search_batch(&q, &graph).unwrap().neighbors)
                .collect::<Vec<_>>()
        });
        for r in a.join().unwrap() {
            assert_eq!(r, alone_scan);
        }
        for r in b.join().unwrap() {
            assert_eq!(r, alone_graph);
        }
    });
}
