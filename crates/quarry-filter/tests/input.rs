//! spmat and attribute files: round trips and rejection of bad files.

use std::path::{Path, PathBuf};

use quarry_filter::{
    read_attribute, read_spmat, write_attribute, write_spmat, Column, Filter, FilterError, Metadata,
};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// (offset, reason) of an input error, checking it names the file.
fn input_err(r: Result<impl std::fmt::Debug, FilterError>, path: &Path) -> (u64, String) {
    match r {
        Err(FilterError::Input {
            path: p,
            offset,
            reason,
        }) => {
            assert_eq!(p, path);
            (offset, reason)
        }
        other => panic!("expected an input error, got {other:?}"),
    }
}

fn le(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A hand-built spmat: header, indptr, indices, data.
fn spmat_bytes(nrow: i64, ncol: i64, indptr: &[i64], indices: &[i32]) -> Vec<u8> {
    let mut b = le(&[
        &nrow.to_le_bytes(),
        &ncol.to_le_bytes(),
        &(indices.len() as i64).to_le_bytes(),
    ]);
    indptr
        .iter()
        .for_each(|v| b.extend_from_slice(&v.to_le_bytes()));
    indices
        .iter()
        .for_each(|v| b.extend_from_slice(&v.to_le_bytes()));
    indices
        .iter()
        .for_each(|_| b.extend_from_slice(&1.0f32.to_le_bytes()));
    b
}

#[test]
fn spmat_round_trip_and_use() {
    let dir = tmp();
    let path = dir.path().join("labels.spmat");
    let rows = vec![vec![3, 7], vec![], vec![7], vec![0, 9, 3]];
    write_spmat(&path, 10, &rows).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 24 + 8 * 5 + 8 * 6);
    let (nrow, indptr, indices) = read_spmat(&path).unwrap();
    assert_eq!(nrow, 4);
    assert_eq!(indptr, [0, 2, 2, 3, 6]);
    assert_eq!(indices, [3, 7, 7, 0, 9, 3]);

    let mut m = Metadata::new(nrow);
    m.set_labels_csr(&indptr, &indices).unwrap();
    let f = Filter::parse("label = 3").unwrap();
    assert_eq!(m.evaluate(&f).unwrap().iter().collect::<Vec<_>>(), [0, 3]);

    // Empty matrix.
    write_spmat(&path, 0, &[]).unwrap();
    assert_eq!(read_spmat(&path).unwrap(), (0, vec![0], vec![]));
    // Labels must be below ncol.
    assert!(matches!(
        write_spmat(&path, 5, &[vec![5]]),
        Err(FilterError::Invalid(_))
    ));
}

#[test]
fn spmat_truncations_are_rejected() {
    let dir = tmp();
    let good = spmat_bytes(3, 8, &[0, 1, 1, 3], &[2, 7, 0]);
    let path = dir.path().join("t.spmat");
    for cut in 0..good.len() {
        std::fs::write(&path, &good[..cut]).unwrap();
        let (offset, reason) = input_err(read_spmat(&path), &path);
        assert_eq!(offset, cut as u64, "{reason}");
        assert!(
            reason.contains("truncated") || reason.contains("shorter than the 24-byte header"),
            "{cut}: {reason}"
        );
    }
    let mut long = good.clone();
    long.push(0);
    std::fs::write(&path, &long).unwrap();
    let (offset, reason) = input_err(read_spmat(&path), &path);
    assert_eq!(offset, good.len() as u64);
    assert!(reason.contains("trailing bytes"), "{reason}");
}

#[test]
fn spmat_bad_contents() {
    let dir = tmp();
    let path = dir.path().join("bad.spmat");
    let cases: Vec<(Vec<u8>, u64, &str)> = vec![
        (spmat_bytes(-1, 8, &[], &[]), 0, "nrow is negative"),
        (spmat_bytes(1, -8, &[0, 0], &[]), 8, "ncol is negative"),
        (
            spmat_bytes(1, 1 << 32, &[0, 0], &[]),
            8,
            "exceeds 4294967295",
        ),
        (spmat_bytes(2, 8, &[1, 1, 2], &[1, 2]), 24, "indptr[0] is 1"),
        (spmat_bytes(2, 8, &[0, 2, 1], &[1, 2]), 40, "indptr[2] = 1"),
        (spmat_bytes(2, 8, &[0, 3, 2], &[1, 2]), 32, "indptr[1] = 3"),
        (
            spmat_bytes(2, 8, &[0, 1, 1], &[1, 2]),
            40,
            "indptr ends at 1",
        ),
        (
            spmat_bytes(2, 8, &[0, 1, 2], &[1, 8]),
            24 + 24 + 4,
            "indices[1] = 8 is outside 0..8",
        ),
        (
            spmat_bytes(2, 8, &[0, 1, 2], &[-1, 2]),
            24 + 24,
            "indices[0] = -1",
        ),
    ];
    for (bytes, want_offset, want) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let (offset, reason) = input_err(read_spmat(&path), &path);
        assert_eq!(offset, want_offset, "{reason}");
        assert!(reason.contains(want), "{reason}");
    }
    // A header claiming a huge matrix is refused from the file size alone.
    let mut b = spmat_bytes(0, 8, &[0], &[]);
    b[0..8].copy_from_slice(&(i64::MAX).to_le_bytes());
    b[16..24].copy_from_slice(&(i64::MAX).to_le_bytes());
    std::fs::write(&path, &b).unwrap();
    let (_, reason) = input_err(read_spmat(&path), &path);
    assert!(reason.contains("truncated"), "{reason}");
    // The message names the file and the offset.
    let e = read_spmat(&path).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: at byte 32: ", path.display())),
        "{e}"
    );
    // A missing file is an I/O error naming it.
    let missing = dir.path().join("missing.spmat");
    match read_spmat(&missing) {
        Err(FilterError::Io { path, .. }) => assert_eq!(path, missing),
        other => panic!("{other:?}"),
    }
}

fn attr_path(dir: &tempfile::TempDir, ext: &str) -> PathBuf {
    dir.path().join(format!("col.{ext}"))
}

#[test]
fn attribute_round_trips() {
    let dir = tmp();
    let ints = Column::I64(vec![2019, -7, i32::MAX as i64, i32::MIN as i64]);
    let big = Column::I64(vec![i64::MIN, 0, i64::MAX]);
    let floats = Column::F64(vec![0.5, -2.25, 1099511627776.0, 0.0]);
    let doubles = Column::F64(vec![0.1, -1e300, f64::MIN_POSITIVE]);
    for (ext, col, header_and_width) in [
        ("ibin", &ints, 4),
        ("i64bin", &big, 8),
        ("fbin", &floats, 4),
        ("f64bin", &doubles, 8),
        ("i64bin", &ints, 8),
        ("f64bin", &floats, 8),
    ] {
        let path = attr_path(&dir, ext);
        write_attribute(&path, col).unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        assert_eq!(len, 8 + header_and_width * col.len() as u64);
        assert_eq!(&read_attribute(&path).unwrap(), col, "{ext}");
    }
    // .fbin rounds to f32.
    let path = attr_path(&dir, "fbin");
    write_attribute(&path, &Column::F64(vec![0.1])).unwrap();
    assert_eq!(
        read_attribute(&path).unwrap(),
        Column::F64(vec![0.1f32 as f64])
    );
    // Empty column.
    write_attribute(&path, &Column::F64(vec![])).unwrap();
    assert_eq!(read_attribute(&path).unwrap(), Column::F64(vec![]));
}

#[test]
fn attribute_write_errors() {
    let dir = tmp();
    let bad = [
        ("ibin", Column::I64(vec![1 << 31]), "does not fit i32"),
        ("fbin", Column::F64(vec![1e300]), "not a finite f32"),
        (
            "fbin",
            Column::I64(vec![1]),
            "i64 column needs .ibin or .i64bin",
        ),
        (
            "i64bin",
            Column::F64(vec![1.0]),
            "f64 column needs .fbin or .f64bin",
        ),
    ];
    for (ext, col, want) in bad {
        let e = write_attribute(&attr_path(&dir, ext), &col).unwrap_err();
        assert!(e.to_string().contains(want), "{e}");
    }
    let e = write_attribute(&attr_path(&dir, "csv"), &Column::I64(vec![1])).unwrap_err();
    assert!(
        e.to_string()
            .contains(".ibin (i32), .fbin (f32), .i64bin (i64) or .f64bin (f64)"),
        "{e}"
    );
}

#[test]
fn attribute_read_errors() {
    let dir = tmp();
    let header = |n: u32, d: u32| le(&[&n.to_le_bytes(), &d.to_le_bytes()]);

    let path = attr_path(&dir, "fbin");
    let good = le(&[
        &header(3, 1),
        &1f32.to_le_bytes(),
        &2f32.to_le_bytes(),
        &3f32.to_le_bytes(),
    ]);
    for cut in 0..good.len() {
        std::fs::write(&path, &good[..cut]).unwrap();
        let (offset, reason) = input_err(read_attribute(&path), &path);
        assert_eq!(offset, cut as u64, "{reason}");
    }
    let mut long = good.clone();
    long.extend_from_slice(&[0; 4]);
    std::fs::write(&path, &long).unwrap();
    let (offset, reason) = input_err(read_attribute(&path), &path);
    assert_eq!(offset, good.len() as u64);
    assert!(reason.contains("trailing bytes"), "{reason}");

    // d must be 1.
    std::fs::write(&path, le(&[&header(1, 2), &[0; 8]])).unwrap();
    let (offset, reason) = input_err(read_attribute(&path), &path);
    assert_eq!(offset, 4);
    assert!(reason.contains("d is 2"), "{reason}");

    // Non-finite values name their row.
    let nan = le(&[
        &header(3, 1),
        &1f32.to_le_bytes(),
        &1f32.to_le_bytes(),
        &f32::NAN.to_le_bytes(),
    ]);
    std::fs::write(&path, &nan).unwrap();
    let (offset, reason) = input_err(read_attribute(&path), &path);
    assert_eq!(offset, 16);
    assert!(reason.contains("row 2 is NaN"), "{reason}");
    let path64 = attr_path(&dir, "f64bin");
    let inf = le(&[
        &header(2, 1),
        &f64::INFINITY.to_le_bytes(),
        &0f64.to_le_bytes(),
    ]);
    std::fs::write(&path64, &inf).unwrap();
    let (offset, reason) = input_err(read_attribute(&path64), &path64);
    assert_eq!(offset, 8);
    assert!(reason.contains("row 0 is inf"), "{reason}");

    // A huge n in the header is refused from the file size alone.
    let pathi = attr_path(&dir, "i64bin");
    std::fs::write(&pathi, header(u32::MAX, 1)).unwrap();
    let (_, reason) = input_err(read_attribute(&pathi), &pathi);
    assert!(reason.contains("truncated"), "{reason}");

    // Unknown extension, listing the four.
    let other = dir.path().join("col.bin");
    std::fs::write(&other, header(0, 1)).unwrap();
    let (_, reason) = input_err(read_attribute(&other), &other);
    assert!(
        reason.contains(".ibin (i32), .fbin (f32), .i64bin (i64) or .f64bin (f64)"),
        "{reason}"
    );
}

#[test]
fn files_feed_metadata() {
    let dir = tmp();
    let spmat = dir.path().join("m.spmat");
    write_spmat(&spmat, 4, &[vec![1], vec![2, 3], vec![1, 3]]).unwrap();
    let year = dir.path().join("year.ibin");
    write_attribute(&year, &Column::I64(vec![2019, 2021, 2022])).unwrap();
    let price = dir.path().join("price.fbin");
    write_attribute(&price, &Column::F64(vec![5.0, 60.0, 40.5])).unwrap();

    let (n, indptr, indices) = read_spmat(&spmat).unwrap();
    let mut m = Metadata::new(n);
    m.set_labels_csr(&indptr, &indices).unwrap();
    m.add_attribute("year", read_attribute(&year).unwrap())
        .unwrap();
    m.add_attribute("price", read_attribute(&price).unwrap())
        .unwrap();
    let f = Filter::parse("year >= 2020 and (label = 3 or label = 7) and price < 50.0").unwrap();
    assert_eq!(m.evaluate(&f).unwrap().iter().collect::<Vec<_>>(), [2]);
    let back = Metadata::from_bytes(&m.to_bytes()).unwrap();
    assert_eq!(back, m);
}
