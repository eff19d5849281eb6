//! The learned-pruning model: a gradient-boosted regression forest (forust-ml) that
//! predicts ln(partitions a query needs), plus what search needs to use it: the
//! feature set, the probe cap and the target-recall calibration table.
//!
//! Why forust-ml: a maintained pure-Rust GBDT (histogram-based, depth-wise trees,
//! squared loss, learning rate / rounds / depth / leaves, serde) that builds on stable
//! Rust and runs single-threaded with `parallel = false`. LightGBM through `lightgbm3`
//! would need cmake >= 3.28 and libclang at build time plus a C++ compile in every CI
//! run; the model here is small (a few hundred depth-limited trees over ~20 features),
//! so the pure-Rust library's speed is not the bottleneck.
//!
//! File layout (`pruning.model` inside the index): 8-byte magic, u32 crc32c of the
//! payload, u64 payload length, payload = JSON. The index manifest checksums the file
//! too; the inner checksum makes the file self-verifying when copied alone.

use super::{Allocation, FeatureSet};
use crate::RoutingError;
use forust_ml::{objective::ObjectiveType, GradientBooster, Matrix};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"QPRUNE\x00\x01";
const HEADER: usize = 8 + 4 + 8;

/// Boosting parameters (BAM-ANN's defaults: learning rate 0.05, 500 rounds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GbdtParams {
    pub rounds: usize,
    pub learning_rate: f32,
    pub max_depth: usize,
    pub seed: u64,
}

impl Default for GbdtParams {
    fn default() -> Self {
        GbdtParams {
            rounds: 500,
            learning_rate: 0.05,
            max_depth: 5,
            seed: 42,
        }
    }
}

/// Mean recall on the held-out calibration queries for each margin of a grid, per
/// recall cut-off k: what `--target-recall` reads to pick a margin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Held-out training queries (never evaluation queries) the table was measured on.
    pub queries: usize,
    /// Ascending margins (added to the predicted ln count).
    pub margins: Vec<f32>,
    /// Recall cut-offs, ascending.
    pub ks: Vec<usize>,
    /// `recall[i][j]`: mean recall@`ks[i]` at `margins[j]` (nondecreasing in j).
    pub recall: Vec<Vec<f32>>,
    /// Mean partitions probed per query at `margins[j]`.
    pub partitions: Vec<f32>,
}

impl Calibration {
    /// The smallest margin whose calibrated mean recall@k reaches `target`. Uses the
    /// smallest calibrated cut-off >= k (recall at a larger cut-off is the stricter
    /// requirement at equal probes on these data, so the choice errs toward recall).
    pub fn margin_for(
        &self,
        target: f32,
        k: usize,
        max_nprobe: usize,
    ) -> Result<f32, RoutingError> {
        check_target(target)?;
        let Some(ki) = self.ks.iter().position(|&c| c >= k) else {
            return Err(RoutingError::NotCalibrated {
                k,
                largest: self.ks.last().copied().unwrap_or(0),
            });
        };
        let row = &self.recall[ki];
        match row.iter().position(|&r| r >= target) {
            Some(j) => Ok(self.margins[j]),
            None => Err(RoutingError::TargetUnreachable {
                target,
                k: self.ks[ki],
                best: row.iter().copied().fold(0.0, f32::max),
                max_nprobe,
            }),
        }
    }
}

/// A target recall must be in (0, 1].
pub fn check_target(target: f32) -> Result<(), RoutingError> {
    if target.is_finite() && target > 0.0 && target <= 1.0 {
        Ok(())
    } else {
        Err(RoutingError::BadTarget(target))
    }
}

/// Everything about a model except the trees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    pub features: FeatureSet,
    pub params: GbdtParams,
    /// k of the training labels (top-k exact neighbours).
    pub label_k: usize,
    /// Labels are the partitions needed to hold this fraction of the top-k.
    pub label_fraction: f32,
    /// Default probe cap, also the cap the calibration used.
    pub max_nprobe: usize,
    pub partitions: usize,
    pub train_queries: usize,
    /// Margin policy: calibrated recall per margin.
    pub calibration: Calibration,
    /// Target-recall policy: per-difficulty-bin recall curves.
    pub allocation: Allocation,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    meta: ModelMeta,
    /// forust-ml's own JSON of the booster.
    booster: String,
}

pub struct PruningModel {
    pub meta: ModelMeta,
    booster: GradientBooster,
    flat: FlatForest,
}

/// The forest in a compact array for batch prediction (forust's nodes carry training
/// statistics; walking these is several times faster). Same comparisons, same
/// summation order, so predictions equal forust's bit for bit.
#[derive(Debug, Clone, Default)]
struct FlatForest {
    base: f64,
    roots: Vec<u32>,
    nodes: Vec<FlatNode>,
    /// Missing-value child per node, apart from the hot node array.
    missing: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
struct FlatNode {
    threshold: f64,
    /// Leaf weight (leaves only).
    value: f32,
    /// u32::MAX for a leaf.
    feature: u32,
    left: u32,
    right: u32,
}

/// Queries per block of the tree-major walk: one tree's nodes stay in L1 while the
/// block's rows go through it.
const BLOCK: usize = 64;

impl FlatForest {
    fn from_booster(b: &GradientBooster) -> Self {
        let n = b
            .prediction_iteration
            .unwrap_or(b.trees.len())
            .min(b.trees.len());
        let mut f = FlatForest {
            base: b.base_score,
            ..Default::default()
        };
        for t in &b.trees[..n] {
            let off = f.nodes.len() as u32;
            f.roots.push(off);
            for nd in &t.nodes {
                f.nodes.push(FlatNode {
                    threshold: nd.split_value,
                    value: nd.weight_value,
                    feature: if nd.is_leaf {
                        u32::MAX
                    } else {
                        nd.split_feature as u32
                    },
                    left: off + nd.left_child as u32,
                    right: off + nd.right_child as u32,
                });
                f.missing.push(off + nd.missing_node as u32);
            }
        }
        f
    }

    #[inline]
    fn walk(&self, root: u32, row: &[f64]) -> f64 {
        let mut i = root as usize;
        loop {
            let nd = &self.nodes[i];
            if nd.feature == u32::MAX {
                return nd.value as f64;
            }
            let v = row[nd.feature as usize];
            i = if v < nd.threshold {
                nd.left
            } else if v.is_nan() {
                // forust's missing branch (our features are never NaN).
                self.missing[i]
            } else {
                nd.right
            } as usize;
        }
    }

    /// Predictions of `out.len()` rows (row-major `rows`, `w` wide): base score plus
    /// each tree in order, the summation forust does.
    fn predict_rows(&self, rows: &[f64], w: usize, out: &mut [f64]) {
        out.fill(self.base);
        for &root in &self.roots {
            for (o, row) in out.iter_mut().zip(rows.chunks_exact(w)) {
                *o += self.walk(root, row);
            }
        }
    }
}

impl std::fmt::Debug for PruningModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PruningModel")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// Fits the forest on column-major `features` (`nq` rows) against `targets`
/// (ln of the label counts). Single-threaded and seeded: same data, same trees.
pub fn fit_booster(
    features: &[f64],
    nq: usize,
    width: usize,
    targets: &[f64],
    p: &GbdtParams,
) -> Result<GradientBooster, RoutingError> {
    if nq == 0 || features.len() != nq * width || targets.len() != nq {
        return Err(RoutingError::Training(format!(
            "{nq} training rows, {} feature values for {width} columns, {} targets",
            features.len(),
            targets.len()
        )));
    }
    if p.rounds == 0 || p.max_depth == 0 || !(p.learning_rate > 0.0 && p.learning_rate <= 1.0) {
        return Err(RoutingError::Training(format!(
            "rounds and max depth must be >= 1 and the learning rate in (0, 1]; got {p:?}"
        )));
    }
    let err = |e: forust_ml::errors::ForustError| RoutingError::Training(e.to_string());
    let mut b = GradientBooster::default()
        .set_objective_type(ObjectiveType::SquaredLoss)
        .set_iterations(p.rounds)
        .set_learning_rate(p.learning_rate)
        .set_max_depth(p.max_depth)
        .set_parallel(false);
    b.seed = p.seed;
    b.fit_unweighted(&Matrix::new(features, nq, width), targets, None)
        .map_err(err)?;
    Ok(b)
}

impl PruningModel {
    pub fn new(meta: ModelMeta, booster: GradientBooster) -> Self {
        let flat = FlatForest::from_booster(&booster);
        PruningModel {
            meta,
            booster,
            flat,
        }
    }

    /// Predicted ln(partitions needed) for `nq` queries (column-major features):
    /// blocks of queries in parallel (rayon), tree-major within a block.
    pub fn predict(&self, features: &[f64], nq: usize) -> Vec<f64> {
        let w = self.meta.features.width();
        let mut out = vec![0f64; nq];
        out.par_chunks_mut(BLOCK)
            .enumerate()
            .for_each(|(b, chunk)| {
                let start = b * BLOCK;
                let mut rows = vec![0f64; chunk.len() * w];
                for c in 0..w {
                    let col = &features[c * nq + start..c * nq + start + chunk.len()];
                    for (i, &v) in col.iter().enumerate() {
                        rows[i * w + c] = v;
                    }
                }
                self.flat.predict_rows(&rows, w, chunk);
            });
        out
    }

    /// The same through forust's own predictor (the reference the flat walk matches).
    pub fn predict_reference(&self, features: &[f64], nq: usize) -> Vec<f64> {
        if nq == 0 {
            return Vec::new();
        }
        let m = Matrix::new(features, nq, self.meta.features.width());
        self.booster.predict(&m, false)
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>, RoutingError> {
        let booster = self
            .booster
            .json_dump()
            .map_err(|e| RoutingError::ModelFile(format!("cannot serialise the forest: {e}")))?;
        let payload = serde_json::to_vec(&Payload {
            meta: self.meta.clone(),
            booster,
        })
        .map_err(|e| RoutingError::ModelFile(format!("cannot serialise the model: {e}")))?;
        let mut out = Vec::with_capacity(HEADER + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&payload);
        Ok(out)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RoutingError> {
        let bad = |m: String| RoutingError::ModelFile(m);
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return Err(bad(
                "not a Quarry pruning model (bad magic or version); retrain with `quarry train-pruning`"
                    .into(),
            ));
        }
        let crc = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
        let payload = &bytes[HEADER..];
        if payload.len() as u64 != len {
            return Err(bad(format!(
                "model file holds {} payload bytes but its header says {len}: truncated or damaged",
                payload.len()
            )));
        }
        if crc32c::crc32c(payload) != crc {
            return Err(bad(
                "model file checksum mismatch: the file is damaged; retrain with `quarry train-pruning`"
                    .into(),
            ));
        }
        let p: Payload = serde_json::from_slice(payload)
            .map_err(|e| bad(format!("model payload is not valid: {e}")))?;
        let booster = GradientBooster::from_json(&p.booster)
            .map_err(|e| bad(format!("forest in the model file is not valid: {e}")))?;
        check_model(&p.meta, &booster).map_err(bad)?;
        Ok(PruningModel::new(p.meta, booster))
    }
}

/// Everything prediction and planning index, checked once at load: a model file
/// whose checksum is right can still be hostile or come from a buggy writer, and a
/// walk that loops or an index past a table must be a clean error, never a hang or
/// a panic in a search.
fn check_model(meta: &ModelMeta, b: &GradientBooster) -> Result<(), String> {
    let width = meta.features.width();
    if meta.max_nprobe == 0 || meta.features.k < 2 {
        return Err("probe cap 0 or fewer than 2 ranked distances".into());
    }
    for (t, tree) in b.trees.iter().enumerate() {
        if tree.nodes.is_empty() {
            return Err(format!("tree {t} has no nodes"));
        }
        let n = tree.nodes.len();
        for (j, nd) in tree.nodes.iter().enumerate() {
            if nd.is_leaf {
                continue;
            }
            // Children after their parent: no walk can loop, and every index is in
            // the tree.
            for (what, c) in [
                ("left", nd.left_child),
                ("right", nd.right_child),
                ("missing", nd.missing_node),
            ] {
                if c <= j || c >= n {
                    return Err(format!(
                        "tree {t} node {j}: {what} child {c} is not a later node of its {n}"
                    ));
                }
            }
            if nd.split_feature >= width {
                return Err(format!(
                    "tree {t} node {j} splits on feature {} of {width}",
                    nd.split_feature
                ));
            }
        }
    }
    let c = &meta.calibration;
    if c.recall.len() != c.ks.len()
        || c.partitions.len() != c.margins.len()
        || c.recall.iter().any(|r| r.len() != c.margins.len())
    {
        return Err("calibration tables of mismatched lengths".into());
    }
    let a = &meta.allocation;
    let bins = a.edges.len() + 1;
    if a.curves.len() != a.ks.len()
        || a.bin_queries.len() != bins
        || a.curves
            .iter()
            .any(|per_bin| per_bin.len() != bins || per_bin.iter().any(|c| c.is_empty()))
    {
        return Err("allocation tables of mismatched lengths".into());
    }
    if a.edges.iter().any(|e| e.is_nan()) {
        return Err("allocation bin edges hold NaN".into());
    }
    Ok(())
}

/// Probe count for a predicted ln count: ceil(exp(pred + margin)), within [1, max].
/// The one formula shared by search and calibration.
pub fn probe_count(pred: f64, margin: f32, max_nprobe: usize) -> usize {
    let c = (pred + margin as f64).exp().ceil();
    if c.is_nan() || c < 1.0 {
        1
    } else {
        (c as usize).clamp(1, max_nprobe.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Calibration {
        Calibration {
            queries: 10,
            margins: vec![-1.0, 0.0, 1.0],
            ks: vec![1, 10],
            recall: vec![vec![0.7, 0.9, 0.99], vec![0.6, 0.85, 0.97]],
            partitions: vec![1.0, 2.0, 4.0],
        }
    }

    #[test]
    fn probe_counts_round_up_and_respect_the_cap() {
        assert_eq!(probe_count(0.0, 0.0, 8), 1);
        assert_eq!(probe_count(2f64.ln(), 0.0, 8), 2);
        assert_eq!(probe_count(2f64.ln(), 0.1, 8), 3);
        assert_eq!(probe_count(10.0, 0.0, 8), 8);
        assert_eq!(probe_count(-50.0, 0.0, 8), 1);
        assert_eq!(probe_count(f64::NAN, 0.0, 8), 1);
    }

    #[test]
    fn calibration_picks_the_smallest_margin_reaching_the_target() {
        let t = table();
        assert_eq!(t.margin_for(0.5, 1, 8).unwrap(), -1.0);
        assert_eq!(t.margin_for(0.9, 1, 8).unwrap(), 0.0);
        assert_eq!(t.margin_for(0.9, 10, 8).unwrap(), 1.0);
        // k between calibrated cut-offs uses the next larger one.
        assert_eq!(t.margin_for(0.9, 5, 8).unwrap(), 1.0);
        assert!(matches!(
            t.margin_for(0.99, 10, 8),
            Err(RoutingError::TargetUnreachable { .. })
        ));
        assert!(matches!(
            t.margin_for(0.9, 100, 8),
            Err(RoutingError::NotCalibrated {
                k: 100,
                largest: 10
            })
        ));
        for bad in [0.0, 1.01, -1.0, f32::NAN] {
            assert!(matches!(
                t.margin_for(bad, 10, 8),
                Err(RoutingError::BadTarget(_))
            ));
        }
    }

    #[test]
    fn flat_forest_predicts_exactly_what_forust_does_and_roundtrips() {
        let (nq, w) = (400, 3);
        let x: Vec<f64> = (0..nq * w)
            .map(|i| ((i * 7919 + 13) % 1000) as f64 / 100.0)
            .collect();
        let y: Vec<f64> = (0..nq)
            .map(|q| (x[q] * 0.5 + x[nq + q] * x[2 * nq + q] * 0.1).ln_1p())
            .collect();
        let p = GbdtParams {
            rounds: 40,
            learning_rate: 0.1,
            max_depth: 4,
            seed: 1,
        };
        let b = fit_booster(&x, nq, w, &y, &p).unwrap();
        let meta = ModelMeta {
            features: FeatureSet {
                k: 2,
                d1: true,
                norm: true,
            },
            params: p,
            label_k: 10,
            label_fraction: 1.0,
            max_nprobe: 8,
            partitions: 16,
            train_queries: nq,
            calibration: table(),
            allocation: Allocation {
                edges: vec![0.5],
                ks: vec![10],
                curves: vec![vec![vec![1.0; 8], vec![0.5; 8]]],
                bin_queries: vec![5, 5],
            },
        };
        let m = PruningModel::new(meta, b);
        let fast = m.predict(&x, nq);
        assert_eq!(fast, m.predict_reference(&x, nq));
        let err = fast.iter().zip(&y).map(|(a, b)| (a - b).abs()).sum::<f64>() / nq as f64;
        assert!(err < 0.2, "the forest did not fit: mean error {err}");
        let again = PruningModel::from_bytes(&m.to_bytes().unwrap()).unwrap();
        assert_eq!(again.predict(&x, nq), fast);
        assert_eq!(again.meta, m.meta);
    }

    #[test]
    fn foreign_bytes_are_not_a_model() {
        for bytes in [
            &b""[..],
            b"QPRUNE\x00\x02xxxxxxxxxxxxxx",
            b"not a model at all!!!!",
        ] {
            assert!(matches!(
                PruningModel::from_bytes(bytes),
                Err(RoutingError::ModelFile(_))
            ));
        }
    }
}

#[cfg(test)]
mod fuzz_regressions {
    use super::PruningModel;

    /// The fuzz harness's framing of an odd-selector input: a valid header over the
    /// payload, so the checks behind the checksum are reached.
    fn framed(input: &[u8]) -> Vec<u8> {
        let body = &input[1..];
        let mut b = b"QPRUNE\x00\x01".to_vec();
        b.extend_from_slice(&crc32c::crc32c(body).to_le_bytes());
        b.extend_from_slice(&(body.len() as u64).to_le_bytes());
        b.extend_from_slice(body);
        b
    }

    /// Found by fuzzing: a tree whose root is its own child hung prediction, and an
    /// allocation table shorter than its cut-offs panicked in target-recall planning.
    /// Both are refused at load now.
    #[test]
    fn looped_trees_and_short_tables_are_refused_at_load() {
        for (name, input) in [
            (
                "forest-cycle",
                &include_bytes!("../../../../fuzz/corpus/pruning_model/regress-forest-cycle")[..],
            ),
            (
                "allocation-curves-short",
                &include_bytes!(
                    "../../../../fuzz/corpus/pruning_model/regress-allocation-curves-short"
                )[..],
            ),
        ] {
            let e = PruningModel::from_bytes(&framed(input)).err();
            assert!(e.is_some(), "{name} loaded");
        }
    }
}
