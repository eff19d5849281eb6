//! Splitting a partition that outgrew its bound at a flush: balanced 2-means
//! over its rows (the build's k-means, spherical for cosine), the first half
//! keeping the partition number with the new first centroid, the second half a new
//! partition appended with the second centroid. Rows keep ascending id order in
//! both halves.
//!
//! Then the vectors around the split are reassigned (SPFresh's LIRE): the
//! nearest partitions to the two new centroids are read, and
//! - a vector of the split partition moves to a neighbour whose centroid is
//!   nearer to it than both new centroids;
//! - a neighbour's vector moves to a new centroid nearer to it than its own.
//!
//! Other vectors stay where they are, even when another neighbour's centroid is
//! nearer: the balanced build put some vectors off their nearest centroid on
//! purpose, and only the split changed which centroids exist.

use crate::EngineError;
use quarry_formats::MemorySource;
use quarry_kernels::{DType, Metric};
use quarry_partition::{assign_balanced, train_centroids, KMeansConfig, NoProgress, Rows};
use quarry_routing::CentroidIndex;
use std::collections::BTreeMap;

/// The two halves of a partition: per half its centroid and the indices of its
/// rows (ascending).
pub(crate) struct Halves {
    pub centroids: [Vec<f32>; 2],
    pub rows: [Vec<usize>; 2],
}

pub(crate) fn split_rows(
    data: &[u8],
    dim: usize,
    dtype: DType,
    metric: Metric,
    seed: u64,
) -> Result<Halves, EngineError> {
    let f32s: Vec<f32>;
    let src = match dtype {
        DType::F32 => {
            f32s = bytemuck::pod_collect_to_vec(data);
            MemorySource::f32(&f32s, dim)?
        }
        DType::U8 => MemorySource::u8(data, dim)?,
        DType::I8 => MemorySource::i8(bytemuck::cast_slice(data), dim)?,
    };
    let rows = Rows {
        src: &src,
        spherical: metric == Metric::Cosine,
    };
    let km = KMeansConfig::new(2, seed);
    let c = train_centroids(&rows, &km, &NoProgress)?;
    let a = assign_balanced(&rows, &c, km.balance_eps, km.chunk_rows, &NoProgress)?;
    let mut halves: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
    for (i, &p) in a.partition_of.iter().enumerate() {
        halves[p as usize].push(i);
    }
    Ok(Halves {
        centroids: [c[..dim].to_vec(), c[dim..].to_vec()],
        rows: halves,
    })
}

/// The rows `idx` (ascending) of `data`, `row` bytes each.
pub(crate) fn pick_rows(data: &[u8], idx: &[usize], row: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(idx.len() * row);
    idx.iter()
        .for_each(|&i| out.extend_from_slice(&data[i * row..(i + 1) * row]));
    out
}

/// Stored rows as f32.
pub(crate) fn rows_f32(data: &[u8], dtype: DType) -> Vec<f32> {
    to_f32(data, dtype)
}

fn to_f32(data: &[u8], dtype: DType) -> Vec<f32> {
    match dtype {
        DType::F32 => bytemuck::pod_collect_to_vec(data),
        DType::U8 => data.iter().map(|&v| v as f32).collect(),
        DType::I8 => data.iter().map(|&v| v as i8 as f32).collect(),
    }
}

/// The mean of `data`'s rows (of unit rows, then normalised, when `spherical`):
/// the centroid k-means would give a partition holding them.
pub(crate) fn mean_centroid(data: &[u8], dim: usize, dtype: DType, spherical: bool) -> Vec<f32> {
    let v = to_f32(data, dtype);
    let mut sum = vec![0f64; dim];
    for r in v.chunks_exact(dim) {
        let scale = if spherical {
            let n = r
                .iter()
                .map(|x| (*x as f64) * (*x as f64))
                .sum::<f64>()
                .sqrt();
            if n > 0.0 {
                1.0 / n
            } else {
                0.0
            }
        } else {
            1.0
        };
        sum.iter_mut()
            .zip(r)
            .for_each(|(s, x)| *s += *x as f64 * scale);
    }
    let n = (v.len() / dim).max(1) as f64;
    let mut c: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
    if spherical {
        quarry_partition::normalize(&mut c);
    }
    c
}

/// The `count` partitions (other than `pair`) whose centroids are nearest to
/// either centroid of `pair`, nearest first.
pub(crate) fn neighbours(
    centroids: &[f32],
    dim: usize,
    metric: Metric,
    pair: [u32; 2],
    count: usize,
) -> Result<Vec<u32>, EngineError> {
    let all = CentroidIndex::new(centroids.to_vec(), dim, metric);
    let mut q = centroids[pair[0] as usize * dim..(pair[0] as usize + 1) * dim].to_vec();
    q.extend_from_slice(&centroids[pair[1] as usize * dim..(pair[1] as usize + 1) * dim]);
    let ranked = all.rank_exact(&q, count + 2)?;
    let mut near: Vec<(f32, u32)> = ranked
        .per_query
        .iter()
        .flatten()
        .filter(|(p, _)| !pair.contains(p))
        .map(|&(p, d)| (d, p))
        .collect();
    near.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut out: Vec<u32> = Vec::with_capacity(count);
    for (_, p) in near {
        if !out.contains(&p) && out.len() < count {
            out.push(p);
        }
    }
    Ok(out)
}

/// Moves vectors between the split `pair` and its neighbours `near` (all in
/// `rows`) as the module docs say; returns how many moved. Rows stay in
/// ascending id order in every partition.
#[allow(clippy::too_many_arguments)]
pub(crate) fn reassign(
    pair: [u32; 2],
    near: &[u32],
    rows: &mut BTreeMap<u32, (Vec<u64>, Vec<u8>)>,
    centroids: &[f32],
    dim: usize,
    dtype: DType,
    metric: Metric,
) -> Result<u64, EngineError> {
    let local: Vec<u32> = pair.iter().chain(near).copied().collect();
    let mut lc = Vec::with_capacity(local.len() * dim);
    for &p in &local {
        lc.extend_from_slice(&centroids[p as usize * dim..(p as usize + 1) * dim]);
    }
    let index = CentroidIndex::new(lc, dim, metric);
    let row = dim * dtype.size();
    // Destination (position in `local`) of every row of every local partition.
    let mut dest: Vec<Vec<usize>> = Vec::with_capacity(local.len());
    let mut moved = 0u64;
    for (own, p) in local.iter().enumerate() {
        let (_, data) = &rows[p];
        let ranked = index.rank_exact(&to_f32(data, dtype), local.len())?;
        let d = ranked
            .per_query
            .iter()
            .map(|r| {
                let dist = |j: usize| {
                    r.iter()
                        .find(|x| x.0 as usize == j)
                        .map_or(f32::INFINITY, |x| x.1)
                };
                let (best, bd) = (r[0].0 as usize, r[0].1);
                let to = if own < 2 {
                    // Off the pair only when a neighbour beats both new centroids.
                    if best >= 2 && bd < dist(0).min(dist(1)) {
                        best
                    } else {
                        own
                    }
                } else if best < 2 && bd < dist(own) {
                    best
                } else {
                    own
                };
                moved += (to != own) as u64;
                to
            })
            .collect();
        dest.push(d);
    }
    if moved == 0 {
        return Ok(0);
    }
    let mut out: Vec<Vec<(u64, &[u8])>> = vec![Vec::new(); local.len()];
    for (own, p) in local.iter().enumerate() {
        let (ids, data) = &rows[p];
        for (i, &to) in dest[own].iter().enumerate() {
            out[to].push((ids[i], &data[i * row..(i + 1) * row]));
        }
    }
    let mut fresh = Vec::with_capacity(local.len());
    for mut list in out {
        list.sort_unstable_by_key(|r| r.0);
        let ids: Vec<u64> = list.iter().map(|r| r.0).collect();
        let mut data = Vec::with_capacity(list.len() * row);
        list.iter().for_each(|r| data.extend_from_slice(r.1));
        fresh.push((ids, data));
    }
    for (p, r) in local.iter().zip(fresh) {
        rows.insert(*p, r);
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reassign_moves_only_what_the_split_changed() {
        // The pair at x = 0 and 10, a neighbour at 20 and another at -20 (2-d, f32).
        let centroids = [0.0f32, 0.0, 10.0, 0.0, 20.0, 0.0, -20.0, 0.0];
        let part = |xs: &[(u64, f32)]| {
            let ids = xs.iter().map(|x| x.0).collect();
            let data: Vec<f32> = xs.iter().flat_map(|x| [x.1, 0.0]).collect();
            (ids, bytemuck::cast_slice(&data).to_vec())
        };
        let mut rows = BTreeMap::new();
        // 1 is nearer the neighbour at 20 than both new centroids: it moves.
        // 2 sits in the pair off its nearer half: it stays (inside the pair).
        rows.insert(0, part(&[(1, 19.0), (2, 6.0)]));
        rows.insert(1, part(&[(3, 11.0)]));
        // 4 is nearer the new centroid at 10 than its own: it moves. 5 stays.
        rows.insert(2, part(&[(4, 12.0), (5, 21.0)]));
        // 6 is nearer the neighbour at -20's own centroid; 7 nearer 0 than -20.
        rows.insert(3, part(&[(6, -19.0), (7, -4.0)]));
        let near = neighbours(&centroids, 2, Metric::L2, [0, 1], 2).unwrap();
        assert_eq!(near, [2, 3]);
        let moved = reassign(
            [0, 1],
            &near,
            &mut rows,
            &centroids,
            2,
            DType::F32,
            Metric::L2,
        )
        .unwrap();
        assert_eq!(moved, 3);
        let ids = |p: u32| rows[&p].0.clone();
        assert_eq!(ids(0), [2, 7]);
        assert_eq!(ids(1), [3, 4]);
        assert_eq!(ids(2), [1, 5]);
        assert_eq!(ids(3), [6]);
        // Vectors travel with their ids.
        let x: &[f32] = bytemuck::cast_slice(&rows[&1].1);
        assert_eq!(x, [11.0, 0.0, 12.0, 0.0]);
    }
}
