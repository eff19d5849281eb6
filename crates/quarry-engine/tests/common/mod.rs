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
