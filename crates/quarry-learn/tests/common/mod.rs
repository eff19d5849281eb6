//! Shared by the engine's integration tests: fixture paths and scratch directories.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};

/// A file of the SIFT10K fixture (10,000 x 128 u8 base, 100 queries, top-100 truth).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/siftsmall")
        .join(name)
}

/// A scratch directory under target/: /tmp may be a tmpfs without O_DIRECT.
pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

/// `n` x `dim` f32 values uniform in [0, 1) from a seeded LCG, written as `.fbin`.
pub fn write_uniform_fbin(path: &Path, n: usize, dim: usize, seed: u64) {
    let mut state = seed;
    let data: Vec<f32> = (0..n * dim)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect();
    quarry_formats::write_fbin(path, dim, &data).unwrap();
}
