//! `quarry centroid-bench`: the centroid tier at 10^5-10^6 partitions. Exact GEMM
//! routing against an HNSW over the centroids, on synthetic k-means-like centroids.
//!
//! Generator (seeded ChaCha8, Box-Muller normals), three scales like the centroids of
//! a large k-means, which tile the dense regions of the data (many centroids per
//! mode, modes of different widths, modes grouped): `n / 10^4` top centres
//! N(0, I_dim); 10 sub-centres per top centre at top + 0.5 N(0, I_dim); every
//! centroid picks a random sub-centre and lies at sub + s N(0, I_dim) with the
//! sub-centre's own spread s ~ U(0.2, 0.5), spread mostly inside the sub-cluster's own
//! random 12-dimensional subspace (`s (B z + 0.1 N(0, I_dim))`, B a random dim x 12
//! basis, z ~ N(0, I_12)): centroids inherit the low intrinsic dimension of the data
//! they summarise (real embeddings have ~10-20), where a full-rank Gaussian blob in 96
//! dimensions would be a worst case no real centroid set looks like. A query is a
//! random centroid + the same kind of offset at half the spread: a data vector near
//! the centroid of its partition. Metric L2. Recall is top-`top` of the graph vs the exact GEMM
//! ranking; times are thread CPU time per query on one thread (wall time is reported
//! too; graph queries run one by one; GEMM both one query per call and all queries in
//! one call, amortised).

use crate::progress::Ui;
use anyhow::{bail, Context, Result};
use quarry_engine::{HnswParams, Metric, Progress};
use quarry_graph::{decode_graphs, encode_graphs, GraphSet, SearchScratch, SliceVectors};
use quarry_partition::sample::normal;
use quarry_routing::{CentroidGraph, CentroidIndex};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Number of synthetic centroids.
    #[arg(long, default_value_t = 1_000_000)]
    pub n: usize,
    #[arg(long, default_value_t = 96)]
    pub dim: usize,
    #[arg(long, default_value_t = 1000)]
    pub queries: usize,
    /// Queries of the one-query-per-call GEMM timing (it is slow at 1M centroids).
    #[arg(long, default_value_t = 100)]
    pub single_queries: usize,
    /// Centroids asked for per query (nprobe).
    #[arg(long, default_value_t = 32)]
    pub top: usize,
    /// Comma-separated graph search breadths.
    #[arg(long, default_value = "64,128,256")]
    pub ef: String,
    #[arg(long, default_value_t = 16)]
    pub m: usize,
    #[arg(long, default_value_t = 100)]
    pub ef_construction: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Intrinsic dimension of each sub-cluster; 0 = isotropic in all dimensions.
    #[arg(long, default_value_t = 12)]
    pub local_rank: usize,
    /// Load the graph from this file if it exists (same n, dim, seed), else build and save it.
    #[arg(long)]
    pub graph_cache: Option<PathBuf>,
    /// Append one JSON line per ef here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Serialize)]
struct Row {
    n: usize,
    dim: usize,
    queries: usize,
    top: usize,
    m: usize,
    ef_construction: usize,
    ef: usize,
    /// Top-`top` recall against brute force (pairwise kernel).
    recall: f64,
    /// The exact GEMM route's recall against the same brute force (1.0 up to ties).
    gemm_recall: f64,
    graph_us_per_query: f64,
    graph_distances_per_query: f64,
    gemm_single_us_per_query: f64,
    gemm_batch_us_per_query: f64,
    /// Wall-clock counterparts (inflated on a busy machine; the CPU times above are not).
    graph_wall_us_per_query: f64,
    gemm_single_wall_us_per_query: f64,
    gemm_batch_wall_us_per_query: f64,
    speedup_vs_single: f64,
    speedup_vs_batch: f64,
    build_secs: Option<f64>,
    graph_bytes: usize,
    threads: usize,
}

/// Clustered centroids and queries near them (see the module comment).
/// `local_rank` is each sub-cluster's intrinsic dimension (real embeddings: ~10-20);
/// 0 spreads centroids isotropically in all `dim` dimensions (a worst case).
pub fn generate(
    n: usize,
    dim: usize,
    nq: usize,
    seed: u64,
    local_rank: usize,
) -> (Vec<f32>, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let tops = (n / 10_000).max(1);
    let subs = 10 * tops;
    let top_centres: Vec<f32> = (0..tops * dim).map(|_| normal(&mut rng)).collect();
    let mut sub_centres = Vec::with_capacity(subs * dim);
    for s in 0..subs {
        let t = s % tops;
        for d in 0..dim {
            sub_centres.push(top_centres[t * dim + d] + 0.5 * normal(&mut rng));
        }
    }
    let spread: Vec<f32> = (0..subs).map(|_| 0.2 + 0.3 * rng.random::<f32>()).collect();
    // Per sub-cluster, a random LOCAL_RANK-dimensional basis (scaled so a unit-normal
    // coefficient vector has the same expected norm as an isotropic N(0, I_dim) draw).
    if local_rank == 0 {
        return generate_isotropic(&mut rng, dim, nq, n, &sub_centres, &spread);
    }
    #[allow(non_snake_case)]
    let LOCAL_RANK = local_rank;
    let scale = (dim as f32 / LOCAL_RANK as f32).sqrt() / (dim as f32).sqrt();
    let basis: Vec<f32> = (0..subs * LOCAL_RANK * dim)
        .map(|_| normal(&mut rng) * scale)
        .collect();
    let point = |rng: &mut ChaCha8Rng, s: usize, amp: f32, out: &mut Vec<f32>, at: &[f32]| {
        let z: Vec<f32> = (0..LOCAL_RANK).map(|_| normal(rng)).collect();
        let b = &basis[s * LOCAL_RANK * dim..(s + 1) * LOCAL_RANK * dim];
        for d in 0..dim {
            let mut v = 0.0;
            for (r, zr) in z.iter().enumerate() {
                v += zr * b[r * dim + d];
            }
            // Mostly along the sub-cluster's subspace, a little isotropic noise.
            out.push(at[d] + amp * (v + 0.1 * normal(rng)));
        }
    };
    let mut sub_of = Vec::with_capacity(n);
    let mut c = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let s = rng.random_range(0..subs);
        sub_of.push(s);
        let centre = sub_centres[s * dim..(s + 1) * dim].to_vec();
        point(&mut rng, s, spread[s], &mut c, &centre);
    }
    let mut q = Vec::with_capacity(nq * dim);
    for _ in 0..nq {
        let i = rng.random_range(0..n);
        let s = sub_of[i];
        let at = c[i * dim..(i + 1) * dim].to_vec();
        point(&mut rng, s, spread[s] / 2.0, &mut q, &at);
    }
    (c, q)
}

/// Centroids at sub + s N(0, I_dim), queries at a centroid + (s / 2) N(0, I_dim).
fn generate_isotropic(
    rng: &mut ChaCha8Rng,
    dim: usize,
    nq: usize,
    n: usize,
    sub_centres: &[f32],
    spread: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let subs = spread.len();
    let mut sub_of = Vec::with_capacity(n);
    let mut c = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let s = rng.random_range(0..subs);
        sub_of.push(s);
        for d in 0..dim {
            c.push(sub_centres[s * dim + d] + spread[s] * normal(rng));
        }
    }
    let mut q = Vec::with_capacity(nq * dim);
    for _ in 0..nq {
        let i = rng.random_range(0..n);
        let s = spread[sub_of[i]] / 2.0;
        for d in 0..dim {
            q.push(c[i * dim + d] + s * normal(rng));
        }
    }
    (c, q)
}

pub fn run(a: Args, ui: &Ui) -> Result<()> {
    if a.n == 0 || a.dim == 0 || a.queries == 0 || a.top == 0 || a.top > a.n {
        bail!("--n, --dim, --queries and --top must be at least 1, and --top at most --n");
    }
    let efs: Vec<usize> =
        a.ef.split(',')
            .map(|t| {
                t.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|v| (1..=quarry_graph::MAX_EF).contains(v))
            })
            .collect::<Option<Vec<_>>>()
            .with_context(|| {
                format!(
                    "--ef: give comma-separated integers in 1..={} such as 64,128",
                    quarry_graph::MAX_EF
                )
            })?;
    let t = Instant::now();
    let (cents, queries) = generate(a.n, a.dim, a.queries, a.seed, a.local_rank);
    eprintln!(
        "generated {} x {} centroids, {} queries in {:.1}s",
        a.n,
        a.dim,
        a.queries,
        t.elapsed().as_secs_f64()
    );
    let dim = a.dim;
    let exact_index = CentroidIndex::new(cents.clone(), dim, Metric::L2);

    // Exact GEMM: all queries in one call (amortised), and one query per call.
    let (t, c) = (Instant::now(), quarry_kernels::cpu_time::thread_cpu_secs());
    let exact = exact_index.rank_exact(&queries, a.top)?;
    let gemm_batch_wall_us = t.elapsed().as_secs_f64() * 1e6 / a.queries as f64;
    let gemm_batch_us = (quarry_kernels::cpu_time::thread_cpu_secs() - c) * 1e6 / a.queries as f64;
    let single = a.single_queries.clamp(1, a.queries);
    let (t, c) = (Instant::now(), quarry_kernels::cpu_time::thread_cpu_secs());
    for q in queries.chunks_exact(dim).take(single) {
        exact_index.rank_exact(q, a.top)?;
    }
    let gemm_single_wall_us = t.elapsed().as_secs_f64() * 1e6 / single as f64;
    let gemm_single_us = (quarry_kernels::cpu_time::thread_cpu_secs() - c) * 1e6 / single as f64;
    eprintln!(
        "exact GEMM (thread CPU): {gemm_single_us:.0} us/query one by one, {gemm_batch_us:.0} us/query in one batch of {} (wall {gemm_single_wall_us:.0} / {gemm_batch_wall_us:.0})",
        a.queries
    );

    // Ground truth from the fixed-order pair kernel (no norm-expansion cancellation),
    // in parallel over queries; the GEMM route's top list is checked against it too.
    let truth: Vec<Vec<u32>> = {
        use rayon::prelude::*;
        queries
            .par_chunks_exact(dim)
            .map(|q| {
                let mut d: Vec<(f32, u32)> = cents
                    .chunks_exact(dim)
                    .enumerate()
                    .map(|(i, c)| (quarry_kernels::simd::l2_sq(q, c), i as u32))
                    .collect();
                let cmp = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
                d.select_nth_unstable_by(a.top - 1, cmp);
                d.truncate(a.top);
                d.into_iter().map(|p| p.1).collect()
            })
            .collect()
    };
    let gemm_hits: usize = exact
        .per_query
        .iter()
        .zip(&truth)
        .map(|(e, t)| e.iter().filter(|p| t.contains(&p.0)).count())
        .sum();
    let gemm_recall = gemm_hits as f64 / (a.queries * a.top) as f64;
    eprintln!(
        "exact GEMM route top-{} vs pairwise brute force: recall {gemm_recall:.4}",
        a.top
    );
    let params = HnswParams {
        m: a.m,
        ef_construction: a.ef_construction,
        seed: a.seed,
    };
    let cached = a.graph_cache.as_ref().filter(|p| p.exists());
    let (graph, build_secs) = if let Some(p) = cached {
        let b = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        let mut set = decode_graphs(&b, &p.display().to_string())?;
        if set.graphs.len() != 1 || set.graphs[0].len() != a.n || set.params != params {
            bail!(
                "{} holds another graph (other n or parameters); delete it",
                p.display()
            );
        }
        (CentroidGraph::from_graph(set.graphs.remove(0), 64), None)
    } else {
        ui.stage("centroid graph", a.n as u64);
        let last = std::sync::atomic::AtomicUsize::new(0);
        let t = Instant::now();
        let g = CentroidGraph::build(&cents, dim, Metric::L2, &params, 64, &|done| {
            let before = last.swap(done, std::sync::atomic::Ordering::Relaxed);
            ui.advance(done.saturating_sub(before) as u64);
        })?;
        let secs = t.elapsed().as_secs_f64();
        ui.done();
        eprintln!("built HNSW over {} centroids in {secs:.1}s", a.n);
        if let Some(p) = &a.graph_cache {
            let set = GraphSet {
                params,
                graphs: vec![g.graph().clone()],
            };
            std::fs::write(p, encode_graphs(&set))
                .with_context(|| format!("writing {}", p.display()))?;
        }
        (g, Some(secs))
    };

    println!(
        "{:>8} {:>5} {:>4} {:>9} {:>11} {:>11} {:>13} {:>12} {:>11} {:>11}",
        "n",
        "ef",
        "top",
        "recall",
        "graph us/q",
        "dists/q",
        "GEMM 1q us/q",
        "GEMM b us/q",
        "x vs 1q",
        "x vs batch"
    );
    let mut rows = Vec::new();
    for &ef in &efs {
        let mut s = SearchScratch::default();
        let mut access = SliceVectors {
            data: &cents,
            dim,
            metric: Metric::L2,
            norms: None,
        };
        let mut found = Vec::with_capacity(a.queries);
        let (t, c) = (Instant::now(), quarry_kernels::cpu_time::thread_cpu_secs());
        for q in queries.chunks_exact(dim) {
            found.push(
                graph
                    .graph()
                    .search(&mut access, q, a.top, ef.max(a.top), &mut s)?,
            );
        }
        let wall_us = t.elapsed().as_secs_f64() * 1e6 / a.queries as f64;
        let us = (quarry_kernels::cpu_time::thread_cpu_secs() - c) * 1e6 / a.queries as f64;
        let mut hits = 0usize;
        for (f, t) in found.iter().zip(&truth) {
            hits += f.iter().filter(|x| t.contains(&x.1)).count();
        }
        let row = Row {
            n: a.n,
            dim,
            queries: a.queries,
            top: a.top,
            m: a.m,
            ef_construction: a.ef_construction,
            ef,
            recall: hits as f64 / (a.queries * a.top) as f64,
            gemm_recall,
            graph_us_per_query: us,
            graph_distances_per_query: s.stats.distances as f64 / a.queries as f64,
            gemm_single_us_per_query: gemm_single_us,
            gemm_batch_us_per_query: gemm_batch_us,
            graph_wall_us_per_query: wall_us,
            gemm_single_wall_us_per_query: gemm_single_wall_us,
            gemm_batch_wall_us_per_query: gemm_batch_wall_us,
            speedup_vs_single: gemm_single_us / us,
            speedup_vs_batch: gemm_batch_us / us,
            build_secs,
            graph_bytes: graph.graph().memory_bytes(),
            threads: 1,
        };
        println!(
            "{:>8} {:>5} {:>4} {:>9.4} {:>11.1} {:>11.0} {:>13.0} {:>12.0} {:>11.1} {:>11.1}",
            row.n,
            ef,
            row.top,
            row.recall,
            us,
            row.graph_distances_per_query,
            gemm_single_us,
            gemm_batch_us,
            row.speedup_vs_single,
            row.speedup_vs_batch
        );
        rows.push(row);
    }
    // The engine's ranker (parallel over queries) must agree with the direct search.
    let mut routed = CentroidIndex::new(cents, dim, Metric::L2);
    let mut g = graph;
    g.set_ef(efs[0]);
    routed.set_graph(Some(Arc::new(g)))?;
    let via = routed.rank(&queries[..dim], a.top)?;
    let direct: Vec<u32> = rows.first().map_or(Vec::new(), |_| {
        via.per_query[0].iter().map(|p| p.0).collect()
    });
    if direct.len() != a.top {
        bail!(
            "centroid ranker returned {} centroids, expected {}",
            direct.len(),
            a.top
        );
    }
    if let Some(p) = &a.out {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .with_context(|| format!("opening {}", p.display()))?;
        for r in &rows {
            writeln!(f, "{}", serde_json::to_string(r)?)?;
        }
    }
    Ok(())
}
