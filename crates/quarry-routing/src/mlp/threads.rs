//! Keeping candle's kernels to a set number of threads.
//!
//! candle's CPU matmul splits its work through rayon into as many parts as it reads
//! from `RAYON_NUM_THREADS` (all cores when unset), and candle 0.11 has no call to
//! set that count. Work run inside a rayon pool of `n` threads can use only those
//! `n`, so candle work runs inside such a pool: the count is chosen by the caller,
//! the environment is never written, and Quarry's own pools are not touched. On two
//! shared cores one thread is faster (measured, see README), hence inference uses 1.

use super::MlpError;
use std::sync::OnceLock;

/// Runs `f` (candle work) on a pool of `threads` threads.
pub fn with_candle_threads<R: Send, E: Send + From<MlpError>>(
    threads: usize,
    f: impl FnOnce() -> Result<R, E> + Send,
) -> Result<R, E> {
    static ONE: OnceLock<rayon::ThreadPool> = OnceLock::new();
    let build = |n: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("quarry-candle-{i}"))
            .build()
            .map_err(|e| MlpError::BadConfig(format!("cannot start {n} candle thread(s): {e}")))
    };
    if threads <= 1 {
        if ONE.get().is_none() {
            let pool = build(1).map_err(E::from)?;
            let _ = ONE.set(pool);
        }
        let pool = ONE.get().expect("set above");
        return pool.install(f);
    }
    build(threads).map_err(E::from)?.install(f)
}
