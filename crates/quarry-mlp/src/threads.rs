//! Keeping candle's kernels on one thread.
//!
//! candle's CPU matmul asks `gemm` for `RAYON_NUM_THREADS` threads (all cores when
//! unset) and its element-wise ops use a spinning barrier pool sized by
//! `CANDLE_NUM_THREADS` (falling back to `RAYON_NUM_THREADS`); both are read from the
//! environment, the matmul one on every call. On 2 shared cores the spinning costs
//! more than it gives (measured, see README), so both are set to 1. Quarry's own
//! rayon pool is unaffected when it already exists (the CLI builds it first);
//! `--threads` sets it explicitly.

/// Sets candle's thread counts to 1 (or `QUARRY_CANDLE_THREADS`). Call before the first candle operation.
pub fn single_threaded_candle() {
    // The global rayon pool reads RAYON_NUM_THREADS only when it is first used:
    // make sure it exists (with the default size) before the variable changes.
    let _ = rayon::current_num_threads();
    // QUARRY_CANDLE_THREADS=N overrides the count (to measure 1 against 2 threads).
    let n = std::env::var("QUARRY_CANDLE_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1)
        .to_string();
    std::env::set_var("RAYON_NUM_THREADS", &n);
    std::env::set_var("CANDLE_NUM_THREADS", &n);
}
