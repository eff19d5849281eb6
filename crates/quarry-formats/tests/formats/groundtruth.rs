use crate::common::*;
use quarry_formats::{read_ground_truth, write_ibin, write_ivecs, FormatError};

#[test]
fn ivecs_round_trip() {
    let d = dir();
    let ids: Vec<u32> = vec![5, 3, 9, 0, 1, 2, 7, 7, 7];
    let p = d.path("gt.ivecs");
    write_ivecs(&p, 3, &ids).unwrap();
    assert_eq!(
        std::fs::read(&p).unwrap(),
        [
            vecs_record(3, &i32_le(&[5, 3, 9])),
            vecs_record(3, &i32_le(&[0, 1, 2])),
            vecs_record(3, &i32_le(&[7, 7, 7]))
        ]
        .concat()
    );
    let gt = read_ground_truth(&p).unwrap();
    assert_eq!((gt.n, gt.k, gt.dists.as_ref()), (3, 3, None));
    assert_eq!(gt.ids, ids);
    assert_eq!(gt.row(1), &[0, 1, 2]);
    assert_eq!(gt.dist_row(1), None);
}

#[test]
fn ibin_round_trip_without_and_with_distances() {
    let d = dir();
    let ids: Vec<u32> = vec![10, 20, 30, 40];
    let p = d.path("gt.ibin");
    write_ibin(&p, 2, &ids, None).unwrap();
    assert_eq!(
        std::fs::read(&p).unwrap(),
        bin(2, 2, &i32_le(&[10, 20, 30, 40]))
    );
    let gt = read_ground_truth(&p).unwrap();
    assert_eq!(
        (gt.n, gt.k, gt.ids.clone(), gt.dists),
        (2, 2, ids.clone(), None)
    );

    let dists = [0.5f32, 1.0, 0.25, 3.0];
    write_ibin(&p, 2, &ids, Some(&dists)).unwrap();
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 8 + 16 + 16);
    let gt = read_ground_truth(&p).unwrap();
    assert_eq!(gt.ids, ids);
    assert_eq!(gt.dists.as_deref(), Some(&dists[..]));
    assert_eq!(gt.row(1), &[30, 40]);
    assert_eq!(gt.dist_row(1), Some(&[0.25, 3.0][..]));
}

#[test]
fn ivecs_negative_id() {
    let d = dir();
    let bytes = [
        vecs_record(2, &i32_le(&[1, 2])),
        vecs_record(2, &i32_le(&[3, -1])),
    ]
    .concat();
    let p = d.file("neg.ivecs", &bytes);
    let e = err(read_ground_truth(&p));
    assert!(
        matches!(
            e,
            FormatError::NegativeId {
                id: -1,
                query: 1,
                rank: 1,
                offset: 20,
                ..
            }
        ),
        "{e:?}"
    );
    check_msg(
        &e,
        &p,
        &[
            "negative neighbor id -1",
            "byte offset 20",
            "regenerate the ground truth",
        ],
    );
}

#[test]
fn ibin_negative_id() {
    let d = dir();
    let p = d.file("neg.ibin", &bin(1, 3, &i32_le(&[4, -7, 1])));
    let e = err(read_ground_truth(&p));
    assert!(
        matches!(
            e,
            FormatError::NegativeId {
                id: -7,
                query: 0,
                rank: 1,
                offset: 12,
                ..
            }
        ),
        "{e:?}"
    );
    check_msg(&e, &p, &["byte offset 12"]);
}

#[test]
fn ivecs_malformed() {
    let d = dir();
    let p = d.file("e.ivecs", &[]);
    assert!(matches!(
        err(read_ground_truth(&p)),
        FormatError::EmptyFile { .. }
    ));
    let p = d.file("t.ivecs", &vecs_record(2, &i32_le(&[1])));
    let e = err(read_ground_truth(&p));
    assert!(matches!(e, FormatError::Truncated { .. }), "{e:?}");
    let bytes = [
        vecs_record(2, &i32_le(&[1, 2])),
        vecs_record(1, &i32_le(&[3, 4])),
    ]
    .concat();
    let p = d.file("m.ivecs", &bytes);
    let e = err(read_ground_truth(&p));
    assert!(
        matches!(
            e,
            FormatError::DimensionChanged {
                vector: 1,
                offset: 12,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn ibin_sizes_checked_against_header() {
    let d = dir();
    let p = d.file("liar.ibin", &bin(u32::MAX, 100, &[0; 400]));
    let e = err(read_ground_truth(&p));
    assert!(matches!(e, FormatError::HeaderExceedsFile { .. }), "{e:?}");
    check_msg(&e, &p, &["only 408 bytes"]);
    // Between the ids-only and ids+dists layouts.
    let p = d.file("mid.ibin", &bin(1, 2, &[0; 12]));
    let e = err(read_ground_truth(&p));
    assert!(
        matches!(
            e,
            FormatError::TrailingData {
                expected: 16,
                actual: 20,
                ..
            }
        ),
        "{e:?}"
    );
    let p = d.file("zero.ibin", &bin(0, 2, &[]));
    let e = err(read_ground_truth(&p));
    assert!(matches!(e, FormatError::NoVectors { .. }), "{e:?}");
    check_msg(&e, &p, &["contains no vectors"]);
    let p = d.file("k0.ibin", &bin(1, 0, &[]));
    assert!(matches!(
        err(read_ground_truth(&p)),
        FormatError::BadDimension { .. }
    ));
    let p = d.file("h.ibin", &[1, 0, 0]);
    assert!(matches!(
        err(read_ground_truth(&p)),
        FormatError::TooShort { .. }
    ));
}

#[test]
fn ibin_non_finite_distance() {
    let d = dir();
    let payload = [i32_le(&[1, 2]), f32_le(&[0.5, f32::INFINITY])].concat();
    let p = d.file("inf.ibin", &bin(1, 2, &payload));
    let e = err(read_ground_truth(&p));
    assert!(
        matches!(
            e,
            FormatError::NonFinite {
                offset: 20,
                vector: 0,
                component: 1,
                kind: "+Inf",
                ..
            }
        ),
        "{e:?}"
    );
    check_msg(&e, &p, &["remove or replace non-finite values"]);
}
