//! Which kernel path runs: the one place that decides.
//!
//! Binaries are built for the x86-64 baseline (no `target-cpu`), so the fast paths
//! are `#[target_feature]` functions chosen here at run time, once:
//! - `Avx512`: AVX-512 F + BW + VL (Skylake-SP, Ice Lake, Zen 4 and later);
//! - `Avx2`: AVX2 + FMA (Haswell, Zen 1-3, and Zen 4+ when forced);
//! - `Portable`: plain Rust written so LLVM vectorises it across outputs (SSE2 on
//!   x86-64, NEON on aarch64); what every other target gets.
//!
//! `QUARRY_KERNELS=portable|avx2|avx512|auto` forces a path; forcing one the CPU
//! lacks is an error (`configure_from_env`). Front ends call `configure_from_env`
//! at start-up to report that error cleanly; a library user who does not gets the
//! same message as a panic at the first kernel call.
//!
//! Results across paths (the order of every sum is the same on all of them):
//! - `Avx512` and `Avx2` agree bit for bit: both fuse each multiply-add.
//! - `Portable` agrees with them bit for bit where the target fuses without a
//!   `target-cpu` flag (aarch64). On an x86-64 baseline build it has no FMA
//!   instruction, so each step rounds twice: results differ in the last bits
//!   (tested to a relative 1e-5). Within any one path a query's distances are
//!   bit-identical alone or inside any batch.

use std::sync::atomic::{AtomicU8, Ordering};

/// A kernel path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    Portable,
    Avx2,
    Avx512,
}

/// Why a requested path cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IsaError {
    #[error("unknown kernel path {0:?} (expected portable, avx2, avx512 or auto)")]
    Unknown(String),
    #[error("kernel path {0} is not supported by this CPU (it supports: {1})")]
    Unsupported(&'static str, String),
}

impl Isa {
    pub const ALL: [Isa; 3] = [Isa::Portable, Isa::Avx2, Isa::Avx512];

    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Can this CPU run the path?
    pub fn supported(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vl")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Every path this CPU can run, slowest first.
    pub fn available() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.supported()).collect()
    }

    /// The fastest path this CPU can run.
    pub fn best() -> Isa {
        *Isa::available()
            .last()
            .expect("portable is always available")
    }

    /// Parses a `QUARRY_KERNELS` value; `auto` (or empty) means `best()`.
    pub fn parse(s: &str) -> Result<Isa, IsaError> {
        let isa = match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => return Ok(Isa::best()),
            "portable" => Isa::Portable,
            "avx2" => Isa::Avx2,
            "avx512" => Isa::Avx512,
            other => return Err(IsaError::Unknown(other.to_string())),
        };
        if !isa.supported() {
            let have: Vec<_> = Isa::available().iter().map(|i| i.name()).collect();
            return Err(IsaError::Unsupported(isa.name(), have.join(", ")));
        }
        Ok(isa)
    }

    fn code(self) -> u8 {
        match self {
            Isa::Portable => 1,
            Isa::Avx2 => 2,
            Isa::Avx512 => 3,
        }
    }

    fn from_code(c: u8) -> Option<Isa> {
        match c {
            1 => Some(Isa::Portable),
            2 => Some(Isa::Avx2),
            3 => Some(Isa::Avx512),
            _ => None,
        }
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// 0 = not decided yet.
static ACTIVE: AtomicU8 = AtomicU8::new(0);

/// The environment variable that forces a path.
pub const ENV: &str = "QUARRY_KERNELS";

/// Decides the path from `QUARRY_KERNELS` (or the CPU) and returns it; later calls
/// return the same path. Call once at start-up to turn a bad value into an error.
pub fn configure_from_env() -> Result<Isa, IsaError> {
    if let Some(isa) = Isa::from_code(ACTIVE.load(Ordering::Relaxed)) {
        return Ok(isa);
    }
    let isa = match std::env::var(ENV) {
        Ok(v) => Isa::parse(&v)?,
        Err(_) => Isa::best(),
    };
    // A racing first call computes the same value from the same inputs.
    ACTIVE.store(isa.code(), Ordering::Relaxed);
    Ok(isa)
}

/// The path every dispatched kernel uses (decided once, then one relaxed load).
#[inline]
pub fn active() -> Isa {
    match Isa::from_code(ACTIVE.load(Ordering::Relaxed)) {
        Some(isa) => isa,
        None => configure_from_env().unwrap_or_else(|e| panic!("{ENV}: {e}")),
    }
}

/// `a * b + c`, fused when the target fuses without run-time dispatch (x86-64 built
/// with FMA, or aarch64) so the portable kernels round like the intrinsic ones;
/// otherwise two roundings (`mul_add` would be a slow libm call).
#[inline(always)]
pub(crate) fn fmadd(a: f32, b: f32, c: f32) -> f32 {
    if PORTABLE_FUSES {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// Whether the portable path fuses multiply-adds (and so agrees bit for bit with
/// the intrinsic paths).
pub const PORTABLE_FUSES: bool = cfg!(any(target_feature = "fma", target_arch = "aarch64"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names_and_errors() {
        assert_eq!(Isa::parse("portable").unwrap(), Isa::Portable);
        assert_eq!(Isa::parse(" AUTO ").unwrap(), Isa::best());
        assert!(matches!(Isa::parse("sse9"), Err(IsaError::Unknown(_))));
        for isa in Isa::ALL {
            match Isa::parse(isa.name()) {
                Ok(got) => assert!(isa.supported() && got == isa),
                Err(e) => {
                    assert!(!isa.supported());
                    assert!(e.to_string().contains("not supported by this CPU"), "{e}");
                }
            }
        }
    }
}
