//! Ground truth .ivecs / .ibin (with or without distances): the first byte picks it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((sel, body)) = data.split_first() else {
        return;
    };
    let name = if sel & 1 == 0 { "gt.ivecs" } else { "gt.ibin" };
    let path = quarry_fuzz::write(name, body);
    if let Ok(gt) = quarry_formats::read_ground_truth(&path) {
        assert!(gt.n > 0 && gt.k > 0);
        assert_eq!(gt.ids.len(), gt.n * gt.k);
        assert!(gt.ids.iter().all(|&id| id <= i32::MAX as u32));
        if let Some(d) = &gt.dists {
            assert_eq!(d.len(), gt.ids.len());
            assert!(d.iter().all(|v| v.is_finite()));
        }
        let _ = gt.row(gt.n - 1);
        let _ = gt.dist_row(gt.n - 1);
    }
});
