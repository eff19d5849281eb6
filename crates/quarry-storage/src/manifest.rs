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
    /// The file's name on disk when it differs from its name in the manifest: an
    /// attached file is written under a new, generation-numbered name each time it
    /// changes (files a manifest names are never overwritten).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_as: Option<String>,
}

impl FileEntry {
    /// The name on disk of the file listed as `name`.
    pub fn stored_name<'a>(&'a self, name: &'a str) -> &'a str {
        self.stored_as.as_deref().unwrap_or(name)
    }
}

/// `manifest.json`. Written last: a directory without a valid one is not an index.
/// Contains nothing time- or host-dependent, so equal builds give equal bytes.
///
/// The file protects itself: its last field is `"crc32c": "xxxxxxxx"` (8 lowercase hex
/// digits), the crc32c of every byte before the comma that opens that field. The
/// file must end with exactly that field, one newline, `}` and a newline (see
/// [`Manifest::seal`]), so every damaged byte, whitespace and digits of the free-form
/// `build` object included, is detected at open; a valid-JSON edit is no exception.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub dim: usize,
    pub dtype: DType,
    pub metric: Metric,
    /// Stored vectors: with replicas or duplicates, copies count (the partition
    /// counts add up to it).
    pub num_vectors: u64,
    /// Distinct vector ids when copies are stored (replicated or duplicated indexes);
    /// absent when every vector is stored once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_vectors: Option<u64>,
    pub num_partitions: usize,
    /// Build parameters as the engine recorded them (seed, balance eps, ...).
    pub build: serde_json::Value,
    /// Router models stored in the index, by kind.
    pub routers: Vec<String>,
    pub files: BTreeMap<String, FileEntry>,
    /// Bumped by every change committed after the build (0: as built).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u64,
    /// Write-ahead log records up to this sequence number (exclusive) are part of
    /// the files this manifest names; replay skips them (0: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub applied_seq: u64,
}

fn is_zero(g: &u64) -> bool {
    *g == 0
}

/// Length of the sealing tail `,\n  "crc32c": "xxxxxxxx"\n}\n`.
const SEAL_LEN: usize = 27;

fn seal_tail(crc: u32) -> Vec<u8> {
    let t = format!(",\n  \"crc32c\": \"{crc:08x}\"\n}}\n").into_bytes();
    debug_assert_eq!(t.len(), SEAL_LEN);
    t
}

impl Manifest {
    /// The bytes of `manifest.json`: pretty JSON, sealed by its checksum field.
    pub fn to_bytes(&self) -> Vec<u8> {
        let v = serde_json::to_vec_pretty(self).expect("manifest serialises");
        // Pretty JSON of a struct ends with "\n}"; the seal becomes its last field.
        let body = v.strip_suffix(b"\n}").expect("pretty JSON object");
        Manifest::seal(body)
    }

    /// Appends the checksum field to `body` (a pretty-printed JSON object without its
    /// closing `\n}`): what `to_bytes` writes. Public for tools and tests that need a
    /// manifest with chosen contents that still passes the checksum.
    pub fn seal(body: &[u8]) -> Vec<u8> {
        let mut out = body.to_vec();
        out.extend_from_slice(&seal_tail(crc32c::crc32c(body)));
        out
    }

    /// Checks the seal `to_bytes` appended: the file must be `body` followed by
    /// exactly the tail for `crc32c(body)`.
    fn verify_seal(bytes: &[u8], path: &Path) -> Result<(), StorageError> {
        let corrupt = |what: String| StorageError::Corrupt {
            file: path.to_path_buf(),
            what,
        };
        if bytes.len() < SEAL_LEN {
            return Err(corrupt("is too short to hold its checksum field".into()));
        }
        let (body, tail) = bytes.split_at(bytes.len() - SEAL_LEN);
        let want = crc32c::crc32c(body);
        if tail != seal_tail(want).as_slice() {
            return Err(corrupt(format!(
                "fails its checksum (its last field must be \"crc32c\": \"{want:08x}\", \
                 found {:?})",
                String::from_utf8_lossy(tail).trim()
            )));
        }
        Ok(())
    }

    pub fn load(dir: &Path) -> Result<Manifest, StorageError> {
        if !dir.is_dir() {
            let what = if dir.exists() {
                "not a directory"
            } else {
                "does not exist"
            };
            return Err(StorageError::NotAnIndex {
                path: dir.to_path_buf(),
                reason: format!("{what} (pass an index directory, as a build creates it)"),
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
        Manifest::from_bytes(&bytes, dir, &path)
    }

    /// Parses and checks the bytes of `dir`'s manifest file `path`.
    fn from_bytes(bytes: &[u8], dir: &Path, path: &Path) -> Result<Manifest, StorageError> {
        let path = path.to_path_buf();
        // Check the format and version before the full schema, so an index of another
        // version gets a version message rather than a schema error.
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| StorageError::Corrupt {
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
        // After the version check: another version may seal its manifest differently.
        Manifest::verify_seal(bytes, &path)?;
        let m: Manifest = serde_json::from_value(value).map_err(|e| StorageError::Corrupt {
            file: path.clone(),
            what: format!("has an invalid field ({e})"),
        })?;
        // A stored name is a plain file name in the index directory: never a path
        // out of it (open would read it, and the next writer would delete it).
        for (name, e) in &m.files {
            let stored = e.stored_name(name);
            let plain = !stored.is_empty()
                && !stored.starts_with('.')
                && stored
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !plain {
                return Err(StorageError::Corrupt {
                    file: path,
                    what: format!("names {stored:?}, not a plain file name in the index"),
                });
            }
        }
        if m.dim == 0 || m.num_partitions == 0 {
            return Err(StorageError::Corrupt {
                file: path,
                what: "declares zero dimensions or partitions".into(),
            });
        }
        Ok(m)
    }

    /// Where the file listed as `name` is on disk, if it is listed.
    pub fn path_of(&self, dir: &Path, name: &str) -> Option<std::path::PathBuf> {
        self.files.get(name).map(|e| dir.join(e.stored_name(name)))
    }

    pub fn file(&self, name: &str) -> Result<&FileEntry, StorageError> {
        self.files.get(name).ok_or_else(|| StorageError::Corrupt {
            file: name.into(),
            what: "is not listed in manifest.json".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let mut files = BTreeMap::new();
        for (name, crc) in [("centroids.bin", Some(0x1234abcd)), ("data.bin", None)] {
            files.insert(
                name.to_string(),
                FileEntry {
                    bytes: 4096,
                    crc32c: crc,
                    stored_as: None,
                },
            );
        }
        Manifest {
            format: FORMAT_NAME.into(),
            format_version: FORMAT_VERSION,
            dim: 16,
            dtype: DType::F32,
            metric: Metric::L2,
            num_vectors: 300,
            distinct_vectors: None,
            num_partitions: 4,
            build: serde_json::json!({"seed": 42, "balance_eps": 0.1, "sizes": [75, 75, 75, 75]}),
            routers: vec![],
            files,
            generation: 0,
            applied_seq: 0,
        }
    }

    #[test]
    fn sealed_manifest_round_trips_and_stays_json() {
        let m = sample();
        let bytes = m.to_bytes();
        assert!(bytes.ends_with(b"\"\n}\n"));
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["crc32c"].as_str().unwrap().len(), 8);
        let p = Path::new("m.json");
        assert_eq!(Manifest::from_bytes(&bytes, p, p).unwrap(), m);
    }

    /// Every single-bit flip anywhere in the file is an error, whitespace and digits
    /// inside the free-form `build` object included.
    #[test]
    fn every_single_bit_flip_is_detected() {
        let bytes = sample().to_bytes();
        let p = Path::new("m.json");
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[i / 8] ^= 1 << (i % 8);
            assert!(
                Manifest::from_bytes(&b, p, p).is_err(),
                "flip of bit {} in byte {} ({:?}) went undetected",
                i % 8,
                i / 8,
                bytes[i / 8] as char
            );
        }
        // A valid-JSON edit with a stale checksum is corruption too.
        let text = String::from_utf8(bytes)
            .unwrap()
            .replace("\"seed\": 42", "\"seed\": 43");
        let e = Manifest::from_bytes(text.as_bytes(), p, p).unwrap_err();
        assert!(e.to_string().contains("fails its checksum"), "{e}");
    }
}
