//! Training a router needs the index's writer lock: a second writer fails at once.

// The engine tests' helpers (fixtures, scratch dirs under target/), shared.
#[path = "../../quarry-engine/tests/common/mod.rs"]
mod common;
use common::{tmp, write_uniform_fbin};
use quarry_engine::{
    build_index, BuildConfig, EngineError, Index, Metric, NoProgress, OpenOptions,
};
use quarry_formats::open_vectors;
use quarry_learn::pruning::{train_pruning, PruningConfig, TrainQueries};
use quarry_learn::LearnError;
use quarry_storage::StorageError;

#[test]
fn training_waits_for_no_one() {
    let t = tmp();
    let base = t.path().join("base.fbin");
    write_uniform_fbin(&base, 2000, 8, 3);
    let dir = t.path().join("idx");
    build_index(&base, &dir, &BuildConfig::new(8, Metric::L2), &NoProgress).unwrap();
    let mut first = Index::open(&dir, OpenOptions::default()).unwrap();
    first.lock_writer().unwrap();
    let mut second = Index::open(&dir, OpenOptions::default()).unwrap();
    let src = open_vectors(&base).unwrap();
    let cfg = PruningConfig {
        label_k: 5,
        queries: 100,
        max_nprobe: 4,
        ..Default::default()
    };
    let e = train_pruning(
        &mut second,
        src.as_ref(),
        TrainQueries::FromBase,
        &cfg,
        &NoProgress,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            LearnError::Engine(EngineError::Storage(StorageError::Locked { .. }))
        ),
        "{e}"
    );
    first.unlock_writer();
    train_pruning(
        &mut second,
        src.as_ref(),
        TrainQueries::FromBase,
        &cfg,
        &NoProgress,
    )
    .unwrap();
}
