//! pruning.model through `PruningModel::from_bytes`. First byte even: the rest is the
//! file as is (magic, crc32c, length, JSON payload); odd: the rest is a payload that
//! the harness frames with a correct header, so the JSON and the forest behind the
//! checksum are reached. A decoded model writes itself back to a file that reads to
//! the same metadata and predictions, and it is used as the GBDT router uses it
//! (predictions, margin calibration, target-recall plans, per-bin probe counts)
//! without a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quarry_routing::pruning::{probe_count, PruningModel};
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
