use crate::common::*;
use quarry_formats::{
    open_vectors, write_fbin, write_ibin, write_ivecs, BinWriter, ChunkData, DType, FormatError,
};

fn tmp_of(p: &std::path::Path) -> std::path::PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(format!(".{}.quarry-tmp", std::process::id()));
    s.into()
}

#[test]
fn bin_writer_streams_chunks_and_patches_count() {
    let d = dir();
    let p = d.path("s.fbin");
    let mut w = BinWriter::create(&p, DType::F32, 2).unwrap();
    assert!(
        tmp_of(&p).exists() && !p.exists(),
        "data goes to <path>.tmp first"
    );
    w.append_f32(&[1.0, 2.0]).unwrap();
    w.append_f32(&[]).unwrap();
    w.append_f32(&[3.0, 4.0, 5.0, 6.0]).unwrap();
    assert_eq!((w.rows(), w.dim(), w.dtype()), (3, 2, DType::F32));
    w.finish().unwrap();
    assert!(p.exists() && !tmp_of(&p).exists());
    let src = open_vectors(&p).unwrap();
    assert_eq!(src.len(), 3);
    assert_eq!(
        src.read_range(0, 3).unwrap(),
        ChunkData::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    );

    let p = d.path("s.u8bin");
    let mut w = BinWriter::create(&p, DType::U8, 3).unwrap();
    for chunk in [[1u8, 2, 3], [4, 5, 6]] {
        w.append_u8(&chunk).unwrap();
    }
    w.finish().unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), bin(2, 3, &[1, 2, 3, 4, 5, 6]));

    // i8 rows may be appended natively or as their raw bytes.
    let p = d.path("s.i8bin");
    let mut w = BinWriter::create(&p, DType::I8, 2).unwrap();
    w.append_i8(&[-1, 2]).unwrap();
    w.append_u8(&[0x80, 7]).unwrap();
    let e = w.append_f32(&[1.0, 2.0]).unwrap_err();
    check_msg(&e, &p, &["appending f32 data to a i8 file"]);
    w.finish().unwrap();
    let src = open_vectors(&p).unwrap();
    assert_eq!(
        src.read_range(0, 2).unwrap(),
        ChunkData::I8(vec![-1, 2, -128, 7])
    );
}

#[test]
fn bin_writer_rejects_bad_appends() {
    let d = dir();
    let p = d.path("b.fbin");
    let mut w = BinWriter::create(&p, DType::F32, 3).unwrap();
    let e = w.append_u8(&[1, 2, 3]).unwrap_err();
    assert!(matches!(e, FormatError::InvalidInput { .. }), "{e:?}");
    check_msg(&e, &p, &["appending u8 data to a f32 file"]);
    let e = w.append_f32(&[1.0, 2.0]).unwrap_err();
    check_msg(
        &e,
        &p,
        &["2 values is not a whole number of rows of dimension 3"],
    );
    w.append_f32(&[0.0; 3]).unwrap();
    let e = w.append_f32(&[0.0, f32::NAN, 0.0]).unwrap_err();
    // Would have been row 1, component 1: offset 8 + (3 + 1) * 4.
    assert!(
        matches!(
            e,
            FormatError::NonFinite {
                vector: 1,
                component: 1,
                offset: 24,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(w.rows(), 1, "rejected chunks are not counted");
    w.finish().unwrap();
    assert_eq!(open_vectors(&p).unwrap().len(), 1);
    for dim in [0, (1 << 20) + 1] {
        let e = err(BinWriter::create(&d.path("z.fbin"), DType::F32, dim));
        check_msg(&e, &d.path("z.fbin"), &["out of range"]);
    }
}

#[test]
fn unfinished_writer_leaves_no_file() {
    let d = dir();
    let p = d.path("abandoned.u8bin");
    let mut w = BinWriter::create(&p, DType::U8, 4).unwrap();
    w.append_u8(&[1; 8]).unwrap();
    drop(w);
    assert!(!p.exists() && !tmp_of(&p).exists());
}

#[test]
fn failed_write_keeps_previous_file_intact() {
    let d = dir();
    let p = d.path("keep.fbin");
    write_fbin(&p, 2, &[1.0, 2.0]).unwrap();
    let before = std::fs::read(&p).unwrap();
    let e = write_fbin(&p, 2, &[1.0, f32::INFINITY]).unwrap_err();
    assert!(matches!(e, FormatError::NonFinite { .. }), "{e:?}");
    assert_eq!(std::fs::read(&p).unwrap(), before);
    assert!(!tmp_of(&p).exists());
}

#[test]
fn ground_truth_writers_validate_input() {
    let d = dir();
    let p = d.path("g.ivecs");
    let e = write_ivecs(&p, 2, &[1, 2, 3]).unwrap_err();
    check_msg(
        &e,
        &p,
        &["3 ids is not a positive whole number of rows of k = 2"],
    );
    let e = write_ivecs(&p, 0, &[]).unwrap_err();
    check_msg(&e, &p, &["k 0 is out of range"]);
    let e = write_ivecs(&p, 1, &[]).unwrap_err();
    assert!(matches!(e, FormatError::InvalidInput { .. }), "{e:?}");
    let e = write_ivecs(&p, 2, &[1, u32::MAX]).unwrap_err();
    check_msg(
        &e,
        &p,
        &["id 4294967295 (query 0, rank 1) exceeds the int32 range"],
    );
    let p = d.path("g.ibin");
    let e = write_ibin(&p, 2, &[1, 2], Some(&[1.0])).unwrap_err();
    check_msg(&e, &p, &["1 distances for 2 ids"]);
    let e = write_ibin(&p, 2, &[1, 2], Some(&[1.0, f32::NAN])).unwrap_err();
    assert!(
        matches!(e, FormatError::NonFinite { offset: 20, .. }),
        "{e:?}"
    );
    assert!(!p.exists() && !d.path("g.ivecs").exists());
}
