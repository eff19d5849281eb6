//! MLP router, learned duplication and closure replication on the SIFT10K fixture
//! (10,000 x 128 u8): small models and few epochs so the suite stays fast.

use quarry_engine::{
    build_index, exact_knn, rewrite_with_copies, BuildConfig, EngineError, Index, Metric,
    NoProgress, OpenOptions, SearchParams,
};
use quarry_formats::{open_vectors, read_queries};
use quarry_learn::mlp::{save_router, train, training_set, TrainConfig, Trained, TrainingSet};
use quarry_learn::LearnError;
use quarry_routing::mlp::{Mlp, MlpError, MlpRouter, ProbeRule, WEIGHTS_FILE};
use quarry_routing::{Composed, FixedNprobe, RouteInput, Router};
use std::path::{Path, PathBuf};

const PARTS: usize = 16;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/siftsmall")
        .join(name)
}

fn tmp() -> tempfile::TempDir {
    // Under target/: /tmp may be a tmpfs without O_DIRECT.
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

fn build(dir: &Path, replicate: Option<(f32, usize)>) -> Index {
    let mut cfg = BuildConfig::new(PARTS, Metric::L2);
    cfg.replicate = replicate;
    build_index(&fixture("siftsmall_base.bvecs"), dir, &cfg, &NoProgress).unwrap();
    Index::open(dir, OpenOptions::default()).unwrap()
}

fn small_set(count: usize) -> TrainingSet {
    let base = open_vectors(&fixture("siftsmall_base.bvecs")).unwrap();
    training_set(
        base.as_ref(),
        base.as_ref(),
        Metric::L2,
        count,
        7,
        &NoProgress,
    )
    .unwrap()
}

fn cfg(epochs: usize, dup_every: usize) -> TrainConfig {
    TrainConfig {
        hidden: 64,
        epochs,
        batch: 256,
        dup_every,
        holdout: 0.1,
        ..Default::default()
    }
}

/// Trains on `index` as it stores its vectors now.
fn train_with(index: &Index, set: &TrainingSet, c: &TrainConfig) -> Result<Trained, LearnError> {
    let holders = index.holders().unwrap();
    let centroids = index.centroids();
    let centroids = centroids.centroids();
    train(
        set,
        &holders,
        PARTS,
        Metric::L2,
        centroids,
        c,
        &NoProgress,
        &mut |_| {},
    )
}

fn queries() -> Vec<f32> {
    read_queries(&fixture("siftsmall_query.fvecs"))
        .unwrap()
        .data
}

/// Every query's results against brute force over the base: ids and order equal.
fn assert_exact(index: &Index, router: Box<dyn Router>, k: usize) {
    let q = queries();
    let base = open_vectors(&fixture("siftsmall_base.bvecs")).unwrap();
    let truth = exact_knn(base.as_ref(), &q, Metric::L2, k, 4096, &NoProgress).unwrap();
    let got = index
        .prepare_with(&SearchParams::new(k), router)
        .unwrap()
        .search_batch(&q)
        .unwrap();
    for (g, t) in got.neighbors.iter().zip(&truth) {
        let mut ids: Vec<u64> = g.iter().map(|n| n.id).collect();
        assert_eq!(ids, t.iter().map(|n| n.id).collect::<Vec<_>>());
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), k, "an id returned twice");
    }
}

#[test]
fn training_lowers_loss_and_beats_chance_on_held_out_queries() {
    let t = tmp();
    let index = build(&t.path().join("idx"), None);
    let set = small_set(3000);
    // Leave-one-out: no training query is labelled with itself.
    assert!(set.nn_gap.iter().all(|&g| g > 0.0));
    let tr = train_with(&index, &set, &cfg(25, 0)).unwrap();
    let first = tr.epochs[0].loss;
    let last = tr.epochs.last().unwrap().loss;
    assert!(last < 0.7 * first, "loss {first} -> {last}");
    assert!(
        tr.holdout_top1 > 4.0 * tr.holdout_chance && tr.holdout_top1 > 0.4,
        "held-out top-1 {} vs chance {}",
        tr.holdout_top1,
        tr.holdout_chance
    );
    assert!(tr.copies.is_empty() && tr.rounds.is_empty());
    // Kept weights are the best epoch's on the held-out queries.
    let best = tr.epochs.iter().map(|e| e.holdout_top1).fold(0.0, f64::max);
    assert_eq!(tr.holdout_top1, best);
    // The nearest-centroid baseline on the same queries; without copies both agree.
    assert!(tr.holdout_centroid_top1 > 0.3 && tr.holdout_centroid_top1 <= 1.0);
    assert_eq!(tr.holdout_centroid_top1, tr.holdout_centroid_top1_dup);

    // GBDT-style composition: another router's counts, filled in MLP order. With a
    // fixed count of 3 it is exactly the MLP's top 3.
    let q = queries();
    // Only the count of the fixed router's lists matters here.
    let ranked = quarry_routing::RankedPartitions {
        per_query: vec![(0..PARTS as u32).map(|p| (p, 0.0)).collect(); q.len() / 128],
    };
    let mlp = MlpRouter::new(tr.model, ProbeRule::Count(PARTS)).unwrap();
    let top3 = mlp.route(&q).unwrap();
    let three = Box::new(FixedNprobe::new(3).unwrap());
    let composed = Composed::new(three, Box::new(mlp))
        .unwrap()
        .select(&RouteInput {
            queries: &q,
            dim: 128,
            k: 10,
            ranked: Some(&ranked),
        })
        .unwrap();
    for (c, t) in composed.iter().zip(&top3) {
        assert_eq!(c[..], t[..3]);
    }
}

#[test]
fn same_seed_same_model_and_other_seed_differs() {
    let t = tmp();
    let index = build(&t.path().join("idx"), None);
    let set = small_set(1000);
    let run = |seed: u64| {
        let mut c = cfg(4, 2);
        c.seed = seed;
        let tr = train_with(&index, &set, &c).unwrap();
        (
            tr.model.to_bytes(serde_json::Value::Null).unwrap(),
            tr.copies,
        )
    };
    let a = run(1);
    assert_eq!(a, run(1));
    assert_ne!(a.0, run(2).0);
}

#[test]
fn model_roundtrips_through_the_index_and_corruption_is_detected() {
    let t = tmp();
    let dir = t.path().join("idx");
    let mut index = build(&dir, None);
    assert!(matches!(
        index.mlp_model(),
        Err(EngineError::NoModel { router: "mlp", .. })
    ));
    let set = small_set(500);
    // The plain MLP round-trips too (no prior tensors).
    let plain = TrainConfig {
        centroid_prior: false,
        ..cfg(2, 0)
    };
    let tr = train_with(&index, &set, &plain).unwrap();
    let (w, c) = tr.model.to_bytes(serde_json::Value::Null).unwrap();
    let back = Mlp::from_bytes(&w, &c).unwrap();
    assert_eq!(
        tr.model.probabilities(&queries()).unwrap(),
        back.probabilities(&queries()).unwrap()
    );
    let tr = train_with(&index, &set, &cfg(2, 0)).unwrap();
    save_router(&mut index, &tr.model, serde_json::json!({"test": true})).unwrap();
    let reopened = Index::open(&dir, OpenOptions::default()).unwrap();
    let loaded = reopened.mlp_model().unwrap();
    let q = queries();
    assert!(
        tr.model.probabilities(&q).unwrap() == loaded.probabilities(&q).unwrap(),
        "reloaded model computes other probabilities"
    );
    // A flipped byte in the weights is a checksum error, not a different model.
    let path = quarry_storage::Manifest::load(&dir)
        .unwrap()
        .path_of(&dir, WEIGHTS_FILE)
        .unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 5;
    bytes[at] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let reopened = Index::open(&dir, OpenOptions::default()).unwrap();
    let err = reopened
        .mlp_model()
        .err()
        .expect("corruption must be reported");
    assert!(
        err.to_string().contains("crc") || err.to_string().contains("checksum"),
        "{err}"
    );
    // Garbage or truncated bytes are clear errors too.
    let (w, c) = tr.model.to_bytes(serde_json::Value::Null).unwrap();
    assert!(matches!(
        Mlp::from_bytes(&w[..w.len() / 2], &c),
        Err(MlpError::BadModel(_))
    ));
    assert!(matches!(
        Mlp::from_bytes(&w, b"{}"),
        Err(MlpError::BadModel(_))
    ));
}

#[test]
fn duplicated_index_holds_the_copies_and_returns_each_id_once() {
    let t = tmp();
    let index = build(&t.path().join("idx"), None);
    let set = small_set(2000);
    let tr = train_with(&index, &set, &cfg(6, 3)).unwrap();
    assert_eq!(tr.rounds.len(), 2);
    assert!(!tr.copies.is_empty());
    assert!(tr.copies.len() <= 1000, "cap is 10% of 10,000");
    let dup_dir = t.path().join("dup");
    let rep = rewrite_with_copies(
        &index,
        &fixture("siftsmall_base.bvecs"),
        &dup_dir,
        &tr.copies,
        serde_json::Value::Null,
        64,
        &NoProgress,
    )
    .unwrap();
    assert_eq!(rep.copies_before, 0);
    assert_eq!(rep.copies_after, tr.copies.len() as u64);
    let dup = Index::open(&dup_dir, OpenOptions::default()).unwrap();
    let total: u64 = dup.partition_sizes().iter().sum();
    assert_eq!(total, 10_000 + tr.copies.len() as u64);
    assert_eq!((dup.len(), dup.stored_vectors()), (10_000, total));
    let h = dup.holders().unwrap();
    for &(id, p) in &tr.copies {
        assert!(h[id as usize].contains(&p) && h[id as usize].len() >= 2);
    }
    // Probing every partition reads every copy: results are still exact, ids once.
    assert_exact(&dup, Box::new(FixedNprobe::new(PARTS).unwrap()), 10);
    // So does the MLP router asked for every partition.
    let r = MlpRouter::new(tr.model, ProbeRule::Count(PARTS)).unwrap();
    assert_exact(&dup, Box::new(r), 10);
    // A wrong base file is refused.
    let err = rewrite_with_copies(
        &index,
        &fixture("siftsmall_query.fvecs"),
        &t.path().join("bad"),
        &tr.copies,
        serde_json::Value::Null,
        64,
        &NoProgress,
    )
    .unwrap_err();
    assert!(err.to_string().contains("is not the base index"), "{err}");
}

#[test]
fn closure_replication_build_is_exact_when_probing_everything() {
    let t = tmp();
    let index = build(&t.path().join("rep"), Some((0.2, 8)));
    let total: u64 = index.partition_sizes().iter().sum();
    let replicas = index.build_info().unwrap().replicas;
    assert!(replicas > 0 && total == 10_000 + replicas);
    // Copies are stored vectors, not more vectors: k is bounded by the distinct ids.
    assert_eq!((index.len(), index.stored_vectors()), (10_000, total));
    let h = index.holders().unwrap();
    let bad: Vec<_> = h
        .iter()
        .enumerate()
        .filter(|(_, p)| p.is_empty() || p.len() > 8)
        .take(3)
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
    assert_exact(&index, Box::new(FixedNprobe::new(PARTS).unwrap()), 10);
    // Same input, same replicas: the build is deterministic.
    let again = build(&t.path().join("rep2"), Some((0.2, 8)));
    assert_eq!(again.holders().unwrap(), h);
}

#[test]
fn bad_settings_are_clear_errors() {
    let t = tmp();
    let index = build(&t.path().join("idx"), None);
    let set = small_set(200);
    let go = |c: TrainConfig| train_with(&index, &set, &c);
    for c in [
        TrainConfig {
            epochs: 0,
            ..cfg(1, 0)
        },
        TrainConfig {
            lr: -1.0,
            ..cfg(1, 0)
        },
        TrainConfig {
            noise: f32::NAN,
            ..cfg(1, 0)
        },
        TrainConfig {
            dup_share: 1.5,
            ..cfg(1, 0)
        },
    ] {
        assert!(matches!(go(c), Err(LearnError::BadConfig(_))));
    }
    let tr = go(cfg(1, 0)).unwrap();
    assert!(MlpRouter::new(tr.model, ProbeRule::Count(0)).is_err());
    let tr = go(cfg(1, 0)).unwrap();
    let err = MlpRouter::new(tr.model, ProbeRule::Mass { mass: 1.5, max: 4 })
        .err()
        .unwrap();
    assert!(err.to_string().contains("mass"), "{err}");
    // Training vectors of another dimension.
    let base = open_vectors(&fixture("siftsmall_base.bvecs")).unwrap();
    let other = t.path().join("other.fbin");
    quarry_formats::write_fbin(&other, 4, &[0.0f32; 40]).unwrap();
    let other = open_vectors(&other).unwrap();
    let err = training_set(
        other.as_ref(),
        base.as_ref(),
        Metric::L2,
        10,
        1,
        &NoProgress,
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("dimensions"), "{err}");
}

#[test]
fn hidden_width_is_bounded_before_allocating() {
    // Issue 14 defect 5: a width from a flag or a model file sizes hidden x hidden
    // weights; 2^40 used to be allocated (and initialised) as asked.
    let cfg = quarry_routing::mlp::MlpConfig {
        dim: 4,
        hidden: 1 << 40,
        partitions: 4,
        metric: Metric::L2,
        centroid_prior: false,
    };
    let e = Mlp::new(cfg.clone(), vec![0.0; 4], 1.0, 1, &[], 1.0)
        .err()
        .expect("refused");
    assert!(
        matches!(&e, MlpError::BadConfig(m) if m.contains("exceeds 8192")),
        "{e}"
    );
    let ok = quarry_routing::mlp::MlpConfig {
        hidden: quarry_routing::mlp::MAX_HIDDEN.min(64),
        ..cfg
    };
    Mlp::new(ok, vec![0.0; 4], 1.0, 1, &[], 1.0).unwrap();
}
