use crate::common::*;
use quarry_formats::{
    open_vectors, read_ground_truth, read_queries, ChunkData, DType, FormatError,
};

#[test]
fn unknown_extension_lists_supported_formats() {
    let d = dir();
    for name in ["a.csv", "noext", "a.ivecs"] {
        let p = d.file(name, &[1, 2, 3]);
        let e = err(open_vectors(&p));
        assert!(
            matches!(e, FormatError::UnsupportedExtension { .. }),
            "{e:?}"
        );
        check_msg(
            &e,
            &p,
            &[
                ".fvecs",
                ".bvecs",
                ".fbin",
                ".u8bin",
                ".i8bin",
                ".npy",
                "rename the file",
            ],
        );
    }
    let p = d.file("gt.fvecs", &[0; 8]);
    let e = err(read_ground_truth(&p));
    check_msg(&e, &p, &[".ivecs", ".ibin"]);
}

#[test]
fn extension_is_case_insensitive() {
    let d = dir();
    let p = d.file("A.BVECS", &bvecs(2, &[1, 2]));
    assert_eq!(open_vectors(&p).unwrap().dtype(), DType::U8);
}

#[test]
fn missing_file_names_the_path() {
    let d = dir();
    let p = d.path("nope.fbin");
    let e = err(open_vectors(&p));
    assert!(matches!(e, FormatError::Io { .. }), "{e:?}");
    check_msg(&e, &p, &[]);
}

#[test]
fn queries_zero_rows_or_empty_file() {
    let d = dir();
    let p = d.file("q.fbin", &bin(0, 4, &[]));
    let e = err(read_queries(&p));
    assert!(matches!(e, FormatError::NoVectors { .. }), "{e:?}");
    check_msg(&e, &p, &["contains no vectors"]);
    let p = d.file("q.fvecs", &[]);
    check_msg(&err(read_queries(&p)), &p, &["contains no vectors"]);
}

#[test]
fn queries_from_u8_are_converted() {
    let d = dir();
    let p = d.file("q.u8bin", &bin(2, 2, &[0, 7, 200, 255]));
    let q = read_queries(&p).unwrap();
    assert_eq!(
        (q.n, q.dim, q.data.as_slice()),
        (2, 2, &[0.0, 7.0, 200.0, 255.0][..])
    );
}

#[test]
fn chunk_data_helpers() {
    let f = ChunkData::F32(vec![1.5, -2.0]);
    let u = ChunkData::U8(vec![1, 2, 255]);
    let i = ChunkData::I8(vec![-1]);
    assert_eq!((f.len_elems(), u.len_elems(), i.len_elems()), (2, 3, 1));
    assert_eq!(
        (f.dtype(), u.dtype(), i.dtype()),
        (DType::F32, DType::U8, DType::I8)
    );
    assert_eq!(f.to_f32(), vec![1.5, -2.0]);
    assert_eq!(u.to_f32(), vec![1.0, 2.0, 255.0]);
    assert_eq!(i.to_f32(), vec![-1.0]);
}
