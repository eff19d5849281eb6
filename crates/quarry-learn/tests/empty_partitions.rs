//! Learned pruning trains and routes on an index with an empty partition (3,000
//! identical vectors in 16 partitions).

// The engine tests' helpers (fixtures, scratch dirs under target/), shared.
#[path = "../../quarry-engine/tests/common/mod.rs"]
mod common;
use common::tmp;
use quarry_engine::{
    build_index, BuildConfig, GbdtRule, Index, IoMode, Metric, NoProgress, OpenOptions, RouterSpec,
    SearchParams,
};
use quarry_formats::open_vectors;
use quarry_learn::pruning::{train_pruning, PruningConfig, TrainQueries};
use quarry_routing::pruning::{FeatureSet, GbdtParams};
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

#[test]
fn learned_pruning_trains_and_routes_with_an_empty_partition() {
    let (t, dir, base) = identical();
    let mut idx = open(&dir, IoMode::Direct);
    // Training queries apart from the base: near, not equal to, the stored vector.
    let learn_path = t.path().join("learn.fbin");
    let mut state = 9u64;
    let learn: Vec<f32> = (0..400 * DIM)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            0.5 + ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1
        })
        .collect();
    quarry_formats::write_fbin(&learn_path, DIM, &learn).unwrap();
    let base = open_vectors(&base).unwrap();
    let learn = open_vectors(&learn_path).unwrap();
    let cfg = PruningConfig {
        label_k: 10,
        queries: 400,
        max_nprobe: PARTS,
        features: FeatureSet {
            k: 4,
            d1: true,
            norm: true,
        },
        gbdt: GbdtParams {
            rounds: 10,
            learning_rate: 0.1,
            max_depth: 3,
            seed: 7,
        },
        seed: 7,
        ..Default::default()
    };
    train_pruning(
        &mut idx,
        base.as_ref(),
        TrainQueries::Learn(learn.as_ref()),
        &cfg,
        &NoProgress,
    )
    .unwrap();
    let idx = open(&dir, IoMode::Direct);
    let params = SearchParams::new(10).router(RouterSpec::Gbdt {
        rule: GbdtRule::TargetRecall(0.9),
    });
    let q = vec![0.5f32; 3 * DIM];
    let r = idx.search_batch(&q, &params).unwrap();
    assert!(r.neighbors.iter().all(|l| l.len() == 10));
}
