use crate::common::*;
use quarry_formats::{open_vectors, read_queries, ChunkData, DType, FormatError};

#[test]
fn fvecs_round_trip() {
    let d = dir();
    let data: Vec<f32> = (0..15).map(|i| i as f32 * 0.5 - 3.0).collect();
    let p = d.file("a.fvecs", &fvecs(3, &data));
    let src = open_vectors(&p).unwrap();
    assert_eq!((src.len(), src.dim(), src.dtype()), (5, 3, DType::F32));
    assert_eq!(src.path(), p.as_path());
    assert_eq!(src.read_range(0, 5).unwrap(), ChunkData::F32(data.clone()));
    assert_eq!(
        src.read_range(2, 2).unwrap(),
        ChunkData::F32(data[6..12].to_vec())
    );
    let q = read_queries(&p).unwrap();
    assert_eq!((q.n, q.dim), (5, 3));
    assert_eq!(q.data, data);
    assert_eq!(q.row(4), &data[12..15]);
}

#[test]
fn bvecs_round_trip() {
    let d = dir();
    let data: Vec<u8> = (0..=255).collect();
    let p = d.file("a.bvecs", &bvecs(16, &data));
    let src = open_vectors(&p).unwrap();
    assert_eq!((src.len(), src.dim(), src.dtype()), (16, 16, DType::U8));
    assert_eq!(src.read_range(0, 16).unwrap(), ChunkData::U8(data.clone()));
    assert_eq!(
        src.read_range(15, 1).unwrap(),
        ChunkData::U8(data[240..].to_vec())
    );
    assert_eq!(src.read_range(16, 0).unwrap(), ChunkData::U8(vec![]));
}

#[test]
fn empty_vecs_file() {
    let d = dir();
    let p = d.file("empty.fvecs", &[]);
    let e = err(open_vectors(&p));
    assert!(matches!(e, FormatError::EmptyFile { .. }), "{e:?}");
    check_msg(&e, &p, &["empty", "contains no vectors", "check the path"]);
}

#[test]
fn vecs_too_short_for_dimension_field() {
    let d = dir();
    let p = d.file("short.bvecs", &[1, 0]);
    let e = err(open_vectors(&p));
    assert!(
        matches!(
            e,
            FormatError::TooShort {
                size: 2,
                needed: 4,
                ..
            }
        ),
        "{e:?}"
    );
    check_msg(
        &e,
        &p,
        &["2 bytes", "too short", "truncated or not in this format"],
    );
}

#[test]
fn vecs_truncated_last_record() {
    let d = dir();
    let mut bytes = fvecs(4, &[1.0; 12]);
    bytes.truncate(bytes.len() - 3);
    let p = d.file("cut.fvecs", &bytes);
    let e = err(open_vectors(&p));
    match &e {
        FormatError::Truncated {
            record_size,
            complete,
            trailing,
            offset,
            dim,
            ..
        } => {
            assert_eq!(
                (*record_size, *complete, *trailing, *offset, *dim),
                (20, 2, 17, 40, 4)
            );
        }
        other => panic!("{other:?}"),
    }
    check_msg(
        &e,
        &p,
        &["truncated", "byte offset 40", "cut it to 40 bytes"],
    );
}

#[test]
fn vecs_dimension_changes_mid_file() {
    let d = dir();
    // Four 2-d records where the third claims dimension 3: same byte length, so only
    // the per-record check can catch it.
    let mut bytes = fvecs(2, &[1.0, 2.0, 3.0, 4.0]);
    bytes.extend(vecs_record(3, &f32_le(&[5.0, 6.0])));
    bytes.extend(fvecs(2, &[7.0, 8.0]));
    let p = d.file("mixed.fvecs", &bytes);
    let src = open_vectors(&p).unwrap();
    assert_eq!(src.len(), 4);
    assert_eq!(
        src.read_range(0, 2).unwrap(),
        ChunkData::F32(vec![1.0, 2.0, 3.0, 4.0])
    );
    assert_eq!(
        src.read_range(3, 1).unwrap(),
        ChunkData::F32(vec![7.0, 8.0])
    );
    let e = src.read_range(1, 3).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::DimensionChanged {
                offset: 24,
                vector: 2,
                expected: 2,
                found: 3,
                ..
            }
        ),
        "{e:?}"
    );
    check_msg(&e, &p, &["byte offset 24", "dimension 3", "same dimension"]);
}

#[test]
fn vecs_bad_dimension_zero_negative_absurd() {
    let d = dir();
    for (name, dim) in [
        ("zero.fvecs", 0),
        ("neg.fvecs", -5),
        ("huge.bvecs", (1 << 20) + 1),
    ] {
        let p = d.file(name, &vecs_record(dim, &[0; 8]));
        let e = err(open_vectors(&p));
        assert!(
            matches!(e, FormatError::BadDimension { offset: 0, dim: x, .. } if x == i64::from(dim)),
            "{e:?}"
        );
        check_msg(
            &e,
            &p,
            &[
                &format!("invalid dimension {dim}"),
                "between 1 and 1048576",
                "byte offset 0",
            ],
        );
    }
}

#[test]
fn fvecs_non_finite_values() {
    let d = dir();
    let mut data = vec![0.5f32; 40]; // 10 vectors of 4
    data[7 * 4 + 3] = f32::NAN;
    let p = d.file("base.fvecs", &fvecs(4, &data));
    let src = open_vectors(&p).unwrap();
    assert!(src.read_range(0, 7).is_ok());
    let e = src.read_range(5, 5).unwrap_err();
    // record 7 starts at 7 * 20; component 3 is 4 + 12 bytes into it.
    let off = 7 * 20 + 4 + 12;
    assert!(
        matches!(
            e,
            FormatError::NonFinite {
                vector: 7,
                component: 3,
                kind: "NaN",
                ..
            }
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    assert_eq!(
        msg,
        format!(
            "{}: non-finite value (NaN) at byte offset {off} (vector 7, component 3); \
             remove or replace non-finite values",
            p.display()
        )
    );
    for (v, kind) in [(f32::INFINITY, "+Inf"), (f32::NEG_INFINITY, "-Inf")] {
        let p = d.file("inf.fvecs", &fvecs(2, &[1.0, 2.0, v, 3.0]));
        let e = err(read_queries(&p));
        assert!(matches!(
            e,
            FormatError::NonFinite {
                vector: 1,
                component: 0,
                offset: 16,
                ..
            }
        ));
        check_msg(&e, &p, &[kind, "byte offset 16", "remove or replace"]);
    }
}

#[test]
fn vecs_read_beyond_len() {
    let d = dir();
    let p = d.file("a.bvecs", &bvecs(2, &[1, 2, 3, 4]));
    let src = open_vectors(&p).unwrap();
    for (start, rows) in [(1, 2), (3, 0), (0, usize::MAX)] {
        let e = src.read_range(start, rows).unwrap_err();
        assert!(matches!(e, FormatError::OutOfRange { len: 2, .. }), "{e:?}");
        check_msg(&e, &p, &["only 2 vectors", "start + rows <= len()"]);
    }
}

#[test]
fn huge_dimension_on_tiny_file_is_truncation_not_allocation() {
    let d = dir();
    let p = d.file("big.fvecs", &vecs_record(1 << 20, &[0; 1000]));
    let e = err(open_vectors(&p));
    assert!(
        matches!(e, FormatError::Truncated { complete: 0, .. }),
        "{e:?}"
    );
}
