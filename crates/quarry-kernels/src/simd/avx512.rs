//! AVX-512 (F + BW + VL, i.e. Skylake-SP and later) versions of the pairwise
//! kernels, in exactly the portable order.
//!
//! Register arrays are only ever indexed by constants (loops over fixed counts, or
//! `unroll!`): a runtime index makes LLVM keep the whole array on the stack.

use core::arch::x86_64::*;

/// Expands `$body` once per listed value of `$i`, so indices are compile-time.
macro_rules! unroll {
    ($i:ident in [$($n:literal),*] => $body:block) => {
        $( { #[allow(clippy::identity_op, clippy::erasing_op)] let $i: usize = $n; $body } )*
    };
}
pub(crate) use unroll;

/// Loads 16 elements as f32 lanes. u8 / i8 widen exactly (small integers).
pub(crate) trait Load: Copy {
    /// True for f32, whose blocks can be transposed without widening.
    const IS_F32: bool = false;
    /// # Safety
    /// AVX-512F/BW/VL available; `p` valid for 16 reads.
    unsafe fn load16(p: *const Self) -> __m512;
    /// # Safety
    /// AVX-512F/BW/VL available; `p` valid for `len < 16` reads. Lanes `>= len` are zero.
    unsafe fn load_part(p: *const Self, len: usize) -> __m512;
}

impl Load for f32 {
    const IS_F32: bool = true;
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn load16(p: *const f32) -> __m512 {
        // SAFETY: AVX-512F/BW/VL are enabled in this function; the caller makes `p` valid
        // for 16 reads.
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn load_part(p: *const f32, len: usize) -> __m512 {
        // SAFETY: AVX-512F/BW/VL are enabled in this function; the masked load reads (and
        // faults on) only the `len < 16` lanes the caller makes valid.
        unsafe { _mm512_maskz_loadu_ps(((1u32 << len) - 1) as u16, p) }
    }
}

macro_rules! byte_load {
    ($t:ty, $widen:ident) => {
        impl Load for $t {
            #[inline]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
            unsafe fn load16(p: *const $t) -> __m512 {
                // SAFETY: AVX-512F/BW/VL are enabled in this function; the caller makes `p`
                // valid for 16 reads.
                unsafe { _mm512_cvtepi32_ps($widen(_mm_loadu_si128(p as *const __m128i))) }
            }
            #[inline]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
            unsafe fn load_part(p: *const $t, len: usize) -> __m512 {
                // SAFETY: AVX-512F/BW/VL are enabled in this function; the masked load
                // reads (and faults on) only the `len < 16` lanes the caller makes valid.
                unsafe {
                    let bytes = _mm_maskz_loadu_epi8(((1u32 << len) - 1) as u16, p as *const i8);
                    _mm512_cvtepi32_ps($widen(bytes))
                }
            }
        }
    };
}
byte_load!(u8, _mm512_cvtepu8_epi32);
byte_load!(i8, _mm512_cvtepi8_epi32);

/// One accumulation step; the same operation the portable `fold` closures do.
trait Step {
    unsafe fn step(a: __m512, b: __m512, acc: __m512) -> __m512;
}
struct Dot;
struct L2;
impl Step for Dot {
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn step(a: __m512, b: __m512, acc: __m512) -> __m512 {
        _mm512_fmadd_ps(a, b, acc)
    }
}
impl Step for L2 {
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn step(a: __m512, b: __m512, acc: __m512) -> __m512 {
        let d = _mm512_sub_ps(a, b);
        _mm512_fmadd_ps(d, d, acc)
    }
}

/// Folds 16 lanes by halves: `l + l+8`, `l + l+4`, `l + l+2`, `l + l+1`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn hsum(s: __m512) -> f32 {
    let lo = _mm512_castps512_ps256(s);
    let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(s)));
    let a8 = _mm256_add_ps(lo, hi);
    let a4 = _mm_add_ps(_mm256_castps256_ps128(a8), _mm256_extractf128_ps::<1>(a8));
    let a2 = _mm_add_ps(a4, _mm_movehl_ps(a4, a4));
    let a1 = _mm_add_ss(a2, _mm_shuffle_ps::<1>(a2, a2));
    _mm_cvtss_f32(a1)
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[allow(unused_assignments)] // the last unrolled slot's `i += 16` is dead
/// The four accumulators of the documented order, added lane-wise: `hsum` of it is
/// the pair kernel's result.
unsafe fn fold_vec<A: Load, B: Load, S: Step>(a: &[A], b: &[B]) -> __m512 {
    // SAFETY: AVX-512F/BW/VL are enabled in this function. Every load starts at i < n with
    // i + 16 <= n (or a `len = n - i` partial load), so reads stay inside `a` and `b`,
    // which have n elements each.
    unsafe {
        let n = a.len();
        debug_assert_eq!(n, b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut i = 0;
        while i + 64 <= n {
            for (j, s) in acc.iter_mut().enumerate() {
                let k = i + 16 * j;
                *s = S::step(A::load16(pa.add(k)), B::load16(pb.add(k)), *s);
            }
            i += 64;
        }
        // Fewer than 64 left: whole chunks, then the partial one, into slots 0, 1, 2, 3.
        'rest: {
            unroll!(j in [0, 1, 2, 3] => {
                if i + 16 <= n {
                    acc[j] = S::step(A::load16(pa.add(i)), B::load16(pb.add(i)), acc[j]);
                    i += 16;
                } else {
                    if i < n {
                        let len = n - i;
                        acc[j] = S::step(A::load_part(pa.add(i), len), B::load_part(pb.add(i), len), acc[j]);
                    }
                    break 'rest;
                }
            });
        }
        _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]))
    }
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn fold<A: Load, B: Load, S: Step>(a: &[A], b: &[B]) -> f32 {
    // SAFETY: AVX-512F/BW/VL are enabled in this function; `fold_vec` has the same contract.
    unsafe { hsum(fold_vec::<A, B, S>(a, b)) }
}

/// # Safety
/// AVX-512F/BW/VL available; `q.len() == x.len()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn dot<T: Load>(q: &[f32], x: &[T]) -> f32 {
    // SAFETY: AVX-512F/BW/VL are enabled in this function and `fold` needs nothing else;
    // q.len() == x.len() by the contract.
    unsafe { fold::<f32, T, Dot>(q, x) }
}

/// # Safety
/// AVX-512F/BW/VL available; `q.len() == x.len()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn l2_sq<T: Load>(q: &[f32], x: &[T]) -> f32 {
    // SAFETY: AVX-512F/BW/VL are enabled in this function and `fold` needs nothing else;
    // q.len() == x.len() by the contract.
    unsafe { fold::<f32, T, L2>(q, x) }
}

/// # Safety
/// AVX-512F/BW/VL available.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn norm_sq<T: Load>(x: &[T]) -> f32 {
    // SAFETY: AVX-512F/BW/VL are enabled in this function and `fold` needs nothing else.
    unsafe { fold::<T, T, Dot>(x, x) }
}

/// `(q . x, |x|^2)` in one pass over `x`, each in exactly the order of `dot` and
/// `norm_sq` (two independent sets of accumulators), so the bits equal theirs.
///
/// # Safety
/// AVX-512F/BW/VL available; `q.len() == x.len()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[allow(unused_assignments)] // the last unrolled slot's `i += 16` is dead
pub(crate) unsafe fn dot_norm<T: Load>(q: &[f32], x: &[T]) -> (f32, f32) {
    // SAFETY: AVX-512F/BW/VL are enabled in this function; same contract as `dot_norm_vec`.
    unsafe {
        let (d, s) = dot_norm_vec(q, x);
        (hsum(d), hsum(s))
    }
}

/// `dot_norm` before the lane folds.
///
/// # Safety
/// AVX-512F/BW/VL available; `q.len() == x.len()`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[allow(unused_assignments)] // the last unrolled slot's `i += 16` is dead
unsafe fn dot_norm_vec<T: Load>(q: &[f32], x: &[T]) -> (__m512, __m512) {
    // SAFETY: AVX-512F/BW/VL are enabled in this function. Every load starts at i < n with
    // i + 16 <= n (or a `len = n - i` partial load), so reads stay inside `q` and `x`,
    // which have n elements each.
    unsafe {
        let n = q.len();
        debug_assert_eq!(n, x.len());
        let (pq, px) = (q.as_ptr(), x.as_ptr());
        let mut d = [_mm512_setzero_ps(); 4];
        let mut s = [_mm512_setzero_ps(); 4];
        let mut i = 0;
        while i + 64 <= n {
            unroll!(j in [0, 1, 2, 3] => {
                let k = i + 16 * j;
                let xv = T::load16(px.add(k));
                d[j] = _mm512_fmadd_ps(f32::load16(pq.add(k)), xv, d[j]);
                s[j] = _mm512_fmadd_ps(xv, xv, s[j]);
            });
            i += 64;
        }
        'rest: {
            unroll!(j in [0, 1, 2, 3] => {
                if i + 16 <= n {
                    let xv = T::load16(px.add(i));
                    d[j] = _mm512_fmadd_ps(f32::load16(pq.add(i)), xv, d[j]);
                    s[j] = _mm512_fmadd_ps(xv, xv, s[j]);
                    i += 16;
                } else {
                    if i < n {
                        let len = n - i;
                        let xv = T::load_part(px.add(i), len);
                        d[j] = _mm512_fmadd_ps(f32::load_part(pq.add(i), len), xv, d[j]);
                        s[j] = _mm512_fmadd_ps(xv, xv, s[j]);
                    }
                    break 'rest;
                }
            });
        }
        let add4 =
            |a: [__m512; 4]| _mm512_add_ps(_mm512_add_ps(a[0], a[1]), _mm512_add_ps(a[2], a[3]));
        (add4(d), add4(s))
    }
}

/// `hsum` of 16 registers at once: lane `r` of the result is `hsum(t[r])` bit for
/// bit. Each stage is one of `hsum`'s halvings done for several registers by a
/// shuffle pair and one add (addition commutes exactly, so operand order within
/// an add does not matter, only which lanes meet, and those are `hsum`'s).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn hsum16(t: &[__m512; 16]) -> __m512 {
    // `l + l+8`: u[i] holds rows 2i (lanes 0-7) and 2i+1 (lanes 8-15).
    let mut u = [_mm512_setzero_ps(); 8];
    unroll!(i in [0, 1, 2, 3, 4, 5, 6, 7] => {
        let (a, b) = (t[2 * i], t[2 * i + 1]);
        u[i] = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x44>(a, b),
            _mm512_shuffle_f32x4::<0xEE>(a, b),
        );
    });
    // `l + l+4`: v[m]'s 128-bit block b holds row 4m + b.
    let mut v = [_mm512_setzero_ps(); 4];
    unroll!(m in [0, 1, 2, 3] => {
        let (a, b) = (u[2 * m], u[2 * m + 1]);
        v[m] = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x88>(a, b),
            _mm512_shuffle_f32x4::<0xDD>(a, b),
        );
    });
    // `l + l+2`: block b of w[p] holds rows 8p + b (lanes 0-1) and 8p + 4 + b (2-3).
    let mut w = [_mm512_setzero_ps(); 2];
    unroll!(p in [0, 1] => {
        let (a, b) = (v[2 * p], v[2 * p + 1]);
        w[p] = _mm512_add_ps(_mm512_shuffle_ps::<0x44>(a, b), _mm512_shuffle_ps::<0xEE>(a, b));
    });
    // `l + l+1`: lane 4b + c holds row 4c + b; put row r in lane r.
    let z = _mm512_add_ps(
        _mm512_shuffle_ps::<0x88>(w[0], w[1]),
        _mm512_shuffle_ps::<0xDD>(w[0], w[1]),
    );
    let idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    _mm512_permutexvar_ps(idx, z)
}

/// Stores the first `len <= 16` lanes of `z` to `out`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn store_part(out: &mut [f32], z: __m512) {
    let len = out.len().min(16);
    // SAFETY: AVX-512F is enabled; the mask writes only the `len` lanes `out` holds.
    unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr(), ((1u32 << len) - 1) as u16, z) }
}

/// `out[i] = fold(q, row rows[i] of data)` (row-major, `dim` wide), each bit for
/// bit the pair kernel's, 16 rows per lane fold.
///
/// # Safety
/// AVX-512F/BW/VL available; `q.len() == dim`. Out-of-range rows panic.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn fold_rows<T: Load, S: Step>(
    q: &[f32],
    data: &[T],
    dim: usize,
    rows: &[u32],
    out: &mut [f32],
) {
    // SAFETY: AVX-512F/BW/VL are enabled in this function; every row slice is
    // bounds-checked to `dim` elements, `q` has `dim`.
    unsafe {
        for (g, o) in rows.chunks(16).zip(out.chunks_mut(16)) {
            let mut t = [_mm512_setzero_ps(); 16];
            for (slot, &r) in t.iter_mut().zip(g) {
                *slot = fold_vec::<f32, T, S>(q, &data[r as usize * dim..][..dim]);
            }
            store_part(o, hsum16(&t));
        }
    }
}

/// # Safety
/// AVX-512F/BW/VL available; `q.len() == dim`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn dot_rows<T: Load>(
    q: &[f32],
    data: &[T],
    dim: usize,
    rows: &[u32],
    out: &mut [f32],
) {
    // SAFETY: same contract as `fold_rows`.
    unsafe { fold_rows::<T, Dot>(q, data, dim, rows, out) }
}

/// # Safety
/// AVX-512F/BW/VL available; `q.len() == dim`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn l2_rows<T: Load>(
    q: &[f32],
    data: &[T],
    dim: usize,
    rows: &[u32],
    out: &mut [f32],
) {
    // SAFETY: same contract as `fold_rows`.
    unsafe { fold_rows::<T, L2>(q, data, dim, rows, out) }
}

/// `dot_norm` of many rows: `dots[i], norms[i]` for row `rows[i]`.
///
/// # Safety
/// AVX-512F/BW/VL available; `q.len() == dim`. Out-of-range rows panic.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn dot_norm_rows<T: Load>(
    q: &[f32],
    data: &[T],
    dim: usize,
    rows: &[u32],
    dots: &mut [f32],
    norms: &mut [f32],
) {
    // SAFETY: AVX-512F/BW/VL are enabled in this function; every row slice is
    // bounds-checked to `dim` elements, `q` has `dim`.
    unsafe {
        for ((g, od), on) in rows
            .chunks(16)
            .zip(dots.chunks_mut(16))
            .zip(norms.chunks_mut(16))
        {
            let mut td = [_mm512_setzero_ps(); 16];
            let mut ts = [_mm512_setzero_ps(); 16];
            for ((d, s), &r) in td.iter_mut().zip(ts.iter_mut()).zip(g) {
                (*d, *s) = dot_norm_vec(q, &data[r as usize * dim..][..dim]);
            }
            store_part(od, hsum16(&td));
            store_part(on, hsum16(&ts));
        }
    }
}
