//! Helpers shared by the fuzz targets: a per-process scratch directory (on tmpfs when
//! there is one: every input is written to a file, since the parsers read files) and
//! the checks every vector source must pass.

use quarry_formats::{chunks, open_vectors, read_queries, DType, VectorSource};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A directory private to this process, removed by nobody: small, and on tmpfs.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = std::env::var_os("QUARRY_FUZZ_TMP")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let shm = Path::new("/dev/shm");
                if shm.is_dir() {
                    shm.to_path_buf()
                } else {
                    std::env::temp_dir()
                }
            });
        let d = root.join(format!("quarry-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("scratch directory");
        d
    })
}

/// Writes `bytes` to `name` in the scratch directory.
pub fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let p = scratch().join(name);
    std::fs::write(&p, bytes).expect("write scratch file");
    p
}

/// Opens `path` as a vector file and reads it every way callers do. Errors are fine;
/// panics, hangs, huge allocations and inconsistent results are not.
pub fn exercise_vectors(path: &Path) {
    if let Ok(src) = open_vectors(path) {
        check_source(src.as_ref());
    }
    if let Ok(q) = read_queries(path) {
        assert!(q.n > 0 && q.dim > 0);
        assert_eq!(q.data.len(), q.n * q.dim);
        assert!(q.data.iter().all(|v| v.is_finite()));
    }
}

fn check_source(src: &dyn VectorSource) {
    let (n, dim) = (src.len(), src.dim());
    assert!(dim > 0);
    let elem = src.dtype().size();
    // Whatever the header says, the rows must fit the file that was written.
    let size = std::fs::metadata(src.path()).unwrap().len();
    assert!((n as u128) * (dim as u128) * (elem as u128) <= size as u128);
    let rows = n.min(64);
    if let Ok(c) = src.read_range(0, rows) {
        assert_eq!(c.len_elems(), rows * dim);
        assert_eq!(c.dtype(), src.dtype());
        if c.dtype() == DType::F32 {
            assert!(c.to_f32().iter().all(|v| v.is_finite()));
        }
    }
    if n > 0 {
        if let Ok(c) = src.read_range(n - 1, 1) {
            assert_eq!(c.len_elems(), dim);
        }
    }
    assert!(src.read_range(n, 1).is_err());
    assert!(src.read_range(usize::MAX, 2).is_err());
    assert!(src.read_range(1, usize::MAX).is_err());
    let mut seen = 0usize;
    for c in chunks(src, 7).take(32) {
        match c {
            Ok((start, d)) => {
                assert_eq!(start, seen);
                seen += d.len_elems() / dim;
            }
            Err(_) => break,
        }
    }
}

/// crc32c (Castagnoli), bitwise: the harness's own, independent of the library's.
pub fn crc32c(b: &[u8]) -> u32 {
    let mut c = !0u32;
    for &x in b {
        c ^= u32::from(x);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// Two JSON values are equal up to the last bit or so of each float: serde_json's
/// default float parsing may move a long decimal by an ulp on the way through.
pub fn json_close(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (a, b) {
        (V::Number(x), V::Number(y)) => {
            if x.is_f64() || y.is_f64() {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                x == y || (x - y).abs() <= x.abs().max(y.abs()) * 1e-6
            } else {
                x == y
            }
        }
        (V::Array(x), V::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_close(a, b))
        }
        (V::Object(x), V::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && json_close(va, vb))
        }
        _ => a == b,
    }
}

/// With QUARRY_FUZZ_VERBOSE set, prints what an input decoded to (to check that the
/// seeds reach the checks behind a successful decode): `cargo fuzz run T corpus/T --
/// -runs=0` with it set lists each seed's outcome.
pub fn note(what: std::fmt::Arguments<'_>) {
    static ON: OnceLock<bool> = OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("QUARRY_FUZZ_VERBOSE").is_some()) {
        eprintln!("quarry-fuzz: {what}");
    }
}
