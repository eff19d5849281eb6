//! CPU time of the calling thread or the whole process: unlike wall time, not
//! inflated when other processes share the cores.

fn clock_secs(clock: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and both clock ids used here
    // exist on every Linux this runs on; on failure `ts` stays zero.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// CPU seconds the calling thread has used.
pub fn thread_cpu_secs() -> f64 {
    clock_secs(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU seconds the whole process (all threads) has used.
pub fn process_cpu_secs() -> f64 {
    clock_secs(libc::CLOCK_PROCESS_CPUTIME_ID)
}
