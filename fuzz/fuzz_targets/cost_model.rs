//! cost_model.json through `CostModel::from_json` (first byte even) and the manifest's
//! build record through `serde_json::from_value::<BuildInfo>` (odd); the rest is the
//! file / the JSON of the record. What decodes re-serialises to JSON that decodes to
//! the same value (floats up to serde_json's last-bit parsing), and the cost model's
//! predictions are computed without a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quarry_engine::{BuildInfo, CostModel};
use quarry_kernels::DType;

fuzz_target!(|data: &[u8]| {
    let Some((sel, body)) = data.split_first() else {
        return;
    };
    if sel & 1 == 0 {
        let m = match CostModel::from_json(body) {
            Ok(m) => m,
            Err(e) => return quarry_fuzz::note(format_args!("cost model error: {e}")),
        };
        quarry_fuzz::note(format_args!("{m:?}"));
        // JSON has no NaN or infinity: every coefficient is finite.
        let c = [
            m.scan_vq,
            m.scan_vq_dim,
            m.scan_partition_f32,
            m.scan_partition_int,
            m.graph_dist,
            m.graph_dist_dim,
            m.dists_per_ef,
            m.dists_base,
        ];
        assert!(c.iter().all(|v| v.is_finite()));
        let again = CostModel::from_json(&m.to_json()).expect("a written cost model reads");
        let (a, b) = (
            serde_json::to_value(m).unwrap(),
            serde_json::to_value(again).unwrap(),
        );
        assert!(quarry_fuzz::json_close(&a, &b), "{a} != {b}");
        for (n, q, dim, ef) in [
            (0, 0, 1, 0),
            (1000, 16, 128, 64),
            (usize::MAX, usize::MAX, usize::MAX, usize::MAX),
        ] {
            for dt in [DType::F32, DType::U8, DType::I8] {
                let _ = m.scan_ns(n, q, dim, dt);
                let _ = m.prefer_graph(n, q, dim, ef, dt);
            }
            let _ = m.graph_ns(n, q, dim, ef);
        }
    } else {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
            return;
        };
        let b = match serde_json::from_value::<BuildInfo>(v) {
            Ok(b) => b,
            Err(e) => return quarry_fuzz::note(format_args!("build record error: {e}")),
        };
        quarry_fuzz::note(format_args!("build record of {} partitions", b.partitions));
        let j = b.to_json();
        let again: BuildInfo =
            serde_json::from_value(j.clone()).expect("a written build record reads");
        let j2 = again.to_json();
        assert!(quarry_fuzz::json_close(&j, &j2), "{j} != {j2}");
        // Through the bytes a manifest stores, too.
        let bytes = serde_json::to_vec_pretty(&j).unwrap();
        let third: BuildInfo = serde_json::from_slice(&bytes).expect("written bytes read");
        assert!(quarry_fuzz::json_close(&j, &third.to_json()));
    }
});
