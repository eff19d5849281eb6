//! Which hand-written instruction-set path runs. Every path computes in the same
//! fixed order, so the choice changes speed, not results (given hardware FMA).

/// True when the AVX-512 kernels can run: F, plus BW and VL for masked byte loads
/// (every AVX-512 Xeon/Core since Skylake-SP). With `target-cpu=native` on such a
/// machine this folds to a constant; otherwise std caches the CPUID probe.
#[inline]
pub(crate) fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `a * b + c`, fused when the target has FMA so the portable kernels round exactly
/// like the intrinsic ones. Without FMA, `mul_add` would be a slow libm call.
#[inline(always)]
pub(crate) fn fmadd(a: f32, b: f32, c: f32) -> f32 {
    if cfg!(target_feature = "fma") {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}
