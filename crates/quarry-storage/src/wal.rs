//! The write-ahead log of an index's updates (`wal.log`, beside the manifest).
//!
//! A write is acknowledged only after its record is durable here; a flush later moves
//! the applied records into new extents and truncates the log. File layout:
//!
//! ```text
//! header : "QWAL" | u32 version | u64 first sequence number      (16 bytes)
//! record : u32 payload length | u32 crc32c(seq | kind | payload) | u64 seq | u8 kind | payload
//! ```
//!
//! All integers little-endian. Sequence numbers increase by one per record.
//! Group commit: `append` buffers any number of records; `commit` writes them with
//! one write and one `fdatasync` (with [`SyncMode::Always`]) before returning, which
//! is the moment they are acknowledged.
//!
//! Replay on open reads records until the end. A record cut short at the end of the
//! file, or failing its checksum as the last thing in the file, is a torn write of a
//! batch that was never acknowledged: the log is cut back to the last whole record
//! and replay reports it. A bad record followed by more data is corruption of
//! acknowledged writes, and an error: nothing is silently dropped.

use crate::StorageError;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// File name of the log inside an index directory (not listed in the manifest).
pub const WAL_FILE: &str = "wal.log";
const MAGIC: &[u8; 4] = b"QWAL";
const VERSION: u32 = 1;
const HEADER: usize = 16;
/// Length + crc + seq + kind.
const RECORD_HEAD: usize = 17;
/// Largest payload accepted on replay (a length beyond it is damage, not a record).
pub const MAX_PAYLOAD: usize = 1 << 30;

/// When a commit reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// `fdatasync` before `commit` returns: an acknowledged write survives a power
    /// loss (the default).
    Always,
    /// Written to the OS before `commit` returns, synced by the OS later: survives a
    /// crash of the process, not of the machine.
    Os,
}

/// One logged write, as its kind byte and payload (the engine defines the payloads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub kind: u8,
    pub payload: Vec<u8>,
}

/// What replay found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replay {
    pub records: Vec<Record>,
    /// Bytes of a torn final record that were cut off (0: the log ended cleanly).
    pub torn_bytes: u64,
}

/// An open log, appended to by the index's one writer.
#[derive(Debug)]
pub struct Wal {
    path: PathBuf,
    file: File,
    /// Bytes of the file that are committed.
    len: u64,
    next_seq: u64,
    pending: Vec<u8>,
    pending_records: u64,
    sync: SyncMode,
}

impl Wal {
    /// Opens (or creates, starting at sequence `first_seq`) the log of `dir` and
    /// replays it. Call only while holding the index's writer lock.
    pub fn open(dir: &Path, first_seq: u64, sync: SyncMode) -> Result<(Wal, Replay), StorageError> {
        let path = dir.join(WAL_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StorageError::io(&path, e))?;
        let size = file
            .metadata()
            .map_err(|e| StorageError::io(&path, e))?
            .len();
        if size < HEADER as u64 {
            // New, or a crash while creating it (no record can have been acknowledged).
            let mut wal = Wal {
                path,
                file,
                len: 0,
                next_seq: first_seq,
                pending: Vec::new(),
                pending_records: 0,
                sync,
            };
            wal.reset(first_seq)?;
            return Ok((wal, Replay::default()));
        }
        let mut bytes = vec![0u8; size as usize];
        file.read_exact_at(&mut bytes, 0)
            .map_err(|e| StorageError::io(&path, e))?;
        let corrupt = |what: String| StorageError::Corrupt {
            file: path.clone(),
            what,
        };
        if &bytes[..4] != MAGIC {
            return Err(corrupt("is not a Quarry write-ahead log".into()));
        }
        let version = u32::from_le_bytes(bytes[4..8].try_into().expect("4"));
        if version != VERSION {
            return Err(corrupt(format!(
                "has version {version}, this build reads {VERSION}"
            )));
        }
        let base = u64::from_le_bytes(bytes[8..16].try_into().expect("8"));
        let (records, good_end) = parse(&bytes, base).map_err(corrupt)?;
        let torn = size - good_end;
        if torn > 0 {
            file.set_len(good_end)
                .and_then(|()| file.sync_data())
                .map_err(|e| StorageError::io(&path, e))?;
        }
        let next_seq = records.last().map_or(base, |r| r.seq + 1);
        Ok((
            Wal {
                path,
                file,
                len: good_end,
                next_seq,
                pending: Vec::new(),
                pending_records: 0,
                sync,
            },
            Replay {
                records,
                torn_bytes: torn,
            },
        ))
    }

    /// The acknowledged records of the log of `dir`, without changing the file: what
    /// a reader (which holds no writer lock) replays. A torn final record is
    /// skipped, as the writer's replay would cut it; no log is no records.
    pub fn read(dir: &Path) -> Result<Replay, StorageError> {
        let path = dir.join(WAL_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Replay::default()),
            Err(e) => return Err(StorageError::io(&path, e)),
        };
        if bytes.len() < HEADER {
            return Ok(Replay::default());
        }
        let corrupt = |what: String| StorageError::Corrupt {
            file: path.clone(),
            what,
        };
        if &bytes[..4] != MAGIC {
            return Err(corrupt("is not a Quarry write-ahead log".into()));
        }
        let version = u32::from_le_bytes(bytes[4..8].try_into().expect("4"));
        if version != VERSION {
            return Err(corrupt(format!(
                "has version {version}, this build reads {VERSION}"
            )));
        }
        let base = u64::from_le_bytes(bytes[8..16].try_into().expect("8"));
        let (records, good_end) = parse(&bytes, base).map_err(corrupt)?;
        Ok(Replay {
            records,
            torn_bytes: bytes.len() as u64 - good_end,
        })
    }

    /// The sequence number the next appended record gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Committed bytes (the log's size on disk).
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len <= HEADER as u64
    }

    /// Buffers a record; returns its sequence number. Not durable until `commit`.
    pub fn append(&mut self, kind: u8, payload: &[u8]) -> Result<u64, StorageError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(StorageError::Payload(format!(
                "a log record of {} bytes exceeds {MAX_PAYLOAD}; write smaller batches",
                payload.len()
            )));
        }
        let seq = self.next_seq;
        let mut body = Vec::with_capacity(9 + payload.len());
        body.extend_from_slice(&seq.to_le_bytes());
        body.push(kind);
        body.extend_from_slice(payload);
        self.pending
            .extend_from_slice(&(payload.len() as u32).to_le_bytes());
        self.pending
            .extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
        self.pending.extend_from_slice(&body);
        self.next_seq += 1;
        self.pending_records += 1;
        Ok(seq)
    }

    /// Writes every buffered record with one write and (with `SyncMode::Always`) one
    /// fdatasync: group commit. When this returns Ok, the records are acknowledged.
    /// On error nothing buffered is acknowledged and the log is cut back.
    pub fn commit(&mut self) -> Result<(), StorageError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let r = self
            .file
            .write_all_at(&self.pending, self.len)
            .and_then(|()| match self.sync {
                SyncMode::Always => self.file.sync_data(),
                SyncMode::Os => Ok(()),
            });
        match r {
            Ok(()) => {
                self.len += self.pending.len() as u64;
                self.pending.clear();
                self.pending_records = 0;
                Ok(())
            }
            Err(e) => {
                // Never acknowledged: drop them, and the bytes that may have landed.
                self.next_seq -= self.pending_records;
                self.pending.clear();
                self.pending_records = 0;
                let _ = self.file.set_len(self.len);
                Err(StorageError::io(&self.path, e))
            }
        }
    }

    /// Empties the log after a flush made every record up to `next_seq - 1` durable
    /// elsewhere: a new log starting at `next_seq` replaces it by rename.
    pub fn truncate(&mut self) -> Result<(), StorageError> {
        let next = self.next_seq;
        self.reset(next)
    }

    fn reset(&mut self, first_seq: u64) -> Result<(), StorageError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let tmp = dir.join(format!("{WAL_FILE}.{}.quarry-tmp", std::process::id()));
        let mut header = Vec::with_capacity(HEADER);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&first_seq.to_le_bytes());
        let made = File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(&header)?;
                f.sync_all()
            })
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .and_then(|()| File::open(dir)?.sync_all());
        if let Err(e) = made {
            let _ = std::fs::remove_file(&tmp);
            return Err(StorageError::io(&self.path, e));
        }
        self.file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(|e| StorageError::io(&self.path, e))?;
        self.len = HEADER as u64;
        self.next_seq = first_seq;
        self.pending.clear();
        self.pending_records = 0;
        Ok(())
    }
}

/// Records of `bytes` (a whole log) and where the last whole one ends. A damaged
/// record with whole records after it is an error.
fn parse(bytes: &[u8], base: u64) -> Result<(Vec<Record>, u64), String> {
    let mut records = Vec::new();
    let mut at = HEADER;
    let mut want_seq = base;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let whole = (|| {
            if rest.len() < RECORD_HEAD {
                return None;
            }
            let len = u32::from_le_bytes(rest[..4].try_into().expect("4")) as usize;
            if len > MAX_PAYLOAD || rest.len() < RECORD_HEAD + len {
                return None;
            }
            let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4"));
            let body = &rest[8..RECORD_HEAD + len];
            if crc32c::crc32c(body) != crc {
                return None;
            }
            let seq = u64::from_le_bytes(body[..8].try_into().expect("8"));
            Some((seq, body[8], body[9..].to_vec(), RECORD_HEAD + len))
        })();
        match whole {
            Some((seq, kind, payload, size)) => {
                if seq != want_seq {
                    return Err(format!(
                        "record at byte {at} has sequence number {seq}, expected {want_seq}"
                    ));
                }
                records.push(Record { seq, kind, payload });
                want_seq += 1;
                at += size;
            }
            None => {
                // Torn only if nothing whole follows: look for a later valid record.
                if later_record_exists(bytes, at + 1) {
                    return Err(format!(
                        "record at byte {at} is damaged and whole records follow it: \
                         acknowledged writes would be lost"
                    ));
                }
                break;
            }
        }
    }
    Ok((records, at.min(bytes.len()) as u64))
}

/// Whether a checksum-valid record starts anywhere at or after `from`.
fn later_record_exists(bytes: &[u8], from: usize) -> bool {
    (from..bytes.len().saturating_sub(RECORD_HEAD - 1)).any(|p| {
        let rest = &bytes[p..];
        let len = u32::from_le_bytes(rest[..4].try_into().expect("4")) as usize;
        len <= MAX_PAYLOAD
            && rest.len() >= RECORD_HEAD + len
            && crc32c::crc32c(&rest[8..RECORD_HEAD + len])
                == u32::from_le_bytes(rest[4..8].try_into().expect("4"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    fn write(d: &Path, batches: &[Vec<(u8, Vec<u8>)>]) -> Vec<Record> {
        let (mut w, r) = Wal::open(d, 0, SyncMode::Always).unwrap();
        assert!(r.records.is_empty());
        let mut all = Vec::new();
        for b in batches {
            for (k, p) in b {
                let seq = w.append(*k, p).unwrap();
                all.push(Record {
                    seq,
                    kind: *k,
                    payload: p.clone(),
                });
            }
            w.commit().unwrap();
        }
        all
    }

    #[test]
    fn replays_what_was_committed_and_continues_the_sequence() {
        let d = dir();
        let all = write(
            d.path(),
            &[
                vec![(1, b"abc".to_vec()), (2, vec![])],
                vec![(1, vec![7; 1000])],
            ],
        );
        let (mut w, r) = Wal::open(d.path(), 0, SyncMode::Always).unwrap();
        assert_eq!(r.records, all);
        assert_eq!(r.torn_bytes, 0);
        assert_eq!(w.next_seq(), 3);
        // Uncommitted appends are not in the log.
        w.append(1, b"lost").unwrap();
        drop(w);
        let (mut w, r) = Wal::open(d.path(), 0, SyncMode::Always).unwrap();
        assert_eq!(r.records.len(), 3);
        // Truncation keeps the sequence going.
        w.truncate().unwrap();
        assert!(w.is_empty());
        assert_eq!(w.append(3, b"x").unwrap(), 3);
        w.commit().unwrap();
        let (_, r) = Wal::open(d.path(), 0, SyncMode::Always).unwrap();
        assert_eq!(r.records.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn damage_before_whole_records_is_an_error_not_a_silent_loss() {
        let d = dir();
        write(
            d.path(),
            &[vec![(1, vec![1; 50]), (1, vec![2; 50]), (1, vec![3; 50])]],
        );
        let p = d.path().join(WAL_FILE);
        let mut b = std::fs::read(&p).unwrap();
        b[HEADER + RECORD_HEAD + 10] ^= 1; // inside the first record
        std::fs::write(&p, &b).unwrap();
        let e = Wal::open(d.path(), 0, SyncMode::Always).unwrap_err();
        assert!(e.to_string().contains("whole records follow"), "{e}");
        b[..4].copy_from_slice(b"XXXX");
        std::fs::write(&p, &b).unwrap();
        assert!(Wal::open(d.path(), 0, SyncMode::Always).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// A log cut at any byte replays exactly the records wholly before the cut,
        /// cuts the torn rest off, and takes new records after them.
        #[test]
        fn a_log_cut_anywhere_replays_its_whole_prefix(
            sizes in prop::collection::vec(0usize..300, 1..8),
            cut_frac in 0.0f64..1.0,
        ) {
            let d = dir();
            let batches: Vec<Vec<(u8, Vec<u8>)>> =
                sizes.iter().enumerate().map(|(i, &n)| vec![(i as u8, vec![i as u8; n])]).collect();
            let all = write(d.path(), &batches);
            let p = d.path().join(WAL_FILE);
            let full = std::fs::read(&p).unwrap();
            let cut = HEADER + ((full.len() - HEADER) as f64 * cut_frac) as usize;
            std::fs::write(&p, &full[..cut]).unwrap();
            // Whole records before the cut.
            let mut end = HEADER;
            let mut keep = 0;
            for r in &all {
                let size = RECORD_HEAD + r.payload.len();
                if end + size <= cut { end += size; keep += 1; } else { break; }
            }
            let (mut w, r) = Wal::open(d.path(), 0, SyncMode::Always).unwrap();
            prop_assert_eq!(&r.records[..], &all[..keep]);
            prop_assert_eq!(r.torn_bytes as usize, cut - end);
            prop_assert_eq!(std::fs::metadata(&p).unwrap().len() as usize, end);
            prop_assert_eq!(w.append(9, b"next").unwrap(), keep as u64);
            w.commit().unwrap();
            let (_, r) = Wal::open(d.path(), 0, SyncMode::Always).unwrap();
            prop_assert_eq!(r.records.len(), keep + 1);
        }
    }
}
