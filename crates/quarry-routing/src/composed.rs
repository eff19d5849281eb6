use crate::{RouteInput, Router, RoutingError};

/// One router decides how many partitions each query reads (the GBDT probe-count
/// model, say), another which ones: the `count_from` router's list length per query,
/// filled from the front of the `order_from` router's list (the MLP's most probable).
pub struct Composed {
    count_from: Box<dyn Router>,
    order_from: Box<dyn Router>,
}

impl Composed {
    /// `order_from` must list at least as many partitions per query as `count_from`
    /// may ask for.
    pub fn new(
        count_from: Box<dyn Router>,
        order_from: Box<dyn Router>,
    ) -> Result<Self, RoutingError> {
        if order_from.max_probes() < count_from.max_probes() {
            return Err(RoutingError::Input(format!(
                "the order router ({}) lists {} partitions but the count router ({}) may ask for {}",
                order_from.describe(),
                order_from.max_probes(),
                count_from.describe(),
                count_from.max_probes()
            )));
        }
        Ok(Composed {
            count_from,
            order_from,
        })
    }
}

impl Router for Composed {
    fn describe(&self) -> String {
        format!(
            "{} in the order of {}",
            self.count_from.describe(),
            self.order_from.describe()
        )
    }
    fn ranking_depth(&self) -> Option<usize> {
        match (
            self.count_from.ranking_depth(),
            self.order_from.ranking_depth(),
        ) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
    fn max_probes(&self) -> usize {
        self.count_from.max_probes()
    }
    fn select(&self, input: &RouteInput<'_>) -> Result<Vec<Vec<u32>>, RoutingError> {
        let counts = self.count_from.select(input)?;
        let mut order = self.order_from.select(input)?;
        for (o, c) in order.iter_mut().zip(&counts) {
            o.truncate(c.len());
        }
        Ok(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FixedNprobe, RankedPartitions, SpannRule};

    #[test]
    fn counts_from_one_order_from_the_other() {
        let ranked = RankedPartitions {
            per_query: vec![vec![(4, 1.0), (2, 1.05), (9, 1.2), (1, 1.3)]],
        };
        let input = RouteInput {
            queries: &[0.0],
            dim: 1,
            k: 1,
            ranked: Some(&ranked),
        };
        // SPANN keeps 2 partitions; the fixed router orders them.
        let c = Composed::new(
            Box::new(SpannRule::new(0.1, 4).unwrap()),
            Box::new(FixedNprobe::new(4).unwrap()),
        )
        .unwrap();
        assert_eq!(c.select(&input).unwrap(), vec![vec![4, 2]]);
        assert_eq!(c.max_probes(), 4);
        // An order router that lists fewer than the count router may ask for.
        assert!(Composed::new(
            Box::new(FixedNprobe::new(4).unwrap()),
            Box::new(FixedNprobe::new(2).unwrap()),
        )
        .is_err());
    }
}
