//! Splitting a partition that outgrew its bound at a flush: balanced 2-means
//! over its rows (the build's k-means, spherical for cosine), the first half
//! keeping the partition number with the new first centroid, the second half a new
//! partition appended with the second centroid. Rows keep ascending id order in
//! both halves.

use crate::EngineError;
use quarry_formats::MemorySource;
use quarry_kernels::{DType, Metric};
use quarry_partition::{assign_balanced, train_centroids, KMeansConfig, NoProgress, Rows};

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
