use serde::Serialize;

/// Partition size statistics, reported by build and `quarry info`.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct SizeStats {
    pub partitions: usize,
    pub min: u64,
    pub max: u64,
    pub mean: f64,
    pub std: f64,
    /// max / mean: 1.0 is perfectly balanced.
    pub imbalance: f64,
}

impl SizeStats {
    pub fn of(sizes: &[u64]) -> SizeStats {
        let k = sizes.len().max(1) as f64;
        let mean = sizes.iter().sum::<u64>() as f64 / k;
        let var = sizes
            .iter()
            .map(|&s| (s as f64 - mean).powi(2))
            .sum::<f64>()
            / k;
        let max = sizes.iter().copied().max().unwrap_or(0);
        SizeStats {
            partitions: sizes.len(),
            min: sizes.iter().copied().min().unwrap_or(0),
            max,
            mean,
            std: var.sqrt(),
            imbalance: if mean > 0.0 { max as f64 / mean } else { 0.0 },
        }
    }
}

impl std::fmt::Display for SizeStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} partitions, sizes min {} / mean {:.1} / max {} (std {:.1}, max/mean {:.3})",
            self.partitions, self.min, self.mean, self.max, self.std, self.imbalance
        )
    }
}
