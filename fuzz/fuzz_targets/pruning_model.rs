//! pruning.model through `PruningModel::from_bytes`. First byte even: the rest is the
//! file as is (magic, crc32c, length, JSON payload); odd: the rest is a payload that
//! the harness frames with a correct header, so the JSON and the forest behind the
//! checksum are reached. A decoded model writes itself back to a file that reads to
//! the same metadata and predictions, and it is used as the GBDT router uses it
//! (predictions, margin calibration, target-recall plans, per-bin probe counts)
//! without a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quarry_routing::pruning::{probe_count, ModelMeta, PruningModel};
use std::sync::Arc;

const MAGIC: &[u8; 8] = b"QPRUNE\x00\x01";

fuzz_target!(|data: &[u8]| {
    let Some((sel, body)) = data.split_first() else {
        return;
    };
    let bytes = if sel & 1 == 0 {
        body.to_vec()
    } else {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&quarry_fuzz::crc32c(body).to_le_bytes());
        b.extend_from_slice(&(body.len() as u64).to_le_bytes());
        b.extend_from_slice(body);
        b
    };
    if bytes.len() >= 20
        && quarry_fuzz::known_bug(|| {
            forest_unchecked(&bytes[20..]) || tables_unchecked(&bytes[20..])
        })
    {
        return;
    }
    let model = match PruningModel::from_bytes(&bytes) {
        Ok(m) => m,
        Err(e) => return quarry_fuzz::note(format_args!("error: {e}")),
    };
    quarry_fuzz::note(format_args!(
        "model for {} partitions",
        model.meta.partitions
    ));
    let meta = &model.meta;
    let again = PruningModel::from_bytes(&model.to_bytes().expect("a decoded model writes"))
        .expect("a written model reads");
    assert_eq!(again.meta, *meta);

    // Predictions for a few queries (column-major features), as the router asks.
    let w = meta.features.width();
    assert!(w > 0);
    let nq = 3;
    let feats: Vec<f64> = (0..w * nq).map(|i| (i % 7) as f64 * 0.5).collect();
    let pred = model.predict(&feats, nq);
    assert_eq!(pred.len(), nq);
    let pred2 = again.predict(&feats, nq);
    assert_eq!(
        pred.iter().map(|p| p.to_bits()).collect::<Vec<_>>(),
        pred2.iter().map(|p| p.to_bits()).collect::<Vec<_>>()
    );
    let cap = meta.max_nprobe.max(1);
    for &p in &pred {
        let c = probe_count(p, 0.0, cap);
        assert!((1..=cap).contains(&c));
    }

    // Margin policy and target-recall plans for the calibrated cut-offs.
    let ks: Vec<usize> = meta
        .calibration
        .ks
        .iter()
        .copied()
        .take(4)
        .chain([1, 10])
        .collect();
    for &k in &ks {
        for t in [0.5f32, 0.9, 1.0] {
            if let Ok(m) = meta.calibration.margin_for(t, k, cap) {
                assert!(meta.calibration.margins.contains(&m));
            }
            if let Ok(plan) = meta.allocation.plan(t, k, cap) {
                assert!(plan.counts.iter().all(|&c| c >= 1));
                for &p in &pred {
                    let _ = plan.counts.get(meta.allocation.bin(p));
                }
            }
        }
    }
    let model = Arc::new(model);
    if let Ok(r) = quarry_routing::GbdtRouter::for_target(model.clone(), 0.9, 1) {
        quarry_fuzz::note(format_args!("target-recall plan {:?}", r.bin_counts()));
        let bc = r
            .bin_counts()
            .expect("target-recall mode has per-bin counts");
        // The router indexes its per-bin counts by the bin of each prediction.
        for &p in &pred {
            assert!(
                model.meta.allocation.bin(p) < bc.len(),
                "prediction {p} falls in bin {} of a {}-bin plan",
                model.meta.allocation.bin(p),
                bc.len()
            );
        }
    }
});

/// Known bug 2 (fuzz/RESULTS.md): `PruningModel::from_bytes` takes the forest as
/// forust-ml's JSON without checking its structure, and the flat predictor
/// (`FlatForest::walk`, crates/quarry-routing/src/pruning/model.rs) follows child
/// indexes and reads feature columns unchecked: a child index pointing back (a
/// cycle) loops forever, one past the tree or a split feature past the feature width
/// panics with an index out of bounds, an empty tree walks into the next. True
/// when the payload's forest has any of these (children must point forward inside
/// their tree, as forust writes them).
fn forest_unchecked(payload: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(payload) else {
        return false;
    };
    let Some(meta) = v
        .get("meta")
        .and_then(|m| serde_json::from_value::<ModelMeta>(m.clone()).ok())
    else {
        return false;
    };
    let width = meta.features.width() as u64;
    let Some(forest) = v
        .get("booster")
        .and_then(|b| b.as_str())
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
    else {
        return false;
    };
    let Some(trees) = forest.get("trees").and_then(|t| t.as_array()) else {
        return false;
    };
    trees.iter().any(|t| {
        let Some(nodes) = t.get("nodes").and_then(|n| n.as_array()) else {
            return true;
        };
        nodes.is_empty()
            || nodes.iter().enumerate().any(|(i, n)| {
                let num = |k: &str| n.get(k).and_then(|x| x.as_u64());
                if n.get("is_leaf").and_then(|x| x.as_bool()) != Some(false) {
                    return false;
                }
                ["left_child", "right_child", "missing_node"]
                    .iter()
                    .any(|k| !matches!(num(k), Some(c) if c > i as u64 && c < nodes.len() as u64))
                    || !matches!(num("split_feature"), Some(f) if f < width)
            })
    })
}

/// Known bug 3 (fuzz/RESULTS.md): `PruningModel::from_bytes` does not check that the
/// calibration and allocation tables agree in shape, and their users index them
/// unchecked: `Allocation::plan` takes `curves[ki]` for the cut-off `ks[ki]`
/// (index out of bounds when `curves` is shorter than `ks`,
/// crates/quarry-routing/src/pruning/allocation.rs:103) and `curve[c - 1]` (an
/// empty curve); `Calibration::margin_for` takes `recall[ki]` and `margins[j]`;
/// the target-recall router indexes its per-bin counts by `Allocation::bin`, up to
/// `edges.len()`. True when the payload's tables disagree in any of these ways.
fn tables_unchecked(payload: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(payload) else {
        return false;
    };
    let Some(m) = v
        .get("meta")
        .and_then(|m| serde_json::from_value::<ModelMeta>(m.clone()).ok())
    else {
        return false;
    };
    let (c, a) = (&m.calibration, &m.allocation);
    let bins = a.edges.len() + 1;
    c.recall.len() != c.ks.len()
        || c.recall.iter().any(|r| r.len() != c.margins.len())
        || a.curves.len() != a.ks.len()
        || a.bin_queries.len() != bins
        || a.curves
            .iter()
            .any(|per_bin| per_bin.len() != bins || per_bin.iter().any(|c| c.is_empty()))
}
