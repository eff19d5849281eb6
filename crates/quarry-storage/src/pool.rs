//! Keeps many partition reads in flight. Blocking preads on a small pool of I/O
//! threads give the device queue depth without io_uring (which sandboxes often
//! forbid); I/O threads sleep in the kernel, so they cost no CPU on a 2-core box.
//! Results come back in completion order through a bounded channel, which caps the
//! memory held by read-ahead.

use crate::{AlignedBuf, MappedExtent, PartitionStore, StorageError};
use crossbeam_channel::{bounded, Receiver, Sender};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One partition extent read and verified.
pub struct LoadedPartition {
    pub pid: u32,
    /// The extent when it was read into memory (empty when `mapped`).
    pub buf: AlignedBuf,
    /// The extent when the store maps its file (buffered mode).
    pub mapped: Option<MappedExtent>,
    pub bytes: u64,
    pub read_time: Duration,
    /// Where the buffer goes back to when the partition is dropped.
    recycle: Option<Arc<BufPool>>,
}

impl LoadedPartition {
    /// A partition read outside a pool (its buffer is freed on drop).
    pub fn new(pid: u32, buf: AlignedBuf, bytes: u64, read_time: Duration) -> Self {
        LoadedPartition {
            pid,
            buf,
            mapped: None,
            bytes,
            read_time,
            recycle: None,
        }
    }

    /// A partition served from a mapped file (no buffer, no I/O thread).
    pub fn from_mapped(pid: u32, m: MappedExtent, read_time: Duration) -> Self {
        LoadedPartition {
            pid,
            buf: AlignedBuf::new(),
            bytes: m.len as u64,
            mapped: Some(m),
            read_time,
            recycle: None,
        }
    }

    /// The extent's bytes, verified, wherever they live.
    pub fn bytes(&self) -> &[u8] {
        match &self.mapped {
            Some(m) => m.as_slice(),
            None => self.buf.as_slice(),
        }
    }
}

impl Drop for LoadedPartition {
    fn drop(&mut self) {
        if let Some(pool) = self.recycle.take() {
            pool.put(std::mem::take(&mut self.buf));
        }
    }
}

/// Read buffers kept for reuse: a fresh 4 KiB-aligned buffer per read costs an
/// mmap, page faults and the kernel zeroing every page (measured: a third of the
/// I/O threads' time on page-cache reads). Bounded in bytes.
#[derive(Default)]
struct BufPool {
    free: Mutex<(Vec<AlignedBuf>, usize)>,
}

/// Most bytes of idle buffers kept.
const POOL_BYTES: usize = 64 << 20;

impl BufPool {
    fn get(&self) -> AlignedBuf {
        let mut g = self.free.lock().unwrap_or_else(|e| e.into_inner());
        match g.0.pop() {
            Some(b) => {
                g.1 -= b.capacity();
                b
            }
            None => AlignedBuf::new(),
        }
    }

    fn put(&self, b: AlignedBuf) {
        let mut g = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if g.1 + b.capacity() <= POOL_BYTES {
            g.1 += b.capacity();
            g.0.push(b);
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Most I/O threads a pool may have: far more than any device's useful queue depth
/// (NVMe saturates at a few dozen reads in flight); beyond it threads only cost
/// memory and scheduling.
pub const MAX_IO_THREADS: usize = 256;

/// Most finished reads a stream lets wait for its consumer (each one is a whole
/// partition buffer, and the channel's slots are allocated up front).
pub const MAX_READ_AHEAD: usize = 4096;

/// A fixed set of I/O threads shared by all searches of an index.
pub struct IoPool {
    jobs: Sender<Job>,
    threads: usize,
    bufs: Arc<BufPool>,
}

impl IoPool {
    /// Starts `threads` I/O threads (1..=[`MAX_IO_THREADS`]).
    pub fn new(threads: usize) -> Result<IoPool, StorageError> {
        if !(1..=MAX_IO_THREADS).contains(&threads) {
            return Err(StorageError::OutOfRange {
                what: "I/O threads",
                got: threads as u64,
                min: 1,
                max: MAX_IO_THREADS as u64,
            });
        }
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("quarry-io-{i}"))
                .spawn(move || {
                    for job in rx {
                        job();
                    }
                })
                // Threads already started end when `tx` drops with this error.
                .map_err(|source| StorageError::Spawn {
                    what: "I/O thread",
                    index: i,
                    threads,
                    source,
                })?;
        }
        Ok(IoPool {
            jobs: tx,
            threads,
            bufs: Arc::default(),
        })
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Starts reading `pids`; at most `ahead` finished reads wait for the consumer.
    pub fn stream(
        &self,
        store: Arc<dyn PartitionStore>,
        pids: &[u32],
        ahead: usize,
    ) -> PartitionStream {
        // Reads are submitted as the stream is consumed, never more outstanding
        // (queued, in flight or finished and waiting) than the channel holds, so an
        // I/O thread never blocks on a full channel. Submitting every read at once
        // and blocking in `send` deadlocked concurrent searches on one index: the
        // I/O threads sat on one stream's full channel while the only consumers
        // (rayon workers) waited for another stream's reads queued behind them.
        // In flight + finished stays bounded as before: read-ahead + I/O threads.
        let cap = ahead.clamp(1, MAX_READ_AHEAD) + self.threads;
        let (tx, rx) = bounded(cap);
        let mut s = PartitionStream {
            rx,
            remaining: pids.len(),
            cancelled: Arc::new(AtomicBool::new(false)),
            submit: Submit {
                jobs: self.jobs.clone(),
                tx,
                store,
                bufs: self.bufs.clone(),
                pids: pids.to_vec(),
                next: 0,
                received: 0,
            },
        };
        for _ in 0..cap {
            s.submit_next();
        }
        s
    }
}

/// What a stream needs to submit its remaining reads.
struct Submit {
    jobs: Sender<Job>,
    tx: Sender<Result<LoadedPartition, StorageError>>,
    store: Arc<dyn PartitionStore>,
    bufs: Arc<BufPool>,
    pids: Vec<u32>,
    /// Reads submitted, and taken off the channel.
    next: usize,
    received: usize,
}

pub struct PartitionStream {
    rx: Receiver<Result<LoadedPartition, StorageError>>,
    remaining: usize,
    cancelled: Arc<AtomicBool>,
    submit: Submit,
}

impl PartitionStream {
    /// Queues the next read, if any is left.
    fn submit_next(&mut self) {
        let s = &mut self.submit;
        let Some(&pid) = s.pids.get(s.next) else {
            return;
        };
        s.next += 1;
        let tx = s.tx.clone();
        let store = s.store.clone();
        let cancelled = self.cancelled.clone();
        let bufs = s.bufs.clone();
        let job: Job = Box::new(move || {
            if cancelled.load(Ordering::Relaxed) {
                return;
            }
            let start = Instant::now();
            if let Some(res) = store.map_extent(pid) {
                let res = res.map(|m| LoadedPartition::from_mapped(pid, m, start.elapsed()));
                let _ = tx.send(res);
                return;
            }
            let mut buf = bufs.get();
            let res = match store.read_into(pid, &mut buf) {
                Ok(()) => Ok(LoadedPartition {
                    pid,
                    bytes: buf.len() as u64,
                    buf,
                    mapped: None,
                    read_time: start.elapsed(),
                    recycle: Some(bufs),
                }),
                Err(e) => {
                    bufs.put(buf);
                    Err(e)
                }
            };
            // Never blocks: at most `cap` reads are outstanding (see `stream`).
            let _ = tx.send(res);
        });
        if s.jobs.send(job).is_err() {
            // The pool is gone: no more reads; the stream ends after those queued.
            self.remaining = self.remaining.min(s.next - 1 - s.received);
            s.next = s.pids.len();
        }
    }
}

impl Iterator for PartitionStream {
    type Item = Result<LoadedPartition, StorageError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let got = self.rx.recv().ok();
        // One read taken off the channel: one more may be outstanding.
        self.submit.received += 1;
        self.submit_next();
        got
    }
}

impl Drop for PartitionStream {
    fn drop(&mut self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }
}
