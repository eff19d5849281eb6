//! Position of the smallest value: the nearest-centroid step of k-means and
//! assignment, run once per vector over every centroid.

const L: usize = 16;

/// `(i, v[i])` for the first `i` holding the smallest value; `(0, +inf)` when no
/// value is below +inf (empty, all +inf or NaN). Same result as a sequential scan
/// with a strict `<`, in two passes LLVM vectorises: the minimum lane-wise, then
/// the first position holding it (`==` also matches -0.0 for 0.0, as the scan
/// keeps the first of the two).
pub fn argmin(v: &[f32]) -> (usize, f32) {
    let mut best = [f32::INFINITY; L];
    let whole = v.len() / L * L;
    for chunk in v[..whole].chunks_exact(L) {
        let chunk: &[f32; L] = chunk.try_into().expect("lane chunk");
        for l in 0..L {
            best[l] = if chunk[l] < best[l] {
                chunk[l]
            } else {
                best[l]
            };
        }
    }
    let mut m = best
        .iter()
        .fold(f32::INFINITY, |a, &b| if b < a { b } else { a });
    for &x in &v[whole..] {
        if x < m {
            m = x;
        }
    }
    if m == f32::INFINITY {
        return (0, f32::INFINITY);
    }
    let mut base = 0;
    for chunk in v.chunks(L) {
        if chunk.iter().fold(false, |hit, &x| hit | (x == m)) {
            let i = base + chunk.iter().position(|&x| x == m).expect("hit");
            return (i, v[i]);
        }
        base += chunk.len();
    }
    unreachable!("the minimum {m} is in the slice")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scan(v: &[f32]) -> (usize, f32) {
        let mut best = (0, f32::INFINITY);
        for (i, &x) in v.iter().enumerate() {
            if x < best.1 {
                best = (i, x);
            }
        }
        best
    }

    proptest! {
        #[test]
        fn equals_sequential_scan(v in proptest::collection::vec(
            prop_oneof![(-4i32..4).prop_map(|x| x as f32), Just(f32::INFINITY), Just(f32::NAN)], 0..70)) {
            let (a, b) = (argmin(&v), scan(&v));
            prop_assert_eq!(a.0, b.0);
            prop_assert_eq!(a.1.to_bits(), b.1.to_bits());
        }
    }
}
