//! HNSW against brute force on real SIFT descriptors, determinism and file checks.

use quarry_graph::{
    build_graph, decode_graphs, encode_graphs, GraphSet, HnswParams, SearchScratch, SliceVectors,
};
use quarry_kernels::Metric;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/siftsmall")
        .join(name)
}

fn sift() -> (Vec<f32>, Vec<f32>, quarry_formats::GroundTruth) {
    let base = quarry_formats::read_queries(&fixture("siftsmall_base.bvecs")).unwrap();
    let q = quarry_formats::read_queries(&fixture("siftsmall_query.fvecs")).unwrap();
    let gt = quarry_formats::read_ground_truth(&fixture("siftsmall_groundtruth.ivecs")).unwrap();
    (base.data, q.data, gt)
}

fn params() -> HnswParams {
    HnswParams {
        m: 12,
        ef_construction: 64,
        seed: 7,
    }
}

#[test]
fn recall_against_brute_force_on_siftsmall() {
    let (base, queries, gt) = sift();
    let dim = 128;
    let vecs = SliceVectors {
        data: &base,
        dim,
        metric: Metric::L2,
        norms: None,
    };
    let g = build_graph(&vecs, &params(), &|_| {}).unwrap();
    let mut s = SearchScratch::default();
    let mut access = SliceVectors { ..vecs };
    let (mut hits, mut hits_low) = (0usize, 0usize);
    for (qi, q) in queries.chunks_exact(dim).enumerate() {
        let truth = &gt.ids[qi * gt.k..qi * gt.k + 10];
        let found = g.search(&mut access, q, 10, 64, &mut s).unwrap();
        hits += found.iter().filter(|f| truth.contains(&f.1)).count();
        let low = g.search(&mut access, q, 10, 10, &mut s).unwrap();
        hits_low += low.iter().filter(|f| truth.contains(&f.1)).count();
    }
    let recall = hits as f64 / 1000.0;
    let recall_low = hits_low as f64 / 1000.0;
    let per_query = s.stats.distances as f64 / 200.0;
    assert!(recall >= 0.97, "recall@10 at ef 64 = {recall}");
    assert!(recall_low <= recall, "ef 10 {recall_low} vs ef 64 {recall}");
    // A graph search looks at far fewer vectors than the 10,000 of a scan.
    assert!(per_query < 2500.0, "{per_query} distances per query");
}

#[test]
fn same_seed_same_bytes_other_seed_other_graph() {
    let (base, _, _) = sift();
    let data = &base[..3000 * 128];
    let vecs = SliceVectors {
        data,
        dim: 128,
        metric: Metric::Cosine,
        norms: None,
    };
    let enc = |seed| {
        let p = HnswParams { seed, ..params() };
        let g = build_graph(&vecs, &p, &|_| {}).unwrap();
        encode_graphs(&GraphSet {
            params: p,
            graphs: vec![g],
        })
    };
    let a = enc(1);
    assert_eq!(a, enc(1));
    assert_ne!(a, enc(2));
    let back = decode_graphs(&a, "test").unwrap();
    assert_eq!(encode_graphs(&back), a);
    assert_eq!(back.graphs[0].len(), 3000);
    assert!(back.graphs[0].norms().is_some());
}

#[test]
fn damaged_files_are_errors_not_panics() {
    let (base, _, _) = sift();
    let data = &base[..500 * 128];
    let vecs = SliceVectors {
        data,
        dim: 128,
        metric: Metric::L2,
        norms: None,
    };
    let g = build_graph(&vecs, &params(), &|_| {}).unwrap();
    let good = encode_graphs(&GraphSet {
        params: params(),
        graphs: vec![g.clone(), g],
    });
    assert!(decode_graphs(&good, "t").is_ok());
    // Every truncation fails.
    for cut in (0..good.len()).step_by(97) {
        assert!(decode_graphs(&good[..cut], "t").is_err(), "cut at {cut}");
    }
    // Out-of-range neighbour ids fail (last u32 of the file is a neighbour id).
    let mut bad = good.clone();
    let l = bad.len();
    bad[l - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
    let e = decode_graphs(&bad, "graphs.bin").unwrap_err().to_string();
    assert!(
        e.contains("graphs.bin") && e.contains("out of range"),
        "{e}"
    );
    // Random byte flips never panic (the manifest crc catches them first in an index).
    let mut state = 1u64;
    for _ in 0..300 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
        let mut f = good.clone();
        let at = (state >> 33) as usize % f.len();
        f[at] ^= 1 << ((state >> 20) % 8);
        let _ = decode_graphs(&f, "t");
    }
}

#[test]
fn bad_parameters_are_errors() {
    let vecs = SliceVectors::<f32> {
        data: &[0.0; 8],
        dim: 2,
        metric: Metric::L2,
        norms: None,
    };
    let e = build_graph(&vecs, &HnswParams { m: 1, ..params() }, &|_| {}).unwrap_err();
    assert!(e.to_string().contains("m = 1"), "{e}");
    // Tiny inputs (0, 1, 4 vectors) build and search.
    let g = build_graph(&vecs, &params(), &|_| {}).unwrap();
    let mut a = SliceVectors { ..vecs };
    let r = g
        .search(&mut a, &[0.0, 0.0], 3, 8, &mut SearchScratch::default())
        .unwrap();
    assert_eq!(r.len(), 3);
    let empty = SliceVectors::<f32> { data: &[], ..vecs };
    let g = build_graph(&empty, &params(), &|_| {}).unwrap();
    assert!(g.is_empty());
}

#[test]
fn absurd_ef_is_bounded_by_the_graph_not_allocated() {
    // Issue 14 defect 5: `--ef 100000000000` aborted allocating 800 GB for the
    // result heap. The heap is now sized by the graph; the answer equals ef = n.
    let data: Vec<f32> = (0..40).map(|i| ((i * 37) % 23) as f32).collect();
    let vecs = SliceVectors::<f32> {
        data: &data,
        dim: 2,
        metric: Metric::L2,
        norms: None,
    };
    let g = build_graph(&vecs, &params(), &|_| {}).unwrap();
    let mut a = SliceVectors { ..vecs };
    let mut s = SearchScratch::default();
    let huge = g
        .search(&mut a, &[3.0, 4.0], 5, 100_000_000_000, &mut s)
        .unwrap();
    let all = g.search(&mut a, &[3.0, 4.0], 5, 20, &mut s).unwrap();
    assert_eq!(huge, all);
    // Building with such a breadth is refused with the limit in the message.
    let e = build_graph(
        &vecs,
        &HnswParams {
            ef_construction: 100_000_000_000,
            ..params()
        },
        &|_| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("exceeds 65536"), "{e}");
}
