//! AVX2 + FMA versions of the pairwise kernels, in exactly the documented order:
//! each 16-lane accumulator of the specification is a pair of 8-lane registers
//! (lanes 0-7, 8-15), so every lane sees the same fused chain as on AVX-512.

use core::arch::x86_64::*;

/// Sixteen lanes as two registers.
#[derive(Clone, Copy)]
pub(crate) struct V16(pub __m256, pub __m256);

/// Loads 16 elements as f32 lanes; u8 / i8 widen exactly.
pub(crate) trait Load: Copy {
    /// # Safety
    /// AVX2 + FMA available; `p` valid for 16 reads.
    unsafe fn load16(p: *const Self) -> V16;
    /// # Safety
    /// AVX2 + FMA available; `p` valid for 8 reads.
    unsafe fn load8(p: *const Self) -> __m256;
    /// # Safety
    /// AVX2 + FMA available; `p` valid for `len < 16` reads. Lanes `>= len` are zero
    /// (as the masked AVX-512 loads); nothing past `len` is read.
    unsafe fn load_part(p: *const Self, len: usize) -> V16;
}

impl Load for f32 {
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load16(p: *const f32) -> V16 {
        // SAFETY: AVX2 + FMA are enabled in this function; the caller makes `p` valid for
        // 16 reads.
        unsafe { V16(_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load8(p: *const f32) -> __m256 {
        // SAFETY: AVX2 + FMA are enabled in this function; the caller makes `p` valid for 8
        // reads.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load_part(p: *const f32, len: usize) -> V16 {
        // SAFETY: AVX2 + FMA are enabled in this function; only `len` elements are read
        // (masked lanes and bytes past `len` are not), and the caller makes `p` valid for
        // `len` reads.
        unsafe {
            // Masked-out lanes are neither read nor faulted on.
            let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            let m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(len as i32), lanes);
            let m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(len as i32 - 8), lanes);
            V16(_mm256_maskload_ps(p, m0), _mm256_maskload_ps(p.add(8), m1))
        }
    }
}

macro_rules! byte_load {
    ($t:ty, $widen:ident) => {
        impl Load for $t {
            #[inline]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn load16(p: *const $t) -> V16 {
                // SAFETY: AVX2 + FMA are enabled in this function; the caller makes `p`
                // valid for 16 reads.
                unsafe {
                    let b = _mm_loadu_si128(p as *const __m128i);
                    V16(
                        _mm256_cvtepi32_ps($widen(b)),
                        _mm256_cvtepi32_ps($widen(_mm_srli_si128::<8>(b))),
                    )
                }
            }
            #[inline]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn load8(p: *const $t) -> __m256 {
                // SAFETY: AVX2 + FMA are enabled in this function; the caller makes `p`
                // valid for 8 reads.
                unsafe { _mm256_cvtepi32_ps($widen(_mm_loadl_epi64(p as *const __m128i))) }
            }
            #[inline]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn load_part(p: *const $t, len: usize) -> V16 {
                // SAFETY: AVX2 + FMA are enabled in this function; only `len` elements are
                // read (masked lanes and bytes past `len` are not), and the caller makes
                // `p` valid for `len` reads.
                unsafe {
                    // Bytes gathered into two words (no memcpy call), zero past `len`.
                    let (mut lo, mut hi) = (0u64, 0u64);
                    for i in 0..len.min(8) {
                        lo |= (*(p as *const u8).add(i) as u64) << (8 * i);
                    }
                    for i in 8..len {
                        hi |= (*(p as *const u8).add(i) as u64) << (8 * (i - 8));
                    }
                    let b = _mm_set_epi64x(hi as i64, lo as i64);
                    V16(
                        _mm256_cvtepi32_ps($widen(b)),
                        _mm256_cvtepi32_ps($widen(_mm_srli_si128::<8>(b))),
                    )
                }
            }
        }
    };
}
byte_load!(u8, _mm256_cvtepu8_epi32);
byte_load!(i8, _mm256_cvtepi8_epi32);

trait Step {
    unsafe fn step(a: __m256, b: __m256, acc: __m256) -> __m256;
}
struct Dot;
struct L2;
impl Step for Dot {
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn step(a: __m256, b: __m256, acc: __m256) -> __m256 {
        _mm256_fmadd_ps(a, b, acc)
    }
}
impl Step for L2 {
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn step(a: __m256, b: __m256, acc: __m256) -> __m256 {
        let d = _mm256_sub_ps(a, b);
        _mm256_fmadd_ps(d, d, acc)
    }
}

#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn step16<S: Step>(a: V16, b: V16, acc: V16) -> V16 {
    // SAFETY: AVX2 + FMA are enabled in this function, all `Step` needs.
    unsafe { V16(S::step(a.0, b.0, acc.0), S::step(a.1, b.1, acc.1)) }
}

#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn add16(a: V16, b: V16) -> V16 {
    V16(_mm256_add_ps(a.0, b.0), _mm256_add_ps(a.1, b.1))
}

/// Folds 16 lanes by halves: `l + l+8`, `l + l+4`, `l + l+2`, `l + l+1`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn hsum(s: V16) -> f32 {
    let a8 = _mm256_add_ps(s.0, s.1);
    let a4 = _mm_add_ps(_mm256_castps256_ps128(a8), _mm256_extractf128_ps::<1>(a8));
    let a2 = _mm_add_ps(a4, _mm_movehl_ps(a4, a4));
    let a1 = _mm_add_ss(a2, _mm_shuffle_ps::<1>(a2, a2));
    _mm_cvtss_f32(a1)
}

/// The four accumulators of the documented order, added lane-wise: `hsum` of it is
/// the pair kernel's result.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn fold_vec<A: Load, B: Load, S: Step>(a: &[A], b: &[B]) -> V16 {
    // SAFETY: AVX2 + FMA are enabled in this function. Every load starts at i < n with i +
    // 16 <= n (or a `len = n - i` partial load), so reads stay inside `a` and `b`, which
    // have n elements each.
    unsafe {
        let n = a.len();
        debug_assert_eq!(n, b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let z = _mm256_setzero_ps();
        let mut acc = [V16(z, z); 4];
        let mut i = 0;
        while i + 64 <= n {
            for (j, s) in acc.iter_mut().enumerate() {
                let k = i + 16 * j;
                *s = step16::<S>(A::load16(pa.add(k)), B::load16(pb.add(k)), *s);
            }
            i += 64;
        }
        // Fewer than 64 left: whole chunks, then the partial one, into slots 0, 1, 2, 3.
        for s in acc.iter_mut() {
            if i + 16 <= n {
                *s = step16::<S>(A::load16(pa.add(i)), B::load16(pb.add(i)), *s);
                i += 16;
            } else {
                if i < n {
                    let len = n - i;
                    *s = step16::<S>(
                        A::load_part(pa.add(i), len),
                        B::load_part(pb.add(i), len),
                        *s,
                    );
                }
                break;
            }
        }
        add16(add16(acc[0], acc[1]), add16(acc[2], acc[3]))
    }
}

#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn fold<A: Load, B: Load, S: Step>(a: &[A], b: &[B]) -> f32 {
    // SAFETY: AVX2 + FMA are enabled in this function; `fold_vec` has the same contract.
    unsafe { hsum(fold_vec::<A, B, S>(a, b)) }
}

/// # Safety
/// AVX2 + FMA available; `q.len() == x.len()`.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn dot<T: Load>(q: &[f32], x: &[T]) -> f32 {
    // SAFETY: AVX2 + FMA are enabled in this function and `fold` needs nothing else;
    // q.len() == x.len() by the contract.
    unsafe { fold::<f32, T, Dot>(q, x) }
}

/// # Safety
/// AVX2 + FMA available; `q.len() == x.len()`.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn l2_sq<T: Load>(q: &[f32], x: &[T]) -> f32 {
    // SAFETY: AVX2 + FMA are enabled in this function and `fold` needs nothing else;
    // q.len() == x.len() by the contract.
    unsafe { fold::<f32, T, L2>(q, x) }
}

/// # Safety
/// AVX2 + FMA available.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn norm_sq<T: Load>(x: &[T]) -> f32 {
    // SAFETY: AVX2 + FMA are enabled in this function and `fold` needs nothing else.
    unsafe { fold::<T, T, Dot>(x, x) }
}

/// `(q . x, |x|^2)` in one pass over `x`, each in exactly the order of `dot` and
/// `norm_sq` (two independent sets of accumulators), so the bits equal theirs.
///
/// # Safety
/// AVX2 + FMA available; `q.len() == x.len()`.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn dot_norm<T: Load>(q: &[f32], x: &[T]) -> (f32, f32) {
    // SAFETY: AVX2 + FMA are enabled in this function; same contract as `dot_norm_vec`.
    unsafe {
        let (d, s) = dot_norm_vec(q, x);
        (hsum(d), hsum(s))
    }
}

/// `dot_norm` before the lane folds.
///
/// # Safety
/// AVX2 + FMA available; `q.len() == x.len()`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_norm_vec<T: Load>(q: &[f32], x: &[T]) -> (V16, V16) {
    // SAFETY: AVX2 + FMA are enabled in this function. Every load starts at i < n with i +
    // 16 <= n (or a `len = n - i` partial load), so reads stay inside `q` and `x`, which
    // have n elements each.
    unsafe {
        let n = q.len();
        debug_assert_eq!(n, x.len());
        let (pq, px) = (q.as_ptr(), x.as_ptr());
        let z = _mm256_setzero_ps();
        if n < 64 {
            // Short vectors (GloVe's 50): each accumulator takes at most one chunk,
            // so each is folded as soon as it is made; straight-line code keeps the
            // live registers few. The same operations as the loop below.
            let chunk = |j: usize| -> (V16, V16) {
                let i = 16 * j;
                if i + 16 <= n {
                    let xv = T::load16(px.add(i));
                    (
                        step16::<Dot>(f32::load16(pq.add(i)), xv, V16(z, z)),
                        step16::<Dot>(xv, xv, V16(z, z)),
                    )
                } else if i < n {
                    let len = n - i;
                    let xv = T::load_part(px.add(i), len);
                    (
                        step16::<Dot>(f32::load_part(pq.add(i), len), xv, V16(z, z)),
                        step16::<Dot>(xv, xv, V16(z, z)),
                    )
                } else {
                    (V16(z, z), V16(z, z))
                }
            };
            let ((d0, s0), (d1, s1)) = (chunk(0), chunk(1));
            let (d01, s01) = (add16(d0, d1), add16(s0, s1));
            let ((d2, s2), (d3, s3)) = (chunk(2), chunk(3));
            return (add16(d01, add16(d2, d3)), add16(s01, add16(s2, s3)));
        }
        let mut d = [V16(z, z); 4];
        let mut s = [V16(z, z); 4];
        let mut i = 0;
        while i + 64 <= n {
            for j in 0..4 {
                let k = i + 16 * j;
                let xv = T::load16(px.add(k));
                d[j] = step16::<Dot>(f32::load16(pq.add(k)), xv, d[j]);
                s[j] = step16::<Dot>(xv, xv, s[j]);
            }
            i += 64;
        }
        for j in 0..4 {
            if i + 16 <= n {
                let xv = T::load16(px.add(i));
                d[j] = step16::<Dot>(f32::load16(pq.add(i)), xv, d[j]);
                s[j] = step16::<Dot>(xv, xv, s[j]);
                i += 16;
            } else {
                if i < n {
                    let len = n - i;
                    let xv = T::load_part(px.add(i), len);
                    d[j] = step16::<Dot>(f32::load_part(pq.add(i), len), xv, d[j]);
                    s[j] = step16::<Dot>(xv, xv, s[j]);
                }
                break;
            }
        }
        (
            add16(add16(d[0], d[1]), add16(d[2], d[3])),
            add16(add16(s[0], s[1]), add16(s[2], s[3])),
        )
    }
}

/// `hsum` of 8 sixteen-lane values at once, each given as its `half`: lane `r`
/// of the result is `hsum(v[r])` bit for bit when `t[r] = half(v[r])`. Each stage is one of `hsum`'s halvings done for several values by
/// a shuffle pair and one add (addition commutes exactly, so only which lanes
/// meet matters, and those are `hsum`'s).
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn hsum8(t: &[__m256; 8]) -> __m256 {
    // (`l + l+8` was done by `half`.) `l + l+4`: u[i]'s low half holds row 2i,
    // its high half 2i+1.
    let mut u = [_mm256_setzero_ps(); 4];
    for (i, o) in u.iter_mut().enumerate() {
        let (a, b) = (t[2 * i], t[2 * i + 1]);
        *o = _mm256_add_ps(
            _mm256_permute2f128_ps::<0x20>(a, b),
            _mm256_permute2f128_ps::<0x31>(a, b),
        );
    }
    // `l + l+2`: half h of w[m] holds rows 4m + h (lanes 0-1) and 4m + 2 + h (2-3).
    let w0 = _mm256_add_ps(
        _mm256_shuffle_ps::<0x44>(u[0], u[1]),
        _mm256_shuffle_ps::<0xEE>(u[0], u[1]),
    );
    let w1 = _mm256_add_ps(
        _mm256_shuffle_ps::<0x44>(u[2], u[3]),
        _mm256_shuffle_ps::<0xEE>(u[2], u[3]),
    );
    // `l + l+1`: lane 4h + c holds row 2c + h; put row r in lane r.
    let z = _mm256_add_ps(
        _mm256_shuffle_ps::<0x88>(w0, w1),
        _mm256_shuffle_ps::<0xDD>(w0, w1),
    );
    _mm256_permutevar8x32_ps(z, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
}

/// `hsum`'s first halving, `l + l+8`: done as soon as a row is folded, so eight
/// rows wait in 8 registers rather than 16.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn half(v: V16) -> __m256 {
    _mm256_add_ps(v.0, v.1)
}

/// Stores the first `len <= 8` lanes of `z` to `out`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn store_part(out: &mut [f32], z: __m256) {
    if out.len() >= 8 {
        // SAFETY: AVX is enabled; `out` holds at least 8 floats.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), z) };
        return;
    }
    let mut all = [0.0f32; 8];
    // SAFETY: AVX is enabled; `all` holds 8 floats.
    unsafe { _mm256_storeu_ps(all.as_mut_ptr(), z) };
    let len = out.len().min(8);
    out[..len].copy_from_slice(&all[..len]);
}

/// `out[i] = fold(q, row rows[i] of data)` (row-major, `dim` wide), each bit for
/// bit the pair kernel's, 8 rows per lane fold.
///
/// # Safety
/// AVX2 + FMA available; `q.len() == dim`. Out-of-range rows panic.
#[target_feature(enable = "avx2,fma")]
unsafe fn fold_rows<T: Load, S: Step>(
    q: &[f32],
    data: &[T],
    dim: usize,
    rows: &[u32],
    out: &mut [f32],
) {
    // SAFETY: AVX2 + FMA are enabled in this function; every row slice is
    // bounds-checked to `dim` elements, `q` has `dim`.
    unsafe {
        for (g, o) in rows.chunks(8).zip(out.chunks_mut(8)) {
            let mut t = [_mm256_setzero_ps(); 8];
            for (slot, &r) in t.iter_mut().zip(g) {
                *slot = half(fold_vec::<f32, T, S>(q, &data[r as usize * dim..][..dim]));
            }
            store_part(o, hsum8(&t));
        }
    }
}

/// # Safety
/// AVX2 + FMA available; `q.len() == dim`.
#[target_feature(enable = "avx2,fma")]
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
/// AVX2 + FMA available; `q.len() == dim`.
#[target_feature(enable = "avx2,fma")]
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
/// AVX2 + FMA available; `q.len() == dim`. Out-of-range rows panic.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn dot_norm_rows<T: Load>(
    q: &[f32],
    data: &[T],
    dim: usize,
    rows: &[u32],
    dots: &mut [f32],
    norms: &mut [f32],
) {
    // SAFETY: AVX2 + FMA are enabled in this function; every row slice is
    // bounds-checked to `dim` elements, `q` has `dim`.
    unsafe {
        for ((g, od), on) in rows
            .chunks(8)
            .zip(dots.chunks_mut(8))
            .zip(norms.chunks_mut(8))
        {
            let mut td = [_mm256_setzero_ps(); 8];
            let mut ts = [_mm256_setzero_ps(); 8];
            for ((d, s), &r) in td.iter_mut().zip(ts.iter_mut()).zip(g) {
                let (vd, vs) = dot_norm_vec(q, &data[r as usize * dim..][..dim]);
                (*d, *s) = (half(vd), half(vs));
            }
            store_part(od, hsum8(&td));
            store_part(on, hsum8(&ts));
        }
    }
}
