//! The answer of a search is the k smallest (exact distance, id) among the probed
//! partitions, whichever path computed it: the pair kernel (partitions with few
//! queries, single queries) or the GEMM filter + re-score (busy partitions), whose
//! cut is certified against rounding. Checked on near-duplicate-heavy data, where
//! GEMM rounding decides the order of near-ties, against brute force.

mod common;
use common::tmp;
use quarry_engine::{
    build_index, BuildConfig, Index, IoMode, Metric, NoProgress, OpenOptions, SearchParams,
};
use quarry_formats::write_fbin;
use quarry_kernels::distance;

/// Every vector scored with the pair kernel; (distance, id) order.
fn brute_force(data: &[f32], dim: usize, q: &[f32], metric: Metric, k: usize) -> Vec<u64> {
    let mut all: Vec<(f32, u64)> = data
        .chunks_exact(dim)
        .enumerate()
        .map(|(i, x)| (distance(metric, q, x), i as u64))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    all.iter().take(k).map(|a| a.1).collect()
}

fn lcg(seed: u64) -> impl FnMut() -> f32 {
    let mut s = seed;
    move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[test]
fn single_batch_and_brute_force_agree_on_near_ties() {
    let (dim, distinct, copies, parts) = (24usize, 40usize, 50usize, 4usize);
    let mut next = lcg(3);
    let protos: Vec<Vec<f32>> = (0..distinct)
        .map(|_| (0..dim).map(|_| next() * 100.0).collect())
        .collect();
    // Each prototype 50 times, most copies nudged by a few ulps in one coordinate:
    // exact distances tie or nearly tie, far more than k + 16 of them.
    let mut data = Vec::new();
    for c in 0..copies {
        for p in &protos {
            let mut v = p.clone();
            let j = c % dim;
            v[j] = f32::from_bits(v[j].to_bits() + (c % 4) as u32);
            data.extend(v);
        }
    }
    let t = tmp();
    let (base, dir) = (t.path().join("base.fbin"), t.path().join("idx"));
    write_fbin(&base, dim, &data).unwrap();
    for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
        let dir = dir.with_extension(metric.to_string());
        build_index(&base, &dir, &BuildConfig::new(parts, metric), &NoProgress).unwrap();
        let idx = Index::open(
            &dir,
            OpenOptions {
                io: IoMode::Buffered,
                ..Default::default()
            },
        )
        .unwrap();
        let nq = 60;
        let queries: Vec<f32> = (0..nq)
            .flat_map(|i| {
                protos[i % distinct]
                    .iter()
                    .map(|x| x + 0.5)
                    .collect::<Vec<_>>()
            })
            .collect();
        let k = 10;
        let p = SearchParams::new(k).nprobe(parts);
        let batch = idx.search_batch(&queries, &p).unwrap();
        for i in 0..nq {
            let q = &queries[i * dim..(i + 1) * dim];
            let single = idx.search(q, &p).unwrap();
            assert_eq!(
                single.neighbors, batch.neighbors[i],
                "{metric} query {i}: alone vs batch"
            );
            let ids: Vec<u64> = batch.neighbors[i].iter().map(|n| n.id).collect();
            let want = brute_force(&data, dim, q, metric, k);
            assert_eq!(ids, want, "{metric} query {i}: vs brute force");
        }
    }
}
