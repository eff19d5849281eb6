use crate::{RouteInput, Router, RoutingError};

/// SPANN's query-aware pruning: probe partition i only if d_i <= (1 + eps) * d_1,
/// at most `max_nprobe`. Written as d_i - d_1 <= eps * |d_1| so it stays meaningful
/// for negated inner products (d_1 < 0) too.
#[derive(Debug, Clone, Copy)]
pub struct SpannRule {
    eps: f32,
    max_nprobe: usize,
}

impl SpannRule {
    pub fn new(eps: f32, max_nprobe: usize) -> Result<Self, RoutingError> {
        if max_nprobe == 0 {
            return Err(RoutingError::ZeroProbe);
        }
        if !eps.is_finite() || eps < 0.0 {
            return Err(RoutingError::BadEps(eps));
        }
        Ok(SpannRule { eps, max_nprobe })
    }
}

impl Router for SpannRule {
    fn describe(&self) -> String {
        format!("spann eps={} max_nprobe={}", self.eps, self.max_nprobe)
    }
    fn ranking_depth(&self) -> Option<usize> {
        Some(self.max_nprobe)
    }
    fn max_probes(&self) -> usize {
        self.max_nprobe
    }
    fn select(&self, input: &RouteInput<'_>) -> Result<Vec<Vec<u32>>, RoutingError> {
        Ok(input
            .ranked("spann")?
            .per_query
            .iter()
            .map(|r| {
                let Some(&(_, d1)) = r.first() else {
                    return Vec::new();
                };
                let bound = self.eps * d1.abs();
                r.iter()
                    .take(self.max_nprobe)
                    .take_while(|p| p.1 - d1 <= bound)
                    .map(|p| p.0)
                    .collect()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RankedPartitions;

    fn select(r: &SpannRule, ranked: &RankedPartitions) -> Vec<Vec<u32>> {
        let input = RouteInput {
            queries: &[0.0],
            dim: 1,
            k: 1,
            ranked: Some(ranked),
        };
        r.select(&input).unwrap()
    }

    #[test]
    fn keeps_partitions_within_ratio() {
        let ranked = RankedPartitions {
            per_query: vec![vec![(4, 1.0), (2, 1.05), (9, 1.2), (1, 1.3)]],
        };
        let r = SpannRule::new(0.1, 8).unwrap();
        assert_eq!(select(&r, &ranked), vec![vec![4, 2]]);
        let r = SpannRule::new(0.5, 3).unwrap();
        assert_eq!(select(&r, &ranked), vec![vec![4, 2, 9]]);
        let r = SpannRule::new(0.0, 3).unwrap();
        assert_eq!(select(&r, &ranked), vec![vec![4]]);
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(matches!(
            SpannRule::new(0.1, 0),
            Err(RoutingError::ZeroProbe)
        ));
        assert!(matches!(
            SpannRule::new(f32::NAN, 4),
            Err(RoutingError::BadEps(_))
        ));
        assert!(matches!(
            SpannRule::new(-1.0, 4),
            Err(RoutingError::BadEps(_))
        ));
    }
}
