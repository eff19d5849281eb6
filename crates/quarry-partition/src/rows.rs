//! Vectors as the clustering sees them: f32, normalised when the metric is cosine.

use quarry_formats::{ChunkData, FormatError, VectorSource};

/// Reads rows of a source as f32 for clustering. With `spherical`, rows are
/// L2-normalised so Euclidean k-means clusters by angle (cosine indexes).
pub struct Rows<'a> {
    pub src: &'a dyn VectorSource,
    pub spherical: bool,
}

impl Rows<'_> {
    pub fn len(&self) -> usize {
        self.src.len()
    }
    pub fn is_empty(&self) -> bool {
        self.src.len() == 0
    }
    pub fn dim(&self) -> usize {
        self.src.dim()
    }

    pub fn read(&self, start: usize, count: usize) -> Result<Vec<f32>, FormatError> {
        let mut v = to_f32(self.src.read_range(start, count)?);
        if self.spherical {
            v.chunks_exact_mut(self.dim()).for_each(normalize);
        }
        Ok(v)
    }
}

pub fn to_f32(c: ChunkData) -> Vec<f32> {
    match c {
        ChunkData::F32(v) => v,
        ChunkData::U8(v) => v.into_iter().map(|x| x as f32).collect(),
        ChunkData::I8(v) => v.into_iter().map(|x| x as f32).collect(),
    }
}

pub fn normalize(v: &mut [f32]) {
    let n = quarry_kernels::simd::norm_sq(v).sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}
