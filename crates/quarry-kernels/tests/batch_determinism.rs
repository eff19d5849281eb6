//! The engine requires that a query searched alone or inside a batch gets identical
//! ids and distances. So a batch distance must depend only on (query, vector), not
//! on how many queries or vectors share its block: checked bit for bit here, on
//! every kernel path this CPU runs. Across paths: the fusing paths (AVX2,
//! AVX-512, and portable where the target fuses) agree bit for bit.

use quarry_kernels::isa::PORTABLE_FUSES;
use quarry_kernels::{batch_distances_on, BatchScratch, Element, Isa, Metric};

#[allow(clippy::too_many_arguments)]
fn batch_distances<T: Element>(
    isa: Isa,
    metric: Metric,
    queries: &[f32],
    nq: usize,
    data: &[T],
    n: usize,
    dim: usize,
    out: &mut [f32],
) {
    let mut s = BatchScratch::default();
    batch_distances_on(isa, metric, queries, nq, data, n, dim, out, &mut s);
}

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
    let mut fused: Option<(Isa, Vec<f32>)> = None;
    for isa in Isa::available() {
        let block = check_on(isa, metric, queries, nq, data, n, dim);
        if isa == Isa::Portable && !PORTABLE_FUSES {
            continue;
        }
        match &fused {
            None => fused = Some((isa, block)),
            Some((first, want)) => {
                for (j, (a, b)) in block.iter().zip(want).enumerate() {
                    assert_eq!(
                        a.to_bits(),
                        b.to_bits(),
                        "{isa} vs {first}: {metric} dim {dim} output {j}"
                    );
                }
            }
        }
    }
}

fn check_on<T: Element>(
    isa: Isa,
    metric: Metric,
    queries: &[f32],
    nq: usize,
    data: &[T],
    n: usize,
    dim: usize,
) -> Vec<f32> {
    let mut block = vec![0.0f32; nq * n];
    batch_distances(isa, metric, queries, nq, data, n, dim, &mut block);
    let mut alone = vec![0.0f32; n];
    // Every row for small blocks; a strided sample (plus the last row, which lands in
    // the ragged last tile) for big ones, to keep the test quick.
    let step = if nq > 50 { 37 } else { 1 };
    for i in (0..nq).step_by(step).chain([nq - 1]) {
        let q = &queries[i * dim..(i + 1) * dim];
        batch_distances(isa, metric, q, 1, data, n, dim, &mut alone);
        for j in 0..n {
            assert_eq!(
                block[i * n + j].to_bits(),
                alone[j].to_bits(),
                "{isa} {metric} {:?} dim {dim} nq {nq} n {n}: query {i} vector {j}: in block {} alone {}",
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
            isa,
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
            "{isa} {metric} dim {dim} nq {nq} n {n}: pair ({i},{j})"
        );
    }
    block
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
