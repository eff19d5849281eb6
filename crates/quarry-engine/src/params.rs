//! What a search asks for: k, the router, the partition strategy. Nothing about a
//! search is state of the `Index`: searches with different parameters run
//! concurrently on one `&Index`.

use crate::filtered::{Filter, FilterPlan};
use crate::search::Strategy;
pub use quarry_routing::ProbeRule;
use serde::Serialize;

/// How the GBDT probe-count model picks a query's partition count.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GbdtRule {
    /// ceil(exp(prediction + margin)) partitions, at most `max_nprobe` (default: the
    /// model's cap).
    Margin {
        margin: f32,
        max_nprobe: Option<usize>,
    },
    /// The cheapest per-difficulty-bin counts whose calibrated mean recall@k reaches
    /// the target (calibrated on held-out training queries).
    TargetRecall(f32),
}

/// Which router a search uses. The learned ones load their model from the index
/// (`Index::router`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "router", rename_all = "lowercase")]
#[non_exhaustive]
pub enum RouterSpec {
    /// The `nprobe` nearest partitions.
    Fixed { nprobe: usize },
    /// SPANN's rule: partitions within (1 + eps) of the nearest centroid's distance,
    /// at most `max_nprobe`.
    Spann { eps: f32, max_nprobe: usize },
    /// The index's GBDT probe-count model (`quarry train-pruning`), partitions in
    /// centroid order.
    Gbdt { rule: GbdtRule },
    /// The index's MLP (`quarry mlp-train`), partitions in probability order.
    Mlp { rule: ProbeRule },
    /// `count_from` decides how many partitions, `order_from` which ones (its
    /// first ones). An MLP `order_from` lists at least as many as `count_from` may
    /// ask for, whatever its own count says.
    Composed {
        count_from: Box<RouterSpec>,
        order_from: Box<RouterSpec>,
    },
}

/// Candidates explored at a graph search's base level unless set otherwise.
pub const EF_DEFAULT: usize = 64;

/// One search's parameters. Built with [`SearchParams::new`] and the setters:
///
/// ```
/// use quarry_engine::{SearchParams, Strategy};
/// let p = SearchParams::new(10).nprobe(16).strategy(Strategy::Auto).ef(32);
/// assert_eq!((p.k, p.ef), (10, 32));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SearchParams {
    /// Neighbours per query.
    pub k: usize,
    pub router: RouterSpec,
    /// How a read partition answers its queries.
    pub strategy: Strategy,
    /// Graph search breadth (graph, auto and partial strategies).
    pub ef: usize,
    /// Only vectors matching this filter are returned (see [`crate::filtered`]).
    #[serde(serialize_with = "filter_text")]
    pub filter: Option<Filter>,
    /// How a filtered search runs.
    pub filter_plan: FilterPlan,
    /// Matches up to which `FilterPlan::Auto` searches exactly (default:
    /// `filtered::EXACT_MAX_WORK / dim`).
    pub exact_max_matches: Option<u64>,
}

impl SearchParams {
    /// k neighbours, 8 nearest partitions, GEMM scan.
    pub fn new(k: usize) -> Self {
        SearchParams {
            k,
            router: RouterSpec::Fixed { nprobe: 8 },
            strategy: Strategy::Scan,
            ef: EF_DEFAULT,
            filter: None,
            filter_plan: FilterPlan::Auto,
            exact_max_matches: None,
        }
    }
    /// Only vectors matching `filter`, for every query of a batch.
    pub fn filter(mut self, filter: Option<Filter>) -> Self {
        self.filter = filter;
        self
    }
    pub fn filter_plan(mut self, plan: FilterPlan) -> Self {
        self.filter_plan = plan;
        self
    }
    pub fn exact_max_matches(mut self, matches: Option<u64>) -> Self {
        self.exact_max_matches = matches;
        self
    }
    /// The `nprobe` nearest partitions (the fixed router).
    pub fn nprobe(self, nprobe: usize) -> Self {
        self.router(RouterSpec::Fixed { nprobe })
    }
    pub fn router(mut self, router: RouterSpec) -> Self {
        self.router = router;
        self
    }
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }
    pub fn ef(mut self, ef: usize) -> Self {
        self.ef = ef;
        self
    }
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }
}

fn filter_text<S: serde::Serializer>(f: &Option<Filter>, s: S) -> Result<S::Ok, S::Error> {
    match f {
        Some(f) => s.serialize_some(f.text()),
        None => s.serialize_none(),
    }
}
