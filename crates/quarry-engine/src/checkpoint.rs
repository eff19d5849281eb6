//! Phase checkpoints of a build. A 100M-vector build runs for tens of minutes; a
//! kill or crash after training or after assignment must not send it back to the
//! start. Each finished phase leaves its result in `.NAME.quarry-checkpoint/` beside
//! the index (written atomically, crc32c-checked, keyed by everything that decides
//! the result: the input's fingerprint and the build settings). A rerun of the same
//! build picks the results up; a different input or setting ignores them. The
//! directory goes when the index is complete. The write phase is not checkpointed:
//! a rerun writes the partitions again (its cost is a few passes over the input).

use crate::EngineError;
use quarry_formats::AtomicFile;
use quarry_partition::Assignment;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"QCKPT\0\0\x01";
const TRAIN: &str = "train.ckpt";
const ASSIGN: &str = "assign.ckpt";

/// Trained centroids: the partitions' (`fine`) and, for a two-level build, the
/// coarse level (`first[c]..first[c+1]` are coarse centroid c's children).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Trained {
    pub fine: Vec<f32>,
    pub coarse: Vec<f32>,
    pub first: Vec<u32>,
}

pub(crate) struct Checkpoints {
    dir: PathBuf,
    key: String,
}

/// `.NAME.quarry-checkpoint` beside `out`.
pub fn checkpoint_dir(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "index".into());
    out.with_file_name(format!(".{name}.quarry-checkpoint"))
}

impl Checkpoints {
    pub fn new(out: &Path, key: String) -> Self {
        Checkpoints {
            dir: checkpoint_dir(out),
            key,
        }
    }

    pub fn load_trained(&self) -> Option<Trained> {
        let mut r = self.open(TRAIN)?;
        let mut f = || -> Option<Trained> {
            let fine = r.f32s()?;
            let coarse = r.f32s()?;
            let first = r.u32s()?;
            r.finish()?;
            Some(Trained {
                fine,
                coarse,
                first,
            })
        };
        f()
    }

    pub fn save_trained(&self, t: &Trained) -> Result<(), EngineError> {
        let mut w = self.create(TRAIN)?;
        w.f32s(&t.fine)?;
        w.f32s(&t.coarse)?;
        w.u32s(&t.first)?;
        w.commit()
    }

    /// The assignment of `n` vectors to `k` partitions, if checkpointed.
    pub fn load_assignment(&self, n: usize, k: usize) -> Option<Assignment> {
        let mut r = self.open(ASSIGN)?;
        let mut f = || -> Option<Assignment> {
            let partition_of = r.u32s()?;
            let sizes = r.u64s()?;
            let moved = r.u64s()?;
            let capacity = r.u64s()?;
            r.finish()?;
            let ok = partition_of.len() == n
                && sizes.len() == k
                && moved.len() == 1
                && capacity.len() == 1
                && partition_of.iter().all(|&p| (p as usize) < k);
            ok.then(|| Assignment {
                partition_of,
                sizes,
                moved: moved[0],
                capacity: capacity[0],
            })
        };
        f()
    }

    pub fn save_assignment(&self, a: &Assignment) -> Result<(), EngineError> {
        let mut w = self.create(ASSIGN)?;
        w.u32s(&a.partition_of)?;
        w.u64s(&a.sizes)?;
        w.u64s(&[a.moved])?;
        w.u64s(&[a.capacity])?;
        w.commit()
    }

    /// Removes the checkpoints (the index they served is complete).
    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    fn create(&self, name: &str) -> Result<Writer, EngineError> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| quarry_storage::StorageError::io(&self.dir, e))?;
        let path = self.dir.join(name);
        let mut w = Writer {
            file: AtomicFile::create(&path)?,
            crc: 0,
        };
        w.put(MAGIC)?;
        w.put(&(self.key.len() as u64).to_le_bytes())?;
        w.put(self.key.as_bytes())?;
        Ok(w)
    }

    /// A reader past the header, or None when the file is absent, damaged or
    /// made by another build (its key differs).
    fn open(&self, name: &str) -> Option<Reader> {
        let path = self.dir.join(name);
        let file = std::fs::File::open(&path).ok()?;
        let len = file.metadata().ok()?.len();
        let mut r = Reader {
            inner: BufReader::with_capacity(1 << 20, file),
            crc: 0,
            left: len.checked_sub(4)?,
        };
        if r.take(8)? != MAGIC {
            return None;
        }
        let klen = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
        if klen != self.key.len() as u64 || r.take(klen as usize)? != self.key.as_bytes() {
            tracing::info!("checkpoint {} is of another build; ignored", path.display());
            return None;
        }
        Some(r)
    }
}

struct Writer {
    file: AtomicFile,
    crc: u32,
}

impl Writer {
    fn put(&mut self, b: &[u8]) -> Result<(), EngineError> {
        self.crc = crc32c::crc32c_append(self.crc, b);
        Ok(self.file.write_all(b)?)
    }
    fn array(&mut self, len: usize, bytes: &[u8]) -> Result<(), EngineError> {
        self.put(&(len as u64).to_le_bytes())?;
        // Bounded pieces: the crc and the buffered writer see ~1 MiB at a time.
        for piece in bytes.chunks(1 << 20) {
            self.put(piece)?;
        }
        Ok(())
    }
    fn f32s(&mut self, v: &[f32]) -> Result<(), EngineError> {
        self.array(v.len(), bytemuck::cast_slice(v))
    }
    fn u32s(&mut self, v: &[u32]) -> Result<(), EngineError> {
        self.array(v.len(), bytemuck::cast_slice(v))
    }
    fn u64s(&mut self, v: &[u64]) -> Result<(), EngineError> {
        self.array(v.len(), bytemuck::cast_slice(v))
    }
    fn commit(mut self) -> Result<(), EngineError> {
        let crc = self.crc.to_le_bytes();
        self.file.write_all(&crc)?;
        Ok(self.file.commit(None)?)
    }
}

struct Reader {
    inner: BufReader<std::fs::File>,
    crc: u32,
    /// Bytes before the trailing crc not yet read.
    left: u64,
}

impl Reader {
    fn fill(&mut self, out: &mut [u8]) -> Option<()> {
        if out.len() as u64 > self.left {
            return None;
        }
        self.inner.read_exact(out).ok()?;
        self.crc = crc32c::crc32c_append(self.crc, out);
        self.left -= out.len() as u64;
        Some(())
    }
    fn take(&mut self, n: usize) -> Option<Vec<u8>> {
        let mut v = vec![0u8; n];
        self.fill(&mut v)?;
        Some(v)
    }
    fn len(&mut self, elem: u64) -> Option<usize> {
        let n = u64::from_le_bytes(self.take(8)?.try_into().ok()?);
        (n.checked_mul(elem)? <= self.left).then_some(n as usize)
    }
    fn f32s(&mut self) -> Option<Vec<f32>> {
        let mut v = vec![0f32; self.len(4)?];
        self.fill(bytemuck::cast_slice_mut(&mut v))?;
        Some(v)
    }
    fn u32s(&mut self) -> Option<Vec<u32>> {
        let mut v = vec![0u32; self.len(4)?];
        self.fill(bytemuck::cast_slice_mut(&mut v))?;
        Some(v)
    }
    fn u64s(&mut self) -> Option<Vec<u64>> {
        let mut v = vec![0u64; self.len(8)?];
        self.fill(bytemuck::cast_slice_mut(&mut v))?;
        Some(v)
    }
    /// Everything read and the crc matches.
    fn finish(&mut self) -> Option<()> {
        if self.left != 0 {
            return None;
        }
        let mut c = [0u8; 4];
        self.inner.read_exact(&mut c).ok()?;
        (u32::from_le_bytes(c) == self.crc).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_key_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("idx");
        let c = Checkpoints::new(&out, "key-a".into());
        let t = Trained {
            fine: vec![1.0, 2.0, 3.0, 4.0],
            coarse: vec![0.5, 0.5],
            first: vec![0, 2],
        };
        c.save_trained(&t).unwrap();
        assert_eq!(c.load_trained(), Some(t));
        let a = Assignment {
            partition_of: vec![0, 1, 1],
            sizes: vec![1, 2],
            moved: 1,
            capacity: 2,
        };
        c.save_assignment(&a).unwrap();
        assert_eq!(c.load_assignment(3, 2), Some(a));
        assert_eq!(c.load_assignment(4, 2), None, "another shape");
        // Another build's key, and every truncation and flipped byte, are refused.
        assert_eq!(Checkpoints::new(&out, "key-b".into()).load_trained(), None);
        let path = checkpoint_dir(&out).join(ASSIGN);
        let good = std::fs::read(&path).unwrap();
        for cut in 0..good.len() {
            std::fs::write(&path, &good[..cut]).unwrap();
            assert_eq!(c.load_assignment(3, 2), None, "cut {cut}");
        }
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            std::fs::write(&path, &bad).unwrap();
            assert_eq!(c.load_assignment(3, 2), None, "flip {at}");
        }
        c.remove();
        assert!(!checkpoint_dir(&out).exists());
    }
}
