//! AVX2 + FMA pack (8 x 8 in-register transposes), norms and register tiles of
//! M queries x Z 8-lane columns. Same chains as every path: one fused
//! multiply-add per k per output, in k order.

use super::NR;
use crate::simd::avx2::Load;
use crate::Element;
use core::arch::x86_64::*;

/// Transposes 8 rows of 8 f32 in place: `r[c]` becomes column `c`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn transpose8(r: &mut [__m256; 8]) {
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
    let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    r[0] = _mm256_permute2f128_ps::<0x20>(u0, u4);
    r[1] = _mm256_permute2f128_ps::<0x20>(u1, u5);
    r[2] = _mm256_permute2f128_ps::<0x20>(u2, u6);
    r[3] = _mm256_permute2f128_ps::<0x20>(u3, u7);
    r[4] = _mm256_permute2f128_ps::<0x31>(u0, u4);
    r[5] = _mm256_permute2f128_ps::<0x31>(u1, u5);
    r[6] = _mm256_permute2f128_ps::<0x31>(u2, u6);
    r[7] = _mm256_permute2f128_ps::<0x31>(u3, u7);
}

/// # Safety
/// AVX2 + FMA available; `src` valid for `rows * dim` reads (`rows <= NR`),
/// `panel` for `NR * dim` writes.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn pack<T: Load + Element>(
    src: *const T,
    rows: usize,
    dim: usize,
    panel: *mut f32,
) {
    // SAFETY: AVX2 + FMA are enabled in this function. Row r0 + i < rows and column kb + t
    // < dim, so every read stays in the `rows * dim` elements of `src` and every write at
    // (kb + t) * NR + r0 + i in the `NR * dim` of `panel`, as the caller guarantees.
    unsafe {
        for g in 0..NR / 8 {
            let r0 = 8 * g;
            let valid = rows.saturating_sub(r0).min(8);
            if valid == 0 {
                break;
            }
            let mut kb = 0;
            while kb < dim {
                let kw = (dim - kb).min(8);
                let (from, to) = (src.add(r0 * dim + kb), panel.add(kb * NR + r0));
                if valid == 8 && kw == 8 {
                    let mut r = [_mm256_setzero_ps(); 8];
                    for (i, ri) in r.iter_mut().enumerate() {
                        *ri = T::load8(from.add(i * dim));
                    }
                    transpose8(&mut r);
                    for (t, rt) in r.iter().enumerate() {
                        _mm256_storeu_ps(to.add(t * NR), *rt);
                    }
                } else {
                    // Edge blocks (last rows of the partition, last columns of a dim
                    // that is not a multiple of 8): element by element.
                    for i in 0..valid {
                        for t in 0..kw {
                            *to.add(t * NR + i) = (*from.add(i * dim + t)).to_f32();
                        }
                    }
                }
                kb += 8;
            }
        }
    }
}

/// Start of 8-lane column `c` (vectors `8c..8c+8`) of a packed block.
#[inline(always)]
unsafe fn column(panels: *const f32, dim: usize, c: usize) -> *const f32 {
    // SAFETY: callers pass a column of the packed block, so the offset stays inside
    // `panels` (block plus slack).
    unsafe { panels.add((c / 4) * NR * dim + (c % 4) * 8) }
}

/// Stores lanes `< valid` (clamped to 8) of `v` at `p`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn store_valid(p: *mut f32, v: __m256, valid: usize) {
    // SAFETY: AVX2 + FMA are enabled in this function; callers make `p` valid for
    // `min(valid, 8)` writes and the mask stores only those lanes.
    unsafe {
        if valid >= 8 {
            _mm256_storeu_ps(p, v);
        } else if valid > 0 {
            let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(valid as i32), lanes);
            _mm256_maskstore_ps(p, mask, v);
        }
    }
}

/// # Safety
/// AVX2 + FMA available; `panels` holds the packed block plus slack, `norms`
/// valid for `nvec` writes.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn norms(panels: *const f32, nvec: usize, dim: usize, norms: *mut f32) {
    // SAFETY: AVX2 + FMA are enabled in this function. Columns below nvec.div_ceil(8),
    // rounded up to 8, lie in the packed block plus slack the caller guarantees;
    // `store_valid` writes only indices < nvec of `norms`.
    unsafe {
        // Eight columns (two panels) at a time: eight independent chains hide FMA latency.
        for c0 in (0..nvec.div_ceil(8)).step_by(8) {
            let mut acc = [_mm256_setzero_ps(); 8];
            let mut cols = [panels; 8];
            for (z, c) in cols.iter_mut().enumerate() {
                *c = column(panels, dim, c0 + z);
            }
            for k in 0..dim {
                for (a, c) in acc.iter_mut().zip(&cols) {
                    let v = _mm256_loadu_ps(c.add(k * NR));
                    *a = _mm256_fmadd_ps(v, v, *a);
                }
            }
            for (z, a) in acc.iter().enumerate() {
                let j = 8 * (c0 + z);
                store_valid(norms.add(j.min(nvec)), *a, nvec.saturating_sub(j));
            }
        }
    }
}

/// M queries x Z columns (8 Z vectors starting at column `c0`); the accumulators
/// stay in registers (M x Z + Z + 1 <= 16).
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile<const M: usize, const Z: usize>(
    q: *const f32,
    dim: usize,
    panels: *const f32,
    c0: usize,
    nvec: usize,
    out: *mut f32,
    ldo: usize,
) {
    // SAFETY: AVX2 + FMA are enabled in this function. `sweep` keeps columns c0..c0 + Z
    // inside the packed block plus slack, rows i < M <= mr of `q` are readable, and
    // `store_valid` writes only j < nvec of rows i < M of `out`.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); Z]; M];
        let mut cols = [panels; Z];
        for (z, c) in cols.iter_mut().enumerate() {
            *c = column(panels, dim, c0 + z);
        }
        for k in 0..dim {
            let mut x = [_mm256_setzero_ps(); Z];
            for (xz, c) in x.iter_mut().zip(&cols) {
                *xz = _mm256_loadu_ps(c.add(k * NR));
            }
            for (i, row) in acc.iter_mut().enumerate() {
                let qv = _mm256_broadcast_ss(&*q.add(i * dim + k));
                for (s, xz) in row.iter_mut().zip(&x) {
                    *s = _mm256_fmadd_ps(qv, *xz, *s);
                }
            }
        }
        for (i, row) in acc.iter().enumerate() {
            for (z, s) in row.iter().enumerate() {
                let j = 8 * (c0 + z);
                store_valid(out.add(i * ldo + j.min(nvec)), *s, nvec.saturating_sub(j));
            }
        }
    }
}

/// Runs M queries over every column, Z at a time; a short tail takes narrower
/// tiles rather than computing discarded lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn sweep<const M: usize, const Z: usize>(
    q: *const f32,
    dim: usize,
    panels: *const f32,
    nvec: usize,
    out: *mut f32,
    ldo: usize,
) {
    // SAFETY: AVX2 + FMA are enabled in this function; every tile covers columns c0..c0 +
    // width <= ncols, and the caller's contract for `q`, `panels` and `out` holds for each.
    unsafe {
        let ncols = nvec.div_ceil(8);
        let mut c0 = 0;
        while c0 < ncols {
            let left = ncols - c0;
            let step = if left >= Z {
                tile::<M, Z>(q, dim, panels, c0, nvec, out, ldo);
                Z
            } else if left >= 4 && Z > 4 {
                tile::<M, 4>(q, dim, panels, c0, nvec, out, ldo);
                4
            } else if left >= 2 && Z > 2 {
                tile::<M, 2>(q, dim, panels, c0, nvec, out, ldo);
                2
            } else {
                tile::<M, 1>(q, dim, panels, c0, nvec, out, ldo);
                1
            };
            c0 += step;
        }
    }
}

/// Up to 6 queries: enough chains (M x Z >= 8) in 16 registers.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn dots6(
    q: *const f32,
    mr: usize,
    dim: usize,
    panels: *const f32,
    nvec: usize,
    out: *mut f32,
    ldo: usize,
) {
    // SAFETY: AVX2 + FMA are enabled in this function; the caller's contract of `dots` with
    // mr <= 6 holds for each sweep.
    unsafe {
        match mr {
            1 => sweep::<1, 8>(q, dim, panels, nvec, out, ldo),
            2 => sweep::<2, 4>(q, dim, panels, nvec, out, ldo),
            3 => sweep::<3, 4>(q, dim, panels, nvec, out, ldo),
            4 => sweep::<4, 2>(q, dim, panels, nvec, out, ldo),
            5 => sweep::<5, 2>(q, dim, panels, nvec, out, ldo),
            6 => sweep::<6, 2>(q, dim, panels, nvec, out, ldo),
            _ => unreachable!("AVX2 tile height {mr} outside 1..=6"),
        }
    }
}

/// # Safety
/// AVX2 + FMA available; `1 <= mr <= MR`; `q` valid for `mr * dim` reads,
/// `panels` holds the packed block plus slack, `out` valid for writes at
/// `i * ldo + j`, `i < mr`, `j < nvec`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dots(
    q: *const f32,
    mr: usize,
    dim: usize,
    panels: *const f32,
    nvec: usize,
    out: *mut f32,
    ldo: usize,
) {
    // SAFETY: AVX2 + FMA are enabled in this function; queries 0..first and first..mr
    // (offset by `first` rows of `q` and `out`) are both within the `mr` rows the caller
    // guarantees.
    unsafe {
        let first = mr.min(6);
        dots6(q, first, dim, panels, nvec, out, ldo);
        if mr > first {
            dots6(
                q.add(first * dim),
                mr - first,
                dim,
                panels,
                nvec,
                out.add(first * ldo),
                ldo,
            );
        }
    }
}
