//! The `keep` smallest entries of a row of distances (the candidates a scan
//! re-scores, the partitions a query probes), compiled for the CPU's widest path:
//! its passes are lane-wise compares and minima that vectorise.

use crate::isa::{self, Isa};

/// Reusable buffers of [`select_smallest`].
#[derive(Default, Debug, Clone)]
pub struct Selection {
    /// The selected (distance, index) pairs after a call, in no particular order.
    pub sel: Vec<(f32, u32)>,
    mins: Vec<f32>,
}

/// The `keep` smallest (distance, index) pairs of `row` by (distance, index),
/// left in `s.sel` in no particular order. NaN never enters.
///
/// A threshold first: the `keep`-th smallest of the minima of disjoint groups
/// bounds the `keep`-th smallest distance from above (those minima are `keep`
/// distinct entries). Then one pass collects everything at or under it, one
/// 16-distance chunk per lane-wise compare, and one selection cuts to exactly
/// the `keep` smallest. Short rows skip the bound.
pub fn select_smallest(row: &[f32], keep: usize, s: &mut Selection) {
    match isa::active() {
        // SAFETY: `active()` is a path this CPU supports.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { select_avx512(row, keep, s) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { select_avx2(row, keep, s) },
        _ => select(row, keep, s, mask_of),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn select_avx512(row: &[f32], keep: usize, s: &mut Selection) {
    use core::arch::x86_64::*;
    select(row, keep, s, |c, tau| {
        // SAFETY: AVX-512F is enabled here; `c` holds 16 floats.
        unsafe {
            let v = _mm512_loadu_ps(c.as_ptr());
            _mm512_cmp_ps_mask::<_CMP_LE_OQ>(v, _mm512_set1_ps(tau)) as u32
        }
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn select_avx2(row: &[f32], keep: usize, s: &mut Selection) {
    use core::arch::x86_64::*;
    select(row, keep, s, |c, tau| {
        // SAFETY: AVX is enabled here; `c` holds 16 floats.
        unsafe {
            let t = _mm256_set1_ps(tau);
            let lo = _mm256_cmp_ps::<_CMP_LE_OQ>(_mm256_loadu_ps(c.as_ptr()), t);
            let hi = _mm256_cmp_ps::<_CMP_LE_OQ>(_mm256_loadu_ps(c.as_ptr().add(8)), t);
            (_mm256_movemask_ps(lo) as u32) | ((_mm256_movemask_ps(hi) as u32) << 8)
        }
    })
}

/// Bit j set when `chunk[j] <= tau` (false for NaN).
#[inline(always)]
fn mask_of(chunk: &[f32], tau: f32) -> u32 {
    chunk
        .iter()
        .enumerate()
        .fold(0u32, |m, (j, &d)| m | (((d <= tau) as u32) << j))
}

/// `mask16(chunk, tau)` is `mask_of` for a whole 16-entry chunk, on the path's
/// own compare-to-mask instructions.
#[inline(always)]
fn select(row: &[f32], keep: usize, s: &mut Selection, mask16: impl Fn(&[f32], f32) -> u32) {
    let cmp = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    let Selection { sel, mins } = s;
    sel.clear();
    if keep == 0 {
        return;
    }
    // Minima of `g` interleaved groups (entry i in group i mod g): a lane-wise
    // minimum over consecutive g-wide chunks; g >= 2 keep so the bound is tight,
    // and rows shorter than 2 g skip it.
    let g = (2 * keep).next_power_of_two();
    let tau = if row.len() >= 2 * g {
        mins.clear();
        mins.resize(g, f32::INFINITY);
        for chunk in row.chunks(g) {
            for (m, &d) in mins.iter_mut().zip(chunk) {
                // `min` keeps `m` when `d` is NaN (so NaN never enters), and
                // compiles to a lane-wise minimum and a plain store.
                *m = m.min(d);
            }
        }
        *mins
            .select_nth_unstable_by(keep - 1, |a, b| a.total_cmp(b))
            .1
    } else {
        f32::INFINITY
    };
    // One 16-bit mask per chunk; most chunks hold no entry under the bound and
    // cost only the compare, the others push their hits by walking the mask.
    const L: usize = 16;
    let mut base = 0u32;
    for chunk in row.chunks(L) {
        let mut m = if chunk.len() == L {
            mask16(chunk, tau)
        } else {
            mask_of(chunk, tau)
        };
        while m != 0 {
            let j = m.trailing_zeros();
            sel.push((chunk[j as usize], base + j));
            m &= m - 1;
        }
        base += chunk.len() as u32;
    }
    if sel.len() > keep {
        sel.select_nth_unstable_by(keep - 1, cmp);
        sel.truncate(keep);
    }
}

#[cfg(test)]
mod tests {
    use super::{select_smallest, Selection};

    #[test]
    fn selection_equals_sorting_with_ties() {
        let mut state = 7u64;
        for n in [1usize, 5, 33, 400, 1000, 5000] {
            // Few distinct values, so ties are common.
            let row: Vec<f32> = (0..n)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((state >> 33) % 13) as f32
                })
                .collect();
            for keep in [1usize, 3, 26, n] {
                let mut all: Vec<(f32, u32)> = row
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| (d, i as u32))
                    .collect();
                all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                all.truncate(keep);
                let mut s = Selection::default();
                select_smallest(&row, keep, &mut s);
                let mut sel = s.sel;
                sel.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                assert_eq!(sel, all, "n {n} keep {keep}");
            }
        }
    }
}
