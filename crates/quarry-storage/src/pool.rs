//! Keeps many partition reads in flight. Blocking preads on a small pool of I/O
//! threads give the device queue depth without io_uring (which sandboxes often
//! forbid); I/O threads sleep in the kernel, so they cost no CPU on a 2-core box.
//! Results come back in completion order through a bounded channel, which caps the
//! memory held by read-ahead.

use crate::{AlignedBuf, PartitionStore, StorageError};
use crossbeam_channel::{bounded, Receiver, Sender};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One partition extent read and verified.
pub struct LoadedPartition {
    pub pid: u32,
    pub buf: AlignedBuf,
    pub bytes: u64,
    pub read_time: Duration,
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
        Ok(IoPool { jobs: tx, threads })
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
        let (tx, rx) = bounded(ahead.clamp(1, MAX_READ_AHEAD));
        let cancelled = Arc::new(AtomicBool::new(false));
        for &pid in pids {
            let tx = tx.clone();
            let store = store.clone();
            let cancelled = cancelled.clone();
            let job: Job = Box::new(move || {
                if cancelled.load(Ordering::Relaxed) {
                    return;
                }
                let start = Instant::now();
                let mut buf = AlignedBuf::new();
                let res = store.read_into(pid, &mut buf).map(|()| LoadedPartition {
                    pid,
                    bytes: buf.len() as u64,
                    buf,
                    read_time: start.elapsed(),
                });
                // The consumer may be gone after an error; nothing to do then.
                let _ = tx.send(res);
            });
            if self.jobs.send(job).is_err() {
                break;
            }
        }
        PartitionStream {
            rx,
            remaining: pids.len(),
            cancelled,
        }
    }
}

/// Iterator over reads in completion order; dropping it cancels reads not yet started.
pub struct PartitionStream {
    rx: Receiver<Result<LoadedPartition, StorageError>>,
    remaining: usize,
    cancelled: Arc<AtomicBool>,
}

impl Iterator for PartitionStream {
    type Item = Result<LoadedPartition, StorageError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        self.rx.recv().ok()
    }
}

impl Drop for PartitionStream {
    fn drop(&mut self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }
}
