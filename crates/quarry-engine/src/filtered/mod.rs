//! Filtered search. Per-vector labels and attributes live in `quarry-filter`'s
//! [`Metadata`]; the index adds which vectors each partition holds
//! ([`members`]), so a filter resolves per batch to its exact match set and the
//! exact number of matches in every partition (no estimate is needed: the
//! bitmaps give the counts). Then one of two plans runs:
//!
//! - **exact** ([`exact`]): read every partition holding a match, gather the
//!   matching vectors, and compare every query with all of them: the true top-k
//!   among the matches, min(k, matches) results always;
//! - **routed** ([`route`]): the router's partition count per query, taken in
//!   centroid order among the partitions holding matches only, widened until k
//!   matches have been seen (or none are left); inside each partition only the
//!   matching vectors are compared (gathered before any distance).
//!
//! `FilterPlan::Auto` takes the exact plan when any of these holds (measured on
//! GloVe-50 and synth-1m, see the README's "Filtered search"):
//! - the matches are few: matches x dim <= [`EXACT_MAX_WORK`] (or at most
//!   `exact_max_matches` when set): comparing a query with all of them costs
//!   less than routing it;
//! - the partitions holding matches are at most [`EXACT_PARTITION_RATIO`] times
//!   the router's partition count: the routed plan would compare a query with
//!   1/ratio of the matches or more, and its per-partition work (gathering,
//!   merging, more queries per small scan) costs more than that saves.

pub(crate) mod exact;
pub mod members;
mod route;

use crate::updates::live::{LiveSlice, LiveState};
use crate::EngineError;
pub use quarry_filter::{Filter, FilterError, Metadata};
use roaring::RoaringTreemap;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// The index file holding the metadata (labels and attributes).
pub const FILTERS_FILE: &str = "filters.bin";
/// The index file holding each partition's member ids.
pub const MEMBERS_FILE: &str = "members.bin";

/// matches x dim up to which `FilterPlan::Auto` searches exactly (2^21: 42k
/// matches at 50 dimensions, 16k at 128). Measured: see the module docs.
pub const EXACT_MAX_WORK: u64 = 1 << 21;
/// Partitions holding matches, as a multiple of the router's count, up to which
/// `FilterPlan::Auto` searches exactly.
pub const EXACT_PARTITION_RATIO: u64 = 8;

/// Which plan a filtered search takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterPlan {
    /// Exact when the matches are few, routed otherwise (see the module docs).
    #[default]
    Auto,
    /// Every matching vector compared: the true filtered top-k.
    Exact,
    /// The router's partitions among those holding matches, widened to k matches.
    Routed,
}

impl std::str::FromStr for FilterPlan {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "auto" => FilterPlan::Auto,
            "exact" => FilterPlan::Exact,
            "routed" => FilterPlan::Routed,
            o => {
                return Err(format!(
                    "unknown filter plan '{o}': use auto, exact or routed"
                ))
            }
        })
    }
}

/// The plan a batch took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanTaken {
    Exact,
    Routed,
}

impl PlanTaken {
    pub fn name(self) -> &'static str {
        match self {
            PlanTaken::Exact => "exact",
            PlanTaken::Routed => "routed",
        }
    }
}

/// What a filter resolved to, and the plan taken, reported with a batch.
#[derive(Debug, Clone, Serialize)]
pub struct FilterStats {
    pub filter: String,
    pub plan: PlanTaken,
    /// Vectors matching the filter.
    pub matches: u64,
    /// Partitions holding at least one match.
    pub partitions_with_matches: u64,
    /// Time to evaluate the filter and count matches per partition.
    pub resolve: Duration,
}

/// The metadata and partition members of an index that has them.
#[derive(Clone)]
pub struct FilterIndex {
    pub meta: Metadata,
    pub members: std::sync::Arc<Vec<RoaringTreemap>>,
}

impl FilterIndex {
    /// RAM held by the metadata (the members are counted apart).
    pub fn memory_bytes(&self) -> u64 {
        self.meta.memory_bytes()
    }
}

/// Evaluates `filter` on the stored metadata `base` (vectors in the files, by
/// partition `members`) and on the writes since (`live`), and counts the
/// matches per partition; `dim` sets the default exact threshold.
#[allow(clippy::too_many_arguments)]
pub(crate) fn resolve(
    snapshot: std::sync::Arc<crate::snapshot::Snapshot>,
    base: &Metadata,
    members: &[RoaringTreemap],
    live: Option<&LiveState>,
    filter: &Filter,
    plan: FilterPlan,
    exact_max_matches: Option<u64>,
    dim: usize,
    start: Instant,
) -> Result<Resolved, EngineError> {
    let mut stored = base.evaluate(filter)?;
    let mut delta: Vec<u64> = Vec::new();
    if let Some(l) = live {
        stored -= l.dead.as_ref();
        delta = l.meta.ids_of(&l.meta.added.evaluate(filter)?);
    }
    let stored_per_partition: Vec<u64> = members
        .iter()
        .map(|m| m.intersection_len(&stored))
        .collect();
    let mut per_partition = stored_per_partition.clone();
    let mut matches = stored;
    if let Some(l) = live {
        for &id in &delta {
            if let Some(&(p, _)) = l.loc.get(&id) {
                per_partition[p as usize] += 1;
            }
        }
        matches.extend(delta);
    }
    let with = per_partition.iter().filter(|&&c| c > 0).count();
    Ok(Resolved {
        snapshot,
        requested: plan,
        exact_max_matches: exact_max_matches.unwrap_or(EXACT_MAX_WORK / dim.max(1) as u64),
        filter: filter.text().to_string(),
        count: matches.len(),
        matches,
        per_partition,
        stored_per_partition,
        with_matches: with as u64,
        live: live
            .filter(|l| !l.is_clean())
            .map(|l| LiveSlice::of(l, &(0..members.len() as u32).collect::<Vec<_>>())),
        resolve: start.elapsed(),
    })
}

/// A filter resolved against an index for one search.
pub(crate) struct Resolved {
    /// The files the matches were resolved against, for the search to read.
    pub snapshot: std::sync::Arc<crate::snapshot::Snapshot>,
    pub filter: String,
    pub matches: RoaringTreemap,
    pub count: u64,
    /// Matches per partition (stored and written since).
    pub per_partition: Vec<u64>,
    /// Matches per partition among its stored vectors (tombstoned ones excluded).
    pub stored_per_partition: Vec<u64>,
    /// The writes the matches were resolved against, for the search to use.
    pub live: Option<LiveSlice>,
    pub with_matches: u64,
    pub requested: FilterPlan,
    pub exact_max_matches: u64,
    pub resolve: Duration,
}

impl Resolved {
    /// The plan for a router probing at most `probes` partitions per query (see
    /// the module docs).
    pub fn plan(&self, probes: usize) -> PlanTaken {
        match self.requested {
            FilterPlan::Exact => PlanTaken::Exact,
            FilterPlan::Routed => PlanTaken::Routed,
            FilterPlan::Auto => {
                if self.count <= self.exact_max_matches
                    || self.with_matches <= EXACT_PARTITION_RATIO.saturating_mul(probes as u64)
                {
                    PlanTaken::Exact
                } else {
                    PlanTaken::Routed
                }
            }
        }
    }

    pub fn stats(&self, plan: PlanTaken) -> FilterStats {
        FilterStats {
            filter: self.filter.clone(),
            plan,
            matches: self.count,
            partitions_with_matches: self.with_matches,
            resolve: self.resolve,
        }
    }
}

/// The partition members (every index built since they are written) and the
/// metadata (indexes built with labels or attributes), verified.
#[allow(clippy::type_complexity)]
pub(crate) fn load(
    files: &quarry_storage::IndexFiles,
) -> Result<
    (
        Option<std::sync::Arc<Vec<RoaringTreemap>>>,
        Option<FilterIndex>,
    ),
    EngineError,
> {
    let listed = |n: &str| files.manifest.files.contains_key(n);
    let corrupt = |file: &str, what: String| quarry_storage::StorageError::Corrupt {
        file: files.dir.join(file),
        what,
    };
    let members = if listed(MEMBERS_FILE) {
        let m = members::from_bytes(&files.read_file(MEMBERS_FILE)?, files.table.len())
            .map_err(|e| corrupt(MEMBERS_FILE, e))?;
        Some(std::sync::Arc::new(m))
    } else {
        None
    };
    if !listed(FILTERS_FILE) {
        return Ok((members, None));
    }
    let meta = Metadata::from_bytes(&files.read_file(FILTERS_FILE)?)
        .map_err(|e| corrupt(FILTERS_FILE, e.to_string()))?;
    let Some(members) = members else {
        return Err(corrupt(
            MEMBERS_FILE,
            "is missing while filters.bin is listed".into(),
        )
        .into());
    };
    let n = files
        .manifest
        .distinct_vectors
        .unwrap_or(files.manifest.num_vectors);
    if meta.len() != n {
        return Err(corrupt(
            FILTERS_FILE,
            format!("describes {} vectors; the index holds {n}", meta.len()),
        )
        .into());
    }
    Ok((Some(members.clone()), Some(FilterIndex { meta, members })))
}
