//! router.mlp.safetensors + router.mlp.json through `Mlp::from_bytes`. Input: u16
//! length of the config, the config JSON, then the safetensors weights. A decoded
//! model has the shapes its config names, writes itself back to files that read to
//! the same model, and scores queries (partition probabilities) without a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quarry_routing::mlp::{check_config, Mlp};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let n = (u16::from_le_bytes([data[0], data[1]]) as usize).min(data.len() - 2);
    let (config, weights) = data[2..].split_at(n);
    let m = match Mlp::from_bytes(weights, config) {
        Ok(m) => m,
        Err(e) => return quarry_fuzz::note(format_args!("error: {e}")),
    };
    quarry_fuzz::note(format_args!("model {:?}", m.cfg));
    let c = &m.cfg;
    check_config(c).expect("a decoded model's config passes the config check");
    assert_eq!(m.mean().len(), c.dim);
    assert!(m.scale().is_finite() && m.scale() > 0.0);
    assert_eq!(m.vars().len(), if c.centroid_prior { 7 } else { 6 });
    // The weights are in the input: the model is no bigger than it.
    assert!(
        4 * (c.dim * c.hidden + c.hidden * c.hidden + c.hidden * c.partitions) <= weights.len()
    );

    let (w, j) = m
        .to_bytes(serde_json::json!({}))
        .expect("a decoded model writes");
    let again = Mlp::from_bytes(&w, &j).expect("a written model reads");
    assert_eq!(again.cfg, m.cfg);
    assert_eq!(again.mean(), m.mean());
    assert_eq!(again.scale(), m.scale());
    for (a, b) in again.vars().iter().zip(m.vars()) {
        let (a, b) = (a.as_tensor(), b.as_tensor());
        assert_eq!(a.dims(), b.dims());
        let a: Vec<u32> = a
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect();
        let b: Vec<u32> = b
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect();
        assert_eq!(a, b);
    }

    if c.dim * c.hidden + c.hidden * c.hidden + c.hidden * c.partitions > 1 << 16 {
        return;
    }
    let nq = 2;
    let queries: Vec<f32> = (0..nq * c.dim).map(|i| (i % 5) as f32 - 2.0).collect();
    let p = m
        .probabilities(&queries)
        .expect("queries of the model's dimension score");
    assert_eq!(p.len(), nq * c.partitions);
    // Softmax rows: within [0, 1] (NaN only when the weights overflow).
    assert!(p
        .iter()
        .all(|&v| v.is_nan() || (0.0..=1.0 + 1e-5).contains(&v)));
    assert!(
        m.probabilities(&queries[..c.dim.saturating_sub(1)])
            .is_err()
            || c.dim == 1
    );
});
