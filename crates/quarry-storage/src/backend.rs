//! Partition stores: the same extents, read through direct I/O (default: the page
//! cache is bypassed, so measured bytes are real device reads) or buffered pread.

use crate::{files, AlignedBuf, IndexFiles, PartitionEntry, PartitionStore, StorageError};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IoMode {
    Direct,
    Buffered,
}

impl IoMode {
    pub fn name(self) -> &'static str {
        match self {
            IoMode::Direct => "direct",
            IoMode::Buffered => "buffered",
        }
    }
}

impl std::str::FromStr for IoMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "direct" => Ok(IoMode::Direct),
            "buffered" => Ok(IoMode::Buffered),
            o => Err(format!("unknown I/O mode '{o}': use direct or buffered")),
        }
    }
}

pub fn open_store(
    files: &IndexFiles,
    mode: IoMode,
) -> Result<Arc<dyn PartitionStore>, StorageError> {
    Ok(Arc::new(FileStore::open(files, mode)?))
}

/// One file, one table, whole-extent reads verified by crc32c.
struct ExtentFile {
    file: File,
    path: PathBuf,
    table: Vec<PartitionEntry>,
}

impl ExtentFile {
    fn read_into(&self, pid: u32, buf: &mut AlignedBuf) -> Result<(), StorageError> {
        let e = self
            .table
            .get(pid as usize)
            .ok_or(StorageError::NoSuchPartition {
                pid,
                count: self.table.len(),
            })?;
        buf.resize(e.length as usize);
        let mut done = 0usize;
        let dst = buf.as_mut_slice();
        while done < dst.len() {
            match self.file.read_at(&mut dst[done..], e.offset + done as u64) {
                Ok(0) => {
                    return Err(StorageError::Corrupt {
                        file: self.path.clone(),
                        what: format!("ends inside partition {pid} (extent at byte {})", e.offset),
                    })
                }
                Ok(n) => done += n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => return Err(StorageError::io(&self.path, err)),
            }
        }
        let got = crc32c::crc32c(dst);
        if got != e.crc32c {
            return Err(StorageError::Corrupt {
                file: self.path.clone(),
                what: format!(
                    "partition {pid} (bytes {}..{}) fails its checksum (crc32c {got:08x}, expected {:08x})",
                    e.offset,
                    e.offset + e.length,
                    e.crc32c
                ),
            });
        }
        Ok(())
    }
}

/// The partition store over `data.bin`: one backend type, two ways of opening the
/// file. With `IoMode::Direct` the file is opened `O_DIRECT` (reads bypass the page
/// cache; buffers and extents are 4 KiB-aligned for it), otherwise plain buffered.
pub struct FileStore {
    extents: ExtentFile,
    mode: IoMode,
}

impl FileStore {
    pub fn open(files: &IndexFiles, mode: IoMode) -> Result<Self, StorageError> {
        let path = files.dir.join(files::DATA);
        let file = match mode {
            IoMode::Direct => open_direct(&path)?,
            IoMode::Buffered => File::open(&path).map_err(|e| StorageError::io(&path, e))?,
        };
        Ok(FileStore {
            extents: ExtentFile {
                file,
                path,
                table: files.table.clone(),
            },
            mode,
        })
    }
}

fn open_direct(path: &Path) -> Result<File, StorageError> {
    match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    {
        Ok(f) => Ok(f),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Err(StorageError::DirectUnsupported {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(StorageError::io(path, e)),
    }
}

impl PartitionStore for FileStore {
    fn read_into(&self, pid: u32, buf: &mut AlignedBuf) -> Result<(), StorageError> {
        self.extents.read_into(pid, buf)
    }
    fn entry(&self, pid: u32) -> Option<&PartitionEntry> {
        self.extents.table.get(pid as usize)
    }
    fn num_partitions(&self) -> usize {
        self.extents.table.len()
    }
    fn io_mode(&self) -> IoMode {
        self.mode
    }
}
