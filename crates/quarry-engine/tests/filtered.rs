//! Filtered search against brute force. For random data, labels, attributes and
//! filter expressions: the exact plan returns exactly the brute-force top-k over
//! the matching vectors (so min(k, matches) results), and the routed plan returns
//! only matching ids, no id twice, nearest first. Also the per-query filter path
//! and the errors a filter can meet.

use proptest::prelude::*;
use quarry_engine::{
    build_index_with, exact_knn_filtered, BuildConfig, EngineError, Filter, FilterPlan, Index,
    MemorySource, Metadata, Metric, NoProgress, OpenOptions, PlanTaken, SearchParams,
};
use quarry_filter::Column;

struct Case {
    data: Vec<f32>,
    dim: usize,
    meta: Metadata,
}

/// n vectors in `clusters` blobs; each vector holds up to 3 of 8 labels, label 0
/// mostly in the first blob (labels correlated with position), `price` (f64) and
/// `year` (i64) attributes.
fn case(n: usize, dim: usize, seed: u64) -> Case {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) as u32
    };
    let mut data = Vec::with_capacity(n * dim);
    let mut rows = Vec::with_capacity(n);
    let mut price = Vec::with_capacity(n);
    let mut year = Vec::with_capacity(n);
    for i in 0..n {
        let blob = (i % 4) as f32;
        for _ in 0..dim {
            data.push(blob * 3.0 + (next() % 1000) as f32 / 500.0);
        }
        let mut labels: Vec<u32> = (0..next() % 4).map(|_| 1 + next() % 7).collect();
        if i % 4 == 0 && next() % 3 != 0 {
            labels.push(0);
        }
        labels.sort_unstable();
        labels.dedup();
        rows.push(labels);
        price.push((next() % 10_000) as f64 / 100.0);
        year.push(2000 + (next() % 30) as i64);
    }
    let mut indptr = vec![0u64];
    let mut indices = Vec::new();
    for r in &rows {
        indices.extend(r);
        indptr.push(indices.len() as u64);
    }
    let mut meta = Metadata::new(n as u64);
    meta.set_labels_csr(&indptr, &indices).unwrap();
    meta.add_attribute("price", Column::F64(price)).unwrap();
    meta.add_attribute("year", Column::I64(year)).unwrap();
    Case { data, dim, meta }
}

fn expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (0u32..9).prop_map(|l| format!("label = {l}")),
        proptest::collection::vec(0u32..9, 1..4).prop_map(|v| format!(
            "label in [{}]",
            v.iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        (0u32..100, prop_oneof![Just("<"), Just(">="), Just("<=")])
            .prop_map(|(p, op)| format!("price {op} {p}.5")),
        (2000i64..2030, prop_oneof![Just("="), Just("!="), Just(">")])
            .prop_map(|(y, op)| format!("year {op} {y}")),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| format!("not ({e})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("({a}) or {b}")),
        ]
    })
}

fn build(c: &Case, parts: usize, metric: Metric) -> (tempfile::TempDir, Index) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("idx");
    let src = MemorySource::f32(&c.data, c.dim).unwrap();
    let mut cfg = BuildConfig::new(parts, metric);
    cfg.mem_budget_mb = 16;
    build_index_with(&src, Some(&c.meta), &path, &cfg, &NoProgress).unwrap();
    (dir, Index::open(&path, OpenOptions::default()).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn exact_equals_brute_force_and_routed_returns_only_matches(
        seed in 0u64..1000,
        n in 60usize..400,
        parts in 2usize..12,
        k in 1usize..20,
        nprobe in 1usize..6,
        cosine in any::<bool>(),
        text in expr(),
    ) {
        let c = case(n, 6, seed);
        let metric = if cosine { Metric::Cosine } else { Metric::L2 };
        let (_dir, index) = build(&c, parts, metric);
        let filter = Filter::parse(&text).unwrap();
        let matches = c.meta.evaluate(&filter).unwrap();
        let queries = &c.data[..8 * c.dim];
        let k = k.min(n);
        let src = MemorySource::f32(&c.data, c.dim).unwrap();
        let truth = exact_knn_filtered(&src, queries, metric, k, 64, Some(&matches), &NoProgress).unwrap();

        let exact = index
            .search_batch(queries, &SearchParams::new(k).nprobe(nprobe).filter(Some(filter.clone())).filter_plan(FilterPlan::Exact))
            .unwrap();
        prop_assert_eq!(exact.stats.filter.as_ref().unwrap().plan, PlanTaken::Exact);
        for (got, want) in exact.neighbors.iter().zip(&truth) {
            let g: Vec<u64> = got.iter().map(|x| x.id).collect();
            let w: Vec<u64> = want.iter().map(|x| x.id).collect();
            prop_assert_eq!(g, w, "exact plan differs from brute force for '{}'", text);
            prop_assert_eq!(got.len(), k.min(matches.len() as usize));
        }

        let routed = index
            .search_batch(queries, &SearchParams::new(k).nprobe(nprobe).filter(Some(filter.clone())).filter_plan(FilterPlan::Routed))
            .unwrap();
        for got in &routed.neighbors {
            prop_assert!(got.len() <= k.min(matches.len() as usize));
            for w in got.windows(2) {
                prop_assert!(w[0].dist <= w[1].dist && w[0].id != w[1].id);
            }
            for x in got {
                prop_assert!(matches.contains(x.id), "routed plan returned non-matching id {} for '{}'", x.id, text);
                prop_assert!(c.meta.matches(&filter, x.id).unwrap());
            }
            // Widening: k matches are reached whenever the probed partitions hold them.
            if matches.len() >= k as u64 {
                prop_assert_eq!(got.len(), k, "routed plan found fewer than k of {} matches", matches.len());
            }
        }
    }
}

#[test]
fn per_query_filters_equal_separate_batches() {
    let c = case(500, 6, 7);
    let (_dir, index) = build(&c, 8, Metric::L2);
    let filters = ["label = 0", "price < 20.5", "not label in [1, 2]"];
    let queries = &c.data[..9 * c.dim];
    let per: Vec<Option<Filter>> = (0..9)
        .map(|i| (i % 4 != 3).then(|| Filter::parse(filters[i % 3]).unwrap()))
        .collect();
    let base = SearchParams::new(5)
        .nprobe(2)
        .filter_plan(FilterPlan::Exact);
    let prepared = index.prepare(&base).unwrap();
    let mixed = prepared.search_batch_filtered(queries, &per).unwrap();
    for (i, f) in per.iter().enumerate() {
        let q = &queries[i * c.dim..(i + 1) * c.dim];
        let alone = index
            .search_batch(q, &base.clone().filter(f.clone()))
            .unwrap();
        assert_eq!(mixed.neighbors[i], alone.neighbors[0], "query {i}");
    }
}

#[test]
fn filter_errors_are_clear() {
    let c = case(200, 6, 3);
    let (_dir, index) = build(&c, 4, Metric::L2);
    let q = &c.data[..c.dim];
    // An attribute the index does not have.
    let f = Filter::parse("weight < 3").unwrap();
    let e = index
        .search_batch(q, &SearchParams::new(5).filter(Some(f)))
        .unwrap_err();
    assert!(e.to_string().contains("weight"), "{e}");
    // A filter matching nothing returns empty lists, not an error.
    let f = Filter::parse("label = 999").unwrap();
    for plan in [FilterPlan::Auto, FilterPlan::Exact, FilterPlan::Routed] {
        let r = index
            .search_batch(
                q,
                &SearchParams::new(5)
                    .filter(Some(f.clone()))
                    .filter_plan(plan),
            )
            .unwrap();
        assert!(r.neighbors[0].is_empty());
    }
    // An index without metadata refuses a filter with a hint.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let src = MemorySource::f32(&c.data, c.dim).unwrap();
    let path = dir.path().join("plain");
    quarry_engine::build_index_from(&src, &path, &BuildConfig::new(4, Metric::L2), &NoProgress)
        .unwrap();
    let plain = Index::open(&path, OpenOptions::default()).unwrap();
    let f = Filter::parse("label = 1").unwrap();
    let e = plain
        .search_batch(q, &SearchParams::new(5).filter(Some(f)))
        .unwrap_err();
    assert!(matches!(e, EngineError::NoMetadata { .. }), "{e}");
    // Metadata of another length is refused at build.
    let short = Metadata::new(10);
    let e = build_index_with(
        &src,
        Some(&short),
        &dir.path().join("x"),
        &BuildConfig::new(4, Metric::L2),
        &NoProgress,
    )
    .unwrap_err();
    assert!(e.to_string().contains("10 vectors"), "{e}");
}
