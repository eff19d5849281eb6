//! The engine requires that a query searched alone or inside a batch gets identical
//! ids and distances. So a batch distance must depend only on (query, vector), not
//! on how many queries or vectors share its block: checked bit for bit here.

use quarry_kernels::{batch_distances, Element, Metric};

fn lcg(seed: u64) -> impl FnMut() -> f32 {
    let mut s = seed;
    move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

fn check<T: Element>(metric: Metric, queries: &[f32], nq: usize, data: &[T], n: usize, dim: usize) {
    let mut block = vec![0.0f32; nq * n];
    batch_distances(metric, queries, nq, data, n, dim, &mut block);
    let mut alone = vec![0.0f32; n];
    // Every row for small blocks; a strided sample (plus the last row, which lands in
    // the ragged last tile) for big ones, to keep the test quick.
    let step = if nq > 50 { 37 } else { 1 };
    for i in (0..nq).step_by(step).chain([nq - 1]) {
        let q = &queries[i * dim..(i + 1) * dim];
        batch_distances(metric, q, 1, data, n, dim, &mut alone);
        for j in 0..n {
            assert_eq!(
                block[i * n + j].to_bits(),
                alone[j].to_bits(),
                "{metric} {:?} dim {dim} nq {nq} n {n}: query {i} vector {j}: in block {} alone {}",
                T::DTYPE,
                block[i * n + j],
                alone[j]
            );
        }
    }
    // Column independence: a few single (query, vector) pairs against the block.
    let mut one = [0.0f32; 1];
    for (i, j) in [(0, 0), (nq - 1, n - 1), (nq / 2, n / 3)] {
        batch_distances(
            metric,
            &queries[i * dim..(i + 1) * dim],
            1,
            &data[j * dim..(j + 1) * dim],
            1,
            dim,
            &mut one,
        );
        assert_eq!(
            block[i * n + j].to_bits(),
            one[0].to_bits(),
            "{metric} dim {dim} nq {nq} n {n}: pair ({i},{j})"
        );
    }
}

#[test]
fn row_and_column_independent_bitwise() {
    let mut next = lcg(11);
    for dim in [50usize, 128, 784] {
        for nq in [1usize, 7, 1000] {
            for n in [1usize, 33, 500] {
                let queries: Vec<f32> = (0..nq * dim).map(|_| next()).collect();
                let xf: Vec<f32> = (0..n * dim).map(|_| next()).collect();
                check(Metric::L2, &queries, nq, &xf, n, dim);
                check(Metric::InnerProduct, &queries, nq, &xf, n, dim);
                let xu: Vec<u8> = (0..n * dim)
                    .map(|_| ((next() + 1.0) * 127.5) as u8)
                    .collect();
                check(Metric::L2, &queries, nq, &xu, n, dim);
                if nq <= 7 {
                    check(Metric::Cosine, &queries, nq, &xf, n, dim);
                    let xi: Vec<i8> = (0..n * dim).map(|_| (next() * 127.0) as i8).collect();
                    check(Metric::L2, &queries, nq, &xi, n, dim);
                }
            }
        }
    }
}
