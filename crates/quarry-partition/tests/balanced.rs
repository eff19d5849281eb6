use quarry_formats::{ChunkData, FormatError, VectorSource};
use quarry_kernels::DType;
use quarry_partition::{
    assign_balanced, capacity, train_centroids, KMeansConfig, NoProgress, Rows,
};
use std::path::{Path, PathBuf};

/// In-memory vectors behind the same trait the file readers implement.
struct Mem {
    dim: usize,
    data: Vec<f32>,
    path: PathBuf,
}

impl VectorSource for Mem {
    fn path(&self) -> &Path {
        &self.path
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn len(&self) -> usize {
        self.data.len() / self.dim
    }
    fn dtype(&self) -> DType {
        DType::F32
    }
    fn read_range(&self, start: usize, rows: usize) -> Result<ChunkData, FormatError> {
        Ok(ChunkData::F32(
            self.data[start * self.dim..(start + rows) * self.dim].to_vec(),
        ))
    }
}

/// Deterministic clustered data: `c` blobs of unequal sizes around spread centres.
fn blobs(n: usize, dim: usize, c: usize) -> Mem {
    let mut state = 0x9E3779B97F4A7C15u64;
    let mut rnd = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f32 / (1u64 << 53) as f32 - 0.5
    };
    let centres: Vec<f32> = (0..c * dim).map(|_| rnd() * 100.0).collect();
    let mut data = Vec::with_capacity(n * dim);
    for i in 0..n {
        // Skewed: blob 0 gets far more points than the others.
        let b = if i % 3 == 0 { 0 } else { i % c };
        for j in 0..dim {
            data.push(centres[b * dim + j] + rnd() * 4.0);
        }
    }
    Mem {
        dim,
        data,
        path: "mem".into(),
    }
}

fn cfg(k: usize, chunk_rows: usize) -> KMeansConfig {
    let mut c = KMeansConfig::new(k, 7);
    c.chunk_rows = chunk_rows;
    c.sample_iters = 8;
    c
}

#[test]
fn sizes_respect_the_bound_even_with_skewed_data() {
    let src = blobs(6000, 8, 10);
    let rows = Rows {
        src: &src,
        spherical: false,
    };
    for eps in [0.0f32, 0.1, 0.5] {
        let mut c = cfg(16, 1000);
        c.balance_eps = eps;
        let cent = train_centroids(&rows, &c, &NoProgress).unwrap();
        let a = assign_balanced(&rows, &cent, eps, 1000, &NoProgress).unwrap();
        let cap = capacity(6000, 16, eps);
        assert_eq!(a.sizes.iter().sum::<u64>(), 6000);
        assert!(
            a.sizes.iter().all(|&s| s <= cap),
            "eps {eps}: {:?} cap {cap}",
            a.sizes
        );
        // Assignment agrees with the sizes it reports.
        let mut counted = vec![0u64; 16];
        a.partition_of
            .iter()
            .for_each(|&p| counted[p as usize] += 1);
        assert_eq!(counted, a.sizes);
        assert!(a.moved > 0, "skewed data should need moves at eps {eps}");
    }
}

#[test]
fn vectors_stay_in_their_nearest_partition_when_room_allows() {
    let src = blobs(3000, 4, 6);
    let rows = Rows {
        src: &src,
        spherical: false,
    };
    let cent = train_centroids(&rows, &cfg(6, 500), &NoProgress).unwrap();
    // A generous bound: nobody needs to move, so every vector is at its nearest centroid.
    let a = assign_balanced(&rows, &cent, 10.0, 500, &NoProgress).unwrap();
    assert_eq!(a.moved, 0);
    for i in 0..3000 {
        let x = &src.data[i * 4..i * 4 + 4];
        let d = |c: usize| quarry_kernels::scalar::l2_sq(x, &cent[c * 4..c * 4 + 4]);
        let best = (0..6).min_by(|&a, &b| d(a).total_cmp(&d(b))).unwrap();
        assert!(
            d(a.partition_of[i] as usize) <= d(best) * (1.0 + 1e-4) + 1e-3,
            "vector {i}"
        );
    }
}

#[test]
fn same_seed_same_result_and_chunking_of_the_final_pass_does_not_matter() {
    let src = blobs(4000, 6, 8);
    let rows = Rows {
        src: &src,
        spherical: false,
    };
    let a = train_centroids(&rows, &cfg(12, 700), &NoProgress).unwrap();
    let b = train_centroids(&rows, &cfg(12, 700), &NoProgress).unwrap();
    assert_eq!(a, b);
    let x = assign_balanced(&rows, &a, 0.1, 700, &NoProgress).unwrap();
    let y = assign_balanced(&rows, &a, 0.1, 333, &NoProgress).unwrap();
    assert_eq!(x, y);
    let mut other = cfg(12, 700);
    other.seed = 8;
    assert_ne!(train_centroids(&rows, &other, &NoProgress).unwrap(), a);
}

#[test]
fn spherical_centroids_are_unit_vectors() {
    let src = blobs(2000, 5, 4);
    let rows = Rows {
        src: &src,
        spherical: true,
    };
    let cent = train_centroids(&rows, &cfg(8, 600), &NoProgress).unwrap();
    for c in cent.chunks_exact(5) {
        let n: f32 = c.iter().map(|v| v * v).sum();
        assert!((n - 1.0).abs() < 1e-4, "{n}");
    }
}

#[test]
fn bad_parameters_are_errors() {
    let src = blobs(100, 3, 2);
    let rows = Rows {
        src: &src,
        spherical: false,
    };
    assert!(train_centroids(&rows, &cfg(0, 50), &NoProgress).is_err());
    assert!(train_centroids(&rows, &cfg(101, 50), &NoProgress).is_err());
    let mut c = cfg(4, 50);
    c.balance_eps = -1.0;
    assert!(train_centroids(&rows, &c, &NoProgress).is_err());
}
