//! Partition stores: the same extents, read through direct I/O (default: the page
//! cache is bypassed, so measured bytes are real device reads) or buffered pread.

use crate::{AlignedBuf, IndexFiles, MappedExtent, PartitionEntry, PartitionStore, StorageError};
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

/// One data file (segment) of an index.
struct Segment {
    file: File,
    path: PathBuf,
    /// Buffered mode maps the file once: a read is then a checksum over pages
    /// already in the page cache, not a copy of them (the copy was a fifth of the
    /// CPU of a warm batch search). Files named by a manifest are never modified,
    /// so the mapping stays valid for the life of the open index.
    map: Option<Arc<memmap2::Mmap>>,
}

/// The data files, one table, whole-extent reads verified by crc32c.
struct ExtentFile {
    /// By segment number (see `table::segment_name`).
    segments: std::collections::HashMap<u32, Segment>,
    table: Vec<PartitionEntry>,
    /// Whether the store maps its files (buffered mode).
    mapped: bool,
    /// Mapped extents already verified by this open index. A mapping serves pages
    /// of an immutable file from the page cache: checked once per open (the first
    /// read), not on every search: the crc was a quarter of a single query's CPU.
    /// Direct I/O verifies every read, since each is a device read.
    verified: Vec<std::sync::atomic::AtomicBool>,
}

impl ExtentFile {
    fn read_into(&self, pid: u32, buf: &mut AlignedBuf) -> Result<(), StorageError> {
        let e = self.entry(pid)?;
        buf.resize(e.length as usize);
        self.read_exact_at(pid, e.offset, buf.as_mut_slice())?;
        self.verify(pid, e, buf.as_slice())
    }

    fn segment(&self, e: &PartitionEntry) -> Result<&Segment, StorageError> {
        self.segments
            .get(&e.segment)
            .ok_or_else(|| StorageError::Corrupt {
                file: crate::table::segment_name(e.segment).into(),
                what: "is named by the partition table but was not opened".into(),
            })
    }

    fn map_extent(&self, pid: u32) -> Option<Result<MappedExtent, StorageError>> {
        if !self.mapped {
            return None;
        }
        Some((|| {
            let e = self.entry(pid)?;
            let seg = self.segment(e)?;
            let Some(map) = seg.map.as_ref() else {
                return Err(StorageError::Corrupt {
                    file: seg.path.clone(),
                    what: "is empty but holds a partition".into(),
                });
            };
            let end = e
                .offset
                .checked_add(e.length)
                .filter(|&end| end <= map.len() as u64);
            if end.is_none() {
                return Err(StorageError::Corrupt {
                    file: seg.path.clone(),
                    what: format!(
                        "ends inside partition {pid} (bytes {}..{})",
                        e.offset,
                        e.offset + e.length
                    ),
                });
            }
            let m = MappedExtent {
                map: map.clone(),
                start: e.offset as usize,
                len: e.length as usize,
            };
            let seen = &self.verified[pid as usize];
            if !seen.load(std::sync::atomic::Ordering::Relaxed) {
                self.verify(pid, e, m.as_slice())?;
                seen.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(m)
        })())
    }

    fn verify(&self, pid: u32, e: &PartitionEntry, dst: &[u8]) -> Result<(), StorageError> {
        let got = crc32c::crc32c(dst);
        if got != e.crc32c {
            return Err(StorageError::Corrupt {
                file: self.segment(e)?.path.clone(),
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

    fn entry(&self, pid: u32) -> Result<&PartitionEntry, StorageError> {
        self.table
            .get(pid as usize)
            .ok_or(StorageError::NoSuchPartition {
                pid,
                count: self.table.len(),
            })
    }

    /// A 4 KiB-aligned span inside one extent, unverified (see `PartitionStore::read_span`).
    fn read_span(
        &self,
        pid: u32,
        offset: u64,
        len: usize,
        buf: &mut AlignedBuf,
    ) -> Result<(), StorageError> {
        let e = self.entry(pid)?;
        let align = crate::ALIGN as u64;
        if !offset.is_multiple_of(align)
            || !(len as u64).is_multiple_of(align)
            || offset
                .checked_add(len as u64)
                .is_none_or(|end| end > e.length)
        {
            return Err(StorageError::Payload(format!(
                "span {offset}+{len} of partition {pid} is not 4 KiB-aligned inside its {} bytes",
                e.length
            )));
        }
        buf.resize(len);
        self.read_exact_at(pid, e.offset + offset, buf.as_mut_slice())
    }

    fn read_exact_at(&self, pid: u32, at: u64, dst: &mut [u8]) -> Result<(), StorageError> {
        let seg = self.segment(self.entry(pid)?)?;
        let mut done = 0usize;
        while done < dst.len() {
            match seg.file.read_at(&mut dst[done..], at + done as u64) {
                Ok(0) => {
                    return Err(StorageError::Corrupt {
                        file: seg.path.clone(),
                        what: format!("ends inside partition {pid} (read at byte {at})"),
                    })
                }
                Ok(n) => done += n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => return Err(StorageError::io(&seg.path, err)),
            }
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
        let mut used: Vec<u32> = files.table.iter().map(|e| e.segment).collect();
        used.push(0);
        used.sort_unstable();
        used.dedup();
        let mut segments = std::collections::HashMap::new();
        for s in used {
            let name = crate::table::segment_name(s);
            let Ok(entry) = files.manifest.file(&name) else {
                continue; // data.bin of an index whose extents all moved (checked at open)
            };
            let path = files.dir.join(entry.stored_name(&name));
            let file = match mode {
                IoMode::Direct => open_direct(&path)?,
                IoMode::Buffered => File::open(&path).map_err(|e| StorageError::io(&path, e))?,
            };
            let map = match mode {
                IoMode::Direct => None,
                IoMode::Buffered if file.metadata().map(|m| m.len() > 0).unwrap_or(false) => {
                    // SAFETY: index files are immutable once a manifest names them (a
                    // change writes new files); the mapping is read-only and extents
                    // are checked against its length before use.
                    let map = unsafe { memmap2::Mmap::map(&file) };
                    Some(Arc::new(map.map_err(|e| StorageError::io(&path, e))?))
                }
                IoMode::Buffered => None,
            };
            segments.insert(s, Segment { file, path, map });
        }
        Ok(FileStore {
            extents: ExtentFile {
                segments,
                mapped: mode == IoMode::Buffered,
                table: files.table.clone(),
                verified: (0..files.table.len())
                    .map(|_| std::sync::atomic::AtomicBool::new(false))
                    .collect(),
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
    fn map_extent(&self, pid: u32) -> Option<Result<MappedExtent, StorageError>> {
        self.extents.map_extent(pid)
    }
    fn maps_extents(&self) -> bool {
        self.extents.mapped
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
    fn read_span(
        &self,
        pid: u32,
        offset: u64,
        len: usize,
        buf: &mut AlignedBuf,
    ) -> Result<(), StorageError> {
        self.extents.read_span(pid, offset, len, buf)
    }
}
