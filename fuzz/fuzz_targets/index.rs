//! A whole index directory through `quarry_engine::Index::open` and a search: the
//! files every open reads (centroids.bin, and the attached graphs.bin, pages.crc32c,
//! centroid-graph.bin, cost_model.json) with one of them replaced by the input.
//! The template (fuzz/templates/index/: 80 vectors x 4 dims, 4 partitions, graphs,
//! page checksums, centroid graph, cost model) is copied to the scratch directory;
//! the manifest is rewritten to list the fuzzed file with its real size and crc32c,
//! so the checks behind the checksums are reached. An index that opens answers
//! searches of every strategy with at most k neighbours, ids it stores, nearest first.
//!
//! Input: selector u8 (which file), then the file's bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quarry_engine::{Index, IoMode, OpenOptions, SearchParams, Strategy};
use quarry_storage::{FileEntry, Manifest};
use std::path::PathBuf;
use std::sync::OnceLock;

const TEMPLATE: &[(&str, &[u8])] = &[
    (
        "centroids.bin",
        include_bytes!("../templates/index/centroids.bin"),
    ),
    (
        "partitions.bin",
        include_bytes!("../templates/index/partitions.bin"),
    ),
    ("data.bin", include_bytes!("../templates/index/data.bin")),
    (
        "graphs.bin",
        include_bytes!("../templates/index/graphs.bin"),
    ),
    (
        "pages.crc32c",
        include_bytes!("../templates/index/pages.crc32c"),
    ),
    (
        "centroid-graph.bin",
        include_bytes!("../templates/index/centroid-graph.bin"),
    ),
    (
        "cost_model.json",
        include_bytes!("../templates/index/cost_model.json"),
    ),
];
/// The files the input may replace (indexes into TEMPLATE).
const FUZZED: [usize; 5] = [0, 3, 4, 5, 6];

struct Setup {
    dir: PathBuf,
    manifest: Manifest,
}

fn entry(name: &str, b: &[u8]) -> FileEntry {
    FileEntry {
        bytes: b.len() as u64,
        crc32c: (name != "data.bin").then(|| quarry_fuzz::crc32c(b)),
        stored_as: None,
    }
}

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let dir = quarry_fuzz::scratch().join("index");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("manifest.json"),
            include_bytes!("../templates/index/manifest.json"),
        )
        .unwrap();
        let mut manifest = Manifest::load(&dir).expect("template manifest");
        manifest.files.clear();
        manifest.routers.clear();
        manifest.generation = 0;
        for (name, bytes) in TEMPLATE {
            std::fs::write(dir.join(name), bytes).unwrap();
            manifest.files.insert(name.to_string(), entry(name, bytes));
        }
        std::fs::write(dir.join("manifest.json"), manifest.to_bytes()).unwrap();
        let index = Index::open(&dir, opts()).expect("the template opens");
        check(&index);
        Setup { dir, manifest }
    })
}

fn opts() -> OpenOptions {
    OpenOptions {
        io: IoMode::Buffered,
        io_threads: 1,
        read_ahead: 2,
        ..OpenOptions::default()
    }
}

fn check(index: &Index) {
    let n = 80u64;
    let q = [0.3f32, 0.5, 0.2, 0.7];
    for strategy in [
        Strategy::Scan,
        Strategy::Graph,
        Strategy::Auto,
        Strategy::Partial,
    ] {
        // One search of all four partitions per strategy.
        {
            let (k, nprobe) = (10usize, 4usize);
            let p = SearchParams::new(k).nprobe(nprobe).strategy(strategy);
            let r = match index.search(&q, &p) {
                Ok(r) => r,
                Err(e) => {
                    quarry_fuzz::note(format_args!("{strategy:?}: {e}"));
                    continue;
                }
            };
            quarry_fuzz::note(format_args!("{strategy:?}: {} found", r.neighbors.len()));
            assert!(r.neighbors.len() <= k);
            assert!(r.neighbors.iter().all(|nb| nb.id < n));
            assert!(r
                .neighbors
                .windows(2)
                .all(|w| w[0].dist.total_cmp(&w[1].dist).is_le()
                    || w[0].dist.is_nan()
                    || w[1].dist.is_nan()));
        }
    }
    let _ = index.memory();
    let _ = index.graph_memory();
}

fuzz_target!(|data: &[u8]| {
    let Some((sel, body)) = data.split_first() else {
        return;
    };
    let s = setup();
    let (name, original) = TEMPLATE[FUZZED[*sel as usize % FUZZED.len()]];
    let mut m = s.manifest.clone();
    m.files.insert(name.to_string(), entry(name, body));
    std::fs::write(s.dir.join(name), body).unwrap();
    std::fs::write(s.dir.join("manifest.json"), m.to_bytes()).unwrap();
    match Index::open(&s.dir, opts()) {
        Ok(index) => {
            quarry_fuzz::note(format_args!("{name}: opens"));
            assert_eq!(index.num_partitions(), 4);
            check(&index);
        }
        Err(e) => quarry_fuzz::note(format_args!("{name}: {e}")),
    }
    std::fs::write(s.dir.join(name), original).unwrap();
});
