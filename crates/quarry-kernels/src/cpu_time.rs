//! CPU time of the calling thread or of the whole process: timings that other
//! processes on shared cores do not inflate, as they do wall time.

/// Reads `clock`, or None when the system refuses it.
fn read(clock: libc::clockid_t) -> Option<libc::timespec> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live, writable timespec for the whole call, and
    // clock_gettime writes only through that pointer; a bad clock id is reported by
    // the return code, not undefined behaviour.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then_some(ts)
}

fn secs(clock: libc::clockid_t) -> f64 {
    read(clock).map_or(0.0, |ts| ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9)
}

/// CPU seconds the calling thread has used so far (0 if the clock is unavailable).
pub fn thread_cpu_secs() -> f64 {
    secs(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU seconds this process has used so far, all threads together (0 if the clock
/// is unavailable).
pub fn process_cpu_secs() -> f64 {
    secs(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// `process_cpu_secs` in whole nanoseconds (0 if the clock is unavailable).
pub fn process_cpu_nanos() -> u64 {
    read(libc::CLOCK_PROCESS_CPUTIME_ID)
        .map_or(0, |ts| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_advance_with_work() {
        let (t0, p0, n0) = (thread_cpu_secs(), process_cpu_secs(), process_cpu_nanos());
        let mut x = 0u64;
        while thread_cpu_secs() - t0 < 0.01 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
        }
        assert!(thread_cpu_secs() > t0);
        assert!(process_cpu_secs() >= p0 + 0.005);
        assert!(process_cpu_nanos() > n0);
    }
}
