//! Training queries and their labels' raw material: the exact nearest neighbour.

use crate::LearnError;
use quarry_engine::{exact_knn, Metric, Progress};
use quarry_formats::VectorSource;
use quarry_partition::{normalize, to_f32};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Queries drawn from the learn/base vectors with their exact nearest neighbour in
/// the base. CHOICE: a base vector identical to the query is skipped (leave-one-out),
/// because learn samples are drawn from the base and would otherwise be their own
/// neighbour, which an evaluation query never is.
pub struct TrainingSet {
    pub dim: usize,
    /// Row-major raw queries (f32).
    pub queries: Vec<f32>,
    /// Exact nearest neighbour's base id, per query.
    pub nn: Vec<u64>,
    /// Euclidean distance to it, after L2 normalisation for cosine (the input space
    /// before standardisation): sets the noise scale.
    pub nn_gap: Vec<f32>,
}

impl TrainingSet {
    pub fn len(&self) -> usize {
        self.nn.len()
    }
    pub fn is_empty(&self) -> bool {
        self.nn.is_empty()
    }
}

/// Samples `count` rows of `train` (seeded; all of them when it has fewer) and finds
/// each one's exact nearest neighbour in `base`.
pub fn training_set(
    train: &dyn VectorSource,
    base: &dyn VectorSource,
    metric: Metric,
    count: usize,
    seed: u64,
    progress: &dyn Progress,
) -> Result<TrainingSet, LearnError> {
    let dim = base.dim();
    if train.dim() != dim {
        return Err(LearnError::BadConfig(format!(
            "training vectors {} have {} dimensions, the index {dim}",
            train.path().display(),
            train.dim()
        )));
    }
    if count == 0 || train.is_empty() {
        return Err(LearnError::BadConfig(
            "no training queries: give training queries >= 1 and a non-empty training file".into(),
        ));
    }
    if base.len() < 2 {
        return Err(LearnError::BadConfig(
            "the base needs at least 2 vectors to label training queries".into(),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7261_696e);
    let mut rows: Vec<usize> = if count >= train.len() {
        (0..train.len()).collect()
    } else {
        rand::seq::index::sample(&mut rng, train.len(), count).into_vec()
    };
    rows.sort_unstable();
    let mut queries = Vec::with_capacity(rows.len() * dim);
    for &r in &rows {
        queries.extend(to_f32(train.read_range(r, 1)?));
    }
    // k = 4: room to skip copies of the query itself.
    let k = 4.min(base.len());
    let knn = exact_knn(base, &queries, metric, k, 65536, progress)?;
    let mut nn = Vec::with_capacity(rows.len());
    let mut nn_gap = Vec::with_capacity(rows.len());
    for (qi, list) in knn.iter().enumerate() {
        let q = &queries[qi * dim..(qi + 1) * dim];
        let mut pick = None;
        for c in list {
            let v = to_f32(base.read_range(c.id as usize, 1)?);
            if v.as_slice() != q {
                pick = Some((c.id, v));
                break;
            }
        }
        // Every candidate equals the query: keep the last one (a true duplicate).
        let (id, mut v) = match pick {
            Some(p) => p,
            None => {
                let id = list.last().map_or(0, |c| c.id);
                (id, to_f32(base.read_range(id as usize, 1)?))
            }
        };
        let mut qn = q.to_vec();
        if metric == Metric::Cosine {
            normalize(&mut qn);
            normalize(&mut v);
        }
        let gap: f32 = qn
            .iter()
            .zip(&v)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt();
        nn.push(id);
        nn_gap.push(gap);
    }
    Ok(TrainingSet {
        dim,
        queries,
        nn,
        nn_gap,
    })
}
