//! Builders for raw file bytes (independent of the crate's writers) and error checks.

use quarry_formats::FormatError;
use std::path::{Path, PathBuf};

pub struct Dir(pub tempfile::TempDir);

pub fn dir() -> Dir {
    Dir(tempfile::tempdir().expect("tempdir"))
}

impl Dir {
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
    /// Writes `bytes` to `name` and returns its path.
    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).expect("write fixture");
        p
    }
}

pub fn f32_le(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn i32_le(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// One TEXMEX record with an arbitrary dimension field.
pub fn vecs_record(dim: i32, payload: &[u8]) -> Vec<u8> {
    let mut out = dim.to_le_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

pub fn fvecs(dim: usize, data: &[f32]) -> Vec<u8> {
    data.chunks(dim)
        .flat_map(|r| vecs_record(dim as i32, &f32_le(r)))
        .collect()
}

pub fn bvecs(dim: usize, data: &[u8]) -> Vec<u8> {
    data.chunks(dim)
        .flat_map(|r| vecs_record(dim as i32, r))
        .collect()
}

pub fn bin(n: u32, d: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = n.to_le_bytes().to_vec();
    out.extend_from_slice(&d.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// An .npy file laid out the way numpy.save does: dict, space padding, newline, total
/// header a multiple of 64 bytes.
pub fn npy_with(version: u8, dict: &str, payload: &[u8]) -> Vec<u8> {
    let pre = if version == 1 { 10 } else { 12 };
    let mut header = dict.to_string();
    while !(pre + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload);
    out
}

pub fn npy(descr: &str, shape: &str, payload: &[u8]) -> Vec<u8> {
    npy_with(
        1,
        &format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"),
        payload,
    )
}

/// Takes the error out of a result whose Ok type need not be Debug.
pub fn err<T>(r: Result<T, FormatError>) -> FormatError {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

/// Checks that the message names the file and contains each expected fragment.
pub fn check_msg(e: &FormatError, path: &Path, fragments: &[&str]) {
    let msg = e.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "message does not name {}: {msg}",
        path.display()
    );
    for f in fragments {
        assert!(msg.contains(f), "message lacks {f:?}: {msg}");
    }
}
