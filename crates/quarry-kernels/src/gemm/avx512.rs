//! AVX-512 pack (16x16 in-register transposes) and MR x NR register tiles.
//! As in `simd::avx512`, register arrays are indexed by constants only.

use super::{MR, NR};
use crate::simd::avx512::{unroll, Load};
use core::arch::x86_64::*;

/// Transposes 16 rows of 16 f32 in place: `r[c]` becomes column `c`.
/// Unpack pairs, unpack quads, then two rounds of 128-bit block shuffles.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn transpose16(r: &mut [__m512; 16]) {
    let mut t = [_mm512_setzero_ps(); 16];
    for g in 0..8 {
        t[2 * g] = _mm512_unpacklo_ps(r[2 * g], r[2 * g + 1]);
        t[2 * g + 1] = _mm512_unpackhi_ps(r[2 * g], r[2 * g + 1]);
    }
    // Per 4-row group: columns 4b, 4b+1, 4b+2, 4b+3 of each 128-bit block b.
    for g in 0..4 {
        let (a0, a1, b0, b1) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
        let pd = _mm512_castps_pd;
        r[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(a0), pd(b0)));
        r[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(a0), pd(b0)));
        r[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(a1), pd(b1)));
        r[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(a1), pd(b1)));
    }
    // Combine 128-bit blocks of row groups (0,1) and (2,3): t[c] holds columns c and c+8
    // for c < 4 (even blocks), t[c+4] columns c+4 and c+12 (odd blocks).
    for h in 0..2 {
        for c in 0..4 {
            let (a, b) = (r[8 * h + c], r[8 * h + c + 4]);
            t[8 * h + c] = _mm512_shuffle_f32x4::<0x88>(a, b);
            t[8 * h + c + 4] = _mm512_shuffle_f32x4::<0xdd>(a, b);
        }
    }
    for c in 0..8 {
        r[c] = _mm512_shuffle_f32x4::<0x88>(t[c], t[c + 8]);
        r[c + 8] = _mm512_shuffle_f32x4::<0xdd>(t[c], t[c + 8]);
    }
}

/// Packs one full 16 x 16 f32 block (rows `src + i * dim`, 16 columns) into
/// `panel[t * NR + i]`. The 128-bit row chunks are placed by insert-loads (which
/// can issue on port 0 as well as 5), leaving only the two in-lane shuffle stages:
/// half the port-5 work of `transpose16`. Register R(b, j), lane L holds row
/// 4L + j, columns 4b..4b+3; a 4 x 4 in-lane transpose of R(b, 0..4) then yields
/// columns 4b..4b+3 with lane L = rows 4L..4L+3.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn pack_block_f32(src: *const f32, dim: usize, panel: *mut f32) {
    // SAFETY: AVX-512F/BW/VL are enabled in this function; the caller (`pack`) hands a full
    // 16 x 16 f32 block: rows 4l + j < 16 and columns 4b..4b + 4 < 16 of `src`, and `panel`
    // holds 16 columns of NR lanes.
    unsafe {
        let pd = _mm512_castps_pd;
        let ps = _mm512_castpd_ps;
        unroll!(b in [0, 1, 2, 3] => {
            let mut r = [_mm512_setzero_ps(); 4];
            unroll!(j in [0, 1, 2, 3] => {
                let row = |l: usize| src.add((4 * l + j) * dim + 4 * b);
                let v = _mm512_castps128_ps512(_mm_loadu_ps(row(0)));
                let v = _mm512_insertf32x4::<1>(v, _mm_loadu_ps(row(1)));
                let v = _mm512_insertf32x4::<2>(v, _mm_loadu_ps(row(2)));
                r[j] = _mm512_insertf32x4::<3>(v, _mm_loadu_ps(row(3)));
            });
            let t0 = _mm512_unpacklo_ps(r[0], r[1]);
            let t1 = _mm512_unpackhi_ps(r[0], r[1]);
            let t2 = _mm512_unpacklo_ps(r[2], r[3]);
            let t3 = _mm512_unpackhi_ps(r[2], r[3]);
            let cols = [
                ps(_mm512_unpacklo_pd(pd(t0), pd(t2))),
                ps(_mm512_unpackhi_pd(pd(t0), pd(t2))),
                ps(_mm512_unpacklo_pd(pd(t1), pd(t3))),
                ps(_mm512_unpackhi_pd(pd(t1), pd(t3))),
            ];
            unroll!(c in [0, 1, 2, 3] => {
                _mm512_storeu_ps(panel.add((4 * b + c) * NR), cols[c]);
            });
        });
    }
}

/// # Safety
/// AVX-512F/BW/VL available; `src` valid for `rows * dim` reads (`rows <= NR`),
/// `panel` for `NR * dim` writes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn pack<T: Load>(src: *const T, rows: usize, dim: usize, panel: *mut f32) {
    // SAFETY: AVX-512F/BW/VL are enabled in this function. Row r0 + i < rows and column kb
    // + t < dim, so reads stay in the `rows * dim` elements of `src` and writes in the `NR
    // * dim` of `panel`, as the caller guarantees; the prefetch address is formed with
    // wrapping_add and never dereferenced.
    unsafe {
        for half in 0..2 {
            let r0 = 16 * half;
            let valid = rows.saturating_sub(r0).min(16);
            if valid == 0 {
                break;
            }
            let mut kb = 0;
            while kb < dim {
                let kw = (dim - kb).min(16);
                let (from, to) = (src.add(r0 * dim + kb), panel.add(kb * NR + r0));
                if T::IS_F32 && valid == 16 && kw == 16 {
                    pack_block_f32(from as *const f32, dim, to);
                } else {
                    // Rows are too short for the hardware prefetcher to lock onto; fetch
                    // the same columns of the next 16 rows (contiguous) one step ahead.
                    // Measured: ~20% faster for u8; no gain on the f32 insert-load path.
                    for i in 0..valid {
                        let next = from.add(i * dim).wrapping_add(16 * dim);
                        _mm_prefetch::<_MM_HINT_T0>(next as *const i8);
                    }
                    pack_block(from, valid, kw, dim, to);
                }
                kb += 16;
            }
        }
    }
}

/// Packs a possibly partial block (`valid` rows, `kw` columns) through a full
/// register transpose; missing rows read as zero.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn pack_block<T: Load>(src: *const T, valid: usize, kw: usize, dim: usize, panel: *mut f32) {
    // SAFETY: AVX-512F/BW/VL are enabled in this function; `pack` passes `valid` readable
    // rows of `kw <= 16` columns and room for `kw` panel columns of NR lanes.
    unsafe {
        let mut r = [_mm512_setzero_ps(); 16];
        unroll!(i in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] => {
            if i < valid {
                let p = src.add(i * dim);
                r[i] = if kw == 16 { T::load16(p) } else { T::load_part(p, kw) };
            }
        });
        transpose16(&mut r);
        unroll!(t in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] => {
            if t < kw {
                _mm512_storeu_ps(panel.add(t * NR), r[t]);
            }
        });
    }
}

/// Start of 16-lane column `c` (vectors `16c..16c+16`) of a packed block.
#[inline(always)]
unsafe fn column(panels: *const f32, dim: usize, c: usize) -> *const f32 {
    // SAFETY: callers pass a column of the packed block, so the offset stays inside
    // `panels` (block plus slack).
    unsafe { panels.add((c / 2) * NR * dim + (c % 2) * 16) }
}

/// Stores lanes `< valid` (clamped to 16) of `v` at `p`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn store_valid(p: *mut f32, v: __m512, valid: usize) {
    // SAFETY: AVX-512F/BW/VL are enabled in this function; callers make `p` valid for
    // `min(valid, 16)` writes and the mask stores only those lanes.
    unsafe {
        if valid >= 16 {
            _mm512_storeu_ps(p, v);
        } else if valid > 0 {
            _mm512_mask_storeu_ps(p, ((1u32 << valid) - 1) as u16, v);
        }
    }
}

/// # Safety
/// AVX-512F/BW/VL available; `panels` holds the packed block plus slack, `norms`
/// valid for `nvec` writes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn norms(panels: *const f32, nvec: usize, dim: usize, norms: *mut f32) {
    // SAFETY: AVX-512F/BW/VL are enabled in this function. Columns below nvec.div_ceil(16),
    // rounded up to 8, lie in the packed block plus slack the caller guarantees;
    // `store_valid` writes only indices < nvec of `norms`.
    unsafe {
        // Eight columns (four panels) at a time: eight independent chains hide FMA latency.
        for c0 in (0..nvec.div_ceil(16)).step_by(8) {
            let mut acc = [_mm512_setzero_ps(); 8];
            for k in 0..dim {
                unroll!(z in [0, 1, 2, 3, 4, 5, 6, 7] => {
                    let v = _mm512_loadu_ps(column(panels, dim, c0 + z).add(k * NR));
                    acc[z] = _mm512_fmadd_ps(v, v, acc[z]);
                });
            }
            unroll!(z in [0, 1, 2, 3, 4, 5, 6, 7] => {
                let j = 16 * (c0 + z);
                store_valid(norms.add(j.min(nvec)), acc[z], nvec.saturating_sub(j));
            });
        }
    }
}

/// M queries x Z columns (16 Z vectors starting at column `c0`), unrolled over M
/// and Z so the accumulators live in registers.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn tile<const M: usize, const Z: usize>(
    q: *const f32,
    dim: usize,
    panels: *const f32,
    c0: usize,
    nvec: usize,
    out: *mut f32,
    ldo: usize,
) {
    // SAFETY: AVX-512F/BW/VL are enabled in this function. `dots` keeps columns c0..c0 + Z
    // inside the packed block plus slack, rows i < M <= mr of `q` are readable, and
    // `store_valid` writes only j < nvec of rows i < M of `out`.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); Z]; M];
        let mut cols = [panels; Z];
        for (z, c) in cols.iter_mut().enumerate() {
            *c = column(panels, dim, c0 + z);
        }
        for k in 0..dim {
            let mut x = [_mm512_setzero_ps(); Z];
            for (xz, c) in x.iter_mut().zip(&cols) {
                *xz = _mm512_loadu_ps(c.add(k * NR));
            }
            for (i, row) in acc.iter_mut().enumerate() {
                let qv = _mm512_set1_ps(*q.add(i * dim + k));
                for (s, xz) in row.iter_mut().zip(&x) {
                    *s = _mm512_fmadd_ps(qv, *xz, *s);
                }
            }
        }
        for (i, row) in acc.iter().enumerate() {
            for (z, s) in row.iter().enumerate() {
                let j = 16 * (c0 + z);
                store_valid(out.add(i * ldo + j.min(nvec)), *s, nvec.saturating_sub(j));
            }
        }
    }
}

/// # Safety
/// AVX-512F/BW/VL available; `1 <= mr <= MR`; `q` valid for `mr * dim` reads,
/// `panels` holds the packed block plus slack, `out` valid for writes at
/// `i * ldo + j`, `i < mr`, `j < nvec`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn dots(
    q: *const f32,
    mr: usize,
    dim: usize,
    panels: *const f32,
    nvec: usize,
    out: *mut f32,
    ldo: usize,
) {
    // SAFETY: AVX-512F/BW/VL are enabled in this function; every tile covers rows < mr and
    // columns < ncols (plus slack), within the caller's contract for `q`, `panels` and
    // `out`.
    unsafe {
        let ncols = nvec.div_ceil(16);
        // Z columns per step so that M x Z >= 8 chains are in flight; a last column
        // with only 16 vectors left skips the second register when M alone is enough.
        macro_rules! sweep {
            ($m:literal, $z:literal) => {{
                let mut c0 = 0;
                while c0 < ncols {
                    if $z == 2 && c0 + 1 == ncols {
                        tile::<$m, 1>(q, dim, panels, c0, nvec, out, ldo);
                    } else {
                        tile::<$m, $z>(q, dim, panels, c0, nvec, out, ldo);
                    }
                    c0 += $z;
                }
            }};
        }
        match mr {
            1 => sweep!(1, 8),
            2 => sweep!(2, 4),
            3 => sweep!(3, 4),
            4 => sweep!(4, 2),
            5 => sweep!(5, 2),
            6 => sweep!(6, 2),
            7 => sweep!(7, 2),
            8 => sweep!(8, 2),
            9 => sweep!(9, 2),
            10 => sweep!(10, 2),
            11 => sweep!(11, 2),
            12 => sweep!(12, 2),
            _ => unreachable!("tile height {mr} outside 1..={MR}"),
        }
    }
}
