//! The real SIFT-small files shipped in tests/fixtures.

use quarry_formats::{chunks, open_vectors, read_ground_truth, read_queries, ChunkData, DType};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/siftsmall")
        .join(name)
}

#[test]
fn siftsmall_shapes_and_spot_values() {
    let base = open_vectors(&fixture("siftsmall_base.bvecs")).unwrap();
    assert_eq!(
        (base.len(), base.dim(), base.dtype()),
        (10_000, 128, DType::U8)
    );
    let ChunkData::U8(first) = base.read_range(0, 1).unwrap() else {
        panic!("dtype")
    };
    assert_eq!(&first[..10], &[0, 16, 35, 5, 32, 31, 14, 10, 11, 78]);

    let q = read_queries(&fixture("siftsmall_query.fvecs")).unwrap();
    assert_eq!((q.n, q.dim, q.data.len()), (100, 128, 12_800));
    assert_eq!(&q.row(0)[..4], &[1.0, 3.0, 11.0, 110.0]);

    let gt = read_ground_truth(&fixture("siftsmall_groundtruth.ivecs")).unwrap();
    assert_eq!((gt.n, gt.k, gt.ids.len()), (100, 100, 10_000));
    assert_eq!(&gt.row(0)[..5], &[2176, 3752, 882, 4009, 2837]);
    assert!(gt.ids.iter().all(|&id| (id as usize) < base.len()));
}

#[test]
fn siftsmall_ground_truth_matches_brute_force() {
    // Read the base in uneven chunks and check that the first few queries' nearest
    // neighbor by L2 is the ground truth's first id: exercises all three files together.
    let base = open_vectors(&fixture("siftsmall_base.bvecs")).unwrap();
    let q = read_queries(&fixture("siftsmall_query.fvecs")).unwrap();
    let gt = read_ground_truth(&fixture("siftsmall_groundtruth.ivecs")).unwrap();
    let nq = 5;
    let mut best = vec![(f32::INFINITY, 0usize); nq];
    for item in chunks(base.as_ref(), 777) {
        let (start, data) = item.unwrap();
        let data = data.to_f32();
        for (r, x) in data.chunks_exact(128).enumerate() {
            for (qi, b) in best.iter_mut().enumerate() {
                let dist: f32 = q
                    .row(qi)
                    .iter()
                    .zip(x)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum();
                if dist < b.0 {
                    *b = (dist, start + r);
                }
            }
        }
    }
    for (qi, b) in best.iter().enumerate() {
        assert_eq!(b.1 as u32, gt.row(qi)[0], "query {qi}");
    }
}
