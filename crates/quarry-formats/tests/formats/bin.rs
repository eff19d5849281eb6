use crate::common::*;
use quarry_formats::{
    open_vectors, read_queries, write_fbin, write_i8bin, write_u8bin, ChunkData, DType, FormatError,
};

#[test]
fn fbin_round_trip() {
    let d = dir();
    let data: Vec<f32> = (0..24).map(|i| (i as f32).sin()).collect();
    let p = d.path("a.fbin");
    write_fbin(&p, 6, &data).unwrap();
    assert_eq!(
        std::fs::read(&p).unwrap(),
        bin(4, 6, &f32_le(&data)),
        "layout"
    );
    let src = open_vectors(&p).unwrap();
    assert_eq!((src.len(), src.dim(), src.dtype()), (4, 6, DType::F32));
    assert_eq!(src.read_range(0, 4).unwrap(), ChunkData::F32(data.clone()));
    assert_eq!(
        src.read_range(3, 1).unwrap(),
        ChunkData::F32(data[18..].to_vec())
    );
}

#[test]
fn u8bin_round_trip() {
    let d = dir();
    let data: Vec<u8> = (0..60).map(|i| (i * 7 % 256) as u8).collect();
    let p = d.path("a.u8bin");
    write_u8bin(&p, 5, &data).unwrap();
    let src = open_vectors(&p).unwrap();
    assert_eq!((src.len(), src.dim(), src.dtype()), (12, 5, DType::U8));
    assert_eq!(src.read_range(0, 12).unwrap(), ChunkData::U8(data.clone()));
    assert_eq!(
        src.read_range(10, 2).unwrap(),
        ChunkData::U8(data[50..].to_vec())
    );
}

#[test]
fn i8bin_round_trip() {
    let d = dir();
    let data: Vec<i8> = vec![-128, -1, 0, 1, 127, 42];
    let p = d.path("a.i8bin");
    write_i8bin(&p, 2, &data).unwrap();
    assert_eq!(
        std::fs::read(&p).unwrap(),
        bin(3, 2, &[128, 255, 0, 1, 127, 42])
    );
    let src = open_vectors(&p).unwrap();
    assert_eq!((src.len(), src.dim(), src.dtype()), (3, 2, DType::I8));
    assert_eq!(src.read_range(0, 3).unwrap(), ChunkData::I8(data));
    let q = read_queries(&p).unwrap();
    assert_eq!(q.data, vec![-128.0, -1.0, 0.0, 1.0, 127.0, 42.0]);
}

#[test]
fn bin_with_zero_rows_opens_empty() {
    let d = dir();
    let p = d.file("none.fbin", &bin(0, 8, &[]));
    let src = open_vectors(&p).unwrap();
    assert_eq!((src.len(), src.dim()), (0, 8));
    assert!(src.is_empty());
    assert_eq!(src.read_range(0, 0).unwrap(), ChunkData::F32(vec![]));
}

#[test]
fn empty_bin_file() {
    let d = dir();
    let p = d.file("e.u8bin", &[]);
    let e = err(open_vectors(&p));
    assert!(matches!(e, FormatError::EmptyFile { .. }), "{e:?}");
    check_msg(&e, &p, &["empty", "contains no vectors"]);
}

#[test]
fn bin_too_short_for_header() {
    let d = dir();
    let p = d.file("h.fbin", &[3, 0, 0, 0, 2]);
    let e = err(open_vectors(&p));
    assert!(
        matches!(
            e,
            FormatError::TooShort {
                size: 5,
                needed: 8,
                ..
            }
        ),
        "{e:?}"
    );
    check_msg(
        &e,
        &p,
        &[
            "5 bytes",
            "8-byte header",
            "truncated or not in this format",
        ],
    );
}

#[test]
fn bin_header_promises_more_than_file_holds() {
    let d = dir();
    // Claims ~4 billion 128-d vectors on a 1 KB file: must fail on sizes alone.
    let p = d.file("liar.fbin", &bin(u32::MAX, 128, &[0; 1016]));
    let e = err(open_vectors(&p));
    match &e {
        FormatError::HeaderExceedsFile {
            n,
            dim,
            expected,
            actual,
            ..
        } => {
            assert_eq!((*n, *dim, *actual), (u64::from(u32::MAX), 128, 1024));
            assert_eq!(*expected, 8 + u64::from(u32::MAX) * 128 * 4);
        }
        other => panic!("{other:?}"),
    }
    check_msg(
        &e,
        &p,
        &[
            "4294967295 vectors",
            "only 1024 bytes",
            "truncated or its header is corrupt",
        ],
    );
    // One row short.
    let p = d.file("short.u8bin", &bin(3, 4, &[0; 11]));
    assert!(matches!(
        err(open_vectors(&p)),
        FormatError::HeaderExceedsFile {
            expected: 20,
            actual: 19,
            ..
        }
    ));
}

#[test]
fn bin_trailing_bytes() {
    let d = dir();
    let p = d.file("long.i8bin", &bin(2, 4, &[0; 9]));
    let e = err(open_vectors(&p));
    assert!(
        matches!(
            e,
            FormatError::TrailingData {
                expected: 16,
                actual: 17,
                ..
            }
        ),
        "{e:?}"
    );
    check_msg(&e, &p, &["byte offset 16", "trailing garbage"]);
}

#[test]
fn bin_bad_dimension() {
    let d = dir();
    for (name, dim) in [
        ("z.fbin", 0u32),
        ("big.u8bin", (1 << 20) + 1),
        ("max.fbin", u32::MAX),
    ] {
        let p = d.file(name, &bin(1, dim, &[0; 16]));
        let e = err(open_vectors(&p));
        assert!(
            matches!(e, FormatError::BadDimension { offset: 4, dim: x, .. } if x == i64::from(dim)),
            "{e:?}"
        );
        check_msg(
            &e,
            &p,
            &[
                &format!("invalid dimension {dim}"),
                "byte offset 4",
                "check the extension",
            ],
        );
    }
}

#[test]
fn fbin_non_finite() {
    let d = dir();
    let mut data = vec![1.0f32; 12];
    data[2 * 3 + 1] = f32::NEG_INFINITY;
    let p = d.file("x.fbin", &bin(4, 3, &f32_le(&data)));
    let src = open_vectors(&p).unwrap();
    assert!(src.read_range(0, 2).is_ok());
    assert!(src.read_range(3, 1).is_ok());
    let e = src.read_range(1, 3).unwrap_err();
    let off = 8 + (2 * 3 + 1) * 4;
    assert!(
        matches!(e, FormatError::NonFinite { vector: 2, component: 1, kind: "-Inf", offset, .. } if offset == off),
        "{e:?}"
    );
    check_msg(
        &e,
        &p,
        &[
            &format!("(-Inf) at byte offset {off} (vector 2, component 1)"),
            "remove or replace non-finite values",
        ],
    );
}

#[test]
fn bin_read_beyond_len() {
    let d = dir();
    let p = d.file("a.u8bin", &bin(2, 2, &[1, 2, 3, 4]));
    let src = open_vectors(&p).unwrap();
    let e = src.read_range(2, 1).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::OutOfRange {
                start: 2,
                rows: 1,
                len: 2,
                ..
            }
        ),
        "{e:?}"
    );
    check_msg(&e, &p, &["rows 2..3", "only 2 vectors"]);
}
