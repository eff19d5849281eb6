//! Checked ranges of numeric flags (issue 14: `--threads 100000` spawned 100,000
//! threads, `--io-threads 10000` panicked, `--ef 100000000000` aborted on an 800 GB
//! allocation). Each is a clap value parser: an out-of-range value is a usage error
//! (exit 2) that names the flag, the value and the allowed range, before any work.
//! Where a bound guards an allocation the library checks it too (typed errors);
//! these give the user the range up front.

use std::ops::RangeInclusive;

/// Largest k (neighbours per query): beyond any recall@k in use (1..100), and it
/// keeps per-query heaps and candidate lists bounded.
pub const MAX_K: usize = 100_000;
/// Largest number of partitions probed per query (partition ids are u32; the
/// library probes at most the index's partitions).
pub const MAX_NPROBE: usize = u32::MAX as usize;
/// Largest batch of queries searched at once (larger query sets run in batches).
pub const MAX_BATCH: usize = 1 << 20;
/// Compute threads are at most this many times the cores...
pub const THREADS_PER_CORE: usize = 4;
/// ...and never more than this, however many cores.
pub const MAX_THREADS: usize = 1024;

fn in_range(s: &str, range: RangeInclusive<usize>, why: &str) -> Result<usize, String> {
    let v: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a whole number"))?;
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "{v} is out of range: use {}..={}{why}",
            range.start(),
            range.end()
        ))
    }
}

/// Cores available to this process (1 if unknown).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The `--threads` ceiling: a few times the cores, capped.
pub fn max_threads() -> usize {
    (THREADS_PER_CORE * cores()).min(MAX_THREADS)
}

pub fn threads(s: &str) -> Result<usize, String> {
    in_range(
        s,
        1..=max_threads(),
        &format!(
            " ({THREADS_PER_CORE} x the {} cores, at most {MAX_THREADS})",
            cores()
        ),
    )
}

pub fn io_threads(s: &str) -> Result<usize, String> {
    in_range(
        s,
        1..=quarry_storage::MAX_IO_THREADS,
        " (reads in flight; 8..64 saturate a device)",
    )
}

pub fn ef(s: &str) -> Result<usize, String> {
    in_range(s, 1..=quarry_graph::MAX_EF, " (16..512 is typical)")
}

pub fn k(s: &str) -> Result<usize, String> {
    in_range(s, 1..=MAX_K, "")
}

pub fn nprobe(s: &str) -> Result<usize, String> {
    in_range(s, 1..=MAX_NPROBE, "")
}

/// Coarse clusters probed per vector by a two-level build (each costs a GEMM
/// against its partitions).
pub fn coarse_probe(s: &str) -> Result<usize, String> {
    in_range(s, 1..=1024, "")
}

pub fn batch_size(s: &str) -> Result<usize, String> {
    in_range(s, 1..=MAX_BATCH, "")
}

/// Width of the MLP router's hidden layers (sizes its weight matrices).
pub fn hidden(s: &str) -> Result<usize, String> {
    in_range(s, 1..=quarry_routing::mlp::MAX_HIDDEN, " (256 is typical)")
}

/// `--candle-threads`: 1..=quarry_learn::mlp::MAX_CANDLE_THREADS.
pub fn candle_threads(s: &str) -> Result<usize, String> {
    in_range(
        s,
        1..=quarry_learn::mlp::MAX_CANDLE_THREADS,
        " (1 is fastest on two cores)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_accept_their_ends_and_refuse_beyond() {
        assert_eq!(ef("1"), Ok(1));
        assert_eq!(ef("65536"), Ok(65536));
        let e = ef("100000000000").unwrap_err();
        assert!(
            e.contains("100000000000 is out of range: use 1..=65536"),
            "{e}"
        );
        assert!(ef("0").is_err() && ef("-3").is_err() && ef("x").is_err());
        assert_eq!(io_threads("256"), Ok(256));
        assert!(io_threads("10000").unwrap_err().contains("use 1..=256"));
        let max = max_threads();
        assert!((4..=MAX_THREADS).contains(&max));
        assert_eq!(threads(&max.to_string()), Ok(max));
        let e = threads("100000").unwrap_err();
        assert!(e.contains(&format!("use 1..={max}")), "{e}");
        assert!(k("100001").is_err() && k("100000").is_ok());
        assert!(batch_size("0").is_err() && batch_size("1048576").is_ok());
        assert!(nprobe("4294967296").is_err() && nprobe("4294967295").is_ok());
        assert!(hidden("8193").unwrap_err().contains("use 1..=8192"));
    }
}
