use crate::{files, StorageError};
use quarry_kernels::{DType, Metric};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const FORMAT_NAME: &str = "quarry-index";
/// Bumped on any incompatible change of the files below; checked at open.
pub const FORMAT_VERSION: u32 = 1;

/// Size and crc32c of one index file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub bytes: u64,
    /// crc32c of the whole file; None for `data.bin`, whose extents carry their own.
    pub crc32c: Option<u32>,
}

/// `manifest.json`. Written last: a directory without a valid one is not an index.
/// Contains nothing time- or host-dependent, so equal builds give equal bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub dim: usize,
    pub dtype: DType,
    pub metric: Metric,
    pub num_vectors: u64,
    pub num_partitions: usize,
    /// Build parameters as the engine recorded them (seed, balance eps, ...).
    pub build: serde_json::Value,
    /// Router models stored in the index, by kind.
    pub routers: Vec<String>,
    pub files: BTreeMap<String, FileEntry>,
}

impl Manifest {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("manifest serialises");
        v.push(b'\n');
        v
    }

    pub fn load(dir: &Path) -> Result<Manifest, StorageError> {
        if !dir.is_dir() {
            return Err(StorageError::NotAnIndex {
                path: dir.to_path_buf(),
                reason: "not a directory (pass the directory `quarry build --out` created)".into(),
            });
        }
        let path = dir.join(files::MANIFEST);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StorageError::NotAnIndex {
                    path: dir.to_path_buf(),
                    reason: format!(
                        "{} is missing (an interrupted build leaves no manifest)",
                        files::MANIFEST
                    ),
                })
            }
            Err(e) => return Err(StorageError::io(&path, e)),
        };
        // Check the format and version before the full schema, so an index of another
        // version gets a version message rather than a schema error.
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| StorageError::Corrupt {
                file: path.clone(),
                what: format!("is not valid JSON ({e})"),
            })?;
        if value.get("format").and_then(|v| v.as_str()) != Some(FORMAT_NAME) {
            return Err(StorageError::NotAnIndex {
                path: dir.to_path_buf(),
                reason: format!("{} does not describe a {FORMAT_NAME}", files::MANIFEST),
            });
        }
        let found = value
            .get("format_version")
            .and_then(|v| v.as_u64())
            .unwrap_or(0) as u32;
        if found != FORMAT_VERSION {
            return Err(StorageError::Version {
                path: dir.to_path_buf(),
                found,
                supported: FORMAT_VERSION,
            });
        }
        let m: Manifest = serde_json::from_value(value).map_err(|e| StorageError::Corrupt {
            file: path.clone(),
            what: format!("has an invalid field ({e})"),
        })?;
        if m.dim == 0 || m.num_partitions == 0 {
            return Err(StorageError::Corrupt {
                file: path,
                what: "declares zero dimensions or partitions".into(),
            });
        }
        Ok(m)
    }

    pub fn file(&self, name: &str) -> Result<&FileEntry, StorageError> {
        self.files.get(name).ok_or_else(|| StorageError::Corrupt {
            file: name.into(),
            what: "is not listed in manifest.json".into(),
        })
    }
}
