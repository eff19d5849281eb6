//! Format versioning: an index written by the first release of the on-disk format
//! (format_version 1) is committed under tests/fixtures/index-v1/. Every later
//! version must keep opening it and return the stored results — or refuse it with a
//! clear "rebuild" message, which then has to be a deliberate format_version bump.
//!
//! The fixture: 300 x 16 f32 base vectors and 10 queries (`base.fbin`,
//! `queries.fbin`, from a fixed generator below), 4 partitions, seed 42, L2;
//! `expected.json` holds the top-10 ids and distances with nprobe 4 (everything:
//! the exact neighbours) and nprobe 1. Regenerate only when the format changes on
//! purpose (and bump FORMAT_VERSION then, keeping a reader or an upgrade message for
//! version 1):
//!
//! ```sh
//! QUARRY_REGENERATE_FIXTURE=1 cargo test -p quarry-engine --test format_fixture -- --ignored
//! ```

mod common;
use common::tmp;
use quarry_engine::{
    build_index, exact_knn, BuildConfig, EngineError, Index, IoMode, Metric, NoProgress,
    OpenOptions, SearchParams,
};
use quarry_formats::{open_vectors, read_queries, write_fbin};
use quarry_storage::{files, IndexFiles, Manifest, StorageError, FORMAT_VERSION};
use std::path::{Path, PathBuf};

const N: usize = 300;
const DIM: usize = 16;
const NQ: usize = 10;
const PARTS: usize = 4;
const K: usize = 10;
const NPROBES: [usize; 2] = [4, 1];
const INDEX_FILES: [&str; 4] = [files::MANIFEST, files::CENTROIDS, files::TABLE, files::DATA];

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/index-v1")
}

/// splitmix64 -> uniform f32 in [-1, 1), with a few clusters so partitions differ.
fn generate(rows: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    let mut next = move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    let centres: Vec<f32> = (0..6 * DIM).map(|_| next() * 4.0).collect();
    let mut out = Vec::with_capacity(rows * DIM);
    for r in 0..rows {
        let c = &centres[(r % 6) * DIM..(r % 6 + 1) * DIM];
        out.extend(c.iter().map(|&x| x + next()));
    }
    out
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct Expected {
    k: usize,
    searches: Vec<ExpectedSearch>,
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct ExpectedSearch {
    nprobe: usize,
    ids: Vec<Vec<u64>>,
    dists: Vec<Vec<f32>>,
}

fn search_all(dir: &Path, io: IoMode) -> Result<Expected, EngineError> {
    let idx = Index::open(
        dir,
        OpenOptions {
            io,
            ..Default::default()
        },
    )?;
    let q = read_queries(&fixture_dir().join("queries.fbin"))?;
    let mut searches = Vec::new();
    for nprobe in NPROBES {
        let res = idx.search_batch(&q.data, &SearchParams::new(K).nprobe(nprobe))?;
        searches.push(ExpectedSearch {
            nprobe,
            ids: res
                .neighbors
                .iter()
                .map(|r| r.iter().map(|n| n.id).collect())
                .collect(),
            dists: res
                .neighbors
                .iter()
                .map(|r| r.iter().map(|n| n.dist).collect())
                .collect(),
        });
    }
    Ok(Expected { k: K, searches })
}

fn expected() -> Expected {
    let text = std::fs::read_to_string(fixture_dir().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn assert_matches(got: &Expected, want: &Expected, what: &str) {
    assert_eq!(got.k, want.k);
    assert_eq!(got.searches.len(), want.searches.len());
    for (g, w) in got.searches.iter().zip(&want.searches) {
        assert_eq!(g.nprobe, w.nprobe);
        assert_eq!(g.ids, w.ids, "{what}: ids with nprobe {}", w.nprobe);
        // Distances are exact re-scores; allow for a different summation order of a
        // later kernel, nothing more.
        for (gr, wr) in g.dists.iter().zip(&w.dists) {
            for (a, b) in gr.iter().zip(wr) {
                assert!(
                    (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                    "{what}: distance {a} vs stored {b} (nprobe {})",
                    w.nprobe
                );
            }
        }
    }
}

fn copy_index(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in INDEX_FILES {
        std::fs::copy(fixture_dir().join("index").join(f), to.join(f)).unwrap();
    }
}

#[test]
fn the_v1_fixture_opens_and_returns_the_stored_results() {
    let dir = fixture_dir().join("index");
    let files = IndexFiles::open(&dir).unwrap();
    let m = &files.manifest;
    assert_eq!(m.format_version, 1);
    assert_eq!(
        (m.dim, m.num_vectors, m.num_partitions),
        (DIM, N as u64, PARTS)
    );
    let want = expected();
    // In place (read only, through the page cache: the checkout's file system may not
    // do O_DIRECT) and from a copy under target/ with direct I/O.
    assert_matches(
        &search_all(&dir, IoMode::Buffered).unwrap(),
        &want,
        "buffered",
    );
    let t = tmp();
    copy_index(&t.path().join("idx"));
    assert_matches(
        &search_all(&t.path().join("idx"), IoMode::Direct).unwrap(),
        &want,
        "direct",
    );
}

#[test]
fn the_stored_results_with_every_partition_probed_are_the_exact_neighbours() {
    let base = open_vectors(&fixture_dir().join("base.fbin")).unwrap();
    assert_eq!((base.len(), base.dim()), (N, DIM));
    let q = read_queries(&fixture_dir().join("queries.fbin")).unwrap();
    let exact = exact_knn(base.as_ref(), &q.data, Metric::L2, K, 128, &NoProgress).unwrap();
    let want = expected();
    let all = want.searches.iter().find(|s| s.nprobe == PARTS).unwrap();
    let exact_ids: Vec<Vec<u64>> = exact
        .iter()
        .map(|r| r.iter().map(|n| n.id).collect())
        .collect();
    assert_eq!(all.ids, exact_ids);
}

fn assert_rebuild_error(dir: &Path, found: u32) {
    let e = IndexFiles::open(dir).unwrap_err();
    assert!(
        matches!(e, StorageError::Version { found: f, supported: FORMAT_VERSION, .. } if f == found),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("index format version {found} is not supported")),
        "{msg}"
    );
    assert!(msg.contains("rebuild the index"), "{msg}");
    match Index::open(dir, OpenOptions::default()) {
        Err(EngineError::Storage(StorageError::Version { .. })) => {}
        Err(e) => panic!("expected a version error, got {e}"),
        Ok(_) => panic!("a version {found} index opened"),
    }
}

#[test]
fn a_format_version_2_manifest_gives_the_rebuild_error() {
    let t = tmp();
    let dir = t.path().join("idx");
    copy_index(&dir);
    let m = dir.join(files::MANIFEST);
    let text = std::fs::read_to_string(&m).unwrap();
    assert!(text.contains("\"format_version\": 1,"));
    let v2 = text.replace("\"format_version\": 1,", "\"format_version\": 2,");
    // A plain edit (the version-1 checksum no longer matches: the version is checked
    // first, since another version may protect its manifest differently) ...
    std::fs::write(&m, &v2).unwrap();
    assert_rebuild_error(&dir, 2);
    // ... and a manifest that is otherwise a valid sealed one.
    let body = v2.as_bytes();
    let body = &body[..body.len() - 27];
    std::fs::write(&m, Manifest::seal(body)).unwrap();
    assert_rebuild_error(&dir, 2);
    // Sanity: resealing the original body gives back the original file.
    let orig = text.as_bytes();
    assert_eq!(Manifest::seal(&orig[..orig.len() - 27]), orig);
}

/// Writes the fixture. Ignored, and a no-op without QUARRY_REGENERATE_FIXTURE=1, so
/// `--ignored` runs never rewrite it by accident.
#[test]
#[ignore]
fn regenerate_fixture() {
    if std::env::var_os("QUARRY_REGENERATE_FIXTURE").is_none() {
        eprintln!("set QUARRY_REGENERATE_FIXTURE=1 to rewrite tests/fixtures/index-v1");
        return;
    }
    let root = fixture_dir();
    std::fs::create_dir_all(&root).unwrap();
    write_fbin(&root.join("base.fbin"), DIM, &generate(N, 42)).unwrap();
    write_fbin(&root.join("queries.fbin"), DIM, &generate(NQ, 4242)).unwrap();
    let t = tmp();
    let built = t.path().join("idx");
    let mut cfg = BuildConfig::new(PARTS, Metric::L2);
    cfg.seed = 42;
    build_index(&root.join("base.fbin"), &built, &cfg, &NoProgress).unwrap();
    let _ = std::fs::remove_dir_all(root.join("index"));
    std::fs::create_dir_all(root.join("index")).unwrap();
    for f in INDEX_FILES {
        std::fs::copy(built.join(f), root.join("index").join(f)).unwrap();
    }
    let exp = search_all(&root.join("index"), IoMode::Buffered).unwrap();
    let mut text = serde_json::to_string_pretty(&exp).unwrap();
    text.push('\n');
    std::fs::write(root.join("expected.json"), text).unwrap();
}
