use crate::common::*;
use quarry_formats::{open_vectors, read_queries, ChunkData, DType, FormatError};

#[test]
fn npy_f32_round_trip_numpy_layout() {
    let d = dir();
    let data: Vec<f32> = (0..6).map(|i| i as f32).collect();
    let bytes = npy("<f4", "(2, 3)", &f32_le(&data));
    // numpy.save(np.arange(6, dtype=np.float32).reshape(2, 3)) has a 128-byte header.
    assert_eq!(bytes.len(), 128 + 24);
    let p = d.file("a.npy", &bytes);
    let src = open_vectors(&p).unwrap();
    assert_eq!((src.len(), src.dim(), src.dtype()), (2, 3, DType::F32));
    assert_eq!(src.read_range(0, 2).unwrap(), ChunkData::F32(data.clone()));
    assert_eq!(
        src.read_range(1, 1).unwrap(),
        ChunkData::F32(data[3..].to_vec())
    );
}

#[test]
fn npy_u8_and_i8_round_trip() {
    let d = dir();
    let p = d.file("u.npy", &npy("|u1", "(3, 2)", &[0, 1, 2, 253, 254, 255]));
    let src = open_vectors(&p).unwrap();
    assert_eq!((src.len(), src.dim(), src.dtype()), (3, 2, DType::U8));
    assert_eq!(
        src.read_range(0, 3).unwrap(),
        ChunkData::U8(vec![0, 1, 2, 253, 254, 255])
    );

    let p = d.file("i.npy", &npy("|i1", "(2, 2)", &[0x80, 0xff, 0, 0x7f]));
    let src = open_vectors(&p).unwrap();
    assert_eq!(src.dtype(), DType::I8);
    assert_eq!(
        src.read_range(0, 2).unwrap(),
        ChunkData::I8(vec![-128, -1, 0, 127])
    );
}

#[test]
fn npy_v2_and_v3_headers() {
    let d = dir();
    for v in [2u8, 3] {
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }";
        let p = d.file(
            &format!("v{v}.npy"),
            &npy_with(v, dict, &f32_le(&[1.5, -2.5])),
        );
        let q = read_queries(&p).unwrap();
        assert_eq!((q.n, q.dim, q.data), (1, 2, vec![1.5, -2.5]));
    }
}

#[test]
fn npy_wrong_dtype() {
    let d = dir();
    for descr in ["<f8", ">f4", "<i4", "<f2"] {
        let p = d.file("x.npy", &npy(descr, "(1, 2)", &[0; 16]));
        let e = err(open_vectors(&p));
        assert!(
            matches!(&e, FormatError::NpyDtype { descr: x, .. } if x == descr),
            "{e:?}"
        );
        check_msg(&e, &p, &[&format!("'{descr}'"), "astype(numpy.float32)"]);
    }
    let dict = "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1, 2), }";
    let p = d.file("s.npy", &npy_with(1, dict, &[0; 8]));
    assert!(matches!(
        err(open_vectors(&p)),
        FormatError::NpyDtype { .. }
    ));
}

#[test]
fn npy_fortran_order_reads_as_rows() {
    // numpy.asfortranarray([[1, 2, 3], [4, 5, 6]]): columns are contiguous on disk.
    let d = dir();
    let dict = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }";
    let p = d.file(
        "f.npy",
        &npy_with(1, dict, &f32_le(&[1.0, 4.0, 2.0, 5.0, 3.0, 6.0])),
    );
    let src = open_vectors(&p).unwrap();
    assert_eq!((src.len(), src.dim()), (2, 3));
    assert_eq!(
        src.read_range(0, 2).unwrap(),
        ChunkData::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    );
    assert_eq!(
        src.read_range(1, 1).unwrap(),
        ChunkData::F32(vec![4.0, 5.0, 6.0])
    );
    let dict = "{'descr': '|u1', 'fortran_order': True, 'shape': (3, 2), }";
    let p = d.file("u.npy", &npy_with(1, dict, &[1, 2, 3, 10, 20, 30]));
    let src = open_vectors(&p).unwrap();
    assert_eq!(
        src.read_range(1, 2).unwrap(),
        ChunkData::U8(vec![2, 20, 3, 30])
    );
    // A NaN is located by its Fortran offset: element (1, 2) is the 6th value.
    let dict = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }";
    let p = d.file(
        "n.npy",
        &npy_with(1, dict, &f32_le(&[1.0, 4.0, 2.0, 5.0, 3.0, f32::NAN])),
    );
    let e = err(open_vectors(&p).unwrap().read_range(0, 2));
    assert!(matches!(e, FormatError::NonFinite { .. }), "{e:?}");
    check_msg(&e, &p, &["byte offset 148"]);
}

#[test]
fn npy_not_two_dimensional() {
    let d = dir();
    for (shape, elems) in [("(4,)", 4), ("(2, 2, 1)", 4), ("()", 1)] {
        let p = d.file("s.npy", &npy("|u1", shape, &vec![0; elems]));
        let e = err(open_vectors(&p));
        assert!(
            matches!(&e, FormatError::NpyShape { shape: s, .. } if s == shape),
            "{e:?}"
        );
        check_msg(&e, &p, &[&format!("shape {shape}"), "2-D", "reshape"]);
    }
}

#[test]
fn npy_bad_magic_and_version() {
    let d = dir();
    let mut bytes = npy("<f4", "(1, 1)", &[0; 4]);
    bytes[1] = b'X';
    let p = d.file("m.npy", &bytes);
    let e = err(open_vectors(&p));
    assert!(
        matches!(e, FormatError::NpyHeader { offset: 0, .. }),
        "{e:?}"
    );
    check_msg(&e, &p, &["magic", "byte offset 0", "numpy.save"]);

    let mut bytes = npy("<f4", "(1, 1)", &[0; 4]);
    bytes[6] = 9;
    let p = d.file("v.npy", &bytes);
    let e = err(open_vectors(&p));
    assert!(
        matches!(e, FormatError::NpyHeader { offset: 6, .. }),
        "{e:?}"
    );
    check_msg(&e, &p, &["version 9.0"]);
}

#[test]
fn npy_malformed_dict_reports_offset() {
    let d = dir();
    let p = d.file(
        "d.npy",
        &npy_with(1, "{'descr': '<f4' 'fortran_order': False}", &[]),
    );
    let e = err(open_vectors(&p));
    // The error is at the second key, 16 bytes into the dict, which starts at byte 10.
    assert!(
        matches!(e, FormatError::NpyHeader { offset: 26, .. }),
        "{e:?}"
    );
    check_msg(&e, &p, &["byte offset 26", "expected '}'"]);
}

#[test]
fn npy_header_too_short_or_empty() {
    let d = dir();
    let p = d.file("e.npy", &[]);
    assert!(matches!(
        err(open_vectors(&p)),
        FormatError::EmptyFile { .. }
    ));
    let p = d.file("p.npy", b"\x93NUM");
    let e = err(open_vectors(&p));
    assert!(
        matches!(e, FormatError::TooShort { needed: 10, .. }),
        "{e:?}"
    );
    check_msg(&e, &p, &["too short", "preamble"]);
    // Header length field points past the end of the file.
    let mut bytes = npy("<f4", "(1, 1)", &[]);
    bytes.truncate(60);
    let p = d.file("h.npy", &bytes);
    let e = err(open_vectors(&p));
    assert!(
        matches!(
            e,
            FormatError::TooShort {
                needed: 128,
                size: 60,
                ..
            }
        ),
        "{e:?}"
    );
    check_msg(&e, &p, &[".npy header"]);
}

#[test]
fn npy_shape_promises_more_than_file_holds() {
    let d = dir();
    let p = d.file("big.npy", &npy("<f4", "(4000000000, 128)", &[0; 1024]));
    let e = err(open_vectors(&p));
    assert!(
        matches!(
            e,
            FormatError::HeaderExceedsFile {
                n: 4_000_000_000,
                dim: 128,
                ..
            }
        ),
        "{e:?}"
    );
    check_msg(
        &e,
        &p,
        &["4000000000 vectors", "truncated or its header is corrupt"],
    );
    // n * d * 4 overflows u64: still a clean error, no allocation.
    let p = d.file(
        "ovf.npy",
        &npy("<f4", "(18446744073709551615, 1024)", &[0; 8]),
    );
    assert!(matches!(
        err(open_vectors(&p)),
        FormatError::HeaderExceedsFile {
            expected: u64::MAX,
            ..
        }
    ));
    let p = d.file("trail.npy", &npy("|u1", "(1, 4)", &[0; 5]));
    assert!(matches!(
        err(open_vectors(&p)),
        FormatError::TrailingData { .. }
    ));
}

#[test]
fn npy_zero_dimension() {
    let d = dir();
    let p = d.file("z.npy", &npy("<f4", "(5, 0)", &[]));
    let e = err(open_vectors(&p));
    assert!(
        matches!(e, FormatError::BadDimension { dim: 0, .. }),
        "{e:?}"
    );
}

#[test]
fn npy_non_finite() {
    let d = dir();
    let p = d.file(
        "n.npy",
        &npy("<f4", "(2, 2)", &f32_le(&[1.0, 2.0, 3.0, f32::NAN])),
    );
    let e = err(read_queries(&p));
    assert!(
        matches!(
            e,
            FormatError::NonFinite {
                vector: 1,
                component: 1,
                offset: 140,
                ..
            }
        ),
        "{e:?}"
    );
    check_msg(
        &e,
        &p,
        &["(NaN) at byte offset 140 (vector 1, component 1)"],
    );
}

#[test]
fn npy_deeply_nested_header_is_an_error_not_a_crash() {
    // Issue 14 defect 4: a header nested 40,000 deep overflowed the stack (SIGABRT)
    // in `build` and `search`. Needs a v2 header (the v1 length field is 16 bits).
    let d = dir();
    let dict = format!(
        "{{'descr': {}'<f4'{}, 'fortran_order': False, 'shape': (1, 2), }}",
        "[".repeat(40_000),
        "]".repeat(40_000)
    );
    let p = d.file("deep.npy", &npy_with(2, &dict, &f32_le(&[1.0, 2.0])));
    for e in [err(open_vectors(&p)), err(read_queries(&p))] {
        assert!(matches!(e, FormatError::NpyHeader { .. }), "{e:?}");
        check_msg(&e, &p, &["byte offset 54", "nested more than 32 deep"]);
    }
}
