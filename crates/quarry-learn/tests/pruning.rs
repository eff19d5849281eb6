//! Learned pruning on the SIFT10K fixture: labels against brute force and the real
//! executor, model persistence and corruption, determinism, target-recall mode.

// The engine tests' helpers (fixtures, scratch dirs under target/), shared.
#[path = "../../quarry-engine/tests/common/mod.rs"]
mod common;
use common::{fixture, tmp};
use quarry_engine::{
    build_index, exact_knn, BatchResult, BuildConfig, EngineError, GbdtRule, Index, Metric,
    NoProgress, OpenOptions, RouterSpec, SearchParams,
};
use quarry_formats::{open_vectors, read_queries};
use quarry_learn::pruning::{
    coverage_positions, label_from_positions, recall_at_count, train_pruning, PruningConfig,
    TrainQueries,
};
use quarry_learn::PartitionMap;
use quarry_routing::pruning::PRUNING_FILE;
use quarry_routing::pruning::{FeatureSet, GbdtParams};
use quarry_routing::{FixedNprobe, PruningModel, Router, RoutingError};
use quarry_routing::{GbdtRouter, RouteInput};

/// A batch through a router of the test's own.
fn search_with(index: &Index, queries: &[f32], k: usize, r: Box<dyn Router>) -> BatchResult {
    index
        .prepare_with(&SearchParams::new(k), r)
        .unwrap()
        .search_batch(queries)
        .unwrap()
}

/// The index's GBDT router (margin mode with `target` None).
fn pruning_router(
    index: &Index,
    k: usize,
    margin: f32,
    target: Option<f32>,
    max_nprobe: Option<usize>,
) -> Result<Box<dyn Router>, EngineError> {
    let rule = match target {
        Some(t) => GbdtRule::TargetRecall(t),
        None => GbdtRule::Margin { margin, max_nprobe },
    };
    index.router(&RouterSpec::Gbdt { rule }, k)
}

fn select(r: &dyn Router, index: &Index, queries: &[f32], k: usize) -> Vec<Vec<u32>> {
    let ranked = index
        .centroids()
        .rank(queries, r.ranking_depth().unwrap())
        .unwrap();
    r.select(&RouteInput {
        queries,
        dim: index.dim(),
        k,
        ranked: Some(&ranked),
    })
    .unwrap()
}
use std::path::PathBuf;

const PARTS: usize = 32;

fn small_config() -> PruningConfig {
    PruningConfig {
        label_k: 10,
        queries: 1500,
        max_nprobe: PARTS,
        features: FeatureSet {
            k: 8,
            d1: true,
            norm: true,
        },
        gbdt: GbdtParams {
            rounds: 60,
            learning_rate: 0.1,
            max_depth: 4,
            seed: 7,
        },
        seed: 7,
        ..Default::default()
    }
}

/// A fresh index of the fixture with a trained model; returns (tempdir, index dir).
fn trained() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let t = tmp();
    let dir = t.path().join("sift.quarry");
    build_index(
        &fixture("siftsmall_base.bvecs"),
        &dir,
        &BuildConfig::new(PARTS, Metric::L2),
        &NoProgress,
    )
    .unwrap();
    let mut index = Index::open(&dir, OpenOptions::default()).unwrap();
    let base = open_vectors(&fixture("siftsmall_base.bvecs")).unwrap();
    let (model, report) = train_pruning(
        &mut index,
        base.as_ref(),
        TrainQueries::FromBase,
        &small_config(),
        &NoProgress,
    )
    .unwrap();
    assert_eq!(report.train_queries + report.calibration_queries, 1500);
    assert!(report.model_bytes > 0);
    let bytes = model.to_bytes().unwrap();
    (t, dir, bytes)
}

#[test]
fn labels_match_brute_force_and_the_executor() {
    let t = tmp();
    let dir = t.path().join("sift.quarry");
    build_index(
        &fixture("siftsmall_base.bvecs"),
        &dir,
        &BuildConfig::new(PARTS, Metric::L2),
        &NoProgress,
    )
    .unwrap();
    let index = Index::open(&dir, OpenOptions::default()).unwrap();
    let base = open_vectors(&fixture("siftsmall_base.bvecs")).unwrap();
    let q = read_queries(&fixture("siftsmall_query.fvecs")).unwrap();
    let nq = 25;
    let k = 10;
    let queries = &q.data[..nq * q.dim];
    let gt = exact_knn(base.as_ref(), queries, Metric::L2, k, 4096, &NoProgress).unwrap();
    let map = PartitionMap::of_index(&index).unwrap();
    let ranked = index.centroids().rank(queries, PARTS).unwrap();
    let mut scratch = Vec::new();
    let positions: Vec<Vec<u32>> = ranked
        .per_query
        .iter()
        .zip(&gt)
        .map(|(r, nb)| {
            let order: Vec<u32> = r.iter().map(|p| p.0).collect();
            coverage_positions(&order, nb, &map, &mut scratch)
        })
        .collect();
    // The executor with c partitions must find exactly the neighbours whose
    // positions are <= c; the full label is the first c finding all of them.
    let mut full_label = vec![0u32; nq];
    for c in 1..=PARTS {
        let res = search_with(&index, queries, k, Box::new(FixedNprobe::new(c).unwrap()));
        for qi in 0..nq {
            let found = res.neighbors[qi]
                .iter()
                .filter(|n| gt[qi].iter().any(|g| g.id == n.id))
                .count();
            let want = recall_at_count(&positions[qi], k, c);
            assert_eq!(
                found as f64 / k as f64,
                want,
                "query {qi}, {c} partitions: search recall vs label positions"
            );
            if found == k && full_label[qi] == 0 {
                full_label[qi] = c as u32;
            }
        }
    }
    for qi in 0..nq {
        assert_eq!(label_from_positions(&positions[qi], 1.0), full_label[qi]);
        // A fraction label never exceeds the full one and is reached by that count.
        let half = label_from_positions(&positions[qi], 0.5);
        assert!(half <= full_label[qi]);
        assert!(recall_at_count(&positions[qi], k, half as usize) >= 0.5);
        if half > 1 {
            assert!(recall_at_count(&positions[qi], k, half as usize - 1) < 0.5);
        }
    }
}

#[test]
fn model_roundtrips_is_deterministic_and_detects_corruption() {
    let (_t, dir, bytes) = trained();
    // Same seed, same data: the same bytes.
    let (_t2, _dir2, bytes2) = trained();
    assert_eq!(bytes, bytes2, "training is not deterministic");

    let model = PruningModel::from_bytes(&bytes).unwrap();
    assert_eq!(model.to_bytes().unwrap(), bytes);
    let index = Index::open(&dir, OpenOptions::default()).unwrap();
    assert!(index.has_file(PRUNING_FILE));
    let loaded = index.pruning_model().unwrap();
    assert_eq!(loaded.to_bytes().unwrap(), bytes);

    // Any flipped payload byte, a truncation or a bad magic is an error, never a model.
    for pos in [0usize, 9, 25, bytes.len() / 2, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[pos] ^= 0x10;
        let e = PruningModel::from_bytes(&bad).unwrap_err();
        assert!(matches!(e, RoutingError::ModelFile(_)), "{e}");
    }
    let e = PruningModel::from_bytes(&bytes[..bytes.len() - 3]).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");

    // Damage on disk is caught by the index checksum.
    let path = quarry_storage::Manifest::load(&dir)
        .unwrap()
        .path_of(&dir, PRUNING_FILE)
        .unwrap();
    let mut disk = std::fs::read(&path).unwrap();
    let mid = disk.len() / 2;
    disk[mid] ^= 1;
    std::fs::write(&path, &disk).unwrap();
    let index = Index::open(&dir, OpenOptions::default()).unwrap();
    assert!(index.pruning_model().is_err());
}

#[test]
fn router_is_deterministic_and_target_recall_is_monotone() {
    let (_t, dir, _) = trained();
    let index = Index::open(&dir, OpenOptions::default()).unwrap();
    let q = read_queries(&fixture("siftsmall_query.fvecs")).unwrap();
    let k = 10;
    let a = pruning_router(&index, k, 0.0, None, None).unwrap();
    let b = pruning_router(&index, k, 0.0, None, None).unwrap();
    let all = select(a.as_ref(), &index, &q.data, k);
    assert_eq!(all, select(b.as_ref(), &index, &q.data, k));
    // Batch or one at a time: the same choice per query.
    let one_by_one: Vec<Vec<u32>> = (0..q.n)
        .flat_map(|i| select(a.as_ref(), &index, q.row(i), k))
        .collect();
    assert_eq!(all, one_by_one);

    // A higher target never probes fewer partitions for any query, and probes are
    // prefixes of one centroid order, so recall against brute force never falls.
    let base = open_vectors(&fixture("siftsmall_base.bvecs")).unwrap();
    let gt = exact_knn(base.as_ref(), &q.data, Metric::L2, k, 4096, &NoProgress).unwrap();
    let ranked = index.centroids().rank(&q.data, PARTS).unwrap();
    let mut prev: Option<Vec<usize>> = None;
    let mut recalls = Vec::new();
    for target in [0.5f32, 0.7, 0.8, 0.9, 0.95, 0.99] {
        let r = GbdtRouter::for_target(index.pruning_model().unwrap(), target, k).unwrap();
        let counts = r.counts(&q.data, &ranked);
        if let Some(p) = &prev {
            assert!(
                p.iter().zip(&counts).all(|(a, b)| a <= b),
                "counts shrank when the target rose to {target}"
            );
        }
        prev = Some(counts);
        let res = search_with(&index, &q.data, k, Box::new(r));
        let hits: usize = res
            .neighbors
            .iter()
            .zip(&gt)
            .map(|(found, truth)| {
                found
                    .iter()
                    .filter(|n| truth.iter().any(|t| t.id == n.id))
                    .count()
            })
            .sum();
        recalls.push(hits as f64 / (q.n * k) as f64);
    }
    assert!(
        recalls.windows(2).all(|w| w[0] <= w[1]),
        "recall fell as the target rose: {recalls:?}"
    );
    assert!(recalls[5] >= 0.9, "target 0.99 reached only {recalls:?}");
}

#[test]
fn bad_inputs_give_clear_errors() {
    let (_t, dir, _) = trained();
    let index = Index::open(&dir, OpenOptions::default()).unwrap();
    for bad in [0.0f32, -0.5, 1.5, f32::NAN] {
        let e = pruning_router(&index, 10, 0.0, Some(bad), None)
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("target recall must be in (0, 1]"),
            "{e}"
        );
    }
    let e = pruning_router(&index, 10, 0.0, None, Some(0))
        .err()
        .unwrap();
    assert!(e.to_string().contains("nprobe must be at least 1"), "{e}");
    let e = pruning_router(&index, 10, f32::INFINITY, None, None)
        .err()
        .unwrap();
    assert!(e.to_string().contains("margin"), "{e}");
    // Calibrated for k <= 10 only.
    let e = pruning_router(&index, 50, 0.0, Some(0.9), None)
        .err()
        .unwrap();
    assert!(
        matches!(
            e,
            EngineError::Routing(RoutingError::NotCalibrated { k: 50, .. })
        ),
        "{e}"
    );

    // An index without a model says how to train one.
    let t = tmp();
    let plain = t.path().join("plain.quarry");
    build_index(
        &fixture("siftsmall_base.bvecs"),
        &plain,
        &BuildConfig::new(8, Metric::L2),
        &NoProgress,
    )
    .unwrap();
    let mut index = Index::open(&plain, OpenOptions::default()).unwrap();
    let e = pruning_router(&index, 10, 0.0, None, None).err().unwrap();
    assert!(
        matches!(e, EngineError::NoModel { router: "gbdt", .. }),
        "{e}"
    );

    // Training against another base file is refused.
    let other = open_vectors(&fixture("siftsmall_query.fvecs")).unwrap();
    let e = train_pruning(
        &mut index,
        other.as_ref(),
        TrainQueries::FromBase,
        &small_config(),
        &NoProgress,
    )
    .unwrap_err();
    assert!(e.to_string().contains("is not the base index"), "{e}");
    let mut cfg = small_config();
    cfg.label_fraction = 0.0;
    let base = open_vectors(&fixture("siftsmall_base.bvecs")).unwrap();
    let e = train_pruning(
        &mut index,
        base.as_ref(),
        TrainQueries::FromBase,
        &cfg,
        &NoProgress,
    )
    .unwrap_err();
    assert!(e.to_string().contains("label_fraction"), "{e}");
}
