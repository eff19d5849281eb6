use crate::common::*;
use proptest::prelude::*;
use quarry_formats::{chunks, open_vectors, ChunkData, FormatError};
use std::path::PathBuf;

/// Writes `n` x `dim` deterministic values in format `fmt` (0..7) and returns the path
/// plus the data as f32.
fn make(d: &Dir, fmt: u8, n: usize, dim: usize) -> (PathBuf, Vec<f32>) {
    let vals: Vec<u8> = (0..n * dim).map(|i| (i * 31 % 251) as u8).collect();
    let as_i8: Vec<u8> = vals.iter().map(|&v| v.wrapping_sub(100)).collect();
    let f: Vec<f32> = vals.iter().map(|&v| f32::from(v) * 0.25 - 7.0).collect();
    let shape = format!("({n}, {dim})");
    let (name, bytes, expect) = match fmt {
        0 => ("a.fvecs", fvecs(dim, &f), f.clone()),
        1 => (
            "a.bvecs",
            bvecs(dim, &vals),
            vals.iter().map(|&v| f32::from(v)).collect(),
        ),
        2 => ("a.fbin", bin(n as u32, dim as u32, &f32_le(&f)), f.clone()),
        3 => (
            "a.u8bin",
            bin(n as u32, dim as u32, &vals),
            vals.iter().map(|&v| f32::from(v)).collect(),
        ),
        4 => (
            "a.i8bin",
            bin(n as u32, dim as u32, &as_i8),
            as_i8.iter().map(|&v| f32::from(v as i8)).collect(),
        ),
        5 => ("a.npy", npy("<f4", &shape, &f32_le(&f)), f.clone()),
        6 => (
            "a.npy",
            npy("|u1", &shape, &vals),
            vals.iter().map(|&v| f32::from(v)).collect(),
        ),
        _ => (
            "a.npy",
            npy("|i1", &shape, &as_i8),
            as_i8.iter().map(|&v| f32::from(v as i8)).collect(),
        ),
    };
    (d.file(name, &bytes), expect)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn chunked_reads_equal_whole_read(
        fmt in 0u8..8,
        // vecs files cannot hold zero rows, the others can.
        n in 0usize..40,
        dim in 1usize..9,
        step in 0usize..50,
        range in (0usize..40, 0usize..40),
    ) {
        let n = if fmt <= 1 { n.max(1) } else { n };
        let d = dir();
        let (p, expect) = make(&d, fmt, n, dim);
        let src = open_vectors(&p).unwrap();
        prop_assert_eq!((src.len(), src.dim()), (n, dim));
        let whole = src.read_range(0, n).unwrap();
        prop_assert_eq!(whole.to_f32(), expect.clone());

        let mut starts = Vec::new();
        let mut joined = Vec::new();
        for item in chunks(src.as_ref(), step) {
            let (start, c) = item.unwrap();
            prop_assert_eq!(c.dtype(), whole.dtype());
            prop_assert!(c.len_elems() <= step.max(1) * dim && c.len_elems() > 0);
            starts.push(start);
            joined.extend(c.to_f32());
        }
        prop_assert_eq!(joined, expect.clone());
        let want: Vec<usize> = (0..n).step_by(step.max(1)).collect();
        prop_assert_eq!(starts, want);

        let (a, b) = range;
        let (start, rows) = (a.min(n), b.min(n - a.min(n)));
        let part = src.read_range(start, rows).unwrap().to_f32();
        prop_assert_eq!(&part[..], &expect[start * dim..(start + rows) * dim]);
    }
}

#[test]
fn concurrent_reads_from_one_source() {
    let d = dir();
    let (p, expect) = make(&d, 2, 64, 16);
    let src = open_vectors(&p).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (src, expect) = (&src, &expect);
            s.spawn(move || {
                for i in (t..64).step_by(4) {
                    let row = src.read_range(i, 1).unwrap().to_f32();
                    assert_eq!(row, expect[i * 16..(i + 1) * 16]);
                }
            });
        }
    });
}

#[test]
fn chunks_stop_after_the_first_error() {
    let d = dir();
    let mut bytes = bvecs(2, &[1, 2, 3, 4, 5, 6]);
    bytes.extend(vecs_record(1, &[7, 8]));
    bytes.extend(bvecs(2, &[9, 10, 11, 12]));
    let p = d.file("bad.bvecs", &bytes);
    let src = open_vectors(&p).unwrap();
    let items: Vec<_> = chunks(src.as_ref(), 2).collect();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0].as_ref().unwrap(),
        &(0, ChunkData::U8(vec![1, 2, 3, 4]))
    );
    assert!(matches!(
        items[1],
        Err(FormatError::DimensionChanged { vector: 3, .. })
    ));
}
