//! Kernel throughput. Run briefly with
//! `cargo bench -p quarry-kernels --bench kernels -- --warm-up-time 1 --measurement-time 2`.
//! Every kernel runs on every path this CPU supports (`portable`, `avx2`, `avx512`).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use quarry_kernels::{batch_distances_on, simd, BatchScratch, Element, Isa, Metric, TopK};

/// Small deterministic generator so runs are comparable without a rand dependency.
struct Lcg(u64);
impl Lcg {
    fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    fn f32(&mut self) -> f32 {
        (self.next_u32() as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
    }
    fn u8(&mut self) -> u8 {
        (self.next_u32() >> 23) as u8
    }
}

fn f32_vec(rng: &mut Lcg, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.f32()).collect()
}
fn u8_vec(rng: &mut Lcg, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.u8()).collect()
}

fn pair_kernels(c: &mut Criterion) {
    let mut rng = Lcg(1);
    for dim in [50usize, 128, 784] {
        let q = f32_vec(&mut rng, dim);
        let xf = f32_vec(&mut rng, dim);
        let xu = u8_vec(&mut rng, dim);
        let mut g = c.benchmark_group(format!("pair/{dim}"));
        g.throughput(Throughput::Elements(dim as u64));
        for isa in Isa::available() {
            g.bench_function(format!("{isa}/dot_f32"), |b| {
                b.iter(|| simd::dot_on(isa, black_box(&q), black_box(&xf)))
            });
            g.bench_function(format!("{isa}/l2_f32"), |b| {
                b.iter(|| simd::l2_sq_on(isa, black_box(&q), black_box(&xf)))
            });
            g.bench_function(format!("{isa}/dot_u8"), |b| {
                b.iter(|| simd::dot_on(isa, black_box(&q), black_box(&xu)))
            });
            g.bench_function(format!("{isa}/l2_u8"), |b| {
                b.iter(|| simd::l2_sq_on(isa, black_box(&q), black_box(&xu)))
            });
        }
        g.finish();
    }
}

/// Many rows of one query (the single-query scan of a partition): 400 rows, hot
/// in cache, per path; throughput in dimensions per second.
fn rows_kernels(c: &mut Criterion) {
    let mut rng = Lcg(4);
    let n = 400usize;
    for dim in [50usize, 128] {
        let q = f32_vec(&mut rng, dim);
        let xf = f32_vec(&mut rng, n * dim);
        let rows: Vec<u32> = (0..n as u32).collect();
        let (mut a, mut b2) = (vec![0f32; n], vec![0f32; n]);
        let mut g = c.benchmark_group(format!("rows/{n}/{dim}"));
        g.throughput(Throughput::Elements((n * dim) as u64));
        for isa in Isa::available() {
            g.bench_function(format!("{isa}/dot_rows_f32"), |b| {
                b.iter(|| {
                    simd::rows_on_path(
                        isa,
                        false,
                        black_box(&q),
                        black_box(&xf),
                        dim,
                        &rows,
                        &mut a,
                    )
                })
            });
            g.bench_function(format!("{isa}/dot_norm_rows_f32"), |b| {
                b.iter(|| {
                    simd::dot_norm_rows_on(
                        isa,
                        black_box(&q),
                        black_box(&xf),
                        dim,
                        &rows,
                        &mut a,
                        &mut b2,
                    )
                })
            });
        }
        g.finish();
    }
    // Cold: each call scans the next of many 400-row blocks spread over 80 MB
    // (larger than the last-level cache), as a query's partitions are.
    let dim = 50usize;
    let blocks = 80_000_000 / (n * dim * 4);
    let xf = f32_vec(&mut rng, blocks * n * dim);
    let q = f32_vec(&mut rng, dim);
    let rows: Vec<u32> = (0..n as u32).collect();
    let (mut a, mut b2) = (vec![0f32; n], vec![0f32; n]);
    let mut g = c.benchmark_group(format!("rows_cold/{n}/{dim}"));
    g.throughput(Throughput::Elements((n * dim) as u64));
    for isa in Isa::available() {
        let mut at = 0usize;
        let mut next = move || {
            at = (at + 7919) % blocks;
            at * n * dim..(at + 1) * n * dim
        };
        g.bench_function(format!("{isa}/dot_rows_f32"), |b| {
            b.iter(|| {
                simd::rows_on_path(isa, false, &q, black_box(&xf[next()]), dim, &rows, &mut a)
            })
        });
        g.bench_function(format!("{isa}/dot_norm_rows_f32"), |b| {
            b.iter(|| {
                simd::dot_norm_rows_on(isa, &q, black_box(&xf[next()]), dim, &rows, &mut a, &mut b2)
            })
        });
    }
    g.finish();
}

/// Batch distances on every path. Throughput is counted in flops (2 per
/// multiply-add), so criterion's "Gelem/s" reads as GFLOP/s.
fn bench_batch<T: Element>(c: &mut Criterion, name: &str, data: &[T], queries: &[f32], dim: usize) {
    let (nq, n) = (queries.len() / dim, data.len() / dim);
    let mut out = vec![0.0f32; nq * n];
    let mut scratch = BatchScratch::default();
    let mut g = c.benchmark_group(format!("batch/{nq}x{n}/{dim}"));
    g.throughput(Throughput::Elements((2 * nq * n * dim) as u64));
    for isa in Isa::available() {
        for metric in [Metric::InnerProduct, Metric::L2] {
            g.bench_with_input(
                BenchmarkId::new(format!("{isa}/{name}"), metric),
                &metric,
                |b, &m| {
                    b.iter(|| {
                        batch_distances_on(
                            isa,
                            m,
                            queries,
                            nq,
                            data,
                            n,
                            dim,
                            &mut out,
                            &mut scratch,
                        )
                    })
                },
            );
        }
    }
    g.finish();
}

/// Plain faer GEMM, single-threaded (no norms, no widening) on the same shape: the
/// ceiling the batch kernel is compared against. faer picks its own SIMD path.
fn bench_faer(c: &mut Criterion, data: &[f32], queries: &[f32], dim: usize) {
    use faer::{linalg::matmul::matmul, Accum, MatMut, MatRef, Par};
    let (nq, n) = (queries.len() / dim, data.len() / dim);
    let mut out = vec![0.0f32; nq * n];
    let mut g = c.benchmark_group(format!("batch/{nq}x{n}/{dim}"));
    g.throughput(Throughput::Elements((2 * nq * n * dim) as u64));
    g.bench_function("faer_sgemm", |b| {
        b.iter(|| {
            let q = MatRef::from_row_major_slice(queries, nq, dim);
            let x = MatRef::from_row_major_slice(data, n, dim);
            let dst = MatMut::from_row_major_slice_mut(&mut out, nq, n);
            matmul(dst, Accum::Replace, q, x.transpose(), 1.0f32, Par::Seq);
        })
    });
    g.finish();
}

fn batch(c: &mut Criterion) {
    // faer runs after every Quarry path: its kernels leave the upper vector
    // registers dirty, which measured the SSE (portable) path 4x slow right after.
    let mut rng = Lcg(2);
    let mut shapes = Vec::new();
    // Acceptance shapes: >= 64 queries x >= 1000 vectors.
    for dim in [50usize, 128, 784] {
        let queries = f32_vec(&mut rng, 64 * dim);
        let xf = f32_vec(&mut rng, 2000 * dim);
        let xu = u8_vec(&mut rng, 2000 * dim);
        shapes.push((dim, queries, xf, xu));
    }
    // The engine's scan: few queries per partition against many vectors.
    let dim = 128;
    let xf = f32_vec(&mut rng, 4000 * dim);
    let xu = u8_vec(&mut rng, 4000 * dim);
    for nq in [1usize, 8] {
        let queries = f32_vec(&mut rng, nq * dim);
        shapes.push((dim, queries, xf.clone(), xu.clone()));
    }
    for (dim, queries, xf, xu) in &shapes {
        bench_batch(c, "f32", xf, queries, *dim);
        bench_batch(c, "u8", xu, queries, *dim);
    }
    for (dim, queries, xf, _) in &shapes {
        bench_faer(c, xf, queries, *dim);
    }
}

fn topk(c: &mut Criterion) {
    let mut rng = Lcg(3);
    let cands: Vec<f32> = (0..100_000).map(|_| rng.f32().abs()).collect();
    let mut g = c.benchmark_group("topk/100k");
    g.throughput(Throughput::Elements(cands.len() as u64));
    for k in [10usize, 100] {
        g.bench_with_input(BenchmarkId::new("push", k), &k, |b, &k| {
            b.iter(|| {
                let mut t = TopK::new(k);
                for (i, &d) in cands.iter().enumerate() {
                    t.push(i as u64, d);
                }
                t.into_sorted()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, pair_kernels, rows_kernels, batch, topk);
criterion_main!(benches);
