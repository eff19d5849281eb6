//! Opening an index: manifest, then every small file verified against its checksum.

use crate::manifest::Manifest;
use crate::table::{self, PartitionEntry};
use crate::{files, StorageError};
use std::path::{Path, PathBuf};

/// The in-memory part of an opened index: manifest, centroids, partition table.
#[derive(Debug, Clone)]
pub struct IndexFiles {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub centroids: Vec<f32>,
    pub table: Vec<PartitionEntry>,
}

impl IndexFiles {
    pub fn open(dir: &Path) -> Result<IndexFiles, StorageError> {
        let manifest = Manifest::load(dir)?;
        let data_entry = manifest.file(files::DATA)?.clone();
        let data_path = dir.join(files::DATA);
        let data_len = std::fs::metadata(&data_path)
            .map_err(|e| missing_or_io(dir, &data_path, e))?
            .len();
        if data_len != data_entry.bytes {
            return Err(StorageError::Corrupt {
                file: data_path,
                what: format!(
                    "has {data_len} bytes, the manifest says {}",
                    data_entry.bytes
                ),
            });
        }
        let table_bytes = read_verified(dir, &manifest, files::TABLE)?;
        let table = table::decode(
            &table_bytes,
            manifest.num_partitions,
            data_len,
            &dir.join(files::TABLE),
        )?;
        // Checked sum: hostile counts must not overflow (a panic, or a wrapped sum
        // that matches).
        let total = table.iter().try_fold(0u64, |a, e| a.checked_add(e.count));
        if total != Some(manifest.num_vectors) {
            return Err(StorageError::Corrupt {
                file: dir.join(files::TABLE),
                what: "partition counts do not add up to the manifest's vector count".into(),
            });
        }
        if manifest
            .distinct_vectors
            .is_some_and(|d| d > manifest.num_vectors)
        {
            return Err(StorageError::Corrupt {
                file: dir.join(files::MANIFEST),
                what: "more distinct vectors than stored vectors".into(),
            });
        }
        let cbytes = read_verified(dir, &manifest, files::CENTROIDS)?;
        let want = manifest
            .num_partitions
            .checked_mul(manifest.dim)
            .and_then(|x| x.checked_mul(4));
        if want != Some(cbytes.len()) {
            return Err(StorageError::Corrupt {
                file: dir.join(files::CENTROIDS),
                what: format!(
                    "has {} bytes, expected {} partitions x {} dims x 4",
                    cbytes.len(),
                    manifest.num_partitions,
                    manifest.dim
                ),
            });
        }
        let centroids = cbytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        Ok(IndexFiles {
            dir: dir.to_path_buf(),
            manifest,
            centroids,
            table,
        })
    }

    /// Reads another file listed in the manifest (router models), checksum verified.
    pub fn read_file(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        read_verified(&self.dir, &self.manifest, name)
    }
}

fn missing_or_io(dir: &Path, path: &Path, e: std::io::Error) -> StorageError {
    if e.kind() == std::io::ErrorKind::NotFound {
        StorageError::NotAnIndex {
            path: dir.to_path_buf(),
            reason: format!(
                "{} is missing; the index is incomplete: rebuild it",
                path.display()
            ),
        }
    } else {
        StorageError::io(path, e)
    }
}

fn read_verified(dir: &Path, manifest: &Manifest, name: &str) -> Result<Vec<u8>, StorageError> {
    let entry = manifest.file(name)?;
    let path = dir.join(name);
    let bytes = std::fs::read(&path).map_err(|e| missing_or_io(dir, &path, e))?;
    if bytes.len() as u64 != entry.bytes {
        return Err(StorageError::Corrupt {
            file: path,
            what: format!(
                "has {} bytes, the manifest says {}",
                bytes.len(),
                entry.bytes
            ),
        });
    }
    if let Some(want) = entry.crc32c {
        let got = crc32c::crc32c(&bytes);
        if got != want {
            return Err(StorageError::Corrupt {
                file: path,
                what: format!("fails its checksum (crc32c {got:08x}, manifest says {want:08x})"),
            });
        }
    }
    Ok(bytes)
}
