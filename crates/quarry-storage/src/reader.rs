//! Opening an index: manifest, then every small file verified against its checksum.

use crate::manifest::Manifest;
use crate::table::{self, PartitionEntry};
use crate::{files, StorageError};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The in-memory part of an opened index: manifest, centroids, partition table.
#[derive(Debug, Clone)]
pub struct IndexFiles {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub centroids: Vec<f32>,
    pub table: Vec<PartitionEntry>,
    /// The attached files of this manifest, held open.
    pub attached: Attached,
}

/// Open handles of the attached files one manifest names. A writer that replaces a
/// file removes the old one after its commit; a reader that opened the old manifest
/// still reads it through its handle (the inode lives while a handle does), so a
/// search never sees half of a change.
#[derive(Debug, Clone, Default)]
pub struct Attached {
    dir: PathBuf,
    entries: std::collections::BTreeMap<String, (crate::manifest::FileEntry, Arc<File>)>,
}

impl Attached {
    /// Opens every non-core file `manifest` lists.
    pub fn open(dir: &Path, manifest: &Manifest) -> Result<Attached, StorageError> {
        let core = [files::CENTROIDS, files::TABLE, files::DATA];
        let mut entries = std::collections::BTreeMap::new();
        for (name, e) in manifest
            .files
            .iter()
            .filter(|(n, _)| !core.contains(&n.as_str()))
        {
            let path = dir.join(e.stored_name(name));
            let f = File::open(&path).map_err(|err| missing_or_io(dir, &path, err))?;
            entries.insert(name.clone(), (e.clone(), Arc::new(f)));
        }
        Ok(Attached {
            dir: dir.to_path_buf(),
            entries,
        })
    }

    /// The file listed as `name`, whole, checked against its size and crc32c.
    pub fn read(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        let (e, f) = self
            .entries
            .get(name)
            .ok_or_else(|| StorageError::Corrupt {
                file: name.into(),
                what: "is not listed in manifest.json".into(),
            })?;
        let path = self.dir.join(e.stored_name(name));
        let len = f
            .metadata()
            .map_err(|err| StorageError::io(&path, err))?
            .len();
        if len != e.bytes {
            return Err(StorageError::Corrupt {
                file: path,
                what: format!("has {len} bytes, the manifest says {}", e.bytes),
            });
        }
        let mut bytes = vec![0u8; len as usize];
        f.read_exact_at(&mut bytes, 0)
            .map_err(|err| StorageError::io(&path, err))?;
        check_crc(&path, &bytes, e.crc32c)?;
        Ok(bytes)
    }
}

impl IndexFiles {
    pub fn open(dir: &Path) -> Result<IndexFiles, StorageError> {
        // A writer may commit (and remove the files it replaced) between reading the
        // manifest and opening its files: then read the new manifest and try again.
        let mut tries = 0;
        let (manifest, attached) = loop {
            let manifest = Manifest::load(dir)?;
            match Attached::open(dir, &manifest) {
                Ok(a) => break (manifest, a),
                Err(e) => {
                    tries += 1;
                    let moved = Manifest::load(dir)
                        .map(|m| m.generation != manifest.generation)
                        .unwrap_or(false);
                    if !moved || tries >= 8 {
                        return Err(e);
                    }
                }
            }
        };
        // Every data segment the manifest lists, at the length it records.
        let mut segment_lens = std::collections::HashMap::new();
        for (name, entry) in &manifest.files {
            let Some(s) = table::segment_of_name(name) else {
                continue;
            };
            let path = dir.join(entry.stored_name(name));
            let len = std::fs::metadata(&path)
                .map_err(|e| missing_or_io(dir, &path, e))?
                .len();
            if len != entry.bytes {
                return Err(StorageError::Corrupt {
                    file: path,
                    what: format!("has {len} bytes, the manifest says {}", entry.bytes),
                });
            }
            segment_lens.insert(s, len);
        }
        let table_bytes = read_verified(dir, &manifest, files::TABLE)?;
        let table = table::decode(
            &table_bytes,
            manifest.num_partitions,
            &|s| segment_lens.get(&s).copied(),
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
            attached,
        })
    }

    /// Reads an attached file (router models, graphs), checksum verified.
    pub fn read_file(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        self.attached.read(name)
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
    let path = dir.join(entry.stored_name(name));
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
    check_crc(&path, &bytes, entry.crc32c)?;
    Ok(bytes)
}

fn check_crc(path: &Path, bytes: &[u8], want: Option<u32>) -> Result<(), StorageError> {
    if let Some(want) = want {
        let got = crc32c::crc32c(bytes);
        if got != want {
            return Err(StorageError::Corrupt {
                file: path.to_path_buf(),
                what: format!("fails its checksum (crc32c {got:08x}, manifest says {want:08x})"),
            });
        }
    }
    Ok(())
}
