//! Fast pairwise kernels: one f32 query against one stored vector.
//!
//! Summation order (identical in every ISA path, so results are reproducible and
//! the AVX-512 path can be checked bit for bit against the portable one):
//! 1. whole 64-element blocks go to four 16-lane accumulators, lane `l` of
//!    accumulator `a` taking element `64 b + 16 a + l` by fused multiply-add;
//! 2. the remaining whole 16-element chunks go to accumulators 0, 1, 2 in turn;
//! 3. a last partial chunk, zero-padded, goes to the next accumulator;
//! 4. the four accumulators are added as `(a0 + a1) + (a2 + a3)` lane-wise, then
//!    the 16 lanes are folded in halves (`l + l+8`, `l + l+4`, `l + l+2`, `l + l+1`).
//!
//! Four independent accumulators hide FMA latency on long vectors; plain loops
//! with one accumulator were latency-bound at ~5 cycles per 16 elements.

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
mod portable;

use crate::dtype::{native, Native};
use crate::isa::{self, Isa};
use crate::Element;

/// Which pair kernel.
#[derive(Clone, Copy)]
enum Op {
    Dot,
    L2,
}

/// Runs `op` over `(q, x)` on `isa`: the one dispatch of the pair kernels.
#[inline]
fn run<A: Element, T: Element>(isa: Isa, op: Op, q: &[A], x: &[T]) -> f32 {
    let n = q.len().min(x.len());
    let (q, x) = (&q[..n], &x[..n]);
    #[cfg(target_arch = "x86_64")]
    match isa {
        Isa::Avx512 => {
            // SAFETY: `isa` is only ever a path `Isa::supported` accepted (`active()`,
            // or a caller of `*_on` that checked), so the CPU has AVX-512F/BW/VL; the
            // slices were cut to equal length above.
            return unsafe {
                match (native(q), native(x), op) {
                    (Native::F32(q), Native::F32(x), Op::Dot) => avx512::dot(q, x),
                    (Native::F32(q), Native::U8(x), Op::Dot) => avx512::dot(q, x),
                    (Native::F32(q), Native::I8(x), Op::Dot) => avx512::dot(q, x),
                    (Native::F32(q), Native::F32(x), Op::L2) => avx512::l2_sq(q, x),
                    (Native::F32(q), Native::U8(x), Op::L2) => avx512::l2_sq(q, x),
                    (Native::F32(q), Native::I8(x), Op::L2) => avx512::l2_sq(q, x),
                    (Native::U8(x), _, _) => avx512::norm_sq(x),
                    (Native::I8(x), _, _) => avx512::norm_sq(x),
                }
            };
        }
        Isa::Avx2 => {
            // SAFETY: as for AVX-512: the path is supported, the slices equally long.
            return unsafe {
                match (native(q), native(x), op) {
                    (Native::F32(q), Native::F32(x), Op::Dot) => avx2::dot(q, x),
                    (Native::F32(q), Native::U8(x), Op::Dot) => avx2::dot(q, x),
                    (Native::F32(q), Native::I8(x), Op::Dot) => avx2::dot(q, x),
                    (Native::F32(q), Native::F32(x), Op::L2) => avx2::l2_sq(q, x),
                    (Native::F32(q), Native::U8(x), Op::L2) => avx2::l2_sq(q, x),
                    (Native::F32(q), Native::I8(x), Op::L2) => avx2::l2_sq(q, x),
                    (Native::U8(x), _, _) => avx2::norm_sq(x),
                    (Native::I8(x), _, _) => avx2::norm_sq(x),
                }
            };
        }
        Isa::Portable => {}
    }
    let _ = isa;
    match op {
        Op::Dot => portable::dot(q, x),
        Op::L2 => portable::l2_sq(q, x),
    }
}

/// Inner product `q . x`.
#[inline]
pub fn dot<T: Element>(q: &[f32], x: &[T]) -> f32 {
    debug_assert_eq!(q.len(), x.len());
    run(isa::active(), Op::Dot, q, x)
}

/// Squared Euclidean distance `|q - x|^2`, from the differences (no cancellation).
#[inline]
pub fn l2_sq<T: Element>(q: &[f32], x: &[T]) -> f32 {
    debug_assert_eq!(q.len(), x.len());
    run(isa::active(), Op::L2, q, x)
}

/// Squared norm `|x|^2`; equals `dot(x, x)` bit for bit for f32 `x`.
#[inline]
pub fn norm_sq<T: Element>(x: &[T]) -> f32 {
    run(isa::active(), Op::Dot, x, x)
}

/// `(dot(q, x), norm_sq(x))` in one pass over `x` (cosine scans), bit for bit the
/// two separate results.
#[inline]
pub fn dot_norm<T: Element>(q: &[f32], x: &[T]) -> (f32, f32) {
    dot_norm_on(isa::active(), q, x)
}

/// `dot_norm` on an explicit path. Panics if `isa` is not supported.
#[inline]
pub fn dot_norm_on<T: Element>(isa: Isa, q: &[f32], x: &[T]) -> (f32, f32) {
    debug_assert_eq!(q.len(), x.len());
    let n = q.len().min(x.len());
    let (q, x) = (&q[..n], &x[..n]);
    #[cfg(target_arch = "x86_64")]
    match checked(isa) {
        Isa::Avx512 => {
            // SAFETY: `checked` returned a supported path; the slices were cut to
            // equal length above.
            return unsafe {
                match native(x) {
                    Native::F32(x) => avx512::dot_norm(q, x),
                    Native::U8(x) => avx512::dot_norm(q, x),
                    Native::I8(x) => avx512::dot_norm(q, x),
                }
            };
        }
        Isa::Avx2 => {
            // SAFETY: as for AVX-512: the path is supported, the slices equally long.
            return unsafe {
                match native(x) {
                    Native::F32(x) => avx2::dot_norm(q, x),
                    Native::U8(x) => avx2::dot_norm(q, x),
                    Native::I8(x) => avx2::dot_norm(q, x),
                }
            };
        }
        Isa::Portable => {}
    }
    // Portable: the two folds (the same bits; no fused variant needed there).
    (
        run(Isa::Portable, Op::Dot, q, x),
        run(Isa::Portable, Op::Dot, x, x),
    )
}

/// `out[i] = dot(q, row rows[i] of data)` (`data` row-major, `dim` wide), each bit
/// for bit the pair kernel's; many rows share one dispatch and their lane folds
/// run together, which at small `dim` costs as much as the products.
///
/// # Panics
/// If `q.len() != dim`, `out.len() != rows.len()` or a row is out of range.
#[inline]
pub fn dot_rows<T: Element>(q: &[f32], data: &[T], dim: usize, rows: &[u32], out: &mut [f32]) {
    rows_on(isa::active(), Op::Dot, q, data, dim, rows, out)
}

/// `out[i] = l2_sq(q, row rows[i] of data)`, as `dot_rows`.
#[inline]
pub fn l2_rows<T: Element>(q: &[f32], data: &[T], dim: usize, rows: &[u32], out: &mut [f32]) {
    rows_on(isa::active(), Op::L2, q, data, dim, rows, out)
}

/// `(dots[i], norms[i]) = dot_norm(q, row rows[i] of data)`, as `dot_rows`.
#[inline]
pub fn dot_norm_rows<T: Element>(
    q: &[f32],
    data: &[T],
    dim: usize,
    rows: &[u32],
    dots: &mut [f32],
    norms: &mut [f32],
) {
    dot_norm_rows_on(isa::active(), q, data, dim, rows, dots, norms)
}

/// Final distances of many rows: `out[i] = metric's distance(q, row rows[i])`,
/// bit for bit `crate::distance` (L2 from the differences, inner
/// product negated, cosine from the fused dot and norm with `q_norm_sq`, its
/// square root and division done lane-wise on the CPU's widest path).
///
/// # Panics
/// As `dot_rows`.
pub fn distance_rows<T: Element>(
    metric: crate::Metric,
    q: &[f32],
    q_norm_sq: f32,
    data: &[T],
    dim: usize,
    rows: &[u32],
    out: &mut [f32],
) {
    use crate::Metric;
    assert_eq!(out.len(), rows.len(), "one output per row");
    let isa = isa::active();
    match metric {
        Metric::L2 => rows_on(isa, Op::L2, q, data, dim, rows, out),
        Metric::InnerProduct => {
            rows_on(isa, Op::Dot, q, data, dim, rows, out);
            crate::batch::finish_on(isa, metric, out, 0.0, &[]);
        }
        Metric::Cosine => {
            const CHUNK: usize = 64;
            let mut norms = [0.0f32; CHUNK];
            for (r, o) in rows.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
                let norms = &mut norms[..r.len()];
                dot_norm_rows_on(isa, q, data, dim, r, o, norms);
                crate::batch::finish_on(isa, metric, o, q_norm_sq, norms);
            }
        }
    }
}

/// `dot_rows` on an explicit path (`l2` picks `l2_rows`). Panics if `isa` is not
/// supported, or as `dot_rows`.
pub fn rows_on_path<T: Element>(
    isa: Isa,
    l2: bool,
    q: &[f32],
    data: &[T],
    dim: usize,
    rows: &[u32],
    out: &mut [f32],
) {
    let op = if l2 { Op::L2 } else { Op::Dot };
    rows_on(checked(isa), op, q, data, dim, rows, out)
}

/// Runs `$call` with `$x` bound to `$data` as its own element type's slice: the one
/// dtype dispatch of the many-rows kernels.
#[cfg(target_arch = "x86_64")]
macro_rules! per_dtype {
    ($data:expr, $x:ident => $call:expr) => {
        match native($data) {
            Native::F32($x) => $call,
            Native::U8($x) => $call,
            Native::I8($x) => $call,
        }
    };
}

fn rows_on<T: Element>(
    isa: Isa,
    op: Op,
    q: &[f32],
    data: &[T],
    dim: usize,
    rows: &[u32],
    out: &mut [f32],
) {
    assert_eq!(q.len(), dim, "query length differs from dim");
    assert_eq!(out.len(), rows.len(), "one output per row");
    #[cfg(target_arch = "x86_64")]
    match (isa, op) {
        (Isa::Avx512, Op::Dot) => {
            // SAFETY: the path is supported (`active()` or `checked`) and
            // `q.len() == dim` was asserted; the kernels bounds-check each row.
            return unsafe { per_dtype!(data, x => avx512::dot_rows(q, x, dim, rows, out)) };
        }
        (Isa::Avx512, Op::L2) => {
            // SAFETY: the path is supported (`active()` or `checked`) and
            // `q.len() == dim` was asserted; the kernels bounds-check each row.
            return unsafe { per_dtype!(data, x => avx512::l2_rows(q, x, dim, rows, out)) };
        }
        (Isa::Avx2, Op::Dot) => {
            // SAFETY: the path is supported (`active()` or `checked`) and
            // `q.len() == dim` was asserted; the kernels bounds-check each row.
            return unsafe { per_dtype!(data, x => avx2::dot_rows(q, x, dim, rows, out)) };
        }
        (Isa::Avx2, Op::L2) => {
            // SAFETY: the path is supported (`active()` or `checked`) and
            // `q.len() == dim` was asserted; the kernels bounds-check each row.
            return unsafe { per_dtype!(data, x => avx2::l2_rows(q, x, dim, rows, out)) };
        }
        (Isa::Portable, _) => {}
    }
    // Portable: one pair kernel per row (the same bits by construction).
    for (o, &r) in out.iter_mut().zip(rows) {
        *o = run(Isa::Portable, op, q, &data[r as usize * dim..][..dim]);
    }
}

/// `dot_norm_rows` on an explicit path. Panics if `isa` is not supported, or as
/// `dot_rows`.
pub fn dot_norm_rows_on<T: Element>(
    isa: Isa,
    q: &[f32],
    data: &[T],
    dim: usize,
    rows: &[u32],
    dots: &mut [f32],
    norms: &mut [f32],
) {
    assert_eq!(q.len(), dim, "query length differs from dim");
    assert!(
        dots.len() == rows.len() && norms.len() == rows.len(),
        "one output per row"
    );
    #[cfg(target_arch = "x86_64")]
    match checked(isa) {
        Isa::Avx512 => {
            // SAFETY: the path is supported (`active()` or `checked`) and
            // `q.len() == dim` was asserted; the kernels bounds-check each row.
            return unsafe {
                per_dtype!(data, x => avx512::dot_norm_rows(q, x, dim, rows, dots, norms))
            };
        }
        Isa::Avx2 => {
            // SAFETY: the path is supported (`active()` or `checked`) and
            // `q.len() == dim` was asserted; the kernels bounds-check each row.
            return unsafe {
                per_dtype!(data, x => avx2::dot_norm_rows(q, x, dim, rows, dots, norms))
            };
        }
        Isa::Portable => {}
    }
    for ((d, n), &r) in dots.iter_mut().zip(norms.iter_mut()).zip(rows) {
        (*d, *n) = dot_norm_on(Isa::Portable, q, &data[r as usize * dim..][..dim]);
    }
}

/// `dot` on an explicit path (benchmarks and cross-path tests).
///
/// # Panics
/// If `isa` is not supported by this CPU.
#[inline]
pub fn dot_on<T: Element>(isa: Isa, q: &[f32], x: &[T]) -> f32 {
    debug_assert_eq!(q.len(), x.len());
    run(checked(isa), Op::Dot, q, x)
}

/// `l2_sq` on an explicit path. Panics if `isa` is not supported.
#[inline]
pub fn l2_sq_on<T: Element>(isa: Isa, q: &[f32], x: &[T]) -> f32 {
    debug_assert_eq!(q.len(), x.len());
    run(checked(isa), Op::L2, q, x)
}

/// `norm_sq` on an explicit path. Panics if `isa` is not supported.
#[inline]
pub fn norm_sq_on<T: Element>(isa: Isa, x: &[T]) -> f32 {
    run(checked(isa), Op::Dot, x, x)
}

/// Asserts that `isa` can run here; free for `active()` paths (already checked).
#[inline(always)]
pub(crate) fn checked(isa: Isa) -> Isa {
    assert!(
        isa == Isa::Portable || isa == isa::active() || isa.supported(),
        "kernel path {isa} is not supported by this CPU"
    );
    isa
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(seed: u64, n: usize) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// The documented order with every step fused (`f32::mul_add` is exact even
    /// where it is a software call): the specification every fusing path meets.
    fn spec<A: Element, B: Element>(a: &[A], b: &[B], l2: bool) -> f32 {
        let mut acc = [[0.0f32; 16]; 4];
        let n = a.len();
        let step = |x: f32, y: f32, s: f32| {
            if l2 {
                (x - y).mul_add(x - y, s)
            } else {
                x.mul_add(y, s)
            }
        };
        let mut i = 0;
        while i + 64 <= n {
            for (j, lanes) in acc.iter_mut().enumerate() {
                for (l, s) in lanes.iter_mut().enumerate() {
                    let k = i + 16 * j + l;
                    *s = step(a[k].to_f32(), b[k].to_f32(), *s);
                }
            }
            i += 64;
        }
        let mut j = 0;
        while i < n {
            for (l, s) in acc[j].iter_mut().enumerate() {
                let (x, y) = if i + l < n {
                    (a[i + l].to_f32(), b[i + l].to_f32())
                } else {
                    (0.0, 0.0)
                };
                *s = step(x, y, *s);
            }
            i += 16;
            j += 1;
        }
        let mut s: Vec<f32> = (0..16)
            .map(|l| (acc[0][l] + acc[1][l]) + (acc[2][l] + acc[3][l]))
            .collect();
        let mut w = 8;
        while w > 0 {
            for l in 0..w {
                s[l] += s[l + w];
            }
            w /= 2;
        }
        s[0]
    }

    /// Sum of the magnitudes of the terms: the scale of an unfused path's error.
    fn mag<A: Element, B: Element>(a: &[A], b: &[B]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x.to_f32() * y.to_f32()).abs())
            .sum()
    }

    fn same(isa: Isa, got: f32, want: f32, scale: f32, what: &str) {
        if isa != Isa::Portable || isa::PORTABLE_FUSES {
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "{isa} {what}: {got} vs {want}"
            );
        } else {
            let tol = 1e-5 * scale.max(want.abs()).max(1.0);
            assert!((got - want).abs() <= tol, "{isa} {what}: {got} vs {want}");
        }
    }

    /// Every path this CPU runs meets the fused specification: bit for bit where
    /// it fuses (AVX2, AVX-512, portable on aarch64), within rounding otherwise.
    #[test]
    fn every_path_meets_the_spec() {
        for isa in Isa::available() {
            for n in (0..200).chain([255, 256, 257, 784, 960]) {
                let q = vals(n as u64, n);
                let xf = vals(n as u64 + 1000, n);
                let xu: Vec<u8> = xf.iter().map(|v| ((v + 1.0) * 127.5) as u8).collect();
                let xi: Vec<i8> = xf.iter().map(|v| (v * 127.0) as i8).collect();
                same(
                    isa,
                    dot_on(isa, &q, &xf),
                    spec(&q, &xf, false),
                    mag(&q, &xf),
                    &format!("dot f32 {n}"),
                );
                same(
                    isa,
                    dot_on(isa, &q, &xu),
                    spec(&q, &xu, false),
                    mag(&q, &xu),
                    &format!("dot u8 {n}"),
                );
                same(
                    isa,
                    dot_on(isa, &q, &xi),
                    spec(&q, &xi, false),
                    mag(&q, &xi),
                    &format!("dot i8 {n}"),
                );
                same(
                    isa,
                    l2_sq_on(isa, &q, &xf),
                    spec(&q, &xf, true),
                    0.0,
                    &format!("l2 f32 {n}"),
                );
                same(
                    isa,
                    l2_sq_on(isa, &q, &xu),
                    spec(&q, &xu, true),
                    0.0,
                    &format!("l2 u8 {n}"),
                );
                same(
                    isa,
                    l2_sq_on(isa, &q, &xi),
                    spec(&q, &xi, true),
                    0.0,
                    &format!("l2 i8 {n}"),
                );
                same(
                    isa,
                    norm_sq_on(isa, &xu),
                    spec(&xu, &xu, false),
                    0.0,
                    &format!("norm u8 {n}"),
                );
                same(
                    isa,
                    norm_sq_on(isa, &xi),
                    spec(&xi, &xi, false),
                    0.0,
                    &format!("norm i8 {n}"),
                );
                assert_eq!(
                    norm_sq_on(isa, &q).to_bits(),
                    dot_on(isa, &q, &q).to_bits(),
                    "{isa} norm == self dot {n}"
                );
                for (dn, d, nn) in [
                    (
                        dot_norm_on(isa, &q, &xf),
                        dot_on(isa, &q, &xf),
                        norm_sq_on(isa, &xf),
                    ),
                    (
                        dot_norm_on(isa, &q, &xu),
                        dot_on(isa, &q, &xu),
                        norm_sq_on(isa, &xu),
                    ),
                    (
                        dot_norm_on(isa, &q, &xi),
                        dot_on(isa, &q, &xi),
                        norm_sq_on(isa, &xi),
                    ),
                ] {
                    assert_eq!(dn.0.to_bits(), d.to_bits(), "{isa} fused dot {n}");
                    assert_eq!(dn.1.to_bits(), nn.to_bits(), "{isa} fused norm {n}");
                }
            }
        }
    }
}
