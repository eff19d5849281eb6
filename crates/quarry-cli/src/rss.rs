//! Resident memory of this process, from /proc (Linux).

/// A `/proc/self/status` field given in kB, in bytes.
fn status_bytes(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// VmHWM in bytes, if the kernel reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    status_bytes("VmHWM:")
}

pub fn peak_rss_mb() -> f64 {
    peak_rss_bytes().map_or(f64::NAN, |b| b as f64 / (1 << 20) as f64)
}

/// Current resident memory (VmRSS) in bytes, if the kernel reports it.
pub fn rss_bytes() -> Option<u64> {
    status_bytes("VmRSS:")
}
